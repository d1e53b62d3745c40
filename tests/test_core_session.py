"""The session's mode machine in the compiled core (tlslens._core.Session): bytes of one
connection in, record-level events out; and FlowCore driving it for every flow of a
capture, so that Python receives records, not stream bytes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tlslens import _core
from tlslens.capture.writer import write_pcap
from tlslens.events import DataEvent
from tlslens.keys.files import add_keylog_file
from tlslens.keys.store import KeyStore
from tlslens.pipeline import read_capture
from tlslens.serialize import connection_to_json
from tlslens.tls.content import HANDSHAKE_TYPES
from tlslens.tls.session import FlowSession

from _frames import core_events, read_frames
from conftest import CAPTURES

CLIENT_HELLO = b"\x16\x03\x01\x00\x04\x01\x00\x00\x00"


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
    events = core_events(path, sessions=True)
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
    events = core_events(CAPTURES / "demo-tls12-tls13.pcapng", sessions=True, keys=True)
    kinds = {
        type(ev) for batch in events if type(batch) is _core.SessionEvents for ev in batch.events
    }
    assert _core.TlsRecord in kinds and _core.SkippedBody not in kinds


def test_a_starttls_capture_through_the_core_session(corpus: Path) -> None:
    conns = list(read_capture(corpus / "zeek" / "imap-starttls.pcap"))
    assert len(conns) == 1
    prelude = conns[0].prelude
    assert prelude is not None and prelude.protocol == "IMAP STARTTLS"


def _first_connection_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug in the model: the first connection's ClientHello raises as its handshake is
    opened (Python's part of the model, which ``_core.take_events`` asks for it)."""
    original = FlowSession._new_handshake

    def failing(self: FlowSession) -> None:
        if self.tcp_stream == 0:
            raise RuntimeError("boom")
        original(self)

    monkeypatch.setattr(FlowSession, "_new_handshake", failing)


def test_a_bug_in_one_connections_content_is_its_finding_and_the_run_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The core session of a connection whose content raised only counts its bytes from
    then on; the connection is reported with the internal error, the others as before."""
    path = CAPTURES / "demo-tls12-tls13.pcapng"
    clean = [connection_to_json(conn) for conn in read_capture(path)]
    _first_connection_fails(monkeypatch)
    conns = list(read_capture(path))
    assert len(conns) == len(clean) > 1
    broken = conns[0]
    assert [p.layer for p in broken.problems if "internal error" in p.message] == ["internal"]
    assert "RuntimeError: boom" in broken.problems[0].message
    assert broken.stats["c2s"].bytes > 0  # counted still
    assert [connection_to_json(conn) for conn in conns[1:]] == clean[1:]


def _ended_by_port_reuse(tmp_path: Path) -> Path:
    """The demo capture's first connection without its FINs and RSTs, then a new SYN on its
    ports (another sequence number): the connection ends when the new one begins."""
    frames = read_frames(CAPTURES / "demo-tls12-tls13.pcapng")

    def ports(frame: bytes) -> bytes:
        ihl = (frame[14] & 15) * 4
        return frame[26:34] + frame[14 + ihl : 14 + ihl + 4]

    def flags(frame: bytes) -> int:
        return frame[14 + (frame[14] & 15) * 4 + 13]

    first = frames[0][2]
    assert flags(first) == 0x02  # its SYN
    same = {
        ports(first),
        ports(first)[4:8] + ports(first)[:4] + ports(first)[10:12] + ports(first)[8:10],
    }
    kept = [
        (ts, data) for ts, _, data in frames if ports(data) not in same or not flags(data) & 0x05
    ]
    again = bytearray(first)
    seq = 14 + (first[14] & 15) * 4 + 4
    again[seq : seq + 4] = (int.from_bytes(first[seq : seq + 4], "big") ^ 0x40000000).to_bytes(
        4, "big"
    )
    path = tmp_path / "reused.pcap"
    with path.open("wb") as out:
        write_pcap(out, [*kept, (frames[-1][0] + 1_000_000_000, bytes(again))])
    return path


def test_a_bug_in_a_connection_ended_by_port_reuse_keeps_its_counts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The sides' ends of a connection the content layer gave up on are still counted:
    they come with the events Python stopped reading at the bug (a connection told at its
    end crosses in one ``SessionEvents``), and ``_core.take_events`` counts them before the
    flow is given up."""
    path = _ended_by_port_reuse(tmp_path)
    clean = next(iter(read_capture(path))).stats
    _first_connection_fails(monkeypatch)
    broken = next(iter(read_capture(path)))
    assert any("RuntimeError: boom" in p.message for p in broken.problems)
    for side in ("c2s", "s2c"):
        assert broken.stats[side].bytes == clean[side].bytes > 0
        assert broken.stats[side].records == clean[side].records > 0


def _content(keys: KeyStore | None = None, *, records: bool = False) -> _core.ContentOptions:
    """The content layer in the walk, as the capture path makes it."""
    return _core.ContentOptions(
        max_message=_core.MAX_HANDSHAKE_MESSAGE,
        known_types=HANDSHAKE_TYPES,
        keep_plaintext=False,
        keep_records=records,
        keys=keys,
        keys_for=lambda _secrets: keys,
    )


def _said(events: list[_core.FlowEvent]) -> list[object]:
    return [ev for batch in events if type(batch) is _core.SessionEvents for ev in batch.events]


