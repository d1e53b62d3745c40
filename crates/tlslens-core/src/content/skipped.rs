//! A handshake message longer than --max-message: skipped, told as a finding and as a step
//! of the timeline at its place (a reader of the ladder sees that a ClientHello was sent,
//! though not what it held), and missing from the handshake's transcripts.

use super::{Content, ContentEvent, Io};
use crate::decrypt::Lack;

impl Content {
    /// A message whose header claims (type, length) more than `limit`, skipped: told, and
    /// missing from the handshake's transcripts. `crypto`: in a QUIC CRYPTO stream.
    pub(super) fn oversized(
        &mut self,
        io: &mut Io<'_, '_>,
        side: u8,
        (msg_type, length, limit): (u8, u32, u32),
        offset: u64,
        crypto: bool,
    ) {
        // Where the reading resumes (defrag.rs), in the transport's words: QUIC has no
        // records, its CRYPTO data comes in frames.
        let resumes = if crypto {
            "as far as it claims in its CRYPTO stream or to the next CRYPTO data that is \
             whole messages"
        } else {
            "as far as it claims or to the next record of whole messages"
        };
        // Worded as the DTLS association's refusal and the decryptor's lack (the same
        // option, the same numbers).
        let message = format!(
            "handshake message {} claims {} bytes, past --max-message's limit of {} bytes; \
             skipped, {resumes}",
            crate::handshake::type_text(msg_type),
            crate::capture::thousands(u64::from(length)),
            crate::capture::thousands(u64::from(limit)),
        );
        self.finding(Some(side), "handshake", Some(offset), message);
        // A step names a message: a type tlslens knows. Bytes of another type claiming more
        // than the limit are most likely not a message at all (the rest of a damaged one
        // read as a header): their finding says what they claim.
        if crate::handshake::type_name(msg_type).is_some() {
            self.push(ContentEvent::Skipped {
                side,
                offset,
                msg_type,
                claimed: length,
                limit,
            });
        }
        let lack = Lack::Skipped {
            msg_type,
            length,
            limit,
        };
        self.transcript_lacks(io, side, lack);
    }
}
