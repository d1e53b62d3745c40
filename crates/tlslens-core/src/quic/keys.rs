//! QUIC packet protection keys (RFC 9001 §5): the Initial secrets from the client's first
//! Destination Connection ID, the key, IV and header protection key of a secret under the
//! version's labels, the "quic ku" key update, and the Retry integrity tag.
//!
//! Strategy: the HKDF glue is `keys::hkdf` (QUIC labels are TLS 1.3 HKDF-Expand-Label
//! labels), the AEADs are `protection::Aead` and the header protection mask is
//! `protection::header_mask` (shared with DTLS 1.3's record-number encryption).

use super::version::Version;
use crate::keys::hkdf::{expand_label, extract};
use crate::keys::HashAlg;
use crate::protection::{header_mask, Aead};

/// The AEAD tag of every TLS 1.3 suite QUIC uses (RFC 9001 §5.3: CCM_8 is not allowed).
pub const TAG_LEN: usize = 16;
/// Header protection samples 16 bytes of ciphertext (RFC 9001 §5.4.2).
pub const SAMPLE_LEN: usize = 16;

/// A TLS 1.3 cipher suite as QUIC packet protection needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Suite {
    pub id: u16,
    pub hash: HashAlg,
    /// The AEAD, as `protection::Aead` names it.
    pub cipher: &'static str,
    pub key_len: usize,
}

impl Suite {
    /// The suites of RFC 8446 §B.4 that QUIC may negotiate; None for any other value.
    pub fn from_id(id: u16) -> Option<Self> {
        let (hash, cipher, key_len) = match id {
            0x1301 => (HashAlg::Sha256, "AES_128_GCM", 16),
            0x1302 => (HashAlg::Sha384, "AES_256_GCM", 32),
            0x1303 => (HashAlg::Sha256, "CHACHA20_POLY1305", 32),
            0x1304 => (HashAlg::Sha256, "AES_128_CCM", 16),
            _ => return None,
        };
        Some(Self {
            id,
            hash,
            cipher,
            key_len,
        })
    }

    /// Initial packets are always protected with TLS_AES_128_GCM_SHA256 (RFC 9001 §5.2).
    pub fn initial() -> Self {
        Self {
            id: 0x1301,
            hash: HashAlg::Sha256,
            cipher: "AES_128_GCM",
            key_len: 16,
        }
    }
}

/// A header protection key (RFC 9001 §5.4.3, §5.4.4) and the suite's cipher it is for.
pub struct HeaderKey {
    cipher: &'static str,
    key: Vec<u8>,
}

impl HeaderKey {
    fn new(suite: Suite, key: &[u8]) -> Result<Self, String> {
        let hp = Self {
            cipher: suite.cipher,
            key: key.to_vec(),
        };
        // A key of the wrong length is refused here, not at every packet.
        hp.mask(&[0; SAMPLE_LEN])?;
        Ok(hp)
    }

    /// The five mask bytes of a 16-byte ciphertext sample.
    pub fn mask(&self, sample: &[u8; SAMPLE_LEN]) -> Result<[u8; 5], String> {
        let block = header_mask(self.cipher, &self.key, sample)?;
        let mut out = [0u8; 5];
        out.copy_from_slice(&block[..5]);
        Ok(out)
    }
}

/// The key, IV and header protection key of one secret (RFC 9001 §5.1).
pub struct PacketKeys {
    pub aead: Aead,
    pub iv: [u8; 12],
    pub hp: HeaderKey,
}

/// One direction's traffic secret at one encryption level, with what derives from it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Secret {
    pub version: Version,
    pub suite: Suite,
    pub bytes: Vec<u8>,
}

/// The raw material of `PacketKeys`, for the RFC vectors and for narration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyMaterial {
    pub key: Vec<u8>,
    pub iv: Vec<u8>,
    pub hp: Vec<u8>,
}

impl Secret {
    /// "quic key", "quic iv" and "quic hp" (or v2's labels) of this secret.
    pub fn material(&self) -> Result<KeyMaterial, String> {
        let labels = self.version.labels();
        let expand = |label: &[u8], len: usize| {
            expand_label(self.suite.hash, &self.bytes, label, b"", len).map_err(|e| e.to_string())
        };
        Ok(KeyMaterial {
            key: expand(labels.key, self.suite.key_len)?,
            iv: expand(labels.iv, 12)?,
            hp: expand(labels.hp, self.suite.key_len)?,
        })
    }

    pub fn keys(&self) -> Result<PacketKeys, String> {
        let material = self.material()?;
        let iv: [u8; 12] = material
            .iv
            .as_slice()
            .try_into()
            .map_err(|_| "an IV that is not 12 bytes".to_owned())?;
        Ok(PacketKeys {
            aead: Aead::new(self.suite.cipher, &material.key)?,
            iv,
            hp: HeaderKey::new(self.suite, &material.hp)?,
        })
    }

    /// RFC 9001 §6.1: the secret of the next key phase ("quic ku"). Header protection keys
    /// are not updated, so only the AEAD part of the next keys is used.
    pub fn next(&self) -> Result<Secret, String> {
        let len = self.suite.hash.output_len();
        let bytes = expand_label(
            self.suite.hash,
            &self.bytes,
            self.version.labels().ku,
            b"",
            len,
        )
        .map_err(|e| e.to_string())?;
        Ok(Secret {
            bytes,
            ..self.clone()
        })
    }
}

/// RFC 9001 §5.2: the client's and the server's Initial secrets, from the Destination
/// Connection ID of the client's first Initial.
pub fn initial_secrets(version: Version, dcid: &[u8]) -> Result<(Secret, Secret), String> {
    let alg = HashAlg::Sha256;
    let initial = extract(alg, &version.initial_salt(), dcid);
    let derive = |label: &[u8]| -> Result<Secret, String> {
        Ok(Secret {
            version,
            suite: Suite::initial(),
            bytes: expand_label(alg, &initial, label, b"", alg.output_len())
                .map_err(|e| e.to_string())?,
        })
    };
    Ok((derive(b"client in")?, derive(b"server in")?))
}

/// RFC 9001 §5.8: whether the last 16 bytes of a Retry packet are the AES-128-GCM tag of
/// the Retry pseudo-packet (the original Destination Connection ID, then the packet
/// without its tag) under the version's fixed key and nonce.
pub fn retry_tag_ok(version: Version, original_dcid: &[u8], retry: &[u8]) -> bool {
    let Some(split) = retry.len().checked_sub(TAG_LEN) else {
        return false;
    };
    let Ok(odcid_len) = u8::try_from(original_dcid.len()) else {
        return false;
    };
    let (body, tag) = retry.split_at(split);
    let mut pseudo = Vec::with_capacity(1 + original_dcid.len() + body.len());
    pseudo.push(odcid_len);
    pseudo.extend_from_slice(original_dcid);
    pseudo.extend_from_slice(body);
    let (key, nonce) = version.retry_key_nonce();
    let Ok(aead) = Aead::new("AES_128_GCM", &key) else {
        return false;
    };
    // An empty plaintext: opening the tag alone checks it against the additional data.
    let mut data = tag.to_vec();
    aead.open(&nonce, &pseudo, &mut data, TAG_LEN)
}
