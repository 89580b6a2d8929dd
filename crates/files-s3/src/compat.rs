//! Work-arounds for S3-compatible servers whose answers the stock SDK does not decode.
//!
//! `rclone serve s3` answers CreateMultipartUpload with the root element
//! `<InitiateMultipartUpload>` where S3 (and aws-sdk-s3's decoder) has
//! `<InitiateMultipartUploadResult>`; the SDK then fails with a deserialization error.
//! [`InitiateRootFix`] is an operation interceptor on CreateMultipartUpload that renames that
//! root, and only that exact root, before the SDK decodes the answer. Answers with the right
//! root, errors and any other document pass through unchanged, so it is always on.

use std::pin::Pin;
use std::task::{Context, Poll};

use aws_sdk_s3::config::interceptors::BeforeDeserializationInterceptorContextMut;
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_s3::error::BoxError;
use aws_sdk_s3::primitives::{ByteStream as SdkStream, SdkBody};
use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};

const WRONG_ROOT: &str = "InitiateMultipartUpload";
const RIGHT_ROOT: &str = "InitiateMultipartUploadResult";
/// An answer larger than this is not a CreateMultipartUpload result: passed through as is.
const MAX_INSPECTED: usize = 64 * 1024;

/// Renames the `<InitiateMultipartUpload>` root of a CreateMultipartUpload answer to
/// `<InitiateMultipartUploadResult>` (see the module docs). Attach it to that operation only
/// (`.customize().interceptor(InitiateRootFix)`).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct InitiateRootFix;

impl Intercept for InitiateRootFix {
    fn name(&self) -> &'static str {
        "files-s3 InitiateMultipartUpload root fix"
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let response = context.response_mut();
        if !response.status().is_success() {
            return Ok(());
        }
        let body = response.take_body();
        let fixed = match body.bytes() {
            // Already in memory: rewrite it now.
            Some(bytes) => match rename_initiate_root(bytes) {
                Some(renamed) => SdkBody::from(renamed),
                None => body,
            },
            // Streaming (the usual case): collect it (small) and rewrite at its end.
            None => SdkStream::from_body_1_x(RootFixBody {
                inner: body,
                buf: BytesMut::new(),
                passthrough: false,
                done: false,
            })
            .into_inner(),
        };
        *response.body_mut() = fixed;
        Ok(())
    }
}

/// The document with its `<InitiateMultipartUpload ...>` root renamed to
/// `<InitiateMultipartUploadResult ...>`, or `None` when the root is anything else (including
/// the right one) or the document is not UTF-8.
pub(crate) fn rename_initiate_root(xml: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(xml).ok()?;
    // Skip whitespace, the XML declaration, processing instructions and comments.
    let mut start = 0;
    loop {
        let rest = &text[start..];
        let trimmed = rest.trim_start();
        start += rest.len() - trimmed.len();
        if trimmed.starts_with("<?") {
            start += trimmed.find("?>")? + 2;
        } else if trimmed.starts_with("<!--") {
            start += trimmed.find("-->")? + 3;
        } else {
            break;
        }
    }
    let root = &text[start..];
    let after_name = root.strip_prefix('<')?.strip_prefix(WRONG_ROOT)?;
    // `<InitiateMultipartUpload>` or `<InitiateMultipartUpload xmlns=...>`, never a longer name.
    if !after_name.starts_with(|c: char| c == '>' || c.is_ascii_whitespace()) {
        return None;
    }
    let close = format!("</{WRONG_ROOT}>");
    let body_end = text.trim_end().len();
    if !text[..body_end].ends_with(&close) {
        return None;
    }
    let inner = &text[start + 1 + WRONG_ROOT.len()..body_end - close.len()];
    let mut out = String::with_capacity(text.len() + 2 * (RIGHT_ROOT.len() - WRONG_ROOT.len()));
    out.push_str(&text[..start]);
    out.push('<');
    out.push_str(RIGHT_ROOT);
    out.push_str(inner);
    out.push_str("</");
    out.push_str(RIGHT_ROOT);
    out.push('>');
    out.push_str(&text[body_end..]);
    Some(out.into_bytes())
}

