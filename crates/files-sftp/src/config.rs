//! Configuration: the builder, `sftp://` URLs and the environment.

use files_core::Secret;
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use std::sync::Arc;

use files_core::{Adapter, Error, Result};

use crate::adapter::SftpAdapter;

/// Environment variable naming the user when neither the builder nor the URL names one
/// (then `USER` is used).
pub const ENV_USER: &str = "FILES_SFTP_USER";
/// Environment variable holding the password (used when neither the builder nor the URL gives
/// one).
pub const ENV_PASSWORD: &str = "FILES_SFTP_PASSWORD";
/// Environment variable naming a private key file (used when neither the builder nor the URL
/// names one).
pub const ENV_KEY: &str = "FILES_SFTP_KEY";
/// Environment variable holding the passphrase of an encrypted private key file.
pub const ENV_KEY_PASSPHRASE: &str = "FILES_SFTP_KEY_PASSPHRASE";
/// Environment variable naming the `known_hosts` file (default `~/.ssh/known_hosts`).
pub const ENV_KNOWN_HOSTS: &str = "FILES_SFTP_KNOWN_HOSTS";

/// The default per-request timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Whether to ask the ssh-agent (`SSH_AUTH_SOCK`) for keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AgentUse {
    /// Only when no password and no key file is configured.
    Auto,
    /// Always (after the key file, before the password).
    On,
    /// Never.
    Off,
}

/// How the server's host key is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HostKeyPolicy {
    /// Against the entries for the host in this `known_hosts` file.
    KnownHosts(PathBuf),
    /// Any key is accepted (insecure: a man in the middle sees everything).
    InsecureAcceptAny,
}

/// Everything an adapter needs, with the environment already applied.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: Option<Secret>,
    pub key_file: Option<PathBuf>,
    pub key_passphrase: Option<Secret>,
    pub agent: AgentUse,
    pub host_keys: HostKeyPolicy,
    pub root: String,
    pub timeout: Duration,
}

/// Builds an [`SftpAdapter`](crate::SftpAdapter). `host` is required; anything not set here
/// comes from the environment ([`ENV_USER`] then `USER`, [`ENV_PASSWORD`], [`ENV_KEY`],
/// [`ENV_KEY_PASSPHRASE`], [`ENV_KNOWN_HOSTS`]) when [`build`](SftpBuilder::build) runs.
///
/// Building makes no network call: the adapter connects on first use.
#[derive(Clone, Default)]
pub struct SftpBuilder {
    host: Option<String>,
    port: Option<u16>,
    user: Option<String>,
    password: Option<Secret>,
    key_file: Option<PathBuf>,
    key_passphrase: Option<Secret>,
    agent: Option<bool>,
    known_hosts: Option<PathBuf>,
    insecure: bool,
    root: Option<String>,
    timeout: Option<Duration>,
}

