"""The record layer on its own (the core's, through tlslens._core) and handshake defragmentation
(tls/defrag.py), sans-IO: fed whole, byte by byte, split anywhere, with holes and
junk, and driven the way a live client drives it, from a real handshake between two
Python `ssl` endpoints over memory BIOs."""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING

from hypothesis import given
from hypothesis import strategies as st

from tlslens._core import (
    MAX_RECORD,
    BadHeader,
    Record,
    RecordReader,
    Resynchronised,
    SkippedRecord,
    Truncated,
)

if TYPE_CHECKING:
    from tlslens._core import RecordEvent
from tlslens.tls.defrag import HandshakeBytes, HandshakeDefragmenter, OversizedMessage

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


def _read(chunks: list[bytes], *, skip: bool = True, eof: bool = True) -> list[RecordEvent]:
    reader = RecordReader(skip_application_data=skip)
    events: list[RecordEvent] = []
    offset = 0
    for chunk in chunks:
        events += reader.feed(offset, chunk)
        offset += len(chunk)
    if eof:
        events += reader.finish()
    return events


EXPECTED_SKIPPING = [
    Record(22, 0x0303, 0, HANDSHAKE[5:]),
    Record(20, 0x0303, 13, b"\x01"),
    SkippedRecord(23, 0x0303, 19, 6),
    Record(21, 0x0303, 30, b"\x01\x00"),
]


def test_whole_stream() -> None:
    assert _read([STREAM]) == EXPECTED_SKIPPING


def test_byte_by_byte() -> None:
    assert _read([bytes([b]) for b in STREAM]) == EXPECTED_SKIPPING


def test_application_data_bodies_when_asked() -> None:
    events = _read([STREAM], skip=False)
    assert events[2] == Record(23, 0x0303, 19, b"secret")


def test_bodies_are_bytes_not_views() -> None:
    reader = RecordReader(skip_application_data=False)
    events = reader.feed(0, bytearray(STREAM[:20]))
    events += reader.feed(20, memoryview(STREAM[20:]))
    assert all(type(e.body) is bytes for e in events if isinstance(e, Record))


@given(cuts=st.lists(st.integers(0, len(STREAM)), max_size=12), skip=st.booleans())
def test_any_segmentation_gives_the_same_records(cuts: list[int], skip: bool) -> None:
    points = sorted(set(cuts))
    chunks = [STREAM[a:b] for a, b in zip([0, *points], [*points, len(STREAM)], strict=True)]
    assert _read(chunks, skip=skip) == _read([STREAM], skip=skip)


def test_counts_bytes_and_records() -> None:
    reader = RecordReader()
    reader.feed(0, STREAM)
    assert (reader.bytes, reader.records) == (len(STREAM), 4)


def test_stream_ending_inside_a_record_is_truncated() -> None:
    events = _read([STREAM[:-1]])
    assert events[-1] == Truncated(30, 6, 7)


def test_without_eof_an_incomplete_record_waits() -> None:
    events = _read([STREAM[:-1]], eof=False)
    assert len(events) == 3
    assert not any(isinstance(e, Truncated) for e in events)


def test_gap_inside_a_skipped_body_costs_nothing() -> None:
    big = bytes.fromhex("1703031000") + bytes(0x1000)
    reader = RecordReader()
    assert reader.feed(0, big[:100]) == [SkippedRecord(23, 0x0303, 0, 0x1000)]
    assert reader.gap(100, 1000) is True
    assert reader.feed(1100, big[1100:] + ALERT) == [Record(21, 0x0303, len(big), b"\x01\x00")]
    assert not reader.resynchronising


def test_gap_elsewhere_resynchronises_on_the_next_header() -> None:
    reader = RecordReader()
    assert reader.feed(0, HANDSHAKE[:7]) == []
    assert reader.gap(7, 5) is False
    assert reader.resynchronising
    # What follows the hole: the rest of a lost record, then real records.
    tail = b"\x00\x0e\x00\x00"
    events = reader.feed(12, tail + CCS + ALERT)
    assert events[0] == Resynchronised(12 + len(tail), len(tail), (CCS + ALERT)[:6])
    assert events[1:] == [Record(20, 0x0303, 16, b"\x01"), Record(21, 0x0303, 22, b"\x01\x00")]


