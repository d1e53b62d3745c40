//! Link layer, IPv4/IPv6, TCP and UDP header decoding: one frame down to its TCP segment
//! or UDP datagram, or the reason it carries none for us (ARP, a fragment, a truncated
//! header...).
//!
//! Every read is bounds-checked through `get`, so no length field of the frame can make
//! the decoder index past its end: a short frame is `Skip::Truncated`, never a panic.

pub const LINKTYPE_NULL: u32 = 0;
pub const LINKTYPE_ETHERNET: u32 = 1;
pub const LINKTYPE_RAW: u32 = 101;
/// OpenBSD's DLT_RAW value.
pub const LINKTYPE_RAW_12: u32 = 12;
pub const LINKTYPE_RAW_14: u32 = 14;
pub const LINKTYPE_LOOP: u32 = 108;
pub const LINKTYPE_LINUX_SLL: u32 = 113;
pub const LINKTYPE_IPV4: u32 = 228;
pub const LINKTYPE_IPV6: u32 = 229;
pub const LINKTYPE_LINUX_SLL2: u32 = 276;

pub const ETH_IPV4: u16 = 0x0800;
pub const ETH_IPV6: u16 = 0x86DD;
const VLAN_TAGS: [u16; 4] = [0x8100, 0x88A8, 0x9100, 0x9200];
/// BSD loopback address families for IPv6 differ by OS (NetBSD/OpenBSD, FreeBSD, macOS).
const NULL_AF_INET6: [u32; 3] = [24, 28, 30];

/// IPv6 extension headers walked through (RFC 8200 §4).
const IPV6_EXT: [u8; 6] = [0, 43, 60, 135, 139, 140];
const IPV6_FRAGMENT: u8 = 44;
const IPV6_AH: u8 = 51;

pub const TCP_FIN: u8 = 0x01;
pub const TCP_SYN: u8 = 0x02;
pub const TCP_RST: u8 = 0x04;
pub const TCP_ACK: u8 = 0x10;

/// The name of a link type as the summary gives it (`linktypes`).
pub fn linktype_name(linktype: u32) -> String {
    let name = match linktype {
        LINKTYPE_NULL => "BSD loopback",
        LINKTYPE_ETHERNET => "Ethernet",
        LINKTYPE_RAW | LINKTYPE_RAW_12 | LINKTYPE_RAW_14 => "raw IP",
        LINKTYPE_LOOP => "OpenBSD loopback",
        LINKTYPE_LINUX_SLL => "Linux cooked v1",
        LINKTYPE_IPV4 => "raw IPv4",
        LINKTYPE_IPV6 => "raw IPv6",
        LINKTYPE_LINUX_SLL2 => "Linux cooked v2",
        105 => "802.11",
        127 => "802.11 radiotap",
        other => return format!("link type {other}"),
    };
    name.to_owned()
}

/// Why a frame gave no TCP segment (nor a datagram the flow table keeps: `Udp` counts the
/// UDP frames that open or join no QUIC/DTLS association, and those cut inside the header).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Skip {
    UnsupportedLink,
    NotIp,
    Truncated,
    Ipv4Fragment,
    Ipv6Fragment,
    Udp,
    OtherProtocol,
}

impl Skip {
    /// The key of this reason in the summary's `skipped` counts.
    pub fn name(self) -> &'static str {
        match self {
            Skip::UnsupportedLink => "unsupported_link",
            Skip::NotIp => "not_ip",
            Skip::Truncated => "truncated",
            Skip::Ipv4Fragment => "ipv4_fragment",
            Skip::Ipv6Fragment => "ipv6_fragment",
            Skip::Udp => "udp",
            Skip::OtherProtocol => "other_protocol",
        }
    }
}

/// An IPv4 (4 bytes) or IPv6 (16 bytes) address, as the frame carried it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Addr {
    bytes: [u8; 16],
    len: u8,
}

impl Addr {
    fn from_slice(raw: &[u8]) -> Addr {
        let mut bytes = [0u8; 16];
        let len = raw.len().min(16);
        bytes[..len].copy_from_slice(&raw[..len]);
        Addr {
            bytes,
            len: len as u8,
        }
    }

