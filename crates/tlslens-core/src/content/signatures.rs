//! A handshake signature checked where the content layer reads it: a ServerKeyExchange's or
//! a CertificateVerify's, with the leaf certificate its side sent last.
//!
//! Strategy: the caller (Python's `cryptography`) checks every signature the model shows,
//! on the main thread, one public-key operation a connection (20 to 90 us: a capture of
//! distinct handshakes pays it for each). Here, in the flow walk, the signature is checked
//! first with rustls' reading of the leaf's key and ring's verification, and only one that
//! verifies is told (`Verified`: what the caller's verdict cache keys it by, digests of the
//! leaf, the signature and the signed bytes, and the scheme). The caller takes it as its
//! answer only when its own key for that check is the same; whatever does not verify here
//! (a scheme or key size ring does not take, a stricter encoding, another leaf, bytes the
//! caller builds otherwise) is left to the caller, so a verdict is never one this check
//! alone gave. The signed bytes are built as the caller builds them: a ServerKeyExchange
//! signs the hellos' randoms and its parameters (RFC 5246 §7.4.3), a TLS 1.3
//! CertificateVerify the context string and the transcript hash (RFC 8446 §4.4.3), a TLS
//! 1.2 one the handshake messages before it. A side's leaf is kept only until its signature
//! (or, for a server that signs nothing, its ServerHelloDone): open connections hold none.

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};

use rustls_pki_types::{CertificateDer, SignatureVerificationAlgorithm};
use sha2::{Digest, Sha256};
use webpki::ring as algs;
use webpki::EndEntityCert;

use crate::handshake::key_exchange::ServerKeyExchange;
use crate::handshake::messages::Message;
use crate::handshake::{Context, SERVER_HELLO_DONE};

/// A signature that verified here, by what the caller's verdict cache keys it with.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Verified {
    /// The SHA-256 of the leaf certificate's DER.
    pub leaf_sha256: [u8; 32],
    pub scheme: u16,
    pub signature_sha256: [u8; 32],
    /// The SHA-256 of the bytes signed.
    pub data_sha256: [u8; 32],
}

/// What a connection's signatures are checked with: each side's last leaf (until its
/// signature), the last ClientHello's random and the ServerHello's that answered it.
#[derive(Debug, Default)]
pub(super) struct Signing {
    leaf: [Option<Vec<u8>>; 2],
    client_random: Option<[u8; 32]>,
    server_random: Option<[u8; 32]>,
}

const TLS13_SERVER_CONTEXT: &[u8] = b"TLS 1.3, server CertificateVerify";
const TLS13_CLIENT_CONTEXT: &[u8] = b"TLS 1.3, client CertificateVerify";

impl Signing {
    /// What it holds, boxed (`Content::held`): the leaves kept.
    pub(super) fn held(&self) -> usize {
        let leaves = self.leaf.iter().flatten().map(crate::held::buffer);
        crate::held::boxed::<Signing>() + leaves.sum::<usize>()
    }

    /// `message` from `side` (the client's when `is_client`), its body `body`, read in
    /// `context`; `signed`: a CertificateVerify's signed input (`MessageRead::signed`).
    /// Some when it is a signature that verifies with its side's leaf.
    pub(super) fn step(
        &mut self,
        side: u8,
        is_client: bool,
        message: &Message<'_>,
        body: &[u8],
        (context, signed): (&Context, Option<&[u8]>),
    ) -> Option<Box<Verified>> {
        let at = usize::from(side & 1);
        match message {
            Message::ClientHello(hello) => {
                self.client_random = Some(hello.random);
                self.server_random = None;
            }
            Message::ServerHello(hello) if !hello.is_hello_retry_request() => {
                self.server_random = Some(hello.random);
            }
            Message::Certificate(certificate) => {
                self.leaf[at] = certificate
                    .certificate_list
                    .first()
                    .map(|entry| entry.cert_data.to_vec());
            }
            Message::Opaque { msg_type, .. } if *msg_type == SERVER_HELLO_DONE => {
                self.leaf[at] = None;
            }
            Message::ServerKeyExchange(kx) => {
                let leaf = self.leaf[at].take()?;
                let data = self.key_exchange_signed(kx, body)?;
                return verified(&leaf, kx.signature_scheme?, kx.signature?, &data);
            }
            Message::CertificateVerify(verify) => {
                let leaf = self.leaf[at].take()?;
                let data = verify_signed(is_client, context, signed?);
                return verified(&leaf, verify.signature_scheme?, verify.signature, &data);
            }
            _ => {}
        }
        None
    }

    /// The randoms of the hellos, then the parameters before the signature.
    fn key_exchange_signed(&self, kx: &ServerKeyExchange<'_>, body: &[u8]) -> Option<Vec<u8>> {
        let (client, server) = (self.client_random?, self.server_random?);
        let signature = kx.signature?;
        let block = 2 + usize::from(kx.signature_scheme.is_some()) * 2 + signature.len();
        let params = body.get(..body.len().checked_sub(block)?)?;
        Some([&client[..], &server[..], params].concat())
    }
}

