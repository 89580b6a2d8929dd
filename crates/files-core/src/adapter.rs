//! The adapter contract: what a provider crate implements.
//!
//! An adapter implements [`Adapter`] (the everyday operations and a description of itself) and,
//! for uploads, **primitives only**, in one of three families:
//!
//! * [`PartUpload`]: numbered parts that may go in parallel (S3 multipart, Azure blocks, ...):
//!   begin, put part, probe (list what landed), complete, abort.
//! * [`OffsetUpload`]: a byte offset that only grows (GCS sessions, TUS, FTP/SFTP append, the
//!   local part file): begin, probe offset, append at offset, finish, cancel.
//! * one-shot [`Adapter::put`], which every adapter has.
//!
//! Scheduling, retries, timeouts, pause/resume, progress, checkpoints, changed-body detection
//! and token handling live once, in `files-core`; an adapter never sees an
//! [`UploadControl`](crate::UploadControl).

use std::collections::BTreeMap;
use std::fmt;
use std::ops::{Range, RangeFrom, RangeInclusive};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::body::ByteStream;
use crate::error::{Error, Result};

/// How far an adapter's uploads can be resumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resumability {
    /// The provider session survives the process: a token resumes it in a later process.
    CrossProcess,
    /// Pause and resume work inside the process that started the upload only.
    InProcess,
    /// No resumable primitive: `control` and `checkpoint` are refused with "not supported".
    None,
}

/// What an adapter can do. Options it cannot honour fail with
/// [`ErrorKind::NotSupported`](crate::ErrorKind::NotSupported) before any provider call.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capabilities {
    /// Byte-range downloads.
    pub range_read: bool,
    /// A content type stored with the object.
    pub content_type: bool,
    /// User metadata stored with the object.
    pub metadata: bool,
    /// A cache-control value stored with the object.
    pub cache_control: bool,
    /// Copy without moving bytes through the client. Without it, `copy` streams the object
    /// down and up again.
    pub server_side_copy: bool,
    /// An atomic native rename. Without it, `rename` is copy then delete.
    pub native_rename: bool,
    /// Listing with a delimiter (common prefixes).
    pub list_delimiter: bool,
    /// Presigned GET URLs.
    pub presign_get: bool,
    /// Presigned PUT URLs (signed upload URLs).
    pub presign_put: bool,
    /// A stable public URL for an object.
    pub public_url: bool,
    /// How far uploads can be resumed.
    pub resumable: Resumability,
}

impl Capabilities {
    /// Nothing beyond the basic operations; a starting point for adapters.
    pub const fn minimal() -> Self {
        Capabilities {
            range_read: false,
            content_type: false,
            metadata: false,
            cache_control: false,
            server_side_copy: false,
            native_rename: false,
            list_delimiter: false,
            presign_get: false,
            presign_put: false,
            public_url: false,
            resumable: Resumability::None,
        }
    }
}

/// Part and chunk size rules of a provider, checked before an upload starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartRules {
    /// Smallest allowed part, except the last one.
    pub min_part_size: u64,
    /// Largest allowed part.
    pub max_part_size: u64,
    /// Every part but the last must be a multiple of this (1 = no rule).
    pub alignment: u64,
    /// Most parts an upload may have.
    pub max_parts: u64,
    /// The part size used when the caller chooses none and the body is small enough.
    pub default_part_size: u64,
}

impl PartRules {
    /// Rules with no constraint but a default part size of 8 MiB.
    pub const fn unconstrained() -> Self {
        PartRules {
            min_part_size: 1,
            max_part_size: u64::MAX,
            alignment: 1,
            max_parts: u64::MAX,
            default_part_size: 8 * 1024 * 1024,
        }
    }

    /// Checks a caller's part size for a body of `total` bytes.
    pub fn check(&self, part_size: u64, total: u64) -> Result<()> {
        if part_size == 0 {
            return Err(Error::invalid_input("part size must be greater than zero"));
        }
        if part_size < self.min_part_size && total > part_size {
            return Err(Error::invalid_input(format!(
                "part size {part_size} is below the provider's minimum of {} bytes",
                self.min_part_size
            )));
        }
        if part_size > self.max_part_size {
            return Err(Error::invalid_input(format!(
                "part size {part_size} is above the provider's maximum of {} bytes",
                self.max_part_size
            )));
        }
        if self.alignment > 1 && !part_size.is_multiple_of(self.alignment) && total > part_size {
            return Err(Error::invalid_input(format!(
                "part size {part_size} must be a multiple of {} bytes for this provider",
                self.alignment
            )));
        }
        let parts = total.div_ceil(part_size).max(1);
        if parts > self.max_parts {
            return Err(Error::invalid_input(format!(
                "a body of {total} bytes in parts of {part_size} makes {parts} parts; the provider allows at most {}",
                self.max_parts
            )));
        }
        Ok(())
    }

