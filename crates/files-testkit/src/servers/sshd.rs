//! OpenSSH's `sshd` as an SFTP test server.
//!
//! [`SshServer::start`] runs Debian's `/usr/sbin/sshd` in the foreground (`sshd -D -e -f
//! CONFIG`) on a free `127.0.0.1` port, with everything it needs in a temporary directory of its
//! own: a freshly generated ed25519 host key, the configuration (`Subsystem sftp internal-sftp`,
//! password and public-key authentication, `UsePAM no`, `StrictModes no`), an
//! `authorized_keys` file holding a freshly generated client key, and a `known_hosts` file that
//! names the host key for `[127.0.0.1]:PORT`.
//!
//! Logins use the system account [`SFTP_USER`], which the harness creates on first use
//! (`useradd`, no home directory, `nologin` shell; it must run as root) and whose password it
//! sets to [`SFTP_PASSWORD`] (`chpasswd`). Both steps are idempotent and serialized across
//! processes with a lock file, so test binaries running in parallel share the account;
//! [`remove_test_user`] deletes it (for a clean-up step, never while tests run). The account can
//! only use SFTP: the configuration forces `internal-sftp` and forbids forwarding.
//!
//! Each test gets its own directory under the server's data directory ([`SshServer::new_root`]),
//! owned by the test user, and can look at what landed there directly on disk
//! ([`SshServer::disk_path`]) — the tests run as root, so they can read it.
//!
//! [`shared_sshd`] keeps one server per test process (killed with the process), and
//! [`sshd_or_skip`] goes through [`unavailable`]: a missing server skips loudly locally and
//! fails in CI.
//!
//! ```no_run
//! #[test]
//! fn my_sftp_test() {
//!     let sshd = files_testkit::require_server!(files_testkit::sshd::sshd_or_skip());
//!     let root = sshd.new_root("my-test").unwrap();
//!     let url = format!("sftp://{}@127.0.0.1:{}{root}", files_testkit::sshd::SFTP_USER, sshd.port());
//!     # let _ = url;
//! }
//! ```

use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::servers::scratch::scratch_dir;
use crate::servers::{ServerProcess, ensure_debian_packages, servers_dir, unavailable};

/// The account the test server logs in (created by the harness).
pub const SFTP_USER: &str = "files-sftp-test";
/// The password of [`SFTP_USER`] (a recognizable fake that tests search outputs for).
pub const SFTP_PASSWORD: &str = "files-sftp-test-pw-7Qx";
/// The `sshd` binary the harness runs.
pub const SSHD: &str = "/usr/sbin/sshd";

/// A running `sshd` on 127.0.0.1, killed on drop (its temporary directory is removed too).
#[derive(Debug)]
pub struct SshServer {
    process: ServerProcess,
    dir: tempfile::TempDir,
    host_public_key: String,
}

impl SshServer {
    /// Creates the test user if needed, generates the keys and the configuration, and starts
    /// `sshd` on a free port, waiting until it sends its SSH banner.
    pub fn start() -> Result<SshServer, String> {
        ensure_debian_packages()?;
        if !Path::new(SSHD).is_file() {
            return Err(format!("{SSHD} is not installed (Debian: openssh-server)"));
        }
        ensure_test_user()?;
        // sshd refuses to start without its privilege separation directory.
        fs::create_dir_all("/run/sshd").map_err(|e| format!("cannot create /run/sshd: {e}"))?;
        // Under the system temp dir (world-traversable), so the test user can reach its data.
        let base = std::env::temp_dir().join("files-test-sshd");
        let dir = scratch_dir(&base, "sshd")?;
        let d = dir.path();
        // The test user must be able to walk down to its data directory.
        for p in [base.as_path(), d] {
            set_mode(p, 0o755)?;
        }
        keygen(&d.join("host_key"), "files test sshd host key")?;
        keygen(&d.join("client_key"), "files test client key")?;
        let client_pub = read(&d.join("client_key.pub"))?;
        fs::write(d.join("authorized_keys"), &client_pub)
            .map_err(|e| format!("cannot write authorized_keys: {e}"))?;
        let data = d.join("data");
        fs::create_dir_all(&data).map_err(|e| format!("cannot create {}: {e}", data.display()))?;
        chown_to_test_user(&data)?;
        let config = d.join("sshd_config");
        fs::write(&config, config_text(d))
            .map_err(|e| format!("cannot write {}: {e}", config.display()))?;
        let host_public_key = read(&d.join("host_key.pub"))?;
        let process = ServerProcess::start(
            "sshd",
            |port| {
                let mut c = Command::new(SSHD);
                c.args(["-D", "-e", "-f"])
                    .arg(&config)
                    .arg("-o")
                    .arg(format!("Port={port}"))
                    .arg("-o")
                    .arg("ListenAddress=127.0.0.1");
                c
            },
            sends_ssh_banner,
        )?;
        let server = SshServer {
            process,
            dir,
            host_public_key,
        };
        server.write_known_hosts(&server.known_hosts_path(), &server.host_public_key)?;
        Ok(server)
    }

