//! Checkpoint files: a resume token persisted atomically (temp file, fsync, rename).

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, ErrorKind, Result};
use crate::token::ResumeToken;

/// Writes `token` to `path` atomically: a crash leaves either the old or the new checkpoint,
/// never a torn one. Runs on the blocking pool.
pub async fn save(path: &Path, token: &ResumeToken) -> Result<()> {
    let path = path.to_path_buf();
    let text = token.to_json();
    tokio::task::spawn_blocking(move || save_blocking(&path, text.as_bytes()))
        .await
        .map_err(|e| Error::new(ErrorKind::Other, format!("checkpoint task failed: {e}")))?
}

fn save_blocking(path: &Path, text: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| Error::invalid_input("the checkpoint path has no file name"))?;
    let mut tmp_name = name.to_os_string();
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp = dir.join(tmp_name);
    let ctx = |e: std::io::Error| {
        Error::from_io(e)
            .with_operation("write checkpoint")
            .with_key(path.display().to_string())
    };
    {
        let mut f = std::fs::File::create(&tmp).map_err(ctx)?;
        f.write_all(text).map_err(ctx)?;
        f.sync_all().map_err(ctx)?;
    }
    std::fs::rename(&tmp, path).map_err(ctx)?;
    if let Ok(d) = std::fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Reads the checkpoint at `path`: `None` if there is none, the token if it parses and checks,
/// [`ErrorKind::TokenInvalid`] (and the file left alone) if it does not.
pub async fn load(path: &Path) -> Result<Option<ResumeToken>> {
    match tokio::fs::read_to_string(path).await {
        Ok(text) => ResumeToken::from_json(&text).map(Some).map_err(|e| {
            Error::token_invalid(format!(
                "checkpoint {} is not a usable resume token: {}",
                path.display(),
                e.message()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::from_io(e)
            .with_operation("read checkpoint")
            .with_key(path.display().to_string())),
    }
}

/// Deletes the checkpoint at `path`; a missing file is fine.
pub async fn remove(path: &Path) -> Result<()> {
    match tokio::fs::remove_file(path).await {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::from_io(e).with_operation("remove checkpoint")),
    }
}