    /// The default part size for a body of `total` bytes: the provider's default, grown (and
    /// aligned) until the body fits in the maximum number of parts.
    pub fn default_for(&self, total: u64) -> Result<u64> {
        let align = self.alignment.max(1);
        let mut size = self.default_part_size.max(self.min_part_size).max(1);
        let needed = total.div_ceil(self.max_parts.max(1));
        if needed > size {
            size = needed;
        }
        size = size.div_ceil(align).saturating_mul(align);
        if size > self.max_part_size {
            return Err(Error::invalid_input(format!(
                "a body of {total} bytes is too large for this provider ({} parts of at most {} bytes)",
                self.max_parts, self.max_part_size
            )));
        }
        Ok(size)
    }
}

/// Options stored with an uploaded object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PutOptions {
    /// MIME type.
    pub content_type: Option<String>,
    /// Cache-Control value.
    pub cache_control: Option<String>,
    /// User metadata.
    pub metadata: BTreeMap<String, String>,
}

/// What is known about a stored object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// The object's key.
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
    /// When it was last modified, if the provider says.
    pub last_modified: Option<SystemTime>,
    /// The provider's entity tag or version marker.
    pub etag: Option<String>,
    /// MIME type, if stored.
    pub content_type: Option<String>,
    /// Cache-Control, if stored.
    pub cache_control: Option<String>,
    /// User metadata.
    pub metadata: BTreeMap<String, String>,
}

impl ObjectMeta {
    /// Metadata with a key and a size, nothing else.
    pub fn new(key: impl Into<String>, size: u64) -> Self {
        ObjectMeta {
            key: key.into(),
            size,
            last_modified: None,
            etag: None,
            content_type: None,
            cache_control: None,
            metadata: BTreeMap::new(),
        }
    }

    /// Whether `other` (metadata read later) describes the same version of the object:
    /// `Some(true)` or `Some(false)` when the metadata can tell (both ETags; else both
    /// modification times, with the sizes), `None` when it cannot. What decides whether the
    /// bytes of two reads may be joined (a download resumed after a break).
    ///
    /// ```
    /// use files_core::ObjectMeta;
    /// let mut a = ObjectMeta::new("k", 10);
    /// let mut b = a.clone();
    /// assert_eq!(a.same_version(&b), None);
    /// a.etag = Some("\"1\"".into());
    /// b.etag = Some("\"2\"".into());
    /// assert_eq!(a.same_version(&b), Some(false));
    /// ```
    pub fn same_version(&self, other: &ObjectMeta) -> Option<bool> {
        match (&self.etag, &other.etag) {
            (Some(a), Some(b)) => Some(a == b),
            _ => match (self.last_modified, other.last_modified) {
                (Some(a), Some(b)) => Some(a == b && self.size == other.size),
                _ => None,
            },
        }
    }
}

/// A byte range of an object: `start..end`, `end` exclusive; `None` reads to the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    /// First byte.
    pub start: u64,
    /// One past the last byte, or `None` for "to the end".
    pub end: Option<u64>,
}

impl ByteRange {
    /// Resolves the range against an object of `size` bytes; an empty or out-of-range request
    /// is invalid input.
    pub fn resolve(&self, size: u64) -> Result<Range<u64>> {
        let end = self.end.unwrap_or(size).min(size);
        if self.start >= size && !(self.start == 0 && size == 0)
            || self.end.is_some_and(|e| e <= self.start)
        {
            return Err(Error::invalid_input(format!(
                "range {}..{} is not satisfiable for an object of {size} bytes",
                self.start,
                self.end.map(|e| e.to_string()).unwrap_or_default()
            )));
        }
        Ok(self.start..end)
    }
}

impl From<Range<u64>> for ByteRange {
    fn from(r: Range<u64>) -> Self {
        ByteRange {
            start: r.start,
            end: Some(r.end),
        }
    }
}
impl From<RangeFrom<u64>> for ByteRange {
    fn from(r: RangeFrom<u64>) -> Self {
        ByteRange {
            start: r.start,
            end: None,
        }
    }
}
impl From<RangeInclusive<u64>> for ByteRange {
    fn from(r: RangeInclusive<u64>) -> Self {
        ByteRange {
            start: *r.start(),
            end: Some(r.end().saturating_add(1)),
        }
    }
}

