//! Configuration: the builder, URL parsing, credentials and region resolution.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use aws_config::default_provider::credentials::DefaultCredentialsChain;
use aws_credential_types::provider::{self, ProvideCredentials};
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
    SharedCredentialsProvider,
};
use files_core::{Error, GIB, MIB, Result};

use crate::presets::{ChecksumSupport, Preset, PresetParams, endpoint_authority};
use crate::{Inner, S3Adapter};

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

    /// Applies the query parameters of an `s3://`-style URL (see the crate docs for the list).
    pub fn url_params<'a>(
        mut self,
        params: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self> {
        for (name, value) in params {
            let lower = name.to_ascii_lowercase();
            match lower.as_str() {
                "region" => self = self.region(value),
                "endpoint" => self = self.endpoint(value),
                "path_style" | "force_path_style" => {
                    self = self.path_style(parse_bool(name, value)?)
                }
                "checksums" | "crc32c" => self = self.checksums(parse_bool(name, value)?),
                "unsigned_payload" => self = self.unsigned_payload(parse_bool(name, value)?),
                "public_url" | "public_base_url" => self = self.public_base_url(value),
                "profile" => self = self.profile(value),
                "account" | "account_id" => self = self.account(value),
                "jurisdiction" => self = self.jurisdiction(value),
                "namespace" => self = self.namespace(value),
                "internal" => self = self.internal(parse_bool(name, value)?),
                "preset" => {
                    self.preset = Preset::by_name(value).ok_or_else(|| {
                        Error::invalid_input(format!("unknown S3 preset `{value}`"))
                    })?
                }
                "part_size" => {
                    self.default_part_size = value.parse().map_err(|_| {
                        Error::invalid_input(format!("part_size `{value}` is not a number"))
                    })?
                }
                _ if [
                    "key",
                    "secret",
                    "token",
                    "password",
                    "credential",
                    "signature",
                ]
                .iter()
                .any(|w| lower.contains(w)) =>
                {
                    return Err(Error::invalid_input(format!(
                        "credentials are never read from URLs (parameter `{}`); use environment variables or the builder",
                        Error::redacted(name)
                    )));
                }
                _ => {
                    return Err(Error::invalid_input(format!(
                        "unknown S3 URL parameter `{}` (known: region, endpoint, path_style, checksums, unsigned_payload, public_url, profile, account, jurisdiction, namespace, internal, preset, part_size)",
                        Error::redacted(name)
                    )));
                }
            }
        }
        Ok(self)
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
        let mut params = self.params.clone();
        if params.region.is_none() {
            params.region = first(info.region_env);
        }
        match preset {
            Preset::Aws => {
                if params.endpoint.is_none() {
                    params.endpoint = first(&["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]);
                }
                if params.region.is_none() {
                    params.region = profile_region(env, self.profile.as_deref());
                }
            }
            Preset::R2 if params.account.is_none() => {
                params.account = first(&["R2_ACCOUNT_ID", "CLOUDFLARE_ACCOUNT_ID"]);
            }
            Preset::Minio if params.endpoint.is_none() => {
                params.endpoint = first(&["MINIO_ENDPOINT"]);
            }
            Preset::IdriveE2 if params.endpoint.is_none() => {
                params.endpoint = first(&["IDRIVE_E2_ENDPOINT"]);
            }
            Preset::Oracle if params.namespace.is_none() => {
                params.namespace = first(&["OCI_NAMESPACE"]);
            }
            _ => {}
        }
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

fn parse_bool(name: &str, value: &str) -> Result<bool> {
    match value.to_ascii_lowercase().as_str() {
        "" | "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(Error::invalid_input(format!(
            "URL parameter `{name}` must be true or false, not `{value}`"
        ))),
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

/// The `region` of the AWS profile (`AWS_PROFILE` or `profile`, else `default`) in the shared
/// config file (`AWS_CONFIG_FILE`, else `~/.aws/config`). A small reader of the INI format.
pub(crate) fn profile_region(
    env: &dyn Fn(&str) -> Option<String>,
    profile: Option<&str>,
) -> Option<String> {
    let path =
        env("AWS_CONFIG_FILE").or_else(|| env("HOME").map(|h| format!("{h}/.aws/config")))?;
    let text = std::fs::read_to_string(path).ok()?;
    let profile = profile
        .map(str::to_string)
        .or_else(|| env("AWS_PROFILE"))
        .unwrap_or_else(|| "default".to_string());
    region_in_config(&text, &profile)
}

pub(crate) fn region_in_config(text: &str, profile: &str) -> Option<String> {
    let mut in_section = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.starts_with(';') || line.is_empty() {
            continue;
        }
        if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let section = section.trim();
            let name = section
                .strip_prefix("profile ")
                .map(str::trim)
                .unwrap_or(section);
            in_section = name == profile;
            continue;
        }
        if in_section
            && let Some((k, v)) = line.split_once('=')
            && k.trim() == "region"
        {
            let v = v.trim();
            return (!v.is_empty()).then(|| v.to_string());
        }
    }
    None
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

/// Splits `scheme://bucket/key?params` into a builder (preset from the scheme, bucket from the
/// host, parameters from the query) and the percent-decoded key (possibly empty).
pub(crate) fn builder_from_url(url: &url::Url) -> Result<(S3Builder, String)> {
    let preset = Preset::by_scheme(url.scheme()).ok_or_else(|| {
        Error::invalid_input(format!(
            "`{}` is not an S3 URL scheme (known: {})",
            url.scheme(),
            Preset::all()
                .iter()
                .map(|p| p.scheme())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::invalid_input(
            "credentials are never read from URLs; use environment variables or the builder",
        ));
    }
    let bucket = files_core::registry::percent_decode(url.host_str().unwrap_or_default())?;
    if bucket.is_empty() {
        return Err(Error::invalid_input(format!(
            "the URL names no bucket (`{}://bucket/key`)",
            url.scheme()
        )));
    }
    let pairs: BTreeMap<String, String> = url.query_pairs().into_owned().collect();
    if pairs.len() != url.query_pairs().count() {
        return Err(Error::invalid_input("a URL parameter is given twice"));
    }
    let builder = S3Builder::new()
        .preset(preset)
        .bucket(bucket)
        .url_params(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
    let key = files_core::registry::url_key(url)?;
    Ok((builder, key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    fn plan_url(url: &str, vars: &[(&str, &str)]) -> Result<(Plan, String)> {
        let parsed = url::Url::parse(url).unwrap();
        let (b, key) = builder_from_url(&parsed)?;
        Ok((b.plan(&env_of(vars))?, key))
    }

    #[test]
    fn s3_url_with_endpoint() {
        let (p, key) = plan_url(
            "s3://bucket/dir/a%20b.txt?region=eu-west-1&endpoint=http://127.0.0.1:9000&path_style=true",
            &[],
        )
        .unwrap();
        assert_eq!(key, "dir/a b.txt");
        assert_eq!(p.bucket, "bucket");
        assert_eq!(p.region, "eu-west-1");
        assert_eq!(p.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert!(p.path_style);
        assert_eq!(p.target, "bucket@127.0.0.1:9000");
        assert!(!p.unsigned_payload, "plain http signs payloads");
        assert!(p.unsigned_with_crc, "... except those with a CRC32C");
        assert!(p.checksums);
    }

    #[test]
    fn aws_defaults_from_env_and_profile() {
        let (p, key) = plan_url("s3://logs", &[("AWS_REGION", "ap-south-1")]).unwrap();
        assert_eq!(key, "");
        assert_eq!(p.target, "logs@aws:ap-south-1");
        assert!(p.endpoint.is_none());
        assert!(!p.path_style);
        assert!(p.unsigned_payload);
        assert!(matches!(
            p.credentials,
            CredentialSource::Chain { profile: None }
        ));

        let (p, _) = plan_url(
            "s3://logs",
            &[("AWS_ENDPOINT_URL", "https://s3.example.com:8443")],
        )
        .unwrap();
        assert_eq!(p.target, "logs@s3.example.com:8443");
        assert_eq!(p.region, "us-east-1");

        let dir = std::env::temp_dir().join(format!("files-s3-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cfg = dir.join("config");
        std::fs::write(
            &cfg,
            "[default]\nregion = us-west-2\n\n[profile work]\n# c\nregion=eu-north-1\n",
        )
        .unwrap();
        let cfg = cfg.to_str().unwrap().to_string();
        let (p, _) = plan_url("s3://logs", &[("AWS_CONFIG_FILE", &cfg)]).unwrap();
        assert_eq!(p.region, "us-west-2");
        let (p, _) = plan_url(
            "s3://logs",
            &[("AWS_CONFIG_FILE", &cfg), ("AWS_PROFILE", "work")],
        )
        .unwrap();
        assert_eq!(p.region, "eu-north-1");
        let (p, _) = plan_url("s3://logs?profile=work", &[("AWS_CONFIG_FILE", &cfg)]).unwrap();
        assert_eq!(p.region, "eu-north-1");
        assert!(format!("{:?}", p.credentials).contains("profile=work"));
        std::fs::remove_dir_all(&dir).ok();
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
    fn every_scheme_parses() {
        let urls = [
            ("s3://b?region=us-east-2", "b@aws:us-east-2"),
            ("r2://b?account=acc", "b@acc.r2.cloudflarestorage.com"),
            (
                "minio://b?endpoint=http://localhost:9000",
                "b@localhost:9000",
            ),
            (
                "oss://b?region=cn-hangzhou",
                "b@oss-cn-hangzhou.aliyuncs.com",
            ),
            (
                "b2://b?region=eu-central-003",
                "b@s3.eu-central-003.backblazeb2.com",
            ),
            ("wasabi://b", "b@s3.us-east-1.wasabisys.com"),
            ("spaces://b?region=fra1", "b@fra1.digitaloceanspaces.com"),
            ("tigris://b", "b@t3.storage.dev"),
            ("scaleway://b?region=nl-ams", "b@s3.nl-ams.scw.cloud"),
            ("hetzner://b?region=hel1", "b@hel1.your-objectstorage.com"),
            (
                "linode://b?region=eu-central-1",
                "b@eu-central-1.linodeobjects.com",
            ),
            ("vultr://b?region=sjc1", "b@sjc1.vultrobjects.com"),
            ("ovh://b?region=sbg", "b@s3.sbg.io.cloud.ovh.net"),
            (
                "idrive://b?endpoint=https://e2.example.com",
                "b@e2.example.com",
            ),
            (
                "cos://b-1250000000?region=ap-beijing",
                "b-1250000000@cos.ap-beijing.myqcloud.com",
            ),
            ("yandex://b", "b@storage.yandexcloud.net"),
            ("exoscale://b?region=de-fra-1", "b@sos-de-fra-1.exo.io"),
            ("filebase://b", "b@s3.filebase.com"),
            ("storj://b", "b@gateway.storjshare.io"),
            (
                "ibmcos://b?region=eu-de",
                "b@s3.eu-de.cloud-object-storage.appdomain.cloud",
            ),
            (
                "oracle://b?region=eu-frankfurt-1&namespace=ns1",
                "b@ns1.compat.objectstorage.eu-frankfurt-1.oraclecloud.com",
            ),
        ];
        let mut schemes = std::collections::BTreeSet::new();
        for (url, target) in urls {
            let (p, _) = plan_url(url, &[]).unwrap_or_else(|e| panic!("{url}: {e}"));
            assert_eq!(p.target, target, "{url}");
            schemes.insert(url.split("://").next().unwrap());
        }
        for preset in Preset::all() {
            assert!(schemes.contains(preset.scheme()), "{preset:?}");
        }
    }

    #[test]
    fn bad_urls_are_refused_without_echoing_secrets() {
        for url in [
            "s3://b?secret_access_key=TOPSECRET",
            "s3://b?aws_session_token=TOPSECRET",
            "s3://AKID:TOPSECRET@b/key",
            "s3://b?frobnicate=1",
            "s3://b?path_style=maybe",
            "s3:///key",
            "s3://b?region=a&region=b",
            "r2://b",
            "gcs://b",
            "s3://b?endpoint=http://u:TOPSECRET@h",
        ] {
            let parsed = url::Url::parse(url).unwrap();
            let e = builder_from_url(&parsed)
                .and_then(|(b, _)| b.plan(&env_of(&[])).map(|_| ()))
                .unwrap_err();
            assert_eq!(e.kind(), files_core::ErrorKind::InvalidInput, "{url}");
            assert!(!e.to_string().contains("TOPSECRET"), "{url}: {e}");
        }
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

    #[test]
    fn profile_parser() {
        let text = "[default]\nregion=a\n[profile x]\nother = 1\nregion = b\n[y]\nregion=c\n";
        assert_eq!(region_in_config(text, "default").as_deref(), Some("a"));
        assert_eq!(region_in_config(text, "x").as_deref(), Some("b"));
        assert_eq!(region_in_config(text, "y").as_deref(), Some("c"));
        assert_eq!(region_in_config(text, "z"), None);
    }
}
