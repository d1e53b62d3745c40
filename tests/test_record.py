"""The record layer on its own (the core's, through tlslens._core.Session: one direction's
bytes in, record-level events out), sans-IO: fed whole, byte by byte, split anywhere, with
holes and junk, and driven the way a live client drives it, from a real handshake between
two Python `ssl` endpoints over memory BIOs. Framing internals the session does not expose
(the resync window's bound, detection) are the core's own unit tests
(crates/tlslens-core/src/records/tests.rs), and so is handshake defragmentation
(crates/tlslens-core/src/handshake/defrag.rs)."""

from __future__ import annotations

import ssl

from hypothesis import given
from hypothesis import strategies as st

from tlslens import _core, registry
from tlslens._core import MAX_HANDSHAKE_MESSAGE, MAX_RECORD

from conftest import VECTORS

HANDSHAKE = bytes.fromhex(
    "16"  # content type: handshake
    "0303"  # legacy_record_version: TLS 1.2
    "0008"  # length
    "0e000000"  # ServerHelloDone, empty
    "0e000000"  # ... and a second one in the same record
)
CCS = bytes.fromhex("140303000101")  # change_cipher_spec
APPDATA = bytes.fromhex("1703030006") + b"secret"  # application_data, 6 bytes
ALERT = bytes.fromhex("15030300020100")  # warning close_notify
STREAM = HANDSHAKE + CCS + APPDATA + ALERT
SERVER = 1  # the side the records above come from (side 0 opened the connection)

Event = tuple[object, ...]


def _session(*, skip: bool = True, mid_stream: bool = False) -> _core.Session:
    return _core.Session(
        client_side=0, mid_stream=mid_stream, ports=(50000, 443), skip_application_data=skip
    )


def _event(ev: _core.SessionEvent) -> Event | None:
    """A record-level event as a comparable tuple (kind, then fields); None for the others."""
    if isinstance(ev, _core.TlsRecord):
        return ("record", ev.content_type, ev.version, ev.offset, ev.body)
    if isinstance(ev, _core.SkippedBody):
        return ("skipped", ev.content_type, ev.version, ev.offset, ev.length)
    if isinstance(ev, _core.RecordBadHeader):
        return ("bad header", ev.offset, ev.message)
    if isinstance(ev, _core.RecordResync):
        return ("resync", ev.offset, ev.skipped)
    if isinstance(ev, _core.RecordTruncated):
        return ("truncated", ev.offset, ev.present, ev.needed)
    if isinstance(ev, _core.StreamGap):
        return ("gap", ev.offset, ev.length, ev.lost)
    return None


def _events(events: list[_core.SessionEvent]) -> list[Event]:
    return [e for e in map(_event, events) if e is not None]


def _read(
    chunks: list[bytes], *, skip: bool = True, eof: bool = True, mid_stream: bool = False
) -> list[Event]:
    session = _session(skip=skip, mid_stream=mid_stream)
    events: list[_core.SessionEvent] = []
    offset = 0
    for chunk in chunks:
        events += session.data(SERVER, offset, chunk)
        offset += len(chunk)
    if eof:
        events += session.finish()
    return _events(events)


EXPECTED_SKIPPING = [
    ("record", 22, 0x0303, 0, HANDSHAKE[5:]),
    ("record", 20, 0x0303, 13, b"\x01"),
    ("skipped", 23, 0x0303, 19, 6),
    ("record", 21, 0x0303, 30, b"\x01\x00"),
]


def test_whole_stream() -> None:
    assert _read([STREAM]) == EXPECTED_SKIPPING


def test_byte_by_byte() -> None:
    assert _read([bytes([b]) for b in STREAM]) == EXPECTED_SKIPPING


def test_application_data_bodies_when_asked() -> None:
    events = _read([STREAM], skip=False)
    assert events[2] == ("record", 23, 0x0303, 19, b"secret")


def test_bodies_are_bytes_not_views() -> None:
    session = _session(skip=False)
    events = session.data(SERVER, 0, STREAM[:20]) + session.data(SERVER, 20, STREAM[20:])
    bodies = [e.body for e in events if isinstance(e, _core.TlsRecord)]
    assert len(bodies) == 4 and all(type(body) is bytes for body in bodies)


@given(cuts=st.lists(st.integers(0, len(STREAM)), max_size=12), skip=st.booleans())
def test_any_segmentation_gives_the_same_records(cuts: list[int], skip: bool) -> None:
    points = sorted(set(cuts))
    chunks = [STREAM[a:b] for a, b in zip([0, *points], [*points, len(STREAM)], strict=True)]
    assert _read(chunks, skip=skip) == _read([STREAM], skip=skip)


def test_counts_bytes_and_records() -> None:
    session = _session()
    session.data(SERVER, 0, STREAM)
    ends = [e for e in session.finish() if isinstance(e, _core.SideEnd) and e.side == SERVER]
    assert [(e.bytes, e.records) for e in ends] == [(len(STREAM), 4)]


def test_stream_ending_inside_a_record_is_truncated() -> None:
    events = _read([STREAM[:-1]])
    assert events[-1] == ("truncated", 30, 6, 7)


def test_without_eof_an_incomplete_record_waits() -> None:
    events = _read([STREAM[:-1]], eof=False)
    assert len(events) == 3
    assert not any(e[0] == "truncated" for e in events)


