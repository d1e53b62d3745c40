"""Regression tests for the new user's review (issue 8): each test names its item."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from cryptography import x509
from cryptography.hazmat.primitives import serialization

import tlslens
import tlslens.explain
from tlslens._core import TcpSegment, decode_tcp
from tlslens.capture.writer import write_pcap
from tlslens.cli import main
from tlslens.events import HandshakeEvent
from tlslens.keys.store import KeyStore
from tlslens.x509 import ChainChecker, TrustStore

from _frames import read_frames
from conftest import CAPTURES, VECTORS
from corpus_digests import _cwd, key_options

CHAINS = CAPTURES / "chains.pcapng"


def _show_json(*args: str) -> list[dict]:  # type: ignore[type-arg]
    result = CliRunner().invoke(main, ["show", "--json", *args], env={"SSLKEYLOGFILE": None})
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def _codes(row: dict) -> list[str]:  # type: ignore[type-arg]
    return [p["code"] for p in row["validation"]["problems"]]


# -- item 1: a chain's verdict does not depend on the other connections ---------------------


def test_verdict_alone_equals_verdict_in_the_full_run_but_for_the_elsewhere_code() -> None:
    full = _show_json(str(CHAINS))
    assert len(full) == 11
    for row in full:
        alone = _show_json(str(CHAINS), "--connection", str(row["id"]))
        assert len(alone) == 1
        assert alone[0]["validation"]["trusted"] == row["validation"]["trusted"]
        without = [c for c in _codes(row) if c != "intermediate_elsewhere_in_capture"]
        # Alone, the connections before it are still observed (their certificates are in the
        # capture): only the codes the pool can add may differ.
        assert without == [
            c for c in _codes(alone[0]) if c != "intermediate_elsewhere_in_capture"
        ], row["id"]


def test_a_root_sent_elsewhere_is_no_forgotten_intermediate() -> None:
    # Connection 8 sends the lab root (wrong order); 9, 10 and 11 end at that root, which is
    # not in Mozilla's store: an untrusted root, not a missing intermediate.
    rows = {row["id"]: row for row in _show_json(str(CHAINS))}
    for conn_id in (9, 10, 11):
        codes = _codes(rows[conn_id])
        assert "untrusted_root" in codes, codes
        assert "missing_intermediate" not in codes
        assert "intermediate_elsewhere_in_capture" not in codes
    # The real forgotten intermediate (connection 6) is still named, with the connection
    # that did send it.
    assert _codes(rows[6]) == ["missing_intermediate", "intermediate_elsewhere_in_capture"]


def _connection_frames(path: Path) -> dict[int, list[tuple[int, bytes]]]:
    """The frames of each connection of a capture (by its client port), in file order."""
    ports = {conn.client.port: conn.id for conn in tlslens.read_capture(path)}
    frames: dict[int, list[tuple[int, bytes]]] = {}
    for ts_ns, linktype, data in read_frames(path):
        seg = decode_tcp(linktype, data)
        assert isinstance(seg, TcpSegment)
        conn_id = ports.get(seg.sport) or ports.get(seg.dport)
        assert conn_id is not None
        frames.setdefault(conn_id, []).append((ts_ns, data))
    return frames


def test_intermediate_sent_only_later_is_named_in_a_closing_summary(tmp_path: Path) -> None:
    frames = _connection_frames(CHAINS)
    # The forgotten-intermediate connection first, then the ones that send that intermediate.
    order = [6, 1, 2, 3]
    reordered = tmp_path / "later.pcap"
    with reordered.open("wb") as out:
        write_pcap(out, [frame for conn_id in order for frame in frames[conn_id]])
    root = CAPTURES.parent / "chains" / "root.pem"
    result = CliRunner().invoke(main, ["show", str(reordered), "--ca", str(root)])
    assert result.exit_code == 0
    assert "Connection 1 did not send CN=" in result.stdout
    assert "the intermediate CA its chain needs" in result.stdout
    assert "connection 2, later in the capture, did" in result.stdout
    # In JSON the verdict of connection 1 stays what it was when it was printed, and the
    # closing note goes to stderr, outside the JSON Lines.
    rows = CliRunner().invoke(main, ["show", "--json", str(reordered), "--ca", str(root)])
    first = json.loads(rows.stdout.splitlines()[0])
    assert _codes(first) == ["missing_intermediate"]
    assert "connection 2, later in the capture, did" in rows.stderr
    assert all(line.startswith("{") for line in rows.stdout.splitlines())


def test_late_intermediates_are_bounded() -> None:
    checker = ChainChecker(TrustStore("none", []))
    checker.MAX_AWAITED = 2
    conns = list(tlslens.read_capture(CHAINS))
    for i in range(5):
        checker.check(
            [c.der for c in conns[5].certificates],
            sni=None,
            at=conns[5].start_time,
            stapled_ocsp=None,
            conn_id=100 + i,
        )
    assert len(checker.awaited) == 1
    (entry,) = checker.awaited.values()
    assert entry.ids == [100, 101, 102, 103, 104]
    checker.MAX_IDS = 0
    checker.check(
        [c.der for c in conns[5].certificates],
        sni=None,
        at=conns[5].start_time,
        stapled_ocsp=None,
        conn_id=200,
    )
    assert entry.more == 1


@pytest.mark.parametrize("conn_id", [9, 10, 11])
def test_alone_the_root_connections_say_untrusted_root(conn_id: int) -> None:
    (row,) = _show_json(str(CHAINS), "--connection", str(conn_id))
    assert "untrusted_root" in _codes(row)


# -- item 2: no SNI and a wildcard certificate ----------------------------------------------


def test_no_sni_checks_the_chain_without_a_name(corpus: Path) -> None:
    capture = str(corpus / "scapy" / "tls_tcp_frag.pcap.gz")
    (row,) = _show_json(capture)
    assert row["sni"] is None
    assert row["validation"]["hostname"] is None
    assert row["validation"]["trusted"] is True, _codes(row)
    assert _codes(row) == []
    text = CliRunner().invoke(main, ["show", capture]).stdout
    assert "No host name was checked" in text
    assert "invalid domain name" not in text


def test_host_option_still_checks_the_name(corpus: Path) -> None:
    capture = str(corpus / "scapy" / "tls_tcp_frag.pcap.gz")
    (row,) = _show_json(capture, "--host", "www.example.com")
    assert _codes(row) == ["name_mismatch"]
    (row,) = _show_json(capture, "--host", "www.mql5.net")
    assert row["validation"]["trusted"] is True


# -- item 11: output to a file or a pipe is never cut or padded -------------------------------


def test_text_to_a_pipe_is_not_cut_or_padded() -> None:
    capture = CAPTURES / "demo-tls12-tls13.pcapng"
    keys = CAPTURES / "demo-tls12-tls13.keys"
    result = CliRunner().invoke(
        main, ["show", str(capture), "--keylog", str(keys), "--reveal-keys"]
    )
    lines = result.stdout.splitlines()
    assert not any(line != line.rstrip() for line in lines), "trailing spaces"
    assert not any("…" in line for line in lines if "traffic_secret" in line)
    secrets = [line for line in lines if "traffic_secret (48 bytes):" in line]
    assert secrets and all(len(line.split(": ")[-1]) == 96 for line in secrets)
    assert max(len(line) for line in lines) > 120  # nothing folded at 80 columns
    assert any(line.startswith("── Connection 1 · ") for line in lines)


# -- item 18: a closed pipe ends quietly; a connection that does not exist is said -------------


def test_closed_pipe_ends_quietly() -> None:
    import subprocess
    import sys

    command = (
        # Ten times the capture: far more than a pipe buffers, so the writer meets the close.
        f"{sys.executable} -m tlslens show --json {' '.join([str(CHAINS)] * 10)} "
        "| head -c 100 >/dev/null; "
        'echo "status=${PIPESTATUS[0]}" >&2'
    )
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=60)
    assert done.stderr.strip() == "status=0", done.stderr


def test_no_such_connection_is_said() -> None:
    result = CliRunner().invoke(main, ["show", str(CHAINS), "--connection", "99"])
    assert result.exit_code == 1  # an empty answer must not pass for "nothing wrong"
    assert "there is no connection 99; the capture holds 11 TLS connections" in result.stderr
    result = CliRunner().invoke(main, ["certs", str(CHAINS), "--connection", "0"])
    assert "there is no connection 0" in result.stderr and result.exit_code == 1


# -- item 4: the HTTP/1 summary with a long first request line ------------------------------


def test_http1_summary_with_a_long_request_line() -> None:
    import io

    from tlslens.decrypt.http import summarize

    c2s = io.BytesIO(b"GET /a/rather/long/path/to/a/resource.css HTTP/1.1\r\nHost: x\r\n\r\n")
    s2c = io.BytesIO(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi")
    protocol, lines = summarize(c2s, s2c)
    assert protocol == "HTTP/1.x"
    assert lines == ["GET /a/rather/long/path/to/a/resource.css (host x) -> 200 OK (2 bytes)"]


@pytest.mark.parametrize(
    ("name", "options", "first"),
    [
        (
            "wireshark/dmgr.pcapng",
            ["--rsa-key", "wireshark/keys/key.p12:WebAS"],
            "GET /ibm/console/unsecureLogon.jsp (host localhost:9131) -> 200 OK",
        ),
        (
            "wireshark/challenge01_ooo_stream.pcapng.gz",
            [],
            "GET /bootstrap.bundle.min.js (host 25th.syn-bit.nl) -> 200 OK",
        ),
    ],
)
def test_http1_summary_on_corpus_captures(
    name: str, options: list[str], first: str, corpus: Path
) -> None:
    options = [str(corpus / o) if "/" in o else o for o in options]
    result = CliRunner().invoke(main, ["decrypt", str(corpus / name), *options])
    assert result.exit_code == 0, result.output
    assert "HTTP/1.x:" in result.stdout
    assert first in result.stdout


# -- item 13: every value the user reads is worded -------------------------------------------

LEAKS = re.compile(
    r"ParseError|<Name\(|<DNSName|<[A-Za-z]+Name\(|Unknown OID|path length None|"
    r"\{'c2s'|b'\\x|b\"\\x|ObjectIdentifier\("
)


def _corpus_names(corpus: Path) -> list[tuple[str, list[str]]]:
    captures = json.loads((corpus / "ground_truth.json").read_text())["captures"]
    return [(name, key_options(info)) for name, info in sorted(captures.items())]


def test_no_internals_leak_into_what_users_read(corpus: Path) -> None:
    runner = CliRunner()
    leaks = []
    with _cwd(corpus), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for name, options in _corpus_names(corpus):
            for command in (["show", "--json"], ["show"], ["certs"]):
                result = runner.invoke(main, [*command, name, *options])
                for line in (result.stdout + result.stderr).splitlines():
                    if LEAKS.search(line):
                        leaks.append(f"{' '.join(command)} {name}: {line.strip()[:200]}")
    assert leaks == []
    # A library warning would reach the user's terminal as a traceback-like line.
    assert [str(w.message)[:80] for w in caught] == []


def test_wording_of_cryptography_errors() -> None:
    from tlslens.x509.wording import error_text

    raw = (
        'error parsing asn1 value: ParseError { kind: EncodedDefault, location: ["OCSPResponse::'
        'response_bytes", "ResponseData::version"] }'
    )
    assert error_text(raw) == (
        "malformed DER: a field that encodes its DEFAULT value, which DER forbids in "
        "OCSPResponse.response_bytes > ResponseData.version"
    )
    assert error_text("ParseError { kind: ShortData { needed: 3 } }") == (
        "malformed DER: data that ends too early (3 more bytes needed)"
    )
    assert error_text("ParseError { kind: ShortData { needed: 1 } }") == (
        "malformed DER: data that ends too early (1 more byte needed)"
    )


# -- item 17: unusable secrets are said before the capture is read ----------------------------

DEMO = CAPTURES / "demo-tls12-tls13.pcapng"


@pytest.mark.parametrize(
    ("args", "env", "option"),
    [
        (["--keylog", "/nonexistent/k.log"], {}, "--keylog"),
        (["--rsa-key", str(CAPTURES / "chains.keys")], {}, "--rsa-key"),
        (["--psk", "zz"], {}, "--psk"),
        ([], {"SSLKEYLOGFILE": "/nonexistent/k.log"}, "SSLKEYLOGFILE"),
        (["--ca", "/nonexistent/root.pem"], {}, "--ca"),
    ],
)
@pytest.mark.parametrize("command", ["show", "certs", "decrypt"])
def test_unusable_secret_is_a_usage_error(
    command: str, args: list[str], env: dict[str, str], option: str
) -> None:
    if command == "decrypt" and option == "--ca":
        return  # decrypt checks no chain
    result = CliRunner().invoke(
        main, [command, str(DEMO), *args], env={"SSLKEYLOGFILE": None, **env}
    )
    assert result.exit_code == 2, result.output
    assert f"Invalid value for {option}" in result.stderr
    assert result.stdout == ""  # the capture was not read


def test_garbage_key_log_is_summarised(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.log"
    garbage.write_text("".join(f"line {i} is no key log\n" for i in range(40_000)))
    result = CliRunner().invoke(main, ["show", str(DEMO), "--keylog", str(garbage)])
    assert result.exit_code == 0
    lines = result.stderr.splitlines()
    assert len(lines) <= 8
    assert "garbage.log, line 1: unknown label 'line'" in lines[0]
    assert "... and 39995 more key log lines that cannot be used" in result.stderr
    assert "no usable secret in what was given" in result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("Decryption")]
    assert len(rows) == 2
    assert all(
        "no secret: no usable secret was given and the capture carries none: client random " in r
        for r in rows
    )


# -- item 19: the lab PKI refuses to overwrite a CA or to speak for another's certificates ----


def _pki(*args: str) -> Result:
    return CliRunner().invoke(main, ["pki", *args])


def test_pki_init_refuses_to_overwrite_a_ca(tmp_path: Path) -> None:
    lab = tmp_path / "lab"
    assert _pki("init", str(lab)).exit_code == 0
    root_key = (lab / "root.key").read_bytes()
    again = _pki("init", str(lab))
    assert again.exit_code == 1
    assert "already holds a CA (root.pem, root.key" in again.output
    assert "--force" in again.output
    assert (lab / "root.key").read_bytes() == root_key
    assert _pki("init", str(lab), "--force").exit_code == 0
    assert (lab / "root.key").read_bytes() != root_key


def test_pki_csr_refuses_to_replace_a_key(tmp_path: Path) -> None:
    """A key that a certificate was issued for is not replaced without --force (it was,
    without a word: newcomer's trial)."""
    prefix = str(tmp_path / "web")
    assert _pki("csr", "--cn", "web.lab", "--out", prefix).exit_code == 0
    key = (tmp_path / "web.key").read_bytes()
    again = _pki("csr", "--cn", "web.lab", "--out", prefix)
    assert again.exit_code == 1
    assert "web.key already exists" in again.output and "--force" in again.output
    assert (tmp_path / "web.key").read_bytes() == key
    assert _pki("csr", "--cn", "web.lab", "--out", prefix, "--force").exit_code == 0
    assert (tmp_path / "web.key").read_bytes() != key


def test_pki_rsa_ca_shows_the_rsa_signature_walk(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    from tlslens.x509 import explain_signature

    lab = tmp_path / "lab"
    assert _pki("init", str(lab), "--key-type", "rsa").exit_code == 0
    root = x509.load_pem_x509_certificate((lab / "root.pem").read_bytes())
    inter = x509.load_pem_x509_certificate((lab / "intermediate.pem").read_bytes())
    assert isinstance(root.public_key(), rsa.RSAPublicKey)
    assert isinstance(inter.public_key(), rsa.RSAPublicKey)
    assert _pki("csr", "--cn", "web.lab", "--out", str(lab / "web")).exit_code == 0
    signed = _pki("sign", str(lab / "web.csr"), "--ca-dir", str(lab), "--out", str(lab / "web.pem"))
    assert signed.exit_code == 0
    leaf = x509.load_pem_x509_certificate((lab / "web.pem").read_bytes())
    text = " ".join(explain_signature(leaf, inter))
    assert "RSA PKCS#1 v1.5: raising the signature to the public exponent" in text
    assert "they are equal." in text


def test_pki_ocsp_refuses_another_cas_certificate(tmp_path: Path) -> None:
    for name in ("a", "b"):
        assert _pki("init", str(tmp_path / name), "--intermediate-cn", f"CA {name}").exit_code == 0
    a = tmp_path / "a"
    assert _pki("csr", "--cn", "web.lab", "--out", str(a / "web")).exit_code == 0
    assert (
        _pki("sign", str(a / "web.csr"), "--ca-dir", str(a), "--out", str(a / "web.pem")).exit_code
        == 0
    )
    result = _pki(
        "ocsp",
        str(a / "web.pem"),
        "--ca-dir",
        str(tmp_path / "b"),
        "--out",
        str(tmp_path / "x.ocsp"),
    )
    assert result.exit_code == 1
    assert (
        "was issued by CN=CA a,O=tlslens lab, not by this CA (CN=CA b,O=tlslens lab)"
        in result.output
    )
    assert not (tmp_path / "x.ocsp").exists()


def test_pki_revoke_publishes_a_crl(tmp_path: Path) -> None:
    lab = tmp_path / "lab"
    assert _pki("init", str(lab)).exit_code == 0
    assert _pki("csr", "--cn", "web.lab", "--out", str(lab / "web")).exit_code == 0
    assert (
        _pki(
            "sign", str(lab / "web.csr"), "--ca-dir", str(lab), "--out", str(lab / "web.pem")
        ).exit_code
        == 0
    )
    result = _pki("revoke", str(lab / "web.pem"), "--ca-dir", str(lab))
    assert result.exit_code == 0, result.output
    assert "signs a CRL listing 1 revoked certificate," in result.output
    crl = x509.load_der_x509_crl((lab / "intermediate.crl").read_bytes())
    inter = x509.load_pem_x509_certificate((lab / "intermediate.pem").read_bytes())
    leaf = x509.load_pem_x509_certificate((lab / "web.pem").read_bytes())
    assert crl.is_signature_valid(inter.public_key())  # type: ignore[arg-type]
    assert crl.get_revoked_certificate_by_serial_number(leaf.serial_number) is not None
    # Revoking a second certificate keeps the first on the list.
    assert _pki("csr", "--cn", "b.lab", "--out", str(lab / "b")).exit_code == 0
    assert (
        _pki(
            "sign", str(lab / "b.csr"), "--ca-dir", str(lab), "--out", str(lab / "b.pem")
        ).exit_code
        == 0
    )
    assert _pki("revoke", str(lab / "b.pem"), "--ca-dir", str(lab)).exit_code == 0
    crl = x509.load_der_x509_crl((lab / "intermediate.crl").read_bytes())
    assert len(list(crl)) == 2


# -- item 12: the trust tree is the path the validator built ----------------------------------


def _tree(text: str) -> list[str]:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Verdict as of"))
    tree = []
    for line in lines[start + 1 :]:
        if line.startswith("  No host name"):
            continue
        if not line.startswith("  ") or line.startswith("  The leaf had") or "✗" in line:
            break
        tree.append(line.strip())
    return tree


def test_trusted_tree_ends_at_the_stores_root(corpus: Path) -> None:
    # The server sends a cross-signed GTS Root R1; the validator ends at the store's own.
    result = CliRunner().invoke(main, ["certs", str(corpus / "zeek" / "google-cert-repeat.pcap")])
    tree = _tree(result.stdout)
    assert tree[0] == (
        "CN=GTS Root R1,O=Google Trust Services LLC,C=US [trust anchor, from the mozilla store]"
    )
    assert not any("not trusted" in line or "not in the" in line for line in tree)


def test_untrusted_tree_ends_at_the_missing_issuer() -> None:
    keys = CAPTURES / "demo-tls12-tls13.keys"
    result = CliRunner().invoke(
        main, ["certs", str(DEMO), "--keylog", str(keys), "--connection", "1"]
    )
    tree = _tree(result.stdout)
    assert tree == [
        "CN=tlslens lab root CA,O=tlslens lab [missing: not sent, not in the mozilla store]",
        "└─ CN=tlslens lab intermediate CA,O=tlslens lab",
        "└─ CN=tlslens.test,O=tlslens lab",
    ]
    root = CAPTURES.parent / "pki" / "root.pem"
    trusted = CliRunner().invoke(
        main, ["certs", str(DEMO), "--keylog", str(keys), "--connection", "1", "--ca", str(root)]
    )
    assert _tree(trusted.stdout)[0] == (
        f"CN=tlslens lab root CA,O=tlslens lab [trust anchor, from --ca {root}]"
    )


def test_self_signed_root_not_in_the_store_is_named_so() -> None:
    frames = CAPTURES / "chains.pcapng"  # connection 8 sends the lab root itself
    result = CliRunner().invoke(main, ["certs", str(frames), "--connection", "8"])
    assert _tree(result.stdout)[0] == (
        "CN=chains lab root CA,O=tlslens lab [root, not in the mozilla store]"
    )


# -- item 3: each handshake of a connection, with its own keys at its own step ----------------


def test_renegotiation_keeps_the_first_handshake_and_lists_each(corpus: Path) -> None:
    base = corpus / "wireshark"
    row = _show_json(
        str(base / "rsasnakeoil2.pcap"), "--rsa-key", str(base / "keys" / "rsasnakeoil2.key")
    )[0]
    assert row["schema_version"] == 8
    # The renegotiations leave the outcome of the connection as its first handshake's.
    assert row["outcome"]["status"] == "completed"
    assert (row["version"], row["cipher_suite"]) == ("SSL 3.0", "TLS_RSA_WITH_AES_256_CBC_SHA")
    assert [(h["cipher_suite"], h["first_frame"]) for h in row["handshakes"]] == [
        ("TLS_RSA_WITH_AES_256_CBC_SHA", 4),
        ("TLS_RSA_WITH_3DES_EDE_CBC_SHA", 14),
    ]
    assert all(
        h["key_exchange"] == "RSA" and len(h["certificates"]) == 1 for h in row["handshakes"]
    )
    text = (
        CliRunner()
        .invoke(
            main,
            [
                "show",
                str(base / "rsasnakeoil2.pcap"),
                "--rsa-key",
                str(base / "keys" / "rsasnakeoil2.key"),
            ],
        )
        .stdout
    )
    first = text.index("Key derivation\n")
    second = text.index("Key derivation (renegotiation 1)")
    # The renegotiation's premaster (0300114444ab…) is told at its own step, after its
    # ServerHello, and the first handshake's at the first step.
    assert first < text.index("ServerHello (decrypted)") < second
    assert "0300ff84566d" in text[first:second] and "0300114444ab" not in text[first:second]
    assert "0300114444ab" in text[second:]


def _tshark_masters(tshark: str, capture: Path, options: list[str], tmp_path: Path) -> list[str]:
    import subprocess

    debug = tmp_path / "tls-debug.txt"
    subprocess.run(
        [tshark, "-r", str(capture), *options, "-o", f"tls.debug_file:{debug}", "-V"],
        capture_output=True,
        check=True,
        timeout=120,
    )
    lines = debug.read_text(errors="replace").splitlines()
    masters = []
    for i, line in enumerate(lines):
        if line.startswith("master secret[48]:"):
            hexes = "".join("".join(row[2:49].split()) for row in lines[i + 1 : i + 4])
            masters.append(hexes)
    return masters


def test_each_handshakes_master_secret_matches_tshark(
    corpus: Path, tshark: str, tmp_path: Path
) -> None:
    base = corpus / "wireshark"
    capture = base / "tls-renegotiation.pcap"
    key = base / "keys" / "rsasnakeoil2.key"
    theirs = _tshark_masters(
        tshark, capture, ["-o", f'uat:rsa_keys:"{key}",""', "-d", "tcp.port==4433,tls"], tmp_path
    )
    assert len(theirs) == 3  # frames 8, 17 and 26; the two resumptions after reuse the third
    (conn,) = [c for c in tlslens.read_capture(capture, keys=_rsa_store(key))]
    ours = [dict(d.values)["master_secret"].hex() for d in conn.decryption.derivations]
    assert ours[:3] == theirs
    assert ours[3:] == [theirs[2], theirs[2]]
    sources = [d.source for d in conn.decryption.derivations]
    assert sources[:3] == ["rsa_key"] * 3
    assert all(source.startswith("resumed_") for source in sources[3:])


def _rsa_store(key: Path) -> KeyStore:
    from tlslens.keys.files import load_rsa_key

    store = KeyStore()
    store.rsa_keys.append(load_rsa_key(key))
    return store


# -- item 14: wording that was false -------------------------------------------------------


def test_plain_psk_has_no_server_key_to_leak() -> None:
    capture = CAPTURES / "openssl-ciphers.pcapng"
    text = (
        CliRunner()
        .invoke(main, ["show", str(capture), "--psk", "1a2b3c4d5e6f70819293a4b5c6d7e8f9"])
        .stdout
    )
    psk_rows = [
        line
        for line in text.splitlines()
        if line.startswith("Forward secrecy") and "pre-shared" in line
    ]
    assert psk_rows == [
        "Forward secrecy  no: whoever holds the pre-shared key can open recorded sessions"
    ]


def test_at_before_the_capture_is_not_called_the_capture() -> None:
    (row,) = _show_json(str(CHAINS), "--connection", "3", "--at", "2020-01-01T00:00Z")
    messages = " ".join(p["message"] for p in row["validation"]["problems"])
    assert "before the capture" not in messages and "after the capture" not in messages
    assert "after 2020-01-01 00:00 UTC, the time checked" in messages


def test_ssl3_key_derivation_is_not_called_a_tls_prf(corpus: Path) -> None:
    text = (
        CliRunner().invoke(main, ["show", str(corpus / "wireshark" / "rsasnakeoil2.pcap")]).stdout
    )
    assert "SSL 3.0's own, not a TLS PRF" in text
    assert "TLS 1.0/1.1 PRF" not in text


def test_renegotiation_asked_but_never_answered() -> None:
    from tlslens.model import Endpoint
    from tlslens.tls.session import TLSSession

    from test_handshake import CLIENT_HELLO_BODY

    def record(ctype: int, body: bytes) -> bytes:
        return bytes([ctype]) + b"\x03\x03" + len(body).to_bytes(2, "big") + body

    def handshake(msg_type: int, body: bytes) -> bytes:
        return bytes([msg_type]) + len(body).to_bytes(3, "big") + body

    server_hello = bytes.fromhex("0303") + bytes(32) + b"\x00" + bytes.fromhex("c02f00")
    session = TLSSession(
        0,
        (Endpoint(b"\x0a\0\0\x01", 50000), Endpoint(b"\x0a\0\0\x02", 443)),
        1,
        0,
        client_side=0,
        mid_stream=False,
    )
    ch = record(22, handshake(1, CLIENT_HELLO_BODY))
    session.data(0, 0, ch, 1, 1000)
    session.data(1, 0, record(22, handshake(2, server_hello)), 2, 2000)
    session.data(0, len(ch), ch, 3, 3000)  # a second ClientHello: renegotiation asked
    session.data(1, 47, record(21, b"\x02\x28"), 4, 4000)  # handshake_failure
    conn = session.finish()
    assert conn is not None and conn.renegotiation
    assert len(conn.handshakes) == 2 and conn.handshakes[1].server_hello is None
    from tlslens.explain import summary_lines

    words = dict(summary_lines(conn))["Renegotiation"]
    assert words == "asked by the client (frame 3), never answered by the server with a ServerHello"


# -- item 22: which algorithms are symmetric and which asymmetric -----------------------------


@pytest.mark.parametrize(
    ("capture", "expected"),
    [
        (
            "openssl-versions.pcapng",
            "Asymmetric: ECDHE (key agreement), RSA (signature over the key exchange); "
            "symmetric: AES-128 in GCM mode (bulk encryption and integrity).",
        ),
        (
            "openssl-versions.pcapng",
            "Asymmetric: RSA (key transport: the client encrypts the premaster secret to the "
            "server's key); symmetric: AES-128 in CBC mode (bulk encryption), HMAC-SHA-1 "
            "(integrity).",
        ),
        (
            "demo-tls12-tls13.pcapng",
            "Asymmetric: ECDHE (key agreement, from key_share), the certificate's key "
            "(signature, in CertificateVerify); symmetric: AES-256 in GCM mode (bulk "
            "encryption and integrity).",
        ),
        (
            "openssl-ciphers.pcapng",
            "Asymmetric: none: the pre-shared key replaces public-key cryptography; "
            "symmetric: AES-128 in GCM mode (bulk encryption and integrity).",
        ),
    ],
)
def test_symmetric_and_asymmetric_named(capture: str, expected: str) -> None:
    text = CliRunner().invoke(main, ["show", str(CAPTURES / capture)]).stdout
    assert expected in [line.strip() for line in text.splitlines()]


# -- item 16: a progress bar on stderr whenever stderr is a terminal ---------------------------


def _run_with_stderr_on_a_terminal(args: list[str]) -> tuple[bytes, bytes, int]:
    import os
    import pty
    import subprocess
    import sys

    leader, follower = pty.openpty()
    env = {**os.environ, "TLSLENS_PROGRESS_AFTER_S": "0", "TERM": "xterm", "COLUMNS": "100"}
    env.pop("SSLKEYLOGFILE", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "tlslens", *args],
        stdout=subprocess.PIPE,
        stderr=follower,
        env=env,
    )
    os.close(follower)
    out = process.communicate(timeout=120)[0]
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    os.close(leader)
    return out, seen, process.returncode


@pytest.mark.parametrize("as_json", [True, False])
def test_progress_bar_on_a_terminal_stderr_whatever_stdout_is(as_json: bool) -> None:
    args = ["show", *(["--json"] if as_json else []), str(CAPTURES / "openssl-versions.pcapng")]
    out, terminal, status = _run_with_stderr_on_a_terminal(args)
    assert status == 0
    assert b"openssl-versions.pcapng" in terminal and "━".encode() in terminal  # the bar
    if as_json:
        rows = [json.loads(line) for line in out.splitlines()]
        assert len(rows) == 6  # stdout holds the JSON Lines and nothing of the bar
    assert "━".encode() not in out


def test_no_progress_bar_when_stderr_is_not_a_terminal() -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "TLSLENS_PROGRESS_AFTER_S": "0"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tlslens",
            "show",
            "--json",
            str(CAPTURES / "openssl-versions.pcapng"),
        ],
        capture_output=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0 and done.stderr == b""


