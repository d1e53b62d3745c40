//! What an association derived from the key log, per handshake, as `show` tells it: the
//! recorded captures of tests/vectors/captures/udp. DTLS 1.0/1.2's key blocks are checked
//! against tshark 4.0's (`tshark -o tls.keylog_file:K -o tls.debug_file:D` writes each
//! handshake's "Client Write key[16]:"... to D); DTLS 1.3's values, which tshark 4.0 does
//! not derive, against HKDF-Expand-Label computed here with the hkdf crate from RFC 8446
//! §7.1's HkdfLabel and RFC 9147 §5.9's "dtls13" prefix.

use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::tests_captures::{keys, read_association, unhex};
use super::DtlsEvent;
use crate::decrypt::Derivation;

/// The derivations of association `index` of `capture`, read with its key log.
fn derivations(capture: &str, log: &str, index: usize, version: u16) -> Vec<Derivation> {
    let (_, association) = read_association(capture, index, Some(keys(log, version)));
    association.derivations().to_vec()
}

fn names(derivation: &Derivation) -> Vec<&str> {
    derivation.values.iter().map(|(n, _)| n.as_str()).collect()
}

fn value<'a>(derivation: &'a Derivation, name: &str) -> &'a [u8] {
    let found = derivation.values.iter().find(|(n, _)| n == name);
    found.map_or(&[], |(_, v)| v.as_slice())
}

/// The key log line's secret for `label` and the client random `random` (hex).
fn logged(log: &str, label: &str, random: &str) -> Vec<u8> {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/vectors/captures/udp")
            .join(log),
    )
    .unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{label} {random}")));
    unhex(line.unwrap().rsplit(' ').next().unwrap())
}

const DTLS12_AEAD: [&str; 5] = [
    "master_secret",
    "client_write_key",
    "server_write_key",
    "client_write_iv",
    "server_write_iv",
];

#[test]
fn a_dtls12_handshake_keeps_its_master_secret_and_key_block_as_tshark_derives_it() {
    let derived = derivations("dtls.pcapng", "dtls.keys", 0, 0x0303);
    assert_eq!(derived.len(), 1);
    let d = &derived[0];
    assert_eq!(d.source.as_deref(), Some("keylog"));
    assert_eq!(names(d), DTLS12_AEAD);
    assert_eq!(value(d, "master_secret").len(), 48);
    // tshark's debug file for the first connection (AES-128-GCM).
    assert_eq!(
        value(d, "client_write_key"),
        unhex("47f145892cceac088c760d82153b1663")
    );
    assert_eq!(
        value(d, "server_write_key"),
        unhex("53430d28ddfc3fe7867d7663fcead3d8")
    );
    assert_eq!(value(d, "client_write_iv"), unhex("1b84970a"));
    assert_eq!(value(d, "server_write_iv"), unhex("53a08ad3"));
}

#[test]
fn a_dtls10_cbc_handshake_keeps_its_mac_keys_first_as_the_key_block_is_cut() {
    // The third connection: DTLS 1.0, AES-256-CBC-SHA with encrypt-then-MAC.
    let derived = derivations("dtls.pcapng", "dtls.keys", 2, 0x0302);
    let d = &derived[0];
    assert_eq!(
        &names(d)[..3],
        [
            "master_secret",
            "client_write_mac_key",
            "server_write_mac_key"
        ]
    );
    assert_eq!(
        value(d, "client_write_mac_key"),
        unhex("48bd72b87de056140e7f0104f5d90be0221e4cf3")
    );
    assert_eq!(
        value(d, "server_write_mac_key"),
        unhex("6239f683df526157d03bbdabeb0ccd2222287a18")
    );
    assert_eq!(
        value(d, "client_write_key"),
        unhex("0b3a9e82e1cae0555b4a31314164f6cf3b9d9fa6dc1de803975c939e638cf1c3")
    );
    assert_eq!(
        value(d, "server_write_key"),
        unhex("022cce7afaf82c713fd648836a43901cb4de9977f7a2fea5e858b3e9c80e57d5")
    );
}

/// TLS 1.2's PRF with SHA-256 (RFC 5246 §5), written out with the hmac crate.
fn p_sha256(secret: &[u8], label: &[u8], seed: &[u8], length: usize) -> Vec<u8> {
    let hmac = |parts: &[&[u8]]| {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).unwrap();
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().to_vec()
    };
    let mut a = hmac(&[label, seed]);
    let mut out = Vec::new();
    while out.len() < length {
        out.extend(hmac(&[&a, label, seed]));
        a = hmac(&[&a]);
    }
    out.truncate(length);
    out
}

