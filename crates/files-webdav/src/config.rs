//! Configuration: the builder, `webdav://` URLs, and credentials from the environment.

use std::collections::HashSet;
use std::sync::atomic::AtomicU8;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use files_core::{Adapter, Error, Result};
use files_http::{Auth, ClientOptions, Secret};

use crate::adapter::{Inner, WebDavAdapter};
use crate::http::rel_path;
use crate::upload::PARTIAL_UNKNOWN;

/// The environment variable the URL factory reads a Basic password from (when the URL has a
/// user but no password).
pub const PASSWORD_ENV: &str = "FILES_WEBDAV_PASSWORD";

/// The environment variable the URL factory reads a bearer token from (when the URL has no
/// user and [`USER_ENV`] is not set).
pub const TOKEN_ENV: &str = "FILES_WEBDAV_TOKEN";

/// The environment variable the URL factory reads a Basic user name from when the URL has none
/// (tools such as the CLI drop the user info of URLs they store).
pub const USER_ENV: &str = "FILES_WEBDAV_USER";

/// Builds a [`WebDavAdapter`]: an endpoint (required), a root collection under it, and
/// credentials. Nothing here makes a request.
#[derive(Debug, Clone)]
pub struct WebDavBuilder {
    endpoint: Option<String>,
    root: String,
    auth: Auth,
    resumable: bool,
    connect_timeout: Duration,
}

impl Default for WebDavBuilder {
    fn default() -> Self {
        WebDavBuilder {
            endpoint: None,
            root: String::new(),
            auth: Auth::None,
            resumable: true,
            connect_timeout: Duration::from_secs(30),
        }
    }
}

impl WebDavBuilder {
    /// The server's WebDAV URL (`http://` or `https://`, with the path of the DAV area, e.g.
    /// `https://cloud.example.com/remote.php/dav/files/alice/`). It must not carry credentials,
    /// a query or a fragment.
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self
    }

    /// The root collection of the store, a `/`-separated path under the endpoint (decoded, not
    /// percent-encoded); created on the first write if missing. Default: the endpoint itself.
    pub fn root(mut self, path: impl Into<String>) -> Self {
        self.root = path.into();
        self
    }

    /// HTTP Basic authentication.
    pub fn basic_auth(self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.basic_auth_secret(user.into(), Secret::new(password))
    }

    fn basic_auth_secret(mut self, user: String, password: Secret) -> Self {
        self.auth = Auth::Basic { user, password };
        self
    }

    /// Bearer token authentication (`Authorization: Bearer ...`).
    pub fn bearer_token(mut self, token: impl Into<String>) -> Self {
        self.auth = Auth::Bearer(Secret::new(token));
        self
    }

    /// Whether resumable uploads are offered (default `true`: detected on first use, see the
    /// [crate docs](crate)). `false` declares no resumable primitive at all: every upload is one
    /// `PUT`, and `control`/`checkpoint` are refused.
    pub fn resumable(mut self, on: bool) -> Self {
        self.resumable = on;
        self
    }

    /// How long establishing a connection may take (default 30 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Checks the configuration and builds the adapter (no request is made).
    pub fn build(self) -> Result<WebDavAdapter> {
        let raw = self
            .endpoint
            .as_deref()
            .ok_or_else(|| Error::invalid_input("a WebDAV adapter needs an endpoint URL"))?;
        let mut endpoint = url::Url::parse(raw).map_err(|e| {
            Error::invalid_input(format!("the WebDAV endpoint is not a valid URL: {e}"))
        })?;
        if !matches!(endpoint.scheme(), "http" | "https") {
            return Err(Error::invalid_input(format!(
                "the WebDAV endpoint must be an http:// or https:// URL, not `{}://`",
                endpoint.scheme()
            )));
        }
        if !endpoint.username().is_empty() || endpoint.password().is_some() {
            return Err(Error::invalid_input(
                "the WebDAV endpoint URL must not carry credentials; use basic_auth or bearer_token",
            ));
        }
        if endpoint.query().is_some() || endpoint.fragment().is_some() {
            return Err(Error::invalid_input(
                "the WebDAV endpoint URL must not have a query or a fragment",
            ));
        }
        if endpoint.host_str().is_none_or(str::is_empty) {
            return Err(Error::invalid_input("the WebDAV endpoint URL has no host"));
        }
        if !endpoint.path().ends_with('/') {
            let p = format!("{}/", endpoint.path());
            endpoint.set_path(&p);
        }
        let root = split_root(&self.root)?;
        check_auth(&self.auth)?;
        let client = files_http::client(&ClientOptions {
            connect_timeout: self.connect_timeout,
            timeout: None,
            // A redirect is an answer here (a collection's URL without its `/`), not a hop.
            max_redirects: 0,
            user_agent: concat!("files-webdav/", env!("CARGO_PKG_VERSION")).to_string(),
        })?;
        let mut target = endpoint.as_str().to_string();
        if !root.is_empty() {
            target.push_str(&rel_path(&root));
            target.push('/');
        }
        Ok(WebDavAdapter {
            inner: Arc::new(Inner {
                client,
                endpoint,
                root,
                target,
                auth: self.auth,
                resumable: self.resumable,
                partial_put: AtomicU8::new(PARTIAL_UNKNOWN),
                detect_lock: tokio::sync::Mutex::new(()),
                collections: Mutex::new(HashSet::new()),
            }),
        })
    }
}

