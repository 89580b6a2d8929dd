//! One SSH connection with its SFTP session: connecting, host-key checking, authentication,
//! and the SFTP requests the adapter makes (their errors are mapped onto
//! [`files_core::ErrorKind`] in `errors.rs`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use files_core::{Error, ErrorKind, Result};
use futures::StreamExt;
use russh::client::{self, AuthResult};
use russh::keys::{HashAlg, PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate};
use russh_sftp::client::RawSftpSession;
use russh_sftp::client::error::Error as SftpError;
use russh_sftp::protocol::{FileAttributes, OpenFlags, Packet, StatusCode};

use crate::config::{AgentUse, HostKeyPolicy, Settings};
use crate::errors::{key_error_text, sftp_error, ssh_error};

/// The SFTP extension of OpenSSH for a rename that replaces the target atomically.
const POSIX_RENAME: &str = "posix-rename@openssh.com";
/// The SFTP extension of OpenSSH that `fsync`s an open file.
const FSYNC: &str = "fsync@openssh.com";
/// The SFTP extension of OpenSSH announcing the server's packet limits.
const LIMITS: &str = "limits@openssh.com";
/// Write and read requests in flight at once on one file.
pub(crate) const PIPELINE: usize = 16;

/// What went wrong while connecting, carried through russh's handler.
#[derive(Debug)]
pub(crate) enum ConnectError {
    Ssh(russh::Error),
    HostKey(Error),
}

impl From<russh::Error> for ConnectError {
    fn from(e: russh::Error) -> Self {
        ConnectError::Ssh(e)
    }
}

/// The russh client handler: checks the host key.
pub(crate) struct Client {
    host: String,
    port: u16,
    policy: HostKeyPolicy,
}

impl client::Handler for Client {
    type Error = ConnectError;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> std::result::Result<bool, Self::Error> {
        let key = match key {
            PublicKeyOrCertificate::PublicKey { key, .. } => key.clone(),
            PublicKeyOrCertificate::Certificate(cert) => PublicKey::from(cert.public_key().clone()),
        };
        check_host_key(&self.host, self.port, &self.policy, &key)
            .map(|()| true)
            .map_err(ConnectError::HostKey)
    }
}

/// `SHA256:...` and the key's algorithm, as `ssh-keygen -l` shows them.
pub(crate) fn describe_key(key: &PublicKey) -> String {
    format!(
        "{} {}",
        key.algorithm().as_str(),
        key.fingerprint(HashAlg::Sha256)
    )
}

/// Checks `key` against the policy: `Ok` to trust it, else an `Unauthorized` error naming the
/// host and the fingerprint.
pub(crate) fn check_host_key(
    host: &str,
    port: u16,
    policy: &HostKeyPolicy,
    key: &PublicKey,
) -> Result<()> {
    let path = match policy {
        HostKeyPolicy::InsecureAcceptAny => {
            tracing::warn!(
                host,
                port,
                key = %describe_key(key),
                "accepting the SFTP server's host key without checking it (insecure)"
            );
            return Ok(());
        }
        HostKeyPolicy::KnownHosts(path) => path,
    };
    let name = if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    };
    let unauthorized = |msg: String| Error::new(ErrorKind::Unauthorized, msg);
    match russh::keys::check_known_hosts_path(host, port, key, path) {
        Ok(true) => Ok(()),
        Ok(false) => Err(unauthorized(format!(
            "the host key of {name} ({}) is not in the known_hosts file {}: the server is \
             unknown, so the connection was refused. Check the fingerprint with the server's \
             administrator and add the key (e.g. `ssh-keyscan -p {port} {host} >> {}`), name \
             another file (known_hosts=PATH, FILES_SFTP_KNOWN_HOSTS), or, for a throw-away \
             test server only, opt out with insecure_host_key=true",
            describe_key(key),
            path.display(),
            path.display()
        ))),
        Err(russh::keys::Error::KeyChanged { line }) => Err(unauthorized(format!(
            "the host key of {name} CHANGED: the server presented {}, which differs from the \
             key on line {line} of {}. Someone may be intercepting the connection (a \
             man-in-the-middle attack), or the server's key was replaced; the connection was \
             refused. If the change is expected, update that line",
            describe_key(key),
            path.display()
        ))),
        Err(e) => Err(unauthorized(format!(
            "cannot check the host key of {name} ({}) against {}: {e}",
            describe_key(key),
            path.display()
        ))),
    }
}

