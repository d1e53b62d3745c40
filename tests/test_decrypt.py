"""Decryption of the project's own captures, and every way secrets can be wrong."""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections import defaultdict
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

import tlslens
from tlslens.capture.writer import PcapngWriter
from tlslens.cli import main
from tlslens.errors import KeyFileError
from tlslens.explain import ForwardSecrecyTally
from tlslens.keys.files import add_keylog_file, load_rsa_key
from tlslens.keys.store import KeyStore
from tlslens.serialize import connection_to_json

from _frames import read_frames
from conftest import CAPTURES, ROOT, VECTORS

PKI = VECTORS / "pki"
PSK = "1a2b3c4d5e6f70819293a4b5c6d7e8f9"  # tools/record_captures.py PSK_HEX
SCHEMA = json.loads((ROOT / "src/tlslens/schema/connection.schema.json").read_text())


def _store(*keylogs: Path, rsa_key: bool = False, psk: bool = False) -> KeyStore:
    store = KeyStore()
    for path in keylogs:
        add_keylog_file(store, path)
    if rsa_key:
        store.rsa_keys.append(load_rsa_key(PKI / "server.key"))
    if psk:
        store.psk = bytes.fromhex(PSK)
    return store


def _decrypt(
    capture: Path, store: KeyStore
) -> tuple[list[tlslens.Connection], dict[tuple[int, str], bytes]]:
    plain: dict[tuple[int, str], bytearray] = defaultdict(bytearray)

    def sink(stream: int, direction: str, data: bytes) -> None:
        plain[(stream, direction)] += data

    conns = list(tlslens.read_capture(capture, keys=store, plaintext_sink=sink))
    return conns, {k: bytes(v) for k, v in plain.items()}


# aborted.pcapng's handshakes end before both Finished, and its key log holds no
# application secrets: what it opens is tested in test_decrypt_partial.py.
@pytest.mark.parametrize(
    "capture", sorted(p.name for p in CAPTURES.glob("*.pcap*") if p.name != "aborted.pcapng")
)
def test_own_captures_decrypt_with_their_key_logs(capture: str) -> None:
    path = CAPTURES / capture
    keylog = path.with_name(path.name.rsplit(".pcap", 1)[0] + ".keys")
    conns, plain = _decrypt(path, _store(keylog))
    assert conns
    for conn in conns:
        result = connection_to_json(conn)
        jsonschema.validate(result, SCHEMA)
        d = result["decryption"]
        where = f"{capture} connection {conn.id}"
        if any(a["description"] == "unknown_ca" for a in result["alerts"]):
            continue  # the client gave up before any key was used
        assert d["status"] == "decrypted", (where, d)
        assert d["finished_verified"] == {"c2s": True, "s2c": True}, (where, d)
        assert d["records_failed_integrity"] == {"c2s": 0, "s2c": 0}, where
        c2s = plain.get((conn.tcp_stream, "c2s"), b"")
        s2c = plain.get((conn.tcp_stream, "s2c"), b"")
        # No plaintext, no digest (not the SHA-256 of nothing).
        digest = hashlib.sha256(c2s).hexdigest() if c2s else None
        assert digest == d["plaintext_sha256"]["c2s"], where
        assert len(s2c) == d["plaintext_bytes"]["s2c"], where
        if capture.startswith(("openssl", "demo", "gnutls")):
            assert c2s.startswith(b"GET / HTTP/1.") and b"HTTP/1." in s2c[:20], where
        if capture.startswith("python"):
            # the server echoes its first read in capitals
            assert s2c and c2s.upper().startswith(s2c), where


def test_tls13_certificates_appear_once_decrypted() -> None:
    path = CAPTURES / "demo-tls12-tls13.pcapng"
    before = next(iter(tlslens.read_capture(path)))
    assert before.certificates == []
    conns, _plain = _decrypt(path, _store(path.with_suffix(".keys")))
    assert [c.subject for c in conns[0].certificates] == [
        "CN=tlslens.test,O=tlslens lab",
        "CN=tlslens lab intermediate CA,O=tlslens lab",
    ]


