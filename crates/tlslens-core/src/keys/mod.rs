//! Key schedules: the TLS 1.0-1.2 PRFs (and SSL 3.0's), TLS 1.3's HKDF, and the hashes and
//! HMACs they stand on.
//!
//! Strategy: every hash and HMAC comes from RustCrypto (`md-5`, `sha1`, `sha2`, `sm3`,
//! `hmac`, `hkdf`); only the glue the RFCs describe (P_hash, the labels, the key block's
//! layout) is written here. A hash is named as the cipher suite registry names it ("SHA256")
//! and dispatched once to the concrete type by `with_hash!`.

pub mod hkdf;
pub mod prf;

use digest::block_buffer::Eager;
use digest::core_api::{BlockSizeUser, BufferKindUser, CoreProxy, FixedOutputCore, UpdateCore};
use digest::typenum::{IsLess, NonZero, U256};
use digest::HashMarker;
use digest::{Digest, KeyInit, Mac};
use hmac::Hmac;

/// A hash a key schedule or a record MAC uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashAlg {
    Md5,
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
    Sm3,
}

/// Runs `$body` with `$d` bound to the concrete digest type of `$alg`.
macro_rules! with_hash {
    ($alg:expr, $d:ident => $body:expr) => {
        match $alg {
            HashAlg::Md5 => {
                type $d = md5::Md5;
                $body
            }
            HashAlg::Sha1 => {
                type $d = sha1::Sha1;
                $body
            }
            HashAlg::Sha224 => {
                type $d = sha2::Sha224;
                $body
            }
            HashAlg::Sha256 => {
                type $d = sha2::Sha256;
                $body
            }
            HashAlg::Sha384 => {
                type $d = sha2::Sha384;
                $body
            }
            HashAlg::Sha512 => {
                type $d = sha2::Sha512;
                $body
            }
            HashAlg::Sm3 => {
                type $d = sm3::Sm3;
                $body
            }
        }
    };
}
pub(crate) use with_hash;

impl HashAlg {
    /// The registry's name of a hash ("SHA" is SHA-1 in suite names), or None.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "MD5" => Self::Md5,
            "SHA" | "SHA1" => Self::Sha1,
            "SHA224" => Self::Sha224,
            "SHA256" => Self::Sha256,
            "SHA384" => Self::Sha384,
            "SHA512" => Self::Sha512,
            "SM3" => Self::Sm3,
            _ => return None,
        })
    }

    pub fn output_len(self) -> usize {
        with_hash!(self, D => <D as Digest>::output_size())
    }

    /// A hash state to be fed in steps (a transcript's, decrypt/transcript.rs).
    pub fn hasher(self) -> Box<dyn digest::DynDigest + Send + Sync> {
        with_hash!(self, D => Box::new(D::new()))
    }

    /// The hash of the concatenated `parts`.
    pub fn digest(self, parts: &[&[u8]]) -> Vec<u8> {
        with_hash!(self, D => {
            let mut h = D::new();
            for part in parts {
                h.update(part);
            }
            h.finalize().to_vec()
        })
    }

    /// HMAC(key, concatenated `parts`).
    pub fn hmac(self, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        with_hash!(self, D => {
            let mut mac = keyed::<D>(key);
            for part in parts {
                mac.update(part);
            }
            mac.finalize().into_bytes().to_vec()
        })
    }

    /// Whether HMAC(key, parts) is `tag`, compared in constant time (the crate's verify).
    pub fn hmac_verify(self, key: &[u8], parts: &[&[u8]], tag: &[u8]) -> bool {
        with_hash!(self, D => {
            let mut mac = keyed::<D>(key);
            for part in parts {
                mac.update(part);
            }
            mac.verify_slice(tag).is_ok()
        })
    }
}

/// HMAC keyed with `key`. HMAC takes a key of any length (RFC 2104 §3: a longer one is
/// hashed first), so `new_from_slice` cannot fail. The crate's `Hmac`, not `SimpleHmac`:
/// it keeps the outer hash keyed too, where `SimpleHmac` hashes the outer pad again for each
/// output (a quarter of a key schedule's SHA-384 blocks).
pub(crate) fn keyed<D: EagerHash>(key: &[u8]) -> Hmac<D> {
    <Hmac<D> as KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length")
}

/// A hash `Hmac` and `Hkdf` take (every one `with_hash!` names): their bounds, in one name.
pub(crate) trait EagerHash:
    Digest
    + CoreProxy<
        Core: HashMarker
                  + UpdateCore
                  + FixedOutputCore
                  + BufferKindUser<BufferKind = Eager>
                  + BlockSizeUser<BlockSize: IsLess<U256, Output: NonZero>>
                  + Default
                  + Clone,
    >
{
}

impl<D> EagerHash for D where
    D: Digest
        + CoreProxy<
            Core: HashMarker
                      + UpdateCore
                      + FixedOutputCore
                      + BufferKindUser<BufferKind = Eager>
                      + BlockSizeUser<BlockSize: IsLess<U256, Output: NonZero>>
                      + Default
                      + Clone,
        >
{
}
