"""`connect --quic` and `scan --quic` against tools/record_quic.py's aioquic HTTP/3 server on
loopback (tests/_servers.py QuicServer), started inside each test with settings the test
then finds again: Retry on or off, QUIC v1 alone or v1 and v2, an idle timeout and a
connection flow-control limit of its own, the lab certificate or not the one of the TCP
listener on the same port. The saved pcapng goes to tshark with only its own Decryption
Secrets Block; a port where nothing listens and a port that answers garbage end in one
clean line."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from record_lab import free_port

from tlslens.cli import main

from _servers import NAME, PKI, QuicServer, ScriptedServer, server_context, tls_then
from _tshark import APPLICATION_CLOSE, _fields, run_tshark_quic
from conftest import CAPTURES, ROOT

ROOT_CA = str(PKI / "root.pem")
SCAN_SCHEMA = json.loads((ROOT / "src/tlslens/schema/scan.schema.json").read_text())
IDLE_TIMEOUT_S = 33.0  # the server's max_idle_timeout: 33000 ms on the wire
MAX_DATA = 777_216  # the server's initial_max_data
QUIC_V1 = 0x00000001
H3_NO_ERROR = 0x100


def _leaf_sha256(cert: str) -> str:
    pem = (PKI / f"{cert}.pem").read_bytes()
    return hashlib.sha256(
        x509.load_pem_x509_certificate(pem).public_bytes(Encoding.DER)
    ).hexdigest()


@pytest.fixture
def quic_port() -> int:
    return free_port(socket.SOCK_DGRAM)


def _connect(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["connect", "--quic", *args], catch_exceptions=False)
    return result.exit_code, result.stdout


def test_connect_quic_h3_narration_json_and_the_pcapng(
    quic_port: int, tshark: str, tmp_path: Path
) -> None:
    pcapng = tmp_path / "live-quic.pcapng"
    with QuicServer(quic_port, idle_timeout=IDLE_TIMEOUT_S, max_data=MAX_DATA):
        code, out = _connect(
            f"127.0.0.1:{quic_port}", "--sni", NAME, "--ca", ROOT_CA, "--json",
            "--pcapng", str(pcapng),
        )  # fmt: skip
        text_code, text = _connect(f"127.0.0.1:{quic_port}", "--sni", NAME, "--ca", ROOT_CA)
    assert code == 0, out
    row = json.loads(out)
    assert row["transport"] == "quic" and row["version"] == "TLS 1.3"
    assert row["quic"]["version"] == "QUIC v1" and row["quic"]["retry"] is None
    assert row["sni"] == NAME and row["alpn"] == "h3" and row["alpn_offered"] == ["h3"]
    assert row["certificates"][0]["sha256"] == _leaf_sha256("server")
    assert row["verdict"]["status"] == "trusted" and row["target"]["port"] == quic_port
    # The HTTP/3 request went on stream 0 and its answer came back there, both decrypted
    # from the recording; the client closed with HTTP/3's "no error".
    streams = {(s["direction"], s["stream"]): s["bytes"] for s in row["quic"]["streams"]}
    assert streams[("c2s", 0)] > 0 and streams[("s2c", 0)] > 0
    assert [(c["direction"], c["code"]) for c in row["quic"]["closes"]] == [("c2s", H3_NO_ERROR)]
    assert text_code == 0
    lines = text.splitlines()
    assert lines[0].endswith(f"SNI {NAME}; over QUIC (UDP)")
    assert any("TLS 1.3, over QUIC v1" in line for line in lines)
    reply = lines.index("HTTP/3 reply, stream 0 (47 bytes of plaintext read):")
    assert lines[reply + 1] == "  :status 200"
    assert lines[-1].startswith("Handshake completed (TLS 1.3); the chain is trusted")

    # tshark reads the saved file with nothing but the key log inside it.
    seen = run_tshark_quic(pcapng, [])
    assert len(seen) == 1
    conn = next(iter(seen.values()))
    assert conn.versions == [QUIC_V1] and conn.sni == [NAME]
    assert conn.alpn == [["h3"], ["h3"]]  # ClientHello, EncryptedExtensions
    assert 1 in conn.http3_frames  # HEADERS, decrypted
    assert conn.closes == [(APPLICATION_CLOSE, H3_NO_ERROR, None)]  # as tlslens tells it
    stream0 = _fields(
        pcapng, [], "quic.stream.stream_id == 0", ["udp.srcport", "quic.stream_data"], None
    )
    sent: dict[str, int] = {}
    for line in stream0.splitlines():
        port, data = line.split("\t")
        side = "s2c" if int(port) == quic_port else "c2s"
        sent[side] = sent.get(side, 0) + sum(len(d.replace(":", "")) // 2 for d in data.split(","))
    assert sent == {"c2s": streams[("c2s", 0)], "s2c": streams[("s2c", 0)]}
    # The synthetic UDP framing is sound: every checksum verifies.
    checks = _fields(
        pcapng, ["-o", "udp.check_checksum:TRUE"], "udp", ["udp.checksum.status"], None
    )
    assert set(checks.split()) == {"1"}  # 1: good (0 bad, 2 unverified)


def test_connect_quic_through_a_retry(quic_port: int) -> None:
    with QuicServer(quic_port, retry=True):
        code, out = _connect(f"127.0.0.1:{quic_port}", "--sni", NAME, "--ca", ROOT_CA, "--json")
    assert code == 0, out
    row = json.loads(out)
    assert row["quic"]["retry"]["integrity_tag_verified"] is True
    assert row["alpn"] == "h3" and row["certificates"][0]["sha256"] == _leaf_sha256("server")


def test_connect_quic_over_ipv6(quic_port: int, tshark: str, tmp_path: Path) -> None:
    pcapng = tmp_path / "live-quic6.pcapng"
    try:
        server = QuicServer(quic_port, host="::1")
    except RuntimeError as exc:
        pytest.skip(f"no IPv6 loopback here: {exc}")
    with server:
        code, out = _connect(
            f"[::1]:{quic_port}", "-6", "--sni", NAME, "--ca", ROOT_CA, "--json",
            "--pcapng", str(pcapng),
        )  # fmt: skip
    assert code == 0, out
    row = json.loads(out)
    assert row["server"] == f"[::1]:{quic_port}" and row["alpn"] == "h3"
    seen = run_tshark_quic(pcapng, [])
    assert [c.sni for c in seen.values()] == [[NAME]]
    checks = _fields(
        pcapng, ["-o", "udp.check_checksum:TRUE"], "ipv6 and udp", ["udp.checksum.status"], None
    )
    assert checks.split() and set(checks.split()) == {"1"}


def test_connect_quic_refused_by_the_server(quic_port: int) -> None:
    """The server closes during the handshake (no ALPN in common): its CONNECTION_CLOSE
    carries the TLS alert, told as connect tells an alert over TCP."""
    with QuicServer(quic_port):
        code, out = _connect(f"127.0.0.1:{quic_port}", "--sni", NAME, "--alpn", "hq-interop")
    assert code == 1
    assert out.splitlines()[-1] == (
        "The server sent a fatal no_application_protocol alert (no ALPN protocol in common): "
        "none of the ALPN protocols offered (hq-interop) is served"
    )


def test_connect_quic_where_nothing_listens(quic_port: int) -> None:
    """ICMP port unreachable is the whole story, told as connect tells a refused SYN: no
    Outcome of the client's lone Initial saying the capture ended before the handshake."""
    started = time.monotonic()
    code, out = _connect(f"127.0.0.1:{quic_port}", "--timeout", "3", "--sni", NAME)
    assert time.monotonic() - started < 6
    assert code == 1
    assert out.splitlines() == [
        f"Connecting to 127.0.0.1 port {quic_port}; SNI {NAME}; over QUIC (UDP)",
        f"Connection refused: nothing listens there (127.0.0.1 UDP port {quic_port}: "
        "ICMP port unreachable)",
    ]


