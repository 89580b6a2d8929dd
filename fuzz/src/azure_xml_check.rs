//! The `azure_xml` fuzz check, shared by the fuzz target (`fuzz/fuzz_targets/azure_xml.rs`) and
//! the corpus replay test (`tests/tests/fuzz_corpus.rs`).
//!
//! The input is read as the Azure adapter reads List Blobs, Get Block List and error answers
//! (`files_azure::fuzzing`: serde types over quick-xml, percent-decoding of `Encoded="true"`
//! names, HTTP dates). Invariants:
//! * nothing panics;
//! * a List Blobs answer built from the input's first line (escaped, and also percent-encoded
//!   with `Encoded="true"`) gives back that name and size, the prefix and the cursor, and a
//!   block list gives back its blocks.

use files_azure::fuzzing;

/// Runs the check on one input.
pub fn check(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let text = text.as_ref();
    // As `list`, `block_list` and error answers read it.
    let _ = fuzzing::list_blobs(text);
    for section in ["UncommittedBlocks", "CommittedBlocks"] {
        let _ = fuzzing::parse_blocks(text, section);
    }
    let _ = fuzzing::error_body(data);
    let _ = fuzzing::parse_http_date(text);
    built(text, data.first().copied().unwrap_or(0));
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        // A conforming XML reader turns a raw CR into LF; a service sends it as a reference.
        .replace('\r', "&#13;")
}

/// Percent-encodes all but unreserved characters and `/`, as Azure encodes names.
fn percent_encode(s: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~')
        .remove(b'/');
    percent_encoding::utf8_percent_encode(s, SET).to_string()
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
    let page = fuzzing::list_blobs(&xml).unwrap_or_else(|e| panic!("{e}: {xml}"));
    assert_eq!(page.objects.len(), 1, "{xml}");
    assert_eq!(page.objects[0].key, name, "{xml}");
    assert_eq!(page.objects[0].size, size, "{xml}");
    assert_eq!(page.prefixes, ["p/"], "{xml}");
    assert_eq!(page.cursor.as_deref(), Some(name.as_str()), "{xml}");
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
