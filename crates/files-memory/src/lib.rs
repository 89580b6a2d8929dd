//! # files-memory
//!
//! An in-memory store for the `files` storage SDK: objects live in the process's memory, with
//! the semantics of a real object store (content type, cache control, user metadata, entity
//! tags, byte ranges, delimiter listings with cursors, server-side copy, rename) and a
//! numbered-parts upload family, so that tests and examples exercise the same code paths a
//! cloud provider does.
//!
//! * [`MemoryAdapter::new`] makes a fresh anonymous store.
//! * [`MemoryAdapter::named`] opens the process-global store of that name: every adapter built
//!   with the same name, by any client in the process, sees the same objects and the same
//!   upload sessions. Named stores live until the process exits.
//! * The URL scheme is `memory`: `memory://name` is the store `name` (`memory:///` is the store
//!   `default`), `memory://name/some/key` an object in it.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> files_core::Result<()> {
//! use files_core::{Body, Files};
//! use files_memory::MemoryAdapter;
//!
//! let files = Files::new(MemoryAdapter::named("docs-example"));
//! files.upload("greeting.txt", Body::from("hello")).await?;
//! let again = Files::new(MemoryAdapter::named("docs-example")); // same store
//! assert_eq!(&again.download("greeting.txt").await?.bytes().await?[..], b"hello");
//! # Ok(()) }
//! ```
//!
//! ## Limits
//!
//! * **Resumable in-process only** ([`Resumability::InProcess`]). Uploads can be paused,
//!   resumed and aborted with an [`UploadControl`](files_core::UploadControl), and a token from
//!   [`UploadControl::token`](files_core::UploadControl::token) can be resumed by another
//!   client (over `MemoryAdapter::named(same name)`) *in the same process*. The store vanishes
//!   with the process, so a token is stamped with the id of the process that made it and is
//!   refused elsewhere with [`ErrorKind::NotSupported`] ("not supported across processes"), and
//!   `checkpoint(...)` files are refused with [`ErrorKind::NotSupported`] before anything runs.
//! * No presigned or public URLs.
//! * Everything is held in memory: an object, or an upload session's parts, costs its size in
//!   RAM until it is deleted (or completed / aborted).
//! * Upload sessions never expire on their own; a call on a session that was completed or
//!   aborted fails with [`ErrorKind::SessionExpired`].
#![deny(missing_docs)]

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use files_core::adapter::validate_key_default;
use files_core::{
    Adapter, ByteRange, ByteStream, Capabilities, Error, ErrorKind, GetResponse, LandedPart,
    ListPage, ListRequest, ObjectMeta, Part, PartRules, PartUpload, PutOptions, Result,
    Resumability, Session, UploadFamily, UploadSpec,
};
use futures::StreamExt;

/// Size of the chunks a download stream yields.
const CHUNK: usize = 64 * 1024;
/// Most entries a listing page holds (and the default page size).
const MAX_PAGE: usize = 1000;

/// The store's provider name.
pub const PROVIDER: &str = "memory";

/// An adapter over an in-memory store. Cheap to clone; clones share the store.
///
/// See the [crate docs](crate) for what it does and its limits.
#[derive(Clone)]
pub struct MemoryAdapter {
    store: Arc<Store>,
}

struct Store {
    name: String,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    objects: BTreeMap<String, Object>,
    sessions: HashMap<String, UploadSession>,
}

#[derive(Clone)]
struct Object {
    data: Bytes,
    content_type: Option<String>,
    cache_control: Option<String>,
    metadata: BTreeMap<String, String>,
    last_modified: SystemTime,
    etag: String,
}

struct UploadSession {
    key: String,
    parts: BTreeMap<u32, StoredPart>,
}

struct StoredPart {
    data: Bytes,
    crc32c: u32,
    etag: String,
}

/// A slot of the process-global store table: named stores are held for the life of the
/// process; anonymous ones only while an adapter holds them.
enum Slot {
    Named(Arc<Store>),
    Anonymous(Weak<Store>),
}

fn stores() -> MutexGuard<'static, HashMap<String, Slot>> {
    static STORES: OnceLock<Mutex<HashMap<String, Slot>>> = OnceLock::new();
    STORES
        .get_or_init(|| Mutex::new(HashMap::new()))
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

fn next_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

fn etag_of(data: &[u8]) -> String {
    format!("{:08x}", crc32c::crc32c(data))
}

