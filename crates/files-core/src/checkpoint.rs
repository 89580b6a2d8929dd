//! Checkpoint files: a resume token persisted atomically (temp file, fsync, rename).
//!
//! On Unix every checkpoint is written owner-only (mode `0600`), the temp file included, and a
//! checkpoint that already exists with a looser mode ends up `0600` once rewritten: a token
//! names the provider session, and for GCS, Drive, OneDrive or TUS that session is a bearer
//! URL that lets whoever reads it write into the upload.

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
        let mut f = create_private(&tmp).map_err(ctx)?;
        f.write_all(text).map_err(ctx)?;
        f.sync_all().map_err(ctx)?;
    }
    // The rename replaces the old checkpoint (whatever its mode) with the 0600 temp file.
    std::fs::rename(&tmp, path).map_err(ctx)?;
    if let Ok(d) = std::fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Creates (or truncates) `path` for writing, readable and writable by its owner only (mode
/// `0600` on Unix; elsewhere the platform's default). A file that was already there with a
/// looser mode is tightened too (the mode given at creation applies only to new files).
pub(crate) fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        let f = options.open(path)?;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        Ok(f)
    }
    #[cfg(not(unix))]
    {
        options.open(path)
    }
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

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use crate::adapter::Session;
    use crate::token::{Fingerprint, TOKEN_VERSION, TokenFamily};
    use std::os::unix::fs::PermissionsExt;

    fn token() -> ResumeToken {
        let mut t = ResumeToken {
            completing: false,
            version: TOKEN_VERSION,
            provider: "gcs".into(),
            target: "gcs:bucket".into(),
            key: "a/b".into(),
            total: 100,
            part_size: 10,
            family: TokenFamily::Offset,
            session: Session::new("https://storage.example/upload?upload_id=secret"),
            created_at: 1_700_000_000,
            process: None,
            landed: "0".into(),
            loaded: 0,
            fingerprint: Fingerprint::default(),
            checksum: 0,
        };
        t.seal();
        t
    }

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[tokio::test]
    async fn checkpoints_are_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("upload.json");
        save(&path, &token()).await.unwrap();
        assert_eq!(mode(&path), 0o600, "a new checkpoint");
        assert_eq!(load(&path).await.unwrap().unwrap().key, "a/b");

        // An existing checkpoint with a looser mode is tightened when rewritten.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        save(&path, &token()).await.unwrap();
        assert_eq!(mode(&path), 0o600, "a rewritten checkpoint");

        // So is a temp file a crashed writer left with a looser mode.
        let tmp = dir
            .path()
            .join(format!("upload.json.tmp-{}", std::process::id()));
        std::fs::write(&tmp, b"stale").unwrap();
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o666)).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        save(&path, &token()).await.unwrap();
        assert_eq!(mode(&path), 0o600, "written through a stale temp file");
        assert!(!tmp.exists(), "the temp file was renamed into place");
    }

    #[test]
    fn create_private_tightens_an_existing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        drop(create_private(&path).unwrap());
        assert_eq!(mode(&path), 0o600);
        assert_eq!(std::fs::read(&path).unwrap(), b"", "truncated");
    }
}
