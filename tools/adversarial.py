"""Build adversarial captures, and check that `tlslens show` survives each within bounds.

Usage:
    python tools/adversarial.py --out DIR [--scale 1.0]      # build the set
    python tools/adversarial.py --out DIR --check            # build, then run show on each

Each capture is made with the project's own writers (flows/synth for Ethernet/IP/TCP,
handshake/compose for TLS, capture/writer for pcapng) and is hostile in one way. The check
runs `tlslens show --json` on each in a child process and reports its time, its peak RSS
and the first problem line, beside the time of a normal capture of about the same size.
"""

from __future__ import annotations

import argparse
import gzip
import json
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from tlslens._core import TCP_ACK, TCP_SYN
from tlslens.capture.reader import open_capture
from tlslens.capture.writer import PcapngWriter
from tlslens.flows.synth import (
    Chunk,
    Close,
    _Framer,
    iter_datagram_frames,
    iter_frames,
)
from tlslens.handshake import compose
from tlslens.model import Endpoint

ROOT = Path(__file__).resolve().parent.parent
T0 = 1_780_000_000 * 10**9
SERVER = Endpoint(bytes([10, 255, 0, 1]), 443)


def _client(number: int) -> Endpoint:
    return Endpoint(
        bytes([10, (number >> 16) & 255, (number >> 8) & 255, number & 255]), 1024 + number % 60000
    )


def _hello(sni: str = "adversarial.test", extra: list[tuple[int, bytes]] | None = None) -> bytes:
    return compose.push_client_hello(
        compose.HelloSpec(
            legacy_version=0x0303,
            random=bytes(32),
            cipher_suites=(0xC02F, 0x1301),
            server_name=sni,
            groups=(29,),
            signature_algorithms=(0x0804,),
            extra=extra or [],
        )
    )


def _server_flight(certificates: list[bytes]) -> bytes:
    hello = compose.push_handshake(2, b"\x03\x03" + bytes(32) + b"\x00\xc0\x2f\x00\x00\x00")
    entries = b"".join(len(c).to_bytes(3, "big") + c for c in certificates)
    cert = compose.push_handshake(11, len(entries).to_bytes(3, "big") + entries)
    return hello + cert + compose.push_handshake(14, b"")


def _connection(
    number: int, c2s: bytes, s2c: bytes, ts: int, *, ends: bool = True
) -> Iterator[tuple[int, bytes]]:
    chunks = [Chunk(ts + 2000, 0, c2s)] + ([Chunk(ts + 3000, 1, s2c)] if s2c else [])
    closes = [Close(ts + 4000, 0, "fin"), Close(ts + 5000, 1, "fin")] if ends else []
    yield from iter_frames(
        _client(number), SERVER, syn_ts_ns=ts, synack_ts_ns=ts + 1000, chunks=chunks, closes=closes
    )


def _write(path: Path, frames: Iterator[tuple[int, bytes]]) -> None:
    with path.open("wb") as out:
        writer = PcapngWriter(out)
        writer.add_interface(tsresol=9)
        for ts, frame in frames:
            writer.add_packet(ts, frame)


def _big_flight() -> tuple[list[tuple[int, bytes]], int]:
    """One connection whose server handshake is a 60,000-byte Certificate: its frames, and
    the index of its third full-size server segment."""
    frames = list(
        _connection(
            0,
            compose.push_records(22, 0x0301, _hello()),
            compose.push_records(22, 0x0303, compose.push_handshake(11, bytes(60_000))),
            T0,
        )
    )
    big = [i for i, (_ts, frame) in enumerate(frames) if len(frame) > 1000]
    return frames, big[2]


def lost_segment(path: Path) -> int:
    """A capture of one connection whose server handshake (a 60,000-byte Certificate)
    lost its third full-size segment; the number of frames written."""
    frames, third = _big_flight()
    del frames[third]
    _write(path, iter(frames))
    return len(frames)


def late_segment(path: Path) -> tuple[int, int]:
    """``lost_segment``'s connection with its third full-size server segment captured late,
    after 12 more (about 17 KB of later data): (the frame after the hole, the late frame)."""
    frames, third = _big_flight()
    frames.insert(third + 12, frames.pop(third))
    _write(path, iter(frames))
    return third + 1, third + 13  # (frame numbers count from 1)


