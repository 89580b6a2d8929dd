//! Fault knobs every fake gets from the kit: cut a request body, drop an answer, answer a
//! one-off `429`/`503` with `Retry-After`. Each [`Fault`] fires on the n-th request a [`Match`]
//! accepts (counted from when the fault was added), for one or more requests in a row.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::log::RecordedRequest;

type Predicate = Arc<dyn Fn(&RecordedRequest) -> bool + Send + Sync>;

/// Which requests a [`Fault`] counts: a method, a path (exact or prefix) and any predicate,
/// all of which must accept. The predicate sees the request's head (its `body_len` is 0).
#[derive(Clone, Default)]
pub struct Match {
    method: Option<String>,
    path: Option<String>,
    prefix: bool,
    when: Option<Predicate>,
}

impl std::fmt::Debug for Match {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Match")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("prefix", &self.prefix)
            .field("when", &self.when.is_some())
            .finish()
    }
}

impl Match {
    /// Every request.
    pub fn any() -> Match {
        Match::default()
    }

    /// Requests with this method (`"PUT"`), any path.
    pub fn method(method: &str) -> Match {
        Match {
            method: Some(method.to_ascii_uppercase()),
            ..Match::default()
        }
    }

    /// Only this path (as sent, percent-encoded).
    pub fn path(mut self, path: &str) -> Match {
        self.path = Some(path.to_string());
        self.prefix = false;
        self
    }

    /// Only paths starting with `prefix`.
    pub fn path_prefix(mut self, prefix: &str) -> Match {
        self.path = Some(prefix.to_string());
        self.prefix = true;
        self
    }

    /// Only requests `f` accepts too.
    pub fn when(mut self, f: impl Fn(&RecordedRequest) -> bool + Send + Sync + 'static) -> Match {
        self.when = Some(Arc::new(f));
        self
    }

    /// Whether `r` matches.
    pub fn matches(&self, r: &RecordedRequest) -> bool {
        self.method.as_ref().is_none_or(|m| *m == r.method)
            && self.path.as_ref().is_none_or(|p| {
                if self.prefix {
                    r.path.starts_with(p.as_str())
                } else {
                    r.path == *p
                }
            })
            && self.when.as_ref().is_none_or(|f| f(r))
    }
}

/// What a fault does to the request it fires on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultAction {
    /// The handler sees only the first `n` bytes of the body (as if the body ended there), then
    /// the connection is closed without an answer.
    CutBodyAfter(u64),
    /// The handler runs on the whole request, then the connection is closed without an
    /// answer: the state changed, the client cannot know.
    DropAnswer,
    /// The fake answers this status itself (a JSON error body, `Retry-After` if set); the
    /// handler never sees the request.
    Status {
        /// `429`, `503`, ...
        status: u16,
        /// `Retry-After` in seconds.
        retry_after: Option<u64>,
    },
}

/// One scripted fault: an action, the requests it counts, on which of them it fires.
#[derive(Clone, Debug)]
pub struct Fault {
    action: FaultAction,
    on: Match,
    nth: u64,
    times: u64,
}

impl Fault {
    /// A fault doing `action` on the next request (any; narrow it with [`on`](Self::on)).
    pub fn new(action: FaultAction) -> Fault {
        Fault {
            action,
            on: Match::any(),
            nth: 1,
            times: 1,
        }
    }

    /// [`FaultAction::CutBodyAfter`]`(n)`.
    pub fn cut_body_after(n: u64) -> Fault {
        Fault::new(FaultAction::CutBodyAfter(n))
    }

    /// [`FaultAction::DropAnswer`].
    pub fn drop_answer() -> Fault {
        Fault::new(FaultAction::DropAnswer)
    }

    /// [`FaultAction::Status`] without `Retry-After` (add it with
    /// [`retry_after`](Self::retry_after)).
    pub fn status(status: u16) -> Fault {
        Fault::new(FaultAction::Status {
            status,
            retry_after: None,
        })
    }

    /// `429 Too Many Requests` with `Retry-After: secs`.
    pub fn too_many_requests(secs: u64) -> Fault {
        Fault::status(429).retry_after(secs)
    }

    /// `503 Service Unavailable` with `Retry-After: secs`.
    pub fn unavailable(secs: u64) -> Fault {
        Fault::status(503).retry_after(secs)
    }

    /// Sets `Retry-After` (seconds) of a status fault; no effect on the others.
    pub fn retry_after(mut self, secs: u64) -> Fault {
        if let FaultAction::Status { retry_after, .. } = &mut self.action {
            *retry_after = Some(secs);
        }
        self
    }

    /// Counts only requests `m` accepts.
    pub fn on(mut self, m: Match) -> Fault {
        self.on = m;
        self
    }

    /// Fires on the `n`-th matching request (1-based; default 1), e.g. "the 3rd PUT".
    pub fn nth(mut self, n: u64) -> Fault {
        self.nth = n.max(1);
        self
    }

    /// Fires on `k` matching requests in a row from the n-th (default 1).
    pub fn times(mut self, k: u64) -> Fault {
        self.times = k.max(1);
        self
    }
}

struct Armed {
    fault: Fault,
    seen: u64,
    fired: Arc<AtomicU64>,
}

/// The faults scripted on one server, in the order added; clones share them.
#[derive(Clone, Default)]
pub struct Faults {
    inner: Arc<Mutex<Vec<Armed>>>,
}

impl std::fmt::Debug for Faults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Faults")
            .field("armed", &self.armed())
            .finish()
    }
}

/// Tells how often a fault fired.
#[derive(Clone, Debug)]
pub struct FaultHandle {
    fired: Arc<AtomicU64>,
}

impl FaultHandle {
    /// How many requests the fault fired on so far.
    pub fn fired(&self) -> u64 {
        self.fired.load(Ordering::SeqCst)
    }
}

impl Faults {
    /// Arms a fault. Every armed fault counts every request it matches; when several would
    /// fire on one request, the first added does (the others still count it).
    pub fn add(&self, fault: Fault) -> FaultHandle {
        let fired = Arc::new(AtomicU64::new(0));
        self.inner.lock().unwrap().push(Armed {
            fault,
            seen: 0,
            fired: fired.clone(),
        });
        FaultHandle { fired }
    }

    /// How many faults are armed (not yet spent).
    pub fn armed(&self) -> usize {
        self.inner.lock().unwrap().len()
    }

    /// Disarms every fault.
    pub fn clear(&self) {
        self.inner.lock().unwrap().clear();
    }

    /// The action to apply to `r`, counting it against every armed fault.
    pub(crate) fn take(&self, r: &RecordedRequest) -> Option<FaultAction> {
        let mut armed = self.inner.lock().unwrap();
        let mut action = None;
        for a in armed.iter_mut() {
            if !a.fault.on.matches(r) {
                continue;
            }
            a.seen += 1;
            let fired = a.fired.load(Ordering::SeqCst);
            if action.is_none() && a.seen >= a.fault.nth && fired < a.fault.times {
                a.fired.fetch_add(1, Ordering::SeqCst);
                action = Some(a.fault.action);
            }
        }
        armed.retain(|a| a.fired.load(Ordering::SeqCst) < a.fault.times);
        action
    }
}
