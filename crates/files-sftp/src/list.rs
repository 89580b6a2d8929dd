//! Listing: a depth-first walk of the remote directories in key order, starting at the deepest
//! directory the prefix names, hiding part and temporary files.

use files_core::listing::{Flow, PageBuilder};
use files_core::part_file::is_reserved;
use files_core::{ErrorKind, ListPage, ListRequest, Result};
use russh_sftp::protocol::FileAttributes;

use crate::adapter::{SftpAdapter, join};
use crate::conn::Conn;

/// Default page size of [`Adapter::list`].
const DEFAULT_LIMIT: usize = 1000;

enum Kind {
    Dir,
    File(FileAttributes),
}

/// One directory being walked: its key prefix (`a/b/`) and the children still to visit.
struct Frame {
    rel: String,
    children: std::vec::IntoIter<(String, Kind)>,
}

/// The children of the directory at key prefix `rel` (`""` is the root) that may be objects or
/// hold objects, sorted so that a depth-first walk yields keys in byte order (a directory
/// sorts as `name/`). A directory that does not exist has no children.
async fn children(a: &SftpAdapter, c: &Conn, rel: &str) -> Result<Vec<(String, Kind)>> {
    let root = a.root();
    let dir = if rel.is_empty() {
        root.to_string()
    } else {
        join(root, rel.trim_end_matches('/'))
    };
    let entries = match c.read_dir(&dir).await {
        Ok(e) => e,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for (name, attrs) in entries {
        if is_reserved(&name) || name.contains('\\') {
            continue;
        }
        let kind = if attrs.is_dir() {
            Kind::Dir
        } else if attrs.is_regular() {
            Kind::File(attrs)
        } else if attrs.is_symlink() {
            // A link is an object if it resolves to a file; links to directories are not
            // followed.
            match c.stat(&format!("{dir}/{name}")).await {
                Ok(t) if t.is_regular() => Kind::File(t),
                _ => continue,
            }
        } else {
            continue;
        };
        out.push((name, kind));
    }
    out.sort_by_cached_key(|(name, kind)| match kind {
        Kind::Dir => format!("{name}/"),
        Kind::File(_) => name.clone(),
    });
    Ok(out)
}

/// Whether the directory at key prefix `rel` holds at least one visible object, at any depth.
async fn has_object(a: &SftpAdapter, c: &Conn, rel: &str) -> Result<bool> {
    let mut todo = vec![rel.to_string()];
    while let Some(dir) = todo.pop() {
        for (name, kind) in children(a, c, &dir).await? {
            match kind {
                Kind::File(_) => return Ok(true),
                Kind::Dir => todo.push(format!("{dir}{name}/")),
            }
        }
    }
    Ok(false)
}

pub(crate) async fn list(a: &SftpAdapter, c: &Conn, request: &ListRequest) -> Result<ListPage> {
    let prefix = request.prefix.as_str();
    let delimiter = request.delimiter.as_deref().filter(|d| !d.is_empty());
    let mut page = PageBuilder::new(
        request.cursor.as_deref(),
        request.limit.unwrap_or(DEFAULT_LIMIT),
    );
    // Start at the deepest directory the prefix names in full (`a/b/c` starts at `a/b/`).
    let start = match prefix.rfind('/') {
        Some(i) => &prefix[..=i],
        None => "",
    };
    if start.split('/').any(|s| s == ".." || s == ".") {
        return Ok(ListPage::default());
    }
    let mut stack = vec![Frame {
        rel: start.to_string(),
        children: children(a, c, start).await?.into_iter(),
    }];
    'walk: while let Some(frame) = stack.last_mut() {
        let Some((name, kind)) = frame.children.next() else {
            stack.pop();
            continue;
        };
        let rel = frame.rel.clone();
        match kind {
            Kind::Dir => {
                let dk = format!("{rel}{name}/");
                if !(dk.starts_with(prefix) || prefix.starts_with(&dk)) {
                    continue;
                }
                // Every key under `dk` sorts before the cursor: skip the subtree.
                if let Some(cur) = page.cursor()
                    && dk.as_str() < cur
                    && !cur.starts_with(&dk)
                {
                    continue;
                }
                if delimiter == Some("/") && dk.starts_with(prefix) && dk.len() > prefix.len() {
                    // The whole subtree rolls up into the common prefix `dk`.
                    if page.cursor().is_some_and(|cur| dk.as_str() <= cur) {
                        continue;
                    }
                    if has_object(a, c, &dk).await? && page.emit(dk, None) == Flow::Stop {
                        break 'walk;
                    }
                    continue;
                }
                let kids = children(a, c, &dk).await?;
                stack.push(Frame {
                    rel: dk,
                    children: kids.into_iter(),
                });
            }
            Kind::File(attrs) => {
                let key = format!("{rel}{name}");
                if !key.starts_with(prefix) {
                    continue;
                }
                let rolled = delimiter.and_then(|d| {
                    key[prefix.len()..]
                        .find(d)
                        .map(|i| key[..prefix.len() + i + d.len()].to_string())
                });
                let flow = match rolled {
                    Some(p) => page.emit(p, None),
                    None => {
                        let meta = SftpAdapter::meta_of(&key, &attrs);
                        page.emit(key, Some(meta))
                    }
                };
                if flow == Flow::Stop {
                    break 'walk;
                }
            }
        }
    }
    Ok(page.finish())
}
