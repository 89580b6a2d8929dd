//! WebDAV test servers: Debian's Apache with `mod_dav_fs` (partial PUT works) and WsgiDAV
//! (refuses `Content-Range` on PUT with `400`), both with HTTP Basic authentication for
//! [`DAV_USER`] / [`DAV_PASSWORD`], serving a fresh directory on a free loopback port.
//!
//! Apache runs in the foreground as one process (`apache2 -X`, `KeepAlive Off`, so that a
//! single process serves every connection in turn and dies with the test through the
//! parent-death signal of [`ServerProcess`]), with a configuration generated into its own
//! temporary directory: `Listen 127.0.0.1:PORT`, the `dav`, `dav_fs`, `auth_basic`,
//! `authn_file`, `authz_user` modules, a lock database and an `htpasswd` file there. Run as
//! root, it switches to `www-data`, which owns the served directory.
//!
//! ```no_run
//! # fn t() {
//! let apache = files_testkit::require_server!(files_testkit::davd::apache_or_skip());
//! println!("{} serves {}", apache.endpoint(), apache.data_dir().display());
//! # }
//! ```

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::servers::{ServerProcess, answers_http, ensure_all_installed, unavailable, venv_bin};

/// The user every WebDAV test server accepts.
pub const DAV_USER: &str = "files-dav-user";
/// The password of [`DAV_USER`] (a recognizable fake that tests search outputs for).
pub const DAV_PASSWORD: &str = "files-dav-secret-7f3a";

/// Which WebDAV server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DavKind {
    /// Apache httpd with `mod_dav_fs`: partial PUT (`Content-Range`) works.
    Apache,
    /// WsgiDAV on cheroot: `Content-Range` on PUT is refused (`400`).
    WsgiDav,
}

/// A WebDAV server on 127.0.0.1 serving a fresh directory; killed (and its directory removed)
/// on drop.
pub struct DavServer {
    kind: DavKind,
    endpoint: String,
    data: PathBuf,
    process: ServerProcess,
    // Last: removed after the process is killed.
    _dir: tempfile::TempDir,
}

impl fmt::Debug for DavServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DavServer")
            .field("kind", &self.kind)
            .field("endpoint", &self.endpoint)
            .field("data", &self.data)
            .field("process", &self.process)
            .finish()
    }
}

impl DavServer {
    /// Starts Apache with `mod_dav_fs` (installing the Debian package if needed).
    pub fn start_apache() -> Result<DavServer, String> {
        ensure_all_installed()?;
        let apache = Path::new("/usr/sbin/apache2");
        if !apache.is_file() {
            return Err("/usr/sbin/apache2 is missing (apt-get install apache2)".into());
        }
        let dir = crate::servers::scratch::scratch_dir(&std::env::temp_dir(), "davd")?;
        let base = dir.path().to_path_buf();
        let data = base.join("data");
        let lock = base.join("lock");
        for d in [&data, &lock] {
            fs::create_dir_all(d).map_err(|e| format!("cannot create {}: {e}", d.display()))?;
        }
        let as_root = is_root();
        if as_root {
            let (uid, gid) = user_ids("www-data")
                .ok_or("running as root, but there is no `www-data` user for Apache to run as")?;
            set_mode(&base, 0o755)?;
            for d in [&data, &lock] {
                std::os::unix::fs::chown(d, Some(uid), Some(gid))
                    .map_err(|e| format!("cannot chown {}: {e}", d.display()))?;
            }
        }
        let htpasswd = base.join("htpasswd");
        write_htpasswd(&htpasswd)?;
        set_mode(&htpasswd, 0o644)?;
        let modules = "/usr/lib/apache2/modules";
        let process = ServerProcess::start(
            "apache-dav",
            |port| {
                let conf = base.join(format!("httpd-{port}.conf"));
                let text = format!(
                    r#"ServerRoot "{base}"
LoadModule mpm_prefork_module {modules}/mod_mpm_prefork.so
LoadModule authz_core_module {modules}/mod_authz_core.so
LoadModule authz_user_module {modules}/mod_authz_user.so
LoadModule authn_core_module {modules}/mod_authn_core.so
LoadModule authn_file_module {modules}/mod_authn_file.so
LoadModule auth_basic_module {modules}/mod_auth_basic.so
LoadModule dav_module {modules}/mod_dav.so
LoadModule dav_fs_module {modules}/mod_dav_fs.so
Listen 127.0.0.1:{port}
ServerName 127.0.0.1
{user}
PidFile "{base}/httpd-{port}.pid"
ErrorLog /dev/stderr
LogLevel warn
KeepAlive Off
Timeout 120
LimitRequestBody 0
DAVLockDB "{lock}/lockdb"
DocumentRoot "{data}"
<Directory "{data}">
  Dav On
  AuthType Basic
  AuthName "files test"
  AuthBasicProvider file
  AuthUserFile "{htpasswd}"
  Require valid-user
</Directory>
"#,
                    base = base.display(),
                    lock = lock.display(),
                    data = data.display(),
                    htpasswd = htpasswd.display(),
                    user = if as_root {
                        "User www-data\nGroup www-data"
                    } else {
                        ""
                    },
                );
                let _ = fs::write(&conf, text);
                let mut c = Command::new(apache);
                c.arg("-X").arg("-f").arg(&conf).current_dir(&base);
                c
            },
            answers_http,
        )?;
        Ok(DavServer {
            kind: DavKind::Apache,
            endpoint: format!("http://127.0.0.1:{}/", process.port()),
            data,
            process,
            _dir: dir,
        })
    }

