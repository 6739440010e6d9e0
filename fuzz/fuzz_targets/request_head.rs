//! cargo-fuzz target: `ferrule_fuzz::request_head` on every input (what it checks is documented
//! there). Run: `RUSTC_BOOTSTRAP=1 cargo fuzz run -a request_head fuzz/corpus/request_head`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ferrule_fuzz::request_head(data));
