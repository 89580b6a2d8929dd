//! The builder, the connection settings, and `ftp://` / `ftps://` URLs: their parsing and the
//! store and object openers of the URL schemes.

use files_core::Secret;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use files_core::{Adapter, Error, Result};
use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use crate::FtpAdapter;

/// The environment variable a password is read from when none is given in code or in the URL.
pub const PASSWORD_ENV: &str = "FILES_FTP_PASSWORD";
/// The environment variable a user name is read from when a URL names none.
pub const USER_ENV: &str = "FILES_FTP_USER";
/// The default number of control connections an adapter keeps open at most.
pub const DEFAULT_MAX_CONNECTIONS: usize = 4;
/// How long opening a control connection (TCP, TLS, login) may take by default.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// How long an operation may go without progress (no command sent, no data chunk moved)
/// before its connection is dropped and it fails as a retryable timeout.
pub const DEFAULT_IO_TIMEOUT: Duration = Duration::from_secs(60);

/// Plain FTP or explicit FTPS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// Plain FTP: the password and the data travel in clear text. Use it on trusted networks
    /// only.
    Plain,
    /// Explicit FTPS (RFC 4217): `AUTH TLS` on the control connection before logging in, then
    /// `PBSZ 0` and `PROT P`, so every data connection is encrypted too. The server's
    /// certificate is checked against the trusted roots and the host name.
    ExplicitTls,
}

/// How data connections are opened. Every mode connects to the address of the control
/// connection's peer, never to an address the server names in its reply: some servers answer
/// `PASV` with a wrong (internal) address, and following it would also let a server point the
/// client at a third host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PassiveMode {
    /// `EPSV` when the server lists it in `FEAT`, otherwise `PASV` (the default).
    Auto,
    /// Always `EPSV` (RFC 2428).
    Extended,
    /// Always `PASV`; the address in the reply is ignored, only its port is used.
    Classic,
}

/// Builds an [`FtpAdapter`]. `Debug` output never shows the password.
///
/// ```no_run
/// # fn demo() -> files_core::Result<()> {
/// use files_ftp::{FtpAdapter, Security};
/// let adapter = FtpAdapter::builder("ftp.example.com")
///     .port(21)
///     .user("alice")
///     .password("s3cret")
///     .security(Security::ExplicitTls)
///     .ca_file("/etc/ssl/private-ca.pem")
///     .root("backups")
///     .build()?;
/// # let _ = adapter; Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct FtpBuilder {
    host: String,
    port: Option<u16>,
    user: Option<String>,
    password: Option<Secret>,
    security: Security,
    ca_files: Vec<PathBuf>,
    system_roots: bool,
    root: String,
    max_connections: usize,
    connect_timeout: Duration,
    io_timeout: Duration,
    passive: PassiveMode,
}

impl FtpBuilder {
    /// A builder for the server at `host` (a name or an IP address), port 21, anonymous, plain
    /// FTP, rooted at the login directory.
    pub fn new(host: impl Into<String>) -> Self {
        FtpBuilder {
            host: host.into(),
            port: None,
            user: None,
            password: None,
            security: Security::Plain,
            ca_files: Vec::new(),
            system_roots: true,
            root: String::new(),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            io_timeout: DEFAULT_IO_TIMEOUT,
            passive: PassiveMode::Auto,
        }
    }

