//! Azurite, Microsoft's Azure Storage emulator (npm `azurite`), as a test server: its blob
//! service on a free loopback port over a temporary folder, killed on drop.
//!
//! Azurite checks Shared Key signatures for real, with the well-known development account
//! [`ACCOUNT`] / [`ACCOUNT_KEY`]. It runs with `--skipApiVersionCheck` (clients ask for API
//! versions newer than it knows) and `--loose` (it ignores headers it does not implement).
//!
//! The inspection calls here ([`AzuriteServer::uncommitted_blocks`],
//! [`AzuriteServer::get_blob`]) sign their own requests, so tests observe the server's state
//! without going through the adapter under test.
//!
//! ```no_run
//! #[tokio::test]
//! async fn my_azure_test() {
//!     let azurite = files_testkit::require_server!(files_testkit::azurite::azurite_or_skip());
//!     let container = azurite.new_container("my-test").unwrap();
//!     let _ = (azurite.endpoint(), container);
//! }
//! ```

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use sha2::Sha256;

use super::common::{path_escape, query_escape, xml_elements};
use crate::servers::{self, HttpAnswer, ServerProcess};

/// The development account Azurite serves.
pub const ACCOUNT: &str = "devstoreaccount1";
/// The development account's key (public, documented by Microsoft).
pub const ACCOUNT_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
/// An environment variable naming the blob endpoint of an Azurite already running
/// (`http://127.0.0.1:PORT/devstoreaccount1`): when set, [`shared_azurite`] uses it.
pub const AZURITE_ENDPOINT_ENV: &str = "FILES_TEST_AZURITE_ENDPOINT";
const VERSION: &str = "2025-01-05";

/// A running Azurite blob service (owned: killed on drop), or an external one.
#[derive(Debug)]
pub struct AzuriteServer {
    port: u16,
    process: Option<ServerProcess>,
    _dir: Option<tempfile::TempDir>,
}

impl AzuriteServer {
    /// Installs Azurite if needed ([`servers::ensure_npm_packages`]) and starts its blob
    /// service on a free port over a fresh temporary folder, waiting until it answers.
    pub fn start() -> Result<AzuriteServer, String> {
        servers::ensure_npm_packages()?;
        let bin = servers::node_bin("azurite-blob");
        if !bin.is_file() {
            return Err(format!("{} is missing", bin.display()));
        }
        let dir = crate::servers::scratch::scratch_dir(&std::env::temp_dir(), "azurite")?;
        let location = dir.path().to_path_buf();
        let process = ServerProcess::start(
            "azurite",
            |port| {
                let mut c = Command::new(&bin);
                c.args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
                    .arg("--location")
                    .arg(&location)
                    .args([
                        "--skipApiVersionCheck",
                        "--loose",
                        "--silent",
                        "--disableTelemetry",
                    ]);
                c
            },
            answers,
        )?;
        Ok(AzuriteServer {
            port: process.port(),
            process: Some(process),
            _dir: Some(dir),
        })
    }

    /// A handle on an Azurite already serving at `endpoint`
    /// (`http://127.0.0.1:PORT/devstoreaccount1`); not stopped on drop.
    pub fn external(endpoint: &str) -> Result<AzuriteServer, String> {
        let port = endpoint
            .strip_prefix("http://127.0.0.1:")
            .and_then(|r| r.split('/').next())
            .and_then(|p| p.parse::<u16>().ok())
            .ok_or_else(|| {
                format!("{AZURITE_ENDPOINT_ENV}={endpoint:?} is not http://127.0.0.1:PORT/...")
            })?;
        if !answers(port) {
            return Err(format!("no Azurite answers at {endpoint}"));
        }
        Ok(AzuriteServer {
            port,
            process: None,
            _dir: None,
        })
    }

    /// The port of its blob service.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The process, when this handle started it.
    pub fn process(&self) -> Option<&ServerProcess> {
        self.process.as_ref()
    }

