//! 200 seeded resumable uploads to OpenSSH's SFTP server (`files_testkit::sshd`) through the
//! fault-injecting TCP proxy (`files_testkit::tcp_proxy`), with at least 20% of the SSH
//! connections (each carries an upload's bytes) faulted after a seeded number of bytes: reset,
//! stalled past the request timeout, closed cleanly, answer cut after the writes landed,
//! delayed. Each upload uses a fresh adapter, so it opens its own connection(s). Every upload
//! must end with the file byte-identical to its body (SHA-256 of the file on the server's disk,
//! read directly), and the run reports the retries it took.
//!
//! A failure names the seed; `FILES_PROXY_SEED` replays a run, `FILES_PROXY_UPLOADS` changes
//! the count for a quick local run.

mod proxy_common;

use std::net::SocketAddr;
use std::time::Duration;

use files::Files;
use files_sftp::SftpAdapter;
use files_testkit::sshd::{SFTP_PASSWORD, SFTP_USER, sshd_or_skip};
use files_testkit::tcp_proxy::{TcpFaultProxy, TcpProxyConfig};
use proxy_common::{DiskRun, Tally, run_uploads};

const PART: usize = 64 << 10;
/// Client bytes before which no fault triggers: past what an upload's first connection sends
/// to start the session.
const FIRST_FAULT: u64 = 16 << 10;
/// Per-request timeout; stalls last longer.
const TIMEOUT: Duration = Duration::from_secs(2);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_faulted_sftp_uploads_land_byte_identical() {
    let sshd = files_testkit::require_server!(sshd_or_skip());
    let root = sshd.new_root("proxy").expect("a root");
    let seed = proxy_common::seed(0x5F_7B5EED);
    let uploads = proxy_common::uploads(200);
    let upstream: SocketAddr = format!("127.0.0.1:{}", sshd.port()).parse().unwrap();
    // Faults trigger after the handshake, login and session start (about 5 KiB of client
    // bytes; see `a_faulted_session_start_is_retried`) and before the body's end.
    let mut config =
        TcpProxyConfig::all_faults(seed, proxy_common::rate(0.3), FIRST_FAULT..3 * PART as u64);
    config.stall = TIMEOUT + Duration::from_millis(500);
    let proxy = TcpFaultProxy::start(upstream, config)
        .await
        .expect("the proxy");
    let dir = tempfile::tempdir().expect("a temp dir");
    let known_hosts = dir.path().join("known_hosts");
    std::fs::write(
        &known_hosts,
        format!("[127.0.0.1]:{} {}\n", proxy.port(), sshd.host_public_key()),
    )
    .expect("write known_hosts");

    let run = DiskRun {
        proxy: &proxy,
        seed,
        part: PART,
        timeout: TIMEOUT,
    };
    let outcomes = run_uploads(uploads, 4, |i| {
        let (root, known_hosts, run) = (&root, &known_hosts, &run);
        async move {
            let files = Files::new(
                SftpAdapter::builder()
                    .host("127.0.0.1")
                    .port(run.proxy.port())
                    .user(SFTP_USER)
                    .password(SFTP_PASSWORD)
                    .known_hosts(known_hosts)
                    .root(root)
                    .timeout(TIMEOUT)
                    .build()
                    .expect("an SFTP adapter"),
            );
            run.upload(&files, i, |key| sshd.disk_path(&format!("{root}/{key}")))
                .await
        }
    })
    .await;
    Tally::of("sftp", seed, uploads, &proxy, &outcomes).report_and_check("SSH connections");
}
