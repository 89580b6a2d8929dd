//! fault (to be written)
