"""`tlslens scan` against servers whose truth is known, sslyze side by side, and faults.

The ClientHello writer is checked against the parsers first (what tlslens writes, tlslens
and the RFC layout read back); then every scan runs against real servers on loopback.
"""

from __future__ import annotations

import json
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

from tlslens import _core
from tlslens.cli import main
from tlslens.handshake import compose
from tlslens.handshake import extensions as ext
from tlslens.handshake import messages as hs

from _servers import (
    NAME,
    PKI,
    ScriptedServer,
    gnutls_command,
    lab_staple,
    nginx_command,
    openssl_server,
    program,
    pyopenssl_behaviour,
    server_context,
    starttls_server,
    tls_then,
    tlslite_behaviour,
)
from conftest import IN_CI, ROOT, require_program

SCHEMA = json.loads((ROOT / "src/tlslens/schema/scan.schema.json").read_text())
ROOT_CA = str(PKI / "root.pem")


def _scan(*args: str) -> tuple[int, list[dict[str, Any]], str]:
    result = CliRunner().invoke(main, ["scan", "--json", *args], catch_exceptions=False)
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    for row in rows:
        jsonschema.validate(row, SCHEMA)
    return result.exit_code, rows, result.stderr


def _one(*args: str) -> dict[str, Any]:
    code, rows, err = _scan(*args, "--sni", NAME, "--ca", ROOT_CA)
    assert code == 0, (rows, err)
    assert len(rows) == 1
    return rows[0]


def _accepted(row: dict[str, Any]) -> list[str]:
    return [name for name, v in row["versions"].items() if v["accepted"]]


# -- the writer ---------------------------------------------------------------------


def test_client_hello_writer_round_trips_through_the_parser() -> None:
    spec = compose.HelloSpec(
        legacy_version=0x0303,
        random=bytes(range(32)),
        session_id=b"\x11" * 32,
        cipher_suites=(0x1301, 0xC02F, 0x002F),
        server_name="tlslens.test",
        supported_versions=(0x0304, 0x0303),
        groups=(0x11EC, 29, 23),
        key_shares=((29, b"\x42" * 32),),
        signature_algorithms=(0x0804, 0x0403),
        alpn=("h2", "http/1.1"),
        status_request=True,
        session_ticket=b"",
        extended_master_secret=True,
        encrypt_then_mac=True,
        renegotiation_info=True,
        ec_point_formats=True,
        psk_key_exchange_modes=(1,),
        grease=0x2A2A,
    )
    message = compose.push_client_hello(spec)
    assert message[0] == hs.CLIENT_HELLO and int.from_bytes(message[1:4], "big") == len(message) - 4
    hello = hs.parse_message(hs.CLIENT_HELLO, message[4:], hs.HandshakeContext())
    assert isinstance(hello, hs.ClientHello) and hello.malformed is None
    assert hello.random == bytes(range(32)) and hello.legacy_session_id == b"\x11" * 32
    assert hello.cipher_suites == (0x2A2A, 0x1301, 0xC02F, 0x002F)
    decoded = {e.type: ext.decode_extension(e, ext.CLIENT_HELLO) for e in hello.extensions}
    versions = decoded[ext.SUPPORTED_VERSIONS]
    assert isinstance(versions, _core.SupportedVersions)
    assert versions.versions == [0x2A2A, 0x0304, 0x0303]
    alpn = decoded[ext.ALPN]
    assert isinstance(alpn, _core.ProtocolNameList) and alpn.protocols == ["h2", "http/1.1"]
    shares = decoded[ext.KEY_SHARE]
    assert isinstance(shares, _core.KeyShareList)
    assert [(s.group, s.key_length) for s in shares.shares] == [(29, 32)]
    assert ext.SERVER_NAME in decoded and ext.STATUS_REQUEST in decoded
    assert hello.extensions[0].type == 0x2A2A  # GREASE first, as browsers send it
    records = compose.push_records(22, 0x0301, message)
    assert records[:3] == b"\x16\x03\x01" and int.from_bytes(records[3:5], "big") == len(message)


