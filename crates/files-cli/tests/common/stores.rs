//! Every store the crash scaffolding runs against, behind one trait: how to run the `files`
//! binary for it (credentials in the environment, never on the command line), the URL of a
//! key, and what the server holds for that key — the object's bytes and the leftovers of an
//! upload session (open multipart uploads, uncommitted blocks, open resumable sessions, part
//! files) — asked of the server directly, never through the adapter under test.

use std::path::Path;
use std::process::{Command, Stdio};

use files::ResumeToken;

/// The upload's shape for a store: small bodies of a few parts, rate-limited so that kill
/// points between and inside parts are reachable.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// `--part-size`.
    pub part_size: u64,
    /// Full parts in the body (a shorter tail part follows).
    pub parts: u64,
    /// `--concurrency`.
    pub concurrency: u32,
    /// `--bwlimit`, bytes per second, for the child that gets killed.
    pub bwlimit: u64,
    /// Whether parts go in parallel (S3 parts, Azure blocks); the other stores append at a
    /// growing offset, one request at a time, whatever `--concurrency` says.
    pub parallel_parts: bool,
}

impl Shape {
    /// Parts a killed child may have had in flight past its last checkpoint.
    pub fn in_flight(&self) -> u64 {
        if self.parallel_parts {
            u64::from(self.concurrency)
        } else {
            1
        }
    }
}

/// A store under test. Keys are relative (`dir/name.bin`); each run uses its own key.
pub trait Store: Send + Sync {
    /// Short name (`fs`, `s3`, ...), as in test names.
    fn name(&self) -> &'static str;
    /// The shape of the matrix's uploads.
    fn shape(&self) -> Shape;
    /// The `files` binary with this store's credentials in its environment.
    fn files(&self) -> Command;
    /// The destination URL (or local path) of `key`.
    fn url(&self, key: &str) -> String;
    /// The object's bytes as the server holds them (`None`: absent).
    fn stored(&self, key: &str) -> Option<Vec<u8>>;
    /// What an upload session to `key` left on the server (empty: nothing).
    fn leftovers(&self, key: &str) -> Vec<String>;
    /// Bytes of the session in `token` that the server holds (`None`: not observable here).
    fn landed(&self, _key: &str, _token: &ResumeToken) -> Option<u64> {
        None
    }
    /// Makes the session in `token` expire on the server; false where that cannot be done.
    fn expire(&self, _token: &ResumeToken) -> bool {
        false
    }
    /// Credentials that must never appear in a checkpoint, a sidecar or the CLI's output.
    fn secrets(&self) -> Vec<String> {
        Vec::new()
    }
}

/// The `files` binary with nothing of this machine's logging set-up, stdin closed.
pub fn files_bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_files"));
    c.env_remove("FILES_LOG").stdin(Stdio::null());
    c
}

/// Leftovers of a part-file session on a local directory: `<key>.fls-part` and temporary
/// `.fls-tmp-*` files beside the key.
fn part_file_leftovers(dir: &Path, key: &str) -> Vec<String> {
    let mut out = Vec::new();
    let part = dir.join(format!("{key}.fls-part"));
    if part.exists() {
        out.push(part.display().to_string());
    }
    let parent = dir.join(key).parent().map(Path::to_path_buf);
    if let Some(parent) = parent
        && let Ok(entries) = std::fs::read_dir(&parent)
    {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with(".fls-tmp-") {
                out.push(e.path().display().to_string());
            }
        }
    }
    out
}

fn file_len(p: &Path) -> Option<u64> {
    std::fs::metadata(p).ok().map(|m| m.len())
}

/// A 256 KiB-part shape: four parts and a tail at 2 MiB/s (a part every 125 ms).
const SMALL: Shape = Shape {
    part_size: 256 << 10,
    parts: 4,
    concurrency: 2,
    bwlimit: 2 << 20,
    parallel_parts: false,
};

// ------------------------------------------------------------------------------ local disk

/// The local disk (`file://` through a plain path), in a temporary directory.
#[cfg(feature = "fs")]
pub struct FsStore {
    dir: tempfile::TempDir,
}

