//! Developer tasks for the `files` workspace.
//!
//! ```text
//! cargo xtask servers  # install the local test servers into target/test-servers (idempotent)
//! cargo xtask test     # servers, then doc tests, then nextest over the workspace
//! cargo xtask bench    # release upload and download benchmarks; writes docs/benchmarks.md
//! ```
//!
//! The test servers (moto and `rclone serve s3` today) are installed into a project-local Python
//! virtual environment by the same code the tests use (the std-only files of
//! `files_testkit::servers`, compiled into this binary from their source, so that installing
//! needs no build of the workspace). The tests start and stop the servers themselves; `test`
//! also starts one moto server for the whole run and hands its endpoint to every test process
//! (`FILES_TEST_MOTO_ENDPOINT`, and `FILES_S3_TEST_ENDPOINT` for files-s3's own live-server
//! tests), which saves one server start per test process.
//!
//! With `CI` set, a server that cannot be installed fails the task; otherwise it prints a loud
//! warning and the tests that need the server skip.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// The std-only part of `files_testkit::servers`, compiled from its source files (see the
/// header of `crates/files-testkit/src/servers/mod.rs`): the shared machinery and moto.
#[cfg(not(test))]
#[allow(dead_code)]
#[path = "../../crates/files-testkit/src/servers"]
mod servers {
    mod common;
    mod moto;

    pub use common::*;
    pub use moto::*;
}

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

/// `cargo xtask servers`: installs every test server and prints what is installed.
#[cfg(not(test))]
fn install_servers() -> Result<(), String> {
    let started = std::time::Instant::now();
    let installed = servers::ensure_installed()?;
    servers::ensure_debian_packages()?;
    servers::ensure_npm_packages()?;
    eprintln!(
        "xtask: test servers installed in {} ({:.1} s)",
        installed.venv.display(),
        started.elapsed().as_secs_f64()
    );
    for (package, version) in servers::installed_versions()? {
        eprintln!("xtask:   {package} {version}");
    }
    Ok(())
}

/// Installs the servers before a test run: a failure fails the run in CI, and is a loud
/// warning elsewhere (the tests that need a server then skip, saying so).
#[cfg(not(test))]
fn servers_for_tests() -> Result<Option<servers::MotoServer>, String> {
    if let Err(e) = install_servers() {
        if servers::in_ci() {
            return Err(format!(
                "the test servers could not be installed, and CI must not skip them: {e}"
            ));
        }
        eprintln!(
            "\nxtask: WARNING: the test servers could not be installed; the tests that need them \
             will be SKIPPED:\n{e}\n"
        );
        return Ok(None);
    }
    if std::env::var_os(servers::MOTO_ENDPOINT_ENV).is_some() {
        // The caller runs its own server.
        return Ok(None);
    }
    match servers::MotoServer::start() {
        Ok(moto) => {
            eprintln!(
                "xtask: moto serves {} for this run (log: {})",
                moto.endpoint(),
                moto.process()
                    .map(|p| p.log_path().display().to_string())
                    .unwrap_or_default()
            );
            Ok(Some(moto))
        }
        // The tests will try again themselves, and report (or fail in CI).
        Err(e) => {
            eprintln!("xtask: WARNING: could not start a shared moto server: {e}");
            Ok(None)
        }
    }
}

#[cfg(test)]
fn install_servers() -> Result<(), String> {
    Ok(())
}

#[cfg(test)]
fn servers_for_tests() -> Result<Option<()>, String> {
    Ok(None)
}

/// The variable `crates/files-s3/tests/live_server.rs` reads its S3 endpoint from.
#[cfg(not(test))]
const S3_LIVE_ENDPOINT_ENV: &str = "FILES_S3_TEST_ENDPOINT";

/// Sets the shared server's endpoint on a test command: for `files_testkit::servers`, and for
/// the adapter crate's own live-server tests (unless the caller set one).
#[cfg(not(test))]
fn with_servers(cmd: &mut Command, moto: &Option<servers::MotoServer>) {
    if let Some(m) = moto {
        cmd.env(servers::MOTO_ENDPOINT_ENV, m.endpoint());
        if std::env::var_os(S3_LIVE_ENDPOINT_ENV).is_none() {
            cmd.env(S3_LIVE_ENDPOINT_ENV, m.endpoint());
        }
    }
}

#[cfg(test)]
fn with_servers(_: &mut Command, _: &Option<()>) {}

fn test(extra: &[String]) -> Result<(), String> {
    // Dropped (killed) when this function returns.
    let moto = servers_for_tests()?;
    // Doc tests first, so that the run closes on the main suite's summary.
    let mut doc = cargo();
    doc.args(["test", "--workspace", "--locked", "--doc"]);
    with_servers(&mut doc, &moto);
    run(&mut doc)?;
    let nextest_available = cargo()
        .args(["nextest", "--version"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    let mut main = cargo();
    if nextest_available {
        main.args([
            "nextest",
            "run",
            "--workspace",
            "--locked",
            "--no-fail-fast",
        ]);
    } else {
        eprintln!("xtask: cargo-nextest not found, falling back to cargo test");
        main.args([
            "test",
            "--workspace",
            "--locked",
            "--lib",
            "--bins",
            "--tests",
        ]);
    }
    main.args(extra);
    with_servers(&mut main, &moto);
    run(&mut main)
}

fn bench(extra: &[String]) -> Result<(), String> {
    let out = root().join("docs").join("benchmarks.md");
    // The fs / memory benchmark (uploads, and the fs download, against std::fs::copy) writes
    // the file (keeping the S3 section), then the S3 upload and download benchmark against
    // its peers (`--features peers`: OpenDAL, object_store, aws-sdk-s3, rclone) replaces its
    // own section. `--skip-s3` runs the first only.
    let skip_s3 = extra.iter().any(|a| a == "--skip-s3");
    let extra: Vec<&String> = extra.iter().filter(|a| *a != "--skip-s3").collect();
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
        .args(&extra))?;
    if !skip_s3 {
        #[cfg(not(test))]
        servers::ensure_installed()
            .map_err(|e| format!("the S3 benchmark needs the test servers: {e}"))?;
        run(cargo()
            .args([
                "bench",
                "--locked",
                "-p",
                "files-bench",
                "--features",
                "peers",
                "--bench",
                "s3",
                "--",
            ])
            .arg("--markdown")
            .arg(&out)
            .args(&extra))?;
    }
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
        "servers" => install_servers(),
        "test" => test(rest),
        "bench" => bench(rest),
        _ => {
            eprintln!(
                "usage: cargo xtask <task>\n\n  servers  install the local test servers (moto, rclone, pyftpdlib, wsgidav, gcp-storage-emulator, azurite; Debian's sshd, vsftpd, apache2)\n  test     install the servers, then run every test suite (doc tests, then nextest)\n  bench    run the release upload and download benchmarks (fs/memory, then S3 against its peers; --skip-s3) and write docs/benchmarks.md"
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
