//! # files-ftp
//!
//! The FTP and FTPS adapter of the `files` storage SDK: a directory on an FTP server used as
//! an object store. Keys are `/`-separated paths under a root directory (`backups/db.tar` is
//! `<root>/backups/db.tar`); directories are created as needed (`MKD`) and removed when a
//! delete leaves them empty. It speaks plain FTP or explicit FTPS (`AUTH TLS`, rustls with the
//! system's roots plus any CA file you trust), always in passive mode and binary type.
//!
//! ```no_run
//! # async fn demo() -> files_core::Result<()> {
//! use files_core::{Body, Files};
//! use files_ftp::{FtpAdapter, Security};
//! let adapter = FtpAdapter::builder("ftp.example.com")
//!     .user("alice")
//!     .password("s3cret") // or leave it out and set FILES_FTP_PASSWORD
//!     .security(Security::ExplicitTls)
//!     .root("backups")
//!     .build()?;
//! let files = Files::new(adapter);
//! files.upload("db/2026-01-01.tar", Body::from_path("db.tar").await?).await?;
//! # Ok(()) }
//! ```
//!
//! It is registered for the `ftp` and `ftps` URL schemes (see [`FACTORY`] for the URL form):
//! `Files::from_url("ftps://alice@ftp.example.com/backups")`.
//!
//! ## Connections
//!
//! A control connection runs one command at a time, so the adapter keeps a small pool (4 by
//! default, [`FtpBuilder::max_connections`]) of logged-in connections and lends one to each
//! operation; a connection whose operation ended abnormally (a dropped future, a broken data
//! transfer, a connection error) is closed rather than reused. A download holds its connection
//! until its stream ends or is dropped. Data connections always go to the control connection's
//! peer address: the address a server names in its `PASV` reply is ignored (some servers name
//! an internal one).
//!
//! ## Writes are atomic
//!
//! [`put`](files_core::Adapter::put) stores to a temporary name (`.fls-tmp-*`) next to the key
//! and renames it over the key (`RNFR`/`RNTO`): readers never see half a file. A put cut short
//! may leave the temporary file behind; listings hide such names.
//!
//! ## Resumable uploads, across processes
//!
//! The adapter implements the growing-offset family ([`files_core::OffsetUpload`]). The bytes
//! of an upload to `dir/name` go to the *part file* `dir/name.fls-part`, whose path is derived
//! from the key alone (the token's session is empty, so a doctored token cannot point the
//! adapter at another file). `begin` creates an empty part file; each chunk is appended with
//! `APPE` after `SIZE` confirmed the part file holds exactly the chunk's offset — so a retried
//! chunk whose first attempt half-landed is refused (`Conflict`) instead of appended twice, and
//! the scheduler re-probes and continues from the real size. `finish` renames the part file over
//! the key; `cancel` deletes it. To resume in a later process, `probe` asks the part file's
//! `SIZE`: that is the truth, whatever the token says.
//!
//! ## Confinement and command injection
//!
//! Keys are refused with [`ErrorKind::InvalidInput`] before any command when they break the
//! lexical rules of [`files_core::adapter::validate_key_default`] (absolute, `.`/`..`, NUL,
//! backslash, empty segments, over 1024 bytes), end with `/`, contain CR, LF or any other
//! control character (a line break in a path would smuggle a second FTP command), have a segment
//! that starts or ends with a space (servers trim arguments), or use the reserved names
//! `*.fls-part` and `.fls-tmp-*`. Every command names an absolute path under the root. The
//! root itself may not contain `..`. Symbolic links on the server are the server's business:
//! FTP servers usually confine a session themselves (chroot).
//!
//! [`ErrorKind::InvalidInput`]: files_core::ErrorKind::InvalidInput
//!
//! ## Secrets
//!
//! The password is sent only in the `PASS` command. It never appears in `Debug` output, errors,
//! this crate's logs, [`Adapter::target`](files_core::Adapter::target) or resume tokens. Note
//! that suppaftp itself logs every control-connection line, `PASS` included, through the `log`
//! crate at `trace` level (target `suppaftp`): do not route `log` trace output of that target
//! anywhere it could be read.
//!
//! ## Not supported
//!
//! Content types, user metadata and cache-control (FTP has nowhere to keep them), presigned
//! and public URLs, and server-side copy (`copy` streams the object down and up again). ETags
//! are derived from `MDTM` and `SIZE`, not from the content.
#![deny(missing_docs)]

mod adapter;
mod commands;
mod config;
mod errors;
mod list;
mod pool;
mod upload;

#[doc(hidden)]
pub use list::fuzzing;

pub use adapter::FtpAdapter;
pub use config::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_CONNECTIONS, FtpBuilder, PASSWORD_ENV, PassiveMode,
    Security, USER_ENV,
};

/// The suffix of part files (`<key>.fls-part`), where resumable uploads collect their bytes.
pub const PART_SUFFIX: &str = files_core::part_file::PART_SUFFIX;

/// The prefix of the temporary files that atomic writes rename into place.
pub const TEMP_PREFIX: &str = files_core::part_file::TEMP_PREFIX;

/// The factory of the `ftp` scheme (plain FTP).
///
/// URL form: `ftp://[user[:password]@]host[:port]/path[?root=R&ca=PATH&connections=N&passive=auto|epsv|pasv]`.
/// The user and password come from the URL's userinfo (percent-encoded), else from
/// `FILES_FTP_USER` / `FILES_FTP_PASSWORD`, else the login is anonymous. The path is relative to
/// the login directory (as in RFC 1738 and curl).
///
/// * As a **store** URL, the path is the root directory (`ftp://host/backups`); `?root=` overrides
///   it (and may be absolute: `?root=/srv/files`).
/// * As an **object** URL, `?root=R` names the store's root and the path must start with it:
///   `ftp://host/backups/db/x.tar?root=backups` is the key `db/x.tar` in the store rooted at
///   `backups`. An absolute `root` makes the path absolute too
///   (`ftp://host/srv/files/a?root=/srv/files`). Without `root`, the root is the login directory
///   and the key is the whole path.
pub const FACTORY: files_core::AdapterFactory = files_core::AdapterFactory {
    object: config::open_object,
    ..files_core::AdapterFactory::of::<FtpAdapter>("ftp", "ftp")
};

/// The factory of the `ftps` scheme: explicit FTPS (`AUTH TLS`), otherwise like [`FACTORY`].
/// `?ca=PATH` trusts the CA certificates (PEM) in that file besides the system's roots.
pub const FACTORY_FTPS: files_core::AdapterFactory = files_core::AdapterFactory {
    object: config::open_object,
    ..files_core::AdapterFactory::of::<FtpAdapter>("ftps", "ftp")
};

files_core::register_factories!(FACTORY, FACTORY_FTPS);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration() {
        register();
        let schemes = files_core::registry::schemes();
        assert!(
            schemes.contains(&"ftp") && schemes.contains(&"ftps"),
            "{schemes:?}"
        );
        let files = files_core::registry::open_store("ftp://u@h:2121/base").unwrap();
        assert_eq!(files.adapter().target(), "ftp://u@h:2121/base");
        let (files, key) =
            files_core::registry::open_object("ftp://u@h/base/dir/k?root=base").unwrap();
        assert_eq!(files.adapter().target(), "ftp://u@h:21/base");
        assert_eq!(key, "dir/k");
        // The object opener is the FTP one: a URL naming the root itself is no object.
        assert!(files_core::registry::open_object("ftp://h/base?root=base").is_err());
    }
}
