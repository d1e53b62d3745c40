"""The core's content layer (``_core.Content``) on the core session's events: records in,
one typed event per step out (the timeline's own events, made in the core with where they
were seen), the other session events passed through in order."""

from __future__ import annotations

import pytest

from tlslens import _core, registry
from tlslens.tls.content import HANDSHAKE_TYPES

from test_session import CH_RECORD, _handshake, _record


def _pair(*, keep_records: bool = False) -> tuple[_core.Session, _core.Content]:
    session = _core.Session(
        client_side=0, mid_stream=False, ports=(50000, 443), skip_application_data=True
    )
    content = _core.Content(
        client_side=None,  # told by the session's TlsStarted
        max_message=_core.MAX_HANDSHAKE_MESSAGE,
        known_types=HANDSHAKE_TYPES,
        keep_plaintext=False,
        keep_records=keep_records,
    )
    return session, content


def test_a_record_becomes_its_message_read_in_the_core() -> None:
    """A ClientHello, which the model keeps as it is, crosses as its timeline step."""
    session, content = _pair()
    events = content.take(session.data(0, 0, CH_RECORD), 1, 1000)
    assert [type(e) for e in events] == [_core.TlsStarted, _core.HandshakeEvent]
    step = events[1]
    assert type(step) is _core.HandshakeEvent and isinstance(step.message, _core.ClientHello)
    assert step.message.server_name == "tlslens.test"
    assert (step.frame, step.ts_ns, step.direction, step.offset, step.length) == (
        1,
        1000,
        "c2s",
        5,
        len(CH_RECORD) - 5,
    )
    assert (step.decrypted, step.raw, step.records, step.last_frame) == (False, None, 1, 1)


def test_a_message_the_model_reads_with_its_context_crosses_as_a_content_message() -> None:
    """A Certificate: its step, its bytes, where it is and what was negotiated before it."""
    session, content = _pair()
    content.take(session.data(0, 0, CH_RECORD), 1, 1000)
    certificate = _handshake(11, b"\x00\x00\x00")  # an empty certificate_list
    events = content.take(session.data(1, 0, _record(22, certificate)), 2, 2000)
    read = events[-1]
    assert isinstance(read, _core.ContentMessage)
    assert (read.side, read.offset, read.raw, read.msg_type) == (1, 5, certificate, 11)
    assert (read.version, read.kx, read.signed, read.verified) == (None, None, None, None)
    step = read.event
    assert type(step) is _core.HandshakeEvent and type(step.message) is _core.Certificate
    assert (step.frame, step.ts_ns, step.direction, step.offset, step.length) == (
        2,
        2000,
        "s2c",
        5,
        len(certificate),
    )


def _hello_body(extensions: int, trailer: bytes = b"") -> bytes:
    """A TLS 1.2 ClientHello body with ``extensions`` empty ones of distinct unknown types."""
    block = b"".join((1000 + n).to_bytes(2, "big") + b"\x00\x00" for n in range(extensions))
    return (
        b"\x03\x03"  # legacy_version
        + bytes(32)  # random
        + b"\x00"  # legacy_session_id
        + b"\x00\x02\x13\x01"  # cipher_suites
        + b"\x01\x00"  # legacy_compression_methods
        + len(block).to_bytes(2, "big")
        + block
        + trailer
    )


def test_a_message_the_model_does_not_read_crosses_as_its_step_with_its_bytes_if_kept() -> None:
    """A ServerHelloDone: no ``ContentMessage``, only its ``HandshakeEvent``, which keeps
    the message's bytes for ``--records``."""
    done = _handshake(14, b"")
    for keep in (False, True):
        session, content = _pair(keep_records=keep)
        content.take(session.data(0, 0, CH_RECORD), 1, 1000)
        events = content.take(session.data(1, 0, _record(22, done)), 2, 2000)
        steps = [e for e in events if not isinstance(e, _core.TlsRecord)]
        assert [type(e) for e in steps] == [_core.HandshakeEvent]
        (step,) = steps
        assert isinstance(step, _core.HandshakeEvent)
        assert (step.message.msg_type, step.direction, step.offset, step.length) == (
            14,
            "s2c",
            5,
            4,
        )
        assert step.raw == (done if keep else None)


