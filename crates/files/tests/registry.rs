//! The umbrella crate registers every enabled adapter's URL scheme.

use files::{Body, ErrorKind, Files, registry};

#[test]
fn enabled_schemes_are_registered_by_inventory() {
    // What linking the adapter crates submitted to `inventory` (explicit registrations, which
    // another test makes, are not in this list).
    let submitted: Vec<&str> = files::inventory::iter::<files::AdapterFactory>
        .into_iter()
        .map(|f| f.scheme)
        .collect();
    #[cfg(feature = "fs")]
    assert!(submitted.contains(&"file"), "{submitted:?}");
    #[cfg(feature = "memory")]
    assert!(submitted.contains(&"memory"), "{submitted:?}");
    #[cfg(feature = "s3")]
    for s in ["s3", "r2", "oss", "minio"] {
        assert!(submitted.contains(&s), "{s} missing from {submitted:?}");
    }
    #[cfg(not(feature = "s3"))]
    assert!(!submitted.contains(&"s3"), "{submitted:?}");
    let schemes = registry::schemes();
    for s in &submitted {
        assert!(schemes.contains(s), "{s} missing from {schemes:?}");
    }
    #[cfg(feature = "fs")]
    assert!(schemes.contains(&"file"), "{schemes:?}");
    #[cfg(feature = "memory")]
    assert!(schemes.contains(&"memory"), "{schemes:?}");
    #[cfg(not(feature = "fs"))]
    assert!(!schemes.contains(&"file"), "{schemes:?}");
    #[cfg(not(feature = "memory"))]
    assert!(!schemes.contains(&"memory"), "{schemes:?}");
}

#[cfg(feature = "memory")]
#[tokio::test]
async fn from_url_opens_memory_stores() {
    let files = Files::from_url("memory://umbrella-registry").unwrap();
    assert_eq!(files.adapter().provider(), "memory");
    assert_eq!(files.adapter().target(), "memory:umbrella-registry");
    let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 256) as u8).collect();
    files
        .upload("dir/obj", Body::from_bytes(data.clone()))
        .await
        .unwrap();
    // Another client for the same URL sees the same store.
    let (again, key) = registry::open_object("memory://umbrella-registry/dir/obj").unwrap();
    assert_eq!(key, "dir/obj");
    let got = again.download(&key).await.unwrap().bytes().await.unwrap();
    assert_eq!(got, data);
    // The re-exported adapter is the same type the scheme builds.
    let direct = Files::new(files::memory::MemoryAdapter::named("umbrella-registry"));
    assert!(direct.exists("dir/obj").await.unwrap());
}

#[cfg(feature = "fs")]
#[tokio::test]
async fn from_url_opens_fs_stores() {
    let dir = tempfile::tempdir().unwrap();
    let files = Files::from_url(&format!("file://{}", dir.path().display())).unwrap();
    assert_eq!(files.adapter().provider(), "fs");
    let data: Vec<u8> = (0..100_000u32).map(|i| (i * 13 % 256) as u8).collect();
    files
        .upload("dir/obj", Body::from_bytes(data.clone()))
        .await
        .unwrap();
    let got = files
        .download("dir/obj")
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(got, data);
    // The bytes are really on disk under the root.
    assert_eq!(
        std::fs::read(dir.path().join("dir").join("obj")).unwrap(),
        data
    );
}

#[test]
fn unknown_scheme_is_not_supported_and_names_the_available_ones() {
    let err = Files::from_url("nosuchscheme://bucket").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotSupported);
    let msg = err.to_string();
    assert!(msg.contains("nosuchscheme"), "{msg}");
    for scheme in registry::schemes() {
        assert!(msg.contains(scheme), "{msg} should name {scheme}");
    }
    #[cfg(feature = "memory")]
    assert!(msg.contains("memory"), "{msg}");
    #[cfg(feature = "fs")]
    assert!(msg.contains("file"), "{msg}");
}

#[test]
fn register_all_is_idempotent() {
    let before = registry::schemes();
    files::register_all();
    files::register_all();
    let after = registry::schemes();
    assert_eq!(before, after);
    for scheme in &after {
        let n = registry::factories()
            .iter()
            .filter(|f| f.scheme == *scheme)
            .count();
        assert_eq!(n, 1, "scheme {scheme} is registered {n} times");
    }
    #[cfg(feature = "memory")]
    assert!(Files::from_url("memory://after-register-all").is_ok());
}
