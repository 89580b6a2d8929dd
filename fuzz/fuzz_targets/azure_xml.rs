//! Fuzzes the hand-written parsers checked in `src/azure_xml_check.rs` (see there for the
//! invariants).
#![no_main]

#[path = "../src/azure_xml_check.rs"]
mod azure_xml_check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| azure_xml_check::check(data));
