//! Fuzzes the hand-written parsers checked in `src/ftp_list_check.rs` (see there for the
//! invariants).
#![no_main]

#[path = "../src/ftp_list_check.rs"]
mod ftp_list_check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| ftp_list_check::check(data));