#[cfg(feature = "fs")]
pub fn fs() -> Option<FsStore> {
    Some(FsStore {
        dir: tempfile::tempdir().expect("a temporary directory"),
    })
}

#[cfg(feature = "fs")]
impl FsStore {
    fn root(&self) -> std::path::PathBuf {
        self.dir.path().join("store")
    }
}

#[cfg(feature = "fs")]
impl Store for FsStore {
    fn name(&self) -> &'static str {
        "fs"
    }
    fn shape(&self) -> Shape {
        SMALL
    }
    fn files(&self) -> Command {
        files_bin()
    }
    fn url(&self, key: &str) -> String {
        self.root().join(key).display().to_string()
    }
    fn stored(&self, key: &str) -> Option<Vec<u8>> {
        std::fs::read(self.root().join(key)).ok()
    }
    fn leftovers(&self, key: &str) -> Vec<String> {
        part_file_leftovers(&self.root(), key)
    }
    fn landed(&self, key: &str, _: &ResumeToken) -> Option<u64> {
        Some(file_len(&self.root().join(format!("{key}.fls-part"))).unwrap_or(0))
    }
}

// ------------------------------------------------------------------------------------- S3

/// A bucket of the shared moto server; 5 MiB parts (S3's minimum), two at a time.
#[cfg(feature = "s3")]
pub struct S3Store {
    moto: &'static files_testkit::servers::MotoServer,
    bucket: String,
}

#[cfg(feature = "s3")]
pub fn s3(tag: &str) -> Option<S3Store> {
    let moto = files_testkit::servers::moto_or_skip()?;
    let bucket = moto.new_bucket(tag).expect("a bucket");
    Some(S3Store { moto, bucket })
}

#[cfg(feature = "s3")]
impl S3Store {
    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }
    /// The server.
    pub fn moto(&self) -> &'static files_testkit::servers::MotoServer {
        self.moto
    }
}

/// The `files` binary with the S3 test credentials, and nothing else of the machine's AWS
/// set-up (no profile, no config files, no instance metadata).
#[cfg(feature = "s3")]
pub fn s3_files() -> Command {
    use files_testkit::servers::{ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY};
    let mut c = files_bin();
    c.env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_ENDPOINT_URL_S3")
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
        .env("AWS_REGION", REGION)
        .env("AWS_CONFIG_FILE", "/nonexistent/files-test/aws-config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/files-test/aws-credentials",
        )
        .env("AWS_EC2_METADATA_DISABLED", "true");
    c
}

/// The `s3://` URL of `key` in `bucket` on the test server.
#[cfg(feature = "s3")]
pub fn s3_url(moto: &files_testkit::servers::MotoServer, bucket: &str, key: &str) -> String {
    format!(
        "s3://{bucket}/{key}?endpoint={}&path_style=true&region={}",
        moto.endpoint(),
        files_testkit::servers::REGION
    )
}

#[cfg(feature = "s3")]
impl Store for S3Store {
    fn name(&self) -> &'static str {
        "s3"
    }
    fn shape(&self) -> Shape {
        Shape {
            part_size: 5 << 20,
            parts: 2,
            concurrency: 2,
            bwlimit: 20 << 20,
            parallel_parts: true,
        }
    }
    fn files(&self) -> Command {
        s3_files()
    }
    fn url(&self, key: &str) -> String {
        s3_url(self.moto, &self.bucket, key)
    }
    fn stored(&self, key: &str) -> Option<Vec<u8>> {
        self.moto.get_object(&self.bucket, key).expect("GET object")
    }
    fn leftovers(&self, key: &str) -> Vec<String> {
        self.moto
            .open_uploads(&self.bucket, key)
            .expect("ListMultipartUploads")
            .into_iter()
            .filter(|(k, _)| k == key)
            .map(|(k, id)| format!("multipart upload {id} of {k}"))
            .collect()
    }
    /// The sizes of the parts ListParts shows (all pages are not needed: a few parts).
    fn landed(&self, key: &str, token: &ResumeToken) -> Option<u64> {
        let path = format!("/{}/{key}?uploadId={}", self.bucket, token.session.id);
        let a = files_testkit::servers::http(self.moto.port(), "GET", &path, b"").ok()?;
        if a.status != 200 {
            return Some(0);
        }
        let xml = String::from_utf8_lossy(&a.body);
        Some(
            xml.split("<Part>")
                .skip(1)
                .filter_map(|p| {
                    let size = p.split("<Size>").nth(1)?.split("</Size>").next()?;
                    size.trim().parse::<u64>().ok()
                })
                .sum(),
        )
    }
    fn secrets(&self) -> Vec<String> {
        vec![
            files_testkit::servers::SECRET_ACCESS_KEY.into(),
            files_testkit::servers::ACCESS_KEY_ID.into(),
        ]
    }
}

