//! The adapter: an SDK client over one bucket, and the everyday operations (PutObject,
//! HeadObject, GetObject with ranges, DeleteObject, ListObjectsV2, CopyObject, presigned URLs).
//! The multipart upload family is in `multipart.rs`.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_sdk_s3::presigning::PresigningConfig;
use files_core::{
    Adapter, ByteRange, ByteStream, Capabilities, Error, ErrorKind, GetResponse, ListPage,
    ListRequest, ObjectMeta, PresignMethod, PutOptions, Result, Resumability, Session,
    UploadFamily,
};

use crate::PROVIDER;
use crate::body::{self, crc32c_to_base64};
use crate::config::{Plan, S3Builder};
use crate::errors::map_sdk_error;
use crate::multipart::{self, EXTRA_CRC32C, check_upload_id};
use crate::presets::Preset;

/// An adapter over one bucket of Amazon S3 or an S3-compatible store. Cheap to clone.
///
/// See the [crate docs](crate) for configuration, tokens and limits.
#[derive(Clone)]
pub struct S3Adapter {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) client: aws_sdk_s3::Client,
    pub(crate) plan: Plan,
}

impl std::fmt::Debug for S3Adapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let p = &self.inner.plan;
        f.debug_struct("S3Adapter")
            .field("preset", &p.preset)
            .field("bucket", &p.bucket)
            .field("endpoint", &p.endpoint)
            .field("region", &p.region)
            .field("path_style", &p.path_style)
            .field("credentials", &p.credentials)
            .field("checksums", &p.checksums)
            .field("unsigned_payload", &p.unsigned_payload)
            .field("unsigned_with_crc", &p.unsigned_with_crc)
            .finish_non_exhaustive()
    }
}

impl S3Adapter {
    /// A builder (Amazon S3 unless a preset is chosen).
    pub fn builder() -> S3Builder {
        S3Builder::new()
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.inner.plan.bucket
    }

    /// The region requests are signed for.
    pub fn region(&self) -> &str {
        &self.inner.plan.region
    }

    /// The endpoint (`scheme://host[:port]`), or `None` for Amazon S3's own.
    pub fn endpoint(&self) -> Option<&str> {
        self.inner.plan.endpoint.as_deref()
    }

    /// The preset in use.
    pub fn preset(&self) -> Preset {
        self.inner.plan.preset
    }

    /// Whether multipart uploads request per-part CRC32C checksums.
    pub fn checksums(&self) -> bool {
        self.inner.plan.checksums
    }

    /// Whether bodies are sent as `UNSIGNED-PAYLOAD`.
    pub fn unsigned_payload(&self) -> bool {
        self.inner.plan.unsigned_payload
    }

    /// Whether requests use path-style addressing.
    pub fn path_style(&self) -> bool {
        self.inner.plan.path_style
    }

    /// The underlying aws-sdk-s3 client, for operations this crate does not wrap (for
    /// example setting a lifecycle rule or listing multipart uploads).
    pub fn client(&self) -> &aws_sdk_s3::Client {
        &self.inner.client
    }

    fn key_url(&self, key: &str) -> String {
        multipart::copy_source("", key)
            .trim_start_matches('/')
            .to_string()
    }
}

fn system_time(t: Option<&aws_sdk_s3::primitives::DateTime>) -> Option<SystemTime> {
    t.and_then(|t| SystemTime::try_from(*t).ok())
}

fn non_negative(v: Option<i64>) -> u64 {
    v.and_then(|v| u64::try_from(v).ok()).unwrap_or(0)
}

/// The whole size from a `Content-Range: bytes a-b/size` header.
fn total_from_content_range(range: &str) -> Option<u64> {
    range.rsplit_once('/')?.1.trim().parse().ok()
}

