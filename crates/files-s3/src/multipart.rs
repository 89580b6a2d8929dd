//! S3's multipart API as the core's [`PartUpload`] family, and multipart server-side copy.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream as SdkStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart};
use files_core::{
    Error, ErrorKind, GIB, LandedPart, MIB, ObjectMeta, Part, PartRules, PartUpload, PutOptions,
    Result, Resumability, Session, UploadSpec,
};
use futures::{StreamExt, TryStreamExt};

use crate::S3Adapter;
use crate::body::{crc32c_from_base64, crc32c_to_base64};
use crate::compat::InitiateRootFix;
use crate::errors::map_sdk_error;

/// S3's limits: parts of 5 MiB (except the last) to 5 GiB, at most 10,000 of them.
pub const MIN_PART_SIZE: u64 = 5 * MIB;
/// The largest part.
pub const MAX_PART_SIZE: u64 = 5 * GIB;
/// The most parts of one upload.
pub const MAX_PARTS: u64 = 10_000;
/// The session's `extra` field that records that per-part CRC32C checksums were requested
/// when the upload was created (`"1"`); every later part and the completion must carry them.
pub const EXTRA_CRC32C: &str = "crc32c";

/// Checks an UploadId named in a token: non-empty, at most 1024 printable ASCII characters,
/// no whitespace and no `/`.
pub fn check_upload_id(id: &str) -> Result<()> {
    if id.is_empty() {
        return Err(Error::token_invalid("the S3 UploadId is empty"));
    }
    if id.len() > 1024 {
        return Err(Error::token_invalid(
            "the S3 UploadId is longer than 1024 characters",
        ));
    }
    if !id.bytes().all(|b| b.is_ascii_graphic() && b != b'/') {
        return Err(Error::token_invalid(
            "the S3 UploadId contains characters an UploadId never has (whitespace, control characters, non-ASCII or `/`)",
        ));
    }
    Ok(())
}

pub(crate) fn wants_crc(session: &Session) -> bool {
    session.extra.get(EXTRA_CRC32C).map(String::as_str) == Some("1")
}

impl S3Adapter {
    /// The store's modification time of the object a CompleteMultipartUpload made (whose
    /// answer carries none): a HEAD's `Last-Modified`, never this machine's clock. `None` when
    /// the HEAD fails (a write-only credential, say: the upload has succeeded all the same) or
    /// finds another version than `etag` (a writer that came in between).
    pub(crate) async fn stored_last_modified(
        &self,
        key: &str,
        etag: Option<&str>,
    ) -> Option<std::time::SystemTime> {
        use files_core::Adapter as _;
        match self.head(key).await {
            Ok(head)
                if etag.is_none_or(|e| head.etag.as_deref().is_some_and(|h| same_etag(h, e))) =>
            {
                head.last_modified
            }
            Ok(head) => {
                tracing::debug!(
                    key,
                    completed = ?etag,
                    found = ?head.etag,
                    "the object was replaced right after CompleteMultipartUpload"
                );
                None
            }
            Err(e) => {
                tracing::debug!(key, error = %e, "no HEAD after CompleteMultipartUpload");
                None
            }
        }
    }
}

/// Two ETags name the same version (quotes aside: some stores quote one answer, not another).
fn same_etag(a: &str, b: &str) -> bool {
    a.trim_matches('"') == b.trim_matches('"')
}

fn part_number(n: u32) -> Result<i32> {
    if n == 0 || u64::from(n) > MAX_PARTS {
        return Err(Error::invalid_input(format!(
            "part number {n} is outside 1..=10000"
        )));
    }
    Ok(n as i32)
}

/// Distinct part numbers from ListParts pages, and when to stop paging.
#[derive(Debug, Default)]
pub(crate) struct PartPager {
    pub parts: BTreeMap<u32, LandedPart>,
    pages: u32,
}

