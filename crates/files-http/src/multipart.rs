//! `multipart/related` bodies: JSON metadata and the media in one request (Google's
//! `uploadType=multipart`, Box's and others' small uploads follow the same shape).

use bytes::{Bytes, BytesMut};

/// A `multipart/related` body of a JSON part (`metadata`) and a media part (`data`, sent as
/// `content_type`). Returns the `Content-Type` header value (with its boundary) and the body.
/// The boundary is random: 128 bits, so it cannot plausibly occur in the media.
pub fn related(metadata: &str, content_type: Option<&str>, data: &[u8]) -> (String, Bytes) {
    let boundary = format!("files-{:032x}", fastrand::u128(..));
    let mut body = BytesMut::with_capacity(data.len() + metadata.len() + 256);
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{metadata}\r\n--{boundary}\r\nContent-Type: {}\r\n\r\n",
            content_type.unwrap_or("application/octet-stream")
        )
        .as_bytes(),
    );
    body.extend_from_slice(data);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (
        format!("multipart/related; boundary={boundary}"),
        body.freeze(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_parts_under_one_boundary() {
        let (ct, body) = related(r#"{"name":"k"}"#, Some("text/plain"), b"hello");
        let boundary = ct.strip_prefix("multipart/related; boundary=").unwrap();
        let text = std::str::from_utf8(&body).unwrap();
        assert_eq!(text.matches(&format!("--{boundary}")).count(), 3);
        assert!(text.contains("{\"name\":\"k\"}\r\n"));
        assert!(text.contains("Content-Type: text/plain\r\n\r\nhello\r\n"));
        assert!(text.ends_with(&format!("--{boundary}--\r\n")));
        let (other, _) = related("{}", None, b"");
        assert_ne!(other, ct);
    }
}
