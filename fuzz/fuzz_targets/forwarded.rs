//! cargo-fuzz target: `ferrule_fuzz::forwarded` on every input (what it checks is documented
//! there). Run: `RUSTC_BOOTSTRAP=1 cargo fuzz run -a forwarded fuzz/corpus/forwarded`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ferrule_fuzz::forwarded(data));
