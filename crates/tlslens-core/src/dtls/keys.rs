//! DTLS record keys from a key log: DTLS 1.0/1.2's key block from the master secret (the
//! TLS PRF of the version DTLS is based on), DTLS 1.3's per-epoch keys from the traffic
//! secrets with the "dtls13" labels, record-number ("sn") keys included (RFC 9147 §4.2.3).

use std::collections::HashMap;

use crate::keys::hkdf::{self, DTLS13};
use crate::keys::{prf, HashAlg};
use crate::protection::{header_mask, CipherSpec, RecordProtection};

/// What a derivation made, in the order made, named as the TCP decryptor names them
/// ("master_secret", "client_write_key"...): a [`crate::decrypt::Derivation`]'s values.
pub type Values = Vec<(String, Vec<u8>)>;

/// One connection's secrets, as a key log gives them (by the ClientHello's random).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Secrets {
    /// Where they came from ("keylog", or "pcapng": a Decryption Secrets Block), the
    /// source of the keys derived from them.
    pub origin: Option<String>,
    /// CLIENT_RANDOM (DTLS 1.0/1.2).
    pub master_secret: Option<Vec<u8>>,
    /// CLIENT_/SERVER_HANDSHAKE_TRAFFIC_SECRET (DTLS 1.3 epoch 2).
    pub client_handshake: Option<Vec<u8>>,
    pub server_handshake: Option<Vec<u8>>,
    /// CLIENT_/SERVER_TRAFFIC_SECRET_0 (DTLS 1.3 epoch 3, and the updates after it).
    pub client_application: Option<Vec<u8>>,
    pub server_application: Option<Vec<u8>>,
}

/// What a cipher suite's records need: its protection and its PRF/HKDF hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Suite {
    pub spec: CipherSpec,
    pub hash: HashAlg,
}

/// The key material an association may decrypt with: secrets by client random, and the
/// suites by their code point (the registry lives with the caller).
#[derive(Clone, Debug, Default)]
pub struct Keys {
    pub secrets: HashMap<[u8; 32], Secrets>,
    pub suites: HashMap<u16, Suite>,
}

/// One direction's keys for one epoch.
pub struct EpochKeys {
    pub protection: RecordProtection,
    /// DTLS 1.3: the record-number key and the cipher it is used with.
    pub sn_key: Option<(String, Vec<u8>)>,
}

impl EpochKeys {
    /// RFC 9147 §4.2.3: the mask over the first 16 bytes of the record's ciphertext.
    pub fn sn_mask(&self, ciphertext: &[u8]) -> Result<[u8; 16], String> {
        match &self.sn_key {
            Some((cipher, key)) => header_mask(cipher, key, ciphertext),
            None => Err("no record-number key".to_owned()),
        }
    }
}

/// The TLS version a DTLS version is based on (its PRF, and explicit CBC IVs): DTLS 1.0
/// is TLS 1.1 (RFC 4347 §1), DTLS 1.2 is TLS 1.2.
pub fn tls_version(dtls: u16) -> u16 {
    if dtls == 0xfefd {
        prf::TLS12
    } else {
        0x0302
    }
}

/// DTLS 1.0/1.2 epoch-1 keys (client's, server's) from the master secret (RFC 5246 §6.3),
/// and the values derived: the master secret, then the key block as it is cut (an AEAD
/// suite has no MAC keys); `etm`: the ServerHello agreed to encrypt-then-MAC (RFC 7366).
pub fn dtls12(
    suite: &Suite,
    (version, etm): (u16, bool),
    master: &[u8],
    randoms: (&[u8], &[u8]),
) -> Result<(EpochKeys, EpochKeys, Values), String> {
    let spec = &suite.spec;
    if spec.export_key_len > 0 {
        return Err(format!("export suite {}: not in DTLS", spec.cipher));
    }
    let tls = tls_version(version);
    let block = prf::key_block(
        tls,
        suite.hash,
        master,
        randoms.0,
        randoms.1,
        (spec.mac_len, spec.key_len, spec.iv_len),
    );
    let make = |key: &[u8], iv: &[u8], mac: &[u8]| -> Result<EpochKeys, String> {
        Ok(EpochKeys {
            protection: RecordProtection::new(spec.clone(), tls, key, iv, mac, (etm, false), None)?,
            sn_key: None,
        })
    };
    let client = make(
        &block.client_write_key,
        &block.client_write_iv,
        &block.client_write_mac_key,
    )?;
    let server = make(
        &block.server_write_key,
        &block.server_write_iv,
        &block.server_write_mac_key,
    )?;
    let cut = [
        ("client_write_mac_key", block.client_write_mac_key),
        ("server_write_mac_key", block.server_write_mac_key),
        ("client_write_key", block.client_write_key),
        ("server_write_key", block.server_write_key),
        ("client_write_iv", block.client_write_iv),
        ("server_write_iv", block.server_write_iv),
    ];
    let mut values = vec![("master_secret".to_owned(), master.to_vec())];
    values.extend(
        (cut.into_iter())
            .filter(|(_, value)| !value.is_empty())
            .map(|(name, value)| (name.to_owned(), value)),
    );
    Ok((client, server, values))
}

/// DTLS 1.3 keys of one epoch from its traffic secret: "dtls13key", "dtls13iv" and
/// "dtls13sn" (RFC 9147 §4.2.3, §5.9); and the values, named after `name` (the sender
/// and phase: "client_handshake"): the secret, then its key, IV and record-number key.
pub fn dtls13(suite: &Suite, secret: &[u8], name: &str) -> Result<(EpochKeys, Values), String> {
    let spec = &suite.spec;
    let expand = |label: &[u8], len: usize| {
        hkdf::expand_label_prefixed(suite.hash, DTLS13, secret, label, b"", len)
            .map_err(|e| e.to_string())
    };
    let key = expand(b"key", spec.key_len)?;
    let iv = expand(b"iv", 12)?;
    let sn = expand(b"sn", spec.key_len)?;
    let keys = EpochKeys {
        protection: RecordProtection::new(
            spec.clone(),
            0xfefc,
            &key,
            &iv,
            &[],
            (false, true),
            None,
        )?,
        sn_key: Some((spec.cipher.clone(), sn.clone())),
    };
    let values = vec![
        (format!("{name}_traffic_secret"), secret.to_vec()),
        (format!("{name}_write_key"), key),
        (format!("{name}_write_iv"), iv),
        (format!("{name}_sn_key"), sn),
    ];
    Ok((keys, values))
}

/// RFC 9147 §8 (RFC 8446 §7.2): the traffic secret of the next epoch after a KeyUpdate.
pub fn next_secret(hash: HashAlg, secret: &[u8]) -> Result<Vec<u8>, String> {
    hkdf::expand_label_prefixed(hash, DTLS13, secret, b"traffic upd", b"", hash.output_len())
        .map_err(|e| e.to_string())
}
