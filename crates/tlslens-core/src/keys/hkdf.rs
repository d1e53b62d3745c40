//! The TLS 1.3 key schedule (RFC 8446 §7): HKDF-Extract and HKDF-Expand from the `hkdf`
//! crate, the "tls13 " labels here.

use digest::Digest;
use hkdf::Hkdf;

use super::{with_hash, EagerHash, HashAlg};

/// Why a TLS 1.3 derivation cannot be made from what it was given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HkdfError {
    /// RFC 5869 §2.3: the pseudorandom key must be at least the hash's length.
    ShortSecret { got: usize, need: usize },
    /// RFC 5869 §2.3: at most 255 blocks of output.
    TooLong(usize),
    /// A label or context longer than its one-byte length prefix.
    LongLabel,
}

impl std::fmt::Display for HkdfError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::ShortSecret { got, need } => write!(
                f,
                "a secret of {got} bytes, shorter than the suite's hash ({need}): it is not this \
                 connection's"
            ),
            Self::TooLong(n) => write!(f, "{n} bytes is more than HKDF-Expand can make"),
            Self::LongLabel => f.write_str("an HKDF label or context longer than 255 bytes"),
        }
    }
}

/// HKDF-Extract(salt, IKM); an empty salt is the hash's length of zeros (RFC 5869 §2.2).
pub fn extract(alg: HashAlg, salt: &[u8], ikm: &[u8]) -> Vec<u8> {
    with_hash!(alg, D => {
        let salt = (!salt.is_empty()).then_some(salt);
        Hkdf::<D>::extract(salt, ikm).0.to_vec()
    })
}

/// The crate's eager `Hkdf` (its HMAC keyed once for both pads; see `keys::keyed`).
fn expand_with<D: EagerHash>(
    prk: &[u8],
    info: &[&[u8]],
    length: usize,
) -> Result<Vec<u8>, HkdfError> {
    let need = <D as Digest>::output_size();
    let hkdf = Hkdf::<D>::from_prk(prk).map_err(|_| HkdfError::ShortSecret {
        got: prk.len(),
        need,
    })?;
    let mut out = vec![0; length];
    hkdf.expand_multi_info(info, &mut out)
        .map_err(|_| HkdfError::TooLong(length))?;
    Ok(out)
}

/// The label prefix of TLS 1.3 (and QUIC): RFC 8446 §7.1.
pub const TLS13: &[u8] = b"tls13 ";
/// DTLS 1.3's prefix, without a space: RFC 9147 §5.9.
pub const DTLS13: &[u8] = b"dtls13";

/// RFC 8446 §7.1: HKDF-Expand(secret, HkdfLabel, length) with the "tls13 " prefix.
pub fn expand_label(
    alg: HashAlg,
    secret: &[u8],
    label: &[u8],
    context: &[u8],
    length: usize,
) -> Result<Vec<u8>, HkdfError> {
    expand_label_prefixed(alg, TLS13, secret, label, context, length)
}

/// HKDF-Expand-Label with the protocol's label `prefix` ([`TLS13`] or [`DTLS13`]).
pub fn expand_label_prefixed(
    alg: HashAlg,
    prefix: &[u8],
    secret: &[u8],
    label: &[u8],
    context: &[u8],
    length: usize,
) -> Result<Vec<u8>, HkdfError> {
    let out_len = u16::try_from(length).map_err(|_| HkdfError::TooLong(length))?;
    let label_len =
        u8::try_from(label.len().saturating_add(prefix.len())).map_err(|_| HkdfError::LongLabel)?;
    let context_len = u8::try_from(context.len()).map_err(|_| HkdfError::LongLabel)?;
    let info: [&[u8]; 6] = [
        &out_len.to_be_bytes(),
        &[label_len],
        prefix,
        label,
        &[context_len],
        context,
    ];
    with_hash!(alg, D => expand_with::<D>(secret, &info, length))
}

/// Derive-Secret(secret, label, messages): the label expanded over the messages' hash.
pub fn derive_secret(
    alg: HashAlg,
    secret: &[u8],
    label: &[u8],
    messages: &[u8],
) -> Result<Vec<u8>, HkdfError> {
    let hash = alg.digest(&[messages]);
    expand_label(alg, secret, label, &hash, alg.output_len())
}

/// RFC 8446 §7.3: [sender]_write_key and [sender]_write_iv from a traffic secret.
pub fn traffic_keys(
    alg: HashAlg,
    secret: &[u8],
    key_len: usize,
    iv_len: usize,
) -> Result<(Vec<u8>, Vec<u8>), HkdfError> {
    Ok((
        expand_label(alg, secret, b"key", b"", key_len)?,
        expand_label(alg, secret, b"iv", b"", iv_len)?,
    ))
}

/// RFC 8446 §7.2: the traffic secret after a KeyUpdate.
pub fn next_traffic_secret(alg: HashAlg, secret: &[u8]) -> Result<Vec<u8>, HkdfError> {
    expand_label(alg, secret, b"traffic upd", b"", alg.output_len())
}

/// RFC 8446 §4.4.4: HMAC(finished_key, transcript hash).
pub fn finished_verify_data(
    alg: HashAlg,
    base_key: &[u8],
    transcript_hash: &[u8],
) -> Result<Vec<u8>, HkdfError> {
    let finished_key = expand_label(alg, base_key, b"finished", b"", alg.output_len())?;
    Ok(alg.hmac(&finished_key, &[transcript_hash]))
}

/// Whether a TLS 1.3 Finished's `verify_data` is the HMAC of the transcript hash under the
/// finished key, checked by the `hmac` crate in constant time.
pub fn finished_matches(
    alg: HashAlg,
    base_key: &[u8],
    transcript_hash: &[u8],
    verify_data: &[u8],
) -> Result<bool, HkdfError> {
    let finished_key = expand_label(alg, base_key, b"finished", b"", alg.output_len())?;
    Ok(alg.hmac_verify(&finished_key, &[transcript_hash], verify_data))
}