def test_bad_header_is_named_then_records_resume() -> None:
    junk = b"GET / HTTP/1.1\r\n"
    events = _read([CCS + junk + ALERT + CCS])
    assert events[0] == Record(20, 0x0303, 0, b"\x01")
    assert isinstance(events[1], BadHeader)
    assert events[1].offset == 6
    assert "not a TLS record header (474554202f)" in events[1].message
    assert isinstance(events[2], Resynchronised)
    assert events[2].offset == 6 + len(junk)
    assert events[3:] == [
        Record(21, 0x0303, 6 + len(junk), b"\x01\x00"),
        Record(20, 0x0303, 13 + len(junk), b"\x01"),
    ]


def test_hostile_length_is_refused_not_buffered() -> None:
    header = bytes.fromhex("160303ffff")
    reader = RecordReader(skip_application_data=False)
    event = reader.feed(0, header + bytes(100))[0]
    assert isinstance(event, BadHeader)
    assert f"claiming 65535 bytes, more than TLS allows ({MAX_RECORD})" in event.message


def test_resync_window_is_bounded() -> None:
    reader = RecordReader(resync_at=0)
    for i in range(64):
        assert reader.feed(i * 4096, b"\x00" * 4096) == []
    assert reader.pending <= 4


# -- handshake defragmentation ------------------------------------------------------------


def test_message_spanning_records_and_records_holding_two() -> None:
    finished = bytes.fromhex("1400000c") + bytes(12)
    done = bytes.fromhex("0e000000")
    defrag = HandshakeDefragmenter()
    defrag.feed(100, finished[:7])
    assert defrag.next_message() is None
    assert defrag.incomplete() == (0x14, 12, 3)
    defrag.feed(200, finished[7:] + done)
    assert defrag.next_message() == HandshakeBytes(0x14, finished, 100)
    assert defrag.next_message() == HandshakeBytes(0x0E, done, 100 + len(finished))
    assert defrag.next_message() is None
    assert not defrag.pending


def test_oversized_message_is_dropped() -> None:
    defrag = HandshakeDefragmenter(max_message=1000)
    defrag.feed(0, bytes.fromhex("0bffffff"))
    assert defrag.next_message() == OversizedMessage(0x0B, 0xFFFFFF, 0, 1000)
    assert not defrag.pending


def test_an_oversized_message_is_skipped_as_far_as_it_claims() -> None:
    done = bytes.fromhex("0e000000")
    defrag = HandshakeDefragmenter(max_message=1000)
    defrag.feed(0, bytes.fromhex("0b000bb8") + bytes(996))  # claims 3000 bytes
    assert defrag.next_message() == OversizedMessage(0x0B, 3000, 0, 1000)
    defrag.feed(1000, bytes(1500))  # its body goes on: skipped, not read as messages
    assert defrag.next_message() is None and not defrag.pending
    defrag.feed(2500, bytes(504) + done)  # its last bytes, then the next message
    assert defrag.next_message() == HandshakeBytes(0x0E, done, 3004)


def test_a_record_opening_a_whole_message_ends_the_skip() -> None:
    """A garbage header claiming megabytes, then a record holding a whole message: that
    message is read (a real continuation would not look like one)."""
    done = bytes.fromhex("0e000000")
    defrag = HandshakeDefragmenter(max_message=1000)
    defrag.feed(0, bytes.fromhex("38310b30") + bytes(20))
    assert isinstance(defrag.next_message(), OversizedMessage)
    defrag.feed(24, done)
    assert defrag.next_message() == HandshakeBytes(0x0E, done, 24)


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
    client_records = _read([c2s[i : i + 7] for i in range(0, len(c2s), 7)])
    server_records = _read([s2c])
    assert all(isinstance(e, Record | SkippedRecord) for e in client_records + server_records)
    first = client_records[0]
    assert isinstance(first, Record) and first.content_type == 22 and first.body[0] == 1
    assert [e.content_type for e in client_records] == [22, 22, 20, 22, 23]
    assert server_records[0].content_type == 22
    assert sum(
        5 + (len(e.body) if isinstance(e, Record) else e.length) for e in client_records
    ) == len(c2s)
    # Handshake messages of the server's first flight, defragmented across its records.
    defrag = HandshakeDefragmenter()
    types = []
    for event in server_records:
        if isinstance(event, Record) and event.content_type == 22:
            defrag.feed(event.offset + 5, event.body)
            while isinstance(message := defrag.next_message(), HandshakeBytes):
                types.append(message.msg_type)
        if isinstance(event, Record) and event.content_type == 20:
            break
    assert types[:2] == [2, 11]  # ServerHello, Certificate
    assert 14 in types  # ServerHelloDone
