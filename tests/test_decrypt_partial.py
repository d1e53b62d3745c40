"""Partial key material used as far as it goes (issue 22, item 2).

`aborted.pcapng` (tools/record_captures.py, scenario `aborted`) holds TLS 1.3 handshakes
that OpenSSL, GnuTLS and Python clients abort; `aborted.keys` is what each logged: GnuTLS
both handshake secrets, OpenSSL and Python only the server's, none the application ones.
tshark, given the same key log, is the oracle for the server certificate of each stream.
Other cases cut a complete capture's key log down to some of its labels and compare what
opens with what the whole key log opens.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections import defaultdict
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

import tlslens
from tlslens.cli import main
from tlslens.keys.files import add_keylog_file
from tlslens.keys.store import KeyStore
from tlslens.serialize import connection_to_json

from conftest import CAPTURES, CORPUS, ROOT

ABORTED = CAPTURES / "aborted.pcapng"
ABORTED_KEYS = CAPTURES / "aborted.keys"
SCHEMA = json.loads((ROOT / "src/tlslens/schema/connection.schema.json").read_text())
APPLICATION = ["CLIENT_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0"]


def _store(keylog: Path) -> KeyStore:
    store = KeyStore()
    add_keylog_file(store, keylog)
    return store


def _labels(keylog: Path) -> dict[str, set[str]]:
    """Client random (hex) -> the labels the key log holds for it."""
    found: dict[str, set[str]] = defaultdict(set)
    for line in keylog.read_text().splitlines():
        parts = line.split()
        if len(parts) == 3 and not line.startswith("#"):
            found[parts[1]].add(parts[0])
    return found


def _cut(keylog: Path, keep: set[str], out: Path) -> Path:
    """A copy of ``keylog`` with only the lines of the labels in ``keep``."""
    lines = [
        line for line in keylog.read_text().splitlines() if line.split()[:1] in [[k] for k in keep]
    ]
    out.write_text("\n".join(lines) + "\n")
    return out


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), env={"SSLKEYLOGFILE": None})
    return result.exit_code, result.stdout, result.stderr


def _tshark_leaves(tshark: str) -> dict[int, str]:
    """Client port -> SHA-256 of the server's leaf certificate, as tshark decrypts it."""
    out = subprocess.run(
        [
            tshark, "-n", "-r", str(ABORTED), "-o", f"tls.keylog_file:{ABORTED_KEYS}",
            "-Y", "tls.handshake.type == 11", "-T", "fields", "-E", "occurrence=f",
            "-e", "tcp.dstport", "-e", "tls.handshake.certificate",
        ],
        capture_output=True, text=True, timeout=300, check=True,
    ).stdout  # fmt: skip
    leaves = {}
    for line in out.splitlines():
        port, cert = line.split("\t")
        if cert:
            leaves[int(port)] = hashlib.sha256(bytes.fromhex(cert.replace(":", ""))).hexdigest()
    return leaves


def test_aborted_tls13_server_certificate_from_handshake_secrets(tshark: str) -> None:
    """Every TLS 1.3 connection whose client logged the server's handshake secret shows the
    server's Certificate (tshark's leaf, per stream), its CertificateVerify verifies, the
    server's Finished verifies, and the decryption names the missing application secrets."""
    leaves = _tshark_leaves(tshark)
    logged = _labels(ABORTED_KEYS)
    checked = aborted = 0
    for conn in tlslens.read_capture(ABORTED, keys=_store(ABORTED_KEYS)):
        assert conn.client_hello is not None
        labels = logged.get(conn.client_hello.random.hex(), set())
        if not conn.tls13 or "SERVER_HANDSHAKE_TRAFFIC_SECRET" not in labels:
            continue
        port = conn.client.port
        if port not in leaves:  # the server refused before its certificate
            continue
        checked += 1
        assert conn.certificates, f"connection {conn.id}: no certificate"
        assert conn.certificates[0].sha256 == leaves[port], f"connection {conn.id}"
        signatures = [s for s in conn.handshake_signatures if s.direction == "s2c"]
        assert [s.verified for s in signatures] == [True], f"connection {conn.id}"
        data = connection_to_json(conn)
        jsonschema.validate(data, SCHEMA)
        decryption = data["decryption"]
        assert decryption["status"] == "decrypted"
        assert decryption["finished_verified"]["s2c"] is True
        assert decryption["records_failed_integrity"] == {"c2s": 0, "s2c": 0}
        assert decryption["opened"]["handshake"]["s2c"] is True
        if not labels & set(APPLICATION):  # the client aborted before deriving them
            assert decryption["opened"]["application_data"] == {"c2s": False, "s2c": False}
            # Never derived, so never missing: the handshake failed before them.
            assert data["outcome"]["status"] == "failed"
            assert not set(APPLICATION) & set(decryption["missing_secrets"])
            assert "TRAFFIC_SECRET_0" not in (decryption["reason"] or "")
            aborted += 1
        client_secret = "CLIENT_HANDSHAKE_TRAFFIC_SECRET" in labels
        # GnuTLS logs its own and encrypts its alert with it; OpenSSL and Python do not.
        assert decryption["opened"]["handshake"]["c2s"] is client_secret
        assert ("CLIENT_HANDSHAKE_TRAFFIC_SECRET" in decryption["missing_secrets"]) is (
            not client_secret
        )
    # 4 cases where the server sends its chain (expired leaf, missing intermediate, unknown
    # CA, wrong name) x 3 clients, and the server that asks for a client certificate.
    assert checked >= 12
    assert aborted >= 12


