//! Directory listings (`MLSD`, else `LIST` parsing) and the walk that turns a directory tree
//! into a flat, ordered, paged key listing.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use files_core::listing::{Flow, PageBuilder};
use files_core::part_file::is_reserved;
use files_core::{ListPage, ListRequest, ObjectMeta, Result};
use futures::future::BoxFuture;
use time::PrimitiveDateTime;
use time::macros::format_description;

use crate::commands::join;
use crate::errors::{On550, code, map};
use crate::pool::Lease;

/// Default page size of [`files_core::Adapter::list`].
pub(crate) const DEFAULT_LIMIT: usize = 1000;

/// One entry of a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) name: String,
    pub(crate) dir: bool,
    pub(crate) size: u64,
    pub(crate) modified: Option<SystemTime>,
}

/// Parses one `MLSD` line (`type=file;size=12;modify=20260101120000; name`). `None` for the
/// directory itself, its parent, and entries that are neither files nor directories.
pub(crate) fn parse_mlsd(line: &str) -> Option<Entry> {
    let (facts, name) = line.split_once(' ')?;
    if name.is_empty() {
        return None;
    }
    let mut kind = None;
    let mut size = 0u64;
    let mut modified = None;
    for fact in facts.split(';') {
        let Some((k, v)) = fact.split_once('=') else {
            continue;
        };
        match k.to_ascii_lowercase().as_str() {
            "type" => kind = Some(v.to_ascii_lowercase()),
            "size" => size = v.parse().unwrap_or(0),
            "modify" => modified = parse_mdtm(v),
            _ => {}
        }
    }
    let dir = match kind.as_deref() {
        Some("file") => false,
        Some("dir") => true,
        _ => return None, // cdir, pdir, OS.unix=slink..., unknown
    };
    Some(Entry {
        name: name.to_string(),
        dir,
        size,
        modified,
    })
}

/// Parses one `LIST` line (Unix `ls -l` style, else DOS style). Symbolic links and
/// unparsable lines give `None`.
pub(crate) fn parse_list(line: &str) -> Option<Entry> {
    let file = suppaftp::list::File::try_from(line).ok()?;
    if file.is_symlink() {
        return None;
    }
    let name = file.name();
    if name.is_empty() || name == "." || name == ".." {
        return None;
    }
    Some(Entry {
        name: name.to_string(),
        dir: file.is_directory(),
        size: file.size() as u64,
        modified: Some(file.modified()),
    })
}

/// `YYYYMMDDHHMMSS[.sss]` (UTC) as used by `MDTM` and `MLSD`'s `modify` fact: exactly 14
/// digits, then an optional fraction of up to 9 digits (a malformed fraction is ignored). A
/// leap second (`60`) is clamped to `59`; times before 1970 and impossible dates give `None`.
pub(crate) fn parse_mdtm(text: &str) -> Option<SystemTime> {
    let t = text.trim();
    let (main, frac) = t.split_once('.').unwrap_or((t, ""));
    if main.len() != 14 || !main.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let clamped;
    let main = match main.strip_suffix("60") {
        Some(minute) => {
            clamped = format!("{minute}59");
            clamped.as_str()
        }
        None => main,
    };
    let format =
        format_description!("[year range:standard][month][day][hour repr:24][minute][second]");
    let stamp = PrimitiveDateTime::parse(main, &format).ok()?.assume_utc();
    let secs = u64::try_from(stamp.unix_timestamp()).ok()?;
    let mut time = UNIX_EPOCH.checked_add(Duration::from_secs(secs))?;
    if !frac.is_empty() && frac.len() <= 9 && frac.bytes().all(|b| b.is_ascii_digit()) {
        let nanos: u64 = format!("{frac:0<9}").parse().ok()?;
        time = time.checked_add(Duration::from_nanos(nanos))?;
    }
    Some(time)
}

