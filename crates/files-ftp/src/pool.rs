//! A small pool of logged-in control connections.
//!
//! An FTP control connection is stateful and serial: one command at a time, and a transfer
//! occupies it until its completion reply is read. The pool hands out at most
//! `max_connections` of them (a semaphore), reuses idle ones, and drops every connection whose
//! operation did not end cleanly: a [`Lease`] goes back to the pool only after
//! [`Lease::release`], which operations call once the conversation is in sync again. A dropped
//! future (cancellation) or a connection error therefore never leaves a half-read reply for the
//! next operation.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use files_core::{Error, ErrorKind, Result};
use suppaftp::tokio::{AsyncRustlsConnector, AsyncRustlsFtpStream};
use suppaftp::types::FileType;
use suppaftp::{Mode, Status};
use tokio::sync::{OnceCell, OwnedSemaphorePermit, Semaphore};

use crate::config::{Config, PassiveMode, Security};
use crate::errors::{On550, map};

/// A connection idle for longer than this is checked with `NOOP` before it is reused (servers
/// close idle sessions, typically after 300 s).
const CHECK_AFTER_IDLE: Duration = Duration::from_secs(20);

/// What suppaftp is given (and traces) in place of the password.
const PASSWORD_PLACEHOLDER: &str = "<password withheld by files-ftp>";

/// UTF-8, except that the line `PASS <placeholder>` is encoded as `PASS <password>`: the
/// password reaches the wire without passing through suppaftp's `log` trace of commands.
struct PasswordEncoding {
    password: files_core::Secret,
}

impl std::fmt::Debug for PasswordEncoding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordEncoding(utf-8)")
    }
}

impl suppaftp::Encoding for PasswordEncoding {
    fn decode(&self, bytes: &[u8]) -> String {
        String::from_utf8_lossy(bytes).into_owned()
    }

    fn encode(&self, text: &str) -> std::io::Result<Vec<u8>> {
        let line = text.strip_suffix("\r\n").unwrap_or(text);
        if line.strip_prefix("PASS ") == Some(PASSWORD_PLACEHOLDER) {
            let mut out = Vec::with_capacity(self.password.expose().len() + 7);
            out.extend_from_slice(b"PASS ");
            out.extend_from_slice(self.password.expose().as_bytes());
            out.extend_from_slice(&text.as_bytes()[line.len()..]);
            return Ok(out);
        }
        Ok(text.as_bytes().to_vec())
    }
}

/// What the first connection learned about the server.
#[derive(Debug, Clone)]
pub(crate) struct ServerInfo {
    /// The absolute directory keys live under.
    pub(crate) root: String,
    /// `MLSD` is available (the server lists `MLST` in `FEAT`).
    pub(crate) mlsd: bool,
    /// `EPSV` is used for data connections.
    pub(crate) epsv: bool,
}

pub(crate) struct Conn {
    pub(crate) ftp: AsyncRustlsFtpStream,
    idle_since: Instant,
}

pub(crate) struct Pool {
    pub(crate) config: Arc<Config>,
    idle: Mutex<Vec<Conn>>,
    permits: Arc<Semaphore>,
    info: OnceCell<Arc<ServerInfo>>,
}

/// A connection lent to one operation, with the server's facts.
pub(crate) struct Lease {
    /// Bumped whenever the operation moves (a command sent, a data chunk moved); the
    /// I/O-timeout watchdog of [`crate::FtpAdapter`] fails an operation that stops moving.
    pub(crate) progress: Arc<std::sync::atomic::AtomicU64>,
    conn: Option<Conn>,
    pool: Arc<Pool>,
    pub(crate) info: Arc<ServerInfo>,
    broken: bool,
    _permit: OwnedSemaphorePermit,
}

impl Lease {
    /// The control connection (and a sign of progress: a command is about to be sent).
    pub(crate) fn ftp(&mut self) -> &mut AsyncRustlsFtpStream {
        self.touch();
        &mut self
            .conn
            .as_mut()
            .expect("a lease holds its connection")
            .ftp
    }

    /// Ends the lease: the connection goes back to the pool unless it was marked broken.
    /// A lease dropped without `release` (an operation cut short) discards its connection.
    pub(crate) fn release(mut self) {
        if !self.broken
            && let Some(mut conn) = self.conn.take()
        {
            conn.idle_since = Instant::now();
            if let Ok(mut idle) = self.pool.idle.lock() {
                idle.push(conn);
            }
        }
    }

