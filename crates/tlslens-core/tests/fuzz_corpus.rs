//! Every input of the cargo-fuzz corpora (and every crash kept in fuzz/artifacts) replayed
//! by a plain `cargo test`: no cargo-fuzz, no nightly needed.

use std::fs;
use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) -> usize {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut replayed = 0;
    for folder in [
        fuzz.join("corpus").join(target),
        fuzz.join("artifacts").join(target),
    ] {
        let Ok(entries) = fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("a readable corpus folder").path();
            let data = fs::read(&path).expect("a readable corpus file");
            run(&data);
            replayed += 1;
        }
    }
    replayed
}

#[test]
fn capture_corpus_replays_without_a_crash() {
    let replayed = replay("capture", tlslens_core::fuzzing::capture);
    assert!(replayed > 10, "the capture corpus holds {replayed} inputs");
}

#[test]
fn flows_corpus_replays_without_a_crash() {
    let replayed = replay("flows", tlslens_core::flows::fuzzing::flows);
    assert!(replayed > 10, "the flows corpus holds {replayed} inputs");
}

#[test]
fn records_corpus_replays_without_a_crash() {
    let replayed = replay("records", tlslens_core::records::fuzzing::records);
    assert!(replayed > 10, "the records corpus holds {replayed} inputs");
}

#[test]
fn session_corpus_replays_without_a_crash() {
    let replayed = replay("session", tlslens_core::records::fuzzing::session);
    assert!(replayed > 10, "the session corpus holds {replayed} inputs");
}

#[test]
fn protection_corpus_replays_without_a_crash() {
    let replayed = replay("protection", tlslens_core::fuzzing::protection);
    assert!(
        replayed > 10,
        "the protection corpus holds {replayed} inputs"
    );
}

#[test]
fn dtls_corpus_replays_without_a_crash() {
    let replayed = replay("dtls", tlslens_core::dtls::fuzzing::dtls);
    assert!(replayed > 10, "the dtls corpus holds {replayed} inputs");
}

#[test]
fn extensions_corpus_replays_without_a_crash() {
    let replayed = replay("extensions", tlslens_core::extensions::fuzzing::extensions);
    assert!(
        replayed > 10,
        "the extensions corpus holds {replayed} inputs"
    );
}

#[test]
fn handshake_corpus_replays_without_a_crash() {
    let replayed = replay("handshake", tlslens_core::handshake::fuzzing::handshake);
    assert!(
        replayed > 10,
        "the handshake corpus holds {replayed} inputs"
    );
}

#[test]
fn quic_packet_corpus_replays_without_a_crash() {
    let replayed = replay("quic_packet", tlslens_core::quic::fuzzing::quic_packet);
    assert!(
        replayed > 10,
        "the quic_packet corpus holds {replayed} inputs"
    );
}

#[test]
fn decrypt_corpus_replays_without_a_crash() {
    let replayed = replay("decrypt", tlslens_core::decrypt::fuzzing::decrypt);
    assert!(replayed > 10, "the decrypt corpus holds {replayed} inputs");
}

#[test]
fn fingerprint_corpus_replays_without_a_crash() {
    let replayed = replay(
        "fingerprint",
        tlslens_core::fingerprint::fuzzing::fingerprint,
    );
    assert!(
        replayed > 10,
        "the fingerprint corpus holds {replayed} inputs"
    );
}

#[test]
fn content_corpus_replays_without_a_crash() {
    let replayed = replay("content", tlslens_core::content::fuzzing::content);
    assert!(replayed > 10, "the content corpus holds {replayed} inputs");
}
