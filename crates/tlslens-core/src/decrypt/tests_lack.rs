//! A transcript that lacks a message (lack.rs): TLS 1.2 handshakes built here, with one
//! message skipped past the size limit or lost in a gap, whose Finished are then no verdict
//! on the secret.

pub(super) use super::tests::{client_hello, line, message, server_hello, Run, CR};
use super::{Dir, Lack, Status, MAX_DERIVATIONS, MAX_DERIVED_VALUES};
use crate::keys::{prf, HashAlg};

/// TLS_RSA_WITH_AES_128_CBC_SHA: its TLS 1.2 Finished use the SHA-256 PRF.
pub(super) const SUITE: u16 = 0x002F;
pub(super) const MASTER: [u8; 48] = [0x4D; 48];
const CERTIFICATE_SKIPPED: Lack = Lack::Skipped {
    msg_type: 11,
    length: 1207,
    limit: 500,
};

/// A TLS 1.2 handshake's messages, in order: ClientHello, ServerHello, Certificate (an
/// empty list), ServerHelloDone, ClientKeyExchange.
pub(super) fn messages() -> [Vec<u8>; 5] {
    [
        client_hello(SUITE),
        server_hello(SUITE, false),
        message(11, &[0, 0, 0]),
        message(14, &[]),
        message(16, &[0, 2, 1, 2]),
    ]
}

/// The Finished message `label` ("client finished"…) makes over `transcript`.
pub(super) fn finished(label: &[u8], transcript: &[&Vec<u8>]) -> Vec<u8> {
    let bytes: Vec<u8> = transcript.iter().flat_map(|m| m.iter().copied()).collect();
    let hash = prf::session_hash(prf::TLS12, HashAlg::Sha256, &bytes);
    let verify = prf::finished_from_hash(prf::TLS12, HashAlg::Sha256, &MASTER, label, &hash);
    message(20, &verify)
}

pub(super) fn run() -> Run {
    Run::new(&line("CLIENT_RANDOM", &MASTER))
}

pub(super) fn reason(run: &Run) -> Option<String> {
    run.dec.reason_text(&run.keylog, &[], None)
}

#[test]
fn a_finished_after_a_message_skipped_past_the_limit_is_not_held_against_the_secret() {
    let [ch, sh, cert, shd, cke] = messages();
    let client = finished(b"client finished", &[&ch, &sh, &cert, &shd, &cke]);
    let server = finished(b"server finished", &[&ch, &sh, &cert, &shd, &cke, &client]);
    let mut run = run();
    run.message(Dir::C2S, &ch);
    run.message(Dir::S2C, &sh);
    // The content layer skipped the Certificate: the decryptor never sees it.
    run.dec.transcript_lacks(Dir::S2C, CERTIFICATE_SKIPPED);
    for (dir, raw) in [
        (Dir::S2C, &shd),
        (Dir::C2S, &cke),
        (Dir::C2S, &client),
        (Dir::S2C, &server),
    ] {
        run.message(dir, raw);
    }
    let why = "tlslens skipped the server's handshake message type 11 (Certificate), which \
               claims 1,207 bytes, past --max-message's limit of 500 bytes";
    for result in &run.dec.results {
        assert_eq!(result.finished_verified, None);
        assert_eq!(result.finished_unchecked.as_deref(), Some(why));
    }
    assert_eq!(run.dec.status, Status::Decrypted);
    assert_eq!(
        reason(&run),
        Some(format!(
            "the Finished messages were not checked: {why}, and a Finished MACs the whole \
             handshake"
        ))
    );
}

