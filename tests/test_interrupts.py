"""Ctrl-C always stops the run, whichever callback into Python the compiled core is in when
it comes: a SEED-CBC record's decryption (``cryptography``'s, through Python), or the RSA
premaster asked by the content layer of a live connection, a scan or DTLS/QUIC
(``_core.Content``). The interrupt is raised out of the run, not swallowed into a record that
does not open (and a secret called wrong) or a premaster not recovered.

The SEED connections are those of wireshark-notes' ``ssl3/dump.pcapng`` (the shared corpus),
the RSA key exchanges those of ``openssl-versions.pcapng`` with the lab server's key.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.decrepit.ciphers import algorithms
from record_lab import embed_key_log
from test_properties import _connection_streams

from tlslens import _core, read_capture
from tlslens.judge import secrets_given
from tlslens.keys.files import add_keylog_file
from tlslens.keys.store import KeyStore
from tlslens.model import Connection, Endpoint
from tlslens.pipeline import _Pass
from tlslens.registry import cipher_suite_name
from tlslens.tls import content
from tlslens.tls.session import TLSSession

from conftest import CAPTURES, VECTORS

RSA_CAPTURE = CAPTURES / "openssl-versions.pcapng"
RSA_KEY = VECTORS / "pki" / "server.key"


def _ssl3(corpus: Path) -> tuple[Path, KeyStore]:
    capture = corpus / "wireshark-notes" / "ssl3" / "dump.pcapng"
    store = KeyStore()
    add_keylog_file(store, capture.with_name("premaster.txt"))
    return capture, store


def _interrupted_seed(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """SEED keys made from now on raise KeyboardInterrupt (as Ctrl-C does, coming while
    Python runs); the keys asked for are listed."""
    asked: list[bytes] = []

    def seed(key: bytes) -> algorithms.SEED:
        asked.append(key)
        raise KeyboardInterrupt

    monkeypatch.setattr(algorithms, "SEED", seed)
    return asked


def with_own_secrets(capture: Path, keylog: Path, out: Path) -> Path:
    """``capture`` written again as ``out`` with ``keylog`` in a Decryption Secrets Block
    before its frames: each flow then opens after the capture's own secrets, and its
    decryptor is made with the run's key store the walk asks Python for (``_keys_for``)."""
    out.write_bytes(capture.read_bytes())
    embed_key_log(out, keylog)
    return out


def raise_when_decryptor_made(
    monkeypatch: pytest.MonkeyPatch, call: int, error: BaseException
) -> list[int]:
    """In a capture with its own secrets (``with_own_secrets``), the run's ``call``-th flow
    to get a decryptor gets ``error`` raised instead (the others get theirs); each call is
    listed in the list given back."""
    made = _Pass._keys_for
    calls: list[int] = []

    def failing(self: _Pass, secrets: int) -> KeyStore | None:
        calls.append(secrets)
        if len(calls) == call:
            raise error
        return made(self, secrets)

    monkeypatch.setattr(_Pass, "_keys_for", failing)
    return calls


def test_the_seed_connections_decrypt(corpus: Path) -> None:
    """What the interrupt would cut short: each SEED suite's connection opens."""
    capture, store = _ssl3(corpus)
    seed = [
        conn
        for conn in read_capture(capture, keys=store)
        if "SEED" in cipher_suite_name(conn.cipher_suite or 0)
    ]
    assert len(seed) == 3
    assert all(conn.decryption and conn.decryption.status == "decrypted" for conn in seed)


def test_ctrl_c_in_a_seed_record_stops_the_run(
    corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    capture, store = _ssl3(corpus)
    asked = _interrupted_seed(monkeypatch)
    told: list[int] = []
    with pytest.raises(KeyboardInterrupt):
        told.extend(conn.id for conn in read_capture(capture, keys=store))
    assert len(asked) == 1  # the first SEED record, and the run stopped there
    assert len(told) < 39  # the capture's connections were not all reported


def test_ctrl_c_in_a_seed_record_opened_by_record_protection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``RecordProtection`` (the atheris harness's) raises it too, not a DecryptError."""
    spec = _core.cipher_spec("TLS_RSA_WITH_SEED_CBC_SHA", "SEED_CBC", "SHA", False, 0x0303)
    protection = _core.RecordProtection(
        spec, version=0x0303, key=bytes(16), iv=bytes(16), mac_key=bytes(20)
    )
    _interrupted_seed(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        protection.open_record(23, 0x0303, bytes(64))


def _replay(
    ends: tuple[Endpoint, Endpoint], chunks: list[tuple[int, bytes]], keys: KeyStore
) -> Connection | None:
    """One connection's streams through a live session (``connect``'s and the scanner's
    sans-IO reader: the core content layer ``_core.Content``), keyed with ``keys``."""
    session = TLSSession(
        0, ends, 1, 0, client_side=0, mid_stream=False, keys=keys, decryptor=_core.Decryptor(keys)
    )
    offsets = [0, 0]
    for frame, (side, data) in enumerate(chunks, start=1):
        session.data(side, offsets[side], data, frame, 0)
        offsets[side] += len(data)
    return session.finish()


def _rsa_keys() -> KeyStore:
    return secrets_given([], [str(RSA_KEY)], None, warn=pytest.fail)


def test_the_live_reader_recovers_rsa_premasters() -> None:
    """What the interrupt would cut short: the RSA key exchanges open with the key."""
    conns = [
        _replay(ends, chunks, _rsa_keys()) for ends, chunks in _connection_streams(RSA_CAPTURE)
    ]
    sources = [c.decryption.source for c in conns if c is not None and c.decryption is not None]
    assert sources.count("rsa_key") == 3


def test_ctrl_c_while_the_live_reader_asks_for_an_rsa_premaster_stops_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[bytes] = []

    def interrupted(keys: object, encrypted: bytes, versions: tuple[int, int]) -> bytes | None:
        asked.append(encrypted)
        raise KeyboardInterrupt

    monkeypatch.setattr(content, "rsa_premaster", interrupted)
    with pytest.raises(KeyboardInterrupt):
        for ends, chunks in _connection_streams(RSA_CAPTURE):
            _replay(ends, chunks, _rsa_keys())
    assert len(asked) == 1


def test_ctrl_c_after_an_exception_in_seed_decryption_still_stops_the_run(
    corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first SEED connection's decryption raises an Exception (a bug: that connection's
    finding, the run goes on); Ctrl-C in the next one's still stops the run."""
    capture, store = _ssl3(corpus)
    asked: list[bytes] = []

    def seed(key: bytes) -> algorithms.SEED:
        asked.append(key)
        if len(asked) == 1:
            raise RuntimeError("SEED broke")
        raise KeyboardInterrupt

    monkeypatch.setattr(algorithms, "SEED", seed)
    with pytest.raises(KeyboardInterrupt):
        for _conn in read_capture(capture, keys=store):
            pass
    assert len(asked) == 2  # the first SEED record of two connections, and the run stopped
