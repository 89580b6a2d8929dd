//! [`Save`]: a download into a file that survives interruption, across processes.
//!
//! The bytes go to a partial file beside the destination (`.NAME.fls-download`) with a small
//! record of what they are (`.NAME.fls-download.json`: the store, the key and range, the
//! object's version, and how many bytes are known to be on disk). The partial file is renamed
//! into place once whole. A cancellation, a kill, a crash or an error the retry policy could not
//! outlast leave it; the next save of the same download continues it with a range request if the
//! object is still the same version ([`ObjectMeta::same_version`]), and starts over if not.
//!
//! The partial file is locked while a save runs: a second save to the same destination fails
//! with `Conflict` instead of writing over the first.
//!
//! How many bytes of the partial file are trusted: all of them when the machine has not
//! rebooted since they were written (a killed process's writes are in the page cache, so in the
//! file); after a reboot only those synced to disk, which the record counts (the file is synced
//! every 64 MiB).

use std::future::{Future, IntoFuture};
use std::io::SeekFrom;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use futures::StreamExt;
use serde_json::{Value, json};
use tokio::io::{AsyncSeekExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use crate::adapter::{ByteRange, ObjectMeta};
use crate::body::ByteStream;
use crate::client::DownloadBuilder;
use crate::error::{Error, ErrorKind, Result};
use crate::ratelimit::RateLimiter;

/// Bytes written between two syncs of the partial file (and of its record).
const SYNC_EVERY: u64 = 64 << 20;

/// Progress of a [`Save`]: bytes in the file (including those an earlier run left) and the
/// bytes it will hold.
pub type SaveProgressFn = Arc<dyn Fn(u64, u64) + Send + Sync>;

/// A download into a file that survives interruption; from [`DownloadBuilder::save`]. Await it.
#[must_use = "a save does nothing until it is awaited"]
pub struct Save {
    pub(crate) download: DownloadBuilder,
    pub(crate) path: PathBuf,
    pub(crate) restart: bool,
    pub(crate) cancel: CancellationToken,
    pub(crate) rate_limit: Option<u64>,
    pub(crate) on_progress: Option<SaveProgressFn>,
}

/// Why a partial file an earlier save left was not continued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Discarded {
    /// It belonged to another download (another store, key or range).
    AnotherDownload,
    /// The object changed since (another ETag, or size and modification time), or nothing
    /// could tell whether it did.
    Changed,
    /// [`Save::restart`] asked for a fresh start.
    Restart,
}

/// What a finished [`Save`] reports.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Saved {
    /// The object's metadata.
    pub meta: ObjectMeta,
    /// Bytes in the file.
    pub bytes: u64,
    /// Bytes an earlier, interrupted save had already written (not downloaded again).
    pub bytes_resumed: u64,
    /// Why a partial file that was there was not continued.
    pub discarded: Option<Discarded>,
}

impl Save {
    /// Ignore (and delete) a partial file an earlier save left; start over.
    pub fn restart(mut self) -> Self {
        self.restart = true;
        self
    }
    /// Cancelling `token` ends the save with [`ErrorKind::Cancelled`] and keeps the partial
    /// file (synced, and counted in its record) for the next save to continue.
    pub fn cancellation(mut self, token: CancellationToken) -> Self {
        self.cancel = token;
        self
    }
    /// Caps the average download rate, in bytes per second.
    pub fn rate_limit(mut self, bytes_per_sec: u64) -> Self {
        self.rate_limit = Some(bytes_per_sec.max(1));
        self
    }
    /// Called as bytes reach the file: `(bytes in the file, bytes it will hold)`.
    pub fn on_progress(mut self, f: impl Fn(u64, u64) + Send + Sync + 'static) -> Self {
        self.on_progress = Some(Arc::new(f));
        self
    }

    /// The partial file a save to `dest` writes (its record is this path plus `.json`).
    pub fn partial_path(dest: &Path) -> PathBuf {
        Partial::beside(dest).data
    }

    /// Runs the save.
    pub async fn send(self) -> Result<Saved> {
        let key = self.download.key.clone();
        run(self).await.map_err(|e| {
            let e = if e.context().operation.is_none() {
                e.with_operation("download")
            } else {
                e
            };
            if e.context().key.is_none() {
                e.with_key(key)
            } else {
                e
            }
        })
    }
}

impl IntoFuture for Save {
    type Output = Result<Saved>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;
    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.send())
    }
}

