//! The answers of the hand-built requests, as serde types over quick-xml.
//!
//! Only List Blobs is read here (the official client reads its own answers; error bodies are
//! [`crate::errors::ErrorBody`]):
//!
//! ```xml
//! <EnumerationResults ServiceEndpoint=".." ContainerName="..">
//!   <Prefix>..</Prefix><Delimiter>/</Delimiter>
//!   <Blobs>
//!     <Blob><Name Encoded="true">%E2%98%83</Name><Properties>
//!       <Last-Modified>..</Last-Modified><Etag>0x8D..</Etag><Content-Length>5</Content-Length>
//!       <Content-Type>..</Content-Type><Cache-Control /></Properties></Blob>
//!     <BlobPrefix><Name>dir/</Name></BlobPrefix>
//!   </Blobs>
//!   <NextMarker />
//! </EnumerationResults>
//! ```
//!
//! Blobs and prefixes come interleaved (in name order), so `Blobs` is read as one sequence of
//! either. A name with `Encoded="true"` is percent-encoded (the service does so for names
//! with characters XML 1.0 cannot carry).

use files_core::{Error, ErrorKind, ListPage, ObjectMeta, Result};
use serde::Deserialize;

/// `<EnumerationResults>` of List Blobs.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct EnumerationResults {
    #[serde(default)]
    pub blobs: Blobs,
    #[serde(default)]
    pub next_marker: Option<String>,
}

/// `<Blobs>`: blobs and prefixes, in the order the service sent them.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Blobs {
    #[serde(rename = "$value", default)]
    pub items: Vec<Item>,
}

/// One entry of `<Blobs>`.
#[derive(Debug, Deserialize)]
pub(crate) enum Item {
    /// A blob.
    Blob(Blob),
    /// A "directory" (with a delimiter): the names below it are not listed.
    BlobPrefix(BlobPrefix),
}

/// `<Blob>`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Blob {
    pub name: Name,
    #[serde(default)]
    pub properties: Properties,
}

/// `<BlobPrefix>`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct BlobPrefix {
    pub name: Name,
}

/// `<Name>` or `<Name Encoded="true">`.
#[derive(Debug, Deserialize)]
pub(crate) struct Name {
    #[serde(rename = "@Encoded", default)]
    pub encoded: Option<String>,
    #[serde(rename = "$text", default)]
    pub text: String,
}

impl Name {
    /// The name itself: percent-decoded when the service encoded it.
    pub fn decoded(self) -> String {
        if self
            .encoded
            .as_deref()
            .is_some_and(|e| e.trim().eq_ignore_ascii_case("true"))
        {
            files_http::encode::decode_lossy(&self.text)
        } else {
            self.text
        }
    }
}

/// `<Properties>` of a blob: what [`ObjectMeta`] needs of it.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Properties {
    #[serde(rename = "Content-Length", default)]
    pub content_length: Option<String>,
    #[serde(rename = "Etag", default)]
    pub etag: Option<String>,
    #[serde(rename = "Last-Modified", default)]
    pub last_modified: Option<String>,
    #[serde(rename = "Content-Type", default)]
    pub content_type: Option<String>,
    #[serde(rename = "Cache-Control", default)]
    pub cache_control: Option<String>,
}

impl EnumerationResults {
    /// Reads a List Blobs answer.
    pub fn parse(xml: &str) -> Result<EnumerationResults> {
        quick_xml::de::from_str(xml).map_err(|e| {
            Error::new(
                ErrorKind::Other,
                format!("the List Blobs answer is not the service's XML: {e}"),
            )
        })
    }

    /// The page of the core: objects, prefixes and the cursor (an empty `NextMarker`: the
    /// last page).
    pub fn into_page(self) -> ListPage {
        let mut page = ListPage::default();
        for item in self.blobs.items {
            match item {
                Item::Blob(b) => {
                    let p = b.properties;
                    let size = p
                        .content_length
                        .and_then(|s| s.trim().parse().ok())
                        .unwrap_or(0);
                    let mut m = ObjectMeta::new(b.name.decoded(), size);
                    m.etag = p.etag;
                    m.last_modified = p
                        .last_modified
                        .and_then(|d| files_http::headers::parse_http_date(&d));
                    m.content_type = p.content_type.filter(|s| !s.is_empty());
                    m.cache_control = p.cache_control.filter(|s| !s.is_empty());
                    page.objects.push(m);
                }
                Item::BlobPrefix(p) => page.prefixes.push(p.name.decoded()),
            }
        }
        page.cursor = self.next_marker.filter(|m| !m.is_empty());
        page
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    fn page(xml: &str) -> ListPage {
        EnumerationResults::parse(xml).unwrap().into_page()
    }

    #[test]
    fn blobs_prefixes_and_encoded_names() {
        let p = page(
            r#"<?xml version="1.0" encoding="utf-8"?><EnumerationResults ServiceEndpoint="http://127.0.0.1:10000/devstoreaccount1" ContainerName="c"><Prefix>d</Prefix><MaxResults>5000</MaxResults><Delimiter>/</Delimiter><Blobs><Blob><Name>a&amp;b</Name><Properties><Creation-Time>Sun, 06 Nov 1994 08:49:37 GMT</Creation-Time><Last-Modified>Sun, 06 Nov 1994 08:49:37 GMT</Last-Modified><Etag>0x8D1</Etag><Content-Length>5</Content-Length><Content-Type>text/plain</Content-Type><Content-Encoding /><Cache-Control /><BlobType>BlockBlob</BlobType></Properties><OrMetadata /></Blob><BlobPrefix><Name>d/</Name></BlobPrefix><Blob><Name Encoded="true">%E2%98%83%01</Name><Properties><Content-Length>0</Content-Length></Properties></Blob><BlobPrefix><Name Encoded="true">e%2Fx/</Name></BlobPrefix></Blobs><NextMarker>2!64!abc</NextMarker></EnumerationResults>"#,
        );
        let names: Vec<_> = p.objects.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(names, ["a&b", "☃\u{1}"]);
        let a = &p.objects[0];
        assert_eq!(a.size, 5);
        assert_eq!(a.etag.as_deref(), Some("0x8D1"));
        assert_eq!(
            a.last_modified,
            Some(UNIX_EPOCH + Duration::from_secs(784_111_777))
        );
        assert_eq!(a.content_type.as_deref(), Some("text/plain"));
        assert_eq!(a.cache_control, None);
        assert_eq!(p.prefixes, ["d/", "e/x/"]);
        assert_eq!(p.cursor.as_deref(), Some("2!64!abc"));
    }

    #[test]
    fn empty_pages_and_markers() {
        let p = page(
            r#"<?xml version="1.0" encoding="utf-8"?><EnumerationResults><Blobs /><NextMarker /></EnumerationResults>"#,
        );
        assert!(p.objects.is_empty() && p.prefixes.is_empty() && p.cursor.is_none());
        let p = page(
            "<EnumerationResults>\n  <Blobs>\n  </Blobs>\n  <NextMarker></NextMarker>\n</EnumerationResults>",
        );
        assert!(p.objects.is_empty() && p.cursor.is_none());
        let p = page("<EnumerationResults/>");
        assert!(p.objects.is_empty() && p.cursor.is_none());
        assert!(EnumerationResults::parse("<EnumerationResults><Blobs><Blob>").is_err());
    }
}
