//! RFC 9146 connection-ID records (content type tls12_cid) opened with a key log: the
//! additional data RFC 9146 §5.3 defines and the DTLSInnerPlaintext (content, real type,
//! zero padding). No stack that installs here sends them (Debian's mbed TLS 2.28 is built
//! without MBEDTLS_SSL_DTLS_CONNECTION_ID; OpenSSL 3.0 and GnuTLS 3.7 have no DTLS CID), so
//! the records are sealed here with RustCrypto's AES-128-GCM, to the RFC's layout. Hellos
//! that negotiate the draft's extension (53, or mbed TLS 2.x's 254) are told apart: the
//! draft's additional data differs, and its records are said to stay encrypted.

use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Aes128Gcm, KeyInit};

use super::tests::{client, findings, fragment, record, run, server};
use super::{DtlsEvent, Keys, Secrets, Suite};
use crate::flows::packet::Addr;
use crate::keys::prf::{key_block, TLS12};
use crate::keys::HashAlg;
use crate::protection::cipher_spec;

const MASTER: [u8; 48] = [7; 48];
const CLIENT_RANDOM: [u8; 32] = [1; 32];
const SERVER_RANDOM: [u8; 32] = [2; 32];
/// The IDs each side asks the other's records to carry (RFC 9146 §3).
const CLIENT_CID: &[u8] = b"cli";
const SERVER_CID: &[u8] = b"server-id";
const SUITE: u16 = 0xc02f; // TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
const TLS12_CID: u8 = 25;

fn keys() -> Keys {
    let mut keys = Keys::default();
    let secrets = Secrets {
        master_secret: Some(MASTER.to_vec()),
        ..Secrets::default()
    };
    keys.secrets.insert(CLIENT_RANDOM, secrets);
    let spec = cipher_spec(
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        "AES_128_GCM",
        "",
        false,
        0x0303,
    )
    .unwrap();
    keys.suites.insert(
        SUITE,
        Suite {
            spec,
            hash: HashAlg::Sha256,
        },
    );
    keys
}

/// A DTLS 1.2 ClientHello or ServerHello (epoch 0) with `connection_id` extension `ext`
/// asking for `cid`.
fn hello(msg_type: u8, random: [u8; 32], ext: u16, cid: &[u8]) -> Vec<u8> {
    let mut body = vec![0xfe, 0xfd];
    body.extend_from_slice(&random);
    body.push(0); // session_id
    if msg_type == 1 {
        body.extend_from_slice(&[0, 0, 2]); // empty cookie, 2 bytes of suites
        body.extend_from_slice(&SUITE.to_be_bytes());
        body.extend_from_slice(&[1, 0]); // null compression
    } else {
        body.extend_from_slice(&SUITE.to_be_bytes());
        body.push(0);
    }
    let data_len = u16::try_from(cid.len() + 1).unwrap();
    body.extend_from_slice(&(data_len + 4).to_be_bytes());
    body.extend_from_slice(&ext.to_be_bytes());
    body.extend_from_slice(&data_len.to_be_bytes());
    body.push(u8::try_from(cid.len()).unwrap());
    body.extend_from_slice(cid);
    let length = u32::try_from(body.len()).unwrap();
    record(22, 0, &fragment(msg_type, length, 0, 0, &body))
}

/// RFC 9146 §5.3's additional data for an epoch 1 record.
fn rfc9146_aad(seq: u64, cid: &[u8], inner_len: usize) -> Vec<u8> {
    let mut aad = vec![0xff; 8]; // seq_num_placeholder
    aad.extend_from_slice(&[TLS12_CID, u8::try_from(cid.len()).unwrap(), TLS12_CID]);
    aad.extend_from_slice(&[0xfe, 0xfd]);
    aad.extend_from_slice(&(1u64 << 48 | seq).to_be_bytes()); // epoch 1, sequence number
    aad.extend_from_slice(cid);
    aad.extend_from_slice(&u16::try_from(inner_len).unwrap().to_be_bytes());
    aad
}

/// draft-ietf-tls-dtls-connection-id-07 §5 (and mbed TLS 2.x): seq_num (epoch and
/// sequence), tls12_cid, version, cid, cid_length, length.
fn draft_aad(seq: u64, cid: &[u8], inner_len: usize) -> Vec<u8> {
    let mut aad = (1u64 << 48 | seq).to_be_bytes().to_vec();
    aad.extend_from_slice(&[TLS12_CID, 0xfe, 0xfd]);
    aad.extend_from_slice(cid);
    aad.push(u8::try_from(cid.len()).unwrap());
    aad.extend_from_slice(&u16::try_from(inner_len).unwrap().to_be_bytes());
    aad
}

