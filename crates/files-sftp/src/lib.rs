//! # files-sftp
//!
//! The SFTP (SSH File Transfer Protocol) adapter of the `files` storage SDK, on `russh` and
//! `russh-sftp`: a directory on an SSH server used as an object store. Keys are `/`-separated
//! paths relative to a root directory on the server (`backups/db.tar` is
//! `<root>/backups/db.tar`); directories are created as needed and pruned when they become
//! empty, and are never objects themselves.
//!
//! ```no_run
//! # async fn demo() -> files_core::Result<()> {
//! use files_core::{Body, Files};
//! use files_sftp::SftpAdapter;
//!
//! let sftp = SftpAdapter::builder()
//!     .host("files.example.org")
//!     .user("backup")
//!     .private_key_file("/home/backup/.ssh/id_ed25519")
//!     .root("/srv/backups")
//!     .build()?;
//! let files = Files::new(sftp);
//! files
//!     .upload("db.tar", Body::from_path("db.tar").await?)
//!     .checkpoint("db.tar.upload.json")
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! ## Authentication
//!
//! In this order, as configured: a private key file ([`SftpBuilder::private_key_file`], URL
//! `?key=PATH`, or `FILES_SFTP_KEY`; passphrase from `FILES_SFTP_KEY_PASSPHRASE`), the keys of
//! the ssh-agent at `SSH_AUTH_SOCK` (by default only when neither a key file nor a password is
//! configured; [`SftpBuilder::use_agent`] / `?agent=`), and a password
//! ([`SftpBuilder::password`], the URL's user info, or `FILES_SFTP_PASSWORD`). A refused login
//! is [`ErrorKind::Unauthorized`] and is not retried.
//!
//! Secrets never reach `Debug` output, error messages, logs or resume tokens.
//!
//! ## Host keys
//!
//! The server's host key is checked against a `known_hosts` file before anything else is sent:
//! [`SftpBuilder::known_hosts`] or `?known_hosts=PATH`, else `FILES_SFTP_KNOWN_HOSTS`, else
//! `~/.ssh/known_hosts` (plain and hashed host names, `[host]:port` for ports other than 22).
//! An unknown host, or a key that differs from the recorded one, is refused with
//! [`ErrorKind::Unauthorized`]; the message names the host and the presented key's SHA-256
//! fingerprint. [`SftpBuilder::insecure_accept_any_host_key`] (`?insecure_host_key=true`)
//! turns the check off, for throw-away test servers only.
//!
//! ## URLs
//!
//! `sftp://user[:password]@host[:port]/path` (without a user: `FILES_SFTP_USER`, then `USER`).
//! As a store URL the path is the root directory
//! (`sftp://u@h/srv/data`); as an object URL it is the object's full remote path, split like
//! `file://` URLs: the root is `?root=` (default `/`) and the key is the rest of the path
//! (`sftp://u@h/srv/data/a/b.txt?root=/srv/data` is the key `a/b.txt`). Parameters:
//! `known_hosts`, `insecure_host_key`, `key`, `root`, `agent`, `timeout` (seconds).
//!
//! ## Writes are atomic
//!
//! [`put`](files_core::Adapter::put) writes a temporary file (`.fls-tmp-*`) next to the target
//! and renames it over the key with `posix-rename@openssh.com` (atomic, replaces the target)
//! where the server offers it; elsewhere it removes the target first and uses the plain SFTP
//! rename, so a reader may briefly see no object. Readers never see half a file.
//!
//! ## Resumable uploads: the part file
//!
//! The adapter implements the growing-offset family ([`files_core::OffsetUpload`]), resumable
//! **across processes**. The bytes of an upload to `dir/name` go to `dir/name.fls-part`; its
//! path is derived from the key alone (the token's session is empty). Every append opens the
//! part file for writing, **reads its remote size first** and refuses with
//! [`ErrorKind::Conflict`] unless it equals the offset to write at (so an append that
//! half-landed before a retry is never written twice: the scheduler re-probes and sends only
//! what is missing), writes at that explicit offset (OpenSSH ignores offsets on files opened
//! with APPEND, so the adapter never uses it), and `fsync`s where the server offers
//! `fsync@openssh.com`. Writes are pipelined; if one fails while a later one landed, the part
//! file is truncated back to the bytes known to be contiguous. Resume asks the server for the
//! part file's size, which is the truth whatever the token says. `finish` renames the part
//! file over the key; `cancel` (abort) deletes it.
//!
//! ## Confinement
//!
//! Keys follow [`files_core::adapter::validate_key_default`] (relative, no `.` or `..`
//! segments, no NUL, no backslash), must not end with `/`, and must not use the reserved names
//! `*.fls-part` and `.fls-tmp-*`; they are refused with [`ErrorKind::InvalidInput`] before any
//! request. The check is lexical: a symbolic link *on the server* that points outside the root
//! is followed by the server. Use the server's own confinement (`ChrootDirectory`, file
//! permissions) when the root must be a hard boundary.
//!
//! ## Connections
//!
//! One SSH connection with one SFTP session per adapter (and its clones), opened on first use
//! and shared by concurrent operations (SFTP multiplexes requests). A connection that fails is
//! dropped and a new one is opened by the next operation. Failures of the connection are
//! [`ErrorKind::Transient`] (retryable); SFTP statuses map to `NotFound`, `Unauthorized`
//! (permission denied), `NotSupported` and `Other`.
//!
//! ## Not supported
//!
//! Content types, user metadata, cache-control (`NotSupported`), server-side copy (`copy`
//! streams the object down and up again), presigned and public URLs. ETags are derived from
//! the modification time (seconds) and the size, not from the content.
//!
//! [`ErrorKind::Unauthorized`]: files_core::ErrorKind::Unauthorized
//! [`ErrorKind::Conflict`]: files_core::ErrorKind::Conflict
//! [`ErrorKind::InvalidInput`]: files_core::ErrorKind::InvalidInput
//! [`ErrorKind::Transient`]: files_core::ErrorKind::Transient
#![deny(missing_docs)]

