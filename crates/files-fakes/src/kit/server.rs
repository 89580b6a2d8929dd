//! [`FakeServer`]: an axum `Router` served on 127.0.0.1 by a thread with its own Tokio
//! runtime, behind the kit's request log, fault knobs and `Date` header.

use std::convert::Infallible;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context as TaskContext, Poll};
use std::thread::JoinHandle;

use axum::Router;
use axum::body::Body;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, Request, Response, header};
use axum::response::IntoResponse;
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::sync::{Notify, oneshot};

use super::clock::FakeClock;
use super::faults::{FaultAction, Faults};
use super::http::{BodyCut, Reply};
use super::log::{Outcome, RecordedRequest, RequestLog};

/// What a fake's router is built from: where it listens and the kit's shared parts.
#[derive(Clone, Debug)]
pub struct Context {
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// The clock the fake must read for anything that expires.
    pub clock: FakeClock,
    /// The request log.
    pub log: RequestLog,
    /// The fault knobs.
    pub faults: Faults,
}

/// Starts a [`FakeServer`] with options.
#[derive(Debug)]
pub struct ServerBuilder {
    name: String,
    port: u16,
    clock: Option<FakeClock>,
}

impl ServerBuilder {
    /// Listens on this port (default 0: a free one).
    pub fn port(mut self, port: u16) -> ServerBuilder {
        self.port = port;
        self
    }

    /// Uses this clock (default: a new real-time [`FakeClock`]).
    pub fn clock(mut self, clock: FakeClock) -> ServerBuilder {
        self.clock = Some(clock);
        self
    }

    /// Binds 127.0.0.1, builds the router with `make` and serves it on a thread named
    /// `{name}-{port}` with its own current-thread Tokio runtime. Callable from sync code and
    /// from inside any Tokio runtime. Request bodies have no size limit.
    pub fn start(self, make: impl FnOnce(&Context) -> Router) -> io::Result<FakeServer> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, self.port))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let ctx = Context {
            port: addr.port(),
            endpoint: format!("http://127.0.0.1:{}", addr.port()),
            clock: self.clock.unwrap_or_default(),
            log: RequestLog::default(),
            faults: Faults::default(),
        };
        let router = make(&ctx).layer(DefaultBodyLimit::disable());
        let shared = Arc::new(Shared {
            router,
            clock: ctx.clock.clone(),
            log: ctx.log.clone(),
            faults: ctx.faults.clone(),
            seq: AtomicU64::new(0),
        });
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (stop, stopped) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name(format!("{}-{}", self.name, addr.port()))
            .spawn(move || {
                rt.block_on(accept_loop(listener, shared, stopped));
                // Dropping the runtime drops every connection task: open connections close.
                drop(rt);
            })?;
        Ok(FakeServer {
            name: self.name,
            ctx,
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

/// A running fake server. Dropping it stops it: the listener and every open connection are
/// closed before `drop` returns.
pub struct FakeServer {
    name: String,
    ctx: Context,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for FakeServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeServer")
            .field("name", &self.name)
            .field("port", &self.ctx.port)
            .finish()
    }
}

impl FakeServer {
    /// A builder for a server named `name` (the thread's name).
    pub fn builder(name: &str) -> ServerBuilder {
        ServerBuilder {
            name: name.to_string(),
            port: 0,
            clock: None,
        }
    }

    /// Starts a server named `name` on a free port (see [`ServerBuilder::start`]).
    pub fn start(name: &str, make: impl FnOnce(&Context) -> Router) -> io::Result<FakeServer> {
        FakeServer::builder(name).start(make)
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.ctx.port
    }

    /// Its address, `127.0.0.1:PORT`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.ctx.port))
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        self.ctx.endpoint.clone()
    }

    /// Its clock.
    pub fn clock(&self) -> &FakeClock {
        &self.ctx.clock
    }

    /// Its request log.
    pub fn log(&self) -> &RequestLog {
        &self.ctx.log
    }

    /// Its fault knobs.
    pub fn faults(&self) -> &Faults {
        &self.ctx.faults
    }

    /// The context its router was built from.
    pub fn context(&self) -> &Context {
        &self.ctx
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Shared {
    router: Router,
    clock: FakeClock,
    log: RequestLog,
    faults: Faults,
    seq: AtomicU64,
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, mut stop: oneshot::Receiver<()>) {
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
        return;
    };
    loop {
        let stream = tokio::select! {
            _ = &mut stop => return,
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(_) => {
                    // Out of descriptors and the like: wait a little, go on.
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let kill = Arc::new(Notify::new());
        let svc = {
            let (shared, kill) = (shared.clone(), kill.clone());
            hyper::service::service_fn(move |req| serve_one(shared.clone(), kill.clone(), req))
        };
        tokio::spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc);
            tokio::select! {
                _ = conn => {}
                // Dropping the connection closes the socket without an answer.
                _ = kill.notified() => {}
            }
        });
    }
}

