//! Test kit for `files` adapters: the conformance suite every adapter runs
//! ([`conformance`]), a fault-injecting adapter wrapper ([`fault`]), helpers ([`util`]), and a
//! crash helper that kills a child process mid-upload and resumes ([`crash`]), and harnesses
//! for real test servers (emulators, daemons). The in-process protocol fakes (`FakeGcs`,
//! `FakeDrive`) live in the `files-fakes` crate.
//!
//! An adapter crate runs the suite with one test per check:
//!
//! ```ignore
//! use files_testkit::util::FnFixture;
//! files_testkit::conformance_tests!(FnFixture::new("mine", || files_core::Files::new(MyAdapter::new())));
//! ```
#![deny(missing_docs)]

pub mod azurite;
pub mod conformance;
pub mod crash;
pub mod davd;
pub mod fault;
pub mod ftpd;
pub mod gcs;
pub mod proxy;
pub mod proxy_kit;
pub mod scratch;
pub mod servers;
pub mod sshd;
pub mod tcp_proxy;
pub mod util;

pub use conformance::{Fixture, run_all};
pub use fault::{FaultConfig, FaultCounts, FaultyAdapter};
pub use util::FnFixture;