def test_sslv2_client_hello_parses() -> None:
    record = compose.push_sslv2_client_hello((0x010080, 0x0700C0), bytes(16))
    hello = hs.parse_sslv2_client_hello(record)
    assert hello.sslv2 and hello.legacy_version == 0x0002


def test_mlkem_key_share_has_the_size_of_the_group() -> None:
    from tlslens.scan.probe import Offer, Probe

    probe = Probe(Offer(version=0x0304, cipher_suites=(0x1301,), key_share_groups=(0x11EC, 29, 23)))
    hello = hs.parse_message(hs.CLIENT_HELLO, probe.client_hello[4:], hs.HandshakeContext())
    assert isinstance(hello, hs.ClientHello)
    shares = ext.decoded_in(hello, ext.KEY_SHARE, _core.KeyShareList)
    assert shares is not None
    assert [(s.group, s.key_length) for s in shares.shares] == [
        (0x11EC, 1216),
        (29, 32),
        (23, 65),
    ]


# -- known truths -------------------------------------------------------------------


@pytest.fixture(scope="module")
def openssl() -> str:
    return require_program("openssl", "openssl")


SUITES_12 = "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-SHA:AES128-GCM-SHA256"
IANA_12 = [
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_AES_128_GCM_SHA256",
]


def test_tls12_only_with_a_fixed_cipher_list_in_server_order(openssl: str) -> None:
    port = free_port()
    with program(
        openssl_server(port, "-tls1_2", "-cipher", SUITES_12, "-serverpref", "-naccept", "500"),
        port,
    ):
        row = _one(f"127.0.0.1:{port}")
    assert _accepted(row) == ["TLS 1.2"]
    assert row["versions"]["TLS 1.2"] == {
        "accepted": True,
        "cipher_suites": IANA_12,
        "server_order": True,
    }
    assert row["versions"]["TLS 1.3"]["accepted"] is False
    assert row["secure_renegotiation"] is True and row["extended_master_secret"] is True
    assert row["compression"] is False
    assert row["grade"]["grade"] == "A-"  # no TLS 1.3 (guide 2009r)
    assert any("TLS 1.3" in cap["reason"] for cap in row["grade"]["caps"])
    assert row["connections_used"] <= 40


def test_client_order_and_rsa_key_exchange_only(openssl: str) -> None:
    port = free_port()
    suites = "AES256-GCM-SHA384:AES128-SHA256"
    with program(openssl_server(port, "-tls1_2", "-cipher", suites, "-naccept", "500"), port):
        row = _one(f"127.0.0.1:{port}")
    support = row["versions"]["TLS 1.2"]
    assert support["server_order"] is False
    assert sorted(support["cipher_suites"]) == [
        "TLS_RSA_WITH_AES_128_CBC_SHA256",
        "TLS_RSA_WITH_AES_256_GCM_SHA384",
    ]
    # Client order: the order is ours (AEAD first); no forward secrecy caps the grade at B.
    assert support["cipher_suites"][0] == "TLS_RSA_WITH_AES_256_GCM_SHA384"
    assert any(
        cap["grade"] == "B" and "forward secrecy" in cap["reason"] for cap in row["grade"]["caps"]
    )
    assert row["grade"]["grade"] == "B"


def test_tls13_chosen_groups_no_tickets_and_stapling(openssl: str, tmp_path: Path) -> None:
    lab_staple(tmp_path / "ocsp.der", "server")
    port = free_port()
    args = (
        "-groups",
        "P-384:X25519",
        "-serverpref",
        "-no_ticket",
        "-status_file",
        str(tmp_path / "ocsp.der"),
        "-naccept",
        "500",
    )
    with program(openssl_server(port, *args), port):
        row = _one(f"127.0.0.1:{port}")
    assert _accepted(row) == ["TLS 1.2", "TLS 1.3"]
    assert row["groups"] == ["secp384r1", "x25519"]
    assert row["groups_server_order"] is True
    assert row["resumption"]["ticket"] is False
    assert row["resumption"]["session_id"] is True
    assert row["ocsp_stapling"] == {"stapled": True, "status": "good", "problems": []}
    assert row["fallback_scsv"] is True
    assert row["certificate_chains"][0]["validation"]["trusted"] is True
    assert row["grade"]["grade"] == "A"