/// A download in progress: the object's metadata, the byte range served, and the bytes.
pub struct GetResponse {
    /// Metadata of the whole object (its `size` is the whole size).
    pub meta: ObjectMeta,
    /// The range of the object that `stream` yields.
    pub range: Range<u64>,
    /// The bytes.
    pub stream: ByteStream,
}

impl fmt::Debug for GetResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GetResponse")
            .field("meta", &self.meta)
            .field("range", &self.range)
            .finish_non_exhaustive()
    }
}

/// One page of a listing request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListRequest {
    /// Only keys that start with this.
    pub prefix: String,
    /// Group keys by this delimiter after the prefix (usually `/`).
    pub delimiter: Option<String>,
    /// Continue after a previous page (its [`ListPage::cursor`]).
    pub cursor: Option<String>,
    /// At most this many entries (objects plus prefixes) in the page; the adapter may cap it.
    pub limit: Option<usize>,
}

/// One page of a listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListPage {
    /// Objects, in key order.
    pub objects: Vec<ObjectMeta>,
    /// Common prefixes when a delimiter was given, in order.
    pub prefixes: Vec<String>,
    /// Pass this as the next request's cursor; `None` on the last page.
    pub cursor: Option<String>,
}

/// A presigned URL's HTTP method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresignMethod {
    /// Download.
    Get,
    /// Upload (a signed upload URL).
    Put,
}

/// The provider-side session an upload runs in, as stored in a resume token.
///
/// `id` names the session (an S3 UploadId, a GCS session URI, ...); `extra` holds the few
/// adapter-specific fields it needs. Neither may hold a credential, except where the session
/// *is* a bearer URL: then `sensitive` is set, `Debug` redacts `id`, and the docs of the adapter
/// say the token must be stored like a secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Session {
    /// The session's name at the provider (may be empty where the key alone names it).
    #[serde(default)]
    pub id: String,
    /// Whether `id` is a bearer credential (redacted in `Debug`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sensitive: bool,
    /// When the provider will discard the session, in seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
    /// Small adapter-specific fields.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, String>,
}

impl Session {
    /// A session named by `id`.
    pub fn new(id: impl Into<String>) -> Self {
        Session {
            id: id.into(),
            ..Session::default()
        }
    }
    /// The `extra` field that records the key a session was started for.
    pub const KEY_FIELD: &'static str = "key";

    /// Records that this session was started for `key` (see [`Session::check_bound_to`]).
    /// Adapters whose session id alone names the upload (an S3 UploadId on a lenient
    /// compatible, a GCS or Drive session URL) call it in `begin`.
    pub fn bind_to_key(&mut self, key: &str) {
        self.extra
            .insert(Self::KEY_FIELD.to_string(), key.to_string());
    }

    /// Refuses ([`ErrorKind::TokenInvalid`](crate::ErrorKind::TokenInvalid)) a session that
    /// was not started for `key`: one whose recorded key ([`Session::bind_to_key`]) is
    /// another, or that records none. A resealed token carrying another upload's session
    /// would otherwise send this key's bytes into that upload's object. The token's seal is
    /// a checksum, not a signature: the binding catches mixed-up tokens, not someone who
    /// edits the binding too. The message names neither the session nor the other key.
    pub fn check_bound_to(&self, key: &str) -> crate::Result<()> {
        match self.extra.get(Self::KEY_FIELD) {
            Some(k) if k == key => Ok(()),
            Some(_) => Err(crate::Error::token_invalid(
                "the token's session belongs to an upload of another key; refusing to send this key's bytes into it",
            )),
            None => Err(crate::Error::token_invalid(
                "the token's session does not record the key it was started for (a token of an older version, or edited); start the upload again",
            )),
        }
    }

    /// The id as it may appear in logs and errors: `<redacted>` when sensitive.
    pub fn display_id(&self) -> &str {
        if self.sensitive {
            "<redacted>"
        } else {
            &self.id
        }
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.display_id())
            .field("sensitive", &self.sensitive)
            .field("expires_at", &self.expires_at)
            .field("extra", &self.extra)
            .finish()
    }
}

