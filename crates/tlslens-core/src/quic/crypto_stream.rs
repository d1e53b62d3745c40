//! One CRYPTO stream (a packet number space, one direction) put back in order (RFC 9000
//! §19.6, §7.5): frames arrive out of order, retransmitted, overlapping, across packets and
//! datagrams; the stream hands out each new contiguous run of bytes with its offset.
//!
//! Bounded: nothing at or past `max` bytes of stream is kept (a CRYPTO offset of 2^62 is
//! refused before any allocation), and the bytes waiting for a hole never exceed `max`.

use std::collections::BTreeMap;

/// The largest stream offset QUIC allows (RFC 9000 §19.6): offset + length < 2^62.
pub const MAX_STREAM_OFFSET: u64 = (1 << 62) - 1;

/// Why a CRYPTO frame's bytes were not taken.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CryptoError {
    /// offset + length is past 2^62 - 1: a FRAME_ENCODING_ERROR for an endpoint.
    PastQuicLimit { offset: u64, len: u64 },
    /// The frame reaches past the reader's own bound.
    PastLimit { offset: u64, len: u64, max: u64 },
    /// Retransmitted bytes that differ from the ones first seen.
    Conflict { offset: u64 },
}

impl std::fmt::Display for CryptoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::PastQuicLimit { offset, len } => write!(
                f,
                "a CRYPTO frame of {len} bytes at offset {offset} ends past 2^62 - 1, which QUIC \
                 forbids"
            ),
            Self::PastLimit { offset, len, max } => write!(
                f,
                "a CRYPTO frame of {len} bytes at offset {offset} reaches past the {max}-byte \
                 CRYPTO stream limit: not kept"
            ),
            Self::Conflict { offset } => write!(
                f,
                "CRYPTO bytes at offset {offset} retransmitted with a different content: the \
                 first copy is kept"
            ),
        }
    }
}

/// What a CRYPTO frame's bytes gave: the run they made contiguous (its stream offset and
/// bytes), and a conflict with bytes already seen.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pushed {
    pub run: Option<(u64, Vec<u8>)>,
    pub conflict: Option<CryptoError>,
}

/// One CRYPTO stream being reassembled.
#[derive(Clone, Debug, Default)]
pub struct CryptoStream {
    /// Everything before this offset was handed out.
    delivered: u64,
    /// Data after a hole, by offset; no two entries overlap.
    pending: BTreeMap<u64, Vec<u8>>,
    pending_bytes: u64,
    max: u64,
}

impl CryptoStream {
    pub fn new(max: u64) -> Self {
        Self {
            max,
            ..Self::default()
        }
    }

    /// The offset of the next byte to hand out.
    /// Bytes waiting beyond a hole.
    pub fn waiting(&self) -> u64 {
        self.pending_bytes
    }

    pub fn delivered(&self) -> u64 {
        self.delivered
    }

    /// Take a CRYPTO frame's bytes; Err (and nothing kept) past either bound.
    pub fn push(&mut self, offset: u64, data: &[u8]) -> Result<Pushed, CryptoError> {
        let len = data.len() as u64;
        let end = offset
            .checked_add(len)
            .filter(|end| *end <= MAX_STREAM_OFFSET)
            .ok_or(CryptoError::PastQuicLimit { offset, len })?;
        if end > self.max {
            return Err(CryptoError::PastLimit {
                offset,
                len,
                max: self.max,
            });
        }
        let mut conflict = None;
        // Keep only bytes not handed out and not already waiting: each new byte is stored once.
        let mut at = offset.max(self.delivered);
        while at < end {
            let next_held = self.pending.range(at..).next().map(|(o, _)| *o);
            let held = self
                .pending
                .range(..=at)
                .next_back()
                .filter(|(o, v)| **o + v.len() as u64 > at)
                .map(|(o, v)| (*o, v.len() as u64));
            if let Some((start, held_len)) = held {
                let stop = (start + held_len).min(end);
                if conflict.is_none() && self.differs(start, at, stop, offset, data) {
                    conflict = Some(CryptoError::Conflict { offset: at });
                }
                at = stop;
                continue;
            }
            let stop = next_held.map_or(end, |n| n.min(end));
            let piece = slice(data, at - offset, stop - offset);
            self.pending_bytes += piece.len() as u64;
            self.pending.insert(at, piece.to_vec());
            at = stop;
        }
        Ok(Pushed {
            run: self.drain(),
            conflict,
        })
    }

    fn differs(&self, start: u64, from: u64, to: u64, offset: u64, data: &[u8]) -> bool {
        let Some(held) = self.pending.get(&start) else {
            return false;
        };
        slice(held, from - start, to - start) != slice(data, from - offset, to - offset)
    }

    /// Hand out what became contiguous with the delivered part.
    fn drain(&mut self) -> Option<(u64, Vec<u8>)> {
        let start = self.delivered;
        let mut out = Vec::new();
        while let Some(entry) = self.pending.first_entry() {
            if *entry.key() != self.delivered {
                break;
            }
            let bytes = entry.remove();
            self.pending_bytes -= bytes.len() as u64;
            self.delivered += bytes.len() as u64;
            out.extend_from_slice(&bytes);
        }
        (!out.is_empty()).then_some((start, out))
    }
}

/// `data[from..to]` for offsets already checked to lie within it (empty otherwise).
fn slice(data: &[u8], from: u64, to: u64) -> &[u8] {
    let (Ok(from), Ok(to)) = (usize::try_from(from), usize::try_from(to)) else {
        return &[];
    };
    data.get(from..to).unwrap_or(&[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_order_overlapping_and_conflicting_bytes() {
        let mut s = CryptoStream::new(1 << 20);
        assert_eq!(s.push(5, b"fghij"), Ok(Pushed::default()));
        let pushed = s.push(0, b"abcdefg").expect("in bounds");
        assert_eq!(pushed.run, Some((0, b"abcdefghij".to_vec())));
        assert_eq!(pushed.conflict, None);
        // A retransmission of handed-out bytes gives nothing; a hole is filled once.
        assert_eq!(s.push(3, b"defgh"), Ok(Pushed::default()));
        assert_eq!(s.push(20, b"uv"), Ok(Pushed::default()));
        let pushed = s.push(12, b"XXXXXXXXZZ").expect("in bounds");
        assert_eq!(pushed.run, None);
        assert_eq!(pushed.conflict, Some(CryptoError::Conflict { offset: 20 }));
        let pushed = s.push(10, b"kl").expect("in bounds");
        assert_eq!(pushed.run, Some((10, b"klXXXXXXXXuv".to_vec())));
        assert_eq!(s.delivered(), 22);
    }

    #[test]
    fn offsets_past_2_62_or_the_limit_keep_nothing() {
        let mut s = CryptoStream::new(1 << 20);
        let err = s.push(MAX_STREAM_OFFSET, b"x").expect_err("past 2^62 - 1");
        assert_eq!(
            err,
            CryptoError::PastQuicLimit {
                offset: MAX_STREAM_OFFSET,
                len: 1
            }
        );
        assert!(s.push(u64::MAX, b"x").is_err());
        assert!(matches!(
            s.push((1 << 20) - 1, b"xy"),
            Err(CryptoError::PastLimit { .. })
        ));
        assert_eq!(s.pending_bytes, 0);
        assert!(s.pending.is_empty());
    }
}