/// What a CertificateVerify signs: TLS 1.3's context string and transcript hash, before it
/// the handshake messages (`signed`, either way).
fn verify_signed(is_client: bool, context: &Context, signed: &[u8]) -> Vec<u8> {
    if !context.tls13() {
        return signed.to_vec();
    }
    let words = if is_client {
        TLS13_CLIENT_CONTEXT
    } else {
        TLS13_SERVER_CONTEXT
    };
    [&[b' '; 64][..], words, &[0], signed].concat()
}

/// The algorithms a TLS SignatureScheme (or TLS 1.2 SignatureAndHashAlgorithm) may name
/// with the keys ring verifies: ECDSA's hash does not fix its curve before TLS 1.3.
fn algorithms(scheme: u16) -> Vec<&'static dyn SignatureVerificationAlgorithm> {
    match scheme {
        0x0401 => vec![algs::RSA_PKCS1_2048_8192_SHA256],
        0x0501 => vec![algs::RSA_PKCS1_2048_8192_SHA384],
        0x0601 => vec![algs::RSA_PKCS1_2048_8192_SHA512],
        0x0804 => vec![algs::RSA_PSS_2048_8192_SHA256_LEGACY_KEY],
        0x0805 => vec![algs::RSA_PSS_2048_8192_SHA384_LEGACY_KEY],
        0x0806 => vec![algs::RSA_PSS_2048_8192_SHA512_LEGACY_KEY],
        0x0403 => vec![algs::ECDSA_P256_SHA256, algs::ECDSA_P384_SHA256],
        0x0503 => vec![algs::ECDSA_P384_SHA384, algs::ECDSA_P256_SHA384],
        0x0807 => vec![algs::ED25519],
        _ => Vec::new(),
    }
}

/// Signatures that verified, by their `Verified` (the same check is not made twice: a
/// capture that holds a connection many times, a replay, a load test's copies); bounded,
/// emptied when full, as the caller's verdict cache is.
static VERIFIED: Mutex<Option<HashSet<Verified>>> = Mutex::new(None);
const MAX_VERIFIED: usize = 4096;

/// Some when `signature` over `data` verifies with `leaf`'s key under `scheme`.
fn verified(leaf: &[u8], scheme: u16, signature: &[u8], data: &[u8]) -> Option<Box<Verified>> {
    let candidates = algorithms(scheme);
    if candidates.is_empty() {
        return None;
    }
    let check = Verified {
        leaf_sha256: Sha256::digest(leaf).into(),
        scheme,
        signature_sha256: Sha256::digest(signature).into(),
        data_sha256: Sha256::digest(data).into(),
    };
    let known = |cache: &mut Option<HashSet<Verified>>| {
        cache.as_ref().is_some_and(|set| set.contains(&check))
    };
    if known(&mut VERIFIED.lock().unwrap_or_else(PoisonError::into_inner)) {
        return Some(Box::new(check));
    }
    let der = CertificateDer::from(leaf);
    let cert = EndEntityCert::try_from(&der).ok()?;
    if !candidates
        .iter()
        .any(|alg| cert.verify_signature(*alg, data, signature).is_ok())
    {
        return None;
    }
    let mut cache = VERIFIED.lock().unwrap_or_else(PoisonError::into_inner);
    let set = cache.get_or_insert_with(HashSet::new);
    if set.len() >= MAX_VERIFIED {
        set.clear();
    }
    set.insert(check.clone());
    Some(Box::new(check))
}

#[cfg(test)]
mod tests {
    use super::{algorithms, Signing};
    use crate::handshake::key_exchange::ServerKeyExchange;
    use crate::handshake::messages::{Certificate, CertificateEntry, Message};
    use crate::handshake::{Context, SERVER_HELLO_DONE};

    /// A self-signed Ed25519 certificate (openssl, CN=signatures.test) and its key's
    /// signature over 32 bytes of 1, 32 bytes of 2 and "params".
    const LEAF: [&str; 9] = [
        "3082016530820117a00302010202146ac0089616d3e29ce531081fbcc9024e58d1cc78300506032b6570301a",
        "3118301606035504030c0f7369676e6174757265732e74657374301e170d3236313230373031323332315a17",
        "0d3336313230343031323332315a301a3118301606035504030c0f7369676e6174757265732e74657374302a",
        "300506032b6570032100f27d2171b21c7d601519d8908511552368ef9bf020ed41fc142071602b05acffa36f",
        "306d301d0603551d0e04160414a682590a6b523a4dfd2ca03a237f03d1a0ac8795301f0603551d2304183016",
        "8014a682590a6b523a4dfd2ca03a237f03d1a0ac8795300f0603551d130101ff040530030101ff301a060355",
        "1d1104133011820f7369676e6174757265732e74657374300506032b657003410041d47120fd10517d62e6cc",
        "885507f9cd3ebb1b9ddc93076ffd77c084541cab1a9c299bdc246a3b9260327f8a5f31e780201f2119ae69fb",
        "efbaf5a91225f3940e",
    ];
    const SIGNATURE: [&str; 2] = [
        "88795fb9cb508b8c0d35cf2b9994a15c8eb7164cd1895c0f9760547514776527a31eac13c279a927fc679365",
        "9f71a7ddd6be3ab49475982407b54b9c5275120a",
    ];

