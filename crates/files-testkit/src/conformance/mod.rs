//! The conformance suite every adapter runs.
//!
//! Each check is a plain `pub async fn(&dyn Fixture)` that panics on a violation, so an adapter
//! can run them one per test (see [`conformance_tests!`](crate::conformance_tests)) or all at
//! once with [`run_all`]. Checks work under their own unique key prefix, so they can share a
//! store and run in parallel.
//!
//! Checks are gated by the adapter's declared [`Capabilities`](files_core::Capabilities): where
//! a capability is absent, the check asserts the operation fails with
//! [`ErrorKind::NotSupported`](files_core::ErrorKind::NotSupported) **before any provider call**
//! (it counts calls through a [`FaultyAdapter`](crate::fault::FaultyAdapter) that injects
//! nothing). Part sizes follow the adapter's `upload_family().rules()`, kept small (64 KiB where
//! allowed) so the suite is fast.
//!
//! Waits use a generous 60 s [`hang guard`](HANG_GUARD): it catches a hang, it is not a speed
//! assertion.
//!
//! The checks live by area: `everyday` (round trips, overwrite, head/exists, delete,
//! copy/rename, keys, metadata), `downloads` (ranges, parallel downloads), `listing`, `gates`
//! (refused before any provider call), `uploads` (pause/resume, tokens in a new client, abort,
//! progress, checkpoints, streams) and `tokens` (changed bodies, tampered and doctored tokens);
//! `support` holds what they share. They are all re-exported here.
//!
//! **The list of checks is written once**, in the macro `__conformance_checks!` below; [`CHECKS`]
//! (and so [`run_all`]) and [`conformance_tests!`](crate::conformance_tests) are both made from
//! it. A new check is a `pub async fn` in its area's file, re-exported here, and one line in that
//! list.

use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::time::Duration;

use async_trait::async_trait;
use files_core::Files;
use files_core::token::ResumeToken;
use futures::FutureExt;

mod downloads;
mod everyday;
mod gates;
mod listing;
mod support;
mod tokens;
mod uploads;

pub use downloads::{parallel_download, ranges};
pub use everyday::{
    copy_and_rename, delete, head_and_exists, key_validation, metadata_and_content_type,
    overwrite_replaces, round_trips,
};
pub use gates::{capability_gates, refused_part_sizes};
pub use listing::{list_all_stream, list_pagination, list_prefix_and_delimiter};
pub use tokens::{
    changed_body_on_resume, doctored_session_tokens, refused_input_keeps_earlier_object,
    tampered_tokens,
};
pub use uploads::{
    abort_cleans_session, cancel_while_paused, checkpoint_file, concurrent_control_use,
    pause_resume, progress_monotonic, resume_from_token_in_new_client, stream_bodies,
};

/// How long any single wait of the suite may take before it is called a hang.
pub const HANG_GUARD: Duration = Duration::from_secs(60);

/// What the suite needs from an adapter's test: a name and fresh clients over one store.
#[async_trait]
pub trait Fixture: Send + Sync {
    /// A name for messages (`fs`, `memory`, ...).
    fn name(&self) -> &str;

    /// A **new** client over the same store on every call, built as a new process would build
    /// it (a resume "in a new process" uses one).
    async fn client(&self) -> Files;

    /// What the store still holds of the upload session `token` names (part files, staging
    /// objects...): names of leftovers, empty when nothing remains, `None` when this fixture
    /// cannot observe it. The default cannot.
    async fn leftovers(&self, token: &ResumeToken) -> Option<Vec<String>> {
        let _ = token;
        None
    }
}

// ------------------------------------------------------------------------- the list of checks

/// The suite's list of checks, in the order [`run_all`] runs them: **the one place it is
/// written**. Calls `$crate::$callback! { $($args)* check, check, ... }`; [`CHECKS`] and
/// [`conformance_tests!`](crate::conformance_tests) are both built from it.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_checks {
    ($callback:ident! { $($args:tt)* }) => {
        $crate::$callback! { $($args)*
            round_trips,
            overwrite_replaces,
            head_and_exists,
            ranges,
            parallel_download,
            delete,
            copy_and_rename,
            list_prefix_and_delimiter,
            list_pagination,
            list_all_stream,
            key_validation,
            metadata_and_content_type,
            capability_gates,
            pause_resume,
            resume_from_token_in_new_client,
            abort_cleans_session,
            cancel_while_paused,
            changed_body_on_resume,
            tampered_tokens,
            progress_monotonic,
            checkpoint_file,
            stream_bodies,
            refused_part_sizes,
            concurrent_control_use,
            refused_input_keeps_earlier_object,
            doctored_session_tokens,
        }
    };
}

/// Builds the [`CHECKS`] table from the list of checks.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_table {
    ($($check:ident),* $(,)?) => {
        &[$($crate::conformance::Check {
            name: ::core::stringify!($check),
            run: |fixture| ::std::boxed::Box::pin($crate::conformance::$check(fixture)),
        }),*]
    };
}

/// The future of one running check.
pub type CheckFuture<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// One check of the suite: its name and its function.
#[derive(Clone, Copy)]
pub struct Check {
    /// The check's name: the name of its function here, and of the test
    /// [`conformance_tests!`](crate::conformance_tests) generates for it.
    pub name: &'static str,
    /// Runs the check against a fixture; the future panics on a violation.
    pub run: for<'a> fn(&'a dyn Fixture) -> CheckFuture<'a>,
}

impl fmt::Debug for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Check").field(&self.name).finish()
    }
}

/// Every check, in the order [`run_all`] runs them.
pub const CHECKS: &[Check] = crate::__conformance_checks!(__conformance_table! {});

// ------------------------------------------------------------------------------ entry points

/// Runs every check of [`CHECKS`] (each under its own prefix, one after the other), then panics
/// listing every check that failed, with its message.
pub async fn run_all(fixture: &dyn Fixture) {
    let mut failed: Vec<(&str, String)> = Vec::new();
    for check in CHECKS {
        if let Err(panic) = AssertUnwindSafe((check.run)(fixture)).catch_unwind().await {
            failed.push((check.name, panic_message(&*panic)));
        }
    }
    if !failed.is_empty() {
        let list: Vec<String> = failed
            .iter()
            .map(|(name, msg)| format!("  {name}: {msg}"))
            .collect();
        panic!(
            "{} of {} conformance checks failed for `{}`:\n{}",
            failed.len(),
            CHECKS.len(),
            fixture.name(),
            list.join("\n")
        );
    }
}

/// Generates one `#[tokio::test]` per conformance check (the checks of [`CHECKS`], named after
/// them), each building its own fixture with `$fixture` (an expression evaluated once per
/// test). The calling crate needs `tokio` with the `macros` and `rt-multi-thread` features.
///
/// ```ignore
/// files_testkit::conformance_tests!(my_fixture());
/// ```
#[macro_export]
macro_rules! conformance_tests {
    ($fixture:expr) => {
        $crate::__conformance_checks!(conformance_tests! { @each $fixture; });
    };
    (@each $fixture:expr; $($check:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $check() {
            let fixture = $fixture;
            $crate::conformance::$check(&fixture).await;
        }
    )*};
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else {
        "(non-string panic)".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_names_each_check_once() {
        let mut names: Vec<&str> = CHECKS.iter().map(|c| c.name).collect();
        assert_eq!(names.first(), Some(&"round_trips"));
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), CHECKS.len(), "a check is listed twice");
    }
}
