//! One request: a body that fits in one part, a provider without a session, or a stream on a
//! provider that cannot cut it into parts.

use futures::StreamExt;

use super::{Interrupt, Runner, UploadOutcome};
use crate::body::ByteStream;
use crate::control::{Command, UploadStatus};
use crate::error::Result;
use crate::retry::within;

impl Runner {
    pub(super) async fn one_shot(&mut self, total: Option<u64>) -> Result<UploadOutcome> {
        if let Some(i) = self.interrupt_now() {
            return Err(self.handle_interrupt(i).await);
        }
        self.control.set_status(UploadStatus::Uploading);
        let adapter = self.adapter();
        let key = self.job.key.clone();
        let options = self.job.options.clone();
        let timeout = self.job.timeout;
        // With a rate limit the body is paced as the adapter reads it (each piece waits for
        // the limiter), not granted whole up front and then sent at full speed.
        let rate = self.rate.clone();
        let pace = move |stream: ByteStream| match &rate {
            Some(rate) => crate::ratelimit::paced(stream, rate.clone()),
            None => stream,
        };
        let result = if let Some(stream) = self.job.body.take_stream() {
            // A stream cannot be replayed: one attempt.
            let fut = adapter.put(&key, pace(stream), total, &options);
            match self.guard(within(timeout, fut)).await {
                Ok(r) => r,
                Err(i) => return Err(self.handle_interrupt(i).await),
            }
        } else {
            let total = total.unwrap_or(0);
            let body = &self.job.body;
            let retry = self.job.retry;
            let fut = retry.run(timeout, |_| {
                let adapter = adapter.clone();
                let key = key.clone();
                let options = options.clone();
                let pace = &pace;
                async move {
                    let data = body.read_range(0, total).await?;
                    let stream: ByteStream = futures::stream::once(async move { Ok(data) }).boxed();
                    adapter.put(&key, pace(stream), Some(total), &options).await
                }
            });
            let guarded = {
                let cancel = self.job.cancel.clone();
                let mut commands = self.commands.clone();
                async move {
                    tokio::pin!(fut);
                    loop {
                        if *commands.borrow() == Command::Abort {
                            return Err(Interrupt::Abort);
                        }
                        tokio::select! {
                            v = &mut fut => return Ok(v),
                            _ = cancel.cancelled() => return Err(Interrupt::Cancel),
                            _ = commands.changed() => {}
                        }
                    }
                }
            };
            match guarded.await {
                Ok(Ok((meta, r))) => {
                    self.retries += u64::from(r);
                    Ok(meta)
                }
                Ok(Err(e)) => Err(e),
                Err(i) => return Err(self.handle_interrupt(i).await),
            }
        };
        let meta = result?;
        self.bytes_sent = meta.size;
        self.parts_sent = 1;
        self.finished(meta, 0, false).await
    }
}
