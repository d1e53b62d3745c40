"""Link layer, IPv4/IPv6 and TCP header decoding, on the per-packet hot path.

Strategy: one function walks the headers with ``struct.unpack_from`` and returns
either a ``TCPSegment`` tuple or a ``Skip`` code saying why the frame carries no
TCP payload for us (UDP, ARP, a fragment, a truncated header...). No object is
built per packet beyond the result tuple.
"""

from __future__ import annotations

import struct
from enum import IntEnum
from typing import NamedTuple

LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_RAW_12 = 12  # OpenBSD's DLT_RAW value
LINKTYPE_RAW_14 = 14
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276

LINKTYPE_NAMES = {
    LINKTYPE_NULL: "BSD loopback",
    LINKTYPE_ETHERNET: "Ethernet",
    LINKTYPE_RAW: "raw IP",
    LINKTYPE_RAW_12: "raw IP",
    LINKTYPE_RAW_14: "raw IP",
    LINKTYPE_LOOP: "OpenBSD loopback",
    LINKTYPE_LINUX_SLL: "Linux cooked v1",
    LINKTYPE_IPV4: "raw IPv4",
    LINKTYPE_IPV6: "raw IPv6",
    LINKTYPE_LINUX_SLL2: "Linux cooked v2",
    105: "802.11",
    127: "802.11 radiotap",
}

ETH_IPV4 = 0x0800
ETH_IPV6 = 0x86DD
VLAN_TAGS = (0x8100, 0x88A8, 0x9100, 0x9200)
# BSD loopback address families for IPv6 differ by OS (NetBSD/OpenBSD, FreeBSD, macOS).
NULL_AF_INET6 = (24, 28, 30)

# IPv6 extension headers that we walk through (RFC 8200 §4).
_IPV6_EXT = (0, 43, 60, 135, 139, 140)
_IPV6_FRAGMENT = 44
_IPV6_AH = 51

TCP_FIN = 0x01
TCP_SYN = 0x02
TCP_RST = 0x04
TCP_ACK = 0x10

_unpack_h = struct.Struct(">H").unpack_from
_unpack_tcp = struct.Struct(">HHIIBB").unpack_from


class Skip(IntEnum):
    """Why a frame gave no TCP segment."""

    UNSUPPORTED_LINK = 1
    NOT_IP = 2
    TRUNCATED = 3
    IPV4_FRAGMENT = 4
    IPV6_FRAGMENT = 5
    UDP = 6
    OTHER_PROTOCOL = 7


class TCPSegment(NamedTuple):
    src: bytes
    dst: bytes
    sport: int
    dport: int
    seq: int
    ack: int
    flags: int
    payload: bytes


# Ethernet + IPv4 without options + TCP, the common case, in two unpacks.
_ETH_IPV4 = struct.Struct(">12xHBxHxxHxB2x4s4s")
_TCP = struct.Struct(">HHIIBB")


def decode_tcp(linktype: int, data: bytes) -> TCPSegment | Skip:
    """Decode one frame down to its TCP segment."""
    if linktype == LINKTYPE_ETHERNET and len(data) >= 54:
        ethertype, vihl, total, frag, ip_proto, src, dst = _ETH_IPV4.unpack_from(data)
        if ethertype == ETH_IPV4 and vihl == 0x45 and ip_proto == 6 and not frag & 0x3FFF:
            end = 14 + total if 20 <= total and 14 + total <= len(data) else len(data)
            if end >= 54:
                sport, dport, seq, ack, doff, flags = _TCP.unpack_from(data, 34)
                hlen = (doff >> 4) * 4
                if hlen >= 20 and 34 + hlen <= end:
                    return TCPSegment(
                        src, dst, sport, dport, seq, ack, flags, data[34 + hlen : end]
                    )
    return _decode_tcp_slow(linktype, data)


