//! [`AzureAdapter`]: the core's [`Adapter`] over one container, on the official client and the
//! hand-built requests of [`crate::http`].

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use files_core::{
    Adapter, ByteRange, ByteStream, Capabilities, Error, ErrorKind, GetResponse, ListPage,
    ListRequest, ObjectMeta, PresignMethod, PutOptions, Result, Resumability, Session,
    UploadFamily,
};
use futures::{StreamExt, TryStreamExt};
use reqwest::Method;

use crate::api::EnumerationResults;
use crate::config::{self, AzureBuilder, Credential};
use crate::errors::transport_error;
use crate::http::{self, Req, ReqBody, Transport};
use crate::{PROVIDER, blocks, sdk};

/// Longest a server-side copy may stay pending before `copy` gives up (a hang guard).
const COPY_WAIT: Duration = Duration::from_secs(600);

/// An adapter over one container of an Azure storage account. Cheap to clone.
#[derive(Clone)]
pub struct AzureAdapter {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) transport: Transport,
    /// The official client over the same container, transport and credential.
    pub(crate) sdk: azure_storage_blob::BlobContainerClient,
    pub(crate) target: String,
    pub(crate) part_size: u64,
}

impl std::fmt::Debug for AzureAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let t = &self.inner.transport;
        f.debug_struct("AzureAdapter")
            .field("account", &t.account)
            .field("container", &t.container)
            .field("endpoint", &format!("{}{}", t.origin, t.base_path))
            .field("credential", &t.credential)
            .field("part_size", &self.inner.part_size)
            .finish()
    }
}

/// Adds content type, cache control and metadata headers of a blob-creating request.
pub(crate) fn with_options<'a>(mut req: Req<'a>, o: &PutOptions) -> Req<'a> {
    if let Some(ct) = &o.content_type {
        req = req.header("x-ms-blob-content-type", ct.clone());
    }
    if let Some(cc) = &o.cache_control {
        req = req.header("x-ms-blob-cache-control", cc.clone());
    }
    for (k, v) in &o.metadata {
        req = req.header(&format!("x-ms-meta-{k}"), v.clone());
    }
    req
}

fn header<'a>(h: &'a reqwest::header::HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// The object metadata of a Get Blob answer's headers, for a blob of `size` bytes.
fn meta_from_headers(key: &str, h: &reqwest::header::HeaderMap, size: u64) -> ObjectMeta {
    let mut m = ObjectMeta::new(key, size);
    m.etag = header(h, "etag").map(str::to_string);
    m.last_modified = files_http::headers::last_modified(h);
    m.content_type = header(h, "content-type").map(str::to_string);
    m.cache_control = header(h, "cache-control").map(str::to_string);
    for (name, value) in h {
        if let Some(k) = name.as_str().strip_prefix("x-ms-meta-")
            && let Ok(v) = value.to_str()
        {
            m.metadata.insert(k.to_string(), v.to_string());
        }
    }
    m
}

/// `(start, total)` of a `Content-Range: bytes START-END/TOTAL` whose start is past its end: the
/// lenient reading of Azurite's answer to a range starting at or past the end of a blob.
fn azurite_past_end_range(value: &str) -> Option<(u64, u64)> {
    let (range, total) = value.trim().strip_prefix("bytes")?.trim().split_once('/')?;
    let start = range.split_once('-')?.0.trim().parse().ok()?;
    Some((start, total.trim().parse().ok()?))
}

/// A header of an answer of the official client.
pub(crate) fn az_header(
    h: &azure_core::http::headers::Headers,
    name: &'static str,
) -> Option<String> {
    h.get_optional_string(&azure_core::http::headers::HeaderName::from_static(name))
}

/// The object metadata of Get Blob Properties' headers.
fn meta_from_az_headers(key: &str, h: &azure_core::http::headers::Headers) -> ObjectMeta {
    let size = az_header(h, "content-length")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let mut m = ObjectMeta::new(key, size);
    m.etag = az_header(h, "etag");
    m.last_modified =
        az_header(h, "last-modified").and_then(|d| files_http::headers::parse_http_date(&d));
    m.content_type = az_header(h, "content-type");
    m.cache_control = az_header(h, "cache-control");
    for (name, value) in h.iter() {
        if let Some(k) = name.as_str().strip_prefix("x-ms-meta-") {
            m.metadata.insert(k.to_string(), value.as_str().to_string());
        }
    }
    m
}

