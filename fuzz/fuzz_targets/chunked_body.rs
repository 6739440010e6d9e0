//! cargo-fuzz target: `ferrule_fuzz::chunked_body` on every input (what it checks is documented
//! there). Run: `RUSTC_BOOTSTRAP=1 cargo fuzz run -a chunked_body fuzz/corpus/chunked_body`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ferrule_fuzz::chunked_body(data));
