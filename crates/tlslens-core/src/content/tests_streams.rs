//! The message-level entries: DTLS's whole messages (with the transcript it keeps itself)
//! and QUIC's CRYPTO streams per packet number space.

use super::tests::{findings, message, KNOWN};
use super::{Content, ContentEvent, DataKind, Io, MessageRead, Signed, Space};
use crate::decrypt::fuzzing::suites;

/// A TLS 1.3 ServerHello (TLS_AES_128_GCM_SHA256, supported_versions 0x0304).
fn server_hello13() -> Vec<u8> {
    let exts = [0, 6, 0, 43, 0, 2, 3, 4];
    message(
        2,
        &[&[3, 3][..], &[0x22; 32], &[0, 0x13, 1, 0], &exts].concat(),
    )
}

/// A TLS 1.2 ServerHello choosing TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256.
fn server_hello12() -> Vec<u8> {
    message(2, &[&[3, 3][..], &[0x55; 32], &[0, 0xC0, 0x2F, 0]].concat())
}

fn client_hello() -> Vec<u8> {
    message(
        1,
        &[&[3, 3][..], &[0x11; 32], &[0, 0, 2, 0x13, 1, 1, 0]].concat(),
    )
}

/// A CertificateVerify (rsa_pkcs1_sha256, a 2-byte signature).
fn certificate_verify() -> Vec<u8> {
    message(15, &[4, 1, 0, 2, 0xAB, 0xCD])
}

/// `work` on a content layer without keys (client side 0), then its events.
fn told(
    content: &mut Content,
    work: impl FnOnce(&mut Content, &mut Io<'_, '_>),
) -> Vec<ContentEvent> {
    let suites = suites();
    let mut rsa = |_: &crate::decrypt::RsaRequest| Ok(None);
    let mut io = Io {
        suites: &suites,
        decryptor: None,
        rsa: &mut rsa,
    };
    work(content, &mut io);
    content.flush();
    content.drain().collect()
}

fn read(events: &[ContentEvent]) -> Vec<&MessageRead> {
    events
        .iter()
        .filter_map(|e| match e {
            ContentEvent::Message(m) => Some(&**m),
            _ => None,
        })
        .collect()
}

#[test]
fn whole_messages_take_the_signed_input_the_caller_keeps_by_version() {
    let given = || Signed {
        tls13: Some(vec![0x13; 32]),
        messages: Some(b"dtls-form messages".to_vec()),
    };
    for (hello, expected) in [
        (server_hello12(), b"dtls-form messages".to_vec()),
        (server_hello13(), vec![0x13; 32]),
    ] {
        let mut content = Content::new(Some(0), 1 << 14, &KNOWN, false);
        let events = told(&mut content, |c, io| {
            c.whole_message(io, 0, client_hello(), 0, false, None);
            c.whole_message(io, 1, hello, 40, false, None);
            c.whole_message(io, 0, certificate_verify(), 90, true, Some(given()));
        });
        let messages = read(&events);
        let types: Vec<u8> = messages.iter().map(|m| m.msg_type).collect();
        assert_eq!(types, [1, 2, 15]);
        let verify = messages[2];
        assert_eq!((verify.offset, verify.decrypted), (90, true));
        assert_eq!(verify.error, None);
        assert_eq!(verify.signed, Some(expected));
    }
}

#[test]
fn whole_messages_set_the_context_renegotiate_and_classify_sealed_records() {
    let mut content = Content::new(Some(0), 1 << 14, &KNOWN, false);
    let events = told(&mut content, |c, io| {
        c.whole_message(io, 0, client_hello(), 0, false, None);
        c.whole_message(io, 1, server_hello13(), 40, false, None);
        // The encrypted flights of TLS 1.3: the server's, the client's (a Finished alone:
        // 4 + 32 + 1 + 16 bytes with TLS_AES_128_GCM_SHA256), then its data.
        c.skipped(1, 120, 60);
        c.skipped(0, 200, 53);
        c.skipped(0, 260, 30);
        c.skipped(0, 300, 30);
    });
    assert_eq!(read(&events)[1].context.version, None);
    assert!(content.tls13_encrypted());
    let sealed: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            ContentEvent::EncryptedHandshake { side, .. } => Some((*side, "handshake", 1)),
            ContentEvent::ApplicationData(run) => Some((run.side, "data", run.records)),
            _ => None,
        })
        .collect();
    assert_eq!(
        sealed,
        [(1, "handshake", 1), (0, "handshake", 1), (0, "data", 2)]
    );
    // Only the data is counted as such: the flights are the handshake.
    let counted = |side| {
        let counts = content.counts(side);
        (
            counts.application_data_records,
            counts.application_data_bytes,
        )
    };
    assert_eq!((counted(0), counted(1)), ((2, 60), (0, 0)));
    assert!(events.iter().any(|e| matches!(
        e,
        ContentEvent::ApplicationData(run) if run.kind == DataKind::ApplicationData && run.offset == 260
    )));
    // A second TLS <= 1.2 ServerHello renegotiates; a message that does not parse is told.
    let mut content = Content::new(Some(0), 1 << 14, &KNOWN, false);
    let events = told(&mut content, |c, io| {
        c.whole_message(io, 1, server_hello12(), 0, false, None);
        c.whole_message(io, 1, server_hello12(), 50, false, None);
        c.whole_message(io, 1, message(11, &[0, 0, 9]), 90, false, None);
        c.whole_message(io, 1, Vec::new(), 99, false, None);
    });
    assert!(content.renegotiation());
    let messages = read(&events);
    assert_eq!(messages.len(), 3);
    assert_eq!(messages[2].context.version, Some(0x0303));
    assert!(messages[2].error.is_some());
}