def test_rsa_and_ecdsa_certificates(openssl: str) -> None:
    port = free_port()
    args = (
        "-dcert",
        str(PKI / "ecdsa.pem"),
        "-dkey",
        str(PKI / "ecdsa.key"),
        "-dcert_chain",
        str(PKI / "intermediate.pem"),
        "-naccept",
        "500",
    )
    with program(openssl_server(port, *args), port):
        row = _one(f"127.0.0.1:{port}")
    kinds = sorted(chain["key_type"] for chain in row["certificate_chains"])
    assert kinds == ["EC", "RSA"]
    subjects = {chain["certificates"][0]["subject"] for chain in row["certificate_chains"]}
    assert subjects == {"CN=tlslens.test,O=tlslens lab", "CN=ecdsa.tlslens.test,O=tlslens lab"}
    suites = row["versions"]["TLS 1.2"]["cipher_suites"]
    assert any("ECDSA" in s for s in suites) and any("ECDHE_RSA" in s for s in suites)


def test_post_quantum_hybrid_group_on_cryptographys_openssl() -> None:
    with ScriptedServer(pyopenssl_behaviour("X25519MLKEM768:X25519:P-256")) as server:
        row = _one(f"127.0.0.1:{server.port}")
    assert row["groups"] == ["X25519MLKEM768", "x25519", "secp256r1"]
    assert row["groups_server_order"] is True
    assert row["versions"]["TLS 1.3"]["accepted"] is True
    assert row["certificate_chains"][0]["version"] == "TLS 1.3"  # decrypted by the scanner


def test_python_ssl_server_alpn() -> None:
    context = server_context(alpn=["h2", "http/1.1"])
    with ScriptedServer(tls_then(context, lambda tls: tls.unwrap())) as server:
        row = _one(f"127.0.0.1:{server.port}", "--no-resumption")
    assert row["alpn"] == ["h2", "http/1.1"]
    assert row["resumption"] == {"session_id": None, "ticket": None, "tls13_psk": None}


def test_starttls_smtp() -> None:
    with starttls_server("smtp") as server:
        row = _one(f"127.0.0.1:{server.port}", "--starttls", "smtp")
    assert row["starttls"] == "SMTP STARTTLS"
    assert "TLS 1.3" in _accepted(row)
    assert row["certificate_chains"][0]["validation"]["trusted"] is True
    assert not server.errors


def test_nginx_tls12_and_13_server_order(tmp_path: Path) -> None:
    nginx = require_program("nginx", "nginx")
    port = free_port()
    with program(
        nginx_command(
            nginx,
            tmp_path,
            port,
            "ssl_protocols TLSv1.2 TLSv1.3; ssl_prefer_server_ciphers on; ssl_ciphers ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-CHACHA20-POLY1305;",
        ),
        port,
    ):
        row = _one(f"127.0.0.1:{port}")
    assert _accepted(row) == ["TLS 1.2", "TLS 1.3"]
    assert row["versions"]["TLS 1.2"] == {
        "accepted": True,
        "cipher_suites": [
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        ],
        "server_order": True,
    }
    # nginx with HTTP/2 accepts these four (ngx_http_ssl_alpn_select).
    assert row["alpn"] == ["h2", "http/1.1", "http/1.0", "http/0.9"]
    assert row["resumption"]["ticket"] is True


def test_gnutls_server() -> None:
    gnutls = require_program("gnutls-serv", "gnutls-bin")
    port = free_port()
    cmd = gnutls_command(gnutls, port, "--priority", "NORMAL:-VERS-ALL:+VERS-TLS1.2:+VERS-TLS1.3")
    with program(cmd, port):
        code, rows, err = _scan(f"127.0.0.1:{port}", "--sni", "ecdsa." + NAME, "--ca", ROOT_CA)
    assert code == 0, err
    row = rows[0]
    assert _accepted(row) == ["TLS 1.2", "TLS 1.3"]
    assert all("ECDSA" in s for s in row["versions"]["TLS 1.2"]["cipher_suites"])
    assert row["certificate_chains"][0]["key_type"] == "EC"