/// The entries of the absolute directory `dir`, sorted so that a depth-first walk yields keys
/// in byte order (a directory sorts as `name/`), without part and temporary files; `None` if
/// the directory does not exist. Leaves the connection's working directory at `dir`.
pub(crate) async fn read_dir(lease: &mut Lease, dir: &str) -> Result<Option<Vec<Entry>>> {
    // `CWD` takes its argument literally; `LIST <path>` would be globbed by some servers.
    if let Err(e) = lease.ftp().cwd(dir).await {
        if code(&e) == Some(550) {
            return Ok(None);
        }
        return Err(map(e, "list", On550::NotFound));
    }
    let mlsd = lease.info.mlsd;
    let lines = if mlsd {
        lease.ftp().mlsd(None).await
    } else {
        lease.ftp().list(None).await
    };
    let lines = match lines {
        Ok(l) => l,
        Err(e) if code(&e) == Some(550) => return Ok(None),
        Err(e) => return Err(map(e, "list", On550::NotFound)),
    };
    let mut out: Vec<Entry> = lines
        .iter()
        .filter_map(|l| if mlsd { parse_mlsd(l) } else { parse_list(l) })
        .filter(|e| !is_reserved(&e.name) && !e.name.contains('/'))
        .collect();
    out.sort_by_cached_key(sort_name);
    Ok(Some(out))
}

fn sort_name(e: &Entry) -> String {
    if e.dir {
        format!("{}/", e.name)
    } else {
        e.name.clone()
    }
}

/// One page of keys under the root, walking directories in key order.
pub(crate) async fn list_page(lease: &mut Lease, request: &ListRequest) -> Result<ListPage> {
    let prefix = request.prefix.as_str();
    // The deepest directory that holds every key with this prefix.
    let start_rel = match prefix.rfind('/') {
        Some(i) => &prefix[..=i],
        None => "",
    };
    let root = lease.info.root.clone();
    let start_dir = join(&root, start_rel.trim_end_matches('/'));
    let mut walk = Walk {
        prefix,
        delimiter: request.delimiter.as_deref().filter(|d| !d.is_empty()),
        page: PageBuilder::new(
            request.cursor.as_deref(),
            request.limit.unwrap_or(DEFAULT_LIMIT),
        ),
    };
    walk.walk(lease, start_dir, start_rel.to_string()).await?;
    Ok(walk.page.finish())
}

struct Walk<'a> {
    prefix: &'a str,
    delimiter: Option<&'a str>,
    page: PageBuilder<'a>,
}

impl Walk<'_> {
    fn walk<'s>(
        &'s mut self,
        lease: &'s mut Lease,
        dir: String,
        rel: String,
    ) -> BoxFuture<'s, Result<Flow>> {
        Box::pin(async move {
            let Some(entries) = read_dir(lease, &dir).await? else {
                return Ok(Flow::Go);
            };
            for e in entries {
                if e.dir {
                    let dk = format!("{rel}{}/", e.name);
                    if !(dk.starts_with(self.prefix) || self.prefix.starts_with(&dk)) {
                        continue;
                    }
                    // Every key under `dk` sorts before the cursor: skip the subtree.
                    if let Some(c) = self.page.cursor()
                        && dk.as_str() < c
                        && !c.starts_with(&dk)
                    {
                        continue;
                    }
                    let sub = join(&dir, &e.name);
                    if self.delimiter == Some("/")
                        && dk.starts_with(self.prefix)
                        && dk.len() > self.prefix.len()
                    {
                        if self.page.cursor().is_some_and(|c| dk.as_str() <= c) {
                            continue;
                        }
                        if has_object(lease, sub).await? && self.emit(dk, None) == Flow::Stop {
                            return Ok(Flow::Stop);
                        }
                        continue;
                    }
                    if self.walk(lease, sub, dk).await? == Flow::Stop {
                        return Ok(Flow::Stop);
                    }
                } else {
                    let key = format!("{rel}{}", e.name);
                    if !key.starts_with(self.prefix) {
                        continue;
                    }
                    let rolled = self.delimiter.and_then(|d| {
                        key[self.prefix.len()..]
                            .find(d)
                            .map(|i| key[..self.prefix.len() + i + d.len()].to_string())
                    });
                    let flow = match rolled {
                        Some(p) => self.emit(p, None),
                        None => {
                            let mut meta = ObjectMeta::new(key.clone(), e.size);
                            meta.last_modified = e.modified;
                            self.emit(key, Some(meta))
                        }
                    };
                    if flow == Flow::Stop {
                        return Ok(Flow::Stop);
                    }
                }
            }
            Ok(Flow::Go)
        })
    }

    fn emit(&mut self, name: String, meta: Option<ObjectMeta>) -> Flow {
        self.page.emit(name, meta)
    }
}

/// Whether the directory holds at least one (visible) object, at any depth.
fn has_object(lease: &mut Lease, dir: String) -> BoxFuture<'_, Result<bool>> {
    Box::pin(async move {
        let Some(entries) = read_dir(lease, &dir).await? else {
            return Ok(false);
        };
        if entries.iter().any(|e| !e.dir) {
            return Ok(true);
        }
        for e in entries {
            if has_object(lease, join(&dir, &e.name)).await? {
                return Ok(true);
            }
        }
        Ok(false)
    })
}

