//! Test kit for `files` adapters: the conformance suite every adapter runs
//! ([`conformance`]), a fault-injecting adapter wrapper ([`fault`]), helpers ([`util`]), and a
//! crash helper that kills a child process mid-upload and resumes ([`crash`]), harnesses for
//! real test servers, emulators and daemons ([`servers`]), and raw-socket fault proxies
//! ([`proxy`], [`tcp_proxy`]). The in-process protocol fakes (`FakeGcs`, `FakeDrive`) live in
//! the `files-fakes` crate.
//!
//! An adapter crate runs the suite with one test per check:
//!
//! ```ignore
//! use files_testkit::util::FnFixture;
//! files_testkit::conformance_tests!(FnFixture::new("mine", || files_core::Files::new(MyAdapter::new())));
//! ```
#![deny(missing_docs)]

pub mod conformance;
pub mod crash;
pub mod fault;
pub mod proxy;
pub mod proxy_kit;
pub mod servers;
pub mod tcp_proxy;
pub mod util;

// The server harnesses' paths from before they moved under `servers`, kept for their callers.
pub use servers::{azurite, davd, ftpd, gcs, scratch, sshd};

pub use conformance::{Fixture, run_all};
pub use fault::{FaultConfig, FaultCounts, FaultyAdapter};
pub use util::FnFixture;
