//! Real DTLS from real stacks on loopback: the project's recorded capture
//! (tests/vectors/captures/udp/dtls.pcapng with its key log, described in that folder's
//! README.md and checked against tshark by tests/test_udp_captures.py), read through the
//! capture reader and the packet decoder as `show` reads it. OpenSSL DTLS 1.2 (AES-128-GCM,
//! ChaCha20-Poly1305) and DTLS 1.0 (AES-256-CBC-SHA with encrypt-then-MAC), each with a
//! HelloVerifyRequest and a fragmented certificate flight; GnuTLS DTLS 1.2 with a
//! CertificateRequest; a client refusing the certificate.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{Association, DtlsEvent, Keys, Limits, Secrets, Suite};
use crate::capture::Reader;
use crate::flows::packet::{decode, Addr, Packet};
use crate::keys::HashAlg;
use crate::protection::cipher_spec;

struct Datagram {
    frame: u64,
    src: (Addr, u16),
    dst: (Addr, u16),
    payload: Vec<u8>,
}

pub(super) fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

fn recorded(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/vectors/captures/udp")
        .join(name)
}

/// A capture's UDP datagrams, one list per association (each connection has a server
/// port of its own), in the order their first datagram came.
fn associations(capture: &str) -> Vec<Vec<Datagram>> {
    let mut reader = Reader::default();
    reader.feed(&std::fs::read(recorded(capture)).unwrap());
    reader.finish(None);
    let mut by_ports: BTreeMap<(u16, u16), (u64, Vec<Datagram>)> = BTreeMap::new();
    loop {
        let batch = reader.poll();
        if batch.frames.is_empty() {
            break;
        }
        for frame in &batch.frames {
            let Ok(Packet::Udp(d)) = decode(frame.linktype, batch.bytes(frame)) else {
                continue;
            };
            let ports = (d.sport.min(d.dport), d.sport.max(d.dport));
            let entry = by_ports.entry(ports).or_insert((frame.number, Vec::new()));
            entry.1.push(Datagram {
                frame: frame.number,
                src: (d.src, d.sport),
                dst: (d.dst, d.dport),
                payload: d.payload.to_vec(),
            });
        }
    }
    let mut found: Vec<(u64, Vec<Datagram>)> = by_ports.into_values().collect();
    found.sort_by_key(|(first, _)| *first);
    found.into_iter().map(|(_, datagrams)| datagrams).collect()
}

/// A key log's secrets (CLIENT_RANDOM; DTLS 1.3's traffic secrets), and the suites the
/// captures negotiated, for a connection of record `version` (0x0302 for DTLS 1.0, 0x0303
/// for 1.2, 0x0304 for DTLS 1.3's TLS 1.3 suites).
pub(super) fn keys(log: &str, version: u16) -> Keys {
    let mut keys = Keys::default();
    let log = std::fs::read_to_string(recorded(log)).unwrap();
    for line in log.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        if f.len() != 3 {
            continue; // a comment
        }
        let random: [u8; 32] = unhex(f[1]).try_into().unwrap();
        let entry: &mut Secrets = keys.secrets.entry(random).or_default();
        let slot = match f[0] {
            "CLIENT_RANDOM" => &mut entry.master_secret,
            "CLIENT_HANDSHAKE_TRAFFIC_SECRET" => &mut entry.client_handshake,
            "SERVER_HANDSHAKE_TRAFFIC_SECRET" => &mut entry.server_handshake,
            "CLIENT_TRAFFIC_SECRET_0" => &mut entry.client_application,
            "SERVER_TRAFFIC_SECRET_0" => &mut entry.server_application,
            _ => continue,
        };
        *slot = Some(unhex(f[2]));
        entry.origin = Some("keylog".to_owned());
    }
    let tls13 = version == 0x0304;
    let suites = [
        (0xc02f, "AES_128_GCM", "", HashAlg::Sha256),
        (0xcca8, "CHACHA20_POLY1305", "", HashAlg::Sha256),
        (0xc014, "AES_256_CBC", "SHA", HashAlg::Sha256),
        (0xc02c, "AES_256_GCM", "", HashAlg::Sha384),
        (0xc030, "AES_256_GCM", "", HashAlg::Sha384),
        (0x1301, "AES_128_GCM", "", HashAlg::Sha256),
        (0x1302, "AES_256_GCM", "", HashAlg::Sha384),
        (0x1303, "CHACHA20_POLY1305", "", HashAlg::Sha256),
    ];
    for (id, cipher, mac, hash) in suites {
        if (id >> 8 == 0x13) == tls13 {
            let spec = cipher_spec("test", cipher, mac, tls13, version).unwrap();
            keys.suites.insert(id, Suite { spec, hash });
        }
    }
    keys
}