    /// The control port (default 21).
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// The user to log in as (default `anonymous`).
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    /// The password. Without one, `build` reads [`PASSWORD_ENV`] (`FILES_FTP_PASSWORD`); an
    /// anonymous login without either sends `anonymous@`.
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(Secret::new(password.into()));
        self
    }

    /// Plain FTP (default) or explicit FTPS.
    pub fn security(mut self, security: Security) -> Self {
        self.security = security;
        self
    }

    /// Also trusts the CA certificates (PEM) in the file at `path`, e.g. the certificate of a
    /// self-signed test server. May be called several times. Only used with FTPS.
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_files.push(path.into());
        self
    }

    /// Whether the operating system's trusted roots are trusted too (default true). Turn it off
    /// to trust only the [`ca_file`](Self::ca_file)s.
    pub fn system_roots(mut self, yes: bool) -> Self {
        self.system_roots = yes;
        self
    }

    /// The directory keys live under: absolute (`/srv/files`) or relative to the login
    /// directory (`backups`); default the login directory. `..` segments are refused.
    pub fn root(mut self, root: impl Into<String>) -> Self {
        self.root = root.into();
        self
    }

    /// How many control connections the adapter keeps open at most (default 4, at least 2:
    /// a streamed copy holds a download and an upload at once). Operations beyond it wait for
    /// a free connection.
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n;
        self
    }

    /// How long opening a control connection (TCP, TLS handshake, login) may take.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long an operation may make no progress (no command sent, no data chunk moved)
    /// before it fails with a retryable [`ErrorKind::Timeout`](files_core::ErrorKind::Timeout)
    /// and its connection is closed (default [`DEFAULT_IO_TIMEOUT`], 60 s). A server that stops
    /// answering on one control connection therefore costs one retry, not a hung upload.
    pub fn io_timeout(mut self, timeout: Duration) -> Self {
        self.io_timeout = timeout;
        self
    }

    /// How data connections are opened (default [`PassiveMode::Auto`]).
    pub fn passive_mode(mut self, mode: PassiveMode) -> Self {
        self.passive = mode;
        self
    }

    /// Checks the settings, loads the trusted certificates, and builds the adapter. No
    /// connection is opened until the first operation.
    pub fn build(self) -> Result<FtpAdapter> {
        let host = self.host.trim().to_string();
        if host.is_empty() {
            return Err(Error::invalid_input("the FTP host is empty"));
        }
        if host.contains(|c: char| c.is_control() || c == '/' || c.is_whitespace()) {
            return Err(Error::invalid_input("the FTP host name is not valid"));
        }
        let user = self.user.unwrap_or_else(|| "anonymous".to_string());
        if user.is_empty() || user.contains(|c: char| c.is_control()) {
            return Err(Error::invalid_input(
                "the FTP user name is empty or holds control characters",
            ));
        }
        let anonymous = user.eq_ignore_ascii_case("anonymous") || user.eq_ignore_ascii_case("ftp");
        let password = match self.password {
            Some(p) => p,
            None => match std::env::var(PASSWORD_ENV) {
                Ok(p) if !p.is_empty() => Secret::new(p),
                _ if anonymous => Secret::new("anonymous@"),
                _ => Secret::new(String::new()),
            },
        };
        if password.expose().contains(|c: char| c.is_control()) {
            return Err(Error::invalid_input(
                "the FTP password holds control characters (CR/LF would inject commands)",
            ));
        }
        if self.max_connections < 2 {
            return Err(Error::invalid_input(
                "max_connections must be at least 2 (a streamed copy holds a download and an upload at once)",
            ));
        }
        let root = Root::parse(&self.root)?;
        let roots = match self.security {
            Security::Plain => None,
            Security::ExplicitTls => Some(trusted_roots(&self.ca_files, self.system_roots)?),
        };
        let port = self.port.unwrap_or(21);
        Ok(FtpAdapter::from_config(Config {
            host,
            port,
            user,
            password,
            security: self.security,
            roots,
            root,
            max_connections: self.max_connections,
            connect_timeout: self.connect_timeout,
            io_timeout: self.io_timeout,
            passive: self.passive,
        }))
    }
}

/// Everything a connection needs, shared by the pool.
#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) user: String,
    pub(crate) password: Secret,
    pub(crate) security: Security,
    pub(crate) roots: Option<Arc<RootCertStore>>,
    pub(crate) root: Root,
    pub(crate) max_connections: usize,
    pub(crate) connect_timeout: Duration,
    pub(crate) io_timeout: Duration,
    pub(crate) passive: PassiveMode,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &self.password)
            .field("security", &self.security)
            .field("root", &self.root.display())
            .field("max_connections", &self.max_connections)
            .field("passive", &self.passive)
            .finish_non_exhaustive()
    }
}