#[test]
fn a_renegotiation_keeps_a_derivation_of_its_own() {
    let (events, association) = read_association(
        "dtls-reneg.pcapng",
        0,
        Some(keys("dtls-reneg.keys", 0x0303)),
    );
    let derived = association.derivations();
    assert_eq!(derived.len(), 2);
    for d in derived {
        assert_eq!(names(d), DTLS12_AEAD);
    }
    // tshark's, for the first handshake.
    assert_eq!(
        value(&derived[0], "client_write_key"),
        unhex("5b59c61172a16a9a114b9c606223ecd7")
    );
    // The renegotiation's from its own hellos (tshark 4.0 keeps the first ServerHello's
    // random for it, and its epoch 2 records then fail their tag there).
    let client_random = (events.iter().rev())
        .find_map(|e| match e {
            DtlsEvent::ClientHello { random, .. } => Some(*random),
            _ => None,
        })
        .unwrap();
    let server_random = (events.iter().rev())
        .find_map(|e| match e {
            DtlsEvent::Message {
                msg_type: 2, tls, ..
            } => Some(tls[6..38].to_vec()),
            _ => None,
        })
        .unwrap();
    let master = logged("dtls-reneg.keys", "CLIENT_RANDOM", &hex(&client_random));
    assert_eq!(value(&derived[1], "master_secret"), master);
    let seed = [server_random.as_slice(), &client_random].concat();
    let block = p_sha256(&master, b"key expansion", &seed, 40);
    let cut: Vec<&[u8]> = vec![
        &master,
        &block[..16],
        &block[16..32],
        &block[32..36],
        &block[36..],
    ];
    let values: Vec<&[u8]> = derived[1]
        .values
        .iter()
        .map(|(_, v)| v.as_slice())
        .collect();
    assert_eq!(values, cut);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// HKDF-Expand-Label(secret, "dtls13" + label, "", length) with SHA-256.
fn expand_label(secret: &[u8], label: &str, length: u16) -> Vec<u8> {
    let full = format!("dtls13{label}");
    let mut info = length.to_be_bytes().to_vec();
    info.push(u8::try_from(full.len()).unwrap());
    info.extend(full.as_bytes());
    info.push(0);
    let mut out = vec![0; usize::from(length)];
    Hkdf::<Sha256>::from_prk(secret)
        .unwrap()
        .expand(&info, &mut out)
        .unwrap();
    out
}

#[test]
fn a_dtls13_handshake_keeps_each_epochs_secrets_keys_ivs_and_record_number_keys() {
    // After a HelloRetryRequest, which opens no epoch: one handshake.
    let derived = derivations("dtls13.pcapng", "dtls13.keys", 0, 0x0304);
    assert_eq!(derived.len(), 1);
    let d = &derived[0];
    let mut expected = Vec::new();
    for phase in [
        "client_handshake",
        "server_handshake",
        "client_application",
        "server_application",
    ] {
        for what in ["traffic_secret", "write_key", "write_iv", "sn_key"] {
            expected.push(format!("{phase}_{what}"));
        }
    }
    assert_eq!(names(d), expected);
    let random = "2262c7a9d1f6c205410c4811108fed5bd68d820d098f27deef322f73fcaf3d13";
    let labels = [
        ("client_handshake", "CLIENT_HANDSHAKE_TRAFFIC_SECRET"),
        ("server_handshake", "SERVER_HANDSHAKE_TRAFFIC_SECRET"),
        ("client_application", "CLIENT_TRAFFIC_SECRET_0"),
        ("server_application", "SERVER_TRAFFIC_SECRET_0"),
    ];
    for (phase, label) in labels {
        let secret = logged("dtls13.keys", label, random);
        assert_eq!(value(d, &format!("{phase}_traffic_secret")), secret);
        assert_eq!(
            value(d, &format!("{phase}_write_key")),
            expand_label(&secret, "key", 16)
        );
        assert_eq!(
            value(d, &format!("{phase}_write_iv")),
            expand_label(&secret, "iv", 12)
        );
        assert_eq!(
            value(d, &format!("{phase}_sn_key")),
            expand_label(&secret, "sn", 16)
        );
    }
}

#[test]
fn without_the_connections_secrets_a_handshake_derives_nothing() {
    // The key log of another capture: a derivation per handshake, empty.
    let derived = derivations("dtls.pcapng", "dtls-reneg.keys", 0, 0x0303);
    assert_eq!(derived, vec![Derivation::default()]);
    let (_, association) = read_association("dtls.pcapng", 0, None);
    assert!(association.derivations().is_empty());
}