/// Feed association `index` of `capture`; check that each direction's record sequence
/// numbers rise within an epoch and that the epoch never goes back; return the events.
pub(super) fn read(capture: &str, index: usize, keys: Option<Keys>) -> Vec<DtlsEvent> {
    read_association(capture, index, keys).0
}

/// `read`'s events, and the association at its end.
pub(super) fn read_association(
    capture: &str,
    index: usize,
    keys: Option<Keys>,
) -> (Vec<DtlsEvent>, Association) {
    read_limited(capture, index, keys, Limits::default())
}

/// `read_association` with `limits` of its own.
fn read_limited(
    capture: &str,
    index: usize,
    keys: Option<Keys>,
    limits: Limits,
) -> (Vec<DtlsEvent>, Association) {
    let mut association = Association::new(limits, keys.map(Arc::new));
    let mut events = Vec::new();
    let mut last: [Option<(u64, u64)>; 2] = [None, None];
    let datagrams = associations(capture).swap_remove(index);
    for d in &datagrams {
        association.feed(d.frame, d.src, d.dst, &d.payload);
        while let Some(event) = association.poll() {
            if let DtlsEvent::Record {
                record,
                from_client,
                ..
            } = &event
            {
                let side = &mut last[usize::from(!from_client)];
                let now = (record.epoch, record.seq);
                assert!(side.is_none_or(|before| before < now), "{index}: {now:?}");
                *side = Some(now);
            }
            events.push(event);
        }
    }
    association.finish(0);
    events.extend(std::iter::from_fn(|| association.poll()));
    (events, association)
}

pub(super) fn findings(events: &[DtlsEvent]) -> Vec<&DtlsEvent> {
    events
        .iter()
        .filter(|e| matches!(e, DtlsEvent::Finding(_)))
        .collect()
}

/// (from_client, data) of each decrypted application data record.
pub(super) fn application_data(events: &[DtlsEvent]) -> Vec<(bool, &[u8])> {
    events
        .iter()
        .filter_map(|e| match e {
            DtlsEvent::ApplicationData {
                from_client, data, ..
            } => Some((*from_client, data.as_slice())),
            _ => None,
        })
        .collect()
}

/// (frame, from_client, message_seq, msg_type, TLS-form length) of each whole message.
fn messages(events: &[DtlsEvent]) -> Vec<(u64, bool, u16, u8, usize)> {
    events
        .iter()
        .filter_map(|e| match e {
            DtlsEvent::Message {
                frame,
                from_client,
                message_seq,
                msg_type,
                tls,
                ..
            } => Some((*frame, *from_client, *message_seq, *msg_type, tls.len())),
            _ => None,
        })
        .collect()
}

/// The TLS-form lengths of the whole messages of one type.
fn all_messages(events: &[DtlsEvent], kind: u8) -> Vec<usize> {
    messages(events)
        .iter()
        .filter(|m| m.3 == kind)
        .map(|m| m.4)
        .collect()
}

const CLIENT_LINE: &[u8] = b"hello from the DTLS client\n";
const SERVER_LINE: &[u8] = b"hello from the DTLS server\n";