def test_rsa_key_opens_rsa_sessions_only() -> None:
    conns, plain = _decrypt(CAPTURES / "openssl-versions.pcapng", _store(rsa_key=True))
    verdict = {c.id: (c.key_exchange, c.decryption.status, c.decryption.source) for c in conns}
    assert verdict == {
        1: ("RSA", "decrypted", "rsa_key"),
        2: ("RSA", "decrypted", "rsa_key"),
        3: ("ECDHE", "no_secret", None),
        4: ("DHE", "no_secret", None),
        5: ("RSA", "decrypted", "rsa_key"),
        6: ("ECDHE", "no_secret", None),
    }
    assert plain[(conns[0].tcp_stream, "c2s")].startswith(b"GET / HTTP/1.0")
    tally = ForwardSecrecyTally()
    for conn in conns:
        tally.add(conn)
    lines = tally.lines()
    assert lines[0] == "Forward secrecy in practice: the RSA key opens 3 of 6 sessions."
    assert lines[1].endswith(": 1, 2, 5") and lines[2].endswith(": 3, 4, 6")


def test_psk_suite_with_the_psk_alone() -> None:
    conns, plain = _decrypt(CAPTURES / "openssl-ciphers.pcapng", _store(psk=True))
    psk_conn = conns[-1]
    assert psk_conn.decryption.status == "decrypted" and psk_conn.decryption.source == "psk"
    assert plain[(psk_conn.tcp_stream, "c2s")].startswith(b"GET / HTTP/1.0")


def test_rsa_key_of_another_server(tmp_path: Path) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    store = KeyStore(rsa_keys=[other])
    conn = next(iter(tlslens.read_capture(CAPTURES / "openssl-versions.pcapng", keys=store)))
    assert conn.decryption.status == "no_secret"
    assert "does not open this ClientKeyExchange" in conn.decryption.to_json()["reason"]


def test_wrong_rsa_key_password(tmp_path: Path) -> None:
    key = load_rsa_key(PKI / "server.key")
    locked = tmp_path / "locked.pem"
    locked.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"right"),
        )
    )
    assert load_rsa_key(locked, "right").key_size == 2048
    with pytest.raises(KeyFileError, match="wrong or missing password"):
        load_rsa_key(locked, "wrong")
    with pytest.raises(KeyFileError, match="cannot read"):
        load_rsa_key(tmp_path / "missing.pem")
    with pytest.raises(KeyFileError, match="not an RSA private key"):
        load_rsa_key(PKI / "ecdsa.key")


def test_key_log_of_another_session_is_wrong_secret(tmp_path: Path) -> None:
    path = CAPTURES / "openssl-versions.pcapng"
    lines = path.with_suffix(".keys").read_text().splitlines()
    first = next(line for line in lines if line.startswith("CLIENT_RANDOM"))
    label, random, _master = first.split()
    forged = tmp_path / "forged.keys"
    forged.write_text(f"{label} {random} {'ab' * 48}\n")
    conn = next(iter(tlslens.read_capture(path, keys=_store(forged))))
    d = conn.decryption.to_json()
    assert d["status"] == "wrong_secret"
    assert d["reason"].startswith("the first protected record does not authenticate")
    assert any(p.layer == "decrypt" for p in conn.problems)


def _flipped(keys: Path, out: Path) -> Path:
    """``keys`` with the first bit of every secret flipped: a key log of other sessions for
    the same client randoms."""
    lines = []
    for line in keys.read_text().splitlines():
        label, random, hexed = line.split()
        secret = bytearray.fromhex(hexed)
        secret[0] ^= 1
        lines.append(f"{label} {random} {secret.hex()}")
    out.write_text("\n".join(lines) + "\n")
    return out


def test_a_wrong_key_log_changes_only_what_decryption_says(tmp_path: Path) -> None:
    """Secrets that open nothing: the handshakes are told as without keys (both completed;
    it said "FAILED by server", both Finished read as records that do not decrypt, and
    `--fail-on failed` exited 4), the decryption says "wrong secret", and a TLS 1.3 server's
    CertificateVerify is listed unchecked for that reason (it was left out)."""
    demo = CAPTURES / "demo-tls12-tls13.pcapng"
    wrong = _flipped(demo.with_suffix(".keys"), tmp_path / "wrong.keys")
    runner = CliRunner()

    def rows(*args: str) -> list[dict[str, object]]:
        result = runner.invoke(main, ["show", "--json", *args, str(demo)])
        assert result.exit_code == 0, result.output
        return [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]

    plain, keyed = rows(), rows("--keylog", str(wrong))
    for without, with_wrong in zip(plain, keyed, strict=True):
        changed = {key for key in without if without[key] != with_wrong[key]}
        assert changed <= {"decryption", "problems", "handshake_signatures"}, changed
        assert with_wrong["outcome"]["status"] == "completed"
        assert with_wrong["decryption"]["status"] == "wrong_secret"
    assert keyed[0]["handshake_signatures"] == [
        {
            "message": "certificate_verify",
            "direction": "s2c",
            "scheme": "unknown (encrypted)",
            "verified": None,
            "reason": "TLS 1.3 encrypts it, and the secrets given do not open the server's flight",
        }
    ]
    gate = runner.invoke(main, ["show", "--fail-on", "failed", "--keylog", str(wrong), str(demo)])
    assert gate.exit_code == 0, gate.output
    assert "does not decrypt" not in gate.output
    assert "The secrets given do not open them." in gate.output