#[doc(hidden)]
pub mod fuzzing {
    //! The listing parsers, exposed for the fuzz targets in `fuzz/` and their corpus replay
    //! test; not a stable API.

    use std::time::SystemTime;

    /// One parsed listing line: `(name, is a directory, size, modified)`.
    pub type Line = (String, bool, u64, Option<SystemTime>);

    fn plain(e: super::Entry) -> Line {
        (e.name, e.dir, e.size, e.modified)
    }

    /// Parses one `MLSD` line.
    pub fn parse_mlsd(line: &str) -> Option<Line> {
        super::parse_mlsd(line).map(plain)
    }

    /// Parses one `LIST` line.
    pub fn parse_list(line: &str) -> Option<Line> {
        super::parse_list(line).map(plain)
    }

    /// Parses an `MDTM` / `modify` timestamp.
    pub fn parse_mdtm(text: &str) -> Option<SystemTime> {
        super::parse_mdtm(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mlsd_lines() {
        let e = parse_mlsd("type=file;size=12;modify=20260102030405; a b.txt").unwrap();
        assert_eq!(e.name, "a b.txt");
        assert!(!e.dir);
        assert_eq!(e.size, 12);
        assert_eq!(
            e.modified.unwrap(),
            UNIX_EPOCH + Duration::from_secs(1_767_323_045)
        );
        assert!(
            parse_mlsd("type=dir;modify=20260102030405;perm=el; sub")
                .unwrap()
                .dir
        );
        assert!(parse_mlsd("type=cdir;perm=el; .").is_none());
        assert!(parse_mlsd("type=pdir;perm=el; ..").is_none());
        assert!(parse_mlsd("garbage").is_none());
    }

    #[test]
    fn list_lines() {
        let e =
            parse_list("-rw-r--r--    1 1001     1001         4321 Nov 22 04:01 with space.bin")
                .unwrap();
        assert_eq!(e.name, "with space.bin");
        assert_eq!(e.size, 4321);
        assert!(!e.dir);
        let d = parse_list("drwxr-xr-x    2 1001     1001         4096 Jan 01  2025 sub").unwrap();
        assert!(d.dir);
        assert!(parse_list("lrwxrwxrwx 1 0 0 4 Jan 01 2025 l -> x").is_none());
    }

    #[test]
    fn mdtm() {
        assert_eq!(
            parse_mdtm("19700101000001"),
            Some(UNIX_EPOCH + Duration::from_secs(1))
        );
        assert_eq!(
            parse_mdtm("20000301000000.5"),
            Some(UNIX_EPOCH + Duration::from_millis(951_868_800_500))
        );
        assert!(parse_mdtm("2000").is_none());
        assert!(parse_mdtm("20001301000000").is_none());
        assert!(parse_mdtm("20000230000000").is_none());
        assert!(parse_mdtm("20000101240000").is_none());
        assert!(parse_mdtm("19691231235959").is_none());
        assert!(parse_mdtm("+2000101000000").is_none());
        assert_eq!(
            parse_mdtm(" 20161231235960 "),
            Some(UNIX_EPOCH + Duration::from_secs(1_483_228_799))
        );
        assert_eq!(
            parse_mdtm("19700101000001.x"),
            Some(UNIX_EPOCH + Duration::from_secs(1))
        );
        assert_eq!(
            parse_mdtm("99991231235959.123456789"),
            Some(UNIX_EPOCH + Duration::new(253_402_300_799, 123_456_789))
        );
    }

    #[test]
    fn mdtm_round_trips() {
        // Up to 9999-12-31T23:59:59Z, as the `ftp_list` fuzz check asks.
        let mut secs = 0u64;
        while secs <= 253_402_300_799 {
            let t = time::OffsetDateTime::from_unix_timestamp(secs as i64).unwrap();
            let text = format!(
                "{:04}{:02}{:02}{:02}{:02}{:02}",
                t.year(),
                t.month() as u8,
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            );
            let want = UNIX_EPOCH + Duration::from_secs(secs);
            assert_eq!(parse_mdtm(&text), Some(want), "{text}");
            assert_eq!(
                parse_mdtm(&format!("{text}.042")),
                Some(want + Duration::from_millis(42)),
                "{text}"
            );
            secs += 86_399 * 997 + 1;
        }
    }
}
