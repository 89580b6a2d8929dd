//! conformance (to be written)
