//! # files-s3
//!
//! The Amazon S3 adapter of the `files` storage SDK, for S3 itself and for every
//! S3-compatible store (Cloudflare R2, MinIO, Alibaba Cloud OSS, Backblaze B2, Wasabi, ...),
//! on `aws-sdk-s3`. Uploads above the part size use S3's native multipart API through the core
//! part scheduler, so they can be paused, resumed in a later process from a small token, and
//! aborted.
//!
//! ```no_run
//! # async fn demo() -> files_core::Result<()> {
//! use files_core::{Body, Files, UploadControl};
//! use files_s3::S3Adapter;
//!
//! // From code ...
//! let s3 = S3Adapter::builder().bucket("backups").region("eu-west-1").build()?;
//! // ... or from a URL (credentials always come from the environment or the builder).
//! let minio = S3Adapter::from_url("s3://backups?endpoint=http://127.0.0.1:9000&path_style=true")?;
//! let files = Files::new(s3);
//! files
//!     .upload("db.tar", Body::from_path("db.tar").await?)
//!     .checkpoint("db.tar.upload.json")
//!     .await?;
//! # let _ = minio; Ok(()) }
//! ```
//!
//! ## Configuration
//!
//! [`S3Builder`] (from [`S3Adapter::builder`]) takes a bucket and either a [`Preset`] with its
//! parameters or an endpoint. Anything not set comes from the environment:
//!
//! * **region**: the builder / `region=`, else the preset's variable (e.g. `OSS_REGION`), for
//!   Amazon S3 `AWS_REGION`, `AWS_DEFAULT_REGION`, then the `region` of the profile
//!   (`AWS_PROFILE` or `default`) in `AWS_CONFIG_FILE` / `~/.aws/config`, else `us-east-1`.
//! * **endpoint**: the builder / `endpoint=`, else the preset's template; for Amazon S3
//!   `AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL`, else AWS's own endpoint.
//! * **addressing**: the preset's style; an endpoint on `localhost` or an IP address is
//!   path-style; `path_style=` overrides.
//! * **credentials**: static ones from the builder; else the preset's own variables (e.g.
//!   `R2_ACCESS_KEY_ID` / `R2_SECRET_ACCESS_KEY`, `OSS_ACCESS_KEY_ID` /
//!   `OSS_ACCESS_KEY_SECRET`); else the standard AWS chain: `AWS_ACCESS_KEY_ID`,
//!   `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, the shared profile files (`AWS_PROFILE`),
//!   `credential_process`, web identity, ECS and EC2 instance metadata. (AWS SSO profiles are
//!   not compiled in.) The chain is built on first use; building the adapter makes no network
//!   call.
//!
//! Credentials never reach a token, an error message or `Debug` output, and are never read
//! from URLs.
//!
//! ## URLs
//!
//! `s3://bucket/key?region=..&endpoint=..&path_style=true`, and one scheme per preset
//! (`r2://bucket/key?account=...`, `oss://bucket/key?region=cn-hangzhou`,
//! `minio://bucket/key?endpoint=http://127.0.0.1:9000`, `b2://`, `wasabi://`, `spaces://`,
//! `tigris://`, `scaleway://`, `hetzner://`, `linode://`, `vultr://`, `ovh://`, `idrive://`,
//! `cos://`, `yandex://`, `exoscale://`, `filebase://`, `storj://`, `ibmcos://`,
//! `oracle://`). Parameters: `region`, `endpoint`, `path_style`, `checksums`,
//! `unsigned_payload`, `public_url`, `profile`, `account`, `jurisdiction`, `namespace`,
//! `internal`, `preset`, `part_size`. Unknown parameters, and anything that looks like a
//! credential, are refused.
//!
//! ## Uploads and resume tokens
//!
//! A body up to the part size (default 8 MiB) goes in one PutObject. A larger one is a
//! multipart upload: CreateMultipartUpload (asking for per-part CRC32C checksums where the
//! preset supports them), UploadPart in parallel (each with its `x-amz-checksum-crc32c`),
//! CompleteMultipartUpload, or AbortMultipartUpload. Part rules: 5 MiB minimum (except the
//! last), 5 GiB maximum, 10,000 parts; the default part size grows with the body so that a
//! 5 TiB object fits.
//!
//! The token holds the UploadId (the session id; `extra.crc32c = "1"` when checksums were
//! requested, `extra.key` the key it was created for: a token whose UploadId was created for
//! another key is refused as token invalid before any request, since some compatibles do not
//! tie an UploadId to its key), the key, the part size, and the store's identity in `target`
//! (`<bucket>@<endpoint host[:port]>` or `<bucket>@aws:<region>`); no credential. Resuming
//! lists the parts that landed with ListParts (all pages) and uploads only the rest; a part
//! whose checksum (S3's, or the token's fingerprint where the store keeps none) does not
//! match the body fails with `BodyChanged`. An aborted or expired UploadId is
//! `SessionExpired`.
//!
//! Over https the body is sent as `UNSIGNED-PAYLOAD` (no SHA-256 pass over every byte; TLS
//! and the CRC32C keep integrity) where the preset allows; over plain http a body that carries
//! a CRC32C (every part when checksums are on) is sent unsigned too, any other body is signed.
//! `unsigned_payload=false` signs everything.
//!
//! ## Limits
//!
//! * `rename` is copy + delete (S3 has no atomic rename).
//! * `copy` is CopyObject up to 5 GiB and UploadPartCopy above (servers without
//!   UploadPartCopy, such as `rclone serve s3`, cannot copy objects over 5 GiB).
//! * A multipart upload that is never completed nor aborted keeps its parts (and their cost)
//!   until a lifecycle rule removes it: see `docs/s3.md`.
#![deny(missing_docs)]

