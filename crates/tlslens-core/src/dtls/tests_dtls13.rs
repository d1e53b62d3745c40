//! DTLS 1.3's unified header with connection IDs: on Zeek's real DTLS 1.3 trace (no keys;
//! tests/data/zeek-dtls13-cid.tsv, one association of it), and on records encrypted here as
//! RFC 9147 §4 and §4.2.3 describe them (key updates, wrong keys); wolfSSL's real records
//! are tests_wolfssl.rs's.

use std::path::Path;

use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Aes128Gcm, KeyInit};

use super::tests::{client, findings, fragment, record, run, run_association, server};
use super::{Association, DtlsEvent, Keys, Limits, RecordInfo, Secrets, Suite};
use crate::decrypt::{MAX_DERIVATIONS, MAX_DERIVED_VALUES};
use crate::flows::packet::Addr;
use crate::keys::hkdf::{expand_label_prefixed, DTLS13};
use crate::keys::HashAlg;
use crate::protection::{cipher_spec, header_mask};

/// (frame, from_client, record) of each record event.
fn records(events: &[DtlsEvent]) -> Vec<(u64, bool, RecordInfo, Option<u8>)> {
    events
        .iter()
        .filter_map(|e| match e {
            DtlsEvent::Record {
                frame,
                from_client,
                record,
                inner_type,
                ..
            } => Some((*frame, *from_client, record.clone(), *inner_type)),
            _ => None,
        })
        .collect()
}

#[test]
fn zeek_dtls13_unified_headers_carry_the_negotiated_connection_ids() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/zeek-dtls13-cid.tsv");
    let text = std::fs::read_to_string(path).unwrap();
    let mut association = Association::new(Limits::default(), None);
    let mut events = Vec::new();
    let host = Addr::v4([127, 0, 0, 1]);
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let payload: Vec<u8> = (0..f[3].len() / 2)
            .map(|i| u8::from_str_radix(&f[3][2 * i..2 * i + 2], 16).unwrap())
            .collect();
        let (sport, dport) = (f[1].parse().unwrap(), f[2].parse().unwrap());
        association.feed(
            f[0].parse().unwrap(),
            (host, sport),
            (host, dport),
            &payload,
        );
        events.extend(std::iter::from_fn(|| association.poll()));
    }
    assert_eq!(findings(&events), []);
    assert!(events.iter().any(|e| matches!(
        e,
        DtlsEvent::Negotiated {
            version: 0xfefc,
            suite: 0x1301,
            ..
        }
    )));
    let unified: Vec<(u64, bool, Vec<u8>, u64)> = records(&events)
        .into_iter()
        .filter(|r| r.2.unified)
        .map(|(frame, from_client, r, _)| (frame, from_client, r.cid, r.epoch))
        .collect();
    assert_eq!(unified.len(), 11);
    for (frame, from_client, cid, epoch) in unified {
        // Records towards the client carry the ID the client asked for, and back.
        let want: &[u8] = if from_client {
            b"fancy server CID"
        } else {
            b"I am a client CID"
        };
        assert_eq!(cid, want, "frame {frame}");
        assert_eq!(epoch, if frame == 18 { 3 } else { 2 }, "frame {frame}");
    }
}

const CLIENT_CID: &[u8] = b"client-cid";
const SECRET: [u8; 32] = [9; 32];

fn hello(msg_type: u8, random: u8, extensions: &[u8]) -> Vec<u8> {
    hello_numbered(msg_type, random, extensions, 0)
}

/// `hello` with its message_seq.
fn hello_numbered(msg_type: u8, random: u8, extensions: &[u8], message_seq: u16) -> Vec<u8> {
    let mut body = vec![0xfe, 0xfd];
    body.extend_from_slice(&[random; 32]);
    body.push(0);
    if msg_type == 1 {
        body.extend_from_slice(&[0, 0, 2, 0x13, 0x01, 1, 0]);
    } else {
        body.extend_from_slice(&[0x13, 0x01, 0]);
    }
    body.extend_from_slice(&u16::try_from(extensions.len()).unwrap().to_be_bytes());
    body.extend_from_slice(extensions);
    let length = u32::try_from(body.len()).unwrap();
    let seq = u8::try_from(message_seq).unwrap();
    record(22, seq, &fragment(msg_type, length, message_seq, 0, &body))
}