    fn bytes(lines: &[&str]) -> Vec<u8> {
        let hex: String = lines.concat();
        (0..hex.len())
            .step_by(2)
            .filter_map(|at| u8::from_str_radix(hex.get(at..at + 2)?, 16).ok())
            .collect()
    }

    /// A server's Certificate (side 1) holding `leaf`.
    fn certificate(leaf: &[u8]) -> Message<'_> {
        Message::Certificate(Certificate {
            certificate_request_context: None,
            certificate_list: vec![CertificateEntry {
                cert_data: leaf,
                extensions: Vec::new(),
            }],
        })
    }

    /// A ServerKeyExchange signed under ed25519 (its body: "params", the scheme, the
    /// signature's length and the signature).
    fn key_exchange(signature: &[u8]) -> (Message<'_>, Vec<u8>) {
        let mut body = b"params".to_vec();
        body.extend([0x08, 0x07, 0x00, 0x40]);
        body.extend_from_slice(signature);
        let kx = ServerKeyExchange {
            kx: None,
            params: Vec::new(),
            signature_scheme: Some(0x0807),
            signature: Some(signature),
        };
        (Message::ServerKeyExchange(kx), body)
    }

    fn hellos() -> Signing {
        Signing {
            client_random: Some([1; 32]),
            server_random: Some([2; 32]),
            ..Signing::default()
        }
    }

    #[test]
    fn a_key_exchange_signature_that_verifies_is_told_with_what_it_was_checked_by() {
        let (leaf, signature) = (bytes(&LEAF), bytes(&SIGNATURE));
        let context = Context::default();
        let mut signing = hellos();
        assert!(signing
            .step(1, false, &certificate(&leaf), &[], (&context, None))
            .is_none());
        let (kx, body) = key_exchange(&signature);
        let told = signing.step(1, false, &kx, &body, (&context, None));
        let told = told.as_deref().map(|v| (v.scheme, v.leaf_sha256.len()));
        assert_eq!(told, Some((0x0807, 32)));
        // The leaf went with its signature: a second one is not checked.
        assert!(signing
            .step(1, false, &kx, &body, (&context, None))
            .is_none());
    }

    #[test]
    fn a_signature_that_does_not_verify_here_is_not_told() {
        let (leaf, mut signature) = (bytes(&LEAF), bytes(&SIGNATURE));
        let context = Context::default();
        // One bit of the signature changed; then the hellos' randoms of another handshake.
        if let Some(byte) = signature.first_mut() {
            *byte ^= 1;
        }
        let mut signing = hellos();
        signing.step(1, false, &certificate(&leaf), &[], (&context, None));
        let (kx, body) = key_exchange(&signature);
        assert!(signing
            .step(1, false, &kx, &body, (&context, None))
            .is_none());
        let good = bytes(&SIGNATURE);
        let mut other = Signing {
            client_random: Some([3; 32]),
            ..hellos()
        };
        other.step(1, false, &certificate(&leaf), &[], (&context, None));
        let (kx, body) = key_exchange(&good);
        assert!(other.step(1, false, &kx, &body, (&context, None)).is_none());
        // A leaf that is no certificate, and a server that signs nothing (its leaf goes at
        // its ServerHelloDone).
        let mut garbage = hellos();
        garbage.step(
            1,
            false,
            &certificate(b"not a certificate"),
            &[],
            (&context, None),
        );
        assert!(garbage
            .step(1, false, &kx, &body, (&context, None))
            .is_none());
        let mut unsigned = hellos();
        unsigned.step(1, false, &certificate(&leaf), &[], (&context, None));
        let done = Message::Opaque {
            msg_type: SERVER_HELLO_DONE,
            body: &[],
        };
        unsigned.step(1, false, &done, &[], (&context, None));
        assert!(unsigned.leaf.iter().all(Option::is_none));
    }

    #[test]
    fn only_the_schemes_ring_checks_are_checked_here() {
        for scheme in [
            0x0401, 0x0501, 0x0601, 0x0804, 0x0805, 0x0806, 0x0403, 0x0503, 0x0807,
        ] {
            assert!(!algorithms(scheme).is_empty(), "{scheme:#06x}");
        }
        // P-521, Ed448, RSA-PSS keys, SHA-1 and DSA are the caller's alone.
        for scheme in [
            0x0603, 0x0808, 0x0809, 0x080a, 0x080b, 0x0201, 0x0203, 0x0402, 0x0000,
        ] {
            assert!(algorithms(scheme).is_empty(), "{scheme:#06x}");
        }
    }
}
