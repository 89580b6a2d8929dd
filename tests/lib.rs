//! Cross-crate suites live in tests/.
