//! A Finished read before the other side's messages it follows (order.rs), and each
//! handshake's verdict kept (verdicts.rs): TLS 1.2 handshakes built here, their messages
//! handed in as a capture whose segments came out of order hands them in.

use super::tests_lack::{finished, messages, reason, run, MASTER};
use super::{Dir, Status};
use crate::keys::{prf, HashAlg};

/// The client's flight read before the server's ServerHelloDone (held behind a TCP hole),
/// then the ServerHelloDone: the client's Finished is checked on the transcript in stream
/// order, and matches. Before, it was checked at once and blamed the secret.
#[test]
fn a_finished_read_before_the_messages_it_follows_is_checked_when_they_come() {
    let [ch, sh, cert, shd, cke] = messages();
    let client = finished(b"client finished", &[&ch, &sh, &cert, &shd, &cke]);
    let server = finished(b"server finished", &[&ch, &sh, &cert, &shd, &cke, &client]);
    let mut run = run();
    for (dir, raw) in [
        (Dir::C2S, &ch),
        (Dir::S2C, &sh),
        (Dir::C2S, &cke),
        (Dir::C2S, &client),
    ] {
        run.message(dir, raw);
    }
    assert_eq!(run.dec.results[0].finished_verified, None);
    assert_eq!(run.dec.status, Status::Decrypted);
    assert_eq!(
        reason(&run).as_deref(),
        Some(
            "the client's Finished was not checked: the transcript lacks the server's \
             messages it follows (its ServerHelloDone and what came before it), which the \
             capture did not hold in order before it, and a Finished MACs the whole handshake"
        )
    );
    for (dir, raw) in [(Dir::S2C, &cert), (Dir::S2C, &shd), (Dir::S2C, &server)] {
        run.message(dir, raw);
    }
    for result in &run.dec.results {
        assert_eq!(result.finished_verified, Some(true));
        assert_eq!(result.finished_unchecked, None);
    }
    assert_eq!(run.dec.status, Status::Decrypted);
    assert_eq!(reason(&run), None);
}

/// The server's Finished of a full handshake read before the client's flight: it waits
/// for the client's Finished.
#[test]
fn a_servers_finished_waits_for_the_clients() {
    let [ch, sh, cert, shd, cke] = messages();
    let client = finished(b"client finished", &[&ch, &sh, &cert, &shd, &cke]);
    let server = finished(b"server finished", &[&ch, &sh, &cert, &shd, &cke, &client]);
    let mut run = run();
    for (dir, raw) in [
        (Dir::C2S, &ch),
        (Dir::S2C, &sh),
        (Dir::S2C, &cert),
        (Dir::S2C, &shd),
        (Dir::S2C, &server),
        (Dir::C2S, &cke),
        (Dir::C2S, &client),
    ] {
        run.message(dir, raw);
    }
    for result in &run.dec.results {
        assert_eq!(result.finished_verified, Some(true));
    }
    assert_eq!(reason(&run), None);
}

/// A first handshake whose client Finished does not verify, then a renegotiation whose
/// Finished match: the client's verdict is the first handshake's, and the reason says so.
/// Before, the renegotiation's verdict replaced it ("matches").
#[test]
fn a_failing_first_handshake_is_not_hidden_by_a_renegotiation_that_matches() {
    let [ch, sh, cert, shd, cke] = messages();
    let good = finished(b"client finished", &[&ch, &sh, &cert, &shd, &cke]);
    // The first handshake's client Finished made with another master secret.
    let transcript = [&ch, &sh, &cert, &shd, &cke].map(|m| m.as_slice()).concat();
    let hash = prf::session_hash(prf::TLS12, HashAlg::Sha256, &transcript);
    let other = [!MASTER[0]; 48];
    let label = b"client finished";
    let verify = prf::finished_from_hash(prf::TLS12, HashAlg::Sha256, &other, label, &hash);
    let bad = super::tests::message(20, &verify);
    let mut run = run();
    for client in [&bad, &good] {
        let server = finished(b"server finished", &[&ch, &sh, &cert, &shd, &cke, client]);
        for (dir, raw) in [
            (Dir::C2S, &ch),
            (Dir::S2C, &sh),
            (Dir::S2C, &cert),
            (Dir::S2C, &shd),
            (Dir::C2S, &cke),
            (Dir::C2S, client),
            (Dir::S2C, &server),
        ] {
            run.message(dir, raw);
        }
    }
    let [c2s, s2c] = &run.dec.results;
    assert_eq!(c2s.finished_verified, Some(false));
    assert_eq!(c2s.finished_handshake, Some(0));
    assert_eq!(s2c.finished_verified, Some(true));
    assert_eq!(run.dec.status, Status::Decrypted);
    assert_eq!(
        reason(&run).as_deref(),
        Some(
            "Finished does not verify although the records open: the handshake messages it \
             hashes were altered, or not all read; Finished by handshake: the first handshake: the client's \
             does not verify, the server's matches; renegotiation 1: the client's matches, \
             the server's matches"
        )
    );
}

/// A side that goes on sending handshake messages after its Finished while it waits keeps
/// no more than the transcript would: past `MAX_TRANSCRIPT` its Finished is not checked.
#[test]
fn a_finished_waiting_holds_no_more_than_a_transcript() {
    let [ch, sh, cert, shd, cke] = messages();
    let client = finished(b"client finished", &[&ch, &sh, &cert, &shd, &cke]);
    let mut run = run();
    for (dir, raw) in [(Dir::C2S, &ch), (Dir::S2C, &sh), (Dir::C2S, &client)] {
        run.message(dir, raw);
    }
    let filler = super::tests::message(22, &vec![0; 1 << 20]);
    for _ in 0..17 {
        run.message(Dir::C2S, &filler);
    }
    for (dir, raw) in [(Dir::S2C, &cert), (Dir::S2C, &shd)] {
        run.message(dir, raw);
    }
    let result = &run.dec.results[0];
    assert_eq!(result.finished_verified, None);
    assert_eq!(
        result.finished_unchecked.as_deref(),
        Some("the handshake is longer than the 16 MiB of transcript tlslens keeps")
    );
}
