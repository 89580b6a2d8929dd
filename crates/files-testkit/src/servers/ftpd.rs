//! FTP test servers: pyftpdlib (PyPI, plain FTP and FTPS) and Debian's vsftpd (plain FTP and
//! FTPS), each on a free `127.0.0.1` port over a fresh temporary directory, killed on drop.
//!
//! - [`FtpServer::pyftpdlib`] runs a small script over `pyftpdlib` from the test venv
//!   (`servers::venv_bin("python")`) with the user [`FTP_USER`] / [`FTP_PASSWORD`]; with TLS it
//!   uses `TLS_FTPHandler` and requires TLS on the control and data connections.
//! - [`FtpServer::vsftpd`] runs `/usr/sbin/vsftpd` in the foreground with a generated
//!   configuration (no seccomp sandbox, local users chrooted into the served directory). It
//!   logs in real system users, so it needs root: the harness creates the system user
//!   [`VSFTPD_USER`] (once, `useradd`) and sets its password to [`FTP_PASSWORD`] (`chpasswd`).
//!   With TLS it requires TLS for logins and data, and session reuse on data connections
//!   (`require_ssl_reuse=YES`, vsftpd's default).
//!
//! FTPS servers present a certificate for `127.0.0.1` / `localhost` signed by a test CA,
//! generated once into [`servers::servers_dir`]`/ftp-tls` with the `openssl` CLI (or Python's
//! `cryptography` when there is no `openssl`); [`FtpServer::ca_file`] is the CA to trust.
//!
//! The shared servers ([`shared_pyftpdlib`], [`shared_pyftpdlib_tls`], [`shared_vsftpd`],
//! [`shared_vsftpd_tls`]) start once per test process; give each test its own directory with
//! [`FtpServer::new_root`].
//!
//! ```no_run
//! #[tokio::test]
//! async fn my_ftp_test() {
//!     let ftp = files_testkit::require_server!(files_testkit::ftpd::pyftpdlib_or_skip());
//!     let root = ftp.new_root("my-test");
//!     let _ = (ftp.port(), ftp.user(), ftp.password(), ftp.dir().join(&root));
//! }
//! ```

use std::fs;
use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::servers::{self, ServerProcess};

/// The user pyftpdlib accepts.
pub const FTP_USER: &str = "files-ftp-test";
/// The password of [`FTP_USER`] and [`VSFTPD_USER`] (a recognizable fake that tests search
/// for in outputs to prove it never leaks).
pub const FTP_PASSWORD: &str = "ftp-test-pw-5e7c1a";
/// The system user vsftpd logs in (created by the harness).
pub const VSFTPD_USER: &str = "filesftptest";

/// Which daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FtpDaemon {
    /// pyftpdlib.
    Pyftpdlib,
    /// Debian's vsftpd.
    Vsftpd,
}

/// A running FTP server (killed on drop) over a temporary directory.
#[derive(Debug)]
pub struct FtpServer {
    daemon: FtpDaemon,
    tls: bool,
    user: &'static str,
    process: ServerProcess,
    dir: PathBuf,
    _tmp: tempfile::TempDir,
}

impl FtpServer {
    /// Starts pyftpdlib (installed with [`servers::ensure_all_installed`]) serving a fresh
    /// temporary directory, with explicit FTPS required when `tls` is set.
    pub fn pyftpdlib(tls: bool) -> Result<FtpServer, String> {
        servers::ensure_all_installed()?;
        let tmp = crate::servers::scratch::scratch_dir(&std::env::temp_dir(), "ftpd")?;
        let dir = tmp.path().join("data");
        fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let script = tmp.path().join("ftpd.py");
        fs::write(&script, PYFTPDLIB_SCRIPT)
            .map_err(|e| format!("cannot write the script: {e}"))?;
        let certs = if tls { Some(test_certs()?) } else { None };
        let python = servers::venv_bin("python");
        let process = ServerProcess::start(
            if tls { "pyftpdlib-tls" } else { "pyftpdlib" },
            |port| {
                let mut c = Command::new(&python);
                c.arg(&script)
                    .arg(port.to_string())
                    .arg(&dir)
                    .arg(FTP_USER)
                    .arg(FTP_PASSWORD);
                if let Some(certs) = &certs {
                    c.arg(&certs.server_cert).arg(&certs.server_key);
                }
                c
            },
            greets,
        )?;
        Ok(FtpServer {
            daemon: FtpDaemon::Pyftpdlib,
            tls,
            user: FTP_USER,
            process,
            dir,
            _tmp: tmp,
        })
    }

