//! Configuration: the builder, static credentials and the credentials from the environment
//! or the AWS chain, and the SDK client built from the decided [`Plan`]. What a URL says and
//! where the preset's parameters come from is in `resolve.rs`.

use std::fmt;
use std::sync::Arc;

use aws_config::default_provider::credentials::DefaultCredentialsChain;
use aws_credential_types::provider::{self, ProvideCredentials};
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
    SharedCredentialsProvider,
};
use files_core::{Error, GIB, MIB, Result};

use crate::adapter::{Inner, S3Adapter};
use crate::presets::{ChecksumSupport, Preset, PresetParams, endpoint_authority};
use crate::resolve;

/// Default part size of multipart uploads (8 MiB: as fast as 16 MiB in measurements, with
/// half the memory).
pub const DEFAULT_PART_SIZE: u64 = 8 * MIB;
/// Objects above this size are copied with UploadPartCopy (CopyObject's limit is 5 GiB).
pub const MULTIPART_COPY_THRESHOLD: u64 = 5 * GIB;
/// Part size of multipart copies (grown so the copy fits in 10,000 parts).
pub const COPY_PART_SIZE: u64 = 512 * MIB;

/// A static access key: id, secret and optional session token. `Debug` redacts all three.
#[derive(Clone, PartialEq, Eq)]
pub struct StaticCredentials {
    access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
}

impl StaticCredentials {
    /// An access key id and its secret.
    pub fn new(access_key_id: impl Into<String>, secret_access_key: impl Into<String>) -> Self {
        StaticCredentials {
            access_key_id: access_key_id.into(),
            secret_access_key: secret_access_key.into(),
            session_token: None,
        }
    }

    /// Adds a session token (temporary credentials).
    pub fn with_session_token(mut self, token: impl Into<String>) -> Self {
        self.session_token = Some(token.into());
        self
    }
}

