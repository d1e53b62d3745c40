//! Bytes of a side lost in a gap of the capture where records were being read: a message
//! being gathered is dropped, the handshake transcripts lack what the gap held, and the
//! decryptor is told of the hole with the side's next record, with the bytes between the
//! last record read and that one (they bound how many records the hole took, whose sequence
//! numbers it then tries: decrypt/resync.rs).

use super::{Content, Io};
use crate::decrypt::{Hole, Lack};
use crate::flows::tcp::GiveUp;

impl Content {
    /// Bytes of `side` were lost (records, not inside an application data body skipped),
    /// `length` at `offset`, the capture going on in `frame`: a message being reassembled is
    /// dropped, and the handshake transcripts lack what the gap held (the decryptor's, which
    /// its Finished checks need, and the one a client CertificateVerify signs).
    pub fn lost(
        &mut self,
        io: &mut Io<'_, '_>,
        (side, frame): (u8, u64),
        (offset, length): (u64, u64),
        given_up: Option<GiveUp>,
    ) {
        let st = self.side_mut(side);
        // Holes with no record between them are one to the records after them.
        st.hole = Some(match st.hole {
            Some(first) => Hole {
                length: offset.saturating_add(length).saturating_sub(first.offset),
                ..first
            },
            None => Hole {
                frame,
                offset,
                length,
                span: 0,
            },
        });
        let mut lack = Lack::Gap { given_up };
        if let Some((msg_type, _, _)) = st.defrag.incomplete() {
            let offset = st.defrag.pending_offset();
            st.defrag.clear();
            lack = Lack::Lost { msg_type, given_up };
            self.finding(
                Some(side),
                "handshake",
                Some(offset),
                "a handshake message lost bytes in the gap; it is dropped".to_owned(),
            );
        }
        self.transcript_lacks(io, side, lack);
    }

    /// A record of `side` at `offset` with a body of `length` bytes is read: the hole before
    /// it since the last record, if any, with the bytes between them.
    pub(super) fn hole_before(&mut self, side: u8, offset: u64, length: usize) -> Option<Hole> {
        let st = self.side_mut(side);
        let body = u64::try_from(length).unwrap_or(u64::MAX);
        let end = offset.saturating_add(5).saturating_add(body);
        let read_end = std::mem::replace(&mut st.read_end, end);
        let hole = st.hole.take()?;
        Some(Hole {
            span: offset.saturating_sub(read_end.min(hole.offset)),
            ..hole
        })
    }
}
