//! The TLS 1.0-1.2 key schedule (RFC 2246/5246/7627) and SSL 3.0's (RFC 6101): PRF, master
//! secret, key block, Finished. HMAC and the hashes come from RustCrypto.

use digest::{Digest, Mac};
use subtle::ConstantTimeEq;

use super::{keyed, with_hash, EagerHash, HashAlg};

pub const SSL3: u16 = 0x0300;
pub const TLS12: u16 = 0x0303;

/// RFC 5246 §5: P_hash(secret, seed), `length` bytes.
pub fn p_hash(alg: HashAlg, secret: &[u8], seed: &[&[u8]], length: usize) -> Vec<u8> {
    with_hash!(alg, D => p_hash_with::<D>(secret, seed, length))
}

fn p_hash_with<D: EagerHash>(secret: &[u8], seed: &[&[u8]], length: usize) -> Vec<u8> {
    let key = keyed::<D>(secret); // keyed once, cloned for each HMAC
    let mut out = Vec::with_capacity(length + <D as Digest>::output_size());
    // A(1) = HMAC(secret, seed); A(i) = HMAC(secret, A(i-1)).
    let mut mac = key.clone();
    for part in seed {
        mac.update(part);
    }
    let mut a = mac.finalize().into_bytes();
    while out.len() < length {
        let mut mac = key.clone();
        mac.update(&a);
        for part in seed {
            mac.update(part);
        }
        out.extend_from_slice(&mac.finalize().into_bytes());
        let mut next = key.clone();
        next.update(&a);
        a = next.finalize().into_bytes();
    }
    out.truncate(length);
    out
}

/// The PRF of the negotiated version: MD5 xor SHA-1 before TLS 1.2, the suite's hash after.
pub fn prf(
    version: u16,
    prf_hash: HashAlg,
    secret: &[u8],
    label: &[u8],
    seed: &[u8],
    length: usize,
) -> Vec<u8> {
    if version >= TLS12 {
        return p_hash(prf_hash, secret, &[label, seed], length);
    }
    // RFC 2246 §5: the halves overlap by a byte when the secret's length is odd.
    let half = secret.len().div_ceil(2);
    let md5 = p_hash(HashAlg::Md5, &secret[..half], &[label, seed], length);
    let sha = p_hash(
        HashAlg::Sha1,
        &secret[secret.len() - half..],
        &[label, seed],
        length,
    );
    md5.iter().zip(&sha).map(|(a, b)| a ^ b).collect()
}

/// SSL 3.0 (RFC 6101 §6.1): MD5(secret + SHA1('A' + secret + seed)) + MD5(... 'BB' ...) ...
pub fn ssl3_prf(secret: &[u8], seed: &[u8], length: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(length + 16);
    let mut i: u8 = 0;
    while out.len() < length {
        // The salts run 'A', 'BB', 'CCC' ...: 26 letters give 416 bytes, more than any use.
        let salt = vec![b'A'.wrapping_add(i); usize::from(i) + 1];
        let inner = HashAlg::Sha1.digest(&[&salt, secret, seed]);
        out.extend_from_slice(&HashAlg::Md5.digest(&[secret, &inner]));
        i = i.wrapping_add(1);
    }
    out.truncate(length);
    out
}

/// RFC 5246 §8.1; with `session_hash` the extended master secret of RFC 7627.
pub fn master_secret(
    version: u16,
    prf_hash: HashAlg,
    pre_master_secret: &[u8],
    client_random: &[u8],
    server_random: &[u8],
    session_hash: Option<&[u8]>,
) -> Vec<u8> {
    let randoms = [client_random, server_random].concat();
    if version == SSL3 {
        return ssl3_prf(pre_master_secret, &randoms, 48);
    }
    match session_hash {
        Some(hash) => prf(
            version,
            prf_hash,
            pre_master_secret,
            b"extended master secret",
            hash,
            48,
        ),
        None => prf(
            version,
            prf_hash,
            pre_master_secret,
            b"master secret",
            &randoms,
            48,
        ),
    }
}

/// The six values of a key block, in the order RFC 5246 §6.3 cuts them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyBlock {
    pub client_write_mac_key: Vec<u8>,
    pub server_write_mac_key: Vec<u8>,
    pub client_write_key: Vec<u8>,
    pub server_write_key: Vec<u8>,
    pub client_write_iv: Vec<u8>,
    pub server_write_iv: Vec<u8>,
}

