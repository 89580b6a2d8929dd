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

use crate::proxy_common;

use std::net::SocketAddr;
use std::time::Duration;

use files::Files;
use files_sftp::SftpAdapter;
use files_testkit::sshd::{SFTP_PASSWORD, SFTP_USER, SshServer, sshd_or_skip};
use files_testkit::tcp_proxy::{TcpFaultProxy, TcpProxyConfig};
use proxy_common::{DiskRun, Tally, run_uploads};

const PART: usize = 64 << 10;
/// Client bytes before which no fault triggers: past what an upload's first connection sends
/// to start the session.
const FIRST_FAULT: u64 = 16 << 10;
/// Per-request timeout; stalls last longer.
const TIMEOUT: Duration = Duration::from_secs(2);

/// A `known_hosts` file in `dir` that names sshd's host key at the proxy's address.
fn known_hosts_for(
    dir: &std::path::Path,
    sshd: &SshServer,
    proxy: &TcpFaultProxy,
) -> std::path::PathBuf {
    let known_hosts = dir.join("known_hosts");
    std::fs::write(
        &known_hosts,
        format!("[127.0.0.1]:{} {}\n", proxy.port(), sshd.host_public_key()),
    )
    .expect("write known_hosts");
    known_hosts
}

/// An SFTP adapter for `root`, dialling through `proxy`.
fn sftp_through(proxy: &TcpFaultProxy, known_hosts: &std::path::Path, root: &str) -> SftpAdapter {
    SftpAdapter::builder()
        .host("127.0.0.1")
        .port(proxy.port())
        .user(SFTP_USER)
        .password(SFTP_PASSWORD)
        .known_hosts(known_hosts)
        .root(root)
        .timeout(TIMEOUT)
        .build()
        .expect("an SFTP adapter")
}

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
    let known_hosts = known_hosts_for(dir.path(), sshd, &proxy);

    let run = DiskRun {
        proxy: &proxy,
        seed,
        part: PART,
        timeout: TIMEOUT,
    };
    let outcomes = run_uploads(uploads, 4, |i| {
        let (root, known_hosts, run) = (&root, &known_hosts, &run);
        async move {
            let files = Files::new(sftp_through(run.proxy, known_hosts, root));
            run.upload(&files, i, |key| sshd.disk_path(&format!("{root}/{key}")))
                .await
        }
    })
    .await;
    Tally::of("sftp", seed, uploads, &proxy, &outcomes).report_and_check("SSH connections");
}

/// Downloads whose SSH connection is reset or closed part-way through the file (after a seeded
/// number of the server's bytes) still yield the file byte for byte: the client reconnects and
/// reads the rest from where it stopped, after checking the file's size and modification time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sftp_downloads_cut_mid_body_resume_byte_identical() {
    use files_testkit::tcp_proxy::TcpFault;
    let sshd = files_testkit::require_server!(sshd_or_skip());
    let root = sshd.new_root("proxy-get").expect("a root");
    let seed = proxy_common::seed(0x5F_7C07);
    let upstream: SocketAddr = format!("127.0.0.1:{}", sshd.port()).parse().unwrap();
    // Past the handshake's server bytes, inside a 3 MiB file's.
    let mut config = TcpProxyConfig::all_faults(seed, 0.5, FIRST_FAULT..(2 << 20));
    config.faults = vec![(TcpFault::Reset, 1), (TcpFault::Cut, 1)];
    config.server_bytes = true;
    let proxy = TcpFaultProxy::start(upstream, config)
        .await
        .expect("the proxy");
    let dir = tempfile::tempdir().expect("a temp dir");
    let known_hosts = known_hosts_for(dir.path(), sshd, &proxy);
    let files =
        Files::new(sftp_through(&proxy, &known_hosts, &root)).with_retry(proxy_common::retry());
    let body = files_testkit::util::random_bytes(seed, (3 << 20) + 4321);
    let path = sshd.disk_path(&format!("{root}/cut/file.bin"));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, &body).unwrap();
    proxy_common::check_cut_downloads(&files, "cut/file.bin", &body, 700_000..2_900_000, seed)
        .await;
    let cuts = proxy
        .stats()
        .failures
        .load(std::sync::atomic::Ordering::Relaxed);
    eprintln!(
        "{cuts} SSH connections cut (seed {seed:#x}): {:?}",
        proxy.log()
    );
    assert!(cuts >= 2, "only {cuts} connections were cut");
}