    /// Records progress (see [`Lease::progress`]).
    pub(crate) fn touch(&self) {
        self.progress
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Marks the connection as out of sync: it is closed when the lease ends.
    pub(crate) fn mark_broken(&mut self) {
        self.broken = true;
    }

    /// Maps a command's result: an error that leaves the control connection out of sync (no
    /// complete reply) marks it broken.
    pub(crate) fn check<T>(
        &mut self,
        result: suppaftp::FtpResult<T>,
        operation: &'static str,
        on550: On550,
    ) -> Result<T> {
        result.map_err(|e| {
            if !crate::errors::connection_survives(&e) {
                self.broken = true;
            }
            map(e, operation, on550)
        })
    }
}

impl Pool {
    pub(crate) fn new(config: Arc<Config>) -> Arc<Pool> {
        Arc::new(Pool {
            permits: Arc::new(Semaphore::new(config.max_connections)),
            config,
            idle: Mutex::new(Vec::new()),
            info: OnceCell::new(),
        })
    }

    /// A connection: an idle one (checked with `NOOP` if it idled long), or a new one. Waits
    /// while `max_connections` are lent out. Cancel-safe: nothing is lent until it returns.
    pub(crate) async fn get(self: &Arc<Self>) -> Result<Lease> {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::new(ErrorKind::Other, "the FTP connection pool is closed"))?;
        loop {
            let candidate = self.idle.lock().ok().and_then(|mut idle| idle.pop());
            let Some(mut conn) = candidate else { break };
            if conn.idle_since.elapsed() > CHECK_AFTER_IDLE
                && !matches!(
                    tokio::time::timeout(self.config.io_timeout, conn.ftp.noop()).await,
                    Ok(Ok(()))
                )
            {
                continue; // the server closed it (or does not answer); try the next or connect anew
            }
            let info = self.info(&mut conn).await?;
            return Ok(Lease {
                progress: Arc::default(),
                conn: Some(conn),
                pool: self.clone(),
                info,
                broken: false,
                _permit: permit,
            });
        }
        let mut conn = self.connect().await?;
        let info = self.info(&mut conn).await?;
        Ok(Lease {
            progress: Arc::default(),
            conn: Some(conn),
            pool: self.clone(),
            info,
            broken: false,
            _permit: permit,
        })
    }

    async fn info(&self, conn: &mut Conn) -> Result<Arc<ServerInfo>> {
        let info = self
            .info
            .get_or_try_init(|| async {
                let home = conn
                    .ftp
                    .pwd()
                    .await
                    .map_err(|e| map(e, "connect", On550::Refused))?;
                let feat = conn.ftp.feat().await.unwrap_or_default();
                let has = |name: &str| feat.keys().any(|k| k.eq_ignore_ascii_case(name));
                let epsv = match self.config.passive {
                    PassiveMode::Auto => has("EPSV"),
                    PassiveMode::Extended => true,
                    PassiveMode::Classic => false,
                };
                let info = ServerInfo {
                    root: self.config.root.resolve(&home),
                    mlsd: has("MLST") || has("MLSD"),
                    epsv,
                };
                tracing::debug!(root = %info.root, mlsd = info.mlsd, epsv = info.epsv, "FTP server facts");
                Ok::<_, Error>(Arc::new(info))
            })
            .await?
            .clone();
        conn.ftp.set_mode(if info.epsv {
            Mode::ExtendedPassive
        } else {
            Mode::Passive
        });
        Ok(info)
    }