def test_a_crowded_or_malformed_hello_and_an_unreadable_message_are_told_by_the_core() -> None:
    """Their findings come before the message's step, where the message is."""
    session, content = _pair()
    crowded = _record(22, _handshake(1, _hello_body(101, b"\x00")))
    events = content.take(session.data(0, 0, crowded), 1, 1000)
    assert [type(e) for e in events] == [
        _core.TlsStarted,
        _core.ContentFinding,
        _core.ContentFinding,
        _core.HandshakeEvent,
    ]
    malformed, many = events[1], events[2]
    assert isinstance(malformed, _core.ContentFinding) and isinstance(many, _core.ContentFinding)
    assert (malformed.layer, malformed.offset, malformed.side) == ("handshake", 5, 0)
    assert malformed.message == "ClientHello: 1 bytes after the extensions block"
    assert many.message == (
        "ClientHello carries 101 extensions; common TLS stacks send fewer than 30, so this "
        "hello was crafted (by a fuzzer, a scanner or an attack)"
    )
    fine_session, fine = _pair()
    hundred = fine.take(fine_session.data(0, 0, _record(22, _handshake(1, _hello_body(100)))), 1, 0)
    assert [type(e) for e in hundred] == [_core.TlsStarted, _core.HandshakeEvent]
    events = content.take(session.data(1, 0, _record(22, _handshake(2, b"\x03\x03"))), 2, 2000)
    assert [type(e) for e in events] == [_core.ContentFinding, _core.HandshakeEvent]
    unreadable, step = events
    assert isinstance(unreadable, _core.ContentFinding) and isinstance(step, _core.HandshakeEvent)
    why = "message type 2: needs 32 bytes at offset 2, 0 remain"
    assert (unreadable.message, unreadable.offset) == (f"server_hello: {why}", 5)
    assert type(step.message) is _core.OpaqueMessage and step.message.malformed == why
    assert step.message.body == b"\x03\x03"


def test_an_opened_compressed_certificate_takes_the_place_of_the_message_in_its_step() -> None:
    session, content = _pair(keep_records=True)
    content.take(session.data(0, 0, CH_RECORD), 1, 1000)
    compressed = _handshake(25, b"\x00\x01" + b"\x00\x00\x10" + b"\x00\x00\x02" + b"xy")
    events = content.take(session.data(1, 0, _record(22, compressed)), 2, 2000)
    read = events[-1]
    assert isinstance(read, _core.ContentMessage)
    assert type(read.event.message) is _core.CompressedCertificate
    opened = read.event.message.with_malformed("not opened")
    step = read.event.with_message(opened)
    assert step.message is opened and step is not read.event
    assert (step.frame, step.direction, step.offset, step.length, step.raw) == (
        read.event.frame,
        "s2c",
        5,
        len(compressed),
        compressed,
    )


def test_application_data_in_a_row_is_one_step_and_alerts_are_read() -> None:
    session, content = _pair()
    content.take(session.data(0, 0, CH_RECORD), 1, 1000)
    server = _record(23, b"a" * 30) * 3 + _record(21, b"\x01\x00") + _record(21, b"\x02")
    events = content.take(session.data(1, 0, server), 2, 2000)
    assert [type(e) for e in events] == [
        _core.ApplicationDataEvent,
        _core.AlertEvent,
        _core.ContentFinding,  # and no alert: half of one is none
    ]
    run, close, odd = events
    assert isinstance(run, _core.ApplicationDataEvent)
    assert (run.kind, run.records, run.length, run.offset, run.decrypted) == (
        "application_data",
        3,
        90,
        0,
        False,
    )
    assert (run.frame, run.ts_ns, run.last_frame, run.direction) == (2, 2000, 2, "s2c")
    assert isinstance(close, _core.AlertEvent)
    assert (close.level, close.description, close.offset) == (1, 0, 105)
    assert (close.frame, close.direction, close.length, close.records) == (2, "s2c", 2, 1)
    (records, size, gaps, _gap_bytes), client = content.counts[1], content.counts[0]
    assert (records, size, gaps) == (3, 90, 0) and client == (0, 0, 0, 0)
    assert isinstance(odd, _core.ContentFinding)
    assert (odd.layer, odd.offset, odd.frame, odd.message) == (
        "alert",
        112,
        2,
        "alert record of 1 bytes (alerts are 2)",
    )


