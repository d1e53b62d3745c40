//! Real DTLS from real stacks on loopback (tests/data/README.md says how each was made):
//! OpenSSL DTLS 1.2 (AES-128-GCM) and DTLS 1.0 (AES-128-CBC-SHA) with a HelloVerifyRequest
//! and an MTU of 300 that fragments the certificate, GnuTLS DTLS 1.2 with ChaCha20-Poly1305.
//! Each `.tsv` holds the datagrams as tshark 4.0 exported them, with tshark's own
//! `dtls.record.{content_type,epoch,sequence_number}` per datagram: the oracle.

use std::path::Path;
use std::sync::Arc;

use super::{Association, DtlsEvent, Keys, Limits, Secrets, Suite};
use crate::flows::packet::Addr;
use crate::keys::HashAlg;
use crate::protection::cipher_spec;

struct Datagram {
    frame: u64,
    sport: u16,
    dport: u16,
    payload: Vec<u8>,
    /// tshark's (content type, epoch, sequence number) of each record.
    oracle: Vec<(u8, u64, u64)>,
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

fn data(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn datagrams(name: &str) -> Vec<Datagram> {
    // A datagram of DTLS 1.3 unified headers only has empty oracle columns.
    let list = |s: &str| -> Vec<u64> {
        s.split(',')
            .filter(|v| !v.is_empty())
            .map(|v| v.parse().unwrap())
            .collect()
    };
    data(&format!("{name}.tsv"))
        .lines()
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            let types = list(f[4]);
            let (epochs, seqs) = (list(f[5]), list(f[6]));
            let oracle = (0..types.len())
                .map(|i| (u8::try_from(types[i]).unwrap(), epochs[i], seqs[i]))
                .collect();
            Datagram {
                frame: f[0].parse().unwrap(),
                sport: f[1].parse().unwrap(),
                dport: f[2].parse().unwrap(),
                payload: unhex(f[3]),
                oracle,
            }
        })
        .collect()
}

/// The key log's lines (CLIENT_RANDOM; DTLS 1.3's traffic secrets), and the suites these
/// captures negotiated.
pub(super) fn keys(name: &str, version: u16) -> Keys {
    let mut keys = Keys::default();
    for line in data(&format!("{name}.keys")).lines() {
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
    }
    let tls13 = version == 0x0304;
    let suites = [
        (0xc02f, "AES_128_GCM", "", HashAlg::Sha256),
        (0xc013, "AES_128_CBC", "SHA", HashAlg::Sha256),
        (0xcca8, "CHACHA20_POLY1305", "", HashAlg::Sha256),
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

/// Feed the capture; check every record tshark 4.0 dissects (all but DTLS 1.3's unified
/// headers) against tshark's; return the other events (the unified records' among them).
pub(super) fn read(name: &str, keys: Option<Keys>) -> Vec<DtlsEvent> {
    let mut association = Association::new(Limits::default(), keys.map(Arc::new));
    let mut events = Vec::new();
    let host = Addr::v4([127, 0, 0, 1]);
    for d in datagrams(name) {
        association.feed(d.frame, (host, d.sport), (host, d.dport), &d.payload);
        let mut records = Vec::new();
        while let Some(event) = association.poll() {
            match event {
                DtlsEvent::Record { record, .. } if !record.unified => {
                    records.push((record.content_type.unwrap(), record.epoch, record.seq))
                }
                other => events.push(other),
            }
        }
        assert_eq!(records, d.oracle, "{name} frame {}", d.frame);
    }
    association.finish(0);
    events.extend(std::iter::from_fn(|| association.poll()));
    events
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

#[test]
fn openssl_dtls12_records_match_tshark_and_decrypt() {
    let events = read("openssl-dtls12", Some(keys("openssl-dtls12", 0x0303)));
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
    let suites_at = 4 + 2 + 32 + 1 + usize::from(tls[38]);
    assert_eq!(tls[suites_at..suites_at + 2], [0, 2 * 2]);
    let dtls: Vec<usize> = all_messages(&events, 1);
    assert_eq!(dtls, [tls.len() + 1, tls.len() + 1 + hellos[1].1]);
    let all = messages(&events);
    // The certificate came in 5 fragments over frames 4-7 (tshark: offsets 0, 161, 408,
    // 655): one whole message when the last arrived; each whole message in TLS form.
    let certificate: Vec<_> = all.iter().filter(|m| m.3 == 11).collect();
    assert_eq!(certificate.len(), 1);
    assert_eq!(certificate[0].0, 7);
    assert_eq!(certificate[0].4, 4 + 655 + 132);
    // Both Finished messages, decrypted from epoch 1.
    let finished: Vec<_> = all.iter().filter(|m| m.3 == 20).map(|m| m.1).collect();
    assert_eq!(finished, [true, false]);
    assert_eq!(
        application_data(&events),
        [
            (true, &b"client says hi\n"[..]),
            (false, &b"server hello over dtls\n"[..])
        ]
    );
    assert!(events.contains(&DtlsEvent::Alert {
        frame: 13,
        from_client: true,
        level: 1,
        description: 0
    }));
}

#[test]
fn openssl_dtls10_cbc_records_decrypt() {
    let events = read("openssl-dtls10", Some(keys("openssl-dtls10", 0x0302)));
    assert_eq!(findings(&events), Vec::<&DtlsEvent>::new());
    assert_eq!(
        application_data(&events),
        [
            (true, &b"client says hi\n"[..]),
            (false, &b"server hello over dtls\n"[..])
        ]
    );
}

/// tshark 4.0 opens none of these records (ChaCha20-Poly1305 in DTLS 1.2, see the
/// corpus MANIFEST); the echo server's answer is the client's line, a known plaintext.
#[test]
fn gnutls_dtls12_chacha20_records_decrypt() {
    let events = read("gnutls-dtls12", Some(keys("gnutls-dtls12", 0x0303)));
    assert_eq!(findings(&events), Vec::<&DtlsEvent>::new());
    assert_eq!(
        application_data(&events),
        [
            (true, &b"echo me please\n"[..]),
            (false, &b"echo me please\n"[..])
        ]
    );
}

#[test]
fn without_keys_records_are_counted_and_the_handshake_still_read() {
    let events = read("gnutls-dtls12", None);
    assert_eq!(findings(&events), Vec::<&DtlsEvent>::new());
    assert!(application_data(&events).is_empty());
    // Certificate (3 fragments, frames 5-7) and ServerKeyExchange (2, frames 8-9).
    let whole: Vec<(u64, u8)> = messages(&events).iter().map(|m| (m.0, m.3)).collect();
    assert!(whole.contains(&(7, 11)) && whole.contains(&(9, 12)));
    assert!(events.iter().any(|e| matches!(
        e,
        DtlsEvent::Negotiated {
            version: 0xfefd,
            suite: 0xcca8,
            ..
        }
    )));
}