/// Refuses, before any request, credentials no request could carry: a Basic user name with a
/// `:` (it would end the name early), a bearer token that is empty or not header-safe.
fn check_auth(auth: &Auth) -> Result<()> {
    match auth {
        Auth::Basic { user, .. } if user.contains(':') => Err(Error::invalid_input(
            "a Basic auth user name must not contain ':'",
        )),
        Auth::Bearer(token) => files_http::auth::bearer(token).map(drop),
        _ => Ok(()),
    }
}

/// Splits a root path into its segments, refusing ones that could leave the endpoint.
pub(crate) fn split_root(root: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for seg in root.split('/') {
        if seg.is_empty() {
            continue;
        }
        if seg == "." || seg == ".." || seg.contains('\0') || seg.contains('\\') {
            return Err(Error::invalid_input(
                "the WebDAV root must not contain `.` or `..` segments, NUL bytes or backslashes",
            ));
        }
        out.push(seg.to_string());
    }
    Ok(out)
}

/// A builder for a `webdav://` / `webdavs://` URL, and the URL's decoded path. The user comes
/// from the URL or `FILES_WEBDAV_USER`; the password from the URL or `FILES_WEBDAV_PASSWORD`;
/// without a user, a bearer token from `FILES_WEBDAV_TOKEN`.
pub(crate) fn builder_from_url(url: &url::Url) -> Result<(WebDavBuilder, String)> {
    let http = match url.scheme() {
        "webdav" => "http",
        "webdavs" => "https",
        other => {
            return Err(Error::invalid_input(format!(
                "the WebDAV adapter opens webdav:// and webdavs:// URLs, not `{other}://`"
            )));
        }
    };
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| Error::invalid_input("a webdav:// URL needs a host"))?;
    let mut endpoint = format!("{http}://{host}");
    if let Some(port) = url.port() {
        endpoint.push_str(&format!(":{port}"));
    }
    endpoint.push('/');
    let mut builder = WebDavBuilder::default().endpoint(endpoint);
    let mut user = files_http::encode::decode_lossy(url.username());
    if user.is_empty() && url.password().is_none() {
        user = std::env::var(USER_ENV).unwrap_or_default();
    }
    if !user.is_empty() {
        let password = match url.password() {
            Some(p) => Secret::new(files_http::encode::decode_lossy(p)),
            None => Secret::from_env(PASSWORD_ENV).unwrap_or_default(),
        };
        builder = builder.basic_auth_secret(user, password);
    } else if url.password().is_some() {
        return Err(Error::invalid_input(
            "a webdav:// URL with a password needs a user name",
        ));
    } else if let Some(token) = Secret::from_env(TOKEN_ENV) {
        builder.auth = Auth::Bearer(token);
    }
    for (k, v) in url.query_pairs() {
        match k.as_ref() {
            "root" => {}
            "resumable" => {
                builder = builder.resumable(match v.as_ref() {
                    "true" | "1" | "yes" => true,
                    "false" | "0" | "no" => false,
                    _ => {
                        return Err(Error::invalid_input(
                            "the `resumable` parameter of a webdav:// URL is `true` or `false`",
                        ));
                    }
                });
            }
            "password" | "token" | "pass" | "secret" | "auth" | "access_token" => {
                return Err(Error::invalid_input(format!(
                    "credentials are never read from a URL query (`{k}`): put the password in the URL's user info or in {PASSWORD_ENV}, a token in {TOKEN_ENV}"
                )));
            }
            other => {
                return Err(Error::invalid_input(format!(
                    "unknown parameter `{other}` in a webdav:// URL (known: root, resumable)"
                )));
            }
        }
    }
    let path = files_core::registry::percent_decode(url.path())?;
    Ok((builder, path))
}

/// The store a `webdav://` URL names (its path is the root collection).
pub(crate) fn open_store(url: &url::Url) -> Result<Arc<dyn Adapter>> {
    let (builder, path) = builder_from_url(url)?;
    Ok(Arc::new(builder.root(path).build()?))
}

