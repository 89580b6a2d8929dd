//! The kit every fake HTTP server runs on: [`FakeServer`] (an axum `Router` on 127.0.0.1,
//! its own thread and Tokio runtime, shut down on drop), [`FakeClock`], [`RequestLog`], fault
//! knobs ([`Faults`], [`Fault`], [`Match`]) applied in front of every router, and HTTP helpers
//! ([`FakeRequest`], [`Reply`], [`Blob`], `Range`/`Content-Range`/multipart parsing, MD5).
//!
//! # Adding a provider's fake
//!
//! 1. **State**: a `struct State` behind `Arc<Mutex<_>>` (objects as [`Blob`]s, sessions with
//!    the [`FakeClock`] reading at which they were created), plus what the routes need (the
//!    [`Context`]'s endpoint and clock) in one `#[derive(Clone)] struct App`.
//! 2. **Routes**: `Router::new().route("/v1/{bucket}/{key}", get(read).put(write))...
//!    .fallback(not_found).with_state(app)`; handlers take `State<App>`, `Path<..>` and a
//!    [`FakeRequest`] last, and return a [`Reply`] in the provider's error dialect.
//! 3. **Start**: `FakeServer::start("fake-x", |ctx| router(App { .., clock: ctx.clock.clone() }))`
//!    and keep the server in your `FakeX` (with accessors tests need: `endpoint()`,
//!    `object()`, `expire_session()`...; expose `server()` for the log, clock and faults).
//! 4. **Clock**: compare `clock.now()` with a session's creation plus the documented lifetime;
//!    never read `SystemTime::now()` in a fake.
//! 5. **Faults** come for free: tests script `fake.server().faults().add(Fault::...)`; a
//!    handler that wants to model a partially received body checks [`FakeRequest::body_cut`].
//! 6. The module doc names the API pages it follows and what it does **not** model.

mod clock;
mod faults;
mod http;
mod log;
mod server;
mod store;

pub use clock::FakeClock;
pub use faults::{Fault, FaultAction, FaultHandle, Faults, Match};
pub use http::{
    BodyCut, ContentRange, FakeRequest, Part, RangeRequest, Reply, md5_base64, md5_hex,
    parse_content_range, parse_multipart, parse_query, parse_range, path_decode, pct_encode,
    query_decode,
};
pub use log::{Outcome, RecordedRequest, RequestLog};
pub use server::{Context, FakeServer, ServerBuilder};
pub use store::Blob;