    /// Starts vsftpd serving a fresh temporary directory, as the system user [`VSFTPD_USER`]
    /// (created if missing; needs root), with explicit FTPS required when `tls` is set.
    pub fn vsftpd(tls: bool) -> Result<FtpServer, String> {
        servers::ensure_all_installed()?;
        let bin = Path::new("/usr/sbin/vsftpd");
        if !bin.is_file() {
            return Err("/usr/sbin/vsftpd is missing (apt-get install vsftpd)".into());
        }
        ensure_system_user()?;
        let tmp = crate::servers::scratch::scratch_dir(&std::env::temp_dir(), "ftpd")?;
        let dir = tmp.path().join("data");
        let empty = tmp.path().join("empty");
        for d in [&dir, &empty] {
            fs::create_dir_all(d).map_err(|e| format!("cannot create {}: {e}", d.display()))?;
        }
        // The temporary directory is private to root by default; the chroot target must be
        // reachable and writable by the FTP user.
        set_mode(tmp.path(), 0o755)?;
        set_mode(&empty, 0o755)?;
        run(Command::new("chown").arg(VSFTPD_USER).arg(&dir))?;
        let certs = if tls { Some(test_certs()?) } else { None };
        let log = tmp.path().join("vsftpd.log");
        let conf_dir = tmp.path().to_path_buf();
        let process = ServerProcess::start(
            if tls { "vsftpd-tls" } else { "vsftpd" },
            |port| {
                let mut conf = format!(
                    "listen=YES\nlisten_ipv6=NO\nlisten_address=127.0.0.1\nlisten_port={port}\n\
                     background=NO\nanonymous_enable=NO\nlocal_enable=YES\nwrite_enable=YES\n\
                     local_umask=022\nchroot_local_user=YES\nallow_writeable_chroot=YES\n\
                     local_root={dir}\nsecure_chroot_dir={empty}\nseccomp_sandbox=NO\n\
                     pam_service_name=vsftpd\nuserlist_enable=NO\npasv_enable=YES\n\
                     pasv_address=127.0.0.1\nutf8_filesystem=YES\nforce_dot_files=YES\n\
                     max_per_ip=0\nmax_clients=0\nvsftpd_log_file={log}\nlog_ftp_protocol=YES\n\
                     xferlog_enable=YES\n",
                    dir = dir.display(),
                    empty = empty.display(),
                    log = log.display(),
                );
                if let Some(certs) = &certs {
                    conf.push_str(&format!(
                        "ssl_enable=YES\nrsa_cert_file={}\nrsa_private_key_file={}\n\
                         force_local_logins_ssl=YES\nforce_local_data_ssl=YES\n\
                         require_ssl_reuse=YES\nssl_ciphers=HIGH\ndebug_ssl=YES\n",
                        certs.server_cert.display(),
                        certs.server_key.display()
                    ));
                }
                let path = conf_dir.join(format!("vsftpd-{port}.conf"));
                // A write failure shows up as vsftpd refusing to start.
                let _ = fs::write(&path, conf);
                let mut c = Command::new(bin);
                c.arg(path);
                c
            },
            greets,
        )?;
        Ok(FtpServer {
            daemon: FtpDaemon::Vsftpd,
            tls,
            user: VSFTPD_USER,
            process,
            dir,
            _tmp: tmp,
        })
    }

    /// Which daemon this is.
    pub fn daemon(&self) -> FtpDaemon {
        self.daemon
    }

    /// Whether it requires explicit FTPS.
    pub fn tls(&self) -> bool {
        self.tls
    }