def late_application_data(path: Path) -> int:
    """A TLS 1.2 connection whose server sends four 16,000-byte application data records
    after its flight, one full-size segment inside them captured late, after 12 more: the
    frame number of that copy."""
    leaf = (ROOT / "tests" / "vectors" / "pki" / "server.pem").read_bytes()
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    der = x509.load_pem_x509_certificate(leaf).public_bytes(Encoding.DER)
    flight = compose.push_records(22, 0x0303, _server_flight([der]))
    flight += compose.push_records(20, 0x0303, b"\x01") + compose.push_records(
        22, 0x0303, bytes(40)
    )
    data = compose.push_records(23, 0x0303, bytes(16_000)) * 4
    hello = compose.push_records(22, 0x0301, _hello())
    frames = list(_connection(0, hello, flight + data, T0))
    big = [i for i, (_ts, frame) in enumerate(frames) if len(frame) > 1000]
    inside = big[-20]  # 20 full-size segments before the data's end: inside a record
    frames.insert(inside + 12, frames.pop(inside))
    _write(path, iter(frames))
    return inside + 13


def late_cut_segment(path: Path) -> int:
    """``lost_segment``'s connection with its third and fourth full-size server segments
    lost (one hole), the fourth captured late, after 11 more, cut by the snap length to its
    headers: the frame number of that copy."""
    frames, third = _big_flight()
    del frames[third]
    late = frames.pop(third)
    frames.insert(third + 11, late)
    with path.open("wb") as out:
        writer = PcapngWriter(out)
        writer.add_interface(tsresol=9)
        for index, (ts, frame) in enumerate(frames):
            if index == third + 11:  # Ethernet, IPv4 and TCP headers: no payload captured
                writer.add_packet(ts, frame[:54], wire_length=len(frame))
            else:
                writer.add_packet(ts, frame)
    return third + 12


def short_then_long(path: Path, short: int, long: int) -> None:
    """One connection whose server's first data byte is lost, then ``short`` one-byte
    segments come, each after a hole of one byte, then ``long`` 60,000-byte segments further
    on, each after a hole: what waits beyond the holes passes --max-buffer at the first long
    one, and only giving up every short hole brings it back within (one given up a segment
    freed a byte while 60,000 came in)."""
    framer = _Framer(_client(0), SERVER)
    mss = struct.pack("!BBH", 2, 4, framer.mss)
    frames = [
        (T0, framer.frame(0, TCP_SYN, options=mss)),
        (T0 + 1000, framer.frame(1, TCP_SYN | TCP_ACK, options=mss)),
        (T0 + 2000, framer.frame(0, TCP_ACK, compose.push_records(22, 0x0301, _hello()))),
    ]
    start = framer.next_seq[1]
    for i in range(short):
        framer.next_seq[1] = (start + 2 * (i + 1)) & 0xFFFFFFFF
        frames.append((T0 + 3000 + i, framer.frame(1, TCP_ACK, b"\x16")))
    for i in range(long):
        framer.next_seq[1] = (start + 2 * short + 10 + 61_000 * i) & 0xFFFFFFFF
        frames.append((T0 + 3000 + short + i, framer.frame(1, TCP_ACK, bytes(60_000))))
    _write(path, iter(frames))


def _tcp_payloads(path: Path) -> list[tuple[int, int, bytes]]:
    """``(ts_ns, side, payload)`` of each data segment of the first TCP connection of a
    loopback IPv4 capture (0: the client, which sent the first SYN), in capture order."""
    raw, reader = open_capture(path)
    segments = []
    client_port = None
    with raw:
        for ts_ns, _linktype, frame in reader:
            ip = frame[14:]
            tcp = ip[(ip[0] & 15) * 4 : struct.unpack("!H", ip[2:4])[0]]
            source, destination = struct.unpack("!HH", tcp[:4])
            if client_port is None:
                client_port = source  # the SYN
            if client_port not in (source, destination):
                continue
            payload = tcp[(tcp[12] >> 4) * 4 :]
            if payload:
                segments.append((ts_ns, 0 if source == client_port else 1, payload))
    return segments


