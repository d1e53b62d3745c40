"""Damaged and odd input left by the last trial of QUIC and DTLS, built from the project's
recorded capture (tests/vectors/captures/udp/quic.pcapng, connection 0 in frames 1-10): a
client's first Initial that does not parse must not make its server the client; a pcapng
cut inside its Decryption Secrets Block says so where the summary is read; a handshake
whose ServerHello was not captured does not blame the key log; an HTTP/3 close code is
named alike in the narration, --records and the ladder."""

from __future__ import annotations

import dataclasses
import json
import re
import struct
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import tlslens
from tlslens.capture.writer import PcapngWriter
from tlslens.cli import main
from tlslens.explain.ladder import ladder
from tlslens.explain.packets import quic_packet_lines, quic_steps

from _frames import read_frames
from _tshark import _fields
from conftest import CAPTURES

QUIC = CAPTURES / "udp" / "quic.pcapng"
KEYS = CAPTURES / "udp" / "quic.keys"
CONNECTION_0 = 10  # its frames: 1-10 (the captures README)
UDP_PAYLOAD = 14 + 20 + 8  # Ethernet, IPv4, UDP


def _damaged(tmp_path: Path, at: int, value: int) -> Path:
    """Connection 0 with byte ``at`` of its client's first Initial (frame 1's UDP payload)
    set to ``value``; the key log in a Decryption Secrets Block, as recorded."""
    frames = read_frames(QUIC)[:CONNECTION_0]
    path = tmp_path / f"damaged-{at}.pcapng"
    with path.open("wb") as out:
        writer = PcapngWriter(out)
        writer.add_interface(tsresol=9)
        writer.add_secrets(KEYS.read_bytes())
        for number, (ts, _lt, data) in enumerate(frames, start=1):
            if number == 1:
                damaged = bytearray(data)
                damaged[UDP_PAYLOAD + at] = value
                data = bytes(damaged)
            writer.add_packet(ts, data)
    return path


def _rows(path: Path, *args: str) -> list[dict[str, Any]]:
    result = CliRunner().invoke(main, ["show", "--json", *args, str(path)])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


FIRST = read_frames(QUIC)[0][2]
CLIENT_PORT, SERVER_PORT = struct.unpack_from(">HH", FIRST, UDP_PAYLOAD - 8)
# Byte, its new value, what the finding says of it, and whether the damaged Initial's
# Destination Connection ID still reads (then it gives the Initial keys).
DAMAGES = {
    "version": (1, 0xFF, "its version field reads 0xff000001 (QUIC draft-1)", True),
    "dcid length": (5, 0xFF, "its Destination Connection ID length byte reads 255", False),
    "fixed bit": (0, FIRST[UDP_PAYLOAD] & ~0x40, "its fixed bit (0x40 of the first byte", True),
}


@pytest.mark.parametrize("damage", DAMAGES)
def test_an_unreadable_first_initial_does_not_swap_client_and_server(
    tmp_path: Path, damage: str
) -> None:
    at, value, why, keys = DAMAGES[damage]
    path = _damaged(tmp_path, at, value)
    (row,) = _rows(path, "--records")
    genuine = _rows(QUIC)[0]
    assert (row["client"], row["server"]) == (
        f"127.0.0.1:{CLIENT_PORT}",
        f"127.0.0.1:{SERVER_PORT}",
    )
    # Frame 2 is the server's answer, from the port frame 1 went to.
    directions = {d["frame"]: d["direction"] for d in row["quic"]["datagrams"]}
    assert directions[2] == "s2c" and directions[4] == "c2s"
    # Its Initial keys come from the unreadable Initial's DCID: used when it still reads and
    # opens the server's Initial (whose ServerHello is then read), else unknown, not guessed.
    if keys:
        assert row["quic"]["initial_dcid"] == genuine["quic"]["initial_dcid"]
        assert row["cipher_suite"] == genuine["cipher_suite"] and row["sni"] is None
    else:
        assert row["quic"]["initial_dcid"] is None and row["cipher_suite"] is None
    (problem,) = [p for p in row["problems"] if "first Initial" in p["message"]]
    assert problem["frame"] == 2 and problem["layer"] == "quic"
    assert (
        f"the client's first Initial (frame 1, to port {SERVER_PORT}) is unreadable"
        in (problem["message"])
    )
    assert why in problem["message"] and f"(byte {at} of its UDP payload)" in problem["message"]
    said = "only the ClientHello is lost" if keys else "so no Initial packet is opened"
    assert said in problem["message"]
    assert not any("does not open" in p["message"] for p in row["problems"])

    text = CliRunner().invoke(main, ["show", str(path)]).output
    assert re.search(rf"^Client +127\.0\.0\.1:{CLIENT_PORT}$", text, re.MULTILINE)
    server_says = "C ← S ServerHello" if keys else "C ← S Encrypted handshake message"
    assert re.search(rf"#2 [0-9:.]+ {server_says}", text), text
    assert "the client's first Initial (frame 1" in text