@pytest.fixture
def garbage_port(request: pytest.FixtureRequest) -> Iterator[int]:
    """A UDP port that answers every datagram with text (``request.param`` datagrams of it,
    one without a parameter)."""
    copies = getattr(request, "param", 1)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    stop = threading.Event()

    def answer() -> None:
        while not stop.is_set():
            try:
                _data, addr = sock.recvfrom(65536)
            except TimeoutError:
                continue
            # Paced, not one burst: a burst overflows the client's socket buffer on a loaded
            # machine and the datagrams lost there never reach the bound under test.
            for sent in range(copies):
                sock.sendto(
                    b"hello,\x1b[2J not QUIC at all", addr
                )  # an ESC: the answer is sanitised
                if sent % 64 == 63:
                    time.sleep(0.002)

    worker = threading.Thread(target=answer, daemon=True)
    worker.start()
    yield int(sock.getsockname()[1])
    stop.set()
    worker.join(timeout=5)
    sock.close()


def test_connect_quic_to_a_port_that_answers_garbage(garbage_port: int) -> None:
    """Datagrams that are not QUIC are neither narrated as the server's packets nor end in a
    handshake timeout: one line says the port answered with something else, and how it
    begins (sanitised)."""
    started = time.monotonic()
    code, out = _connect(f"127.0.0.1:{garbage_port}", "--timeout", "2", "--sni", NAME)
    json_code, json_out = _connect(
        f"127.0.0.1:{garbage_port}", "--timeout", "2", "--sni", NAME, "--json"
    )
    assert time.monotonic() - started < 9
    assert code == json_code == 1
    lines = out.splitlines()
    assert len(lines) == 2 and "Application data" not in out and "Outcome" not in out
    assert re.fullmatch(
        rf"Cannot connect: 127\.0\.0\.1 UDP port {garbage_port} answered with \d+ datagrams? "
        r"\(\d+ bytes\), none of which opened as a QUIC packet of this connection: not a QUIC "
        r"server \(the first begins 'hello,\.\[2J not QUIC at a': 68 65 6c 6c 6f 2c 1b .*\)",
        lines[-1],
    )
    row = json.loads(json_out)
    assert row["verdict"]["text"].startswith(f"Cannot connect: 127.0.0.1 UDP port {garbage_port}")
    assert row["notes"] == []