#[async_trait]
impl Adapter for S3Adapter {
    fn provider(&self) -> &'static str {
        PROVIDER
    }

    fn target(&self) -> String {
        self.inner.plan.target.clone()
    }

    fn capabilities(&self) -> Capabilities {
        let mut c = Capabilities::minimal();
        c.range_read = true;
        c.content_type = true;
        c.metadata = true;
        c.cache_control = true;
        c.server_side_copy = true;
        c.native_rename = false;
        c.list_delimiter = true;
        c.presign_get = true;
        c.presign_put = true;
        c.public_url = self.inner.plan.public_base_url.is_some();
        c.resumable = Resumability::CrossProcess;
        c
    }

    fn check_session(&self, session: &Session) -> Result<()> {
        if session.sensitive {
            return Err(Error::token_invalid(
                "an S3 session is an UploadId, never a bearer URL",
            ));
        }
        check_upload_id(&session.id)?;
        if let Some(v) = session.extra.get(EXTRA_CRC32C)
            && v != "1"
            && v != "0"
        {
            return Err(Error::token_invalid(
                "the session's `crc32c` flag is malformed",
            ));
        }
        if session
            .extra
            .keys()
            .any(|k| k != EXTRA_CRC32C && k != Session::KEY_FIELD)
        {
            return Err(Error::token_invalid(
                "the S3 session carries fields this adapter does not know",
            ));
        }
        Ok(())
    }

    fn upload_family(&self) -> UploadFamily<'_> {
        UploadFamily::Parts(self)
    }

    async fn put(
        &self,
        key: &str,
        body: ByteStream,
        len: Option<u64>,
        options: &PutOptions,
    ) -> Result<ObjectMeta> {
        let unsigned = self.inner.plan.unsigned_payload;
        let mut req = self
            .client()
            .put_object()
            .bucket(self.bucket())
            .key(key)
            .set_content_type(options.content_type.clone())
            .set_cache_control(options.cache_control.clone());
        if !options.metadata.is_empty() {
            req = req.set_metadata(Some(options.metadata.clone().into_iter().collect()));
        }
        let size = match (unsigned, len) {
            // Streamed: nothing is buffered, the length is announced up front.
            (true, Some(len)) => {
                req = req
                    .content_length(len as i64)
                    .body(body::SizedStream::new(body, len).into_sdk());
                len
            }
            // Signed payloads need the bytes' SHA-256 before sending: buffer them.
            _ => {
                let data = body::collect(body, len).await?;
                let n = data.len() as u64;
                if self.inner.plan.checksums {
                    req = req.checksum_crc32_c(crc32c_to_base64(crc32c::crc32c(&data)));
                }
                req = req
                    .content_length(n as i64)
                    .body(aws_sdk_s3::primitives::ByteStream::from(data));
                n
            }
        };
        let unsigned = unsigned || (self.inner.plan.checksums && self.inner.plan.unsigned_with_crc);
        let out = if unsigned {
            req.customize().disable_payload_signing().send().await
        } else {
            req.send().await
        }
        .map_err(|e| map_sdk_error("PutObject", e))?;
        let mut meta = ObjectMeta::new(key, size);
        meta.etag = out.e_tag().map(str::to_string);
        meta.content_type = options.content_type.clone();
        meta.cache_control = options.cache_control.clone();
        meta.metadata = options.metadata.clone();
        meta.last_modified = Some(SystemTime::now());
        Ok(meta)
    }

    async fn head(&self, key: &str) -> Result<ObjectMeta> {
        let out = self
            .client()
            .head_object()
            .bucket(self.bucket())
            .key(key)
            .send()
            .await
            .map_err(|e| map_sdk_error("HeadObject", e))?;
        Ok(ObjectMeta {
            key: key.to_string(),
            size: non_negative(out.content_length()),
            last_modified: system_time(out.last_modified()),
            etag: out.e_tag().map(str::to_string),
            content_type: out.content_type().map(str::to_string),
            cache_control: out.cache_control().map(str::to_string),
            metadata: out
                .metadata()
                .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
        })
    }

    async fn get(&self, key: &str, range: Option<ByteRange>) -> Result<GetResponse> {
        let range = range.filter(|r| !(r.start == 0 && r.end.is_none()));
        if let Some(r) = range
            && r.end.is_some_and(|e| e <= r.start)
        {
            return Err(Error::invalid_input(format!(
                "range {}..{} is empty",
                r.start,
                r.end.unwrap_or_default()
            )));
        }
        let header = range.map(|r| match r.end {
            Some(end) => format!("bytes={}-{}", r.start, end - 1),
            None => format!("bytes={}-", r.start),
        });
        let result = self
            .client()
            .get_object()
            .bucket(self.bucket())
            .key(key)
            .set_range(header)
            .send()
            .await
            .map_err(|e| map_sdk_error("GetObject", e));
        let out = match result {
            Ok(out) => out,
            // S3 refuses any range of an empty object; `0..` of it is the empty object.
            Err(e)
                if e.kind() == ErrorKind::InvalidInput && range.is_some_and(|r| r.start == 0) =>
            {
                let meta = self.head(key).await?;
                if meta.size != 0 {
                    return Err(e);
                }
                return Ok(GetResponse {
                    meta,
                    range: 0..0,
                    stream: Box::pin(futures::stream::empty()),
                });
            }
            Err(e) => return Err(e),
        };
        let len = non_negative(out.content_length());
        let (start, total) = match (range, out.content_range()) {
            (Some(_), Some(cr)) => {
                let start = cr
                    .trim_start_matches("bytes")
                    .trim()
                    .split('-')
                    .next()
                    .and_then(|s| s.trim().parse::<u64>().ok())
                    .unwrap_or(range.map_or(0, |r| r.start));
                let total = total_from_content_range(cr).unwrap_or(start + len);
                (start, total)
            }
            // A server that ignored the range sent the whole object.
            (Some(r), None) if len > 0 && r.start > 0 => {
                return Err(Error::new(
                    ErrorKind::Other,
                    "the server ignored the requested byte range",
                ));
            }
            _ => (0, len),
        };
        let meta = ObjectMeta {
            key: key.to_string(),
            size: total,
            last_modified: system_time(out.last_modified()),
            etag: out.e_tag().map(str::to_string),
            content_type: out.content_type().map(str::to_string),
            cache_control: out.cache_control().map(str::to_string),
            metadata: out
                .metadata()
                .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
        };
        Ok(GetResponse {
            meta,
            range: start..start + len,
            stream: body::from_sdk(out.body),
        })
    }

    async fn delete(&self, key: &str) -> Result<()> {
        match self
            .client()
            .delete_object()
            .bucket(self.bucket())
            .key(key)
            .send()
            .await
            .map_err(|e| map_sdk_error("DeleteObject", e))
        {
            Ok(_) => Ok(()),
            // S3 answers 204 for an absent key; some compatible servers answer 404.
            Err(e) if e.kind() == ErrorKind::NotFound && !e.message().contains("NoSuchBucket") => {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    async fn list(&self, request: &ListRequest) -> Result<ListPage> {
        let limit = request.limit.unwrap_or(1000).clamp(1, 1000) as i32;
        let out = self
            .client()
            .list_objects_v2()
            .bucket(self.bucket())
            .prefix(&request.prefix)
            .set_delimiter(request.delimiter.clone().filter(|d| !d.is_empty()))
            .set_continuation_token(request.cursor.clone())
            .max_keys(limit)
            .send()
            .await
            .map_err(|e| map_sdk_error("ListObjectsV2", e))?;
        let objects = out
            .contents()
            .iter()
            .filter_map(|o| {
                let key = o.key()?;
                let mut m = ObjectMeta::new(key, non_negative(o.size()));
                m.etag = o.e_tag().map(str::to_string);
                m.last_modified = system_time(o.last_modified());
                Some(m)
            })
            .collect();
        let prefixes = out
            .common_prefixes()
            .iter()
            .filter_map(|p| p.prefix().map(str::to_string))
            .collect();
        let cursor = if out.is_truncated().unwrap_or(false) {
            out.next_continuation_token()
                .filter(|t| !t.is_empty())
                .map(str::to_string)
        } else {
            None
        };
        Ok(ListPage {
            objects,
            prefixes,
            cursor,
        })
    }

    async fn copy(&self, from: &str, to: &str) -> Result<ObjectMeta> {
        let source = self.head(from).await?;
        let etag = if source.size > self.inner.plan.multipart_copy_threshold {
            self.copy_multipart(&source, to).await?
        } else {
            let out = self
                .client()
                .copy_object()
                .bucket(self.bucket())
                .key(to)
                .copy_source(multipart::copy_source(self.bucket(), from))
                .send()
                .await
                .map_err(|e| map_sdk_error("CopyObject", e))?;
            out.copy_object_result()
                .and_then(|r| r.e_tag())
                .unwrap_or_default()
                .to_string()
        };
        Ok(ObjectMeta {
            key: to.to_string(),
            etag: (!etag.is_empty()).then_some(etag),
            last_modified: Some(SystemTime::now()),
            ..source
        })
    }

    async fn presign(&self, key: &str, method: PresignMethod, expires: Duration) -> Result<String> {
        let config = PresigningConfig::expires_in(expires).map_err(|e| {
            Error::invalid_input(format!(
                "presigned URLs last at most 7 days and more than 0 seconds: {e}"
            ))
        })?;
        let presigned = match method {
            PresignMethod::Get => self
                .client()
                .get_object()
                .bucket(self.bucket())
                .key(key)
                .presigned(config)
                .await
                .map_err(|e| map_sdk_error("presign GetObject", e))?,
            PresignMethod::Put => self
                .client()
                .put_object()
                .bucket(self.bucket())
                .key(key)
                .presigned(config)
                .await
                .map_err(|e| map_sdk_error("presign PutObject", e))?,
        };
        Ok(presigned.uri().to_string())
    }

    fn public_url(&self, key: &str) -> Result<String> {
        match &self.inner.plan.public_base_url {
            Some(base) => Ok(format!("{base}/{}", self.key_url(key))),
            None => Err(Error::not_supported(
                "public URLs need a public base URL (`public_url=` or S3Builder::public_base_url)",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adapter() -> S3Adapter {
        S3Adapter::builder()
            .bucket("bkt")
            .endpoint("http://127.0.0.1:9")
            .credentials("AKIDTEST", "SECRETTEST")
            .session_token("TOKENTEST")
            .build()
            .unwrap()
    }

    #[test]
    fn identity_and_capabilities() {
        let a = adapter();
        assert_eq!(a.provider(), "s3");
        assert_eq!(a.target(), "bkt@127.0.0.1:9");
        assert!(a.path_style());
        assert!(!a.unsigned_payload());
        let c = a.capabilities();
        assert!(c.range_read && c.server_side_copy && c.presign_get && c.presign_put);
        assert!(!c.native_rename && !c.public_url);
        assert_eq!(c.resumable, Resumability::CrossProcess);
        let dbg = format!("{a:?}");
        for secret in ["AKIDTEST", "SECRETTEST", "TOKENTEST"] {
            assert!(!dbg.contains(secret), "{dbg}");
        }
        let aws = S3Adapter::builder()
            .bucket("b")
            .region("eu-central-1")
            .credentials("a", "b")
            .build()
            .unwrap();
        assert_eq!(aws.target(), "b@aws:eu-central-1");
        assert!(aws.unsigned_payload() && aws.checksums());
    }

    #[test]
    fn sessions_are_checked() {
        let a = adapter();
        let mut s = Session::new("2~abcDEF_-.=+");
        assert!(a.check_session(&s).is_ok());
        s.extra.insert(EXTRA_CRC32C.into(), "1".into());
        assert!(a.check_session(&s).is_ok());
        s.bind_to_key("dir/k");
        assert!(a.check_session(&s).is_ok());
        s.extra.insert("x".into(), "y".into());
        assert!(a.check_session(&s).is_err());
        let mut s = Session::new("id");
        s.sensitive = true;
        assert!(a.check_session(&s).is_err());
        for bad in ["", "../etc", "a b", "https://evil/upload"] {
            let e = a.check_session(&Session::new(bad)).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::TokenInvalid, "{bad}");
        }
    }

    #[test]
    fn public_urls() {
        let a = S3Adapter::builder()
            .bucket("b")
            .region("us-east-1")
            .credentials("a", "b")
            .public_base_url("https://cdn.example.com/assets/")
            .build()
            .unwrap();
        assert!(a.capabilities().public_url);
        assert_eq!(
            a.public_url("dir/a b.txt").unwrap(),
            "https://cdn.example.com/assets/dir/a%20b.txt"
        );
        assert_eq!(
            adapter().public_url("k").unwrap_err().kind(),
            ErrorKind::NotSupported
        );
    }

    #[test]
    fn content_range() {
        assert_eq!(total_from_content_range("bytes 0-9/100"), Some(100));
        assert_eq!(total_from_content_range("bytes 0-9/*"), None);
    }

    #[tokio::test]
    async fn presigned_urls_are_signed_and_expire() {
        let a = adapter();
        let url = a
            .presign("dir/file.txt", PresignMethod::Get, Duration::from_secs(600))
            .await
            .unwrap();
        assert!(
            url.starts_with("http://127.0.0.1:9/bkt/dir/file.txt?"),
            "{url}"
        );
        assert!(url.contains("X-Amz-Signature=") && url.contains("X-Amz-Expires=600"));
        assert!(!url.contains("SECRETTEST"));
        let put = a
            .presign("k", PresignMethod::Put, Duration::from_secs(60))
            .await
            .unwrap();
        assert!(put.contains("X-Amz-Signature="), "{put}");
        let e = a
            .presign("k", PresignMethod::Get, Duration::from_secs(8 * 24 * 3600))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
    }

    #[tokio::test]
    async fn unreachable_server_is_transient_and_clean() {
        // Port 9 on loopback: nothing listens; the connection is refused.
        let a = adapter();
        let e = a.head("some/key").await.unwrap_err();
        eprintln!("{e}");
        assert!(e.is_retryable(), "{e:?}");
        let text = format!("{e} {e:?}");
        for secret in ["AKIDTEST", "SECRETTEST", "TOKENTEST", "X-Amz"] {
            assert!(!text.contains(secret), "{text}");
        }
    }
}
