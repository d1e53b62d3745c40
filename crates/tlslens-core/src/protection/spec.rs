//! What the records of a cipher suite need: `cipher_spec` maps the registry's cipher and
//! MAC tokens to a `CipherSpec`, or says plainly why the suite's records cannot be opened.

use crate::keys::HashAlg;

/// How a suite protects its records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Aead,
    Block,
    Stream,
    Null,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Aead => "aead",
            Self::Block => "block",
            Self::Stream => "stream",
            Self::Null => "null",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CipherSpec {
    /// The suite's cipher token, e.g. AES_128_GCM.
    pub cipher: String,
    pub kind: Kind,
    pub key_len: usize,
    /// Key block IV bytes (TLS 1.2 AEAD salt, CBC IV) or the TLS 1.3 nonce.
    pub iv_len: usize,
    pub block_size: usize,
    pub tag_len: usize,
    /// The HMAC hash of block, stream and NULL suites.
    pub mac: Option<HashAlg>,
    pub mac_len: usize,
    /// Export suites: the final key is derived from a 5-byte secret to this length.
    pub export_key_len: usize,
}

/// cipher token -> (key bytes, block size)
fn block(cipher: &str) -> Option<(usize, usize)> {
    Some(match cipher {
        "AES_128_CBC" | "CAMELLIA_128_CBC" | "SEED_CBC" => (16, 16),
        "AES_256_CBC" | "CAMELLIA_256_CBC" => (32, 16),
        "3DES_EDE_CBC" => (24, 8),
        "IDEA_CBC" => (16, 8),
        "DES_CBC" => (8, 8),
        "DES40_CBC" | "RC2_CBC_40" => (5, 8),
        _ => return None,
    })
}

/// cipher token -> (key bytes, tag bytes)
fn aead(cipher: &str) -> Option<(usize, usize)> {
    Some(match cipher {
        "AES_128_GCM" | "AES_128_CCM" => (16, 16),
        "AES_256_GCM" | "AES_256_CCM" | "CHACHA20_POLY1305" => (32, 16),
        "AES_128_CCM_8" => (16, 8),
        "AES_256_CCM_8" => (32, 8),
        _ => return None,
    })
}

/// Export suites (RFC 2246 §6.3.1): the key block holds 5 secret bytes, stretched to this.
fn export_key_len(cipher: &str) -> usize {
    match cipher {
        "DES40_CBC" => 8,
        "RC2_CBC_40" | "RC4_40" => 16,
        _ => 0,
    }
}

/// The MACs of block, stream and NULL suites: (hash, bytes).
fn record_mac(mac: &str) -> Option<(HashAlg, usize)> {
    let alg = match mac {
        "MD5" | "SHA" | "SHA256" | "SHA384" => HashAlg::from_name(mac)?,
        _ => return None,
    };
    Some((alg, alg.output_len()))
}

/// What records of the suite `name` need. Err says why they cannot be opened.
pub fn cipher_spec(
    name: &str,
    cipher: &str,
    mac: &str,
    tls13: bool,
    version: u16,
) -> Result<CipherSpec, String> {
    if let Some((key_len, tag_len)) = aead(cipher) {
        // TLS 1.2 GCM/CCM: a 4-byte implicit salt + 8 explicit bytes; ChaCha20 and TLS 1.3: 12.
        let iv_len = if cipher == "CHACHA20_POLY1305" || tls13 {
            12
        } else {
            4
        };
        return Ok(CipherSpec {
            cipher: cipher.to_owned(),
            kind: Kind::Aead,
            key_len,
            iv_len,
            block_size: 0,
            tag_len,
            mac: None,
            mac_len: 0,
            export_key_len: 0,
        });
    }
    let Some((mac_alg, mac_len)) = record_mac(mac) else {
        return Err(format!("{name}: MAC {mac} is not supported"));
    };
    let export = export_key_len(cipher);
    let (kind, key_len, iv_len, block_size) = if let Some((key_len, size)) = block(cipher) {
        // TLS 1.1+ sends each record's IV explicitly; TLS 1.0/SSL 3.0 take it from the key
        // block (export suites derive it apart, so the key block holds none).
        let iv_len = if version <= 0x0301 && export == 0 {
            size
        } else {
            0
        };
        (Kind::Block, key_len, iv_len, size)
    } else if cipher == "RC4_128" || cipher == "RC4_40" {
        (Kind::Stream, if export > 0 { 5 } else { 16 }, 0, 0)
    } else if cipher == "NULL" {
        (Kind::Null, 0, 0, 0)
    } else {
        return Err(format!(
            "{name}: tlslens carries no vetted implementation of the cipher {cipher} (ARIA, \
             GOST, SM4, Fortezza and Kerberos suites among others), so its records cannot be \
             decrypted"
        ));
    };
    Ok(CipherSpec {
        cipher: cipher.to_owned(),
        kind,
        key_len,
        iv_len,
        block_size,
        tag_len: 16,
        mac: Some(mac_alg),
        mac_len,
        export_key_len: if kind == Kind::Null { 0 } else { export },
    })
}