/// What an upload is: passed to every primitive alongside the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadSpec {
    /// Destination key.
    pub key: String,
    /// Total length of the body. For a one-shot stream of unknown length (parts family, not
    /// resumable) it is 0 in `begin` and `put_part`, and the real length in `complete`.
    pub total: u64,
    /// Part (or chunk) size; every part but the last has exactly this size.
    pub part_size: u64,
    /// Content type, metadata, cache control.
    pub options: PutOptions,
}

/// One part handed to [`PartUpload::put_part`].
#[derive(Debug, Clone)]
pub struct Part {
    /// 1-based part number.
    pub number: u32,
    /// Offset of the part in the body.
    pub offset: u64,
    /// The bytes.
    pub data: Bytes,
    /// CRC32C (Castagnoli) of `data`, for providers that can store and check it.
    pub crc32c: u32,
}

/// A part the provider holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LandedPart {
    /// 1-based part number.
    pub number: u32,
    /// Its size as the provider reports it.
    pub size: u64,
    /// The provider's tag for it (S3 ETag, Azure block id), needed to complete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// The part's CRC32C **as the provider stored and vouches for it**; `None` if the provider
    /// keeps no checksum (then the token's fingerprints are used to check the body).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crc32c: Option<u32>,
}

/// The numbered-parts family (S3 multipart, Azure blocks, Box chunks, ...).
///
/// Contract, for every method: it is one provider round trip (or a few), it may be retried by
/// the scheduler when it fails with a retryable error, and a dropped future must leave the
/// provider in a state `probe` can describe.
#[async_trait]
pub trait PartUpload: Send + Sync {
    /// Part-size rules, checked before an upload begins.
    fn rules(&self) -> PartRules;
    /// Cross-process, or only in-process.
    fn resumability(&self) -> Resumability;
    /// Starts a session. Not retried blindly: a failure here leaks nothing the caller can see.
    async fn begin(&self, spec: &UploadSpec) -> Result<Session>;
    /// Stores one part. Putting a number that already landed replaces it.
    async fn put_part(
        &self,
        spec: &UploadSpec,
        session: &Session,
        part: Part,
    ) -> Result<LandedPart>;
    /// Lists every part the provider holds for the session (all pages). A session that no
    /// longer exists is [`ErrorKind::SessionExpired`](crate::ErrorKind::SessionExpired).
    async fn probe(&self, spec: &UploadSpec, session: &Session) -> Result<Vec<LandedPart>>;
    /// Assembles the parts, in number order, into the object. The scheduler never retries this
    /// blindly: after an ambiguous failure it probes the session and checks the object.
    async fn complete(
        &self,
        spec: &UploadSpec,
        session: &Session,
        parts: &[LandedPart],
    ) -> Result<ObjectMeta>;
    /// Discards the session and its parts. Aborting a session that is already gone succeeds.
    async fn abort(&self, spec: &UploadSpec, session: &Session) -> Result<()>;
    /// Whether a landed part's [`LandedPart::etag`] is usually the hex MD5 of its bytes (S3 and
    /// most S3-compatible stores, for objects without SSE-KMS / SSE-C). Default `false`.
    ///
    /// On resume, a landed part with no provider CRC32C and no fingerprint in the token (it
    /// landed after the last checkpoint) is re-read from the body and kept when its MD5 equals
    /// the ETag; when it differs (the body changed there, or the ETag is not an MD5) the part
    /// is sent again, which is always safe: the object then holds the body's current bytes.
    fn etags_are_md5(&self) -> bool {
        false
    }
}

/// Where an offset-family session stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OffsetState {
    /// The provider holds the first `n` bytes.
    Offset(u64),
    /// The object is complete.
    Finished(ObjectMeta),
}

