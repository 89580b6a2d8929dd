//! A scripted parts provider shared by the scheduler tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use files_core::*;
use futures::StreamExt;

/// A parts provider held in memory, with a slow `begin` and call counters.
#[derive(Debug, Default)]
pub struct Scripted {
    pub begin_delay_ms: u64,
    pub sessions: Mutex<BTreeMap<String, BTreeMap<u32, Bytes>>>,
    pub objects: Mutex<BTreeMap<String, Bytes>>,
    pub begins: AtomicU32,
    pub aborts: AtomicU32,
    pub puts: AtomicU32,
    /// Seeded fault injection: per-mille chance of each fault on each request.
    pub faults: Mutex<Option<(fastrand::Rng, u32)>>,
    pub injected: AtomicU32,
    /// Parts are tagged like S3's: the ETag is the quoted hex MD5, and no CRC32C is vouched for.
    pub md5_etags: bool,
    /// Parts are reported with neither a CRC32C nor an ETag (nothing vouches for their bytes).
    pub no_checksums: bool,
}

impl Scripted {
    /// Fails with a transient error with the configured chance.
    pub fn fault(&self) -> Result<()> {
        let mut f = self.faults.lock().unwrap();
        if let Some((rng, per_mille)) = f.as_mut()
            && rng.u32(0..1000) < *per_mille
        {
            self.injected.fetch_add(1, Ordering::SeqCst);
            return Err(Error::transient("injected fault"));
        }
        Ok(())
    }

    /// How a part is reported: by CRC32C, or (with `md5_etags`) by an MD5 ETag only.
    pub fn landed(&self, number: u32, data: &[u8]) -> LandedPart {
        use md5::Digest as _;
        let (etag, crc32c) = if self.no_checksums {
            (None, None)
        } else if self.md5_etags {
            let hex: String = md5::Md5::digest(data)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            (Some(format!("\"{hex}\"")), None)
        } else {
            (None, Some(crc32c::crc32c(data)))
        };
        LandedPart {
            number,
            size: data.len() as u64,
            etag,
            crc32c,
        }
    }
}

#[async_trait]
impl PartUpload for Scripted {
    fn rules(&self) -> PartRules {
        PartRules {
            min_part_size: 4,
            max_part_size: 1 << 20,
            alignment: 1,
            max_parts: 100,
            default_part_size: 16,
        }
    }
    fn resumability(&self) -> Resumability {
        Resumability::CrossProcess
    }
    async fn begin(&self, _spec: &UploadSpec) -> Result<Session> {
        tokio::time::sleep(Duration::from_millis(self.begin_delay_ms)).await;
        let n = self.begins.fetch_add(1, Ordering::SeqCst);
        let id = format!("s{n}");
        self.sessions
            .lock()
            .unwrap()
            .insert(id.clone(), BTreeMap::new());
        Ok(Session::new(id))
    }
    async fn put_part(
        &self,
        _spec: &UploadSpec,
        session: &Session,
        part: Part,
    ) -> Result<LandedPart> {
        self.puts.fetch_add(1, Ordering::SeqCst);
        self.fault()?;
        let mut s = self.sessions.lock().unwrap();
        let parts = s
            .get_mut(&session.id)
            .ok_or_else(|| Error::new(ErrorKind::SessionExpired, "gone"))?;
        let size = part.data.len() as u64;
        parts.insert(part.number, part.data.clone());
        drop(s);
        self.fault()?; // landed, but the answer was lost
        debug_assert_eq!(size, part.data.len() as u64);
        Ok(self.landed(part.number, &part.data))
    }
    async fn probe(&self, _spec: &UploadSpec, session: &Session) -> Result<Vec<LandedPart>> {
        let s = self.sessions.lock().unwrap();
        let parts = s
            .get(&session.id)
            .ok_or_else(|| Error::new(ErrorKind::SessionExpired, "gone"))?;
        Ok(parts.iter().map(|(n, d)| self.landed(*n, d)).collect())
    }
    async fn complete(
        &self,
        spec: &UploadSpec,
        session: &Session,
        parts: &[LandedPart],
    ) -> Result<ObjectMeta> {
        self.fault()?;
        let stored = self
            .sessions
            .lock()
            .unwrap()
            .remove(&session.id)
            .ok_or_else(|| Error::new(ErrorKind::SessionExpired, "gone"))?;
        let mut all = Vec::new();
        for p in parts {
            all.extend_from_slice(&stored[&p.number]);
        }
        let size = all.len() as u64;
        self.objects
            .lock()
            .unwrap()
            .insert(spec.key.clone(), Bytes::from(all));
        self.fault()?; // completed, but the answer was lost
        Ok(ObjectMeta::new(spec.key.clone(), size))
    }
    async fn abort(&self, _spec: &UploadSpec, session: &Session) -> Result<()> {
        self.aborts.fetch_add(1, Ordering::SeqCst);
        self.sessions.lock().unwrap().remove(&session.id);
        Ok(())
    }
    fn etags_are_md5(&self) -> bool {
        self.md5_etags
    }
}

