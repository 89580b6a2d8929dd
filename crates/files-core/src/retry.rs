//! Retry policy: exponential backoff with equal jitter, a count and a total deadline, and the
//! provider's own `Retry-After` honoured.
//!
//! Defaults and why: 10 retries cover the multi-second throttling bursts providers answer with
//! (S3 `SlowDown`, GCS 429) without hiding an outage for long; backoff starts at 100 ms and is
//! capped at 15 s so a part is retried well inside any provider's session lifetime; the 3-minute
//! deadline bounds how long one request may keep a part slot busy. Only errors whose
//! [`Error::is_retryable`] is true are retried: an auth failure, a missing object, a bad token or
//! a changed body fails at once.
//!
//! When a retryable error says how long the provider wants the client to wait
//! ([`Error::retry_after`], an HTTP `Retry-After`), that wait is used instead of the backoff:
//! exactly that long, never less (retrying sooner only earns another throttling answer). If
//! waiting it would pass the policy's deadline, the error is returned at once instead of
//! sleeping past the deadline.

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

    /// The un-jittered backoff before retry number `attempt` (1-based): `initial_backoff`
    /// doubled per attempt, capped at `max_backoff`.
    fn backoff_cap(&self, attempt: u32) -> Duration {
        let exp = self.initial_backoff.saturating_mul(
            1u32.checked_shl(attempt.saturating_sub(1).min(20))
                .unwrap_or(u32::MAX),
        );
        exp.min(self.max_backoff)
    }

    /// The (jittered) backoff before retry number `attempt` (1-based): "equal jitter", a
    /// uniform draw in `[cap/2, cap]` where `cap` is the exponential step
    /// (`initial_backoff * 2^(attempt-1)`, at most `max_backoff`).
    ///
    /// Why equal jitter and not full jitter (`[0, cap]`): a provider that throttles without a
    /// `Retry-After` still needs every client to actually back off, and full jitter draws
    /// near-zero waits for some of the parts retried at once, which come straight back into
    /// the throttling. Equal jitter keeps at least half of the exponential step for every
    /// retry, and the other half still spreads the retries of parallel parts apart.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let cap = self.backoff_cap(attempt);
        let half = cap / 2;
        let spread = (cap - half).as_nanos().min(u64::MAX as u128) as u64;
        half + Duration::from_nanos(fastrand::u64(0..=spread))
    }

    /// How long to wait before retry number `attempt` (1-based) after the retryable `err`,
    /// `elapsed` after the first attempt began: the provider's [`Error::retry_after`] when it
    /// gave one (exactly that), else [`backoff`](Self::backoff). `None` when the policy is
    /// spent: past `max_retries`, or the wait would end past the deadline.
    ///
    /// A wait it answers is logged as an `info` event of target `files::retry` (fields
    /// `attempt`, `max_retries`, `wait_ms`, `error`): the caller is about to sleep and retry.
    pub fn wait_before_retry(
        &self,
        err: &Error,
        attempt: u32,
        elapsed: Duration,
    ) -> Option<Duration> {
        if attempt > self.max_retries {
            return None;
        }
        let wait = err.retry_after().unwrap_or_else(|| self.backoff(attempt));
        if elapsed.saturating_add(wait) > self.deadline {
            return None;
        }
        // Every caller sleeps `wait` and retries when this answers, so this is the one place
        // a retry shows (the CLI prints these events: `retry 2/10 in 400 ms: <error>`).
        tracing::info!(
            target: "files::retry",
            attempt,
            max_retries = self.max_retries,
            wait_ms = wait.as_millis() as u64,
            error = %err,
            "retrying"
        );
        Some(wait)
    }

    /// Runs `op` until it succeeds, fails with a non-retryable error, or the policy is spent.
    /// Each attempt is bounded by `timeout` (a timed-out attempt is a retryable
    /// [`ErrorKind::Timeout`]). Between attempts it waits as [`wait_before_retry`] says (the
    /// provider's `Retry-After`, else the backoff), and returns the last error rather than
    /// wait past the deadline. Returns the value and the number of retries made.
    ///
    /// Cancellation: dropping the future drops the attempt in flight.
    ///
    /// [`wait_before_retry`]: Self::wait_before_retry
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
                Err(e) if e.is_retryable() => {
                    let Some(wait) = self.wait_before_retry(&e, retries + 1, started.elapsed())
                    else {
                        return Err(e);
                    };
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
        // Equal jitter: every retry waits within [cap/2, cap] of its exponential step, so at
        // least half the step, never more than `max_backoff`.
        let p = RetryPolicy::default();
        for n in 1..40 {
            let cap = p
                .initial_backoff
                .saturating_mul(1 << (n - 1).min(20))
                .min(p.max_backoff);
            for _ in 0..50 {
                let b = p.backoff(n);
                assert!(
                    b >= cap / 2 && b <= cap,
                    "attempt {n}: {b:?} not in [{:?}, {cap:?}]",
                    cap / 2
                );
                assert!(b <= p.max_backoff && b >= p.initial_backoff / 2, "{b:?}");
            }
        }
        // The draw really spreads: not always the same value.
        let draws: std::collections::BTreeSet<_> = (0..50).map(|_| p.backoff(5)).collect();
        assert!(draws.len() > 1, "no jitter: {draws:?}");
    }

    /// A policy whose own backoff is tiny, so any long wait comes from `Retry-After`.
    fn quick() -> RetryPolicy {
        RetryPolicy {
            max_retries: 5,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(2),
            deadline: Duration::from_secs(60),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_is_waited_exactly() {
        let calls = AtomicU32::new(0);
        let start = Instant::now();
        let (v, retries) = quick()
            .run(None, |_| async {
                match calls.fetch_add(1, Ordering::SeqCst) {
                    0 => Err(Error::transient("429").with_retry_after(Duration::from_secs(7))),
                    1 => Err(Error::transient("503").with_retry_after(Duration::from_secs(3))),
                    _ => Ok(1),
                }
            })
            .await
            .unwrap();
        assert_eq!((v, retries), (1, 2));
        let elapsed = start.elapsed();
        assert!(
            elapsed >= Duration::from_secs(10) && elapsed < Duration::from_millis(10_050),
            "waited {elapsed:?}, the provider asked for 7 s then 3 s"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_past_the_deadline_gives_up_at_once() {
        let calls = AtomicU32::new(0);
        let start = Instant::now();
        let err = quick()
            .run(None, |_| async {
                match calls.fetch_add(1, Ordering::SeqCst) {
                    0 => Err(Error::transient("429").with_retry_after(Duration::from_secs(61))),
                    _ => Ok(()),
                }
            })
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Transient);
        assert_eq!(err.retry_after(), Some(Duration::from_secs(61)));
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "no retry past the deadline"
        );
        assert!(
            start.elapsed() < Duration::from_millis(1),
            "gave up without sleeping: {:?}",
            start.elapsed()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_on_a_permanent_error_is_not_a_retry() {
        let calls = AtomicU32::new(0);
        let err = quick()
            .run(None, |_| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(
                    Error::new(ErrorKind::StorageFull, "full")
                        .with_retry_after(Duration::from_secs(1)),
                )
            })
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::StorageFull);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
