//! The resume token: a small, versioned, serializable name for a provider-side upload session.
//!
//! A token says *which* session to continue and carries a few hints; it is never trusted for
//! what landed (the provider's [`probe`](crate::PartUpload::probe) answer is the truth) and it
//! never holds a credential, so it can be stored in a file or a database row. The one exception
//! is a provider whose session is itself a bearer URL (GCS, OneDrive, TUS): such a token is
//! as sensitive as a short-lived credential, and its `Debug` output redacts the session.
//!
//! Loading a token validates it: an unknown version, a checksum that does not match the content
//! (a hand-edited or truncated token), another provider, another target store, another key,
//! numbers out of range, or a session the adapter does not trust are refused with
//! [`ErrorKind::TokenInvalid`](crate::ErrorKind::TokenInvalid). A body of another length is
//! [`ErrorKind::BodyChanged`](crate::ErrorKind::BodyChanged).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::OnceLock;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::adapter::Session;
use crate::error::{Error, Result};

/// The token format version this build writes and reads.
pub const TOKEN_VERSION: u32 = 1;

/// Which upload family the session belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenFamily {
    /// Numbered parts.
    Parts,
    /// A growing offset.
    Offset,
}

/// Compact fingerprints of the body, kept so that a resume with a different body is caught
/// before anything is sent.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// Length of the body prefix that `prefix_crc32c` covers (offset family).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub prefix_len: u64,
    /// CRC32C of the body's first `prefix_len` bytes.
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub prefix_crc32c: u32,
    /// CRC32C of each part sent, for providers that keep no checksum of their own
    /// (parts family); encoded as base64 of little-endian (number, crc) pairs.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        with = "part_crc_codec"
    )]
    pub parts: BTreeMap<u32, u32>,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}
fn is_zero_u32(v: &u32) -> bool {
    *v == 0
}

mod part_crc_codec {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(map: &BTreeMap<u32, u32>, s: S) -> Result<S::Ok, S::Error> {
        let mut raw = Vec::with_capacity(map.len() * 8);
        for (n, c) in map {
            raw.extend_from_slice(&n.to_le_bytes());
            raw.extend_from_slice(&c.to_le_bytes());
        }
        s.serialize_str(&base64::engine::general_purpose::STANDARD_NO_PAD.encode(raw))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<u32, u32>, D::Error> {
        let text = String::deserialize(d)?;
        let raw = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(text.as_bytes())
            .map_err(serde::de::Error::custom)?;
        if raw.len() % 8 != 0 {
            return Err(serde::de::Error::custom(
                "part fingerprints have a bad length",
            ));
        }
        Ok(raw
            .chunks_exact(8)
            .map(|c| {
                (
                    u32::from_le_bytes(c[..4].try_into().expect("4 bytes")),
                    u32::from_le_bytes(c[4..].try_into().expect("4 bytes")),
                )
            })
            .collect())
    }
}

/// A serializable name for a provider-side upload session. See the module docs.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResumeToken {
    /// Format version ([`TOKEN_VERSION`]).
    pub version: u32,
    /// Provider name (`fs`, `s3`, ...).
    pub provider: String,
    /// The store's identity (root, bucket and endpoint...), as the adapter's `target()`.
    pub target: String,
    /// Destination key.
    pub key: String,
    /// The body's total length.
    pub total: u64,
    /// Part size; fixed for the life of the session.
    pub part_size: u64,
    /// The upload family.
    pub family: TokenFamily,
    /// The provider session.
    pub session: Session,
    /// When the upload began, in seconds since the Unix epoch.
    pub created_at: u64,
    /// For in-process-only providers: the process that owns the session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<String>,
    /// Hint of what landed: part numbers as ranges (`"1-4,6"`) for the parts family, bytes
    /// for the offset family. The provider's answer overrides it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub landed: String,
    /// Bytes confirmed when the token was written (a hint, for display).
    #[serde(default)]
    pub loaded: u64,
    /// Body fingerprints for changed-body detection.
    #[serde(default)]
    pub fingerprint: Fingerprint,
    /// Set just before the provider is asked to assemble the object (parts family): every part
    /// had landed. A resume that then finds the session gone and an object of the body's size
    /// at the key takes the upload as completed (the same rule as after an ambiguous complete
    /// within one run); without it, a gone session is "session expired".
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub completing: bool,
    /// CRC32C of the token's canonical content; catches edited or damaged tokens.
    #[serde(default)]
    pub checksum: u32,
}

