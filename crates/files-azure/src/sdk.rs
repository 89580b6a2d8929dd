//! The official client, `azure_storage_blob`, set up the way the core needs it.
//!
//! Block staging, block lists, commits, blob properties, deletes, copies and container creation
//! go through its generated clients. Its pipeline is configured so that the core stays in
//! charge: **no retries** (the core's retry policy decides, per part), the adapter's own
//! reqwest client as the transport (rustls, no automatic decompression), and the
//! authorization the adapter was built with:
//!
//! * Shared Key: the official crate has no Shared Key signer, so [`SharedKeyPolicy`], a per-try
//!   pipeline policy, signs every request with the account key (the same string-to-sign as the
//!   adapter's hand-built requests);
//! * a SAS: its query string is part of the container URL, so every request carries it;
//! * Entra ID: the crate's own bearer-token policy over the configured `TokenCredential`;
//! * anonymous: nothing.
//!
//! Errors come back as `azure_core::Error`s and are mapped by [`map_error`] onto the same
//! kinds and messages as the hand-built requests ([`crate::errors`]: status, service error
//! code and message, `Retry-After`; never the URL, which may carry a SAS).

use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use azure_core::credentials::Secret;
use azure_core::http::policies::{Policy, PolicyResult};
use azure_core::http::{ClientOptions, Context, Request, RetryOptions, Transport, Url};
use azure_storage_blob::{BlobContainerClient, BlobContainerClientOptions};
use files_core::{Error, ErrorKind, Result};

use files_http::headers::http_date;

use crate::config::Credential;
use crate::errors::{clean, doing, sdk_answer_error, transport_error};
use crate::http::{API_VERSION, hmac, string_to_sign};

/// Signs each request (each try) with Shared Key. The key never leaves this policy: `Debug`
/// shows the account only.
pub(crate) struct SharedKeyPolicy {
    account: String,
    key: Secret,
}

impl std::fmt::Debug for SharedKeyPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedKeyPolicy")
            .field("account", &self.account)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl SharedKeyPolicy {
    /// The `Authorization` value of `request` (after setting its `x-ms-date`).
    fn sign(&self, request: &mut Request) -> Result<String> {
        request.insert_header("x-ms-date", http_date(SystemTime::now()));
        let url = request.url().clone();
        let pairs: Vec<_> = url.query_pairs().collect();
        let query: Vec<(&str, String)> = pairs.iter().map(|(k, v)| (&**k, v.to_string())).collect();
        let headers: Vec<(String, String)> = request
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str().to_ascii_lowercase(), v.as_str().to_string()))
            .collect();
        // Not every generated call sets `content-length` (the transport adds it from the
        // body): the body's length is what the service sees.
        let length = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .and_then(|(_, v)| v.trim().parse().ok())
            .unwrap_or_else(|| request.body().len().unwrap_or(0));
        let method = request.method();
        let sts = string_to_sign(
            method.as_ref(),
            &self.account,
            url.path(),
            &query,
            &headers,
            length,
        );
        Ok(format!(
            "SharedKey {}:{}",
            self.account,
            hmac(&sts, &self.key)?
        ))
    }
}

#[async_trait]
impl Policy for SharedKeyPolicy {
    async fn send(
        &self,
        ctx: &Context,
        request: &mut Request,
        next: &[Arc<dyn Policy>],
    ) -> PolicyResult {
        let auth = self.sign(request).map_err(|e| {
            azure_core::Error::with_message(azure_core::error::ErrorKind::Credential, e.to_string())
        })?;
        request.insert_header("authorization", auth);
        next[0].send(ctx, request, &next[1..]).await
    }
}

/// The official container client for `container_url` (which carries the SAS, if any).
pub(crate) fn container_client(
    container_url: &str,
    account: &str,
    credential: &Credential,
    http: &reqwest::Client,
) -> Result<BlobContainerClient> {
    let url = Url::parse(container_url).map_err(|e| {
        Error::invalid_input(format!(
            "the Azure container URL is not valid: {}",
            Error::redacted(&e.to_string())
        ))
    })?;
    let mut client_options = ClientOptions {
        retry: RetryOptions::none(),
        transport: Some(Transport::new(Arc::new(http.clone()))),
        ..Default::default()
    };
    let mut token = None;
    match credential {
        Credential::SharedKey(key) => {
            client_options
                .per_try_policies
                .push(Arc::new(SharedKeyPolicy {
                    account: account.to_string(),
                    key: key.clone(),
                }))
        }
        Credential::Token(cred) => token = Some(cred.clone()),
        Credential::Sas(_) | Credential::Anonymous => {}
    }
    let options = BlobContainerClientOptions {
        client_options,
        version: API_VERSION.to_string(),
    };
    BlobContainerClient::new(url, token, Some(options)).map_err(|e| map_error("client set-up", e))
}

/// Maps an error of the official client for operation `op`: a service answer by its status,
/// error code and message (as [`crate::service_error`], with `Retry-After`); a failure to reach
/// the service as the kit's transport error (transient, or a timeout); a credential failure as
/// unauthorized.
pub(crate) fn map_error(op: &str, e: azure_core::Error) -> Error {
    use azure_core::error::ErrorKind as Az;
    match e.kind() {
        Az::HttpResponse {
            status,
            error_code,
            raw_response,
        } => sdk_answer_error(
            op,
            u16::from(*status),
            error_code.as_deref(),
            raw_response.as_deref(),
        ),
        Az::Credential => Error::new(
            ErrorKind::Unauthorized,
            format!(
                "could not {}: no credential ({})",
                doing(op),
                clean(&e.to_string())
            ),
        ),
        Az::Connection | Az::Io => match e.into_downcast::<reqwest::Error>() {
            Ok(re) => transport_error(op, re),
            Err(e) => Error::transient(format!(
                "could not {}: the service could not be reached ({})",
                doing(op),
                clean(&e.to_string())
            )),
        },
        _ => Error::new(
            ErrorKind::Other,
            format!("could not {}: {}", doing(op), clean(&e.to_string())),
        ),
    }
}
