//! [`Blob`]: an object's bytes (byte-exact, cheap to clone) with its HTTP metadata.

use std::collections::BTreeMap;

use bytes::Bytes;

use super::http::{RangeRequest, Reply, md5_hex, parse_range};

/// An object as a fake stores it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Blob {
    /// The bytes, exactly as uploaded.
    pub data: Bytes,
    /// `Content-Type`, if one was given.
    pub content_type: Option<String>,
    /// `Cache-Control`, if one was given.
    pub cache_control: Option<String>,
    /// User metadata.
    pub metadata: BTreeMap<String, String>,
}

impl Blob {
    /// Bytes without metadata.
    pub fn new(data: impl Into<Bytes>) -> Blob {
        Blob {
            data: data.into(),
            ..Blob::default()
        }
    }

    /// Its length.
    pub fn len(&self) -> u64 {
        self.data.len() as u64
    }

    /// Whether it has no byte.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The hex MD5 of its bytes.
    pub fn md5_hex(&self) -> String {
        md5_hex(&self.data)
    }

    /// Serves its bytes for a `Range` header: `200` with everything, `206` with
    /// `Content-Range`, or `unsatisfiable` (the fake's own `416`). `Content-Type` is left to
    /// the caller.
    pub fn serve_range(&self, range: Option<&str>, unsatisfiable: impl FnOnce() -> Reply) -> Reply {
        let len = self.len();
        match parse_range(range, len) {
            RangeRequest::Full => Reply::new(200).body(self.data.clone()),
            RangeRequest::Partial { start, end } => Reply::new(206)
                .header("Content-Range", format!("bytes {start}-{end}/{len}"))
                .body(self.data.slice(start as usize..=end as usize)),
            RangeRequest::Unsatisfiable => unsatisfiable(),
        }
    }
}
