//! The stores: the process-global table of named (and live anonymous) stores, and the objects
//! and upload sessions each holds.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::SystemTime;

use bytes::Bytes;
use files_core::{ObjectMeta, PutOptions};

pub(crate) struct Store {
    pub(crate) name: String,
    pub(crate) state: Mutex<State>,
}

#[derive(Default)]
pub(crate) struct State {
    pub(crate) objects: BTreeMap<String, Object>,
    pub(crate) sessions: HashMap<String, UploadSession>,
}

#[derive(Clone)]
pub(crate) struct Object {
    pub(crate) data: Bytes,
    pub(crate) content_type: Option<String>,
    pub(crate) cache_control: Option<String>,
    pub(crate) metadata: BTreeMap<String, String>,
    pub(crate) last_modified: SystemTime,
    pub(crate) etag: String,
}

pub(crate) struct UploadSession {
    pub(crate) key: String,
    pub(crate) parts: BTreeMap<u32, StoredPart>,
}

pub(crate) struct StoredPart {
    pub(crate) data: Bytes,
    pub(crate) crc32c: u32,
    pub(crate) etag: String,
}

/// A slot of the process-global store table: named stores are held for the life of the
/// process; anonymous ones only while an adapter holds them.
pub(crate) enum Slot {
    Named(Arc<Store>),
    Anonymous(Weak<Store>),
}

pub(crate) fn stores() -> MutexGuard<'static, HashMap<String, Slot>> {
    static STORES: OnceLock<Mutex<HashMap<String, Slot>>> = OnceLock::new();
    STORES
        .get_or_init(|| Mutex::new(HashMap::new()))
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

pub(crate) fn next_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

pub(crate) fn etag_of(data: &[u8]) -> String {
    format!("{:08x}", crc32c::crc32c(data))
}

impl Object {
    pub(crate) fn meta(&self, key: &str) -> ObjectMeta {
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

    pub(crate) fn new(data: Bytes, options: &PutOptions) -> Self {
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
