//! Replays the committed fuzz inputs on stable Rust, through the same entry functions the
//! cargo-fuzz targets call (`fuzz/src/lib.rs`, included here as a module):
//! `fuzz/corpus-min/<target>/*` (the minimized corpus a fuzzing run left, see
//! docs/hostile-input.md) and `fuzz/regressions/<target>/*` (inputs that once crashed a
//! target, kept forever). The request corpus in `tests/corpus/requests` is fed to every
//! target too. Any panic is a regression.

#[path = "../fuzz/src/lib.rs"]
#[allow(dead_code, clippy::pedantic)]
mod entries;

use std::fs;
use std::path::{Path, PathBuf};

/// A fuzz target's name (its folder under `fuzz/corpus-min` and `fuzz/regressions`) and entry.
type Target = (&'static str, fn(&[u8]));

const TARGETS: [Target; 7] = [
    ("request_head", entries::request_head),
    ("request_stream", entries::request_stream),
    ("chunked_body", entries::chunked_body),
    ("proxy_header", entries::proxy_header),
    ("uwsgi_packet", entries::uwsgi_packet),
    ("forwarded", entries::forwarded),
    ("conn_loop", entries::conn_loop),
];

/// Fewer committed corpus inputs than this means `fuzz/corpus-min` went missing.
const MIN_CORPUS_INPUTS: usize = 100;

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.expect("readable directory entry").path())
        .filter(|path| {
            path.is_file()
                && !path
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    files.sort();
    files
}

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// Feeds each file to `entry`; a panic names the file.
fn replay(target: &str, entry: fn(&[u8]), files: &[PathBuf]) {
    for file in files {
        let data = fs::read(file).expect("readable input");
        assert!(
            std::panic::catch_unwind(|| entry(&data)).is_ok(),
            "{target} fails on {}",
            file.display()
        );
    }
}

#[test]
fn replays_the_minimized_fuzz_corpus_of_every_target() {
    let mut total = 0;
    for (target, entry) in TARGETS {
        let files = files_under(&fuzz_dir().join("corpus-min").join(target));
        total += files.len();
        replay(target, entry, &files);
    }
    assert!(
        total >= MIN_CORPUS_INPUTS,
        "only {total} inputs under fuzz/corpus-min"
    );
}

#[test]
fn replays_every_input_that_once_crashed_a_target() {
    for (target, entry) in TARGETS {
        replay(
            target,
            entry,
            &files_under(&fuzz_dir().join("regressions").join(target)),
        );
    }
}

#[test]
fn feeds_the_request_corpus_to_every_target() {
    let requests = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/requests");
    let files: Vec<PathBuf> = ["valid", "invalid"]
        .iter()
        .flat_map(|kind| files_under(&requests.join(kind)))
        .filter(|p| p.extension().is_some_and(|e| e == "http"))
        .collect();
    assert!(!files.is_empty());
    for (target, entry) in TARGETS {
        replay(target, entry, &files);
    }
}
