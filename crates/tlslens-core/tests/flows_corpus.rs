//! Every input of the `flows` cargo-fuzz corpus (and every crash kept in fuzz/artifacts)
//! replayed by a plain `cargo test`: no cargo-fuzz, no nightly needed.

use std::fs;
use std::path::Path;

#[test]
fn flows_corpus_replays_without_a_crash() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut replayed = 0;
    for folder in [fuzz.join("corpus/flows"), fuzz.join("artifacts/flows")] {
        let Ok(entries) = fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("a readable corpus folder").path();
            tlslens_core::flows::fuzzing::flows(&fs::read(&path).expect("a corpus file"));
            replayed += 1;
        }
    }
    assert!(replayed > 10, "the flows corpus holds {replayed} inputs");
}