    /// The port it listens on (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.process.port()
    }

    /// The host it listens on: `127.0.0.1`.
    pub fn host(&self) -> &'static str {
        "127.0.0.1"
    }

    /// The process.
    pub fn process(&self) -> &ServerProcess {
        &self.process
    }

    /// A `known_hosts` file naming this server's host key (`[127.0.0.1]:PORT ssh-ed25519 ...`).
    pub fn known_hosts_path(&self) -> PathBuf {
        self.dir.path().join("known_hosts")
    }

    /// The host key's public half, as one `known_hosts`-style `type base64 comment` line.
    pub fn host_public_key(&self) -> &str {
        self.host_public_key.trim()
    }

    /// The private key that [`SFTP_USER`] may log in with (unencrypted, OpenSSH format).
    pub fn client_key_path(&self) -> PathBuf {
        self.dir.path().join("client_key")
    }

    /// Writes a `known_hosts` file at `path` that names `public_key` (`type base64 [comment]`)
    /// for this server's host and port.
    pub fn write_known_hosts(&self, path: &Path, public_key: &str) -> Result<(), String> {
        let line = format!("[{}]:{} {}\n", self.host(), self.port(), public_key.trim());
        fs::write(path, line).map_err(|e| format!("cannot write {}: {e}", path.display()))
    }

    /// Generates a new ed25519 key pair in this server's directory (named `name`) and returns
    /// its public half (`type base64 comment`): a host key that is *not* this server's.
    pub fn other_public_key(&self, name: &str) -> Result<String, String> {
        let path = self.dir.path().join(name);
        keygen(&path, "another host key")?;
        read(&path.with_file_name(format!("{name}.pub")))
    }

    /// The data directory all test roots live in.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Creates a fresh directory, owned by [`SFTP_USER`], for one test, and returns its
    /// absolute path (the root to give the adapter).
    pub fn new_root(&self, tag: &str) -> Result<String, String> {
        static N: AtomicU64 = AtomicU64::new(0);
        let clean: String = tag
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let name = format!(
            "{clean}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let path = self.data_dir().join(name);
        fs::create_dir_all(&path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        chown_to_test_user(&path)?;
        path.to_str()
            .map(str::to_string)
            .ok_or_else(|| format!("{} is not UTF-8", path.display()))
    }

    /// Where the remote path `remote` (absolute, as the adapter sees it) is on this machine's
    /// disk: the server runs without a chroot, so it is the same path.
    pub fn disk_path(&self, remote: &str) -> PathBuf {
        PathBuf::from(remote)
    }
}

fn config_text(d: &Path) -> String {
    format!(
        "# files test sshd (generated)\n\
         HostKey {host_key}\n\
         PidFile none\n\
         UsePAM no\n\
         StrictModes no\n\
         PermitRootLogin no\n\
         PasswordAuthentication yes\n\
         KbdInteractiveAuthentication no\n\
         PubkeyAuthentication yes\n\
         AuthorizedKeysFile {authorized}\n\
         AllowUsers {user}\n\
         MaxStartups 100:30:200\n\
         MaxSessions 50\n\
         LogLevel VERBOSE\n\
         Subsystem sftp internal-sftp\n\
         ForceCommand internal-sftp\n\
         AllowTcpForwarding no\n\
         AllowAgentForwarding no\n\
         X11Forwarding no\n\
         PermitTTY no\n",
        host_key = d.join("host_key").display(),
        authorized = d.join("authorized_keys").display(),
        user = SFTP_USER,
    )
}

/// Whether something on `127.0.0.1:port` sends an SSH identification line.
fn sends_ssh_banner(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let mut buf = [0u8; 8];
    let mut got = 0;
    while got < buf.len() {
        match s.read(&mut buf[got..]) {
            Ok(0) | Err(_) => return false,
            Ok(n) => got += n,
        }
    }
    buf.starts_with(b"SSH-2.0-")
}

fn keygen(path: &Path, comment: &str) -> Result<(), String> {
    let _ = fs::remove_file(path);
    let _ = fs::remove_file(path.with_file_name(format!(
        "{}.pub",
        path.file_name().unwrap_or_default().to_string_lossy()
    )));
    run(Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
        .arg(path))
}

fn read(path: &Path) -> Result<String, String> {
    fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn set_mode(path: &Path, mode: u32) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(|e| format!("cannot chmod {}: {e}", path.display()))
}

fn chown_to_test_user(path: &Path) -> Result<(), String> {
    run(Command::new("chown")
        .arg(format!("{SFTP_USER}:{SFTP_USER}"))
        .arg(path))
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd:?} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn user_exists() -> bool {
    Command::new("id")
        .arg("-u")
        .arg(SFTP_USER)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Creates [`SFTP_USER`] (no home directory, `nologin` shell) if it does not exist and sets its
/// password to [`SFTP_PASSWORD`]; idempotent, serialized across processes. Needs root.
pub fn ensure_test_user() -> Result<(), String> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        if !is_root() {
            return Err(format!(
                "the sshd test server needs root to create the user `{SFTP_USER}` and to run sshd"
            ));
        }
        let dir = servers_dir();
        fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let lock_path = dir.join("sshd-user.lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| format!("cannot open {}: {e}", lock_path.display()))?;
        lock.lock()
            .map_err(|e| format!("cannot lock {}: {e}", lock_path.display()))?;
        if !user_exists() {
            let shell = ["/usr/sbin/nologin", "/sbin/nologin", "/bin/false"]
                .into_iter()
                .find(|s| Path::new(s).is_file())
                .unwrap_or("/bin/false");
            run(Command::new("useradd")
                .args(["--system", "--no-create-home", "--home-dir", "/nonexistent"])
                .args(["--shell", shell, "--user-group"])
                .arg(SFTP_USER))?;
        }
        let mut child = Command::new("chpasswd")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run chpasswd: {e}"))?;
        child
            .stdin
            .take()
            .expect("piped stdin")
            .write_all(format!("{SFTP_USER}:{SFTP_PASSWORD}\n").as_bytes())
            .map_err(|e| format!("cannot write to chpasswd: {e}"))?;
        let out = child
            .wait_with_output()
            .map_err(|e| format!("chpasswd failed: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "chpasswd failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        drop(lock);
        Ok(())
    })
    .clone()
}

/// Deletes the account [`SFTP_USER`] (if it exists). For a clean-up step after every test
/// process has finished: a running server's logins fail once it is gone.
pub fn remove_test_user() -> Result<(), String> {
    if !user_exists() {
        return Ok(());
    }
    run(Command::new("userdel").arg(SFTP_USER))
}

/// The `sshd` shared by every test of this process, started on first use and killed when the
/// process exits (parent-death signal). Give each test its own root ([`SshServer::new_root`]).
pub fn shared_sshd() -> Result<&'static SshServer, String> {
    static SHARED: OnceLock<Result<SshServer, String>> = OnceLock::new();
    SHARED
        .get_or_init(SshServer::start)
        .as_ref()
        .map_err(Clone::clone)
}

/// [`shared_sshd`], or `None` after [`unavailable`] reported why (it panics in CI).
#[track_caller]
pub fn sshd_or_skip() -> Option<&'static SshServer> {
    match shared_sshd() {
        Ok(server) => Some(server),
        Err(why) => unavailable("sshd", &why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sshd_starts_and_serves_sftp_with_the_client_key() {
        let Some(sshd) = sshd_or_skip() else { return };
        let root = sshd.new_root("self-test").unwrap();
        fs::write(Path::new(&root).join("hello.txt"), b"hi").unwrap();
        // OpenSSH's own sftp client, in batch mode, checking the host key against the
        // generated known_hosts file.
        let batch = sshd.data_dir().join("batch.txt");
        fs::write(&batch, format!("ls {root}\n")).unwrap();
        let out = Command::new("sftp")
            .arg("-b")
            .arg(&batch)
            .args(["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes"])
            .arg("-o")
            .arg(format!(
                "UserKnownHostsFile={}",
                sshd.known_hosts_path().display()
            ))
            .arg("-i")
            .arg(sshd.client_key_path())
            .arg("-P")
            .arg(sshd.port().to_string())
            .arg(format!("{SFTP_USER}@127.0.0.1"))
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success(),
            "{text}\n{}",
            sshd.process().log_tail()
        );
        assert!(text.contains("hello.txt"), "{text}");
    }
}