# -- item 26: the demo shows the point -------------------------------------------------------


def test_make_demo_decrypts_verifies_and_trusts() -> None:
    from conftest import ROOT

    makefile = (ROOT / "Makefile").read_text()
    demo = re.search(r"^DEMO := (.*)$", makefile, re.M)
    args = re.search(r"^DEMO_ARGS := (.*)$", makefile, re.M)
    assert demo and args and "$(DEMO_ARGS)" in makefile
    options = [str(ROOT / a) if "/" in a else a for a in args[1].split()]
    text = CliRunner().invoke(main, ["show", str(ROOT / demo[1]), *options]).stdout
    assert text.count("Trust            trusted (mozilla+ca)") == 2
    assert text.count("both Finished verify") == 2
    assert "Key derivation" in text


# -- item 9: a ClientHello answered in plaintext ----------------------------------------------


@pytest.mark.parametrize(
    ("name", "first_line", "s2c_bytes"),
    [
        ("zeek/ssl-to-http-server.pcap", "HTTP/1.1 400 Bad Request", 341),
        ("zeek/https-to-http.pcap", "<!DOCTYPE HTML>", 468),
    ],
)
def test_plaintext_answer_to_a_client_hello_is_a_finding(
    name: str, first_line: str, s2c_bytes: int, corpus: Path
) -> None:
    row = _show_json(str(corpus / name))[0]
    assert f"the server answered in plaintext: {first_line!r}" in [
        p["message"] for p in row["problems"]
    ]
    assert row["bytes"]["s2c"]["total"] == s2c_bytes
    text = CliRunner().invoke(main, ["show", str(corpus / name)]).stdout
    assert "the server answered in plaintext" in text