impl fmt::Debug for StaticCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticCredentials")
            .field("access_key_id", &"<redacted>")
            .field("secret_access_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// Builds an [`S3Adapter`]: a bucket, and either a [`Preset`] with its parameters or an
/// endpoint, plus credentials (static, a preset's environment variables, or the standard AWS
/// chain). `Debug` never shows a credential.
///
/// ```
/// use files_s3::{Preset, S3Adapter};
/// let minio = S3Adapter::builder()
///     .preset(Preset::Minio)
///     .endpoint("http://127.0.0.1:9000")
///     .bucket("backups")
///     .credentials("minioadmin", "minioadmin")
///     .build()
///     .unwrap();
/// assert_eq!(files_core::Adapter::target(&minio), "backups@127.0.0.1:9000");
/// assert!(!format!("{minio:?}").contains("minioadmin"));
/// ```
#[derive(Clone, Debug)]
pub struct S3Builder {
    preset: Preset,
    bucket: Option<String>,
    params: PresetParams,
    path_style: Option<bool>,
    credentials: Option<StaticCredentials>,
    profile: Option<String>,
    checksums: Option<bool>,
    unsigned_payload: Option<bool>,
    public_base_url: Option<String>,
    default_part_size: u64,
    multipart_copy_threshold: u64,
    copy_part_size: u64,
    sdk_max_attempts: u32,
}

impl Default for S3Builder {
    fn default() -> Self {
        S3Builder {
            preset: Preset::Aws,
            bucket: None,
            params: PresetParams::default(),
            path_style: None,
            credentials: None,
            profile: None,
            checksums: None,
            unsigned_payload: None,
            public_base_url: None,
            default_part_size: DEFAULT_PART_SIZE,
            multipart_copy_threshold: MULTIPART_COPY_THRESHOLD,
            copy_part_size: COPY_PART_SIZE,
            sdk_max_attempts: 1,
        }
    }
}

macro_rules! region_preset {
    ($(#[$doc:meta] $fn:ident => $preset:expr),* $(,)?) => {
        $(
            #[$doc]
            pub fn $fn(region: impl Into<String>) -> Self {
                Self::default().preset($preset).region(region)
            }
        )*
    };
}

impl S3Builder {
    /// A builder for Amazon S3 (the [`Preset::Aws`] preset).
    pub fn new() -> Self {
        Self::default()
    }

    // ---- named constructors, one per preset ----

    /// Amazon S3 in `region`.
    pub fn aws(region: impl Into<String>) -> Self {
        Self::default().region(region)
    }
    /// Cloudflare R2 of the account `account_id`.
    pub fn r2(account_id: impl Into<String>) -> Self {
        Self::default().preset(Preset::R2).account(account_id)
    }
    /// A MinIO server at `endpoint` (`http://host:9000`).
    pub fn minio(endpoint: impl Into<String>) -> Self {
        Self::default().preset(Preset::Minio).endpoint(endpoint)
    }
    /// IDrive e2 at the account's `endpoint`.
    pub fn idrive_e2(endpoint: impl Into<String>) -> Self {
        Self::default().preset(Preset::IdriveE2).endpoint(endpoint)
    }
    /// Tigris (global endpoint).
    pub fn tigris() -> Self {
        Self::default().preset(Preset::Tigris)
    }
    /// Yandex Object Storage.
    pub fn yandex() -> Self {
        Self::default().preset(Preset::Yandex)
    }
    /// Filebase.
    pub fn filebase() -> Self {
        Self::default().preset(Preset::Filebase)
    }
    /// Storj's S3 gateway.
    pub fn storj() -> Self {
        Self::default().preset(Preset::Storj)
    }
    /// Oracle Cloud Object Storage of tenancy `namespace` in `region`.
    pub fn oracle(namespace: impl Into<String>, region: impl Into<String>) -> Self {
        Self::default()
            .preset(Preset::Oracle)
            .namespace(namespace)
            .region(region)
    }
    region_preset! {
        /// Alibaba Cloud OSS in `region` (`cn-hangzhou`): `oss-<region>.aliyuncs.com`.
        alibaba_oss => Preset::AlibabaOss,
        /// Backblaze B2 in `region` (`us-west-004`).
        b2 => Preset::B2,
        /// Wasabi in `region` (`us-east-1`).
        wasabi => Preset::Wasabi,
        /// DigitalOcean Spaces in `region` (`nyc3`).
        digitalocean => Preset::DigitalOcean,
        /// Scaleway in `region` (`fr-par`).
        scaleway => Preset::Scaleway,
        /// Hetzner Object Storage at `location` (`fsn1`).
        hetzner => Preset::Hetzner,
        /// Linode / Akamai in `region` (`us-east-1`).
        linode => Preset::Linode,
        /// Vultr in `region` (`ewr1`).
        vultr => Preset::Vultr,
        /// OVHcloud in `region` (`gra`).
        ovh => Preset::Ovh,
        /// Tencent Cloud COS in `region` (`ap-guangzhou`).
        tencent_cos => Preset::TencentCos,
        /// Exoscale SOS in `zone` (`ch-gva-2`).
        exoscale => Preset::Exoscale,
        /// IBM Cloud Object Storage in `region` (`us-south`).
        ibm_cos => Preset::IbmCos,
    }

    // ---- settings ----

    /// The store preset (default [`Preset::Aws`]).
    pub fn preset(mut self, preset: Preset) -> Self {
        self.preset = preset;
        self
    }
    /// The bucket (required).
    pub fn bucket(mut self, bucket: impl Into<String>) -> Self {
        self.bucket = Some(bucket.into());
        self
    }
    /// The region (signing region, and the `{region}` of the preset's endpoint template).
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.params.region = Some(region.into());
        self
    }
    /// An explicit endpoint (`https://host[:port]`), overriding the preset's template.
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.params.endpoint = Some(endpoint.into());
        self
    }
    /// Path-style (`true`) or virtual-hosted (`false`) addressing, overriding the preset.
    pub fn path_style(mut self, path_style: bool) -> Self {
        self.path_style = Some(path_style);
        self
    }
    /// The Cloudflare account id (R2).
    pub fn account(mut self, account: impl Into<String>) -> Self {
        self.params.account = Some(account.into());
        self
    }
    /// The R2 jurisdiction (`eu`, `fedramp`).
    pub fn jurisdiction(mut self, jurisdiction: impl Into<String>) -> Self {
        self.params.jurisdiction = Some(jurisdiction.into());
        self
    }
    /// The Oracle Object Storage namespace.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.params.namespace = Some(namespace.into());
        self
    }
    /// Use the provider's internal endpoint (Alibaba OSS `oss-<region>-internal`).
    pub fn internal(mut self, internal: bool) -> Self {
        self.params.internal = internal;
        self
    }
    /// A static access key and secret (instead of environment variables or the AWS chain).
    pub fn credentials(
        mut self,
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
    ) -> Self {
        let token = self.credentials.take().and_then(|c| c.session_token);
        let mut c = StaticCredentials::new(access_key_id, secret_access_key);
        c.session_token = token;
        self.credentials = Some(c);
        self
    }
    /// A session token to go with [`credentials`](Self::credentials).
    pub fn session_token(mut self, token: impl Into<String>) -> Self {
        match &mut self.credentials {
            Some(c) => c.session_token = Some(token.into()),
            None => {
                self.credentials = Some(
                    StaticCredentials::new(String::new(), String::new()).with_session_token(token),
                )
            }
        }
        self
    }
    /// Static credentials as one value.
    pub fn static_credentials(mut self, credentials: StaticCredentials) -> Self {
        self.credentials = Some(credentials);
        self
    }
    /// The AWS profile used by the standard chain (instead of `AWS_PROFILE`).
    pub fn profile(mut self, profile: impl Into<String>) -> Self {
        self.profile = Some(profile.into());
        self
    }
    /// Per-part CRC32C checksums on or off (default: on where the preset supports them).
    pub fn checksums(mut self, on: bool) -> Self {
        self.checksums = Some(on);
        self
    }
    /// Send `UNSIGNED-PAYLOAD` instead of a SHA-256 of every body (default: on over https
    /// where the preset allows it; over plain http only for bodies that carry a CRC32C, i.e.
    /// multipart parts when checksums are on). `false` signs every body; `true` signs none.
    pub fn unsigned_payload(mut self, on: bool) -> Self {
        self.unsigned_payload = Some(on);
        self
    }
    /// A public base URL (a CDN or a public bucket's URL); enables
    /// [`public_url`](files_core::Adapter::public_url) as `<base>/<key>`.
    pub fn public_base_url(mut self, base: impl Into<String>) -> Self {
        self.public_base_url = Some(base.into());
        self
    }
    /// The default part size of multipart uploads (default 8 MiB; grown for very large bodies
    /// so they fit in 10,000 parts).
    pub fn default_part_size(mut self, bytes: u64) -> Self {
        self.default_part_size = bytes;
        self
    }
    /// Objects larger than this are copied with UploadPartCopy (default 5 GiB, CopyObject's
    /// limit; at most 5 GiB).
    pub fn multipart_copy_threshold(mut self, bytes: u64) -> Self {
        self.multipart_copy_threshold = bytes;
        self
    }
    /// The part size of multipart copies (default 512 MiB, 5 MiB..=5 GiB).
    pub fn copy_part_size(mut self, bytes: u64) -> Self {
        self.copy_part_size = bytes;
        self
    }
    /// How many attempts the AWS SDK itself makes per request (default 1: the `files` core
    /// retries with its own policy, and two layers of retries multiply).
    pub fn sdk_max_attempts(mut self, attempts: u32) -> Self {
        self.sdk_max_attempts = attempts.max(1);
        self
    }

    /// Builds the adapter, reading the environment for what was not set (see the crate docs).
    /// No network call is made; credentials from the AWS chain are resolved on first use.
    pub fn build(self) -> Result<S3Adapter> {
        self.build_with_env(&|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    /// [`build`](Self::build) with an explicit environment lookup (for tests and embedding).
    pub fn build_with_env(self, env: &dyn Fn(&str) -> Option<String>) -> Result<S3Adapter> {
        let plan = self.plan(env)?;
        Ok(plan.into_adapter())
    }

    /// Everything `build` decides, without building an SDK client.
    pub(crate) fn plan(mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<Plan> {
        let bucket = self
            .bucket
            .take()
            .ok_or_else(|| Error::invalid_input("an S3 adapter needs a bucket"))?;
        check_bucket(&bucket)?;
        let preset = self.preset;
        let info = preset.info();
        let first = |names: &[&str]| names.iter().find_map(|n| env(n));

        // Fill the preset's parameters from its environment variables.
        let params =
            resolve::params_from_env(preset, self.params.clone(), self.profile.as_deref(), env);
        let resolved = preset.resolve(&params, self.path_style)?;

        // Credentials: static, else the preset's own variables, else the AWS chain.
        let credentials = match self.credentials.take() {
            Some(c) if c.access_key_id.is_empty() || c.secret_access_key.is_empty() => {
                return Err(Error::invalid_input(
                    "static credentials need both an access key id and a secret",
                ));
            }
            Some(c) => CredentialSource::Static(c),
            None => {
                let pair = info
                    .access_key_env
                    .iter()
                    .zip(info.secret_key_env)
                    .find_map(|(a, s)| Some((*a, env(a)?, env(s)?)));
                match pair {
                    Some((name, id, secret)) => {
                        let mut c = StaticCredentials::new(id, secret);
                        c.session_token = first(info.session_token_env);
                        CredentialSource::Env(name, c)
                    }
                    None => CredentialSource::Chain {
                        profile: self.profile.clone(),
                    },
                }
            }
        };

        let https = resolved
            .endpoint
            .as_deref()
            .is_none_or(|e| e.starts_with("https://"));
        let checksums = self
            .checksums
            .unwrap_or(info.checksums == ChecksumSupport::Supported);
        let unsigned_payload = self
            .unsigned_payload
            .unwrap_or(https && info.unsigned_payload);
        // A body with a CRC32C has its integrity checked without the payload's SHA-256 (which
        // costs a full extra pass over every byte), even over plain http.
        let unsigned_with_crc = self.unsigned_payload.unwrap_or(info.unsigned_payload);
        let target = match &resolved.endpoint {
            Some(e) => format!("{bucket}@{}", endpoint_authority(e)),
            None => format!("{bucket}@aws:{}", resolved.region),
        };
        let public_base_url = match self.public_base_url.take() {
            Some(b) => {
                let t = b.trim_end_matches('/').to_string();
                let u = url::Url::parse(&t).map_err(|e| {
                    Error::invalid_input(format!("the public base URL is not a URL: {e}"))
                })?;
                if !matches!(u.scheme(), "http" | "https") || u.query().is_some() {
                    return Err(Error::invalid_input(
                        "the public base URL must be an http(s) URL without a query",
                    ));
                }
                Some(t)
            }
            None => None,
        };
        if !(5 * MIB..=5 * GIB).contains(&self.copy_part_size) {
            return Err(Error::invalid_input(
                "the copy part size must be between 5 MiB and 5 GiB",
            ));
        }
        if self.multipart_copy_threshold > 5 * GIB {
            return Err(Error::invalid_input(
                "the multipart copy threshold must be at most 5 GiB (CopyObject's limit)",
            ));
        }
        if !(5 * MIB..=5 * GIB).contains(&self.default_part_size) {
            return Err(Error::invalid_input(
                "the default part size must be between 5 MiB and 5 GiB",
            ));
        }
        Ok(Plan {
            preset,
            bucket,
            endpoint: resolved.endpoint,
            region: resolved.region,
            path_style: resolved.path_style,
            credentials,
            checksums,
            unsigned_payload,
            unsigned_with_crc,
            target,
            public_base_url,
            default_part_size: self.default_part_size,
            multipart_copy_threshold: self.multipart_copy_threshold,
            copy_part_size: self.copy_part_size,
            sdk_max_attempts: self.sdk_max_attempts,
        })
    }
}

fn check_bucket(bucket: &str) -> Result<()> {
    let ok = !bucket.is_empty()
        && bucket.len() <= 255
        && bucket
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid_input(format!(
            "`{bucket}` is not a valid bucket name"
        )))
    }
}

