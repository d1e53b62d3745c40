//! The primitives behind record protection, keyed once per direction: AES-GCM and
//! ChaCha20-Poly1305 from `ring` (measured on a bulk capture's 16 KiB records, 7x and 1.7x
//! RustCrypto's `aes-gcm` and `chacha20poly1305` on this machine, 10.8 against 1.5 GB/s for
//! AES-128-GCM), AES-CCM, the CBC block ciphers and RC4 from RustCrypto.

use aes::{Aes128, Aes256};
use camellia::{Camellia128, Camellia256};
use ccm::aead::consts::{U12, U16, U8};
use ccm::aead::generic_array::GenericArray;
use ccm::aead::AeadInPlace;
use ccm::Ccm;
use cipher::{BlockCipher, BlockDecryptMut, InnerIvInit, KeyInit, StreamCipher};
use des::{Des, TdesEde3};

/// A CBC decryption the core has no crate for (SEED): the boundary supplies a vetted one.
pub trait ExternalCbc: Send + Sync {
    /// Decrypt whole blocks of `data` in CBC mode with `iv`.
    fn decrypt(&mut self, iv: &[u8], data: &[u8]) -> Result<Vec<u8>, String>;
}

pub enum Aead {
    /// AES-128-GCM, AES-256-GCM or ChaCha20-Poly1305 (16-byte tags).
    Ring(Box<ring::aead::LessSafeKey>),
    Ccm128(Box<Ccm<Aes128, U16, U12>>),
    Ccm256(Box<Ccm<Aes256, U16, U12>>),
    Ccm128x8(Box<Ccm<Aes128, U8, U12>>),
    Ccm256x8(Box<Ccm<Aes256, U8, U12>>),
}

/// `ring`'s tag length for each of its AEADs here.
const RING_TAG: usize = 16;

fn ring_key(algorithm: &'static ring::aead::Algorithm, key: &[u8]) -> Result<Aead, String> {
    let key = ring::aead::UnboundKey::new(algorithm, key).map_err(key_error)?;
    Ok(Aead::Ring(Box::new(ring::aead::LessSafeKey::new(key))))
}

fn key_error<E>(_: E) -> String {
    "a key of the wrong length for the cipher".to_owned()
}

impl Aead {
    pub fn new(cipher: &str, key: &[u8]) -> Result<Self, String> {
        Ok(match cipher {
            "AES_128_GCM" => ring_key(&ring::aead::AES_128_GCM, key)?,
            "AES_256_GCM" => ring_key(&ring::aead::AES_256_GCM, key)?,
            "AES_128_CCM" => Self::Ccm128(Box::new(Ccm::new_from_slice(key).map_err(key_error)?)),
            "AES_256_CCM" => Self::Ccm256(Box::new(Ccm::new_from_slice(key).map_err(key_error)?)),
            "AES_128_CCM_8" => {
                Self::Ccm128x8(Box::new(Ccm::new_from_slice(key).map_err(key_error)?))
            }
            "AES_256_CCM_8" => {
                Self::Ccm256x8(Box::new(Ccm::new_from_slice(key).map_err(key_error)?))
            }
            "CHACHA20_POLY1305" => ring_key(&ring::aead::CHACHA20_POLY1305, key)?,
            other => return Err(format!("no AEAD {other}")),
        })
    }

    /// Open `data` (ciphertext then tag) in place; false when the tag does not verify.
    /// The nonce is 12 bytes and `data` at least a tag long: the caller checked both.
    pub fn open(&self, nonce: &[u8; 12], aad: &[u8], data: &mut Vec<u8>, tag_len: usize) -> bool {
        let Some(split) = data.len().checked_sub(tag_len) else {
            return false;
        };
        if let Self::Ring(key) = self {
            let nonce = ring::aead::Nonce::assume_unique_for_key(*nonce);
            let aad = ring::aead::Aad::from(aad);
            let opened = tag_len == RING_TAG && key.open_in_place(nonce, aad, data).is_ok();
            data.truncate(split);
            return opened;
        }
        let tag = data.split_off(split);
        let nonce = GenericArray::from_slice(nonce);
        let ok = match self {
            Self::Ring(_) => return false, // opened above
            Self::Ccm128(c) => {
                c.decrypt_in_place_detached(nonce, aad, data, GenericArray::from_slice(&tag))
            }
            Self::Ccm256(c) => {
                c.decrypt_in_place_detached(nonce, aad, data, GenericArray::from_slice(&tag))
            }
            Self::Ccm128x8(c) => {
                c.decrypt_in_place_detached(nonce, aad, data, GenericArray::from_slice(&tag))
            }
            Self::Ccm256x8(c) => {
                c.decrypt_in_place_detached(nonce, aad, data, GenericArray::from_slice(&tag))
            }
        };
        ok.is_ok()
    }
}