impl Default for MemoryAdapter {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryAdapter {
    /// A fresh, empty, anonymous store with a generated unique name (`anonymous-<n>`). It lives
    /// as long as an adapter (or clone) holds it; while it does,
    /// [`MemoryAdapter::named`] with its [`name`](Self::name) opens it too.
    pub fn new() -> Self {
        let mut table = stores();
        table.retain(|_, slot| match slot {
            Slot::Named(_) => true,
            Slot::Anonymous(w) => w.strong_count() > 0,
        });
        let name = loop {
            let candidate = format!("anonymous-{}", next_id());
            if !table.contains_key(&candidate) {
                break candidate;
            }
        };
        let store = Arc::new(Store {
            name: name.clone(),
            state: Mutex::new(State::default()),
        });
        table.insert(name, Slot::Anonymous(Arc::downgrade(&store)));
        MemoryAdapter { store }
    }

    /// The process-global store called `name`, created empty on first use; every adapter
    /// built with the same name shares its objects and upload sessions. An empty name means
    /// `default`. Named stores are kept until the process exits.
    pub fn named(name: impl Into<String>) -> Self {
        let mut name = name.into();
        if name.is_empty() {
            name = "default".to_string();
        }
        let mut table = stores();
        if let Some(slot) = table.get(&name) {
            match slot {
                Slot::Named(store) => {
                    return MemoryAdapter {
                        store: store.clone(),
                    };
                }
                Slot::Anonymous(w) => {
                    if let Some(store) = w.upgrade() {
                        return MemoryAdapter { store };
                    }
                }
            }
        }
        let store = Arc::new(Store {
            name: name.clone(),
            state: Mutex::new(State::default()),
        });
        table.insert(name, Slot::Named(store.clone()));
        MemoryAdapter { store }
    }

    /// The store's name (as in `memory://<name>`).
    pub fn name(&self) -> &str {
        &self.store.name
    }

    /// Number of upload sessions currently open in the store (begun, neither completed nor
    /// aborted). Useful in tests to check that nothing leaked.
    pub fn open_sessions(&self) -> usize {
        self.state().sessions.len()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.store.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl fmt::Debug for MemoryAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryAdapter")
            .field("name", &self.store.name)
            .finish()
    }
}

impl Object {
    fn meta(&self, key: &str) -> ObjectMeta {
        ObjectMeta {
            key: key.to_string(),
            size: self.data.len() as u64,
            last_modified: Some(self.last_modified),
            etag: Some(self.etag.clone()),
            content_type: self.content_type.clone(),
            cache_control: self.cache_control.clone(),
            metadata: self.metadata.clone(),
        }
    }

    fn new(data: Bytes, options: &PutOptions) -> Self {
        Object {
            etag: etag_of(&data),
            data,
            content_type: options.content_type.clone(),
            cache_control: options.cache_control.clone(),
            metadata: options.metadata.clone(),
            last_modified: SystemTime::now(),
        }
    }
}

fn not_found(key: &str) -> Error {
    Error::not_found(format!("no object at key `{key}`"))
}

fn session_expired(session: &Session) -> Error {
    Error::new(
        ErrorKind::SessionExpired,
        format!(
            "upload session `{}` does not exist in this memory store (completed, aborted, or begun in another store or process)",
            session.display_id()
        ),
    )
}

/// One page of `objects` for `req`: keys in order, common prefixes folded when a delimiter is
/// given, resuming strictly after the cursor (the last entry of the previous page).
fn list_page(objects: &BTreeMap<String, Object>, req: &ListRequest) -> ListPage {
    let limit = req.limit.unwrap_or(MAX_PAGE).clamp(1, MAX_PAGE);
    let prefix = req.prefix.as_str();
    let delimiter = req.delimiter.as_deref().filter(|d| !d.is_empty());
    let cursor = req.cursor.as_deref();
    let start = match cursor {
        Some(c) if c >= prefix => Bound::Excluded(c),
        _ => Bound::Included(prefix),
    };
    let mut page = ListPage::default();
    let mut taken = 0usize;
    let mut last: Option<String> = None;
    for (key, object) in objects.range::<str, _>((start, Bound::Unbounded)) {
        if !key.starts_with(prefix) {
            break;
        }
        let common = delimiter.and_then(|d| {
            key[prefix.len()..]
                .find(d)
                .map(|i| &key[..prefix.len() + i + d.len()])
        });
        let name = common.unwrap_or(key);
        if cursor.is_some_and(|c| name <= c) || last.as_deref() == Some(name) {
            continue;
        }
        if taken == limit {
            page.cursor = last;
            return page;
        }
        taken += 1;
        match common {
            Some(p) => page.prefixes.push(p.to_string()),
            None => page.objects.push(object.meta(key)),
        }
        last = Some(name.to_string());
    }
    page
}

#[async_trait]
impl Adapter for MemoryAdapter {
    fn provider(&self) -> &'static str {
        PROVIDER
    }

    fn target(&self) -> String {
        format!("memory:{}", self.store.name)
    }

