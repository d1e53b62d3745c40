"""TCP reassembly: order, retransmission, overlap, wrap-around, loss."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from tlslens.flows.tcp import HalfStream, StreamConflict, StreamData, StreamGap

DATA = bytes(range(256)) * 8


def _collect(
    stream: HalfStream, segments: list[tuple[int, bytes]]
) -> tuple[bytes, list[StreamGap]]:
    out = bytearray()
    gaps: list[StreamGap] = []
    for seq, payload in segments:
        for ev in stream.feed(seq, payload):
            if isinstance(ev, StreamData):
                assert ev.offset == len(out) + sum(g.length for g in gaps)
                out += ev.data
            elif isinstance(ev, StreamGap):
                gaps.append(ev)
    for ev in stream.flush():
        if isinstance(ev, StreamData):
            out += ev.data
        elif isinstance(ev, StreamGap):
            gaps.append(ev)
    return bytes(out), gaps


def _segments(isn: int, sizes: list[int]) -> list[tuple[int, bytes]]:
    out, pos = [], 0
    for size in sizes:
        chunk = DATA[pos : pos + size]
        if not chunk:
            break
        out.append(((isn + 1 + pos) & 0xFFFFFFFF, chunk))
        pos += size
    if pos < len(DATA):
        out.append(((isn + 1 + pos) & 0xFFFFFFFF, DATA[pos:]))
    return out


def test_in_order_across_sequence_wrap() -> None:
    isn = 0xFFFFFF00
    stream = HalfStream()
    stream.syn(isn)
    data, gaps = _collect(stream, _segments(isn, [100] * 30))
    assert data == DATA and not gaps


def test_retransmission_and_overlap() -> None:
    stream = HalfStream()
    stream.syn(1000)
    segs = _segments(1000, [300] * 10)
    noisy = [segs[0], segs[1], segs[0], (segs[1][0] + 100, segs[1][1][100:] + segs[2][1][:50])]
    noisy += segs[2:]
    data, gaps = _collect(stream, noisy)
    assert data == DATA and not gaps
    assert stream.retransmitted_bytes >= 300


def test_out_of_order() -> None:
    stream = HalfStream()
    stream.syn(5)
    segs = _segments(5, [200] * 12)
    shuffled = segs[:]
    random.Random(7).shuffle(shuffled)
    data, gaps = _collect(stream, shuffled)
    assert data == DATA and not gaps


def test_loss_becomes_a_gap() -> None:
    stream = HalfStream()
    stream.syn(0)
    segs = _segments(0, [256] * 8)
    del segs[3]
    data, gaps = _collect(stream, segs)
    assert gaps == [StreamGap(768, 256)]
    assert data == DATA[:768] + DATA[1024:]


def test_mid_stream_pickup() -> None:
    stream = HalfStream()  # no SYN seen
    data, gaps = _collect(stream, _segments(12345, [500] * 5)[1:])
    assert data == DATA[500:] and not gaps


@given(
    st.lists(st.integers(1, 400), min_size=1, max_size=30),
    st.randoms(use_true_random=False),
    st.integers(0, 0xFFFFFFFF),
)
def test_any_segmentation_and_order_gives_the_same_bytes(
    sizes: list[int], rnd: random.Random, isn: int
) -> None:
    segs = _segments(isn, sizes)
    # reorder a little and duplicate some, as a real network does
    segs = segs + [s for s in segs if rnd.random() < 0.2]
    rnd.shuffle(segs)
    stream = HalfStream()
    stream.syn(isn)
    data, gaps = _collect(stream, segs)
    assert data == DATA and not gaps


def _conflicts(segments: list[tuple[int, bytes]]) -> tuple[bytes, list[StreamConflict]]:
    stream = HalfStream()
    stream.syn(999)
    events = [ev for seq, payload in segments for ev in stream.feed(seq, payload)]
    events += stream.flush()
    data = b"".join(ev.data for ev in events if isinstance(ev, StreamData))
    return data, [ev for ev in events if isinstance(ev, StreamConflict)]


def test_a_retransmission_with_other_bytes_is_a_conflict_and_the_first_copy_is_kept() -> None:
    data, conflicts = _conflicts([(1000, b"hello world"), (1006, b"WORLD!")])
    assert data == b"hello world!"
    assert conflicts == [StreamConflict(6, 5)]


def test_an_identical_retransmission_is_no_conflict() -> None:
    data, conflicts = _conflicts([(1000, b"hello world"), (1000, b"hello"), (1006, b"world")])
    assert data == b"hello world"
    assert conflicts == []


def test_conflicting_copies_beyond_a_hole_are_compared() -> None:
    # Two copies of the same out-of-order segment, then the hole fills.
    data, conflicts = _conflicts([(1005, b"abcde"), (1005, b"abXde"), (1000, b"01234")])
    assert data == b"01234abcde"
    assert conflicts == [StreamConflict(7, 1)]
    # Waiting data that overlaps what was handed on meanwhile, with other bytes.
    data, conflicts = _conflicts([(1004, b"Zabc"), (1000, b"01234")])
    assert data == b"01234abc"
    assert conflicts == [StreamConflict(4, 1)]