mod adapter;
mod config;
mod conn;
mod errors;
mod list;
mod upload;

pub use adapter::SftpAdapter;
pub use config::{
    DEFAULT_TIMEOUT, ENV_KEY, ENV_KEY_PASSPHRASE, ENV_KNOWN_HOSTS, ENV_PASSWORD, ENV_USER,
    SftpBuilder,
};

/// The provider name.
pub const PROVIDER: &str = "sftp";

/// The suffix of part files (`<key>.fls-part`), where resumable uploads collect their bytes.
pub const PART_SUFFIX: &str = files_core::part_file::PART_SUFFIX;

/// The prefix of the temporary files that atomic writes rename into place.
pub const TEMP_PREFIX: &str = files_core::part_file::TEMP_PREFIX;

/// The factory of the `sftp` scheme: `sftp://user@host:port/srv/store` opens the store rooted
/// at `/srv/store`; `sftp://user@host/srv/store/a/b?root=/srv/store` opens the object `a/b` in
/// it (without `root`, the root is `/` and the key the whole path).
pub const FACTORY: files_core::AdapterFactory = files_core::AdapterFactory {
    object: config::open_object,
    ..files_core::AdapterFactory::of::<SftpAdapter>("sftp", PROVIDER)
};

files_core::register_factories!(FACTORY);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::open_object;
    use files_core::{Adapter, ErrorKind};

    fn adapter(root: &str) -> SftpAdapter {
        SftpAdapter::builder()
            .host("127.0.0.1")
            .port(2222)
            .user("u")
            .password("s3cret-pw")
            .known_hosts("/nonexistent/kh")
            .root(root)
            .build()
            .unwrap()
    }

    #[test]
    fn paths_and_target() {
        let a = adapter("/srv/data/");
        assert_eq!(a.path_of("x/y.bin").unwrap(), "/srv/data/x/y.bin");
        assert_eq!(
            a.part_path_of("x/y.bin").unwrap(),
            "/srv/data/x/y.bin.fls-part"
        );
        assert_eq!(a.target(), "sftp://u@127.0.0.1:2222/srv/data");
        assert_eq!(adapter("/").path_of("k").unwrap(), "/k");
        for bad in [
            "../x",
            "/abs",
            "a/../../b",
            "a\0b",
            "a/",
            "x.fls-part",
            "d/.fls-tmp-1",
        ] {
            let e = a.path_of(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidInput, "{bad}");
        }
    }

    #[test]
    fn secrets_stay_out_of_debug_and_urls() {
        let a = adapter("/");
        let d = format!("{a:?}");
        assert!(!d.contains("s3cret-pw"), "{d}");
        assert!(!a.target().contains("s3cret-pw"));
        let e = SftpAdapter::from_url("sftp://u:s3cret-pw@h:99999/x").unwrap_err();
        assert!(!e.to_string().contains("s3cret-pw"), "{e}");
        let e = SftpAdapter::from_url("sftp://u:s3cret-pw@h/x?nope=1").unwrap_err();
        assert!(!e.to_string().contains("s3cret-pw"), "{e}");
    }

    #[test]
    fn object_urls_split_root_and_key() {
        let url = url::Url::parse(
            "sftp://u:pw@127.0.0.1:2200/srv/d/a/b.txt?root=/srv/d&insecure_host_key=true",
        )
        .unwrap();
        let (a, key) = open_object(&url).unwrap();
        assert_eq!(key, "a/b.txt");
        assert_eq!(a.target(), "sftp://u@127.0.0.1:2200/srv/d");
        let url = url::Url::parse("sftp://u@h/srv/d/a.txt?known_hosts=/k").unwrap();
        let (a, key) = open_object(&url).unwrap();
        assert_eq!(key, "srv/d/a.txt");
        assert_eq!(a.target(), "sftp://u@h:22/");
        for bad in [
            "sftp://u@h/other/a?root=/srv&known_hosts=/k",
            "sftp://u@h/srv?root=/srv&known_hosts=/k",
            "sftp://u@h/srv/..%2Fetc/passwd?root=/srv&known_hosts=/k",
        ] {
            let url = url::Url::parse(bad).unwrap();
            assert!(open_object(&url).is_err(), "{bad}");
        }
        let url = url::Url::parse("sftp://u@h:2022/srv/store?known_hosts=/k").unwrap();
        assert_eq!(
            (FACTORY.store)(&url).unwrap().target(),
            "sftp://u@h:2022/srv/store"
        );
    }
}