#[test]
fn a_finished_waiting_behind_a_gap_is_not_checked() {
    let [ch, sh, cert, shd, cke] = messages();
    let client = finished(b"client finished", &[&ch, &sh, &cert, &shd, &cke]);
    let mut run = run();
    // The server's ServerHelloDone is held behind a hole: the client's Finished comes first.
    for (dir, raw) in [
        (Dir::C2S, &ch),
        (Dir::S2C, &sh),
        (Dir::S2C, &cert),
        (Dir::C2S, &cke),
        (Dir::C2S, &client),
    ] {
        run.message(dir, raw);
    }
    // It waits for the ServerHelloDone (order.rs): no verdict on the secret meanwhile.
    assert_eq!(run.dec.results[0].finished_verified, None);
    assert_eq!(run.dec.status, Status::Decrypted);
    run.dec
        .transcript_lacks(Dir::S2C, Lack::Gap { given_up: None });
    assert_eq!(run.dec.results[0].finished_verified, None);
    assert_eq!(run.dec.status, Status::Decrypted);
    assert_eq!(
        reason(&run).as_deref(),
        Some(
            "the client's Finished was not checked: bytes the server sent before its \
             Finished are missing from the capture (a gap), and a Finished MACs the whole \
             handshake"
        )
    );
}

#[test]
fn a_match_stands_and_a_gap_after_a_sides_finished_changes_nothing() {
    let [ch, sh, cert, shd, cke] = messages();
    let client = finished(b"client finished", &[&ch, &sh, &cert, &shd, &cke]);
    let mut run = run();
    for (dir, raw) in [(Dir::C2S, &ch), (Dir::S2C, &sh), (Dir::S2C, &cert)] {
        run.message(dir, raw);
    }
    // Bytes of the server lost here held no handshake message: the Finished still match.
    run.dec
        .transcript_lacks(Dir::S2C, Lack::Gap { given_up: None });
    for (dir, raw) in [(Dir::S2C, &shd), (Dir::C2S, &cke), (Dir::C2S, &client)] {
        run.message(dir, raw);
    }
    assert_eq!(run.dec.results[0].finished_verified, Some(true));
    assert_eq!(run.dec.results[0].finished_unchecked, None);

    let mut run = self::run();
    for (dir, raw) in [
        (Dir::C2S, &ch),
        (Dir::S2C, &sh),
        (Dir::S2C, &cert),
        (Dir::S2C, &shd),
        (Dir::C2S, &cke),
        (Dir::C2S, &client),
    ] {
        run.message(dir, raw);
    }
    // The client's bytes after its Finished are in no Finished of this handshake: a server
    // Finished that does not match still does not verify (its record opened: the secret
    // stands, as over DTLS, and the reason blames the transcript).
    run.dec
        .transcript_lacks(Dir::C2S, Lack::Gap { given_up: None });
    run.message(Dir::S2C, &message(20, &[0; 12]));
    assert_eq!(run.dec.results[0].finished_verified, Some(true));
    assert_eq!(run.dec.results[1].finished_verified, Some(false));
    assert_eq!(run.dec.status, Status::Decrypted);
    assert_eq!(
        run.dec.reason.as_deref(),
        Some(
            "Finished does not verify although the records open: the handshake messages it \
             hashes were altered, or not all read"
        )
    );
}

#[test]
fn a_client_hello_skipped_is_why_no_secret_is_looked_up() {
    let mut run = run();
    let skipped = Lack::Skipped {
        msg_type: 1,
        length: 508,
        limit: 500,
    };
    run.dec.transcript_lacks(Dir::C2S, skipped);
    run.message(Dir::S2C, &server_hello(0x1301, true));
    assert_eq!(run.dec.status, Status::NoSecret);
    assert_eq!(
        reason(&run).as_deref(),
        Some(
            "the ClientHello was skipped (it claims 508 bytes, past --max-message's limit of \
             500 bytes), so no secret can be looked up"
        )
    );
    let mut run = self::run();
    run.dec.transcript_lacks(
        Dir::C2S,
        Lack::Lost {
            msg_type: 1,
            given_up: None,
        },
    );
    assert_eq!(
        reason(&run).as_deref(),
        Some(
            "the ClientHello lost bytes in a gap of the capture and was dropped, so no secret \
             can be looked up"
        )
    );
}

/// TLS 1.3 over QUIC: the ClientHello skipped past --max-message, its random read by QUIC
/// packet protection (which opened the packets with the key log's secrets for it).
const QUIC_HELLO_SKIPPED: Lack = Lack::Skipped {
    msg_type: 1,
    length: 465,
    limit: 300,
};

