"""The core's content layer (``_core.Content``) on the core session's events: records in,
one typed event per step out (the timeline's own events, made in the core with where they
were seen), the other session events passed through in order."""

from __future__ import annotations

from tlslens import _core
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
    session, content = _pair()
    events = content.take(session.data(0, 0, CH_RECORD), 1, 1000)
    assert [type(e) for e in events] == [_core.TlsStarted, _core.ContentMessage]
    read = events[1]
    assert isinstance(read, _core.ContentMessage)
    assert isinstance(read.message, _core.ClientHello)
    assert read.message.server_name == "tlslens.test"
    assert (read.side, read.offset, read.raw) == (0, 5, CH_RECORD[5:])
    assert (read.error, read.version, read.decrypted) == (None, None, False)


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
    assert (odd.layer, odd.offset, odd.message) == (
        "alert",
        112,
        "alert record of 1 bytes (alerts are 2)",
    )


def test_kept_records_pass_through_and_a_message_lost_in_a_gap_is_told() -> None:
    session, content = _pair(keep_records=True)
    content.take(session.data(0, 0, CH_RECORD), 1, 1000)
    certificate = _record(22, _handshake(11, b"\x00" * 40)[:20])
    events = content.take(session.data(1, 0, certificate), 2, 2000)
    assert [type(e) for e in events] == [_core.TlsRecord]  # the message is not whole yet
    events = content.take(session.gap(1, 25, 100), 3, 3000)
    # The hole is a step of the timeline, then the session's event (for its finding).
    assert [type(e) for e in events] == [_core.GapEvent, _core.StreamGap, _core.ContentFinding]
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