/// Where credentials come from.
#[derive(Clone)]
pub(crate) enum CredentialSource {
    Static(StaticCredentials),
    /// From the preset's environment variables (the access key variable's name).
    Env(&'static str, StaticCredentials),
    /// The standard AWS chain (env, profile, web identity, ECS, IMDS, credential_process).
    Chain {
        profile: Option<String>,
    },
}

impl fmt::Debug for CredentialSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialSource::Static(_) => f.write_str("static(<redacted>)"),
            CredentialSource::Env(name, _) => write!(f, "env({name}, <redacted>)"),
            CredentialSource::Chain { profile: None } => f.write_str("aws-default-chain"),
            CredentialSource::Chain { profile: Some(p) } => {
                write!(f, "aws-default-chain(profile={p})")
            }
        }
    }
}

/// Everything `build` decided.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub preset: Preset,
    pub bucket: String,
    pub endpoint: Option<String>,
    pub region: String,
    pub path_style: bool,
    pub credentials: CredentialSource,
    pub checksums: bool,
    pub unsigned_payload: bool,
    /// `UNSIGNED-PAYLOAD` for bodies sent with an `x-amz-checksum-crc32c`.
    pub unsigned_with_crc: bool,
    pub target: String,
    pub public_base_url: Option<String>,
    pub default_part_size: u64,
    pub multipart_copy_threshold: u64,
    pub copy_part_size: u64,
    pub sdk_max_attempts: u32,
}