def test_with_the_content_layer_in_the_walk_no_record_crosses_into_python() -> None:
    """The capture path's flows are read by their core content layer inside the walk:
    Python gets handshake messages and runs of application data, never a record."""
    path = CAPTURES / "demo-tls12-tls13.pcapng"
    said = _said(core_events(path, sessions=True, content=_content()))
    kinds = {type(ev) for ev in said}
    assert _core.ContentMessage in kinds and _core.ApplicationDataEvent in kinds
    assert not kinds & {_core.TlsRecord, _core.SkippedBody}
    hellos = [
        ev
        for ev in said
        if type(ev) is _core.HandshakeEvent and type(ev.message) is _core.ClientHello
    ]
    assert len(hellos) == sum(1 for _ in read_capture(path))


def _frames_told(batch: _core.SessionEvents) -> set[int]:
    """The frames the events of one ``SessionEvents`` say they were seen in (but runs of
    application data, which the walk folds over frames anyway)."""
    return {
        ev.event.frame if isinstance(ev, _core.ContentMessage) else ev.frame
        for ev in batch.events
        if isinstance(ev, _core.ContentMessage | _core.TimelineEvent | _core.ContentFinding)
        and not isinstance(ev, DataEvent)
    }


def test_a_connections_stream_events_of_one_batch_cross_together_each_with_its_frame() -> None:
    """A flow's later stream events join its ``SessionEvents`` while nothing else of the
    flow came between: a connection crosses in a few calls, not one per frame, and each of
    its events keeps the frame it was seen in (the connections are the same: the digests
    of tests/test_corpus_digests.py)."""
    path = CAPTURES / "demo-tls12-tls13.pcapng"
    events = core_events(path, sessions=True, content=_content())
    batches = [ev for ev in events if type(ev) is _core.SessionEvents]
    opened = [ev for ev in events if type(ev) is _core.FlowOpened]
    assert len(batches) <= 2 * len(opened)  # one a frame before: seven a connection here
    assert any(len(_frames_told(batch)) > 2 for batch in batches)
    for batch in batches:  # the first frame of a batch is its own
        assert min(_frames_told(batch) or {batch.frame}) >= batch.frame
    # Flow by flow, the frames of its events only grow.
    for flow in {ev.flow for ev in opened}:
        frames = [f for b in batches if b.flow == flow for f in sorted(_frames_told(b))]
        assert frames == sorted(frames)


def test_with_records_kept_each_stream_event_crosses_on_its_own() -> None:
    """``--records`` needs each record's frame: nothing joins."""
    path = CAPTURES / "demo-tls12-tls13.pcapng"
    events = core_events(path, sessions=True, content=_content(records=True))
    batches = [ev for ev in events if type(ev) is _core.SessionEvents]
    assert batches and all(_frames_told(batch) <= {batch.frame} for batch in batches)


def test_with_records_kept_each_header_crosses_as_a_skipped_body() -> None:
    """``--records`` through the walk: one header per record the connections list."""
    path = CAPTURES / "demo-tls12-tls13.pcapng"
    said = _said(core_events(path, sessions=True, content=_content(records=True)))
    headers = [
        (ev.offset, ev.content_type, ev.length) for ev in said if type(ev) is _core.SkippedBody
    ]
    expected = [
        (r.offset, r.content_type, r.length)
        for conn in read_capture(path, records=True)
        for r in conn.records or []
    ]
    assert headers == expected and len(expected) > 0


def test_a_bulk_connection_crosses_as_one_run_per_timeline_step() -> None:
    """Application data records in a row are folded in the core over frames, as the
    timeline folds them: one event per step, which says its first and last frames."""
    path = CAPTURES / "nginx-h2.pcapng"
    keys = KeyStore()
    add_keylog_file(keys, path.with_suffix(".keys"))
    said = _said(core_events(path, sessions=True, keys=True, content=_content(keys)))
    runs = [ev for ev in said if isinstance(ev, DataEvent)]
    steps = [
        event
        for conn in read_capture(path, keys=keys)
        for event in conn.timeline
        if isinstance(event, DataEvent)
    ]
    assert len(runs) == len(steps)
    assert [(r.frame, r.last_frame, r.records) for r in runs] == [
        (s.frame, s.last_frame, s.records) for s in steps
    ]
    assert any(r.last_frame > r.frame for r in runs)


def test_direction_stats_count_what_the_content_layer_adds() -> None:
    """A connection's two directions, made without a Python call; a content layer's counts
    go to the client's side as "c2s" (both as "s2c" while no side is known), and a count
    saturates at 64 bits instead of wrapping."""
    stats = _core.direction_stats()
    assert sorted(stats) == ["c2s", "s2c"] and stats["c2s"] is not stats["s2c"]
    c2s, s2c = stats["c2s"], stats["s2c"]
    _core.add_counts(stats, 1, [(1, 2, 3, 4), (5, 6, 7, 8)])
    counted = lambda s: (  # noqa: E731
        s.application_data_records,
        s.application_data_bytes,
        s.gaps,
        s.gap_bytes,
    )
    assert counted(c2s) == (5, 6, 7, 8) and counted(s2c) == (1, 2, 3, 4)
    _core.add_counts(stats, None, [(1, 1, 1, 1), (1, 1, 1, 1)])
    assert counted(c2s) == (5, 6, 7, 8) and counted(s2c) == (3, 4, 5, 6)
    c2s.application_data_bytes = 2**64 - 1
    _core.add_counts(stats, 0, [(0, 9, 0, 0), (0, 0, 0, 0)])
    assert c2s.application_data_bytes == 2**64 - 1 and c2s.bytes == c2s.records == 0
    assert repr(_core.DirectionStats(bytes=3, records=1)) == (
        "DirectionStats(records=1, application_data_records=0, application_data_bytes=0, "
        "bytes=3, gaps=0, gap_bytes=0)"
    )
    with pytest.raises(OverflowError):
        _core.DirectionStats(records=-1)
    with pytest.raises(KeyError):
        _core.add_counts({}, 0, [(1, 1, 1, 1), (1, 1, 1, 1)])
