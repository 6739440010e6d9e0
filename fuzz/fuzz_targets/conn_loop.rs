//! cargo-fuzz target: `ferrule_fuzz::conn_loop` on every input (what it checks is documented
//! in `fuzz/src/conn_loop.rs`). Run: `RUSTC_BOOTSTRAP=1 cargo fuzz run -a conn_loop fuzz/corpus/conn_loop`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ferrule_fuzz::conn_loop(data));
