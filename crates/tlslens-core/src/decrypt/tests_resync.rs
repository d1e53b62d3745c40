//! Records lost in a gap of the capture (resync.rs): TLS 1.3 and TLS 1.2 (AES-GCM,
//! AES-CBC with HMAC) records sealed here, some of them left out as a gap would, the
//! decryptor told of the hole as the content layer tells it.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::Aes128Gcm;
use cbc::cipher::{BlockEncryptMut, KeyIvInit};

use super::tests::{
    client_hello, line, seal, server_hello, tls13_server_flight, Run, CR, SHTS, STS0,
};
use super::{Dir, Hole, Lack, Opened, Part, Status, MAX_HOLE_TRIES};
use crate::keys::{prf, HashAlg};

const MASTER: [u8; 48] = [0x4D; 48];
/// TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 and TLS_RSA_WITH_AES_128_CBC_SHA.
const GCM: u16 = 0xC02F;
const CBC: u16 = 0x002F;

/// A hole told at frame 9, `length` bytes at `offset`, that took `span` bytes of records.
fn hole(offset: u64, length: u64, span: u64) -> Hole {
    Hole {
        frame: 9,
        offset,
        length,
        span,
    }
}

/// Bytes on the wire of records with these bodies.
fn wire(bodies: &[&Vec<u8>]) -> u64 {
    bodies.iter().map(|b| 5 + b.len() as u64).sum()
}

/// A TLS 1.3 connection whose server flight (sealed at 0 with its handshake secret) was read:
/// the server's application keys are in force.
fn tls13() -> Run {
    let text = [
        line("SERVER_HANDSHAKE_TRAFFIC_SECRET", &SHTS),
        line("SERVER_TRAFFIC_SECRET_0", &STS0),
    ]
    .concat();
    let mut run = Run::new(&text);
    let [ee, fin] = tls13_server_flight(&mut run);
    let flight = [ee.clone(), fin.clone()].concat();
    assert!(matches!(
        run.open(Dir::S2C, &seal(&SHTS, 0, 22, &flight)),
        Opened::Plain(..)
    ));
    run.message(Dir::S2C, &ee);
    run.message(Dir::S2C, &fin);
    run
}

#[test]
fn tls13_records_after_a_hole_open_at_the_numbers_it_took() {
    let mut run = tls13();
    let records: Vec<Vec<u8>> = (0..5)
        .map(|seq| seal(&STS0, seq, 23, format!("record {seq}").as_bytes()))
        .collect();
    assert!(matches!(run.open(Dir::S2C, &records[0]), Opened::Plain(..)));
    // Records 1 and 2 were in a segment the capture lost.
    let span = wire(&[&records[1], &records[2]]);
    run.dec.records_lost(Dir::S2C, hole(1000, span, span));
    assert_eq!(
        run.open(Dir::S2C, &records[3]),
        Opened::Plain(23, b"record 3".to_vec())
    );
    let said = "2 records lost in the gap at frame 9 (bytes 1,000 to 1,059 of the server's \
                stream); decryption resumed at sequence number 3";
    assert_eq!(run.dec.resumed(Dir::S2C).as_deref(), Some(said));
    assert_eq!(run.dec.resumed(Dir::S2C), None); // told once
    assert_eq!(
        run.open(Dir::S2C, &records[4]),
        Opened::Plain(23, b"record 4".to_vec())
    );
    assert_eq!(run.dec.status, Status::Decrypted);
    assert_eq!(run.dec.results[1].records_failed_integrity, 0);
    assert_eq!(run.dec.results[1].records_decrypted, 4);
    assert_eq!(
        run.dec.reason_text(&run.keylog, &[], None).as_deref(),
        Some(said)
    );
}

