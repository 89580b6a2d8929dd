//! `upload` (with progress, checkpoints and Ctrl-C handling) and `abort`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use files::{
    Body, Error, ErrorKind, Files, Result, Resumability, ResumeToken, UploadControl, UploadStatus,
};

use crate::args::{AbortArgs, UploadArgs};
use crate::commands::{dest_url, open_object, progress_bar, url_of};
use crate::parse::{is_url, redact_url, shell_command, shell_quote};
use crate::{EXIT_INTERRUPTED, Interrupts};

/// The file next to a checkpoint that names the upload's destination URL (without
/// credentials), so that `files abort` can open the store: `<checkpoint>.dest`.
pub(crate) fn sidecar_path(checkpoint: &Path) -> PathBuf {
    let mut name: OsString = checkpoint.as_os_str().to_os_string();
    name.push(".dest");
    PathBuf::from(name)
}

fn write_sidecar(path: &Path, url: &str) -> Result<()> {
    let ctx = |e: std::io::Error| {
        Error::from_io(e)
            .with_operation("write checkpoint destination")
            .with_key(path.display().to_string())
    };
    let mut tmp = path.as_os_str().to_os_string();
    tmp.push(format!(".tmp-{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    // A stale temporary file (of a process with the same id) is replaced: `create_new` makes
    // sure the file written is this one, with the mode set here.
    remove_quietly(&tmp);
    write_private(&tmp, format!("{}\n", redact_url(url)).as_bytes()).map_err(ctx)?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        ctx(e)
    })
}

/// Writes a new file readable by its owner only (mode 0600 on Unix, like checkpoints): it
/// names the store and the key of an upload.
fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path)?;
    f.write_all(data)?;
    f.sync_all()
}

fn remove_quietly(path: &Path) {
    if let Err(e) = std::fs::remove_file(path)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(path = %path.display(), error = %e, "could not remove file");
    }
}

/// The command line that started this process, for "run this again to resume".
/// `--restart` is left out: run again, the command must resume, not start over once more.
fn this_command() -> String {
    let (cmd, redacted) = shell_command(without_restart(
        std::env::args_os().map(|a| a.to_string_lossy().into_owned()),
    ));
    if redacted {
        format!("{cmd}    # credentials were removed from the URL; supply them again")
    } else {
        cmd
    }
}

/// The arguments without `--restart` (an option only before a `--`).
fn without_restart(args: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut options = true;
    args.into_iter()
        .filter(|a| {
            if a == "--" {
                options = false;
            }
            !(options && a == "--restart")
        })
        .collect()
}

fn program() -> String {
    shell_quote(
        &std::env::args_os()
            .next()
            .map(|a| a.to_string_lossy().into_owned())
            .unwrap_or_else(|| "files".into()),
    )
}