/// A response body that collects the inner body (up to [`MAX_INSPECTED`]) and yields it as
/// one frame, with the root renamed where needed. Larger bodies pass through unchanged.
struct RootFixBody {
    inner: SdkBody,
    buf: BytesMut,
    passthrough: bool,
    done: bool,
}

impl Body for RootFixBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        loop {
            if this.passthrough {
                if !this.buf.is_empty() {
                    return Poll::Ready(Some(Ok(Frame::data(this.buf.split().freeze()))));
                }
                return Pin::new(&mut this.inner).poll_frame(cx);
            }
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        this.buf.extend_from_slice(&data);
                        if this.buf.len() > MAX_INSPECTED {
                            this.passthrough = true;
                        }
                    }
                    // Trailers of a small XML answer carry nothing the SDK reads.
                }
                Poll::Ready(None) => {
                    this.done = true;
                    let collected = this.buf.split().freeze();
                    let out = match rename_initiate_root(&collected) {
                        Some(renamed) => Bytes::from(renamed),
                        None => collected,
                    };
                    return Poll::Ready(Some(Ok(Frame::data(out))));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }

    fn size_hint(&self) -> SizeHint {
        // The renamed document is longer than the original: no exact size.
        SizeHint::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RCLONE: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<InitiateMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Bucket>b</Bucket><Key>k</Key><UploadId>abc</UploadId></InitiateMultipartUpload>";

    #[test]
    fn renames_only_the_wrong_root() {
        let fixed = String::from_utf8(rename_initiate_root(RCLONE.as_bytes()).unwrap()).unwrap();
        assert_eq!(
            fixed,
            RCLONE
                .replace(
                    "<InitiateMultipartUpload ",
                    "<InitiateMultipartUploadResult "
                )
                .replace(
                    "</InitiateMultipartUpload>",
                    "</InitiateMultipartUploadResult>"
                )
        );
        assert!(
            rename_initiate_root(
                b"<InitiateMultipartUpload><UploadId>x</UploadId></InitiateMultipartUpload>\n"
            )
            .is_some()
        );
        // Already right, another document, an error, broken or non-UTF-8: untouched.
        for other in [
            RCLONE
                .replace(
                    "<InitiateMultipartUpload ",
                    "<InitiateMultipartUploadResult ",
                )
                .replace(
                    "</InitiateMultipartUpload>",
                    "</InitiateMultipartUploadResult>",
                ),
            "<Error><Code>NoSuchBucket</Code></Error>".to_string(),
            "<InitiateMultipartUploadX></InitiateMultipartUploadX>".to_string(),
            "<InitiateMultipartUpload><UploadId>x</UploadId>".to_string(),
            "<?xml version=\"1.0\"".to_string(),
            String::new(),
        ] {
            assert_eq!(rename_initiate_root(other.as_bytes()), None, "{other}");
        }
        assert_eq!(rename_initiate_root(&[0xff, 0xfe, b'<']), None);
    }

    #[tokio::test]
    async fn streaming_bodies_are_rewritten() {
        use futures::StreamExt;
        use http_body_util::BodyExt;
        let chunks: Vec<Result<Bytes, std::io::Error>> = RCLONE
            .as_bytes()
            .chunks(7)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        let inner = SdkStream::from_body_1_x(http_body_util::StreamBody::new(
            futures::stream::iter(chunks).map(|r| r.map(Frame::data)),
        ))
        .into_inner();
        let body = RootFixBody {
            inner,
            buf: BytesMut::new(),
            passthrough: false,
            done: false,
        };
        let out = body.collect().await.unwrap().to_bytes();
        let text = std::str::from_utf8(&out).unwrap();
        assert!(
            text.contains("<InitiateMultipartUploadResult xmlns="),
            "{text}"
        );
        assert!(text.ends_with("</InitiateMultipartUploadResult>"), "{text}");
        assert!(text.contains("<UploadId>abc</UploadId>"));
    }
}
