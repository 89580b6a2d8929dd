//! Developer tasks for the `files` workspace.
//!
//! ```text
//! cargo xtask test     # the whole test suite: doc tests, then nextest over the workspace
//! cargo xtask bench    # release benchmarks; writes docs/benchmarks.md
//! ```
//!
//! Test servers that later providers need are started by the test harness itself (in
//! files-testkit); `test` only makes sure the suites run in one command.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits in the workspace")
        .to_path_buf()
}

fn run(cmd: &mut Command) -> Result<(), String> {
    eprintln!("xtask: running {cmd:?}");
    let status = cmd
        .current_dir(root())
        .status()
        .map_err(|e| format!("could not start {cmd:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} failed with {status}"))
    }
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

fn test(extra: &[String]) -> Result<(), String> {
    // Doc tests first, so that the run closes on the main suite's summary.
    run(cargo().args(["test", "--workspace", "--locked", "--doc"]))?;
    let nextest_available = cargo()
        .args(["nextest", "--version"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if nextest_available {
        run(cargo()
            .args([
                "nextest",
                "run",
                "--workspace",
                "--locked",
                "--no-fail-fast",
            ])
            .args(extra))
    } else {
        eprintln!("xtask: cargo-nextest not found, falling back to cargo test");
        run(cargo()
            .args([
                "test",
                "--workspace",
                "--locked",
                "--lib",
                "--bins",
                "--tests",
            ])
            .args(extra))
    }
}

fn bench(extra: &[String]) -> Result<(), String> {
    let out = root().join("docs").join("benchmarks.md");
    run(cargo()
        .args([
            "bench",
            "--locked",
            "-p",
            "files-bench",
            "--bench",
            "upload",
            "--",
        ])
        .arg("--markdown")
        .arg(&out)
        .args(extra))?;
    eprintln!("xtask: wrote {}", out.display());
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (task, rest) = match args.split_first() {
        Some((t, r)) => (t.as_str(), r),
        None => ("help", &[][..]),
    };
    let result = match task {
        "test" => test(rest),
        "bench" => bench(rest),
        _ => {
            eprintln!(
                "usage: cargo xtask <task>\n\n  test   run every test suite (nextest, then doc tests)\n  bench  run the release benchmarks and write docs/benchmarks.md"
            );
            return if task == "help" {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            };
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}
