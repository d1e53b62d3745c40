"""The core content layer's message-level entries on the project's recorded DTLS and QUIC
captures (tests/vectors/captures/udp, each pcapng carrying its secrets): DTLS hands it the
association's whole messages (``Content.message``), QUIC its CRYPTO streams per packet
number space (``Content.crypto``), and every handshake message of the model went through
it, read in the context negotiated before it, with what a CertificateVerify signs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tlslens import _core
from tlslens.events import HandshakeEvent
from tlslens.model import Connection
from tlslens.pipeline import read_capture
from tlslens.tls.content import HANDSHAKE_TYPES

from conftest import CAPTURES

UDP = CAPTURES / "udp"
DTLS10, DTLS12, DTLS13, TLS13 = 0xFEFF, 0xFEFD, 0xFEFC, 0x0304
CONTENT = _core.Content  # the sessions are given a Recording in its place


class Recording:
    """A ``_core.Content`` whose message-level answers are kept (``mine``), with the entry
    that gave each; every one made is in ``MADE``."""

    def __init__(self, **kw: Any) -> None:
        self.inner = CONTENT(**kw)
        self.mine: list[tuple[str, _core.ContentEvent]] = []
        MADE.append(self)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if name not in ("message", "crypto", "skipped", "crypto_end"):
            return attr

        def kept(*args: Any, **kw: Any) -> list[_core.ContentEvent]:
            events: list[_core.ContentEvent] = attr(*args, **kw)
            self.mine.extend((name, ev) for ev in events)
            return events

        return kept


MADE: list[Recording] = []


def _told() -> list[tuple[str, _core.ContentEvent]]:
    """What every connection's content layer answered."""
    return [told for made in MADE for told in made.mine]


def _read(path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Connection]:
    MADE.clear()
    monkeypatch.setattr(_core, "Content", Recording)
    return list(read_capture(path))


def _messages(
    entry: str, told: list[tuple[str, _core.ContentEvent]] | None = None
) -> list[_core.ContentMessage]:
    return [
        ev
        for name, ev in (_told() if told is None else told)
        if name == entry and isinstance(ev, _core.ContentMessage)
    ]


def _steps(entry: str) -> list[HandshakeEvent]:
    """The timeline step of every message ``entry`` told: a ``ContentMessage``'s (one the
    model reads), or the ``HandshakeEvent`` of one it does not."""
    return [
        ev.event if isinstance(ev, _core.ContentMessage) else ev
        for name, ev in _told()
        if name == entry and isinstance(ev, _core.ContentMessage | HandshakeEvent)
    ]


def _model_messages(conns: list[Connection]) -> list[int]:
    return [
        ev.message.msg_type
        for conn in conns
        for ev in conn.timeline
        if isinstance(ev, HandshakeEvent)
    ]


