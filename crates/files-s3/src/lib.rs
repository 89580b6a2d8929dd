//! # files-s3
//!
//! The Amazon S3 adapter of the `files` storage SDK, for S3 itself and for every
//! S3-compatible store (Cloudflare R2, MinIO, Alibaba Cloud OSS, Backblaze B2, Wasabi, ...),
//! on `aws-sdk-s3`. Uploads above the part size use S3's native multipart API through the core
//! part scheduler, so they can be paused, resumed in a later process from a small token, and
//! aborted.
//!
//! ```no_run
//! # async fn demo() -> files_core::Result<()> {
//! use files_core::{Body, Files, UploadControl};
//! use files_s3::S3Adapter;
//!
//! // From code ...
//! let s3 = S3Adapter::builder().bucket("backups").region("eu-west-1").build()?;
//! // ... or from a URL (credentials always come from the environment or the builder).
//! let minio = S3Adapter::from_url("s3://backups?endpoint=http://127.0.0.1:9000&path_style=true")?;
//! let files = Files::new(s3);
//! files
//!     .upload("db.tar", Body::from_path("db.tar").await?)
//!     .checkpoint("db.tar.upload.json")
//!     .await?;
//! # let _ = minio; Ok(()) }
//! ```
//!
//! ## Configuration
//!
//! [`S3Builder`] (from [`S3Adapter::builder`]) takes a bucket and either a [`Preset`] with its
//! parameters or an endpoint. Anything not set comes from the environment:
//!
//! * **region**: the builder / `region=`, else the preset's variable (e.g. `OSS_REGION`), for
//!   Amazon S3 `AWS_REGION`, `AWS_DEFAULT_REGION`, then the `region` of the profile
//!   (`AWS_PROFILE` or `default`) in `AWS_CONFIG_FILE` / `~/.aws/config`, else `us-east-1`.
//! * **endpoint**: the builder / `endpoint=`, else the preset's template; for Amazon S3
//!   `AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL`, else AWS's own endpoint.
//! * **addressing**: the preset's style; an endpoint on `localhost` or an IP address is
//!   path-style; `path_style=` overrides.
//! * **credentials**: static ones from the builder; else the preset's own variables (e.g.
//!   `R2_ACCESS_KEY_ID` / `R2_SECRET_ACCESS_KEY`, `OSS_ACCESS_KEY_ID` /
//!   `OSS_ACCESS_KEY_SECRET`); else the standard AWS chain: `AWS_ACCESS_KEY_ID`,
//!   `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, the shared profile files (`AWS_PROFILE`),
//!   `credential_process`, web identity, ECS and EC2 instance metadata. (AWS SSO profiles are
//!   not compiled in.) The chain is built on first use; building the adapter makes no network
//!   call.
//!
//! Credentials never reach a token, an error message or `Debug` output, and are never read
//! from URLs.
//!
//! ## URLs
//!
//! `s3://bucket/key?region=..&endpoint=..&path_style=true`, and one scheme per preset
//! (`r2://bucket/key?account=...`, `oss://bucket/key?region=cn-hangzhou`,
//! `minio://bucket/key?endpoint=http://127.0.0.1:9000`, `b2://`, `wasabi://`, `spaces://`,
//! `tigris://`, `scaleway://`, `hetzner://`, `linode://`, `vultr://`, `ovh://`, `idrive://`,
//! `cos://`, `yandex://`, `exoscale://`, `filebase://`, `storj://`, `ibmcos://`,
//! `oracle://`). Parameters: `region`, `endpoint`, `path_style`, `checksums`,
//! `unsigned_payload`, `public_url`, `profile`, `account`, `jurisdiction`, `namespace`,
//! `internal`, `preset`, `part_size`. Unknown parameters, and anything that looks like a
//! credential, are refused.
//!
//! ## Uploads and resume tokens
//!
//! A body up to the part size (default 8 MiB) goes in one PutObject. A larger one is a
//! multipart upload: CreateMultipartUpload (asking for per-part CRC32C checksums where the
//! preset supports them), UploadPart in parallel (each with its `x-amz-checksum-crc32c`),
//! CompleteMultipartUpload, or AbortMultipartUpload. Part rules: 5 MiB minimum (except the
//! last), 5 GiB maximum, 10,000 parts; the default part size grows with the body so that a
//! 5 TiB object fits.
//!
//! The token holds the UploadId (the session id; `extra.crc32c = "1"` when checksums were
//! requested, `extra.key` the key it was created for: a token whose UploadId was created for
//! another key is refused as token invalid before any request, since some compatibles do not
//! tie an UploadId to its key), the key, the part size, and the store's identity in `target`
//! (`<bucket>@<endpoint host[:port]>` or `<bucket>@aws:<region>`); no credential. Resuming
//! lists the parts that landed with ListParts (all pages) and uploads only the rest; a part
//! whose checksum (S3's, or the token's fingerprint where the store keeps none) does not
//! match the body fails with `BodyChanged`. An aborted or expired UploadId is
//! `SessionExpired`.
//!
//! Over https the body is sent as `UNSIGNED-PAYLOAD` (no SHA-256 pass over every byte; TLS
//! and the CRC32C keep integrity) where the preset allows; over plain http a body that carries
//! a CRC32C (every part when checksums are on) is sent unsigned too, any other body is signed.
//! `unsigned_payload=false` signs everything.
//!
//! ## Limits
//!
//! * `rename` is copy + delete (S3 has no atomic rename).
//! * `copy` is CopyObject up to 5 GiB and UploadPartCopy above (servers without
//!   UploadPartCopy, such as `rclone serve s3`, cannot copy objects over 5 GiB).
//! * A multipart upload that is never completed nor aborted keeps its parts (and their cost)
//!   until a lifecycle rule removes it: see `docs/s3.md`.
#![deny(missing_docs)]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_sdk_s3::presigning::PresigningConfig;
use files_core::{
    Adapter, ByteRange, ByteStream, Capabilities, Error, ErrorKind, GetResponse, ListPage,
    ListRequest, ObjectMeta, PresignMethod, PutOptions, Result, Resumability, Session,
    UploadFamily,
};