/// One request through the log, the faults and the router.
async fn serve_one(
    shared: Arc<Shared>,
    kill: Arc<Notify>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let seq = shared.seq.fetch_add(1, Ordering::SeqCst);
    let rec = RecordedRequest {
        seq,
        at: shared.clock.now(),
        method: req.method().as_str().to_string(),
        path: req.uri().path().to_string(),
        query: req.uri().query().unwrap_or("").to_string(),
        headers: req
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        declared_len: req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse().ok()),
        body_len: 0,
        outcome: Outcome::Pending,
    };
    let action = shared.faults.take(&rec);
    shared.log.push(rec);
    if let Some(FaultAction::Status {
        status,
        retry_after,
    }) = action
    {
        let mut reply = Reply::google_error(status, "injected by the fake's fault knobs");
        if let Some(s) = retry_after {
            reply = reply.header("Retry-After", s.to_string());
        }
        shared
            .log
            .update(seq, |r| r.outcome = Outcome::Injected(status));
        return Ok(with_date(reply.into_response(), &shared.clock));
    }
    let cut = match action {
        Some(FaultAction::CutBodyAfter(n)) => Some(n),
        _ => None,
    };
    let (parts, body) = req.into_parts();
    let body = Body::new(Counted {
        inner: body,
        left: cut,
        log: shared.log.clone(),
        seq,
    });
    let mut req = Request::from_parts(parts, body);
    if let Some(after) = cut {
        req.extensions_mut().insert(BodyCut { after });
    }
    let mut router = shared.router.clone();
    let resp = match tower_service::Service::call(&mut router, req).await {
        Ok(r) => r,
        Err(never) => match never {},
    };
    match action {
        Some(FaultAction::CutBodyAfter(_)) | Some(FaultAction::DropAnswer) => {
            let outcome = if cut.is_some() {
                Outcome::BodyCut
            } else {
                Outcome::AnswerDropped
            };
            shared.log.update(seq, |r| r.outcome = outcome);
            kill.notify_one();
            // The connection task drops this future with the connection.
            let never: Infallible = std::future::pending().await;
            match never {}
        }
        _ => {
            let status = resp.status().as_u16();
            shared
                .log
                .update(seq, |r| r.outcome = Outcome::Answered(status));
            Ok(with_date(resp, &shared.clock))
        }
    }
}

/// Adds `Date` from the fake's clock unless the fake set one.
fn with_date(mut resp: Response<Body>, clock: &FakeClock) -> Response<Body> {
    if !resp.headers().contains_key(header::DATE)
        && let Ok(v) = HeaderValue::from_str(&clock.http_date())
    {
        resp.headers_mut().insert(header::DATE, v);
    }
    resp
}

/// A request body that counts what the handler reads into the log and, when cut, ends after
/// `left` bytes.
struct Counted {
    inner: Incoming,
    left: Option<u64>,
    log: RequestLog,
    seq: u64,
}

impl http_body::Body for Counted {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        if self.left == Some(0) {
            return Poll::Ready(None);
        }
        let frame = match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(f))) => f,
            other => return other,
        };
        let frame = match frame.into_data() {
            Ok(mut data) => {
                if let Some(left) = self.left {
                    if data.len() as u64 > left {
                        data.truncate(left as usize);
                    }
                    self.left = Some(left - data.len() as u64);
                }
                let n = data.len() as u64;
                let seq = self.seq;
                self.log.update(seq, |r| r.body_len += n);
                Frame::data(data)
            }
            Err(frame) => frame,
        };
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.left == Some(0) || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        match self.left {
            Some(_) => SizeHint::default(),
            None => self.inner.size_hint(),
        }
    }
}
