"""UDP out of the flow layer: QUIC and DTLS datagrams of the project's recorded captures
(tests/vectors/captures/udp/) grouped into associations under every link type the TCP path
reads, checked against tshark's UDP streams; other UDP only counted; the summary says what
the capture holds; a lying UDP length and the bound on open associations are findings."""

from __future__ import annotations

import struct
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_packet import WRAPPERS

import tlslens
from tlslens import _core
from tlslens.bounds import DEFAULT_LIMITS, Limits
from tlslens.capture.writer import PcapngWriter
from tlslens.cli import main

from _frames import core_events, rewrapped
from conftest import CAPTURES

UDP = CAPTURES / "udp"
QUIC = UDP / "quic.pcapng"
DTLS = UDP / "dtls.pcapng"
# QUIC connection 4 migrates to a new client port with 1-RTT (short header) packets only:
# nothing there says QUIC, so those 5 frames open no association. With the key log, the
# QUIC connection table knows the Connection ID they carry (from a NEW_CONNECTION_ID in a
# 1-RTT packet) and takes them; without, they stay counted as skipped UDP.
QUIC_CONNECTIONS = 7
MIGRATED_FRAMES = 5
MIGRATED = (61, 63, 64, 65, 66)  # their frame numbers (tshark: udp.stream 5)
TSHARK_FIELDS = ["-e", "udp.stream", "-e", "frame.number", "-e", "udp.srcport", "-e", "udp.payload"]


@pytest.mark.parametrize("wrapper", sorted(WRAPPERS))
@pytest.mark.parametrize(
    ("source", "connections", "undissected", "skipped"),
    [
        (QUIC, QUIC_CONNECTIONS, {"QUIC": 7}, {"udp": MIGRATED_FRAMES}),
        (DTLS, 5, {"DTLS": 5}, {}),
    ],
    ids=["quic", "dtls"],
)
def test_every_link_type_gives_the_same_associations(
    tmp_path: Path,
    wrapper: str,
    source: Path,
    connections: int,
    undissected: dict[str, int],
    skipped: dict[str, int],
) -> None:
    path = rewrapped(source, tmp_path / "x.pcapng", *WRAPPERS[wrapper])
    cap = tlslens.read_capture(path)
    conns = list(cap)
    transport = "quic" if source == QUIC else "dtls"
    assert [c.transport for c in conns] == [transport] * connections
    assert [c.id for c in conns] == list(range(1, connections + 1))
    # every QUIC or DTLS address pair is counted (a QUIC connection may use several)
    assert cap.summary.udp_flows == undissected
    assert cap.summary.skipped == skipped
    assert cap.summary.tcp_flows == 0
    # Without the key log, the migrated datagrams' Connection ID is not known: one finding
    # of the connection they probably belong to names the first of them (test_quic_retry).
    assert cap.summary.problems == []
    notes = [(p.frame, p.layer, p.offset) for c in conns for p in c.problems]
    assert notes == [(MIGRATED[0], "quic", 0)] * (source == QUIC)


def test_the_show_summary_says_what_the_udp_captures_hold() -> None:
    runner = CliRunner()
    dtls = runner.invoke(main, ["show", str(DTLS)])
    assert dtls.exit_code == 0, dtls.output
    assert dtls.output.strip().endswith(
        "65 frames (Ethernet), 0 TCP connections and 5 DTLS associations, 5 with TLS, 5 shown"
    )
    quic = runner.invoke(main, ["show", str(QUIC)])
    assert quic.output.strip().endswith(
        "92 frames (Ethernet), 0 TCP connections and 7 QUIC flows, 7 with TLS, 7 shown"
    )