/// Implements [`Adapter`] for a test provider `$ty` named `$name` whose uploads are of the
/// family `$family` (`Parts` or `Offset`), with its one-request puts kept in its `objects`.
macro_rules! test_adapter {
    ($ty:ty, $name:literal, $family:ident) => {
        #[async_trait]
        impl Adapter for $ty {
            fn provider(&self) -> &'static str {
                $name
            }
            fn target(&self) -> String {
                concat!($name, ":1").into()
            }
            fn capabilities(&self) -> Capabilities {
                let mut c = Capabilities::minimal();
                c.resumable = Resumability::CrossProcess;
                c
            }
            fn upload_family(&self) -> UploadFamily<'_> {
                UploadFamily::$family(self)
            }
            async fn put(
                &self,
                key: &str,
                body: ByteStream,
                _len: Option<u64>,
                _o: &PutOptions,
            ) -> Result<ObjectMeta> {
                let chunks: Vec<_> = body.collect().await;
                let mut all = Vec::new();
                for c in chunks {
                    all.extend_from_slice(&c?);
                }
                let size = all.len() as u64;
                self.objects
                    .lock()
                    .unwrap()
                    .insert(key.into(), Bytes::from(all));
                Ok(ObjectMeta::new(key, size))
            }
            async fn head(&self, key: &str) -> Result<ObjectMeta> {
                let o = self.objects.lock().unwrap();
                o.get(key)
                    .map(|b| ObjectMeta::new(key, b.len() as u64))
                    .ok_or_else(|| Error::not_found("absent"))
            }
            async fn get(&self, _key: &str, _range: Option<ByteRange>) -> Result<GetResponse> {
                Err(Error::not_supported("get"))
            }
            async fn delete(&self, _key: &str) -> Result<()> {
                Ok(())
            }
            async fn list(&self, _r: &ListRequest) -> Result<ListPage> {
                Ok(ListPage::default())
            }
        }
    };
}

test_adapter!(Scripted, "scripted", Parts);

/// An offset-family provider whose appends take a while (300 ms), logging when each starts
/// and ends and when the session is cancelled.
#[derive(Debug, Default)]
pub struct SlowAppends {
    events: Mutex<Vec<&'static str>>,
    held: Mutex<u64>,
    objects: Mutex<BTreeMap<String, Bytes>>,
}

impl SlowAppends {
    fn log(&self, e: &'static str) {
        self.events.lock().unwrap().push(e);
    }

    /// What happened so far, in order.
    pub fn events(&self) -> Vec<&'static str> {
        self.events.lock().unwrap().clone()
    }
}

#[async_trait]
impl OffsetUpload for SlowAppends {
    fn rules(&self) -> PartRules {
        PartRules::unconstrained()
    }
    fn resumability(&self) -> Resumability {
        Resumability::CrossProcess
    }
    async fn begin(&self, _spec: &UploadSpec) -> Result<Session> {
        *self.held.lock().unwrap() = 0;
        Ok(Session::default())
    }
    async fn probe(&self, _spec: &UploadSpec, _session: &Session) -> Result<OffsetState> {
        Ok(OffsetState::Offset(*self.held.lock().unwrap()))
    }
    async fn append(
        &self,
        _spec: &UploadSpec,
        _session: &Session,
        offset: u64,
        data: Bytes,
        _last: bool,
    ) -> Result<OffsetState> {
        self.log("append-start");
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut held = self.held.lock().unwrap();
        *held = offset + data.len() as u64;
        self.log("append-end");
        Ok(OffsetState::Offset(*held))
    }
    async fn finish(&self, spec: &UploadSpec, _session: &Session) -> Result<ObjectMeta> {
        Ok(ObjectMeta::new(spec.key.clone(), spec.total))
    }
    async fn cancel(&self, _spec: &UploadSpec, _session: &Session) -> Result<()> {
        self.log("cancel");
        Ok(())
    }
}

test_adapter!(SlowAppends, "slow-appends", Offset);
