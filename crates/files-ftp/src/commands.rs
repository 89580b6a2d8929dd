//! The FTP commands the adapter is made of (`SIZE`, `MDTM`, `MKD`, `RMD`, `STOR`/`APPE`,
//! `RNFR`/`RNTO`, `DELE`), each on a leased connection, and the paths they name.

use std::time::{SystemTime, UNIX_EPOCH};

use files_core::{Error, ObjectMeta, Result};
use suppaftp::Status;
use suppaftp::tokio::{AsyncRustlsStream, TransferStream};
use tokio::io::AsyncWriteExt;

use crate::PART_SUFFIX;
use crate::errors::{self, On550, code};
use crate::list;
use crate::pool::Lease;

/// Data is written in slices of this size, each one a sign of progress for the I/O timeout.
pub(crate) const WRITE_CHUNK: usize = 64 * 1024;

/// An open data connection.
pub(crate) type Transfer = TransferStream<AsyncRustlsStream>;

// ---------------------------------------------------------------------- path helpers

/// `dir/name`, with no doubled `/`; `dir` when `name` is empty.
pub(crate) fn join(dir: &str, name: &str) -> String {
    if name.is_empty() {
        dir.to_string()
    } else if dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}

pub(crate) fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) => "/",
        Some(i) => &path[..i],
        None => "",
    }
}

pub(crate) fn key_path(lease: &Lease, key: &str) -> String {
    join(&lease.info.root, key)
}

pub(crate) fn part_path(lease: &Lease, key: &str) -> String {
    format!("{}{PART_SUFFIX}", key_path(lease, key))
}

// ---------------------------------------------------------------------- protocol steps

/// `SIZE path`: `None` when the server says 550 (missing, or a directory).
pub(crate) async fn size(lease: &mut Lease, path: &str, op: &'static str) -> Result<Option<u64>> {
    let r = lease.ftp().size(path).await;
    match r {
        Ok(n) => Ok(Some(n as u64)),
        Err(e) if code(&e) == Some(550) => Ok(None),
        Err(e) => lease.check(Err(e), op, On550::NotFound),
    }
}

/// `MDTM path`, parsed; `None` when the server does not say.
pub(crate) async fn mdtm(lease: &mut Lease, path: &str) -> Option<SystemTime> {
    let r = lease
        .ftp()
        .custom_command(format!("MDTM {path}"), &[Status::File])
        .await;
    let reply = lease.check(r, "head", On550::NotFound).ok()?;
    let text = String::from_utf8_lossy(&reply.body);
    let stamp = text.trim().strip_prefix("213").unwrap_or(&text).trim();
    list::parse_mdtm(stamp)
}

pub(crate) async fn meta_of(lease: &mut Lease, key: &str, path: &str, size: u64) -> ObjectMeta {
    let mut meta = ObjectMeta::new(key, size);
    meta.last_modified = mdtm(lease, path).await;
    let secs = meta
        .last_modified
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_secs())
        .unwrap_or(0);
    meta.etag = Some(format!("\"{secs:x}-{size:x}\""));
    meta
}

pub(crate) async fn head_path(lease: &mut Lease, key: &str, path: &str) -> Result<ObjectMeta> {
    match size(lease, path, "head").await? {
        Some(n) => Ok(meta_of(lease, key, path, n).await),
        None => Err(Error::not_found(format!("no object at `{key}`"))),
    }
}

/// `MKD` of every directory from the top down to `dir` (absolute); directories that exist
/// (and any other refusal) are skipped: the command that needed them reports the real error.
pub(crate) async fn make_dirs(lease: &mut Lease, dir: &str) -> Result<()> {
    let mut cur = String::new();
    for segment in dir.split('/').filter(|s| !s.is_empty()) {
        cur.push('/');
        cur.push_str(segment);
        let r = lease.ftp().mkdir(&cur).await;
        if let Err(e) = r
            && !errors::connection_survives(&e)
        {
            return lease.check(Err(e), "mkdir", On550::Refused);
        }
    }
    Ok(())
}

/// Removes empty directories from `dir` up to (not including) the root; stops at the first
/// one that is not empty (or cannot be removed).
pub(crate) async fn prune(lease: &mut Lease, dir: &str) {
    let root = lease.info.root.clone();
    let mut cur = dir.to_string();
    while cur.len() > root.len() && cur.starts_with(&root) && cur != "/" {
        let r = lease.ftp().rmdir(&cur).await;
        if let Err(e) = r {
            if !errors::connection_survives(&e) {
                lease.mark_broken();
            }
            return;
        }
        cur = parent(&cur).to_string();
    }
}

/// Opens `STOR path` (or `APPE path`), creating the parent directories and trying again when
/// the server refuses because they are missing.
pub(crate) async fn open_write(
    lease: &mut Lease,
    path: &str,
    append: bool,
    op: &'static str,
) -> Result<Transfer> {
    for attempt in 0..2 {
        let r = if append {
            lease.ftp().append_with_stream(path).await
        } else {
            lease.ftp().put_with_stream(path).await
        };
        match r {
            Ok(s) => return Ok(s),
            Err(e) if attempt == 0 && !append && matches!(code(&e), Some(550 | 553)) => {
                make_dirs(lease, parent(path)).await?;
            }
            Err(e) => return lease.check(Err(e), op, On550::Refused),
        }
    }
    unreachable!("the loop returns")
}

/// Writes `data` to an open upload and completes it; any failure marks the connection broken.
pub(crate) async fn write_all(
    lease: &mut Lease,
    mut stream: Transfer,
    data: &[u8],
    op: &'static str,
) -> Result<()> {
    let mut written = Ok(());
    for chunk in data.chunks(WRITE_CHUNK) {
        lease.touch();
        written = stream.write_all(chunk).await;
        if written.is_err() {
            break;
        }
    }
    lease.touch();
    if let Err(e) = written {
        lease.mark_broken();
        drop(stream);
        return Err(Error::from_io(e)
            .with_retryable(true)
            .with_operation(op)
            .with_provider("ftp"));
    }
    let r = stream.finish().await;
    lease.check(r, op, On550::Refused)
}

/// `RNFR from` / `RNTO to`, creating the parent directories of `to` when needed.
pub(crate) async fn rename_path(
    lease: &mut Lease,
    from: &str,
    to: &str,
    op: &'static str,
) -> Result<()> {
    for attempt in 0..2 {
        let r = lease.ftp().rename(from, to).await;
        match r {
            Ok(()) => return Ok(()),
            Err(e) if attempt == 0 && matches!(code(&e), Some(550 | 553)) => {
                make_dirs(lease, parent(to)).await?;
            }
            Err(e) => return lease.check(Err(e), op, On550::Refused),
        }
    }
    unreachable!("the loop returns")
}

/// `DELE path`; a missing file is fine (a 550 is checked with `SIZE`: only a file that is
/// still there makes it an error).
pub(crate) async fn delete_path(lease: &mut Lease, path: &str, op: &'static str) -> Result<bool> {
    let r = lease.ftp().rm(path).await;
    match r {
        Ok(()) => Ok(true),
        Err(e) if code(&e) == Some(550) => match size(lease, path, op).await? {
            None => Ok(false),
            Some(_) => lease.check(Err(e), op, On550::Refused),
        },
        Err(e) => lease.check(Err(e), op, On550::Refused),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(join("/", "a"), "/a");
        assert_eq!(join("/r", "a/b"), "/r/a/b");
        assert_eq!(join("/r", ""), "/r");
        assert_eq!(parent("/r/a/b"), "/r/a");
        assert_eq!(parent("/a"), "/");
    }
}