#[test]
fn openssl_dtls12_gcm_cookie_fragments_and_decryption() {
    let events = read("dtls.pcapng", 0, Some(keys("dtls.keys", 0x0303)));
    assert_eq!(findings(&events), Vec::<&DtlsEvent>::new());
    // The cookie exchange: an empty cookie, the server's, then the ClientHello with it.
    let cookies: Vec<&Vec<u8>> = events
        .iter()
        .filter_map(|e| match e {
            DtlsEvent::ClientHello { cookie, .. }
            | DtlsEvent::HelloVerifyRequest { cookie, .. } => Some(cookie),
            _ => None,
        })
        .collect();
    assert_eq!(cookies.len(), 3);
    assert!(cookies[0].is_empty() && !cookies[1].is_empty());
    assert_eq!(cookies[1], cookies[2]);
    // Without its cookie each ClientHello is a TLS one: both the same (same random, suites,
    // extensions), the 24-bit length matching, the cipher suites right after the session
    // ID; each DTLS form one cookie vector longer.
    let hellos: Vec<(&Vec<u8>, usize)> = events
        .iter()
        .filter_map(|e| match e {
            DtlsEvent::ClientHello { tls, cookie, .. } => Some((tls, cookie.len())),
            _ => None,
        })
        .collect();
    assert_eq!(hellos[0].0, hellos[1].0);
    let tls = hellos[0].0;
    assert_eq!(
        usize::from(tls[2]) << 8 | usize::from(tls[3]),
        tls.len() - 4
    );
    let dtls: Vec<usize> = all_messages(&events, 1);
    assert_eq!(dtls, [tls.len() + 1, tls.len() + 1 + hellos[1].1]);
    let all = messages(&events);
    // tshark: the 1207-byte Certificate in fragments at 0, 361 and 808 (frames 4-6), the
    // 296-byte ServerKeyExchange at 0 and 23 (frames 6-7): each one whole message, in TLS
    // form, when its last fragment arrived.
    let whole: Vec<(u64, u8, usize)> = all.iter().map(|m| (m.0, m.3, m.4)).collect();
    assert!(whole.contains(&(6, 11, 4 + 1207)));
    assert!(whole.contains(&(7, 12, 4 + 296)));
    // Both Finished messages, decrypted from epoch 1.
    let finished: Vec<_> = all.iter().filter(|m| m.3 == 20).map(|m| m.1).collect();
    assert_eq!(finished, [true, false]);
    assert_eq!(
        application_data(&events),
        [(true, CLIENT_LINE), (false, SERVER_LINE)]
    );
    for (frame, from_client) in [(12, true), (13, false)] {
        assert!(events.contains(&DtlsEvent::Alert {
            frame,
            from_client,
            level: 1,
            description: 0
        }));
    }
}

/// Connection 1, ChaCha20-Poly1305, whose records tshark 4.0 opens none of (its nonce
/// leaves out the epoch), and connection 2, DTLS 1.0 AES-256-CBC-SHA with encrypt-then-MAC:
/// the plaintext is the lines the recorder sent.
#[test]
fn openssl_chacha20_and_dtls10_cbc_encrypt_then_mac_records_decrypt() {
    for (index, version, dtls, suite) in [(1, 0x0303, 0xfefd, 0xcca8), (2, 0x0302, 0xfeff, 0xc014)]
    {
        let events = read("dtls.pcapng", index, Some(keys("dtls.keys", version)));
        assert_eq!(findings(&events), Vec::<&DtlsEvent>::new());
        assert_eq!(
            application_data(&events),
            [(true, CLIENT_LINE), (false, SERVER_LINE)]
        );
        assert!(events.iter().any(|e| matches!(
            e,
            DtlsEvent::Negotiated { version, suite: s, .. } if *version == dtls && *s == suite
        )));
    }
}

#[test]
fn gnutls_dtls12_client_certificate_request_and_echo() {
    let events = read("dtls.pcapng", 3, Some(keys("dtls.keys", 0x0303)));
    assert_eq!(findings(&events), Vec::<&DtlsEvent>::new());
    // The server's CertificateRequest (frame 44, in the clear) and the client's empty
    // Certificate (frame 46, tshark: 3 bytes, an empty list).
    let whole: Vec<(u64, bool, u8, usize)> = messages(&events)
        .iter()
        .map(|m| (m.0, m.1, m.3, m.4))
        .collect();
    assert!(whole.contains(&(44, false, 13, 4 + 39)));
    assert!(whole.contains(&(46, true, 11, 4 + 3)));
    assert_eq!(
        application_data(&events),
        [(true, CLIENT_LINE), (false, CLIENT_LINE)]
    );
}

