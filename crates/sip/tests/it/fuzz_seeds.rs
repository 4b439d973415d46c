//! Replays the fuzz seeds under stable `cargo test`, so every input the
//! fuzzers start from (and every regression they found, kept in
//! `fuzz/regressions/`) is checked on every run without nightly.

use std::path::{Path, PathBuf};

use tollgate_sip::fuzzing;

use crate::support::conformance_dir;

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Every seed: the project's messages, the regressions, and the conformance
/// corpus when it is present.
fn seeds() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut all = files_in(&root.join("tests/messages"));
    all.retain(|p| p.extension().is_some_and(|x| x == "sip"));
    let regressions = root.join("../../fuzz/regressions");
    for target in ["parse", "round_trip", "stream"] {
        all.extend(files_in(&regressions.join(target)));
    }
    if let Some(dir) = conformance_dir() {
        all.extend(files_in(&dir.join("rfc4475")));
        all.extend(files_in(&dir.join("rfc5118")));
    }
    all
}

#[test]
fn seeds_replay_through_every_fuzz_target() {
    let seeds = seeds();
    assert!(seeds.len() >= 16, "only {} seeds found", seeds.len());
    for path in seeds {
        let data = std::fs::read(&path).unwrap();
        fuzzing::parse_and_inspect(&data);
        fuzzing::round_trip(&data);
        fuzzing::stream_target(&data);
        for cuts in [&[1u8][..], &[2, 5, 11], &[64]] {
            fuzzing::stream_chunks(&data, cuts);
        }
    }
}