def test_gap_inside_a_skipped_body_costs_nothing() -> None:
    big = bytes.fromhex("1703031000") + bytes(0x1000)
    session = _session(mid_stream=True)
    assert _events(session.data(SERVER, 0, big[:100])) == [("skipped", 23, 0x0303, 0, 0x1000)]
    assert _events(session.gap(SERVER, 100, 1000)) == [("gap", 100, 1000, False)]
    assert _events(session.data(SERVER, 1100, big[1100:] + ALERT)) == [
        ("record", 21, 0x0303, len(big), b"\x01\x00")
    ]


def test_gap_elsewhere_resynchronises_on_the_next_header() -> None:
    session = _session()
    assert _events(session.data(SERVER, 0, HANDSHAKE[:7])) == []
    assert _events(session.gap(SERVER, 7, 5)) == [("gap", 7, 5, True)]
    # What follows the hole: the rest of a lost record, then real records.
    tail = b"\x00\x0e\x00\x00"
    assert _events(session.data(SERVER, 12, tail + CCS + ALERT)) == [
        ("resync", 12 + len(tail), len(tail)),
        ("record", 20, 0x0303, 16, b"\x01"),
        ("record", 21, 0x0303, 22, b"\x01\x00"),
    ]


def test_bad_header_is_named_then_records_resume() -> None:
    junk = b"GET / HTTP/1.1\r\n"
    events = _read([CCS + junk + ALERT + CCS], mid_stream=True)
    assert events[0] == ("record", 20, 0x0303, 0, b"\x01")
    kind, offset, message = events[1]
    assert (kind, offset) == ("bad header", 6)
    assert "not a TLS record header (474554202f)" in str(message)
    assert events[2][:2] == ("resync", 6 + len(junk))
    assert events[3:] == [
        ("record", 21, 0x0303, 6 + len(junk), b"\x01\x00"),
        ("record", 20, 0x0303, 13 + len(junk), b"\x01"),
    ]


def test_hostile_length_is_refused_not_buffered() -> None:
    header = bytes.fromhex("160303ffff")
    session = _session(skip=False)
    events = session.data(SERVER, 0, header + bytes(100))
    (event,) = [e for e in events if isinstance(e, _core.RecordBadHeader)]
    assert f"claiming 65535 bytes, more than TLS allows ({MAX_RECORD})" in event.message


# -- the live path: a real handshake, driven from memory BIOs -------------------------------


def _handshake_bytes() -> tuple[bytes, bytes]:
    """Every byte a Python `ssl` client and server send each other, over memory BIOs."""
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(VECTORS / "pki" / "server-chain.pem", VECTORS / "pki" / "server.key")
    server_ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_ctx.check_hostname = False
    client_ctx.verify_mode = ssl.CERT_NONE
    bios = [ssl.MemoryBIO() for _ in range(4)]
    client = client_ctx.wrap_bio(bios[0], bios[1])
    server = server_ctx.wrap_bio(bios[2], bios[3], server_side=True)
    sent = {"c2s": b"", "s2c": b""}
    done = [False, False]
    for _ in range(20):
        for i, (end, outgoing, key) in enumerate(
            ((client, bios[1], "c2s"), (server, bios[3], "s2c"))
        ):
            if not done[i]:
                try:
                    end.do_handshake()
                    done[i] = True
                except ssl.SSLWantReadError:
                    pass
            data = outgoing.read()
            sent[key] += data
            (bios[2] if key == "c2s" else bios[0]).write(data)
        if all(done):
            break
    client.write(b"GET / HTTP/1.1\r\n\r\n")
    sent["c2s"] += bios[1].read()
    return sent["c2s"], sent["s2c"]


def test_records_of_a_live_handshake() -> None:
    c2s, s2c = _handshake_bytes()
    session = _session()
    events: list[_core.SessionEvent] = []
    for i in range(0, len(c2s), 7):
        events += session.data(0, i, c2s[i : i + 7])
    events += session.data(1, 0, s2c)
    events += session.finish()
    started = [e for e in events if isinstance(e, _core.TlsStarted)]
    assert [(e.side, e.client_side) for e in started] == [(0, 0)]
    kinds = (_core.TlsStarted, _core.TlsRecord, _core.SkippedBody, _core.SideEnd)
    assert all(isinstance(e, kinds) for e in events)
    records = [e for e in events if isinstance(e, _core.TlsRecord | _core.SkippedBody)]
    client_records = [e for e in records if e.side == 0]
    server_records = [e for e in records if e.side == 1]
    first = client_records[0]
    assert isinstance(first, _core.TlsRecord) and first.content_type == 22 and first.body[0] == 1
    assert [e.content_type for e in client_records] == [22, 22, 20, 22, 23]
    assert server_records[0].content_type == 22
    assert sum(
        5 + (len(e.body) if isinstance(e, _core.TlsRecord) else e.length) for e in client_records
    ) == len(c2s)
    # Handshake messages of the server's first flight, defragmented across its records by
    # the core's content layer.
    content = _core.Content(
        client_side=0,
        max_message=MAX_HANDSHAKE_MESSAGE,
        known_types=sorted(registry.HANDSHAKE_TYPES),
        keep_plaintext=False,
        keep_records=False,
    )
    steps = [
        ev.event if isinstance(ev, _core.ContentMessage) else ev
        for ev in content.take(events, 0, 0)
        if isinstance(ev, _core.ContentMessage | _core.HandshakeEvent)
    ]
    types = [step.message.msg_type for step in steps if step.direction == "s2c"]
    assert types[:2] == [2, 11]  # ServerHello, Certificate
    assert 14 in types  # ServerHelloDone
