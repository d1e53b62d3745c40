"""HTTP/3 in `tlslens decrypt` of a QUIC connection: requests and responses with QPACK-decoded
header blocks, checked against what tools/record_quic.py's clients asked for and tshark's
HTTP/3 frames; hostile frames end a stream's reading with a note."""

from __future__ import annotations

import io
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

from click.testing import CliRunner

from tlslens.cli import main
from tlslens.decrypt.h3wire import read_http3, summarize_http3

from _tshark import _fields
from conftest import CAPTURES

QUIC = CAPTURES / "udp" / "quic.pcapng"
KEYS = CAPTURES / "udp" / "quic.keys"
# What tools/record_quic.py's aioquic clients (connections 1-5) and Chromium (7) requested,
# by connection: tshark 4.0.17 has no QPACK-decoded header fields (`tshark -G fields` knows
# only http3.frame_type, http3.frame_length and http3.frame_payload), so the recorder is the
# oracle for the headers; every answer is the recorder's server's: 200, text/html, a body
# naming the path ("<html><body>hello over HTTP/3, PATH</body></html>\n").
REQUESTED = {
    1: [(0, "/", "tlslens.test")],
    2: [(0, "/", "tlslens.test")],
    3: [(0, "/", "tlslens.test")],
    4: [(0, "/", "tlslens.test")],
    5: [(0, "/", "tlslens.test"), (4, "/cid", "tlslens.test"), (8, "/migrated", "tlslens.test")],
    7: [(0, "/", "tlslens.test:38445"), (4, "/favicon.ico", "tlslens.test:38445")],
}


def _body(path: str) -> int:
    return len(f"<html><body>hello over HTTP/3, {path}</body></html>\n")


def test_decrypt_summarises_each_http3_request_and_response() -> None:
    # The capture's Decryption Secrets Block is key enough.
    out = CliRunner().invoke(main, ["decrypt", str(QUIC), "--max-dump", "0"]).output
    sections = {
        int(part.split(" ", 1)[0]): part for part in out.split("── Connection ")[1:] if part
    }
    for number, requests in REQUESTED.items():
        section = sections[number]
        assert "HTTP/3:\n" in section
        for stream, path, host in requests:
            line = (
                f"stream {stream}: GET {path} (host {host}) -> 200 (text/html, {_body(path)} bytes)"
            )
            assert f"  {line}\n" in section, (number, line)
        exchanges = [line for line in section.splitlines() if " -> " in line]
        assert len(exchanges) == len(requests)
    # The refused connection (6) never got to HTTP.
    assert " -> " not in sections[6]


def _ours(out: Path, number: int) -> Counter[tuple[int, int]]:
    """(frame type, length) of every HTTP/3 frame we read in connection ``number``."""
    notes: list[str] = []
    with ExitStack() as stack:
        files = {
            path.name.removeprefix(f"conn{number}-").removesuffix(".bin"): stack.enter_context(
                path.open("rb")
            )
            for path in out.glob(f"conn{number}-stream*.bin")
        }
        seen, _ = read_http3(files, notes)
    assert notes == []
    frames = seen["c2s"].frames + seen["s2c"].frames
    return Counter((frame.frame_type, frame.length) for frame in frames)


def test_http3_frames_agree_with_tshark(tshark: str, tmp_path: Path) -> None:
    text = _fields(
        QUIC,
        ["-o", f"tls.keylog_file:{KEYS}"],
        "http3.frame_type",
        ["quic.connection.number", "http3.frame_type", "http3.frame_length"],
        None,
    )
    theirs: dict[int, Counter[tuple[int, int]]] = {}
    for line in text.splitlines():
        number, kinds, lengths = line.split("\t")
        frames = zip(kinds.split(","), lengths.split(","), strict=True)
        # tshark numbers connections from 0; tlslens from 1.
        theirs.setdefault(int(number.split(",")[0]) + 1, Counter()).update(
            (int(kind), int(length)) for kind, length in frames
        )
    # The Retry connection (3) needs tshark options that break Chromium's (test_quic_show).
    assert set(theirs) == {1, 2, 4, 5, 7}
    out = tmp_path / "plain"
    result = CliRunner().invoke(main, ["decrypt", str(QUIC), "--out", str(out)])
    assert result.exit_code == 0, result.output
    for number, frames in theirs.items():
        assert _ours(out, number) == frames, number


def _frame(kind: int, payload: bytes, length: bytes | None = None) -> bytes:
    return bytes([kind]) + (length if length is not None else bytes([len(payload)])) + payload


def test_hostile_http3_frames_are_notes() -> None:
    # A HEADERS frame claiming 2^62 - 1 bytes (the largest varint), and on stream 4 a QPACK
    # block cut after its prefix and the first byte of a literal (aioquic's request, cut).
    huge = _frame(0x1, b"", length=b"\xff" * 8)
    cut = _frame(0x1, bytes.fromhex("0000d1d750"))
    files = {"stream0-c2s": io.BytesIO(huge), "stream4-c2s": io.BytesIO(cut)}
    lines = summarize_http3(files)
    assert (
        "c2s stream 0: HEADERS frame at offset 0 claims 4,611,686,018,427,387,903 bytes, "
        "over 262,144" in lines
    )
    notes = [line for line in lines if line.startswith("c2s stream 4 offset 0:")]
    assert len(notes) == 1 and "the header block does not decode (QPACK" in notes[0], lines
    # A frame cut short, and a frame header cut short, on the server's side.
    files = {
        "stream0-s2c": io.BytesIO(_frame(0x1, b"\x00\x00\xd9")[:-1]),
        "stream4-s2c": io.BytesIO(b"\x01\x40"),
        "stream8-s2c": io.BytesIO(_frame(0x0, b"abc", length=b"\xff" * 8)),
    }
    lines = summarize_http3(files)
    assert "s2c stream 0: HEADERS frame at offset 0 is cut short (2 of 3 bytes)" in lines
    assert "s2c stream 4: the HTTP/3 frame header at offset 0 is cut short" in lines
    assert (
        "s2c stream 8: DATA frame at offset 0 is cut short (3 of 4,611,686,018,427,387,903 bytes)"
        in lines
    )
    assert "server → client: 0 frames" in lines