#[test]
fn without_keys_records_are_counted_and_the_handshake_still_read() {
    let events = read("dtls.pcapng", 4, None);
    assert_eq!(findings(&events), Vec::<&DtlsEvent>::new());
    assert!(application_data(&events).is_empty());
    // The Certificate in seven fragments (frames 56-62), the client's fatal unknown_ca
    // (frame 63) before the ServerKeyExchange's last fragment (frame 64).
    let whole: Vec<(u64, u8)> = messages(&events).iter().map(|m| (m.0, m.3)).collect();
    assert!(whole.contains(&(62, 11)) && whole.contains(&(64, 12)));
    assert!(events.contains(&DtlsEvent::Alert {
        frame: 63,
        from_client: true,
        level: 2,
        description: 48
    }));
    assert!(events.iter().any(|e| matches!(
        e,
        DtlsEvent::Negotiated {
            version: 0xfefd,
            suite: 0xc030,
            ..
        }
    )));
}

/// (frame, from the client, the check) of each Finished the transcript told.
pub(super) fn finished_checks(events: &[DtlsEvent]) -> Vec<(u64, bool, Option<bool>)> {
    (events.iter())
        .filter_map(|e| match e {
            DtlsEvent::Transcript {
                frame,
                from_client,
                msg_type: 20,
                finished,
                ..
            } => Some((*frame, *from_client, *finished)),
            _ => None,
        })
        .collect()
}

/// DTLS 1.0/1.2's Finished are checked in the association, over the messages in their DTLS
/// form from the ClientHello that answers the cookie (RFC 6347 §4.2.6), with the key log's
/// master secret: both of each OpenSSL and GnuTLS handshake verify (1.2 AES-GCM, ChaCha20,
/// 1.0 CBC with its TLS 1.1 PRF, GnuTLS' client authentication), none without the key
/// log's secret or with another one.
#[test]
fn dtls12_finished_are_checked_with_the_master_secret() {
    for (index, version) in [(0, 0x0303), (1, 0x0303), (2, 0x0302), (3, 0x0303)] {
        let events = read("dtls.pcapng", index, Some(keys("dtls.keys", version)));
        let checks = finished_checks(&events);
        assert_eq!(checks.len(), 2, "{index}");
        assert!(
            checks.iter().all(|(_, _, ok)| *ok == Some(true)),
            "{index}: {checks:?}"
        );
        assert_eq!(
            checks.iter().map(|c| c.1).collect::<Vec<_>>(),
            [true, false]
        );
        let mut wrong = keys("dtls.keys", version);
        for secrets in wrong.secrets.values_mut() {
            if let Some(master) = secrets.master_secret.as_mut() {
                master[0] ^= 1;
            }
        }
        let events = read("dtls.pcapng", index, Some(wrong));
        // The records do not open either: the Finished, encrypted, are not read.
        assert!(
            finished_checks(&events).iter().all(|c| c.2 != Some(true)),
            "{index}"
        );
    }
    let events = read("dtls.pcapng", 0, None);
    assert!(finished_checks(&events).is_empty()); // sealed without keys
}

#[test]
fn a_client_hello_skipped_past_the_limit_still_finds_the_secrets() {
    // Both ClientHellos of the first association (149 and 169 bytes) past a limit of 120:
    // the random their first fragment holds looks the secrets up, as over TCP.
    let limits = Limits {
        max_message: 120,
        ..Limits::default()
    };
    let (events, _) = read_limited("dtls.pcapng", 0, Some(keys("dtls.keys", 0x0303)), limits);
    let told: Vec<[u8; 32]> = (events.iter())
        .filter_map(|e| match e {
            DtlsEvent::HelloRandom { random, .. } => Some(*random),
            _ => None,
        })
        .collect();
    let whole = read("dtls.pcapng", 0, Some(keys("dtls.keys", 0x0303)));
    let random = (whole.iter())
        .find_map(|e| match e {
            DtlsEvent::ClientHello { random, .. } => Some(*random),
            _ => None,
        })
        .unwrap();
    assert_eq!(told, [random]); // once, though the cookie exchange sent it twice
    assert!(!application_data(&events).is_empty());
    assert_eq!(application_data(&events), application_data(&whole));
}
