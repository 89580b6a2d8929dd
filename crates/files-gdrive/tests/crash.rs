//! The crash test: a child process (this test binary, re-invoked) uploads to the fake Drive
//! server of this process with a checkpoint file and is killed with SIGKILL mid-upload; a
//! resume from the checkpoint then sends only the missing bytes and the file holds exactly the
//! source bytes.

use std::process::{Command, Stdio};

use files_core::{Body, Files};
use files_gdrive::GDriveAdapter;
use files_testkit::crash::{
    kill_when_loaded, read_checkpoint, sha256_bytes, sha256_file, write_random_file,
};

#[allow(dead_code)]
use files_testkit::gdrive as fake;

const TOKEN: &str = "ya29.crash-token";
const KIB256: u64 = 256 * 1024;

fn adapter(endpoint: &str, root: &str) -> GDriveAdapter {
    GDriveAdapter::builder()
        .endpoint(endpoint)
        .access_token(TOKEN)
        .root_folder(root)
        .build()
        .expect("an adapter")
}

async fn upload(
    files: &Files,
    src: &str,
    cp: &str,
    rate: Option<u64>,
) -> files_core::UploadOutcome {
    let mut up = files
        .upload(
            "crash/big.bin",
            Body::from_path(src).await.expect("the source"),
        )
        .part_size(KIB256)
        .concurrency(1)
        .checkpoint(cp);
    if let Some(r) = rate {
        up = up.rate_limit(r);
    }
    up.await.expect("upload")
}

/// The child's side: run only when re-invoked by `crash_then_resume_sends_only_missing_bytes`.
#[tokio::test]
#[ignore = "the child process of the crash test"]
async fn crash_child() {
    let var = |n: &str| std::env::var(n).expect("run by the crash test");
    let files = Files::new(adapter(
        &var("GDRIVE_CRASH_ENDPOINT"),
        &var("GDRIVE_CRASH_ROOT"),
    ));
    upload(
        &files,
        &var("GDRIVE_CRASH_SRC"),
        &var("GDRIVE_CRASH_CP"),
        Some(1 << 20),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_then_resume_sends_only_missing_bytes() {
    let drive = fake::FakeDrive::start(TOKEN).expect("the fake Drive server");
    let root = drive.create_folder("root", "crash-root");
    let dir = tempfile::tempdir().unwrap();
    let size = 4 * (1 << 20) + 4321u64;
    let src = dir.path().join("big.bin");
    write_random_file(&src, size, 41).unwrap();
    let cp = dir.path().join("big.upload.json");
    let exe = std::env::current_exe().unwrap();
    let (endpoint, srcs, cps) = (
        drive.endpoint(),
        src.to_string_lossy().into_owned(),
        cp.to_string_lossy().into_owned(),
    );
    let (srcs2, cps2, root2) = (srcs.clone(), cps.clone(), root.clone());
    let child = move || {
        let mut c = Command::new(&exe);
        c.args(["crash_child", "--exact", "--ignored", "--nocapture"])
            .env("GDRIVE_CRASH_ENDPOINT", &endpoint)
            .env("GDRIVE_CRASH_ROOT", &root2)
            .env("GDRIVE_CRASH_SRC", &srcs2)
            .env("GDRIVE_CRASH_CP", &cps2)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c
    };
    let crash = tokio::task::spawn_blocking(move || kill_when_loaded(child, &cp, 1 << 20))
        .await
        .unwrap()
        .unwrap();
    assert!(!crash.status.success());
    assert!(crash.token.loaded >= 1 << 20 && crash.token.loaded < size);
    assert_eq!(
        drive.open_sessions("crash/big.bin").len(),
        1,
        "the session survives"
    );
    let crash_dir = drive.files_named(&root, "crash");
    assert_eq!(crash_dir.len(), 1, "the parent folder was created once");
    assert!(
        drive.files_named(&crash_dir[0].0, "big.bin").is_empty(),
        "nothing finalized yet"
    );
    let token = read_checkpoint(&cps).unwrap();
    assert!(
        token.is_sensitive(),
        "a Drive session URL is a bearer credential"
    );

    let files = Files::new(adapter(&drive.endpoint(), &root));
    let out = upload(&files, &srcs, &cps, None).await;
    assert!(out.resumed);
    assert!(out.bytes_resumed >= crash.token.loaded, "{out:?}");
    assert_eq!(out.bytes_resumed + out.bytes_sent, size, "{out:?}");
    let stored = drive.files_named(&crash_dir[0].0, "big.bin");
    assert_eq!(stored.len(), 1);
    assert_eq!(sha256_bytes(&stored[0].1), sha256_file(&src).unwrap());
    assert!(drive.open_sessions("crash/big.bin").is_empty());
}
