//! The kit itself: the server from every kind of caller, each fault knob, the clock, the
//! request log.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::State;
use axum::routing::{get, post, put};
use files_fakes::gcs::FakeGcs;
use files_fakes::kit::{FakeClock, FakeRequest, FakeServer, Fault, Match, Outcome, Reply};

/// What the test router saw.
#[derive(Clone, Default)]
struct Seen {
    /// Body lengths of `PUT /put`, in order.
    puts: Arc<Mutex<Vec<usize>>>,
    /// Whether each `PUT /put` was marked cut.
    cut: Arc<Mutex<Vec<bool>>>,
    /// `POST /inc` count.
    incs: Arc<AtomicU64>,
    /// `GET /get` count.
    gets: Arc<AtomicU64>,
}

fn start(seen: &Seen) -> FakeServer {
    start_with(seen, FakeClock::new())
}

fn start_with(seen: &Seen, clock: FakeClock) -> FakeServer {
    let seen = seen.clone();
    FakeServer::builder("kit-test")
        .clock(clock)
        .start(move |_ctx| {
            Router::new()
                .route(
                    "/put",
                    put(|State(s): State<Seen>, req: FakeRequest| async move {
                        s.puts.lock().unwrap().push(req.body.len());
                        s.cut.lock().unwrap().push(req.body_cut);
                        Reply::new(200).body(req.body.len().to_string())
                    }),
                )
                .route(
                    "/inc",
                    post(|State(s): State<Seen>| async move {
                        let n = s.incs.fetch_add(1, Ordering::SeqCst) + 1;
                        Reply::new(200).body(n.to_string())
                    }),
                )
                .route(
                    "/get",
                    get(|State(s): State<Seen>| async move {
                        s.gets.fetch_add(1, Ordering::SeqCst);
                        Reply::new(200).body("ok")
                    }),
                )
                .with_state(seen)
        })
        .expect("the server starts")
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

#[tokio::test]
async fn cut_body_after_n_bytes() {
    let seen = Seen::default();
    let srv = start(&seen);
    let fault = srv
        .faults()
        .add(Fault::cut_body_after(1000).on(Match::method("PUT").path("/put")));
    let body = vec![7u8; 300_000];
    let r = client()
        .put(format!("{}/put", srv.endpoint()))
        .body(body.clone())
        .send()
        .await;
    assert!(r.is_err(), "the client gets no answer: {r:?}");
    // The handler ran on the prefix before the connection was dropped.
    assert_eq!(*seen.puts.lock().unwrap(), vec![1000]);
    assert_eq!(*seen.cut.lock().unwrap(), vec![true]);
    assert_eq!(fault.fired(), 1);
    let log = srv.log().all();
    assert_eq!(log[0].body_len, 1000);
    assert_eq!(log[0].declared_len, Some(300_000));
    assert_eq!(log[0].outcome, Outcome::BodyCut);
    // Spent: the next one goes through whole.
    let r = client()
        .put(format!("{}/put", srv.endpoint()))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(*seen.puts.lock().unwrap(), vec![1000, 300_000]);
    assert_eq!(srv.faults().armed(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_answer_applies_the_request() {
    let seen = Seen::default();
    let srv = start(&seen);
    srv.faults()
        .add(Fault::drop_answer().on(Match::method("POST").path_prefix("/in")));
    let url = format!("{}/inc", srv.endpoint());
    let r = client().post(&url).send().await;
    assert!(r.is_err(), "the answer is dropped: {r:?}");
    assert_eq!(seen.incs.load(Ordering::SeqCst), 1, "the state changed");
    assert_eq!(srv.log().all()[0].outcome, Outcome::AnswerDropped);
    let r = client().post(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "2");
}

#[tokio::test]
async fn one_off_429_with_retry_after_on_the_nth_match() {
    let seen = Seen::default();
    let srv = start(&seen);
    let fault = srv
        .faults()
        .add(Fault::too_many_requests(7).on(Match::method("GET")).nth(2));
    let c = client();
    let url = format!("{}/get", srv.endpoint());
    // A POST does not count against a GET fault.
    c.post(format!("{}/inc", srv.endpoint()))
        .send()
        .await
        .unwrap();
    assert_eq!(c.get(&url).send().await.unwrap().status(), 200);
    let r = c.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "7");
    assert_eq!(
        seen.gets.load(Ordering::SeqCst),
        1,
        "the handler never saw it"
    );
    let r = c.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200, "one-off");
    assert_eq!(fault.fired(), 1);
    let outcomes: Vec<Outcome> = srv.log().all().iter().map(|r| r.outcome).collect();
    assert_eq!(
        outcomes,
        vec![
            Outcome::Answered(200),
            Outcome::Answered(200),
            Outcome::Injected(429),
            Outcome::Answered(200)
        ]
    );
}

#[tokio::test]
async fn a_503_for_several_requests_in_a_row() {
    let seen = Seen::default();
    let srv = start(&seen);
    srv.faults()
        .add(Fault::unavailable(1).on(Match::any()).times(2));
    let c = client();
    let url = format!("{}/get", srv.endpoint());
    for want in [503, 503, 200] {
        assert_eq!(c.get(&url).send().await.unwrap().status(), want);
    }
}

#[test]
fn the_clock_advances_and_freezes() {
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let clock = FakeClock::frozen_at(start);
    assert_eq!(clock.now(), start);
    clock.advance(Duration::from_secs(3600));
    assert_eq!(clock.unix_secs(), 1_800_003_600);
    std::thread::sleep(Duration::from_millis(5));
    assert_eq!(clock.unix_secs(), 1_800_003_600, "frozen");

    let real = FakeClock::new();
    let before = SystemTime::now();
    real.advance(Duration::from_secs(86_400));
    let ahead = real.now().duration_since(before).unwrap();
    assert!(ahead >= Duration::from_secs(86_400) && ahead < Duration::from_secs(86_460));
    real.freeze();
    let t = real.now();
    std::thread::sleep(Duration::from_millis(5));
    assert_eq!(real.now(), t);
    real.resume();
    assert!(!real.is_frozen());
    assert!(real.now() >= t);
}

/// One raw HTTP/1.1 request from sync code: the status line and the headers.
fn raw_get(port: u16, path: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn starts_and_stops_from_sync_code_with_the_clock_in_date() {
    let seen = Seen::default();
    let clock = FakeClock::frozen_at(UNIX_EPOCH + Duration::from_secs(784_111_777));
    let srv = start_with(&seen, clock.clone());
    let port = srv.port();
    let answer = raw_get(port, "/get");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer.contains("date: Sun, 06 Nov 1994 08:49:37 GMT"),
        "{answer}"
    );
    drop(srv);
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "dropped = shut down"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn starts_and_stops_inside_a_current_thread_runtime() {
    let seen = Seen::default();
    let srv = start(&seen);
    let r = client()
        .get(format!("{}/get", srv.endpoint()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    drop(srv);
}

#[tokio::test]
async fn the_request_log_records_and_redacts() {
    let seen = Seen::default();
    let srv = start(&seen);
    let c = client();
    let url = format!("{}/put?upload_id=SECRET-ID&name=a%20b", srv.endpoint());
    // Two chunks of one upload that overlap on 100..150, then one with another id.
    for (range, len) in [("0-149", 150), ("100-199", 100)] {
        c.put(&url)
            .header("authorization", "Bearer SECRET-TOKEN")
            .header("content-range", format!("bytes {range}/200"))
            .body(vec![1u8; len])
            .send()
            .await
            .unwrap();
    }
    c.put(format!("{}/put?upload_id=other", srv.endpoint()))
        .header("content-range", "bytes 0-99/100")
        .body(vec![1u8; 100])
        .send()
        .await
        .unwrap();
    let log = srv.log();
    assert_eq!(log.len(), 3);
    let first = &log.all()[0];
    assert_eq!(first.method, "PUT");
    assert_eq!(first.path, "/put");
    assert_eq!(first.query, "upload_id=SECRET-ID&name=a%20b");
    assert_eq!(first.param("name").as_deref(), Some("a b"));
    assert_eq!(first.header("Authorization"), Some("Bearer SECRET-TOKEN"));
    assert_eq!(first.body_len, 150);
    assert_eq!(first.received_range(), Some(0..150));
    let debug = format!("{first:?}");
    assert!(!debug.contains("SECRET"), "{debug}");
    assert!(debug.contains("name=a%20b"), "{debug}");
    let twice = log.ranges_received_twice(|r| r.param("upload_id").as_deref() == Some("SECRET-ID"));
    assert_eq!(twice, vec![100..150]);
    assert!(
        log.ranges_received_twice(|r| r.param("upload_id").as_deref() == Some("other"))
            .is_empty()
    );
    assert_eq!(log.filter(|r| r.path == "/put").len(), 3);
}

#[tokio::test]
async fn a_gcs_session_expires_when_its_clock_passes_a_week() {
    let gcs = FakeGcs::start().unwrap();
    let bucket = gcs.new_bucket("clock");
    let c = client();
    let r = c
        .post(format!(
            "{}/upload/storage/v1/b/{bucket}/o?uploadType=resumable&name=k",
            gcs.endpoint()
        ))
        .header("x-upload-content-length", "10")
        .send()
        .await
        .unwrap();
    let session = r.headers()["location"].to_str().unwrap().to_string();
    let status = |c: reqwest::Client, s: String| async move {
        c.put(s)
            .header("content-range", "bytes */10")
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(status(c.clone(), session.clone()).await, 308);
    gcs.clock().advance(Duration::from_secs(6 * 24 * 3600));
    assert_eq!(status(c.clone(), session.clone()).await, 308);
    gcs.clock().advance(Duration::from_secs(24 * 3600));
    assert_eq!(status(c.clone(), session.clone()).await, 410);
    assert!(!gcs.session_open(&session));
}

#[tokio::test]
async fn a_cut_gcs_chunk_keeps_whole_256k_blocks_and_logs_what_arrived() {
    let gcs = FakeGcs::start().unwrap();
    let bucket = gcs.new_bucket("cut");
    let c = client();
    let total = 1024 * 1024;
    let r = c
        .post(format!(
            "{}/upload/storage/v1/b/{bucket}/o?uploadType=resumable&name=k",
            gcs.endpoint()
        ))
        .header("x-upload-content-length", total.to_string())
        .send()
        .await
        .unwrap();
    let session = r.headers()["location"].to_str().unwrap().to_string();
    gcs.server()
        .faults()
        .add(Fault::cut_body_after(300 * 1024).on(Match::method("PUT")));
    let r = c
        .put(&session)
        .header("content-range", format!("bytes 0-{}/{total}", total - 1))
        .body(vec![5u8; total])
        .send()
        .await;
    assert!(r.is_err(), "{r:?}");
    let r = c
        .put(&session)
        .header("content-range", format!("bytes */{total}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 308);
    assert_eq!(r.headers()["range"], "bytes=0-262143");
    // Resend from the persisted offset: bytes 262144..307200 arrive twice.
    let rest = total - 256 * 1024;
    let r = c
        .put(&session)
        .header(
            "content-range",
            format!("bytes {}-{}/{total}", 256 * 1024, total - 1),
        )
        .body(vec![5u8; rest])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(gcs.object(&bucket, "k").unwrap().len(), total);
    let twice = gcs
        .server()
        .log()
        .ranges_received_twice(|r| r.method == "PUT");
    assert_eq!(twice, vec![256 * 1024..300 * 1024]);
}
