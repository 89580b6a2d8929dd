//! Test kit for `files` adapters: the conformance suite every adapter runs, a fault-injecting
//! adapter wrapper, and a crash helper that kills a child process mid-upload and resumes.

pub mod conformance;
pub mod crash;
pub mod fault;
pub mod util;