# -- sslyze, side by side -----------------------------------------------------------------

PEERS = ROOT / ".venv-peers"


@pytest.fixture(scope="module")
def sslyze() -> Path:
    """sslyze in a venv of its own (it pins a cryptography older than ours)."""
    python = PEERS / "sslyze" / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEERS / "sslyze")], check=True)
        done = subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "sslyze==6.3.1"],
            capture_output=True,
            text=True,
            timeout=600,
        )
        if done.returncode != 0:
            shutil.rmtree(PEERS / "sslyze", ignore_errors=True)
            if IN_CI:
                pytest.fail(f"sslyze could not be installed: {done.stderr[-500:]}")
            pytest.skip("sslyze could not be installed from PyPI")
    return python


_SSLYZE_KEYS = {
    "SSL 2.0": "ssl_2_0_cipher_suites",
    "SSL 3.0": "ssl_3_0_cipher_suites",
    "TLS 1.0": "tls_1_0_cipher_suites",
    "TLS 1.1": "tls_1_1_cipher_suites",
    "TLS 1.2": "tls_1_2_cipher_suites",
    "TLS 1.3": "tls_1_3_cipher_suites",
}


@pytest.mark.parametrize(
    "args",
    [
        ("-cipher", "ALL:@SECLEVEL=0", "-serverpref"),
        ("-tls1_2", "-cipher", SUITES_12),
    ],
)
def test_same_versions_and_suites_as_sslyze(
    openssl: str, sslyze: Path, tmp_path: Path, args: tuple[str, ...]
) -> None:
    port = free_port()
    with program(openssl_server(port, *args, "-naccept", "5000"), port):
        row = _one(f"127.0.0.1:{port}", "--no-resumption")
        out = tmp_path / "sslyze.json"
        subprocess.run(
            [
                str(sslyze),
                "-m",
                "sslyze",
                f"127.0.0.1:{port}",
                f"--json_out={out}",
                "--quiet",
            ],
            capture_output=True,
            timeout=300,
            check=False,
        )
    result = json.loads(out.read_text())["server_scan_results"][0]["scan_result"]
    for name, key in _SSLYZE_KEYS.items():
        found = result[key]["result"]
        theirs = {s["cipher_suite"]["name"] for s in found["accepted_cipher_suites"]}
        tested = theirs | {s["cipher_suite"]["name"] for s in found["rejected_cipher_suites"]}
        ours = set(row["versions"][name]["cipher_suites"])
        # Identical on every suite sslyze tries; beyond those (suites its OpenSSL build
        # lacks, such as DH_anon with Camellia-SHA256) tlslens alone can tell.
        assert ours & tested == theirs, name
        assert bool(row["versions"][name]["accepted"]) == bool(theirs), name


# -- faults ---------------------------------------------------------------------------


def _faulty(behaviour: Any) -> tuple[int, dict[str, Any], float]:
    with ScriptedServer(behaviour) as server:
        started = time.monotonic()
        code, rows, _err = _scan(f"127.0.0.1:{server.port}", "--timeout", "1", "--no-resumption")
        return code, rows[0], time.monotonic() - started


def test_unresolvable_and_refused_targets_beside_a_good_one(openssl: str) -> None:
    port = free_port()
    dead = free_port()
    with program(openssl_server(port, "-naccept", "500"), port):
        code, rows, _err = _scan(
            "nosuch.invalid",
            f"127.0.0.1:{dead}",
            f"127.0.0.1:{port}",
            "--timeout",
            "2",
            "--sni",
            NAME,
        )
    assert code == 1
    by_target = {row["target"]: row for row in rows}
    assert by_target["nosuch.invalid"]["errors"][0].startswith("cannot resolve nosuch.invalid")
    assert any("connection refused" in e for e in by_target[f"127.0.0.1:{dead}"]["errors"])
    good = by_target[f"127.0.0.1:{port}"]
    assert good["errors"] == [] and "TLS 1.3" in _accepted(good)


