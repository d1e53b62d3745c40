//! DTLS record headers: RFC 6347 §4.1's 13 bytes (DTLS 1.0, 1.2 and DTLS 1.3's plaintext
//! records), RFC 9146's `tls12_cid` record, and RFC 9147 §4's unified header; several
//! records per datagram. Only headers here: bodies stay borrowed from the datagram.

use crate::codec::{CodecResult, Reader};
use crate::handshake::DTLS1_BAD_VER;

/// RFC 9146 §4: a DTLS 1.2 record carrying a connection ID.
pub const CT_TLS12_CID: u8 = 25;
/// RFC 9147 §7: DTLS 1.3's ACK.
pub const CT_ACK: u8 = 26;

/// DTLS 1.0 (RFC 4347), 1.2 (RFC 6347), 1.3 (RFC 9147), and OpenSSL's pre-standard
/// DTLS1_BAD_VER (before 0.9.8f, still in captures such as Wireshark's snakeoil-dtls).
pub const VERSIONS: [u16; 4] = [0xfeff, 0xfefd, 0xfefc, DTLS1_BAD_VER];

/// How a record's header was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Header {
    /// RFC 6347 §4.1 (with the connection ID of RFC 9146 when the type is 25).
    Classic {
        content_type: u8,
        version: u16,
        epoch: u16,
        seq: u64,
        cid: Vec<u8>,
    },
    /// RFC 9147 §4 unified header: the epoch's 2 low bits, the sequence number's low 8 or 16
    /// bits as sent (encrypted when record-number encryption is on).
    Unified {
        first: u8,
        epoch_bits: u8,
        seq_bits: u16,
        seq_len: usize,
        cid: Vec<u8>,
    },
}

/// One record of a datagram: `offset` is where its header starts, `body_offset` its body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    pub offset: usize,
    pub header: Header,
    pub header_bytes: &'a [u8],
    pub body_offset: usize,
    pub body: &'a [u8],
}

/// Does the first byte open a DTLS 1.3 unified header (0b001CSLEE)?
pub fn is_unified(first: u8) -> bool {
    first & 0xe0 == 0x20
}

/// Does `payload` look like a datagram of DTLS records: a 13-byte header with content type
/// 20–26 and a DTLS version, or (once a DTLS handshake was seen on the flow) a unified
/// header.
pub fn looks_like_dtls(payload: &[u8], handshake_seen: bool) -> bool {
    match payload {
        [first, ..] if handshake_seen && is_unified(*first) => true,
        [20..=26, hi, lo, rest @ ..] => {
            rest.len() >= 10 && VERSIONS.contains(&u16::from_be_bytes([*hi, *lo]))
        }
        _ => false,
    }
}

/// Read the record at `r`'s position; `cid_len` is the connection ID length records
/// towards this receiver carry (0 when none was negotiated or none is known), set when a
/// tls12_cid record's is inferred (the direction's next records, wherever they sit in
/// their datagram, carry the same ID).
pub fn read_record<'a>(r: &mut Reader<'a>, cid_len: &mut usize) -> CodecResult<Record<'a>> {
    let start = r.clone();
    let offset = r.offset();
    let first = r.peek(1)?[0];
    let (header, body_len) = if is_unified(first) {
        read_unified(r, *cid_len)?
    } else {
        read_classic(r, cid_len)?
    };
    let header_len = r.offset().saturating_sub(offset);
    let header_bytes = start.clone().take(header_len)?;
    let body_offset = r.offset();
    let body = match body_len {
        Some(len) => r.take(len)?,
        None => r.rest(),
    };
    Ok(Record {
        offset,
        header,
        header_bytes,
        body_offset,
        body,
    })
}

fn read_classic(r: &mut Reader<'_>, cid_len: &mut usize) -> CodecResult<(Header, Option<usize>)> {
    let content_type = r.u8()?;
    if !(20..=CT_ACK).contains(&content_type) {
        return Err(r.invalid(format!("content type {content_type} is not a DTLS one")));
    }
    let version = r.u16()?;
    if !VERSIONS.contains(&version) {
        return Err(r.invalid(format!("version 0x{version:04x} is not a DTLS one")));
    }
    let epoch = r.u16()?;
    let seq = r.u48()?;
    let cid = if content_type == CT_TLS12_CID {
        if *cid_len == 0 {
            *cid_len = infer_cid_len(r)?;
        }
        r.take(*cid_len)?.to_vec()
    } else {
        Vec::new()
    };
    let length = usize::from(r.u16()?);
    let header = Header::Classic {
        content_type,
        version,
        epoch,
        seq,
        cid,
    };
    Ok((header, Some(length)))
}

/// The longest connection ID (its length is one byte in the hellos, RFC 9146 §3).
const MAX_CID: usize = 255;

