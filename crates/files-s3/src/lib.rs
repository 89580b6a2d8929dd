//! S3 adapter (being written).
