//! TCP reassembly for one direction of a connection.
//!
//! Sequence numbers become a 64-bit byte offset within the direction through the signed
//! 32-bit distance from the next expected sequence number, which survives wrap-around.
//! In-order data (the common case) is handed on at once, borrowed from the frame; earlier
//! bytes (retransmissions, overlaps) are trimmed away; later bytes wait in a map keyed by
//! offset. A hole is given up on, and reported as a gap, when the waiting data exceeds its
//! bound or when the connection ends, so memory stays bounded however much is lost.
//!
//! Overlapping copies are compared where both are at hand: the last chunk handed on and
//! the data waiting beyond a hole. Bytes that differ are a conflict; the copy seen first
//! is the one kept.
//!
//! Every event is told with the frame it is read at ([`At`]), the frame a session gives the
//! records it completes. In-order bytes are read at the frame that carries them. Bytes that
//! waited beyond a hole keep the frame they came in: when the hole is filled they are read
//! at the filling frame (what tshark's out-of-order reassembly does), and when it is given
//! up (lost) at their own, as tshark reads segments after one not captured. The frame read
//! at never goes back within a direction: bytes are read no earlier than those before them.

use std::collections::BTreeMap;

/// Out-of-order bytes kept per direction before a hole is declared lost (`Limits.max_buffer`).
pub const MAX_PENDING_BYTES: usize = 4 << 20;
/// Out-of-order segments kept per direction before a hole is declared lost.
pub const MAX_PENDING_SEGMENTS: usize = 4096;
/// Holes given up at a bound that are remembered, to tell when their bytes come after all
/// (`StreamEvent::Late`): the first few of a direction (memory bounded by this, not by a
/// hostile capture's holes).
pub const MAX_GIVEN_UP_KEPT: usize = 8;
/// The room the last chunk's copy keeps for the next, at least, whatever its own size.
const LAST_ROOM: usize = 256;

/// A frame of the capture and its time: where bytes were read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct At {
    pub frame: u64,
    pub ts_ns: i128,
}

impl At {
    /// The later of the two, by frame: bytes that follow others in the stream are read no
    /// earlier than those.
    fn later(self, other: At) -> At {
        if other.frame > self.frame {
            other
        } else {
            self
        }
    }
}

/// Bytes waiting beyond a hole, and the frame that brought them (the last one, for bytes
/// a longer copy added).
#[derive(Debug)]
struct Pending {
    at: At,
    data: Vec<u8>,
}

/// What reassembly makes available, in stream order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamEvent<'a> {
    /// Bytes at `offset` within the direction.
    Data { offset: u64, data: &'a [u8] },
    /// `length` bytes at `offset` the capture lacks, or (`given_up`) had not brought yet
    /// when tlslens stopped waiting for them.
    Gap {
        offset: u64,
        length: u64,
        given_up: Option<GiveUp>,
    },
    /// A later copy of bytes at `offset` differs from the copy already taken, over `length`
    /// bytes from the first difference to the last.
    Conflict { offset: u64, length: u64 },
    /// Bytes of a hole given up at a bound (`length` at `offset`: of the gap told then, the
    /// part this frame holds) came after all, in this frame: the capture holds them,
    /// tlslens did not wait for them.
    Late {
        offset: u64,
        length: u64,
        given_up: GiveUp,
    },
}

/// Which of tlslens' bounds on the data waiting beyond a hole ended the wait: the hole is
/// then given up before the flow ends, and its bytes may still come later in the capture
/// (read then as retransmitted), unlike a hole left at the flow's end or cut by the snap
/// length, which the capture does not hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GiveUp {
    /// `Limits.max_buffer` bytes waited (`--max-buffer`).
    Bytes,
    /// `MAX_PENDING_SEGMENTS` segments waited.
    Segments,
}

impl GiveUp {
    /// Its name where it crosses to Python: "bytes" or "segments".
    pub fn name(self) -> &'static str {
        match self {
            GiveUp::Bytes => "bytes",
            GiveUp::Segments => "segments",
        }
    }

    /// The bound `name` names, if it names one.
    pub fn named(name: &str) -> Option<GiveUp> {
        [GiveUp::Bytes, GiveUp::Segments]
            .into_iter()
            .find(|bound| bound.name() == name)
    }

    /// Why tlslens stopped waiting, as a clause: "the out-of-order data after them filled
    /// --max-buffer".
    pub fn because(self) -> String {
        match self {
            GiveUp::Bytes => "the out-of-order data after them filled --max-buffer".to_owned(),
            GiveUp::Segments => format!(
                "{} out-of-order segments after them waited, tlslens' most",
                crate::capture::thousands(MAX_PENDING_SEGMENTS as u64)
            ),
        }
    }
}