/// RFC 9146 §4: a tls12_cid record does not say how long its ID is; the receiver knows it
/// from its hello. A reader that did not see the hellos (a capture started after them)
/// takes the record to end its datagram, as the stacks send them (one protected record per
/// datagram, or last after a ChangeCipherSpec): the shortest ID after which the length
/// field says so. `r` is at the ID.
fn infer_cid_len(r: &Reader<'_>) -> CodecResult<usize> {
    let left = r.left();
    let ahead = r.peek(left)?;
    (1..=MAX_CID.min(left.saturating_sub(2)))
        .find(|&n| {
            let length = ahead
                .get(n..n + 2)
                .and_then(|b| <[u8; 2]>::try_from(b).ok());
            length.map(|b| usize::from(u16::from_be_bytes(b))) == Some(left - n - 2)
        })
        .ok_or_else(|| {
            r.invalid(
                "a tls12_cid record whose connection ID length is unknown (no hello asked for \
                 one) and that does not end its datagram under any length",
            )
        })
}

/// The record-number mask is computed over the first 16 bytes of the ciphertext (RFC 9147
/// §4.2.3): a protected record is never shorter.
const MIN_UNIFIED_LENGTH: usize = 16;

/// A datagram of nothing but DTLS 1.3 unified-header records (RFC 9147 §4), as a capture
/// that began after the hellos sees them: each without a connection ID (its length is
/// known only from the hellos), with its length field, at least [`MIN_UNIFIED_LENGTH`]
/// long, and the last ending exactly where the datagram does.
pub fn unified_only(payload: &[u8]) -> bool {
    let mut r = Reader::new(payload);
    while !r.is_empty() {
        let whole = r
            .peek(1)
            .is_ok_and(|b| b.first().is_some_and(|&f| is_unified(f)))
            && match read_unified(&mut r, 0) {
                Ok((_, Some(length))) => length >= MIN_UNIFIED_LENGTH && r.take(length).is_ok(),
                _ => false,
            };
        if !whole {
            return false;
        }
    }
    !payload.is_empty()
}

/// A handshake message's DTLS header (RFC 6347 §4.2.2): the least a record's body gives a
/// message, and so a step of its connection's timeline.
const HANDSHAKE_HEADER: usize = 12;

/// The steps of its connection's timeline a datagram can make at most once read: one for
/// each record (a protected one, or one that does not read, ends the count with one more),
/// as many as a handshake record holds message headers, and one for its application data
/// records together (they fold into a run). What bounds how far the walk goes ahead of
/// Python reading the datagrams (a datagram of 90 alerts makes 90 steps).
pub fn steps_at_most(payload: &[u8]) -> usize {
    let mut r = Reader::new(payload);
    let mut steps = 1;
    let mut cid_len = 0;
    while !r.is_empty() {
        let Ok(record) = read_record(&mut r, &mut cid_len) else {
            return steps + 1;
        };
        steps += match record.header {
            Header::Classic {
                content_type: 23, ..
            } => 0,
            Header::Classic {
                content_type: 22, ..
            } => (record.body.len() / HANDSHAKE_HEADER).max(1),
            _ => 1,
        };
    }
    steps
}

/// RFC 9147 §4 Figure 3: 0 0 1 C S L E E, [CID], 8 or 16 bits of sequence, [16-bit length].
fn read_unified(r: &mut Reader<'_>, cid_len: usize) -> CodecResult<(Header, Option<usize>)> {
    let first = r.u8()?;
    let cid = if first & 0x10 != 0 {
        if cid_len == 0 {
            return Err(r.invalid("a unified header with a connection ID none was negotiated for"));
        }
        r.take(cid_len)?.to_vec()
    } else {
        Vec::new()
    };
    let (seq_bits, seq_len) = if first & 0x08 != 0 {
        (r.u16()?, 2)
    } else {
        (u16::from(r.u8()?), 1)
    };
    let length = if first & 0x04 != 0 {
        Some(usize::from(r.u16()?))
    } else {
        None
    };
    let header = Header::Unified {
        first,
        epoch_bits: first & 0x03,
        seq_bits,
        seq_len,
        cid,
    };
    Ok((header, length))
}

/// The unified header with its sequence number bits replaced by `seq_bits` (the AEAD's
/// additional data is the header before record-number encryption, RFC 9147 §4).
pub fn unified_aad(record: &Record<'_>, seq_bits: u16) -> Vec<u8> {
    let mut aad = record.header_bytes.to_vec();
    if let Header::Unified { seq_len, cid, .. } = &record.header {
        let at = 1usize.saturating_add(cid.len());
        let bytes = seq_bits.to_be_bytes();
        let value: &[u8] = if *seq_len == 2 { &bytes } else { &bytes[1..] };
        if let Some(slot) = aad.get_mut(at..at.saturating_add(value.len())) {
            slot.copy_from_slice(value);
        }
    }
    aad
}

/// The full value closest to `expected` whose low `bits` bits are `low` (RFC 9147 §4.2.2,
/// as QUIC's packet numbers, RFC 9000 §A.3): for sequence numbers and epochs alike.
pub fn reconstruct(expected: u64, low: u64, bits: u32) -> u64 {
    let window = 1u64 << bits;
    let candidate = (expected & !(window - 1)) | (low & (window - 1));
    let half = window / 2;
    if candidate.saturating_add(half) <= expected && candidate.checked_add(window).is_some() {
        candidate + window
    } else if candidate > expected.saturating_add(half) && candidate >= window {
        candidate - window
    } else {
        candidate
    }
}
