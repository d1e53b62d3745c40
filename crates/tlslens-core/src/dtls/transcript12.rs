//! DTLS 1.0/1.2's handshake hash (RFC 6347 §4.2.6): every handshake message as if it had
//! come in one fragment, its 12-byte header included (its message_seq, a fragment offset of
//! 0 and a fragment length of the whole), from the ClientHello that answers the cookie
//! exchange on: the first ClientHello and the HelloVerifyRequest are left out (RFC 6347
//! §4.2.1), and so is a HelloRequest (RFC 5246 §7.4.1.1); a later ClientHello (a
//! renegotiation) begins the messages anew. A Finished
//! is checked against the messages before it with the key log's master secret, by the TLS
//! PRF of the version DTLS is based on; a client CertificateVerify signs those messages
//! themselves, which are told before it for the caller's signature check.

use super::handshake::{CLIENT_HELLO, HELLO_VERIFY_REQUEST};
use super::transcript13::{CERTIFICATE_VERIFY, FINISHED};
use super::DtlsEvent;
use crate::handshake::HELLO_REQUEST;
use crate::keys::{prf, HashAlg};

/// The most handshake bytes kept: past it the messages are given up (nothing is checked)
/// until the next ClientHello, as a handshake of that size is no real one.
pub const MAX_TRANSCRIPT: usize = 1 << 21;

/// What a Finished is checked with: the version DTLS is based on (its PRF), the suite's PRF
/// hash and the key log's master secret.
pub struct FinishedKey<'a> {
    pub tls_version: u16,
    pub prf_hash: HashAlg,
    pub master: &'a [u8],
}

/// One association's handshake messages in their DTLS form, since the ClientHello that
/// began the handshake; None before one (or after a HelloVerifyRequest, or given up).
#[derive(Default)]
pub struct Transcript12 {
    messages: Option<Vec<u8>>,
}

impl Transcript12 {
    /// A whole message in TLS form (type, 24-bit length, body) and its message_seq, in the
    /// order the association completed them. Returns the [`DtlsEvent::Transcript`] of a
    /// CertificateVerify (its `signed`: the messages it signs) or of a Finished (its check,
    /// None without `key`), told before that message; [`Added::GivenUp`] when this message
    /// took the messages past their bound (the handshake's Finished are not checked).
    pub fn add(
        &mut self,
        (frame, from_client): (u64, bool),
        message_seq: u16,
        tls: &[u8],
        key: Option<FinishedKey<'_>>,
    ) -> Added {
        (self.told((frame, from_client), message_seq, tls, key)).unwrap_or(Added::Kept(None))
    }

    fn told(
        &mut self,
        (frame, from_client): (u64, bool),
        message_seq: u16,
        tls: &[u8],
        key: Option<FinishedKey<'_>>,
    ) -> Option<Added> {
        let (&msg_type, length) = tls.split_first().filter(|_| tls.len() >= 4)?;
        match msg_type {
            // RFC 5246 §7.4.1.1: a HelloRequest is in no handshake's hash (and may come, or
            // come again, while the handshake it asks for runs).
            HELLO_REQUEST if !from_client => return None,
            CLIENT_HELLO if from_client => self.messages = Some(Vec::new()),
            HELLO_VERIFY_REQUEST if !from_client => self.messages = None,
            _ => {}
        }
        let messages = self.messages.as_mut()?;
        let told = match msg_type {
            CERTIFICATE_VERIFY | FINISHED => Some(DtlsEvent::Transcript {
                frame,
                from_client,
                msg_type,
                signed: if msg_type == CERTIFICATE_VERIFY {
                    messages.clone()
                } else {
                    Vec::new()
                },
                finished: (msg_type == FINISHED)
                    .then_some(key)
                    .flatten()
                    .map(|key| finished_matches(&key, from_client, messages, &tls[4..])),
            }),
            _ => None,
        };
        let length = &length[..3];
        if messages.len().saturating_add(tls.len() + 8) > MAX_TRANSCRIPT {
            self.messages = None;
            return Some(Added::GivenUp(told));
        } else {
            messages.push(msg_type);
            messages.extend_from_slice(length);
            messages.extend_from_slice(&message_seq.to_be_bytes());
            messages.extend_from_slice(&[0, 0, 0]);
            messages.extend_from_slice(length);
            messages.extend_from_slice(&tls[4..]);
        }
        Some(Added::Kept(told))
    }
}

