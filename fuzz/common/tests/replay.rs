//! Replays the committed seeds and reproducers of the two structure-aware targets through their
//! harnesses, as the fuzz targets decode them (`Vec<Op>` from the whole input), without
//! libFuzzer: `cargo test --workspace` in `fuzz/` then checks every invariant on every
//! committed input, and a change to a harness or to the core that breaks one fails here before
//! any fuzzing.

use std::path::PathBuf;

use arbitrary::{Arbitrary, Unstructured};
use hem_auth_fuzz_common::{notify_ops, ops};

/// Every file of `fuzz/<dir>/`, sorted by name.
fn inputs(dir: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).expect("readable");
            (p, bytes)
        })
        .collect()
}

/// What `ops::run` scored on the reproducer of `regressions/device_ops/` when it was kept
/// (and still did when the harness moved onto `hem_auth_sim::World` and `Device::handle`).
const REGRESSION_SCORE: usize = 15;

#[test]
fn device_ops_seeds_and_regressions_keep_every_invariant_and_their_meaning() {
    let mut played = 0;
    for dir in ["corpus/device_ops", "regressions/device_ops"] {
        for (path, bytes) in inputs(dir) {
            let Ok(ops) = Vec::<ops::Op>::arbitrary_take_rest(Unstructured::new(&bytes)) else {
                panic!("{}: does not decode", path.display())
            };
            let score = ops::run(&ops);
            played += 1;
            // The seed generator names a seed by the successes `ops::run` counted on it: the
            // same count now says the input still plays the same steps.
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            let expected = match name.rsplit_once("-score-") {
                Some((_, n)) => n.parse().expect("a score"),
                None => REGRESSION_SCORE,
            };
            assert_eq!(score, expected, "{}: successes", path.display());
        }
    }
    assert!(played >= 13, "only {played} inputs played");
}

#[test]
fn notify_ops_seeds_keep_every_invariant() {
    let mut played = 0;
    for (_, bytes) in inputs("corpus/notify_ops") {
        if let Ok(ops) = Vec::<notify_ops::Op>::arbitrary_take_rest(Unstructured::new(&bytes)) {
            notify_ops::run(&ops);
            played += 1;
        }
    }
    assert!(played >= 100, "only {played} inputs played");
}