    pub fn v4(octets: [u8; 4]) -> Addr {
        Addr::from_slice(&octets)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// One UDP datagram: the payload borrows the frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Datagram<'a> {
    pub src: Addr,
    pub dst: Addr,
    pub sport: u16,
    pub dport: u16,
    pub payload: &'a [u8],
    /// The UDP length field disagrees with the IP packet: below the 8-byte header, or
    /// beyond what the packet holds. The payload is then what the packet holds after the
    /// header (see `udp`).
    pub bad_length: bool,
    /// The IP or UDP header claims more bytes than the frame holds: cut by the capture's
    /// snap length when the frame was longer on the wire, else a lie.
    pub short: bool,
}

/// What a frame carries for us.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Packet<'a> {
    Tcp(Segment<'a>),
    Udp(Datagram<'a>),
}

/// One TCP segment: the payload borrows the frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment<'a> {
    pub src: Addr,
    pub dst: Addr,
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub payload: &'a [u8],
    /// The payload bytes the IP header claims beyond what the frame holds: cut by the
    /// capture's snap length when the frame was longer on the wire (see `Datagram::short`).
    pub missing: usize,
}

fn u16_at(data: &[u8], at: usize) -> Option<u16> {
    let b = data.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

fn u32_at(data: &[u8], at: usize) -> Option<u32> {
    let b = data.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

fn byte_at(data: &[u8], at: usize) -> Option<u8> {
    data.get(at).copied()
}

/// The link layer: (ethertype-like protocol, offset of the network header).
fn link(linktype: u32, data: &[u8]) -> Result<(u16, usize), Skip> {
    match linktype {
        LINKTYPE_ETHERNET => {
            let mut proto = u16_at(data, 12).ok_or(Skip::Truncated)?;
            let mut off = 14usize;
            while VLAN_TAGS.contains(&proto) {
                // 802.1Q, 802.1ad (QinQ): each tag is 4 bytes, the frame bounds the walk.
                if data.len() < off + 4 {
                    return Err(Skip::Truncated);
                }
                proto = u16_at(data, off + 2).ok_or(Skip::Truncated)?;
                off += 4;
            }
            Ok((proto, off))
        }
        LINKTYPE_RAW | LINKTYPE_RAW_12 | LINKTYPE_RAW_14 | LINKTYPE_IPV4 | LINKTYPE_IPV6 => {
            let first = byte_at(data, 0).ok_or(Skip::Truncated)?;
            let proto = match first >> 4 {
                4 => ETH_IPV4,
                6 => ETH_IPV6,
                _ => 0,
            };
            Ok((proto, 0))
        }
        LINKTYPE_NULL | LINKTYPE_LOOP => {
            let raw = data.get(..4).ok_or(Skip::Truncated)?;
            let raw = [raw[0], raw[1], raw[2], raw[3]];
            // DLT_NULL's family is in the capturing host's byte order; DLT_LOOP's is big-endian.
            let mut family = u32::from_le_bytes(raw);
            if family > 0xFFFF {
                family = u32::from_be_bytes(raw);
            }
            let proto = if family == 2 {
                ETH_IPV4
            } else if NULL_AF_INET6.contains(&family) {
                ETH_IPV6
            } else {
                0
            };
            Ok((proto, 4))
        }
        LINKTYPE_LINUX_SLL => {
            if data.len() < 16 {
                return Err(Skip::Truncated);
            }
            Ok((u16_at(data, 14).ok_or(Skip::Truncated)?, 16))
        }
        LINKTYPE_LINUX_SLL2 => {
            if data.len() < 20 {
                return Err(Skip::Truncated);
            }
            Ok((u16_at(data, 0).ok_or(Skip::Truncated)?, 20))
        }
        _ => Err(Skip::UnsupportedLink),
    }
}

/// The network layer of an IP packet at `off`: its addresses, the transport protocol,
/// where the transport header starts and where the packet ends (padding trimmed).
struct Network {
    src: Addr,
    dst: Addr,
    proto: u8,
    off: usize,
    end: usize,
    /// The bytes the header's length claims beyond what the frame holds.
    missing: usize,
}

fn ipv4(data: &[u8], off: usize) -> Result<Network, Skip> {
    if data.len() < off + 20 {
        return Err(Skip::Truncated);
    }
    let vihl = byte_at(data, off).ok_or(Skip::Truncated)?;
    if vihl >> 4 != 4 {
        return Err(Skip::NotIp);
    }
    let ihl = usize::from(vihl & 0x0F) * 4;
    let total = usize::from(u16_at(data, off + 2).ok_or(Skip::Truncated)?);
    let frag = u16_at(data, off + 6).ok_or(Skip::Truncated)?;
    let proto = byte_at(data, off + 9).ok_or(Skip::Truncated)?;
    if frag & 0x3FFF != 0 {
        // MF set or a non-zero fragment offset.
        return Err(Skip::Ipv4Fragment);
    }
    let src = Addr::from_slice(&data[off + 12..off + 16]);
    let dst = Addr::from_slice(&data[off + 16..off + 20]);
    // Trim Ethernet padding; a total length of 0 is TSO offload: trust the frame.
    let end = if total >= ihl && off + total <= data.len() {
        off + total
    } else {
        data.len()
    };
    Ok(Network {
        src,
        dst,
        proto,
        off: off + ihl,
        end,
        missing: (off + total).saturating_sub(data.len()),
    })
}

fn ipv6(data: &[u8], off: usize) -> Result<Network, Skip> {
    if data.len() < off + 40 {
        return Err(Skip::Truncated);
    }
    if byte_at(data, off).ok_or(Skip::Truncated)? >> 4 != 6 {
        return Err(Skip::NotIp);
    }
    let plen = usize::from(u16_at(data, off + 4).ok_or(Skip::Truncated)?);
    let mut proto = byte_at(data, off + 6).ok_or(Skip::Truncated)?;
    let src = Addr::from_slice(&data[off + 8..off + 24]);
    let dst = Addr::from_slice(&data[off + 24..off + 40]);
    let missing = (off + 40 + plen).saturating_sub(data.len());
    let end = if plen != 0 && missing == 0 {
        off + 40 + plen
    } else {
        data.len()
    };
    let mut off = off + 40;
    while IPV6_EXT.contains(&proto) || proto == IPV6_AH || proto == IPV6_FRAGMENT {
        // Each header is at least 8 bytes and moves `off` forward, so the walk ends.
        if off + 8 > end {
            return Err(Skip::Truncated);
        }
        if proto == IPV6_FRAGMENT {
            return Err(Skip::Ipv6Fragment);
        }
        let next = byte_at(data, off).ok_or(Skip::Truncated)?;
        let len = usize::from(byte_at(data, off + 1).ok_or(Skip::Truncated)?);
        off += if proto == IPV6_AH {
            (len + 2) * 4
        } else {
            (len + 1) * 8
        };
        proto = next;
    }
    Ok(Network {
        src,
        dst,
        proto,
        off,
        end,
        missing,
    })
}

/// Decode one frame down to its TCP segment or UDP datagram.
pub fn decode(linktype: u32, data: &[u8]) -> Result<Packet<'_>, Skip> {
    let (proto, off) = link(linktype, data)?;
    let net = match proto {
        ETH_IPV4 => ipv4(data, off)?,
        ETH_IPV6 => ipv6(data, off)?,
        _ => return Err(Skip::NotIp),
    };
    match net.proto {
        6 => tcp(data, &net).map(Packet::Tcp),
        17 => udp(data, &net).map(Packet::Udp),
        _ => Err(Skip::OtherProtocol),
    }
}

/// Decode one frame down to its TCP segment.
pub fn decode_tcp(linktype: u32, data: &[u8]) -> Result<Segment<'_>, Skip> {
    match decode(linktype, data)? {
        Packet::Tcp(seg) => Ok(seg),
        Packet::Udp(_) => Err(Skip::Udp),
    }
}

fn tcp<'a>(data: &'a [u8], net: &Network) -> Result<Segment<'a>, Skip> {
    let off = net.off;
    if net.end < off || net.end - off < 20 {
        return Err(Skip::Truncated);
    }
    let sport = u16_at(data, off).ok_or(Skip::Truncated)?;
    let dport = u16_at(data, off + 2).ok_or(Skip::Truncated)?;
    let seq = u32_at(data, off + 4).ok_or(Skip::Truncated)?;
    let ack = u32_at(data, off + 8).ok_or(Skip::Truncated)?;
    let doff = byte_at(data, off + 12).ok_or(Skip::Truncated)?;
    let flags = byte_at(data, off + 13).ok_or(Skip::Truncated)?;
    let hlen = usize::from(doff >> 4) * 4;
    if hlen < 20 || off + hlen > net.end {
        return Err(Skip::Truncated);
    }
    let payload = data.get(off + hlen..net.end).ok_or(Skip::Truncated)?;
    Ok(Segment {
        src: net.src,
        dst: net.dst,
        sport,
        dport,
        seq,
        ack,
        flags,
        payload,
        missing: net.missing,
    })
}