/// The partial file and its record.
struct Partial {
    data: PathBuf,
    record: PathBuf,
}

/// What a partial file holds.
#[derive(Debug, Clone, PartialEq)]
struct Record {
    target: String,
    key: String,
    start: u64,
    end: Option<u64>,
    /// The object's version: its size, ETag and modification time.
    size: u64,
    etag: Option<String>,
    modified: Option<(u64, u32)>,
    /// Bytes of the partial file synced to disk.
    synced: u64,
    /// The boot the bytes were written in (Linux's boot id).
    boot: Option<String>,
}

impl Record {
    fn version(&self) -> ObjectMeta {
        let mut m = ObjectMeta::new(self.key.clone(), self.size);
        m.etag = self.etag.clone();
        m.last_modified = self.modified.map(|(s, n)| UNIX_EPOCH + Duration::new(s, n));
        m
    }

    fn to_json(&self) -> Value {
        json!({
            "v": 1,
            "target": self.target,
            "key": self.key,
            "start": self.start,
            "end": self.end,
            "size": self.size,
            "etag": self.etag,
            "modified": self.modified.map(|(s, n)| json!([s, n])),
            "synced": self.synced,
            "boot": self.boot,
        })
    }

    fn from_json(v: &Value) -> Option<Record> {
        if v.get("v")?.as_u64()? != 1 {
            return None;
        }
        let opt_u64 = |name: &str| match v.get(name)? {
            Value::Null => Some(None),
            n => n.as_u64().map(Some),
        };
        let opt_str = |name: &str| match v.get(name)? {
            Value::Null => Some(None),
            s => s.as_str().map(|s| Some(s.to_string())),
        };
        let modified = match v.get("modified")? {
            Value::Null => None,
            m => Some((
                m.get(0)?.as_u64()?,
                u32::try_from(m.get(1)?.as_u64()?).ok()?,
            )),
        };
        Some(Record {
            target: v.get("target")?.as_str()?.to_string(),
            key: v.get("key")?.as_str()?.to_string(),
            start: v.get("start")?.as_u64()?,
            end: opt_u64("end")?,
            size: v.get("size")?.as_u64()?,
            etag: opt_str("etag")?,
            modified,
            synced: v.get("synced")?.as_u64()?,
            boot: opt_str("boot")?,
        })
    }
}

/// This boot's id, where the system has one (Linux).
fn boot_id() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

fn modified_of(meta: &ObjectMeta) -> Option<(u64, u32)> {
    let d = meta.last_modified?.duration_since(UNIX_EPOCH).ok()?;
    Some((d.as_secs(), d.subsec_nanos()))
}

fn io_err(op: &'static str, path: &Path) -> impl Fn(std::io::Error) -> Error {
    let shown = path.display().to_string();
    move |e| {
        let kind = Error::kind_of_io(e.kind());
        let message = match kind {
            // A full disk says so first: it is what the person has to act on.
            ErrorKind::StorageFull => format!("no space left on the disk: {op} {shown}: {e}"),
            _ => format!("{op} {shown}: {e}"),
        };
        Error::new(kind, message)
    }
}

impl Partial {
    fn beside(dest: &Path) -> Partial {
        let name = dest
            .file_name()
            .map_or_else(|| "download".into(), |n| n.to_string_lossy().into_owned());
        Partial {
            data: dest.with_file_name(format!(".{name}.fls-download")),
            record: dest.with_file_name(format!(".{name}.fls-download.json")),
        }
    }

    fn load(&self) -> Option<Record> {
        let text = std::fs::read(&self.record).ok()?;
        Record::from_json(&serde_json::from_slice(&text).ok()?)
    }

    /// Writes the record (to a temporary file, synced, then renamed over the old one). Owner
    /// only (mode `0600` on Unix), the temporary file included, like a checkpoint: it names the
    /// store and the key being read, which is nobody else's business; a record left with a
    /// looser mode is replaced by a `0600` one.
    fn save(&self, r: &Record) -> Result<()> {
        use std::io::Write as _;
        let tmp = self.record.with_extension("json.tmp");
        let text = r.to_json().to_string();
        let mut f = crate::checkpoint::create_private(&tmp).map_err(io_err("write", &tmp))?;
        f.write_all(text.as_bytes())
            .map_err(io_err("write", &tmp))?;
        f.sync_all().map_err(io_err("sync", &tmp))?;
        drop(f);
        std::fs::rename(&tmp, &self.record).map_err(io_err("rename", &self.record))
    }