impl Plan {
    fn into_adapter(self) -> S3Adapter {
        let region = Region::new(self.region.clone());
        let provider = match &self.credentials {
            CredentialSource::Static(c) | CredentialSource::Env(_, c) => {
                SharedCredentialsProvider::new(Credentials::new(
                    c.access_key_id.clone(),
                    c.secret_access_key.clone(),
                    c.session_token.clone(),
                    None,
                    "files-s3",
                ))
            }
            CredentialSource::Chain { profile } => SharedCredentialsProvider::new(LazyChain {
                profile: profile.clone(),
                region: region.clone(),
                chain: tokio::sync::OnceCell::new(),
            }),
        };
        let mut b = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(region)
            .credentials_provider(provider)
            .force_path_style(self.path_style)
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            .retry_config(
                aws_sdk_s3::config::retry::RetryConfig::standard()
                    .with_max_attempts(self.sdk_max_attempts),
            );
        if let Some(e) = &self.endpoint {
            b = b.endpoint_url(e);
        }
        let client = aws_sdk_s3::Client::from_conf(b.build());
        S3Adapter {
            inner: Arc::new(Inner { client, plan: self }),
        }
    }
}

/// The standard AWS credential chain, built on first use (building it reads files and may
/// ask the instance metadata service, which needs a runtime).
struct LazyChain {
    profile: Option<String>,
    region: Region,
    chain: tokio::sync::OnceCell<DefaultCredentialsChain>,
}