/// The configured root: absolute, or relative to the login directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Root {
    pub(crate) absolute: bool,
    pub(crate) segments: Vec<String>,
}

impl Root {
    pub(crate) fn parse(text: &str) -> Result<Root> {
        if text.contains(|c: char| c.is_control()) {
            return Err(Error::invalid_input(
                "the FTP root holds control characters",
            ));
        }
        let absolute = text.starts_with('/');
        let mut segments = Vec::new();
        for s in text.split('/') {
            match s {
                "" | "." => {}
                ".." => {
                    return Err(Error::invalid_input(
                        "the FTP root must not contain `..` segments",
                    ));
                }
                s => segments.push(s.to_string()),
            }
        }
        Ok(Root { absolute, segments })
    }

    /// `/a/b`, `a/b`, `/` or `` (the login directory).
    pub(crate) fn display(&self) -> String {
        let joined = self.segments.join("/");
        if self.absolute {
            format!("/{joined}")
        } else {
            joined
        }
    }

    /// The absolute directory of the root, given the login directory `home`; no trailing `/`
    /// except for `/` itself.
    pub(crate) fn resolve(&self, home: &str) -> String {
        let base = if self.absolute { "" } else { home };
        let mut out = base.trim_end_matches('/').to_string();
        for s in &self.segments {
            out.push('/');
            out.push_str(s);
        }
        if out.is_empty() {
            out.push('/');
        }
        out
    }
}

/// The trusted roots: the system's (if asked) and the CA files'.
fn trusted_roots(ca_files: &[PathBuf], system: bool) -> Result<Arc<RootCertStore>> {
    let mut roots = RootCertStore::empty();
    if system {
        let found = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(found.certs);
    }
    for path in ca_files {
        let certs = read_pem_certs(path)?;
        let (added, _) = roots.add_parsable_certificates(certs);
        if added == 0 {
            return Err(Error::invalid_input(format!(
                "the CA file `{}` holds no usable certificate",
                path.display()
            )));
        }
    }
    if roots.is_empty() {
        return Err(Error::invalid_input(
            "FTPS needs trusted root certificates: none were found on the system and no CA file was given (`ca_file`, `?ca=PATH`)",
        ));
    }
    Ok(Arc::new(roots))
}

fn read_pem_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let iter = CertificateDer::pem_file_iter(path).map_err(|e| {
        Error::invalid_input(format!("cannot read the CA file `{}`: {e}", path.display()))
    })?;
    let certs: std::result::Result<Vec<_>, _> = iter.collect();
    let certs = certs.map_err(|e| {
        Error::invalid_input(format!(
            "the CA file `{}` is not valid PEM: {e}",
            path.display()
        ))
    })?;
    if certs.is_empty() {
        return Err(Error::invalid_input(format!(
            "the CA file `{}` holds no PEM certificate",
            path.display()
        )));
    }
    Ok(certs)
}

// ------------------------------------------------------------------------------------- URLs

/// What a URL says: a builder (everything but the root), the root parameter if any, and the
/// percent-decoded path segments.
pub(crate) struct ParsedUrl {
    pub(crate) builder: FtpBuilder,
    pub(crate) root_param: Option<String>,
    pub(crate) path: Vec<String>,
}

