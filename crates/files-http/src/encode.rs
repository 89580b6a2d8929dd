//! Percent-encoding: core's one definition ([`files_core::encode`]), re-exported for the
//! HTTP providers.

pub use files_core::encode::{PATH, SEGMENT, decode, decode_lossy, path, segment};
