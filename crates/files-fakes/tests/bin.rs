//! The `files-fake` binary: spawn it, read its JSON line, talk to the endpoint, kill it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

/// Kills the child on drop (a failed assertion must not leave it running).
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(provider: &str) -> (Killed, Value) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_files-fake"))
        .arg(provider)
        .stdout(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let stdout = child.stdout.take().unwrap();
    let child = Killed(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
    assert_eq!(v["provider"], provider);
    (child, v)
}

#[tokio::test]
async fn gcs_binary_serves_the_bucket_it_announces() {
    let (_child, v) = spawn("gcs");
    let endpoint = v["endpoint"].as_str().unwrap();
    assert_eq!(v["env"]["STORAGE_EMULATOR_HOST"], endpoint);
    let bucket = v["url"]
        .as_str()
        .unwrap()
        .trim_start_matches("gs://")
        .trim_end_matches('/');
    let c = reqwest::Client::new();
    let r = c
        .post(format!(
            "{endpoint}/upload/storage/v1/b/{bucket}/o?uploadType=media&name=hello.txt"
        ))
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c
        .get(format!(
            "{endpoint}/storage/v1/b/{bucket}/o/hello.txt?alt=media"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "hello");
}

#[tokio::test]
async fn gdrive_binary_wants_the_token_it_announces() {
    let (_child, v) = spawn("gdrive");
    let endpoint = v["env"]["GDRIVE_ENDPOINT"].as_str().unwrap();
    let token = v["env"]["GDRIVE_ACCESS_TOKEN"].as_str().unwrap();
    let c = reqwest::Client::new();
    let url = format!("{endpoint}/drive/v3/files?q=trashed%20%3D%20false");
    assert_eq!(c.get(&url).send().await.unwrap().status(), 401);
    let r = c.get(&url).bearer_auth(token).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let list: Value = r.json().await.unwrap();
    assert_eq!(list["kind"], "drive#fileList");
}
