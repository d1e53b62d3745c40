"""HTTP/2 in `tlslens decrypt`: frames and header blocks per direction and per stream
(tlslens/decrypt/h2wire.py), against tshark's http2 dissector on real captures."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from hyperframe.frame import GoAwayFrame, HeadersFrame, RstStreamFrame, SettingsFrame

from tlslens.cli import main
from tlslens.decrypt.h2wire import H2_PREFACE, H2Direction, read_http2
from tlslens.decrypt.http import summarize

from _tshark import run_tshark_http2
from conftest import CAPTURES, CORPUS

# (capture, key log or None for one the pcapng carries, tshark options beside the keys)
ORACLE_CASES = [
    (CAPTURES / "nginx-h2.pcapng", CAPTURES / "nginx-h2.keys"),
    (CAPTURES / "nginx-curl.pcapng", CAPTURES / "nginx-curl.keys"),
    (CORPUS / "wireshark" / "http2_follow_multistream.pcapng", None),
]


def _plaintext(capture: Path, keys: Path | None, out: Path) -> list[dict[str, object]]:
    """`decrypt --out` of the capture, and its connections as `show --json` gives them."""
    secrets = ["--keylog", str(keys)] if keys else []
    done = CliRunner().invoke(main, ["decrypt", str(capture), *secrets, "--out", str(out)])
    assert done.exit_code == 0, done.output
    shown = CliRunner().invoke(main, ["show", "--json", str(capture), *secrets])
    return [json.loads(line) for line in shown.stdout.splitlines()]


def _read(path: Path, direction: str) -> H2Direction:
    notes: list[str] = []
    with path.open("rb") as handle:
        seen = read_http2(handle, direction, notes)
    assert notes == []
    return seen


@pytest.mark.parametrize("capture,keys", ORACLE_CASES, ids=lambda v: getattr(v, "name", ""))
def test_frames_and_headers_are_tsharks(
    tshark: str, capture: Path, keys: Path | None, tmp_path: Path
) -> None:
    if not capture.exists():
        pytest.skip(f"{capture} is not here (the shared corpus)")
    connections = _plaintext(capture, keys, tmp_path)
    options = ["-o", f"tls.keylog_file:{keys}"] if keys else []
    oracle = run_tshark_http2(capture, options)
    told = 0
    for conn in connections:
        if conn.get("alpn") != "h2":
            continue
        client_port = int(str(conn["client"]).rsplit(":", 1)[1])
        server_port = int(str(conn["server"]).rsplit(":", 1)[1])
        for direction, port in (("c2s", client_port), ("s2c", server_port)):
            ours = _read(tmp_path / f"conn{conn['id']}-{direction}.bin", direction)
            theirs = oracle[port]
            assert [(f.stream, f.frame_type, f.length) for f in ours.frames] == theirs.frames
            headers = [pair for f in ours.frames for pair in f.headers]
            assert headers == theirs.headers
            assert [f.error_code for f in ours.frames if f.frame_type == 0x3] == theirs.resets
            goaways = [(f.last_stream, f.error_code) for f in ours.frames if f.frame_type == 0x7]
            assert goaways == theirs.goaways
            told += len(ours.frames)
    assert told > 0


def test_decrypt_tells_frames_per_direction_and_stream() -> None:
    capture = CAPTURES / "nginx-h2.pcapng"
    keys = capture.with_suffix(".keys")
    done = CliRunner().invoke(main, ["decrypt", str(capture), "--keylog", str(keys)])
    assert done.exit_code == 0, done.output
    text = done.stdout
    # The exchanges, then each direction's frames by stream.
    assert "  stream 3: GET /big.bin (host tlslens.test) -> 200 (text/plain, 65521 bytes)" in text
    client = text.index("  client → server: 16 frames")
    server = text.index("  server → client: 17 frames")
    assert client < server
    client_part, server_part = text[client:server], text[server:]
    assert "    stream 3: HEADERS (END_STREAM)\n        :method: GET\n        :path: /big.bin" in (
        client_part
    )
    assert "      RST_STREAM CANCEL (0x8)\n      RST_STREAM STREAM_CLOSED (0x5) ×9" in client_part
    assert "    connection: SETTINGS header_table_size=4096, enable_push=1," in client_part
    assert "      GOAWAY last stream 5, NO_ERROR (0x0)" in server_part
    assert "        :status: 200\n        server: nginx/1.22.1" in server_part
    assert "      DATA: 8 frames, 65,521 bytes\n" in server_part
    assert "      DATA: 1 frame, 14 bytes (END_STREAM)" in server_part


def _frames(*frames: object) -> bytes:
    return b"".join(frame.serialize() for frame in frames)  # type: ignore[attr-defined]


def test_what_a_peer_puts_in_frames_is_told_safely() -> None:
    """Unknown codes keep their number, a long value is cut, a GOAWAY's debug data and a
    header's bytes reach the terminal only through the CLI's sanitising (safe_text)."""
    import hpack

    headers = HeadersFrame(1, flags=["END_HEADERS", "END_STREAM"])
    headers.data = hpack.Encoder().encode(
        [(":method", "GET"), (":path", "/"), ("x-long", "a" * 500)]
    )
    settings = SettingsFrame(0, settings={0x99: 7})
    reset = RstStreamFrame(1, error_code=0x77)
    goaway = GoAwayFrame(0, last_stream_id=1, error_code=0x2, additional_data=b"bye\x1b[2J")
    c2s = io.BytesIO(H2_PREFACE + _frames(settings, headers, reset, goaway))
    protocol, lines = summarize(c2s, io.BytesIO(b""))
    assert protocol == "HTTP/2"
    assert "  connection: SETTINGS setting 0x99=7" in lines
    assert "      x-long: " + "a" * 200 + "…" in lines
    assert "    RST_STREAM unknown error 0x77" in lines
    assert "    GOAWAY last stream 1, INTERNAL_ERROR (0x2): 'bye\\x1b[2J'" in lines


def test_a_frame_cut_short_is_a_note() -> None:
    data = H2_PREFACE + SettingsFrame(0, settings={4: 1}).serialize()[:-2]
    protocol, lines = summarize(io.BytesIO(data), io.BytesIO(b""))
    assert protocol == "HTTP/2"
    assert lines[-1] == "c2s: the last HTTP/2 frame is cut short"


def test_a_pushed_request_is_not_the_stream_s_response() -> None:
    import hpack
    from hyperframe.frame import DataFrame, PushPromiseFrame

    encoder = hpack.Encoder()
    request = HeadersFrame(1, flags=["END_HEADERS", "END_STREAM"])
    request.data = hpack.Encoder().encode([(":method", "GET"), (":path", "/")])
    push = PushPromiseFrame(1, promised_stream_id=2, flags=["END_HEADERS"])
    push.data = encoder.encode([(":method", "GET"), (":path", "/style.css")])
    response = HeadersFrame(1, flags=["END_HEADERS"])
    response.data = encoder.encode([(":status", "200")])
    body = DataFrame(1, data=b"hello", flags=["END_STREAM"])
    protocol, lines = summarize(
        io.BytesIO(H2_PREFACE + _frames(request)), io.BytesIO(_frames(push, response, body))
    )
    assert protocol == "HTTP/2"
    assert lines[0] == "stream 1: GET / -> 200 (5 bytes)"
    assert lines[1] == "client → server: 1 frame"
    assert lines[6:9] == [
        "  stream 1: PUSH_PROMISE of stream 2",
        "      :method: GET",
        "      :path: /style.css",
    ]


def test_header_blocks_that_repeat_a_table_entry_do_not_fill_memory() -> None:
    """HPACK amplification: one 4 KB dynamic-table entry, then 3,000 header blocks of 15
    one-byte references to it (75 KB on the wire, 180 MB decoded). Past the budget a
    block keeps the fields the exchange lines need; the reading goes on to the end."""
    import tracemalloc

    import hpack

    encoder = hpack.Encoder()
    first = HeadersFrame(1, flags=["END_HEADERS"])
    first.data = encoder.encode([(":method", "GET"), (":path", "/"), ("x-big", "v" * 4000)])
    blocks = [first]
    for n in range(3000):
        block = HeadersFrame(2 * n + 3, flags=["END_HEADERS", "END_STREAM"])
        # 0x82 :method GET, 0x84 :path /, then 15 times index 62 (x-big, the newest entry).
        block.data = b"\x82\x84" + b"\xbe" * 15
        blocks.append(block)
    data = H2_PREFACE + _frames(*blocks)
    notes: list[str] = []
    tracemalloc.start()
    try:
        seen = read_http2(io.BytesIO(data), "c2s", notes)
        _size, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 32 << 20, f"{peak:,} bytes"
    assert len(seen.blocks) == 3001
    assert seen.blocks[-1] == (6001, ((":method", "GET"), (":path", "/")))
    assert notes == [
        "c2s: past 4,194,304 bytes of header fields, only :authority, :method, :path, "
        ":status, content-type, host are kept, cut to 200 characters"
    ]
