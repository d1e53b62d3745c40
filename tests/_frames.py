"""Helpers that take real packets from the project's captures and re-wrap them."""

from __future__ import annotations

import struct
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from tlslens import _core
from tlslens.bounds import DEFAULT_LIMITS, Limits
from tlslens.capture import open_capture
from tlslens.capture.writer import PcapngWriter
from tlslens.flows.synth import Chunk, Close, iter_frames
from tlslens.handshake import compose
from tlslens.model import Endpoint


def read_frames(path: Path) -> list[tuple[int, int, bytes]]:
    raw, reader = open_capture(path)
    with raw:
        return list(reader)


def core_events(
    path: Path,
    *,
    sessions: bool,
    keys: bool = False,
    limits: Limits = DEFAULT_LIMITS,
    content: _core.ContentOptions | None = None,
) -> list[_core.FlowEvent]:
    """Every event of the compiled flow table over a capture (``sessions``: record-level
    events out, read by each flow's content layer with ``content``; otherwise stream bytes
    and datagrams)."""
    core = _core.FlowCore(
        reorder_window=limits.reorder_window,
        max_connections=limits.max_connections,
        max_buffer=limits.max_buffer,
        watch_after=_core.MAX_PRELUDE_SCAN,
        checks=False,
        sessions=sessions,
        keys=keys,
        max_udp_flows=limits.max_udp_flows,
        content=content,
    )
    events: list[_core.FlowEvent] = []
    raw, reader = open_capture(path)
    with raw:
        capture_core = reader.open_core()
        while True:
            batch = core.pull(capture_core)
            events.extend(batch.events)
            if batch.hungry:
                if not reader.more(capture_core):
                    break
            elif core.exhausted(capture_core):
                break
        events.extend(core.finish().events)
    return events


def rewrapped(source: Path, path: Path, linktype: int, wrap: Callable[[bytes], bytes]) -> Path:
    """``source``'s frames, each re-wrapped by ``wrap``, written to ``path`` under ``linktype``."""
    with path.open("wb") as out:
        writer = PcapngWriter(out)
        writer.add_interface(linktype)
        for ts, _lt, data in read_frames(source):
            writer.add_packet(ts, wrap(data))
    return path


def ethernet_to_ip(frame: bytes) -> bytes:
    """Strip a 14-byte Ethernet header (the loopback captures use DLT_EN10MB)."""
    assert struct.unpack_from(">H", frame, 12)[0] in (0x0800, 0x86DD)
    return frame[14:]


def ethertype_of(ip: bytes) -> int:
    return 0x0800 if ip[0] >> 4 == 4 else 0x86DD


def with_vlan(frame: bytes, tags: list[tuple[int, int]]) -> bytes:
    """Insert 802.1Q/802.1ad tags (tpid, vlan id) after the MAC addresses."""
    out = frame[:12]
    for tpid, vid in tags:
        out += struct.pack(">HH", tpid, vid)
    return out + frame[12:]


def sll(ip: bytes) -> bytes:
    return struct.pack(">HHH8sH", 0, 772, 6, b"\0" * 8, ethertype_of(ip)) + ip


def sll2(ip: bytes) -> bytes:
    return struct.pack(">HHIHBB8s", ethertype_of(ip), 0, 1, 772, 0, 6, b"\0" * 8) + ip


def null_loopback(ip: bytes, byteorder: str = "<") -> bytes:
    family = 2 if ip[0] >> 4 == 4 else 30
    return struct.pack(byteorder + "I", family) + ip


def _server_hello() -> bytes:
    body = b"\x03\x03" + bytes(32) + b"\x00" + b"\xc0\x2f" + b"\x00" + b"\x00\x00"
    return compose.push_handshake(2, body)


def _certificate(ders: list[bytes]) -> bytes:
    entries = b"".join(len(d).to_bytes(3, "big") + d for d in ders)
    return compose.push_handshake(11, len(entries).to_bytes(3, "big") + entries)


def tls12_capture(
    path: Path,
    chains: list[tuple[list[bytes], str | None]],
    at: datetime,
    *,
    first_never_ends: bool = False,
) -> None:
    """One TLS 1.2 connection per (chain, SNI): a ClientHello, then ServerHello, the chain
    (DER, as given) in a Certificate message and ServerHelloDone, then FIN both ways. With
    ``first_never_ends``, the first connection is still open when the capture ends."""
    messages = [(_certificate(ders), sni) for ders, sni in chains]
    server_flights_capture(path, messages, at, first_never_ends=first_never_ends)


def server_flights_capture(
    path: Path,
    messages: list[tuple[bytes, str | None]],
    at: datetime,
    *,
    first_never_ends: bool = False,
) -> None:
    """As ``tls12_capture``, with the server's handshake messages (as given, between its
    ServerHello and ServerHelloDone) in place of a Certificate message."""
    with path.open("wb") as out:
        writer = PcapngWriter(out)
        writer.add_interface()
        ts = int(at.timestamp() * 1e9)
        for number, (middle, sni) in enumerate(messages):
            hello = compose.push_client_hello(
                compose.HelloSpec(
                    legacy_version=0x0303,
                    random=bytes(32),
                    cipher_suites=(0xC02F,),
                    server_name=sni,
                    groups=(29,),
                    signature_algorithms=(0x0804,),
                )
            )
            flight = _server_hello() + middle + compose.push_handshake(14, b"")
            client = Endpoint(
                bytes([10, 0, number // 250, number % 250 + 1]), 40000 + number % 20000
            )
            server = Endpoint(bytes([10, 1, 0, 1]), 443)
            for frame_ts, frame in iter_frames(
                client,
                server,
                syn_ts_ns=ts,
                synack_ts_ns=ts + 1000,
                chunks=[
                    Chunk(ts + 2000, 0, compose.push_records(22, 0x0301, hello)),
                    Chunk(ts + 3000, 1, compose.push_records(22, 0x0303, flight)),
                ],
                closes=(
                    []
                    if first_never_ends and number == 0
                    else [Close(ts + 4000, 0, "fin"), Close(ts + 5000, 1, "fin")]
                ),
            ):
                writer.add_packet(frame_ts, frame)
            ts += 10_000_000


def write_conversation(
    path: Path, sent: list[tuple[int, bytes]], at_ns: int, *, left_out: bytes | None = None
) -> None:
    """One TCP connection, 10.0.0.1:40000 to 10.0.0.2:443, carrying ``sent`` ((side, bytes),
    side 0 the client, one microsecond apart) and then a FIN each way, as a pcapng;
    ``left_out``: the segments carrying these bytes (one, or several past the MSS) are not
    written (a gap in the capture)."""
    chunks = [Chunk(at_ns + 1000 * (i + 2), side, data) for i, (side, data) in enumerate(sent)]
    end = at_ns + 1000 * (len(sent) + 2)
    # Each chunk has a time of its own: its segments are the frames of that time.
    dropped = {chunk.ts_ns for chunk in chunks if chunk.data == left_out}
    with path.open("wb") as out:
        writer = PcapngWriter(out)
        writer.add_interface(tsresol=9)
        for ts, frame in iter_frames(
            Endpoint(bytes([10, 0, 0, 1]), 40000),
            Endpoint(bytes([10, 0, 0, 2]), 443),
            syn_ts_ns=at_ns,
            synack_ts_ns=at_ns + 1000,
            chunks=chunks,
            closes=[Close(end, 0, "fin"), Close(end + 1000, 1, "fin")],
        ):
            if ts not in dropped:
                writer.add_packet(ts, frame)
