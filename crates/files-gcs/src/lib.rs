//! The Google Cloud Storage and Firebase Storage adapter of the `files` storage SDK (work in progress).
#![deny(missing_docs)]

/// Registers this adapter explicitly (fallback for builds where the linker dropped it).
pub fn register() {}
