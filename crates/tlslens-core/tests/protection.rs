//! Record protection on records built here with RustCrypto's encrypting halves: CBC +
//! HMAC in both orders (RFC 5246 MAC-then-encrypt, RFC 7366 encrypt-then-MAC), TLS 1.0's
//! chained IVs, SSL 3.0's MAC, RC4 and NULL; a flipped bit fails the check, never panics.

use aes::Aes128;
use cbc::cipher::{BlockEncryptMut, KeyInit, KeyIvInit, StreamCipher};
use tlslens_core::keys::HashAlg;
use tlslens_core::protection::{cipher_spec, RecordProtection};

const KEY: [u8; 16] = [7; 16];
const MAC_KEY: [u8; 20] = [9; 20];

fn header(seq: u64, ctype: u8, version: u16, len: usize) -> Vec<u8> {
    let mut out = seq.to_be_bytes().to_vec();
    out.push(ctype);
    out.extend_from_slice(&version.to_be_bytes());
    out.extend_from_slice(&u16::try_from(len).expect("short").to_be_bytes());
    out
}

fn cbc_encrypt(iv: &[u8], plain: &[u8]) -> Vec<u8> {
    let pad = 15 - plain.len() % 16;
    let mut data = plain.to_vec();
    data.extend(vec![u8::try_from(pad).expect("pad"); pad + 1]);
    let enc = cbc::Encryptor::<Aes128>::new_from_slices(&KEY, iv).expect("key");
    let len = data.len();
    enc.encrypt_padded_mut::<cbc::cipher::block_padding::NoPadding>(&mut data, len)
        .expect("blocks")
        .to_vec()
}

/// A TLS 1.2 AES-CBC-SHA record, MAC-then-encrypt or encrypt-then-MAC.
fn tls12_record(seq: u64, data: &[u8], etm: bool) -> Vec<u8> {
    cbc_sha_record(seq, data, etm, &|len| header(seq, 23, 0x0303, len))
}

/// An AES-CBC-SHA record whose MAC covers `mac_header(length)`, then the MAC'ed bytes.
fn cbc_sha_record(
    seq: u64,
    data: &[u8],
    etm: bool,
    mac_header: &dyn Fn(usize) -> Vec<u8>,
) -> Vec<u8> {
    let iv = [seq as u8; 16];
    if etm {
        let mut body = iv.to_vec();
        body.extend(cbc_encrypt(&iv, data));
        let mac = HashAlg::Sha1.hmac(&MAC_KEY, &[&mac_header(body.len()), &body]);
        body.extend(mac);
        return body;
    }
    let mac = HashAlg::Sha1.hmac(&MAC_KEY, &[&mac_header(data.len()), data]);
    let mut body = iv.to_vec();
    body.extend(cbc_encrypt(&iv, &[data, &mac].concat()));
    body
}

fn protection(cipher: &str, mac: &str, version: u16, iv: &[u8], etm: bool) -> RecordProtection {
    let spec = cipher_spec("test", cipher, mac, false, version).expect("spec");
    let key: &[u8] = if spec.key_len == 0 { b"" } else { &KEY };
    RecordProtection::new(spec, version, key, iv, &MAC_KEY, (etm, false), None).expect("keys")
}

#[test]
fn cbc_hmac_both_orders() {
    for etm in [false, true] {
        let mut p = protection("AES_128_CBC", "SHA", 0x0303, b"", etm);
        for (seq, data) in [b"GET / HTTP/1.1\r\n".as_slice(), b"", &[0xAB; 100]]
            .iter()
            .enumerate()
        {
            let record = tls12_record(seq as u64, data, etm);
            assert_eq!(
                p.open(23, 0x0303, &record).expect("opens"),
                (23, data.to_vec())
            );
        }
        let mut record = tls12_record(3, b"tampered", etm);
        record[20] ^= 1;
        let err = p.open(23, 0x0303, &record).expect_err("tampered").0;
        let expected = if etm {
            "the MAC does not verify (encrypt-then-MAC)"
        } else {
            "the MAC does not verify (wrong key, or tampered)"
        };
        assert!(
            err.starts_with("record 3: ") && err.contains(expected),
            "{err}"
        );
        assert!(p.open(23, 0x0303, &[1, 2, 3]).is_err()); // short: an error, not a panic
    }
}

#[test]
fn tls10_chains_the_iv_and_ssl3_macs_its_own_way() {
    // TLS 1.0: the first IV from the key block, then each record's last ciphertext block.
    let first_iv = [5u8; 16];
    let mut p = protection("AES_128_CBC", "SHA", 0x0301, &first_iv, false);
    let mut iv = first_iv.to_vec();
    for seq in 0..3u64 {
        let data = vec![seq as u8; 30];
        let mac = HashAlg::Sha1.hmac(&MAC_KEY, &[&header(seq, 23, 0x0301, data.len()), &data]);
        let body = cbc_encrypt(&iv, &[data.as_slice(), &mac].concat());
        iv = body[body.len() - 16..].to_vec();
        assert_eq!(p.open(23, 0x0301, &body).expect("opens").1, data);
    }
    // SSL 3.0 NULL-SHA: hash(secret + pad_2 + hash(secret + pad_1 + seq + type + length + data)).
    let mut p = protection("NULL", "SHA", 0x0300, b"", false);
    let data = b"ssl3";
    let mut seq_type_len = 0u64.to_be_bytes().to_vec();
    seq_type_len.extend([23, 0, 4]);
    let inner = HashAlg::Sha1.digest(&[&MAC_KEY, &[0x36; 40], &seq_type_len, data]);
    let mac = HashAlg::Sha1.digest(&[&MAC_KEY, &[0x5c; 40], &inner]);
    let record = [data.as_slice(), &mac].concat();
    assert_eq!(p.open(23, 0x0300, &record).expect("opens").1, data);
    assert!(
        p.open(23, 0x0300, &record).is_err(),
        "the same record again: seq 1 differs"
    );
}