    fn capabilities(&self) -> Capabilities {
        let mut c = Capabilities::minimal();
        c.range_read = true;
        c.content_type = true;
        c.metadata = true;
        c.cache_control = true;
        c.server_side_copy = true;
        c.native_rename = true;
        c.list_delimiter = true;
        c.presign_get = false;
        c.presign_put = false;
        c.public_url = false;
        c.resumable = Resumability::InProcess;
        c
    }

    fn check_session(&self, session: &Session) -> Result<()> {
        let ok = session
            .id
            .strip_prefix("mem-")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        if ok && !session.sensitive {
            Ok(())
        } else {
            Err(Error::token_invalid(
                "the session is not a memory upload session (`mem-<n>`)",
            ))
        }
    }

    fn upload_family(&self) -> UploadFamily<'_> {
        UploadFamily::Parts(self)
    }

    async fn put(
        &self,
        key: &str,
        mut body: ByteStream,
        len: Option<u64>,
        options: &PutOptions,
    ) -> Result<ObjectMeta> {
        validate_key_default(key)?;
        let mut buf = BytesMut::with_capacity(len.unwrap_or(0).min(64 << 20) as usize);
        while let Some(chunk) = body.next().await {
            buf.extend_from_slice(&chunk?);
        }
        if let Some(len) = len
            && len != buf.len() as u64
        {
            return Err(Error::invalid_input(format!(
                "the body was announced as {len} bytes but {} arrived",
                buf.len()
            )));
        }
        let object = Object::new(buf.freeze(), options);
        let meta = object.meta(key);
        self.state().objects.insert(key.to_string(), object);
        Ok(meta)
    }

    async fn head(&self, key: &str) -> Result<ObjectMeta> {
        self.state()
            .objects
            .get(key)
            .map(|o| o.meta(key))
            .ok_or_else(|| not_found(key))
    }

    async fn get(&self, key: &str, range: Option<ByteRange>) -> Result<GetResponse> {
        let object = self
            .state()
            .objects
            .get(key)
            .cloned()
            .ok_or_else(|| not_found(key))?;
        let size = object.data.len() as u64;
        let range = match range {
            Some(r) => r.resolve(size)?,
            None => 0..size,
        };
        let data = object.data.slice(range.start as usize..range.end as usize);
        let chunks = (0..data.len())
            .step_by(CHUNK)
            .map(move |off| Ok(data.slice(off..(off + CHUNK).min(data.len()))))
            .collect::<Vec<Result<Bytes>>>();
        Ok(GetResponse {
            meta: object.meta(key),
            range,
            stream: futures::stream::iter(chunks).boxed(),
        })
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.state().objects.remove(key);
        Ok(())
    }

    async fn list(&self, request: &ListRequest) -> Result<ListPage> {
        Ok(list_page(&self.state().objects, request))
    }

    async fn copy(&self, from: &str, to: &str) -> Result<ObjectMeta> {
        validate_key_default(to)?;
        let mut state = self.state();
        let mut object = state
            .objects
            .get(from)
            .cloned()
            .ok_or_else(|| not_found(from))?;
        object.last_modified = SystemTime::now();
        let meta = object.meta(to);
        state.objects.insert(to.to_string(), object);
        Ok(meta)
    }

    async fn rename(&self, from: &str, to: &str) -> Result<()> {
        validate_key_default(to)?;
        let mut state = self.state();
        let object = state.objects.remove(from).ok_or_else(|| not_found(from))?;
        state.objects.insert(to.to_string(), object);
        Ok(())
    }
}

#[async_trait]
impl PartUpload for MemoryAdapter {
    fn rules(&self) -> PartRules {
        PartRules {
            min_part_size: 1,
            max_part_size: 5 * files_core::GIB,
            alignment: 1,
            max_parts: 10_000,
            default_part_size: 8 * files_core::MIB,
        }
    }

    fn resumability(&self) -> Resumability {
        Resumability::InProcess
    }

    async fn begin(&self, spec: &UploadSpec) -> Result<Session> {
        validate_key_default(&spec.key)?;
        let id = format!("mem-{}", next_id());
        self.state().sessions.insert(
            id.clone(),
            UploadSession {
                key: spec.key.clone(),
                parts: BTreeMap::new(),
            },
        );
        Ok(Session::new(id))
    }

