//! moto, the most faithful local S3, as a test server ([`MotoServer`]), and the one moto shared
//! by every test of a process ([`shared_moto`], [`moto_or_skip`]).
//!
//! std only: `xtask` compiles this file (see `common.rs`).

use std::process::Command;
use std::sync::OnceLock;

use super::common::*;

/// An environment variable naming the endpoint of an already running moto server
/// (`http://127.0.0.1:PORT`): when set, [`shared_moto`] uses it instead of starting one.
/// `cargo xtask test` starts one moto for the whole run and sets it.
pub const MOTO_ENDPOINT_ENV: &str = "FILES_TEST_MOTO_ENDPOINT";

/// A moto S3 server on 127.0.0.1 (owned: killed on drop), or an external one named by
/// [`MOTO_ENDPOINT_ENV`].
///
/// moto accepts any credentials; use [`ACCESS_KEY_ID`] / [`SECRET_ACCESS_KEY`] and
/// [`REGION`], path-style addressing and [`endpoint`](Self::endpoint).
#[derive(Debug)]
pub struct MotoServer {
    endpoint: String,
    port: u16,
    process: Option<ServerProcess>,
}

impl MotoServer {
    /// Installs moto if needed ([`ensure_installed`]) and starts a new server on a free port,
    /// waiting until it answers.
    pub fn start() -> Result<MotoServer, String> {
        let installed = ensure_installed()?;
        let process = ServerProcess::start(
            "moto",
            |port| {
                let mut c = Command::new(&installed.moto_server);
                c.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
                c
            },
            moto_ready,
        )?;
        Ok(MotoServer {
            endpoint: format!("http://127.0.0.1:{}", process.port()),
            port: process.port(),
            process: Some(process),
        })
    }

