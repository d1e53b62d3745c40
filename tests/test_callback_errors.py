"""A callback the compiled core makes into Python that raises an ordinary Exception (a bug:
the connection's decryptor made, the RSA premaster asked) is an internal-error finding of
that connection, naming the exception; the connection is still read, and the run goes on with
the others decrypted. So is an Exception raised while a SEED-CBC record is decrypted
(``cryptography``'s, through Python): a bug, not a record that does not authenticate, so the
secret is not called wrong. (Ctrl-C there stops the run: test_interrupts.py.)

``openssl-versions.pcapng`` holds six connections, TLS 1.0 to 1.3, three of them RSA key
exchanges the lab server's key opens; its key log opens all six. wireshark-notes'
``ssl3/dump.pcapng`` (the shared corpus) holds 39 connections, three of them SEED-CBC suites.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography.hazmat.decrepit.ciphers import algorithms
from test_interrupts import (
    RSA_CAPTURE,
    RSA_KEY,
    _replay,
    _rsa_keys,
    raise_when_decryptor_made,
    with_own_secrets,
)
from test_properties import _connection_streams

from tlslens import _core
from tlslens.capture.writer import write_pcap
from tlslens.cli import main
from tlslens.tls import content

from _frames import read_frames
from conftest import CAPTURES

KEYS = CAPTURES / "openssl-versions.keys"


def _show(*args: str) -> tuple[int, list[dict[str, Any]]]:
    result = CliRunner().invoke(main, ["show", "--json", *args], catch_exceptions=False)
    return result.exit_code, [json.loads(line) for line in result.stdout.splitlines()]


def _internal(conn: dict[str, Any]) -> list[str]:
    return [p["message"] for p in conn["problems"] if p["layer"] == "internal"]


def _where(conn: dict[str, Any]) -> list[tuple[int, str, int]]:
    """(frame, direction, offset) of each internal finding."""
    return [
        (p["frame"], p["direction"], p["offset"])
        for p in conn["problems"]
        if p["layer"] == "internal"
    ]


def _client_key_exchange(conn: dict[str, Any]) -> tuple[int, str, int]:
    """Where the client's ClientKeyExchange is (``--records``): the first message of its
    handshake record before its ChangeCipherSpec (no client certificate here)."""
    client = [r for r in conn["records"] if r["direction"] == "c2s"]
    ccs = next(n for n, r in enumerate(client) if r["content_type"] == "change_cipher_spec")
    record = client[ccs - 1]
    return record["frame"], "c2s", record["offset"] + 5


class Panicked(BaseException):
    """What PyO3's PanicException is: a BaseException that is no Exception, raised by a
    library's bug (a panic in a Rust extension the callback called), not by the user."""


def _failing_rsa(
    monkeypatch: pytest.MonkeyPatch, error: BaseException | None = None
) -> list[bytes]:
    asked: list[bytes] = []

    def failing(keys: object, encrypted: bytes, versions: tuple[int, int]) -> bytes | None:
        asked.append(encrypted)
        raise error or RuntimeError("the RSA callback broke")

    monkeypatch.setattr(content, "rsa_premaster", failing)
    return asked