def test_dtls12_messages_are_read_by_the_core_with_the_association_transcript(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    conns = _read(UDP / "dtls.pcapng", monkeypatch)
    steps = _steps("message")
    assert steps and [s.message.msg_type for s in steps] == _model_messages(conns)
    assert all(s.message.malformed is None for s in steps)
    # The model reads the certificates and signed messages with their context; the others
    # (the hellos, kept as they are, among them) cross as their step alone.
    assert {m.msg_type for m in _messages("message")} == {11, 12}
    assert {1, 2, 4, 13} <= {s.message.msg_type for s in steps}
    # In each association, the messages after the ServerHello are read in the version it
    # chose (DTLS 1.0 or 1.2).
    versions = set()
    for made in MADE:
        order = [ev for name, ev in made.mine if name == "message"]
        hello = next(
            i
            for i, ev in enumerate(order)
            if isinstance(ev, HandshakeEvent) and ev.message.msg_type == 2
        )
        after = order[hello + 1 :]
        assert not any(isinstance(ev, _core.ContentMessage) for ev in order[:hello])
        chosen = {ev.version for ev in after if isinstance(ev, _core.ContentMessage)}
        assert len(chosen) == 1 and chosen <= {DTLS10, DTLS12}
        versions |= chosen
    assert DTLS12 in versions
    assert any(s.decrypted for s in steps)  # the Finished messages, opened by the association
    assert all(conn.dtls is not None for conn in conns)


def test_dtls13_certificate_verify_signs_the_association_transcript_hash(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    conns = _read(UDP / "dtls13.pcapng", monkeypatch)
    read = _messages("message")
    assert [s.message.msg_type for s in _steps("message")] == _model_messages(conns)
    verifies = [m for m in read if m.msg_type == 15]
    assert len(verifies) == len(conns) and all(m.version == DTLS13 for m in verifies)
    # The core association's TLS-form transcript hash (RFC 9147 §5.2), told before it.
    assert all(m.signed is not None and len(m.signed) in (32, 48) for m in verifies)
    assert [s.verified for conn in conns for s in conn.handshake_signatures] == [True] * len(conns)
    # Records the association left sealed are classified by the content layer.
    assert all(name in ("message", "skipped") for name, _ in _told())


def test_quic_crypto_streams_are_reassembled_and_read_by_the_core(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    conns = _read(UDP / "quic.pcapng", monkeypatch)
    read = _messages("crypto")
    steps = _steps("crypto")
    assert read and [s.message.msg_type for s in steps] == _model_messages(conns)
    by_type = {s.message.msg_type: s for s in steps}
    assert {1, 2, 8, 11, 15, 20} <= set(by_type)
    # The Initial space is not opened with secrets; the Handshake space is.
    assert not by_type[1].decrypted and not by_type[2].decrypted
    assert by_type[8].decrypted and {m.version for m in read if m.msg_type == 11} == {TLS13}
    # With the secrets, the CertificateVerify signs the transcript hash the decryptor kept.
    verifies = [m for m in read if m.msg_type == 15]
    assert all(m.signed is not None and len(m.signed) in (32, 48) for m in verifies)
    assert all(s.verified for conn in conns for s in conn.handshake_signatures)
    assert not any(isinstance(ev, _core.ContentFinding) for _, ev in _told())


def test_crypto_names_an_unknown_space_and_tells_an_incomplete_message() -> None:
    content = _core.Content(
        client_side=0,
        max_message=_core.MAX_HANDSHAKE_MESSAGE,
        known_types=HANDSHAKE_TYPES,
        keep_plaintext=False,
        keep_records=False,
    )
    with pytest.raises(ValueError, match='unknown packet number space "0-rtt"'):
        content.crypto(0, "0-rtt", b"", 0, False, at=(1, 0))
    assert (
        content.crypto(1, "handshake", b"\x0b\x00\x00\x28" + b"\x00" * 10, 0, True, at=(2, 0)) == []
    )
    (finding,) = content.crypto_end(at=(3, 0))
    assert isinstance(finding, _core.ContentFinding)
    assert (finding.side, finding.layer, finding.offset, finding.message) == (
        1,
        "handshake",
        0,
        "handshake message type 11 in the handshake CRYPTO stream claims 40 bytes, only 10 arrived",
    )


def test_the_context_of_a_message_is_one_object_per_distinct_answer() -> None:
    """Every message is read in what was negotiated before it: one frozen HandshakeContext
    per (version, key exchange, authentication), equal to the one made anew, and the cache
    of them is bounded."""
    from tlslens.handshake import messages as hs
    from tlslens.tls.content import handshake_context

    first = handshake_context(TLS13, None, None)
    assert first is handshake_context(TLS13, None, None)
    assert first == hs.HandshakeContext(version=TLS13) and first.tls13
    tls12 = handshake_context(0x0303, "ECDHE", "RSA")
    assert tls12 == hs.HandshakeContext(version=0x0303, kx="ECDHE", auth="RSA")
    assert not tls12.tls13 and tls12 is not first
    for version in range(1000):
        handshake_context(version, "RSA", "RSA")
    info = handshake_context.cache_info()
    assert info.maxsize is not None and info.currsize <= info.maxsize
