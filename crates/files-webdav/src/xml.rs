//! The PROPFIND `multistatus` answer, parsed with namespaces resolved: `D:`, `d:`, `ns0:`,
//! `lp1:` or a default namespace all mean `DAV:` when they are bound to it.

use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;

/// The request body of every PROPFIND: only the properties the adapter reads.
pub(crate) const PROPFIND_BODY: &str = concat!(
    r#"<?xml version="1.0" encoding="utf-8"?>"#,
    r#"<D:propfind xmlns:D="DAV:"><D:prop>"#,
    r#"<D:resourcetype/><D:getcontentlength/><D:getlastmodified/><D:getetag/><D:getcontenttype/>"#,
    r#"</D:prop></D:propfind>"#
);

/// One `<D:response>`: a resource and the properties the server found for it (properties of
/// a `propstat` whose status is not 2xx are ignored).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Entry {
    /// The `href`, as sent (percent-encoded; a path or an absolute URL).
    pub href: String,
    /// `resourcetype` holds `collection`.
    pub collection: bool,
    /// `getcontentlength`.
    pub size: Option<u64>,
    /// `getetag`.
    pub etag: Option<String>,
    /// `getlastmodified` (an HTTP date).
    pub last_modified: Option<String>,
    /// `getcontenttype`.
    pub content_type: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tag {
    Response,
    Href,
    Propstat,
    Status,
    Prop,
    ResourceType,
    Collection,
    ContentLength,
    Etag,
    LastModified,
    ContentType,
    Other,
}

fn tag_of(ns: &ResolveResult<'_>, local: &[u8]) -> Tag {
    let dav = matches!(ns, ResolveResult::Bound(n) if n.0 == b"DAV:");
    if !dav {
        return Tag::Other;
    }
    match local {
        b"response" => Tag::Response,
        b"href" => Tag::Href,
        b"propstat" => Tag::Propstat,
        b"status" => Tag::Status,
        b"prop" => Tag::Prop,
        b"resourcetype" => Tag::ResourceType,
        b"collection" => Tag::Collection,
        b"getcontentlength" => Tag::ContentLength,
        b"getetag" => Tag::Etag,
        b"getlastmodified" => Tag::LastModified,
        b"getcontenttype" => Tag::ContentType,
        _ => Tag::Other,
    }
}

#[derive(Default)]
struct PropStat {
    status: Option<u16>,
    entry: Entry,
}

/// The status code of a `HTTP/1.1 200 OK` line.
fn status_code(line: &str) -> Option<u16> {
    line.split_whitespace().nth(1)?.parse().ok()
}

fn predefined(name: &str) -> Option<char> {
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        _ => return None,
    })
}