    /// A handle on a moto server that is already running at `endpoint`
    /// (`http://127.0.0.1:PORT`); it is not stopped on drop. Fails if nothing answers there.
    pub fn external(endpoint: &str) -> Result<MotoServer, String> {
        let port = endpoint
            .trim_end_matches('/')
            .rsplit(':')
            .next()
            .and_then(|p| p.parse::<u16>().ok())
            .filter(|_| endpoint.starts_with("http://127.0.0.1:"))
            .ok_or_else(|| {
                format!("{MOTO_ENDPOINT_ENV}={endpoint:?} is not http://127.0.0.1:PORT")
            })?;
        if !moto_ready(port) {
            return Err(format!("no moto server answers at {endpoint}"));
        }
        Ok(MotoServer {
            endpoint: format!("http://127.0.0.1:{port}"),
            port,
            process: None,
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The port it serves on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The process, when this handle started it.
    pub fn process(&self) -> Option<&ServerProcess> {
        self.process.as_ref()
    }

    /// Creates the bucket `name` (in [`REGION`]).
    pub fn create_bucket(&self, name: &str) -> Result<(), String> {
        let answer = http(self.port, "PUT", &format!("/{name}"), b"")
            .map_err(|e| format!("create bucket {name}: {e}"))?;
        if answer.status == 200 {
            Ok(())
        } else {
            Err(format!(
                "create bucket {name}: HTTP {}: {}",
                answer.status,
                String::from_utf8_lossy(&answer.body)
            ))
        }
    }

    /// Creates a bucket with a unique name made from `tag` and returns the name.
    pub fn new_bucket(&self, tag: &str) -> Result<String, String> {
        let name = unique_bucket_name(tag);
        self.create_bucket(&name)?;
        Ok(name)
    }

    /// The multipart uploads still open in `bucket` for keys starting with `prefix`, as
    /// `(key, upload id)` pairs, asked of the server directly (ListMultipartUploads, all
    /// pages), not through any adapter.
    pub fn open_uploads(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> Result<Vec<(String, String)>, String> {
        let mut out = Vec::new();
        let mut markers: Option<(String, String)> = None;
        loop {
            let mut path = format!("/{bucket}?uploads&prefix={}", query_escape(prefix));
            if let Some((k, u)) = &markers {
                path.push_str(&format!(
                    "&key-marker={}&upload-id-marker={}",
                    query_escape(k),
                    query_escape(u)
                ));
            }
            let answer = http(self.port, "GET", &path, b"")
                .map_err(|e| format!("ListMultipartUploads {bucket}: {e}"))?;
            let xml = String::from_utf8_lossy(&answer.body).into_owned();
            if answer.status != 200 {
                return Err(format!(
                    "ListMultipartUploads {bucket}: HTTP {}: {xml}",
                    answer.status
                ));
            }
            for upload in xml_elements(&xml, "Upload") {
                let key = xml_elements(upload, "Key").first().map(|k| xml_unescape(k));
                let id = xml_elements(upload, "UploadId")
                    .first()
                    .map(|k| xml_unescape(k));
                if let (Some(k), Some(u)) = (key, id) {
                    out.push((k, u));
                }
            }
            let truncated = xml_elements(&xml, "IsTruncated")
                .first()
                .is_some_and(|t| t.trim() == "true");
            let next_key = xml_elements(&xml, "NextKeyMarker")
                .first()
                .map(|k| xml_unescape(k));
            let next_id = xml_elements(&xml, "NextUploadIdMarker")
                .first()
                .map(|k| xml_unescape(k));
            match (truncated, next_key, next_id) {
                (true, Some(k), Some(u)) if markers.as_ref() != Some(&(k.clone(), u.clone())) => {
                    markers = Some((k, u))
                }
                _ => return Ok(out),
            }
        }
    }

    /// The bytes of the object `bucket`/`key` as the server holds them (`None` when it does
    /// not exist), asked of the server directly.
    pub fn get_object(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, String> {
        let path = format!("/{bucket}/{}", path_escape(key));
        let answer =
            http(self.port, "GET", &path, b"").map_err(|e| format!("GET {bucket}/{key}: {e}"))?;
        match answer.status {
            200 => Ok(Some(answer.body)),
            404 => Ok(None),
            s => Err(format!(
                "GET {bucket}/{key}: HTTP {s}: {}",
                String::from_utf8_lossy(&answer.body)
            )),
        }
    }
}

fn moto_ready(port: u16) -> bool {
    // moto answers `GET /` with the bucket list.
    http(port, "GET", "/", b"").is_ok_and(|a| a.status == 200)
}

/// The moto server shared by every test of this process: the one named by
/// [`MOTO_ENDPOINT_ENV`] if set, else one started on first use and killed when the process
/// exits (parent-death signal; statics are never dropped). Give each test its own bucket
/// ([`MotoServer::new_bucket`]).
pub fn shared_moto() -> Result<&'static MotoServer, String> {
    static SHARED: OnceLock<Result<MotoServer, String>> = OnceLock::new();
    SHARED
        .get_or_init(|| match std::env::var(MOTO_ENDPOINT_ENV) {
            Ok(endpoint) if !endpoint.is_empty() => MotoServer::external(&endpoint),
            _ => MotoServer::start(),
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// [`shared_moto`], or `None` after [`unavailable`] reported why (it panics in CI).
#[track_caller]
pub fn moto_or_skip() -> Option<&'static MotoServer> {
    match shared_moto() {
        Ok(server) => Some(server),
        Err(why) => unavailable("moto", &why),
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    /// Start, probe, bucket creation, the server-side listings and the kill on drop, against
    /// the real server.
    #[test]
    fn moto_starts_answers_and_dies_on_drop() {
        let moto = match MotoServer::start() {
            Ok(m) => m,
            Err(why) => return unavailable::<()>("moto", &why).unwrap_or(()),
        };
        let bucket = moto.new_bucket("servers-self-test").unwrap();
        assert_eq!(moto.open_uploads(&bucket, "").unwrap(), vec![]);
        // A multipart upload started through the raw client, then listed.
        let created = http(
            moto.port(),
            "POST",
            &format!("/{bucket}/a%20b/k?uploads"),
            b"",
        )
        .unwrap();
        let text = String::from_utf8_lossy(&created.body).into_owned();
        assert_eq!(created.status, 200, "{text}");
        let id = xml_elements(&text, "UploadId")[0].to_string();
        let open = moto.open_uploads(&bucket, "a b/").unwrap();
        assert_eq!(open, vec![("a b/k".to_string(), id.clone())]);
        // The pinned moto answers ListParts with the `<ListPartsResult>` root aws-sdk-s3 wants
        // (5.2.x writes `<ListPartsResponse>`).
        let part = http(
            moto.port(),
            "PUT",
            &format!("/{bucket}/a%20b/k?partNumber=1&uploadId={id}"),
            b"part one",
        )
        .unwrap();
        assert_eq!(part.status, 200);
        let parts = http(
            moto.port(),
            "GET",
            &format!("/{bucket}/a%20b/k?uploadId={id}"),
            b"",
        )
        .unwrap();
        let text = String::from_utf8_lossy(&parts.body).into_owned();
        assert_eq!(parts.status, 200, "{text}");
        assert!(text.contains("<ListPartsResult"), "{text}");
        assert_eq!(xml_elements(&text, "PartNumber"), vec!["1"], "{text}");
        assert_eq!(xml_elements(&text, "Size"), vec!["8"], "{text}");
        assert!(moto.open_uploads(&bucket, "zzz").unwrap().is_empty());
        let put = http(moto.port(), "PUT", &format!("/{bucket}/obj"), b"hello").unwrap();
        assert_eq!(put.status, 200);
        assert_eq!(
            moto.get_object(&bucket, "obj").unwrap().as_deref(),
            Some(&b"hello"[..])
        );
        assert_eq!(moto.get_object(&bucket, "nope").unwrap(), None);
        let port = moto.port();
        drop(moto);
        assert!(!answers_http(port), "moto still answers after drop");
    }

    /// A server kept in a `static` (never dropped) dies with its process: this test runs itself
    /// again as a child that starts the shared moto and exits without any clean-up.
    #[test]
    fn shared_server_dies_with_its_process() {
        const CHILD: &str = "FILES_TEST_SERVERS_CHILD";
        if std::env::var_os(CHILD).is_some() {
            match shared_moto() {
                Ok(moto) => println!("PORT {}", moto.port()),
                Err(why) => println!("NO-SERVER {why}"),
            }
            std::process::exit(0);
        }
        if let Err(why) = ensure_installed() {
            return unavailable::<()>("moto", &why).unwrap_or(());
        }
        let out = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "servers::moto::tests::shared_server_dies_with_its_process",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, "1")
            .env_remove(MOTO_ENDPOINT_ENV)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let port: u16 = text
            .lines()
            .find_map(|l| l.split_once("PORT ").map(|(_, p)| p))
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("the child printed no port: {text}"));
        // The kill is delivered when the child dies; allow the socket a moment to close.
        let started = Instant::now();
        while answers_http(port) {
            assert!(
                started.elapsed() < READY_GUARD,
                "the child's moto (port {port}) outlived it"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn shared_moto_is_one_server() {
        let Some(a) = moto_or_skip() else { return };
        let b = shared_moto().unwrap();
        assert_eq!(a.endpoint(), b.endpoint());
        assert!(a.endpoint().starts_with("http://127.0.0.1:"));
    }
}