#[test]
fn crypto_streams_reassemble_per_side_and_space_and_tell_what_stays_incomplete() {
    let mut content = Content::new(Some(0), 1 << 14, &KNOWN, false);
    let hello = client_hello();
    let (first, second) = hello.split_at(10);
    let extensions = message(8, &[0, 0]);
    let events = told(&mut content, |c, io| {
        // The ClientHello in two parts, the server's Initial in between.
        c.crypto(io, 0, Space::Initial, first, 0, false);
        c.crypto(io, 1, Space::Initial, &server_hello13(), 0, false);
        c.crypto(io, 0, Space::Initial, second, 10, false);
        c.crypto(io, 1, Space::Handshake, &extensions, 0, true);
        c.crypto(
            io,
            1,
            Space::Handshake,
            &message(11, &[0; 40])[..20],
            6,
            true,
        );
        // A restarted stream (a Retry) drops what it held.
        c.crypto(io, 0, Space::Handshake, &[20, 0], 0, true);
        c.crypto_restart(0, Space::Handshake);
        c.crypto_end();
    });
    let messages = read(&events);
    let seen: Vec<_> = messages
        .iter()
        .map(|m| (m.side, m.msg_type, m.offset, m.decrypted, m.context.version))
        .collect();
    assert_eq!(
        seen,
        [
            (1, 2, 0, false, None),
            (0, 1, 0, false, Some(0x0304)),
            (1, 8, 0, true, Some(0x0304)),
        ]
    );
    assert_eq!(
        findings(&events),
        [(
            "handshake",
            Some(6),
            "handshake message type 11 in the handshake CRYPTO stream claims 40 bytes, only 16 \
             arrived"
                .to_owned()
        )]
    );
    assert_eq!(Space::from_name("application"), Some(Space::Application));
    assert_eq!(Space::from_name("0-rtt"), None);
}

/// A message of a CRYPTO stream past --max-message is told in QUIC's words: there are no
/// records to read on from, only CRYPTO data.
#[test]
fn a_crypto_message_past_the_limit_is_told_in_quics_words() {
    let mut content = Content::new(Some(0), 40, &KNOWN, false);
    let events = told(&mut content, |c, io| {
        c.crypto(io, 0, Space::Initial, &client_hello(), 0, false);
    });
    assert!(read(&events).is_empty());
    assert_eq!(
        findings(&events),
        [(
            "handshake",
            Some(0),
            "handshake message type 1 (ClientHello) claims 41 bytes, past --max-message's \
             limit of 40 bytes; skipped, as far as it claims in its CRYPTO stream or to the \
             next CRYPTO data that is whole messages"
                .to_owned()
        )]
    );
}

/// Runs of application data join as the timeline folds them: same side and kind, and a
/// decrypted run takes only a decrypted one (an undecrypted one joins either).
#[test]
fn a_run_absorbs_the_next_as_the_timeline_would() {
    use super::{DataKind, DataRun};
    let run = |side, kind, decrypted, length| DataRun {
        side,
        kind,
        offset: 0,
        records: 1,
        length,
        decrypted,
        plaintext: if decrypted {
            vec![vec![7; 2]]
        } else {
            Vec::new()
        },
    };
    let app = DataKind::ApplicationData;
    let mut decrypted = run(0, app, true, 10);
    assert!(decrypted.absorb(run(0, app, true, 5)).is_ok());
    assert!(decrypted.absorb(run(0, app, false, 3)).is_ok());
    assert_eq!((decrypted.records, decrypted.length), (3, 18));
    assert_eq!(decrypted.plaintext.len(), 2);
    let mut opaque = run(0, app, false, 10);
    assert!(opaque.absorb(run(0, app, true, 5)).is_err());
    assert!(opaque.absorb(run(1, app, false, 5)).is_err());
    assert!(opaque
        .absorb(run(0, DataKind::EarlyData, false, 5))
        .is_err());
    assert_eq!((opaque.records, opaque.length), (1, 10));
}