    fn remove(&self) {
        let _ = std::fs::remove_file(&self.data);
        let _ = std::fs::remove_file(&self.record);
    }

    /// Opens (or creates) the partial file and locks it for this save: a second save to the
    /// same destination fails with [`ErrorKind::Conflict`] instead of writing over this one.
    /// The lock holds until the returned file is closed (or the process ends).
    ///
    /// Unlike its record, the partial file is created with the default mode (the user's
    /// umask): it holds only the object's bytes, and it is renamed into place as the
    /// downloaded file, which should get the mode any file the user downloads gets (as with
    /// `curl -o` or `cp`), not an owner-only one nobody asked for.
    fn lock(&self) -> Result<std::fs::File> {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .read(true)
            .write(true)
            .truncate(false)
            .open(&self.data)
            .map_err(io_err("open", &self.data))?;
        match f.try_lock() {
            Ok(()) => Ok(f),
            Err(std::fs::TryLockError::WouldBlock) => Err(Error::conflict(format!(
                "another save to this file is in progress ({} is locked)",
                self.data.display()
            ))),
            Err(std::fs::TryLockError::Error(e)) => Err(io_err("lock", &self.data)(e)),
        }
    }

    /// Empties the (locked) partial file and drops its record: a fresh start.
    fn reset(&self, file: &std::fs::File) -> Result<()> {
        file.set_len(0).map_err(io_err("truncate", &self.data))?;
        let _ = std::fs::remove_file(&self.record);
        Ok(())
    }

    /// How many bytes of the partial file `r` describes can be trusted.
    fn trusted(&self, r: &Record) -> u64 {
        let len = std::fs::metadata(&self.data).map_or(0, |m| m.len());
        if r.boot.is_some() && r.boot == boot_id() {
            len
        } else {
            r.synced.min(len)
        }
    }
}

fn cancelled(pos: u64, total: u64, path: &Path) -> Error {
    Error::new(
        ErrorKind::Cancelled,
        format!(
            "cancelled: {pos} of {total} bytes kept in {}; save again to continue",
            path.display()
        ),
    )
}

/// The locked partial file of a save, before its bytes are written: if the save ends there
/// (a missing object, a cancel) and it left nothing to continue (an empty file, no record), the
/// file it created goes, still locked.
struct Held<'a> {
    partial: &'a Partial,
    file: Option<std::fs::File>,
}

impl Held<'_> {
    fn file(&self) -> &std::fs::File {
        self.file.as_ref().expect("held until the save writes")
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        if let Some(f) = &self.file
            && f.metadata().is_ok_and(|m| m.len() == 0)
            && !self.partial.record.exists()
        {
            let _ = std::fs::remove_file(&self.partial.data);
        }
    }
}

