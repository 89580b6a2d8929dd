//! Confinement: no path outside the canonical root is ever touched, through `..` or through
//! symbolic links (followed by hand when they dangle).

use std::fs;
use std::io;
use std::path::{Component, Path};

use files_core::{Error, Result};

use crate::adapter::FsAdapter;

/// How many symbolic links the confinement check follows by hand before giving up.
const MAX_LINK_HOPS: u32 = 40;
impl FsAdapter {
    /// Refuses `path` unless it (or, if it does not exist, its deepest existing ancestor)
    /// resolves to a place inside the canonical root.
    pub(crate) fn confine(&self, path: &Path) -> Result<()> {
        self.confine_hops(path, 0)
    }

    fn confine_hops(&self, path: &Path, hops: u32) -> Result<()> {
        let mut cur = path.to_path_buf();
        loop {
            match fs::symlink_metadata(&cur) {
                Ok(meta) => {
                    return match fs::canonicalize(&cur) {
                        Ok(canonical) => {
                            if canonical.starts_with(self.root.as_path()) {
                                Ok(())
                            } else {
                                Err(escape())
                            }
                        }
                        // Only a dangling symbolic link exists but cannot be resolved: follow it
                        // by hand, since creating through it would land where it points.
                        Err(e)
                            if e.kind() == io::ErrorKind::NotFound
                                && meta.file_type().is_symlink() =>
                        {
                            if hops >= MAX_LINK_HOPS {
                                return Err(Error::invalid_input(
                                    "the key resolves through too many symbolic links",
                                ));
                            }
                            let link = fs::read_link(&cur).map_err(Error::from_io)?;
                            let next = match cur.parent() {
                                Some(parent) => parent.join(link),
                                None => link,
                            };
                            self.confine_hops(&next, hops + 1)
                        }
                        Err(e) => Err(Error::from_io(e)),
                    };
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                    ) =>
                {
                    // Walking up over a `..` that the OS could not resolve is ambiguous
                    // (it only comes from a link target): refuse rather than guess.
                    if matches!(cur.components().next_back(), Some(Component::ParentDir)) {
                        return Err(escape());
                    }
                    if !cur.pop() {
                        return Err(escape());
                    }
                }
                Err(e) => return Err(Error::from_io(e)),
            }
        }
    }
}

fn escape() -> Error {
    Error::invalid_input("the key resolves to a place outside the store's root directory")
}