/// An SSH connection and its SFTP session.
pub(crate) struct Conn {
    ssh: client::Handle<Client>,
    sftp: RawSftpSession,
    broken: AtomicBool,
    posix_rename: bool,
    fsync: bool,
    /// Largest data payload of one write request.
    pub write_len: usize,
    /// Largest data payload asked for in one read request.
    pub read_len: u32,
}

impl Conn {
    /// Whether the connection can still carry requests.
    pub fn usable(&self) -> bool {
        !self.broken.load(Ordering::Relaxed) && !self.ssh.is_closed()
    }

    /// Marks the connection as unusable: the adapter opens a new one for the next call.
    pub fn mark_broken(&self) {
        self.broken.store(true, Ordering::Relaxed);
    }

    /// Connects, checks the host key, authenticates and starts the SFTP subsystem.
    pub async fn connect(s: &Settings) -> Result<Conn> {
        let fut = Self::connect_inner(s);
        match tokio::time::timeout(s.timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(Error::new(
                ErrorKind::Timeout,
                format!(
                    "connecting to the SFTP server {}:{} took longer than {:?}",
                    s.host, s.port, s.timeout
                ),
            )),
        }
    }

    async fn connect_inner(s: &Settings) -> Result<Conn> {
        let config = Arc::new(client::Config {
            inactivity_timeout: None,
            keepalive_interval: Some(Duration::from_secs(30)),
            keepalive_max: 4,
            nodelay: true,
            ..Default::default()
        });
        let handler = Client {
            host: s.host.clone(),
            port: s.port,
            policy: s.host_keys.clone(),
        };
        let whom = format!("{}:{}", s.host, s.port);
        let mut ssh = client::connect(config, (s.host.as_str(), s.port), handler)
            .await
            .map_err(|e| match e {
                ConnectError::HostKey(e) => e,
                ConnectError::Ssh(e) => ssh_error(e, &format!("connecting to {whom}")),
            })?;
        authenticate(&mut ssh, s).await?;
        let channel = ssh
            .channel_open_session()
            .await
            .map_err(|e| ssh_error(e, "opening an SSH session channel"))?;
        channel
            .request_subsystem(true, "sftp")
            .await
            .map_err(|e| ssh_error(e, "starting the sftp subsystem"))?;
        let cfg = russh_sftp::client::Config {
            request_timeout_secs: s.timeout.as_secs().max(1),
            ..Default::default()
        };
        let mut sftp = RawSftpSession::new_with_config(channel.into_stream(), cfg);
        let version = sftp
            .init()
            .await
            .map_err(|e| sftp_error(e, "starting the SFTP session", &whom))?;
        let has = |name: &str| version.extensions.contains_key(name);
        let (mut write_len, mut read_len) = (32 * 1024, 32 * 1024u32);
        if has(LIMITS)
            && let Ok(limits) = sftp.limits().await
        {
            let limits = russh_sftp::client::rawsession::Limits::from(limits);
            // Leave room for the request's header within the packet limit.
            let packet = limits.packet_len.unwrap_or(256 * 1024).saturating_sub(1024);
            write_len = limits
                .write_len
                .unwrap_or(packet)
                .min(packet)
                .min(255 * 1024) as usize;
            read_len = limits
                .read_len
                .unwrap_or(packet)
                .min(packet)
                .min(255 * 1024) as u32;
            sftp.set_limits(limits);
        }
        Ok(Conn {
            ssh,
            sftp,
            broken: AtomicBool::new(false),
            posix_rename: has(POSIX_RENAME),
            fsync: has(FSYNC),
            write_len: write_len.max(1024),
            read_len: read_len.max(1024),
        })
    }

