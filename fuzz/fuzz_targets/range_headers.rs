//! Fuzzes the hand-written parsers checked in `src/range_headers_check.rs` (see there for the
//! invariants).
#![no_main]

#[path = "../src/range_headers_check.rs"]
mod range_headers_check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| range_headers_check::check(data));
