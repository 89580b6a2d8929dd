//! Fuzzes the hand-written parsers checked in `src/webdav_xml_check.rs` (see there for the
//! invariants).
#![no_main]

#[path = "../src/webdav_xml_check.rs"]
mod webdav_xml_check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| webdav_xml_check::check(data));