// ------------------------------------------------------------------------------------ SFTP

/// A fresh root on the shared sshd (no chroot: the remote path is the local path).
#[cfg(feature = "sftp")]
pub struct SftpStore {
    sshd: &'static files_testkit::sshd::SshServer,
    root: String,
}

#[cfg(feature = "sftp")]
impl SftpStore {
    /// The root (an absolute path, on the server as on this machine's disk).
    pub fn root(&self) -> &str {
        &self.root
    }
}

#[cfg(feature = "sftp")]
pub fn sftp(tag: &str) -> Option<SftpStore> {
    let sshd = files_testkit::sshd::sshd_or_skip()?;
    let root = sshd.new_root(tag).expect("a root");
    Some(SftpStore { sshd, root })
}

/// The `files` binary with the SFTP login in its environment.
#[cfg(feature = "sftp")]
pub fn sftp_files(sshd: &files_testkit::sshd::SshServer) -> Command {
    use files_testkit::sshd::{SFTP_PASSWORD, SFTP_USER};
    let mut c = files_bin();
    c.env_remove("SSH_AUTH_SOCK")
        .env_remove("FILES_SFTP_KEY")
        .env("FILES_SFTP_USER", SFTP_USER)
        .env("FILES_SFTP_PASSWORD", SFTP_PASSWORD)
        .env("FILES_SFTP_KNOWN_HOSTS", sshd.known_hosts_path());
    c
}

/// The `sftp://` URL of `key` under `root` (no password in it).
#[cfg(feature = "sftp")]
pub fn sftp_url(sshd: &files_testkit::sshd::SshServer, root: &str, key: &str) -> String {
    format!(
        "sftp://{}@127.0.0.1:{}{root}/{key}?root={root}",
        files_testkit::sshd::SFTP_USER,
        sshd.port()
    )
}

#[cfg(feature = "sftp")]
impl Store for SftpStore {
    fn name(&self) -> &'static str {
        "sftp"
    }
    fn shape(&self) -> Shape {
        SMALL
    }
    fn files(&self) -> Command {
        sftp_files(self.sshd)
    }
    fn url(&self, key: &str) -> String {
        sftp_url(self.sshd, &self.root, key)
    }
    fn stored(&self, key: &str) -> Option<Vec<u8>> {
        std::fs::read(Path::new(&self.root).join(key)).ok()
    }
    fn leftovers(&self, key: &str) -> Vec<String> {
        part_file_leftovers(Path::new(&self.root), key)
    }
    fn landed(&self, key: &str, _: &ResumeToken) -> Option<u64> {
        Some(file_len(&Path::new(&self.root).join(format!("{key}.fls-part"))).unwrap_or(0))
    }
    fn secrets(&self) -> Vec<String> {
        vec![files_testkit::sshd::SFTP_PASSWORD.into()]
    }
}

// ------------------------------------------------------------------------------------- FTP

/// A fresh root on an FTP server (the shared pyftpdlib for the matrix).
#[cfg(feature = "ftp")]
pub struct FtpStore {
    server: &'static files_testkit::ftpd::FtpServer,
    root: String,
}

#[cfg(feature = "ftp")]
pub fn ftp(server: &'static files_testkit::ftpd::FtpServer, tag: &str) -> FtpStore {
    FtpStore {
        server,
        root: server.new_root(tag),
    }
}

/// The `files` binary with the server's user and password in its environment.
#[cfg(feature = "ftp")]
pub fn ftp_files(server: &files_testkit::ftpd::FtpServer) -> Command {
    let mut c = files_bin();
    c.env("FILES_FTP_USER", server.user())
        .env("FILES_FTP_PASSWORD", server.password());
    c
}

