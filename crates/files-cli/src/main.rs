//! The `files` binary; see the `files_cli` crate for what it does.

fn main() -> std::process::ExitCode {
    files_cli::run()
}
