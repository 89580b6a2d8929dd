//! Configuration: the builder, connection strings, `az://` URLs and the environment.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use azure_core::credentials::{Secret, TokenCredential};
use files_core::{Error, MIB, Result};

use crate::adapter::{AzureAdapter, Inner};
use crate::http::Transport;

/// Azurite's well-known development account.
pub const DEV_ACCOUNT: &str = "devstoreaccount1";
/// Azurite's well-known development account key (public, documented by Microsoft).
pub const DEV_ACCOUNT_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
/// Azurite's default blob endpoint.
pub const DEV_BLOB_ENDPOINT: &str = "http://127.0.0.1:10000/devstoreaccount1";
/// The default block size of uploads (8 MiB).
pub const DEFAULT_PART_SIZE: u64 = 8 * MIB;

/// How requests are authorized. Secrets are redacted in `Debug`.
#[derive(Clone)]
pub(crate) enum Credential {
    /// Shared Key: the account key (base64).
    SharedKey(Secret),
    /// A SAS token (query string without `?`).
    Sas(Secret),
    /// Microsoft Entra ID bearer tokens.
    Token(Arc<dyn TokenCredential>),
    /// No credential (public containers only).
    Anonymous,
}

impl Credential {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Credential::SharedKey(_) => "shared_key",
            Credential::Sas(_) => "sas",
            Credential::Token(_) => "entra_id",
            Credential::Anonymous => "anonymous",
        }
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}(<redacted>)", self.name())
    }
}

/// Builds an [`AzureAdapter`]: an account and a container, one way to authorize, and an
/// endpoint where the default (`https://<account>.blob.core.windows.net`) does not apply.
///
/// Nothing is read from the environment unless [`AzureBuilder::from_env`] is called (URLs do
/// call it). Building makes no network call.
#[derive(Clone, Default)]
pub struct AzureBuilder {
    account: Option<String>,
    container: Option<String>,
    endpoint: Option<String>,
    credential: Option<Credential>,
    connection_string: Option<Secret>,
    part_size: Option<u64>,
}

impl fmt::Debug for AzureBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AzureBuilder")
            .field("account", &self.account)
            .field("container", &self.container)
            .field("endpoint", &self.endpoint)
            .field("credential", &self.credential)
            .field(
                "connection_string",
                &self.connection_string.as_ref().map(|_| "<redacted>"),
            )
            .field("part_size", &self.part_size)
            .finish()
    }
}