impl PartPager {
    /// Adds one page; returns the marker to ask for next, or `None` when done. Guards against
    /// servers that repeat pages (an inclusive marker, a marker that does not move).
    pub(crate) fn page(
        &mut self,
        current: Option<&str>,
        parts: impl IntoIterator<Item = LandedPart>,
        truncated: bool,
        next_marker: Option<&str>,
    ) -> Result<Option<String>> {
        self.pages += 1;
        let mut new = 0usize;
        let mut max_seen = 0u32;
        for p in parts {
            max_seen = max_seen.max(p.number);
            if p.number == 0 || u64::from(p.number) > MAX_PARTS {
                continue;
            }
            if !self.parts.contains_key(&p.number) {
                new += 1;
            }
            self.parts.insert(p.number, p);
        }
        if !truncated {
            return Ok(None);
        }
        let next = next_marker
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .map(str::to_string)
            .or_else(|| (max_seen > 0).then(|| max_seen.to_string()));
        let Some(next) = next else {
            tracing::warn!("ListParts says the list is truncated but gives no marker; stopping");
            return Ok(None);
        };
        if new == 0 || current == Some(next.as_str()) {
            // A page with nothing new, or a marker that does not advance: stop rather than
            // loop. Parts not listed are sent again, which is safe.
            tracing::warn!(
                marker = %next,
                "ListParts paging does not advance; stopping with the parts seen so far"
            );
            return Ok(None);
        }
        if self.pages > (MAX_PARTS as u32) + 1 {
            return Err(Error::new(
                ErrorKind::Other,
                "ListParts returned more pages than an upload can have parts",
            ));
        }
        Ok(Some(next))
    }
}

#[async_trait]
impl PartUpload for S3Adapter {
    fn rules(&self) -> PartRules {
        PartRules {
            min_part_size: MIN_PART_SIZE,
            max_part_size: MAX_PART_SIZE,
            alignment: 1,
            max_parts: MAX_PARTS,
            default_part_size: self.inner.plan.default_part_size,
        }
    }

    fn resumability(&self) -> Resumability {
        Resumability::CrossProcess
    }

    async fn begin(&self, spec: &UploadSpec) -> Result<Session> {
        let crc = self.inner.plan.checksums;
        let o = &spec.options;
        let mut req = self
            .client()
            .create_multipart_upload()
            .bucket(self.bucket())
            .key(&spec.key)
            .set_content_type(o.content_type.clone())
            .set_cache_control(o.cache_control.clone());
        if !o.metadata.is_empty() {
            req = req.set_metadata(Some(o.metadata.clone().into_iter().collect()));
        }
        if crc {
            req = req.checksum_algorithm(ChecksumAlgorithm::Crc32C);
        }
        let out = req
            .customize()
            .interceptor(InitiateRootFix)
            .send()
            .await
            .map_err(|e| map_sdk_error("CreateMultipartUpload", e))?;
        let id = out.upload_id().unwrap_or_default().to_string();
        check_upload_id(&id).map_err(|e| {
            Error::new(
                ErrorKind::Other,
                format!(
                    "the server answered CreateMultipartUpload with an unusable UploadId: {}",
                    e.message()
                ),
            )
        })?;
        let mut session = Session::new(id);
        // Real S3 ties an UploadId to its key, but compatibles (moto among them) do not: bind
        // it here so a token carrying another key's UploadId is refused before any request.
        session.bind_to_key(&spec.key);
        if crc {
            session.extra.insert(EXTRA_CRC32C.into(), "1".into());
        }
        Ok(session)
    }

