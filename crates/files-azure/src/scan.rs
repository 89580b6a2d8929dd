//! The old XML substring scanner, kept only for what is not this module's to change yet:
//! [`crate::blocks::parse_blocks`] (Get Block List read by hand; the adapter itself reads block
//! lists through the official client's model) and the `fuzzing` entry points that the fuzz
//! target and its corpus replay test (`fuzz/src/azure_xml_check.rs`,
//! `tests/tests/fuzz_corpus.rs`) call. The adapter's own answers (List Blobs, error bodies) are
//! read as serde types ([`crate::api`], [`crate::errors`]). Remove this module once those
//! callers have moved.

/// The inner texts of every `<tag>...</tag>` (or `<tag attr=..>...</tag>`) in `xml`.
pub(crate) fn xml_all<'a>(xml: &'a str, tag: &str) -> Vec<&'a str> {
    xml_elements(xml, tag).into_iter().map(|(_, t)| t).collect()
}

/// `(attributes, inner text)` of every `tag` element (not nested in one another).
fn xml_elements<'a>(xml: &'a str, tag: &str) -> Vec<(&'a str, &'a str)> {
    let open = format!("<{tag}");
    let close = format!("</{tag}>");
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        // `<Name>`, `<Name attr="..">` or `<Name/>`, not `<NameSomething>`.
        if !matches!(after.chars().next(), Some('>' | ' ' | '/')) {
            rest = after;
            continue;
        }
        let Some(gt) = after.find('>') else { break };
        let attrs = &after[..gt];
        if attrs.ends_with('/') {
            out.push((attrs, &after[..0]));
            rest = &after[gt + 1..];
            continue;
        }
        let body = &after[gt + 1..];
        let Some(end) = body.find(&close) else { break };
        out.push((attrs, &body[..end]));
        rest = &body[end + close.len()..];
    }
    out
}

/// The first element's text, unescaped; an `Encoded="true"` name is percent-decoded.
pub(crate) fn xml_first(xml: &str, tag: &str) -> Option<String> {
    let (attrs, text) = xml_elements(xml, tag).into_iter().next()?;
    let text = xml_unescape(text);
    Some(if attrs.contains("Encoded=\"true\"") {
        files_http::encode::decode_lossy(&text)
    } else {
        text
    })
}

pub(crate) fn xml_unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        let Some(semi) = after.find(';') else {
            out.push_str(after);
            return out;
        };
        let ent = &after[1..semi];
        let ch = match ent {
            "lt" => Some('<'),
            "gt" => Some('>'),
            "amp" => Some('&'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            e if e.starts_with("#x") => u32::from_str_radix(&e[2..], 16)
                .ok()
                .and_then(char::from_u32),
            e if e.starts_with('#') => e[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match ch {
            Some(c) => out.push(c),
            None => out.push_str(&after[..=semi]),
        }
        rest = &after[semi + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml() {
        let x = r#"<R><Blobs><Blob><Name>a&amp;b</Name><Properties><Content-Length>5</Content-Length></Properties></Blob><Blob><Name Encoded="true">%E2%98%83</Name></Blob><BlobPrefix><Name>d/</Name></BlobPrefix></Blobs><NextMarker/></R>"#;
        let blobs = xml_all(x, "Blob");
        assert_eq!(blobs.len(), 2);
        assert_eq!(xml_first(blobs[0], "Name").unwrap(), "a&b");
        assert_eq!(xml_first(blobs[1], "Name").unwrap(), "☃");
        assert_eq!(xml_first(blobs[0], "Content-Length").as_deref(), Some("5"));
        let prefixes = xml_all(x, "BlobPrefix");
        assert_eq!(xml_first(prefixes[0], "Name").unwrap(), "d/");
        assert_eq!(xml_first(x, "NextMarker").as_deref(), Some(""));
        assert_eq!(xml_unescape("&#x41;&#66;&lt;"), "AB<");
    }
}