def test_datagrams_match_tshark_udp_streams(tshark: str) -> None:
    """Each association holds exactly the frames of one tshark UDP stream, in frame order,
    the first sender as side 0, each datagram's payload the UDP payload tshark shows."""
    for path in (QUIC, DTLS):
        out = subprocess.run(
            [tshark, "-r", str(path), "-Y", "udp", "-T", "fields", *TSHARK_FIELDS],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        streams: dict[int, list[tuple[int, int, str]]] = defaultdict(list)
        for line in out.splitlines():
            stream, frame, sport, payload = line.split("\t")
            streams[int(stream)].append((int(frame), int(sport), payload))
        ours: dict[int, list[tuple[int, int, str]]] = defaultdict(list)
        ports: dict[int, tuple[int, int]] = {}
        for ev in core_events(path, sessions=False):
            if isinstance(ev, _core.UdpOpened):
                ports[ev.flow] = (ev.sport, ev.dport)
            elif isinstance(ev, _core.UdpDatagram):
                assert not ev.bad_length
                sport = ports[ev.flow][ev.side]
                ours[ev.flow].append((ev.frame, sport, ev.data.hex()))
        theirs = sorted(streams.values())
        missing = [s for s in theirs if s not in ours.values()]
        assert sorted(ours.values()) == [s for s in theirs if s not in missing]
        assert sum(len(s) for s in missing) == (MIGRATED_FRAMES if path == QUIC else 0)


def test_udp_core_events_are_typed_and_ordered() -> None:
    events = core_events(DTLS, sessions=False)
    opened = [ev for ev in events if isinstance(ev, _core.UdpOpened)]
    closed = [ev for ev in events if isinstance(ev, _core.UdpClosed)]
    handed = [ev.flow for ev in events if isinstance(ev, _core.FlowHandOut)]
    assert [ev.flow for ev in opened] == handed == [0, 1, 2, 3, 4]
    assert {(ev.kind, len(ev.src), ev.src == ev.dst) for ev in opened} == {("DTLS", 4, True)}
    assert [ev.flow for ev in closed] == handed
    assert {ev.end for ev in closed} == {"end_of_capture"}
    assert sum(sum(ev.datagrams) for ev in closed) == 65
    first = next(ev for ev in events if isinstance(ev, _core.UdpDatagram))
    assert (first.flow, first.side, first.frame) == (0, 0, 1)
    assert first.data[:3] == b"\x16\xfe\xff"  # the first ClientHello: DTLS 1.0 record version
    assert closed[0].bytes[0] >= len(first.data) and closed[0].first_ts_ns == first.ts_ns


def _udp_frame(
    sport: int, dport: int, payload: bytes, *, length: int | None = None, back: bool = False
) -> bytes:
    """10.0.0.1 to 10.0.0.2 (``back``: the other way); ``length``: the UDP length claimed."""
    hosts = [b"\x0a\0\0\x01", b"\x0a\0\0\x02"]
    src, dst = reversed(hosts) if back else hosts
    udp = struct.pack(">HHHH", sport, dport, 8 + len(payload) if length is None else length, 0)
    body = udp + payload
    return (
        struct.pack(
            ">BBHHHBBH4s4s",
            0x45,
            0,
            20 + len(body),
            1,
            0,
            64,
            17,
            0,
            src,
            dst,
        )
        + body
    )


DTLS_RECORD = b"\x16\xfe\xfd" + b"\0" * 8 + b"\0\x02" + b"hi"
DNS_QUERY = bytes.fromhex("9c4e01200001000000000001076578616d706c6503636f6d0000010001")


def _capture(
    tmp_path: Path, frames: list[bytes], limits: Limits = DEFAULT_LIMITS
) -> tlslens.Capture:
    path = tmp_path / "udp.pcapng"
    with path.open("wb") as out:
        writer = PcapngWriter(out)
        writer.add_interface(101)
        for i, frame in enumerate(frames):
            writer.add_packet(i * 1000, frame)
    cap = tlslens.read_capture(path, limits=limits)
    assert {c.transport for c in cap} <= {"dtls"}  # only the DTLS associations are shown
    return cap


def test_other_udp_is_counted_and_port_0_opens_nothing(tmp_path: Path) -> None:
    cap = _capture(
        tmp_path,
        [
            _udp_frame(53000, 53, DNS_QUERY),
            _udp_frame(5000, 0, DTLS_RECORD),
            _udp_frame(0, 443, DTLS_RECORD),
            _udp_frame(5000, 4433, b""),  # zero-length, no association: counted
        ],
    )
    assert cap.summary.skipped == {"udp": 4}
    assert cap.summary.udp_flows == {}
    # UDP frames are not "without TCP payload": the closing line says what was not read.
    text = CliRunner().invoke(main, ["show", "--brief", str(tmp_path / "udp.pcapng")]).output
    assert text.rstrip().endswith(
        "frames with nothing to read (no TCP, QUIC or DTLS payload): 4 udp"
    ), text


def test_a_lying_udp_length_is_a_finding_naming_the_frame(tmp_path: Path) -> None:
    cap = _capture(
        tmp_path,
        [
            _udp_frame(53000, 53, DNS_QUERY, length=4000),  # not QUIC/DTLS: only counted
            _udp_frame(5000, 4433, DTLS_RECORD),
            _udp_frame(4433, 5000, DTLS_RECORD, length=2, back=True),
            _udp_frame(5000, 4433, DTLS_RECORD, length=1000),
        ],
    )
    assert cap.summary.udp_flows == {"DTLS": 1}
    assert [(p.frame, p.message) for p in cap.summary.problems] == [
        (
            3,
            "2 QUIC or DTLS datagrams have a UDP length that disagrees with the IP packet (the "
            "first is frame 3): each is read as far as the packet goes",
        )
    ]


def test_past_max_udp_flows_the_one_idle_longest_ends_with_one_finding(tmp_path: Path) -> None:
    frames = [_udp_frame(5000 + i, 4433, DTLS_RECORD) for i in range(5)]
    cap = _capture(tmp_path, frames, Limits(max_udp_flows=2))
    assert cap.summary.udp_flows == {"DTLS": 5}
    assert [p.message for p in cap.summary.problems] == [
        "3 DTLS associations were ended early, the one idle longest first: over 2 "
        "open at once (--max-udp-flows)"
    ]
    runner = CliRunner()
    path = tmp_path / "udp.pcapng"
    shown = runner.invoke(main, ["show", "--max-udp-flows", "2", str(path)])
    assert "3 DTLS associations were ended early" in shown.output