def _records(segments: list[tuple[int, int, bytes]]) -> list[tuple[int, int, bytes]]:
    """The TLS records of ``segments``: ``(ts_ns of the segment it begins in, side, record)``
    in the order they begin."""
    streams: list[bytearray] = [bytearray(), bytearray()]
    records = []
    for ts_ns, side, payload in segments:
        stream = streams[side]
        stream += payload
        while len(stream) >= 5 and len(stream) >= 5 + struct.unpack("!H", stream[3:5])[0]:
            end = 5 + struct.unpack("!H", stream[3:5])[0]
            records.append((ts_ns, side, bytes(stream[:end])))
            del stream[:end]
    return records


def server_record_within_client_flight(source: Path, path: Path) -> None:
    """The first connection of ``source`` (openssl-hrr-clientauth.pcapng's TLS 1.3 one: the
    client's Certificate, CertificateVerify and Finished in one segment, the server's
    NewSessionTicket after them), its bytes unchanged, with the server's first record after
    the client's Certificate moved before the client's CertificateVerify: a server record
    captured within the client's flight, as a server's 0.5-RTT data would be. The key log
    of ``source`` opens it."""
    records = _records(_tcp_payloads(source))
    sealed = [i for i, (_ts, _side, record) in enumerate(records) if record[0] == 23]
    certificate = next(i for i in sealed if records[i][1] == 0)
    answer = next(i for i in sealed if i > certificate and records[i][1] == 1)
    moved = records.pop(answer)
    ts_ns = records[certificate][0]
    records.insert(certificate + 1, (ts_ns + 1000, 1, moved[2]))
    # What follows the Certificate in its segment is sent after the server's record.
    records[certificate + 2 :] = [
        (max(t, ts_ns + 2000), s, r) for t, s, r in records[certificate + 2 :]
    ]
    chunks: list[Chunk] = []
    for ts_ns, side, record in records:
        last = chunks[-1] if chunks else None
        if last is not None and last.side == side and last.ts_ns == ts_ns:
            chunks[-1] = Chunk(ts_ns, side, last.data + record)
        else:
            chunks.append(Chunk(ts_ns, side, record))
    start, end = chunks[0].ts_ns - 2000, chunks[-1].ts_ns
    server = Endpoint(bytes([127, 0, 0, 1]), 443)
    client = Endpoint(bytes([127, 0, 0, 1]), 40000)
    closes = [Close(end + 1000, 0, "fin"), Close(end + 2000, 1, "fin")]
    frames = iter_frames(
        client, server, syn_ts_ns=start, synack_ts_ns=start + 1000, chunks=chunks, closes=closes
    )
    _write(path, frames)


def _normal(count: int, first: int = 0) -> Iterator[tuple[int, bytes]]:
    """``count`` short TLS 1.2 connections from ``first`` on (its number is the client's
    port and the time of its SYN)."""
    leaf = (ROOT / "tests" / "vectors" / "pki" / "server.pem").read_bytes()
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    der = x509.load_pem_x509_certificate(leaf).public_bytes(Encoding.DER)
    flight = compose.push_records(22, 0x0303, _server_flight([der]))
    hello = compose.push_records(22, 0x0301, _hello())
    for i in range(first, first + count):
        yield from _connection(i, hello, flight, T0 + i * 10_000_000)


def huge_lengths(scale: float) -> Iterator[tuple[int, bytes]]:
    """A record header claiming 65,535 bytes (more than TLS allows) and a handshake message
    claiming 16 MB, each in its own connection."""
    yield from _connection(0, b"\x16\x03\x01\xff\xff" + bytes(64), b"", T0)
    fake = b"\x01\xff\xff\xff" + bytes(200)
    yield from _connection(1, compose.push_records(22, 0x0301, fake), b"", T0 + 10**9)


def one_byte_records(scale: float) -> Iterator[tuple[int, bytes]]:
    """A ClientHello cut into one-byte records, 100,000 of them (the rest padding)."""
    hello = _hello()
    body = (hello + compose.push_handshake(1, bytes(max(0, int(100_000 * scale) - len(hello)))))[
        : int(100_000 * scale)
    ]
    records = b"".join(b"\x16\x03\x01\x00\x01" + body[i : i + 1] for i in range(len(body)))
    yield from _connection(0, records, b"", T0)


