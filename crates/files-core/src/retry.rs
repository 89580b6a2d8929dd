//! Retry policy: exponential backoff with full jitter, a count and a total deadline.
//!
//! Defaults and why: 10 retries cover the multi-second throttling bursts providers answer with
//! (S3 `SlowDown`, GCS 429) without hiding an outage for long; backoff starts at 100 ms and is
//! capped at 15 s so a part is retried well inside any provider's session lifetime; the 3-minute
//! deadline bounds how long one request may keep a part slot busy. Only errors whose
//! [`Error::is_retryable`] is true are retried: an auth failure, a missing object, a bad token or
//! a changed body fails at once.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use crate::error::{Error, ErrorKind, Result};

/// How a request is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0 = try once).
    pub max_retries: u32,
    /// Backoff before the first retry (before jitter).
    pub initial_backoff: Duration,
    /// Largest backoff.
    pub max_backoff: Duration,
    /// No retry starts after this much time since the first attempt.
    pub deadline: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 10,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(15),
            deadline: Duration::from_secs(180),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> Self {
        RetryPolicy {
            max_retries: 0,
            ..Self::default()
        }
    }

    /// The (jittered) backoff before retry number `attempt` (1-based).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = self.initial_backoff.saturating_mul(
            1u32.checked_shl(attempt.saturating_sub(1).min(20))
                .unwrap_or(u32::MAX),
        );
        let cap = exp.min(self.max_backoff);
        // Full jitter: anywhere in [cap/2, cap], never zero, so retries of parallel parts spread.
        let half = cap / 2;
        half + Duration::from_nanos(fastrand::u64(
            0..=half.as_nanos().min(u64::MAX as u128) as u64,
        ))
    }

    /// Runs `op` until it succeeds, fails with a non-retryable error, or the policy is spent.
    /// Each attempt is bounded by `timeout` (a timed-out attempt is a retryable
    /// [`ErrorKind::Timeout`]). Returns the value and the number of retries made.
    ///
    /// Cancellation: dropping the future drops the attempt in flight.
    pub async fn run<T, F, Fut>(&self, timeout: Option<Duration>, mut op: F) -> Result<(T, u32)>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let started = Instant::now();
        let mut retries = 0u32;
        loop {
            match within(timeout, op(retries)).await {
                Ok(v) => return Ok((v, retries)),
                Err(e) if e.is_retryable() && retries < self.max_retries => {
                    let wait = self.backoff(retries + 1);
                    if started.elapsed() + wait > self.deadline {
                        return Err(e);
                    }
                    tracing::debug!(error = %e, retry = retries + 1, wait_ms = wait.as_millis() as u64, "retrying");
                    tokio::time::sleep(wait).await;
                    retries += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// `fut`, bounded by `timeout` (running out is a retryable [`ErrorKind::Timeout`]).
pub(crate) async fn within<T>(
    timeout: Option<Duration>,
    fut: impl Future<Output = Result<T>>,
) -> Result<T> {
    match timeout {
        Some(t) => tokio::time::timeout(t, fut).await.unwrap_or_else(|_| {
            Err(Error::new(
                ErrorKind::Timeout,
                format!("no answer within {} ms", t.as_millis()),
            ))
        }),
        None => fut.await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test(start_paused = true)]
    async fn retries_transient_then_succeeds() {
        let calls = AtomicU32::new(0);
        let (v, retries) = RetryPolicy::default()
            .run(None, |_| async {
                if calls.fetch_add(1, Ordering::SeqCst) < 3 {
                    Err(Error::transient("503"))
                } else {
                    Ok(7)
                }
            })
            .await
            .unwrap();
        assert_eq!((v, retries), (7, 3));
    }

    #[tokio::test(start_paused = true)]
    async fn does_not_retry_permanent_errors() {
        let calls = AtomicU32::new(0);
        let err = RetryPolicy::default()
            .run(None, |_| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(Error::new(ErrorKind::Unauthorized, "403"))
            })
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unauthorized);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn timeout_is_retryable_and_count_is_bounded() {
        let calls = AtomicU32::new(0);
        let policy = RetryPolicy {
            max_retries: 2,
            ..RetryPolicy::default()
        };
        let err = policy
            .run(Some(Duration::from_millis(50)), |_| async {
                calls.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_secs(10)).await;
                Ok::<_, Error>(())
            })
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn backoff_is_bounded() {
        let p = RetryPolicy::default();
        for n in 1..40 {
            let b = p.backoff(n);
            assert!(
                b <= p.max_backoff && b >= Duration::from_millis(50),
                "{b:?}"
            );
        }
    }
}