/// A CBC block cipher, keyed; each record starts a decryptor from a copy with its IV.
pub enum Block {
    Aes128(Box<Aes128>),
    Aes256(Box<Aes256>),
    Camellia128(Box<Camellia128>),
    Camellia256(Box<Camellia256>),
    Tdes(Box<TdesEde3>),
    Des(Box<Des>),
    Idea(Box<idea::Idea>),
    Rc2(Box<rc2::Rc2>),
    External(Box<dyn ExternalCbc>),
}

fn cbc<C>(cipher: &C, iv: &[u8], data: &[u8]) -> Result<Vec<u8>, String>
where
    C: BlockCipher + BlockDecryptMut + Clone,
{
    let mut out = data.to_vec();
    let decryptor = cbc::Decryptor::<C>::inner_iv_slice_init(cipher.clone(), iv)
        .map_err(|_| "an IV of the wrong length".to_owned())?;
    decryptor
        .decrypt_padded_mut::<cipher::block_padding::NoPadding>(&mut out)
        .map_err(|_| "not a whole number of blocks".to_owned())?;
    Ok(out)
}

impl Block {
    /// The keyed cipher; None when the core has no crate for it (see `ExternalCbc`).
    pub fn new(cipher: &str, key: &[u8]) -> Result<Option<Self>, String> {
        Ok(Some(match cipher {
            "AES_128_CBC" => {
                Self::Aes128(Box::new(Aes128::new_from_slice(key).map_err(key_error)?))
            }
            "AES_256_CBC" => {
                Self::Aes256(Box::new(Aes256::new_from_slice(key).map_err(key_error)?))
            }
            "CAMELLIA_128_CBC" => Self::Camellia128(Box::new(
                Camellia128::new_from_slice(key).map_err(key_error)?,
            )),
            "CAMELLIA_256_CBC" => Self::Camellia256(Box::new(
                Camellia256::new_from_slice(key).map_err(key_error)?,
            )),
            "3DES_EDE_CBC" => {
                Self::Tdes(Box::new(TdesEde3::new_from_slice(key).map_err(key_error)?))
            }
            "DES_CBC" | "DES40_CBC" => {
                Self::Des(Box::new(Des::new_from_slice(key).map_err(key_error)?))
            }
            "IDEA_CBC" => Self::Idea(Box::new(
                idea::Idea::new_from_slice(key).map_err(key_error)?,
            )),
            // The effective key length is the key's (RFC 2268 §2), as OpenSSL's RC2 takes it.
            "RC2_CBC_40" => Self::Rc2(Box::new(rc2::Rc2::new_from_slice(key).map_err(key_error)?)),
            _ => return Ok(None),
        }))
    }

    pub fn decrypt(&mut self, iv: &[u8], data: &[u8]) -> Result<Vec<u8>, String> {
        match self {
            Self::Aes128(c) => cbc(c.as_ref(), iv, data),
            Self::Aes256(c) => cbc(c.as_ref(), iv, data),
            Self::Camellia128(c) => cbc(c.as_ref(), iv, data),
            Self::Camellia256(c) => cbc(c.as_ref(), iv, data),
            Self::Tdes(c) => cbc(c.as_ref(), iv, data),
            Self::Des(c) => cbc(c.as_ref(), iv, data),
            Self::Idea(c) => cbc(c.as_ref(), iv, data),
            Self::Rc2(c) => cbc(c.as_ref(), iv, data),
            Self::External(c) => c.decrypt(iv, data),
        }
    }
}

/// RC4's keystream runs on from record to record: one state per direction.
pub struct Rc4(Box<rc4::Rc4<rc4::consts::U16>>);

impl Rc4 {
    pub fn new(key: &[u8]) -> Result<Self, String> {
        Ok(Self(Box::new(
            rc4::Rc4::new_from_slice(key).map_err(key_error)?,
        )))
    }

    pub fn apply(&mut self, data: &mut [u8]) {
        self.0.apply_keystream(data);
    }
}
