"""Compressed certificates (RFC 8879): handshake/compression.py on real and forged input.

The real input is compressed-certificate.pcapng (tools/record_compressed.py): a tlslite-ng
server to headless Chromium (uncompressed, then brotli) and to a tlslite-ng client (zlib,
zstd, and zlib both ways with a client certificate). The forged input is plaintext flights
built here around a CompressedCertificate whose bytes lie, read through the same parser.
"""

from __future__ import annotations

import json
import subprocess
import zlib
from datetime import UTC, datetime
from pathlib import Path

import brotli
import pytest
import zstandard
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from record_lab import free_port

import tlslens
from tlslens.bounds import Limits
from tlslens.errors import DecodeError
from tlslens.events import HandshakeEvent
from tlslens.explain import explain
from tlslens.explain.fields import message_fields
from tlslens.handshake import compose
from tlslens.handshake.compression import BROTLI, ZLIB, ZSTD, decompress
from tlslens.keys.files import add_keylog_file
from tlslens.keys.store import KeyStore
from tlslens.serialize import connection_to_json

from _frames import server_flights_capture
from _servers import NAME, ScriptedServer, openssl_server, program, tlslite_behaviour
from conftest import CAPTURES, ROOT, require_program
from test_cli import _run
from test_scan import _one

CAPTURE = CAPTURES / "compressed-certificate.pcapng"
KEYLOG = CAPTURES / "compressed-certificate.keys"
PKI = ROOT / "tests" / "vectors" / "pki"
SUBJECTS = ["CN=tlslens.test,O=tlslens lab", "CN=tlslens lab intermediate CA,O=tlslens lab"]
# connection -> (algorithm of the server's Certificate, of the client's), as recorded
ALGORITHMS = {
    1: (None, None),  # Chromium, the server compressing nothing
    2: (None, None),
    3: ("brotli", None),  # Chromium
    4: ("brotli", None),
    5: ("zlib", None),  # tlslite-ng client
    6: ("zstd", None),
    7: ("zlib", "zlib"),  # and a client certificate, compressed too
}


def _rows() -> list[dict[str, object]]:
    code, out, err = _run(
        "show", "--json", "--keylog", str(KEYLOG), "--ca", str(PKI / "root.pem"), str(CAPTURE)
    )
    assert code == 0, err
    return [json.loads(line) for line in out.splitlines()]


def test_compressed_chain_checks_as_the_uncompressed_one() -> None:
    rows = _rows()
    assert [r["id"] for r in rows] == list(ALGORITHMS)
    baseline = rows[0]
    for row in rows:
        where = f"connection {row['id']}"
        server, client = ALGORITHMS[row["id"]]  # type: ignore[index]
        packed = row["compressed_certificates"]
        assert [(p["direction"], p["algorithm"]) for p in packed] == [  # type: ignore[union-attr]
            (d, a) for d, a in (("s2c", server), ("c2s", client)) if a is not None
        ], where
        for entry in packed:  # type: ignore[union-attr]
            assert entry["decompressed"] is True, where
            assert 0 < entry["compressed_length"] < entry["uncompressed_length"], where
        # The same chain, the same verdict and the same signature check as uncompressed.
        assert row["certificates"] == baseline["certificates"], where
        assert row["validation"]["trusted"] is True, where  # type: ignore[index]
        checks = {(s["direction"], s["verified"]) for s in row["handshake_signatures"]}  # type: ignore[union-attr]
        assert ("s2c", True) in checks, where
        # The transcript hashes the CompressedCertificate as sent (RFC 8879 §4).
        assert row["decryption"]["finished_verified"] == {"c2s": True, "s2c": True}, where  # type: ignore[index]
        assert not row["problems"], where
    last = rows[-1]
    assert last["client_auth"]["sent"] is True  # type: ignore[index]
    assert last["client_auth"]["validation"]["trusted"] is True  # type: ignore[index]
    assert ("c2s", True) in {(s["direction"], s["verified"]) for s in last["handshake_signatures"]}  # type: ignore[union-attr]
    assert {p["uncompressed_length"] for p in rows[2]["compressed_certificates"]} == {1212}  # type: ignore[union-attr]


