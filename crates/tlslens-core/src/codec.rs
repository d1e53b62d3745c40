//! Reading attacker-controlled structures: a cursor over a byte slice that never panics.
//!
//! Shaped after rustls' `msgs::codec::Reader`: every read is checked, a length-prefixed
//! vector is read as a sub-reader over exactly its bytes (so a lying length cannot make a
//! field run into its neighbour), and every error says at which offset of the whole input
//! it happened, so findings can name the byte. The handshake, extension, QUIC and DTLS
//! parsers all read through this one type.

use std::fmt;

/// Why a structure could not be read: the input ended early, or a field broke a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodecError {
    /// `wanted` bytes were needed at `at` and only `have` were left.
    Truncated { at: usize, wanted: u64, have: usize },
    /// A length-prefixed vector or a whole structure left `left` bytes unread at `at`.
    Trailing { at: usize, left: usize },
    /// A field's value is not allowed (`what` names the field and why).
    Invalid { at: usize, what: String },
}

impl CodecError {
    /// The offset (into the input the outermost reader was made over) the error is about.
    pub fn offset(&self) -> usize {
        match self {
            Self::Truncated { at, .. } | Self::Trailing { at, .. } | Self::Invalid { at, .. } => {
                *at
            }
        }
    }
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated { at, wanted, have } => write!(
                f,
                "truncated at byte {at}: {wanted} bytes needed, {have} left"
            ),
            Self::Trailing { at, left } => {
                write!(f, "{left} unexpected bytes left at byte {at}")
            }
            Self::Invalid { at, what } => write!(f, "{what} at byte {at}"),
        }
    }
}

impl std::error::Error for CodecError {}

pub type CodecResult<T> = Result<T, CodecError>;

/// A cursor over `data`; `base` is where `data` starts in the outermost input.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    data: &'a [u8],
    at: usize,
    base: usize,
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Self::at_offset(data, 0)
    }

    /// A reader over `data`, whose first byte is byte `base` of a larger input (error
    /// offsets are then given in that input's terms).
    pub fn at_offset(data: &'a [u8], base: usize) -> Self {
        Self { data, at: 0, base }
    }

    /// Offset of the next byte, in the outermost input's terms.
    pub fn offset(&self) -> usize {
        self.base.saturating_add(self.at)
    }

    pub fn left(&self) -> usize {
        self.data.len().saturating_sub(self.at)
    }

    pub fn is_empty(&self) -> bool {
        self.left() == 0
    }

    /// The next `n` bytes, or [`CodecError::Truncated`] (nothing consumed).
    pub fn take(&mut self, n: usize) -> CodecResult<&'a [u8]> {
        let end = self.at.checked_add(n).filter(|end| *end <= self.data.len());
        match end.and_then(|end| self.data.get(self.at..end).map(|b| (b, end))) {
            Some((bytes, end)) => {
                self.at = end;
                Ok(bytes)
            }
            None => Err(self.truncated(n as u64)),
        }
    }

    /// The next `n` bytes where `n` came off the wire as a u64 (a QUIC varint): a length
    /// that does not fit in memory is just a truncation, never a cast that wraps.
    pub fn take_u64(&mut self, n: u64) -> CodecResult<&'a [u8]> {
        match usize::try_from(n) {
            Ok(n) => self.take(n),
            Err(_) => Err(self.truncated(n)),
        }
    }

    /// Everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        let rest = self.data.get(self.at..).unwrap_or(&[]);
        self.at = self.data.len();
        rest
    }

    /// The next `n` bytes without consuming them.
    pub fn peek(&self, n: usize) -> CodecResult<&'a [u8]> {
        self.clone().take(n)
    }

    pub fn u8(&mut self) -> CodecResult<u8> {
        Ok(self.array::<1>()?[0])
    }

    pub fn u16(&mut self) -> CodecResult<u16> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    pub fn u24(&mut self) -> CodecResult<u32> {
        let [a, b, c] = self.array()?;
        Ok(u32::from_be_bytes([0, a, b, c]))
    }

    pub fn u32(&mut self) -> CodecResult<u32> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub fn u48(&mut self) -> CodecResult<u64> {
        let [a, b, c, d, e, g] = self.array()?;
        Ok(u64::from_be_bytes([0, 0, a, b, c, d, e, g]))
    }

    pub fn u64(&mut self) -> CodecResult<u64> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// A QUIC variable-length integer (RFC 9000 §16): 1, 2, 4 or 8 bytes, the two top
    /// bits of the first giving the length.
    pub fn varint(&mut self) -> CodecResult<u64> {
        let first = self.peek(1)?[0];
        let len = 1usize << (first >> 6);
        let bytes = self.take(len)?;
        let mut value = u64::from(first & 0x3f);
        for byte in bytes.iter().skip(1) {
            value = value << 8 | u64::from(*byte);
        }
        Ok(value)
    }

    /// A vector with a 1-byte length prefix, as a sub-reader over exactly its bytes.
    pub fn vec_u8(&mut self) -> CodecResult<Reader<'a>> {
        let n = self.u8()?;
        self.sub(usize::from(n))
    }

    /// A vector with a 2-byte length prefix.
    pub fn vec_u16(&mut self) -> CodecResult<Reader<'a>> {
        let n = self.u16()?;
        self.sub(usize::from(n))
    }

    /// A vector with a 3-byte length prefix.
    pub fn vec_u24(&mut self) -> CodecResult<Reader<'a>> {
        let n = self.u24()?;
        self.sub(n as usize)
    }

    /// A vector with a QUIC varint length prefix.
    pub fn vec_varint(&mut self) -> CodecResult<Reader<'a>> {
        let n = self.varint()?;
        let start = self.offset();
        let bytes = self.take_u64(n)?;
        Ok(Reader::at_offset(bytes, start))
    }

    /// The next `n` bytes as a sub-reader keeping offsets in the outer input's terms.
    pub fn sub(&mut self, n: usize) -> CodecResult<Reader<'a>> {
        let start = self.offset();
        let bytes = self.take(n)?;
        Ok(Reader::at_offset(bytes, start))
    }

    /// [`CodecError::Trailing`] unless everything was read: a structure must be consumed
    /// exactly, or its length and its contents disagree.
    pub fn finish(&self) -> CodecResult<()> {
        match self.left() {
            0 => Ok(()),
            left => Err(CodecError::Trailing {
                at: self.offset(),
                left,
            }),
        }
    }

    /// A [`CodecError::Invalid`] at the current offset.
    pub fn invalid(&self, what: impl Into<String>) -> CodecError {
        CodecError::Invalid {
            at: self.offset(),
            what: what.into(),
        }
    }

    fn array<const N: usize>(&mut self) -> CodecResult<[u8; N]> {
        let bytes = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    fn truncated(&self, wanted: u64) -> CodecError {
        CodecError::Truncated {
            at: self.offset(),
            wanted,
            have: self.left(),
        }
    }
}