def test_tampered_record_is_caught_and_the_rest_decrypts(tmp_path: Path) -> None:
    path = CAPTURES / "python-ssl.pcap"
    frames = read_frames(path)
    # Flip one bit in the last byte of the client's 1.8 kB application data record.
    target = max(range(len(frames)), key=lambda i: len(frames[i][2]) if frames[i][2][-1:] else 0)
    ts, lt, data = frames[target]
    frames[target] = (ts, lt, data[:-1] + bytes([data[-1] ^ 0x01]))
    out = io.BytesIO()
    writer = PcapngWriter(out)
    writer.add_interface(lt)
    for ts_ns, _lt, frame in frames:
        writer.add_packet(ts_ns, frame)
    tampered = tmp_path / "tampered.pcapng"
    tampered.write_bytes(out.getvalue())
    conns, _plain = _decrypt(tampered, _store(path.with_suffix(".keys")))
    failed = [c for c in conns if any(c.decryption.to_json()["records_failed_integrity"].values())]
    assert len(failed) == 1
    d = failed[0].decryption.to_json()
    assert sum(d["records_failed_integrity"].values()) == 1
    assert d["status"] == "decrypted" and d["finished_verified"] == {"c2s": True, "s2c": True}
    problem = next(p for p in failed[0].problems if p.layer == "decrypt")
    assert problem.frame == target + 1 and "does not verify" in problem.message
    others = [c for c in conns if c is not failed[0]]
    assert all(c.decryption.status == "decrypted" for c in others)


def test_resumed_sessions_decrypt_from_the_session_they_resume(tmp_path: Path) -> None:
    path = CAPTURES / "openssl-resumption.pcap"
    without_keys = list(tlslens.read_capture(path))
    resumed_randoms = {
        c.client_hello.random.hex() for c in without_keys if c.resumed in ("session_id", "ticket")
    }
    assert len(resumed_randoms) == 2
    lines = [
        line
        for line in path.with_suffix(".keys").read_text().splitlines()
        if not any(r in line for r in resumed_randoms)
    ]
    partial = tmp_path / "partial.keys"
    partial.write_text("\n".join(lines) + "\n")
    conns, _plain = _decrypt(path, _store(partial))
    by_resumption = {c.resumed: c.decryption for c in conns if c.version == 0x0303}
    assert by_resumption["session_id"].source == "resumed_session"
    assert by_resumption["ticket"].source == "resumed_ticket"
    for dec in by_resumption.values():
        assert dec.status == "decrypted"
        assert dec.to_json()["finished_verified"] == {"c2s": True, "s2c": True}


def test_pcapng_decryption_secrets_block(tmp_path: Path) -> None:
    source = CAPTURES / "demo-tls12-tls13.pcapng"
    out = io.BytesIO()
    writer = PcapngWriter(out)
    writer.add_secrets(source.with_suffix(".keys").read_bytes())
    writer.add_interface(1)
    for ts, _lt, data in read_frames(source):
        writer.add_packet(ts, data)
    path = tmp_path / "with-secrets.pcapng"
    path.write_bytes(out.getvalue())
    conns = list(tlslens.read_capture(path))
    assert [(c.decryption.status, c.decryption.source) for c in conns] == [
        ("decrypted", "pcapng"),
        ("decrypted", "pcapng"),
    ]