/// Parses a `207 Multi-Status` body into its responses.
pub(crate) fn parse_multistatus(xml: &str) -> Result<Vec<Entry>, String> {
    let mut reader = NsReader::from_str(xml);
    let mut stack: Vec<Tag> = Vec::new();
    let mut out = Vec::new();
    let mut response: Option<Entry> = None;
    let mut response_failed = false;
    let mut propstat: Option<PropStat> = None;
    let mut text = String::new();
    loop {
        let (ns, event) = reader
            .read_resolved_event()
            .map_err(|e| format!("the PROPFIND answer is not well-formed XML: {e}"))?;
        let (tag, empty) = match &event {
            Event::Start(e) => (Some(tag_of(&ns, e.local_name().as_ref())), false),
            Event::Empty(e) => (Some(tag_of(&ns, e.local_name().as_ref())), true),
            _ => (None, false),
        };
        let closing = match event {
            Event::Start(_) | Event::Empty(_) => {
                let tag = tag.expect("set for start tags");
                text.clear();
                match tag {
                    Tag::Response => {
                        response = Some(Entry::default());
                        response_failed = false;
                    }
                    Tag::Propstat => propstat = Some(PropStat::default()),
                    Tag::Collection if stack.contains(&Tag::ResourceType) => {
                        if let Some(p) = propstat.as_mut() {
                            p.entry.collection = true;
                        }
                    }
                    _ => {}
                }
                stack.push(tag);
                if empty { stack.pop() } else { None }
            }
            Event::End(_) => stack.pop(),
            Event::Text(t) => {
                text.push_str(&String::from_utf8_lossy(&t.into_inner()));
                None
            }
            Event::CData(t) => {
                text.push_str(&String::from_utf8_lossy(&t.into_inner()));
                None
            }
            Event::GeneralRef(r) => {
                let resolved = if r.is_char_ref() {
                    r.resolve_char_ref().ok().flatten()
                } else {
                    predefined(&String::from_utf8_lossy(&r.into_inner()))
                };
                if let Some(c) = resolved {
                    text.push(c);
                }
                None
            }
            Event::Eof => break,
            _ => None,
        };
        let Some(closed) = closing else { continue };
        let parent = stack.last().copied();
        let value = text.trim().to_string();
        text.clear();
        match closed {
            Tag::Href if parent == Some(Tag::Response) => {
                if let Some(r) = response.as_mut() {
                    r.href = value;
                }
            }
            Tag::Status if parent == Some(Tag::Propstat) => {
                if let Some(p) = propstat.as_mut() {
                    p.status = status_code(&value);
                }
            }
            Tag::Status if parent == Some(Tag::Response) => {
                // A response-level status instead of propstats: 2xx is fine, else the member
                // could not be described (e.g. 404 for a member removed meanwhile).
                response_failed = !status_code(&value).is_some_and(|s| (200..300).contains(&s));
            }
            Tag::ContentLength | Tag::Etag | Tag::LastModified | Tag::ContentType
                if parent == Some(Tag::Prop) =>
            {
                if let Some(p) = propstat.as_mut() {
                    let v = Some(value).filter(|v| !v.is_empty());
                    match closed {
                        Tag::ContentLength => p.entry.size = v.and_then(|v| v.parse().ok()),
                        Tag::Etag => p.entry.etag = v,
                        Tag::LastModified => p.entry.last_modified = v,
                        _ => p.entry.content_type = v,
                    }
                }
            }
            Tag::Propstat => {
                if let (Some(p), Some(r)) = (propstat.take(), response.as_mut())
                    && p.status.is_some_and(|s| (200..300).contains(&s))
                {
                    r.collection |= p.entry.collection;
                    r.size = r.size.or(p.entry.size);
                    r.etag = r.etag.take().or(p.entry.etag);
                    r.last_modified = r.last_modified.take().or(p.entry.last_modified);
                    r.content_type = r.content_type.take().or(p.entry.content_type);
                }
            }
            Tag::Response => {
                if let Some(r) = response.take()
                    && !r.href.is_empty()
                    && !response_failed
                {
                    out.push(r);
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apache_style_prefixes() {
        let xml = r#"<?xml version="1.0" encoding="utf-8"?>
<D:multistatus xmlns:D="DAV:">
<D:response xmlns:lp1="DAV:" xmlns:lp2="http://apache.org/dav/props/">
<D:href>/dav/</D:href>
<D:propstat><D:prop><lp1:resourcetype><D:collection/></lp1:resourcetype>
<lp1:getetag>"1000-5"</lp1:getetag></D:prop>
<D:status>HTTP/1.1 200 OK</D:status></D:propstat>
</D:response>
<D:response xmlns:lp1="DAV:" xmlns:lp2="http://apache.org/dav/props/">
<D:href>/dav/a%20b&amp;c.txt</D:href>
<D:propstat><D:prop><lp1:resourcetype/><lp1:getcontentlength>6</lp1:getcontentlength>
<lp1:getlastmodified>Sun, 22 Nov 2026 03:59:57 GMT</lp1:getlastmodified>
<lp1:getetag>W/"6-66"</lp1:getetag><lp2:executable>F</lp2:executable></D:prop>
<D:status>HTTP/1.1 200 OK</D:status></D:propstat>
<D:propstat><D:prop><D:getcontenttype/></D:prop><D:status>HTTP/1.1 404 Not Found</D:status></D:propstat>
</D:response>
</D:multistatus>"#;
        let got = parse_multistatus(xml).unwrap();
        assert_eq!(got.len(), 2);
        assert!(got[0].collection);
        assert_eq!(got[0].etag.as_deref(), Some("\"1000-5\""));
        assert_eq!(got[1].href, "/dav/a%20b&c.txt");
        assert!(!got[1].collection);
        assert_eq!(got[1].size, Some(6));
        assert_eq!(got[1].etag.as_deref(), Some("W/\"6-66\""));
        assert_eq!(
            got[1].last_modified.as_deref(),
            Some("Sun, 22 Nov 2026 03:59:57 GMT")
        );
        assert_eq!(got[1].content_type, None);
    }

    #[test]
    fn default_namespace_and_other_prefixes() {
        let xml = r#"<multistatus xmlns="DAV:"><response><href>/x/</href><propstat><prop>
<resourcetype><collection/></resourcetype></prop><status>HTTP/1.1 200 OK</status></propstat></response>
<ns0:response xmlns:ns0="DAV:"><ns0:href>/x/f</ns0:href><ns0:propstat><ns0:prop>
<ns0:resourcetype /><ns0:getcontentlength>10</ns0:getcontentlength><ns0:getcontenttype>text/plain</ns0:getcontenttype>
</ns0:prop><ns0:status>HTTP/1.1 200 OK</ns0:status></ns0:propstat></ns0:response>
<d:response xmlns:d="DAV:"><d:href>/x/gone</d:href><d:status>HTTP/1.1 404 Not Found</d:status></d:response>
<e:response xmlns:e="urn:not-dav"><e:href>/x/foreign</e:href></e:response></multistatus>"#;
        let got = parse_multistatus(xml).unwrap();
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got[0].collection);
        assert_eq!(got[1].size, Some(10));
        assert_eq!(got[1].content_type.as_deref(), Some("text/plain"));
        // A `collection` element outside DAV: does not make a collection.
        let xml = r#"<D:multistatus xmlns:D="DAV:" xmlns:X="urn:x"><D:response><D:href>/f</D:href>
<D:propstat><D:prop><D:resourcetype><X:collection/></D:resourcetype></D:prop>
<D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response></D:multistatus>"#;
        assert!(!parse_multistatus(xml).unwrap()[0].collection);
        assert!(parse_multistatus("<D:multistatus xmlns:D=\"DAV:\"><D:response>").is_ok());
        assert!(parse_multistatus("<a></b>").is_err());
    }
}
