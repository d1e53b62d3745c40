//! Opening one protected packet (RFC 9001 §5.3, §5.4): header protection removed with a
//! sample of the ciphertext, the packet number decoded against the largest one seen
//! (RFC 9000 §A.3), then the AEAD opened with the IV xor the packet number and the
//! unprotected header as additional data.

use super::keys::{HeaderKey, PacketKeys, SAMPLE_LEN, TAG_LEN};
use super::packet::{Form, PacketView};
use crate::protection::xor_seq;

/// Packet numbers are below 2^62 (RFC 9000 §12.3).
const MAX_PN: u64 = (1 << 62) - 1;

/// The header of a packet with its protection removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// The first byte, unmasked.
    pub first: u8,
    pub pn_len: usize,
    /// The packet number as sent (its low `pn_len` bytes).
    pub truncated_pn: u64,
    /// The whole unprotected header: the AEAD's additional data.
    pub bytes: Vec<u8>,
}

impl Header {
    /// The key phase bit of a short header (RFC 9001 §6).
    pub fn key_phase(&self) -> bool {
        self.first & 0x04 != 0
    }

    /// Whether the reserved bits (two in either form) are not zero: a protocol violation
    /// the endpoint would close the connection for (RFC 9000 §17.2, §17.3.1).
    pub fn reserved_bits_set(&self, short: bool) -> bool {
        let reserved = if short { 0x18 } else { 0x0c };
        self.first & reserved != 0
    }
}

/// RFC 9001 §5.4.1: unmask the first byte's low bits and the packet number.
pub fn remove_header_protection(
    datagram: &[u8],
    view: &PacketView<'_>,
    hp: &HeaderKey,
) -> Result<Header, String> {
    // The sample starts 4 bytes after the packet number's start, whatever its length.
    let sample_at = view.pn_offset.saturating_add(4);
    let sample: &[u8; SAMPLE_LEN] = sample_at
        .checked_add(SAMPLE_LEN)
        .filter(|end| *end <= view.end)
        .and_then(|end| datagram.get(sample_at..end))
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| {
            format!(
                "a packet of {} bytes, too short for a header protection sample",
                view.end.saturating_sub(view.start)
            )
        })?;
    let mask = hp.mask(sample)?;
    let low_bits = if view.form == Form::Short { 0x1f } else { 0x0f };
    let first = view.first ^ (mask[0] & low_bits);
    let pn_len = usize::from(first & 0x03) + 1;
    let pn_end = view.pn_offset + pn_len;
    let (Some(header), Some(pn)) = (
        datagram.get(view.start..pn_end),
        datagram.get(view.pn_offset..pn_end),
    ) else {
        return Err("the packet number runs past the packet".to_owned());
    };
    let mut bytes = header.to_vec();
    if let Some(byte) = bytes.first_mut() {
        *byte = first;
    }
    let mut truncated_pn = 0u64;
    let unmasked = bytes.len() - pn_len;
    for (i, (byte, m)) in pn.iter().zip(&mask[1..]).enumerate() {
        let plain = byte ^ m;
        truncated_pn = truncated_pn << 8 | u64::from(plain);
        if let Some(slot) = bytes.get_mut(unmasked + i) {
            *slot = plain;
        }
    }
    Ok(Header {
        first,
        pn_len,
        truncated_pn,
        bytes,
    })
}

/// RFC 9000 §A.3: the full packet number closest to one more than `largest`.
pub fn decode_pn(largest: Option<u64>, truncated: u64, pn_len: usize) -> u64 {
    let expected = largest.map_or(0, |l| l.saturating_add(1).min(MAX_PN));
    let bits = (pn_len.clamp(1, 4) * 8) as u32;
    let win = 1u64 << bits;
    let half = win / 2;
    let candidate = (expected & !(win - 1)) | (truncated & (win - 1));
    if candidate.saturating_add(half) <= expected && candidate < (1 << 62) - win {
        candidate + win
    } else if candidate > expected.saturating_add(half) && candidate >= win {
        candidate - win
    } else {
        candidate
    }
}

/// RFC 9001 §5.3: open a payload (ciphertext and tag) of packet number `pn`.
pub fn open_payload(
    keys: &PacketKeys,
    header: &[u8],
    pn: u64,
    ciphertext: &[u8],
) -> Result<Vec<u8>, String> {
    if ciphertext.len() < TAG_LEN {
        return Err(format!(
            "a payload of {} bytes cannot hold its {TAG_LEN}-byte tag",
            ciphertext.len()
        ));
    }
    let nonce = xor_seq(&keys.iv, pn);
    let mut data = ciphertext.to_vec();
    if !keys.aead.open(&nonce, header, &mut data, TAG_LEN) {
        return Err("the AEAD tag does not verify".to_owned());
    }
    Ok(data)
}

/// A packet's header unmasked, its full packet number, and where its payload starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unmasked {
    pub header: Header,
    pub pn: u64,
    /// Offset of the payload's first byte in the datagram.
    pub payload_offset: usize,
}

impl Unmasked {
    /// The protected payload (ciphertext and tag) in `datagram`.
    pub fn ciphertext<'a>(&self, datagram: &'a [u8], view: &PacketView<'_>) -> &'a [u8] {
        datagram.get(self.payload_offset..view.end).unwrap_or(&[])
    }
}

/// Header protection removed and the packet number decoded; `largest` is the largest
/// packet number opened in the packet's number space and direction.
pub fn unmask(
    datagram: &[u8],
    view: &PacketView<'_>,
    hp: &HeaderKey,
    largest: Option<u64>,
) -> Result<Unmasked, String> {
    let header = remove_header_protection(datagram, view, hp)?;
    let pn = decode_pn(largest, header.truncated_pn, header.pn_len);
    let payload_offset = view.pn_offset + header.pn_len;
    Ok(Unmasked {
        header,
        pn,
        payload_offset,
    })
}

/// A packet opened: its header, full packet number and plaintext payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opened {
    pub header: Header,
    pub pn: u64,
    pub payload: Vec<u8>,
    /// Offset of the payload's first byte in the datagram.
    pub payload_offset: usize,
}

/// Remove header protection and open the payload of `view` with one set of keys (the
/// connection table follows key phases itself, through `unmask` and `open_payload`).
pub fn unprotect(
    datagram: &[u8],
    view: &PacketView<'_>,
    keys: &PacketKeys,
    hp: &HeaderKey,
    largest: Option<u64>,
) -> Result<Opened, String> {
    let unmasked = unmask(datagram, view, hp, largest)?;
    let payload = open_payload(
        keys,
        &unmasked.header.bytes,
        unmasked.pn,
        unmasked.ciphertext(datagram, view),
    )?;
    Ok(Opened {
        header: unmasked.header,
        pn: unmasked.pn,
        payload,
        payload_offset: unmasked.payload_offset,
    })
}