/// Append a QUIC varint (RFC 9000 §16) of `value`, in the fewest bytes; `None` when
/// `value` is 2^62 or more and has no encoding.
pub fn put_varint(out: &mut Vec<u8>, value: u64) -> Option<()> {
    let mut bytes = value.to_be_bytes();
    let (len, prefix) = match value {
        0..=0x3f => (1, 0x00),
        0x40..=0x3fff => (2, 0x40),
        0x4000..=0x3fff_ffff => (4, 0x80),
        0x4000_0000..=0x3fff_ffff_ffff_ffff => (8, 0xc0),
        _ => return None,
    };
    let encoded = &mut bytes[8 - len..];
    encoded[0] |= prefix;
    out.extend_from_slice(encoded);
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_big_endian() {
        let mut r = Reader::new(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        assert_eq!(r.u8(), Ok(1));
        assert_eq!(r.u16(), Ok(0x0203));
        assert_eq!(r.u24(), Ok(0x040506));
        assert_eq!(r.u32(), Ok(0x0708090a));
        assert!(r.is_empty());
        assert_eq!(
            r.u8(),
            Err(CodecError::Truncated {
                at: 10,
                wanted: 1,
                have: 0
            })
        );
    }

    #[test]
    fn rfc9000_appendix_a1_varints() {
        // RFC 9000 §A.1's four examples, and the encoder back.
        let cases: [(&[u8], u64); 4] = [
            (
                &[0xc2, 0x19, 0x7c, 0x5e, 0xff, 0x14, 0xe8, 0x8c],
                151_288_809_941_952_652,
            ),
            (&[0x9d, 0x7f, 0x3e, 0x7d], 494_878_333),
            (&[0x7b, 0xbd], 15_293),
            (&[0x25], 37),
        ];
        for (bytes, value) in cases {
            assert_eq!(Reader::new(bytes).varint(), Ok(value));
            let mut out = Vec::new();
            assert_eq!(put_varint(&mut out, value), Some(()));
            assert_eq!(out, bytes);
        }
        // The same 37 in two bytes, as §A.1 also shows.
        assert_eq!(Reader::new(&[0x40, 0x25]).varint(), Ok(37));
        assert_eq!(put_varint(&mut Vec::new(), 1 << 62), None);
    }

    #[test]
    fn a_vector_is_read_exactly_and_keeps_outer_offsets() {
        let data = [9, 0, 3, 0xaa, 0xbb, 0xcc, 7];
        let mut r = Reader::new(&data);
        r.u8().unwrap();
        let mut inner = r.vec_u16().unwrap();
        assert_eq!(inner.offset(), 3);
        assert_eq!(inner.u16(), Ok(0xaabb));
        assert_eq!(inner.finish(), Err(CodecError::Trailing { at: 5, left: 1 }));
        assert_eq!(r.u8(), Ok(7));
    }

    #[test]
    fn a_lying_length_is_a_truncation_not_a_panic() {
        let mut r = Reader::new(&[0xff, 0xff, 0xff, 1]);
        assert!(matches!(
            r.vec_u24(),
            Err(CodecError::Truncated { at: 3, .. })
        ));
        let mut q = Reader::new(&[0xff; 9]);
        assert!(matches!(q.vec_varint(), Err(CodecError::Truncated { .. })));
        assert!(Reader::new(&[]).take_u64(u64::MAX).is_err());
    }
}
