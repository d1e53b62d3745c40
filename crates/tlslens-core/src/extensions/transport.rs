//! quic_transport_parameters (RFC 9000 §18): a sequence of (id, length, value), ids and
//! lengths as varints. The ids of §18.2 are named, and those of the extensions of the IANA
//! registry that stacks send (RFC 9221 max_datagram_frame_size, RFC 9287 grease_quic_bit,
//! RFC 9368 version_information); integer values decoded, the preferred_address and the
//! version_information unpacked; unknown and GREASE ids (31 * N + 27, §18.1) kept raw.

use crate::codec::{CodecResult, Reader};

/// More parameters than any stack sends (about twenty, GREASE included): past this many,
/// the extension is refused rather than listed.
pub const MAX_TRANSPORT_PARAMETERS: usize = 256;

/// RFC 9000 §17.2: a connection ID holds at most 20 bytes.
const MAX_CID: usize = 20;

/// More Available Versions than any stack lists (a handful, GREASE included): past this,
/// the version_information parameter is refused rather than listed.
pub const MAX_AVAILABLE_VERSIONS: usize = 64;

/// One transport parameter: its id, its raw value, and what it means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportParameter {
    pub id: u64,
    pub value: Vec<u8>,
    pub decoded: TransportValue,
}

/// A transport parameter's value, by the kind §18.2 gives its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportValue {
    /// A varint-valued parameter (max_idle_timeout, initial_max_data, ...).
    Integer(u64),
    /// A zero-length parameter (disable_active_migration).
    Flag,
    /// A connection ID or the stateless_reset_token: the value is the field.
    Bytes,
    PreferredAddress(PreferredAddress),
    VersionInformation(VersionInformation),
    /// An id RFC 9000 does not define (an extension's, or GREASE): kept raw.
    Unknown,
}

/// RFC 9000 §18.2's Preferred Address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreferredAddress {
    pub ipv4_address: [u8; 4],
    pub ipv4_port: u16,
    pub ipv6_address: [u8; 16],
    pub ipv6_port: u16,
    pub connection_id: Vec<u8>,
    pub stateless_reset_token: [u8; 16],
}

/// RFC 9368 §3's Version Information: the version the sender's Initials use (its
/// choice), then the versions it supports, in its order of preference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionInformation {
    pub chosen_version: u32,
    pub available_versions: Vec<u32>,
}

#[derive(Clone, Copy)]
enum Kind {
    Integer,
    Flag,
    ConnectionId,
    Token,
    PreferredAddress,
    VersionInformation,
}

/// RFC 9000 §18.2's table, then the extensions' ids: name and kind of each id.
const KNOWN: [(u64, &str, Kind); 20] = [
    (
        0x00,
        "original_destination_connection_id",
        Kind::ConnectionId,
    ),
    (0x01, "max_idle_timeout", Kind::Integer),
    (0x02, "stateless_reset_token", Kind::Token),
    (0x03, "max_udp_payload_size", Kind::Integer),
    (0x04, "initial_max_data", Kind::Integer),
    (0x05, "initial_max_stream_data_bidi_local", Kind::Integer),
    (0x06, "initial_max_stream_data_bidi_remote", Kind::Integer),
    (0x07, "initial_max_stream_data_uni", Kind::Integer),
    (0x08, "initial_max_streams_bidi", Kind::Integer),
    (0x09, "initial_max_streams_uni", Kind::Integer),
    (0x0a, "ack_delay_exponent", Kind::Integer),
    (0x0b, "max_ack_delay", Kind::Integer),
    (0x0c, "disable_active_migration", Kind::Flag),
    (0x0d, "preferred_address", Kind::PreferredAddress),
    (0x0e, "active_connection_id_limit", Kind::Integer),
    (0x0f, "initial_source_connection_id", Kind::ConnectionId),
    (0x10, "retry_source_connection_id", Kind::ConnectionId),
    (0x11, "version_information", Kind::VersionInformation),
    (0x20, "max_datagram_frame_size", Kind::Integer),
    // Zero-length: the sender accepts packets with the fixed bit at 0 (RFC 9287 §3).
    (0x2ab2, "grease_quic_bit", Kind::Flag),
];

fn known(id: u64) -> Option<(&'static str, Kind)> {
    KNOWN
        .iter()
        .find(|(code, _, _)| *code == id)
        .map(|(_, name, kind)| (*name, *kind))
}