/// What one message did to the transcript: kept (with what it told), or the one that took
/// it past its bound (what it told before it went).
#[derive(Debug, PartialEq)]
pub enum Added {
    Kept(Option<DtlsEvent>),
    GivenUp(Option<DtlsEvent>),
}

/// RFC 5246 §7.4.9 over the DTLS-form messages (RFC 6347 §4.2.6).
fn finished_matches(
    key: &FinishedKey<'_>,
    from_client: bool,
    messages: &[u8],
    verify: &[u8],
) -> bool {
    let label: &[u8] = if from_client {
        b"client finished"
    } else {
        b"server finished"
    };
    prf::finished_matches(
        key.tls_version,
        key.prf_hash,
        key.master,
        label,
        messages,
        verify,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(msg_type: u8, body: &[u8]) -> Vec<u8> {
        let length = u32::try_from(body.len()).unwrap().to_be_bytes();
        [&[msg_type][..], &length[1..], body].concat()
    }

    /// The cookie exchange is left out, each message is hashed in its DTLS form with its
    /// message_seq, and a client CertificateVerify is told what it signs: the messages
    /// before it (RFC 6347 §4.2.6).
    #[test]
    fn a_certificate_verify_signs_the_dtls_form_messages_after_the_cookie() {
        let mut transcript = Transcript12::default();
        let hello = message(CLIENT_HELLO, b"hello");
        assert_eq!(
            transcript.add((1, true), 0, &hello, None),
            Added::Kept(None)
        );
        let verify_request = message(HELLO_VERIFY_REQUEST, b"cookie");
        assert_eq!(
            transcript.add((2, false), 0, &verify_request, None),
            Added::Kept(None)
        );
        assert_eq!(
            transcript.add((3, true), 1, &hello, None),
            Added::Kept(None)
        );
        let server_hello = message(2, b"server");
        assert_eq!(
            transcript.add((4, false), 1, &server_hello, None),
            Added::Kept(None)
        );
        let signs = transcript.add((5, true), 2, &message(CERTIFICATE_VERIFY, b"sig"), None);
        let dtls_form = |seq: u8, tls: &[u8]| {
            let length = &tls[1..4];
            [&tls[..4], &[0, seq, 0, 0, 0], length, &tls[4..]].concat()
        };
        let expected = [dtls_form(1, &hello), dtls_form(1, &server_hello)].concat();
        assert_eq!(
            signs,
            Added::Kept(Some(DtlsEvent::Transcript {
                frame: 5,
                from_client: true,
                msg_type: CERTIFICATE_VERIFY,
                signed: expected,
                finished: None,
            }))
        );
        // A Finished without the key log's secret is told unchecked.
        let finished = transcript.add((6, true), 3, &message(FINISHED, &[0; 12]), None);
        assert!(matches!(
            finished,
            Added::Kept(Some(DtlsEvent::Transcript {
                msg_type: FINISHED,
                finished: None,
                ..
            }))
        ));
        // Past the bound the messages are given up (told once), until the next ClientHello.
        let big = message(2, &vec![0; MAX_TRANSCRIPT]);
        assert_eq!(
            transcript.add((7, false), 4, &big, None),
            Added::GivenUp(None)
        );
        let finished = transcript.add((8, false), 5, &message(FINISHED, &[0; 12]), None);
        assert_eq!(finished, Added::Kept(None));
    }

    /// A HelloRequest is in no handshake's hash (RFC 5246 §7.4.1.1), even one sent again
    /// after the ClientHello it asked for: the CertificateVerify signs the hellos only.
    #[test]
    fn a_hello_request_is_left_out_of_the_transcript() {
        let mut transcript = Transcript12::default();
        let hello_request = message(HELLO_REQUEST, b"");
        let hello = message(CLIENT_HELLO, b"hello");
        let server_hello = message(2, b"server");
        transcript.add((1, false), 0, &hello_request, None);
        transcript.add((2, true), 0, &hello, None);
        transcript.add((3, false), 0, &hello_request, None);
        transcript.add((4, false), 1, &server_hello, None);
        let signs = transcript.add((5, true), 1, &message(CERTIFICATE_VERIFY, b"sig"), None);
        let expected = [
            &hello[..4],
            &[0, 0, 0, 0, 0],
            &hello[1..],
            &server_hello[..4],
            &[0, 1, 0, 0, 0],
            &server_hello[1..],
        ]
        .concat();
        assert!(matches!(
            signs,
            Added::Kept(Some(DtlsEvent::Transcript { signed, .. })) if signed == expected
        ));
    }
}