    /// The host to connect to (`127.0.0.1`).
    pub fn host(&self) -> &'static str {
        "127.0.0.1"
    }

    /// The control port.
    pub fn port(&self) -> u16 {
        self.process.port()
    }

    /// The user to log in as.
    pub fn user(&self) -> &'static str {
        self.user
    }

    /// The user's password ([`FTP_PASSWORD`]).
    pub fn password(&self) -> &'static str {
        FTP_PASSWORD
    }

    /// The directory on disk that is `/` for the FTP user.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The CA certificate (PEM) that signed the server's certificate, for FTPS servers.
    pub fn ca_file(&self) -> Option<PathBuf> {
        self.tls.then(|| tls_dir().join("ca.pem"))
    }

    /// The process.
    pub fn process(&self) -> &ServerProcess {
        &self.process
    }

    /// A name no other call returns (`stores/<tag>-<time>-<n>`), to use as an adapter's root
    /// (relative to the FTP user's `/`); nothing is created.
    pub fn new_root(&self, tag: &str) -> String {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let tag: String = tag
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        format!("stores/{tag}-{nanos:x}-{n}")
    }

    /// The `.fls-part` files (paths relative to [`dir`](Self::dir)) anywhere under `root`
    /// (relative to the FTP user's `/`), read from disk, not through FTP.
    pub fn part_files(&self, root: &str) -> Vec<String> {
        let mut out = Vec::new();
        walk(&self.dir.join(root), &self.dir, &mut out);
        out.retain(|p| p.ends_with(".fls-part"));
        out.sort();
        out
    }
}

fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.is_dir() {
            walk(&path, base, out);
        } else if let Ok(rel) = path.strip_prefix(base) {
            out.push(rel.to_string_lossy().into_owned());
        }
    }
}

/// Whether a server on 127.0.0.1:`port` greets with `220`.
fn greets(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).is_ok() && line.starts_with("220")
}

const PYFTPDLIB_SCRIPT: &str = r#"
import sys
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.servers import FTPServer

port, root, user, password = sys.argv[1:5]
authorizer = DummyAuthorizer()
authorizer.add_user(user, password, root, perm="elradfmwMT")
if len(sys.argv) > 6:
    from pyftpdlib.handlers import TLS_FTPHandler as Handler
    Handler.certfile = sys.argv[5]
    Handler.keyfile = sys.argv[6]
    Handler.tls_control_required = True
    Handler.tls_data_required = True
else:
    from pyftpdlib.handlers import FTPHandler as Handler
Handler.authorizer = authorizer
Handler.auth_failed_timeout = 0.1
server = FTPServer(("127.0.0.1", int(port)), Handler)
server.max_cons = 256
server.serve_forever()
"#;

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(|e| format!("cannot chmod {}: {e}", path.display()))
}

#[cfg(not(unix))]
fn set_mode(_: &Path, _: u32) -> Result<(), String> {
    Ok(())
}

fn run(cmd: &mut Command) -> Result<String, String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{cmd:?} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Creates the system user vsftpd logs in (if missing) and sets its password. Needs root.
fn ensure_system_user() -> Result<(), String> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        let exists = || {
            Command::new("id")
                .arg("-u")
                .arg(VSFTPD_USER)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        if !exists() {
            // Another process may create it at the same moment: check again on failure.
            if let Err(e) = run(Command::new("useradd").args([
                "--no-create-home",
                "--home-dir",
                "/tmp",
                "--shell",
                "/bin/sh",
                "--comment",
                "files FTP tests",
                VSFTPD_USER,
            ])) && !exists()
            {
                return Err(format!(
                    "cannot create the system user {VSFTPD_USER} for vsftpd (root needed): {e}"
                ));
            }
        }
        // vsftpd changes into the home directory before `local_root`: it must exist.
        run(Command::new("usermod").args(["--home", "/tmp", VSFTPD_USER]))?;
        let mut child = Command::new("chpasswd")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run chpasswd: {e}"))?;
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().ok_or("chpasswd has no stdin")?;
            stdin
                .write_all(format!("{VSFTPD_USER}:{FTP_PASSWORD}\n").as_bytes())
                .map_err(|e| format!("cannot talk to chpasswd: {e}"))?;
        }
        let out = child
            .wait_with_output()
            .map_err(|e| format!("chpasswd failed: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "chpasswd failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(())
    })
    .clone()
}

// ------------------------------------------------------------------------------ certificates

/// The test PKI: a CA and a server certificate for `127.0.0.1` / `localhost`.
#[derive(Debug, Clone)]
pub struct TestCerts {
    /// The CA certificate (PEM): trust this.
    pub ca_cert: PathBuf,
    /// The server certificate (PEM).
    pub server_cert: PathBuf,
    /// The server's private key (PEM).
    pub server_key: PathBuf,
}

