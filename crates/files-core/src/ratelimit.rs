//! A shared bandwidth limit: the parts of one upload, or the writes of one save.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Paces sends so their average rate stays at or under `bytes_per_sec`.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    bytes_per_sec: u64,
    next_free: Mutex<Option<Instant>>,
}

impl RateLimiter {
    pub(crate) fn new(bytes_per_sec: u64) -> Self {
        RateLimiter {
            bytes_per_sec: bytes_per_sec.max(1),
            next_free: Mutex::new(None),
        }
    }

    /// Waits for the right to send `bytes`: the transfer may start once every byte reserved
    /// before it has had its time at the configured rate.
    pub(crate) async fn acquire(&self, bytes: u64) {
        let cost = Duration::from_secs_f64(bytes as f64 / self.bytes_per_sec as f64);
        let start = {
            let mut next = self.next_free.lock().expect("rate lock");
            let now = Instant::now();
            let start = next.map_or(now, |n| n.max(now));
            *next = Some(start + cost);
            start
        };
        tokio::time::sleep_until(start).await;
    }
}
