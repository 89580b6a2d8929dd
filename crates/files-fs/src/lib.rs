//! # files-fs
//!
//! The local-disk adapter of the `files` storage SDK: a directory on the local file system
//! used as an object store. Keys are `/`-separated paths relative to the root directory
//! (`backups/db.tar` is `<root>/backups/db.tar`); directories are created as needed and pruned
//! when they become empty, and are never objects themselves.
//!
//! ```no_run
//! # async fn demo() -> files_core::Result<()> {
//! use files_core::{Body, Files};
//! let files = Files::new(files_fs::FsAdapter::new("/srv/store")?);
//! files.upload("a/b.txt", Body::from("hello")).await?;
//! let bytes = files.download("a/b.txt").await?.bytes().await?;
//! assert_eq!(&bytes[..], b"hello");
//! # Ok(()) }
//! ```
//!
//! It is also registered for the `file` URL scheme: `Files::from_url("file:///srv/store")`
//! opens the store rooted at `/srv/store`, and `file:///srv/store/a/b.txt?root=/srv/store`
//! names the object `a/b.txt` in it (see [`FACTORY`]).
//!
//! ## Writes are atomic
//!
//! [`put`](files_core::Adapter::put) and [`copy`](files_core::Adapter::copy) write a temporary
//! file (named `.fls-tmp-*`) in the destination directory, `fsync` it, and rename it over the
//! key: an object is never visible half-written, and a failed or dropped write leaves the old
//! object (if any) in place.
//!
//! ## Resumable uploads: the part file
//!
//! The adapter implements the growing-offset family ([`files_core::OffsetUpload`]), resumable
//! **across processes**. The bytes of an upload to `dir/name` go to the *part file*
//! `dir/name.fls-part`, next to the target; its path is derived from the key alone, never from
//! the resume token (the token's session is empty), so a token cannot point the adapter at
//! another file. `begin` creates (or truncates) the part file; every chunk is written at the
//! offset the part file has reached and `fdatasync`ed before it is confirmed; `finish` syncs the
//! part file and renames it over the key.
//!
//! To resume, the scheduler asks how many bytes the part file holds (its length is the truth,
//! whatever the token says), checks the body's already-sent prefix against the fingerprint in
//! the token, and appends only the missing tail. If the part file is gone but an object of the
//! body's length sits at the key, the upload had finished; otherwise the session is expired.
//! An append at an offset the part file has not reached (or has passed) is refused with
//! [`ErrorKind::Conflict`] and the scheduler re-probes.
//!
//! Two concurrent uploads to the same key share one part file and corrupt each other: don't
//! do that.
//!
//! ## Confinement
//!
//! No operation touches a path outside the root. Keys are refused with
//! [`ErrorKind::InvalidInput`], before any I/O, when they:
//!
//! * break the lexical rules of [`files_core::adapter::validate_key_default`] (absolute, `.` or
//!   `..` segments, NUL bytes, backslashes, empty segments, over 1024 bytes), or end with `/`;
//! * have a segment ending in `.fls-part` or starting with `.fls-tmp-` (reserved for part and
//!   temporary files, which listings hide);
//! * reach outside the root through a symbolic link: before every operation that touches a path
//!   (and again after creating parent directories, and before the final rename of an upload),
//!   the deepest existing ancestor of the path is resolved with `canonicalize` (dangling links
//!   are followed by hand) and must lie inside the canonical root.
//!
//! Symbolic links *inside* the root that stay inside it work as usual (writing to a key that
//! is a link replaces the link, atomically, and leaves what it pointed at alone; deleting it
//! removes the link). Listings never follow links to directories. The check is made against the file system as it is at the time of the
//! call: it keeps keys from escaping the root, but it is no defence against another local user
//! who can swap links inside the root between the check and the use.
//!
//! ## Not supported
//!
//! Content types, user metadata and cache-control (the file system has nowhere to keep them:
//! uploads with those options fail with `NotSupported`), presigned URLs, and keys naming
//! directories. [`public_url`](files_core::Adapter::public_url) gives a `file://` URL, usable
//! only on this machine. ETags are derived from the modification time and the size, not from the
//! content.
//!
//! [`ErrorKind::Conflict`]: files_core::ErrorKind::Conflict
//! [`ErrorKind::InvalidInput`]: files_core::ErrorKind::InvalidInput
#![deny(missing_docs)]

mod adapter;
mod config;
mod confine;
mod errors;
mod list;
mod upload;

pub use adapter::FsAdapter;

/// The suffix of part files (`<key>.fls-part`), where resumable uploads collect their bytes.
pub const PART_SUFFIX: &str = files_core::part_file::PART_SUFFIX;

/// The prefix of the temporary files that atomic writes rename into place.
pub const TEMP_PREFIX: &str = files_core::part_file::TEMP_PREFIX;

/// The factory of the `file` scheme: `file:///srv/store` opens the store rooted at
/// `/srv/store`; `file:///srv/store/a/b?root=/srv/store` opens the object `a/b` in it (without
/// `root`, the root is `/` and the key the whole path).
pub const FACTORY: files_core::AdapterFactory = files_core::AdapterFactory {
    object: config::open_object,
    ..files_core::AdapterFactory::of::<FsAdapter>("file", "fs")
};

files_core::register_factories!(FACTORY);

#[cfg(test)]
mod tests {
    use super::*;
    use files_core::ListRequest;
    use files_core::part_file::{is_reserved, temp_name};
    use std::fs;

    #[test]
    fn part_path_is_next_to_the_target() {
        let dir = tempfile::tempdir().unwrap();
        let a = FsAdapter::new(dir.path()).unwrap();
        let root = fs::canonicalize(dir.path()).unwrap();
        assert_eq!(
            a.part_path_of("x/y.bin").unwrap(),
            root.join("x").join("y.bin.fls-part")
        );
        assert_eq!(a.path_of("x/y.bin").unwrap(), root.join("x").join("y.bin"));
        assert!(a.part_path_of("x/../y").is_err());
    }

    #[test]
    fn reserved_names() {
        assert!(is_reserved("a.fls-part"));
        assert!(is_reserved(".fls-tmp-1-2-3"));
        assert!(!is_reserved("a.fls-parts"));
        assert!(!is_reserved("fls-tmp-"));
        assert!(is_reserved(&temp_name()));
    }

    #[test]
    fn dir_sorting_gives_key_order() {
        let dir = tempfile::tempdir().unwrap();
        let a = FsAdapter::new(dir.path()).unwrap();
        for k in ["a/b", "a-c", "a0", "a/c/d", "b"] {
            let p = a.key_path(k);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, k).unwrap();
        }
        let page = a.list_blocking(&ListRequest::default()).unwrap();
        let keys: Vec<_> = page.objects.iter().map(|o| o.key.as_str()).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
        assert_eq!(keys, ["a-c", "a/b", "a/c/d", "a0", "b"]);
    }
}
