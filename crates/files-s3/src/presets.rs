//! Presets for Amazon S3 and the S3-compatible stores: endpoint templates, addressing style,
//! region handling, credential environment variables and per-part checksum support.
//!
//! Every function here is pure (no network, no environment): [`Preset::resolve`] turns a
//! preset and its parameters into the endpoint, signing region and addressing style the
//! adapter uses. The table in `docs/s3.md` is generated from the same facts ([`PresetInfo`]).

use files_core::{Error, Result};

/// Whether a store keeps the per-part CRC32C checksums S3's multipart API can carry
/// (`x-amz-checksum-crc32c` on UploadPart, echoed by UploadPart and ListParts).
///
/// When a store cannot vouch for a part's bytes, the core keeps a CRC32C fingerprint of every
/// part in the resume token instead, so changed-body detection works either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumSupport {
    /// Documented by the provider and used by default.
    Supported,
    /// Not verified against the live service: off by default (turn on with `checksums=true`
    /// / [`S3Builder::checksums`](crate::S3Builder::checksums) once you have checked it).
    NotVerified,
    /// Known not to store or echo them: off by default.
    Unsupported,
}

impl ChecksumSupport {
    /// A short human description, as in the docs table.
    pub fn describe(self) -> &'static str {
        match self {
            ChecksumSupport::Supported => "yes (on by default)",
            ChecksumSupport::NotVerified => "not verified (off by default)",
            ChecksumSupport::Unsupported => "no (off)",
        }
    }
}

/// A store the adapter knows how to reach. Pick one with
/// [`S3Builder::preset`](crate::S3Builder::preset), by name with [`Preset::by_name`], or through
/// its URL scheme ([`Preset::scheme`], e.g. `r2://bucket/key?account=...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Preset {
    /// Amazon S3 itself (or any S3-compatible endpoint given with `endpoint`).
    Aws,
    /// Cloudflare R2.
    R2,
    /// MinIO (self-hosted; the endpoint is required).
    Minio,
    /// Alibaba Cloud OSS.
    AlibabaOss,
    /// Backblaze B2.
    B2,
    /// Wasabi.
    Wasabi,
    /// DigitalOcean Spaces.
    DigitalOcean,
    /// Tigris.
    Tigris,
    /// Scaleway Object Storage.
    Scaleway,
    /// Hetzner Object Storage.
    Hetzner,
    /// Linode / Akamai Object Storage.
    Linode,
    /// Vultr Object Storage.
    Vultr,
    /// OVHcloud Object Storage.
    Ovh,
    /// IDrive e2 (the endpoint is per account and required).
    IdriveE2,
    /// Tencent Cloud COS.
    TencentCos,
    /// Yandex Object Storage.
    Yandex,
    /// Exoscale Simple Object Storage (SOS).
    Exoscale,
    /// Filebase.
    Filebase,
    /// Storj (S3 gateway).
    Storj,
    /// IBM Cloud Object Storage (HMAC credentials).
    IbmCos,
    /// Oracle Cloud Infrastructure Object Storage (S3 compatibility API).
    Oracle,
}

/// The facts about one preset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PresetInfo {
    /// Short name, as accepted by [`Preset::by_name`].
    pub name: &'static str,
    /// The URL scheme registered for it.
    pub scheme: &'static str,
    /// Human name.
    pub label: &'static str,
    /// Endpoint template, for the docs (`{region}`, `{account}`, ... are parameters).
    pub endpoint_template: &'static str,
    /// Path-style addressing (`https://host/bucket/key`) by default; otherwise virtual-hosted
    /// (`https://bucket.host/key`).
    pub path_style: bool,
    /// The region used when none is given (`None`: a region is required).
    pub default_region: Option<&'static str>,
    /// Environment variables tried, in order, for the access key id (then `AWS_*`).
    pub access_key_env: &'static [&'static str],
    /// Environment variables tried, in order, for the secret key.
    pub secret_key_env: &'static [&'static str],
    /// Environment variables tried for a session token.
    pub session_token_env: &'static [&'static str],
    /// Environment variable tried for the region (after the `region` parameter).
    pub region_env: &'static [&'static str],
    /// Per-part CRC32C checksums.
    pub checksums: ChecksumSupport,
    /// Whether `UNSIGNED-PAYLOAD` (no SHA-256 of the body, integrity by CRC32C / TLS) is used
    /// by default over https.
    pub unsigned_payload: bool,
    /// What differs from Amazon S3.
    pub notes: &'static str,
}

/// Parameters a preset's endpoint template may need.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PresetParams {
    /// Region (or location / zone / cluster, as the store names it).
    pub region: Option<String>,
    /// Cloudflare account id (R2).
    pub account: Option<String>,
    /// R2 jurisdiction (`eu`, `fedramp`).
    pub jurisdiction: Option<String>,
    /// Oracle Object Storage namespace.
    pub namespace: Option<String>,
    /// Use the provider's internal (same-cloud) endpoint where it has one (Alibaba OSS).
    pub internal: bool,
    /// An explicit endpoint, overriding the template.
    pub endpoint: Option<String>,
}

/// What a preset and its parameters resolve to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// `https://host[:port]` (no path, no trailing `/`); `None` means Amazon S3's own endpoint
    /// for the region.
    pub endpoint: Option<String>,
    /// The SigV4 signing region.
    pub region: String,
    /// Path-style addressing.
    pub path_style: bool,
}

const AWS_ACCESS: &[&str] = &[];
const NONE: &[&str] = &[];