pub(crate) async fn upload(a: UploadArgs, interrupts: &mut Interrupts) -> Result<ExitCode> {
    if is_url(&a.src) {
        return Err(Error::invalid_input(
            "upload reads a local file (SRC is a path); use `files cp` to copy between stores",
        ));
    }
    let src = PathBuf::from(&a.src);
    let name = src.file_name().map(|n| n.to_string_lossy().into_owned());
    let dest = dest_url(&a.dest, name.as_deref())?;
    let (files, key) = open_object(&dest)?;
    let body = Body::from_path(&src).await?;
    let total = body.len().unwrap_or(0);
    let resumable = files.capabilities().resumable != Resumability::None;

    let control = UploadControl::new();
    let mut upload = files.upload(key.clone(), body);
    if let Some(n) = a.part_size {
        upload = upload.part_size(n);
    }
    if let Some(n) = a.concurrency {
        upload = upload.concurrency(n as usize);
    }
    if let Some(rate) = a.bwlimit {
        upload = upload.rate_limit(rate);
    }
    if let Some(ct) = &a.content_type {
        upload = upload.content_type(ct.clone());
    }
    if resumable {
        upload = upload.control(control.clone());
    }
    let sidecar = a.checkpoint.as_deref().map(sidecar_path);
    let restarted = match (&a.checkpoint, a.restart) {
        (Some(cp), true) => restart(cp, &files, &key).await?,
        _ => false,
    };
    if let (Some(cp), Some(side)) = (&a.checkpoint, &sidecar) {
        upload = upload.checkpoint(cp.clone());
        // Keep the sidecar of an existing checkpoint: it names the session's destination.
        if !(cp.exists() && side.exists()) {
            write_sidecar(side, &dest)?;
        }
    }

    let pb = progress_bar(total, a.json);
    {
        let pb = pb.clone();
        let first = AtomicBool::new(true);
        upload = upload.on_progress(move |p| {
            pb.set_position(p.loaded);
            if first.swap(false, Ordering::SeqCst) {
                // Bytes that landed before this run are not part of the rate.
                pb.reset_eta();
                pb.reset_elapsed();
            }
        });
    }
    let pb = Arc::new(pb);

    let fut = upload.send();
    tokio::pin!(fut);
    let result = tokio::select! {
        r = &mut fut => r,
        _ = interrupts.recv() => {
            if !resumable {
                pb.finish_and_clear();
                eprintln!("interrupted: the upload was stopped; nothing was stored");
                return Ok(ExitCode::from(EXIT_INTERRUPTED));
            }
            let pausing = a.checkpoint.is_some();
            if pausing {
                pb.suspend(|| eprintln!("interrupted: pausing after the parts in flight (Ctrl-C again to exit now)"));
                control.pause();
            } else {
                pb.suspend(|| eprintln!("interrupted: aborting the upload (Ctrl-C again to exit now)"));
                control.abort();
            }
            let paused = tokio::select! {
                r = &mut fut => Err(r),
                _ = control.wait_for(|s| s == UploadStatus::Paused), if pausing => Ok(()),
                _ = interrupts.recv() => {
                    pb.finish_and_clear();
                    if pausing {
                        eprintln!("interrupted again: exiting now; the checkpoint holds the last confirmed part");
                    } else {
                        eprintln!("interrupted again: exiting now; the partial upload may not have been discarded");
                    }
                    std::process::exit(i32::from(EXIT_INTERRUPTED));
                }
            };
            match paused {
                Ok(()) => {
                    pb.finish_and_clear();
                    let cp = a.checkpoint.as_deref().expect("pausing needs a checkpoint");
                    eprintln!(
                        "upload paused: {} of {} confirmed; checkpoint saved to {}",
                        indicatif::HumanBytes(control.loaded()),
                        indicatif::HumanBytes(total),
                        cp.display()
                    );
                    eprintln!("to resume, run the same command again:\n  {}", this_command());
                    eprintln!(
                        "to discard the partial upload instead:\n  {} abort --checkpoint {}",
                        program(),
                        shell_quote(&cp.to_string_lossy())
                    );
                    return Ok(ExitCode::from(EXIT_INTERRUPTED));
                }
                Err(Err(e)) if e.kind() == ErrorKind::Aborted => {
                    pb.finish_and_clear();
                    if let Some(side) = &sidecar {
                        remove_quietly(side);
                    }
                    eprintln!(
                        "upload aborted: the partial upload was discarded (without --checkpoint it could not be resumed)"
                    );
                    return Ok(ExitCode::from(EXIT_INTERRUPTED));
                }
                // It finished (or failed) on its own before the pause or abort took effect.
                Err(r) => r,
            }
        }
    };
    pb.finish_and_clear();

    let outcome = match result {
        Ok(o) => o,
        Err(e) => {
            if let (Some(cp), Some(side)) = (&a.checkpoint, &sidecar) {
                if cp.exists() {
                    eprintln!("error: {}", crate::one_line(&e.to_string()));
                    let abort = format!(
                        "{} abort --checkpoint {}",
                        program(),
                        shell_quote(&cp.to_string_lossy())
                    );
                    let hopeless = matches!(
                        e.kind(),
                        ErrorKind::BodyChanged
                            | ErrorKind::TokenInvalid
                            | ErrorKind::SessionExpired
                            | ErrorKind::InvalidInput
                            | ErrorKind::NotSupported
                    );
                    if hopeless {
                        eprintln!(
                            "hint: the checkpoint {} cannot resume this upload; discard it with `{abort}`, or run the same command with --restart to start over",
                            cp.display()
                        );
                    } else {
                        eprintln!(
                            "hint: the checkpoint {} is kept: run the same command again to resume, or `{abort}` to discard it",
                            cp.display()
                        );
                    }
                    return Ok(ExitCode::FAILURE);
                }
                remove_quietly(side);
            }
            return Err(e);
        }
    };
    if let Some(side) = &sidecar {
        remove_quietly(side);
    }
    if a.json {
        println!(
            "{}",
            serde_json::json!({
                "key": outcome.meta.key,
                "url": redact_url(&dest),
                "size": outcome.meta.size,
                "bytes_resumed": outcome.bytes_resumed,
                "bytes_sent": outcome.bytes_sent,
                "retries": outcome.retries,
                "resumed": outcome.resumed,
                "restarted": restarted,
                "parts_sent": outcome.parts_sent,
                "etag": outcome.meta.etag,
            })
        );
    } else {
        let mut line = format!(
            "uploaded {} to {} ({})",
            src.display(),
            redact_url(&dest),
            indicatif::HumanBytes(outcome.meta.size)
        );
        if outcome.resumed {
            line.push_str(&format!(
                "; resumed: {} had landed, {} sent",
                indicatif::HumanBytes(outcome.bytes_resumed),
                indicatif::HumanBytes(outcome.bytes_sent)
            ));
        }
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}

/// The text of the checkpoint at `cp`; `None` when there is none.
fn read_checkpoint_text(cp: &Path) -> Result<Option<String>> {
    match std::fs::read_to_string(cp) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::from_io(e)
            .with_operation("read checkpoint")
            .with_key(cp.display().to_string())),
    }
}