/// `ftp(s)://127.0.0.1:PORT/<root>/<key>?root=<root>[&ca=...]`: no credential in it.
#[cfg(feature = "ftp")]
pub fn ftp_url(server: &files_testkit::ftpd::FtpServer, root: &str, key: &str) -> String {
    let scheme = if server.tls() { "ftps" } else { "ftp" };
    let mut u = format!(
        "{scheme}://127.0.0.1:{}/{root}/{key}?root={root}",
        server.port()
    );
    if let Some(ca) = server.ca_file() {
        u.push_str(&format!("&ca={}", ca.display()));
    }
    u
}

#[cfg(feature = "ftp")]
impl FtpStore {
    /// The root's directory on this machine's disk.
    pub fn disk(&self) -> std::path::PathBuf {
        self.server.dir().join(&self.root)
    }
}

#[cfg(feature = "ftp")]
impl Store for FtpStore {
    fn name(&self) -> &'static str {
        "ftp"
    }
    fn shape(&self) -> Shape {
        SMALL
    }
    fn files(&self) -> Command {
        ftp_files(self.server)
    }
    fn url(&self, key: &str) -> String {
        ftp_url(self.server, &self.root, key)
    }
    fn stored(&self, key: &str) -> Option<Vec<u8>> {
        std::fs::read(self.disk().join(key)).ok()
    }
    fn leftovers(&self, key: &str) -> Vec<String> {
        part_file_leftovers(&self.disk(), key)
    }
    fn landed(&self, key: &str, _: &ResumeToken) -> Option<u64> {
        Some(file_len(&self.disk().join(format!("{key}.fls-part"))).unwrap_or(0))
    }
    fn secrets(&self) -> Vec<String> {
        vec![self.server.password().into()]
    }
}

// ---------------------------------------------------------------------------------- WebDAV

/// An Apache (`mod_dav_fs`) of its own.
#[cfg(feature = "webdav")]
pub struct DavStore {
    server: files_testkit::davd::DavServer,
}

#[cfg(feature = "webdav")]
pub fn webdav() -> Option<DavStore> {
    Some(DavStore {
        server: files_testkit::davd::own_apache_or_skip()?,
    })
}

/// The `files` binary with the WebDAV login in its environment (the user too: a sidecar's
/// URL may not carry it).
#[cfg(feature = "webdav")]
pub fn dav_files() -> Command {
    let mut c = files_bin();
    c.env_remove("FILES_WEBDAV_TOKEN")
        .env("FILES_WEBDAV_USER", files_testkit::davd::DAV_USER)
        .env("FILES_WEBDAV_PASSWORD", files_testkit::davd::DAV_PASSWORD);
    c
}

/// `webdav://USER@127.0.0.1:PORT/key` (the password comes from the environment).
#[cfg(feature = "webdav")]
pub fn dav_url(server: &files_testkit::davd::DavServer, key: &str) -> String {
    format!(
        "webdav://{}@127.0.0.1:{}/{key}",
        files_testkit::davd::DAV_USER,
        server.port()
    )
}

#[cfg(feature = "webdav")]
impl Store for DavStore {
    fn name(&self) -> &'static str {
        "webdav"
    }
    fn shape(&self) -> Shape {
        SMALL
    }
    fn files(&self) -> Command {
        dav_files()
    }
    fn url(&self, key: &str) -> String {
        dav_url(&self.server, key)
    }
    fn stored(&self, key: &str) -> Option<Vec<u8>> {
        self.server.stored(key)
    }
    fn leftovers(&self, key: &str) -> Vec<String> {
        self.server.leftovers_of(key)
    }
    fn landed(&self, key: &str, _: &ResumeToken) -> Option<u64> {
        Some(file_len(&self.server.path_of(&format!("{key}.fls-part"))).unwrap_or(0))
    }
    fn secrets(&self) -> Vec<String> {
        vec![files_testkit::davd::DAV_PASSWORD.into()]
    }
}

// ----------------------------------------------------------------------------------- Azure

/// A container of the shared Azurite; blocks two at a time.
#[cfg(feature = "azure")]
pub struct AzureStore {
    az: &'static files_testkit::azurite::AzuriteServer,
    container: String,
}

