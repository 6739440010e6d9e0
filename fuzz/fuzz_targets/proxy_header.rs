//! cargo-fuzz target: `ferrule_fuzz::proxy_header` on every input (what it checks is documented
//! there). Run: `RUSTC_BOOTSTRAP=1 cargo fuzz run -a proxy_header fuzz/corpus/proxy_header`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ferrule_fuzz::proxy_header(data));