/// The registered name of a transport parameter id (RFC 9000 §18.2, RFC 9221, RFC 9287,
/// RFC 9368), if it has one.
pub fn parameter_name(id: u64) -> Option<&'static str> {
    known(id).map(|(name, _)| name)
}

/// Every parameter of the body, in wire order.
pub(super) fn parameters(r: &mut Reader<'_>) -> CodecResult<Vec<TransportParameter>> {
    let mut out = Vec::new();
    while !r.is_empty() {
        if out.len() == MAX_TRANSPORT_PARAMETERS {
            return Err(r.invalid(format!(
                "more than {MAX_TRANSPORT_PARAMETERS} transport parameters"
            )));
        }
        let id = r.varint()?;
        let mut value = r.vec_varint()?;
        let raw = value.peek(value.left())?.to_vec();
        let decoded = match known(id) {
            None => {
                value.rest();
                TransportValue::Unknown
            }
            Some((name, kind)) => decode_value(&mut value, name, kind)?,
        };
        value.finish()?;
        out.push(TransportParameter {
            id,
            value: raw,
            decoded,
        });
    }
    Ok(out)
}

fn decode_value(v: &mut Reader<'_>, name: &str, kind: Kind) -> CodecResult<TransportValue> {
    Ok(match kind {
        Kind::Integer => TransportValue::Integer(v.varint()?),
        Kind::Flag => TransportValue::Flag,
        Kind::ConnectionId => {
            if v.left() > MAX_CID {
                return Err(v.invalid(format!(
                    "{name} of {} bytes (a connection ID holds at most {MAX_CID})",
                    v.left()
                )));
            }
            v.rest();
            TransportValue::Bytes
        }
        Kind::Token => {
            v.take(16)?;
            TransportValue::Bytes
        }
        Kind::PreferredAddress => TransportValue::PreferredAddress(preferred_address(v)?),
        Kind::VersionInformation => TransportValue::VersionInformation(version_information(v)?),
    })
}

/// RFC 9368 §3: a value that is not a whole number of 32-bit versions, or holds version 0,
/// is a parsing failure (TRANSPORT_PARAMETER_ERROR).
fn version_information(v: &mut Reader<'_>) -> CodecResult<VersionInformation> {
    let chosen_version = nonzero_version(v, "its Chosen Version")?;
    let mut available_versions = Vec::new();
    while !v.is_empty() {
        if available_versions.len() == MAX_AVAILABLE_VERSIONS {
            return Err(v.invalid(format!(
                "version_information with more than {MAX_AVAILABLE_VERSIONS} Available Versions"
            )));
        }
        available_versions.push(nonzero_version(v, "an Available Version")?);
    }
    Ok(VersionInformation {
        chosen_version,
        available_versions,
    })
}

fn nonzero_version(v: &mut Reader<'_>, what: &str) -> CodecResult<u32> {
    if v.left() < 4 {
        return Err(v.invalid(format!(
            "version_information: {what} cut short ({} bytes left, a version is 4)",
            v.left()
        )));
    }
    match v.u32()? {
        0 => Err(v.invalid(format!(
            "version_information: {what} is 0, which RFC 9368 §3 forbids"
        ))),
        version => Ok(version),
    }
}

fn preferred_address(v: &mut Reader<'_>) -> CodecResult<PreferredAddress> {
    let mut ipv4_address = [0u8; 4];
    ipv4_address.copy_from_slice(v.take(4)?);
    let ipv4_port = v.u16()?;
    let mut ipv6_address = [0u8; 16];
    ipv6_address.copy_from_slice(v.take(16)?);
    let ipv6_port = v.u16()?;
    let mut cid = v.vec_u8()?;
    // §18.2: a zero-length connection ID here is a TRANSPORT_PARAMETER_ERROR.
    if cid.is_empty() || cid.left() > MAX_CID {
        return Err(cid.invalid(format!(
            "preferred_address connection ID of {} bytes (1 to {MAX_CID} allowed)",
            cid.left()
        )));
    }
    let connection_id = cid.rest().to_vec();
    let mut stateless_reset_token = [0u8; 16];
    stateless_reset_token.copy_from_slice(v.take(16)?);
    Ok(PreferredAddress {
        ipv4_address,
        ipv4_port,
        ipv6_address,
        ipv6_port,
        connection_id,
        stateless_reset_token,
    })
}
