//! crash (to be written)