impl ResumeToken {
    /// Parses and checks a token from JSON text (version, checksum, ranges). It still has to
    /// match the adapter, key and body it is used with; the upload checks that.
    pub fn from_json(text: &str) -> Result<Self> {
        let token: ResumeToken = serde_json::from_str(text).map_err(|e| {
            Error::token_invalid(format!(
                "the token is not valid JSON of a resume token: {e}"
            ))
        })?;
        token.check_self()?;
        Ok(token)
    }

    /// The token as JSON text (with a fresh checksum).
    pub fn to_json(&self) -> String {
        let mut t = self.clone();
        t.checksum = t.compute_checksum();
        serde_json::to_string(&t).expect("a token always serializes")
    }

    /// The token as a `serde_json::Value` (with a fresh checksum).
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::from_str(&self.to_json()).expect("a token is valid JSON")
    }

    /// Parses a token from a `serde_json::Value`.
    pub fn from_value(value: serde_json::Value) -> Result<Self> {
        Self::from_json(&value.to_string())
    }

    /// Whether the session in this token is a bearer credential.
    pub fn is_sensitive(&self) -> bool {
        self.session.sensitive
    }

    /// Recomputes the checksum; call after changing fields by hand.
    pub fn seal(&mut self) {
        self.checksum = self.compute_checksum();
    }

    fn compute_checksum(&self) -> u32 {
        let mut t = self.clone();
        t.checksum = 0;
        let text = serde_json::to_string(&t).expect("a token always serializes");
        crc32c::crc32c(text.as_bytes())
    }

    /// Checks what a token can say about itself: version, checksum, numbers in range.
    pub fn check_self(&self) -> Result<()> {
        if self.version != TOKEN_VERSION {
            return Err(Error::token_invalid(format!(
                "token version {} is not supported (this build reads version {TOKEN_VERSION})",
                self.version
            )));
        }
        if self.checksum != self.compute_checksum() {
            return Err(Error::token_invalid(
                "the token's checksum does not match its content (edited or damaged)",
            ));
        }
        if self.part_size == 0 {
            return Err(Error::token_invalid("the token's part size is zero"));
        }
        if self.total > 0 && self.total.div_ceil(self.part_size) > u64::from(u32::MAX) {
            return Err(Error::token_invalid(
                "the token's part count is out of range",
            ));
        }
        if self.loaded > self.total {
            return Err(Error::token_invalid(
                "the token claims more bytes than the body has",
            ));
        }
        if self.fingerprint.prefix_len > self.total {
            return Err(Error::token_invalid(
                "the token's fingerprint is longer than the body",
            ));
        }
        let parts = self.part_count();
        match self.family {
            TokenFamily::Parts => {
                let landed = parse_ranges(&self.landed).ok_or_else(|| {
                    Error::token_invalid("the token's landed parts are malformed")
                })?;
                if landed.iter().any(|&n| n == 0 || u64::from(n) > parts) {
                    return Err(Error::token_invalid("the token names a part out of range"));
                }
                if self
                    .fingerprint
                    .parts
                    .keys()
                    .any(|&n| n == 0 || u64::from(n) > parts)
                {
                    return Err(Error::token_invalid(
                        "the token fingerprints a part out of range",
                    ));
                }
            }
            TokenFamily::Offset => {
                if !self.landed.is_empty() {
                    let n: u64 = self
                        .landed
                        .parse()
                        .map_err(|_| Error::token_invalid("the token's offset is malformed"))?;
                    if n > self.total {
                        return Err(Error::token_invalid("the token's offset is past the body"));
                    }
                }
            }
        }
        Ok(())
    }

    /// Number of parts of the upload (1 for an empty body).
    pub fn part_count(&self) -> u64 {
        self.total.div_ceil(self.part_size).max(1)
    }

    /// Part numbers the token believes landed (parts family).
    pub fn landed_parts(&self) -> Vec<u32> {
        parse_ranges(&self.landed).unwrap_or_default()
    }
}

