//! Listing: a depth-first walk of the directory tree in key order, hiding part and temporary
//! files and rolling directories up into common prefixes.

use std::fs;
use std::path::{Path, PathBuf};

use files_core::listing::{Flow, PageBuilder};
use files_core::part_file::is_reserved;
use files_core::{Error, ListPage, ListRequest, ObjectMeta, Result};

use crate::adapter::FsAdapter;
use crate::errors::is_absent;

/// Default page size of [`Adapter::list`].
const DEFAULT_LIMIT: usize = 1000;
impl FsAdapter {
    pub(crate) fn list_blocking(&self, request: &ListRequest) -> Result<ListPage> {
        let mut lister = Lister {
            adapter: self,
            prefix: &request.prefix,
            delimiter: request.delimiter.as_deref().filter(|d| !d.is_empty()),
            page: PageBuilder::new(
                request.cursor.as_deref(),
                request.limit.unwrap_or(DEFAULT_LIMIT),
            ),
        };
        lister.walk(&self.root, "")?;
        Ok(lister.page.finish())
    }
}

struct Lister<'a> {
    adapter: &'a FsAdapter,
    prefix: &'a str,
    delimiter: Option<&'a str>,
    page: PageBuilder<'a>,
}

enum Kind {
    Dir,
    File(fs::Metadata),
}

impl Lister<'_> {
    /// The children of `dir` that may be objects or hold objects, sorted so that a depth-first
    /// walk yields keys in byte order (a directory sorts as `name/`).
    fn children(&self, dir: &Path) -> Result<Vec<(String, PathBuf, Kind)>> {
        let entries = match fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if is_absent(&e) && dir != self.adapter.root.as_path() => {
                return Ok(Vec::new()); // removed while we walked
            }
            Err(e) => return Err(Error::from_io(e)),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = match entry {
                Ok(e) => e,
                Err(e) if is_absent(&e) => continue,
                Err(e) => return Err(Error::from_io(e)),
            };
            let Ok(name) = entry.file_name().into_string() else {
                continue; // not UTF-8: cannot be a key
            };
            if is_reserved(&name) {
                continue;
            }
            let Ok(ft) = entry.file_type() else { continue };
            let path = entry.path();
            let kind = if ft.is_dir() {
                Kind::Dir
            } else if ft.is_file() {
                match entry.metadata() {
                    Ok(m) => Kind::File(m),
                    Err(_) => continue,
                }
            } else if ft.is_symlink() {
                // A link is an object if it resolves to a file inside the root; links to
                // directories are not followed.
                match fs::metadata(&path) {
                    Ok(m) if m.is_file() && self.adapter.confine(&path).is_ok() => Kind::File(m),
                    _ => continue,
                }
            } else {
                continue;
            };
            out.push((name, path, kind));
        }
        out.sort_by_cached_key(|a| sort_name(&a.0, &a.2));
        Ok(out)
    }

    fn walk(&mut self, dir: &Path, rel: &str) -> Result<Flow> {
        for (name, path, kind) in self.children(dir)? {
            match kind {
                Kind::Dir => {
                    let dk = format!("{rel}{name}/");
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
                    if self.delimiter == Some("/")
                        && dk.starts_with(self.prefix)
                        && dk.len() > self.prefix.len()
                    {
                        // The whole subtree rolls up into the common prefix `dk`.
                        if self.page.cursor().is_some_and(|c| dk.as_str() <= c) {
                            continue;
                        }
                        if self.has_object(&path)? && self.emit(dk, None) == Flow::Stop {
                            return Ok(Flow::Stop);
                        }
                        continue;
                    }
                    if self.walk(&path, &dk)? == Flow::Stop {
                        return Ok(Flow::Stop);
                    }
                }
                Kind::File(m) => {
                    let key = format!("{rel}{name}");
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
                            let meta = self.adapter.meta_of(&key, &m);
                            self.emit(key, Some(meta))
                        }
                    };
                    if flow == Flow::Stop {
                        return Ok(Flow::Stop);
                    }
                }
            }
        }
        Ok(Flow::Go)
    }

    /// Whether the directory holds at least one (visible) object, at any depth.
    fn has_object(&self, dir: &Path) -> Result<bool> {
        for (_, path, kind) in self.children(dir)? {
            match kind {
                Kind::File(_) => return Ok(true),
                Kind::Dir => {
                    if self.has_object(&path)? {
                        return Ok(true);
                    }
                }
            }
        }
        Ok(false)
    }

    fn emit(&mut self, name: String, meta: Option<ObjectMeta>) -> Flow {
        self.page.emit(name, meta)
    }
}

fn sort_name(name: &str, kind: &Kind) -> String {
    match kind {
        Kind::Dir => format!("{name}/"),
        Kind::File(_) => name.to_string(),
    }
}