    /// The path-style blob endpoint: `http://127.0.0.1:PORT/devstoreaccount1`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/{ACCOUNT}", self.port)
    }

    /// A connection string for this server (holds the public development key).
    pub fn connection_string(&self) -> String {
        format!(
            "DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};BlobEndpoint={};",
            self.endpoint()
        )
    }

    /// Sends a request signed with the development key. `path` is below the account
    /// (`/container/blob`, already percent-encoded); `query` raw name/value pairs.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<HttpAnswer> {
        let date = httpdate::fmt_http_date(SystemTime::now());
        let mut hs: Vec<(String, String)> = headers
            .iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), v.to_string()))
            .collect();
        hs.push(("x-ms-date".into(), date));
        hs.push(("x-ms-version".into(), VERSION.into()));
        let full_path = format!("/{ACCOUNT}{path}");
        let get = |n: &str| {
            hs.iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let len = if body.is_empty() {
            String::new()
        } else {
            body.len().to_string()
        };
        let mut sts = format!(
            "{method}\n{}\n{}\n{len}\n{}\n{}\n\n{}\n{}\n{}\n{}\n{}\n",
            get("content-encoding"),
            get("content-language"),
            get("content-md5"),
            get("content-type"),
            get("if-modified-since"),
            get("if-match"),
            get("if-none-match"),
            get("if-unmodified-since"),
            get("range"),
        );
        let mut ms: Vec<&(String, String)> =
            hs.iter().filter(|(n, _)| n.starts_with("x-ms-")).collect();
        ms.sort();
        for (n, v) in ms {
            sts.push_str(&format!("{n}:{}\n", v.trim()));
        }
        sts.push_str(&format!("/{ACCOUNT}{full_path}"));
        let mut q: Vec<(String, &str)> = query
            .iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), *v))
            .collect();
        q.sort();
        for (n, v) in &q {
            sts.push_str(&format!("\n{n}:{v}"));
        }
        let key = base64_decode(ACCOUNT_KEY).expect("the development key is base64");
        let sig = base64_encode(&hmac_sha256(&key, sts.as_bytes()));
        let mut target = full_path.clone();
        for (i, (n, v)) in query.iter().enumerate() {
            target.push(if i == 0 { '?' } else { '&' });
            target.push_str(&format!("{n}={}", query_escape(v)));
        }
        let mut head = format!(
            "{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\
             Authorization: SharedKey {ACCOUNT}:{sig}\r\nContent-Length: {}\r\n",
            self.port,
            body.len()
        );
        for (n, v) in &hs {
            head.push_str(&format!("{n}: {v}\r\n"));
        }
        head.push_str("\r\n");
        raw_http(self.port, head.as_bytes(), body)
    }

    /// Creates the container `name` (an existing one is fine).
    pub fn create_container(&self, name: &str) -> Result<(), String> {
        let a = self
            .request(
                "PUT",
                &format!("/{name}"),
                &[("restype", "container")],
                &[],
                b"",
            )
            .map_err(|e| format!("create container {name}: {e}"))?;
        match a.status {
            201 | 409 => Ok(()),
            s => Err(format!(
                "create container {name}: HTTP {s}: {}",
                String::from_utf8_lossy(&a.body)
            )),
        }
    }

    /// Creates a container with a unique name made from `tag` and returns the name.
    pub fn new_container(&self, tag: &str) -> Result<String, String> {
        let name = servers::unique_bucket_name(tag);
        self.create_container(&name)?;
        Ok(name)
    }

    /// The uncommitted blocks of `container`/`blob` as `(block id decoded from base64, size)`,
    /// asked of the server directly (Get Block List); empty when the blob has none or does
    /// not exist.
    pub fn uncommitted_blocks(
        &self,
        container: &str,
        blob: &str,
    ) -> Result<Vec<(String, u64)>, String> {
        let path = format!("/{container}/{}", path_escape(blob));
        let a = self
            .request(
                "GET",
                &path,
                &[("comp", "blocklist"), ("blocklisttype", "uncommitted")],
                &[],
                b"",
            )
            .map_err(|e| format!("Get Block List {blob}: {e}"))?;
        let text = String::from_utf8_lossy(&a.body).into_owned();
        match a.status {
            200 => {}
            404 => return Ok(Vec::new()),
            s => return Err(format!("Get Block List {blob}: HTTP {s}: {text}")),
        }
        let section = xml_elements(&text, "UncommittedBlocks")
            .first()
            .copied()
            .unwrap_or("");
        Ok(xml_elements(section, "Block")
            .into_iter()
            .filter_map(|b| {
                let name = xml_elements(b, "Name").first().copied()?;
                let size = xml_elements(b, "Size").first()?.trim().parse().ok()?;
                let raw = base64_decode(name)?;
                Some((String::from_utf8_lossy(&raw).into_owned(), size))
            })
            .collect())
    }

    /// The committed bytes of `container`/`blob` (`None` when it does not exist).
    pub fn get_blob(&self, container: &str, blob: &str) -> Result<Option<Vec<u8>>, String> {
        let path = format!("/{container}/{}", path_escape(blob));
        let a = self
            .request("GET", &path, &[], &[], b"")
            .map_err(|e| format!("GET {blob}: {e}"))?;
        match a.status {
            200 => Ok(Some(a.body)),
            404 => Ok(None),
            s => Err(format!(
                "GET {blob}: HTTP {s}: {}",
                String::from_utf8_lossy(&a.body)
            )),
        }
    }
}