/// Parses `ftp://` / `ftps://` URLs: user and password from the userinfo (else
/// `FILES_FTP_USER` / `FILES_FTP_PASSWORD`), port, and the parameters `root`, `ca`,
/// `connections` and `passive`.
pub(crate) fn parse_url(url: &url::Url) -> Result<ParsedUrl> {
    let security = match url.scheme() {
        "ftp" => Security::Plain,
        "ftps" => Security::ExplicitTls,
        other => {
            return Err(Error::invalid_input(format!(
                "the FTP adapter opens `ftp://` and `ftps://` URLs, not `{other}://`"
            )));
        }
    };
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| Error::invalid_input("an `ftp://` URL needs a host"))?;
    // `url` keeps IPv6 literals in brackets; the socket address wants them bare.
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let mut builder = FtpBuilder::new(host).security(security);
    if let Some(port) = url.port() {
        builder = builder.port(port);
    }
    if !url.username().is_empty() {
        builder = builder.user(files_core::registry::percent_decode(url.username())?);
    } else if let Ok(user) = std::env::var(USER_ENV)
        && !user.is_empty()
    {
        builder = builder.user(user);
    }
    if let Some(p) = url.password() {
        let p = files_core::registry::percent_decode(p)
            .map_err(|_| Error::invalid_input("the password in the URL is not valid UTF-8"))?;
        builder = builder.password(p);
    }
    let mut params: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in url.query_pairs() {
        if params.insert(k.to_string(), v.to_string()).is_some() {
            return Err(Error::invalid_input(format!(
                "the URL parameter `{k}` is given twice"
            )));
        }
    }
    let mut root_param = None;
    for (k, v) in params {
        match k.as_str() {
            "root" => root_param = Some(v),
            "ca" => builder = builder.ca_file(v),
            "connections" => {
                let n = v.parse().map_err(|_| {
                    Error::invalid_input(format!("`connections={v}` is not a number"))
                })?;
                builder = builder.max_connections(n);
            }
            "passive" => {
                let mode = match v.as_str() {
                    "auto" => PassiveMode::Auto,
                    "epsv" => PassiveMode::Extended,
                    "pasv" => PassiveMode::Classic,
                    _ => {
                        return Err(Error::invalid_input(format!(
                            "`passive={v}`: use auto, epsv or pasv"
                        )));
                    }
                };
                builder = builder.passive_mode(mode);
            }
            other => {
                return Err(Error::invalid_input(format!(
                    "unknown parameter `{other}` in an FTP URL (known: root, ca, connections, passive)"
                )));
            }
        }
    }
    let decoded = files_core::registry::percent_decode(url.path())?;
    let path = decoded
        .split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    Ok(ParsedUrl {
        builder,
        root_param,
        path,
    })
}

// ---------------------------------------------------------------------------- URL openers

impl FtpAdapter {
    /// The adapter for the store an `ftp://` or `ftps://` URL names; the same as
    /// [`Files::from_url`](files_core::Files::from_url) with these schemes (see
    /// [`FACTORY`](crate::FACTORY)).
    pub fn from_url(url: &str) -> Result<FtpAdapter> {
        let parsed = url::Url::parse(url).map_err(|e| {
            Error::invalid_input(format!(
                "`{}` is not a valid URL: {e}",
                Error::redacted(url)
            ))
        })?;
        <FtpAdapter as files_core::FromUrl>::from_url(&parsed)
    }
}

impl files_core::FromUrl for FtpAdapter {
    /// The store URL: its path (or `?root=`) is the root directory.
    fn from_url(url: &url::Url) -> Result<FtpAdapter> {
        let parsed = parse_url(url)?;
        let root = parsed.root_param.unwrap_or_else(|| parsed.path.join("/"));
        parsed.builder.root(root).build()
    }
}

