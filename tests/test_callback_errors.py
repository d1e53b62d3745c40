"""A callback the compiled core makes into Python that raises an ordinary Exception (a bug:
the connection's decryptor made, the RSA premaster asked) is an internal-error finding of
that connection, naming the exception; the connection is still read, and the run goes on with
the others decrypted. (Ctrl-C there stops the run: test_interrupts.py.)

``openssl-versions.pcapng`` holds six connections, TLS 1.0 to 1.3, three of them RSA key
exchanges the lab server's key opens; its key log opens all six.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner
from test_interrupts import RSA_CAPTURE, RSA_KEY, _replay, _rsa_keys, raise_when_decryptor_made
from test_properties import _connection_streams

from tlslens.cli import main
from tlslens.tls import content

from conftest import CAPTURES

KEYS = CAPTURES / "openssl-versions.keys"


def _show(*args: str) -> tuple[int, list[dict[str, Any]]]:
    result = CliRunner().invoke(main, ["show", "--json", *args], catch_exceptions=False)
    return result.exit_code, [json.loads(line) for line in result.stdout.splitlines()]


def _internal(conn: dict[str, Any]) -> list[str]:
    return [p["message"] for p in conn["problems"] if p["layer"] == "internal"]


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
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, before = _show("--keylog", str(KEYS), str(RSA_CAPTURE))
    raise_when_decryptor_made(monkeypatch, 2, RuntimeError("the decryptor broke"))
    broken_code, after = _show("--keylog", str(KEYS), str(RSA_CAPTURE))
    assert broken_code == code == 0
    assert len(after) == len(before) == 6
    assert all(c["decryption"]["status"] == "decrypted" for c in before)
    [broken] = [c for c in after if _internal(c)]
    assert _internal(broken) == [
        "internal error making this connection's decryptor (RuntimeError: the decryptor "
        "broke); its records are not decrypted"
    ]
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
    broken_code, after = _show("--rsa-key", str(RSA_KEY), str(RSA_CAPTURE))
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
