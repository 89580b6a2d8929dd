//! Fuzzes the resume-token parser and validator: see `src/token_check.rs`.
#![no_main]

#[path = "../src/token_check.rs"]
mod token_check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| token_check::check(data));