def many_extensions(scale: float) -> Iterator[tuple[int, bytes]]:
    extra = [(0xFA00 + i % 0x500, b"") for i in range(int(10_000 * scale))]
    yield from _connection(0, compose.push_records(22, 0x0301, _hello(extra=extra)), b"", T0)


def big_chain(scale: float) -> Iterator[tuple[int, bytes]]:
    """A Certificate message of about 5 MB (the same certificate, over and over)."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    der = x509.load_pem_x509_certificate(
        (ROOT / "tests" / "vectors" / "pki" / "server.pem").read_bytes()
    ).public_bytes(Encoding.DER)
    count = max(2, int(5_000_000 * scale) // len(der))
    flight = compose.push_records(22, 0x0303, _server_flight([der] * count))
    yield from _connection(0, compose.push_records(22, 0x0301, _hello()), flight, T0)


def distinct_leaves(scale: float) -> Iterator[tuple[int, bytes]]:
    """2,000 connections, each sending its own 60 KB leaf (an unknown extension's bytes)
    whose issuer no connection sends: every chain a new verdict, every leaf awaiting its
    issuer (a `show` of 301 MB before the verdicts and the awaited were bounded in bytes)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.x509.oid import NameOID

    key = ec.derive_private_key(1, ec.SECP256R1())
    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    oid = x509.ObjectIdentifier("1.3.6.1.4.1.99999.1")

    def name(text: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])

    hello = compose.push_records(22, 0x0301, _hello())
    for number in range(int(2_000 * scale)):
        leaf = (
            x509.CertificateBuilder()
            .subject_name(name(f"host{number}.adversarial.test"))
            .issuer_name(name(f"Issuer {number}"))
            .public_key(key.public_key())
            .serial_number(number + 1)
            .not_valid_before(start)
            .not_valid_after(start + datetime.timedelta(days=400))
            .add_extension(x509.UnrecognizedExtension(oid, bytes(60_000)), critical=False)
            .sign(key, hashes.SHA256())
        )
        flight = compose.push_records(22, 0x0303, _server_flight([leaf.public_bytes(Encoding.DER)]))
        yield from _connection(number, hello, flight, T0 + number * 1_000_000)


