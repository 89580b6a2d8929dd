//! Firebase Storage: a preset of the GCS adapter.
//!
//! A Firebase Storage bucket is a GCS bucket, so everything (uploads, resumable sessions,
//! tokens) works exactly as for GCS; the preset adds the bucket naming, the `firebase://`
//! scheme, the provider name `firebase` in tokens, and **download-token URLs**:
//! `https://firebasestorage.googleapis.com/v0/b/<bucket>/o/<encoded key>?alt=media&token=<t>`,
//! where `<t>` is one of the comma-separated tokens in the object's
//! `firebaseStorageDownloadTokens` metadata. Such a URL is a bearer credential for reading
//! the object (until the token is removed from the metadata).
//!
//! Bucket naming: projects created since October 2024 have `<project>.firebasestorage.app`,
//! older ones `<project>.appspot.com` ([`BucketNaming`]).
//!
//! ```no_run
//! # async fn demo() -> files_core::Result<()> {
//! use files_gcs::firebase::{self, BucketNaming};
//! let adapter = files_gcs::GcsAdapter::firebase("my-project", BucketNaming::FirebaseStorageApp)
//!     .service_account_file("key.json")?
//!     .build()?;
//! let url = firebase::download_url(&adapter, "photos/cat.jpg").await?;
//! # let _ = url; Ok(()) }
//! ```

use std::collections::BTreeMap;

use files_core::{Adapter, Error, Result};

use files_http::encode::segment as encode;

use crate::{GcsAdapter, GcsBuilder};

/// Where Firebase serves download-token URLs.
pub const DEFAULT_FIREBASE_ENDPOINT: &str = "https://firebasestorage.googleapis.com";
/// The object metadata key holding download tokens (comma-separated).
pub const DOWNLOAD_TOKENS_KEY: &str = "firebaseStorageDownloadTokens";
/// The environment variable naming the bucket for `firebase://<project>` URLs.
pub const BUCKET_ENV: &str = "FIREBASE_STORAGE_BUCKET";

/// The default bucket name of a Firebase project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BucketNaming {
    /// `<project>.firebasestorage.app` (projects created since October 2024).
    FirebaseStorageApp,
    /// `<project>.appspot.com` (older projects).
    Appspot,
}

impl BucketNaming {
    /// The bucket name of `project`.
    pub fn bucket(self, project: &str) -> String {
        match self {
            BucketNaming::FirebaseStorageApp => format!("{project}.firebasestorage.app"),
            BucketNaming::Appspot => format!("{project}.appspot.com"),
        }
    }
}

impl GcsAdapter {
    /// A builder for the default Firebase Storage bucket of `project` (provider `firebase`).
    /// Give it service-account credentials (or application default credentials).
    pub fn firebase(project: &str, naming: BucketNaming) -> GcsBuilder {
        let mut b = GcsAdapter::builder().bucket(naming.bucket(project));
        b.provider = "firebase";
        b
    }

    /// A builder for a Firebase Storage bucket named in full (provider `firebase`).
    pub fn firebase_bucket(bucket: impl Into<String>) -> GcsBuilder {
        let mut b = GcsAdapter::builder().bucket(bucket);
        b.provider = "firebase";
        b
    }
}

/// A download-token URL for `key`: reuses the first token in the object's
/// `firebaseStorageDownloadTokens` metadata, or creates one (a random UUID, added to the
/// metadata). The URL lets anyone read the object: share it like a secret link.
pub async fn download_url(adapter: &GcsAdapter, key: &str) -> Result<String> {
    adapter.validate_key(key)?;
    let meta = adapter.head(key).await?;
    let existing = meta
        .metadata
        .get(DOWNLOAD_TOKENS_KEY)
        .and_then(|t| t.split(',').map(str::trim).find(|t| !t.is_empty()))
        .map(str::to_string);
    let token = match existing {
        Some(t) => t,
        None => {
            let t = uuid_v4();
            let mut m = BTreeMap::new();
            m.insert(DOWNLOAD_TOKENS_KEY.to_string(), t.clone());
            adapter.patch_metadata(key, m).await?;
            t
        }
    };
    let ep = crate::api::base(&adapter.inner.firebase_endpoint);
    Ok(format!(
        "{ep}v0/b/{}/o/{}?alt=media&token={token}",
        adapter.bucket(),
        encode(key)
    ))
}

/// Removes every download token of `key` (revoking the URLs [`download_url`] made).
pub async fn revoke_download_tokens(adapter: &GcsAdapter, key: &str) -> Result<()> {
    adapter.validate_key(key)?;
    let mut m = BTreeMap::new();
    m.insert(DOWNLOAD_TOKENS_KEY.to_string(), String::new());
    adapter.patch_metadata(key, m).await.map(|_| ())
}

fn uuid_v4() -> String {
    let mut b = [0u8; 16];
    aws_lc_rs::rand::fill(&mut b).expect("system randomness");
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

pub(crate) fn adapter_for_url(url: &url::Url) -> Result<GcsAdapter> {
    let params = files_core::registry::url_params(url, &["endpoint"])?;
    let host = url.host_str().filter(|h| !h.is_empty()).ok_or_else(|| {
        Error::invalid_input("a firebase:// URL names a project or bucket: firebase://project/key")
    })?;
    // A name with a dot is a bucket; a bare project uses $FIREBASE_STORAGE_BUCKET or the
    // current default naming.
    let bucket = if host.contains('.') {
        host.to_string()
    } else {
        std::env::var(BUCKET_ENV)
            .ok()
            .filter(|b| !b.is_empty())
            .unwrap_or_else(|| BucketNaming::FirebaseStorageApp.bucket(host))
    };
    let mut b = GcsAdapter::firebase_bucket(bucket);
    if let Some(endpoint) = params.get("endpoint") {
        b = b.endpoint(endpoint);
    }
    if let Ok(t) = std::env::var(crate::ACCESS_TOKEN_ENV)
        && !t.is_empty()
    {
        b = b.access_token(t);
    }
    b.build()
}

/// The factory of the `firebase` scheme: `firebase://<project or bucket>/key`.
pub const FACTORY: files_core::AdapterFactory =
    files_core::AdapterFactory::of::<GcsAdapter>("firebase", "firebase");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn naming() {
        assert_eq!(BucketNaming::Appspot.bucket("p"), "p.appspot.com");
        assert_eq!(
            BucketNaming::FirebaseStorageApp.bucket("p"),
            "p.firebasestorage.app"
        );
        let u = uuid_v4();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
    }
}
