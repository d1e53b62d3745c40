"""`tlslens decrypt` and the HTTP/1.x and HTTP/2 summaries of decrypted data."""

from __future__ import annotations

import io
from pathlib import Path

from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from tlslens.cli import main
from tlslens.decrypt.http import H2_PREFACE, summarize

from conftest import CAPTURES


def test_decrypt_writes_files_and_summarises(tmp_path: Path) -> None:
    capture = CAPTURES / "nginx-curl.pcapng"
    out = tmp_path / "plain"
    result = CliRunner().invoke(
        main,
        ["decrypt", str(capture), "--keylog", str(capture.with_suffix(".keys")), "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert (out / "conn1-c2s.bin").read_bytes().startswith(H2_PREFACE)
    assert (out / "conn2-c2s.bin").read_bytes().startswith(b"GET / HTTP/1.1\r\n")
    assert b"hello from nginx" in (out / "conn2-s2c.bin").read_bytes()
    assert not list(out.glob(".stream*"))
    text = result.stdout
    assert "stream 1: GET / (host tlslens.test:" in text and "-> 200 (text/plain, 17 bytes)" in text
    assert "GET / (host tlslens.test:" in text and "-> 200 OK (text/plain, 17 bytes)" in text


def test_decrypt_dump_without_out() -> None:
    capture = CAPTURES / "demo-tls12-tls13.pcapng"
    result = CliRunner().invoke(
        main,
        [
            "decrypt",
            str(capture),
            "--keylog",
            str(capture.with_suffix(".keys")),
            "--connection",
            "2",
        ],
    )
    assert result.exit_code == 0
    assert "Connection 2" in result.stdout and "Connection 1 " not in result.stdout
    assert "GET / HTTP/1.1" in result.stdout and "HTTP/1.0 200 ok" in result.stdout


def test_decrypt_without_secrets_says_so() -> None:
    result = CliRunner().invoke(main, ["decrypt", str(CAPTURES / "gnutls.pcapng")])
    assert result.exit_code == 0
    assert "not attempted" in result.stdout or "not_attempted" in result.stdout


def test_http1_chunked_and_pipelined() -> None:
    c2s = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n"
    s2c = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n"
        b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nnop"
    )
    protocol, lines = summarize(io.BytesIO(c2s), io.BytesIO(s2c))
    assert protocol == "HTTP/1.x"
    assert lines == [
        "GET /a (host x) -> 200 OK (text/plain, 11 bytes)",
        "GET /b (host x) -> 404 Not Found (3 bytes)",
    ]


def test_not_http() -> None:
    assert summarize(io.BytesIO(b"\x00\x01binary"), io.BytesIO(b"")) == (None, [])


@given(st.binary(max_size=400), st.binary(max_size=400), st.booleans())
def test_http_readers_never_raise(c2s: bytes, s2c: bytes, h2: bool) -> None:
    prefix = H2_PREFACE if h2 else b"GET / HTTP/1.1\r\n"
    summarize(io.BytesIO(prefix + c2s), io.BytesIO(s2c))
