//! What the tool prints on stderr besides its result: the retry lines (`retry 2/10 in 400 ms:
//! <error>`, from the core's `files::retry` events) and, only when `FILES_LOG` asks, the
//! diagnostics of the libraries underneath.
//!
//! Without `FILES_LOG`, the SDKs under the providers (aws-*, hyper, reqwest, russh, ...) stay
//! quiet: their warnings are diagnostics of their own (a credential chain reporting each
//! provider it tried), not something a user of this tool can act on; the error the command
//! ends with says what went wrong. The tool's own warnings show.

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use tracing::field::{Field, Visit};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

/// The target of the core's retry events.
const RETRY_TARGET: &str = "files::retry";

/// Retries seen so far (shown or not), for the final error line.
static RETRIES: AtomicU32 = AtomicU32::new(0);
/// Whether retry lines are printed.
static SHOW_RETRIES: AtomicBool = AtomicBool::new(false);

/// The retries this process made so far.
pub(crate) fn retries() -> u32 {
    RETRIES.load(Ordering::Relaxed)
}

/// `FILES_PROGRESS`: `always` treats stderr as a terminal (retry lines show), `never` as not
/// one (no progress bar, no retry lines unless `-v`); anything else, or unset: ask stderr.
pub(crate) fn stderr_is_terminal() -> bool {
    match std::env::var("FILES_PROGRESS").as_deref() {
        Ok("always") => true,
        Ok("never") => false,
        _ => std::io::stderr().is_terminal(),
    }
}

/// Installs the subscriber: `verbose` is the count of `-v`.
pub(crate) fn init(verbose: u8) {
    let from_env = std::env::var("FILES_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty());
    let show = verbose > 0 || from_env.is_some() || stderr_is_terminal();
    SHOW_RETRIES.store(show, Ordering::Relaxed);
    let directives = match from_env {
        Some(d) => d,
        None => {
            let level = if verbose >= 2 { "debug" } else { "warn" };
            // The tool's own warnings and errors; its crates' at `level` with -vv.
            let mut d = format!(
                "off,files_cli={}",
                if verbose >= 2 { "debug" } else { "warn" }
            );
            for c in [
                "files",
                "files_core",
                "files_fs",
                "files_memory",
                "files_s3",
                "files_sftp",
                "files_ftp",
                "files_webdav",
                "files_azure",
                "files_gcs",
                "files_gdrive",
                "files_http",
                "files_box",
                "files_dropbox",
                "files_onedrive",
            ] {
                if verbose >= 2 {
                    let _ = write!(d, ",{c}={level}");
                }
            }
            d
        }
    };
    // The retry events are the retry layer's; the formatter never prints them twice.
    let filter = EnvFilter::try_new(format!("{directives},{RETRY_TARGET}=off"))
        .unwrap_or_else(|_| EnvFilter::new(format!("off,files_cli=warn,{RETRY_TARGET}=off")));
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_filter(filter);
    let retry = RetryLines.with_filter(tracing_subscriber::filter::filter_fn(|m| {
        m.target() == RETRY_TARGET
    }));
    let _ = tracing_subscriber::registry()
        .with(fmt)
        .with(retry)
        .try_init();
}

/// Prints the core's retry events as `retry 2/10 in 400 ms: <error>`, and counts them.
struct RetryLines;

impl<S: tracing::Subscriber> Layer<S> for RetryLines {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        RETRIES.fetch_add(1, Ordering::Relaxed);
        if !SHOW_RETRIES.load(Ordering::Relaxed) {
            return;
        }
        let mut f = RetryFields::default();
        event.record(&mut f);
        eprintln!("{}", f.line());
    }
}

#[derive(Default)]
struct RetryFields {
    attempt: Option<u64>,
    max_retries: Option<u64>,
    wait_ms: Option<u64>,
    error: Option<String>,
}

impl RetryFields {
    fn line(&self) -> String {
        let mut line = String::from("retry");
        if let Some(a) = self.attempt {
            let _ = write!(line, " {a}");
            if let Some(m) = self.max_retries {
                let _ = write!(line, "/{m}");
            }
        }
        if let Some(ms) = self.wait_ms {
            let _ = write!(line, " in {}", wait_text(ms));
        }
        if let Some(e) = &self.error {
            let _ = write!(line, ": {}", crate::one_line(e));
        }
        line
    }
}

/// `400 ms`, `1.6 s`, `15 s`.
fn wait_text(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms < 10_000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else {
        format!("{} s", (ms + 500) / 1000)
    }
}

impl Visit for RetryFields {
    fn record_u64(&mut self, field: &Field, value: u64) {
        match field.name() {
            "attempt" => self.attempt = Some(value),
            "max_retries" => self.max_retries = Some(value),
            "wait_ms" => self.wait_ms = Some(value),
            _ => {}
        }
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        if let Ok(v) = u64::try_from(value) {
            self.record_u64(field, v);
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "error" {
            self.error = Some(value.to_string());
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "error" {
            self.error = Some(format!("{value:?}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_lines_read_well() {
        let f = RetryFields {
            attempt: Some(2),
            max_retries: Some(10),
            wait_ms: Some(400),
            error: Some("transient: could not connect\n(refused)".into()),
        };
        assert_eq!(
            f.line(),
            "retry 2/10 in 400 ms: transient: could not connect (refused)"
        );
        assert_eq!(wait_text(1600), "1.6 s");
        assert_eq!(wait_text(12_800), "13 s");
    }
}