#[test]
fn a_number_tried_in_vain_leaves_the_keys_as_they_were() {
    // TLS 1.0 CBC, records 0 to 4; 1 and 2 lost in a gap.
    let first_iv = [5u8; 16];
    let mut iv = first_iv.to_vec();
    let mut records = Vec::new();
    for seq in 0..5u64 {
        let data = vec![seq as u8; 30];
        let mac = HashAlg::Sha1.hmac(&MAC_KEY, &[&header(seq, 23, 0x0301, data.len()), &data]);
        let body = cbc_encrypt(&iv, &[data.as_slice(), &mac].concat());
        iv = body[body.len() - 16..].to_vec();
        records.push(body);
    }
    let mut p = protection("AES_128_CBC", "SHA", 0x0301, &first_iv, false);
    assert!(p.chains_iv() && !p.is_stream());
    assert_eq!(p.min_body(), 32); // SHA-1's 20 bytes and the padding byte, in whole blocks
    assert!(p.open(23, 0x0301, &records[0]).is_ok());
    // Record 3's IV is record 2's last block, lost: it passes, and its own chains record 4.
    assert!(p.open_at(3, 23, 0x0301, &records[3]).is_err());
    assert_eq!(p.seq, 1, "a number tried in vain is not used");
    p.pass(&records[3]);
    assert_eq!(p.seq, 2);
    assert!(p.open_at(2, 23, 0x0301, &records[4]).is_err()); // the IV is kept for the next try
    assert_eq!(
        p.open_at(4, 23, 0x0301, &records[4]).expect("opens").1,
        vec![4; 30]
    );
    assert_eq!((p.seq, p.opened), (5, 2));
    // TLS 1.2 (an explicit IV) and encrypt-then-MAC: the IV block, the padding, the MAC.
    let p = protection("AES_128_CBC", "SHA", 0x0303, b"", true);
    assert!(!p.chains_iv());
    assert_eq!(p.min_body(), 16 + 16 + 20);
}

#[test]
fn rc4_keystream_runs_across_records() {
    let mut p = protection("RC4_128", "MD5", 0x0303, b"", false);
    let mut rc4 = rc4::Rc4::<rc4::consts::U16>::new_from_slice(&KEY).expect("key");
    for seq in 0..2u64 {
        let data = vec![seq as u8 + 1; 10];
        let mac = HashAlg::Md5.hmac(&MAC_KEY, &[&header(seq, 23, 0x0303, data.len()), &data]);
        let mut body = [data.as_slice(), &mac].concat();
        rc4.apply_keystream(&mut body);
        assert_eq!(p.open(23, 0x0303, &body).expect("opens").1, data);
    }
}

#[test]
fn a_cipher_without_an_implementation_is_said_as_ours_not_a_library_s() {
    // The reason is shown to the user: since record protection moved into the core it is
    // tlslens (its RustCrypto set), not Python's `cryptography`, that lacks the cipher.
    let Err(reason) = cipher_spec(
        "TLS_RSA_WITH_ARIA_128_CBC_SHA256",
        "ARIA_128_CBC",
        "SHA256",
        false,
        0x0303,
    ) else {
        panic!("ARIA has no implementation here");
    };
    assert!(reason.starts_with("TLS_RSA_WITH_ARIA_128_CBC_SHA256: tlslens carries no vetted"));
    assert!(!reason.contains("cryptography library"));
}

/// RFC 9146 §5.1 and §5.2: a DTLS 1.2 connection-ID record's MAC covers
/// seq_num_placeholder, tls12_cid, cid_length, tls12_cid, version, epoch || sequence, cid
/// and a length; its DTLSInnerPlaintext ends with the real type and zero padding.
#[test]
fn cid_records_cbc_both_orders() {
    let cid = b"peer-id";
    let seq = 1u64 << 48 | 5; // epoch 1, sequence number 5
    let cid_header = |len: usize| {
        let mut out = vec![0xff; 8];
        out.extend_from_slice(&[25, 7, 25, 0xfe, 0xfd]);
        out.extend_from_slice(&seq.to_be_bytes());
        out.extend_from_slice(cid);
        out.extend_from_slice(&u16::try_from(len).expect("short").to_be_bytes());
        out
    };
    let inner = [&b"over a connection ID"[..], &[23, 0, 0]].concat();
    for etm in [false, true] {
        let body = cbc_sha_record(seq, &inner, etm, &cid_header);
        let mut prot = protection("AES_128_CBC", "SHA", 0x0303, &[0; 16], etm);
        prot.seq = seq;
        let opened = prot.open_cid(0xfefd, cid, &body).expect("opens");
        assert_eq!(opened, (23, b"over a connection ID".to_vec()), "etm {etm}");
        // The classic 13-byte header does not open it, nor another connection ID.
        let mut prot = protection("AES_128_CBC", "SHA", 0x0303, &[0; 16], etm);
        prot.seq = seq;
        assert!(prot.open(25, 0xfefd, &body).is_err());
        prot.seq = seq;
        assert!(prot.open_cid(0xfefd, b"other", &body).is_err());
    }
}