/// A server record of epoch 2 in a unified header: CID, 16- or 8-bit sequence number,
/// length present or not; encrypted, then its sequence number masked.
fn protected(seq: u16, wide: bool, with_length: bool, inner: &[u8]) -> Vec<u8> {
    protected_with(&SECRET, 2, (seq, wide, with_length), inner)
}

/// The same under `secret`, for an epoch whose two low bits are `epoch`.
fn protected_with(
    secret: &[u8],
    epoch: u8,
    (seq, wide, with_length): (u16, bool, bool),
    inner: &[u8],
) -> Vec<u8> {
    let expand = |label: &[u8], n| {
        expand_label_prefixed(HashAlg::Sha256, DTLS13, secret, label, b"", n).unwrap()
    };
    let (key, iv, sn) = (expand(b"key", 16), expand(b"iv", 12), expand(b"sn", 16));
    let first = 0x30 | u8::from(wide) << 3 | u8::from(with_length) << 2 | (epoch & 3);
    let mut header = vec![first];
    header.extend_from_slice(CLIENT_CID);
    let seq_at = header.len();
    if wide {
        header.extend_from_slice(&seq.to_be_bytes());
    } else {
        header.push(u8::try_from(seq).unwrap());
    }
    if with_length {
        header.extend_from_slice(&u16::try_from(inner.len() + 16).unwrap().to_be_bytes());
    }
    let mut nonce = [0u8; 12];
    nonce.copy_from_slice(&iv);
    for (n, s) in nonce[4..].iter_mut().zip(u64::from(seq).to_be_bytes()) {
        *n ^= s;
    }
    let mut body = inner.to_vec();
    let aead = Aes128Gcm::new_from_slice(&key).unwrap();
    aead.encrypt_in_place(&nonce.into(), &header, &mut body)
        .unwrap();
    let mask = header_mask("AES_128_GCM", &sn, &body[..16]).unwrap();
    let width = if wide { 2 } else { 1 };
    for i in 0..width {
        header[seq_at + i] ^= mask[i];
    }
    header.extend_from_slice(&body);
    header
}

fn dtls13_keys(secret: [u8; 32]) -> Keys {
    let mut keys = Keys::default();
    let secrets = Secrets {
        server_handshake: Some(secret.to_vec()),
        ..Secrets::default()
    };
    keys.secrets.insert([1; 32], secrets);
    let spec = cipher_spec("TLS_AES_128_GCM_SHA256", "AES_128_GCM", "", true, 0x0304).unwrap();
    let hash = HashAlg::Sha256;
    keys.suites.insert(0x1301, Suite { spec, hash });
    keys
}

fn dtls13_flight() -> Vec<((Addr, u16), Vec<u8>)> {
    let mut cid_ext = vec![0, 54, 0, 11, 10];
    cid_ext.extend_from_slice(CLIENT_CID);
    let server_ext = [0, 43, 0, 2, 0xfe, 0xfc, 0, 54, 0, 4, 3, b's', b'r', b'v'];
    // EncryptedExtensions (empty list), message_seq 1, then its content type.
    let mut inner = fragment(8, 2, 1, 0, &[0, 0]);
    inner.push(22);
    // A Certificate's first fragment, in a record with no length field (to the end).
    let mut second = fragment(11, 40, 2, 0, &[5; 20]);
    second.push(22);
    let mut datagram = protected(0, true, true, &inner);
    datagram.extend(protected(1, false, false, &second));
    vec![
        (client(), hello(1, 1, &cid_ext)),
        (server(), hello(2, 2, &server_ext)),
        (server(), datagram),
    ]
}

#[test]
fn dtls13_records_with_encrypted_record_numbers_open_with_the_dtls13_labels() {
    let events = run(&dtls13_flight(), Some(dtls13_keys(SECRET)));
    let found = findings(&events);
    // Only the Certificate left incomplete at the end.
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0]
        .what
        .contains("message 2 never completed: 20 of 40"));
    let protected: Vec<_> = records(&events)
        .into_iter()
        .filter(|r| r.2.unified)
        .collect();
    assert_eq!(protected.len(), 2);
    for (i, (frame, from_client, info, inner)) in protected.into_iter().enumerate() {
        assert_eq!((frame, from_client, inner), (3, false, Some(22)));
        assert_eq!((info.epoch, info.seq), (2, u64::try_from(i).unwrap()));
        assert_eq!(info.cid, CLIENT_CID);
    }
    assert!(events.contains(&DtlsEvent::Message {
        frame: 3,
        from_client: false,
        epoch: 2,
        message_seq: 1,
        msg_type: 8,
        tls: vec![8, 0, 0, 2, 0, 0],
        fragments: 1,
    }));
    assert!(events.iter().any(|e| matches!(
        e,
        DtlsEvent::Negotiated { server_cid: Some(cid), client_cid: Some(asked), .. }
            if cid == b"srv" && asked == CLIENT_CID
    )));
}