#[test]
fn a_client_hello_skipped_finds_the_secrets_by_the_random_the_transport_read() {
    let text = [
        line("CLIENT_HANDSHAKE_TRAFFIC_SECRET", &[0x11; 32]),
        line("SERVER_HANDSHAKE_TRAFFIC_SECRET", &[0x22; 32]),
    ]
    .concat();
    let mut run = Run::new(&text);
    run.dec.transport_client_random(CR);
    run.dec.transcript_lacks(Dir::C2S, QUIC_HELLO_SKIPPED);
    run.message(Dir::S2C, &server_hello(0x1301, true));
    run.message(Dir::S2C, &message(8, &[0, 0]));
    run.message(Dir::S2C, &message(20, &[0; 32]));
    assert_eq!(run.dec.client_random, CR);
    assert_eq!(run.dec.status, Status::Decrypted);
    assert_eq!(run.dec.source.as_deref(), Some("keylog"));
    assert_eq!(run.dec.derivations.len(), 1);
    assert_eq!(run.dec.results[1].finished_verified, None);
    assert_eq!(
        reason(&run).as_deref(),
        Some(
            "the secrets were looked up by client random c1c1c1c1c1c1…, which QUIC packet \
             protection read from the first bytes of the ClientHello to open the packets; the \
             server's Finished was not checked: tlslens skipped the client's handshake message \
             type 1 (ClientHello), which claims 465 bytes, past --max-message's limit of 300 \
             bytes, and a Finished MACs the whole handshake"
        )
    );
    // A key log without a usable line, and (the harness's) RSA keys: they do not open this
    // exchange, and no key log holds the random, said once.
    let mut run = Run::new("");
    run.dec.transport_client_random(CR);
    run.dec.transcript_lacks(Dir::C2S, QUIC_HELLO_SKIPPED);
    run.message(Dir::S2C, &server_hello(0x1301, true));
    assert_eq!(run.dec.status, Status::NoSecret);
    assert_eq!(
        reason(&run).as_deref(),
        Some(
            "the RSA key or PSK given does not open this key exchange, and no key log holds \
             client random c1c1c1c1c1c1…"
        )
    );
}

#[test]
fn a_random_told_is_the_next_client_hellos_only() {
    // Told before a ClientHello that is read, it is that one's: a renegotiation's ClientHello
    // skipped later has no random (the last one would find the last one's secrets).
    let mut run = run();
    run.dec.transport_client_random(CR);
    run.message(Dir::C2S, &client_hello(SUITE));
    run.message(Dir::S2C, &server_hello(SUITE, false));
    assert_eq!(run.dec.status, Status::Decrypted);
    assert_eq!(reason(&run), None);
    run.dec.transcript_lacks(Dir::C2S, QUIC_HELLO_SKIPPED);
    assert!(run.dec.client_random.is_empty());
    assert_eq!(run.dec.derivations.len(), 2);
    assert_eq!(reason(&run), None);
}