    async fn put_part(
        &self,
        spec: &UploadSpec,
        session: &Session,
        part: Part,
    ) -> Result<LandedPart> {
        session.check_bound_to(&spec.key)?;
        let number = part_number(part.number)?;
        let len = part.data.len() as u64;
        let crc = wants_crc(session);
        let mut req = self
            .client()
            .upload_part()
            .bucket(self.bucket())
            .key(&spec.key)
            .upload_id(&session.id)
            .part_number(number)
            .content_length(len as i64)
            .body(SdkStream::from(part.data));
        if crc {
            req = req.checksum_crc32_c(crc32c_to_base64(part.crc32c));
        }
        let plan = &self.inner.plan;
        // With a CRC32C the SHA-256 of the payload adds a full pass over the bytes for no
        // extra integrity: send it unsigned (unless the configuration says otherwise).
        let out = if plan.unsigned_payload || (crc && plan.unsigned_with_crc) {
            req.customize().disable_payload_signing().send().await
        } else {
            req.send().await
        }
        .map_err(|e| map_sdk_error("UploadPart", e))?;
        let etag = out
            .e_tag()
            .filter(|e| !e.is_empty())
            .ok_or_else(|| Error::transient("the server answered UploadPart without an ETag"))?;
        Ok(LandedPart {
            number: part.number,
            size: len,
            etag: Some(etag.to_string()),
            // Only a checksum the server echoed (and so stored) vouches for the bytes.
            crc32c: out.checksum_crc32_c().and_then(crc32c_from_base64),
        })
    }

    async fn probe(&self, spec: &UploadSpec, session: &Session) -> Result<Vec<LandedPart>> {
        session.check_bound_to(&spec.key)?;
        let mut pager = PartPager::default();
        let mut marker: Option<String> = None;
        loop {
            let mut req = self
                .client()
                .list_parts()
                .bucket(self.bucket())
                .key(&spec.key)
                .upload_id(&session.id)
                .max_parts(1000);
            if let Some(m) = &marker {
                req = req.part_number_marker(m);
            }
            let out = req
                .send()
                .await
                .map_err(|e| map_sdk_error("ListParts", e))?;
            let parts = out.parts().iter().filter_map(|p| {
                let number = u32::try_from(p.part_number()?).ok()?;
                Some(LandedPart {
                    number,
                    size: u64::try_from(p.size().unwrap_or(-1)).ok()?,
                    etag: p.e_tag().map(str::to_string),
                    crc32c: p.checksum_crc32_c().and_then(crc32c_from_base64),
                })
            });
            let parts: Vec<LandedPart> = parts.collect();
            match pager.page(
                marker.as_deref(),
                parts,
                out.is_truncated().unwrap_or(false),
                out.next_part_number_marker(),
            )? {
                Some(next) => marker = Some(next),
                None => break,
            }
        }
        Ok(pager.parts.into_values().collect())
    }

