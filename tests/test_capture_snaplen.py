"""Captures cut by their snap length (``editcap -s``): a frame whose captured length is below
its length on the wire. Each connection tells its cut frames once, at the first (the frame
tshark shows with ``frame.cap_len < frame.len``), with the bytes captured of the bytes sent;
a cut datagram is skipped (not a lying UDP length, not records cut short), a cut TCP
segment is a gap in its stream."""

from __future__ import annotations

import re
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest

import tlslens
from tlslens.model import Connection

from _tshark import _fields
from conftest import CAPTURES

SNAP = 100
CUT = re.compile(
    r"(segment|datagram) in frame (\d+) cut by the capture's snap length "
    r"\((\d+) of (\d+) bytes captured\)(?:; (\d+) later \w+ too)?: "
)


def _cut(editcap: str, source: Path, tmp_path: Path) -> Path:
    out = tmp_path / f"cut-{source.name}"
    subprocess.run([editcap, "-s", str(SNAP), str(source), str(out)], check=True)
    return out


def _tshark_cuts(path: Path, stream: str) -> dict[int, list[tuple[int, int, int]]]:
    """Per tshark stream: its frames the capture cut, (frame, captured, on the wire)."""
    fields = [stream, "frame.number", "frame.cap_len", "frame.len"]
    out = _fields(path, [], "frame.cap_len < frame.len", fields, None)
    cuts: dict[int, list[tuple[int, int, int]]] = defaultdict(list)
    for line in out.splitlines():
        index, frame, cap_len, length = (int(v) for v in line.split("\t"))
        cuts[index].append((frame, cap_len, length))
    return cuts


def _told(conn: Connection) -> list[tuple[str, int, int, int, int]]:
    """The connection's snap-length findings: (what, frame, captured, sent, later cuts)."""
    told = []
    for problem in conn.problems:
        found = CUT.match(problem.message)
        if found:
            what, frame, captured, sent, later = found.groups()
            assert problem.frame == int(frame)
            told.append((what, int(frame), int(captured), int(sent), int(later or 0)))
    return told


@pytest.mark.parametrize("name", ["dtls.pcapng", "quic.pcapng"])
def test_a_cut_datagram_is_told_once_per_association_not_as_a_lying_length(
    tshark: str, tmp_path: Path, name: str
) -> None:
    editcap = str(Path(tshark).with_name("editcap"))
    path = _cut(editcap, CAPTURES / "udp" / name, tmp_path)
    firsts = {frames[0][0]: len(frames) for frames in _tshark_cuts(path, "udp.stream").values()}
    cap = tlslens.read_capture(path, keys=None)
    conns = list(cap)
    assert conns
    told = [t for conn in conns for t in _told(conn)]
    for conn in conns:
        assert len(_told(conn)) == 1, conn.problems  # every association has a cut datagram
        assert not [p for p in conn.problems if "truncated" in p.message]
    for what, frame, captured, sent, later in told:
        assert what == "datagram"
        assert captured == SNAP < sent
        # The first cut frame of a tshark UDP stream, and the count of the others (a QUIC
        # connection that migrated spans two streams: at most its first stream's count).
        assert frame in firsts
        assert later <= firsts[frame] - 1 or name == "quic.pcapng"
    if name == "dtls.pcapng":
        assert sorted(frame for _, frame, *_ in told) == sorted(firsts)
        assert sorted(later for *_, later in told) == sorted(n - 1 for n in firsts.values())
    assert not [p for p in cap.summary.problems if "UDP length" in p.message]


def test_a_cut_tcp_segment_is_a_gap_told_once_per_connection(tshark: str, tmp_path: Path) -> None:
    editcap = str(Path(tshark).with_name("editcap"))
    path = _cut(editcap, CAPTURES / "python-ssl.pcap", tmp_path)
    cuts = _tshark_cuts(path, "tcp.stream")
    conns = list(tlslens.read_capture(path))
    assert len(conns) == len(cuts) > 0
    for conn, stream in zip(conns, sorted(cuts), strict=True):
        first, captured, sent = cuts[stream][0]
        assert _told(conn) == [("segment", first, captured, sent, len(cuts[stream]) - 1)]
        finding = next(p for p in conn.problems if CUT.match(p.message))
        assert finding.direction == "c2s"  # the ClientHello's segment is the first cut
        assert "[Packet size limited during capture]" in finding.message
        # The cut bytes are not parsed: the ClientHello they began is not read.
        assert conn.client_hellos == []


def test_a_whole_capture_tells_no_cut() -> None:
    for path in (CAPTURES / "udp" / "dtls.pcapng", CAPTURES / "python-ssl.pcap"):
        for conn in tlslens.read_capture(path):
            assert _told(conn) == []


def test_flows_cut_before_any_connection_are_told_by_the_capture(
    tshark: str, tmp_path: Path
) -> None:
    """At 80 bytes every QUIC Initial is cut (1,200 bytes and more): no connection can be
    read, and the capture's findings must say why rather than leave only 'not QUIC'."""
    editcap = str(Path(tshark).with_name("editcap"))
    out = tmp_path / "cut80-quic.pcapng"
    subprocess.run(
        [editcap, "-s", "80", str(CAPTURES / "udp" / "quic.pcapng"), str(out)], check=True
    )
    capture = tlslens.Capture(out)
    assert list(capture) == []
    cut_frames = _tshark_cuts(out, "udp.stream")
    told = [p for p in capture.summary.problems if "snap length" in p.message]
    assert len(told) == 1
    first = min(frame for frames in cut_frames.values() for frame, _, _ in frames)
    assert told[0].frame == first
    # The migrated client's new address sends short headers only: it opens no association,
    # so its cut frames are no flow's; every stream that began with a long header is.
    opened = {
        int(line)
        for line in _fields(out, [], "quic.header_form == 1", ["udp.stream"], None).split()
    }
    total = sum(len(frames) for stream, frames in cut_frames.items() if stream in opened)
    flows = f"{total} frames of {len(opened)} flows that gave no connection were cut"
    assert flows in told[0].message