impl fmt::Debug for ResumeToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResumeToken")
            .field("version", &self.version)
            .field("provider", &self.provider)
            .field("target", &self.target)
            .field("key", &self.key)
            .field("total", &self.total)
            .field("part_size", &self.part_size)
            .field("family", &self.family)
            .field("session", &self.session)
            .field("created_at", &self.created_at)
            .field("landed", &self.landed)
            .field("loaded", &self.loaded)
            .finish_non_exhaustive()
    }
}

/// `[1,2,3,5]` → `"1-3,5"`.
pub(crate) fn format_ranges(numbers: impl IntoIterator<Item = u32>) -> String {
    let mut sorted: Vec<u32> = numbers.into_iter().collect();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out = String::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && sorted[i + 1] == end + 1 {
            i += 1;
            end = sorted[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}-{end}"));
        }
        i += 1;
    }
    out
}

/// `"1-3,5"` → `[1,2,3,5]`; `None` if malformed or absurdly large.
pub(crate) fn parse_ranges(text: &str) -> Option<Vec<u32>> {
    let mut out = Vec::new();
    if text.is_empty() {
        return Some(out);
    }
    for item in text.split(',') {
        let (a, b) = match item.split_once('-') {
            Some((a, b)) => (a.parse::<u32>().ok()?, b.parse::<u32>().ok()?),
            None => {
                let n = item.parse::<u32>().ok()?;
                (n, n)
            }
        };
        if a > b || out.len() + (b - a) as usize > 1_000_000 {
            return None;
        }
        out.extend(a..=b);
    }
    Some(out)
}

/// A random id for this process, stamped into tokens of in-process-only providers.
pub fn process_instance_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        format!(
            "{:016x}{:016x}-{}",
            fastrand::u64(..),
            fastrand::u64(..),
            std::process::id()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token() -> ResumeToken {
        let mut t = ResumeToken {
            completing: false,
            version: TOKEN_VERSION,
            provider: "fs".into(),
            target: "/srv".into(),
            key: "a/b".into(),
            total: 100,
            part_size: 10,
            family: TokenFamily::Parts,
            session: Session::new("u-1"),
            created_at: 1,
            process: None,
            landed: "1-3,5".into(),
            loaded: 40,
            fingerprint: Fingerprint {
                parts: [(1, 7), (2, 0xffff_ffff)].into_iter().collect(),
                ..Fingerprint::default()
            },
            checksum: 0,
        };
        t.seal();
        t
    }

    #[test]
    fn round_trip_and_small() {
        let t = token();
        let json = t.to_json();
        assert!(json.len() < 600, "{json}");
        let back = ResumeToken::from_json(&json).unwrap();
        assert_eq!(back, t);
        assert_eq!(back.landed_parts(), vec![1, 2, 3, 5]);
    }

    #[test]
    fn tampering_is_refused() {
        let json = token().to_json();
        let edited = json.replace("\"key\":\"a/b\"", "\"key\":\"a/c\"");
        assert_ne!(edited, json);
        let err = ResumeToken::from_json(&edited).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::TokenInvalid);
        let future = json.replace("\"version\":1", "\"version\":2");
        assert_eq!(
            ResumeToken::from_json(&future).unwrap_err().kind(),
            crate::ErrorKind::TokenInvalid
        );
        assert!(ResumeToken::from_json(&json[..json.len() / 2]).is_err());
        let mut bad = token();
        bad.landed = "1-11".into();
        bad.seal();
        assert!(ResumeToken::from_json(&bad.to_json()).is_err());
    }

    #[test]
    fn sensitive_session_is_redacted_in_debug() {
        let mut t = token();
        t.session = Session {
            id: "https://example.invalid/upload?upload_id=SECRET".into(),
            sensitive: true,
            ..Session::default()
        };
        assert!(!format!("{t:?}").contains("SECRET"));
    }

    #[test]
    fn ranges_codec() {
        assert_eq!(format_ranges([5, 1, 2, 3, 9, 10]), "1-3,5,9-10");
        assert_eq!(parse_ranges("1-3,5,9-10").unwrap(), vec![1, 2, 3, 5, 9, 10]);
        assert!(parse_ranges("3-1").is_none());
        assert!(parse_ranges("x").is_none());
        assert!(parse_ranges("1-4294967295").is_none());
    }
}
