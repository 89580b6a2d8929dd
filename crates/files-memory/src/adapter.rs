//! The adapter: everyday operations on a store's objects.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use files_core::adapter::validate_key_default;
use files_core::{
    Adapter, ByteRange, ByteStream, Capabilities, Error, GetResponse, ListPage, ListRequest,
    ObjectMeta, PutOptions, Result, Resumability, Session, UploadFamily,
};
use futures::StreamExt;

use crate::PROVIDER;
use crate::errors::not_found;
use crate::store::{Object, Slot, State, Store, next_id, stores};

/// Size of the chunks a download stream yields.
const CHUNK: usize = 64 * 1024;
/// Most entries a listing page holds (and the default page size).
const MAX_PAGE: usize = 1000;
/// An adapter over an in-memory store. Cheap to clone; clones share the store.
///
/// See the [crate docs](crate) for what it does and its limits.
#[derive(Clone)]
pub struct MemoryAdapter {
    pub(crate) store: Arc<Store>,
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

    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
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