async fn run(s: Save) -> Result<Saved> {
    let files = s.download.files.clone();
    let key = s.download.key.clone();
    let (start, end) = s.download.range.map_or((0, None), |r| (r.start, r.end));
    let partial = Partial::beside(&s.path);
    let target = files.adapter().target();
    let mut discarded = None;
    if s.restart && (partial.data.exists() || partial.record.exists()) {
        discarded = Some(Discarded::Restart);
    }
    let mut held = Held {
        partial: &partial,
        file: Some(partial.lock()?),
    };
    // What an earlier run left, if it is this download of this version.
    let mut resumed: Option<(Record, u64)> = None;
    if let Some(r) = (!s.restart).then(|| partial.load()).flatten() {
        if r.target != target || r.key != key || r.start != start || r.end != end {
            discarded = Some(Discarded::AnotherDownload);
        } else {
            let now = files.head(&key).await?;
            let whole = r.end.unwrap_or(r.size).min(r.size).saturating_sub(r.start);
            let have = partial.trusted(&r);
            if have > whole {
                // The file holds more than the download it records: not that download's.
                discarded = Some(Discarded::AnotherDownload);
            } else if r.version().same_version(&now) == Some(true) {
                resumed = Some((r, have));
            } else {
                discarded = Some(Discarded::Changed);
            }
        }
    }
    if resumed.is_none() {
        partial.reset(held.file())?;
    }

    for attempt in 0..2 {
        let have = resumed.as_ref().map_or(0, |(_, have)| *have);
        if let Some((r, have)) = &resumed {
            let whole = r.end.unwrap_or(r.size).min(r.size).saturating_sub(r.start);
            if *have == whole {
                // Every byte is there: only the rename was missing.
                let _locked = held.file.take();
                finish(&partial, &s.path, *have, whole)?;
                return Ok(Saved {
                    meta: r.version(),
                    bytes: whole,
                    bytes_resumed: whole,
                    discarded,
                });
            }
        }
        let mut request = DownloadBuilder {
            files: files.clone(),
            key: key.clone(),
            range: None,
            concurrency: s.download.concurrency,
            chunk_size: s.download.chunk_size,
        };
        if start + have > 0 || end.is_some() {
            request.range = Some(ByteRange {
                start: start + have,
                end,
            });
        }
        let download = tokio::select! {
            d = request.send() => d?,
            _ = s.cancel.cancelled() => return Err(cancelled(have, have, &partial.data)),
        };
        if let Some((r, _)) = &resumed
            && r.version().same_version(download.meta()) != Some(true)
        {
            // Changed between the HEAD and the GET.
            drop(download);
            partial.reset(held.file())?;
            resumed = None;
            discarded = Some(Discarded::Changed);
            if attempt == 0 {
                continue;
            }
            return Err(Error::conflict(
                "the object keeps changing during the download",
            ));
        }
        let meta = download.meta().clone();
        let served = download.range();
        let record = Record {
            target: target.clone(),
            key: key.clone(),
            start,
            end,
            size: meta.size,
            etag: meta.etag.clone(),
            modified: modified_of(&meta),
            synced: have,
            boot: boot_id(),
        };
        let total = have + (served.end - served.start);
        let locked = held
            .file
            .take()
            .expect("the partial file is held until the save writes");
        let (bytes, _locked) = write_partial(
            &s,
            &partial,
            locked,
            record,
            download.into_stream(),
            (have, total),
        )
        .await?;
        finish(&partial, &s.path, bytes, total)?;
        return Ok(Saved {
            meta,
            bytes,
            bytes_resumed: have,
            discarded,
        });
    }
    unreachable!("the loop returns")
}

/// Writes `stream` to the (locked) partial file after its first `have` bytes, syncing it and
/// its record as it goes; returns the bytes the file holds, and the file, still locked, for the
/// rename. On any end but success the file is synced and counted in the record first; it is
/// kept unless the failure says it cannot be continued.
async fn write_partial(
    s: &Save,
    partial: &Partial,
    file: std::fs::File,
    mut record: Record,
    mut stream: ByteStream,
    (have, total): (u64, u64),
) -> Result<(u64, std::fs::File)> {
    partial.save(&record)?;
    let path = &partial.data;
    let mut f = tokio::fs::File::from_std(file);
    f.set_len(have).await.map_err(io_err("truncate", path))?;
    f.seek(SeekFrom::Start(have))
        .await
        .map_err(io_err("seek", path))?;
    let progress = |pos| {
        if let Some(p) = &s.on_progress {
            p(pos, total);
        }
    };
    progress(have);
    let limiter = s.rate_limit.map(RateLimiter::new);
    let mut pos = have;
    let mut unsynced = 0u64;
    let mut failure: Option<Error> = None;
    loop {
        let next = tokio::select! {
            next = stream.next() => next,
            _ = s.cancel.cancelled() => {
                failure = Some(cancelled(pos, total, path));
                break;
            }
        };
        let chunk = match next {
            None => break,
            Some(Ok(c)) => c,
            Some(Err(e)) => {
                failure = Some(e);
                break;
            }
        };
        if let Err(e) = f.write_all(&chunk).await {
            failure = Some(io_err("write", path)(e));
            break;
        }
        pos += chunk.len() as u64;
        unsynced += chunk.len() as u64;
        progress(pos);
        if unsynced >= SYNC_EVERY {
            let synced = async {
                f.flush().await?;
                f.sync_data().await
            };
            if let Err(e) = synced.await {
                failure = Some(io_err("sync", path)(e));
                break;
            }
            unsynced = 0;
            record.synced = pos;
            partial.save(&record)?;
        }
        if let Some(limiter) = &limiter {
            tokio::select! {
                _ = limiter.acquire(chunk.len() as u64) => {}
                _ = s.cancel.cancelled() => {
                    failure = Some(cancelled(pos, total, path));
                    break;
                }
            }
        }
    }
    // Whatever happened, what was written is made durable and counted in the record.
    f.flush().await.map_err(io_err("write", path))?;
    f.sync_data().await.map_err(io_err("sync", path))?;
    let f = f.into_std().await;
    record.synced = pos;
    partial.save(&record)?;
    match failure {
        None => Ok((pos, f)),
        Some(e) => {
            // A full disk keeps the partial file too: once room is made, the next save
            // continues it instead of downloading those bytes again.
            let keep = e.is_retryable()
                || matches!(e.kind(), ErrorKind::Cancelled | ErrorKind::StorageFull);
            if !keep {
                partial.remove();
            }
            Err(e)
        }
    }
}