impl AzureAdapter {
    /// A builder.
    pub fn builder() -> AzureBuilder {
        AzureBuilder::new()
    }

    /// An adapter for the container an URL names: `az://container?account=..&endpoint=..`
    /// (or `azure://`); credentials from the environment (see [`AzureBuilder::from_env`]).
    pub fn from_url(url: &str) -> Result<AzureAdapter> {
        let parsed = url::Url::parse(url).map_err(|e| {
            Error::invalid_input(format!(
                "`{}` is not a valid URL: {e}",
                Error::redacted(url)
            ))
        })?;
        config::builder_from_url(&parsed)?.0.build()
    }

    /// The storage account.
    pub fn account(&self) -> &str {
        &self.inner.transport.account
    }

    /// The container.
    pub fn container(&self) -> &str {
        &self.inner.transport.container
    }

    /// The blob endpoint (`scheme://host[:port][/account]`).
    pub fn endpoint(&self) -> String {
        let t = &self.inner.transport;
        format!("{}{}", t.origin, t.base_path)
    }

    /// The authorization in use: `shared_key`, `sas`, `entra_id` or `anonymous`.
    pub fn auth_kind(&self) -> &'static str {
        self.inner.transport.credential.name()
    }

    /// Creates the container; an existing one is fine.
    pub async fn create_container(&self) -> Result<()> {
        match self
            .inner
            .sdk
            .create(None)
            .await
            .map_err(|e| sdk::map_error("CreateContainer", e))
        {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == ErrorKind::Conflict => Ok(()),
            Err(e) => Err(e),
        }
    }

    pub(crate) fn t(&self) -> &Transport {
        &self.inner.transport
    }

    /// The official client of blob `key`.
    pub(crate) fn blob(&self, key: &str) -> azure_storage_blob::BlobClient {
        self.inner.sdk.blob_client(key)
    }

    /// Get Blob Properties: the blob's response headers.
    pub(crate) async fn properties(&self, key: &str) -> Result<azure_core::http::headers::Headers> {
        self.blob(key)
            .get_properties(None)
            .await
            .map(|r| r.headers().clone())
            .map_err(|e| sdk::map_error("GetBlobProperties", e))
    }

    async fn wait_for_copy(&self, to: &str, mut status: Option<String>) -> Result<()> {
        let started = std::time::Instant::now();
        let mut pause = Duration::from_millis(50);
        loop {
            match status.as_deref() {
                Some("success") | None => return Ok(()),
                Some("pending") => {}
                Some(other) => {
                    return Err(Error::new(
                        ErrorKind::Other,
                        format!("Azure copy to `{to}` ended with status `{other}`"),
                    ));
                }
            }
            if started.elapsed() > COPY_WAIT {
                return Err(Error::new(
                    ErrorKind::Timeout,
                    format!("Azure copy to `{to}` is still pending"),
                ));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(2));
            status = az_header(&self.properties(to).await?, "x-ms-copy-status");
        }
    }

    /// A service SAS for one blob, signed with the account key: its full URL.
    fn blob_sas(&self, key: &str, permissions: &str, expires: Duration) -> Result<String> {
        let query = self.service_sas(Some(key), permissions, expires)?;
        Ok(format!("{}?{query}", self.t().url(Some(key))))
    }

    /// A service SAS token for the whole container (`sv=...&sig=...`, no leading `?`), signed
    /// with the account key: hand it to a client that should reach only this container, for
    /// example [`AzureBuilder::sas_token`] of another process. `permissions` are the service's
    /// letters in its order (`r` read, `a` add, `c` create, `w` write, `d` delete, `l` list);
    /// it lasts `expires` (at most 7 days). Needs Shared Key.
    pub fn container_sas(&self, permissions: &str, expires: Duration) -> Result<String> {
        if permissions.is_empty() || !permissions.chars().all(|c| "racwdxyltmeopi".contains(c)) {
            return Err(Error::invalid_input(format!(
                "`{permissions}` are not SAS permission letters (racwdl...)"
            )));
        }
        self.service_sas(None, permissions, expires)
    }

    /// The query of a service SAS for blob `key`, or the container when `None`.
    fn service_sas(
        &self,
        key: Option<&str>,
        permissions: &str,
        expires: Duration,
    ) -> Result<String> {
        let Credential::SharedKey(secret) = &self.t().credential else {
            return Err(Error::not_supported(
                "Azure SAS URLs are signed with the account key: configure Shared Key",
            ));
        };
        if expires.is_zero() || expires > Duration::from_secs(7 * 24 * 3600) {
            return Err(Error::invalid_input(
                "presigned URLs last more than 0 seconds and at most 7 days",
            ));
        }
        let now = SystemTime::now();
        let start = http::iso_date(now - Duration::from_secs(300));
        let expiry = http::iso_date(now + expires);
        let t = self.t();
        let protocol = if t.origin.starts_with("https://") {
            "https"
        } else {
            "https,http"
        };
        const SV: &str = "2022-11-02";
        let (resource, kind) = match key {
            Some(key) => (format!("/blob/{}/{}/{key}", t.account, t.container), "b"),
            None => (format!("/blob/{}/{}", t.account, t.container), "c"),
        };
        // Service SAS string to sign, versions 2020-12-06 and later.
        let sts = format!(
            "{permissions}\n{start}\n{expiry}\n{resource}\n\n\n{protocol}\n{SV}\n{kind}\n\n\n\n\n\n\n"
        );
        let sig = http::hmac(&sts, secret)?;
        let enc = files_http::encode::segment;
        Ok(format!(
            "sv={SV}&spr={}&st={}&se={}&sr={kind}&sp={permissions}&sig={}",
            enc(protocol),
            enc(&start),
            enc(&expiry),
            enc(&sig)
        ))
    }
}

