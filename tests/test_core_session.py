"""The session's mode machine in the compiled core (tlslens._core.Session): bytes of one
connection in, record-level events out; and FlowCore driving it for every flow of a
capture, so that Python receives records, not stream bytes."""

from __future__ import annotations

from pathlib import Path

from tlslens import _core
from tlslens.bounds import DEFAULT_LIMITS
from tlslens.capture import open_capture
from tlslens.pipeline import read_capture

from conftest import CAPTURES

CLIENT_HELLO = b"\x16\x03\x01\x00\x04\x01\x00\x00\x00"


def _flow_events(path: Path, *, keys: bool = False) -> list[_core.FlowEvent]:
    limits = DEFAULT_LIMITS
    core = _core.FlowCore(
        reorder_window=limits.reorder_window,
        max_connections=limits.max_connections,
        max_buffer=limits.max_buffer,
        watch_after=_core.MAX_PRELUDE_SCAN,
        checks=False,
        sessions=True,
        keys=keys,
    )
    events: list[_core.FlowEvent] = []
    raw, reader = open_capture(path)
    with raw:
        capture_core = reader.open_core()
        while True:
            batch = core.pull(capture_core)
            events.extend(batch.events)
            if batch.hungry:
                if not reader.more(capture_core):
                    break
            elif core.exhausted(capture_core):
                break
        events.extend(core.finish().events)
    return events


def test_one_connection_bytes_in_record_level_events_out() -> None:
    session = _core.Session(
        client_side=0, mid_stream=False, ports=(50000, 25), skip_application_data=True
    )
    (banner,) = session.data(1, 0, b"220 mail.test ESMTP\r\n")
    assert type(banner) is _core.PreludeChunk
    assert (banner.side, banner.from_client, banner.protocol) == (1, False, "SMTP STARTTLS")
    started, record = session.data(0, 0, b"STARTTLS\r\n" + CLIENT_HELLO)[1:]
    assert type(started) is _core.TlsStarted and started.client_side == 0
    assert type(record) is _core.TlsRecord
    assert (record.offset, record.content_type, record.body) == (10, 22, CLIENT_HELLO[5:])
    ends = session.finish()
    assert [type(e) for e in ends] == [_core.SideEnd, _core.SideEnd]
    assert (ends[0].bytes, ends[0].records) == (len(CLIENT_HELLO), 1)


def test_the_capture_path_hands_python_records_not_stream_bytes() -> None:
    path = CAPTURES / "demo-tls12-tls13.pcapng"
    events = _flow_events(path)
    kinds = {type(ev) for ev in events}
    assert not kinds & {_core.FlowData, _core.FlowGap, _core.FlowConflict}
    records = [
        ev
        for batch in events
        if type(batch) is _core.SessionEvents
        for ev in batch.events
        if type(ev) in (_core.TlsRecord, _core.SkippedBody)
    ]
    expected = [
        (r.offset, r.content_type, r.length)
        for conn in read_capture(path, records=True)
        for r in conn.records or []
    ]
    assert len(records) == len(expected) > 0
    assert any(type(ev) is _core.SkippedBody for ev in records)  # no key log: not copied


def test_a_key_log_keeps_application_data_bodies() -> None:
    events = _flow_events(CAPTURES / "demo-tls12-tls13.pcapng", keys=True)
    kinds = {
        type(ev) for batch in events if type(batch) is _core.SessionEvents for ev in batch.events
    }
    assert _core.TlsRecord in kinds and _core.SkippedBody not in kinds


def test_a_starttls_capture_through_the_core_session(corpus: Path) -> None:
    conns = list(read_capture(corpus / "zeek" / "imap-starttls.pcap"))
    assert len(conns) == 1
    prelude = conns[0].prelude
    assert prelude is not None and prelude.protocol == "IMAP STARTTLS"