/// The object a `webdav://` URL names: the `root` parameter is the store, the rest of the path
/// the key.
pub(crate) fn open_object(url: &url::Url) -> Result<(Arc<dyn Adapter>, String)> {
    let (builder, path) = builder_from_url(url)?;
    let root = url
        .query_pairs()
        .find(|(k, _)| k == "root")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| "/".to_string());
    let root_segs = split_root(&root)?;
    let path_segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if path_segs.len() <= root_segs.len()
        || path_segs[..root_segs.len()]
            .iter()
            .zip(&root_segs)
            .any(|(a, b)| *a != b.as_str())
    {
        return Err(Error::invalid_input(format!(
            "the URL path `{path}` does not name an object under the root `{root}`"
        )));
    }
    let key = path_segs[root_segs.len()..].join("/");
    let adapter = builder.root(root).build()?;
    adapter.validate_key(&key)?;
    Ok((Arc::new(adapter), key))
}

#[cfg(test)]
mod tests {
    use files_core::{ErrorKind, Resumability};

    use super::*;

    #[test]
    fn builder_and_urls() {
        let a = WebDavAdapter::builder()
            .endpoint("http://127.0.0.1:8080/dav")
            .root("/my store/x/")
            .basic_auth("alice", "s3cret-pw")
            .build()
            .unwrap();
        assert_eq!(a.target(), "http://127.0.0.1:8080/dav/my%20store/x/");
        assert_eq!(
            a.key_url("a b/c"),
            "http://127.0.0.1:8080/dav/my%20store/x/a%20b/c"
        );
        assert_eq!(
            a.part_url("c"),
            "http://127.0.0.1:8080/dav/my%20store/x/c.fls-part"
        );
        let dbg = format!("{a:?}");
        assert!(!dbg.contains("s3cret-pw"), "{dbg}");
        for bad in ["../x", "a/./b"] {
            assert!(
                WebDavAdapter::builder()
                    .endpoint("http://h/")
                    .root(bad)
                    .build()
                    .is_err()
            );
        }
        for bad in ["ftp://h/", "http://u:p@h/", "http://h/?x=1", "not a url"] {
            let e = WebDavAdapter::builder().endpoint(bad).build().unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidInput, "{bad}");
            assert!(!e.to_string().contains(":p@"), "{e}");
        }
        for bad in ["a.fls-part", "d/x.fls-probe", "dir/", "../x", "a\0b"] {
            assert!(a.validate_key(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn credentials_are_checked_and_never_printed() {
        let b = WebDavAdapter::builder()
            .endpoint("http://h/")
            .bearer_token("tok-SECRET-1");
        assert!(!format!("{b:?}").contains("tok-SECRET-1"), "{b:?}");
        let a = b.build().unwrap();
        assert!(!format!("{a:?}").contains("tok-SECRET-1"), "{a:?}");
        let b = WebDavAdapter::builder()
            .endpoint("http://h/")
            .basic_auth("alice", "pw-SECRET-2");
        assert!(!format!("{b:?}").contains("pw-SECRET-2"), "{b:?}");
        for bad in [
            WebDavAdapter::builder().basic_auth("a:b", "pw"),
            WebDavAdapter::builder().bearer_token("a\nb"),
        ] {
            let e = bad.endpoint("http://h/").build().unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
            assert!(!e.to_string().contains("pw"), "{e}");
        }
    }

    #[test]
    fn url_split() {
        let url =
            url::Url::parse("webdav://bob:p%40ss@host:81/dav/st/a/b.txt?root=/dav/st").unwrap();
        let (adapter, key) = open_object(&url).unwrap();
        assert_eq!(key, "a/b.txt");
        assert_eq!(adapter.target(), "http://host:81/dav/st/");
        let dbg = format!("{adapter:?}");
        assert!(!dbg.contains("p@ss") && !dbg.contains("p%40ss"), "{dbg}");
        let url = url::Url::parse("webdavs://host/dav/st/a").unwrap();
        let (adapter, key) = open_object(&url).unwrap();
        assert_eq!(
            (adapter.target().as_str(), key.as_str()),
            ("https://host/", "dav/st/a")
        );
        let store = open_store(&url::Url::parse("webdavs://host/dav/st").unwrap()).unwrap();
        assert_eq!(store.target(), "https://host/dav/st/");
        for bad in [
            "webdav://host/a?password=x",
            "webdav://host/a?bogus=1",
            "webdav://host/x/a?root=/y",
            "webdav://host/y?root=/y",
        ] {
            let e = open_object(&url::Url::parse(bad).unwrap()).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidInput, "{bad}");
        }
        let (a, _) =
            open_object(&url::Url::parse("webdav://h/a?resumable=false").unwrap()).unwrap();
        assert_eq!(a.capabilities().resumable, Resumability::None);
    }
}
