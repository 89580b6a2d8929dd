//! [`FakeClock`]: the time a fake reads (session expiry, token lifetimes, `Date` headers).

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A controllable clock shared by a fake and its test: real time by default, moved forward
/// with [`advance`](Self::advance), or frozen with [`freeze`](Self::freeze) /
/// [`set`](Self::set). Clones share one reading.
///
/// Fakes read it for everything that expires, so a test makes a one-week session expire in
/// milliseconds: `fake.clock().advance(Duration::from_secs(7 * 24 * 3600))`.
#[derive(Clone, Default)]
pub struct FakeClock {
    inner: Arc<Mutex<ClockState>>,
}

#[derive(Default)]
struct ClockState {
    /// Added to real time while not frozen.
    offset: Duration,
    /// The reading while frozen.
    frozen: Option<SystemTime>,
}

impl std::fmt::Debug for FakeClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.inner.lock().unwrap();
        f.debug_struct("FakeClock")
            .field("offset", &st.offset)
            .field("frozen", &st.frozen.is_some())
            .finish()
    }
}

impl FakeClock {
    /// A clock that follows real time.
    pub fn new() -> FakeClock {
        FakeClock::default()
    }

    /// A clock frozen at `t`.
    pub fn frozen_at(t: SystemTime) -> FakeClock {
        let c = FakeClock::new();
        c.set(t);
        c
    }

    /// The current reading.
    pub fn now(&self) -> SystemTime {
        let st = self.inner.lock().unwrap();
        st.frozen.unwrap_or_else(|| SystemTime::now() + st.offset)
    }

    /// The current reading in whole seconds since the Unix epoch.
    pub fn unix_secs(&self) -> u64 {
        self.now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }

    /// The current reading in milliseconds since the Unix epoch.
    pub fn unix_millis(&self) -> u64 {
        self.now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    }

    /// The current reading as an HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`).
    pub fn http_date(&self) -> String {
        httpdate::fmt_http_date(self.now())
    }

    /// Moves the clock forward by `d` (frozen or not).
    pub fn advance(&self, d: Duration) {
        let mut st = self.inner.lock().unwrap();
        match &mut st.frozen {
            Some(t) => *t += d,
            None => st.offset += d,
        }
    }

    /// Stops the clock at its current reading.
    pub fn freeze(&self) {
        let now = self.now();
        self.inner.lock().unwrap().frozen = Some(now);
    }

    /// Freezes the clock at `t`.
    pub fn set(&self, t: SystemTime) {
        self.inner.lock().unwrap().frozen = Some(t);
    }

    /// Lets the clock run with real time again, from its current reading (never backwards
    /// relative to real time: a reading behind real time resumes at real time).
    pub fn resume(&self) {
        let mut st = self.inner.lock().unwrap();
        if let Some(t) = st.frozen.take() {
            st.offset = t.duration_since(SystemTime::now()).unwrap_or_default();
        }
    }

    /// Whether the clock is frozen.
    pub fn is_frozen(&self) -> bool {
        self.inner.lock().unwrap().frozen.is_some()
    }
}
