//! The content layer's message-level entries, for transports that frame handshake messages
//! themselves: DTLS hands in whole messages (its association reassembled the 12-byte-header
//! fragments), QUIC the bytes of its CRYPTO streams, one per side and packet number space
//! (RFC 9001 §4.1.3). Both go through the same reading as TLS records over TCP
//! ([`Content::message`]): parse in the negotiated context, the decryptor's feed, the
//! transcript, the server's context, renegotiation, findings.

use super::{Content, Io};
use crate::handshake::defrag::Defragmenter;

/// QUIC's packet number spaces: each carries its own CRYPTO stream per side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Space {
    Initial,
    Handshake,
    Application,
}

impl Space {
    pub const ALL: [Space; 3] = [Space::Initial, Space::Handshake, Space::Application];

    pub fn name(self) -> &'static str {
        match self {
            Space::Initial => "initial",
            Space::Handshake => "handshake",
            Space::Application => "application",
        }
    }

    pub fn from_name(name: &str) -> Option<Space> {
        Space::ALL.into_iter().find(|space| space.name() == name)
    }
}

/// At most one CRYPTO stream per side and space.
const MAX_CRYPTO_STREAMS: usize = 2 * Space::ALL.len();

/// One CRYPTO stream being reassembled into messages.
#[derive(Debug)]
pub(super) struct CryptoStream {
    side: u8,
    space: Space,
    pub(super) defrag: Defragmenter,
}

/// What a caller that keeps the handshake hash itself (DTLS) knows a CertificateVerify
/// signs: the transcript hash before it (TLS 1.3 form, RFC 9147 §5.2) and the handshake
/// messages before it as its hash takes them (DTLS <= 1.2: with their 12-byte headers).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Signed {
    pub tls13: Option<Vec<u8>>,
    pub messages: Option<Vec<u8>>,
}

impl Content {
    /// One whole handshake message (`raw`, its 4-byte TLS header included) of `side` at
    /// `offset`; `signed`: what a CertificateVerify signs, when the caller keeps the
    /// transcript (else the content layer's own).
    pub fn whole_message(
        &mut self,
        io: &mut Io<'_, '_>,
        side: u8,
        raw: Vec<u8>,
        offset: u64,
        decrypted: bool,
        signed: Option<Signed>,
    ) {
        let Some(&msg_type) = raw.first() else {
            return;
        };
        self.given_signed = signed;
        self.message(io, side & 1, msg_type, raw, offset, decrypted);
        self.given_signed = None;
    }

    /// CRYPTO bytes of `side` in `space` at stream `offset`: each message they complete.
    pub fn crypto(
        &mut self,
        io: &mut Io<'_, '_>,
        side: u8,
        space: Space,
        data: &[u8],
        offset: u64,
        decrypted: bool,
    ) {
        let side = side & 1;
        let index = match self.stream_index(side, space) {
            Some(index) => index,
            None if self.streams.len() < MAX_CRYPTO_STREAMS => {
                self.streams.push(CryptoStream {
                    side,
                    space,
                    defrag: Defragmenter::with_known(self.max_message, self.known_types),
                });
                self.streams.len() - 1
            }
            None => return, // unreachable: one stream per side and space
        };
        self.defragmented(io, side, Some(index), data, offset, decrypted);
    }

    /// The stream of `side` in `space` begins again (a client's Initial after a Retry):
    /// what it held is dropped.
    pub fn crypto_restart(&mut self, side: u8, space: Space) {
        if let Some(index) = self.stream_index(side & 1, space) {
            self.streams.remove(index);
        }
    }

    /// The connection ended: each CRYPTO stream's message still incomplete is told.
    pub fn crypto_end(&mut self) {
        let incomplete: Vec<_> = self
            .streams
            .iter()
            .filter_map(|s| {
                let (msg_type, declared, present) = s.defrag.incomplete()?;
                let message = format!(
                    "handshake message type {msg_type} in the {} CRYPTO stream claims \
                     {declared} bytes, only {present} arrived",
                    s.space.name()
                );
                Some((s.side, s.defrag.pending_offset(), message))
            })
            .collect();
        for (side, offset, message) in incomplete {
            self.finding(Some(side), "handshake", Some(offset), message);
        }
    }

    fn stream_index(&self, side: u8, space: Space) -> Option<usize> {
        self.streams
            .iter()
            .position(|s| s.side == side && s.space == space)
    }
}