    /// Opens, secures (FTPS) and logs in a new control connection, in binary mode.
    async fn connect(&self) -> Result<Conn> {
        let cfg = &self.config;
        let timeout = cfg.connect_timeout;
        let fut = async {
            let addr = format!("{}:{}", cfg.host, cfg.port);
            let tcp = tokio::net::TcpStream::connect(addr.as_str())
                .await
                .map_err(|e| {
                    Error::from_io(e)
                        .with_retryable(true)
                        .with_operation("connect")
                        .with_provider("ftp")
                })?;
            let _ = tcp.set_nodelay(true);
            let mut ftp = AsyncRustlsFtpStream::connect_with_stream(tcp)
                .await
                .map_err(|e| map(e, "connect", On550::Refused))?;
            // PASV replies name an address; use the control connection's peer instead.
            ftp.set_passive_nat_workaround(true);
            if cfg.security == Security::ExplicitTls {
                let roots = cfg
                    .roots
                    .clone()
                    .ok_or_else(|| Error::new(ErrorKind::Other, "FTPS without trusted roots"))?;
                let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
                let mut tls = rustls::ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .map_err(|e| Error::new(ErrorKind::Other, format!("TLS set-up: {e}")))?
                    .with_root_certificates(roots)
                    .with_no_client_auth();
                // A session cache of its own: data connections resume *this* control
                // connection's TLS session (servers like vsftpd require it), not another's.
                tls.resumption = rustls::client::Resumption::in_memory_sessions(8);
                let connector = AsyncRustlsConnector::from(
                    suppaftp::tokio_rustls::TlsConnector::from(Arc::new(tls)),
                );
                ftp = ftp
                    .into_secure(connector, &cfg.host)
                    .await
                    .map_err(|e| map(e, "connect", On550::Refused))?;
            }
            // suppaftp traces every command it sends, `PASS <password>` included, through the
            // `log` crate. It is handed a placeholder instead, and the encoding (which turns
            // each command line into bytes, after the trace) puts the password in its place.
            ftp.set_encoding(PasswordEncoding {
                password: cfg.password.clone(),
            })
            .await;
            ftp.login(cfg.user.as_str(), PASSWORD_PLACEHOLDER)
                .await
                .map_err(|e| match e {
                    suppaftp::FtpError::UnexpectedResponse(r) => {
                        let code = r.status.code();
                        if code == 530 || (500..600).contains(&code) {
                            Error::new(
                                ErrorKind::Unauthorized,
                                format!(
                                    "the FTP server refused the login of user `{}` ({code})",
                                    cfg.user
                                ),
                            )
                            .with_retryable(false)
                            .with_operation("login")
                            .with_provider("ftp")
                        } else {
                            map(
                                suppaftp::FtpError::UnexpectedResponse(r),
                                "login",
                                On550::Refused,
                            )
                        }
                    }
                    other => map(other, "login", On550::Refused),
                })?;
            ftp.transfer_type(FileType::Binary)
                .await
                .map_err(|e| map(e, "connect", On550::Refused))?;
            // File names are UTF-8; servers that always are may refuse the option.
            let _ = ftp
                .custom_command(
                    "OPTS UTF8 ON",
                    &[
                        Status::CommandOk,
                        Status::CommandNotImplemented,
                        Status::BadArguments,
                        Status::BadCommand,
                        Status::NotImplemented,
                        Status::FileUnavailable,
                    ],
                )
                .await;
            Ok::<_, Error>(ftp)
        };
        let ftp = match tokio::time::timeout(timeout, fut).await {
            Ok(r) => r?,
            Err(_) => {
                return Err(Error::new(
                    ErrorKind::Timeout,
                    format!(
                        "connecting to the FTP server {}:{} took longer than {timeout:?}",
                        cfg.host, cfg.port
                    ),
                )
                .with_operation("connect")
                .with_provider("ftp"));
            }
        };
        Ok(Conn {
            ftp,
            idle_since: Instant::now(),
        })
    }
}

#[cfg(test)]
mod password_encoding_tests {
    use suppaftp::Encoding;

    use super::{PASSWORD_PLACEHOLDER, PasswordEncoding};
    use files_core::Secret;

    #[test]
    fn only_the_placeholder_pass_line_carries_the_password() {
        let enc = PasswordEncoding {
            password: Secret::new("pä ss:word"),
        };
        let pass = enc
            .encode(&format!("PASS {PASSWORD_PLACEHOLDER}\r\n"))
            .unwrap();
        assert_eq!(pass, "PASS pä ss:word\r\n".as_bytes());
        // Anything else goes out as typed, placeholder or not.
        for line in [
            "USER bob\r\n",
            "STOR pass.txt\r\n",
            &format!("STOR {PASSWORD_PLACEHOLDER}\r\n"),
            "PASS other\r\n",
        ] {
            assert_eq!(enc.encode(line).unwrap(), line.as_bytes());
        }
        assert!(!format!("{enc:?}").contains("ss:wo"));
        assert_eq!(enc.decode("é".as_bytes()), "é");
    }
}