/// The object opener of both schemes: the store's root from `?root=` (else the login
/// directory), the key from the rest of the path.
pub(crate) fn open_object(url: &url::Url) -> Result<(Arc<dyn Adapter>, String)> {
    let parsed = parse_url(url)?;
    let (root, rest) = match &parsed.root_param {
        Some(r) => {
            let root = Root::parse(r)?;
            if !parsed.path.starts_with(&root.segments) {
                return Err(Error::invalid_input(format!(
                    "the URL path is not under the root `{}`",
                    root.display()
                )));
            }
            (r.clone(), &parsed.path[root.segments.len()..])
        }
        None => (String::new(), &parsed.path[..]),
    };
    if rest.is_empty() {
        return Err(Error::invalid_input(
            "the URL names the root directory, not an object in it",
        ));
    }
    let key = rest.join("/");
    let adapter = parsed.builder.root(root).build()?;
    adapter.validate_key(&key)?;
    Ok((Arc::new(adapter), key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_resolve() {
        let r = Root::parse("").unwrap();
        assert_eq!(r.resolve("/home/u"), "/home/u");
        assert_eq!(r.resolve("/"), "/");
        let r = Root::parse("a/b/").unwrap();
        assert_eq!(r.resolve("/"), "/a/b");
        assert_eq!(r.resolve("/home/u/"), "/home/u/a/b");
        let r = Root::parse("/srv//x").unwrap();
        assert_eq!(r.resolve("/home/u"), "/srv/x");
        assert_eq!(r.display(), "/srv/x");
        assert_eq!(Root::parse("/").unwrap().resolve("/home"), "/");
        assert!(Root::parse("a/../b").is_err());
        assert!(Root::parse("a\r\nDELE x").is_err());
    }

    #[test]
    fn builder_debug_hides_the_password() {
        let b = FtpBuilder::new("h").user("u").password("hunter2-secret");
        let text = format!("{b:?}");
        assert!(!text.contains("hunter2-secret"), "{text}");
        assert!(text.contains("<redacted>"));
    }

    #[test]
    fn builder_refuses_injection_and_small_pools() {
        for b in [
            FtpBuilder::new("h").user("u\r\nDELE x"),
            FtpBuilder::new("h").user("u").password("p\nDELE x"),
            FtpBuilder::new("h\nx"),
            FtpBuilder::new(""),
            FtpBuilder::new("h").max_connections(1),
            FtpBuilder::new("h").root("../up"),
        ] {
            let e = b.build().unwrap_err();
            assert_eq!(e.kind(), files_core::ErrorKind::InvalidInput, "{e}");
        }
    }

    #[test]
    fn urls() {
        let u = url::Url::parse("ftp://al%40ice:p%3Ass@127.0.0.1:2121/a/b%20c/d?root=a").unwrap();
        let p = parse_url(&u).unwrap();
        assert_eq!(p.path, vec!["a", "b c", "d"]);
        assert_eq!(p.root_param.as_deref(), Some("a"));
        assert_eq!(p.builder.user.as_deref(), Some("al@ice"));
        assert_eq!(p.builder.password.as_ref().unwrap().expose(), "p:ss");
        assert_eq!(p.builder.port, Some(2121));
        for bad in [
            "ftp://h/x?bogus=1",
            "ftp://h/x?root=a&root=b",
            "ftp://h/x?connections=x",
            "http://h/x",
        ] {
            assert!(parse_url(&url::Url::parse(bad).unwrap()).is_err(), "{bad}");
        }
    }

    #[test]
    fn object_urls() {
        let u = url::Url::parse("ftp://u:p@h:2121/base/dir/k.bin?root=base").unwrap();
        let (a, key) = open_object(&u).unwrap();
        assert_eq!(key, "dir/k.bin");
        assert_eq!(a.target(), "ftp://u@h:2121/base");
        let u = url::Url::parse("ftp://u@h/dir/k.bin").unwrap();
        let (a, key) = open_object(&u).unwrap();
        assert_eq!(key, "dir/k.bin");
        assert_eq!(a.target(), "ftp://u@h:21/");
        let u = url::Url::parse("ftp://u@h/srv/x/k?root=/srv/x").unwrap();
        let (a, key) = open_object(&u).unwrap();
        assert_eq!(
            (a.target().as_str(), key.as_str()),
            ("ftp://u@h:21//srv/x", "k")
        );
        for bad in [
            "ftp://h/other/k?root=base",
            "ftp://h/base?root=base",
            "ftp://h/a/..%2F..%2Fx",
            "ftp://h/a%0D%0ADELE%20x",
        ] {
            assert!(
                open_object(&url::Url::parse(bad).unwrap()).is_err(),
                "{bad}"
            );
        }
        let a = <FtpAdapter as files_core::FromUrl>::from_url(
            &url::Url::parse("ftps://h/st/ore?ca=/nonexistent.pem").unwrap(),
        );
        assert_eq!(a.unwrap_err().kind(), files_core::ErrorKind::InvalidInput);
        let a = <FtpAdapter as files_core::FromUrl>::from_url(
            &url::Url::parse("ftp://h/st/ore").unwrap(),
        )
        .unwrap();
        assert_eq!(a.target(), "ftp://anonymous@h:21/st/ore");
    }
}
