//! `files download` into a file, surviving interruption: the bytes go to a partial file beside
//! the destination (`.NAME.fls-download`) with a small record of what they are
//! (`.NAME.fls-download.json`: the store, the key and range, the object's version, and how many
//! bytes are known to be on disk). The partial file is renamed into place once whole. Ctrl-C, a
//! kill, a crash or a connection that stays broken leave it; the next run of the same command
//! continues it with a range request if the object is still the same version (its ETag, else
//! its size and modification time), and starts over if not.
//!
//! How many bytes of the partial file are trusted: all of them when the machine has not
//! rebooted since they were written (a killed process's writes are in the page cache, so in
//! the file); after a reboot only those synced to disk, which the record counts (the file is
//! synced every [`SYNC_EVERY`] bytes).

use std::io::SeekFrom;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant, UNIX_EPOCH};

use files::{ByteRange, Error, Files, ObjectMeta, Result};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

use crate::commands::{io_err, progress_bar};
use crate::{EXIT_INTERRUPTED, Interrupts};

/// Bytes written between two syncs of the partial file (and of its record).
const SYNC_EVERY: u64 = 64 << 20;

/// A download to a file.
pub(crate) struct Request<'a> {
    pub files: &'a Files,
    pub key: &'a str,
    /// The bytes asked for: from `start` to `end` (exclusive) or the end of the object.
    pub start: u64,
    pub end: Option<u64>,
    pub concurrency: Option<u32>,
    pub chunk_size: Option<u64>,
    pub bwlimit: Option<u64>,
    pub restart: bool,
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

impl Partial {
    fn beside(dest: &Path, file_name: &str) -> Partial {
        Partial {
            data: dest.with_file_name(format!(".{file_name}.fls-download")),
            record: dest.with_file_name(format!(".{file_name}.fls-download.json")),
        }
    }

    fn load(&self) -> Option<Record> {
        let text = std::fs::read(&self.record).ok()?;
        Record::from_json(&serde_json::from_slice(&text).ok()?)
    }

    /// Writes the record (to a temporary file, synced, then renamed over the old one).
    fn save(&self, r: &Record) -> Result<()> {
        let tmp = self.record.with_extension("json.tmp");
        let text = serde_json::to_vec(&r.to_json())
            .map_err(|e| Error::new(files::ErrorKind::Other, e.to_string()))?;
        std::fs::write(&tmp, text).map_err(io_err("write", &tmp))?;
        std::fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(io_err("sync", &tmp))?;
        std::fs::rename(&tmp, &self.record).map_err(io_err("rename", &self.record))
    }

