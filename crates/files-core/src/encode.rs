//! Percent-encoding of keys in URLs, through the `percent-encoding` crate: the one definition
//! every adapter, the HTTP kit and the CLI use.
//!
//! [`SEGMENT`] escapes everything but RFC 3986's unreserved characters (a path segment, a
//! query name or value); [`PATH`] does the same but keeps `/` (a key that names a path).

use std::borrow::Cow;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

use crate::error::{Error, Result};

/// Everything but `A-Z a-z 0-9 - . _ ~` is escaped: a path segment, a query name or value.
pub const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// As [`SEGMENT`], but `/` stays: a key that names a path under a prefix.
pub const PATH: &AsciiSet = &SEGMENT.remove(b'/');

/// Escapes one path segment or query value ([`SEGMENT`]).
pub fn segment(s: &str) -> Cow<'_, str> {
    utf8_percent_encode(s, SEGMENT).into()
}

/// Escapes a path, keeping its `/` ([`PATH`]).
pub fn path(s: &str) -> Cow<'_, str> {
    utf8_percent_encode(s, PATH).into()
}

/// Decodes `%XX` escapes; an escape sequence that does not decode to UTF-8 is an error.
pub fn decode(s: &str) -> Result<String> {
    percent_decode_str(s)
        .decode_utf8()
        .map(Cow::into_owned)
        .map_err(|_| Error::invalid_input("a percent-encoded name is not valid UTF-8"))
}

/// Decodes `%XX` escapes, replacing what is not UTF-8 with U+FFFD.
pub fn decode_lossy(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let s = "a b/ç+%~.txt";
        assert_eq!(segment(s), "a%20b%2F%C3%A7%2B%25~.txt");
        assert_eq!(path(s), "a%20b/%C3%A7%2B%25~.txt");
        assert_eq!(decode(&segment(s)).unwrap(), s);
        assert_eq!(decode(&path(s)).unwrap(), s);
        assert!(decode("%FF").is_err());
        assert_eq!(decode_lossy("%FFa"), "\u{FFFD}a");
        assert_eq!(decode("100%").unwrap(), "100%");
    }
}
