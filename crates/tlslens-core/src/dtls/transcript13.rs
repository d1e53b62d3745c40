//! DTLS 1.3's transcript (RFC 9147 §5.2): the handshake messages hashed in their TLS 1.3
//! form (type, 24-bit length, body: no message_seq or fragment fields), a HelloRetryRequest
//! folding the first ClientHello into a message_hash (RFC 8446 §4.4.1). Its hash before a
//! CertificateVerify is what that signs; before a Finished, what the Finished MACs, with a
//! finished_key expanded with DTLS 1.3's own "dtls13" label prefix (RFC 9147 §5.9), which
//! is why the TLS 1.3 check does not fit it.

use super::handshake::SERVER_HELLO;
use super::transcript12::Added;
use super::{DtlsEvent, Secrets};
use crate::keys::hkdf::{expand_label_prefixed, DTLS13};
use crate::keys::HashAlg;

pub const CERTIFICATE_VERIFY: u8 = 15;
pub const FINISHED: u8 = 20;
const MESSAGE_HASH: u8 = 254;
/// RFC 8446 §4.1.3: the random of a ServerHello that is a HelloRetryRequest.
const HRR_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];
/// The most handshake bytes kept: past it the transcript is given up (nothing is checked),
/// as a handshake of that size is no real one.
pub const MAX_TRANSCRIPT: usize = 1 << 21;

/// One association's handshake messages in TLS form, in the order they completed.
#[derive(Default)]
pub struct Transcript {
    messages: Vec<u8>,
    /// Too long, or the handshake is over (the client's Finished): nothing more is kept.
    closed: bool,
}

impl Transcript {
    /// A whole message, in the order the association completed them, with its frame and
    /// whether the client sent it; `alg` the suite's hash once a ServerHello (or
    /// HelloRetryRequest) named it; `secrets` the connection's, from the key log. Returns the
    /// [`DtlsEvent::Transcript`] of a CertificateVerify or a Finished when the hash is known,
    /// [`Added::GivenUp`] (with it) when this message took the transcript past its bound:
    /// what comes after is not checked, and the caller says so.
    pub fn add(
        &mut self,
        (frame, from_client): (u64, bool),
        tls: &[u8],
        alg: Option<HashAlg>,
        secrets: Option<&Secrets>,
    ) -> Added {
        let retry = !from_client
            && tls.first() == Some(&SERVER_HELLO)
            && tls.get(6..38) == Some(&HRR_RANDOM[..]);
        let secret = secrets.and_then(|s| match from_client {
            true => s.client_handshake.as_deref(),
            false => s.server_handshake.as_deref(),
        });
        if self.closed {
            return Added::Kept(None);
        }
        let msg_type = tls.first().copied();
        let check = match (msg_type, alg) {
            (Some(msg_type @ (CERTIFICATE_VERIFY | FINISHED)), Some(alg)) => {
                let hash = alg.digest(&[&self.messages]);
                let finished = match (msg_type, secret) {
                    (FINISHED, Some(secret)) => {
                        let verify_data = tls.get(4..).unwrap_or_default();
                        Some(finished_matches(alg, secret, &hash, verify_data))
                    }
                    _ => None,
                };
                Some(DtlsEvent::Transcript {
                    frame,
                    from_client,
                    msg_type,
                    signed: hash,
                    finished,
                })
            }
            _ => None,
        };
        if retry {
            match alg {
                Some(alg) => self.fold_first_hello(alg),
                None => self.closed = true, // the hash to fold with is unknown
            }
        }
        // The client's Finished is the handshake's last message (what follows, tickets and
        // key updates, is not hashed).
        if from_client && msg_type == Some(FINISHED) {
            self.closed = true;
        } else if self.messages.len().saturating_add(tls.len()) > MAX_TRANSCRIPT {
            self.closed = true;
            self.messages = Vec::new();
            return Added::GivenUp(check);
        } else {
            self.messages.extend_from_slice(tls);
        }
        Added::Kept(check)
    }

    /// RFC 8446 §4.4.1: the ClientHello before a HelloRetryRequest becomes
    /// message_hash(Hash(ClientHello1)).
    fn fold_first_hello(&mut self, alg: HashAlg) {
        let hash = alg.digest(&[&self.messages]);
        let mut folded = vec![MESSAGE_HASH, 0, 0];
        folded.push(u8::try_from(hash.len()).unwrap_or(u8::MAX));
        folded.extend_from_slice(&hash);
        self.messages = folded;
    }
}

/// RFC 8446 §4.4.4 with RFC 9147 §5.9's prefix: whether `verify_data` is
/// HMAC(HKDF-Expand-Label(secret, "finished", "", Hash.length), transcript hash), compared
/// in constant time.
pub fn finished_matches(alg: HashAlg, secret: &[u8], hash: &[u8], verify_data: &[u8]) -> bool {
    match expand_label_prefixed(alg, DTLS13, secret, b"finished", b"", alg.output_len()) {
        Ok(key) => alg.hmac_verify(&key, &[hash], verify_data),
        Err(_) => false,
    }
}