    /// Starts WsgiDAV (from the test servers' virtual environment) with a generated
    /// configuration: the served directory at `/`, Basic auth through its `simple_dc`.
    pub fn start_wsgidav() -> Result<DavServer, String> {
        ensure_all_installed()?;
        let bin = venv_bin("wsgidav");
        if !bin.is_file() {
            return Err(format!("{} is missing", bin.display()));
        }
        let dir = crate::servers::scratch::scratch_dir(&std::env::temp_dir(), "davd")?;
        let base = dir.path().to_path_buf();
        let data = base.join("data");
        fs::create_dir_all(&data).map_err(|e| format!("cannot create {}: {e}", data.display()))?;
        let process = ServerProcess::start(
            "wsgidav",
            |port| {
                let conf = base.join(format!("wsgidav-{port}.yaml"));
                let text = format!(
                    r#"host: 127.0.0.1
port: {port}
provider_mapping:
  "/": "{data}"
http_authenticator:
  domain_controller: null
  accept_basic: true
  accept_digest: false
  default_to_digest: false
simple_dc:
  user_mapping:
    "*":
      "{DAV_USER}":
        password: "{DAV_PASSWORD}"
verbose: 1
logging:
  enable_loggers: []
property_manager: true
lock_storage: true
"#,
                    data = data.display()
                );
                let _ = fs::write(&conf, text);
                let mut c = Command::new(&bin);
                c.arg("-c").arg(&conf).current_dir(&base);
                c
            },
            answers_http,
        )?;
        Ok(DavServer {
            kind: DavKind::WsgiDav,
            endpoint: format!("http://127.0.0.1:{}/", process.port()),
            data,
            process,
            _dir: dir,
        })
    }

    /// Which server this is.
    pub fn kind(&self) -> DavKind {
        self.kind
    }

    /// `http://127.0.0.1:PORT/` (the served directory is the root collection).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The port it serves on.
    pub fn port(&self) -> u16 {
        self.process.port()
    }

    /// The directory it serves (read it to check what the server really stored).
    pub fn data_dir(&self) -> &Path {
        &self.data
    }

    /// The process.
    pub fn process(&self) -> &ServerProcess {
        &self.process
    }

    /// The bytes of the file `rel` (a `/`-separated key) as stored on disk, `None` if absent.
    pub fn stored(&self, rel: &str) -> Option<Vec<u8>> {
        fs::read(self.path_of(rel)).ok()
    }

    /// The on-disk path of `rel`.
    pub fn path_of(&self, rel: &str) -> PathBuf {
        let mut p = self.data.clone();
        for seg in rel.split('/') {
            p.push(seg);
        }
        p
    }

