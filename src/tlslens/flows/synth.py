"""Ethernet/IP/TCP (or UDP) frames for a conversation recorded above the transport (a live
connection).

Pure: the two endpoints and what each side sent, with when, in; Ethernet frames out,
ready for a pcapng writer. The framing is synthetic but consistent, so that Wireshark,
tshark and the capture pipeline all read it as the connection it was: a three-way
handshake with MSS options, sequence and acknowledgement numbers that follow the bytes,
MSS-sized segments, correct IPv4 and TCP checksums, and FIN or RST at the end; for UDP
(a live QUIC connection), one frame per datagram with its UDP checksum.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from tlslens._core import TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN
from tlslens.model import Endpoint

ETH_IPV4 = 0x0800
ETH_IPV6 = 0x86DD
TCP_PSH = 0x08
# Locally administered MAC addresses: the real ones of a live connection are not known.
CLIENT_MAC = bytes.fromhex("020000000001")
SERVER_MAC = bytes.fromhex("020000000002")
# The client's and the server's initial sequence numbers: fixed, so output is reproducible.
CLIENT_ISN = 0x1000_0000
SERVER_ISN = 0x5000_0000
WINDOW = 65535
MSS_IPV4 = 1460
MSS_IPV6 = 1440
IPPROTO_TCP = 6
IPPROTO_UDP = 17


@dataclass(frozen=True, slots=True)
class Chunk:
    """What one side handed to (or got from) its socket at one time."""

    ts_ns: int
    side: int  # 0 = client, 1 = server
    data: bytes


@dataclass(frozen=True, slots=True)
class Close:
    """How one side ended the connection: ``kind`` is "fin" or "rst"."""

    ts_ns: int
    side: int
    kind: str


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


class _Framer:
    def __init__(self, client: Endpoint, server: Endpoint) -> None:
        self.ends = (client, server)
        self.macs = (CLIENT_MAC, SERVER_MAC)
        self.v6 = len(client.ip) == 16
        self.mss = MSS_IPV6 if self.v6 else MSS_IPV4
        self.next_seq = [CLIENT_ISN, SERVER_ISN]
        self.ip_id = [1, 1]

    def frame(self, side: int, flags: int, payload: bytes = b"", options: bytes = b"") -> bytes:
        src, dst = self.ends[side], self.ends[1 - side]
        seq = self.next_seq[side]
        ack = self.next_seq[1 - side] if flags & TCP_ACK else 0
        offset_words = (20 + len(options)) // 4
        header = struct.pack(
            "!HHIIBBHHH", src.port, dst.port, seq, ack, offset_words << 4, flags, WINDOW, 0, 0
        )
        advance = len(payload) + (1 if flags & (TCP_SYN | TCP_FIN) else 0)
        self.next_seq[side] = (seq + advance) & 0xFFFFFFFF
        return self._wrap(side, IPPROTO_TCP, header + options + payload, 16)

    def datagram(self, side: int, payload: bytes) -> bytes:
        src, dst = self.ends[side], self.ends[1 - side]
        header = struct.pack("!HHHH", src.port, dst.port, 8 + len(payload), 0)
        return self._wrap(side, IPPROTO_UDP, header + payload, 6)

    def _wrap(self, side: int, protocol: int, segment: bytes, checksum_at: int) -> bytes:
        """IP and Ethernet around a transport segment whose checksum (at ``checksum_at``)
        is filled in over the pseudo-header."""
        src, dst = self.ends[side], self.ends[1 - side]
        length = len(segment)
        if self.v6:
            pseudo = src.ip + dst.ip + struct.pack("!IxxxB", length, protocol)
        else:
            pseudo = src.ip + dst.ip + struct.pack("!xBH", protocol, length)
        checksum = _checksum(pseudo + segment)
        if protocol == IPPROTO_UDP and checksum == 0:
            checksum = 0xFFFF  # RFC 768: a computed zero is sent as all ones
        segment = segment[:checksum_at] + struct.pack("!H", checksum) + segment[checksum_at + 2 :]
        if self.v6:
            ip = struct.pack("!IHBB", 6 << 28, length, protocol, 64) + src.ip + dst.ip
            ethertype = ETH_IPV6
        else:
            ident = self.ip_id[side]
            self.ip_id[side] = (ident + 1) & 0xFFFF
            ip = struct.pack("!BBHHHBBH", 0x45, 0, 20 + length, ident, 0x4000, 64, protocol, 0)
            ip += src.ip + dst.ip
            ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
            ethertype = ETH_IPV4
        ether = self.macs[1 - side] + self.macs[side] + struct.pack("!H", ethertype)
        return ether + ip + segment


def iter_frames(
    client: Endpoint,
    server: Endpoint,
    *,
    syn_ts_ns: int,
    synack_ts_ns: int | None,
    chunks: Sequence[Chunk],
    closes: Sequence[Close] = (),
) -> Iterator[tuple[int, bytes]]:
    """``(ts_ns, ethernet_frame)`` for the whole conversation, in time order.

    Without ``synack_ts_ns`` the server never answered the SYN (the client's SYN alone);
    a server ``Close`` of kind "rst" right after it is a refused connection."""
    framer = _Framer(client, server)
    mss_option = struct.pack("!BBH", 2, 4, framer.mss)
    yield syn_ts_ns, framer.frame(0, TCP_SYN, options=mss_option)
    if synack_ts_ns is None:
        for close in closes:
            if close.side == 1 and close.kind == "rst":
                yield close.ts_ns, framer.frame(1, TCP_RST | TCP_ACK)
        return
    yield synack_ts_ns, framer.frame(1, TCP_SYN | TCP_ACK, options=mss_option)
    yield synack_ts_ns, framer.frame(0, TCP_ACK)
    events: list[tuple[int, int, Chunk | Close]] = [
        (chunk.ts_ns, index, chunk) for index, chunk in enumerate(chunks)
    ]
    events += [(close.ts_ns, len(chunks) + index, close) for index, close in enumerate(closes)]
    events.sort(key=lambda item: (item[0], item[1]))
    ended = False
    for ts_ns, _index, event in events:
        if ended:
            break
        if isinstance(event, Chunk):
            data = event.data
            for start in range(0, len(data), framer.mss):
                piece = data[start : start + framer.mss]
                last = start + framer.mss >= len(data)
                yield ts_ns, framer.frame(event.side, TCP_ACK | (TCP_PSH if last else 0), piece)
        elif event.kind == "rst":
            yield ts_ns, framer.frame(event.side, TCP_RST | TCP_ACK)
            ended = True
        else:
            yield ts_ns, framer.frame(event.side, TCP_FIN | TCP_ACK)


def iter_datagram_frames(
    client: Endpoint, server: Endpoint, datagrams: Sequence[Chunk]
) -> Iterator[tuple[int, bytes]]:
    """``(ts_ns, ethernet_frame)`` for each UDP datagram (one ``Chunk`` each), in the order
    given (the order they were sent and received)."""
    framer = _Framer(client, server)
    for datagram in datagrams:
        yield datagram.ts_ns, framer.datagram(datagram.side, datagram.data)


__all__ = ["Chunk", "Close", "iter_datagram_frames", "iter_frames"]
