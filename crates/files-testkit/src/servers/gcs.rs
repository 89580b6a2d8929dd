//! The GCS test server harness: gcp-storage-emulator ([`GcsEmulator`], shared per test
//! process by [`emulator_or_skip`]). The protocol-faithful in-process fake is
//! `files_fakes::gcs::FakeGcs`.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::process::Command;
use std::sync::{Arc, Mutex};

use serde_json::json;

use crate::servers::{self, ServerProcess};

// ------------------------------------------------------------------------- the emulator

/// A gcp-storage-emulator process (in memory), killed on drop.
#[derive(Debug)]
pub struct GcsEmulator {
    process: ServerProcess,
}

impl GcsEmulator {
    /// Installs the test servers if needed and starts the emulator on a free port.
    pub fn start() -> Result<GcsEmulator, String> {
        servers::ensure_installed()?;
        let bin = servers::venv_bin("gcp-storage-emulator");
        let process = ServerProcess::start(
            "gcp-storage-emulator",
            |port| {
                let mut c = Command::new(&bin);
                c.args([
                    "start",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    &port.to_string(),
                    "--in-memory",
                ]);
                c
            },
            servers::answers_http,
        )?;
        Ok(GcsEmulator { process })
    }

    /// Its endpoint, `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.process.port())
    }

    /// The process.
    pub fn process(&self) -> &ServerProcess {
        &self.process
    }

    /// Creates a bucket and returns its name.
    pub fn new_bucket(&self, tag: &str) -> Result<String, String> {
        let name = servers::unique_bucket_name(tag);
        let body = json!({ "name": name }).to_string();
        let (status, answer) = raw_http(
            self.process.port(),
            "POST",
            "/storage/v1/b",
            "Content-Type: application/json\r\n",
            body.as_bytes(),
        )
        .ok_or_else(|| format!("create bucket {name}: no answer"))?;
        if status >= 300 {
            return Err(format!("create bucket {name}: {status} {answer}"));
        }
        Ok(name)
    }

    /// Whether the resumable session a session URL names still exists at the emulator (a
    /// status query that changes nothing: `bytes */*`).
    pub fn session_open(&self, session_url: &str) -> bool {
        let Some(path) = session_url
            .split_once("://")
            .and_then(|(_, r)| r.find('/').map(|i| &r[i..]))
        else {
            return false;
        };
        status_query(self.process.port(), path).is_some_and(|s| s == 308)
    }
}

fn status_query(port: u16, path: &str) -> Option<u16> {
    raw_http(port, "PUT", path, "Content-Range: bytes */*\r\n", b"").map(|(s, _)| s)
}

/// One HTTP/1.1 request (`extra` holds additional header lines); the status and the body text.
fn raw_http(
    port: u16,
    method: &str,
    path: &str,
    extra: &str,
    body: &[u8],
) -> Option<(u16, String)> {
    let mut s = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).ok()?;
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(req.as_bytes()).ok()?;
    s.write_all(body).ok()?;
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Some((status, body))
}

static SHARED_EMULATOR: Mutex<Option<Arc<GcsEmulator>>> = Mutex::new(None);

/// One emulator per test process (started on first use), or `None` after
/// [`servers::unavailable`] (which panics in CI).
pub fn emulator_or_skip() -> Option<Arc<GcsEmulator>> {
    let mut slot = SHARED_EMULATOR.lock().unwrap();
    if let Some(e) = slot.as_ref() {
        return Some(e.clone());
    }
    match GcsEmulator::start() {
        Ok(e) => {
            let e = Arc::new(e);
            *slot = Some(e.clone());
            Some(e)
        }
        Err(why) => servers::unavailable("gcp-storage-emulator", &why),
    }
}
