//! Scheduler edge cases that need a scripted provider: an abort racing session creation, a
//! panicking progress callback, a provider that refuses a part size, cancel while paused.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use files_core::*;
use futures::StreamExt;

/// A parts provider held in memory, with a slow `begin` and call counters.
#[derive(Debug, Default)]
struct Scripted {
    begin_delay_ms: u64,
    sessions: Mutex<BTreeMap<String, BTreeMap<u32, Bytes>>>,
    objects: Mutex<BTreeMap<String, Bytes>>,
    begins: AtomicU32,
    aborts: AtomicU32,
    puts: AtomicU32,
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
        let mut s = self.sessions.lock().unwrap();
        let parts = s
            .get_mut(&session.id)
            .ok_or_else(|| Error::new(ErrorKind::SessionExpired, "gone"))?;
        let size = part.data.len() as u64;
        parts.insert(part.number, part.data.clone());
        Ok(LandedPart {
            number: part.number,
            size,
            etag: None,
            crc32c: Some(crc32c::crc32c(&part.data)),
        })
    }
    async fn probe(&self, _spec: &UploadSpec, session: &Session) -> Result<Vec<LandedPart>> {
        let s = self.sessions.lock().unwrap();
        let parts = s
            .get(&session.id)
            .ok_or_else(|| Error::new(ErrorKind::SessionExpired, "gone"))?;
        Ok(parts
            .iter()
            .map(|(n, d)| LandedPart {
                number: *n,
                size: d.len() as u64,
                etag: None,
                crc32c: Some(crc32c::crc32c(d)),
            })
            .collect())
    }
    async fn complete(
        &self,
        spec: &UploadSpec,
        session: &Session,
        parts: &[LandedPart],
    ) -> Result<ObjectMeta> {
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
        Ok(ObjectMeta::new(spec.key.clone(), size))
    }
    async fn abort(&self, _spec: &UploadSpec, session: &Session) -> Result<()> {
        self.aborts.fetch_add(1, Ordering::SeqCst);
        self.sessions.lock().unwrap().remove(&session.id);
        Ok(())
    }
}

#[async_trait]
impl Adapter for Scripted {
    fn provider(&self) -> &'static str {
        "scripted"
    }
    fn target(&self) -> String {
        "scripted:1".into()
    }
    fn capabilities(&self) -> Capabilities {
        let mut c = Capabilities::minimal();
        c.resumable = Resumability::CrossProcess;
        c
    }
    fn upload_family(&self) -> UploadFamily<'_> {
        UploadFamily::Parts(self)
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

fn body(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 % 251) as u8).collect()
}

#[tokio::test]
async fn abort_while_the_session_is_being_created_discards_it() {
    let adapter = Arc::new(Scripted {
        begin_delay_ms: 200,
        ..Scripted::default()
    });
    let files = Files::from_arc(adapter.clone());
    let control = UploadControl::new();
    let task = tokio::spawn(
        files
            .upload("k", body(100))
            .part_size(16)
            .control(control.clone())
            .into_future(),
    );
    // Abort while begin() sleeps: the session it creates must still be discarded.
    tokio::time::sleep(Duration::from_millis(50)).await;
    control.abort();
    let err = task.await.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Aborted);
    assert_eq!(adapter.begins.load(Ordering::SeqCst), 1);
    assert_eq!(
        adapter.aborts.load(Ordering::SeqCst),
        1,
        "the new session was leaked"
    );
    assert!(adapter.sessions.lock().unwrap().is_empty());
    assert_eq!(control.status(), UploadStatus::Aborted);
    assert!(control.token().is_none());
}

#[tokio::test]
async fn a_panicking_progress_callback_changes_nothing() {
    let adapter = Arc::new(Scripted::default());
    let files = Files::from_arc(adapter.clone());
    let data = body(100);
    let out = files
        .upload("k", data.clone())
        .part_size(16)
        .control(UploadControl::new())
        .on_progress(|p| {
            if p.loaded > 0 {
                panic!("callback bug")
            }
        })
        .await
        .unwrap();
    assert_eq!(out.meta.size, 100);
    // 7 parts, each sent exactly once.
    assert_eq!(adapter.puts.load(Ordering::SeqCst), 7);
    assert_eq!(&adapter.objects.lock().unwrap()["k"][..], &data[..]);
}

#[tokio::test]
async fn part_sizes_the_provider_refuses_fail_before_any_call() {
    let adapter = Arc::new(Scripted::default());
    let files = Files::from_arc(adapter.clone());
    for bad in [0, 3, 2 << 20] {
        let err = files
            .upload("k", body(100))
            .part_size(bad)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{bad}: {err}");
    }
    // 1000 bytes in 4-byte parts is 250 parts; the provider allows 100.
    let err = files
        .upload("k", body(1000))
        .part_size(4)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("at most 100"), "{err}");
    assert_eq!(adapter.begins.load(Ordering::SeqCst), 0);
    assert_eq!(adapter.puts.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn cancel_while_paused_returns_and_keeps_the_session() {
    let adapter = Arc::new(Scripted::default());
    let files = Files::from_arc(adapter.clone());
    let control = UploadControl::new();
    let cancel = CancellationToken::new();
    let c2 = control.clone();
    let task = tokio::spawn(
        files
            .upload("k", body(100))
            .part_size(16)
            .concurrency(1)
            .control(control.clone())
            .cancellation(cancel.clone())
            .on_progress(move |p| {
                if p.loaded >= 16 {
                    c2.pause();
                }
            })
            .into_future(),
    );
    assert_eq!(control.settled().await, UploadStatus::Paused);
    cancel.cancel();
    let err = tokio::time::timeout(Duration::from_secs(60), task)
        .await
        .expect("cancel while paused must not hang")
        .unwrap()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled);
    assert_eq!(control.status(), UploadStatus::Error);
    assert_eq!(adapter.aborts.load(Ordering::SeqCst), 0);
    let token = control.token().expect("a resumable token");
    assert_eq!(adapter.sessions.lock().unwrap().len(), 1);

    // A new control from the token finishes it, sending only what is missing.
    let sent_before = adapter.puts.load(Ordering::SeqCst);
    let out = files
        .upload("k", body(100))
        .control(UploadControl::from_json(&token.to_json()).unwrap())
        .await
        .unwrap();
    assert!(out.resumed);
    assert_eq!(out.bytes_resumed + out.bytes_sent, 100);
    assert_eq!(
        adapter.puts.load(Ordering::SeqCst) - sent_before,
        out.parts_sent as u32
    );
    assert_eq!(&adapter.objects.lock().unwrap()["k"][..], &body(100)[..]);
}