#[async_trait]
impl Adapter for AzureAdapter {
    fn provider(&self) -> &'static str {
        PROVIDER
    }

    fn target(&self) -> String {
        self.inner.target.clone()
    }

    fn capabilities(&self) -> Capabilities {
        let shared_key = matches!(self.t().credential, Credential::SharedKey(_));
        let mut c = Capabilities::minimal();
        c.range_read = true;
        c.content_type = true;
        c.metadata = true;
        c.cache_control = true;
        c.server_side_copy = true;
        c.native_rename = false;
        c.list_delimiter = true;
        c.presign_get = shared_key;
        c.presign_put = shared_key;
        c.public_url = false;
        c.resumable = Resumability::CrossProcess;
        c
    }

    fn check_session(&self, session: &Session) -> Result<()> {
        if session.sensitive {
            return Err(Error::token_invalid(
                "an Azure session is a nonce, never a bearer URL",
            ));
        }
        if !session.extra.is_empty() {
            return Err(Error::token_invalid(
                "the Azure session carries fields this adapter does not know",
            ));
        }
        blocks::check_nonce(&session.id)
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
        let body = match len {
            Some(n) => ReqBody::Stream(body, n),
            None => {
                let chunks: Vec<Bytes> = body.try_collect().await?;
                ReqBody::Bytes(Bytes::from(chunks.concat()))
            }
        };
        let size = match &body {
            ReqBody::Stream(_, n) => *n,
            ReqBody::Bytes(b) => b.len() as u64,
            ReqBody::Empty => 0,
        };
        let req = Req::new(Method::PUT, Some(key))
            .header("x-ms-blob-type", "BlockBlob")
            .body(body);
        let resp = self.t().send("PutBlob", with_options(req, options)).await?;
        let mut meta = ObjectMeta::new(key, size);
        meta.etag = header(resp.headers(), "etag").map(str::to_string);
        meta.content_type = options.content_type.clone();
        meta.cache_control = options.cache_control.clone();
        meta.metadata = options.metadata.clone();
        meta.last_modified = Some(SystemTime::now());
        Ok(meta)
    }

    async fn head(&self, key: &str) -> Result<ObjectMeta> {
        let h = self.properties(key).await?;
        Ok(meta_from_az_headers(key, &h))
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
        let mut req = Req::new(Method::GET, Some(key));
        if let Some(r) = range {
            req = req.header(
                "x-ms-range",
                match r.end {
                    Some(end) => format!("bytes={}-{}", r.start, end - 1),
                    None => format!("bytes={}-", r.start),
                },
            );
        }
        let resp = match self.t().send("GetBlob", req).await {
            Ok(r) => r,
            // The service refuses any range of an empty blob; `0..n` of it is empty.
            Err(e)
                if e.kind() == ErrorKind::InvalidInput && range.is_some_and(|r| r.start == 0) =>
            {
                let meta = self.head(key).await?;
                if meta.size == 0 {
                    return Ok(GetResponse {
                        meta,
                        range: 0..0,
                        stream: futures::stream::empty().boxed(),
                    });
                }
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        let h = resp.headers();
        let len: u64 = header(h, "content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let (start, total) = match header(h, "content-range") {
            Some(v) => match files_http::headers::ContentRange::parse(v) {
                Some(cr) => {
                    let start = cr.range.map_or(0, |(s, _)| s);
                    (start, cr.total.unwrap_or(start + len))
                }
                // Azurite answers a range starting at or past the end with 206 and a
                // `Content-Range` whose start is past its end (`bytes 10000-99/100`), which is
                // no valid range; its start and total still say the range is unsatisfiable.
                None => azurite_past_end_range(v).unwrap_or((0, len)),
            },
            None if range.is_some_and(|r| r.start > 0) && len > 0 => {
                return Err(Error::new(
                    ErrorKind::Other,
                    "the server ignored the requested byte range",
                ));
            }
            None => (0, len),
        };
        if let Some(r) = range
            && r.start >= total
            && total > 0
        {
            return Err(Error::invalid_input(format!(
                "range {}.. is not satisfiable for an object of {total} bytes",
                r.start
            )));
        }
        let meta = meta_from_headers(key, h, total);
        let stream = resp
            .bytes_stream()
            .map_err(|e| transport_error("GetBlob (body)", e))
            .boxed();
        Ok(GetResponse {
            meta,
            range: start..start + len,
            stream,
        })
    }

    async fn delete(&self, key: &str) -> Result<()> {
        let options = azure_storage_blob::models::BlobClientDeleteOptions {
            delete_snapshots: Some(azure_storage_blob::models::DeleteSnapshotsOptionType::Include),
            ..Default::default()
        };
        match self
            .blob(key)
            .delete(Some(options))
            .await
            .map_err(|e| sdk::map_error("DeleteBlob", e))
        {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound && !e.message().contains("Container") => {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    async fn list(&self, request: &ListRequest) -> Result<ListPage> {
        let limit = request.limit.unwrap_or(5000).clamp(1, 5000);
        let mut req = Req::new(Method::GET, None)
            .query("restype", "container")
            .query("comp", "list")
            .query("maxresults", limit.to_string());
        if !request.prefix.is_empty() {
            req = req.query("prefix", request.prefix.clone());
        }
        if let Some(d) = request.delimiter.as_ref().filter(|d| !d.is_empty()) {
            req = req.query("delimiter", d.clone());
        }
        if let Some(m) = request.cursor.as_ref().filter(|m| !m.is_empty()) {
            req = req.query("marker", m.clone());
        }
        let text = self
            .t()
            .send("ListBlobs", req)
            .await?
            .text()
            .await
            .map_err(|e| transport_error("ListBlobs", e))?;
        Ok(EnumerationResults::parse(&text)?.into_page())
    }

    async fn copy(&self, from: &str, to: &str) -> Result<ObjectMeta> {
        let t = self.t();
        let mut source = t.url(Some(from));
        if let Credential::Sas(sas) = &t.credential {
            source.push('?');
            source.push_str(sas.secret());
        }
        let resp = self
            .blob(to)
            .start_copy_from_url(source, None)
            .await
            .map_err(|e| sdk::map_error("CopyBlob", e))?;
        let status = az_header(resp.headers(), "x-ms-copy-status");
        self.wait_for_copy(to, status).await?;
        self.head(to).await
    }

    async fn presign(&self, key: &str, method: PresignMethod, expires: Duration) -> Result<String> {
        let permissions = match method {
            PresignMethod::Get => "r",
            PresignMethod::Put => "cw",
        };
        self.blob_sas(key, permissions, expires)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "c2VjcmV0LWtleS1mb3ItdGVzdHMtb25seS0xMjM0NTY3ODkw";

    fn adapter() -> AzureAdapter {
        AzureAdapter::builder()
            .endpoint("http://127.0.0.1:9/devstoreaccount1")
            .container("ctr")
            .access_key(KEY)
            .build()
            .unwrap()
    }

    #[test]
    fn identity_debug_and_capabilities() {
        let a = adapter();
        assert_eq!(a.account(), "devstoreaccount1");
        assert_eq!(
            a.target(),
            "devstoreaccount1/ctr@127.0.0.1:9/devstoreaccount1"
        );
        let dbg = format!(
            "{a:?} {:?}",
            AzureAdapter::builder()
                .access_key(KEY)
                .sas_token("sv=1&sig=SIGSECRET")
        );
        assert!(!dbg.contains(KEY) && !dbg.contains("SIGSECRET"), "{dbg}");
        let c = a.capabilities();
        assert!(c.presign_get && c.presign_put && c.list_delimiter && c.server_side_copy);
        let sas = AzureAdapter::builder()
            .account("acct")
            .container("ctr")
            .sas_token("?sv=1&sig=x")
            .build()
            .unwrap();
        assert_eq!(sas.target(), "acct/ctr@acct.blob.core.windows.net");
        assert!(!sas.capabilities().presign_get);
        assert!(AzureAdapter::builder().container("ctr").build().is_err());
        assert!(
            AzureAdapter::builder()
                .account("acct")
                .container("Bad_Name")
                .build()
                .is_err()
        );
        let bad_key = AzureAdapter::builder()
            .account("acct")
            .container("ctr")
            .access_key("not base64!!")
            .build()
            .unwrap_err();
        assert!(!bad_key.to_string().contains("not base64!!"));
    }

    #[test]
    fn sessions_are_checked() {
        let a = adapter();
        assert!(a.check_session(&Session::new("0123456789abcdef")).is_ok());
        let mut s = Session::new("0123456789abcdef");
        s.sensitive = true;
        assert!(a.check_session(&s).is_err());
        let mut s = Session::new("0123456789abcdef");
        s.extra.insert("x".into(), "y".into());
        assert!(a.check_session(&s).is_err());
        assert!(a.check_session(&Session::new("../x")).is_err());
    }

    #[tokio::test]
    async fn sas_urls() {
        let a = adapter();
        let url = a
            .presign("dir/a b", PresignMethod::Get, Duration::from_secs(60))
            .await
            .unwrap();
        assert!(
            url.starts_with("http://127.0.0.1:9/devstoreaccount1/ctr/dir/a%20b?sv="),
            "{url}"
        );
        assert!(url.contains("&sp=r&") && url.contains("&sig=") && !url.contains(KEY));
        let e = a
            .presign("k", PresignMethod::Put, Duration::from_secs(8 * 24 * 3600))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
    }

    #[test]
    fn azurite_past_end_ranges() {
        assert_eq!(
            azurite_past_end_range("bytes 10000-99/100"),
            Some((10_000, 100))
        );
        assert_eq!(azurite_past_end_range("bytes */100"), None);
        assert_eq!(azurite_past_end_range("garbage"), None);
    }

    #[tokio::test]
    async fn unreachable_server_is_transient_and_clean() {
        let e = adapter().head("k").await.unwrap_err();
        assert!(e.is_retryable(), "{e:?}");
        let text = format!("{e} {e:?}");
        assert!(!text.contains(KEY) && !text.contains("SharedKey"), "{text}");
    }
}
