//! cargo-fuzz target: `ferrule_fuzz::request_stream` on every input (what it checks is documented
//! there). Run: `RUSTC_BOOTSTRAP=1 cargo fuzz run -a request_stream fuzz/corpus/request_stream`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ferrule_fuzz::request_stream(data));
