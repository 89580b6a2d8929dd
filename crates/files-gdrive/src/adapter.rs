//! The adapter: everyday operations on a folder tree.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use files_core::{
    Adapter, ByteRange, ByteStream, Capabilities, Error, ErrorKind, GetResponse, ListPage,
    ListRequest, ObjectMeta, PutOptions, Result, Resumability, Session, UploadFamily,
};
use files_http::TokenSource;
use files_http::encode::segment as enc;
use files_http::session::{self as resumable, Google, RangeSession};
use futures::StreamExt;
use reqwest::header::RANGE;
use serde_json::json;

use crate::api::*;

/// A folder tree of Google Drive, addressed by paths under a root folder id.
#[derive(Clone)]
pub struct GDriveAdapter {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) endpoint: url::Url,
    pub(crate) root: String,
    pub(crate) auth: TokenSource,
    pub(crate) protocol: RangeSession<Google>,
    pub(crate) trash: bool,
}

impl fmt::Debug for GDriveAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GDriveAdapter")
            .field("endpoint", &self.inner.endpoint.as_str())
            .field("root", &self.inner.root)
            .field("auth", &self.inner.auth)
            .field("trash_on_delete", &self.inner.trash)
            .finish()
    }
}

#[async_trait]
impl Adapter for GDriveAdapter {
    fn provider(&self) -> &'static str {
        "gdrive"
    }

    fn target(&self) -> String {
        let ep = &self.inner.endpoint;
        match ep.port() {
            Some(p) => format!("{}@{}:{p}", self.inner.root, ep.host_str().unwrap_or("")),
            None => format!("{}@{}", self.inner.root, ep.host_str().unwrap_or("")),
        }
    }

    fn capabilities(&self) -> Capabilities {
        let mut c = Capabilities::minimal();
        c.range_read = true;
        c.content_type = true;
        c.metadata = true;
        c.server_side_copy = true;
        c.native_rename = true;
        c.list_delimiter = true;
        c.resumable = Resumability::CrossProcess;
        c
    }

    fn validate_key(&self, key: &str) -> Result<()> {
        files_core::adapter::validate_key_default(key)?;
        if key.ends_with('/') {
            return Err(Error::invalid_input(
                "a Drive key names a file: it must not end with '/'",
            ));
        }
        Ok(())
    }

    fn check_session(&self, session: &Session) -> Result<()> {
        if session.id.is_empty() {
            return Err(Error::token_invalid("the token names no resumable session"));
        }
        resumable::check_same_origin(
            &session.id,
            &self.inner.endpoint,
            &self.session_path_prefix(),
        )
    }

    fn upload_family(&self) -> UploadFamily<'_> {
        UploadFamily::Offset(self)
    }

    async fn put(
        &self,
        key: &str,
        body: ByteStream,
        len: Option<u64>,
        options: &PutOptions,
    ) -> Result<ObjectMeta> {
        if options.cache_control.is_some() {
            return Err(Error::not_supported("Google Drive stores no cache control"));
        }
        let _ = len;
        self.put_streamed(key, body, options)
            .await
            .map_err(|e| e.with_operation("put").with_key(key))
    }

    async fn head(&self, key: &str) -> Result<ObjectMeta> {
        let found = self.find_or_not_found(key, "head").await?;
        Ok(meta_from_file(key, &found.file))
    }

    async fn get(&self, key: &str, range: Option<ByteRange>) -> Result<GetResponse> {
        let found = self.find_or_not_found(key, "get").await?;
        let meta = meta_from_file(key, &found.file);
        let range = match range {
            Some(r) => r.resolve(meta.size)?,
            None => 0..meta.size,
        };
        let id = id_of(&found.file).unwrap_or_default();
        let mut req = self.http().get(format!(
            "{}?alt=media&supportsAllDrives=true",
            self.api(&format!("files/{}", enc(&id)))
        ));
        let partial = range != (0..meta.size);
        if partial {
            req = req.header(RANGE, format!("bytes={}-{}", range.start, range.end - 1));
        }
        let resp = self
            .send(req, "download the file")
            .await
            .map_err(|e| e.with_operation("get").with_key(key))?;
        if partial && resp.status().as_u16() != 206 {
            return Err(Error::new(
                ErrorKind::Other,
                "Drive ignored the Range header",
            ));
        }
        let stream = resp.bytes_stream().map(|r| r.map_err(transport)).boxed();
        Ok(GetResponse {
            meta,
            range,
            stream,
        })
    }

    async fn delete(&self, key: &str) -> Result<()> {
        let run = async {
            let (dirs, name) = split_key(key);
            let Some(parent) = self.folder(&dirs, false).await? else {
                return Ok(());
            };
            for f in self.named(&parent, name, false).await? {
                if let Some(id) = id_of(&f) {
                    self.remove(&id, self.inner.trash).await?;
                }
            }
            Ok(())
        };
        run.await
            .map_err(|e: Error| e.with_operation("delete").with_key(key))
    }

    async fn list(&self, request: &ListRequest) -> Result<ListPage> {
        let delimited = match request.delimiter.as_deref() {
            None => false,
            Some("/") => true,
            Some(_) => {
                return Err(Error::not_supported(
                    "Google Drive lists with the '/' delimiter only",
                ));
            }
        };
        let (dir_key, stem) = match request.prefix.rfind('/') {
            Some(i) => request.prefix.split_at(i + 1),
            None => ("", request.prefix.as_str()),
        };
        let dirs: Vec<&str> = dir_key.split('/').filter(|s| !s.is_empty()).collect();
        let Some(folder) = self
            .folder(&dirs, false)
            .await
            .map_err(|e| e.with_operation("list"))?
        else {
            return Ok(ListPage::default());
        };
        let entries = self
            .walk(folder, dir_key.to_string(), stem, delimited)
            .await
            .map_err(|e| e.with_operation("list"))?;
        // The cursor is the last key returned: the next page starts after it.
        let mut page = files_core::listing::PageBuilder::new(
            request.cursor.as_deref(),
            request.limit.unwrap_or(usize::MAX),
        );
        for (k, m) in entries {
            if page.emit(k, m) == files_core::listing::Flow::Stop {
                break;
            }
        }
        Ok(page.finish())
    }

    async fn copy(&self, from: &str, to: &str) -> Result<ObjectMeta> {
        let src = self.find_or_not_found(from, "copy").await?;
        let run = async {
            let (parent, _) = self.target_of(to).await?;
            let (_, name) = split_key(to);
            let req = self
                .http()
                .post(format!(
                    "{}?supportsAllDrives=true&fields={FILE_FIELDS}",
                    self.api(&format!(
                        "files/{}/copy",
                        enc(&id_of(&src.file).unwrap_or_default())
                    ))
                ))
                .json(&json!({ "name": name, "parents": [parent] }));
            let v = self.json(req, "copy the file").await?;
            let new_id = id_of(&v);
            // The copy replaces what was at `to` (older files of that name would win).
            for f in self.named(&parent, name, false).await? {
                if id_of(&f) != new_id
                    && let Some(id) = id_of(&f)
                {
                    self.remove(&id, self.inner.trash).await?;
                }
            }
            Ok(meta_from_file(to, &v))
        };
        run.await
            .map_err(|e: Error| e.with_operation("copy").with_key(from))
    }

    async fn rename(&self, from: &str, to: &str) -> Result<()> {
        let src = self.find_or_not_found(from, "rename").await?;
        let run = async {
            let (parent, _) = self.target_of(to).await?;
            let (_, name) = split_key(to);
            let src_id = id_of(&src.file).unwrap_or_default();
            let mut url = url::Url::parse(&self.api(&format!("files/{}", enc(&src_id))))
                .map_err(|e| Error::invalid_input(e.to_string()))?;
            {
                let mut q = url.query_pairs_mut();
                q.append_pair("supportsAllDrives", "true");
                q.append_pair("fields", "id");
                if parent != src.parent {
                    q.append_pair("addParents", &parent);
                    q.append_pair("removeParents", &src.parent);
                }
            }
            self.json(
                self.http().patch(url).json(&json!({ "name": name })),
                "move the file",
            )
            .await?;
            // The moved file replaces what was at `to`.
            for f in self.named(&parent, name, false).await? {
                if let Some(id) = id_of(&f)
                    && id != src_id
                {
                    self.remove(&id, self.inner.trash).await?;
                }
            }
            Ok(())
        };
        run.await
            .map_err(|e: Error| e.with_operation("rename").with_key(from))
    }
}

impl GDriveAdapter {
    /// The root folder id.
    pub fn root_folder(&self) -> &str {
        &self.inner.root
    }
}