def distinct_chains_open(scale: float) -> Iterator[tuple[int, bytes]]:
    """2,000 connections left open, each sending 100 certificates no other sends (small
    ones: one template whose serial number differs): what Python keeps of a parsed
    certificate is 1.3 KB for its 300 bytes of DER (a `show` of 162 MB when each
    Certificate message counted three times its bytes toward --max-held)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.x509.oid import NameOID

    def name(text: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])

    key = ec.derive_private_key(1, ec.SECP256R1())
    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    serial = 0x11 << 104
    template = (
        x509.CertificateBuilder()
        .subject_name(name("host.adversarial.test"))
        .issuer_name(name("Issuer"))
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=400))
        .sign(key, hashes.SHA256())
        .public_bytes(Encoding.DER)
    )
    at = template.index(serial.to_bytes(14, "big"))

    def certificate(number: int) -> bytes:
        return template[:at] + (serial | number).to_bytes(14, "big") + template[at + 14 :]

    hello = compose.push_records(22, 0x0301, _hello())
    for number in range(int(2_000 * scale)):
        chain = [certificate(number * 100 + i + 1) for i in range(100)]
        flight = compose.push_records(22, 0x0303, _server_flight(chain))
        yield from _connection(number, hello, flight, T0 + number * 1_000_000, ends=False)


def nested_asn1(scale: float) -> Iterator[tuple[int, bytes]]:
    """A "certificate" of 10,000 nested SEQUENCEs."""
    depth = int(10_000 * scale)
    inner = b""
    for _ in range(depth):
        size = len(inner)
        length = (
            bytes([size])
            if size < 128
            else bytes([0x80 | ((size.bit_length() + 7) // 8)])
            + size.to_bytes((size.bit_length() + 7) // 8, "big")
        )
        inner = b"\x30" + length + inner
    flight = compose.push_records(22, 0x0303, _server_flight([inner]))
    yield from _connection(0, compose.push_records(22, 0x0301, _hello()), flight, T0)


def overlapping_segments(scale: float) -> Iterator[tuple[int, bytes]]:
    """The ClientHello sent twice over the same sequence numbers with different bytes."""
    frames = list(_connection(0, compose.push_records(22, 0x0301, _hello()), b"", T0, ends=False))
    yield from frames
    for ts, frame in frames[3:]:  # the data segments again, with their payload bytes flipped
        if len(frame) > 54:
            yield ts + 1, frame[:54] + bytes(b ^ 0x5A for b in frame[54:])


def sequence_wrap(scale: float) -> Iterator[tuple[int, bytes]]:
    """Application data across the 2^32 sequence boundary, several times (the ISNs start
    just below it, and the stream is long enough to cross once per direction per 4 GiB)."""
    from tlslens.flows import synth

    old = synth.CLIENT_ISN, synth.SERVER_ISN
    synth.CLIENT_ISN, synth.SERVER_ISN = 0xFFFF_F000, 0xFFFF_FF00
    try:
        hello = compose.push_records(22, 0x0301, _hello())
        data = compose.push_records(23, 0x0303, bytes(int(200_000 * scale)))
        yield from iter_frames(
            _client(0), SERVER, syn_ts_ns=T0, synack_ts_ns=T0 + 1,
            chunks=[Chunk(T0 + 2, 0, hello + data), Chunk(T0 + 3, 1, data)],
            closes=[Close(T0 + 4, 0, "fin"), Close(T0 + 5, 1, "fin")],
        )  # fmt: skip
    finally:
        synth.CLIENT_ISN, synth.SERVER_ISN = old


def all_open(
    flows: int, *, established: bool = True, data: tuple[bytes, bytes] = (b"", b"")
) -> Iterator[tuple[int, bytes]]:
    """``flows`` connections all open at once (none ends): the client's SYN alone, or the
    handshake done and ``data`` sent by the client and by the server, and nothing more."""
    for i in range(flows):
        ts = T0 + i * 1000
        chunks = [Chunk(ts + 20 + side, side, sent) for side, sent in enumerate(data) if sent]
        synack = ts + 10 if established else None
        yield from iter_frames(_client(i), SERVER, syn_ts_ns=ts, synack_ts_ns=synack, chunks=chunks)


def half_open(scale: float) -> Iterator[tuple[int, bytes]]:
    for i in range(int(1_000_000 * scale)):
        yield from iter_frames(
            _client(i), SERVER, syn_ts_ns=T0 + i * 1000, synack_ts_ns=None, chunks=[]
        )


def endless(scale: float) -> Iterator[tuple[int, bytes]]:
    """One connection that never ends while 100,000 others come and go."""
    hello = compose.push_records(22, 0x0301, _hello())
    yield from _connection(0, hello, b"", T0, ends=False)
    for i in range(1, int(100_000 * scale) + 1):
        yield from _connection(i, hello, b"", T0 + i * 1_000_000)


def _unfinished() -> bytes:
    """A ClientHello that claims 60,000 bytes, in records of it all but its last 4 bytes."""
    return compose.push_records(22, 0x0301, compose.push_handshake(1, bytes(60_000))[:60_000])


def unfinished_messages(scale: float) -> Iterator[tuple[int, bytes]]:
    """5,000 flows, each gathering a 60 KB handshake message that never completes, all
    open: 300 MB waited on at once (a `show` of 366 MB for these before `--max-held`)."""
    yield from all_open(int(5_000 * scale), data=(_unfinished(), b""))


def beyond_holes(scale: float) -> Iterator[tuple[int, bytes]]:
    """5,000 flows that lost their first data segment, each waiting on the 58 KB sent
    after it, all open (a `show` of 6 GB for these before `--max-held`: at the end each
    hole is given up and the zeros after it read as 10,900 four-byte messages)."""
    for number in range(int(5_000 * scale)):
        ts = T0 + number * 1000
        chunks = [Chunk(ts + 20, 0, _unfinished())]
        frames = iter_frames(
            _client(number), SERVER, syn_ts_ns=ts, synack_ts_ns=ts + 10, chunks=chunks
        )
        # The SYN, the SYN/ACK, the ACK, then the first data segment is lost.
        yield from (frame for index, frame in enumerate(frames) if index != 3)


def held_back(scale: float) -> Iterator[tuple[int, bytes]]:
    """One connection open until the end while 900 others end after it, each with 40 KB of
    handshake records that read as 10,000 four-byte messages: held back for first-packet
    order, they made a `show` of 1.9 GB before they counted toward `--max-held`."""
    hello = compose.push_records(22, 0x0301, _hello())
    messages = compose.push_records(22, 0x0301, bytes(40_000))
    yield from _connection(0, hello, b"", T0, ends=False)
    for number in range(1, int(900 * scale) + 1):
        yield from _connection(number, hello + messages, b"", T0 + number * 1_000_000)


def time_backwards(scale: float) -> Iterator[tuple[int, bytes]]:
    frames = list(_normal(int(200 * scale) + 2))
    for index, (_ts, frame) in enumerate(frames):
        yield T0 - index * 1_000_000, frame


def _finish(path: Path, kind: str, scale: float) -> None:
    """The captures that are not a stream of frames."""
    if kind == "pcapng-4gb-block":
        _write(path, _normal(3))
        with path.open("ab") as out:
            out.write(struct.pack("<II", 6, 0xFFFF_FFF0) + bytes(64))
    elif kind == "gzip-bomb":
        # A pcap header, then a gigabyte of zeros (zero-length records), gzip'd to ~1 MB.
        size = (1 << 30) if scale >= 1 else int((1 << 30) * scale)
        with gzip.open(path, "wb", compresslevel=9) as out:
            out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
            block = bytes(1 << 20)
            for _ in range(size >> 20):
                out.write(block)


def _dtls_fragment(record_seq: int, message_seq: int, length: int, at: int, body: bytes) -> bytes:
    """One DTLS 1.2 record (epoch 0) holding one fragment of a ClientHello ``length`` long."""
    fragment = (
        b"\x01"
        + length.to_bytes(3, "big")
        + message_seq.to_bytes(2, "big")
        + at.to_bytes(3, "big")
        + len(body).to_bytes(3, "big")
        + body
    )
    header = b"\x16\xfe\xfd\x00\x00" + record_seq.to_bytes(6, "big")
    return header + len(fragment).to_bytes(2, "big") + fragment


def dtls_unfinished(scale: float) -> Iterator[tuple[int, bytes]]:
    """2,000 DTLS associations, each opening 16 ClientHellos (message_seq 0-15) of 64 KiB
    with one byte on each 4 KiB page but the last byte: none completes, and each holds
    what an association may hold for reassembly, all pages touched, for 16 datagrams."""
    length, page = 65_536, 4096
    for number in range(int(2_000 * scale)):
        ts = T0 + number * 1_000_000
        datagrams = []
        for seq in range(16):
            records = b"".join(
                _dtls_fragment(seq * 16 + i, seq, length, i * page, b"\x01")
                for i in range(length // page)
            )
            datagrams.append(Chunk(ts + seq * 1000, 0, records))
        client = _client(number)
        yield from iter_datagram_frames(client, Endpoint(SERVER.ip, 4433), datagrams)


def dtls_completed(scale: float) -> Iterator[tuple[int, bytes]]:
    """200 DTLS associations, each completing 16 ClientHellos (message_seq 0-15) of 64 KiB in
    16 KiB fragments: each association kept 1 MiB of them to compare retransmissions with,
    counted 12 KB toward --max-held (a `show` of 481 MB, 268 MB without those bytes)."""
    length, piece = 65_536, 16_384
    for number in range(int(200 * scale)):
        ts = T0 + number * 1_000_000
        datagrams = [
            Chunk(
                ts + seq * 100 + i,
                0,
                _dtls_fragment(seq * 4 + i, seq, length, i * piece, bytes(piece)),
            )
            for seq in range(16)
            for i in range(length // piece)
        ]
        yield from iter_datagram_frames(_client(number), Endpoint(SERVER.ip, 4433), datagrams)


def _quic_initial(dcid: bytes, number: int, frames: bytes) -> bytes:
    """A client's QUIC v1 Initial packet to ``dcid`` holding ``frames``, padded to 1,200
    bytes and protected with the keys the Destination Connection ID gives (RFC 9001 §5.2)."""
    from aioquic.quic.crypto import CryptoPair

    pair = CryptoPair()
    pair.setup_initial(cid=dcid, is_client=True, version=1)
    payload = frames + bytes(1162 - len(dcid) - len(frames))  # PADDING to 1,200 bytes
    length = 2 + len(payload) + 16  # the 2-byte packet number, the payload, the AEAD tag
    header = (
        b"\xc1\x00\x00\x00\x01"
        + bytes([len(dcid)])
        + dcid
        + b"\x00\x00"  # no Source Connection ID, no token
        + (0x4000 | length).to_bytes(2, "big")
        + number.to_bytes(2, "big")
    )
    return pair.encrypt_packet(header, payload, number)


def quic_unfinished(scale: float) -> Iterator[tuple[int, bytes]]:
    """2,000 QUIC connections, each sending 32 Initials whose CRYPTO data starts 1,000
    bytes in (its start never comes): what waits beyond the hole, and each packet kept."""
    for number in range(int(2_000 * scale)):
        ts = T0 + number * 1_000_000
        dcid = number.to_bytes(8, "big")
        datagrams = []
        for packet in range(32):
            data = bytes([packet]) * 1000
            offset = 1000 + packet * 1000
            crypto = b"\x06" + (0x80000000 | offset).to_bytes(4, "big") + b"\x43\xe8" + data
            datagrams.append(Chunk(ts + packet * 1000, 0, _quic_initial(dcid, packet, crypto)))
        client = _client(number)
        yield from iter_datagram_frames(client, Endpoint(SERVER.ip, 443), datagrams)


def _dtls_flood(
    records: Callable[[int], bytes], per_datagram: int, count: int
) -> Iterator[tuple[int, bytes]]:
    """One DTLS association whose client sends ``count`` records (``records(seq)`` each, in
    epoch 0), ``per_datagram`` to a datagram."""
    datagrams = [
        Chunk(
            T0 + first * 1000,
            0,
            b"".join(records(seq) for seq in range(first, min(first + per_datagram, count))),
        )
        for first in range(0, count, per_datagram)
    ]
    yield from iter_datagram_frames(_client(0), Endpoint(SERVER.ip, 4433), datagrams)


def _dtls_record(content_type: int, seq: int, body: bytes) -> bytes:
    header = bytes([content_type]) + b"\xfe\xfd\x00\x00" + seq.to_bytes(6, "big")
    return header + len(body).to_bytes(2, "big") + body


def dtls_alert_flood(scale: float) -> Iterator[tuple[int, bytes]]:
    """One DTLS association of 500,000 warning alerts (user_canceled), 90 to a datagram:
    each a step of its timeline."""
    count = int(500_000 * scale)
    yield from _dtls_flood(lambda seq: _dtls_record(21, seq, b"\x01\x5a"), 90, count)


def dtls_hello_request_flood(scale: float) -> Iterator[tuple[int, bytes]]:
    """One DTLS association of 500,000 empty HelloRequests, 50 to a datagram."""
    count = int(500_000 * scale)
    empty = b"\x00" + bytes(3)  # HelloRequest, length 0

    def record(seq: int) -> bytes:
        fragment = empty + (seq & 0xFFFF).to_bytes(2, "big") + bytes(3) + bytes(3)
        return _dtls_record(22, seq, fragment)

    yield from _dtls_flood(record, 50, count)


def quic_crypto_flood(scale: float) -> Iterator[tuple[int, bytes]]:
    """4 QUIC connections, each sending 1 MiB of Initial CRYPTO data that is nothing but
    8-byte ClientHellos too short to read (131,072 malformed messages a connection)."""
    flood = (b"\x01\x00\x00\x04" + bytes(4)) * (int((1 << 20) * scale) // 8)
    step = 1100
    for number in range(4):
        ts = T0 + number * 1_000_000_000
        dcid = (number + 1).to_bytes(8, "big")
        datagrams = []
        for packet, offset in enumerate(range(0, len(flood), step)):
            data = flood[offset : offset + step]
            crypto = (
                b"\x06"
                + (0x80000000 | offset).to_bytes(4, "big")
                + (0x4000 | len(data)).to_bytes(2, "big")
                + data
            )
            datagrams.append(Chunk(ts + packet * 1000, 0, _quic_initial(dcid, packet, crypto)))
        yield from iter_datagram_frames(_client(number), Endpoint(SERVER.ip, 443), datagrams)


KINDS: dict[str, Callable[[float], Iterator[tuple[int, bytes]]] | None] = {
    "huge-lengths": huge_lengths,
    "one-byte-records": one_byte_records,
    "many-extensions": many_extensions,
    "big-chain": big_chain,
    "distinct-leaves": distinct_leaves,
    "distinct-chains-open": distinct_chains_open,
    "nested-asn1": nested_asn1,
    "overlapping-segments": overlapping_segments,
    "sequence-wrap": sequence_wrap,
    "half-open": half_open,
    "endless": endless,
    "unfinished-messages": unfinished_messages,
    "beyond-holes": beyond_holes,
    "held-back": held_back,
    "time-backwards": time_backwards,
    "dtls-unfinished": dtls_unfinished,
    "quic-unfinished": quic_unfinished,
    "dtls-alert-flood": dtls_alert_flood,
    "dtls-hello-request-flood": dtls_hello_request_flood,
    "quic-crypto-flood": quic_crypto_flood,
    "pcapng-4gb-block": None,
    "gzip-bomb": None,
}


def build(out: Path, scale: float) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for kind, frames in KINDS.items():
        path = out / (f"{kind}.pcap.gz" if kind == "gzip-bomb" else f"{kind}.pcapng")
        if frames is None:
            _finish(path, kind, scale)
        else:
            _write(path, frames(scale))
        paths.append(path)
    return paths


# The child's own peak resident memory: VmHWM starts afresh at exec (ru_maxrss would carry
# the parent's peak across fork and exec on Linux).
_MEASURED = (
    "import runpy, sys\n"
    "sys.argv = ['tlslens', *sys.argv[1:]]\n"
    "try:\n"
    "    runpy.run_module('tlslens', run_name='__main__')\n"
    "finally:\n"
    "    hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]\n"
    "    sys.stderr.write(f'\\nRSS_KB={hwm}\\n')\n"
)


def run_show(path: Path, *options: str) -> tuple[float, int, int, str, str]:
    """(seconds, peak RSS in MB, exit status, stdout, stderr) of `show --json` on ``path``
    (with ``options`` before it)."""
    return run_tlslens("show", "--json", *options, str(path))


def run_tlslens(*arguments: str) -> tuple[float, int, int, str, str]:
    """(seconds, peak RSS in MB, exit status, stdout, stderr) of `tlslens ARGUMENTS`."""
    started = time.monotonic()
    command = [sys.executable, "-c", _MEASURED, *arguments]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    elapsed = time.monotonic() - started
    lines = done.stderr.splitlines()
    rss = next((int(line[7:]) for line in reversed(lines) if line.startswith("RSS_KB=")), 0)
    err = "\n".join(line for line in lines if not line.startswith("RSS_KB="))
    return elapsed, rss // 1024, done.returncode, done.stdout, err


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    paths = build(args.out, args.scale)
    if not args.check:
        for path in paths:
            print(f"{path}  {path.stat().st_size:,} bytes")
        return
    baseline = args.out / "normal.pcapng"
    tiny = args.out / "tiny.pcapng"
    _write(baseline, _normal(int(20_000 * max(args.scale, 0.01))))
    _write(tiny, _normal(1))
    start_up = run_show(tiny)[0]
    base_time = run_show(baseline)[0]
    per_byte = max(base_time - start_up, 0.01) / baseline.stat().st_size
    print(
        f"normal capture: {baseline.stat().st_size:,} bytes in {base_time:.2f} s "
        f"({start_up:.2f} s of it start-up); budget = start-up + 10x that rate x size"
    )
    print(f"{'capture':24} {'size':>13} {'time':>8} {'budget':>8} {'RSS':>6}  first problem")
    for path in paths:
        elapsed, rss, code, out, err = run_show(path)
        budget = start_up + 10 * per_byte * path.stat().st_size + 0.5
        first = next((line for line in err.splitlines() if line.strip()), "")
        if not first:
            problems = (
                p["message"] for line in out.splitlines() for p in json.loads(line)["problems"]
            )
            first = next(problems, "-")
        flag = "" if code == 0 and elapsed <= budget and rss < 300 else "  <-- OVER"
        print(
            f"{path.name:24} {path.stat().st_size:13,} {elapsed:7.2f}s {budget:7.2f}s "
            f"{rss:5d}M  {first[:100]}{flag}"
        )


if __name__ == "__main__":
    main()
