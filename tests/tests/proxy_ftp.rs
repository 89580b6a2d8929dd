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

mod proxy_common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use files::Files;
use files_ftp::FtpAdapter;
use files_testkit::ftpd::pyftpdlib_or_skip;
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
    let files = Arc::new(Files::new(
        FtpAdapter::builder("127.0.0.1")
            .port(proxy.port())
            .user(server.user())
            .password(server.password())
            .root(&root)
            .connect_timeout(TIMEOUT)
            .build()
            .expect("an FTP adapter"),
    ));

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