def test_a_stalling_server() -> None:
    code, row, elapsed = _faulty(lambda conn: (conn.recv(65536), time.sleep(3)))
    assert code == 1
    assert any("no complete answer within 1 s" in e for e in row["errors"])
    assert elapsed < 3


def test_reset_http_garbage_and_oversized_records() -> None:
    def reset(conn: socket.socket) -> None:
        conn.recv(65536)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")

    def http(conn: socket.socket) -> None:
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")

    def garbage(conn: socket.socket) -> None:
        conn.recv(65536)
        conn.sendall(bytes(range(0x40, 0x80)))

    def oversized(conn: socket.socket) -> None:
        conn.recv(65536)
        conn.sendall(b"\x16\x03\x03\xff\xf0" + b"\0" * 64)

    for behaviour, words in (
        (reset, "reset by the server"),
        (http, "plaintext HTTP"),
        (garbage, "not TLS"),
        (oversized, "more than TLS allows"),
    ):
        code, row, elapsed = _faulty(behaviour)
        assert code == 1, words
        assert any(words in e for e in row["errors"]), (words, row["errors"])
        assert elapsed < 3, words


def test_a_chain_of_fifty_certificates(tmp_path: Path) -> None:
    import datetime as dt

    from tlslens.x509 import pki as lab

    now = dt.datetime.now(dt.UTC)
    extra = b"".join(
        lab.pem_cert(lab.make_root(f"filler {i}", now=now).certificate) for i in range(48)
    )
    chain = tmp_path / "chain.pem"
    chain.write_bytes((PKI / "server-chain.pem").read_bytes() + extra)
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(chain, PKI / "server.key")
    with ScriptedServer(tls_then(context, lambda tls: tls.unwrap())) as server:
        code, rows, _err = _scan(
            f"127.0.0.1:{server.port}", "--sni", NAME, "--ca", ROOT_CA, "--no-resumption"
        )
    assert code == 0
    assert any("the server sent 50 certificates" in e for e in rows[0]["errors"]), rows[0]["errors"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["scan"], "name at least one target"),
        (["scan", "bad host"], "is not a host name or an IP address"),
        (["scan", "-f", "/nonexistent/targets.txt"], "cannot be read"),
        (["scan", "example.com:0"], "is not a port number"),
    ],
)
def test_bad_usage(args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.stderr.split())


def test_targets_file_and_the_plain_table(openssl: str, tmp_path: Path) -> None:
    port = free_port()
    targets = tmp_path / "targets.txt"
    targets.write_text(f"# lab\n127.0.0.1:{port}\n")
    with program(openssl_server(port, "-naccept", "500"), port):
        result = CliRunner().invoke(
            main,
            ["scan", "-f", str(targets), "--sni", NAME, "--ca", ROOT_CA],
            catch_exceptions=False,
        )
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert f"── 127.0.0.1:{port}" in text
    assert "TLS 1.3" in text and "Grade" in text and "connections" in text
    assert "\x1b" not in text  # a file or a pipe gets no escape sequences


def test_ssl3_probe_against_a_captured_ssl3_server(corpus: Path) -> None:
    """No SSL 3.0 server can be built here (OpenSSL 3.0 and cryptography's OpenSSL both
    lack it): the probe's bytes are checked against the layout of a real SSL 3.0
    ClientHello, and a real SSL 3.0 server's flight (wireshark-notes ssl3/dump.pcapng) is
    fed to the probe, which must read SSL 3.0 accepted."""
    from tlslens._core import TcpSegment, decode_tcp
    from tlslens.capture import open_capture
    from tlslens.scan.probe import SSL3, Offer, Probe

    probe = Probe(Offer(version=SSL3, cipher_suites=(0x000A, 0x002F)))
    assert probe.hello[:3] == b"\x16\x03\x00"  # record version SSL 3.0
    hello = hs.parse_message(hs.CLIENT_HELLO, probe.client_hello[4:], hs.HandshakeContext())
    assert isinstance(hello, hs.ClientHello)
    assert hello.legacy_version == SSL3 and hello.extensions == ()
    raw, reader = open_capture(corpus / "wireshark-notes" / "ssl3" / "dump.pcapng")
    server = b""
    with raw:
        port = None
        for _ts, linktype, data in reader:
            seg = decode_tcp(linktype, data)
            if not isinstance(seg, TcpSegment) or not seg.payload:
                continue
            if port is None and seg.payload[:1] == b"\x16" and seg.payload[5:6] == b"\x02":
                port = seg.sport
            if port is not None and seg.sport == port:
                server += seg.payload
                if b"\x0e\x00\x00\x00" in server:  # ServerHelloDone
                    break
    probe.feed(server)
    result = probe.result()
    assert result.answered and result.conn is not None
    assert result.conn.version == SSL3
    assert probe.done