def test_starttls_prelude_is_still_a_prelude(corpus: Path) -> None:
    # Plaintext before any TLS (SMTP, IMAP, XMPP...) stays a prelude, not a finding.
    preludes = 0
    for name in ("zeek/xmpp-starttls.pcap", "zeek/xmpp-dialback-starttls.pcap"):
        for row in _show_json(str(corpus / name)):
            preludes += row["starttls"] is not None
            assert not any("answered in plaintext" in p["message"] for p in row["problems"])
    assert preludes >= 2


# -- item 7: pre-standard TLS 1.3 ----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "version"),
    [
        (
            "zeek/chrome-63.0.3211.0-canary-tls_experiment.pcap",
            "TLS 1.3 (Google experiment 1, pre-standard)",
        ),
        ("wireshark/tls13-20-chacha20poly1305.pcap", "TLS 1.3 (draft 20)"),
    ],
)
def test_pre_standard_tls13_is_tls13(name: str, version: str, corpus: Path) -> None:
    for row in _show_json(str(corpus / name)):
        assert row["version"] == version
        assert row["key_exchange"] == "ECDHE" and row["group"] == "x25519"  # key_share, code 40
        assert row["forward_secrecy"] is True
        assert row["resumed"] is None  # not a session-ID resumption
    text = CliRunner().invoke(main, ["show", str(corpus / name)]).stdout
    assert "Its key share is on x25519" in text


