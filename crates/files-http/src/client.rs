//! The one HTTP client builder, and transport errors that never quote a URL.

use std::time::Duration;

use files_core::{Error, ErrorKind, Result};

/// How the client is built. The defaults suit a storage provider: a 30 s connect timeout, no
/// whole-request timeout (the core's per-request timeout bounds transfers, which may take
/// minutes), at most 10 redirects (`reqwest` drops `Authorization` when a redirect leaves the
/// origin), and the user agent `files/VERSION`.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Bound on establishing a connection.
    pub connect_timeout: Duration,
    /// Bound on a whole request, answer body included (`None`: unbounded here).
    pub timeout: Option<Duration>,
    /// Redirects followed before giving up (0: none followed, the 3xx is the answer).
    pub max_redirects: usize,
    /// The `User-Agent` header.
    pub user_agent: String,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            connect_timeout: Duration::from_secs(30),
            timeout: None,
            max_redirects: 10,
            user_agent: format!("files/{}", env!("CARGO_PKG_VERSION")),
        }
    }
}

impl ClientOptions {
    /// The defaults with a whole-request timeout (token endpoints, small JSON calls).
    pub fn with_timeout(timeout: Duration) -> Self {
        ClientOptions {
            timeout: Some(timeout),
            ..Self::default()
        }
    }
    /// The defaults, following no redirect (a `308` is an answer in Google's resumable
    /// protocol, not a redirect to follow).
    pub fn no_redirects() -> Self {
        ClientOptions {
            max_redirects: 0,
            ..Self::default()
        }
    }
}

/// Builds a `reqwest` client (rustls on aws-lc-rs, HTTP/2 where offered) with `options`.
pub fn client(options: &ClientOptions) -> Result<reqwest::Client> {
    let redirect = if options.max_redirects == 0 {
        reqwest::redirect::Policy::none()
    } else {
        reqwest::redirect::Policy::limited(options.max_redirects)
    };
    let mut b = reqwest::Client::builder()
        .connect_timeout(options.connect_timeout)
        .user_agent(options.user_agent.clone())
        .redirect(redirect);
    if let Some(t) = options.timeout {
        b = b.timeout(t);
    }
    b.build().map_err(|e| {
        Error::new(
            ErrorKind::Other,
            format!("could not build the HTTP client: {}", e.without_url()),
        )
    })
}

/// Maps a `reqwest` error onto the core's kinds, its URL removed (it may be a session URL or a
/// signed URL): a timeout is [`ErrorKind::Timeout`], a request that could not be built is
/// invalid input, anything else (refused, reset, a body cut short) is transient. All but the
/// builder's are retryable. `op` names what was attempted (`"upload a chunk"`).
pub fn transport_error(e: reqwest::Error, op: &str) -> Error {
    let e = e.without_url();
    let (kind, retryable) = if e.is_timeout() {
        (ErrorKind::Timeout, true)
    } else if e.is_builder() {
        (ErrorKind::InvalidInput, false)
    } else {
        (ErrorKind::Transient, true)
    };
    // reqwest's own message is terse ("error sending request"); its causes say why
    // (connection refused, reset, a TLS failure).
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        let line = s.to_string();
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        source = s.source();
    }
    Error::new(
        kind,
        format!(
            "could not {op}: the request failed ({})",
            Error::redacted(&text)
        ),
    )
    .with_retryable(retryable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn refused_connection_is_transient_and_quotes_no_url() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let http = client(&ClientOptions::default()).unwrap();
        let e = http
            .get(format!("http://127.0.0.1:{port}/up?upload_id=SECRET"))
            .send()
            .await
            .unwrap_err();
        let e = transport_error(e, "upload a chunk");
        assert_eq!(e.kind(), ErrorKind::Transient);
        assert!(e.is_retryable());
        let text = format!("{e} {e:?}");
        assert!(
            !text.contains("SECRET") && !text.contains("upload_id="),
            "{text}"
        );
        assert!(text.contains("could not upload a chunk"), "{text}");
    }
}