impl fmt::Debug for SftpBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SftpBuilder")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("key_file", &self.key_file)
            .field(
                "key_passphrase",
                &self.key_passphrase.as_ref().map(|_| "<redacted>"),
            )
            .field("agent", &self.agent)
            .field("known_hosts", &self.known_hosts)
            .field("insecure", &self.insecure)
            .field("root", &self.root)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl SftpBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// The server's host name or IP address.
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self
    }

    /// The server's port (default 22).
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// The user to log in as.
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    /// Password authentication with this password (tried after key-based methods).
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(Secret::new(password.into()));
        self
    }

    /// Public-key authentication with this private key file (OpenSSH or PEM format).
    pub fn private_key_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.key_file = Some(path.into());
        self
    }

    /// The passphrase of an encrypted private key file.
    pub fn private_key_passphrase(mut self, passphrase: impl Into<String>) -> Self {
        self.key_passphrase = Some(Secret::new(passphrase.into()));
        self
    }

    /// Whether to try the keys of the ssh-agent at `SSH_AUTH_SOCK`. By default the agent is
    /// used only when neither a password nor a key file is configured.
    pub fn use_agent(mut self, yes: bool) -> Self {
        self.agent = Some(yes);
        self
    }

    /// Checks the server's host key against this `known_hosts` file instead of
    /// `$FILES_SFTP_KNOWN_HOSTS` or `~/.ssh/known_hosts`.
    pub fn known_hosts(mut self, path: impl Into<PathBuf>) -> Self {
        self.known_hosts = Some(path.into());
        self
    }

    /// **Insecure**: accepts any host key, so a man in the middle can read and change every
    /// byte, and capture the password. For throw-away test servers only.
    pub fn insecure_accept_any_host_key(mut self) -> Self {
        self.insecure = true;
        self
    }

    /// The absolute remote directory that keys are relative to (default `/`).
    pub fn root(mut self, root: impl Into<String>) -> Self {
        self.root = Some(root.into());
        self
    }

    /// How long one SFTP request (and the connection set-up) may take (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Builds the adapter; no network call is made.
    pub fn build(self) -> Result<SftpAdapter> {
        let settings = self.settings(&|name| std::env::var(name).ok())?;
        Ok(SftpAdapter::from_settings(settings))
    }

    pub(crate) fn settings(self, env: &dyn Fn(&str) -> Option<String>) -> Result<Settings> {
        let host = self
            .host
            .filter(|h| !h.is_empty())
            .ok_or_else(|| Error::invalid_input("an SFTP adapter needs a host"))?;
        let nonempty = |name: &str| env(name).filter(|v| !v.is_empty());
        let user = self
            .user
            .filter(|u| !u.is_empty())
            .or_else(|| nonempty(ENV_USER))
            .or_else(|| nonempty("USER"))
            .ok_or_else(|| {
                Error::invalid_input(format!(
                    "an SFTP adapter needs a user (in the URL, the builder, or {ENV_USER})"
                ))
            })?;
        let password = self
            .password
            .or_else(|| nonempty(ENV_PASSWORD).map(Secret::new));
        let key_file = self
            .key_file
            .or_else(|| nonempty(ENV_KEY).map(PathBuf::from));
        let key_passphrase = self
            .key_passphrase
            .or_else(|| nonempty(ENV_KEY_PASSPHRASE).map(Secret::new));
        let agent = match self.agent {
            Some(true) => AgentUse::On,
            Some(false) => AgentUse::Off,
            None => AgentUse::Auto,
        };
        let host_keys = if self.insecure {
            HostKeyPolicy::InsecureAcceptAny
        } else {
            let path = match self
                .known_hosts
                .or_else(|| nonempty(ENV_KNOWN_HOSTS).map(PathBuf::from))
            {
                Some(p) => p,
                None => nonempty("HOME")
                    .map(|h| PathBuf::from(h).join(".ssh").join("known_hosts"))
                    .ok_or_else(|| {
                        Error::invalid_input(format!(
                            "no known_hosts file: HOME is not set; name one with \
                             `known_hosts(..)`, `?known_hosts=PATH` or {ENV_KNOWN_HOSTS}"
                        ))
                    })?,
            };
            HostKeyPolicy::KnownHosts(path)
        };
        let root = normalize_root(self.root.as_deref().unwrap_or("/"))?;
        Ok(Settings {
            host,
            port: self.port.unwrap_or(22),
            user,
            password,
            key_file,
            key_passphrase,
            agent,
            host_keys,
            root,
            timeout: self.timeout.unwrap_or(DEFAULT_TIMEOUT),
        })
    }
}

/// Checks an absolute remote root and removes trailing slashes (`/` stays `/`).
pub(crate) fn normalize_root(root: &str) -> Result<String> {
    if !root.starts_with('/') {
        return Err(Error::invalid_input(format!(
            "the SFTP root `{root}` must be an absolute path"
        )));
    }
    if root.contains('\0') {
        return Err(Error::invalid_input("the SFTP root contains a NUL byte"));
    }
    if root.split('/').any(|s| s == ".." || s == ".") {
        return Err(Error::invalid_input(
            "the SFTP root must not contain `.` or `..` segments",
        ));
    }
    let trimmed = root.trim_end_matches('/');
    Ok(if trimmed.is_empty() {
        "/".to_string()
    } else {
        trimmed.to_string()
    })
}

