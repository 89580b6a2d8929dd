//! A shared bandwidth limit: the parts of one upload, or the writes of one save.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use tokio::time::Instant;

use crate::body::ByteStream;

/// Paces sends so their average rate stays at or under `bytes_per_sec`.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    bytes_per_sec: u64,
    next_free: Mutex<Option<Instant>>,
}

/// The largest piece a paced body yields at once: the limiter lets a piece go as a burst, so
/// pieces are kept small (at most 64 KiB, and at most one second's worth) for the rate to hold
/// over any stretch longer than a piece.
const PACE_PIECE: u64 = 64 * 1024;

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

    /// The size of the pieces [`paced`] cuts a body into at this rate.
    fn piece(&self) -> u64 {
        PACE_PIECE.min(self.bytes_per_sec).max(1)
    }
}

/// `body`, paced by `limiter` as it is read: each chunk is cut into pieces of at most
/// [`PACE_PIECE`] bytes (one second's worth at slow rates), and each piece is held back until
/// the limiter grants it. Whoever reads the stream (an adapter sending it in one request, the
/// scheduler cutting it into parts) thus sends it at the limit, instead of the whole body being
/// granted at once and sent at full speed.
pub(crate) fn paced(body: ByteStream, limiter: Arc<RateLimiter>) -> ByteStream {
    let piece = limiter.piece() as usize;
    body.flat_map(move |item| {
        let pieces: Vec<crate::error::Result<bytes::Bytes>> = match item {
            Ok(chunk) => (0..chunk.len())
                .step_by(piece)
                .map(|off| Ok(chunk.slice(off..(off + piece).min(chunk.len()))))
                .collect(),
            Err(e) => vec![Err(e)],
        };
        futures::stream::iter(pieces)
    })
    .then(move |item| {
        let limiter = limiter.clone();
        async move {
            if let Ok(piece) = &item {
                limiter.acquire(piece.len() as u64).await;
            }
            item
        }
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[tokio::test(start_paused = true)]
    async fn a_paced_body_is_read_at_the_rate() {
        // One chunk of 1 MiB at 256 KiB/s: sixteen 64 KiB pieces, the last granted after the
        // fifteen before it had their time (15 x 0.25 s).
        let limiter = Arc::new(RateLimiter::new(256 * 1024));
        let body: ByteStream =
            futures::stream::once(async { Ok(Bytes::from(vec![7u8; 1 << 20])) }).boxed();
        let start = Instant::now();
        let pieces: Vec<Bytes> = paced(body, limiter).map(|p| p.unwrap()).collect().await;
        assert_eq!(pieces.len(), 16);
        assert!(pieces.iter().all(|p| p.len() == 64 * 1024));
        assert_eq!(start.elapsed(), Duration::from_millis(3750));
    }

    #[tokio::test(start_paused = true)]
    async fn errors_pass_through_unpaced() {
        let limiter = Arc::new(RateLimiter::new(1));
        let body: ByteStream = futures::stream::iter(vec![
            Ok(Bytes::from_static(b"ab")),
            Err(crate::Error::transient("reset")),
        ])
        .boxed();
        let items: Vec<_> = paced(body, limiter).collect().await;
        assert_eq!(items.len(), 3, "one-byte pieces at 1 B/s, then the error");
        assert!(items[2].is_err());
    }
}