fn answers(port: u16) -> bool {
    raw_http(
        port,
        format!("GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n").as_bytes(),
        b"",
    )
    .is_ok()
}

/// The Azurite shared by every test of this process: the one named by
/// [`AZURITE_ENDPOINT_ENV`] if set, else one started on first use (it dies with the process:
/// parent-death signal). Give each test its own container ([`AzuriteServer::new_container`]).
pub fn shared_azurite() -> Result<&'static AzuriteServer, String> {
    static SHARED: OnceLock<Result<AzuriteServer, String>> = OnceLock::new();
    SHARED
        .get_or_init(|| match std::env::var(AZURITE_ENDPOINT_ENV) {
            Ok(e) if !e.is_empty() => AzuriteServer::external(&e),
            _ => AzuriteServer::start(),
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// [`shared_azurite`], or `None` after [`servers::unavailable`] reported why (it panics in
/// CI).
#[track_caller]
pub fn azurite_or_skip() -> Option<&'static AzuriteServer> {
    match shared_azurite() {
        Ok(s) => Some(s),
        Err(why) => servers::unavailable("azurite", &why),
    }
}

// ----------------------------------------------------------------------------- helpers

fn raw_http(port: u16, head: &[u8], body: &[u8]) -> std::io::Result<HttpAnswer> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    stream.write_all(head)?;
    stream.write_all(body)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no HTTP header in the answer"))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("not an HTTP answer"))?;
    let mut body = raw[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = unchunk(&body);
    }
    Ok(HttpAnswer { status, body })
}

fn unchunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = data.windows(2).position(|w| w == b"\r\n") {
        let size = String::from_utf8_lossy(&data[..end]);
        let Ok(size) = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16)
        else {
            break;
        };
        data = &data[end + 2..];
        if size == 0 || data.len() < size {
            break;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[(size + 2).min(data.len())..];
    }
    out
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    use hmac::Mac as _;
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any size");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

fn base64_encode(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(data)
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(s).ok()
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;

    #[test]
    fn codecs() {
        for s in ["", "a", "ab", "abc", "abcd", "fls1-0123456789abcdef-00001"] {
            assert_eq!(
                base64_decode(&base64_encode(s.as_bytes())).unwrap(),
                s.as_bytes()
            );
        }
        assert_eq!(base64_encode(b"ab"), "YWI=");
        // RFC 4231 test case 2.
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            mac.iter().map(|b| format!("{b:02x}")).collect::<String>(),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(784_111_777)),
            "Sun, 06 Nov 1994 08:49:37 GMT"
        );
    }

    #[test]
    fn azurite_checks_signatures_and_lists_blocks() {
        let Some(az) = azurite_or_skip() else { return };
        let c = az.new_container("self-test").unwrap();
        let put = az
            .request(
                "PUT",
                &format!("/{c}/a%20b"),
                &[("comp", "block"), ("blockid", "YWJj")],
                &[],
                b"hello",
            )
            .unwrap();
        assert_eq!(put.status, 201, "{}", String::from_utf8_lossy(&put.body));
        assert_eq!(
            az.uncommitted_blocks(&c, "a b").unwrap(),
            vec![("abc".to_string(), 5)]
        );
        assert_eq!(az.get_blob(&c, "a b").unwrap(), None);
        // An unsigned request is refused.
        let anon = raw_http(
            az.port(),
            format!(
                "GET /{ACCOUNT}/{c}?restype=container&comp=list HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nx-ms-version: {VERSION}\r\n\r\n"
            )
            .as_bytes(),
            b"",
        )
        .unwrap();
        assert!(matches!(anon.status, 403 | 404), "{}", anon.status);
    }
}