def test_brief_line_says_what_was_decrypted() -> None:
    code, out, _ = _run("show", "--brief", str(ABORTED), "--keylog", str(ABORTED_KEYS))
    assert code == 0
    lines = out.splitlines()
    # The application secrets of a handshake that failed are not asked for: no side derived
    # them (they were, wrongly, before).
    assert lines[0].endswith(
        "; decrypted: the server's handshake only (no CLIENT_HANDSHAKE_TRAFFIC_SECRET)"
    )
    assert lines[1].endswith("; decrypted: handshake only")
    assert lines[3].endswith("; not decrypted: no secret (no CLIENT_RANDOM)")  # TLS 1.2
    # Without secrets the line is as it was.
    code, out, _ = _run("show", "--brief", str(ABORTED))
    assert "decrypted" not in out


def test_narration_names_the_missing_secrets() -> None:
    code, out, _ = _run("show", str(ABORTED), "--keylog", str(ABORTED_KEYS), "--connection", "1")
    assert code == 0
    line = next(line for line in out.splitlines() if line.startswith("Decryption"))
    assert "decrypted: the server's handshake only" in line
    assert line.endswith("the key log has no CLIENT_HANDSHAKE_TRAFFIC_SECRET for this session")
    assert "Certificate (decrypted)" in out
    assert "CertificateVerify (decrypted)" in out


@pytest.mark.parametrize(
    "command", [["show", "--json"], ["show", "--brief"], ["show"], ["certs"], ["decrypt"]]
)
def test_key_log_for_other_connections_said_once(command: list[str]) -> None:
    other = CAPTURES / "gnutls.keys"
    code, _, err = _run(*command, str(ABORTED), "--keylog", str(other))
    assert code == 0
    assert err.count("the key log matched 0 of 38 client randoms") == 1, err
    assert "client random" not in err.replace("the key log matched 0 of 38 client randoms", "")
    # A key log that matches some connections says nothing of the kind.
    code, _, err = _run(*command, str(ABORTED), "--keylog", str(ABORTED_KEYS))
    assert "matched 0" not in err


def test_certs_shows_the_chain_opened_from_handshake_secrets() -> None:
    code, out, _ = _run("certs", str(ABORTED), "--keylog", str(ABORTED_KEYS), "--connection", "1")
    assert code == 0
    assert "give --keylog" not in out
    assert "As sent, leaf first:" in out and "CN=tlslens.test" in out
    code, out, _ = _run(
        "certs", str(ABORTED), "--keylog", str(CAPTURES / "gnutls.keys"), "--connection", "1"
    )
    assert "give --keylog" not in out
    assert "the key log given holds nothing for this connection" in out
    code, out, _ = _run("certs", str(ABORTED), "--connection", "1")
    assert "give --keylog to see it" in out


def _by_stream(capture: Path, keylog: Path) -> dict[int, dict[str, object]]:
    return {
        conn.tcp_stream: connection_to_json(conn)
        for conn in tlslens.read_capture(capture, keys=_store(keylog))
        if conn.tls13
    }


@pytest.mark.parametrize(
    ("keep", "handshake", "application"),
    [
        # Application traffic secrets alone: the data, each way, tried record by record.
        (APPLICATION, {"c2s": False, "s2c": False}, {"c2s": True, "s2c": True}),
        # The server's handshake secret and the application ones: the client's Finished is
        # not readable, its data is.
        (
            ["SERVER_HANDSHAKE_TRAFFIC_SECRET", *APPLICATION],
            {"c2s": False, "s2c": True},
            {"c2s": True, "s2c": True},
        ),
        # The client's handshake secret without the server's: the server's flight stays
        # shut, so the client's Finished cannot be checked (and is not called wrong).
        (
            ["CLIENT_HANDSHAKE_TRAFFIC_SECRET", *APPLICATION],
            {"c2s": True, "s2c": False},
            {"c2s": True, "s2c": True},
        ),
    ],
)
def test_some_secrets_open_what_they_reach(
    keep: list[str],
    handshake: dict[str, bool],
    application: dict[str, bool],
    tmp_path: Path,
) -> None:
    capture = CAPTURES / "demo-tls12-tls13.pcapng"
    whole = _by_stream(capture, CAPTURES / "demo-tls12-tls13.keys")
    part = _by_stream(capture, _cut(CAPTURES / "demo-tls12-tls13.keys", set(keep), tmp_path / "k"))
    assert whole and whole.keys() == part.keys()
    for stream, full in whole.items():
        got: dict[str, object] = part[stream]["decryption"]  # type: ignore[assignment]
        want: dict[str, object] = full["decryption"]  # type: ignore[assignment]
        jsonschema.validate(part[stream], SCHEMA)
        assert got["status"] == "decrypted", got
        assert got["records_failed_integrity"] == {"c2s": 0, "s2c": 0}
        assert got["plaintext_sha256"] == want["plaintext_sha256"]
        assert got["opened"]["handshake"] == handshake  # type: ignore[index]
        assert got["opened"]["application_data"] == application  # type: ignore[index]
        missing = [
            label
            for label in ("CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET")
            if label not in keep
        ]
        assert got["missing_secrets"] == missing
        signatures = [s for s in part[stream]["handshake_signatures"] if s["direction"] == "s2c"]  # type: ignore[attr-defined]
        if handshake["s2c"]:
            assert [s["verified"] for s in signatures] == [True]
        else:  # listed, unchecked, saying which secret would open it
            assert [s["verified"] for s in signatures] == [None]
            assert "no SERVER_HANDSHAKE_TRAFFIC_SECRET" in signatures[0]["reason"]
        finished = got["finished_verified"]
        assert finished == {  # type: ignore[comparison-overlap]
            "c2s": True if handshake["c2s"] and handshake["s2c"] else None,
            "s2c": True if handshake["s2c"] else None,
        }