    async fn complete(
        &self,
        spec: &UploadSpec,
        session: &Session,
        parts: &[LandedPart],
    ) -> Result<ObjectMeta> {
        session.check_bound_to(&spec.key)?;
        let crc = wants_crc(session);
        let mut sorted: Vec<&LandedPart> = parts.iter().collect();
        sorted.sort_by_key(|p| p.number);
        let mut completed = Vec::with_capacity(sorted.len());
        for p in sorted {
            let etag = p.etag.as_deref().filter(|e| !e.is_empty()).ok_or_else(|| {
                Error::invalid_input(format!(
                    "part {} has no ETag; it cannot be assembled",
                    p.number
                ))
            })?;
            let mut b = CompletedPart::builder()
                .part_number(part_number(p.number)?)
                .e_tag(etag);
            if crc && let Some(c) = p.crc32c {
                b = b.checksum_crc32_c(crc32c_to_base64(c));
            }
            completed.push(b.build());
        }
        let out = self
            .client()
            .complete_multipart_upload()
            .bucket(self.bucket())
            .key(&spec.key)
            .upload_id(&session.id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(completed))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| map_sdk_error("CompleteMultipartUpload", e))?;
        let mut meta = ObjectMeta::new(spec.key.clone(), spec.total);
        meta.etag = out.e_tag().map(str::to_string);
        meta.content_type = spec.options.content_type.clone();
        meta.cache_control = spec.options.cache_control.clone();
        meta.metadata = spec.options.metadata.clone();
        meta.last_modified = self
            .stored_last_modified(&spec.key, meta.etag.as_deref())
            .await;
        Ok(meta)
    }

    async fn abort(&self, spec: &UploadSpec, session: &Session) -> Result<()> {
        session.check_bound_to(&spec.key)?;
        let result = self
            .client()
            .abort_multipart_upload()
            .bucket(self.bucket())
            .key(&spec.key)
            .upload_id(&session.id)
            .send()
            .await
            .map_err(|e| map_sdk_error("AbortMultipartUpload", e));
        match result {
            Ok(_) => Ok(()),
            // Already gone: aborting it again succeeds.
            Err(e) if e.kind() == ErrorKind::SessionExpired => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// An S3 part's ETag is the MD5 of its bytes (except under SSE-KMS / SSE-C, where the core
    /// then merely re-sends the part): parts that landed after the last checkpoint on a store
    /// without CRC32C are verified by it instead of being sent again.
    fn etags_are_md5(&self) -> bool {
        true
    }
}

/// The part size of a multipart copy of `size` bytes: `preferred`, grown to fit in 10,000
/// parts.
pub(crate) fn copy_part_size(size: u64, preferred: u64) -> u64 {
    preferred
        .max(size.div_ceil(MAX_PARTS))
        .clamp(MIN_PART_SIZE, MAX_PART_SIZE)
}

/// `x-amz-copy-source`: `bucket/key`, URL-encoded (the `/` between segments kept).
pub(crate) fn copy_source(bucket: &str, key: &str) -> String {
    use files_core::encode::path;
    format!("{}/{}", path(bucket), path(key))
}

impl S3Adapter {
    /// Server-side copy of an object larger than CopyObject allows: a multipart upload whose
    /// parts are UploadPartCopy ranges of the source. Aborted on failure.
    pub(crate) async fn copy_multipart(&self, source: &ObjectMeta, to: &str) -> Result<String> {
        let size = source.size;
        let part = copy_part_size(size, self.inner.plan.copy_part_size);
        let spec = UploadSpec {
            key: to.to_string(),
            total: size,
            part_size: part,
            options: PutOptions {
                content_type: source.content_type.clone(),
                cache_control: source.cache_control.clone(),
                metadata: source.metadata.clone(),
            },
        };
        // No per-part checksums: the server copies bytes it already holds.
        let mut req = self
            .client()
            .create_multipart_upload()
            .bucket(self.bucket())
            .key(to)
            .set_content_type(spec.options.content_type.clone())
            .set_cache_control(spec.options.cache_control.clone());
        if !spec.options.metadata.is_empty() {
            req = req.set_metadata(Some(spec.options.metadata.clone().into_iter().collect()));
        }
        let out = req
            .customize()
            .interceptor(InitiateRootFix)
            .send()
            .await
            .map_err(|e| map_sdk_error("CreateMultipartUpload", e))?;
        let mut session = Session::new(out.upload_id().unwrap_or_default());
        check_upload_id(&session.id)?;
        session.bind_to_key(to);
        let source_id = copy_source(self.bucket(), &source.key);
        let count = size.div_ceil(part).max(1) as u32;
        let run = async {
            let parts: Vec<LandedPart> =
                futures::stream::iter(1..=count)
                    .map(|n| {
                        let (session, source_id) = (&session, &source_id);
                        async move {
                            let start = u64::from(n - 1) * part;
                            let end = (start + part).min(size);
                            let out = self
                                .client()
                                .upload_part_copy()
                                .bucket(self.bucket())
                                .key(to)
                                .upload_id(&session.id)
                                .part_number(part_number(n)?)
                                .copy_source(source_id)
                                .copy_source_range(format!("bytes={start}-{}", end - 1))
                                .send()
                                .await
                                .map_err(|e| map_sdk_error("UploadPartCopy", e))?;
                            let etag = out.copy_part_result().and_then(|r| r.e_tag()).ok_or_else(
                                || Error::transient("UploadPartCopy answered without an ETag"),
                            )?;
                            Ok::<_, Error>(LandedPart {
                                number: n,
                                size: end - start,
                                etag: Some(etag.to_string()),
                                crc32c: None,
                            })
                        }
                    })
                    .buffered(4)
                    .try_collect()
                    .await?;
            self.complete(&spec, &session, &parts).await
        };
        match run.await {
            Ok(meta) => Ok(meta.etag.unwrap_or_default()),
            Err(e) => {
                if let Err(ae) = self.abort(&spec, &session).await {
                    tracing::warn!(error = %ae, "aborting a failed multipart copy failed");
                }
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lp(n: u32) -> LandedPart {
        LandedPart {
            number: n,
            size: 1,
            etag: Some(format!("e{n}")),
            crc32c: None,
        }
    }

    #[test]
    fn upload_ids() {
        for ok in [
            "VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA",
            "abc.def_ghi-jkl+mn=",
            "1",
        ] {
            assert!(check_upload_id(ok).is_ok(), "{ok}");
        }
        let long = "a".repeat(1025);
        for bad in ["", "a b", "a/b", "a\nb", "ü", "a\tb", long.as_str()] {
            let e = check_upload_id(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::TokenInvalid, "{bad:?}");
        }
        assert!(check_upload_id(&"a".repeat(1024)).is_ok());
    }

    #[test]
    fn pager_follows_markers_and_dedupes() {
        // Exclusive markers: 1..=1000, then 1001..=1100.
        let mut p = PartPager::default();
        let next = p
            .page(None, (1..=1000).map(lp), true, Some("1000"))
            .unwrap();
        assert_eq!(next.as_deref(), Some("1000"));
        let next = p
            .page(Some("1000"), (1001..=1100).map(lp), false, None)
            .unwrap();
        assert_eq!(next, None);
        assert_eq!(p.parts.len(), 1100);

        // Inclusive markers (rclone): each page repeats the marker's part.
        let mut p = PartPager::default();
        let next = p.page(None, (1..=3).map(lp), true, Some("3")).unwrap();
        let next = p
            .page(next.as_deref(), (3..=5).map(lp), true, Some("5"))
            .unwrap();
        let next = p
            .page(next.as_deref(), (5..=6).map(lp), false, None)
            .unwrap();
        assert_eq!(next, None);
        assert_eq!(
            p.parts.keys().copied().collect::<Vec<_>>(),
            vec![1, 2, 3, 4, 5, 6]
        );

        // No NextPartNumberMarker: continue after the largest part seen.
        let mut p = PartPager::default();
        assert_eq!(
            p.page(None, (1..=2).map(lp), true, None)
                .unwrap()
                .as_deref(),
            Some("2")
        );

        // A server that repeats the same page forever: stop, do not loop.
        let mut p = PartPager::default();
        let next = p.page(None, (1..=2).map(lp), true, Some("2")).unwrap();
        assert_eq!(next.as_deref(), Some("2"));
        assert_eq!(
            p.page(Some("2"), (1..=2).map(lp), true, Some("2")).unwrap(),
            None
        );

        // A marker that does not move although the page had new parts: stop too.
        let mut p = PartPager::default();
        assert_eq!(
            p.page(Some("7"), (8..=9).map(lp), true, Some("7")).unwrap(),
            None
        );
        // Truncated with an empty page and no marker: stop.
        let mut p = PartPager::default();
        assert_eq!(p.page(None, Vec::new(), true, None).unwrap(), None);
    }

    #[test]
    fn copy_parts_and_sources() {
        assert_eq!(copy_part_size(6 * GIB, 512 * MIB), 512 * MIB);
        let huge = 5 * 1024 * GIB; // 5 TiB, S3's object limit
        let p = copy_part_size(huge, 512 * MIB);
        assert!(huge.div_ceil(p) <= MAX_PARTS && p <= MAX_PART_SIZE);
        assert_eq!(copy_part_size(1, 1), MIN_PART_SIZE);
        assert_eq!(copy_source("b", "dir/a b+c.txt"), "b/dir/a%20b%2Bc.txt");
        assert_eq!(copy_source("b", "ü"), "b/%C3%BC");
    }

    #[test]
    fn session_extra_records_checksums() {
        let mut s = Session::new("id");
        assert!(!wants_crc(&s));
        s.extra.insert(EXTRA_CRC32C.into(), "1".into());
        assert!(wants_crc(&s));
    }
}
