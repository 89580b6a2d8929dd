//! 200 seeded resumable uploads to pyftpdlib (`files_testkit::ftpd`) through the
//! fault-injecting TCP proxy (`files_testkit::tcp_proxy`) in FTP mode: it rewrites the
//! `PASV`/`EPSV` replies so that every passive data connection goes through it too, and faults
//! at least 20% of the data connections (where the parts' bytes flow) after a seeded number of
//! bytes: reset, stalled past the request timeout, closed cleanly, delayed.
//!
//! pyftpdlib answers `226 Transfer complete` to a data connection that ends early, reset or
//! not (FTP's stream mode cannot tell a short file from an interrupted one), so a fault after
//! the client wrote its last bytes is silent: only the part file's size shows it. files-ftp
//! therefore reads the part file's size after every append and reports how far it really got
//! (this suite found that). Every upload must end with the file byte-identical to its body (SHA-256
//! of the file on the server's disk, read directly), with no part file left, and the run
//! reports the retries it took.
//!
//! A failure names the seed; `FILES_PROXY_SEED` replays a run, `FILES_PROXY_UPLOADS` changes
//! the count for a quick local run.

use crate::proxy_common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use files::Files;
use files_ftp::FtpAdapter;
use files_testkit::ftpd::{FtpServer, pyftpdlib_or_skip};
use files_testkit::tcp_proxy::{TcpFault, TcpFaultProxy, TcpProxyConfig};
use proxy_common::{DiskRun, Tally, run_uploads};

const PART: usize = 64 << 10;
/// Per-request timeout; stalls last longer. Short: stalls are most of this suite's wall time.
const TIMEOUT: Duration = Duration::from_secs(1);

/// 200 uploads with a fault on 30% of the data connections: reset, stall, cut, delay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_faulted_ftp_uploads_land_byte_identical() {
    let seed = proxy_common::seed(0xF7_95EED);
    let uploads = proxy_common::uploads(200);
    let faults = vec![
        (TcpFault::Reset, 1),
        (TcpFault::Stall, 1),
        (TcpFault::Cut, 1),
        (TcpFault::Delay, 1),
    ];
    faulted_uploads(seed, uploads, faults).await;
}

/// 200 uploads with a fault on 30% of the data connections, of the kinds the client notices
/// whatever the server answers: a stall past the request timeout (then a reset), a delay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_stalled_ftp_uploads_land_byte_identical() {
    let seed = proxy_common::seed(0x57A_115EED);
    let uploads = proxy_common::uploads(200);
    faulted_uploads(
        seed,
        uploads,
        vec![(TcpFault::Stall, 1), (TcpFault::Delay, 1)],
    )
    .await;
}

/// An FTP adapter for `root` on `server`, dialling through `proxy`.
fn ftp_through(server: &FtpServer, proxy: &TcpFaultProxy, root: &str) -> FtpAdapter {
    FtpAdapter::builder("127.0.0.1")
        .port(proxy.port())
        .user(server.user())
        .password(server.password())
        .root(root)
        .connect_timeout(TIMEOUT)
        .build()
        .expect("an FTP adapter")
}

async fn faulted_uploads(seed: u64, uploads: u64, faults: Vec<(TcpFault, u32)>) {
    let server = files_testkit::require_server!(pyftpdlib_or_skip());
    let root = server.new_root("proxy");
    let upstream: SocketAddr = format!("127.0.0.1:{}", server.port()).parse().unwrap();
    let mut config = TcpProxyConfig::ftp(seed, proxy_common::rate(0.3), 0..PART as u64);
    config.faults = faults;
    config.stall = TIMEOUT + Duration::from_millis(500);
    // Six at a time: a stalled upload mostly waits.
    let proxy = TcpFaultProxy::start(upstream, config)
        .await
        .expect("the proxy");
    let files = Arc::new(Files::new(ftp_through(server, &proxy, &root)));

    let run = DiskRun {
        proxy: &proxy,
        seed,
        part: PART,
        timeout: TIMEOUT,
    };
    let outcomes = run_uploads(uploads, 6, |i| {
        let files = files.clone();
        let (root, run) = (&root, &run);
        async move {
            run.upload(&files, i, |key| server.dir().join(root).join(key))
                .await
        }
    })
    .await;
    let parts_left = server.part_files(&root);
    assert!(parts_left.is_empty(), "part files left: {parts_left:?}");
    assert!(
        proxy.stats().passive_rewrites.load(Ordering::Relaxed) > 0,
        "no passive reply went through the proxy"
    );
    Tally {
        // A data connection cut after some bytes is not always a failed request here: the
        // append's size check finds how far it got and the next append starts there. Such a
        // recovery shows as an extra append (every upload needs four), so it counts with the
        // retries.
        retries: outcomes
            .iter()
            .map(|o| o.retries + o.parts_sent.saturating_sub(4))
            .sum(),
        // A reset or cut after the last byte reached the server changes nothing (pyftpdlib
        // still answers 226 and the file is whole): such a fault costs no retry.
        every_failure_costs_a_retry: false,
        ..Tally::of("ftp", seed, uploads, &proxy, &outcomes)
    }
    .report_and_check("data connections");
}

/// Downloads whose passive data connections are reset or closed half-way (after a seeded
/// number of the server's bytes) still yield the file byte for byte, whole, ranged and as the
/// source of a streamed copy (FTP has no server-side copy): the client resumes with `REST` from
/// the first byte it has not yielded, after checking the file's version (MDTM and SIZE).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ftp_downloads_cut_mid_body_resume_byte_identical() {
    use files_testkit::util::{random_bytes, sha256_hex};
    let seed = proxy_common::seed(0xD0_C07);
    let server = files_testkit::require_server!(pyftpdlib_or_skip());
    let root = server.new_root("proxy-get");
    let upstream: SocketAddr = format!("127.0.0.1:{}", server.port()).parse().unwrap();
    const SIZE: usize = (3 << 20) + 777;
    let mut config = TcpProxyConfig::ftp(seed, 0.5, 1..SIZE as u64 / 2);
    config.faults = vec![(TcpFault::Reset, 1), (TcpFault::Cut, 1)];
    config.server_bytes = true;
    let proxy = TcpFaultProxy::start(upstream, config)
        .await
        .expect("the proxy");
    let files = Files::new(ftp_through(server, &proxy, &root)).with_retry(proxy_common::retry());
    let body = random_bytes(seed, SIZE);
    let want = sha256_hex(&body);
    let on_disk = |key: &str| server.dir().join(&root).join(key);
    std::fs::create_dir_all(on_disk("d")).unwrap();
    std::fs::write(on_disk("d/obj.bin"), &body).unwrap();

    proxy_common::check_cut_downloads(&files, "d/obj.bin", &body, 500_000..3_000_000, seed).await;
    files.copy("d/obj.bin", "d/copy.bin").await.unwrap();
    let copied = std::fs::read(on_disk("d/copy.bin")).unwrap();
    assert_eq!(sha256_hex(&copied), want, "the copy (seed {seed:#x})");

    let cuts = proxy.stats().failures.load(Ordering::Relaxed);
    eprintln!(
        "{cuts} data connections cut (seed {seed:#x}): {:?}",
        proxy.log()
    );
    assert!(cuts >= 4, "only {cuts} data connections were cut");
}