#[cfg(feature = "azure")]
pub fn azure(tag: &str) -> Option<AzureStore> {
    let az = files_testkit::azurite::azurite_or_skip()?;
    let container = az.new_container(tag).expect("a container");
    Some(AzureStore { az, container })
}

/// The `files` binary with the account key in `AZURE_STORAGE_KEY`.
#[cfg(feature = "azure")]
pub fn az_files() -> Command {
    use files_testkit::azurite::{ACCOUNT, ACCOUNT_KEY};
    let mut c = files_bin();
    c.env_remove("AZURE_STORAGE_CONNECTION_STRING")
        .env_remove("AZURE_STORAGE_SAS_TOKEN")
        .env("AZURE_STORAGE_ACCOUNT", ACCOUNT)
        .env("AZURE_STORAGE_KEY", ACCOUNT_KEY);
    c
}

#[cfg(feature = "azure")]
impl Store for AzureStore {
    fn name(&self) -> &'static str {
        "azure"
    }
    fn shape(&self) -> Shape {
        Shape {
            parallel_parts: true,
            ..SMALL
        }
    }
    fn files(&self) -> Command {
        az_files()
    }
    fn url(&self, key: &str) -> String {
        format!(
            "az://{}/{key}?endpoint={}",
            self.container,
            self.az.endpoint()
        )
    }
    fn stored(&self, key: &str) -> Option<Vec<u8>> {
        self.az.get_blob(&self.container, key).expect("GET blob")
    }
    fn leftovers(&self, key: &str) -> Vec<String> {
        self.az
            .uncommitted_blocks(&self.container, key)
            .expect("Get Block List")
            .into_iter()
            .map(|(id, size)| format!("uncommitted block {id} ({size} bytes)"))
            .collect()
    }
    fn landed(&self, key: &str, token: &ResumeToken) -> Option<u64> {
        let ours = format!("fls1-{}-", token.session.id);
        let blocks = self.az.uncommitted_blocks(&self.container, key).ok()?;
        Some(
            blocks
                .iter()
                .filter(|(id, _)| id.starts_with(&ours))
                .map(|(_, size)| size)
                .sum(),
        )
    }
    fn secrets(&self) -> Vec<String> {
        vec![files_testkit::azurite::ACCOUNT_KEY.into()]
    }
}

// ------------------------------------------------------------------------------------- GCS

/// A bucket of a fake GCS server of its own (in this process, on a loopback port).
#[cfg(feature = "gcs")]
pub struct GcsStore {
    gcs: files_fakes::gcs::FakeGcs,
    bucket: String,
}

#[cfg(feature = "gcs")]
pub fn gcs(tag: &str) -> Option<GcsStore> {
    let gcs = files_fakes::gcs::FakeGcs::start().expect("the fake GCS server");
    let bucket = gcs.new_bucket(tag);
    Some(GcsStore { gcs, bucket })
}

/// The `files` binary pointed at a GCS emulator endpoint (anonymous, as for an emulator).
#[cfg(feature = "gcs")]
pub fn gcs_files(endpoint: &str) -> Command {
    let mut c = files_bin();
    c.env_remove("GOOGLE_APPLICATION_CREDENTIALS")
        .env_remove("FILES_GCS_EMULATOR_QUIRKS")
        .env("STORAGE_EMULATOR_HOST", endpoint);
    c
}

#[cfg(feature = "gcs")]
impl Store for GcsStore {
    fn name(&self) -> &'static str {
        "gcs"
    }
    fn shape(&self) -> Shape {
        SMALL
    }
    fn files(&self) -> Command {
        gcs_files(&self.gcs.endpoint())
    }
    fn url(&self, key: &str) -> String {
        format!("gs://{}/{key}", self.bucket)
    }
    fn stored(&self, key: &str) -> Option<Vec<u8>> {
        self.gcs.object(&self.bucket, key)
    }
    fn leftovers(&self, key: &str) -> Vec<String> {
        self.gcs.open_sessions(&self.bucket, key)
    }
    fn expire(&self, token: &ResumeToken) -> bool {
        self.gcs.expire_session(&token.session.id)
    }
}