    fn remove(&self) {
        let _ = std::fs::remove_file(&self.data);
        let _ = std::fs::remove_file(&self.record);
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

/// Downloads `req` into `dest` (whose file name is `file_name`) through a partial file.
pub(crate) async fn to_file(
    req: Request<'_>,
    dest: &Path,
    file_name: &str,
    interrupts: &mut Interrupts,
) -> Result<ExitCode> {
    let partial = Partial::beside(dest, file_name);
    let target = req.files.adapter().target();
    if req.restart {
        partial.remove();
    }
    // What an earlier run left, if it is this download of this version.
    let mut resumed: Option<(Record, u64)> = None;
    if let Some(r) = partial.load() {
        let same_request =
            r.target == target && r.key == req.key && r.start == req.start && r.end == req.end;
        if !same_request {
            eprintln!(
                "{} holds another download; starting over",
                partial.data.display()
            );
        } else {
            let now = req.files.head(req.key).await?;
            if r.version().same_version(&now) == Some(true) {
                let have = partial.trusted(&r);
                resumed = Some((r, have));
            } else {
                eprintln!(
                    "the object changed since the partial download in {}; starting over",
                    partial.data.display()
                );
            }
        }
    }
    if resumed.is_none() {
        partial.remove();
    }

    for attempt in 0..2 {
        let have = resumed.as_ref().map_or(0, |(_, have)| *have);
        if let Some((r, have)) = &resumed {
            let whole = r.end.unwrap_or(r.size).min(r.size) - r.start;
            if *have >= whole {
                // Every byte is there: only the rename was missing.
                return finish(&partial, dest, *have, whole, req.key);
            }
        }
        let mut request = req.files.download(req.key);
        if req.start + have > 0 || req.end.is_some() {
            request = request.range(ByteRange {
                start: req.start + have,
                end: req.end,
            });
        }
        if let Some(n) = req.concurrency {
            request = request.concurrency(n as usize);
        }
        if let Some(size) = req.chunk_size {
            request = request.chunk_size(size);
        }
        let download = request.await?;
        if let Some((r, _)) = &resumed
            && r.version().same_version(download.meta()) != Some(true)
        {
            // Changed between the HEAD and the GET.
            eprintln!("the object changed while resuming; starting over");
            drop(download);
            partial.remove();
            resumed = None;
            if attempt == 0 {
                continue;
            }
            return Err(Error::conflict(
                "the object keeps changing during the download",
            ));
        }
        if have > 0 {
            eprintln!(
                "resuming: {have} bytes already in {}",
                partial.data.display()
            );
        }
        let meta = download.meta().clone();
        let served = download.range();
        let record = Record {
            target: target.clone(),
            key: req.key.to_string(),
            start: req.start,
            end: req.end,
            size: meta.size,
            etag: meta.etag.clone(),
            modified: modified_of(&meta),
            synced: have,
            boot: boot_id(),
        };
        let total = have + (served.end - served.start);
        return write_partial(
            &partial,
            record,
            download.into_stream(),
            req.bwlimit,
            (have, total),
            dest,
            req.key,
            interrupts,
        )
        .await;
    }
    unreachable!("the loop returns")
}

/// Writes `stream` to the partial file after its first `have` bytes, syncing it and its record
/// as it goes; renames it into place once it holds `total` bytes.
#[allow(clippy::too_many_arguments)]
async fn write_partial(
    partial: &Partial,
    mut record: Record,
    mut stream: files::ByteStream,
    bwlimit: Option<u64>,
    (have, total): (u64, u64),
    dest: &Path,
    key: &str,
    interrupts: &mut Interrupts,
) -> Result<ExitCode> {
    partial.save(&record)?;
    let path = &partial.data;
    let mut f = tokio::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(false)
        .open(path)
        .await
        .map_err(io_err("open", path))?;
    f.set_len(have).await.map_err(io_err("truncate", path))?;
    f.seek(SeekFrom::Start(have))
        .await
        .map_err(io_err("seek", path))?;
    let pb = progress_bar(total, false);
    pb.set_position(have);
    let started = Instant::now();
    let mut pos = have;
    let mut unsynced = 0u64;
    let mut outcome: Option<Error> = None;
    let mut interrupted = false;
    loop {
        let next = tokio::select! {
            next = stream.next() => next,
            _ = interrupts.recv() => {
                interrupted = true;
                break;
            }
        };
        let chunk = match next {
            None => break,
            Some(Ok(c)) => c,
            Some(Err(e)) => {
                outcome = Some(e);
                break;
            }
        };
        if let Err(e) = f.write_all(&chunk).await {
            outcome = Some(io_err("write", path)(e));
            break;
        }
        pos += chunk.len() as u64;
        unsynced += chunk.len() as u64;
        pb.set_position(pos);
        if unsynced >= SYNC_EVERY {
            let synced = async {
                f.flush().await?;
                f.sync_data().await
            };
            if let Err(e) = synced.await {
                outcome = Some(io_err("sync", path)(e));
                break;
            }
            unsynced = 0;
            record.synced = pos;
            partial.save(&record)?;
        }
        if let Some(rate) = bwlimit {
            let due = started + Duration::from_secs_f64((pos - have) as f64 / rate.max(1) as f64);
            tokio::select! {
                _ = tokio::time::sleep_until(due.into()) => {}
                _ = interrupts.recv() => {
                    interrupted = true;
                    break;
                }
            }
        }
    }
    pb.finish_and_clear();
    // Whatever happened, what was written is made durable and counted in the record.
    f.flush().await.map_err(io_err("write", path))?;
    f.sync_data().await.map_err(io_err("sync", path))?;
    drop(f);
    record.synced = pos;
    partial.save(&record)?;
    let kept = |what: &str| {
        eprintln!(
            "{what}: {pos} of {total} bytes kept in {}; run the same command again to continue (--restart to start over)",
            path.display()
        );
    };
    if interrupted {
        kept("interrupted");
        return Ok(ExitCode::from(EXIT_INTERRUPTED));
    }
    if let Some(e) = outcome {
        if e.is_retryable() {
            kept("download broken off");
        } else {
            partial.remove();
        }
        return Err(e.with_operation("download").with_key(key));
    }
    finish(partial, dest, pos, total, key)
}

/// Renames a partial file holding all `total` bytes into place.
fn finish(partial: &Partial, dest: &Path, got: u64, total: u64, key: &str) -> Result<ExitCode> {
    if got != total {
        return Err(Error::transient(format!(
            "the download ended after {got} of {total} bytes; run the same command again to continue"
        ))
        .with_operation("download")
        .with_key(key));
    }
    std::fs::rename(&partial.data, dest).map_err(io_err("rename", dest))?;
    let _ = std::fs::remove_file(&partial.record);
    Ok(ExitCode::SUCCESS)
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

    #[test]
    fn only_synced_bytes_are_trusted_after_a_reboot() {
        let dir = tempfile::tempdir().unwrap();
        let p = Partial::beside(&dir.path().join("out.bin"), "out.bin");
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