mod body;
mod compat;
mod config;
mod errors;
mod multipart;
pub mod presets;

pub use body::{crc32c_from_base64, crc32c_to_base64};
pub use config::{
    COPY_PART_SIZE, DEFAULT_PART_SIZE, MULTIPART_COPY_THRESHOLD, S3Builder, StaticCredentials,
};
pub use errors::{classify as classify_error, service_error};
pub use multipart::{EXTRA_CRC32C, MAX_PART_SIZE, MAX_PARTS, MIN_PART_SIZE, check_upload_id};
pub use presets::{ChecksumSupport, Preset, PresetInfo};

use crate::config::Plan;
use crate::errors::map_sdk_error;

/// The provider name of every S3 adapter (whatever the preset).
pub const PROVIDER: &str = "s3";

/// An adapter over one bucket of Amazon S3 or an S3-compatible store. Cheap to clone.
///
/// See the [crate docs](crate) for configuration, tokens and limits.
#[derive(Clone)]
pub struct S3Adapter {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    client: aws_sdk_s3::Client,
    plan: Plan,
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

    /// An adapter for the store an URL names: `s3://bucket?region=..&endpoint=..&path_style=true`
    /// or a preset scheme (`r2://bucket?account=..`, `oss://bucket?region=..`, ...). A key in
    /// the path is ignored here (see [`FACTORY`] for object URLs).
    pub fn from_url(url: &str) -> Result<S3Adapter> {
        let parsed = url::Url::parse(url).map_err(|e| {
            Error::invalid_input(format!(
                "`{}` is not a valid URL: {e}",
                Error::redacted(url)
            ))
        })?;
        let (builder, _) = config::builder_from_url(&parsed)?;
        builder.build()
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

// ---------------------------------------------------------------- URL schemes

fn open_store(url: &url::Url) -> Result<Arc<dyn Adapter>> {
    let (builder, _) = config::builder_from_url(url)?;
    Ok(Arc::new(builder.build()?))
}

fn open_object(url: &url::Url) -> Result<(Arc<dyn Adapter>, String)> {
    let (builder, key) = config::builder_from_url(url)?;
    if key.is_empty() {
        return Err(Error::invalid_input(format!(
            "the URL names no object (`{}://bucket/key`)",
            url.scheme()
        )));
    }
    Ok((Arc::new(builder.build()?), key))
}

macro_rules! factories {
    ($($(#[$doc:meta])* $name:ident = $scheme:literal),* $(,)?) => {
        $(
            $(#[$doc])*
            pub const $name: files_core::AdapterFactory = files_core::AdapterFactory {
                scheme: $scheme,
                provider: PROVIDER,
                store: open_store,
                object: open_object,
            };
            files_core::inventory::submit!($name);
        )*

        /// Every factory of this crate, one per URL scheme.
        pub const FACTORIES: &[files_core::AdapterFactory] = &[$($name),*];

        /// Registers every scheme of this adapter explicitly (fallback for builds where the
        /// linker dropped the `inventory` entries).
        pub fn register() {
            $(
                {
                    static F: files_core::AdapterFactory = $name;
                    files_core::registry::register(&F);
                }
            )*
        }
    };
}

factories! {
    /// The factory of the `s3` scheme: `s3://bucket/key?region=..&endpoint=..&path_style=..`.
    FACTORY = "s3",
    /// The factory of the `r2` scheme (Cloudflare R2): `r2://bucket/key?account=..`.
    FACTORY_R2 = "r2",
    /// The factory of the `minio` scheme: `minio://bucket/key?endpoint=http://host:9000`.
    FACTORY_MINIO = "minio",
    /// The factory of the `oss` scheme (Alibaba Cloud OSS): `oss://bucket/key?region=cn-hangzhou`.
    FACTORY_OSS = "oss",
    /// The factory of the `b2` scheme (Backblaze B2): `b2://bucket/key?region=us-west-004`.
    FACTORY_B2 = "b2",
    /// The factory of the `wasabi` scheme: `wasabi://bucket/key?region=..`.
    FACTORY_WASABI = "wasabi",
    /// The factory of the `spaces` scheme (DigitalOcean): `spaces://bucket/key?region=nyc3`.
    FACTORY_SPACES = "spaces",
    /// The factory of the `tigris` scheme: `tigris://bucket/key`.
    FACTORY_TIGRIS = "tigris",
    /// The factory of the `scaleway` scheme: `scaleway://bucket/key?region=fr-par`.
    FACTORY_SCALEWAY = "scaleway",
    /// The factory of the `hetzner` scheme: `hetzner://bucket/key?region=fsn1`.
    FACTORY_HETZNER = "hetzner",
    /// The factory of the `linode` scheme: `linode://bucket/key?region=us-east-1`.
    FACTORY_LINODE = "linode",
    /// The factory of the `vultr` scheme: `vultr://bucket/key?region=ewr1`.
    FACTORY_VULTR = "vultr",
    /// The factory of the `ovh` scheme: `ovh://bucket/key?region=gra`.
    FACTORY_OVH = "ovh",
    /// The factory of the `idrive` scheme (IDrive e2): `idrive://bucket/key?endpoint=https://..`.
    FACTORY_IDRIVE = "idrive",
    /// The factory of the `cos` scheme (Tencent COS): `cos://bucket-appid/key?region=ap-guangzhou`.
    FACTORY_COS = "cos",
    /// The factory of the `yandex` scheme: `yandex://bucket/key`.
    FACTORY_YANDEX = "yandex",
    /// The factory of the `exoscale` scheme: `exoscale://bucket/key?region=ch-gva-2`.
    FACTORY_EXOSCALE = "exoscale",
    /// The factory of the `filebase` scheme: `filebase://bucket/key`.
    FACTORY_FILEBASE = "filebase",
    /// The factory of the `storj` scheme: `storj://bucket/key`.
    FACTORY_STORJ = "storj",
    /// The factory of the `ibmcos` scheme: `ibmcos://bucket/key?region=us-south`.
    FACTORY_IBMCOS = "ibmcos",
    /// The factory of the `oracle` scheme: `oracle://bucket/key?region=..&namespace=..`.
    FACTORY_ORACLE = "oracle",
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
    fn docs_table_lists_every_preset() {
        let doc = include_str!("../../../docs/s3.md");
        for p in Preset::all() {
            let i = p.info();
            let row = format!("| {} | `{}://` |", i.label, i.scheme);
            assert!(doc.contains(&row), "docs/s3.md lacks the row of {p:?}");
            assert!(doc.contains(i.checksums.describe()));
        }
    }

    #[test]
    fn content_range() {
        assert_eq!(total_from_content_range("bytes 0-9/100"), Some(100));
        assert_eq!(total_from_content_range("bytes 0-9/*"), None);
    }

    #[test]
    fn registration() {
        register();
        let schemes = files_core::registry::schemes();
        for p in Preset::all() {
            assert!(schemes.contains(&p.scheme()), "{}", p.scheme());
        }
        assert_eq!(FACTORIES.len(), Preset::all().len());
        let (files, key) = files_core::registry::open_object(
            "oss://examplebucket/dir/object-name?region=cn-hangzhou",
        )
        .unwrap();
        assert_eq!(key, "dir/object-name");
        assert_eq!(
            files.adapter().target(),
            "examplebucket@oss-cn-hangzhou.aliyuncs.com"
        );
        let e = files_core::registry::open_object("s3://bucket?region=us-east-1").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
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