    async fn put_part(
        &self,
        spec: &UploadSpec,
        session: &Session,
        part: Part,
    ) -> Result<LandedPart> {
        let rules = PartUpload::rules(self);
        if part.number == 0 || u64::from(part.number) > rules.max_parts {
            return Err(Error::invalid_input(format!(
                "part number {} is outside 1..={}",
                part.number, rules.max_parts
            )));
        }
        let size = part.data.len() as u64;
        if size > rules.max_part_size {
            return Err(Error::invalid_input(format!(
                "part {} is {size} bytes; at most {} are allowed",
                part.number, rules.max_part_size
            )));
        }
        let mut state = self.state();
        let upload = state
            .sessions
            .get_mut(&session.id)
            .filter(|s| s.key == spec.key)
            .ok_or_else(|| session_expired(session))?;
        // The store computes the checksum of what it holds, and vouches for that.
        let crc = crc32c::crc32c(&part.data);
        let etag = format!("{crc:08x}");
        upload.parts.insert(
            part.number,
            StoredPart {
                data: part.data,
                crc32c: crc,
                etag: etag.clone(),
            },
        );
        Ok(LandedPart {
            number: part.number,
            size,
            etag: Some(etag),
            crc32c: Some(crc),
        })
    }

    async fn probe(&self, spec: &UploadSpec, session: &Session) -> Result<Vec<LandedPart>> {
        let state = self.state();
        let upload = state
            .sessions
            .get(&session.id)
            .filter(|s| s.key == spec.key)
            .ok_or_else(|| session_expired(session))?;
        Ok(upload
            .parts
            .iter()
            .map(|(&number, p)| LandedPart {
                number,
                size: p.data.len() as u64,
                etag: Some(p.etag.clone()),
                crc32c: Some(p.crc32c),
            })
            .collect())
    }

    async fn complete(
        &self,
        spec: &UploadSpec,
        session: &Session,
        parts: &[LandedPart],
    ) -> Result<ObjectMeta> {
        let mut state = self.state();
        let upload = state
            .sessions
            .get(&session.id)
            .filter(|s| s.key == spec.key)
            .ok_or_else(|| session_expired(session))?;
        if parts.is_empty() {
            return Err(Error::invalid_input(
                "completing an upload needs at least one part",
            ));
        }
        let mut previous = 0u32;
        let mut total = 0usize;
        for p in parts {
            if p.number <= previous {
                return Err(Error::invalid_input(format!(
                    "part {} is listed out of order (after part {previous}); parts must be in increasing order",
                    p.number
                )));
            }
            previous = p.number;
            let stored = upload.parts.get(&p.number).ok_or_else(|| {
                Error::invalid_input(format!(
                    "part {} was never uploaded in this session",
                    p.number
                ))
            })?;
            if p.etag.as_ref().is_some_and(|e| *e != stored.etag)
                || p.size != stored.data.len() as u64
            {
                return Err(Error::invalid_input(format!(
                    "part {} does not match the part the store holds (size or etag differ)",
                    p.number
                )));
            }
            total += stored.data.len();
        }
        let mut data = BytesMut::with_capacity(total);
        for p in parts {
            data.extend_from_slice(&upload.parts[&p.number].data);
        }
        let object = Object::new(data.freeze(), &spec.options);
        let meta = object.meta(&spec.key);
        state.sessions.remove(&session.id);
        state.objects.insert(spec.key.clone(), object);
        Ok(meta)
    }

    async fn abort(&self, _spec: &UploadSpec, session: &Session) -> Result<()> {
        self.state().sessions.remove(&session.id);
        Ok(())
    }
}

// ------------------------------------------------------------------------------ registration

fn store_name(url: &url::Url) -> Result<String> {
    let host = files_core::registry::percent_decode(url.host_str().unwrap_or(""))?;
    Ok(if host.is_empty() {
        "default".to_string()
    } else {
        host
    })
}

fn open_store(url: &url::Url) -> Result<Arc<dyn Adapter>> {
    Ok(Arc::new(MemoryAdapter::named(store_name(url)?)))
}

fn open_object(url: &url::Url) -> Result<(Arc<dyn Adapter>, String)> {
    let key = files_core::registry::url_key(url)?;
    if key.is_empty() {
        return Err(Error::invalid_input(
            "the memory URL names no object (expected memory://store/key)",
        ));
    }
    validate_key_default(&key)?;
    Ok((Arc::new(MemoryAdapter::named(store_name(url)?)), key))
}

/// The factory of the `memory` scheme: `memory://name` opens [`MemoryAdapter::named`]`(name)`
/// (an empty host is the store `default`); `memory://name/a/b` is the object `a/b` in it.
pub const FACTORY: files_core::AdapterFactory = files_core::AdapterFactory {
    scheme: "memory",
    provider: PROVIDER,
    store: open_store,
    object: open_object,
};

files_core::inventory::submit!(FACTORY);

/// Registers this adapter explicitly (fallback for builds where the linker dropped it).
pub fn register() {
    static F: files_core::AdapterFactory = FACTORY;
    files_core::registry::register(&F);
}