/// The growing-offset family (GCS/Drive sessions, TUS, OneDrive, FTP/SFTP append, local disk).
#[async_trait]
pub trait OffsetUpload: Send + Sync {
    /// Chunk-size rules (alignment, minimum, maximum), checked before an upload begins.
    fn rules(&self) -> PartRules;
    /// Cross-process, or only in-process.
    fn resumability(&self) -> Resumability;
    /// Starts a fresh session at offset 0 (discarding stale state the key may have).
    async fn begin(&self, spec: &UploadSpec) -> Result<Session>;
    /// Asks the provider how many bytes it holds. The answer is the truth.
    async fn probe(&self, spec: &UploadSpec, session: &Session) -> Result<OffsetState>;
    /// Appends `data` at `offset`; `last` is set on the chunk that ends the body. Returns the
    /// provider's new offset (which may be less than `offset + data.len()` if it persisted only
    /// part of the chunk) or `Finished` if the last chunk completed the object. An append at an
    /// offset the provider does not hold is [`ErrorKind::Conflict`](crate::ErrorKind::Conflict).
    async fn append(
        &self,
        spec: &UploadSpec,
        session: &Session,
        offset: u64,
        data: Bytes,
        last: bool,
    ) -> Result<OffsetState>;
    /// Makes the object visible once every byte landed (rename a part file, finalize a session).
    async fn finish(&self, spec: &UploadSpec, session: &Session) -> Result<ObjectMeta>;
    /// Discards the session and the bytes it holds. Cancelling a session that is gone succeeds.
    async fn cancel(&self, spec: &UploadSpec, session: &Session) -> Result<()>;
}

/// Which upload family an adapter implements.
pub enum UploadFamily<'a> {
    /// Numbered parts.
    Parts(&'a dyn PartUpload),
    /// A growing offset.
    Offset(&'a dyn OffsetUpload),
    /// Only [`Adapter::put`].
    OneShot,
}

impl UploadFamily<'_> {
    /// The family's name as stored in tokens.
    pub fn name(&self) -> &'static str {
        match self {
            UploadFamily::Parts(_) => "parts",
            UploadFamily::Offset(_) => "offset",
            UploadFamily::OneShot => "one_shot",
        }
    }
    /// The family's resumability.
    pub fn resumability(&self) -> Resumability {
        match self {
            UploadFamily::Parts(p) => p.resumability(),
            UploadFamily::Offset(o) => o.resumability(),
            UploadFamily::OneShot => Resumability::None,
        }
    }
    /// The family's part rules (unconstrained for one-shot).
    pub fn rules(&self) -> PartRules {
        match self {
            UploadFamily::Parts(p) => p.rules(),
            UploadFamily::Offset(o) => o.rules(),
            UploadFamily::OneShot => PartRules::unconstrained(),
        }
    }
}

/// A storage provider. Implement this (and one upload family) to add a provider.
///
/// Keys are `/`-separated relative names (`backups/db.tar`). Every method's future may be
/// dropped at any point; that cancels the operation and must not corrupt stored objects.
#[async_trait]
pub trait Adapter: Send + Sync + fmt::Debug + 'static {
    /// The provider's short name (`fs`, `memory`, `s3`, ...), stored in tokens.
    fn provider(&self) -> &'static str;

    /// The identity of the store this adapter talks to (root directory, bucket and endpoint,
    /// ...). Stored in tokens so that a token cannot be resumed against another store. Never a
    /// credential.
    fn target(&self) -> String;

    /// What this adapter can do.
    fn capabilities(&self) -> Capabilities;

    /// Checks a key before any provider call. The default refuses empty keys, NUL bytes, a
    /// leading `/`, `.` or `..` segments and keys over 1024 bytes.
    fn validate_key(&self, key: &str) -> Result<()> {
        validate_key_default(key)
    }

    /// Checks the session named in a token before it is trusted (e.g. a session URL must be on
    /// the configured endpoint's host). The default accepts any session.
    fn check_session(&self, _session: &Session) -> Result<()> {
        Ok(())
    }

    /// The upload primitives this adapter implements.
    fn upload_family(&self) -> UploadFamily<'_> {
        UploadFamily::OneShot
    }

    /// Stores `body` at `key` in one request (or one atomic local operation). `len` is the exact
    /// length when known. The object appears whole or not at all where the provider allows it.
    async fn put(
        &self,
        key: &str,
        body: ByteStream,
        len: Option<u64>,
        options: &PutOptions,
    ) -> Result<ObjectMeta>;

    /// The object's metadata; [`ErrorKind::NotFound`](crate::ErrorKind::NotFound) if absent.
    async fn head(&self, key: &str) -> Result<ObjectMeta>;

    /// The object's bytes, or a range of them.
    async fn get(&self, key: &str, range: Option<ByteRange>) -> Result<GetResponse>;

    /// Deletes the object. Deleting an absent key succeeds.
    async fn delete(&self, key: &str) -> Result<()>;

    /// One page of keys.
    async fn list(&self, request: &ListRequest) -> Result<ListPage>;

    /// Server-side copy (only called when [`Capabilities::server_side_copy`] is set).
    async fn copy(&self, from: &str, to: &str) -> Result<ObjectMeta> {
        let _ = (from, to);
        Err(Error::not_supported("server-side copy is not supported"))
    }

    /// Native rename (only called when [`Capabilities::native_rename`] is set).
    async fn rename(&self, from: &str, to: &str) -> Result<()> {
        let _ = (from, to);
        Err(Error::not_supported("native rename is not supported"))
    }

    /// A presigned URL valid for `expires`.
    async fn presign(&self, key: &str, method: PresignMethod, expires: Duration) -> Result<String> {
        let _ = (key, method, expires);
        Err(Error::not_supported("presigned URLs are not supported"))
    }

    /// A stable public URL for the object.
    fn public_url(&self, key: &str) -> Result<String> {
        let _ = key;
        Err(Error::not_supported("public URLs are not supported"))
    }
}