def test_a_cut_decryption_secrets_block_is_said_and_the_frames_before_kept(
    tmp_path: Path,
) -> None:
    """Connection 0's frames, then its key log in a Decryption Secrets Block cut in the
    middle (as a copy interrupted by a full disk leaves it): the exit status is that of a
    capture cut inside a packet block (0, what was read is shown), the summary says what
    was cut where, and no frame is blamed (the block holds none)."""
    frames = read_frames(QUIC)[:CONNECTION_0]
    whole = tmp_path / "whole.pcapng"
    with whole.open("wb") as out:
        writer = PcapngWriter(out)
        writer.add_interface(tsresol=9)
        for ts, _lt, data in frames:
            writer.add_packet(ts, data)
        dsb_at = out.tell()
        writer.add_secrets(KEYS.read_bytes())
    cut = tmp_path / "cut.pcapng"
    cut.write_bytes(whole.read_bytes()[: dsb_at + 100])
    dsb_length = 12 + 8 + (len(KEYS.read_bytes()) + 3) // 4 * 4
    said = (
        "capture cut in the middle of a Decryption Secrets Block (block type 0xa): needs "
        f"{dsb_length} bytes, 100 present"
    )

    result = CliRunner().invoke(main, ["show", str(cut)])
    assert result.exit_code == 0
    summary = result.stdout.splitlines()[-1]
    assert summary.startswith(f"{cut}: pcapng, {CONNECTION_0} frames")
    assert f"{said} (byte offset {dsb_at})" in summary
    assert "Connection 1 · 127.0.0.1" in result.stdout
    assert f"{cut}, byte offset {dsb_at}: {said}" in result.stderr

    result = CliRunner().invoke(main, ["show", "--json", str(cut)])
    assert result.exit_code == 0 and len(result.stdout.splitlines()) == 1
    assert f"{cut}, byte offset {dsb_at}: {said}" in result.stderr


NGINX = CAPTURES / "nginx-curl.pcapng"
NGINX_KEYS = CAPTURES / "nginx-curl.keys"
SERVER_HELLO_FRAME = 6  # connection 1's ServerHello, with the rest of the server's flight
NO_FAULT = (
    "the ServerHello was not captured (lost or cut), so the cipher suite and the server "
    "random are unknown and the keys cannot be used"
)


def _without_frame(source: Path, path: Path, dropped: int) -> Path:
    with path.open("wb") as out:
        writer = PcapngWriter(out)
        writer.add_interface(tsresol=9)
        for number, (ts, _lt, data) in enumerate(read_frames(source), start=1):
            if number != dropped:
                writer.add_packet(ts, data)
    return path


def test_a_lost_server_hello_does_not_blame_the_key_log(tmp_path: Path, tshark: str) -> None:
    """nginx-curl's first connection (TLS 1.3) with the frame of its ServerHello removed,
    read with its own, right key log: no key can be made without the ServerHello's suite,
    and the verdict says so rather than blaming the key log (nor asks it for a 0-RTT
    secret: the client's encrypted records are its handshake, not early data it never
    offered)."""
    lost = _without_frame(NGINX, tmp_path / "no-server-hello.pcapng", SERVER_HELLO_FRAME)
    # tshark: the ClientHello is there, no ServerHello is.
    hellos = _fields(
        lost,
        [],
        "tls.handshake.type == 1 || tls.handshake.type == 2",
        ["tcp.stream", "tls.handshake.type"],
        None,
    )
    first = [line.split("\t")[1] for line in hellos.splitlines() if line.startswith("0\t")]
    assert first == ["1"]
    row = _rows(lost, "--keylog", str(NGINX_KEYS))[0]
    decryption = row["decryption"]
    assert decryption["status"] == "no_secret"
    assert decryption["reason"].startswith(NO_FAULT), decryption["reason"]
    assert "are not at fault" in decryption["reason"]
    assert decryption["missing_secrets"] == []
    text = CliRunner().invoke(main, ["show", "--keylog", str(NGINX_KEYS), str(lost)]).output
    assert f"no secret: {NO_FAULT}" in text
    assert "open no record" not in text and "key log has no" not in text


def test_a_lost_quic_server_initial_does_not_blame_the_key_log(tmp_path: Path) -> None:
    """QUIC connection 0 without frame 2 (the server's Initial with its ServerHello, and
    its first Handshake packets), with its key log: its Initials opened, the
    rest cannot be, for the same reason."""
    lost = _without_frame(QUIC, tmp_path / "no-server-initial.pcapng", 2)
    decryption = _rows(lost, "--keylog", str(KEYS))[0]["decryption"]
    assert decryption["status"] == "no_secret"
    assert decryption["reason"].startswith(
        f"Initial packets opened (their keys come from the connection ID); for the rest, {NO_FAULT}"
    ), decryption["reason"]
    assert decryption["missing_secrets"] == []


def test_an_http3_close_code_has_one_name_in_the_narration_records_and_ladder() -> None:
    """Connection 0 (ALPN h3) with its client's CONNECTION_CLOSE carrying HTTP/3's
    H3_REQUEST_CANCELLED (0x10c, as a browser closing a tab sends) instead of aioquic's 0:
    the narration, ``--records`` and the ladder name it from the one table."""
    conn = next(iter(tlslens.read_capture(QUIC, records=True)))
    assert conn.alpn == "h3" and conn.quic is not None
    cancelled = {"code": 0x10C, "error": "application error 0x10c"}
    conn.quic.closes[0] = dataclasses.replace(conn.quic.closes[0], **cancelled)
    (packet,) = [
        p for p in conn.quic.packets if any(f.name == "CONNECTION_CLOSE" for f in p.frames)
    ]
    packet.frames = [
        dataclasses.replace(f, **cancelled) if f.name == "CONNECTION_CLOSE" else f
        for f in packet.frames
    ]
    named = "application error 0x10c (H3_REQUEST_CANCELLED)"
    (step,) = [s for s in quic_steps(conn, bytes.hex) if s.title == "CONNECTION_CLOSE"]
    assert step.lines[0].startswith("Error: application error 0x10c (H3_REQUEST_CANCELLED, ")
    assert f"CONNECTION_CLOSE: {named} (at byte" in "\n".join(quic_packet_lines(conn))
    (arrow,) = [a for a in ladder(conn) if "CONNECTION_CLOSE" in a.label]
    assert f"CONNECTION_CLOSE {named}" in arrow.label and arrow.tone == "alert"