#[test]
fn tls13_a_finished_lost_in_the_hole_resumes_with_the_application_keys() {
    let mut run = Run::new(
        &[
            line("SERVER_HANDSHAKE_TRAFFIC_SECRET", &SHTS),
            line("SERVER_TRAFFIC_SECRET_0", &STS0),
        ]
        .concat(),
    );
    run.message(Dir::C2S, &client_hello(0x1301));
    run.message(Dir::S2C, &server_hello(0x1301, true));
    // The whole encrypted flight (EncryptedExtensions to Finished) was lost.
    let flight = seal(&SHTS, 0, 22, &[0x55; 300]);
    let span = wire(&[&flight]);
    run.dec
        .transcript_lacks(Dir::S2C, Lack::Gap { given_up: None });
    run.dec.records_lost(Dir::S2C, hole(90, span, span));
    let data = seal(&STS0, 0, 23, b"after the flight");
    assert_eq!(
        run.open(Dir::S2C, &data),
        Opened::Plain(23, b"after the flight".to_vec())
    );
    assert_eq!(
        run.dec.resumed(Dir::S2C).as_deref(),
        Some(
            "the server's Finished was lost in the gap at frame 9 (bytes 90 to 411 of its \
             stream); decryption resumed with its application traffic keys at \
             sequence number 0"
        )
    );
    assert_eq!(run.dec.status, Status::Decrypted);
    assert!(run.dec.opened(Part::ApplicationData, Dir::S2C));
    assert_eq!(
        run.open(Dir::S2C, &seal(&STS0, 1, 23, b"next")),
        Opened::Plain(23, b"next".to_vec())
    );
}

/// A TLS 1.2 connection of `suite` whose server keys are in force, and those keys:
/// (mac key, key, salt or nothing).
fn tls12(suite: u16) -> (Run, [Vec<u8>; 3]) {
    let mut run = Run::new(&line("CLIENT_RANDOM", &MASTER));
    run.message(Dir::C2S, &client_hello(suite));
    run.message(Dir::S2C, &server_hello(suite, false));
    run.change_cipher_spec(Dir::S2C);
    let lens = if suite == GCM {
        (0, 16, 4)
    } else {
        (20, 16, 16)
    };
    let block = prf::key_block(prf::TLS12, HashAlg::Sha256, &MASTER, &CR, &[0x5E; 32], lens);
    let keys = [
        block.server_write_mac_key,
        block.server_write_key,
        block.server_write_iv,
    ];
    (run, keys)
}

fn additional(seq: u64, len: usize) -> Vec<u8> {
    let len = u16::try_from(len).unwrap().to_be_bytes();
    [&seq.to_be_bytes()[..], &[23, 3, 3], &len].concat()
}

/// An AES-128-GCM application data record (RFC 5288), its explicit nonce not its number.
fn gcm(keys: &[Vec<u8>; 3], seq: u64, data: &[u8]) -> Vec<u8> {
    let explicit = (seq ^ 0xA5A5).to_be_bytes();
    let nonce = [&keys[2][..], &explicit].concat();
    let aead = Aes128Gcm::new_from_slice(&keys[1]).unwrap();
    let aad = additional(seq, data.len());
    let sealed = aead
        .encrypt(
            nonce.as_slice().into(),
            Payload {
                msg: data,
                aad: &aad,
            },
        )
        .unwrap();
    [&explicit[..], &sealed].concat()
}

/// An AES-128-CBC + HMAC-SHA1 application data record, MAC then encrypt (RFC 5246).
fn cbc(keys: &[Vec<u8>; 3], seq: u64, data: &[u8]) -> Vec<u8> {
    let mac = HashAlg::Sha1.hmac(&keys[0], &[&additional(seq, data.len()), data]);
    let mut plain = [data, &mac].concat();
    let pad = 15 - plain.len() % 16;
    plain.extend(vec![u8::try_from(pad).unwrap(); pad + 1]);
    let iv = [u8::try_from(seq).unwrap(); 16];
    let len = plain.len();
    let enc = cbc::Encryptor::<aes::Aes128>::new_from_slices(&keys[1], &iv).unwrap();
    let sealed = enc
        .encrypt_padded_mut::<cbc::cipher::block_padding::NoPadding>(&mut plain, len)
        .unwrap()
        .to_vec();
    [&iv[..], &sealed].concat()
}

