//! The test kit checked against tiny adapters: the conformance suite fails an adapter whose
//! declared resumability its upload family cannot back, and the fault wrapper's lost rename
//! answer is resolved by the client.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use files_core::{
    Adapter, ByteRange, ByteStream, Bytes, Capabilities, Error, ErrorKind, Files, GetResponse,
    ListPage, ListRequest, ObjectMeta, PutOptions, Result, Resumability, RetryPolicy,
};
use files_testkit::util::FnFixture;
use files_testkit::{FaultConfig, FaultyAdapter, conformance};
use futures::{FutureExt, StreamExt};

/// A one-shot store in memory (only `put`, no upload family) that declares `declared` as its
/// resumability, with a native rename.
#[derive(Debug, Clone)]
struct Tiny {
    declared: Resumability,
    objects: Arc<Mutex<BTreeMap<String, Bytes>>>,
}

impl Tiny {
    fn new(declared: Resumability) -> Self {
        Tiny {
            declared,
            objects: Arc::default(),
        }
    }
}

#[async_trait]
impl Adapter for Tiny {
    fn provider(&self) -> &'static str {
        "tiny"
    }
    fn target(&self) -> String {
        "tiny:1".into()
    }
    fn capabilities(&self) -> Capabilities {
        let mut c = Capabilities::minimal();
        c.native_rename = true;
        c.resumable = self.declared;
        c
    }
    async fn put(
        &self,
        key: &str,
        body: ByteStream,
        _len: Option<u64>,
        _options: &PutOptions,
    ) -> Result<ObjectMeta> {
        let chunks: Vec<Result<Bytes>> = body.collect().await;
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
    async fn get(&self, key: &str, _range: Option<ByteRange>) -> Result<GetResponse> {
        let data = self
            .objects
            .lock()
            .unwrap()
            .get(key)
            .cloned()
            .ok_or_else(|| Error::not_found("absent"))?;
        let len = data.len() as u64;
        Ok(GetResponse {
            meta: ObjectMeta::new(key, len),
            range: 0..len,
            stream: futures::stream::once(async move { Ok(data) }).boxed(),
        })
    }
    async fn delete(&self, key: &str) -> Result<()> {
        self.objects.lock().unwrap().remove(key);
        Ok(())
    }
    async fn list(&self, request: &ListRequest) -> Result<ListPage> {
        let o = self.objects.lock().unwrap();
        Ok(ListPage {
            objects: o
                .iter()
                .filter(|(k, _)| k.starts_with(&request.prefix))
                .map(|(k, v)| ObjectMeta::new(k.clone(), v.len() as u64))
                .collect(),
            ..ListPage::default()
        })
    }
    async fn rename(&self, from: &str, to: &str) -> Result<()> {
        let mut o = self.objects.lock().unwrap();
        let data = o
            .remove(from)
            .ok_or_else(|| Error::not_found("no such source"))?;
        o.insert(to.into(), data);
        Ok(())
    }
}

fn fixture(declared: Resumability) -> FnFixture {
    let store = Tiny::new(declared);
    FnFixture::new("tiny", move || Files::new(store.clone()))
}

/// The message of the panic `fut` ends with; `None` if it completes.
async fn panic_of(fut: impl std::future::Future<Output = ()>) -> Option<String> {
    let panic = AssertUnwindSafe(fut).catch_unwind().await.err()?;
    Some(if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else {
        "(non-string panic)".into()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_shot_adapter_that_declares_resumable_uploads_fails_the_suite() {
    for declared in [Resumability::CrossProcess, Resumability::InProcess] {
        let f = fixture(declared);
        // The resumable checks, which used to skip everything for a one-shot family, and the
        // capability gates, which used to find nothing wrong.
        for (name, msg) in [
            (
                "abort_cleans_session",
                panic_of(conformance::abort_cleans_session(&f)).await,
            ),
            (
                "pause_resume",
                panic_of(conformance::pause_resume(&f)).await,
            ),
            (
                "checkpoint_file",
                panic_of(conformance::checkpoint_file(&f)).await,
            ),
            (
                "capability_gates",
                panic_of(conformance::capability_gates(&f)).await,
            ),
        ] {
            let msg = msg.unwrap_or_else(|| {
                panic!("{name} passed an adapter declaring {declared:?} with a one-shot family")
            });
            assert!(
                msg.contains("declares resumable uploads") && msg.contains("one-shot"),
                "{name}: unclear message: {msg}"
            );
        }
        let all = panic_of(conformance::run_all(&f))
            .await
            .expect("run_all fails such an adapter");
        assert!(
            all.contains(&format!(
                "{} of {} conformance checks failed",
                conformance::CHECKS.len(),
                conformance::CHECKS.len()
            )),
            "{all}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_shot_adapter_that_says_so_passes_the_gates() {
    let f = fixture(Resumability::None);
    for (name, msg) in [
        (
            "capability_gates",
            panic_of(conformance::capability_gates(&f)).await,
        ),
        (
            "abort_cleans_session",
            panic_of(conformance::abort_cleans_session(&f)).await,
        ),
        (
            "checkpoint_file",
            panic_of(conformance::checkpoint_file(&f)).await,
        ),
    ] {
        assert_eq!(msg, None, "{name} failed a consistent one-shot adapter");
    }
}

#[tokio::test]
async fn a_lost_rename_answer_is_not_reported_as_not_found() {
    let inner = Tiny::new(Resumability::None);
    inner
        .objects
        .lock()
        .unwrap()
        .insert("a".into(), Bytes::from_static(b"0123456789"));
    let faulty = Arc::new(FaultyAdapter::new(
        Arc::new(inner.clone()),
        FaultConfig {
            lost_rename: 1.0,
            ..FaultConfig::none()
        },
    ));
    let files = Files::from_arc(faulty.clone()).with_retry(RetryPolicy {
        max_retries: 3,
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(2),
        deadline: Duration::from_secs(10),
    });
    files
        .rename("a", "b")
        .await
        .expect("the rename landed; its lost answer must not become not_found");
    assert_eq!(faulty.counts().injected_lost_rename, 1);
    let held = inner.objects.lock().unwrap().clone();
    assert!(!held.contains_key("a"));
    assert_eq!(held["b"], Bytes::from_static(b"0123456789"));

    // A source that never existed is still not found.
    let err = files.rename("nope", "c").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
}