// ---------------------------------------------------------------------------- Google Drive

/// A folder of a fake Drive server of its own (in this process, on a loopback port), reached
/// by the CLI through `GDRIVE_ENDPOINT`. Keys are names in that folder (no `/`).
#[cfg(feature = "gdrive")]
pub struct DriveStore {
    drive: files_fakes::gdrive::FakeDrive,
    root: String,
}

#[cfg(feature = "gdrive")]
pub const DRIVE_TOKEN: &str = "ya29.files-cli-crash-matrix";

#[cfg(feature = "gdrive")]
pub fn gdrive(tag: &str) -> Option<DriveStore> {
    let drive = files_fakes::gdrive::FakeDrive::start(DRIVE_TOKEN).expect("the fake Drive");
    let root = drive.create_folder("root", tag);
    Some(DriveStore { drive, root })
}

#[cfg(feature = "gdrive")]
impl Store for DriveStore {
    fn name(&self) -> &'static str {
        "gdrive"
    }
    fn shape(&self) -> Shape {
        SMALL
    }
    fn files(&self) -> Command {
        let mut c = files_bin();
        c.env("GDRIVE_ACCESS_TOKEN", DRIVE_TOKEN)
            .env("GDRIVE_ENDPOINT", self.drive.endpoint());
        c
    }
    fn url(&self, key: &str) -> String {
        assert!(!key.contains('/'), "Drive keys of the matrix are flat");
        format!("gdrive://{}/{key}", self.root)
    }
    /// The one file named `key`; two of them (a duplicated upload) fail the test.
    fn stored(&self, key: &str) -> Option<Vec<u8>> {
        let mut found = self.drive.files_named(&self.root, key);
        assert!(found.len() <= 1, "{} files named {key}", found.len());
        found.pop().map(|(_, data)| data)
    }
    fn leftovers(&self, key: &str) -> Vec<String> {
        self.drive.open_sessions(key)
    }
    fn expire(&self, token: &ResumeToken) -> bool {
        self.drive.expire_session(&token.session.id)
    }
    fn secrets(&self) -> Vec<String> {
        vec![DRIVE_TOKEN.into()]
    }
}

// ------------------------------------------------------------------------ OneDrive (Graph)

/// A folder of the signed-in user's drive on a fake Graph server of its own (in this process,
/// on a loopback port), reached by the CLI through `MS_GRAPH_ENDPOINT`.
#[cfg(feature = "onedrive")]
pub struct OneDriveStore {
    graph: files_fakes::graph::FakeGraph,
    folder: String,
}

#[cfg(feature = "onedrive")]
pub fn onedrive(tag: &str) -> Option<OneDriveStore> {
    let graph = files_fakes::graph::FakeGraph::start().expect("the fake Graph server");
    Some(OneDriveStore {
        graph,
        folder: tag.to_string(),
    })
}

#[cfg(feature = "onedrive")]
impl OneDriveStore {
    fn path(&self, key: &str) -> String {
        format!("{}/{key}", self.folder)
    }
}

#[cfg(feature = "onedrive")]
impl Store for OneDriveStore {
    fn name(&self) -> &'static str {
        "onedrive"
    }
    /// Fragments are multiples of 320 KiB.
    fn shape(&self) -> Shape {
        Shape {
            part_size: 320 << 10,
            ..SMALL
        }
    }
    fn files(&self) -> Command {
        let mut c = files_bin();
        c.env("MS_GRAPH_ACCESS_TOKEN", files_fakes::graph::TEST_TOKEN)
            .env("MS_GRAPH_ENDPOINT", self.graph.endpoint());
        c
    }
    fn url(&self, key: &str) -> String {
        format!("onedrive://me/{}", self.path(key))
    }
    fn stored(&self, key: &str) -> Option<Vec<u8>> {
        self.graph.object("me", &self.path(key))
    }
    fn leftovers(&self, key: &str) -> Vec<String> {
        self.graph.open_sessions("me", &self.path(key))
    }
    fn expire(&self, token: &ResumeToken) -> bool {
        self.graph.expire_session(&token.session.id)
    }
    fn secrets(&self) -> Vec<String> {
        vec![files_fakes::graph::TEST_TOKEN.into()]
    }
}