#[test]
fn tls12_aead_and_cbc_records_after_a_hole_resume_where_it_ends() {
    type Seal = fn(&[Vec<u8>; 3], u64, &[u8]) -> Vec<u8>;
    for (suite, seal) in [(GCM, gcm as Seal), (CBC, cbc as Seal)] {
        let (mut run, keys) = tls12(suite);
        let records: Vec<Vec<u8>> = (0..4).map(|seq| seal(&keys, seq, &[7; 40])).collect();
        assert!(matches!(run.open(Dir::S2C, &records[0]), Opened::Plain(..)));
        let span = wire(&[&records[1]]);
        run.dec.records_lost(Dir::S2C, hole(100, span, span));
        assert_eq!(
            run.open(Dir::S2C, &records[2]),
            Opened::Plain(23, vec![7; 40])
        );
        let resumed = run.dec.resumed(Dir::S2C).unwrap();
        assert!(
            resumed.starts_with("1 record lost in the gap at frame 9 (bytes 100 to "),
            "{resumed}"
        );
        assert!(resumed.ends_with("decryption resumed at sequence number 2"));
        assert_eq!(
            run.open(Dir::S2C, &records[3]),
            Opened::Plain(23, vec![7; 40])
        );
        assert_eq!(run.dec.results[1].records_failed_integrity, 0);
    }
}

#[test]
fn records_no_number_opens_after_a_hole_are_no_verdict_on_the_secret() {
    let (mut run, keys) = tls12(GCM);
    // Before any record opened: the hole's one record's worth, and a record numbered 9.
    let span = wire(&[&gcm(&keys, 0, &[1; 40])]);
    run.dec.records_lost(Dir::S2C, hole(0, span, span));
    let Opened::Failed(why) = run.open(Dir::S2C, &gcm(&keys, 9, &[1; 40])) else {
        panic!("opened");
    };
    assert_eq!(
        why,
        "the server's records after the gap at frame 9 (bytes 0 to 68 of its stream) could \
         not be opened: the gap hid how many records were lost, and no sequence number \
         from 0 to 2 opens the record after it; no verdict on the secret"
    );
    assert_eq!(run.dec.status, Status::Decrypted); // not "wrong secret"
    assert_eq!(run.dec.results[1].records_failed_integrity, 0);
    assert_eq!(run.dec.reason_text(&run.keylog, &[], None), Some(why));

    // After records opened: the secret is good.
    let (mut run, keys) = tls12(GCM);
    assert!(matches!(
        run.open(Dir::S2C, &gcm(&keys, 0, &[1; 40])),
        Opened::Plain(..)
    ));
    run.dec.records_lost(Dir::S2C, hole(74, span, span));
    let Opened::Failed(why) = run.open(Dir::S2C, &gcm(&keys, 9, &[1; 40])) else {
        panic!("opened");
    };
    assert!(
        why.ends_with(
            "no sequence number from 1 to 3 opens the record after it; the secret is good: \
             its keys opened records of this connection before the gap"
        ),
        "{why}"
    );
    assert_eq!(run.dec.status, Status::Decrypted);
}

#[test]
fn the_numbers_tried_after_a_hole_are_bounded() {
    let (mut run, keys) = tls12(GCM);
    assert!(matches!(
        run.open(Dir::S2C, &gcm(&keys, 0, &[1; 40])),
        Opened::Plain(..)
    ));
    // A megabyte hole held 57 records at least and 36,157 at most: 64 numbers are tried,
    // from 57 records lost.
    run.dec.records_lost(Dir::S2C, hole(74, 1 << 20, 1 << 20));
    let far = 1 + 57 + MAX_HOLE_TRIES;
    let Opened::Failed(why) = run.open(Dir::S2C, &gcm(&keys, far, &[1; 40])) else {
        panic!("opened");
    };
    assert!(
        why.contains(
            "neither sequence number 1 nor any from 58 to 120 opens the record after it \
             (tlslens tries 64 numbers a gap, 4,096 a side)"
        ),
        "{why}"
    );
    // The side is lost from there: the next record is not tried, even at its right number.
    let Opened::Failed(again) = run.open(Dir::S2C, &gcm(&keys, 2, &[1; 40])) else {
        panic!("tried again");
    };
    assert_eq!(again, why);
    assert_eq!(run.dec.results[1].records_failed_integrity, 0);
}