#[test]
fn dtls13_records_stay_encrypted_without_keys_and_a_wrong_key_is_a_finding() {
    let events = run(&dtls13_flight(), None);
    assert_eq!(findings(&events), []);
    let sealed: Vec<_> = records(&events)
        .into_iter()
        .filter(|r| r.2.unified)
        .collect();
    assert_eq!(sealed.len(), 2);
    assert!(sealed.iter().all(|r| r.3.is_none() && r.2.epoch == 2));

    let events = run(&dtls13_flight(), Some(dtls13_keys([8; 32])));
    let found = findings(&events);
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(
        (found[0].frame, found[0].from_client, found[0].offset),
        (3, false, 0)
    );
    // (With the wrong key the record number unmasks to noise too.)
    assert!(found[0].what.starts_with("epoch 2 record "), "{found:?}");
    assert!(found[0]
        .what
        .ends_with("does not open: the AEAD tag does not verify"));
    assert!(found[1].offset > 0);
}

/// RFC 9147 §8: after a KeyUpdate the next epoch's secret is "dtls13traffic upd" of the
/// last; epochs past 3 are derived as their records arrive, the epoch rebuilt from 2 bits.
#[test]
fn dtls13_key_updates_are_followed_into_later_epochs() {
    let app = [4u8; 32];
    let upd = |secret: &[u8]| {
        expand_label_prefixed(HashAlg::Sha256, DTLS13, secret, b"traffic upd", b"", 32).unwrap()
    };
    let epoch4 = upd(&app);
    let epoch5 = upd(&epoch4);
    let data = |text: &[u8]| [text, &[23]].concat();
    let mut flight = dtls13_flight();
    flight.push((
        server(),
        protected_with(&app, 3, (0, true, false), &data(b"three")),
    ));
    flight.push((
        server(),
        protected_with(&epoch4, 0, (0, true, false), &data(b"four")),
    ));
    flight.push((
        server(),
        protected_with(&epoch5, 1, (0, false, false), &data(b"five")),
    ));
    let mut keys = dtls13_keys(SECRET);
    if let Some(secrets) = keys.secrets.get_mut(&[1; 32]) {
        secrets.server_application = Some(app.to_vec());
    }
    let events = run(&flight, Some(keys));
    let opened: Vec<(u64, &[u8])> = events
        .iter()
        .filter_map(|e| match e {
            DtlsEvent::ApplicationData { epoch, data, .. } => Some((*epoch, data.as_slice())),
            _ => None,
        })
        .collect();
    assert_eq!(
        opened,
        [(3, &b"three"[..]), (4, &b"four"[..]), (5, &b"five"[..])]
    );
}