fn tls_dir() -> PathBuf {
    servers::servers_dir().join("ftp-tls")
}

/// The test PKI, generated once into `<servers dir>/ftp-tls` (concurrent generators race
/// harmlessly: each writes a complete set into its own folder and renames it into place).
pub fn test_certs() -> Result<TestCerts, String> {
    let dir = tls_dir();
    let certs = TestCerts {
        ca_cert: dir.join("ca.pem"),
        server_cert: dir.join("server.pem"),
        server_key: dir.join("server.key"),
    };
    if certs.ca_cert.is_file() && certs.server_cert.is_file() && certs.server_key.is_file() {
        return Ok(certs);
    }
    let parent = servers::servers_dir();
    fs::create_dir_all(&parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    let work = tempfile::Builder::new()
        .prefix("ftp-tls-gen-")
        .tempdir_in(&parent)
        .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
    let w = work.path();
    let generated = if Command::new("openssl")
        .arg("version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
    {
        generate_with_openssl(w)
    } else {
        generate_with_python(w)
    };
    generated?;
    let done = work.keep();
    if fs::rename(&done, &dir).is_err() {
        // Someone else won the race (or a broken set is in the way: replace it).
        let _ = fs::remove_dir_all(&done);
        if !(certs.ca_cert.is_file() && certs.server_cert.is_file()) {
            return Err(format!(
                "cannot install the test certificates into {}",
                dir.display()
            ));
        }
    }
    Ok(certs)
}

fn generate_with_openssl(w: &Path) -> Result<(), String> {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    run(Command::new("openssl")
        .args(["req", "-x509"])
        .args(ec)
        .args(["-keyout", "ca.key", "-out", "ca.pem", "-days", "3650"])
        .args(["-subj", "/CN=files test CA"])
        .current_dir(w))?;
    run(Command::new("openssl")
        .arg("req")
        .args(ec)
        .args(["-keyout", "server.key", "-out", "server.csr"])
        .args(["-subj", "/CN=localhost"])
        .current_dir(w))?;
    fs::write(
        w.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=critical,CA:FALSE\n\
         keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .map_err(|e| format!("cannot write ext.cnf: {e}"))?;
    run(Command::new("openssl")
        .args(["x509", "-req", "-in", "server.csr", "-CA", "ca.pem"])
        .args(["-CAkey", "ca.key", "-CAcreateserial", "-out", "server.pem"])
        .args(["-days", "3650", "-extfile", "ext.cnf"])
        .current_dir(w))?;
    Ok(())
}

const CERTS_SCRIPT: &str = r#"
import datetime, ipaddress, sys
from cryptography import x509
from cryptography.x509.oid import NameOID, ExtendedKeyUsageOID
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

out = sys.argv[1]
now = datetime.datetime.now(datetime.timezone.utc)
later = now + datetime.timedelta(days=3650)
def pem_key(k):
    return k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
ca_key = ec.generate_private_key(ec.SECP256R1())
ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "files test CA")])
ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
      .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
      .not_valid_before(now).not_valid_after(later)
      .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
      .sign(ca_key, hashes.SHA256()))
key = ec.generate_private_key(ec.SECP256R1())
cert = (x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(later)
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256()))
open(out + "/ca.pem", "wb").write(ca.public_bytes(serialization.Encoding.PEM))
open(out + "/server.pem", "wb").write(cert.public_bytes(serialization.Encoding.PEM))
open(out + "/server.key", "wb").write(pem_key(key))
"#;

fn generate_with_python(w: &Path) -> Result<(), String> {
    let script = w.join("certs.py");
    fs::write(&script, CERTS_SCRIPT).map_err(|e| format!("cannot write certs.py: {e}"))?;
    run(Command::new(servers::venv_bin("python"))
        .arg(&script)
        .arg(w))
    .map(|_| ())
}

// ------------------------------------------------------------------------------ shared servers

fn shared(
    cell: &'static OnceLock<Result<FtpServer, String>>,
    start: fn() -> Result<FtpServer, String>,
) -> Result<&'static FtpServer, String> {
    cell.get_or_init(start).as_ref().map_err(Clone::clone)
}