def test_cli_keylog_narrates_and_reports_bad_lines(tmp_path: Path) -> None:
    capture = CAPTURES / "demo-tls12-tls13.pcapng"
    keylog = tmp_path / "k.keys"
    keylog.write_text("junk line\n" + capture.with_suffix(".keys").read_text())
    result = CliRunner().invoke(main, ["show", str(capture), "--keylog", str(keylog)])
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    assert "Key derivation" in text and "Finished (decrypted)" in text
    assert "it matches, so both sides saw the same handshake" in text
    assert "Application data (decrypted)" in text
    assert f"{keylog}, line 1: unknown label 'junk'" in result.stderr
    assert "…" in text  # keys truncated by default
    revealed = CliRunner().invoke(
        main, ["show", str(capture), "--keylog", str(keylog), "--reveal-keys"]
    )
    assert revealed.stdout.count("…") < result.stdout.count("…")


def test_sslkeylogfile_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    capture = CAPTURES / "nginx-curl.pcapng"
    monkeypatch.setitem(os.environ, "SSLKEYLOGFILE", str(capture.with_suffix(".keys")))
    result = CliRunner().invoke(main, ["show", "--json", str(capture)])
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["decryption"]["status"] for r in rows] == ["decrypted", "decrypted"]
    assert rows[0]["alpn"] == "h2"  # TLS 1.3 ALPN travels in EncryptedExtensions


def test_cli_rsa_key_forward_secrecy_summary() -> None:
    capture = CAPTURES / "openssl-versions.pcapng"
    result = CliRunner().invoke(main, ["show", str(capture), "--rsa-key", str(PKI / "server.key")])
    assert result.exit_code == 0
    assert "Forward secrecy in practice: the RSA key opens 3 of 6 sessions." in result.stdout


def test_an_rsa_key_alone_says_it_does_not_open_an_ecdhe_exchange() -> None:
    """openssl-versions.pcapng with --rsa-key only: its ECDHE, DHE and TLS 1.3 connections
    said "the secrets given hold nothing for client random …" (as if a key log had been
    searched); the reason says the key does not open that key exchange."""
    capture = CAPTURES / "openssl-versions.pcapng"
    args = ["show", "--json", str(capture), "--rsa-key", str(PKI / "server.key")]
    rows = [json.loads(line) for line in CliRunner().invoke(main, args).stdout.splitlines()]
    reasons = {row["id"]: row["decryption"]["reason"] for row in rows}
    assert [reasons[n] is None for n in range(1, 7)] == [True, True, False, False, True, False]
    for number in (3, 4, 6):
        assert reasons[number].startswith(
            "the RSA key or PSK given does not open this key exchange, and no key log holds "
            "client random "
        )


@pytest.mark.parametrize("number", [None, 2])
def test_rsa_key_tally_counts_a_resumed_session_it_opened(corpus: Path, number: int | None) -> None:
    """rsasnakeoil2: connection 2 resumes (by session ID) the session connection 1's
    renegotiation opened with the RSA key; the key opens both, shown together or alone."""
    folder = corpus / "wireshark"
    args = [
        "show",
        str(folder / "rsasnakeoil2.pcap"),
        "--rsa-key",
        str(folder / "keys/rsasnakeoil2.key"),
    ]
    result = CliRunner().invoke(main, args + (["--connection", str(number)] if number else []))
    assert result.exit_code == 0
    opened, total = ("1", "1") if number else ("2", "2")
    session = "session" if total == "1" else "sessions"
    assert f"the RSA key opens {opened} of {total} {session}." in result.stdout
    assert (
        "Opened through the session they resume (a resumed session reuses the master "
        "secret the key opened): 2" in result.stdout
    )
    assert "Not opened for another reason" not in result.stdout


def test_master_secret_from_rsa_key_equals_openssl_key_log() -> None:
    """The key block derived from the premaster we recover is the one OpenSSL's key log implies."""
    path = CAPTURES / "openssl-versions.pcapng"
    from_rsa = list(tlslens.read_capture(path, keys=_store(rsa_key=True)))
    from_log = list(tlslens.read_capture(path, keys=_store(path.with_suffix(".keys"))))
    compared = 0
    for ours, theirs in zip(from_rsa, from_log, strict=True):
        if ours.decryption.source != "rsa_key":
            continue
        derived = dict(ours.decryption.derivation)
        logged = dict(theirs.decryption.derivation)
        assert derived["master_secret"] == logged["master_secret"]
        assert "session_hash" in derived  # OpenSSL negotiated the extended master secret
        keys = [n for n in derived if n.endswith(("_key", "_iv")) and n != "pre_master_secret"]
        assert keys and all(derived[n] == logged[n] for n in keys), keys
        compared += 1
    assert compared == 3
