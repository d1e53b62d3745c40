"""Words a reader sees: counts that agree with their nouns ("1 byte", "2 bytes"), "a"/"an" as
spoken, a reason said once, and one rating-guide version in a grade."""

from __future__ import annotations

import datetime as dt
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from tlslens._buffer import Buffer, BufferReadError
from tlslens._text import iso_time, printable
from tlslens.cli import main

from _servers import ScriptedServer
from conftest import CAPTURES, VECTORS


@pytest.mark.parametrize(
    ("count", "noun", "many", "said"),
    [(0, "byte", None, "0 bytes"), (1, "byte", None, "1 byte"), (2, "byte", None, "2 bytes"),
     (1, "entry", "entries", "1 entry"), (3, "entry", "entries", "3 entries")],
)  # fmt: skip
def test_plural(count: int, noun: str, many: str | None, said: str) -> None:
    from tlslens._text import plural

    assert plural(count, noun, many) == said


@pytest.mark.parametrize(
    ("word", "said"),
    [("ECPrivateKey", "an ECPrivateKey"), ("RSA key", "an RSA key"), ("PEM file", "a PEM file"),
     ("X.509 certificate", "an X.509 certificate"), ("DSA key", "a DSA key"),
     ("Ed25519 key", "an Ed25519 key"), ("unknown key", "an unknown key"), ("user", "a user")],
)  # fmt: skip
def test_article(word: str, said: str) -> None:
    from tlslens._text import article

    assert article(word) == said


def test_one_tcp_connection_is_not_connections(corpus: Path) -> None:
    result = CliRunner().invoke(main, ["show", str(corpus / "wireshark/tls-renegotiation.pcap")])
    assert result.exit_code == 0
    assert ", 53 frames (Ethernet), 1 TCP connection, 1 with TLS, 1 shown" in result.stdout
    assert "1 TCP connections" not in result.stdout


def test_one_byte_is_not_bytes() -> None:
    with pytest.raises(BufferReadError, match=r"^needs 1 byte at offset 0, 0 remain$"):
        Buffer(b"").pull_uint8()
    text = CliRunner().invoke(main, ["show", str(CAPTURES / "demo-tls12-tls13.pcapng")]).stdout
    assert " 1 records" not in text and " 1 bytes" not in text and "(s)" not in text
    assert (
        "; 0 problems"
        in CliRunner()
        .invoke(main, ["show", "--brief", str(CAPTURES / "demo-tls12-tls13.pcapng")])
        .stdout
    )


def test_an_ec_key_given_as_the_rsa_key() -> None:
    demo = str(CAPTURES / "demo-tls12-tls13.pcapng")
    result = CliRunner().invoke(main, ["show", demo, "--rsa-key", str(VECTORS / "pki/ecdsa.key")])
    assert result.exit_code == 2
    assert "holds an ECPrivateKey, not an RSA private key" in result.output


def test_a_reset_is_said_once_by_scan() -> None:
    """A server that resets every probe: one line for the reason, which names the server
    once."""

    def behaviour(conn: socket.socket) -> None:
        conn.recv(65536)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")

    with ScriptedServer(behaviour) as server:
        result = CliRunner().invoke(main, ["scan", f"127.0.0.1:{server.port}", "--timeout", "3"])
    errors = [line for line in result.stdout.splitlines() if "error:" in line]
    assert errors == [
        "  error: SSL 3.0, TLS 1.0, TLS 1.1, TLS 1.2, TLS 1.3 probes: the connection: "
        "reset by the server"
    ]
    assert result.stdout.count("reset by the server") == 1


def test_one_guide_version_in_a_grade() -> None:
    """The grade names the rating guide it follows; its caps cite that same version."""
    from tlslens.scan.findings import ScanReport
    from tlslens.scan.grade import GUIDE, GUIDE_VERSION, grade

    report = ScanReport("example.test", "example.test", 443)
    report.versions["TLS 1.0"].accepted = True
    report.versions["TLS 1.2"].accepted = True
    report.versions["TLS 1.3"].accepted = False
    report.versions["TLS 1.2"].cipher_suites = [0xC02F]
    graded = grade(report)
    assert graded["guide"] == GUIDE and GUIDE.endswith(GUIDE_VERSION)
    cited = [cap["reason"] for cap in graded["caps"] if "guide" in cap["reason"]]
    assert len(cited) == 2
    assert all(f"(guide {GUIDE_VERSION}" in reason for reason in cited), cited


@given(
    st.datetimes(
        min_value=dt.datetime(1, 1, 2),
        max_value=dt.datetime(9999, 12, 30),
        timezones=st.sampled_from(
            [
                dt.UTC,
                dt.timezone(dt.timedelta(hours=5, minutes=30)),
                dt.timezone(-dt.timedelta(hours=11)),
            ]
        ),
    )
)
def test_iso_time_writes_what_isoformat_wrote(value: dt.datetime) -> None:
    """The JSON's times (a verdict's ``checked_at``, an OCSP response's) are ``ts_iso``'s
    text: what ``isoformat`` of the time in UTC wrote, with a Z, in whatever zone it came."""
    expected = value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    assert iso_time(value) == expected
    assert iso_time(None) is None


def test_printable_text_ends_lines_at_crlf() -> None:
    """A stream's text as Wireshark follows it: CRLF a line end (it was a dot before each
    newline), a lone CR and every other control byte or escape still a dot."""
    assert printable(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n") == "GET / HTTP/1.1\nHost: a\n\n"
    assert printable(b"a\rb\x1b[31mc\x00\n") == "a.b.[31mc.\n"
    assert printable(b"GET /\r\n", lines=False) == "GET /.."  # a byte a character
