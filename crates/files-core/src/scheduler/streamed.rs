//! A body of unknown length on a parts provider: cut into parts as it arrives, with bounded
//! memory; not resumable.

use std::sync::Arc;

use bytes::BytesMut;
use futures::StreamExt;
use tokio::task::JoinSet;

use super::parts::{PartResult, send_part};
use super::{Runner, UploadOutcome, settle};
use crate::adapter::{LandedPart, Part, Session, UploadFamily, UploadSpec};
use crate::body::ByteStream;
use crate::control::UploadStatus;
use crate::error::{Error, ErrorKind, Result};
use crate::retry::within;

impl Runner {
    /// A stream of unknown length on a parts provider: parts are cut from the stream as it
    /// arrives; each is kept in memory only until the provider confirms it. Not resumable.
    pub(super) async fn streamed_parts(&mut self, part_size: u64) -> Result<UploadOutcome> {
        self.control.set_status(UploadStatus::Uploading);
        let adapter = self.adapter();
        let UploadFamily::Parts(p) = adapter.upload_family() else {
            unreachable!()
        };
        let mut stream = self
            .job
            .body
            .take_stream()
            .ok_or_else(|| Error::invalid_input("the stream body was already consumed"))?;
        // With a rate limit the stream is paced as it is read, and the parts cut from it are
        // not paced again: a part (or a short stream's one request) is sent as it is read.
        if let Some(rate) = &self.rate {
            stream = crate::ratelimit::paced(stream, rate.clone());
        }
        let rules = p.rules();
        let mut spec = UploadSpec {
            key: self.job.key.clone(),
            total: 0,
            part_size,
            options: self.job.options.clone(),
        };
        let mut buf = BytesMut::new();
        let mut first = Vec::new();
        // Read the first part: a short stream goes in one request.
        let mut ended = fill(&mut stream, &mut buf, part_size as usize + 1).await?;
        if ended {
            let data = buf.split().freeze();
            let len = data.len() as u64;
            let one: ByteStream = futures::stream::once(async move { Ok(data) }).boxed();
            let meta = within(
                self.job.timeout,
                adapter.put(&spec.key, one, Some(len), &spec.options),
            )
            .await?;
            self.bytes_sent = len;
            self.parts_sent = 1;
            return self.finished(meta, 0, false).await;
        }
        first.push(buf.split_to(part_size as usize).freeze());
        let (session, r) = self
            .job
            .retry
            .run(self.job.timeout, |_| p.begin(&spec))
            .await?;
        self.retries += u64::from(r);
        let session = Arc::new(session);
        let abort_session = |this: &mut Self, spec: UploadSpec, session: Arc<Session>| {
            let adapter = this.adapter();
            async move {
                if let UploadFamily::Parts(p) = adapter.upload_family() {
                    let _ = p.abort(&spec, &session).await;
                }
            }
        };
        let mut tasks: JoinSet<PartResult> = JoinSet::new();
        let mut done = std::collections::BTreeMap::new();
        let mut number = 0u32;
        let mut offset = 0u64;
        let shared_spec = Arc::new(spec.clone());
        loop {
            while tasks.len() < self.job.concurrency
                && !(ended && buf.is_empty() && first.is_empty())
            {
                let data = if let Some(d) = first.pop() {
                    d
                } else {
                    if !ended {
                        ended = fill(&mut stream, &mut buf, part_size as usize).await?;
                    }
                    let take = buf.len().min(part_size as usize);
                    buf.split_to(take).freeze()
                };
                if data.is_empty() {
                    break;
                }
                number += 1;
                if u64::from(number) > rules.max_parts {
                    settle(&mut tasks).await;
                    abort_session(self, spec.clone(), session.clone()).await;
                    return Err(Error::invalid_input(format!(
                        "the stream needs more than {} parts of {part_size} bytes; set a larger part size",
                        rules.max_parts
                    )));
                }
                let part = Part {
                    number,
                    offset,
                    crc32c: crc32c::crc32c(&data),
                    data,
                };
                offset += part.data.len() as u64;
                tasks.spawn(send_part(
                    adapter.clone(),
                    shared_spec.clone(),
                    session.clone(),
                    part,
                    self.job.retry,
                    self.job.timeout,
                    None, // paced as the stream was read
                ));
            }
            if tasks.is_empty() {
                break;
            }
            let cancel = self.job.cancel.clone();
            let joined = tokio::select! {
                j = tasks.join_next() => j,
                _ = cancel.cancelled() => {
                    settle(&mut tasks).await;
                    abort_session(self, spec.clone(), session.clone()).await;
                    return Err(Error::new(ErrorKind::Cancelled, "the upload was cancelled; a stream upload cannot be resumed, so its session was discarded"));
                }
            };
            let Some(joined) = joined else { continue };
            let (n, _, result) = joined
                .map_err(|e| Error::new(ErrorKind::Other, format!("part task failed: {e}")))?;
            match result {
                Ok((landed, r)) => {
                    self.retries += u64::from(r);
                    self.bytes_sent += landed.size;
                    self.loaded += landed.size;
                    self.parts_sent += 1;
                    done.insert(n, landed);
                    self.emit_progress();
                }
                Err(e) => {
                    settle(&mut tasks).await;
                    abort_session(self, spec.clone(), session.clone()).await;
                    return Err(e);
                }
            }
        }
        spec.total = offset;
        let parts: Vec<LandedPart> = done.into_values().collect();
        match self.complete_parts(&spec, &session, &parts).await {
            Ok(meta) => self.finished(meta, 0, false).await,
            Err(e) => {
                abort_session(self, spec.clone(), session.clone()).await;
                Err(e)
            }
        }
    }
}

/// Reads from `stream` into `buf` until it holds `want` bytes or the stream ends; returns
/// whether it ended.
async fn fill(stream: &mut ByteStream, buf: &mut BytesMut, want: usize) -> Result<bool> {
    while buf.len() < want {
        match stream.next().await {
            Some(chunk) => buf.extend_from_slice(&chunk?),
            None => return Ok(true),
        }
    }
    Ok(false)
}
