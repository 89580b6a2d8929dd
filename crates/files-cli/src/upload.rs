//! `upload` (with progress, checkpoints and Ctrl-C handling) and `abort`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use files::{
    Body, Error, ErrorKind, Result, Resumability, ResumeToken, UploadControl, UploadStatus,
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
    std::fs::write(&tmp, format!("{}\n", redact_url(url))).map_err(ctx)?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        ctx(e)
    })
}

fn remove_quietly(path: &Path) {
    if let Err(e) = std::fs::remove_file(path)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(path = %path.display(), error = %e, "could not remove file");
    }
}

/// The command line that started this process, for "run this again to resume".
fn this_command() -> String {
    let (cmd, redacted) = shell_command(
        std::env::args_os()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>(),
    );
    if redacted {
        format!("{cmd}    # credentials were removed from the URL; supply them again")
    } else {
        cmd
    }
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
                            "hint: the checkpoint {} cannot resume this upload; discard it with `{abort}`",
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

pub(crate) async fn abort(a: AbortArgs) -> Result<ExitCode> {
    let cp = &a.checkpoint;
    let text = match std::fs::read_to_string(cp) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(
                Error::not_found(format!("there is no checkpoint at {}", cp.display()))
                    .with_operation("abort"),
            );
        }
        Err(e) => {
            return Err(Error::from_io(e)
                .with_operation("read checkpoint")
                .with_key(cp.display().to_string()));
        }
    };
    let token = ResumeToken::from_json(&text).map_err(|e| {
        Error::token_invalid(format!(
            "checkpoint {} is not a usable resume token: {}",
            cp.display(),
            e.message()
        ))
    })?;
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
    eprintln!(
        "aborted the upload to {} ({} of {} had landed); removed {}",
        redact_url(&url),
        indicatif::HumanBytes(token.loaded),
        indicatif::HumanBytes(token.total),
        cp.display()
    );
    Ok(ExitCode::SUCCESS)
}
