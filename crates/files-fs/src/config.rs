//! Opening a store: the root directory, and `file://` URLs (of stores and of objects).

use std::fs;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use files_core::{Adapter, Error, Result};

use crate::adapter::FsAdapter;

impl FsAdapter {
    /// An adapter over the directory `root`, created (with its parents) if missing and then
    /// canonicalized: [`Adapter::target`] is the canonical path.
    pub fn new(root: impl AsRef<Path>) -> Result<FsAdapter> {
        let root = root.as_ref();
        if root.as_os_str().is_empty() {
            return Err(Error::invalid_input("the root directory path is empty"));
        }
        fs::create_dir_all(root).map_err(|e| {
            Error::from_io(e)
                .with_operation("open store")
                .with_provider("fs")
        })?;
        let canonical = fs::canonicalize(root).map_err(|e| {
            Error::from_io(e)
                .with_operation("open store")
                .with_provider("fs")
        })?;
        if !canonical.is_dir() {
            return Err(Error::invalid_input(format!(
                "the root `{}` is not a directory",
                canonical.display()
            )));
        }
        let target: Arc<str> = canonical.to_string_lossy().into();
        Ok(FsAdapter {
            root: Arc::new(canonical),
            target,
        })
    }

    /// An adapter over the directory a `file://` URL names (`file:///srv/store`); the same as
    /// [`Files::from_url`](files_core::Files::from_url) with the `file` scheme.
    pub fn from_url(url: &str) -> Result<FsAdapter> {
        let parsed = url::Url::parse(url).map_err(|e| {
            Error::invalid_input(format!(
                "`{}` is not a valid URL: {e}",
                Error::redacted(url)
            ))
        })?;
        if parsed.scheme() != "file" {
            return Err(Error::invalid_input(format!(
                "the fs adapter opens `file://` URLs, not `{}://`",
                parsed.scheme()
            )));
        }
        <Self as files_core::FromUrl>::from_url(&parsed)
    }
}

impl files_core::FromUrl for FsAdapter {
    /// `file:///srv/store` (or `file://localhost/...`): the store rooted at that directory.
    fn from_url(url: &url::Url) -> Result<FsAdapter> {
        check_local_host(url)?;
        let root = PathBuf::from(files_core::registry::percent_decode(url.path())?);
        FsAdapter::new(root)
    }
}

fn check_local_host(url: &url::Url) -> Result<()> {
    match url.host_str() {
        None | Some("") | Some("localhost") => Ok(()),
        Some(host) => Err(Error::invalid_input(format!(
            "a `file://` URL must name a local path, not host `{host}`"
        ))),
    }
}

/// `file:///abs/path/key[?root=/abs/path]`: the root is the `root` query parameter (the path
/// must be under it) or `/`; the key is the rest of the path.
pub(crate) fn open_object(url: &url::Url) -> Result<(Arc<dyn Adapter>, String)> {
    check_local_host(url)?;
    let path = PathBuf::from(files_core::registry::percent_decode(url.path())?);
    let root = url
        .query_pairs()
        .find(|(k, _)| k == "root")
        .map(|(_, v)| PathBuf::from(v.into_owned()))
        .unwrap_or_else(|| PathBuf::from("/"));
    if !root.is_absolute() {
        return Err(Error::invalid_input(
            "the `root` parameter of a `file://` URL must be an absolute path",
        ));
    }
    let rest = path.strip_prefix(&root).map_err(|_| {
        Error::invalid_input(format!(
            "the path `{}` is not under the root `{}`",
            path.display(),
            root.display()
        ))
    })?;
    let mut segments = Vec::new();
    for c in rest.components() {
        match c {
            Component::Normal(s) => segments.push(
                s.to_str()
                    .ok_or_else(|| Error::invalid_input("the URL path is not valid UTF-8"))?
                    .to_string(),
            ),
            _ => {
                return Err(Error::invalid_input(
                    "the object path must not contain `.` or `..` segments",
                ));
            }
        }
    }
    if segments.is_empty() {
        return Err(Error::invalid_input(
            "the URL names the root directory, not an object in it",
        ));
    }
    let key = segments.join("/");
    let adapter = FsAdapter::new(&root)?;
    adapter.validate_key(&key)?;
    Ok((Arc::new(adapter), key))
}