/// The builder an `sftp://` URL describes, and the URL's decoded path.
///
/// `sftp://user[:password]@host[:port]/path?known_hosts=..&insecure_host_key=true&key=..&root=..&agent=..&timeout=..`
pub(crate) fn builder_from_url(url: &url::Url) -> Result<(SftpBuilder, String)> {
    if url.scheme() != "sftp" {
        return Err(Error::invalid_input(format!(
            "the SFTP adapter opens `sftp://` URLs, not `{}://`",
            url.scheme()
        )));
    }
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| Error::invalid_input("the sftp:// URL names no host"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let mut b = SftpBuilder::new().host(host);
    if let Some(port) = url.port() {
        b = b.port(port);
    }
    let user = files_core::registry::percent_decode(url.username())?;
    if !user.is_empty() {
        b = b.user(user);
    }
    if let Some(pw) = url.password() {
        b = b.password(files_core::registry::percent_decode(pw)?);
    }
    let mut seen = BTreeMap::new();
    for (k, v) in url.query_pairs() {
        if seen.insert(k.to_string(), ()).is_some() {
            return Err(Error::invalid_input(format!(
                "the URL parameter `{k}` is given twice"
            )));
        }
        let v = v.into_owned();
        b = match k.as_ref() {
            "known_hosts" => b.known_hosts(v),
            "insecure_host_key" => {
                if parse_bool(&k, &v)? {
                    b.insecure_accept_any_host_key()
                } else {
                    b
                }
            }
            "key" => b.private_key_file(v),
            "root" => b.root(v),
            "agent" => b.use_agent(parse_bool(&k, &v)?),
            "timeout" => {
                let secs: u64 = v.parse().map_err(|_| {
                    Error::invalid_input("`timeout` must be a whole number of seconds")
                })?;
                b.timeout(Duration::from_secs(secs.max(1)))
            }
            "password" | "passphrase" | "key_passphrase" => {
                return Err(Error::invalid_input(format!(
                    "`{k}` is not accepted as a URL parameter: put the password in the URL's \
                     user info or in {ENV_PASSWORD}, a key passphrase in {ENV_KEY_PASSPHRASE}"
                )));
            }
            other => {
                return Err(Error::invalid_input(format!(
                    "unknown sftp:// URL parameter `{other}` (known: known_hosts, \
                     insecure_host_key, key, root, agent, timeout)"
                )));
            }
        };
    }
    let path = files_core::registry::percent_decode(url.path())?;
    Ok((b, path))
}

fn parse_bool(name: &str, v: &str) -> Result<bool> {
    match v {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(Error::invalid_input(format!(
            "`{name}` must be true or false"
        ))),
    }
}

impl SftpAdapter {
    /// An adapter for the store an `sftp://user[:password]@host[:port]/root?..` URL names
    /// (the path is the root directory); the same as
    /// [`Files::from_url`](files_core::Files::from_url) with the `sftp` scheme.
    pub fn from_url(url: &str) -> Result<SftpAdapter> {
        let parsed = url::Url::parse(url).map_err(|e| {
            Error::invalid_input(format!("`{}` is not a valid URL: {e}", redact_url(url)))
        })?;
        <Self as files_core::FromUrl>::from_url(&parsed)
    }
}

impl files_core::FromUrl for SftpAdapter {
    /// `sftp://user[:password]@host[:port]/root?..`: the path is the root directory.
    fn from_url(url: &url::Url) -> Result<SftpAdapter> {
        let (builder, path) = builder_from_url(url)?;
        let builder = if path.is_empty() || path == "/" {
            builder
        } else {
            builder.root(path)
        };
        builder.build()
    }
}

/// A URL as it may appear in a message: without its user info's password.
fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("redacted"));
            }
            Error::redacted(u.as_str())
        }
        Err(_) => match url.split_once('@') {
            Some((_, rest)) => format!("<redacted>@{}", Error::redacted(rest)),
            None => Error::redacted(url),
        },
    }
}

