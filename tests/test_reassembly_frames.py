"""The frame (and time) of a record that waited beyond a TCP hole.

A TLS 1.2 server flight (ServerHello, Certificate, ServerHelloDone, close_notify) framed as
a live connection, then a segment of it left out of the capture, or two swapped. Records
after a segment the capture lost are read at the frames they came in, as tshark reads
segments after one "not captured" (its default); records that waited for a late segment
are read at the frame that completed them, as tshark's out-of-order reassembly reads them.
Before, everything after a hole given up at the connection's end was told at the frame it
was closed at (the last FIN, or the capture's last frame for a connection still open).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from test_decrypt_lack import DEMO_KEYS
from test_decrypt_resync import _tls13

import tlslens
from tlslens.capture.writer import PcapngWriter
from tlslens.cli import main
from tlslens.events import HandshakeEvent
from tlslens.flows.synth import Chunk, Close, iter_frames
from tlslens.handshake import compose
from tlslens.model import Connection, Endpoint

from _frames import read_frames
from _tshark import lost_segments, record_frames
from conftest import VECTORS

AT_NS = 1_700_000_000_000_000_000
FRAME_NS = 1_000_000  # a millisecond between frames: each its own time in `show`
HANDSHAKE, ALERT = 22, 21


def _records(content_type: int, body: bytes) -> bytes:
    return compose.push_records(content_type, 0x0303, body)


def _flight() -> tuple[bytes, bytes, bytes, bytes]:
    """The server's records: ServerHello, Certificate (the lab's server certificate),
    ServerHelloDone, close_notify."""
    hello = b"\x03\x03" + bytes(32) + b"\x00" + b"\xc0\x2f" + b"\x00" + b"\x00\x00"
    pem = (VECTORS / "pki" / "server.pem").read_bytes()
    der = x509.load_pem_x509_certificate(pem).public_bytes(Encoding.DER)
    chain = len(der).to_bytes(3, "big") + der
    certificate = compose.push_handshake(11, len(chain).to_bytes(3, "big") + chain)
    return (
        _records(HANDSHAKE, compose.push_handshake(2, hello)),
        _records(HANDSHAKE, certificate),
        _records(HANDSHAKE, compose.push_handshake(14, b"")),
        _records(ALERT, b"\x01\x00"),
    )


def _write(path: Path, server: list[bytes], captured: Callable[[list[bytes]], list[bytes]]) -> Path:
    """The client's ClientHello, then each of ``server`` in a segment of its own, then FIN
    both ways; ``captured`` picks the frames the capture holds, in its order, from frames
    4 (the ClientHello), 5, 6... (the server's segments), each a millisecond after the last
    as the capture saw it."""
    hello = compose.push_client_hello(
        compose.HelloSpec(
            legacy_version=0x0303,
            random=bytes(32),
            cipher_suites=(0xC02F,),
            server_name="localhost",
            groups=(29,),
            signature_algorithms=(0x0804,),
        )
    )
    chunks = [Chunk(AT_NS, 0, compose.push_records(HANDSHAKE, 0x0301, hello))]
    chunks += [Chunk(AT_NS + 1 + i, 1, data) for i, data in enumerate(server)]
    end = AT_NS + len(server) + 2
    frames = [
        frame
        for _ts, frame in iter_frames(
            Endpoint(bytes([10, 0, 0, 1]), 40000),
            Endpoint(bytes([10, 0, 0, 2]), 443),
            syn_ts_ns=AT_NS,
            synack_ts_ns=AT_NS,
            chunks=chunks,
            closes=[Close(end, 0, "fin"), Close(end + 1, 1, "fin")],
        )
    ]
    with path.open("wb") as out:
        writer = PcapngWriter(out)
        writer.add_interface(tsresol=9)
        for number, frame in enumerate(captured(frames)):
            writer.add_packet(AT_NS + number * FRAME_NS, frame)
    return path


def _connection(path: Path) -> Connection:
    (conn,) = list(tlslens.read_capture(path, records=True))
    return conn


MESSAGES = {1: "ClientHello", 2: "ServerHello", 11: "Certificate", 14: "ServerHelloDone"}


def _told(conn: Connection) -> list[tuple[str, int, int]]:
    """Each event of the timeline: what (a handshake message by name), frame and time."""
    told = []
    for event in conn.timeline:
        what = MESSAGES[event.message.msg_type] if isinstance(event, HandshakeEvent) else event.kind
        told.append((what, event.frame, event.ts_ns))
    return told


def _ts(path: Path, frame: int) -> int:
    return read_frames(path)[frame - 1][0]


def _show_json(path: Path) -> dict[str, Any]:
    result = CliRunner().invoke(main, ["show", "--json", str(path)], env={"SSLKEYLOGFILE": None})
    assert result.exit_code == 0, result.output
    row: dict[str, Any] = json.loads(result.stdout)
    return row


def test_records_after_a_lost_segment_are_at_their_own_frames(tmp_path: Path, tshark: str) -> None:
    hello, certificate, done, alert = _flight()
    # Frames: 4 ClientHello, 5 ServerHello, (the Certificate lost), 6 ServerHelloDone,
    # 7 close_notify, 8 and 9 the FINs.
    path = _write(
        tmp_path / "lost.pcapng",
        [hello, certificate, done, alert],
        lambda frames: [frame for number, frame in enumerate(frames, 1) if number != 6],
    )
    conn = _connection(path)
    assert sorted((r.frame, r.content_type) for r in conn.records or []) == record_frames(
        path, out_of_order=False
    )
    assert [(r.frame, r.content_type) for r in conn.records or []] == [
        (4, HANDSHAKE),
        (5, HANDSHAKE),
        (6, HANDSHAKE),
        (7, ALERT),
    ]
    assert _told(conn)[1:] == [
        ("ServerHello", 5, _ts(path, 5)),
        ("gap", 6, _ts(path, 6)),
        ("ServerHelloDone", 6, _ts(path, 6)),
        ("alert", 7, _ts(path, 7)),
    ]
    row = _show_json(path)
    assert row["handshake"] == [
        {"frame": 4, "direction": "c2s", "type": "client_hello"},
        {"frame": 5, "direction": "s2c", "type": "server_hello"},
        {"frame": 6, "direction": "s2c", "type": "server_hello_done"},
    ]
    assert [a["frame"] for a in row["alerts"]] == [7]
    # The hole is told where tshark says "previous segment not captured".
    (gap,) = row["problems"]
    assert (gap["frame"], gap["layer"]) == (6, "tcp")
    assert "missing from the capture" in gap["message"]
    assert "close_notify (frame 7)" in row["outcome"]["reason"]


def test_records_that_waited_for_a_late_segment_are_at_the_frame_that_completed_them(
    tmp_path: Path, tshark: str
) -> None:
    hello, certificate, done, alert = _flight()
    half = len(certificate) // 2
    server = [hello + certificate[:half], certificate[half:] + done, alert]
    # The segment with the Certificate's second half and the ServerHelloDone comes first
    # (frame 5), the one with the ServerHello and the first half after it (frame 6): the
    # three messages are read at frame 6, as tshark's out-of-order reassembly reads them.
    swapped = _write(
        tmp_path / "swapped.pcapng",
        server,
        lambda frames: [*frames[:4], frames[5], frames[4], *frames[6:]],
    )
    conn = _connection(swapped)
    expected = [(4, HANDSHAKE), (6, HANDSHAKE), (6, HANDSHAKE), (6, HANDSHAKE), (7, ALERT)]
    assert [(r.frame, r.content_type) for r in conn.records or []] == expected
    assert record_frames(swapped, out_of_order=True) == expected
    assert [(name, frame) for name, frame, _ts in _told(conn)] == [
        ("ClientHello", 4),
        ("ServerHello", 6),
        ("Certificate", 6),
        ("ServerHelloDone", 6),
        ("alert", 7),
    ]
    # The ServerHello lost as well: the hole before it is given up at the end, and what
    # waited is read where the Certificate's first half joined its second (frame 6).
    # tshark has no answer to compare with: by default it reads the second half alone (as
    # "Continuation Data"), and its out-of-order reassembly waits for the lost segment to
    # the end.
    server = [hello, certificate[:half], certificate[half:] + done, alert]
    lost = _write(
        tmp_path / "lost-and-swapped.pcapng",
        server,
        lambda frames: [*frames[:4], frames[6], frames[5], *frames[7:]],
    )
    conn = _connection(lost)
    assert [(r.frame, r.content_type) for r in conn.records or []] == [
        (4, HANDSHAKE),
        (6, HANDSHAKE),
        (6, HANDSHAKE),
        (7, ALERT),
    ]
    assert _told(conn)[1:] == [
        ("gap", 6, _ts(lost, 6)),
        ("Certificate", 6, _ts(lost, 6)),
        ("ServerHelloDone", 6, _ts(lost, 6)),
        ("alert", 7, _ts(lost, 7)),
    ]


def test_a_connection_open_at_the_end_with_a_hole_ends_at_its_own_last_frame(
    tmp_path: Path,
) -> None:
    hello, certificate, done, alert = _flight()
    # No FIN: the capture ends with frames 8 and 9 of another connection (a SYN and its
    # SYN/ACK); the Certificate (frame 6 of the conversation) is lost.
    other = iter_frames(
        Endpoint(bytes([10, 0, 0, 3]), 40001),
        Endpoint(bytes([10, 0, 0, 2]), 443),
        syn_ts_ns=AT_NS,
        synack_ts_ns=AT_NS,
        chunks=[],
    )
    later = [frame for _ts, frame in other][:2]
    path = _write(
        tmp_path / "open.pcapng",
        [hello, certificate, done, alert],
        lambda frames: [*frames[:5], *frames[6:8], *later],
    )
    conn = _connection(path)
    assert [(r.frame, r.content_type) for r in conn.records or []][2:] == [
        (6, HANDSHAKE),
        (7, ALERT),
    ]
    assert (conn.last_frame, conn.end_ts_ns) == (7, _ts(path, 7))
    row = _show_json(path)
    assert (row["last_frame"], [a["frame"] for a in row["alerts"]]) == (7, [7])


@pytest.mark.parametrize("drop", ["one", "two", "flight"])
def test_the_demo_with_a_segment_lost_reads_its_records_at_tsharks_frames(
    tmp_path: Path, tshark: str, drop: str
) -> None:
    """The demo's TLS 1.3 connection without a segment of the server's (its application
    data record, its two NewSessionTickets, or its encrypted flight), opened with its key
    log: every record at the frame tshark reads it at, the gap at the frame after it."""
    capture = _tls13(tmp_path / "gap.pcapng", drop)
    result = CliRunner().invoke(
        main, ["show", "--json", "--records", "--keylog", str(DEMO_KEYS), str(capture)]
    )
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)
    records = [(r["frame"], r["content_type_id"]) for r in row["records"]]
    assert sorted(records) == record_frames(capture, out_of_order=False)
    (lost,) = lost_segments(capture)
    assert [p["frame"] for p in row["problems"] if p["layer"] == "tcp"] == [lost]