def test_kept_records_pass_through_and_a_message_lost_in_a_gap_is_told() -> None:
    session, content = _pair(keep_records=True)
    content.take(session.data(0, 0, CH_RECORD), 1, 1000)
    certificate = _record(22, _handshake(11, b"\x00" * 40)[:20])
    events = content.take(session.data(1, 0, certificate), 2, 2000)
    assert [type(e) for e in events] == [_core.TlsRecord]  # the message is not whole yet
    events = content.take(session.gap(1, 25, 100), 3, 3000)
    # The hole is a step of the timeline, then the session's event (for its finding), and
    # what the handshake lacks now (a signature without its certificate says it).
    assert [type(e) for e in events] == [
        _core.GapEvent,
        _core.StreamGap,
        _core.ContentFinding,
        _core.ContentLack,
    ]
    lacks = events[3]
    assert isinstance(lacks, _core.ContentLack)
    assert (lacks.frame, lacks.side, lacks.msg_type, lacks.text) == (
        3,
        1,
        11,
        "the server's handshake message type 11 (Certificate) lost bytes in a gap of the capture "
        "and was dropped",
    )
    gap = events[0]
    assert isinstance(gap, _core.GapEvent)
    assert (gap.frame, gap.direction, gap.offset, gap.length) == (3, "s2c", 25, 100)
    assert content.counts[1][2:] == (1, 100)
    lost = events[2]
    assert isinstance(lost, _core.ContentFinding)
    assert (lost.side, lost.offset, lost.message) == (
        1,
        5,
        "a handshake message lost bytes in the gap; it is dropped",
    )


def test_ctrl_c_while_the_core_names_an_unreadable_message_stops_the_reading(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The core asks the registry for the message's name: a Ctrl-C that comes while it runs
    is raised, not made the type's number."""
    session, content = _pair()
    content.take(session.data(0, 0, _record(22, _handshake(1, _hello_body(3)))), 1, 0)

    def interrupted(msg_type: int) -> str:
        raise KeyboardInterrupt

    monkeypatch.setattr(registry, "handshake_name", interrupted)
    with pytest.raises(KeyboardInterrupt):
        content.take(session.data(1, 0, _record(22, _handshake(2, b"\x03\x03"))), 2, 2000)


def test_ctrl_c_while_the_core_names_a_repeated_extension_stops_the_reading(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A ClientHello repeating an extension type: its finding names the type by the
    registry, and a Ctrl-C that comes while the registry runs is raised, not made the
    type's number."""
    repeated = b"\x03\xe8\x00\x00"  # type 1000, empty: the body's first extension again
    hello = _record(22, _handshake(1, _hello_body(2)[:-10] + b"\x00\x08" + repeated * 2))
    session, content = _pair()
    events = content.take(session.data(0, 0, hello), 1, 0)
    told = [e.message for e in events if isinstance(e, _core.ContentFinding)]
    assert len(told) == 1 and "(the first: unknown (0x03e8))" in told[0], told

    def interrupted(ext_type: int) -> str:
        raise KeyboardInterrupt

    monkeypatch.setattr(registry, "extension_name", interrupted)
    session, content = _pair()
    with pytest.raises(KeyboardInterrupt):
        content.take(session.data(0, 0, hello), 1, 0)