const ALL: &[Preset] = &[
    Preset::Aws,
    Preset::R2,
    Preset::Minio,
    Preset::AlibabaOss,
    Preset::B2,
    Preset::Wasabi,
    Preset::DigitalOcean,
    Preset::Tigris,
    Preset::Scaleway,
    Preset::Hetzner,
    Preset::Linode,
    Preset::Vultr,
    Preset::Ovh,
    Preset::IdriveE2,
    Preset::TencentCos,
    Preset::Yandex,
    Preset::Exoscale,
    Preset::Filebase,
    Preset::Storj,
    Preset::IbmCos,
    Preset::Oracle,
];

impl Preset {
    /// Every preset, in the order of the docs table.
    pub fn all() -> &'static [Preset] {
        ALL
    }

    /// The preset called `name` (its [`PresetInfo::name`] or its URL scheme, case-insensitive;
    /// a few aliases such as `aws`, `s3`, `oss`, `alibaba`, `do`, `cos`, `oci` are accepted).
    pub fn by_name(name: &str) -> Option<Preset> {
        let n = name.trim().to_ascii_lowercase();
        let alias = match n.as_str() {
            "aws" | "amazon" => Some(Preset::Aws),
            "cloudflare" => Some(Preset::R2),
            "alibaba" | "aliyun" | "alibaba-oss" => Some(Preset::AlibabaOss),
            "backblaze" => Some(Preset::B2),
            "do" | "digitalocean" => Some(Preset::DigitalOcean),
            "scw" => Some(Preset::Scaleway),
            "akamai" => Some(Preset::Linode),
            "ovhcloud" => Some(Preset::Ovh),
            "e2" | "idrive-e2" => Some(Preset::IdriveE2),
            "tencent" | "qcloud" => Some(Preset::TencentCos),
            "sos" => Some(Preset::Exoscale),
            "ibm" | "ibm-cos" => Some(Preset::IbmCos),
            "oci" => Some(Preset::Oracle),
            _ => None,
        };
        alias.or_else(|| {
            ALL.iter()
                .copied()
                .find(|p| p.info().name == n || p.info().scheme == n)
        })
    }

    /// The preset whose URL scheme is `scheme`.
    pub fn by_scheme(scheme: &str) -> Option<Preset> {
        ALL.iter().copied().find(|p| p.info().scheme == scheme)
    }

    /// Its URL scheme (`s3`, `r2`, `oss`, ...).
    pub fn scheme(self) -> &'static str {
        self.info().scheme
    }

    /// Its short name.
    pub fn name(self) -> &'static str {
        self.info().name
    }

    /// The facts about this preset.
    pub fn info(self) -> &'static PresetInfo {
        match self {
            Preset::Aws => &AWS,
            Preset::R2 => &R2,
            Preset::Minio => &MINIO,
            Preset::AlibabaOss => &OSS,
            Preset::B2 => &B2,
            Preset::Wasabi => &WASABI,
            Preset::DigitalOcean => &SPACES,
            Preset::Tigris => &TIGRIS,
            Preset::Scaleway => &SCALEWAY,
            Preset::Hetzner => &HETZNER,
            Preset::Linode => &LINODE,
            Preset::Vultr => &VULTR,
            Preset::Ovh => &OVH,
            Preset::IdriveE2 => &IDRIVE,
            Preset::TencentCos => &COS,
            Preset::Yandex => &YANDEX,
            Preset::Exoscale => &EXOSCALE,
            Preset::Filebase => &FILEBASE,
            Preset::Storj => &STORJ,
            Preset::IbmCos => &IBM,
            Preset::Oracle => &ORACLE,
        }
    }

    /// Resolves the endpoint, signing region and addressing style from the parameters. An
    /// explicit `endpoint` wins over the template; `path_style` (if given) over the preset's
    /// default. Pure: the caller has already folded environment variables into `params`.
    pub fn resolve(self, params: &PresetParams, path_style: Option<bool>) -> Result<Resolved> {
        let info = self.info();
        let region = match params.region.as_deref().filter(|r| !r.is_empty()) {
            Some(r) => {
                check_label("region", r)?;
                Some(r.to_string())
            }
            None => info.default_region.map(str::to_string),
        };
        let explicit = match &params.endpoint {
            Some(e) if !e.is_empty() => Some(normalize_endpoint(e)?),
            _ => None,
        };
        let need_region = |what: &str| -> Result<String> {
            region.clone().ok_or_else(|| {
                Error::invalid_input(format!(
                    "{} needs a {what} (`region=` in the URL, or `{}`)",
                    info.label,
                    info.region_env.first().copied().unwrap_or("AWS_REGION")
                ))
            })
        };
        let templated =
            |host: String| -> Result<Option<String>> { Ok(Some(format!("https://{host}"))) };
        let endpoint = match (explicit, self) {
            (Some(e), _) => Some(e),
            (None, Preset::Aws) => None,
            (None, Preset::R2) => {
                let account = params.account.as_deref().unwrap_or_default();
                if account.is_empty() {
                    return Err(Error::invalid_input(
                        "Cloudflare R2 needs the account id (`account=` in the URL, or R2_ACCOUNT_ID)",
                    ));
                }
                check_label("account", account)?;
                match params.jurisdiction.as_deref().filter(|j| !j.is_empty()) {
                    Some(j) => {
                        check_label("jurisdiction", j)?;
                        templated(format!("{account}.{j}.r2.cloudflarestorage.com"))?
                    }
                    None => templated(format!("{account}.r2.cloudflarestorage.com"))?,
                }
            }
            (None, Preset::Minio) => {
                return Err(Error::invalid_input(
                    "MinIO needs its endpoint (`endpoint=http://host:9000` in the URL, or MINIO_ENDPOINT)",
                ));
            }
            (None, Preset::IdriveE2) => {
                return Err(Error::invalid_input(
                    "IDrive e2 needs the endpoint shown in its console (`endpoint=https://...` in the URL, or IDRIVE_E2_ENDPOINT)",
                ));
            }
            (None, Preset::AlibabaOss) => {
                let r = need_region("region (e.g. cn-hangzhou)")?;
                let r = r.strip_prefix("oss-").unwrap_or(&r).to_string();
                if params.internal {
                    templated(format!("oss-{r}-internal.aliyuncs.com"))?
                } else {
                    templated(format!("oss-{r}.aliyuncs.com"))?
                }
            }
            (None, Preset::B2) => templated(format!(
                "s3.{}.backblazeb2.com",
                need_region("region (e.g. us-west-004)")?
            ))?,
            (None, Preset::Wasabi) => templated(format!(
                "s3.{}.wasabisys.com",
                need_region("region (e.g. us-east-1)")?
            ))?,
            (None, Preset::DigitalOcean) => templated(format!(
                "{}.digitaloceanspaces.com",
                need_region("region (e.g. nyc3)")?
            ))?,
            (None, Preset::Tigris) => templated("t3.storage.dev".to_string())?,
            (None, Preset::Scaleway) => templated(format!(
                "s3.{}.scw.cloud",
                need_region("region (e.g. fr-par)")?
            ))?,
            (None, Preset::Hetzner) => templated(format!(
                "{}.your-objectstorage.com",
                need_region("location (e.g. fsn1)")?
            ))?,
            (None, Preset::Linode) => templated(format!(
                "{}.linodeobjects.com",
                need_region("region (e.g. us-east-1)")?
            ))?,
            (None, Preset::Vultr) => templated(format!(
                "{}.vultrobjects.com",
                need_region("region (e.g. ewr1)")?
            ))?,
            (None, Preset::Ovh) => templated(format!(
                "s3.{}.io.cloud.ovh.net",
                need_region("region (e.g. gra)")?
            ))?,
            (None, Preset::TencentCos) => templated(format!(
                "cos.{}.myqcloud.com",
                need_region("region (e.g. ap-guangzhou)")?
            ))?,
            (None, Preset::Yandex) => templated("storage.yandexcloud.net".to_string())?,
            (None, Preset::Exoscale) => templated(format!(
                "sos-{}.exo.io",
                need_region("zone (e.g. ch-gva-2)")?
            ))?,
            (None, Preset::Filebase) => templated("s3.filebase.com".to_string())?,
            (None, Preset::Storj) => templated("gateway.storjshare.io".to_string())?,
            (None, Preset::IbmCos) => templated(format!(
                "s3.{}.cloud-object-storage.appdomain.cloud",
                need_region("region (e.g. us-south)")?
            ))?,
            (None, Preset::Oracle) => {
                let ns = params.namespace.as_deref().unwrap_or_default();
                if ns.is_empty() {
                    return Err(Error::invalid_input(
                        "Oracle Cloud needs the Object Storage namespace (`namespace=` in the URL, or OCI_NAMESPACE)",
                    ));
                }
                check_label("namespace", ns)?;
                templated(format!(
                    "{ns}.compat.objectstorage.{}.oraclecloud.com",
                    need_region("region (e.g. us-ashburn-1)")?
                ))?
            }
        };
        // The signing region: the store's own name for it where it signs with it, else the
        // preset's fixed one.
        let region = match self {
            Preset::R2 | Preset::Tigris => "auto".to_string(),
            Preset::AlibabaOss => region
                .map(|r| r.strip_prefix("oss-").unwrap_or(&r).to_string())
                .unwrap_or_else(|| "cn-hangzhou".to_string()),
            _ => region.unwrap_or_else(|| "us-east-1".to_string()),
        };
        let path_style = match path_style {
            Some(p) => p,
            // A bucket cannot be a subdomain of an IP address or of `localhost`.
            None => info.path_style || endpoint.as_deref().is_some_and(host_needs_path_style),
        };
        Ok(Resolved {
            endpoint,
            region,
            path_style,
        })
    }
}