/// `sftp://user@host/abs/path/key[?root=/abs/path]`: the root is the `root` parameter (the path
/// must be under it) or `/`; the key is the rest of the path.
pub(crate) fn open_object(url: &url::Url) -> Result<(Arc<dyn Adapter>, String)> {
    let (builder, path) = builder_from_url(url)?;
    let adapter = builder.build()?;
    let root = adapter.root().to_string();
    let rest = if root == "/" {
        path.strip_prefix('/')
    } else {
        path.strip_prefix(root.as_str())
            .and_then(|r| r.strip_prefix('/'))
    }
    .ok_or_else(|| {
        Error::invalid_input(format!("the path `{path}` is not under the root `{root}`"))
    })?;
    if rest.is_empty() {
        return Err(Error::invalid_input(
            "the URL names the root directory, not an object in it",
        ));
    }
    adapter.validate_key(rest)?;
    let key = rest.to_string();
    Ok((Arc::new(adapter), key))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn url_parts() {
        let url = url::Url::parse(
            "sftp://bob:p%40ss@example.org:2222/srv/data/a%20b.txt?known_hosts=/tmp/kh&root=/srv/data",
        )
        .unwrap();
        let (b, path) = builder_from_url(&url).unwrap();
        assert_eq!(path, "/srv/data/a b.txt");
        let s = b.settings(&no_env).unwrap();
        assert_eq!(s.host, "example.org");
        assert_eq!(s.port, 2222);
        assert_eq!(s.user, "bob");
        assert_eq!(s.password, Some(Secret::new("p@ss")));
        assert_eq!(s.root, "/srv/data");
        assert_eq!(
            s.host_keys,
            HostKeyPolicy::KnownHosts(PathBuf::from("/tmp/kh"))
        );
        assert!(!format!("{s:?}").contains("p@ss"));
    }

    #[test]
    fn env_fills_the_gaps_and_the_builder_wins() {
        let env = |k: &str| match k {
            ENV_PASSWORD => Some("from-env".to_string()),
            ENV_KEY => Some("/keys/id".to_string()),
            ENV_KNOWN_HOSTS => Some("/env/kh".to_string()),
            ENV_USER => Some("envuser".to_string()),
            "HOME" => Some("/home/x".to_string()),
            _ => None,
        };
        let s = SftpBuilder::new()
            .host("h")
            .user("u")
            .settings(&env)
            .unwrap();
        assert_eq!(s.password, Some(Secret::new("from-env")));
        assert_eq!(s.key_file, Some(PathBuf::from("/keys/id")));
        assert_eq!(s.host_keys, HostKeyPolicy::KnownHosts("/env/kh".into()));
        let s = SftpBuilder::new().host("h").settings(&env).unwrap();
        assert_eq!(s.user, "envuser");
        assert!(SftpBuilder::new().host("h").settings(&no_env).is_err());
        let s = SftpBuilder::new()
            .host("h")
            .user("u")
            .password("mine")
            .known_hosts("/mine")
            .settings(&env)
            .unwrap();
        assert_eq!(s.password, Some(Secret::new("mine")));
        assert_eq!(s.host_keys, HostKeyPolicy::KnownHosts("/mine".into()));
        let home = |k: &str| (k == "HOME").then(|| "/home/x".to_string());
        let s = SftpBuilder::new()
            .host("h")
            .user("u")
            .settings(&home)
            .unwrap();
        assert_eq!(
            s.host_keys,
            HostKeyPolicy::KnownHosts("/home/x/.ssh/known_hosts".into())
        );
        let s = SftpBuilder::new()
            .host("h")
            .user("u")
            .insecure_accept_any_host_key()
            .settings(&env)
            .unwrap();
        assert_eq!(s.host_keys, HostKeyPolicy::InsecureAcceptAny);
    }

    #[test]
    fn refused_urls() {
        for bad in [
            "sftp://u@h/x?password=secret",
            "sftp://u@h/x?bogus=1",
            "sftp://u@h/x?root=relative",
            "sftp://u@h/x?root=/a/../b",
            "sftp://u@h/x?insecure_host_key=maybe",
            "sftp://u@h/x?key=a&key=b",
        ] {
            let url = url::Url::parse(bad).unwrap();
            let r = builder_from_url(&url).and_then(|(b, _)| b.settings(&no_env));
            let e = r.expect_err(bad);
            assert_eq!(e.kind(), files_core::ErrorKind::InvalidInput, "{bad}");
            assert!(!e.to_string().contains("secret"), "{e}");
        }
        assert_eq!(normalize_root("/a/b//").unwrap(), "/a/b");
        assert_eq!(normalize_root("///").unwrap(), "/");
    }

    #[test]
    fn debug_hides_secrets() {
        let b = SftpBuilder::new()
            .host("h")
            .user("u")
            .password("hunter2")
            .private_key_passphrase("pp-secret");
        let text = format!("{b:?}");
        assert!(
            !text.contains("hunter2") && !text.contains("pp-secret"),
            "{text}"
        );
    }
}
