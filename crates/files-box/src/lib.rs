//! The Box adapter of the `files` storage SDK: `box://FOLDER_ID/path/key`.
//!
//! # URLs and keys
//!
//! `box://0/reports/q1.pdf` names the file `q1.pdf` in the folder `reports` of the root folder
//! (`0`, "All Files"); any folder id can be the root of the keys (`box://123456/...`). Box
//! addresses items by id, so every call walks the folder items from that root to find the ids
//! of a key's folders and file (nothing is cached across calls: a cache would go stale as soon
//! as another client moves an item). Uploads create missing parent folders. Folders are the
//! prefixes of `list` (recursive walks; an empty folder is no prefix). `?endpoint=URL` points
//! the API, the upload API and the token endpoint at one base (a fake or a proxy).
//!
//! **Duplicate names**: Box forbids two items of one name in a folder (`409
//! item_name_in_use`). An upload to an existing key stores a new version of that file (the
//! object is replaced, its id kept). `copy` and `rename` onto an existing key delete that file
//! first (two calls: not atomic). A key whose folder segment names a file is a conflict.
//!
//! # Credentials
//!
//! `BOX_ACCESS_TOKEN` (a fixed token), or the client-credentials grant of a Box app
//! (`BOX_CLIENT_ID`, `BOX_CLIENT_SECRET`, `BOX_ENTERPRISE_ID`: `grant_type=client_credentials`
//! with `box_subject_type=enterprise`), refreshed before expiry by `files-http`'s
//! `TokenSource`. `BOX_ENDPOINT` overrides the endpoint, `BOX_TOKEN_URL` the token endpoint.
//! No credential appears in `Debug`, an error or a resume token.
//!
//! # Uploads
//!
//! A body of at most one part goes in one request (`POST /files/content`, or
//! `/files/{id}/content` for a new version; a `multipart/form-data` body). Larger bodies use a
//! chunked upload session (the parts family). Box **chooses** the session's `part_size`; the
//! core cuts parts before the session exists, so the rules ask for multiples of 8 MiB (the
//! builder's `part_unit`) with 32 MiB by default, and each part the core hands over is sent as
//! `part_size / box_part_size` Box parts. A part size that is not a multiple of the size Box
//! chose is refused at `begin` (the session is deleted) with a message naming the size to use.
//! Box refuses sessions below 20 MB: such a body is sent in one request (without
//! `control`/`checkpoint`) or refused.
//!
//! The commit needs the SHA-1 of the whole file, and the core gives `complete` no access to
//! the body. So the adapter hashes the body as parts pass through `put_part`, in order (parts
//! that arrive early wait in memory for the gap before them), and keeps the SHA-1 state of the
//! hashed prefix in a small file (`BOX_STATE_DIR`, default `files-box` in the temporary
//! directory; one file per upload, named by a hash of the store, session, key and length,
//! removed on commit or abort; it holds a SHA-1 midstate and a length, no byte of the body).
//! A resume in a new process on the same machine reads it: `probe` lists the session's parts
//! (the truth) and reports as landed those inside the hashed prefix. Parts Box holds beyond it
//! (landed after the last state write, or on another machine without the file) are not
//! reported: the core hands them to `put_part` again, which reads them from the body, compares
//! their SHA-1 with the one Box lists and **skips the request** when they match. Either way
//! only missing parts go over the wire. A part Box already holds (`416 range_overlaps_existing_part` after a lost
//! answer) counts as landed when its offset, size and SHA-1 match; other bytes there are
//! `body_changed`. A commit answered `202 Accepted` is retried after its `Retry-After`, a
//! bounded number of times. Sessions live 7 days; a gone one is `session_expired`.
//!
//! A stream of unknown length (no `Content-Length`) longer than one part is held in memory
//! until its end (Box needs the file size to open a session), then sent as above.
//!
//! With `control` or `checkpoint`, a body below 20 MB must fit in one part (the default part
//! size, 32 MiB, does): Box opens no session for it and the core falls back to one request
//! only without them.
//!
//! Presigned URLs are not supported (Box has no anonymous download URL but shared links).
#![deny(missing_docs)]

mod adapter;
mod api;
mod config;
mod upload;

pub use adapter::BoxAdapter;
pub use config::BoxBuilder;

/// The fixed access token variable.
pub const ACCESS_TOKEN_ENV: &str = "BOX_ACCESS_TOKEN";
/// The client id of the client-credentials grant.
pub const CLIENT_ID_ENV: &str = "BOX_CLIENT_ID";
/// The client secret of the client-credentials grant.
pub const CLIENT_SECRET_ENV: &str = "BOX_CLIENT_SECRET";
/// The enterprise id of the client-credentials grant (`box_subject_id`).
pub const ENTERPRISE_ID_ENV: &str = "BOX_ENTERPRISE_ID";
/// One base URL for the API, uploads and tokens (a fake or a proxy).
pub const ENDPOINT_ENV: &str = "BOX_ENDPOINT";
/// The token endpoint.
pub const TOKEN_URL_ENV: &str = "BOX_TOKEN_URL";
/// The directory of the sessions' SHA-1 states (see [`BoxBuilder::state_dir`]).
pub const STATE_DIR_ENV: &str = "BOX_STATE_DIR";
/// Box's API base.
pub const API_BASE: &str = "https://api.box.com/2.0";
/// Box's upload API base.
pub const UPLOAD_BASE: &str = "https://upload.box.com/api/2.0";
/// Box's token endpoint.
pub const TOKEN_URL: &str = "https://api.box.com/oauth2/token";
/// The smallest file Box takes in an upload session.
pub const MIN_SESSION_SIZE: u64 = 20_000_000;

/// The factory of the `box` scheme: `box://FOLDER_ID/key` (`?endpoint=URL`).
pub const FACTORY: files_core::AdapterFactory =
    files_core::AdapterFactory::of::<BoxAdapter>("box", "box");

files_core::register_factories!(FACTORY);