def test_chain_from_the_api_and_the_narration() -> None:
    store = KeyStore()
    add_keylog_file(store, KEYLOG)
    conns = list(tlslens.read_capture(CAPTURE, keys=store))
    brotli_conn = conns[2]
    assert [c.subject for c in brotli_conn.certificates] == SUBJECTS
    der = x509.load_pem_x509_certificate((PKI / "server.pem").read_bytes())
    assert brotli_conn.certificates[0].der == der.public_bytes(Encoding.DER)
    steps = explain(brotli_conn)
    hello = next(s for s in steps if s.title == "ClientHello")
    assert (
        "The client can read a certificate compressed with brotli (compress_certificate, RFC 8879)."
        in hello.lines
    )
    step = next(s for s in steps if s.title.startswith("CompressedCertificate"))
    assert step.lines[0] == (
        "The server's Certificate comes compressed with brotli (RFC 8879): 1023 bytes on the "
        "wire for 1212 declared uncompressed."
    )
    assert step.lines[1].startswith(
        "The server sends its certificate chain, 2 certificates, leaf first:"
    )
    request = next(s for s in explain(conns[6]) if s.title.startswith("CertificateRequest"))
    assert any("compressed with zlib, brotli, zstd" in line for line in request.lines)


def test_certs_and_the_report_fields() -> None:
    code, out, err = _run("certs", "--keylog", str(KEYLOG), "--connection", "6", str(CAPTURE))
    assert code == 0, err
    assert "[0] CN=tlslens.test,O=tlslens lab" in out
    store = KeyStore()
    add_keylog_file(store, KEYLOG)
    conn = list(tlslens.read_capture(CAPTURE, keys=store, records=True))[5]
    raw = next(
        e.raw for e in conn.timeline if isinstance(e, HandshakeEvent) and e.message.msg_type == 25
    )
    assert raw is not None
    fields = {f.name: f.value for f in message_fields(raw, tls13=True)}
    assert fields["algorithm"] == "zstd"
    assert fields["uncompressed_length"] == "1212"
    assert fields["compressed_certificate_message"] == "935 bytes"


