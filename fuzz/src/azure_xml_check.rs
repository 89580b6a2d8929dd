//! The `azure_xml` fuzz check, shared by the fuzz target (`fuzz/fuzz_targets/azure_xml.rs`) and
//! the corpus replay test (`tests/tests/fuzz_corpus.rs`).
//!
//! The input is read as the Azure adapter reads List Blobs, Get Block List and error answers
//! (`files_azure::fuzzing`: the element scanner, entity unescaping, percent-decoding of
//! `Encoded="true"` names, RFC 1123 dates). Invariants:
//! * nothing panics;
//! * every element text found is a slice of the input;
//! * text without `&` unescapes to itself;
//! * a List Blobs answer built from the input's first line (escaped, and also percent-encoded
//!   with `Encoded="true"`) gives back that name and size, and a block list gives back its
//!   blocks.

use files_azure::fuzzing;

/// Runs the check on one input.
pub fn check(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let text = text.as_ref();
    // As `list` reads it.
    for blob in inside(text, "Blob") {
        let _ = fuzzing::xml_first(blob, "Name");
        let _ = fuzzing::xml_first(blob, "Content-Length").map(|s| s.trim().parse::<u64>());
        let _ = fuzzing::xml_first(blob, "Etag");
        if let Some(d) = fuzzing::xml_first(blob, "Last-Modified") {
            let _ = fuzzing::parse_http_date(&d);
        }
        let _ = fuzzing::xml_first(blob, "Content-Type");
    }
    for prefix in inside(text, "BlobPrefix") {
        let _ = fuzzing::xml_first(prefix, "Name");
    }
    let _ = fuzzing::xml_first(text, "NextMarker");
    // As `block_list` and error answers read it.
    for section in ["UncommittedBlocks", "CommittedBlocks"] {
        let _ = fuzzing::parse_blocks(text, section);
    }
    let _ = fuzzing::xml_first(text, "Code");
    let _ = fuzzing::xml_first(text, "Message");
    let unescaped = fuzzing::xml_unescape(text);
    if !text.contains('&') {
        assert_eq!(unescaped, text, "text without entities changed");
    }
    built(text, data.first().copied().unwrap_or(0));
}

/// `xml_all`, checking that every text is a slice of `xml`.
fn inside<'a>(xml: &'a str, tag: &str) -> Vec<&'a str> {
    let found = fuzzing::xml_all(xml, tag);
    let range = xml.as_bytes().as_ptr_range();
    for t in &found {
        let r = t.as_bytes().as_ptr_range();
        assert!(
            range.start <= r.start && r.end <= range.end,
            "<{tag}> text is not a slice of the input"
        );
    }
    found
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn built(text: &str, flags: u8) {
    let name: String = text
        .lines()
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| *c != '\u{FFFD}')
        .collect();
    if name.is_empty() {
        return;
    }
    let size = u64::from(flags) * 7_919;
    let encoded = flags & 1 != 0;
    let name_el = if encoded {
        format!("<Name Encoded=\"true\">{}</Name>", percent_encode(&name))
    } else {
        format!("<Name>{}</Name>", escape(&name))
    };
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><EnumerationResults><Blobs>\
         <BlobPrefix><Name>p/</Name></BlobPrefix><Blob>{name_el}<Properties>\
         <Content-Length>{size}</Content-Length></Properties></Blob></Blobs>\
         <NextMarker>{}</NextMarker></EnumerationResults>",
        escape(&name)
    );
    let blobs = inside(&xml, "Blob");
    assert_eq!(blobs.len(), 1, "{xml}");
    assert_eq!(
        fuzzing::xml_first(blobs[0], "Name").as_deref(),
        Some(name.as_str()),
        "{xml}"
    );
    let len = fuzzing::xml_first(blobs[0], "Content-Length").and_then(|s| s.trim().parse().ok());
    assert_eq!(len, Some(size), "{xml}");
    assert_eq!(
        fuzzing::xml_first(&xml, "NextMarker").as_deref(),
        Some(name.as_str()),
        "{xml}"
    );
    let prefixes: Vec<_> = inside(&xml, "BlobPrefix")
        .into_iter()
        .filter_map(|p| fuzzing::xml_first(p, "Name"))
        .collect();
    assert_eq!(prefixes, ["p/"], "{xml}");
    let blocks = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList><CommittedBlocks>\
         <Block><Name>{0}</Name><Size>{size}</Size></Block></CommittedBlocks>\
         <UncommittedBlocks><Block><Name>{0}</Name><Size>{1}</Size></Block>\
         <Block><Name>x</Name><Size>2</Size></Block></UncommittedBlocks></BlockList>",
        escape(&name),
        size + 1
    );
    assert_eq!(
        fuzzing::parse_blocks(&blocks, "CommittedBlocks"),
        vec![(name.clone(), size)],
        "{blocks}"
    );
    assert_eq!(
        fuzzing::parse_blocks(&blocks, "UncommittedBlocks"),
        vec![(name.clone(), size + 1), ("x".to_string(), 2)],
        "{blocks}"
    );
}