    // ----------------------------------------------------------------------- requests

    fn fail(&self, e: SftpError, what: &str, path: &str) -> Error {
        let err = sftp_error(e, what, path);
        if matches!(err.kind(), ErrorKind::Transient | ErrorKind::Timeout) {
            self.mark_broken();
        }
        err
    }

    /// `stat` (follows symbolic links).
    pub async fn stat(&self, path: &str) -> Result<FileAttributes> {
        self.sftp
            .stat(path)
            .await
            .map(|a| a.attrs)
            .map_err(|e| self.fail(e, "stat", path))
    }

    /// `lstat` (does not follow symbolic links).
    pub async fn lstat(&self, path: &str) -> Result<FileAttributes> {
        self.sftp
            .lstat(path)
            .await
            .map(|a| a.attrs)
            .map_err(|e| self.fail(e, "lstat", path))
    }

    /// `stat`, with "no such file" as `None`.
    pub async fn stat_opt(&self, path: &str) -> Result<Option<FileAttributes>> {
        match self.stat(path).await {
            Ok(a) => Ok(Some(a)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Opens a file; returns its handle.
    pub async fn open(&self, path: &str, flags: OpenFlags) -> Result<String> {
        self.sftp
            .open(path, flags, FileAttributes::empty())
            .await
            .map(|h| h.handle)
            .map_err(|e| self.fail(e, "open", path))
    }

    /// Closes a handle.
    pub async fn close(&self, handle: &str) -> Result<()> {
        self.sftp
            .close(handle)
            .await
            .map(|_| ())
            .map_err(|e| self.fail(e, "close", ""))
    }

    /// `fstat` of an open handle.
    pub async fn fstat(&self, handle: &str, path: &str) -> Result<FileAttributes> {
        self.sftp
            .fstat(handle)
            .await
            .map(|a| a.attrs)
            .map_err(|e| self.fail(e, "fstat", path))
    }

    /// Truncates (or extends) an open file to `size` bytes.
    pub async fn ftruncate(&self, handle: &str, size: u64, path: &str) -> Result<()> {
        let attrs = FileAttributes {
            size: Some(size),
            ..FileAttributes::empty()
        };
        self.sftp
            .fsetstat(handle, attrs)
            .await
            .map(|_| ())
            .map_err(|e| self.fail(e, "truncate", path))
    }

    /// Flushes an open file to the server's disk where the server offers `fsync@openssh.com`;
    /// a no-op elsewhere.
    pub async fn fsync(&self, handle: &str, path: &str) -> Result<()> {
        if !self.fsync {
            return Ok(());
        }
        self.sftp
            .fsync(handle)
            .await
            .map(|_| ())
            .map_err(|e| self.fail(e, "fsync", path))
    }

    /// Writes `data` at `offset`, in requests of at most `write_len` bytes with up to
    /// [`PIPELINE`] in flight. On failure returns the error and how many bytes from `offset`
    /// are known to be contiguous on the server (every request up to the first failure
    /// succeeded); later requests may have landed too.
    pub async fn write_at(
        &self,
        handle: &str,
        offset: u64,
        data: &Bytes,
        path: &str,
    ) -> std::result::Result<(), (Error, u64, bool)> {
        let step = self.write_len;
        let pieces: Vec<(usize, usize)> = (0..data.len())
            .step_by(step)
            .map(|s| (s, (s + step).min(data.len())))
            .collect();
        let results: Vec<(usize, usize, std::result::Result<(), SftpError>)> =
            futures::stream::iter(pieces)
                .map(|(s, e)| {
                    let chunk = data.slice(s..e).to_vec();
                    async move {
                        let r = self
                            .sftp
                            .write(handle, offset + s as u64, chunk)
                            .await
                            .map(|_| ());
                        (s, e, r)
                    }
                })
                .buffer_unordered(PIPELINE)
                .collect()
                .await;
        let mut failures: Vec<(usize, SftpError)> = Vec::new();
        let mut ok_ends: Vec<(usize, usize)> = Vec::new();
        for (s, e, r) in results {
            match r {
                Ok(()) => ok_ends.push((s, e)),
                Err(err) => failures.push((s, err)),
            }
        }
        if failures.is_empty() {
            return Ok(());
        }
        failures.sort_by_key(|(s, _)| *s);
        let (first_fail, err) = failures.swap_remove(0);
        let landed_beyond = ok_ends.iter().any(|(s, _)| *s > first_fail);
        Err((
            self.fail(err, "write", path),
            first_fail as u64,
            landed_beyond,
        ))
    }

    /// Reads exactly `len` bytes at `offset` (several requests if the server answers short).
    /// A file that ends first is a `Conflict` (it changed while being read).
    pub async fn read_exact_at(
        &self,
        handle: &str,
        offset: u64,
        len: usize,
        path: &str,
    ) -> Result<Bytes> {
        let mut out = Vec::with_capacity(len);
        while out.len() < len {
            let want = ((len - out.len()) as u64).min(self.read_len as u64) as u32;
            let at = offset + out.len() as u64;
            match self.sftp.read(handle, at, want).await {
                Ok(d) if !d.data.is_empty() => out.extend_from_slice(&d.data),
                Ok(_) => return Err(ended_early(at)),
                Err(SftpError::Status(s)) if s.status_code == StatusCode::Eof => {
                    return Err(ended_early(at));
                }
                Err(e) => return Err(self.fail(e, "read", path)),
            }
        }
        Ok(Bytes::from(out))
    }

    /// Removes a file.
    pub async fn remove(&self, path: &str) -> Result<()> {
        self.sftp
            .remove(path)
            .await
            .map(|_| ())
            .map_err(|e| self.fail(e, "remove", path))
    }

    /// Creates a directory.
    pub async fn mkdir(&self, path: &str) -> Result<()> {
        self.sftp
            .mkdir(path, FileAttributes::empty())
            .await
            .map(|_| ())
            .map_err(|e| self.fail(e, "mkdir", path))
    }

    /// Removes an empty directory.
    pub async fn rmdir(&self, path: &str) -> Result<()> {
        self.sftp
            .rmdir(path)
            .await
            .map(|_| ())
            .map_err(|e| self.fail(e, "rmdir", path))
    }

    /// Renames `from` to `to`, replacing `to` atomically with `posix-rename@openssh.com` where
    /// the server offers it; elsewhere removes `to` first (not atomic) and uses the plain
    /// SFTP rename, which refuses an existing target.
    pub async fn rename_over(&self, from: &str, to: &str) -> Result<()> {
        if self.posix_rename {
            let mut data = Vec::with_capacity(8 + from.len() + to.len());
            for s in [from, to] {
                data.extend_from_slice(&(s.len() as u32).to_be_bytes());
                data.extend_from_slice(s.as_bytes());
            }
            return match self.sftp.extended(POSIX_RENAME, data).await {
                Ok(Packet::Status(st)) if st.status_code == StatusCode::Ok => Ok(()),
                Ok(Packet::Status(st)) => Err(self.fail(SftpError::Status(st), "rename", from)),
                Ok(_) => Err(Error::new(
                    ErrorKind::Other,
                    "the server answered posix-rename with an unexpected packet",
                )),
                Err(e) => Err(self.fail(e, "rename", from)),
            };
        }
        match self.remove(to).await {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        self.sftp
            .rename(from, to)
            .await
            .map(|_| ())
            .map_err(|e| self.fail(e, "rename", from))
    }

    /// Every entry of a directory (without `.` and `..`), with `lstat`-style attributes.
    pub async fn read_dir(&self, path: &str) -> Result<Vec<(String, FileAttributes)>> {
        let handle = self
            .sftp
            .opendir(path)
            .await
            .map(|h| h.handle)
            .map_err(|e| self.fail(e, "opendir", path))?;
        let mut out = Vec::new();
        let result = loop {
            match self.sftp.readdir(handle.as_str()).await {
                Ok(name) => {
                    for f in name.files {
                        if f.filename != "." && f.filename != ".." {
                            out.push((f.filename, f.attrs));
                        }
                    }
                }
                Err(SftpError::Status(s)) if s.status_code == StatusCode::Eof => break Ok(()),
                Err(e) => break Err(self.fail(e, "readdir", path)),
            }
        };
        let _ = self.sftp.close(handle.as_str()).await;
        result.map(|()| out)
    }
}

fn ended_early(at: u64) -> Error {
    Error::conflict(format!(
        "the file ended at {at} bytes while being read (it changed during the download)"
    ))
}

async fn authenticate(ssh: &mut client::Handle<Client>, s: &Settings) -> Result<()> {
    let mut tried: Vec<&str> = Vec::new();
    let auth_err = |e: russh::Error| ssh_error(e, "authenticating");
    if let Some(path) = &s.key_file {
        tried.push("publickey (key file)");
        let key = russh::keys::load_secret_key(path, s.key_passphrase.as_ref().map(|p| p.expose()))
            .map_err(|e| {
                Error::invalid_input(format!(
                    "cannot load the private key {}: {}",
                    path.display(),
                    key_error_text(&e)
                ))
            })?;
        let hash = ssh
            .best_supported_rsa_hash()
            .await
            .map_err(auth_err)?
            .flatten();
        let r = ssh
            .authenticate_publickey(&s.user, PrivateKeyWithHashAlg::new(Arc::new(key), hash))
            .await
            .map_err(auth_err)?;
        if r.success() {
            return Ok(());
        }
    }
    let agent = match s.agent {
        AgentUse::On => true,
        AgentUse::Off => false,
        AgentUse::Auto => s.key_file.is_none() && s.password.is_none(),
    };
    if agent && std::env::var_os("SSH_AUTH_SOCK").is_some() {
        tried.push("publickey (ssh-agent)");
        if try_agent(ssh, s).await? {
            return Ok(());
        }
    }
    if let Some(pw) = &s.password {
        tried.push("password");
        let r = ssh
            .authenticate_password(&s.user, pw.expose())
            .await
            .map_err(auth_err)?;
        if let AuthResult::Success = r {
            return Ok(());
        }
    }
    let tried = if tried.is_empty() {
        "none: configure a password, a key file or an ssh-agent".to_string()
    } else {
        tried.join(", ")
    };
    Err(Error::new(
        ErrorKind::Unauthorized,
        format!(
            "the SFTP server {}:{} refused the login of user `{}` (methods tried: {tried})",
            s.host, s.port, s.user
        ),
    )
    .with_retryable(false))
}

async fn try_agent(ssh: &mut client::Handle<Client>, s: &Settings) -> Result<bool> {
    let mut agent = match russh::keys::agent::client::AgentClient::connect_env().await {
        Ok(a) => a,
        Err(e) => {
            tracing::debug!("cannot reach the ssh-agent: {e}");
            return Ok(false);
        }
    };
    let identities = match agent.request_identities().await {
        Ok(ids) => ids,
        Err(e) => {
            tracing::debug!("the ssh-agent lists no identities: {e}");
            return Ok(false);
        }
    };
    let hash = ssh
        .best_supported_rsa_hash()
        .await
        .map_err(|e| ssh_error(e, "authenticating"))?
        .flatten();
    for id in identities {
        let key = id.public_key().into_owned();
        match ssh
            .authenticate_publickey_with(&s.user, key, hash, &mut agent)
            .await
        {
            Ok(r) if r.success() => return Ok(true),
            Ok(_) => {}
            Err(e) => tracing::debug!("the ssh-agent could not sign: {e}"),
        }
    }
    Ok(false)
}