/// The UDP header (RFC 768). A frame whose header is cut short counts as UDP, as any UDP
/// frame did before datagrams were read: the summary's counts stay what they were.
///
/// A UDP length shorter than the IP payload ends the datagram there (the rest is link
/// padding, as Wireshark reads it). One that is below 8 or claims more than the packet
/// holds is a lie or a capture cut by its snap length: the datagram is read as far as the
/// packet goes and marked `bad_length`, not skipped, because a DTLS datagram carries whole
/// records one after the other and a QUIC datagram whole packets, so those before the cut
/// are still worth reading (the parser after us reports where the cut one ends).
fn udp<'a>(data: &'a [u8], net: &Network) -> Result<Datagram<'a>, Skip> {
    let off = net.off;
    if net.end < off || net.end - off < 8 {
        return Err(Skip::Udp);
    }
    let sport = u16_at(data, off).ok_or(Skip::Udp)?;
    let dport = u16_at(data, off + 2).ok_or(Skip::Udp)?;
    let length = usize::from(u16_at(data, off + 4).ok_or(Skip::Udp)?);
    let held = net.end - off;
    let bad_length = length < 8 || length > held;
    let end = if bad_length { net.end } else { off + length };
    let payload = data.get(off + 8..end).ok_or(Skip::Udp)?;
    Ok(Datagram {
        src: net.src,
        dst: net.dst,
        sport,
        dport,
        payload,
        bad_length,
        short: net.missing > 0 || length > held,
    })
}
