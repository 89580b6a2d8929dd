//! A single-stream download that survives its body breaking off: on a retryable failure in the
//! middle of the body (a reset connection, a body shorter than announced, a body silent for
//! longer than the per-request timeout), the rest is asked for
//! again as a byte range starting at the first byte not yet yielded, under the client's retry
//! policy, and only if the object is provably the same version (its ETag, else its size and
//! modification time). The caller sees one uninterrupted stream of the right bytes, or an error.

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::time::Instant;

use crate::adapter::{Adapter, ByteRange, GetResponse, ObjectMeta};
use crate::body::ByteStream;
use crate::error::{Error, ErrorKind, Result};
use crate::retry::{RetryPolicy, within};

/// What a resuming stream needs to ask for the rest of the body again.
pub(crate) struct Resumer {
    pub adapter: Arc<dyn Adapter>,
    pub key: String,
    pub retry: RetryPolicy,
    pub timeout: Option<Duration>,
    /// Adds the call's context (operation, provider, key) to an error.
    pub ctx: Box<dyn Fn(Error) -> Error + Send + Sync>,
}

struct State {
    r: Resumer,
    first: ObjectMeta,
    /// The next byte to yield (absolute offset in the object) and the end of the download.
    pos: u64,
    end: u64,
    stream: Option<ByteStream>,
    /// Re-requests made since the body last made progress, and when the first of them began.
    retries: u32,
    failing_since: Option<Instant>,
}

/// Wraps `resp` (the answer to a single-stream download of `resp.range`) so that a retryable
/// break in its body is resumed from the current offset.
pub(crate) fn resuming(resp: GetResponse, r: Resumer) -> GetResponse {
    let GetResponse {
        meta,
        range,
        stream,
    } = resp;
    let state = State {
        r,
        first: meta.clone(),
        pos: range.start,
        end: range.end,
        stream: Some(stream),
        retries: 0,
        failing_since: None,
    };
    let stream = futures::stream::unfold(state, |mut st| async move {
        let item = st.next().await?;
        if item.is_err() {
            // An error ends the stream.
            st.stream = None;
            st.pos = st.end;
        }
        Some((item, st))
    });
    GetResponse {
        meta,
        range,
        stream: Box::pin(stream),
    }
}

impl State {
    async fn next(&mut self) -> Option<Result<bytes::Bytes>> {
        loop {
            let stream = self.stream.as_mut()?;
            // A body that goes silent is a break like any other.
            let failure = match next_within(self.r.timeout, stream).await {
                Some(Ok(chunk)) if chunk.is_empty() => continue,
                Some(Ok(chunk)) => {
                    let len = chunk.len() as u64;
                    if len > self.end - self.pos {
                        return Some(Err((self.r.ctx)(Error::new(
                            ErrorKind::Other,
                            format!(
                                "the provider sent more bytes than the {} requested",
                                self.end - self.pos
                            ),
                        ))));
                    }
                    self.pos += len;
                    self.retries = 0;
                    self.failing_since = None;
                    return Some(Ok(chunk));
                }
                Some(Err(e)) if e.is_retryable() && self.pos < self.end => e,
                Some(Err(e)) => return Some(Err((self.r.ctx)(e))),
                None if self.pos < self.end => Error::transient(format!(
                    "the body ended {} bytes early",
                    self.end - self.pos
                )),
                None => {
                    self.stream = None;
                    return None;
                }
            };
            self.stream = None;
            match self.reopen(failure).await {
                Ok(stream) => self.stream = Some(stream),
                Err(e) => return Some(Err((self.r.ctx)(e))),
            }
        }
    }

    /// Asks for `pos..end` again, under the retry policy (shared by every break since the last
    /// progress; a break or refusal that carries a `Retry-After` is waited exactly that long). Fails with `cause` when the policy is spent or the version cannot be proven
    /// the same, with [`ErrorKind::Conflict`] when it provably changed.
    async fn reopen(&mut self, cause: Error) -> Result<ByteStream> {
        let mut last = cause;
        let since = *self.failing_since.get_or_insert_with(Instant::now);
        loop {
            // The provider's Retry-After if the break carried one, else the backoff; spent
            // (count or deadline) ends the stream with the break.
            let Some(wait) =
                self.r
                    .retry
                    .wait_before_retry(&last, self.retries + 1, since.elapsed())
            else {
                return Err(last);
            };
            tracing::debug!(
                error = %last,
                offset = self.pos,
                retry = self.retries + 1,
                wait_ms = wait.as_millis() as u64,
                "download body broke off; asking for the rest"
            );
            tokio::time::sleep(wait).await;
            self.retries += 1;
            let range = ByteRange {
                start: self.pos,
                end: Some(self.end),
            };
            let attempt = self.r.adapter.get(&self.r.key, Some(range));
            let resp = match within(self.r.timeout, attempt).await {
                Ok(resp) => resp,
                Err(e) if e.is_retryable() => {
                    last = e;
                    continue;
                }
                Err(e) => return Err(e),
            };
            return match self.first.same_version(&resp.meta) {
                Some(true) => self.check_range(resp.range).map(|()| resp.stream),
                Some(false) => Err(Error::new(
                    ErrorKind::Conflict,
                    "the object changed during the download (its body broke off and the rest \
                     now comes from another version)",
                )),
                // Nothing tells the versions apart: do not splice.
                None => Err(last),
            };
        }
    }

    fn check_range(&self, got: Range<u64>) -> Result<()> {
        if got == (self.pos..self.end) {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::Other,
                format!(
                    "asked for bytes {}..{} to resume the download, the provider answered {got:?}",
                    self.pos, self.end
                ),
            ))
        }
    }
}

/// The body's next piece, waiting at most `timeout` for it (the per-request timeout bounds
/// each wait of a download's body, not the whole body).
pub(crate) async fn next_within(
    timeout: Option<Duration>,
    stream: &mut ByteStream,
) -> Option<Result<bytes::Bytes>> {
    match timeout {
        Some(t) => tokio::time::timeout(t, stream.next())
            .await
            .unwrap_or_else(|_| {
                Some(Err(Error::new(
                    ErrorKind::Timeout,
                    format!("the body sent nothing for {} ms", t.as_millis()),
                )))
            }),
        None => stream.next().await,
    }
}