#[test]
fn a_renegotiation_starts_with_a_whole_transcript() {
    let [ch, sh, cert, shd, cke] = messages();
    let client = finished(b"client finished", &[&ch, &sh, &cert, &shd, &cke]);
    let mut run = run();
    run.message(Dir::C2S, &ch);
    run.message(Dir::S2C, &sh);
    run.dec.transcript_lacks(Dir::S2C, CERTIFICATE_SKIPPED);
    for (dir, raw) in [(Dir::S2C, &shd), (Dir::C2S, &cke), (Dir::C2S, &client)] {
        run.message(dir, raw);
    }
    assert_eq!(run.dec.results[0].finished_verified, None);
    // The second handshake holds every message: its Finished is checked again.
    for (dir, raw) in [
        (Dir::C2S, &ch),
        (Dir::S2C, &sh),
        (Dir::S2C, &cert),
        (Dir::S2C, &shd),
        (Dir::C2S, &cke),
        (Dir::C2S, &client),
    ] {
        run.message(dir, raw);
    }
    // The summary is the worst handshake's (verdicts.rs): the first, not checked.
    assert_eq!(run.dec.derivations.len(), 2);
    let each: Vec<_> = run.dec.results[0]
        .finished_each
        .iter()
        .map(|v| (v.handshake, v.verified))
        .collect();
    assert_eq!(each, [(0, None), (1, Some(true))]);
    assert_eq!(run.dec.results[0].finished_verified, None);
    assert_eq!(run.dec.results[0].finished_handshake, Some(0));
    assert!(reason(&run).is_some_and(|r| r.ends_with(
        "Finished by handshake: the first handshake: the client's was not checked; \
         renegotiation 1: the client's matches"
    )));
    // A renegotiation's ClientHello skipped: a handshake of its own, with no secret (the
    // last one's random would find the last one's).
    let hello = Lack::Skipped {
        msg_type: 1,
        length: 70_000,
        limit: 65_536,
    };
    run.dec.transcript_lacks(Dir::C2S, hello);
    assert_eq!(run.dec.derivations.len(), 3);
    assert!(run.dec.client_random.is_empty());
    assert!(!run.dec.transcript_whole());
}

#[test]
fn derivations_are_bounded_whatever_the_renegotiations_and_key_updates() {
    // A hostile capture renegotiates without end, or updates keys without end: the first
    // MAX_DERIVATIONS handshakes' derivations are kept, MAX_DERIVED_VALUES values each, and
    // the handshakes are still counted (a renegotiation is told by its number).
    let [ch, sh, ..] = messages();
    let mut reneg = run();
    for _ in 0..MAX_DERIVATIONS + 4 {
        reneg.message(Dir::C2S, &ch);
        reneg.message(Dir::S2C, &sh);
    }
    assert_eq!(reneg.dec.handshakes, MAX_DERIVATIONS + 4);
    assert_eq!(reneg.dec.derivations.len(), MAX_DERIVATIONS);
    assert!(reneg.dec.derivations.iter().all(|d| !d.values.is_empty()));
    // Past the kept ones the current handshake has none (not the last kept one's).
    assert!(reneg.dec.derivation().is_empty());
    let mut updates = run();
    updates.message(Dir::C2S, &ch);
    updates.message(Dir::S2C, &sh);
    for update in 0..MAX_DERIVED_VALUES * 2 {
        updates.dec.derive(format!("key update {update}"), &[0; 32]);
    }
    assert_eq!(updates.dec.derivation().len(), MAX_DERIVED_VALUES);
}

#[test]
fn finished_verdicts_are_bounded_and_the_worst_stays_whatever_the_renegotiations() {
    // 200 handshakes, the 31st's client Finished failing: the verdicts kept stay few, the
    // summary is still that failure (and its handshake).
    let mut run = run();
    for handshake in 1..=200 {
        run.dec.handshakes = handshake;
        run.dec.set_finished(Dir::C2S, Some(handshake != 31), None);
    }
    let result = &run.dec.results[0];
    assert!(result.finished_each.len() <= MAX_DERIVATIONS + 2);
    assert_eq!(result.finished_verified, Some(false));
    assert_eq!(result.finished_handshake, Some(30));
    // The newest is kept: its verdict may still be taken back.
    assert_eq!(result.finished_each.last().map(|v| v.handshake), Some(199));
}

#[test]
fn an_extended_master_secret_is_not_derived_from_a_transcript_that_lacks_a_message() {
    // ServerHello with extended_master_secret (RFC 7627).
    let body = [
        &[3, 3][..],
        &[0x5E; 32],
        &[0],
        &SUITE.to_be_bytes(),
        &[0],
        &[0, 4, 0, 23, 0, 0],
    ]
    .concat();
    let mut run = Run::new("");
    run.message(Dir::C2S, &client_hello(SUITE));
    run.message(Dir::S2C, &message(2, &body));
    run.dec.transcript_lacks(
        Dir::S2C,
        Lack::Lost {
            msg_type: 11,
            given_up: None,
        },
    );
    run.message(Dir::S2C, &message(14, &[]));
    let request = run.message(Dir::C2S, &message(16, &[0, 2, 1, 2]));
    assert!(request.is_some());
    run.dec
        .rsa_premaster(Some(&[[3u8, 3].as_slice(), &[7; 46]].concat()));
    assert_eq!(run.dec.master_secret, None);
    assert_eq!(run.dec.status, Status::NoSecret);
    assert_eq!(
        run.dec.reason.as_deref(),
        Some(
            "the extended master secret hashes the handshake up to the ClientKeyExchange, and \
             the server's handshake message type 11 (Certificate) lost bytes in a gap of the \
             capture and was dropped: the keys cannot be derived"
        )
    );
    assert_eq!(run.dec.client_random, CR);
}