    /// What an upload to `key` left behind: its part file (`<key>.fls-part`) and any
    /// partial-PUT scratch file (`*.fls-probe`) in the key's directory, as paths relative to
    /// the served directory.
    pub fn leftovers_of(&self, key: &str) -> Vec<String> {
        let mut out = Vec::new();
        let part = format!("{key}.fls-part");
        if self.path_of(&part).exists() {
            out.push(part);
        }
        let dir_rel = key.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
        let dir = if dir_rel.is_empty() {
            self.data.clone()
        } else {
            self.path_of(dir_rel)
        };
        if let Ok(entries) = fs::read_dir(&dir) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.ends_with(".fls-probe") {
                    out.push(if dir_rel.is_empty() {
                        name
                    } else {
                        format!("{dir_rel}/{name}")
                    });
                }
            }
        }
        out
    }

    /// Every part or scratch file anywhere in the served directory (relative paths).
    pub fn all_leftovers(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut todo = vec![self.data.clone()];
        while let Some(dir) = todo.pop() {
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            for e in entries.flatten() {
                let p = e.path();
                if p.is_dir() {
                    todo.push(p);
                } else {
                    let name = e.file_name().to_string_lossy().into_owned();
                    if name.ends_with(".fls-part") || name.ends_with(".fls-probe") {
                        let rel = p.strip_prefix(&self.data).unwrap_or(&p);
                        out.push(rel.to_string_lossy().into_owned());
                    }
                }
            }
        }
        out.sort();
        out
    }
}

/// The Apache server shared by every test of this process (started on first use, killed with
/// the process). Give each test its own key prefix.
pub fn shared_apache() -> Result<&'static DavServer, String> {
    static SHARED: OnceLock<Result<DavServer, String>> = OnceLock::new();
    SHARED
        .get_or_init(DavServer::start_apache)
        .as_ref()
        .map_err(Clone::clone)
}

/// The WsgiDAV server shared by every test of this process.
pub fn shared_wsgidav() -> Result<&'static DavServer, String> {
    static SHARED: OnceLock<Result<DavServer, String>> = OnceLock::new();
    SHARED
        .get_or_init(DavServer::start_wsgidav)
        .as_ref()
        .map_err(Clone::clone)
}

/// [`shared_apache`], or `None` after [`unavailable`] reported why (it panics in CI).
#[track_caller]
pub fn apache_or_skip() -> Option<&'static DavServer> {
    match shared_apache() {
        Ok(s) => Some(s),
        Err(why) => unavailable("apache2 mod_dav", &why),
    }
}

/// [`shared_wsgidav`], or `None` after [`unavailable`] reported why (it panics in CI).
#[track_caller]
pub fn wsgidav_or_skip() -> Option<&'static DavServer> {
    match shared_wsgidav() {
        Ok(s) => Some(s),
        Err(why) => unavailable("wsgidav", &why),
    }
}

/// A fresh Apache of its own (dropped by the caller), or `None` after [`unavailable`].
#[track_caller]
pub fn own_apache_or_skip() -> Option<DavServer> {
    match DavServer::start_apache() {
        Ok(s) => Some(s),
        Err(why) => unavailable("apache2 mod_dav", &why),
    }
}

// ---------------------------------------------------------------------------------- helpers

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn user_ids(name: &str) -> Option<(u32, u32)> {
    let passwd = fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() > 3 && f[0] == name).then(|| Some((f[2].parse().ok()?, f[3].parse().ok()?)))?
    })
}

fn set_mode(path: &Path, mode: u32) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(|e| format!("cannot chmod {}: {e}", path.display()))
}

/// Writes an `htpasswd` file for [`DAV_USER`] with `htpasswd` (apache2-utils), or else an apr1
/// hash from `openssl passwd`.
fn write_htpasswd(path: &Path) -> Result<(), String> {
    let made = Command::new("htpasswd")
        .arg("-bc")
        .arg(path)
        .args([DAV_USER, DAV_PASSWORD])
        .output();
    if made.as_ref().is_ok_and(|o| o.status.success()) {
        return Ok(());
    }
    let out = Command::new("openssl")
        .args(["passwd", "-apr1", DAV_PASSWORD])
        .output()
        .map_err(|e| format!("neither htpasswd nor openssl can hash a password: {e}"))?;
    if !out.status.success() {
        return Err("`openssl passwd -apr1` failed".into());
    }
    let hash = String::from_utf8_lossy(&out.stdout).trim().to_string();
    fs::write(path, format!("{DAV_USER}:{hash}\n"))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::servers::http;

    #[test]
    fn apache_starts_and_asks_for_credentials() {
        let Some(apache) = own_apache_or_skip() else {
            return;
        };
        // Without credentials (the probe's dummy header is not Basic): 401.
        assert_eq!(http(apache.port(), "GET", "/", b"").unwrap().status, 401);
        let port = apache.port();
        drop(apache);
        assert!(!answers_http(port));
    }
}
