//! `rclone serve sftp` as a fallback test server (no root needed): the whole conformance
//! suite, run on demand with `cargo test -p files-sftp --test rclone_sftp -- --ignored`.
//! Ignored by default: Debian's OpenSSH `sshd` is the server the adapter is tested against;
//! this records how far rclone's server goes (see docs/sftp.md). It needs
//! `--vfs-cache-mode writes`: without it rclone refuses to write into an existing file at an
//! offset ("permission denied" on the first resumed append), so resumable uploads fail.

use std::process::Command;

use files_core::Files;
use files_sftp::SftpAdapter;
use files_testkit::servers::{ServerProcess, ensure_installed, unavailable};
use files_testkit::util::FnFixture;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "fallback server, run on demand"]
async fn conformance_against_rclone_serve_sftp() {
    let installed = match ensure_installed() {
        Ok(i) => i,
        Err(why) => return unavailable::<()>("rclone", &why).unwrap_or(()),
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let server = ServerProcess::start(
        "rclone-sftp",
        |port| {
            let mut c = Command::new(&installed.rclone);
            c.env("RCLONE_CONFIG", dir.path().join("rclone.conf"))
                .args(["serve", "sftp", "--addr"])
                .arg(format!("127.0.0.1:{port}"))
                .args(["--user", "u", "--pass", "rclone-test-pw"])
                .args(["--vfs-cache-mode", "writes", "--cache-dir"])
                .arg(dir.path().join("cache"))
                .arg(&data);
            c
        },
        |port| std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
    )
    .unwrap();
    let port = server.port();
    let fixture = FnFixture::new("sftp (rclone serve sftp)", move || {
        Files::new(
            SftpAdapter::builder()
                .host("127.0.0.1")
                .port(port)
                .user("u")
                .password("rclone-test-pw")
                .insecure_accept_any_host_key()
                .root("/")
                .build()
                .unwrap(),
        )
    });
    files_testkit::run_all(&fixture).await;
}