@pytest.mark.parametrize("garbage_port", [3000], indirect=True)
def test_connect_quic_stops_recording_a_flood(garbage_port: int) -> None:
    code, out = _connect(f"127.0.0.1:{garbage_port}", "--timeout", "5", "--json")
    assert code == 1
    row = json.loads(out)
    assert row["verdict"]["text"] == (
        "The server sent more than tlslens keeps (2048 datagrams kept) during the TLS "
        "handshake: reading stopped"
    )
    assert row["last_frame"] <= 2048


def test_connect_quic_refuses_tcp_only_options() -> None:
    result = CliRunner().invoke(main, ["connect", "--quic", "127.0.0.1:443", "--tls1.2"])
    assert result.exit_code == 2
    assert "--tls1.2 is not available with --quic" in result.output


def _scan(port: int, *extra: str) -> dict[str, Any]:
    result = CliRunner().invoke(
        main,
        ["scan", "--json", "--no-resumption", f"127.0.0.1:{port}", "--sni", NAME,
         "--ca", ROOT_CA, *extra],
        catch_exceptions=False,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    row: dict[str, Any] = json.loads(result.stdout)
    jsonschema.validate(row, SCAN_SCHEMA)
    return row


def _tcp_and_quic(cert: str) -> ScriptedServer:
    """A TLS listener on TCP (certificate ``cert``); the QUIC server takes its port on UDP."""
    return ScriptedServer(tls_then(server_context(cert), lambda tls: None))


def test_scan_quic_v1_only_with_retry_and_the_tcp_certificate() -> None:
    with (
        _tcp_and_quic("server") as tcp,
        QuicServer(
            tcp.port,
            retry=True,
            supported_versions=[QUIC_V1],
            idle_timeout=IDLE_TIMEOUT_S,
            max_data=MAX_DATA,
        ),
    ):
        quic = _scan(tcp.port, "--quic")["quic"]
    assert quic["versions"] == {"QUIC v1": True, "QUIC v2": False}
    assert quic["version_negotiation"] == ["0x00000001"]
    assert quic["alpn_h3"] is True and quic["retry"] is True
    params = quic["transport_parameters"]
    assert params["max_idle_timeout"] == int(IDLE_TIMEOUT_S * 1000)
    assert params["initial_max_data"] == MAX_DATA
    assert "retry_source_connection_id" in params  # RFC 9000 §7.3: sent after a Retry
    # RFC 9368: the version of the server's Initials, and every version it supports.
    assert params["version_information"] == "chosen QUIC v1; available QUIC v1"
    assert quic["leaf_sha256"] == _leaf_sha256("server")
    assert quic["same_certificate_as_tcp"] is True and quic["certificate_difference"] is None


def test_scan_quic_v2_without_retry_and_another_certificate_than_tcp() -> None:
    with _tcp_and_quic("ecdsa") as tcp, QuicServer(tcp.port):
        result = CliRunner().invoke(
            main,
            ["scan", "--no-resumption", f"127.0.0.1:{tcp.port}", "--sni", NAME, "--quic"],
            catch_exceptions=False,
        )
        quic = _scan(tcp.port, "--quic")["quic"]
    assert quic["versions"] == {"QUIC v1": True, "QUIC v2": True}
    assert quic["version_negotiation"] is None and quic["retry"] is False
    assert quic["same_certificate_as_tcp"] is False
    difference = quic["certificate_difference"]
    assert difference.startswith("the leaf differs: over QUIC CN=tlslens.test")
    assert _leaf_sha256("server") in difference and _leaf_sha256("ecdsa") in difference
    assert re.search(r"^  QUIC {2,}v1 yes, v2 yes$", result.stdout, re.MULTILINE)
    assert re.search(r"^  QUIC certificate as TCP {2,}no: the leaf differs", result.stdout, re.M)


def test_scan_quic_where_nothing_listens_on_udp() -> None:
    with _tcp_and_quic("server") as tcp:
        row = _scan(tcp.port, "--quic", "--timeout", "3")
    quic = row["quic"]
    # ICMP port unreachable: a no, not a question left open.
    assert quic["versions"] == {"QUIC v1": False, "QUIC v2": False}
    assert quic["alpn_h3"] is None and quic["retry"] is None and quic["leaf_sha256"] is None
    assert quic["same_certificate_as_tcp"] is None and quic["transport_parameters"] == {}
    assert row["versions"]["TLS 1.3"]["accepted"] is True
    assert quic["errors"] == [
        f"QUIC {v} probe: 127.0.0.1 UDP port {tcp.port}: ICMP port unreachable"
        for v in ("v1", "v2")
    ]


def test_scan_without_quic_asks_nothing_over_udp() -> None:
    with _tcp_and_quic("server") as tcp:
        row = _scan(tcp.port)
    assert row["schema_version"] == 3 and row["quic"] is None


def test_scan_a_quic_only_server(quic_port: int) -> None:
    """Nothing on TCP, aioquic on UDP: the text tells the QUIC answers, not "not scanned",
    and the scan succeeds as its JSON does."""
    with QuicServer(quic_port):
        result = CliRunner().invoke(
            main,
            ["scan", "--no-resumption", f"127.0.0.1:{quic_port}", "--sni", NAME, "--quic",
             "--timeout", "5"],
            catch_exceptions=False,
        )  # fmt: skip
        row = _scan(quic_port, "--quic", "--timeout", "5")
    assert row["quic"]["versions"] == {"QUIC v1": True, "QUIC v2": True}
    assert row["quic"]["alpn_h3"] is True
    assert result.exit_code == 0, result.output
    assert "not scanned" not in result.stdout
    assert "  TCP: no TLS or SSL version answered; over QUIC (UDP) the server answered" in (
        result.stdout.splitlines()
    )
    assert re.search(r"^  QUIC {2,}v1 yes, v2 yes$", result.stdout, re.MULTILINE)
    assert re.search(r"^  QUIC ALPN h3 {2,}yes$", result.stdout, re.MULTILINE)
    assert re.search(
        r"^  QUIC certificate as TCP {2,}no TCP certificate to compare it with$",
        result.stdout,
        re.MULTILINE,
    )


def test_report_connect_over_quic(quic_port: int, tmp_path: Path) -> None:
    """`report --connect --quic` records as connect --quic does: the page has the QUIC
    connection, decrypted (the HTTP/3 request and answer on stream 0)."""
    page = tmp_path / "quic.html"
    with QuicServer(quic_port):
        result = CliRunner().invoke(
            main,
            ["report", "--connect", f"127.0.0.1:{quic_port}", "--quic", "--sni", NAME,
             "--ca", ROOT_CA, "-o", str(page)],
            catch_exceptions=False,
        )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "1 connection reported" in result.stderr
    html = page.read_text()
    assert "sent no QUIC packet" not in html
    data = _page_data(html)
    overview = f'"127.0.0.1:{quic_port} (live)","127.0.0.1:'
    assert overview in data and f'"{NAME}","TLS 1.3 over QUIC v1"' in data
    assert '"decrypted","trusted"' in data and _leaf_sha256("server") in data


def _page_data(html: str) -> str:
    """The page's data blocks (JSON, gzip'd and base64'd: tlslens.report.page), as text."""
    blocks = re.findall(r'"(H4sI[A-Za-z0-9+/=]+)"', html)  # gzip's magic, base64'd
    return "".join(gzip.decompress(base64.b64decode(block)).decode() for block in blocks)


def test_report_connect_over_quic_where_nothing_listens(quic_port: int, tmp_path: Path) -> None:
    page = tmp_path / "none.html"
    result = CliRunner().invoke(
        main,
        ["report", "--connect", f"127.0.0.1:{quic_port}", "--quic", "--timeout", "3",
         "-o", str(page)],
        catch_exceptions=False,
    )  # fmt: skip
    assert "The server sent no QUIC packet of this connection" in page.read_text()
    assert result.exit_code == 0, result.output  # the client's Initial is a connection


def test_report_quic_needs_connect(tmp_path: Path) -> None:
    capture = CAPTURES / "demo-tls12-tls13.pcapng"
    result = CliRunner().invoke(
        main, ["report", "--quic", "-o", str(tmp_path / "r.html"), str(capture)]
    )
    assert result.exit_code == 2 and "--quic goes with --connect" in result.stderr
