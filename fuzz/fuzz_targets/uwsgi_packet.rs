//! cargo-fuzz target: `ferrule_fuzz::uwsgi_packet` on every input (what it checks is documented
//! there). Run: `RUSTC_BOOTSTRAP=1 cargo fuzz run -a uwsgi_packet fuzz/corpus/uwsgi_packet`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ferrule_fuzz::uwsgi_packet(data));