/// Where two copies of a stretch of the stream disagree, if they do: (offset, length).
/// Offsets are signed because a retransmission may reach back before the stream's start.
fn differ(a: &[u8], a_at: i64, b: &[u8], b_at: i64) -> Option<(u64, u64)> {
    let lo = a_at.max(b_at);
    let hi = (a_at + a.len() as i64).min(b_at + b.len() as i64);
    if lo >= hi {
        return None;
    }
    let x = a.get((lo - a_at) as usize..(hi - a_at) as usize)?;
    let y = b.get((lo - b_at) as usize..(hi - b_at) as usize)?;
    let first = x.iter().zip(y).position(|(p, q)| p != q)?;
    let last = x.iter().zip(y).rposition(|(p, q)| p != q)?;
    Some(((lo as u64) + first as u64, (last - first + 1) as u64))
}

/// Reassembles one direction. `feed` hands the events it made available to `out`.
#[derive(Debug, Default)]
pub struct HalfStream {
    /// Out-of-order bytes kept before a hole is given up.
    max_pending: usize,
    next_seq: Option<u32>,
    /// The offset of `next_seq` within the direction.
    offset: u64,
    pending: BTreeMap<u64, Pending>,
    pending_bytes: usize,
    /// The frame the last bytes handed on were read at.
    read_at: At,
    pub retransmitted_bytes: u64,
    pub out_of_order_segments: u64,
    pub gap_bytes: u64,
    /// The last chunk handed on, at offset `last_at`: what a retransmission is compared with.
    last: Vec<u8>,
    last_at: u64,
    /// Holes given up at a bound, (offset, length, bound), until their bytes come (at most
    /// `MAX_GIVEN_UP_KEPT`).
    given_up: Vec<(u64, u64, GiveUp)>,
}

impl HalfStream {
    pub fn new(max_pending: usize) -> HalfStream {
        HalfStream {
            max_pending,
            ..HalfStream::default()
        }
    }

    /// The offset the next in-order byte will have.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Out-of-order bytes waiting now.
    pub fn pending_bytes(&self) -> usize {
        self.pending_bytes
    }

    /// What the direction holds (`Limits.max_held`): each waiting segment's copy and its
    /// map entry (with the frame that brought it), and the last chunk's copy.
    pub fn held(&self) -> usize {
        let entry = std::mem::size_of::<(u64, Pending)>();
        let waiting = self.pending.len() * (entry + 16);
        let given_up = self.given_up.capacity() * std::mem::size_of::<(u64, u64, GiveUp)>();
        self.pending_bytes + waiting + crate::held::buffer(&self.last) + given_up
    }

    pub fn syn(&mut self, seq: u32) {
        if self.next_seq.is_none() || self.offset == 0 {
            self.next_seq = Some(seq.wrapping_add(1));
        }
    }