fn parse_checkpoint(cp: &Path, text: &str) -> Result<ResumeToken> {
    ResumeToken::from_json(text).map_err(|e| {
        Error::token_invalid(format!(
            "checkpoint {} is not a usable resume token: {}",
            cp.display(),
            e.message()
        ))
    })
}

/// Whether `files` at `key` is the store and key the session of `token` lives in.
fn holds_session(files: &Files, key: &str, token: &ResumeToken) -> bool {
    key == token.key
        && files.adapter().provider() == token.provider
        && files.adapter().target() == token.target
}

/// `upload --restart`: discards the session the checkpoint `cp` names (where it still exists)
/// and deletes the checkpoint and its sidecar, so that the upload starts over from byte 0.
/// Whether there was a checkpoint.
///
/// The session is looked for in the store of the upload's destination (`files`, `key`), else
/// in the one the sidecar names. Discarding fails the command (keeping the checkpoint) unless
/// the session is gone already; a checkpoint that is not a resume token at all names no
/// session anyone could discard, and is only deleted.
async fn restart(cp: &Path, files: &Files, key: &str) -> Result<bool> {
    let side = sidecar_path(cp);
    let Some(text) = read_checkpoint_text(cp)? else {
        return Ok(false);
    };
    let token = match parse_checkpoint(cp, &text) {
        Ok(t) => t,
        Err(e) => {
            eprintln!(
                "restart: {}; its session (if any) cannot be discarded; deleting it",
                crate::one_line(e.message())
            );
            remove_quietly(cp);
            remove_quietly(&side);
            return Ok(true);
        }
    };
    let mut store = holds_session(files, key, &token).then(|| files.clone());
    if store.is_none()
        && let Ok(url) = std::fs::read_to_string(&side)
        && let Ok((f, k)) = open_object(url.trim())
        && holds_session(&f, &k, &token)
    {
        store = Some(f);
    }
    let Some(store) = store else {
        return Err(Error::token_invalid(format!(
            "refusing to restart: the checkpoint {} is an upload to `{}` in the `{}` store `{}`, which neither the destination nor {} names; discard it with `{} abort --checkpoint {} --dest URL` (or delete it)",
            cp.display(),
            token.key,
            token.provider,
            token.target,
            side.display(),
            program(),
            shell_quote(&cp.to_string_lossy())
        ))
        .with_operation("restart"));
    };
    let discarded = match store.abort_upload(&token).await {
        Ok(()) => "discarded the earlier upload session",
        Err(e)
            if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::SessionExpired)
                || (e.kind() == ErrorKind::NotSupported && token.process.is_some()) =>
        {
            "the earlier upload session was gone already"
        }
        Err(e) => {
            eprintln!(
                "hint: the checkpoint {} is kept; run the command again to retry",
                cp.display()
            );
            return Err(e.with_operation("restart"));
        }
    };
    remove_quietly(cp);
    remove_quietly(&side);
    eprintln!(
        "restart: {discarded} ({} of {} had landed); removed {}; starting over",
        indicatif::HumanBytes(token.loaded),
        indicatif::HumanBytes(token.total),
        cp.display()
    );
    Ok(true)
}