def test_tlslite_ng_explicit_server_order() -> None:
    """tlslite-ng (pure Python, independent of OpenSSL and GnuTLS) picks suites in the
    order its own API computes for a configuration: that list is the truth."""
    from tlslite import HandshakeSettings
    from tlslite.constants import CipherSuite

    ciphers, exchanges = ["aes128gcm", "chacha20-poly1305", "aes256"], ["ecdhe_rsa", "rsa"]
    settings = HandshakeSettings()
    settings.cipherNames, settings.keyExchangeNames = ciphers, exchanges
    tls12 = CipherSuite.getEcdheCertSuites(settings, (3, 3)) + CipherSuite.getCertSuites(
        settings, (3, 3)
    )
    tls13 = CipherSuite.getTLS13Suites(settings, (3, 4))
    with ScriptedServer(tlslite_behaviour(ciphers, exchanges, ((3, 3), (3, 4)))) as server:
        row = _one(f"127.0.0.1:{server.port}", "--no-resumption")
    assert not server.errors
    assert _accepted(row) == ["TLS 1.2", "TLS 1.3"]
    assert row["versions"]["TLS 1.2"] == {
        "accepted": True,
        "cipher_suites": [CipherSuite.ietfNames[s] for s in tls12],
        "server_order": True,
    }
    assert row["versions"]["TLS 1.3"]["cipher_suites"] == [CipherSuite.ietfNames[s] for s in tls13]


def test_progress_bar_on_a_terminal(openssl: str) -> None:
    from test_review import _run_with_stderr_on_a_terminal

    port = free_port()
    with program(openssl_server(port, "-naccept", "500"), port):
        out, terminal, status = _run_with_stderr_on_a_terminal(
            ["scan", "--json", f"127.0.0.1:{port}", "--sni", NAME, "--no-resumption"]
        )
    assert status == 0
    assert b"scanning" in terminal and "━".encode() in terminal
    assert json.loads(out)["target"] == f"127.0.0.1:{port}"  # stdout: the JSON alone


def test_an_address_is_checked_as_connect_checks_it(openssl: str) -> None:
    """No --sni, an IP typed: scan checks the certificate against that address, as connect
    does, so the lab leaf (tlslens.test, localhost) is a name mismatch: grade M."""
    port = free_port()
    with program(openssl_server(port, "-naccept", "500"), port):
        code, rows, err = _scan(f"127.0.0.1:{port}", "--ca", ROOT_CA, "--no-resumption")
        connect = CliRunner().invoke(main, ["connect", f"127.0.0.1:{port}", "--ca", ROOT_CA])
        text = CliRunner().invoke(
            main, ["scan", f"127.0.0.1:{port}", "--ca", ROOT_CA, "--no-resumption"]
        )
    assert code == 0, err
    # The text says why the letter is M and which grade the configuration earned.
    earned = rows[0]["grade"]["grade_if_trusted"]
    assert f"M — the name does not match (name_mismatch); {earned} if it did" in text.stdout
    validation = rows[0]["certificate_chains"][0]["validation"]
    assert validation["hostname"] == "127.0.0.1"
    assert [p["code"] for p in validation["problems"]] == ["name_mismatch"]
    assert "name_mismatch" in connect.stdout and connect.exit_code == 3
    assert rows[0]["grade"]["grade"] == "M"