def test_tshark_sees_the_same_algorithms_and_lengths(tshark: str) -> None:
    out = subprocess.run(
        [
            tshark,
            "-n",
            "-r",
            str(CAPTURE),
            "-o",
            f"tls.keylog_file:{KEYLOG}",
            "-Y",
            "tls.handshake.type == 25",
            "-T",
            "fields",
            "-E",
            "occurrence=l",  # a CertificateRequest's offer comes first in its frame
            "-e",
            "frame.number",
            "-e",
            "tls.compress_certificate.algorithm",
            "-e",
            "tls.compress_certificate.uncompressed_length",
            "-e",
            "tls.compress_certificate.compressed_certificate_message.length",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    theirs = {tuple(int(v) for v in line.split("\t")) for line in out.splitlines()}
    ours = {
        (p["frame"], p["algorithm_id"], p["uncompressed_length"], p["compressed_length"])
        for row in _rows()
        for p in row["compressed_certificates"]  # type: ignore[attr-defined]
    }
    assert ours == theirs and len(ours) == 6


# -- forged ------------------------------------------------------------------------


def _certificate_body() -> bytes:
    """A TLS 1.3 Certificate body with the lab chain: context, then DER + no extensions."""
    entries = b""
    for name in ("server.pem", "intermediate.pem"):
        der = x509.load_pem_x509_certificate((PKI / name).read_bytes()).public_bytes(Encoding.DER)
        entries += len(der).to_bytes(3, "big") + der + b"\x00\x00"
    return b"\x00" + len(entries).to_bytes(3, "big") + entries


def _compressed(algorithm: int, declared: int, data: bytes) -> bytes:
    body = algorithm.to_bytes(2, "big") + declared.to_bytes(3, "big")
    return compose.push_handshake(25, body + len(data).to_bytes(3, "big") + data)


BODY = _certificate_body()
FORGED = {
    # name: (message, limit, what the finding says)
    "honest zlib": (_compressed(ZLIB, len(BODY), zlib.compress(BODY)), None, None),
    "honest zstd": (
        _compressed(ZSTD, len(BODY), zstandard.ZstdCompressor().compress(BODY)),
        None,
        None,
    ),
    "declares less": (
        _compressed(BROTLI, len(BODY) - 100, brotli.compress(BODY)),
        None,
        f"the brotli stream expands past {len(BODY) - 100} bytes",
    ),
    "declares more": (
        _compressed(ZLIB, len(BODY) + 100, zlib.compress(BODY)),
        None,
        f"the zlib stream gives {len(BODY)} bytes, not the {len(BODY) + 100} it declares",
    ),
    "bomb declared small": (
        _compressed(ZLIB, 4096, zlib.compress(bytes(50_000_000), 9)),
        None,
        "the zlib stream expands past 4096 bytes (decompression stopped there)",
    ),
    "past --max-message": (
        _compressed(BROTLI, 3_000_000, brotli.compress(bytes(3_000_000))),
        1 << 21,
        f"past the limit of {1 << 21} bytes per message (--max-message)",
    ),
    "real chain past a small --max-message": (
        _compressed(ZLIB, len(BODY), zlib.compress(BODY)),
        1024,
        "past the limit of 1024 bytes per message (--max-message): not decompressed",
    ),
    "unknown algorithm": (
        _compressed(0x4242, len(BODY), zlib.compress(BODY)),
        None,
        "unknown compression algorithm unknown (0x4242)",
    ),
    "corrupt": (
        _compressed(ZSTD, len(BODY), b"\x28\xb5\x2f\xfd" + bytes(40)),
        None,
        "zstd",
    ),
    "not a certificate inside": (
        _compressed(ZLIB, 5, zlib.compress(b"\x00\x00\x00\x09\x00")),
        None,
        "message type 11",
    ),
}


@pytest.mark.parametrize("name", sorted(FORGED))
def test_forged_compressed_certificate_is_a_finding(tmp_path: Path, name: str) -> None:
    message, limit, problem = FORGED[name]
    honest = FORGED["honest zlib"][0]
    path = tmp_path / "forged.pcapng"
    # Each in its own connection, so that what follows a bad one is read too.
    server_flights_capture(
        path, [(message, NAME), (honest, NAME)], datetime(2026, 6, 1, tzinfo=UTC)
    )
    limits = Limits(max_message=limit or (1 << 21))
    conns = list(tlslens.read_capture(path, limits=limits))
    assert len(conns) == 2
    forged, after = (connection_to_json(c) for c in conns)
    types = [h["type"] for h in forged["handshake"]]
    assert types == [
        "client_hello",
        "server_hello",
        "compressed_certificate",
        "server_hello_done",
    ]
    findings = [p for p in forged["problems"] if p["layer"] == "handshake"]
    if problem is None:
        assert not findings
        assert [c["subject"] for c in forged["certificates"]] == SUBJECTS
        assert forged["compressed_certificates"][0]["decompressed"] is True
    else:
        assert len(findings) == 1, findings
        assert problem in findings[0]["message"], findings[0]
        assert findings[0]["message"].startswith("CompressedCertificate (")
        assert findings[0]["direction"] == "s2c"
        assert findings[0]["frame"] == forged["handshake"][2]["frame"]
        assert findings[0]["offset"] is not None
        assert forged["certificates"] == []
        assert forged["compressed_certificates"][0]["decompressed"] is False
    # The capture goes on: the next connection's chain is read (past the small limit too).
    if limit != 1024:
        assert [c["subject"] for c in after["certificates"]] == SUBJECTS


@pytest.mark.parametrize(
    ("algorithm", "pack"),
    [
        (ZLIB, zlib.compress),
        (BROTLI, brotli.compress),
        (ZSTD, zstandard.ZstdCompressor().compress),
    ],
)
def test_decompress_stops_one_byte_past_the_cap(algorithm: int, pack: object) -> None:
    bomb = pack(bytes(20_000_000))  # type: ignore[operator]
    with pytest.raises(DecodeError, match="past 1000"):
        decompress(algorithm, bomb, 1000)
    assert decompress(algorithm, pack(BODY), len(BODY)) == BODY  # type: ignore[operator]
    with pytest.raises(DecodeError, match=r"cut short|corrupt|unreadable"):
        decompress(algorithm, pack(BODY)[:-8], len(BODY))  # type: ignore[operator]


# -- scan --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("compress", "expected"),
    [
        (["zlib", "zstd"], {"zlib": True, "brotli": False, "zstd": True}),
        ([], {"zlib": False, "brotli": False, "zstd": False}),
    ],
)
def test_scan_asks_each_algorithm(compress: list[str], expected: dict[str, bool]) -> None:
    behaviour = tlslite_behaviour(["aes128gcm"], ["ecdhe_rsa"], ((3, 3), (3, 4)), compress)
    with ScriptedServer(behaviour) as server:
        row = _one(f"127.0.0.1:{server.port}", "--no-resumption")
    assert not server.errors
    assert row["schema_version"] == 3
    assert row["certificate_compression"] == expected


def test_scan_without_tls13_is_not_applicable() -> None:
    require_program("openssl", "openssl")
    port = free_port()
    with program(openssl_server(port, "-tls1_2", "-naccept", "500"), port):
        row = _one(f"127.0.0.1:{port}", "--no-resumption")
    # RFC 8879 compresses TLS 1.3 certificates only: no question to ask without TLS 1.3.
    assert row["certificate_compression"] == dict.fromkeys(
        ("zlib", "brotli", "zstd"), "not applicable"
    )


def test_a_chain_sent_again_is_opened_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A server sends its compressed chain to every connection: it is decompressed once,
    each connection still gets its chain, and a forged one its finding each time; one that
    declares more than a certificate cache keeps is opened each time it comes."""
    from tlslens.handshake import compression

    opened: list[int] = []
    real = compression.decompress

    def counted(algorithm: int, data: bytes, limit: int) -> bytes:
        opened.append(limit)
        return real(algorithm, data, limit)

    monkeypatch.setattr(compression, "decompress", counted)
    monkeypatch.setattr(compression._opened, "entries", {})
    honest = _compressed(ZSTD, len(BODY), zstandard.ZstdCompressor().compress(BODY))
    forged = FORGED["declares more"][0]
    big = bytes(70_000)
    large = _compressed(ZLIB, len(big), zlib.compress(big))
    path = tmp_path / "again.pcapng"
    flights = [(honest, NAME), (forged, NAME), (large, NAME)] * 3
    server_flights_capture(path, flights, datetime(2026, 6, 1, tzinfo=UTC))
    rows = [connection_to_json(c) for c in tlslens.read_capture(path)]
    assert len(rows) == 9
    for i, row in enumerate(rows):
        decompressed = row["compressed_certificates"][0]["decompressed"]  # type: ignore[index]
        assert decompressed is (i % 3 == 0), (i, row["problems"])
        if i % 3 == 0:
            assert [c["subject"] for c in row["certificates"]] == SUBJECTS  # type: ignore[attr-defined]
        if i % 3 == 1:
            assert any("not the" in p["message"] for p in row["problems"])  # type: ignore[attr-defined]
    assert opened == [len(BODY), len(BODY) + 100, len(big), len(big), len(big)]
