"""`tlslens connect` against real servers on loopback: what it reports against how the
server was configured, the pcapng it writes, STARTTLS, and every way a server can fail."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner
from record_lab import free_port

from tlslens.cli import main

from _servers import (
    BODY,
    NAME,
    PKI,
    ScriptedServer,
    expired_leaf,
    gnutls_command,
    http_answer,
    lab_staple,
    nginx_command,
    openssl_server,
    program,
    read_line,
    server_context,
    starttls_server,
    tls_then,
)
from conftest import IN_CI, ROOT, require_program

SCHEMA = json.loads((ROOT / "src/tlslens/schema/connection.schema.json").read_text())
ROOT_CA = str(PKI / "root.pem")
GET = r"GET / HTTP/1.0\r\n\r\n"


def _connect(*args: str) -> tuple[int, dict[str, Any], str]:
    result = CliRunner().invoke(main, ["connect", "--json", *args], catch_exceptions=False)
    assert result.stdout.count("\n") == 1, result.stdout + result.stderr
    return result.exit_code, json.loads(result.stdout), result.stderr


def _both_finished(row: dict[str, Any]) -> None:
    assert row["decryption"]["status"] == "decrypted", row["decryption"]
    assert row["decryption"]["finished_verified"] == {"c2s": True, "s2c": True}


def _connection_fields(row: dict[str, Any]) -> dict[str, Any]:
    """The connection object alone, as `show --json` reports it, for the schema."""
    return {k: v for k, v in row.items() if k not in ("target", "verdict", "notes")}


@pytest.fixture(scope="module")
def openssl() -> str:
    return require_program("openssl", "openssl")


# -- what the server was configured with ----------------------------------------------


def test_tls13_trusted_with_the_lab_root(openssl: str, tmp_path: Path) -> None:
    port = free_port()
    with program(
        openssl_server(port, "-tls1_3", "-ciphersuites", "TLS_CHACHA20_POLY1305_SHA256"), port
    ):
        code, row, _err = _connect(
            f"127.0.0.1:{port}", "--sni", NAME, "--ca", ROOT_CA, "--send", GET
        )
    assert code == 0, row["verdict"]
    assert row["verdict"]["status"] == "trusted"
    assert row["outcome"] == {
        "status": "completed",
        "by": None,
        "alert": None,
        "reason": "both sides sent their Finished message",
    }
    assert row["target"] == {"host": "127.0.0.1", "ip": "127.0.0.1", "port": port, "sni": NAME}
    assert row["version"] == "TLS 1.3"
    assert row["cipher_suite"] == "TLS_CHACHA20_POLY1305_SHA256"
    assert row["sni"] == NAME
    _both_finished(row)
    assert row["validation"]["trusted"] is True
    assert row["certificates"][0]["subject"].startswith("CN=tlslens.test")
    assert row["decryption"]["plaintext_bytes"]["s2c"] > 100  # s_server -www's status page
    jsonschema.validate(_connection_fields(row), SCHEMA)


@pytest.mark.parametrize(
    ("args", "suite", "key_exchange"),
    [
        (
            ("--tls1.2", "--cipher", "ECDHE-RSA-AES128-GCM-SHA256"),
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            "ECDHE",
        ),
        (("--tls1.2", "--cipher", "AES256-SHA256"), "TLS_RSA_WITH_AES_256_CBC_SHA256", "RSA"),
    ],
)
def test_tls12_key_exchanges_and_a_fixed_cipher(
    openssl: str, args: tuple[str, ...], suite: str, key_exchange: str
) -> None:
    port = free_port()
    with program(openssl_server(port, "-tls1_2", "-cipher", "ALL:@SECLEVEL=0"), port):
        code, row, _err = _connect(
            f"127.0.0.1:{port}", "--sni", NAME, "--ca", ROOT_CA, "--send", GET, *args
        )
    assert code == 0, row["verdict"]
    assert row["version"] == "TLS 1.2"
    assert row["cipher_suite"] == suite
    assert row["key_exchange"] == key_exchange
    assert row["forward_secrecy"] is (key_exchange == "ECDHE")
    _both_finished(row)


def test_client_certificate_required(openssl: str) -> None:
    port = free_port()
    with program(openssl_server(port, "-Verify", "1", "-CAfile", ROOT_CA, "-tls1_3"), port):
        code, row, _err = _connect(
            f"127.0.0.1:{port}",
            "--sni",
            NAME,
            "--ca",
            ROOT_CA,
            "--client-cert",
            str(PKI / "client-chain.pem"),
            "--client-key",
            str(PKI / "client.key"),
            "--send",
            GET,
        )
        assert code == 0, row["verdict"]
        assert row["client_auth"]["requested"] is True and row["client_auth"]["sent"] is True
        _both_finished(row)
        code, row, _err = _connect(f"127.0.0.1:{port}", "--sni", NAME, "--ca", ROOT_CA)
    assert code == 1
    assert row["client_auth"]["requested"] is True
    text = row["verdict"]["text"]
    assert "The server sent a fatal certificate_required alert" in text
    assert "--client-cert" in text
    _both_finished(row)


def test_no_sni_to_a_name_still_checks_that_name(openssl: str) -> None:
    """`--no-sni` sends no server_name, but a client that dialled a DNS name still checks
    the certificate against it (before, no name at all was checked: trusted by default)."""
    port = free_port()
    with program(openssl_server(port, "-tls1_3"), port):
        code, row, _err = _connect(f"localhost:{port}", "--no-sni", "--ca", ROOT_CA)
        assert row["sni"] is None
        assert row["validation"]["hostname"] == "localhost"
        assert code == 0, row["verdict"]  # the lab certificate names localhost
        code, row, _err = _connect(
            f"localhost:{port}", "--no-sni", "--host", "other.example", "--ca", ROOT_CA
        )
    assert row["validation"]["hostname"] == "other.example"
    assert "name_mismatch" in [p["code"] for p in row["validation"]["problems"]]
    assert code == 3


def test_an_ip_without_sni_suggests_sni(openssl: str) -> None:
    """Dialling an IP sends no SNI, and the usual result is the name mismatch of a default
    certificate: the notes say why and what to give; not when the name was given, nor when
    --no-sni asked for it."""
    port = free_port()
    with program(openssl_server(port, "-tls1_3"), port):
        code, row, _err = _connect(f"127.0.0.1:{port}", "--ca", ROOT_CA)
        assert code == 3 and "name_mismatch" in str(row["validation"]["problems"])
        assert any("give --sni NAME" in note for note in row["notes"]), row["notes"]
        text = CliRunner().invoke(main, ["connect", f"127.0.0.1:{port}", "--ca", ROOT_CA])
        assert "note: no SNI was sent (127.0.0.1 is an IP address)" in text.stdout
        _code, row, _err = _connect(f"127.0.0.1:{port}", "--no-sni", "--ca", ROOT_CA)
        assert not any("--sni" in note for note in row["notes"])
        _code, row, _err = _connect(f"127.0.0.1:{port}", "--sni", NAME, "--ca", ROOT_CA)
    assert row["notes"] == []


def test_expired_leaf_and_missing_intermediate(openssl: str, tmp_path: Path) -> None:
    cert, key = expired_leaf(tmp_path)
    port = free_port()
    cmd = [
        "openssl",
        "s_server",
        "-accept",
        str(port),
        "-naccept",
        "2",
        "-cert",
        str(cert),
        "-key",
        str(key),
        "-www",
    ]
    with program(cmd, port):
        code, row, _err = _connect(f"127.0.0.1:{port}", "--sni", NAME, "--ca", ROOT_CA, "--no-data")
    assert code == 3
    assert row["verdict"]["status"] == "untrusted"
    assert "expired" in row["verdict"]["text"]
    assert "expired" in {p["code"] for p in row["validation"]["problems"]}
    _both_finished(row)
    port = free_port()
    with program(openssl_server(port, chain=False), port):
        code, row, _err = _connect(f"127.0.0.1:{port}", "--sni", NAME, "--ca", ROOT_CA, "--no-data")
    assert code == 3
    assert len(row["certificates"]) == 1
    assert row["validation"]["trusted"] is False
    assert "intermediate" in row["verdict"]["text"] or "issuer" in row["verdict"]["text"]
    _both_finished(row)


def test_untrusted_by_the_default_store_still_completes(openssl: str) -> None:
    port = free_port()
    with program(openssl_server(port), port):
        code, row, _err = _connect(f"127.0.0.1:{port}", "--sni", NAME, "--no-data")
    assert code == 3
    assert "NOT trusted" in row["verdict"]["text"]
    _both_finished(row)


def test_python_ssl_server_http_and_the_pcapng(tmp_path: Path) -> None:
    """The HEAD request, the pcapng that tshark opens decrypted with no key option, and
    `show` of that pcapng reporting the same connection."""
    tshark = require_program("tshark", "tshark")
    out = tmp_path / "live.pcapng"
    keys = tmp_path / "live.keys"
    with ScriptedServer(tls_then(server_context(), http_answer)) as server:
        code, row, _err = _connect(
            f"127.0.0.1:{server.port}",
            "--sni",
            NAME,
            "--ca",
            ROOT_CA,
            "--http",
            "--pcapng",
            str(out),
            "--keylog-out",
            str(keys),
        )
    assert code == 0, row["verdict"]
    _both_finished(row)
    assert keys.read_text().count("TRAFFIC_SECRET_0") == 2
    fields = subprocess.run(
        [
            tshark,
            "-r",
            str(out),
            "-Y",
            "http",
            "-T",
            "fields",
            "-e",
            "http.request.method",
            "-e",
            "http.response.code",
            "-e",
            "http.host",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.split("\n")
    assert f"HEAD\t\ttlslens.test:{server.port}" in fields and "\t200\t" in fields, fields
    # No TCP problems in the synthetic framing: tshark's analysis flags none.
    flags = subprocess.run(
        [
            tshark,
            "-r",
            str(out),
            "-Y",
            "tcp.analysis.flags || tcp.checksum.status == 0 || ip.checksum.status == 0",
            "-o",
            "tcp.check_checksum:TRUE",
            "-o",
            "ip.check_checksum:TRUE",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert flags.strip() == "", flags
    result = CliRunner().invoke(
        main, ["show", "--json", str(out), "--ca", ROOT_CA], catch_exceptions=False
    )
    shown = json.loads(result.stdout)
    for field in ("version", "cipher_suite", "sni", "client", "server", "certificates"):
        assert shown[field] == row[field], field
    assert shown["decryption"]["plaintext_sha256"] == row["decryption"]["plaintext_sha256"]
    assert shown["validation"]["trusted"] is True


def test_a_bad_staple_is_never_called_trusted(openssl: str, tmp_path: Path) -> None:
    """openssl s_server staples a response for another certificate (the lab client's): the
    Trust line says ocsp_invalid, so the last line must not say "trusted", nor exit 0."""
    lab_staple(tmp_path / "ocsp.der", "client")
    port = free_port()
    target = [f"127.0.0.1:{port}", "--sni", NAME, "--ca", ROOT_CA, "--no-data"]
    with program(openssl_server(port, "-status_file", str(tmp_path / "ocsp.der")), port):
        code, row, _err = _connect(*target)
        text = CliRunner().invoke(main, ["connect", *target], catch_exceptions=False)
    codes = [p["code"] for p in row["validation"]["problems"]]
    assert "ocsp_invalid" in codes, row["validation"]
    assert row["verdict"]["status"] != "trusted" and code == row["verdict"]["exit_status"] == 3
    assert "the stapled response is for another certificate" in row["verdict"]["text"]
    last = text.stdout.strip().splitlines()[-1]
    assert "is trusted" not in last and "ocsp_invalid" in last, last
    assert text.exit_code == 3


def test_alpn_h2_and_ocsp_stapling_with_nginx(tmp_path: Path) -> None:
    nginx = require_program("nginx", "nginx")
    lab_staple(tmp_path / "ocsp.der", "server")
    port = free_port()
    with program(
        nginx_command(
            nginx, tmp_path, port, f"ssl_stapling on; ssl_stapling_file {tmp_path}/ocsp.der;"
        ),
        port,
    ):
        code, row, _err = _connect(
            f"127.0.0.1:{port}", "--sni", NAME, "--ca", ROOT_CA, "--alpn", "h2,http/1.1", "--http"
        )
        assert code == 0, row["verdict"]
        assert row["alpn"] == "h2" and row["alpn_offered"] == ["h2", "http/1.1"]
        assert row["ocsp_stapled"] is True
        assert row["validation"]["ocsp"]["status"] == "good", row["validation"].get("ocsp")
        _both_finished(row)
        assert row["decryption"]["plaintext_bytes"]["s2c"] > 0
        code, row, _err = _connect(
            f"127.0.0.1:{port}", "--sni", NAME, "--ca", ROOT_CA, "--tls1.2", "--http"
        )
    assert code == 0
    assert row["version"] == "TLS 1.2" and row["ocsp_stapled"] is True
    _both_finished(row)


def test_gnutls_server_ecdsa() -> None:
    gnutls = require_program("gnutls-serv", "gnutls-bin")
    port = free_port()
    cmd = gnutls_command(gnutls, port, "--http")
    with program(cmd, port):
        code, row, _err = _connect(
            f"127.0.0.1:{port}", "--sni", "ecdsa." + NAME, "--ca", ROOT_CA, "--send", GET
        )
        assert code == 0, row["verdict"]
        assert row["version"] == "TLS 1.3"
        assert row["certificates"][0]["key"].startswith("EC")
        _both_finished(row)
        code, row, _err = _connect(
            f"127.0.0.1:{port}",
            "--sni",
            "ecdsa." + NAME,
            "--ca",
            ROOT_CA,
            "--tls1.2",
            "--send",
            GET,
        )
    assert code == 0
    assert row["version"] == "TLS 1.2" and row["authentication"] == "ECDSA"
    _both_finished(row)


def test_ipv6_target() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    with ScriptedServer(tls_then(server_context(), http_answer), host="::1") as server:
        code, row, _err = _connect(f"[::1]:{server.port}", "--sni", NAME, "--ca", ROOT_CA, "--http")
    assert code == 0, row["verdict"]
    assert row["target"]["ip"] == "::1" and row["server"] == f"[::1]:{server.port}"
    _both_finished(row)


# -- STARTTLS ----------------------------------------------------------------------

STARTTLS_NAMES = {
    "smtp": "SMTP STARTTLS",
    "imap": "IMAP STARTTLS",
    "pop3": "POP3 STLS",
    "ftp": "FTP AUTH TLS",
    "xmpp": "XMPP STARTTLS",
    "ldap": "LDAP StartTLS",
    "postgres": "PostgreSQL SSLRequest",
    "mysql": "MySQL SSL request",
}


@pytest.mark.parametrize("protocol", sorted(STARTTLS_NAMES))
def test_starttls(protocol: str) -> None:
    with starttls_server(protocol) as server:
        code, row, _err = _connect(
            f"127.0.0.1:{server.port}", "--starttls", protocol, "--sni", NAME, "--ca", ROOT_CA
        )
    assert not server.errors, server.errors
    assert code == 0, row["verdict"]
    assert row["starttls"] == STARTTLS_NAMES[protocol]
    assert row["version"] == "TLS 1.3"
    _both_finished(row)
    assert server.seen, "the server's prelude saw nothing"


def test_starttls_refused() -> None:
    def behaviour(conn: socket.socket) -> None:
        conn.sendall(b"220 mail ESMTP\r\n")
        read_line(conn)
        conn.sendall(b"250-mail\r\n250 8BITMIME\r\n")
        read_line(conn)

    with ScriptedServer(behaviour) as server:
        code, row, _err = _connect(f"127.0.0.1:{server.port}", "--starttls", "smtp")
    assert code == 1
    assert row["verdict"]["text"] == (
        "The server did not agree to SMTP STARTTLS: STARTTLS is not among the EHLO extensions"
    )


# -- failures -----------------------------------------------------------------------


def _timed(*args: str) -> tuple[int, dict[str, Any], float]:
    started = time.monotonic()
    code, row, _err = _connect(*args)
    return code, row, time.monotonic() - started


def test_refused() -> None:
    port = free_port()
    code, row, elapsed = _timed(f"127.0.0.1:{port}", "--timeout", "2")
    assert code == 1
    assert row["verdict"]["text"].startswith("Connection refused: nothing listens there")
    assert elapsed < 2


def test_unreachable_in_a_network_namespace() -> None:
    """In a fresh network namespace even the loopback is down: nothing is reachable."""
    unshare = shutil.which("unshare")
    if unshare is None or os.geteuid() != 0:
        if IN_CI:
            pytest.fail("unshare and root are needed for the unreachable case")
        pytest.skip("needs root and unshare(1) to create a network namespace")
    result = subprocess.run(
        [
            unshare,
            "--net",
            sys.executable,
            "-m",
            "tlslens",
            "connect",
            "--json",
            "--timeout",
            "2",
            "127.0.0.1:443",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1, result.stderr
    row = json.loads(result.stdout)
    assert row["verdict"]["text"].startswith("Unreachable:"), row["verdict"]


def test_timeout_when_the_server_never_answers() -> None:
    with ScriptedServer(lambda conn: (conn.recv(65536), time.sleep(3))) as server:
        code, row, elapsed = _timed(f"127.0.0.1:{server.port}", "--timeout", "1")
    assert code == 1
    assert row["verdict"]["text"] == (
        "Timed out after 1 s during the TLS handshake, before the server sent anything"
    )
    assert (
        row["client_hellos"]
        if "client_hellos" in row
        else row["handshake"][0]["type"] == "client_hello"
    )
    assert elapsed < 2.5


def test_reset_mid_handshake() -> None:
    def behaviour(conn: socket.socket) -> None:
        conn.recv(65536)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")

    with ScriptedServer(behaviour) as server:
        code, row, elapsed = _timed(f"127.0.0.1:{server.port}", "--timeout", "3")
    assert code == 1
    assert row["verdict"]["text"] == (
        "The server reset the connection during the TLS handshake, before the server sent anything"
    )
    assert row["closed_by"] == "rst"
    assert row["outcome"] == {
        "status": "failed",
        "by": "server",
        "alert": None,
        "reason": "the server reset the connection after the ClientHello, before answering",
    }
    assert elapsed < 3


def test_fatal_alert_names_the_likely_reason(openssl: str) -> None:
    port = free_port()
    with program(openssl_server(port, "-tls1_2"), port):
        code, row, elapsed = _timed(f"127.0.0.1:{port}", "--tls1.3", "--timeout", "5")
    assert code == 1
    text = row["verdict"]["text"]
    assert text.startswith("The server sent a fatal protocol_version alert"), text
    assert "the client offered only TLS 1.3" in text
    assert row["alerts"][0]["direction"] == "s2c"
    assert (row["outcome"]["status"], row["outcome"]["by"]) == ("failed", "server")
    assert row["outcome"]["alert"] == "protocol_version"
    assert row["outcome"]["reason"] == (
        "the server accepts none of the versions the client offered (TLS 1.3): protocol_version"
    )
    assert elapsed < 5


def test_plaintext_http_on_a_tls_port() -> None:
    def behaviour(conn: socket.socket) -> None:
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    with ScriptedServer(behaviour) as server:
        code, row, _elapsed = _timed(f"127.0.0.1:{server.port}", "--timeout", "3")
    assert code == 1
    assert row["verdict"]["text"] == (
        "The server answered in plaintext HTTP ('HTTP/1.1 400 Bad Request'): this port speaks "
        "HTTP, not TLS"
    )


def test_garbage_and_an_oversized_record(tmp_path: Path) -> None:
    def garbage(conn: socket.socket) -> None:
        conn.recv(65536)
        conn.sendall(bytes(range(0x80, 0xC0)))

    with ScriptedServer(garbage) as server:
        code, row, _elapsed = _timed(f"127.0.0.1:{server.port}", "--timeout", "3")
    assert code == 1
    assert row["verdict"]["text"] == (
        "The server sent 64 bytes that are not TLS (they begin "
        "80 81 82 83 84 85 86 87 88 89 8a 8b 8c 8d 8e 8f)"
    )

    def oversized(conn: socket.socket) -> None:
        conn.recv(65536)
        conn.sendall(b"\x16\x03\x03\xff\xf0" + b"\0" * 4096)

    out = tmp_path / "oversized.pcapng"
    with ScriptedServer(oversized) as server:
        code, row, _elapsed = _timed(
            f"127.0.0.1:{server.port}", "--timeout", "3", "--pcapng", str(out)
        )
    assert code == 1
    assert "65520 bytes, more than TLS allows" in row["verdict"]["text"], row["verdict"]
    # The bytes seen so far are still written.
    shown = CliRunner().invoke(main, ["show", "--json", str(out)], catch_exceptions=False)
    seen = json.loads(shown.stdout)["bytes"]["s2c"]["total"]
    assert seen == row["bytes"]["s2c"]["total"] and seen >= 5


# -- bad usage -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["connect", "exa mple.com"], "is not a host name or an IP address"),
        (["connect", "example.com:99999"], "'99999' is not a port number (1-65535)"),
        (["connect", "[::1"], "an IPv6 address in brackets is [ADDRESS]:PORT"),
        (["connect", "10.0.0.1:80:90"], "write an IPv6 address with a port as [ADDRESS]:PORT"),
        (["connect", "127.0.0.1:1", "--send", "@/nonexistent/file"], "--send"),
        (["connect", "127.0.0.1:1", "--keylog-out", "/nonexistent/dir/k.keys"], "--keylog-out"),
        (
            ["connect", "127.0.0.1:1", "--client-cert", str(PKI / "client.pem")],
            "--client-cert and --client-key go together",
        ),
        (
            [
                "connect",
                "127.0.0.1:1",
                "--client-cert",
                str(PKI / "client.pem"),
                "--client-key",
                str(PKI / "server.key"),
            ],
            "--client-key",
        ),
        (["connect", "127.0.0.1:1", "--groups", "nosuchgroup"], "--groups"),
        (["connect", "127.0.0.1:1", "--cipher", "NOSUCHCIPHER"], "--cipher"),
    ],
)
def test_bad_usage_names_the_option(args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.stderr.split()), result.stderr
    assert "Traceback" not in result.stderr


def test_body_is_decrypted_in_the_narration() -> None:
    with ScriptedServer(tls_then(server_context(), http_answer)) as server:
        result = CliRunner().invoke(
            main,
            ["connect", f"127.0.0.1:{server.port}", "--sni", NAME, "--ca", ROOT_CA, "--send", GET],
            catch_exceptions=False,
        )
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    assert f"Connecting to 127.0.0.1 port {server.port}; SNI tlslens.test" in text
    assert "ClientHello" in text and "both Finished verify" in text
    assert text.endswith(
        "Handshake completed (TLS 1.3); the chain is trusted for tlslens.test (mozilla+ca)"
    )
    assert BODY  # the server's answer is part of the decrypted bytes counted above


def test_progress_bar_on_a_terminal_while_waiting() -> None:
    from test_review import _run_with_stderr_on_a_terminal

    with ScriptedServer(lambda conn: (conn.recv(65536), time.sleep(3))) as server:
        out, terminal, status = _run_with_stderr_on_a_terminal(
            ["connect", "--json", "--timeout", "1.5", f"127.0.0.1:{server.port}"]
        )
    assert status == 1
    assert f"connecting to 127.0.0.1 port {server.port}".encode() in terminal
    assert json.loads(out)["verdict"]["status"] == "failed"  # stdout: the JSON alone


def test_a_flooding_server_is_read_only_up_to_the_limit() -> None:
    def flood(tls: socket.socket) -> None:
        tls.recv(4096)
        block = b"x" * 16000
        for _ in range(400):  # 6.4 MB, far more than the client keeps
            tls.sendall(block)

    with ScriptedServer(tls_then(server_context(), flood)) as server:
        code, row, elapsed = _timed(
            f"127.0.0.1:{server.port}",
            "--sni",
            NAME,
            "--ca",
            ROOT_CA,
            "--send",
            GET,
            "--read-limit",
            "50000",
            "--timeout",
            "5",
        )
    assert code == 0, row["verdict"]
    received = row["decryption"]["plaintext_bytes"]["s2c"]
    assert 50000 <= received <= 50000 + (1 << 20) + 65536
    assert row["bytes"]["s2c"]["total"] <= 50000 + (1 << 20) + 2 * 65536
    assert elapsed < 5


# -- the start of the answer ---------------------------------------------------------------


def _text(*args: str) -> tuple[int, list[str]]:
    result = CliRunner().invoke(main, ["connect", *args], catch_exceptions=False)
    return result.exit_code, result.stdout.splitlines()


def test_http_reply_start_is_shown_and_sanitised() -> None:
    """The status line and the first headers of what the server answered, its escape
    sequences made visible, the rest counted."""

    def answer(tls: socket.socket) -> None:
        while b"\r\n\r\n" not in tls.recv(4096):
            pass
        extra = "".join(f"X-Extra-{i}: {i}\r\n" for i in range(10))
        tls.sendall(
            b"HTTP/1.1 301 Moved Permanently\r\nServer: evil\x1b[31mred\x1b[0m\r\n"
            + f"Location: https://{NAME}/{'a' * 300}\r\n{extra}Content-Length: 0\r\n\r\n".encode()
        )
        tls.close()

    with ScriptedServer(tls_then(server_context(), answer)) as server:
        code, lines = _text(f"127.0.0.1:{server.port}", "--sni", NAME, "--ca", ROOT_CA, "--http")
    assert code == 0
    start = next(i for i, line in enumerate(lines) if line.startswith("HTTP reply ("))
    assert lines[start].endswith(" bytes of plaintext read):")
    assert lines[start + 1 : start + 4] == [
        "  HTTP/1.1 301 Moved Permanently",
        "  Server: evil\ufffd[31mred\ufffd[0m",
        f"  Location: https://{NAME}/{'a' * (120 - len(f'https://{NAME}/'))}…",
    ]
    assert lines[start + 9] == "  X-Extra-5: 5"
    assert lines[start + 10] == "  … and 5 more header(s)"


def test_http2_reply_start_is_shown(tmp_path: Path) -> None:
    nginx = require_program("nginx", "nginx")
    port = free_port()
    with program(nginx_command(nginx, tmp_path, port, ""), port):
        code, lines = _text(
            f"127.0.0.1:{port}", "--sni", NAME, "--ca", ROOT_CA, "--alpn", "h2", "--http"
        )
    assert code == 0
    start = next(i for i, line in enumerate(lines) if line.startswith("HTTP/2 reply"))
    assert lines[start].startswith("HTTP/2 reply, stream 1 (")
    assert lines[start + 1] == "  :status 200"
    assert lines[start + 2].startswith("  server: nginx/")
    assert "  content-type: text/plain" in lines[start:]


def test_no_reply_start_when_the_answer_is_not_http() -> None:
    def answer(tls: socket.socket) -> None:
        tls.recv(4096)
        tls.sendall(b"220 not http at all\r\n")
        tls.close()

    with ScriptedServer(tls_then(server_context(), answer)) as server:
        code, lines = _text(
            f"127.0.0.1:{server.port}", "--sni", NAME, "--ca", ROOT_CA, "--send", GET
        )
    assert code == 0
    assert not any("reply" in line for line in lines)