def test_draft_codepoints_are_named() -> None:
    from tlslens import registry

    assert registry.version_name(0x7E02) == "TLS 1.3 (Google experiment 2, pre-standard)"
    assert registry.version_name(0x7F29) == "TLS 1.3 (draft 41)"
    assert registry.extension_name(40) == "key_share (TLS 1.3 drafts before 23)"


# -- item 21: the record layer, on request ---------------------------------------------------


def test_records_listed_as_tshark_frames_them(tshark: str) -> None:
    import subprocess

    capture = CAPTURES / "demo-tls12-tls13.pcapng"
    rows = _show_json(str(capture), "--records")
    ours = sorted(
        (r["frame"], r["content_type_id"], r["length"]) for row in rows for r in row["records"]
    )
    ports = sorted({int(row["server"].rsplit(":", 1)[1]) for row in rows})
    decode = [arg for port in ports for arg in ("-d", f"tcp.port=={port},tls")]
    # tshark names the outer type of a TLS 1.3 protected record opaque_type.
    fields = ["frame.number", "tls.record.content_type", "tls.record.opaque_type"]
    fields += ["tls.record.length"]
    done = subprocess.run(
        [tshark, "-r", str(capture), *decode, "-Y", "tls", "-T", "fields"]
        + [arg for field in fields for arg in ("-e", field)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    types, lengths = [], []
    for line in done.stdout.splitlines():
        frame, plain, opaque, sizes = line.split("\t")
        types += [(int(frame), int(t)) for t in (plain + "," + opaque).split(",") if t]
        lengths += [(int(frame), int(n)) for n in sizes.split(",")]
    assert sorted((f, t) for f, t, _n in ours) == sorted(types)
    assert sorted((f, n) for f, _t, n in ours) == sorted(lengths)
    assert all("records" not in row for row in _show_json(str(capture)))


def test_records_in_text_name_the_sub_protocols() -> None:
    text = CliRunner().invoke(main, ["show", str(DEMO), "--records", "--connection", "2"]).stdout
    assert "Record layer: 14 records, as framed on the wire:" in text
    assert "  #24     C → S  handshake, TLS 1.0, 218 bytes (header at byte 0)" in text
    for name in ("handshake", "change_cipher_spec", "alert", "application_data"):
        assert f"  {name}: " in text


# -- item 23: which connection issued the session being resumed -----------------------------

RESUMPTION = CAPTURES / "openssl-resumption.pcap"


def test_resumed_from_names_the_issuing_connection() -> None:
    keys = str(RESUMPTION.with_suffix(".keys"))
    rows = _show_json(str(RESUMPTION), "--keylog", keys)
    assert [(r["id"], r["resumed"], r["resumed_from"]) for r in rows] == [
        (1, None, None),
        (2, "session_id", 1),
        (3, None, None),
        (4, "ticket", 3),
        (5, None, None),
        (6, "psk", 5),
    ]
    # Without keys the TLS 1.3 ticket travels encrypted: its issuer cannot be named.
    assert _show_json(str(RESUMPTION))[5]["resumed_from"] is None


def test_resumption_narrated_as_an_abbreviated_handshake() -> None:
    keys = str(RESUMPTION.with_suffix(".keys"))
    text = CliRunner().invoke(main, ["show", str(RESUMPTION), "--keylog", keys]).stdout
    rows = [line for line in text.splitlines() if line.startswith("Resumed")]
    assert rows[0] == (
        "Resumed          yes, by session ID issued in connection 1: an abbreviated handshake: "
        "no Certificate, ServerKeyExchange, ServerHelloDone, ClientKeyExchange on the wire; no "
        "certificate is checked and no key exchange runs, the resumed master secret and fresh "
        "randoms give new keys"
    )
    assert "issued in connection 5" in rows[2] and "CertificateVerify" in rows[2]


def test_resumption_index_is_bounded() -> None:
    from tlslens.tls.resumption import ResumptionIndex

    conns = list(tlslens.read_capture(RESUMPTION))
    index = ResumptionIndex(max_sessions=1)
    index.learn(conns[0])
    index.learn(conns[2])  # its ticket pushes the first connection's session ID out
    assert len(index._issuers) == 1
    conns[1].id = 2
    assert index.resolve(conns[1]) is None


def _old_resumption_keys(conn: tlslens.Connection) -> tuple[list[object], list[object]]:
    """The keys as tls/resumption.py read them in Python before the core did: the oracle."""
    import hashlib

    from tlslens._core import OfferedPSKs
    from tlslens.handshake import extensions as ext

    def short(kind: str, value: bytes) -> tuple[str, bytes]:
        return kind, hashlib.sha256(value).digest()[:16] if len(value) > 16 else value

    presented = []
    ch = conn.client_hello
    if ch is not None and conn.resumed is not None:
        ticket = ch.extension(ext.SESSION_TICKET)
        if ticket is not None and ticket.data:
            presented.append(short("ticket", ticket.data))
        psk = ext.decoded_in(ch, ext.PRE_SHARED_KEY, OfferedPSKs)
        for identity in psk.identities if psk is not None else []:
            presented.append(short("ticket", identity.identity))
        if ch.legacy_session_id:
            presented.append(short("session_id", ch.legacy_session_id))
    issued = []
    sh = conn.server_hello
    if sh is not None and sh.legacy_session_id and not conn.resumed and not conn.tls13:
        issued.append(short("session_id", sh.legacy_session_id))
    issued += [short("ticket", ticket) for ticket in conn.issued_tickets]
    return presented, issued


@pytest.mark.parametrize("keyed", [False, True])
def test_resumption_keys_are_those_python_read(keyed: bool) -> None:
    """Session IDs and tickets (short ones as they are, long ones by their hash), presented
    and issued, over TLS 1.2 and 1.3 resumptions with and without the key log."""
    from tlslens import _core
    from tlslens.keys.files import add_keylog_file

    keys = None
    if keyed:
        keys = KeyStore()
        add_keylog_file(keys, RESUMPTION.with_suffix(".keys"))
    conns = list(tlslens.read_capture(RESUMPTION, keys=keys))
    both = [_core.resumption_keys(conn) for conn in conns]
    assert [(list(p), list(i)) for p, i in both] == [_old_resumption_keys(c) for c in conns]
    assert any(p for p, _ in both) and any(i for _, i in both)
    assert {kind for p, i in both for kind, _ in p + i} == {"ticket", "session_id"}


def test_resumption_index_settles_as_it_resolves_then_learns() -> None:
    from tlslens.tls.resumption import ResumptionIndex

    conns = list(tlslens.read_capture(RESUMPTION))
    linked, stepwise = ResumptionIndex(), ResumptionIndex()
    issuers = []
    for number, conn in enumerate(conns, 1):
        conn.id = number
        expected = stepwise.resolve(conn)
        stepwise.learn(conn)
        issuers.append(linked.settle(conn))
        assert issuers[-1] == expected
        assert linked._issuers == stepwise._issuers
    assert any(issuer is not None for issuer in issuers)


# -- item 25: handshake timing, as seen at the capture point -------------------------------


def test_handshake_timing_agrees_with_tshark_frame_times(tshark: str) -> None:
    import subprocess

    keys = RESUMPTION.with_suffix(".keys")
    rows = _show_json(str(RESUMPTION), "--keylog", str(keys))
    port = int(rows[0]["server"].rsplit(":", 1)[1])
    done = subprocess.run(
        [
            tshark,
            "-r",
            str(RESUMPTION),
            "-o",
            f"tls.keylog_file:{keys}",
            "-d",
            f"tcp.port=={port},tls",
            "-Y",
            "tls.handshake.type or tcp.flags.syn == 1",
            "-T",
            "fields",
            "-e",
            "tcp.stream",
            "-e",
            "frame.time_epoch",
            "-e",
            "tls.handshake.type",
            "-e",
            "tcp.flags.syn",
            "-e",
            "tcp.flags.ack",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    times: dict[int, dict[str, list[float]]] = {}
    for line in done.stdout.splitlines():
        stream, when, types, syn, ack = line.split("\t")
        entry = times.setdefault(
            int(stream), {"ch": [], "sh": [], "fin": [], "syn": [], "synack": []}
        )
        kinds = [int(t) for t in types.split(",") if t]
        t = float(when) * 1000
        if 1 in kinds:
            entry["ch"].append(t)
        if 2 in kinds:
            entry["sh"].append(t)
        if 20 in kinds:
            entry["fin"].append(t)
        if syn in ("1", "True"):
            entry["synack" if ack in ("1", "True") else "syn"].append(t)
    for row in rows:
        entry = times[row["tcp_stream"]]
        timing = row["timing"]
        first_finished = sorted(entry["fin"])[:2]
        assert timing["handshake_ms"] == pytest.approx(
            max(first_finished) - entry["ch"][0], abs=0.002
        )
        assert timing["client_hello_to_server_hello_ms"] == pytest.approx(
            entry["sh"][0] - entry["ch"][0], abs=0.002
        )
        assert timing["tcp_handshake_ms"] == pytest.approx(
            entry["synack"][0] - entry["syn"][0], abs=0.002
        )


def test_timing_without_keys_and_the_savings_summary() -> None:
    rows = _show_json(str(RESUMPTION))
    with_keys = _show_json(str(RESUMPTION), "--keylog", str(RESUMPTION.with_suffix(".keys")))
    for plain, keyed in zip(rows, with_keys, strict=True):
        assert plain["timing"] == keyed["timing"]  # encrypted Finished are timed all the same
    text = CliRunner().invoke(main, ["show", str(RESUMPTION)]).stdout
    assert re.search(
        r"full handshakes [\d.]+ ms \(median of 3\), abbreviated [\d.]+ ms \(median of 3\): "
        r"resumption saved [\d.]+ ms a handshake\.",
        text,
    )


def test_timing_is_null_where_a_packet_is_missing(corpus: Path) -> None:
    # An aborted handshake: ClientHellos and no ServerHello.
    name = "zeek/tls13draft16-chrome55.0.2879.0-canary-aborted.pcap"
    for row in _show_json(str(corpus / name)):
        assert row["timing"]["tcp_handshake_ms"] is not None
        assert row["timing"]["client_hello_to_server_hello_ms"] is None
        assert row["timing"]["handshake_ms"] is None


# -- item 5: a real-world stapled OCSP answer with an explicit default version ---------------


def test_explicit_default_version_in_a_stapled_ocsp_answer(corpus: Path) -> None:
    row = _show_json(str(corpus / "zeek" / "ocsp-stapling.pcap"))[0]
    ocsp_check = row["validation"]["ocsp"]
    assert ocsp_check["status"] == "good"
    assert ocsp_check["responder"].startswith("a responder the CA authorised: CN=VeriSign")
    assert "encodes the default version (v1) explicitly" in ocsp_check["notes"][0]
    assert not [p for p in row["validation"]["problems"] if p["code"].startswith("ocsp")]
    text = CliRunner().invoke(main, ["certs", str(corpus / "zeek" / "ocsp-stapling.pcap")]).stdout
    assert (
        "Stapled OCSP: good" in text and "Note: the responder encodes the default version" in text
    )


def _explicit_version(der: bytes, resign: object | None) -> bytes:
    """The same OCSP response with version [0] EXPLICIT INTEGER 0 written out, re-signed
    over the new bytes when ``resign`` (the issuer's key) is given."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509 import ocsp

    from tlslens.x509.asn1 import _children, _header, _tlv

    _, start, length = _header(der, 0)
    status, wrapper = _children(der, start, length)
    _, rb_start, rb_len = _header(der, _header(der, wrapper[1])[1])
    oid, octets = _children(der, rb_start, rb_len)
    _, basic_at, _ = _header(der, octets[1])
    basic = der[basic_at : octets[2]]
    _, b_start, b_len = _header(basic, 0)
    tbs, _alg, signature, *rest = _children(basic, b_start, b_len)
    _, t_start, t_len = _header(basic, tbs[1])
    new_tbs = _tlv(0x30, bytes.fromhex("a003020100") + basic[t_start : t_start + t_len])
    sig = basic[signature[1] : signature[2]]
    if resign is not None:
        assert isinstance(resign, ec.EllipticCurvePrivateKey)
        sig = _tlv(0x03, b"\0" + resign.sign(new_tbs, ec.ECDSA(hashes.SHA256())))
    new_basic = _tlv(
        0x30, new_tbs + basic[_alg[1] : _alg[2]] + sig + b"".join(basic[s:e] for _t, s, e in rest)
    )
    rb = _tlv(0x30, der[oid[1] : oid[2]] + _tlv(0x04, new_basic))
    out = _tlv(0x30, der[status[1] : status[2]] + _tlv(0xA0, rb))
    try:
        ocsp.load_der_ocsp_response(out)
    except ValueError as exc:
        assert "EncodedDefault" in str(exc)  # cryptography refuses it, as it did in the capture
    else:
        raise AssertionError("cryptography accepted an explicit default version")
    return out


def test_explicit_version_is_mended_and_the_signature_checked_over_the_bytes_sent() -> None:
    import datetime as dt

    from tlslens.x509 import pki as lab
    from tlslens.x509.ocsp import check_stapled_ocsp

    now = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    root = lab.make_root("quirk root", now=now)
    inter = lab.make_intermediate("quirk CA", root, now=now)
    csr, _key, _story = lab.make_csr("quirk.lab", ["quirk.lab"])
    leaf = lab.sign_csr(csr, inter, now=now).certificate
    der, _ = lab.make_ocsp_response(leaf, inter, now=now)
    resigned = _explicit_version(der, inter.key)
    check = check_stapled_ocsp(resigned, leaf, inter.certificate, now)
    assert (check.status, check.responder, check.problems) == ("good", "the issuing CA", [])
    assert check.notes and "explicitly" in check.notes[0]
    # Changed bytes under the old signature: the check is over the bytes as sent, so it fails.
    tampered = check_stapled_ocsp(_explicit_version(der, None), leaf, inter.certificate, now)
    assert tampered.status == "invalid"
    assert "does not verify" in tampered.problems[0][1]


# -- item 20: handshake signatures verified ---------------------------------------------------


def test_every_handshake_signature_of_our_captures_verifies() -> None:
    checked = []
    for capture in sorted(CAPTURES.glob("*.pcap*")):
        keys = capture.with_suffix(".keys")
        for row in _show_json(str(capture), *(["--keylog", str(keys)] if keys.exists() else [])):
            for check in row["handshake_signatures"]:
                checked.append((capture.name, row["id"], check["message"], check["direction"]))
                assert check["verified"] is True, (capture.name, row["id"], check)
    kinds = {(m, d) for _c, _i, m, d in checked}
    assert kinds == {
        ("server_key_exchange", "s2c"),
        ("certificate_verify", "s2c"),  # TLS 1.3, once decrypted
        ("certificate_verify", "c2s"),  # client authentication, TLS 1.2 and 1.3
    }


def test_tls13_certificate_verify_without_keys_is_null() -> None:
    row = _show_json(str(DEMO))[0]
    assert row["version"] == "TLS 1.3"
    assert row["handshake_signatures"] == [
        {
            "message": "certificate_verify",
            "direction": "s2c",
            "scheme": "unknown (encrypted)",
            "verified": None,
            "reason": "TLS 1.3 encrypts it: give the key log to check it",
        }
    ]


def test_a_tampered_server_key_exchange_signature_fails() -> None:
    from test_properties import _connection_streams

    from tlslens.handshake import messages as hs
    from tlslens.tls.session import TLSSession

    ends, chunks = _connection_streams(CAPTURES / "demo-tls12-tls13.pcapng")[1]

    def replay(chunks: list[tuple[int, bytes]]) -> tlslens.Connection:
        session = TLSSession(0, ends, 1, 0, client_side=0, mid_stream=False)
        offsets = [0, 0]
        for frame, (side, data) in enumerate(chunks, start=1):
            session.data(side, offsets[side], data, frame, 0)
            offsets[side] += len(data)
        conn = session.finish()
        assert conn is not None
        return conn

    good = replay(chunks)
    assert [c.verified for c in good.handshake_signatures] == [True]
    ske = next(
        e
        for e in good.timeline
        if isinstance(e, HandshakeEvent) and isinstance(e.message, hs.ServerKeyExchange)
    )
    last = ske.offset + ske.length - 1  # the last byte of the signature, in the s2c stream
    stream = b"".join(d for s, d in chunks if s == 1)
    tampered = stream[:last] + bytes([stream[last] ^ 1]) + stream[last + 1 :]
    bad = replay([(0, b"".join(d for s, d in chunks if s == 0)), (1, tampered)])
    (check,) = bad.handshake_signatures
    assert check.verified is False
    assert check.reason == "the signature does not verify with the certificate's public key"
    text = " ".join(line for step in tlslens.explain.explain(bad) for line in step.lines)
    assert "it does NOT verify" in text


def test_no_corpus_signature_fails(corpus: Path) -> None:
    verified = 0
    with _cwd(corpus):
        for name, options in _corpus_names(corpus):
            for args in ([], options):
                result = CliRunner().invoke(main, ["show", "--json", name, *args])
                for line in result.stdout.splitlines():
                    for check in json.loads(line)["handshake_signatures"]:
                        assert check["verified"] is not False, (name, check)
                        verified += check["verified"] is True
    assert verified >= 350  # 353 when written: RSA, ECDSA, DSA, PSS, TLS 1.0 to 1.3


# -- item 24: client authentication -----------------------------------------------------------

CLIENT_AUTH = CAPTURES / "openssl-hrr-clientauth.pcapng"
LAB_ROOT = CAPTURES.parent / "pki" / "root.pem"


def test_certificate_request_names_its_cas_and_types() -> None:
    keys = str(CLIENT_AUTH.with_suffix(".keys"))
    rows = _show_json(str(CLIENT_AUTH), "--keylog", keys)
    tls12 = rows[1]["client_auth"]
    assert tls12["certificate_types"] == ["rsa_sign", "dss_sign", "ecdsa_sign"]
    assert tls12["authorities"] == ["CN=tlslens lab root CA,O=tlslens lab"]
    tls13 = rows[0]["client_auth"]  # certificate_authorities extension, once decrypted
    assert tls13["authorities"] == ["CN=tlslens lab root CA,O=tlslens lab"]
    text = CliRunner().invoke(main, ["show", str(CLIENT_AUTH), "--keylog", keys]).stdout
    assert "Certificate types it accepts: rsa_sign, dss_sign, ecdsa_sign." in text
    assert "Issued by this CA: CN=tlslens lab root CA,O=tlslens lab." in text


def test_client_chain_validated_against_client_ca() -> None:
    keys = str(CLIENT_AUTH.with_suffix(".keys"))
    rows = _show_json(str(CLIENT_AUTH), "--keylog", keys, "--client-ca", str(LAB_ROOT))
    for row in rows[:2]:  # TLS 1.3 and TLS 1.2, both with a client certificate
        validation = row["client_auth"]["validation"]
        assert validation["trusted"] is True and validation["problems"] == []
        assert validation["trust_store"] == "client-ca"
    assert rows[2]["client_auth"]["validation"] is None  # no client certificate sent
    # Against the server's roots (Mozilla's) the lab client is not trusted, and says why.
    untrusted = _show_json(str(CLIENT_AUTH), "--keylog", keys)[1]["client_auth"]["validation"]
    assert untrusted["trusted"] is False
    assert [p["code"] for p in untrusted["problems"]] == ["untrusted_root"]
    text = (
        CliRunner()
        .invoke(main, ["certs", str(CLIENT_AUTH), "--keylog", keys, "--client-ca", str(LAB_ROOT)])
        .stdout
    )
    assert "The client's certificate (client authentication), leaf first:" in text
    assert "Client certificate verdict as of" in text and "roots: trusted" in text


def test_client_certificate_without_client_auth_usage_is_named(tmp_path: Path) -> None:
    from tlslens.x509 import TrustStore, validate

    pki = CAPTURES.parent / "pki"
    ders = [
        x509.load_pem_x509_certificate((pki / name).read_bytes()).public_bytes(
            serialization.Encoding.DER
        )
        for name in ("server.pem", "intermediate.pem")
    ]
    root = x509.load_pem_x509_certificate(LAB_ROOT.read_bytes())
    import datetime as dt

    result = validate(
        ders,
        hostname=None,
        at=dt.datetime(2026, 11, 27, tzinfo=dt.UTC),
        store=TrustStore("lab", [root]),
        client=True,
    )
    assert not result.trusted
    assert any("is not for TLS clients (no clientAuth)" in p.message for p in result.problems)


# -- item 6: online revocation answers describe now -------------------------------------------


def test_revoked_after_the_capture_leaves_the_capture_time_verdict(tmp_path: Path) -> None:
    import datetime as dt

    from test_revocation import NOW, lab, ocsp_responder

    from tlslens.explain import trust_lines
    from tlslens.net.revocation import RevocationChecker
    from tlslens.x509 import TrustStore, validate

    from conftest import require_program

    require_program("openssl", "openssl")
    captured = NOW - dt.timedelta(minutes=2)  # revoked (at NOW) after this capture
    der = serialization.Encoding.DER
    for status in ("R", "V"):
        with (
            lab() as (root, inter, leaf, ocsp_port),
            ocsp_responder(tmp_path, ocsp_port, inter, [(status, leaf)]),
        ):
            checker = RevocationChecker(timeout_s=5, now=NOW + dt.timedelta(seconds=30))
            results = checker.check_path([leaf, inter.certificate, root.certificate], captured)
            verdict = validate(
                [leaf.public_bytes(der), inter.certificate.public_bytes(der)],
                hostname="revoke.lab",
                at=captured,
                store=TrustStore("lab", [root.certificate]),
            )
            verdict.add_revocation(results)
        # Judged as of now: an answer produced after the capture is not "stale".
        assert all(p.code != "ocsp_stale" for p in verdict.problems), verdict.problems
        assert verdict.trusted and verdict.problems == []
        assert results[0].checked_at == NOW + dt.timedelta(seconds=30)
        text = "\n".join(trust_lines(verdict))
        assert "Online revocation, asked on" in text
        if status == "R":
            assert results[0].status == "revoked" and results[0].revoked_at is not None
            assert f"revoked since {NOW:%Y-%m-%d}, after this capture" in text
        else:
            assert results[0].status == "good"


def test_no_network_names_every_url_tried() -> None:
    from test_revocation import NOW, _free_port

    from tlslens.net.revocation import RevocationChecker
    from tlslens.x509 import pki as lab

    root = lab.make_root("r", now=NOW)
    crl_port, ocsp_port = _free_port(), _free_port()
    inter = lab.make_intermediate("i", root, now=NOW)
    csr, _key, _story = lab.make_csr("x.lab", ["x.lab"])
    leaf = lab.sign_csr(
        csr,
        inter,
        now=NOW,
        ocsp_url=f"http://127.0.0.1:{ocsp_port}/",
        crl_url=f"http://127.0.0.1:{crl_port}/i.crl",
    ).certificate
    result = RevocationChecker(timeout_s=2, now=NOW).check(leaf, inter.certificate, NOW)
    assert result.status == "unavailable"
    assert result.message.startswith("no answer: OCSP http://127.0.0.1:")
    assert f"; CRL http://127.0.0.1:{crl_port}/i.crl" in result.message


# -- item 8: SSL 2.0 decoded beyond the ClientHello ------------------------------------------


def test_sslv2_handshake_decoded_with_names(corpus: Path) -> None:
    capture = corpus / "wireshark-notes" / "ssl3" / "sslv2.pcapng"
    (row,) = _show_json(str(capture))
    assert row["version"] == "SSL 2.0"
    assert row["cipher_suite"] == "SSL_CK_IDEA_128_CBC_WITH_MD5"  # the MANIFEST: IDEA
    assert row["cipher_suites_offered"] == [
        "SSL_CK_IDEA_128_CBC_WITH_MD5",
        "SSL_CK_RC2_128_CBC_WITH_MD5",
        "SSL_CK_DES_192_EDE3_CBC_WITH_MD5",
    ]
    assert row["certificates"][0]["subject"] == "CN=Very Secure"  # from the SERVER-HELLO
    assert row["certificates"][0]["key"] == "RSA 384"
    assert row["timing"]["tcp_handshake_ms"] is None  # frame 2's clock is off by decades
    text = CliRunner().invoke(main, ["show", str(capture)]).stdout
    assert "#6 21:39:14.927 C ← S SSL 2.0 SERVER-HELLO" in text
    assert "Cipher kinds it accepts: SSL_CK_IDEA_128_CBC_WITH_MD5," in text
    assert "#8 21:39:14.927 C → S SSL 2.0 CLIENT-MASTER-KEY" in text
    assert "48 bytes encrypted to the server's RSA key; key argument (IV) 8 bytes" in text
    assert text.count("SSL 2.0 encrypted records") == 5  # frames 9-13


def test_sslv2_messages_parse_and_refuse_garbage() -> None:
    from tlslens.errors import DecodeError
    from tlslens.handshake import sslv2

    body = (
        bytes.fromhex(
            "02"  # CLIENT-MASTER-KEY
            "020080"  # cipher kind: RC4_128_EXPORT40_WITH_MD5
            "000b"  # clear key: 11 bytes
            "0002"  # encrypted key: 2 bytes
            "0000"  # key argument: none
        )
        + bytes(11)
        + b"\x01\x02"
    )
    message = sslv2.pull_message(body)
    assert isinstance(message, sslv2.SSLv2ClientMasterKey)
    assert (message.cipher_kind, len(message.clear_key), message.encrypted_key) == (
        0x020080,
        11,
        b"\x01\x02",
    )
    with pytest.raises(DecodeError, match="SSLv2 CLIENT-MASTER-KEY"):
        sslv2.pull_message(body[:-1])


# -- issue 13 item 4: fields cryptography decodes lazily ------------------------------------


def _flipped_name_certificate() -> bytes:
    """The lab server certificate with one byte inside its subject Name set to 0xff:
    cryptography loads it, and raises ValueError only when the subject is first read."""
    from cryptography import x509 as cx509
    from cryptography.hazmat.primitives.serialization import Encoding

    der = bytearray(
        cx509.load_pem_x509_certificate((VECTORS / "pki" / "server.pem").read_bytes()).public_bytes(
            Encoding.DER
        )
    )
    der[der.find(b"tlslens.test") - 12] = 0xFF
    cert = cx509.load_der_x509_certificate(bytes(der))
    with pytest.raises(ValueError):
        cert.subject.rfc4514_string()
    return bytes(der)


def test_a_name_that_fails_to_decode_is_one_connections_problem(tmp_path: Path) -> None:
    import datetime as dt

    from _frames import tls12_capture

    good = (VECTORS / "pki" / "server.pem").read_bytes()
    from cryptography import x509 as cx509
    from cryptography.hazmat.primitives.serialization import Encoding

    good_der = cx509.load_pem_x509_certificate(good).public_bytes(Encoding.DER)
    capture = tmp_path / "flipped.pcapng"
    tls12_capture(
        capture,
        [([_flipped_name_certificate()], "tlslens.test"), ([good_der], "tlslens.test")],
        dt.datetime(2026, 6, 1, tzinfo=dt.UTC),
    )
    for command in (["show", "--json"], ["certs"], ["show"]):
        result = CliRunner().invoke(main, [*command, str(capture)], catch_exceptions=False)
        assert result.exit_code == 0, (command, result.output)
        assert "internal error" not in result.output, command
        assert "Warning" not in result.stderr, command
    rows = [
        json.loads(line)
        for line in CliRunner().invoke(main, ["show", "--json", str(capture)]).stdout.splitlines()
    ]
    assert len(rows) == 2  # the connection after the bad certificate is reported too
    codes = [p["code"] for p in rows[0]["validation"]["problems"]]
    assert "unparsable_certificate" in codes, codes
    assert rows[1]["certificates"][0]["subject"] == "CN=tlslens.test,O=tlslens lab"


# -- issue 13 item 3: a connection that never ends holds back only a bounded window ------


def test_an_endless_connection_holds_back_a_bounded_window(tmp_path: Path) -> None:
    import datetime as dt
    import io

    from cryptography import x509 as cx509
    from cryptography.hazmat.primitives.serialization import Encoding

    from tlslens.pipeline import Limits, read_capture

    from _frames import tls12_capture

    der = cx509.load_pem_x509_certificate(
        (VECTORS / "pki" / "server.pem").read_bytes()
    ).public_bytes(Encoding.DER)
    capture = tmp_path / "endless.pcapng"
    tls12_capture(
        capture,
        [([der], f"n{i}.tlslens.test") for i in range(2000)],
        dt.datetime(2026, 6, 1, tzinfo=dt.UTC),
        first_never_ends=True,
    )
    data = capture.read_bytes()
    stream = io.BytesIO(data)
    reading = read_capture("endless.pcapng", stream=stream, limits=Limits(reorder_window=10))
    seen: list[tuple[int, str | None, int]] = []
    conns = []
    for conn in reading:
        seen.append((conn.id, conn.sni, stream.tell()))
        conns.append(conn)
    assert len(seen) == 2000
    # The ended connections come out while the file is still being read, not at its end.
    assert seen[0][2] < len(data) // 2
    assert [sni for _id, sni, _pos in seen[:1999]] == [f"n{i}.tlslens.test" for i in range(1, 2000)]
    late = conns[-1]
    assert late.sni == "n0.tlslens.test"
    assert late.id == 2000
    assert any("reported out of first-packet order" in p.message for p in late.problems)
    # With a window larger than the capture nothing changes order.
    wide = read_capture(capture, limits=Limits(reorder_window=10**6))
    ordered = [c.sni for c in wide]
    assert ordered == [f"n{i}.tlslens.test" for i in range(2000)]


def test_every_capture_under_python_dev_mode_with_warnings_as_errors(
    corpus: Path, tmp_path: Path
) -> None:
    """Every corpus capture, the project's own and the adversarial set, under
    `python -X dev -W error`: no traceback, no warning, a valid JSON line per connection
    (issue 13)."""
    import subprocess
    import sys

    import adversarial

    captures = sorted(corpus.rglob("*.pcap*")) + sorted(CAPTURES.glob("*.pcap*"))
    captures += adversarial.build(tmp_path / "adversarial", 0.01)
    done = subprocess.run(
        [
            sys.executable,
            "-X",
            "dev",
            "-W",
            "error",
            "-m",
            "tlslens",
            "show",
            "--json",
            *map(str, captures),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr and "Warning" not in done.stderr, done.stderr[-2000:]
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    expected = sum(sum(1 for _ in tlslens.read_capture(path)) for path in captures)
    assert len(rows) == expected


def test_half_open_connections_are_bounded_by_the_open_flow_limit() -> None:
    """Thousands of SYNs that never go further: memory follows the connections open at once
    (the limit), and the early closes are said (issue 13). Python's memory (tracemalloc)."""
    import io
    import tracemalloc

    from tlslens.capture.writer import PcapngWriter
    from tlslens.flows.synth import iter_frames
    from tlslens.model import Endpoint
    from tlslens.pipeline import Limits, read_capture

    out = io.BytesIO()
    writer = PcapngWriter(out)
    writer.add_interface()
    server = Endpoint(bytes([10, 255, 0, 1]), 443)
    for i in range(20_000):
        client = Endpoint(bytes([10, (i >> 16) & 255, (i >> 8) & 255, i & 255]), 1024 + i % 60_000)
        for ts, frame in iter_frames(
            client, server, syn_ts_ns=10**18 + i * 1000, synack_ts_ns=None, chunks=[]
        ):
            writer.add_packet(ts, frame)
    data = out.getvalue()

    def peak(limit: int) -> tuple[int, list[str]]:
        reading = read_capture(
            "syn-flood.pcapng", stream=io.BytesIO(data), limits=Limits(max_connections=limit)
        )
        tracemalloc.start()
        assert list(reading) == []  # no TLS at all
        _current, high = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return high, [p.message for p in reading.summary.problems]

    # What a reading holds whatever its flows (batches, tables) is the peak with room for
    # ten: over it, 1,000 open flows at most must cost a small part of 20,000's (a twentieth
    # if memory follows the flows; a tenth leaves room for noise, and a cheaper flow moves
    # both sides alike). A SYN alone is not told to Python at all (the core keeps it until
    # the flow says something): then the three are equal, and the whole run's share per
    # flow is test_adversarial's (peak RSS of 20,000 SYN-only flows).
    base, _ = peak(10)
    bounded, problems = peak(1_000)
    unbounded, quiet = peak(10**9)
    assert bounded - base <= (unbounded - base) / 10, (base, bounded, unbounded)
    assert any("19000 connections were closed early" in p for p in problems), problems
    assert not any("closed early" in p for p in quiet)
