//! Body conversions between `files_core::ByteStream` and the SDK's `ByteStream`, and the
//! CRC32C encoding S3 uses.

use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};

use aws_sdk_s3::primitives::ByteStream as SdkStream;
use base64::Engine as _;
use bytes::Bytes;
use files_core::{ByteStream, Error, Result};
use futures::{StreamExt, TryStreamExt};
use http_body::{Body, Frame, SizeHint};

/// The `x-amz-checksum-crc32c` form of a CRC32C: base64 of its 4 big-endian bytes.
pub fn crc32c_to_base64(crc: u32) -> String {
    base64::engine::general_purpose::STANDARD.encode(crc.to_be_bytes())
}

/// Parses an `x-amz-checksum-crc32c` value; `None` if it is not 4 bytes of base64 (for
/// example a full-object checksum of a multipart object, `...-3`).
pub fn crc32c_from_base64(text: &str) -> Option<u32> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(text.trim().as_bytes())
        .ok()?;
    let bytes: [u8; 4] = raw.as_slice().try_into().ok()?;
    Some(u32::from_be_bytes(bytes))
}

/// A download body as a `files_core::ByteStream`.
pub(crate) fn from_sdk(body: SdkStream) -> ByteStream {
    futures::stream::try_unfold(body, |mut b| async move {
        match b.try_next().await {
            Ok(Some(chunk)) => Ok(Some((chunk, b))),
            Ok(None) => Ok(None),
            Err(e) => Err(Error::transient(format!(
                "reading the S3 object body failed: {}",
                Error::redacted(&e.to_string())
            ))),
        }
    })
    .boxed()
}

/// Reads a whole stream into memory, checking it against the announced length.
pub(crate) async fn collect(mut stream: ByteStream, len: Option<u64>) -> Result<Bytes> {
    let mut buf = bytes::BytesMut::with_capacity(len.unwrap_or(0).min(64 << 20) as usize);
    while let Some(chunk) = stream.try_next().await? {
        buf.extend_from_slice(&chunk);
    }
    if let Some(len) = len
        && len != buf.len() as u64
    {
        return Err(Error::invalid_input(format!(
            "the body was announced as {len} bytes but {} arrived",
            buf.len()
        )));
    }
    Ok(buf.freeze())
}

/// A stream of known length as an http-body (streamed to the server, never buffered whole).
/// It fails if the stream yields more or fewer bytes than announced.
pub(crate) struct SizedStream {
    stream: Mutex<ByteStream>,
    remaining: u64,
}

impl SizedStream {
    pub(crate) fn new(stream: ByteStream, len: u64) -> Self {
        SizedStream {
            stream: Mutex::new(stream),
            remaining: len,
        }
    }

    pub(crate) fn into_sdk(self) -> SdkStream {
        SdkStream::from_body_1_x(self)
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl Body for SizedStream {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<std::result::Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        let stream = this.stream.get_mut().unwrap_or_else(|p| p.into_inner());
        match stream.poll_next_unpin(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(chunk))) => {
                let n = chunk.len() as u64;
                if n > this.remaining {
                    return Poll::Ready(Some(Err(Box::new(Error::invalid_input(
                        "the body is longer than announced",
                    )))));
                }
                this.remaining -= n;
                Poll::Ready(Some(Ok(Frame::data(chunk))))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(Box::new(e)))),
            Poll::Ready(None) if this.remaining > 0 => Poll::Ready(Some(Err(Box::new(
                Error::invalid_input("the body is shorter than announced"),
            )))),
            Poll::Ready(None) => Poll::Ready(None),
        }
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_encoding_matches_s3() {
        // CRC32C("hello world") = 0xc99465aa; S3 sends it as base64 of the big-endian bytes.
        let crc = crc32c::crc32c(b"hello world");
        assert_eq!(crc, 0xc994_65aa);
        assert_eq!(crc32c_to_base64(crc), "yZRlqg==");
        assert_eq!(crc32c_from_base64("yZRlqg=="), Some(crc));
        assert_eq!(crc32c_to_base64(0), "AAAAAA==");
        assert_eq!(crc32c_from_base64(" AAAAAA== "), Some(0));
        for bad in ["", "yZRl", "yZRlqg==-2", "not base64!", "AAAAAAAA"] {
            assert_eq!(crc32c_from_base64(bad), None, "{bad}");
        }
        for v in [1u32, 0xdead_beef, u32::MAX] {
            assert_eq!(crc32c_from_base64(&crc32c_to_base64(v)), Some(v));
        }
    }

    #[tokio::test]
    async fn sized_stream_checks_length() {
        use http_body_util::BodyExt;
        let chunks = || {
            futures::stream::iter(vec![
                Ok(Bytes::from_static(b"abc")),
                Ok(Bytes::from_static(b"de")),
            ])
            .boxed()
        };
        let ok = SizedStream::new(chunks(), 5)
            .collect()
            .await
            .unwrap()
            .to_bytes();
        assert_eq!(&ok[..], b"abcde");
        assert!(SizedStream::new(chunks(), 4).collect().await.is_err());
        assert!(SizedStream::new(chunks(), 6).collect().await.is_err());
        let collected = collect(chunks(), Some(5)).await.unwrap();
        assert_eq!(&collected[..], b"abcde");
        assert!(collect(chunks(), Some(6)).await.is_err());
    }
}