#[test]
fn a_client_hello_skipped_finds_the_secrets_by_the_random_its_first_bytes_hold() {
    // TLS 1.2 over TCP: the content layer read the random from the head of the ClientHello
    // it skipped; the key log's master secret for it opens the connection.
    let hello_skipped = Lack::Skipped {
        msg_type: 1,
        length: 508,
        limit: 500,
    };
    let mut run = run();
    run.dec.skipped_hello_random(CR);
    run.dec.transcript_lacks(Dir::C2S, hello_skipped);
    run.message(Dir::S2C, &server_hello(SUITE, false));
    assert_eq!(run.dec.client_random, CR);
    assert_eq!(run.dec.source.as_deref(), Some("keylog"));
    assert_eq!(
        reason(&run).as_deref(),
        Some(
            "the secrets were looked up by client random c1c1c1c1c1c1…, read from the first \
             bytes of the ClientHello tlslens skipped"
        )
    );
    // QUIC's reading, told first, is the one said.
    let mut run = self::run();
    run.dec.transport_client_random(CR);
    run.dec.skipped_hello_random([0x99; 32]);
    run.dec.transcript_lacks(Dir::C2S, hello_skipped);
    run.message(Dir::S2C, &server_hello(SUITE, false));
    assert_eq!(run.dec.client_random, CR);
    assert!(reason(&run)
        .unwrap_or_default()
        .contains("QUIC packet protection"));
}

#[test]
fn a_server_hello_skipped_is_said_as_such_not_as_lost_by_the_capture() {
    let mut run = run();
    run.message(Dir::C2S, &client_hello(SUITE));
    let skipped = Lack::Skipped {
        msg_type: 2,
        length: 122,
        limit: 100,
    };
    run.dec.transcript_lacks(Dir::S2C, skipped);
    assert_eq!(
        reason(&run).as_deref(),
        Some(
            "tlslens skipped the server's handshake message type 2 (ServerHello), which claims \
             122 bytes, past --max-message's limit of 100 bytes, so the cipher suite and the \
             server random are unknown and the keys cannot be used: the key log's secrets for \
             client random c1c1c1c1c1c1… are not at fault"
        )
    );
}

#[test]
fn a_random_found_nowhere_names_what_was_searched() {
    use super::keylog::KeyLog;
    let line = format!("CLIENT_RANDOM {} {}\n", "ab".repeat(32), "cd".repeat(48));
    let said = |sources: &[(&str, &str)]| {
        let mut keylog = KeyLog::new();
        for (text, origin) in sources {
            keylog.add_text(text, "test", origin);
        }
        keylog.holds_nothing_for("this connection")
    };
    assert_eq!(
        said(&[("# no line", "keylog")]),
        "no usable secret was given and the capture carries none: this connection cannot be \
         looked up"
    );
    assert_eq!(
        said(&[(&line, "keylog")]),
        "the key log given holds nothing for this connection"
    );
    assert_eq!(
        said(&[("", "keylog"), (&line, "pcapng")]),
        "the capture's Decryption Secrets Blocks hold nothing for this connection"
    );
    assert_eq!(
        said(&[(&line, "keylog"), (&line, "pcapng")]),
        "neither the key log given nor the capture's Decryption Secrets Blocks hold a secret \
         for this connection"
    );
    assert_eq!(
        said(&[(&line, "scanner")]),
        "the secrets given hold nothing for this connection"
    );
}