/// Each key update's secret, key, IV and record-number key are kept with the handshake's
/// derivation, named as over TCP, until its bound; so are the handshakes, the first ones.
#[test]
fn dtls13_key_updates_are_kept_in_the_handshakes_derivation_up_to_its_bound() {
    let app = [4u8; 32];
    let mut flight = dtls13_flight();
    let mut secret = app.to_vec();
    for epoch in 3u8..=20 {
        let text = [&[epoch][..], &[23]].concat();
        flight.push((
            server(),
            protected_with(&secret, epoch & 3, (0, true, false), &text),
        ));
        secret = expand_label_prefixed(HashAlg::Sha256, DTLS13, &secret, b"traffic upd", b"", 32)
            .unwrap();
    }
    let mut keys = dtls13_keys(SECRET);
    if let Some(secrets) = keys.secrets.get_mut(&[1; 32]) {
        secrets.server_application = Some(app.to_vec());
    }
    let (events, association) = run_association(&flight, Some(keys));
    let opened = events
        .iter()
        .filter(|e| matches!(e, DtlsEvent::ApplicationData { .. }));
    assert_eq!(opened.count(), 18);
    let [derived] = association.derivations() else {
        panic!("{:?}", association.derivations());
    };
    assert_eq!(derived.values.len(), MAX_DERIVED_VALUES);
    let (name, value) = &derived.values[8];
    assert_eq!(name, "server_application_updated_traffic_secret");
    let epoch4 = expand_label_prefixed(HashAlg::Sha256, DTLS13, &app, b"traffic upd", b"", 32);
    assert_eq!(*value, epoch4.unwrap());
    assert_eq!(derived.values[11].0, "server_application_updated_sn_key");

    // A ServerHello again and again (message_seq 1, 2...): a derivation each, the first
    // MAX_DERIVATIONS kept.
    let server_ext = [0, 43, 0, 2, 0xfe, 0xfc];
    let mut flight = vec![(client(), hello(1, 1, &[]))];
    for seq in 0..u16::try_from(MAX_DERIVATIONS + 3).unwrap() {
        flight.push((server(), hello_numbered(2, 2, &server_ext, seq)));
    }
    let (_, association) = run_association(&flight, Some(dtls13_keys(SECRET)));
    let derivations = association.derivations();
    assert_eq!(derivations.len(), MAX_DERIVATIONS);
    assert!(derivations.iter().all(|d| d.values.len() == 4));
}

/// A DTLS 1.3 handshake past the 2 MiB of transcript kept: a finding names the bound, the
/// message and the frame, and the handshake is told lacking (its Finished are then "not
/// checked", tls/dtls.py), where before it stopped silently.
#[test]
fn a_transcript_past_its_bound_is_a_finding_and_leaves_the_finished_unchecked() {
    use super::transcript13::MAX_TRANSCRIPT;
    let limits = Limits {
        max_message: MAX_TRANSCRIPT,
        max_pending_bytes: MAX_TRANSCRIPT * 2,
        ..Limits::default()
    };
    let mut association = Association::new(limits, None);
    // Two messages of 1.25 MiB from the server (types 11 and 13), each in 40 records of
    // 32,768 bytes, all in one datagram.
    let big = |msg_type: u8, seq: u16| {
        let length = (MAX_TRANSCRIPT / 8 * 5) as u32;
        let piece = 32_768u32;
        (0..length / piece)
            .flat_map(|i| {
                let bytes = vec![msg_type; piece as usize];
                let frag = fragment(msg_type, length, seq, i * piece, &bytes);
                let mut rec = vec![22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0];
                rec.extend_from_slice(&u16::try_from(frag.len()).unwrap().to_be_bytes());
                rec.extend_from_slice(&frag);
                rec
            })
            .collect::<Vec<u8>>()
    };
    let server_ext = [0, 43, 0, 2, 0xfe, 0xfc];
    let datagrams = [
        (client(), hello(1, 1, &[])),
        (server(), hello(2, 2, &server_ext)),
        (server(), big(11, 1)),
        (server(), big(13, 2)),
        (server(), record(22, 3, &fragment(20, 32, 3, 0, &[0; 32]))),
    ];
    let mut events = Vec::new();
    for (frame, (src, payload)) in (1..).zip(&datagrams) {
        let dst = if *src == client() { server() } else { client() };
        association.feed(frame, *src, dst, payload);
        events.extend(std::iter::from_fn(|| association.poll()));
    }
    let found = findings(&events);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!((found[0].frame, found[0].from_client), (4, false));
    assert_eq!(
        found[0].what,
        "handshake message type 13 (CertificateRequest), message_seq 2, takes the handshake \
         past the 2 MiB (2,097,152 bytes) of transcript tlslens keeps: the transcript is \
         given up, and the Finished and CertificateVerify messages after it are not checked"
    );
    let lacking: Vec<_> = (events.iter())
        .filter_map(|e| match e {
            DtlsEvent::Lacking {
                frame,
                message_seq,
                why,
                ..
            } => Some((*frame, *message_seq, why.as_str())),
            _ => None,
        })
        .collect();
    let why = "the handshake is longer than the 2 MiB of transcript tlslens keeps";
    assert_eq!(lacking, [(4, 2, why)]);
    // The Finished is still read, as a message.
    assert!(events.iter().any(|e| matches!(
        e,
        DtlsEvent::Message {
            frame: 5,
            msg_type: 20,
            ..
        }
    )));
}