def test_early_secret_alone_opens_0rtt(tmp_path: Path) -> None:
    """The RFC 8446-style Wireshark capture: a resumption with 0-RTT (GET /early)."""
    folder = CORPUS / "wireshark"
    keys = folder / "keys" / "tls13-rfc8446.keys"
    if not keys.exists():
        pytest.skip("the shared corpus is not here")
    cut = _cut(keys, {"CLIENT_EARLY_TRAFFIC_SECRET"}, tmp_path / "early.keys")
    plain: dict[tuple[int, str], bytes] = defaultdict(bytes)

    def sink(stream: int, direction: str, data: bytes) -> None:
        plain[(stream, direction)] += data

    conns = list(
        tlslens.read_capture(folder / "tls13-rfc8446.pcap", keys=_store(cut), plaintext_sink=sink)
    )
    second = connection_to_json(conns[1])["decryption"]
    assert second["status"] == "decrypted"
    assert second["opened"] == {
        "handshake": {"c2s": False, "s2c": False},
        "application_data": {"c2s": False, "s2c": False},
        "early_data": True,
    }
    assert second["missing_secrets"] == [
        "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
        "SERVER_HANDSHAKE_TRAFFIC_SECRET",
        *APPLICATION,
    ]
    assert b"GET /early" in plain[(conns[1].tcp_stream, "c2s")]
    assert connection_to_json(conns[0])["decryption"]["status"] == "no_secret"


def test_wrong_application_secrets_are_no_integrity_failures(tmp_path: Path) -> None:
    """Application secrets that are not this session's are tried and open nothing: the
    records are not counted as failing (they may be the handshake), and the reason says
    the key log's secrets for this client random open no record."""
    keys = CAPTURES / "demo-tls12-tls13.keys"
    lines = []
    for line in keys.read_text().splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] in APPLICATION:
            lines.append(f"{parts[0]} {parts[1]} {'00' * (len(parts[2]) // 2)}")
    cut = tmp_path / "wrong.keys"
    cut.write_text("\n".join(lines) + "\n")
    for data in _by_stream(CAPTURES / "demo-tls12-tls13.pcapng", cut).values():
        decryption: dict[str, object] = data["decryption"]  # type: ignore[assignment]
        assert decryption["status"] == "no_secret"
        assert decryption["records_failed_integrity"] == {"c2s": 0, "s2c": 0}
        assert "open no record of this connection" in str(decryption["reason"])


def test_tls13_secret_shorter_than_the_hash_is_left_out(tmp_path: Path) -> None:
    """A TLS 1.3 key-log secret shorter than the suite's hash cannot be a PRK of HKDF-Expand
    (RFC 5869 §2.3): it is told as such, not derived from, and the TLS 1.2 connection
    beside it still decrypts."""
    demo = CAPTURES / "demo-tls12-tls13.keys"
    lines = []
    for line in demo.read_text().splitlines():
        label, random, secret = line.split()
        if label != "CLIENT_RANDOM":
            secret = secret[:32]  # 16 bytes, fewer than SHA-384's 48
        lines.append(f"{label} {random} {secret}")
    short = tmp_path / "short.keys"
    short.write_text("\n".join(lines) + "\n")
    by_version = {
        data["version"]: data["decryption"]
        for data in (
            connection_to_json(conn)
            for conn in tlslens.read_capture(
                CAPTURES / "demo-tls12-tls13.pcapng", keys=_store(short)
            )
        )
    }
    tls13 = by_version["TLS 1.3"]
    assert tls13["status"] == "no_secret"
    assert tls13["records_failed_integrity"] == {"c2s": 0, "s2c": 0}
    assert "has 16 bytes, fewer than SHA384 makes" in tls13["reason"]
    assert by_version["TLS 1.2"]["status"] == "decrypted"