pub(crate) async fn abort(a: AbortArgs) -> Result<ExitCode> {
    let cp = &a.checkpoint;
    let Some(text) = read_checkpoint_text(cp)? else {
        return Err(
            Error::not_found(format!("there is no checkpoint at {}", cp.display()))
                .with_operation("abort"),
        );
    };
    let token = parse_checkpoint(cp, &text)?;
    let side = sidecar_path(cp);
    let url = match &a.dest {
        Some(d) => url_of(d)?,
        None => match std::fs::read_to_string(&side) {
            Ok(t) => t.trim().to_string(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::not_found(format!(
                    "refusing to abort: {} has no destination file {} next to it (`files upload --checkpoint` writes one), so the store that holds the session is unknown; pass the destination URL with --dest",
                    cp.display(),
                    side.display()
                ))
                .with_operation("abort"));
            }
            Err(e) => {
                return Err(Error::from_io(e)
                    .with_operation("read checkpoint destination")
                    .with_key(side.display().to_string()));
            }
        },
    };
    let (files, key) = open_object(&url)?;
    if key != token.key {
        return Err(Error::token_invalid(format!(
            "the checkpoint is for key `{}`, but the destination names `{key}`",
            token.key
        ))
        .with_operation("abort"));
    }
    files.abort_upload(&token).await?;
    remove_quietly(cp);
    remove_quietly(&side);
    if a.json {
        println!(
            "{}",
            serde_json::json!({
                "op": "abort",
                "url": redact_url(&url),
                "key": key,
                "checkpoint": cp.display().to_string(),
                "loaded": token.loaded,
                "total": token.total,
            })
        );
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!(
        "aborted the upload to {} ({} of {} had landed); removed {}",
        redact_url(&url),
        indicatif::HumanBytes(token.loaded),
        indicatif::HumanBytes(token.total),
        cp.display()
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn the_resume_command_does_not_restart() {
        assert_eq!(
            without_restart(strings(&[
                "files",
                "upload",
                "a",
                "b",
                "--restart",
                "--checkpoint",
                "c"
            ])),
            strings(&["files", "upload", "a", "b", "--checkpoint", "c"])
        );
        // After `--`, `--restart` is a file name.
        assert_eq!(
            without_restart(strings(&[
                "files",
                "upload",
                "--restart",
                "--",
                "--restart",
                "b"
            ])),
            strings(&["files", "upload", "--", "--restart", "b"])
        );
    }
}