/// The default key rules: non-empty, at most 1024 bytes, no NUL, no leading `/`, no `\`, no
/// empty, `.` or `..` segment.
pub fn validate_key_default(key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(Error::invalid_input("the key is empty"));
    }
    if key.len() > 1024 {
        return Err(Error::invalid_input(format!(
            "the key is {} bytes long; at most 1024 are allowed",
            key.len()
        )));
    }
    if key.contains('\0') {
        return Err(Error::invalid_input("the key contains a NUL byte"));
    }
    if key.starts_with('/') {
        return Err(Error::invalid_input(
            "the key must be relative (no leading '/')",
        ));
    }
    if key.contains('\\') {
        return Err(Error::invalid_input("the key must not contain '\\'"));
    }
    if key.split('/').any(|s| s == ".." || s == ".") {
        return Err(Error::invalid_input(
            "the key must not contain '.' or '..' segments",
        ));
    }
    if key.split('/').rev().skip(1).any(str::is_empty) {
        return Err(Error::invalid_input(
            "the key must not contain empty segments ('//')",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_bind_to_their_key() {
        let mut s = Session::new("https://h/upload?upload_id=SECRET");
        s.sensitive = true;
        let e = s.check_bound_to("a").unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::TokenInvalid);
        s.bind_to_key("dir/a");
        assert!(s.check_bound_to("dir/a").is_ok());
        let e = s.check_bound_to("dir/b").unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::TokenInvalid);
        assert!(!e.to_string().contains("SECRET") && !e.to_string().contains("dir/a"));
        assert!(!format!("{s:?}").contains("SECRET"));
    }

    #[test]
    fn part_rules_check_and_default() {
        let s3 = PartRules {
            min_part_size: 5 << 20,
            max_part_size: 5 << 30,
            alignment: 1,
            max_parts: 10_000,
            default_part_size: 8 << 20,
        };
        assert!(s3.check(1 << 20, 100 << 20).is_err());
        assert!(s3.check(1 << 20, 1 << 20).is_ok());
        assert!(s3.check(8 << 20, 100 << 20).is_ok());
        let tib = 1u64 << 40;
        let d = s3.default_for(tib).unwrap();
        assert!(tib.div_ceil(d) <= 10_000, "{d}");
        assert!(s3.check(d, tib).is_ok());
        assert!(s3.check(8 << 20, tib).is_err());
        let gcs = PartRules {
            alignment: 256 << 10,
            ..PartRules::unconstrained()
        };
        assert!(gcs.check(300 << 10, 10 << 20).is_err());
        assert_eq!(gcs.default_for(10).unwrap() % (256 << 10), 0);
    }

    #[test]
    fn keys() {
        for bad in ["", "/a", "a/../b", "..", "a//b", "a\0b", "a\\b", "./a"] {
            assert!(validate_key_default(bad).is_err(), "{bad:?}");
        }
        for good in ["a", "a/b.txt", "dir/", "a..b", "ü/ñ"] {
            assert!(validate_key_default(good).is_ok(), "{good:?}");
        }
        assert!(validate_key_default(&"x".repeat(1025)).is_err());
    }

    #[test]
    fn ranges() {
        assert_eq!(ByteRange::from(2..5).resolve(10).unwrap(), 2..5);
        assert_eq!(ByteRange::from(2..).resolve(10).unwrap(), 2..10);
        assert_eq!(ByteRange::from(2..=4).resolve(10).unwrap(), 2..5);
        assert_eq!(ByteRange::from(5..50).resolve(10).unwrap(), 5..10);
        assert!(ByteRange::from(10..).resolve(10).is_err());
        assert!(ByteRange::from(4..4).resolve(10).is_err());
    }
}