mod adapter;
mod body;
mod compat;
mod config;
mod errors;
mod multipart;
pub mod presets;
mod resolve;

pub use adapter::S3Adapter;
pub use body::{crc32c_from_base64, crc32c_to_base64};
pub use config::{
    COPY_PART_SIZE, DEFAULT_PART_SIZE, MULTIPART_COPY_THRESHOLD, S3Builder, StaticCredentials,
};
pub use errors::{classify as classify_error, service_error};
pub use multipart::{EXTRA_CRC32C, MAX_PART_SIZE, MAX_PARTS, MIN_PART_SIZE, check_upload_id};
pub use presets::{ChecksumSupport, Preset, PresetInfo};

/// The provider name of every S3 adapter (whatever the preset).
pub const PROVIDER: &str = "s3";

/// One factory per preset scheme: the store from [`files_core::FromUrl`], the object opener
/// refusing a URL without a key; [`FACTORIES`] lists them, and `register()` registers them.
macro_rules! factories {
    ($($(#[$doc:meta])* $name:ident = $scheme:literal),* $(,)?) => {
        $(
            $(#[$doc])*
            pub const $name: files_core::AdapterFactory = files_core::AdapterFactory {
                object: resolve::open_object,
                ..files_core::AdapterFactory::of::<S3Adapter>($scheme, PROVIDER)
            };
        )*

        /// Every factory of this crate, one per URL scheme.
        pub const FACTORIES: &[files_core::AdapterFactory] = &[$($name),*];

        files_core::register_factories!($($name),*);
    };
}

factories! {
    /// The factory of the `s3` scheme: `s3://bucket/key?region=..&endpoint=..&path_style=..`.
    FACTORY = "s3",
    /// The factory of the `r2` scheme (Cloudflare R2): `r2://bucket/key?account=..`.
    FACTORY_R2 = "r2",
    /// The factory of the `minio` scheme: `minio://bucket/key?endpoint=http://host:9000`.
    FACTORY_MINIO = "minio",
    /// The factory of the `oss` scheme (Alibaba Cloud OSS): `oss://bucket/key?region=cn-hangzhou`.
    FACTORY_OSS = "oss",
    /// The factory of the `b2` scheme (Backblaze B2): `b2://bucket/key?region=us-west-004`.
    FACTORY_B2 = "b2",
    /// The factory of the `wasabi` scheme: `wasabi://bucket/key?region=..`.
    FACTORY_WASABI = "wasabi",
    /// The factory of the `spaces` scheme (DigitalOcean): `spaces://bucket/key?region=nyc3`.
    FACTORY_SPACES = "spaces",
    /// The factory of the `tigris` scheme: `tigris://bucket/key`.
    FACTORY_TIGRIS = "tigris",
    /// The factory of the `scaleway` scheme: `scaleway://bucket/key?region=fr-par`.
    FACTORY_SCALEWAY = "scaleway",
    /// The factory of the `hetzner` scheme: `hetzner://bucket/key?region=fsn1`.
    FACTORY_HETZNER = "hetzner",
    /// The factory of the `linode` scheme: `linode://bucket/key?region=us-east-1`.
    FACTORY_LINODE = "linode",
    /// The factory of the `vultr` scheme: `vultr://bucket/key?region=ewr1`.
    FACTORY_VULTR = "vultr",
    /// The factory of the `ovh` scheme: `ovh://bucket/key?region=gra`.
    FACTORY_OVH = "ovh",
    /// The factory of the `idrive` scheme (IDrive e2): `idrive://bucket/key?endpoint=https://..`.
    FACTORY_IDRIVE = "idrive",
    /// The factory of the `cos` scheme (Tencent COS): `cos://bucket-appid/key?region=ap-guangzhou`.
    FACTORY_COS = "cos",
    /// The factory of the `yandex` scheme: `yandex://bucket/key`.
    FACTORY_YANDEX = "yandex",
    /// The factory of the `exoscale` scheme: `exoscale://bucket/key?region=ch-gva-2`.
    FACTORY_EXOSCALE = "exoscale",
    /// The factory of the `filebase` scheme: `filebase://bucket/key`.
    FACTORY_FILEBASE = "filebase",
    /// The factory of the `storj` scheme: `storj://bucket/key`.
    FACTORY_STORJ = "storj",
    /// The factory of the `ibmcos` scheme: `ibmcos://bucket/key?region=us-south`.
    FACTORY_IBMCOS = "ibmcos",
    /// The factory of the `oracle` scheme: `oracle://bucket/key?region=..&namespace=..`.
    FACTORY_ORACLE = "oracle",
}

#[cfg(test)]
mod tests {
    use super::*;
    use files_core::ErrorKind;

    #[test]
    fn docs_table_lists_every_preset() {
        let doc = include_str!("../../../docs/s3.md");
        for p in Preset::all() {
            let i = p.info();
            let row = format!("| {} | `{}://` |", i.label, i.scheme);
            assert!(doc.contains(&row), "docs/s3.md lacks the row of {p:?}");
            assert!(doc.contains(i.checksums.describe()));
        }
    }

    #[test]
    fn registration() {
        register();
        let schemes = files_core::registry::schemes();
        for p in Preset::all() {
            assert!(schemes.contains(&p.scheme()), "{}", p.scheme());
        }
        assert_eq!(FACTORIES.len(), Preset::all().len());
        for f in FACTORIES {
            assert_eq!(f.provider, PROVIDER);
            assert!(Preset::by_scheme(f.scheme).is_some(), "{}", f.scheme);
        }
        let store =
            files_core::registry::open_store("minio://bkt/ignored?endpoint=http://127.0.0.1:9")
                .unwrap();
        assert_eq!(store.adapter().target(), "bkt@127.0.0.1:9");
        let (files, key) = files_core::registry::open_object(
            "oss://examplebucket/dir/object-name?region=cn-hangzhou",
        )
        .unwrap();
        assert_eq!(key, "dir/object-name");
        assert_eq!(
            files.adapter().target(),
            "examplebucket@oss-cn-hangzhou.aliyuncs.com"
        );
        let e = files_core::registry::open_object("s3://bucket?region=us-east-1").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
    }
}