    /// Hands on `data`, which came in at `at`: read there, or where the bytes before it were
    /// if that is later (bytes that waited for a hole to fill are read at the filling frame).
    fn hand_on(&mut self, data: &[u8], at: At, out: &mut impl FnMut(StreamEvent<'_>, At)) {
        self.read_at = at.later(self.read_at);
        out(
            StreamEvent::Data {
                offset: self.offset,
                data,
            },
            self.read_at,
        );
        if self.last.capacity() / 2 > data.len().max(LAST_ROOM) {
            // A short chunk after long ones is kept at its size: a flow left open holds it
            // (a browser's ClientHello ends with a short segment: the full one's room was
            // 1.4 KB more for each of tens of thousands of open flows). Bursts of long and
            // short chunks pay a free and an allocation a short one (~40 ns: review).
            self.last = data.to_vec();
        } else {
            self.last.clear();
            self.last.extend_from_slice(data);
        }
        self.last_at = self.offset;
        self.offset += data.len() as u64;
        self.next_seq = Some(self.next_seq.unwrap_or(0).wrapping_add(data.len() as u32));
    }

    /// A segment's `payload` at `seq`, carried by the frame `at`.
    pub fn feed(
        &mut self,
        seq: u32,
        payload: &[u8],
        at: At,
        out: &mut impl FnMut(StreamEvent<'_>, At),
    ) {
        // Picked up mid-stream: start where data is first seen.
        let next_seq = *self.next_seq.get_or_insert(seq);
        let delta = i64::from(seq.wrapping_sub(next_seq) as i32);
        if delta == 0 {
            self.hand_on(payload, at, out);
            self.drain(out);
            return;
        }
        let n = payload.len() as i64;
        if delta < 0 {
            if let Some((offset, length)) = differ(
                &self.last,
                self.last_at as i64,
                payload,
                self.offset as i64 + delta,
            ) {
                out(StreamEvent::Conflict { offset, length }, at);
            }
            // (A copy reaching back before the direction's start begins at 0, and ends
            // where its bytes do.)
            let start = self.offset.saturating_sub(delta.unsigned_abs());
            let end = (self.offset as i64).saturating_add(delta).saturating_add(n);
            self.came_late(start, u64::try_from(end).unwrap_or(0), at, out);
            if delta + n <= 0 {
                self.retransmitted_bytes += n as u64;
                return;
            }
            self.retransmitted_bytes += (-delta) as u64;
            let fresh = payload.get((-delta) as usize..).unwrap_or_default();
            self.hand_on(fresh, at, out);
            self.drain(out);
            return;
        }
        self.beyond_hole(self.offset + delta as u64, payload, at, out);
    }

    /// A segment cut by the capture's snap length: its `captured` bytes, then `missing`
    /// bytes the capture never held. In order, those are a gap at once (no copy of them is
    /// coming, as one of a lost segment might); out of order, the hole is given up as a
    /// loss is.
    pub fn feed_cut(
        &mut self,
        seq: u32,
        captured: &[u8],
        missing: u64,
        at: At,
        out: &mut impl FnMut(StreamEvent<'_>, At),
    ) {
        let end = seq.wrapping_add(captured.len() as u32);
        self.feed(seq, captured, at, out);
        if missing > 0 && self.next_seq == Some(end) {
            out(
                StreamEvent::Gap {
                    offset: self.offset,
                    length: missing,
                    given_up: None,
                },
                at.later(self.read_at),
            );
            self.gap_bytes += missing;
            self.offset += missing;
            // Sequence numbers wrap: only the low 32 bits of the length count.
            self.next_seq = Some(end.wrapping_add(missing as u32));
            self.drain(out);
        }
    }

    /// Data beyond a hole, at offset `start`, carried by the frame `at`: kept until the hole
    /// fills or is given up.
    fn beyond_hole(
        &mut self,
        start: u64,
        payload: &[u8],
        at: At,
        out: &mut impl FnMut(StreamEvent<'_>, At),
    ) {
        self.out_of_order_segments += 1;
        let conflict = match self.pending.get_mut(&start) {
            Some(old) => {
                let conflict = differ(&old.data, start as i64, payload, start as i64);
                if old.data.len() < payload.len() {
                    // The longer copy is kept; where the two overlap, the earlier one's bytes.
                    // Its end came with this frame: the whole is read no earlier.
                    self.pending_bytes += payload.len() - old.data.len();
                    let tail = payload.get(old.data.len()..).unwrap_or_default();
                    old.data.extend_from_slice(tail);
                    old.at = at;
                }
                conflict
            }
            None => {
                self.pending_bytes += payload.len();
                let data = payload.to_vec();
                self.pending.insert(start, Pending { at, data });
                None
            }
        };
        if let Some((offset, length)) = conflict {
            out(StreamEvent::Conflict { offset, length }, at);
        }
        // Until what waits is within the bounds again: one hole given up may free a byte
        // only (a short segment after it), while this segment brought 64 KB.
        while let Some(bound) = self.over_bound() {
            self.skip_hole(Some(bound), out);
        }
    }

    /// The bound the data waiting beyond a hole is past, if it is past one.
    fn over_bound(&self) -> Option<GiveUp> {
        if self.pending_bytes > self.max_pending {
            Some(GiveUp::Bytes)
        } else if self.pending.len() > MAX_PENDING_SEGMENTS {
            Some(GiveUp::Segments)
        } else {
            None
        }
    }

    fn drain(&mut self, out: &mut impl FnMut(StreamEvent<'_>, At)) {
        while let Some(entry) = self.pending.first_entry() {
            let start = *entry.key();
            if start > self.offset {
                return;
            }
            let Pending { at, data } = entry.remove();
            self.pending_bytes -= data.len();
            let end = start + data.len() as u64;
            if start < self.offset {
                if let Some((offset, length)) =
                    differ(&self.last, self.last_at as i64, &data, start as i64)
                {
                    out(
                        StreamEvent::Conflict { offset, length },
                        at.later(self.read_at),
                    );
                }
            }
            if end <= self.offset {
                self.retransmitted_bytes += data.len() as u64;
                continue;
            }
            let skip = (self.offset - start) as usize;
            self.retransmitted_bytes += skip as u64;
            self.hand_on(data.get(skip..).unwrap_or_default(), at, out);
        }
    }

    /// Bytes `start..end` came in `at`, before the next in-order byte: a hole given up on
    /// that they reach into is told as come late, the part they hold (once; the rest stays
    /// given up).
    fn came_late(
        &mut self,
        start: u64,
        end: u64,
        at: At,
        out: &mut impl FnMut(StreamEvent<'_>, At),
    ) {
        if start >= end {
            // No byte came (a copy the snap length cut whole): nothing of a hole to tell,
            // nor to split it by.
            return;
        }
        while let Some(i) = self
            .given_up
            .iter()
            .position(|&(offset, length, _)| start < offset.saturating_add(length) && end > offset)
        {
            let (offset, length, given_up) = self.given_up.swap_remove(i);
            let hole_end = offset.saturating_add(length);
            let (from, to) = (start.max(offset), end.min(hole_end));
            // Only the part that came is told: what has not come of the hole stays given
            // up, to be told when it comes (its pieces within the same bound of entries).
            for (piece, piece_end) in [(offset, from), (to, hole_end)] {
                if piece < piece_end && self.given_up.len() < MAX_GIVEN_UP_KEPT {
                    self.given_up.push((piece, piece_end - piece, given_up));
                }
            }
            let late = StreamEvent::Late {
                offset: from,
                length: to - from,
                given_up,
            };
            out(late, at);
        }
    }

    /// Gives up the first hole: told at the frame of the bytes after it (where tshark says
    /// "previous segment not captured"), which are read from there on; `given_up`: the
    /// bound that ended the wait, None at the flow's end.
    fn skip_hole(&mut self, given_up: Option<GiveUp>, out: &mut impl FnMut(StreamEvent<'_>, At)) {
        let Some((&start, after)) = self.pending.first_key_value() else {
            return;
        };
        let length = start - self.offset;
        let at = after.at.later(self.read_at);
        out(
            StreamEvent::Gap {
                offset: self.offset,
                length,
                given_up,
            },
            at,
        );
        self.gap_bytes += length;
        if let Some(bound) = given_up.filter(|_| self.given_up.len() < MAX_GIVEN_UP_KEPT) {
            self.given_up.push((self.offset, length, bound));
        }
        self.next_seq = Some(self.next_seq.unwrap_or(0).wrapping_add(length as u32));
        self.offset = start;
        self.drain(out);
    }

    /// At the end of the connection: give up every remaining hole.
    pub fn flush(&mut self, out: &mut impl FnMut(StreamEvent<'_>, At)) {
        while self.has_pending() {
            self.skip_hole(None, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A short chunk after long ones is kept at its size, not in a long one's room (a flow
    /// left open holds it); a retransmission of it that differs is still a conflict.
    #[test]
    fn the_last_chunk_is_kept_at_its_size() {
        let mut half = HalfStream::new(MAX_PENDING_BYTES);
        half.syn(0);
        let mut conflicts = Vec::new();
        let mut out = |ev: StreamEvent<'_>, _: At| {
            if let StreamEvent::Conflict { offset, length } = ev {
                conflicts.push((offset, length));
            }
        };
        half.feed(1, &[7; 1460], At::default(), &mut out);
        half.feed(1461, &[9; 1460], At::default(), &mut out);
        assert!(half.last.capacity() >= 1460, "full chunks reuse their room");
        half.feed(2921, &[9; 65], At::default(), &mut out);
        assert!(
            half.last.capacity() < 2 * LAST_ROOM,
            "{}",
            half.last.capacity()
        );
        let mut changed = [9; 65];
        changed[10] = 0;
        half.feed(2921, &changed, At::default(), &mut out);
        assert_eq!(conflicts, [(2930, 1)]);
    }
}
