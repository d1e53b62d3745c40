"""`tlslens scan`'s answers against the tools engineers check them with: session resumption
as `openssl s_client -reconnect` sees it on the same server, signature algorithms per
version as `sslscan --show-sigs` lists them, "not applicable" where a question has no
object, and a plain-HTTP port told as `connect` tells it. Every server runs on loopback,
started and stopped by the test."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from record_lab import free_port

from tlslens.cli import main

from _servers import NAME, PKI, nginx_command, openssl_server, program
from conftest import require_program
from test_scan import _one

RSA_KEX_ONLY = ("-cipher", "AES128-GCM-SHA256", "-no_tls1_3")
SSLSCAN_SIGS_ONLY = (
    "--no-colour",
    "--show-sigs",
    "--no-ciphersuites",
    "--no-groups",
    "--no-heartbleed",
    "--no-renegotiation",
    "--no-compression",
    "--no-fallback",
    "--no-check-certificate",
)


def _reconnect(port: int, *args: str) -> list[str]:
    """`openssl s_client -reconnect`: "New" then, per reconnection, "Reused" or "New"."""
    done = subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-reconnect", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return re.findall(r"^(New|Reused), ", done.stdout, re.MULTILINE)


def _sslscan_sigs(sslscan: str, port: int) -> dict[str, list[str]]:
    """sslscan 2's "Server Signature Algorithm(s)" block: one "TLSv1.x  scheme" a line."""
    done = subprocess.run(
        [sslscan, *SSLSCAN_SIGS_ONLY, f"127.0.0.1:{port}"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    block = done.stdout.split("Server Signature Algorithm(s):", 1)[1]
    found: dict[str, list[str]] = {"TLS 1.2": [], "TLS 1.3": []}
    for version, scheme in re.findall(r"^TLSv(1\.[23])\s+(\S+)$", block, re.MULTILINE):
        found[f"TLS {version}"].append(scheme)
    return found


@pytest.fixture(scope="module")
def openssl() -> str:
    return require_program("openssl", "openssl")


@pytest.mark.parametrize(
    ("directives", "by_id"),
    [
        # nginx's defaults (tickets on) with a session cache: OpenSSL answers a hello that
        # offers a ticket with an empty session ID, and resumes by ID one that offers none.
        ("ssl_session_cache shared:SSL:1m;", True),
        # nginx's own default cache ("none") names a session it never keeps.
        ("", False),
    ],
)
def test_session_id_resumption_on_nginx_with_tickets_on(
    openssl: str, tmp_path: Path, directives: str, by_id: bool
) -> None:
    nginx = require_program("nginx", "nginx")
    port = free_port()
    with program(nginx_command(nginx, tmp_path, port, directives), port):
        row = _one(f"127.0.0.1:{port}")
        oracle = _reconnect(port, "-tls1_2", "-no_ticket")
    assert oracle[0] == "New" and len(oracle) == 6
    assert ("Reused" in oracle) is by_id  # what s_client saw is the truth
    assert row["resumption"]["session_id"] is by_id
    assert row["resumption"]["ticket"] is True


def test_rsa_key_exchange_only_server(openssl: str) -> None:
    """No suite Python's ssl offers by default: resumption is asked with the server's own
    suite; the questions of TLS 1.3, of a fallback and of CBC have no object here."""
    port = free_port()
    with program(openssl_server(port, *RSA_KEX_ONLY, "-naccept", "500"), port):
        row = _one(f"127.0.0.1:{port}")
        oracle = _reconnect(port, "-cipher", "AES128-GCM-SHA256")
    assert oracle.count("Reused") == 5
    assert row["versions"]["TLS 1.2"]["cipher_suites"] == ["TLS_RSA_WITH_AES_128_GCM_SHA256"]
    assert row["resumption"]["ticket"] is True
    assert row["resumption"] == {"session_id": True, "ticket": True, "tls13_psk": "not applicable"}
    assert row["tls13_tickets_issued"] == "not applicable"
    assert row["hello_retry_request"] == "not applicable"
    assert row["fallback_scsv"] == "not applicable"  # one version: nothing to fall back to
    assert row["encrypt_then_mac"] == "not applicable"  # an AEAD suite alone
    assert row["secure_renegotiation"] is True
    assert row["signature_algorithms"]["TLS 1.3"] == "not applicable"


@pytest.mark.parametrize("args", [RSA_KEX_ONLY, ()], ids=["rsa-kex-tls12", "default"])
def test_signature_algorithms_per_version_as_sslscan_lists_them(
    openssl: str, args: tuple[str, ...]
) -> None:
    sslscan = require_program("sslscan", "sslscan")
    port = free_port()
    with program(openssl_server(port, *args, "-naccept", "500"), port):
        row = _one(f"127.0.0.1:{port}", "--no-resumption")
        oracle = _sslscan_sigs(sslscan, port)
    ours = row["signature_algorithms"]
    # An RSA certificate: PKCS#1 v1.5 and PSS with the rsaEncryption key in TLS 1.2, PSS
    # alone in TLS 1.3. sslscan also tries the RFC 5246 pairs that have no SignatureScheme
    # name (rsa_pkcs1_sha224 is 0x0301): the comparison is over the named schemes.
    assert sorted(ours["TLS 1.2"]) == sorted(
        s for s in oracle["TLS 1.2"] if s != "rsa_pkcs1_sha224"
    )
    assert set(ours["TLS 1.2"]) == {
        f"rsa_{kind}_sha{bits}" for kind in ("pkcs1", "pss_rsae") for bits in (256, 384, 512)
    }
    if args:
        assert ours["TLS 1.3"] == "not applicable" and oracle["TLS 1.3"] == []
    else:
        assert sorted(ours["TLS 1.3"]) == sorted(oracle["TLS 1.3"])
        assert set(ours["TLS 1.3"]) == {f"rsa_pss_rsae_sha{bits}" for bits in (256, 384, 512)}


def _text(*args: str) -> str:
    result = CliRunner().invoke(main, ["scan", *args], catch_exceptions=False)
    return result.stdout


def test_the_text_says_each_answer_once_per_version(openssl: str) -> None:
    port = free_port()
    with program(openssl_server(port, *RSA_KEX_ONLY, "-naccept", "500"), port):
        text = _text(f"127.0.0.1:{port}", "--sni", NAME, "--ca", str(PKI / "root.pem"))
    lines = [line.strip() for line in text.splitlines()]
    rows: dict[str, Any] = {}
    for line in lines:
        label, _, value = line.partition("  ")
        rows.setdefault(label, []).append(value.strip())
    assert all(len(values) == 1 for label, values in rows.items() if label), rows
    sigs12 = rows["Signatures TLS 1.2"][0]
    assert "rsa_pkcs1_sha256" in sigs12 and "rsa_pss_rsae_sha256" in sigs12
    assert rows["Signatures TLS 1.3"] == ["not applicable"]
    assert rows["Resumption"] == ["session id yes, ticket yes, tls13 psk not applicable"]
    assert rows["Fallback SCSV"] == ["not applicable"]


def test_a_plain_http_port_is_told_as_connect_tells_it(tmp_path: Path) -> None:
    nginx = require_program("nginx", "nginx")
    port = free_port()
    with program(nginx_command(nginx, tmp_path, port, "", tls=False), port):
        text = _text(f"127.0.0.1:{port}", "--timeout", "2")
        connect = CliRunner().invoke(main, ["connect", f"127.0.0.1:{port}", "--timeout", "2"])
    said = (
        "The server answered in plaintext HTTP ('HTTP/1.1 400 Bad Request'): this port "
        "speaks HTTP, not TLS"
    )
    assert said in connect.stdout
    errors = [line for line in text.splitlines() if "plaintext HTTP" in line]
    assert errors == [f"  error: SSL 3.0, TLS 1.0, TLS 1.1, TLS 1.2, TLS 1.3 probes: {said}"]
    assert "not scanned" in text