/// Checks an endpoint URL and reduces it to `scheme://host[:port]`. Refuses user info (no
/// credentials in URLs), queries, fragments and paths.
pub fn normalize_endpoint(endpoint: &str) -> Result<String> {
    let e = endpoint.trim();
    let with_scheme = if e.contains("://") {
        e.to_string()
    } else {
        format!("https://{e}")
    };
    let url = url::Url::parse(&with_scheme).map_err(|err| {
        Error::invalid_input(format!(
            "the endpoint `{}` is not a valid URL: {err}",
            Error::redacted(e)
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Error::invalid_input(format!(
            "the endpoint must be an http or https URL, not `{}`",
            url.scheme()
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::invalid_input(
            "the endpoint URL must not contain credentials; use the credential settings or environment variables",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.path().trim_matches('/').is_empty()
    {
        return Err(Error::invalid_input(
            "the endpoint must be `http(s)://host[:port]` without a path, query or fragment",
        ));
    }
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| Error::invalid_input("the endpoint URL has no host"))?;
    Ok(match url.port() {
        Some(p) => format!("{}://{host}:{p}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    })
}

/// `host[:port]` of a normalized endpoint.
pub fn endpoint_authority(endpoint: &str) -> &str {
    endpoint
        .split_once("://")
        .map(|(_, rest)| rest)
        .unwrap_or(endpoint)
        .trim_end_matches('/')
}

fn host_needs_path_style(endpoint: &str) -> bool {
    let authority = endpoint_authority(endpoint);
    let host = if authority.starts_with('[') {
        return true; // IPv6 literal
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, _)| h)
    };
    host == "localhost" || host.parse::<std::net::Ipv4Addr>().is_ok()
}

/// A template parameter must be a DNS label-ish token, so that it cannot inject another host.
fn check_label(what: &str, value: &str) -> Result<()> {
    let ok = !value.is_empty()
        && value.len() <= 63
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && !value.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid_input(format!(
            "the {what} `{value}` is not valid (letters, digits, `-` and `_` only)"
        )))
    }
}

const AWS: PresetInfo = PresetInfo {
    name: "aws",
    scheme: "s3",
    label: "Amazon S3",
    endpoint_template: "SDK default (`s3.{region}.amazonaws.com`), or `endpoint=` / AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL",
    path_style: false,
    default_region: None,
    access_key_env: AWS_ACCESS,
    secret_key_env: AWS_ACCESS,
    session_token_env: NONE,
    region_env: &["AWS_REGION", "AWS_DEFAULT_REGION"],
    checksums: ChecksumSupport::Supported,
    unsigned_payload: true,
    notes: "The reference. Credentials from the standard AWS chain (env, shared profile files, credential_process, web identity, ECS, IMDS; SSO profiles are not compiled in). Region: AWS_REGION, AWS_DEFAULT_REGION, the profile's `region`, else `us-east-1`.",
};

const R2: PresetInfo = PresetInfo {
    name: "r2",
    scheme: "r2",
    label: "Cloudflare R2",
    endpoint_template: "`https://{account}.r2.cloudflarestorage.com` (`{account}.{jurisdiction}.r2...` with `jurisdiction=eu`)",
    path_style: true,
    default_region: Some("auto"),
    access_key_env: &["R2_ACCESS_KEY_ID"],
    secret_key_env: &["R2_SECRET_ACCESS_KEY"],
    session_token_env: &["R2_SESSION_TOKEN"],
    region_env: &[],
    checksums: ChecksumSupport::NotVerified,
    unsigned_payload: true,
    notes: "Region is always `auto`. Account id from `account=`, R2_ACCOUNT_ID or CLOUDFLARE_ACCOUNT_ID. All parts but the last must have the same size (the core always does that).",
};

const MINIO: PresetInfo = PresetInfo {
    name: "minio",
    scheme: "minio",
    label: "MinIO",
    endpoint_template: "required: `endpoint=http://host:9000` or MINIO_ENDPOINT",
    path_style: true,
    default_region: Some("us-east-1"),
    access_key_env: &["MINIO_ACCESS_KEY", "MINIO_ROOT_USER"],
    secret_key_env: &["MINIO_SECRET_KEY", "MINIO_ROOT_PASSWORD"],
    session_token_env: &["MINIO_SESSION_TOKEN"],
    region_env: &["MINIO_REGION"],
    checksums: ChecksumSupport::NotVerified,
    unsigned_payload: true,
    notes: "Path-style by default. MinIO documents x-amz-checksum support, but it was not verified here.",
};

const OSS: PresetInfo = PresetInfo {
    name: "alibaba-oss",
    scheme: "oss",
    label: "Alibaba Cloud OSS",
    endpoint_template: "`https://oss-{region}.aliyuncs.com` (`oss-{region}-internal.aliyuncs.com` with `internal=true`)",
    path_style: false,
    default_region: None,
    access_key_env: &["OSS_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_ID"],
    secret_key_env: &["OSS_ACCESS_KEY_SECRET", "ALIBABA_CLOUD_ACCESS_KEY_SECRET"],
    session_token_env: &["OSS_SESSION_TOKEN", "ALIBABA_CLOUD_SECURITY_TOKEN"],
    region_env: &["OSS_REGION"],
    checksums: ChecksumSupport::Unsupported,
    unsigned_payload: false,
    notes: "Virtual-hosted only (path-style is refused). Region is the OSS region id (`cn-hangzhou`; an `oss-` prefix is accepted). OSS keeps CRC-64 (x-oss-hash-crc64ecma), not x-amz-checksum-crc32c; aws-chunked uploads are not supported (never used here). Alibaba now also documents `s3.oss-{region}.aliyuncs.com`: pass it with `endpoint=`.",
};

const B2: PresetInfo = PresetInfo {
    name: "b2",
    scheme: "b2",
    label: "Backblaze B2",
    endpoint_template: "`https://s3.{region}.backblazeb2.com`",
    path_style: false,
    default_region: None,
    access_key_env: &["B2_APPLICATION_KEY_ID"],
    secret_key_env: &["B2_APPLICATION_KEY"],
    session_token_env: &[],
    region_env: &["B2_REGION"],
    checksums: ChecksumSupport::NotVerified,
    unsigned_payload: true,
    notes: "Region as in the bucket's endpoint (`us-west-004`). Application keys, not the master key.",
};

const WASABI: PresetInfo = PresetInfo {
    name: "wasabi",
    scheme: "wasabi",
    label: "Wasabi",
    endpoint_template: "`https://s3.{region}.wasabisys.com`",
    path_style: false,
    default_region: Some("us-east-1"),
    access_key_env: &["WASABI_ACCESS_KEY_ID", "WASABI_ACCESS_KEY"],
    secret_key_env: &["WASABI_SECRET_ACCESS_KEY", "WASABI_SECRET_KEY"],
    session_token_env: &[],
    region_env: &["WASABI_REGION"],
    checksums: ChecksumSupport::NotVerified,
    unsigned_payload: true,
    notes: "Objects have a minimum billed storage duration (deleting early is billed).",
};

const SPACES: PresetInfo = PresetInfo {
    name: "spaces",
    scheme: "spaces",
    label: "DigitalOcean Spaces",
    endpoint_template: "`https://{region}.digitaloceanspaces.com`",
    path_style: false,
    default_region: None,
    access_key_env: &["SPACES_ACCESS_KEY_ID", "SPACES_KEY"],
    secret_key_env: &["SPACES_SECRET_ACCESS_KEY", "SPACES_SECRET"],
    session_token_env: &[],
    region_env: &["SPACES_REGION"],
    checksums: ChecksumSupport::NotVerified,
    unsigned_payload: true,
    notes: "Region is the datacenter slug (`nyc3`), also used to sign.",
};

const TIGRIS: PresetInfo = PresetInfo {
    name: "tigris",
    scheme: "tigris",
    label: "Tigris",
    endpoint_template: "`https://t3.storage.dev`",
    path_style: false,
    default_region: Some("auto"),
    access_key_env: &["TIGRIS_STORAGE_ACCESS_KEY_ID", "TIGRIS_ACCESS_KEY_ID"],
    secret_key_env: &[
        "TIGRIS_STORAGE_SECRET_ACCESS_KEY",
        "TIGRIS_SECRET_ACCESS_KEY",
    ],
    session_token_env: &[],
    region_env: &[],
    checksums: ChecksumSupport::NotVerified,
    unsigned_payload: true,
    notes: "Globally distributed; region is always `auto`. The former `fly.storage.tigris.dev` works with `endpoint=`.",
};

const SCALEWAY: PresetInfo = PresetInfo {
    name: "scaleway",
    scheme: "scaleway",
    label: "Scaleway",
    endpoint_template: "`https://s3.{region}.scw.cloud`",
    path_style: false,
    default_region: None,
    access_key_env: &["SCW_ACCESS_KEY"],
    secret_key_env: &["SCW_SECRET_KEY"],
    session_token_env: &[],
    region_env: &["SCW_DEFAULT_REGION", "SCW_REGION"],
    checksums: ChecksumSupport::NotVerified,
    unsigned_payload: true,
    notes: "Regions `fr-par`, `nl-ams`, `pl-waw`. At most 1,000 parts per upload on some storage classes: pick a larger part size for very large files.",
};

const HETZNER: PresetInfo = PresetInfo {
    name: "hetzner",
    scheme: "hetzner",
    label: "Hetzner Object Storage",
    endpoint_template: "`https://{location}.your-objectstorage.com`",
    path_style: false,
    default_region: None,
    access_key_env: &["HETZNER_S3_ACCESS_KEY", "HETZNER_ACCESS_KEY_ID"],
    secret_key_env: &["HETZNER_S3_SECRET_KEY", "HETZNER_SECRET_ACCESS_KEY"],
    session_token_env: &[],
    region_env: &["HETZNER_LOCATION"],
    checksums: ChecksumSupport::NotVerified,
    unsigned_payload: true,
    notes: "Location `fsn1`, `nbg1`, `hel1` is also the signing region. Ceph-based.",
};

const LINODE: PresetInfo = PresetInfo {
    name: "linode",
    scheme: "linode",
    label: "Linode / Akamai Object Storage",
    endpoint_template: "`https://{region}.linodeobjects.com`",
    path_style: false,
    default_region: None,
    access_key_env: &["LINODE_OBJ_ACCESS_KEY", "LINODE_CLI_OBJ_ACCESS_KEY"],
    secret_key_env: &["LINODE_OBJ_SECRET_KEY", "LINODE_CLI_OBJ_SECRET_KEY"],
    session_token_env: &[],
    region_env: &["LINODE_OBJ_REGION"],
    checksums: ChecksumSupport::NotVerified,
    unsigned_payload: true,
    notes: "Region is the cluster id (`us-east-1`, `us-sea-1`, ...). Ceph-based.",
};

const VULTR: PresetInfo = PresetInfo {
    name: "vultr",
    scheme: "vultr",
    label: "Vultr Object Storage",
    endpoint_template: "`https://{region}.vultrobjects.com`",
    path_style: false,
    default_region: None,
    access_key_env: &["VULTR_ACCESS_KEY", "VULTR_S3_ACCESS_KEY"],
    secret_key_env: &["VULTR_SECRET_KEY", "VULTR_S3_SECRET_KEY"],
    session_token_env: &[],
    region_env: &["VULTR_REGION"],
    checksums: ChecksumSupport::NotVerified,
    unsigned_payload: true,
    notes: "Region is the cluster (`ewr1`, `sjc1`, `ams1`, ...). Ceph-based.",
};

const OVH: PresetInfo = PresetInfo {
    name: "ovh",
    scheme: "ovh",
    label: "OVHcloud Object Storage",
    endpoint_template: "`https://s3.{region}.io.cloud.ovh.net`",
    path_style: false,
    default_region: None,
    access_key_env: &["OVH_ACCESS_KEY_ID", "OVH_S3_ACCESS_KEY"],
    secret_key_env: &["OVH_SECRET_ACCESS_KEY", "OVH_S3_SECRET_KEY"],
    session_token_env: &[],
    region_env: &["OVH_REGION"],
    checksums: ChecksumSupport::NotVerified,
    unsigned_payload: true,
    notes: "Region `gra`, `sbg`, `bhs`, `de`, `uk`, `waw`, ... (the lower-case short name).",
};

const IDRIVE: PresetInfo = PresetInfo {
    name: "idrive-e2",
    scheme: "idrive",
    label: "IDrive e2",
    endpoint_template: "required: the per-account endpoint from the console (`endpoint=` or IDRIVE_E2_ENDPOINT)",
    path_style: true,
    default_region: Some("us-east-1"),
    access_key_env: &["IDRIVE_E2_ACCESS_KEY_ID", "IDRIVE_ACCESS_KEY_ID"],
    secret_key_env: &["IDRIVE_E2_SECRET_ACCESS_KEY", "IDRIVE_SECRET_ACCESS_KEY"],
    session_token_env: &[],
    region_env: &["IDRIVE_E2_REGION"],
    checksums: ChecksumSupport::NotVerified,
    unsigned_payload: true,
    notes: "No endpoint template: each account region has its own host name.",
};

const COS: PresetInfo = PresetInfo {
    name: "tencent-cos",
    scheme: "cos",
    label: "Tencent Cloud COS",
    endpoint_template: "`https://cos.{region}.myqcloud.com`",
    path_style: false,
    default_region: None,
    access_key_env: &["COS_SECRET_ID", "TENCENTCLOUD_SECRET_ID"],
    secret_key_env: &["COS_SECRET_KEY", "TENCENTCLOUD_SECRET_KEY"],
    session_token_env: &["COS_SESSION_TOKEN", "TENCENTCLOUD_SESSION_TOKEN"],
    region_env: &["COS_REGION"],
    checksums: ChecksumSupport::Unsupported,
    unsigned_payload: false,
    notes: "Virtual-hosted only; bucket names carry the APPID (`name-1250000000`). COS keeps CRC-64, not x-amz-checksum-crc32c.",
};

const YANDEX: PresetInfo = PresetInfo {
    name: "yandex",
    scheme: "yandex",
    label: "Yandex Object Storage",
    endpoint_template: "`https://storage.yandexcloud.net`",
    path_style: false,
    default_region: Some("ru-central1"),
    access_key_env: &["YC_ACCESS_KEY_ID", "YANDEX_ACCESS_KEY_ID"],
    secret_key_env: &["YC_SECRET_ACCESS_KEY", "YANDEX_SECRET_ACCESS_KEY"],
    session_token_env: &[],
    region_env: &[],
    checksums: ChecksumSupport::NotVerified,
    unsigned_payload: true,
    notes: "Single endpoint; region `ru-central1`.",
};

const EXOSCALE: PresetInfo = PresetInfo {
    name: "exoscale",
    scheme: "exoscale",
    label: "Exoscale SOS",
    endpoint_template: "`https://sos-{zone}.exo.io`",
    path_style: false,
    default_region: None,
    access_key_env: &["EXOSCALE_API_KEY"],
    secret_key_env: &["EXOSCALE_API_SECRET"],
    session_token_env: &[],
    region_env: &["EXOSCALE_ZONE"],
    checksums: ChecksumSupport::NotVerified,
    unsigned_payload: true,
    notes: "Region is the zone (`ch-gva-2`, `de-fra-1`, ...).",
};

const FILEBASE: PresetInfo = PresetInfo {
    name: "filebase",
    scheme: "filebase",
    label: "Filebase",
    endpoint_template: "`https://s3.filebase.com`",
    path_style: true,
    default_region: Some("us-east-1"),
    access_key_env: &["FILEBASE_ACCESS_KEY_ID", "FILEBASE_ACCESS_KEY"],
    secret_key_env: &["FILEBASE_SECRET_ACCESS_KEY", "FILEBASE_SECRET_KEY"],
    session_token_env: &[],
    region_env: &[],
    checksums: ChecksumSupport::NotVerified,
    unsigned_payload: true,
    notes: "Single endpoint, region `us-east-1`; objects are pinned to decentralized networks (IPFS...).",
};

const STORJ: PresetInfo = PresetInfo {
    name: "storj",
    scheme: "storj",
    label: "Storj (S3 gateway)",
    endpoint_template: "`https://gateway.storjshare.io`",
    path_style: true,
    default_region: Some("us-1"),
    access_key_env: &["STORJ_ACCESS_KEY_ID", "STORJ_ACCESS_KEY"],
    secret_key_env: &["STORJ_SECRET_ACCESS_KEY", "STORJ_SECRET_KEY"],
    session_token_env: &[],
    region_env: &[],
    checksums: ChecksumSupport::Unsupported,
    unsigned_payload: true,
    notes: "Path-style. Storj recommends 64 MiB parts (segment size); set `part_size` accordingly.",
};

const IBM: PresetInfo = PresetInfo {
    name: "ibm-cos",
    scheme: "ibmcos",
    label: "IBM Cloud Object Storage",
    endpoint_template: "`https://s3.{region}.cloud-object-storage.appdomain.cloud`",
    path_style: false,
    default_region: None,
    access_key_env: &["IBM_COS_ACCESS_KEY_ID", "COS_HMAC_ACCESS_KEY_ID"],
    secret_key_env: &["IBM_COS_SECRET_ACCESS_KEY", "COS_HMAC_SECRET_ACCESS_KEY"],
    session_token_env: &[],
    region_env: &["IBM_COS_REGION"],
    checksums: ChecksumSupport::NotVerified,
    unsigned_payload: true,
    notes: "Needs HMAC credentials (IAM API keys are not SigV4 credentials). Region `us-south`, `eu-de`, or a cross-region name (`us`, `eu`).",
};

const ORACLE: PresetInfo = PresetInfo {
    name: "oracle",
    scheme: "oracle",
    label: "Oracle Cloud Object Storage",
    endpoint_template: "`https://{namespace}.compat.objectstorage.{region}.oraclecloud.com`",
    path_style: true,
    default_region: None,
    access_key_env: &["OCI_ACCESS_KEY_ID", "ORACLE_ACCESS_KEY_ID"],
    secret_key_env: &["OCI_SECRET_ACCESS_KEY", "ORACLE_SECRET_ACCESS_KEY"],
    session_token_env: &[],
    region_env: &["OCI_REGION"],
    checksums: ChecksumSupport::NotVerified,
    unsigned_payload: true,
    notes: "Path-style only. Needs a Customer Secret Key and the tenancy's namespace (`namespace=` or OCI_NAMESPACE).",
};

#[cfg(test)]
mod tests {
    use super::*;

    fn p(region: Option<&str>) -> PresetParams {
        PresetParams {
            region: region.map(str::to_string),
            ..PresetParams::default()
        }
    }

    fn ep(preset: Preset, params: &PresetParams) -> (String, String, bool) {
        let r = preset.resolve(params, None).unwrap();
        (r.endpoint.unwrap_or_default(), r.region, r.path_style)
    }

    #[test]
    fn every_preset_resolves() {
        let cases: &[(Preset, PresetParams, &str, &str, bool)] = &[
            (Preset::Aws, p(Some("eu-west-1")), "", "eu-west-1", false),
            (Preset::Aws, p(None), "", "us-east-1", false),
            (
                Preset::R2,
                PresetParams {
                    account: Some("abc123".into()),
                    ..PresetParams::default()
                },
                "https://abc123.r2.cloudflarestorage.com",
                "auto",
                true,
            ),
            (
                Preset::R2,
                PresetParams {
                    account: Some("abc123".into()),
                    jurisdiction: Some("eu".into()),
                    region: Some("weur".into()),
                    ..PresetParams::default()
                },
                "https://abc123.eu.r2.cloudflarestorage.com",
                "auto",
                true,
            ),
            (
                Preset::Minio,
                PresetParams {
                    endpoint: Some("http://127.0.0.1:9000/".into()),
                    ..PresetParams::default()
                },
                "http://127.0.0.1:9000",
                "us-east-1",
                true,
            ),
            (
                Preset::AlibabaOss,
                p(Some("cn-hangzhou")),
                "https://oss-cn-hangzhou.aliyuncs.com",
                "cn-hangzhou",
                false,
            ),
            (
                Preset::AlibabaOss,
                p(Some("oss-ap-southeast-1")),
                "https://oss-ap-southeast-1.aliyuncs.com",
                "ap-southeast-1",
                false,
            ),
            (
                Preset::AlibabaOss,
                PresetParams {
                    region: Some("cn-beijing".into()),
                    internal: true,
                    ..PresetParams::default()
                },
                "https://oss-cn-beijing-internal.aliyuncs.com",
                "cn-beijing",
                false,
            ),
            (
                Preset::B2,
                p(Some("us-west-004")),
                "https://s3.us-west-004.backblazeb2.com",
                "us-west-004",
                false,
            ),
            (
                Preset::Wasabi,
                p(None),
                "https://s3.us-east-1.wasabisys.com",
                "us-east-1",
                false,
            ),
            (
                Preset::Wasabi,
                p(Some("eu-central-2")),
                "https://s3.eu-central-2.wasabisys.com",
                "eu-central-2",
                false,
            ),
            (
                Preset::DigitalOcean,
                p(Some("nyc3")),
                "https://nyc3.digitaloceanspaces.com",
                "nyc3",
                false,
            ),
            (
                Preset::Tigris,
                p(None),
                "https://t3.storage.dev",
                "auto",
                false,
            ),
            (
                Preset::Scaleway,
                p(Some("fr-par")),
                "https://s3.fr-par.scw.cloud",
                "fr-par",
                false,
            ),
            (
                Preset::Hetzner,
                p(Some("fsn1")),
                "https://fsn1.your-objectstorage.com",
                "fsn1",
                false,
            ),
            (
                Preset::Linode,
                p(Some("us-east-1")),
                "https://us-east-1.linodeobjects.com",
                "us-east-1",
                false,
            ),
            (
                Preset::Vultr,
                p(Some("ewr1")),
                "https://ewr1.vultrobjects.com",
                "ewr1",
                false,
            ),
            (
                Preset::Ovh,
                p(Some("gra")),
                "https://s3.gra.io.cloud.ovh.net",
                "gra",
                false,
            ),
            (
                Preset::IdriveE2,
                PresetParams {
                    endpoint: Some("https://x7k2.ch.idrivee2-31.com".into()),
                    ..PresetParams::default()
                },
                "https://x7k2.ch.idrivee2-31.com",
                "us-east-1",
                true,
            ),
            (
                Preset::TencentCos,
                p(Some("ap-guangzhou")),
                "https://cos.ap-guangzhou.myqcloud.com",
                "ap-guangzhou",
                false,
            ),
            (
                Preset::Yandex,
                p(None),
                "https://storage.yandexcloud.net",
                "ru-central1",
                false,
            ),
            (
                Preset::Exoscale,
                p(Some("ch-gva-2")),
                "https://sos-ch-gva-2.exo.io",
                "ch-gva-2",
                false,
            ),
            (
                Preset::Filebase,
                p(None),
                "https://s3.filebase.com",
                "us-east-1",
                true,
            ),
            (
                Preset::Storj,
                p(None),
                "https://gateway.storjshare.io",
                "us-1",
                true,
            ),
            (
                Preset::IbmCos,
                p(Some("us-south")),
                "https://s3.us-south.cloud-object-storage.appdomain.cloud",
                "us-south",
                false,
            ),
            (
                Preset::Oracle,
                PresetParams {
                    region: Some("us-ashburn-1".into()),
                    namespace: Some("axaxnpcrorw5".into()),
                    ..PresetParams::default()
                },
                "https://axaxnpcrorw5.compat.objectstorage.us-ashburn-1.oraclecloud.com",
                "us-ashburn-1",
                true,
            ),
        ];
        let mut covered = std::collections::BTreeSet::new();
        for (preset, params, endpoint, region, path_style) in cases {
            let got = ep(*preset, params);
            assert_eq!(
                got,
                (endpoint.to_string(), region.to_string(), *path_style),
                "{preset:?}"
            );
            covered.insert(preset.name());
        }
        for preset in Preset::all() {
            assert!(covered.contains(preset.name()), "{preset:?} not tested");
        }
    }

    #[test]
    fn missing_parameters_are_invalid_input() {
        for preset in [
            Preset::R2,
            Preset::Minio,
            Preset::IdriveE2,
            Preset::AlibabaOss,
            Preset::B2,
            Preset::DigitalOcean,
            Preset::Scaleway,
            Preset::Hetzner,
            Preset::Linode,
            Preset::Vultr,
            Preset::Ovh,
            Preset::TencentCos,
            Preset::Exoscale,
            Preset::IbmCos,
            Preset::Oracle,
        ] {
            let e = preset.resolve(&p(None), None).unwrap_err();
            assert_eq!(e.kind(), files_core::ErrorKind::InvalidInput, "{preset:?}");
        }
    }

    #[test]
    fn template_parameters_cannot_inject_hosts() {
        for bad in ["evil.com/x", "a.b", "x?y", "", "-x", "a b"] {
            let e = Preset::B2.resolve(&p(Some(bad)), None);
            if bad.is_empty() {
                assert!(e.is_err());
                continue;
            }
            assert_eq!(
                e.unwrap_err().kind(),
                files_core::ErrorKind::InvalidInput,
                "{bad}"
            );
        }
        let r2 = PresetParams {
            account: Some("x.evil.com".into()),
            ..PresetParams::default()
        };
        assert!(Preset::R2.resolve(&r2, None).is_err());
    }

    #[test]
    fn explicit_endpoint_and_path_style_win() {
        let params = PresetParams {
            region: Some("cn-hangzhou".into()),
            endpoint: Some("https://s3.oss-cn-hangzhou.aliyuncs.com".into()),
            ..PresetParams::default()
        };
        let r = Preset::AlibabaOss.resolve(&params, Some(false)).unwrap();
        assert_eq!(
            r.endpoint.as_deref(),
            Some("https://s3.oss-cn-hangzhou.aliyuncs.com")
        );
        let params = PresetParams {
            endpoint: Some("http://localhost:5055".into()),
            ..PresetParams::default()
        };
        assert!(Preset::Aws.resolve(&params, None).unwrap().path_style);
        assert!(
            !Preset::Aws
                .resolve(&params, Some(false))
                .unwrap()
                .path_style
        );
        let params = PresetParams {
            endpoint: Some("https://s3.example.com".into()),
            ..PresetParams::default()
        };
        assert!(!Preset::Aws.resolve(&params, None).unwrap().path_style);
    }

    #[test]
    fn endpoints_are_normalized_and_checked() {
        assert_eq!(
            normalize_endpoint("http://127.0.0.1:9000/").unwrap(),
            "http://127.0.0.1:9000"
        );
        assert_eq!(
            normalize_endpoint("s3.example.com").unwrap(),
            "https://s3.example.com"
        );
        for bad in [
            "ftp://h",
            "http://user:pass@h",
            "http://h/path",
            "http://h?x=1",
            "http://",
        ] {
            let e = normalize_endpoint(bad).unwrap_err();
            assert_eq!(e.kind(), files_core::ErrorKind::InvalidInput, "{bad}");
            assert!(!e.to_string().contains("pass"), "{e}");
        }
        assert_eq!(
            endpoint_authority("http://127.0.0.1:9000"),
            "127.0.0.1:9000"
        );
    }

    #[test]
    fn names_and_schemes() {
        let mut schemes = std::collections::BTreeSet::new();
        for preset in Preset::all() {
            let info = preset.info();
            assert_eq!(Preset::by_name(info.name), Some(*preset));
            assert_eq!(Preset::by_name(info.scheme), Some(*preset));
            assert_eq!(Preset::by_scheme(info.scheme), Some(*preset));
            assert!(
                schemes.insert(info.scheme),
                "duplicate scheme {}",
                info.scheme
            );
            assert_eq!(
                info.access_key_env.len(),
                info.secret_key_env.len(),
                "{preset:?}"
            );
        }
        assert_eq!(Preset::by_name("OSS"), Some(Preset::AlibabaOss));
        assert_eq!(Preset::by_name("alibaba"), Some(Preset::AlibabaOss));
        assert_eq!(Preset::by_name("do"), Some(Preset::DigitalOcean));
        assert_eq!(Preset::by_name("nope"), None);
        assert_eq!(Preset::Aws.scheme(), "s3");
    }
}
