"""Differential tests: tlslens against tshark's TLS dissector, connection by connection.

For each TLS connection: the ordered handshake message types, the version, the
cipher suite, the SNI and the certificate fingerprints must agree. Where they
disagree, the failure names the capture, the connection and the field.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import tlslens
from tlslens.events import HandshakeEvent

from _tshark import compare, run_tshark, strip_secrets
from conftest import CAPTURES, CORPUS

# Captures where tshark 4.0.17 is wrong and tlslens is right; each entry says why and
# the test checks tlslens' own answer instead.
TSHARK_IS_WRONG = {
    "zeek/tls-fragmented-handshake.pcap.gz": (
        "tshark 4.0 drops the 339 KB Certificate message (16 records); tlslens reassembles it"
    ),
    "zeek/tls1.2-protocol-violation.pcap": (
        "the Certificate message's inner length overruns the message; tshark then loses the "
        "ServerHelloDone that follows in its own 4-byte record, tlslens reports the malformed "
        "certificate and goes on"
    ),
}


def _corpus_cases() -> list[str]:
    truth = CORPUS / "ground_truth.json"
    if not truth.exists():
        return ["<corpus missing>"]
    captures = json.loads(truth.read_text())["captures"]
    return sorted(name for name, info in captures.items() if info.get("proto") == "tls")


@pytest.mark.parametrize("name", _corpus_cases())
def test_corpus_agrees_with_tshark(name: str, corpus: Path, tshark: str, tmp_path: Path) -> None:
    info = json.loads((corpus / "ground_truth.json").read_text())["captures"][name]
    path = (corpus / name).resolve()
    streams = run_tshark(
        strip_secrets(path, tmp_path),
        info.get("tshark_opts_without_keys", []),
        cwd=corpus / info["run_from"],
    )
    connections = list(tlslens.read_capture(path))
    problems = compare(name, connections, streams)
    if name in TSHARK_IS_WRONG:
        assert problems, f"{name}: tshark now agrees; drop the exception"
        return
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("capture", sorted(p.name for p in CAPTURES.glob("*.pcap*")))
def test_own_captures_agree_with_tshark(capture: str, tshark: str, tmp_path: Path) -> None:
    path = CAPTURES / capture
    streams = run_tshark(strip_secrets(path, tmp_path), [])
    connections = list(tlslens.read_capture(path))
    assert streams, f"tshark saw no TLS in {capture}"
    problems = compare(capture, connections, streams)
    assert not problems, "\n".join(problems)


def test_tshark_exceptions_hold_for_tlslens(corpus: Path) -> None:
    """What tlslens itself reads in the captures tshark gets wrong."""
    fragmented = list(tlslens.read_capture(corpus / "zeek/tls-fragmented-handshake.pcap.gz"))
    assert len(fragmented) == 1
    types = [
        e.message.msg_type for e in fragmented[0].handshake_events if isinstance(e, HandshakeEvent)
    ]
    assert types == [1, 2, 11, 12, 14]
    assert fragmented[0].certificates[0].subject == "CN=Bro"
    assert not fragmented[0].problems

    violation = next(iter(tlslens.read_capture(corpus / "zeek/tls1.2-protocol-violation.pcap")))
    types = [
        e.message.msg_type for e in violation.handshake_events if isinstance(e, HandshakeEvent)
    ]
    assert types == [1, 2, 11, 14, 16]
    assert any("declares 3820 bytes" in p.message for p in violation.problems)