impl AzureBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// The storage account name.
    pub fn account(mut self, account: impl Into<String>) -> Self {
        self.account = Some(account.into());
        self
    }

    /// The container every key lives in.
    pub fn container(mut self, container: impl Into<String>) -> Self {
        self.container = Some(container.into());
        self
    }

    /// The blob endpoint, e.g. `https://myaccount.blob.core.windows.net` or, for Azurite,
    /// the path-style `http://127.0.0.1:10000/devstoreaccount1`. With a path-style endpoint
    /// (an IP address or `localhost`) the first path segment is the account.
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }

    /// Authorizes with the account key (Shared Key), base64 as the portal shows it.
    pub fn access_key(mut self, key: impl Into<String>) -> Self {
        self.credential = Some(Credential::SharedKey(Secret::new(key.into())));
        self
    }

    /// Authorizes with a SAS token (`sv=...&sig=...`, with or without a leading `?`). It
    /// needs read, write, create, delete and list permissions for everything to work.
    pub fn sas_token(mut self, token: impl Into<String>) -> Self {
        let t: String = token.into();
        self.credential = Some(Credential::Sas(Secret::new(
            t.trim_start_matches('?').to_string(),
        )));
        self
    }

    /// Authorizes with Microsoft Entra ID tokens from `credential` (any `azure_core`
    /// [`TokenCredential`], e.g. one of `azure_identity`'s). Needs an `https` endpoint.
    pub fn token_credential(mut self, credential: Arc<dyn TokenCredential>) -> Self {
        self.credential = Some(Credential::Token(credential));
        self
    }

    /// Authorizes with Entra ID through `azure_identity`'s `DeveloperToolsCredential` (the
    /// Azure CLI or Azure Developer CLI sign-in of this machine). Feature `entra`; for managed
    /// identities or service principals pass an `azure_identity` credential to
    /// [`token_credential`](Self::token_credential).
    #[cfg(feature = "entra")]
    pub fn entra_default(self) -> Result<Self> {
        let cred = azure_identity::DeveloperToolsCredential::new(None).map_err(|e| {
            Error::new(
                files_core::ErrorKind::Unauthorized,
                format!(
                    "no Entra ID credential: {}",
                    Error::redacted(&e.to_string())
                ),
            )
        })?;
        Ok(self.token_credential(cred))
    }

    /// Sends requests without any credential (public containers; reads only).
    pub fn anonymous(mut self) -> Self {
        self.credential = Some(Credential::Anonymous);
        self
    }

    /// Takes account, key or SAS, and endpoint from a connection string:
    /// `DefaultEndpointsProtocol=https;AccountName=..;AccountKey=..;EndpointSuffix=..`,
    /// `BlobEndpoint=..;SharedAccessSignature=..`, or Azurite's `UseDevelopmentStorage=true`.
    /// Values set on the builder win. Parsed by [`build`](Self::build).
    pub fn connection_string(mut self, connection_string: impl Into<String>) -> Self {
        self.connection_string = Some(Secret::new(connection_string.into()));
        self
    }

    /// The default block size of uploads (the caller's `part_size` wins).
    pub fn part_size(mut self, bytes: u64) -> Self {
        self.part_size = Some(bytes);
        self
    }

    /// Fills what is not set from the environment: `AZURE_STORAGE_CONNECTION_STRING`, then
    /// `AZURE_STORAGE_ACCOUNT`, and a credential from `AZURE_STORAGE_KEY` or
    /// `AZURE_STORAGE_SAS_TOKEN`.
    pub fn from_env(mut self) -> Self {
        let var = |n: &str| std::env::var(n).ok().filter(|v| !v.trim().is_empty());
        if self.connection_string.is_none()
            && let Some(cs) = var("AZURE_STORAGE_CONNECTION_STRING")
        {
            self.connection_string = Some(Secret::new(cs));
        }
        if self.account.is_none() {
            self.account = var("AZURE_STORAGE_ACCOUNT");
        }
        if self.credential.is_none() {
            if let Some(k) = var("AZURE_STORAGE_KEY") {
                self.credential = Some(Credential::SharedKey(Secret::new(k)));
            } else if let Some(s) = var("AZURE_STORAGE_SAS_TOKEN") {
                self = self.sas_token(s);
            }
        }
        self
    }

    /// Checks the configuration and builds the adapter (no network call).
    pub fn build(self) -> Result<AzureAdapter> {
        let mut account = self.account.clone();
        let mut endpoint = self.endpoint.clone();
        let mut credential = self.credential.clone();
        if let Some(cs) = &self.connection_string {
            let parsed = parse_connection_string(cs.secret())?;
            if account.is_none() {
                account = parsed.account;
            }
            if endpoint.is_none() {
                endpoint = parsed.endpoint;
            }
            if credential.is_none() {
                credential = parsed.credential;
            }
        }
        let container = self
            .container
            .filter(|c| !c.is_empty())
            .ok_or_else(|| Error::invalid_input("an Azure adapter needs a container"))?;
        check_container(&container)?;
        let (origin, base_path, endpoint_account) = match &endpoint {
            Some(e) => split_endpoint(e)?,
            None => {
                let a = account.as_deref().ok_or_else(|| {
                    Error::invalid_input(
                        "an Azure adapter needs an account (builder, `account=`, \
                         AZURE_STORAGE_ACCOUNT or a connection string) or an endpoint",
                    )
                })?;
                (
                    format!("https://{a}.blob.core.windows.net"),
                    String::new(),
                    None,
                )
            }
        };
        let account = account.or(endpoint_account).ok_or_else(|| {
            Error::invalid_input("the Azure account name could not be derived from the endpoint")
        })?;
        if account.is_empty()
            || !account
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        {
            return Err(Error::invalid_input(format!(
                "`{account}` is not an Azure storage account name (lowercase letters and digits)"
            )));
        }
        let credential = credential.unwrap_or(Credential::Anonymous);
        if let Credential::SharedKey(k) = &credential {
            crate::http::hmac("probe", k)?;
        }
        if matches!(credential, Credential::Token(_)) && !origin.starts_with("https://") {
            return Err(Error::invalid_input(
                "Entra ID tokens are only sent over https endpoints",
            ));
        }
        let part_size = self.part_size.unwrap_or(DEFAULT_PART_SIZE);
        if part_size == 0 || part_size > crate::blocks::MAX_BLOCK_SIZE {
            return Err(Error::invalid_input(format!(
                "part size {part_size} is outside 1..=4000 MiB"
            )));
        }
        // The kit's client: a 30 s connect timeout, no whole-request timeout (the core bounds
        // each request), rustls.
        let http = files_http::client(&files_http::ClientOptions::default())?;
        let host = origin.split_once("://").map_or(origin.as_str(), |(_, h)| h);
        let target = format!("{account}/{container}@{host}{base_path}");
        let mut container_url = format!(
            "{origin}{}",
            crate::http::resource_path(&base_path, &container, None)
        );
        if let Credential::Sas(sas) = &credential {
            container_url.push('?');
            container_url.push_str(sas.secret());
        }
        let sdk = crate::sdk::container_client(&container_url, &account, &credential, &http)?;
        Ok(AzureAdapter {
            inner: Arc::new(Inner {
                sdk,
                transport: Transport {
                    http,
                    origin,
                    base_path,
                    account,
                    container,
                    credential,
                },
                target,
                part_size,
            }),
        })
    }
}

