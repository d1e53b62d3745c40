//! QUIC packet headers as a passive reader sees them (RFC 8999 invariants, RFC 9000 §17,
//! RFC 9369 §3.2): long headers (Initial with its token, 0-RTT, Handshake, Retry), Version
//! Negotiation, and short headers once a connection's Destination Connection ID is known.
//! Only the protected fields (first byte's low bits, packet number) are left for
//! `unprotect`; every length is checked through `codec::Reader` with datagram offsets.

use super::version::{looks_like_quic, LongType, Version};
use crate::codec::{CodecResult, Reader};

/// Connection IDs of QUIC v1 and v2 are at most 20 bytes (RFC 9000 §17.2).
pub const MAX_CID_LEN: usize = 20;
/// Versions of a Version Negotiation packet kept; the rest are counted, not stored.
pub const MAX_VN_VERSIONS: usize = 64;

/// What kind of packet a header is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Form {
    /// A long header of v1 or v2.
    Long(LongType),
    /// A long header of a version the core cannot open (a draft, GREASE): named only.
    OtherVersion,
    VersionNegotiation,
    /// A short header (1-RTT).
    Short,
}

/// One packet of a datagram; `start..end` are its bytes in the datagram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PacketView<'a> {
    pub start: usize,
    pub end: usize,
    pub form: Form,
    pub first: u8,
    /// 0 for short headers (and Version Negotiation, whose version field is 0).
    pub version: u32,
    pub dcid: &'a [u8],
    pub scid: &'a [u8],
    /// An Initial's token, or a Retry's.
    pub token: &'a [u8],
    /// Where the (protected) packet number starts; 0 where there is none.
    pub pn_offset: usize,
    /// A Version Negotiation packet's versions (at most `MAX_VN_VERSIONS`).
    pub versions: Vec<u32>,
}

impl PacketView<'_> {
    pub fn name(&self) -> String {
        match self.form {
            Form::Long(kind) => kind.name().to_owned(),
            Form::OtherVersion => format!("long header ({})", super::version_name(self.version)),
            Form::VersionNegotiation => "Version Negotiation".to_owned(),
            Form::Short => "1-RTT".to_owned(),
        }
    }
}

/// Whether `datagram` starts like a QUIC long header: the form bit, a version that is QUIC
/// (known, draft, GREASE or 0), and Connection IDs no longer than QUIC allows.
pub fn looks_like_long(datagram: &[u8]) -> bool {
    let mut r = Reader::new(datagram);
    let (Ok(first), Ok(version)) = (r.u8(), r.u32()) else {
        return false;
    };
    if first & 0x80 == 0 || !looks_like_quic(version) {
        return false;
    }
    // RFC 8999 lets other versions use up to 255 bytes; v1, v2 and drafts use 20.
    let limit = if version == 0 { 255 } else { MAX_CID_LEN };
    let (Ok(dcid), Ok(scid)) = (r.vec_u8(), r.vec_u8()) else {
        return false;
    };
    dcid.left() <= limit && scid.left() <= limit
}

/// The long header packet at `start` of `datagram`. A packet whose Length runs past the
/// datagram is an error at the Length's offset.
pub fn parse_long(datagram: &[u8], start: usize) -> CodecResult<PacketView<'_>> {
    let rest = datagram.get(start..).unwrap_or(&[]);
    let mut r = Reader::at_offset(rest, start);
    let first = r.u8()?;
    let version = r.u32()?;
    let dcid = cid(&mut r, version)?;
    let scid = cid(&mut r, version)?;
    let mut view = PacketView {
        start,
        end: start.saturating_add(rest.len()),
        form: Form::OtherVersion,
        first,
        version,
        dcid,
        scid,
        token: &[],
        pn_offset: 0,
        versions: Vec::new(),
    };
    if version == 0 {
        view.form = Form::VersionNegotiation;
        while !r.is_empty() {
            let supported = r.u32()?;
            if view.versions.len() < MAX_VN_VERSIONS {
                view.versions.push(supported);
            }
        }
        return Ok(view);
    }
    let Some(known) = Version::from_wire(version) else {
        return Ok(view);
    };
    let kind = known.long_type(first >> 4);
    view.form = Form::Long(kind);
    match kind {
        LongType::Retry => {
            let left = r.left();
            if left < super::keys::TAG_LEN {
                return Err(r.invalid("a Retry packet too short for its integrity tag"));
            }
            view.token = r.take(left - super::keys::TAG_LEN)?;
        }
        LongType::Initial | LongType::ZeroRtt | LongType::Handshake => {
            if kind == LongType::Initial {
                view.token = r.vec_varint()?.rest();
            }
            let length = r.varint()?;
            view.pn_offset = r.offset();
            r.take_u64(length)?;
            view.end = r.offset();
        }
    }
    Ok(view)
}

fn cid<'a>(r: &mut Reader<'a>, version: u32) -> CodecResult<&'a [u8]> {
    let at = r.offset();
    let mut id = r.vec_u8()?;
    if version != 0 && id.left() > MAX_CID_LEN {
        return Err(crate::codec::CodecError::Invalid {
            at,
            what: format!(
                "a connection ID of {} bytes (at most {MAX_CID_LEN})",
                id.left()
            ),
        });
    }
    Ok(id.rest())
}

/// A short header packet at `start`, whose Destination Connection ID is `dcid_len` bytes
/// (known from the connection): it runs to the end of the datagram.
pub fn parse_short(datagram: &[u8], start: usize, dcid_len: usize) -> CodecResult<PacketView<'_>> {
    let rest = datagram.get(start..).unwrap_or(&[]);
    let mut r = Reader::at_offset(rest, start);
    let first = r.u8()?;
    let dcid = r.take(dcid_len)?;
    Ok(PacketView {
        start,
        end: start.saturating_add(rest.len()),
        form: Form::Short,
        first,
        version: 0,
        dcid,
        scid: &[],
        token: &[],
        pn_offset: r.offset(),
        versions: Vec::new(),
    })
}