/// Renames a partial file holding all `total` bytes into place.
fn finish(partial: &Partial, dest: &Path, got: u64, total: u64) -> Result<()> {
    if got != total {
        return Err(Error::transient(format!(
            "the download ended after {got} of {total} bytes (kept in {}; save again to continue)",
            partial.data.display()
        )));
    }
    std::fs::rename(&partial.data, dest).map_err(io_err("rename", dest))?;
    let _ = std::fs::remove_file(&partial.record);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Record {
        Record {
            target: "s3:http://127.0.0.1:9000/b".into(),
            key: "a/b.bin".into(),
            start: 10,
            end: None,
            size: 1000,
            etag: Some("\"e\"".into()),
            modified: Some((1_700_000_000, 5)),
            synced: 64,
            boot: Some("boot".into()),
        }
    }

    #[test]
    fn records_round_trip_and_refuse_other_versions() {
        let r = record();
        assert_eq!(Record::from_json(&r.to_json()), Some(r.clone()));
        let bare = Record {
            end: Some(20),
            etag: None,
            modified: None,
            boot: None,
            ..r.clone()
        };
        assert_eq!(Record::from_json(&bare.to_json()), Some(bare));
        let mut v = r.to_json();
        v["v"] = json!(2);
        assert_eq!(Record::from_json(&v), None);
        assert_eq!(Record::from_json(&json!({"v": 1})), None);
    }

    #[test]
    fn a_record_names_the_version_it_was_written_from() {
        let r = record();
        let mut now = r.version();
        assert_eq!(r.version().same_version(&now), Some(true));
        now.etag = Some("\"other\"".into());
        assert_eq!(r.version().same_version(&now), Some(false));
        assert_eq!(
            now.last_modified,
            Some(UNIX_EPOCH + Duration::new(1_700_000_000, 5))
        );
    }

    #[cfg(unix)]
    #[test]
    fn the_record_is_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let dir = tempfile::tempdir().unwrap();
        let p = Partial::beside(&dir.path().join("out.bin"));
        assert!(p.record.ends_with(".out.bin.fls-download.json"));
        p.save(&record()).unwrap();
        assert_eq!(mode(&p.record), 0o600, "a new record");
        assert_eq!(p.load(), Some(record()));
        // A record (or a stale temporary one) with a looser mode is replaced by a 0600 one.
        std::fs::set_permissions(&p.record, std::fs::Permissions::from_mode(0o644)).unwrap();
        let tmp = p.record.with_extension("json.tmp");
        std::fs::write(&tmp, b"stale").unwrap();
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o666)).unwrap();
        p.save(&record()).unwrap();
        assert_eq!(mode(&p.record), 0o600, "a rewritten record");
        assert!(!tmp.exists());
        assert_eq!(p.load(), Some(record()));
    }

    #[test]
    fn a_full_disk_says_so() {
        let e = io_err("write", Path::new("/data/.x.fls-download"))(
            std::io::Error::from_raw_os_error(28),
        );
        assert_eq!(e.kind(), ErrorKind::StorageFull);
        assert!(!e.is_retryable());
        assert!(
            e.message()
                .starts_with("no space left on the disk: write /data/.x.fls-download: "),
            "{}",
            e.message()
        );
    }

    #[test]
    fn only_synced_bytes_are_trusted_after_a_reboot() {
        let dir = tempfile::tempdir().unwrap();
        let p = Partial::beside(&dir.path().join("out.bin"));
        assert!(p.data.ends_with(".out.bin.fls-download"));
        std::fs::write(&p.data, vec![7u8; 100]).unwrap();
        let mut r = record();
        r.boot = boot_id();
        assert_eq!(p.trusted(&r), if r.boot.is_some() { 100 } else { 64 });
        r.boot = Some("another boot".into());
        assert_eq!(p.trusted(&r), 64);
        r.synced = 500;
        assert_eq!(p.trusted(&r), 100, "never more than the file holds");
    }
}