def test_a_decryptor_that_cannot_be_made_is_a_finding_of_its_connection(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    capture = with_own_secrets(RSA_CAPTURE, KEYS, tmp_path / "own-secrets.pcapng")
    code, before = _show(str(capture))
    raise_when_decryptor_made(monkeypatch, 2, RuntimeError("the decryptor broke"))
    broken_code, after = _show("--records", str(capture))
    assert broken_code == code == 0
    assert len(after) == len(before) == 6
    assert all(c["decryption"]["status"] == "decrypted" for c in before)
    [broken] = [c for c in after if _internal(c)]
    assert _internal(broken) == [
        "internal error making this connection's decryptor (RuntimeError: the decryptor "
        "broke); its records are not decrypted"
    ]
    # Told at the connection's first record, the first its decryptor would have read.
    first = broken["records"][0]
    assert _where(broken) == [(first["frame"], "c2s", 0)]
    assert broken["decryption"]["status"] == "not_attempted"
    assert broken["sni"] is not None and broken["version"] is not None  # still read
    others = [c for c in after if c is not broken]
    assert [c["decryption"]["status"] for c in others] == ["decrypted"] * 5


def test_an_rsa_callback_that_raises_is_a_finding_of_its_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, before = _show("--rsa-key", str(RSA_KEY), str(RSA_CAPTURE))
    opened = [c["decryption"]["source"] == "rsa_key" for c in before]
    assert opened.count(True) == 3
    asked = _failing_rsa(monkeypatch)
    broken_code, after = _show("--records", "--rsa-key", str(RSA_KEY), str(RSA_CAPTURE))
    assert broken_code == code == 0
    assert len(asked) == 3 and len(after) == 6
    for was_opened, conn in zip(opened, after, strict=True):
        if not was_opened:
            assert _internal(conn) == []
            continue
        assert _internal(conn) == [
            "internal error asking for the RSA premaster (RuntimeError: the RSA callback "
            "broke); this handshake is not decrypted with the RSA key"
        ]
        assert _where(conn) == [_client_key_exchange(conn)]  # the message asked about
        assert conn["decryption"]["status"] != "decrypted"


def test_an_rsa_callback_that_raises_in_the_live_reader_is_a_finding(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``_core.Content`` (connect, scan, DTLS, QUIC) says it the same way."""
    asked = _failing_rsa(monkeypatch)
    conns = [
        _replay(ends, chunks, _rsa_keys()) for ends, chunks in _connection_streams(RSA_CAPTURE)
    ]
    assert len(asked) == 3 and len(conns) == 6
    told = [
        [p.message for p in conn.problems if p.layer == "internal"]
        for conn in conns
        if conn is not None
    ]
    where = [
        (p.direction, p.offset)
        for conn in conns
        if conn
        for p in conn.problems
        if p.layer == "internal"
    ]
    # Where the capture's run says it, at each ClientKeyExchange.
    _, shown = _show("--records", "--rsa-key", str(RSA_KEY), str(RSA_CAPTURE))
    expected = [_client_key_exchange(conn)[1:] for conn in shown if _internal(conn)]
    assert sorted(where) == sorted(expected) and len(where) == 3
    assert sorted(len(messages) for messages in told) == [0, 0, 0, 1, 1, 1]
    assert {m for messages in told for m in messages} == {
        "internal error asking for the RSA premaster (RuntimeError: the RSA callback broke); "
        "this handshake is not decrypted with the RSA key"
    }


def test_a_panic_in_a_callback_is_a_finding_not_a_stop(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only Ctrl-C (KeyboardInterrupt) and SystemExit stop the run; another BaseException,
    such as a panic in a Rust library the callback called, is that connection's bug."""
    asked = _failing_rsa(monkeypatch, Panicked("a library panicked"))
    code, after = _show("--rsa-key", str(RSA_KEY), str(RSA_CAPTURE))
    assert code == 0 and len(asked) == 3 and len(after) == 6
    said = [m for conn in after for m in _internal(conn)]
    assert (
        said
        == [
            "internal error asking for the RSA premaster (Panicked: a library panicked); this "
            "handshake is not decrypted with the RSA key"
        ]
        * 3
    )
    live = [_replay(ends, chunks, _rsa_keys()) for ends, chunks in _connection_streams(RSA_CAPTURE)]
    assert len(asked) == 6
    assert sum(p.layer == "internal" for conn in live if conn for p in conn.problems) == 3


def _broken_seed(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """SEED keys made from now on raise RuntimeError (a bug in the Python that decrypts)."""
    asked: list[bytes] = []

    def seed(key: bytes) -> algorithms.SEED:
        asked.append(key)
        raise RuntimeError("SEED broke")

    monkeypatch.setattr(algorithms, "SEED", seed)
    return asked


SEED_FAULT = (
    "internal error in the SEED_CBC decryption (RuntimeError: SEED broke); this connection's "
    "records are not decrypted from here on"
)


def test_an_exception_in_seed_decryption_is_a_finding_where_the_record_is(
    corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    capture = corpus / "wireshark-notes" / "ssl3" / "dump.pcapng"
    keys = ["--records", "--keylog", str(capture.with_name("premaster.txt")), str(capture)]
    code, before = _show(*keys)
    asked = _broken_seed(monkeypatch)
    broken_code, after = _show(*keys)
    assert broken_code == code == 0 and len(after) == len(before) == 39
    seed = [i for i, conn in enumerate(before) if "SEED" in (conn["cipher_suite"] or "")]
    assert len(seed) == 3 and len(asked) == 3  # the first SEED record of each, then no more
    for i in seed:
        conn = after[i]
        assert before[i]["decryption"]["status"] == "decrypted"
        # Told where it happened: the first record SEED decrypts, the client's first after
        # its ChangeCipherSpec (its Finished).
        client = [r for r in before[i]["records"] if r["direction"] == "c2s"]
        ccs = next(n for n, r in enumerate(client) if r["content_type"] == "change_cipher_spec")
        first = client[ccs + 1]
        problems = [p for p in conn["problems"] if p["layer"] in ("internal", "decrypt")]
        assert problems == [
            {
                "frame": first["frame"],
                "direction": "c2s",
                "layer": "internal",
                "offset": first["offset"],
                "message": SEED_FAULT,
            }
        ]
        # Not the secret's fault: the key log's secret is not called wrong.
        assert conn["decryption"]["status"] != "wrong_secret"
        assert conn["decryption"]["reason"] == SEED_FAULT
        assert conn["decryption"]["records_failed_integrity"] == {"c2s": 0, "s2c": 0}
    others = [conn for i, conn in enumerate(after) if i not in seed]
    assert others == [conn for i, conn in enumerate(before) if i not in seed]


def test_an_exception_in_seed_decryption_is_raised_by_record_protection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``RecordProtection`` (the atheris harness's) raises the bug as it came, not a
    DecryptError (which the harness takes for a record that does not authenticate)."""
    spec = _core.cipher_spec("TLS_RSA_WITH_SEED_CBC_SHA", "SEED_CBC", "SHA", False, 0x0303)
    protection = _core.RecordProtection(
        spec, version=0x0303, key=bytes(16), iv=bytes(16), mac_key=bytes(20)
    )
    _broken_seed(monkeypatch)
    with pytest.raises(RuntimeError, match="SEED broke"):
        protection.open_record(23, 0x0303, bytes(64))


def _hello_cut(tmp_path: Path, keep: int) -> Path:
    """The first connection of RSA_CAPTURE up to its ClientHello, whose TCP payload is cut
    to ``keep`` bytes (the IPv4 length rewritten): a flow without one whole record."""
    frames = read_frames(RSA_CAPTURE)
    ts_ns, _, hello = frames[3]
    ihl = (hello[14] & 15) * 4
    start = 14 + ihl + (hello[14 + ihl + 12] >> 4) * 4
    assert hello[start] == 22  # a handshake record: the ClientHello
    cut = bytearray(hello[: start + keep])
    struct.pack_into(">H", cut, 16, start + keep - 14)
    path = tmp_path / "hello-cut.pcap"
    with path.open("wb") as out:
        write_pcap(out, [(ts, data) for ts, _, data in frames[:3]] + [(ts_ns, bytes(cut))])
    return path


def test_a_decryptor_failure_is_said_on_a_flow_without_a_whole_record(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The finding waits for the flow's first record to say where it is; a flow that ends
    # before one is whole still says it (at no offset).
    capture = _hello_cut(tmp_path, 40)
    capture = with_own_secrets(capture, KEYS, tmp_path / "hello-cut-own-secrets.pcapng")
    raise_when_decryptor_made(monkeypatch, 1, RuntimeError("the decryptor broke"))
    code, [conn] = _show(str(capture))
    assert code == 0
    assert _internal(conn) == [
        "internal error making this connection's decryptor (RuntimeError: the decryptor "
        "broke); its records are not decrypted"
    ]
    assert conn["decryption"]["status"] == "not_attempted"
    assert any("ends inside a record" in p["message"] for p in conn["problems"])