/// The plain-FTP pyftpdlib shared by every test of this process.
pub fn shared_pyftpdlib() -> Result<&'static FtpServer, String> {
    static S: OnceLock<Result<FtpServer, String>> = OnceLock::new();
    shared(&S, || FtpServer::pyftpdlib(false))
}

/// The FTPS pyftpdlib shared by every test of this process.
pub fn shared_pyftpdlib_tls() -> Result<&'static FtpServer, String> {
    static S: OnceLock<Result<FtpServer, String>> = OnceLock::new();
    shared(&S, || FtpServer::pyftpdlib(true))
}

/// The plain-FTP vsftpd shared by every test of this process.
pub fn shared_vsftpd() -> Result<&'static FtpServer, String> {
    static S: OnceLock<Result<FtpServer, String>> = OnceLock::new();
    shared(&S, || FtpServer::vsftpd(false))
}

/// The FTPS vsftpd shared by every test of this process.
pub fn shared_vsftpd_tls() -> Result<&'static FtpServer, String> {
    static S: OnceLock<Result<FtpServer, String>> = OnceLock::new();
    shared(&S, || FtpServer::vsftpd(true))
}

/// [`shared_pyftpdlib`], or `None` after [`servers::unavailable`] reported why (it panics in
/// CI).
#[track_caller]
pub fn pyftpdlib_or_skip() -> Option<&'static FtpServer> {
    shared_pyftpdlib()
        .map_err(|why| servers::unavailable::<()>("pyftpdlib", &why))
        .ok()
}

/// [`shared_pyftpdlib_tls`], or `None` after [`servers::unavailable`] reported why.
#[track_caller]
pub fn pyftpdlib_tls_or_skip() -> Option<&'static FtpServer> {
    shared_pyftpdlib_tls()
        .map_err(|why| servers::unavailable::<()>("pyftpdlib (FTPS)", &why))
        .ok()
}

/// [`shared_vsftpd`], or `None` after [`servers::unavailable`] reported why.
#[track_caller]
pub fn vsftpd_or_skip() -> Option<&'static FtpServer> {
    shared_vsftpd()
        .map_err(|why| servers::unavailable::<()>("vsftpd", &why))
        .ok()
}

/// [`shared_vsftpd_tls`], or `None` after [`servers::unavailable`] reported why.
///
/// Under parallel load, vsftpd's FTPS now and then stops answering a control connection
/// after a data transfer (see docs/ftp.md); give adapters a short `io_timeout` so such a stall
/// costs one retry instead of the test's hang detector.
#[track_caller]
pub fn vsftpd_tls_or_skip() -> Option<&'static FtpServer> {
    shared_vsftpd_tls()
        .map_err(|why| servers::unavailable::<()>("vsftpd (FTPS)", &why))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// Logs in over a raw control connection and lists `/`.
    fn login(server: &FtpServer) -> Vec<String> {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, server.port()));
        let stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut w = stream.try_clone().unwrap();
        let mut r = BufReader::new(stream);
        let mut replies = Vec::new();
        let read = |r: &mut BufReader<TcpStream>| {
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            line
        };
        replies.push(read(&mut r));
        write!(w, "USER {}\r\n", server.user()).unwrap();
        replies.push(read(&mut r));
        write!(w, "PASS {}\r\n", server.password()).unwrap();
        replies.push(read(&mut r));
        write!(w, "QUIT\r\n").unwrap();
        replies
    }

    #[test]
    fn pyftpdlib_logs_in() {
        let Some(s) = pyftpdlib_or_skip() else { return };
        let replies = login(s);
        assert!(replies[2].starts_with("230"), "{replies:?}");
    }

    #[test]
    fn vsftpd_logs_in() {
        let Some(s) = vsftpd_or_skip() else { return };
        let replies = login(s);
        assert!(replies[2].starts_with("230"), "{replies:?}");
        assert!(s.dir().is_dir());
    }

    #[test]
    fn certificates_are_generated() {
        let c = match test_certs() {
            Ok(c) => c,
            Err(why) => return servers::unavailable::<()>("openssl", &why).unwrap_or(()),
        };
        let ca = fs::read_to_string(&c.ca_cert).unwrap();
        assert!(ca.contains("BEGIN CERTIFICATE"));
        assert!(
            fs::read_to_string(&c.server_key)
                .unwrap()
                .contains("PRIVATE KEY")
        );
    }
}