fn check_container(c: &str) -> Result<()> {
    let ok = (3..=63).contains(&c.len())
        && c.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !c.starts_with('-')
        && !c.ends_with('-')
        && !c.contains("--");
    if ok || c == "$root" || c == "$web" {
        Ok(())
    } else {
        Err(Error::invalid_input(format!(
            "`{c}` is not a valid container name (3-63 lowercase letters, digits and single hyphens)"
        )))
    }
}

/// `(origin, base path, account from the endpoint)` of an endpoint URL.
fn split_endpoint(endpoint: &str) -> Result<(String, String, Option<String>)> {
    let url = url::Url::parse(endpoint).map_err(|e| {
        Error::invalid_input(format!(
            "`{}` is not a valid endpoint: {e}",
            Error::redacted(endpoint)
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.query().is_some() {
        return Err(Error::invalid_input(
            "the Azure endpoint must be an http(s) URL without a query",
        ));
    }
    let host = url
        .host_str()
        .ok_or_else(|| Error::invalid_input("the Azure endpoint has no host"))?;
    let origin = match url.port() {
        Some(p) => format!("{}://{host}:{p}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    };
    let path = url.path().trim_end_matches('/').to_string();
    let path_style =
        host == "localhost" || host.parse::<std::net::IpAddr>().is_ok() || host.starts_with('[');
    let account = if !path.is_empty() {
        path.trim_start_matches('/')
            .split('/')
            .next()
            .map(str::to_string)
    } else if !path_style {
        host.split('.').next().map(str::to_string)
    } else {
        None
    };
    Ok((origin, path, account))
}

#[derive(Debug, Default)]
pub(crate) struct ParsedConnectionString {
    pub account: Option<String>,
    pub endpoint: Option<String>,
    pub credential: Option<Credential>,
}

/// Parses a connection string (values may contain `=`; keys are case-insensitive).
pub(crate) fn parse_connection_string(cs: &str) -> Result<ParsedConnectionString> {
    let mut map = BTreeMap::new();
    for part in cs.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').ok_or_else(|| {
            Error::invalid_input("the Azure connection string has a part without `=`")
        })?;
        map.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
    }
    let mut out = ParsedConnectionString::default();
    if map
        .get("usedevelopmentstorage")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    {
        out.account = Some(DEV_ACCOUNT.to_string());
        out.credential = Some(Credential::SharedKey(Secret::new(DEV_ACCOUNT_KEY)));
        out.endpoint = Some(match map.get("developmentstorageproxyuri") {
            Some(proxy) => format!("{}/{DEV_ACCOUNT}", proxy.trim_end_matches('/')),
            None => DEV_BLOB_ENDPOINT.to_string(),
        });
        return Ok(out);
    }
    out.account = map.get("accountname").cloned();
    if let Some(key) = map.get("accountkey") {
        out.credential = Some(Credential::SharedKey(Secret::new(key.clone())));
    } else if let Some(sas) = map.get("sharedaccesssignature") {
        out.credential = Some(Credential::Sas(Secret::new(
            sas.trim_start_matches('?').to_string(),
        )));
    }
    if let Some(e) = map.get("blobendpoint") {
        out.endpoint = Some(e.trim_end_matches('/').to_string());
    } else if let Some(a) = &out.account {
        let protocol = map
            .get("defaultendpointsprotocol")
            .map(String::as_str)
            .unwrap_or("https");
        let suffix = map
            .get("endpointsuffix")
            .map(String::as_str)
            .unwrap_or("core.windows.net");
        out.endpoint = Some(format!("{protocol}://{a}.blob.{suffix}"));
    }
    if out.account.is_none() && out.endpoint.is_none() {
        return Err(Error::invalid_input(
            "the Azure connection string names neither an account nor a BlobEndpoint",
        ));
    }
    Ok(out)
}

/// The builder and key of an `az://container/key?account=..&endpoint=..` URL (also
/// `azure://`); credentials come from the environment only.
pub(crate) fn builder_from_url(url: &url::Url) -> Result<(AzureBuilder, String)> {
    let container = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| {
            Error::invalid_input(format!(
                "the URL names no container (`{}://container/key`)",
                url.scheme()
            ))
        })?
        .to_string();
    // A bad container name is the user's first mistake to hear about, before "no object".
    check_container(&container)?;
    if !url.username().is_empty() || url.password().is_some() || url.port().is_some() {
        return Err(Error::invalid_input(
            "an az:// URL takes no user, password or port (credentials come from the environment)",
        ));
    }
    let mut b = AzureBuilder::new().container(container);
    for (k, v) in url.query_pairs() {
        match k.as_ref() {
            "account" => b = b.account(v.into_owned()),
            "endpoint" => b = b.endpoint(v.into_owned()),
            "part_size" => {
                let n = v
                    .parse::<u64>()
                    .map_err(|_| Error::invalid_input("`part_size` must be a number of bytes"))?;
                b = b.part_size(n);
            }
            other => {
                let lower = other.to_ascii_lowercase();
                let secretish = ["sig", "key", "sas", "token", "secret", "password"]
                    .iter()
                    .any(|s| lower.contains(s));
                return Err(Error::invalid_input(if secretish {
                    "credentials are never read from az:// URLs: use AZURE_STORAGE_KEY, \
                     AZURE_STORAGE_SAS_TOKEN or AZURE_STORAGE_CONNECTION_STRING"
                        .to_string()
                } else {
                    format!(
                        "unknown az:// URL parameter `{other}` (known: account, endpoint, part_size)"
                    )
                }));
            }
        }
    }
    let key = files_http::encode::decode_lossy(url.path().trim_start_matches('/'));
    Ok((b.from_env(), key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_strings() {
        let p = parse_connection_string("UseDevelopmentStorage=true").unwrap();
        assert_eq!(p.account.as_deref(), Some(DEV_ACCOUNT));
        assert_eq!(p.endpoint.as_deref(), Some(DEV_BLOB_ENDPOINT));
        assert!(matches!(p.credential, Some(Credential::SharedKey(_))));
        let p = parse_connection_string(
            "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=a2V5;EndpointSuffix=core.chinacloudapi.cn",
        )
        .unwrap();
        assert_eq!(
            p.endpoint.as_deref(),
            Some("https://acct.blob.core.chinacloudapi.cn")
        );
        let p = parse_connection_string(
            "BlobEndpoint=http://127.0.0.1:1234/devstoreaccount1/;SharedAccessSignature=sv=1&sig=x%3D",
        )
        .unwrap();
        assert_eq!(
            p.endpoint.as_deref(),
            Some("http://127.0.0.1:1234/devstoreaccount1")
        );
        assert!(matches!(p.credential, Some(Credential::Sas(_))));
        assert!(format!("{p:?}").contains("<redacted>"));
        assert!(!format!("{p:?}").contains("sig=x"));
        assert!(parse_connection_string("garbage").is_err());
    }

    #[test]
    fn endpoints() {
        let (o, p, a) = split_endpoint("http://127.0.0.1:10000/devstoreaccount1/").unwrap();
        assert_eq!(
            (o.as_str(), p.as_str(), a.as_deref()),
            (
                "http://127.0.0.1:10000",
                "/devstoreaccount1",
                Some("devstoreaccount1")
            )
        );
        let (o, p, a) = split_endpoint("https://acct.blob.core.windows.net").unwrap();
        assert_eq!(
            (o.as_str(), p.as_str(), a.as_deref()),
            ("https://acct.blob.core.windows.net", "", Some("acct"))
        );
        assert!(split_endpoint("ftp://x").is_err());
        assert!(split_endpoint("https://x/?sig=1").is_err());
    }

    #[test]
    fn containers() {
        for ok in ["abc", "a-b-c", "x1", "$root"] {
            if ok.len() >= 3 {
                assert!(check_container(ok).is_ok(), "{ok}");
            }
        }
        for bad in ["ab", "A-b", "a--b", "-ab", "ab-", "a_b"] {
            assert!(check_container(bad).is_err(), "{bad}");
        }
    }
}
