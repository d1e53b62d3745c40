"""Property tests: segmentation never changes what is seen; mutations never crash.

1. Any segmentation of a connection's TCP byte streams gives the same connection.
2. Truncated or mutated real packets raise nothing through the pipeline, and no
   finding is an internal error: everything bad is reported as a problem.
"""

from __future__ import annotations

import io
import random
import re
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tlslens
from tlslens import _core
from tlslens.bounds import DEFAULT_LIMITS
from tlslens.capture import open_capture
from tlslens.capture.writer import PcapngWriter
from tlslens.model import Connection, Endpoint
from tlslens.serialize import connection_to_json
from tlslens.tls.session import TLSSession

from _frames import read_frames
from conftest import CAPTURES

SOURCES = sorted(CAPTURES.glob("*.pcap*"))


def _connection_streams(
    path: Path,
) -> list[tuple[tuple[Endpoint, Endpoint], list[tuple[int, bytes]]]]:
    """Per TCP connection begun by a SYN: its two ends and the (side, bytes) chunks the
    compiled flow table reassembled, in capture order."""
    limits = DEFAULT_LIMITS
    core = _core.FlowCore(
        reorder_window=limits.reorder_window,
        max_connections=limits.max_connections,
        max_buffer=limits.max_buffer,
        watch_after=1 << 62,  # no session here gives its flow up
        checks=False,
    )
    result: list[tuple[tuple[Endpoint, Endpoint], list[tuple[int, bytes]]]] = []
    index: dict[int, int] = {}
    raw, reader = open_capture(path)
    with raw:
        capture_core = reader.open_core()
        while True:
            batch = core.pull(capture_core)
            for ev in batch.events:
                if isinstance(ev, _core.FlowOpened) and not ev.mid_stream:
                    index[ev.flow] = len(result)
                    result.append(((Endpoint(ev.src, ev.sport), Endpoint(ev.dst, ev.dport)), []))
                elif isinstance(ev, _core.FlowData) and ev.flow in index:
                    result[index[ev.flow]][1].append((ev.side, ev.data))
            if batch.hungry:
                if not reader.more(capture_core):
                    break
            elif core.exhausted(capture_core):
                break
    return result


def _signature(conn: Connection | None) -> dict[str, Any] | None:
    if conn is None:
        return None
    row = connection_to_json(conn)
    for key in ("first_frame", "last_frame", "start_time", "end_time"):
        row.pop(key)
    row["handshake"] = [(h["direction"], h["type"]) for h in row["handshake"]]
    row["alerts"] = [(a["direction"], a["description"]) for a in row["alerts"]]
    for handshake in row["handshakes"]:
        handshake.pop("first_frame")  # frame numbers change with the segmentation
    for problem in row["problems"]:
        problem.pop("frame")
    row["outcome"]["reason"] = re.sub(r"frame \d+", "frame N", row["outcome"]["reason"])
    return row


def _replay(ends: tuple[Endpoint, Endpoint], chunks: list[tuple[int, bytes]]) -> Connection | None:
    session = TLSSession(0, ends, 1, 0, client_side=0, mid_stream=False)
    offsets = [0, 0]
    for frame, (side, data) in enumerate(chunks, start=1):
        session.data(side, offsets[side], data, frame, 0)
        offsets[side] += len(data)
    return session.finish()


STREAMS = [(path.name, i, s) for path in SOURCES for i, s in enumerate(_connection_streams(path))]


@settings(suppress_health_check=[HealthCheck.large_base_example, HealthCheck.too_slow])
@given(case=st.sampled_from(STREAMS), rnd=st.randoms(use_true_random=False))
def test_any_segmentation_gives_the_same_connection(case: Any, rnd: random.Random) -> None:
    _name, _index, (ends, chunks) = case
    expected = _signature(_replay(ends, chunks))
    resegmented: list[tuple[int, bytes]] = []
    for side, data in chunks:
        pos = 0
        while pos < len(data):
            size = rnd.choice([1, 2, 5, 7, 100, 1460, len(data)])
            resegmented.append((side, data[pos : pos + size]))
            pos += size
    assert _signature(_replay(ends, resegmented)) == expected


FRAMES = {path.name: read_frames(path) for path in SOURCES}


@settings(suppress_health_check=[HealthCheck.large_base_example, HealthCheck.too_slow])
@given(
    name=st.sampled_from(sorted(FRAMES)),
    mutations=st.lists(
        st.tuples(
            st.integers(0, 10_000),
            st.integers(0, 2_000),
            st.integers(0, 255),
            st.sampled_from(["flip", "truncate", "drop", "duplicate"]),
        ),
        min_size=1,
        max_size=8,
    ),
)
def test_mutated_captures_never_crash(
    name: str, mutations: list[tuple[int, int, int, str]]
) -> None:
    frames = [list(f) for f in FRAMES[name]]
    for which, where, value, how in mutations:
        i = which % len(frames)
        data = bytearray(frames[i][2])
        if how == "flip" and data:
            data[where % len(data)] ^= value or 1
        elif how == "truncate":
            del data[where % (len(data) + 1) :]
        elif how == "drop":
            frames.pop(i)
            if not frames:
                return
            continue
        else:
            frames.insert(i, list(frames[i]))
        frames[i][2] = bytes(data)
    out = io.BytesIO()
    writer = PcapngWriter(out)
    for linktype in sorted({f[1] for f in frames}):
        writer.add_interface(linktype)
    index = {lt: n for n, lt in enumerate(sorted({f[1] for f in frames}))}
    for ts, linktype, data in frames:
        writer.add_packet(ts, data, index[linktype])
    path = Path(tempfile.gettempdir()) / f"tlslens-mutated-{name}.pcapng"
    path.write_bytes(out.getvalue())
    for conn in tlslens.read_capture(path):
        connection_to_json(conn)  # serialising must work on whatever was found
        assert not [p for p in conn.problems if p.layer == "internal"], conn.problems