/// RFC 5246 §6.3: the key block, cut into the six values (note: the server random first).
pub fn key_block(
    version: u16,
    prf_hash: HashAlg,
    master: &[u8],
    client_random: &[u8],
    server_random: &[u8],
    (mac_len, key_len, iv_len): (usize, usize, usize),
) -> KeyBlock {
    let total = 2 * (mac_len + key_len + iv_len);
    let seed = [server_random, client_random].concat();
    let block = if version == SSL3 {
        ssl3_prf(master, &seed, total)
    } else {
        prf(version, prf_hash, master, b"key expansion", &seed, total)
    };
    let mut rest = block.as_slice();
    let mut take = |n: usize| {
        let (head, tail) = rest.split_at(n);
        rest = tail;
        head.to_vec()
    };
    KeyBlock {
        client_write_mac_key: take(mac_len),
        server_write_mac_key: take(mac_len),
        client_write_key: take(key_len),
        server_write_key: take(key_len),
        client_write_iv: take(iv_len),
        server_write_iv: take(iv_len),
    }
}

/// Export suites stretch the 5-byte keys and make the IVs from the randoms alone
/// (RFC 2246 §6.3.1; SSL 3.0: RFC 6101 §6.2.2).
pub fn export_keys(
    version: u16,
    block: &KeyBlock,
    client_random: &[u8],
    server_random: &[u8],
    (key_len, iv_len): (usize, usize),
) -> KeyBlock {
    let (cr, sr) = (client_random, server_random);
    let cut = |mut v: Vec<u8>, n: usize| {
        v.truncate(n);
        v
    };
    let md5 = |parts: &[&[u8]], n: usize| cut(HashAlg::Md5.digest(parts), n);
    let (client_key, server_key, client_iv, server_iv) = if version == SSL3 {
        (
            md5(&[&block.client_write_key, cr, sr], key_len),
            md5(&[&block.server_write_key, sr, cr], key_len),
            md5(&[cr, sr], iv_len),
            md5(&[sr, cr], iv_len),
        )
    } else {
        let randoms = [cr, sr].concat();
        let sha = HashAlg::Sha256; // unused before TLS 1.2, whose PRF is MD5 xor SHA-1
        let mut ivs = prf(version, sha, b"", b"IV block", &randoms, 2 * iv_len);
        let server_iv = ivs.split_off(iv_len);
        (
            prf(
                version,
                sha,
                &block.client_write_key,
                b"client write key",
                &randoms,
                key_len,
            ),
            prf(
                version,
                sha,
                &block.server_write_key,
                b"server write key",
                &randoms,
                key_len,
            ),
            ivs,
            server_iv,
        )
    };
    KeyBlock {
        client_write_mac_key: block.client_write_mac_key.clone(),
        server_write_mac_key: block.server_write_mac_key.clone(),
        client_write_key: client_key,
        server_write_key: server_key,
        client_write_iv: client_iv,
        server_write_iv: server_iv,
    }
}

/// RFC 7627 §3 (and the Finished of TLS 1.0/1.1): the handshake hash, MD5 + SHA-1 before
/// TLS 1.2 and the suite's hash after.
pub fn session_hash(version: u16, prf_hash: HashAlg, transcript: &[u8]) -> Vec<u8> {
    if version >= TLS12 {
        return prf_hash.digest(&[transcript]);
    }
    [
        HashAlg::Md5.digest(&[transcript]),
        HashAlg::Sha1.digest(&[transcript]),
    ]
    .concat()
}

/// RFC 5246 §7.4.9: PRF(master, label, Hash(handshake_messages))[0..11]; SSL 3.0's
/// MD5 and SHA-1 of (messages + sender + master + pads), RFC 6101 §5.6.9.
pub fn finished_verify_data(
    version: u16,
    prf_hash: HashAlg,
    master: &[u8],
    label: &[u8],
    transcript: &[u8],
) -> Vec<u8> {
    if version == SSL3 {
        let sender: &[u8] = if label.starts_with(b"client") {
            b"CLNT"
        } else {
            b"SRVR"
        };
        let ssl3 = |alg: HashAlg, pad: usize| {
            let inner = alg.digest(&[transcript, sender, master, &vec![0x36; pad]]);
            alg.digest(&[master, &vec![0x5c; pad], &inner])
        };
        return [ssl3(HashAlg::Md5, 48), ssl3(HashAlg::Sha1, 40)].concat();
    }
    let handshake_hash = session_hash(version, prf_hash, transcript);
    finished_from_hash(version, prf_hash, master, label, &handshake_hash)
}

/// RFC 5246 §7.4.9 from the handshake's hash already taken (`session_hash`); not SSL 3.0,
/// whose Finished hashes more than the messages.
pub fn finished_from_hash(
    version: u16,
    prf_hash: HashAlg,
    master: &[u8],
    label: &[u8],
    handshake_hash: &[u8],
) -> Vec<u8> {
    prf(version, prf_hash, master, label, handshake_hash, 12)
}

/// Whether a Finished's `verify_data` is the one computed, compared in constant time.
pub fn finished_matches(
    version: u16,
    prf_hash: HashAlg,
    master: &[u8],
    label: &[u8],
    transcript: &[u8],
    verify_data: &[u8],
) -> bool {
    let expected = finished_verify_data(version, prf_hash, master, label, transcript);
    bool::from(expected.ct_eq(verify_data))
}