def _decode_tcp_slow(linktype: int, data: bytes) -> TCPSegment | Skip:
    # Link layer -> (ethertype-like protocol, offset of the network header)
    if linktype == LINKTYPE_ETHERNET:
        if len(data) < 14:
            return Skip.TRUNCATED
        proto = _unpack_h(data, 12)[0]
        off = 14
        while proto in VLAN_TAGS:  # 802.1Q, 802.1ad (QinQ)
            if len(data) < off + 4:
                return Skip.TRUNCATED
            proto = _unpack_h(data, off + 2)[0]
            off += 4
    elif linktype in (LINKTYPE_RAW, LINKTYPE_RAW_12, LINKTYPE_RAW_14, LINKTYPE_IPV4, LINKTYPE_IPV6):
        if not data:
            return Skip.TRUNCATED
        version = data[0] >> 4
        proto = ETH_IPV4 if version == 4 else ETH_IPV6 if version == 6 else 0
        off = 0
    elif linktype == LINKTYPE_NULL or linktype == LINKTYPE_LOOP:
        if len(data) < 4:
            return Skip.TRUNCATED
        # DLT_NULL's family is in the capturing host's byte order; DLT_LOOP's is big-endian.
        family = int.from_bytes(data[:4], "little")
        if family > 0xFFFF:
            family = int.from_bytes(data[:4], "big")
        proto = ETH_IPV4 if family == 2 else ETH_IPV6 if family in NULL_AF_INET6 else 0
        off = 4
    elif linktype == LINKTYPE_LINUX_SLL:
        if len(data) < 16:
            return Skip.TRUNCATED
        proto = _unpack_h(data, 14)[0]
        off = 16
    elif linktype == LINKTYPE_LINUX_SLL2:
        if len(data) < 20:
            return Skip.TRUNCATED
        proto = _unpack_h(data, 0)[0]
        off = 20
    else:
        return Skip.UNSUPPORTED_LINK

    if proto == ETH_IPV4:
        if len(data) < off + 20:
            return Skip.TRUNCATED
        vihl = data[off]
        if vihl >> 4 != 4:
            return Skip.NOT_IP
        ihl = (vihl & 0x0F) * 4
        total = _unpack_h(data, off + 2)[0]
        frag = _unpack_h(data, off + 6)[0]
        ip_proto = data[off + 9]
        if frag & 0x3FFF:  # MF set or a non-zero fragment offset
            return Skip.IPV4_FRAGMENT
        src = data[off + 12 : off + 16]
        dst = data[off + 16 : off + 20]
        # Trim Ethernet padding; a total length of 0 is TSO offload: trust the frame.
        end = off + total if total >= ihl and off + total <= len(data) else len(data)
        off += ihl
    elif proto == ETH_IPV6:
        if len(data) < off + 40:
            return Skip.TRUNCATED
        if data[off] >> 4 != 6:
            return Skip.NOT_IP
        plen = _unpack_h(data, off + 4)[0]
        ip_proto = data[off + 6]
        src = data[off + 8 : off + 24]
        dst = data[off + 24 : off + 40]
        end = off + 40 + plen if plen and off + 40 + plen <= len(data) else len(data)
        off += 40
        while ip_proto in _IPV6_EXT or ip_proto == _IPV6_AH or ip_proto == _IPV6_FRAGMENT:
            if off + 8 > end:
                return Skip.TRUNCATED
            if ip_proto == _IPV6_FRAGMENT:
                return Skip.IPV6_FRAGMENT
            next_proto = data[off]
            if ip_proto == _IPV6_AH:
                off += (data[off + 1] + 2) * 4
            else:
                off += (data[off + 1] + 1) * 8
            ip_proto = next_proto
    else:
        return Skip.NOT_IP

    if ip_proto != 6:
        return Skip.UDP if ip_proto == 17 else Skip.OTHER_PROTOCOL
    if end - off < 20:
        return Skip.TRUNCATED
    sport, dport, seq, ack, doff, flags = _unpack_tcp(data, off)
    hlen = (doff >> 4) * 4
    if hlen < 20 or off + hlen > end:
        return Skip.TRUNCATED
    return TCPSegment(src, dst, sport, dport, seq, ack, flags, data[off + hlen : end])
