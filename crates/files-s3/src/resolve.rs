//! Where a store is: `scheme://bucket/key?params` URLs (one scheme per preset) parsed into a
//! builder and a key, the openers of the URL schemes, and the preset's parameters (region,
//! endpoint, account, namespace) filled from the environment and the AWS shared config file.

use std::collections::BTreeMap;
use std::sync::Arc;

use files_core::{Adapter, Error, Result};

use crate::adapter::S3Adapter;
use crate::config::S3Builder;
use crate::presets::{Preset, PresetParams};

impl S3Builder {
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
                    self = self.preset(Preset::by_name(value).ok_or_else(|| {
                        Error::invalid_input(format!("unknown S3 preset `{value}`"))
                    })?)
                }
                "part_size" => {
                    self = self.default_part_size(value.parse().map_err(|_| {
                        Error::invalid_input(format!("part_size `{value}` is not a number"))
                    })?)
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
}

impl S3Adapter {
    /// An adapter for the store an URL names: `s3://bucket?region=..&endpoint=..&path_style=true`
    /// or a preset scheme (`r2://bucket?account=..`, `oss://bucket?region=..`, ...). A key in
    /// the path is ignored here (see [`FACTORY`](crate::FACTORY) for object URLs).
    pub fn from_url(url: &str) -> Result<S3Adapter> {
        let parsed = url::Url::parse(url).map_err(|e| {
            Error::invalid_input(format!(
                "`{}` is not a valid URL: {e}",
                Error::redacted(url)
            ))
        })?;
        <S3Adapter as files_core::FromUrl>::from_url(&parsed)
    }
}

impl files_core::FromUrl for S3Adapter {
    /// The store of `scheme://bucket/...?params` (the key is ignored); credentials from the
    /// environment or the AWS chain.
    fn from_url(url: &url::Url) -> Result<S3Adapter> {
        let (builder, _) = builder_from_url(url)?;
        builder.build()
    }
}

/// The object opener of every scheme: refuses a URL that names no key.
pub(crate) fn open_object(url: &url::Url) -> Result<(Arc<dyn Adapter>, String)> {
    let (builder, key) = builder_from_url(url)?;
    if key.is_empty() {
        return Err(Error::invalid_input(format!(
            "the URL names no object (`{}://bucket/key`)",
            url.scheme()
        )));
    }
    Ok((Arc::new(builder.build()?), key))
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

fn parse_bool(name: &str, value: &str) -> Result<bool> {
    match value.to_ascii_lowercase().as_str() {
        "" | "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(Error::invalid_input(format!(
            "URL parameter `{name}` must be true or false, not `{value}`"
        ))),
    }
}

/// The preset's parameters, completed from its environment variables (and, for Amazon S3,
/// the region of the AWS profile): what the builder or the URL did not set.
pub(crate) fn params_from_env(
    preset: Preset,
    mut params: PresetParams,
    profile: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
) -> PresetParams {
    let info = preset.info();
    let first = |names: &[&str]| names.iter().find_map(|n| env(n));
    if params.region.is_none() {
        params.region = first(info.region_env);
    }
    match preset {
        Preset::Aws => {
            if params.endpoint.is_none() {
                params.endpoint = first(&["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]);
            }
            if params.region.is_none() {
                params.region = profile_region(env, profile);
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
    params
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CredentialSource;
    use crate::config::tests::{env_of, plan_url};

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
    fn profile_parser() {
        let text = "[default]\nregion=a\n[profile x]\nother = 1\nregion = b\n[y]\nregion=c\n";
        assert_eq!(region_in_config(text, "default").as_deref(), Some("a"));
        assert_eq!(region_in_config(text, "x").as_deref(), Some("b"));
        assert_eq!(region_in_config(text, "y").as_deref(), Some("c"));
        assert_eq!(region_in_config(text, "z"), None);
    }
}