/// An epoch 1 tls12_cid record from `from_client` carrying `cid`: `content`, its real type
/// and `padding` zeros sealed with AES-128-GCM under the key block's keys, the additional
/// data made by `aad`.
fn sealed(
    from_client: bool,
    seq: u64,
    cid: &[u8],
    (content, real_type, padding): (&[u8], u8, usize),
    aad: fn(u64, &[u8], usize) -> Vec<u8>,
) -> Vec<u8> {
    let block = key_block(
        TLS12,
        HashAlg::Sha256,
        &MASTER,
        &CLIENT_RANDOM,
        &SERVER_RANDOM,
        (0, 16, 4),
    );
    let (key, salt) = if from_client {
        (block.client_write_key, block.client_write_iv)
    } else {
        (block.server_write_key, block.server_write_iv)
    };
    let mut inner = content.to_vec();
    inner.push(real_type);
    inner.resize(inner.len() + padding, 0);
    let explicit = (0x1000 + seq).to_be_bytes();
    let nonce = [&salt[..], &explicit].concat();
    let additional = aad(seq, cid, inner.len());
    let mut ciphertext = inner;
    Aes128Gcm::new_from_slice(&key)
        .unwrap()
        .encrypt_in_place(nonce.as_slice().into(), &additional, &mut ciphertext)
        .unwrap();
    let mut out = vec![TLS12_CID, 0xfe, 0xfd, 0, 1];
    out.extend_from_slice(&seq.to_be_bytes()[2..]);
    out.extend_from_slice(cid);
    let body_len = u16::try_from(explicit.len() + ciphertext.len()).unwrap();
    out.extend_from_slice(&body_len.to_be_bytes());
    out.extend_from_slice(&explicit);
    out.extend_from_slice(&ciphertext);
    out
}

/// The handshake with `ext`, then a CID record each way sealed with `aad`.
fn exchange(ext: u16, aad: fn(u64, &[u8], usize) -> Vec<u8>) -> Vec<((Addr, u16), Vec<u8>)> {
    vec![
        (client(), hello(1, CLIENT_RANDOM, ext, CLIENT_CID)),
        (server(), hello(2, SERVER_RANDOM, ext, SERVER_CID)),
        // The client's records carry the ID the server asked for, and the other way.
        (
            client(),
            sealed(true, 1, SERVER_CID, (b"hello over a CID", 23, 3), aad),
        ),
        (
            server(),
            sealed(false, 1, CLIENT_CID, (&[1, 0], 21, 0), aad),
        ),
    ]
}

fn opened(events: &[DtlsEvent]) -> Vec<(bool, Vec<u8>, Option<u8>)> {
    events
        .iter()
        .filter_map(|e| match e {
            DtlsEvent::Record {
                from_client,
                record,
                inner_type,
                ..
            } if record.content_type == Some(TLS12_CID) => {
                Some((*from_client, record.cid.clone(), *inner_type))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn rfc9146_cid_records_open_with_their_additional_data_and_inner_plaintext() {
    let events = run(&exchange(54, rfc9146_aad), Some(keys()));
    assert_eq!(findings(&events), []);
    assert_eq!(
        opened(&events),
        [
            (true, SERVER_CID.to_vec(), Some(23)),
            (false, CLIENT_CID.to_vec(), Some(21))
        ]
    );
    assert!(events.contains(&DtlsEvent::ApplicationData {
        frame: 3,
        from_client: true,
        epoch: 1,
        seq: 1,
        data: b"hello over a CID".to_vec(),
    }));
    assert!(events.contains(&DtlsEvent::Alert {
        frame: 4,
        from_client: false,
        level: 1,
        description: 0
    }));
}

#[test]
fn a_record_sealed_with_the_drafts_additional_data_does_not_open_as_rfc9146() {
    let events = run(&exchange(54, draft_aad), Some(keys()));
    let found = findings(&events);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found.iter().all(|f| f
        .what
        .contains("does not open: the AEAD tag does not verify")));
    assert_eq!(
        opened(&events),
        [
            (true, SERVER_CID.to_vec(), None),
            (false, CLIENT_CID.to_vec(), None)
        ]
    );
}

#[test]
fn the_drafts_extension_is_told_and_its_records_stay_encrypted() {
    for ext in [53, 254] {
        let events = run(&exchange(ext, draft_aad), Some(keys()));
        // The records are still read with their connection IDs.
        assert_eq!(
            opened(&events),
            [
                (true, SERVER_CID.to_vec(), None),
                (false, CLIENT_CID.to_vec(), None)
            ]
        );
        let found = findings(&events);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].what.contains("draft-ietf-tls-dtls-connection-id"));
    }
}

#[test]
fn without_the_hellos_a_cid_records_id_is_the_one_that_ends_its_datagram() {
    // A capture started after the hellos: the first record of each direction ends its
    // datagram; the client's next one shares a datagram with a record after it.
    let first = sealed(true, 1, SERVER_CID, (b"late", 23, 0), rfc9146_aad);
    let answer = sealed(false, 1, CLIENT_CID, (&[1, 0], 21, 0), rfc9146_aad);
    let mut two = sealed(true, 2, SERVER_CID, (b"again", 23, 0), rfc9146_aad);
    two.extend_from_slice(&sealed(true, 3, SERVER_CID, (&[1, 0], 21, 0), rfc9146_aad));
    let events = run(
        &[(client(), first), (server(), answer), (client(), two)],
        Some(keys()),
    );
    assert_eq!(findings(&events), []);
    let cids: Vec<_> = opened(&events)
        .into_iter()
        .map(|(c, id, _)| (c, id))
        .collect();
    assert_eq!(
        cids,
        [
            (true, SERVER_CID.to_vec()),
            (false, CLIENT_CID.to_vec()),
            (true, SERVER_CID.to_vec()),
            (true, SERVER_CID.to_vec())
        ]
    );
    // A record that ends its datagram under no ID length is a finding naming its offset.
    let mut cut = sealed(true, 1, SERVER_CID, (b"cut", 23, 0), rfc9146_aad);
    cut.truncate(cut.len() - 1);
    let found = findings(&run(&[(client(), cut)], None));
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].offset, 11);
    assert!(found[0].what.contains("connection ID length is unknown"));
}