impl fmt::Debug for LazyChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LazyChain")
            .field("profile", &self.profile)
            .finish_non_exhaustive()
    }
}

impl ProvideCredentials for LazyChain {
    fn provide_credentials<'a>(&'a self) -> provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        provider::future::ProvideCredentials::new(async move {
            let chain = self
                .chain
                .get_or_init(|| async {
                    let mut b = DefaultCredentialsChain::builder().region(self.region.clone());
                    if let Some(p) = &self.profile {
                        b = b.profile_name(p);
                    }
                    b.build().await
                })
                .await;
            chain.provide_credentials().await
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::collections::HashMap;

    /// An environment lookup over `vars` alone.
    pub(crate) fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    /// The plan of a URL's builder under the environment `vars`, and the URL's key.
    pub(crate) fn plan_url(url: &str, vars: &[(&str, &str)]) -> Result<(Plan, String)> {
        let parsed = url::Url::parse(url).unwrap();
        let (b, key) = crate::resolve::builder_from_url(&parsed)?;
        Ok((b.plan(&env_of(vars))?, key))
    }

    #[test]
    fn preset_urls_and_env_credentials() {
        let (p, key) = plan_url(
            "r2://media/photos/1.jpg?account=0123abcd",
            &[
                ("R2_ACCESS_KEY_ID", "AKR2"),
                ("R2_SECRET_ACCESS_KEY", "SECRETR2"),
            ],
        )
        .unwrap();
        assert_eq!(key, "photos/1.jpg");
        assert_eq!(p.target, "media@0123abcd.r2.cloudflarestorage.com");
        assert_eq!(p.region, "auto");
        assert!(p.path_style);
        assert!(!p.checksums, "not verified on R2");
        assert!(matches!(
            p.credentials,
            CredentialSource::Env("R2_ACCESS_KEY_ID", _)
        ));
        let dbg = format!("{p:?}");
        assert!(!dbg.contains("AKR2") && !dbg.contains("SECRETR2"), "{dbg}");

        let (p, _) = plan_url("r2://media", &[("CLOUDFLARE_ACCOUNT_ID", "feed42")]).unwrap();
        assert_eq!(p.target, "media@feed42.r2.cloudflarestorage.com");
        assert!(matches!(p.credentials, CredentialSource::Chain { .. }));

        let (p, key) = plan_url(
            "oss://examplebucket/object-name?region=cn-hangzhou",
            &[
                ("OSS_ACCESS_KEY_ID", "LTAI"),
                ("OSS_ACCESS_KEY_SECRET", "osssecret"),
                ("OSS_SESSION_TOKEN", "osstoken"),
            ],
        )
        .unwrap();
        assert_eq!(key, "object-name");
        assert_eq!(p.target, "examplebucket@oss-cn-hangzhou.aliyuncs.com");
        assert!(!p.path_style);
        assert!(!p.unsigned_payload);
        match &p.credentials {
            CredentialSource::Env(name, c) => {
                assert_eq!(*name, "OSS_ACCESS_KEY_ID");
                assert_eq!(c.session_token.as_deref(), Some("osstoken"));
            }
            other => panic!("{other:?}"),
        }
        let (p, _) = plan_url("oss://b", &[("OSS_REGION", "cn-shanghai")]).unwrap();
        assert_eq!(p.target, "b@oss-cn-shanghai.aliyuncs.com");

        let (p, _) = plan_url(
            "minio://bkt?endpoint=http://127.0.0.1:9000",
            &[("MINIO_ROOT_USER", "u"), ("MINIO_ROOT_PASSWORD", "p")],
        )
        .unwrap();
        assert_eq!(p.target, "bkt@127.0.0.1:9000");
        assert!(matches!(
            p.credentials,
            CredentialSource::Env("MINIO_ROOT_USER", _)
        ));

        let (p, _) = plan_url(
            "b2://bkt?region=us-west-004",
            &[("B2_APPLICATION_KEY_ID", "k"), ("B2_APPLICATION_KEY", "s")],
        )
        .unwrap();
        assert_eq!(p.target, "bkt@s3.us-west-004.backblazeb2.com");
        // Only half of a pair: fall back to the AWS chain.
        let (p, _) = plan_url(
            "b2://bkt?region=us-west-004",
            &[("B2_APPLICATION_KEY_ID", "k")],
        )
        .unwrap();
        assert!(matches!(p.credentials, CredentialSource::Chain { .. }));
    }

    #[test]
    fn builder_debug_redacts() {
        let b = S3Builder::new()
            .bucket("b")
            .credentials("AKIDVISIBLE", "SECRETVISIBLE")
            .session_token("TOKENVISIBLE");
        let dbg = format!("{b:?}");
        for s in ["AKIDVISIBLE", "SECRETVISIBLE", "TOKENVISIBLE"] {
            assert!(!dbg.contains(s), "{dbg}");
        }
        let p = b.plan(&env_of(&[])).unwrap();
        let dbg = format!("{p:?}");
        for s in ["AKIDVISIBLE", "SECRETVISIBLE", "TOKENVISIBLE"] {
            assert!(!dbg.contains(s), "{dbg}");
        }
        assert!(
            S3Builder::new()
                .bucket("b")
                .session_token("t")
                .plan(&env_of(&[]))
                .is_err()
        );
    }
}
