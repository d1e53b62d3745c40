"""QUIC's routine 1-RTT packets cross from the core into Python folded (``QuicRun``: one
object per stretch of a connection's packets, not one per packet and frame), and what
``show`` tells is the same as when each packet comes on its own (the path taken when the
plaintext is written per stream, which needs every STREAM frame's offset). The project's
recorded capture of real aioquic and Chromium connections (tests/vectors/captures/udp/)."""

from __future__ import annotations

from typing import Any

import pytest

import tlslens
from tlslens import _core
from tlslens.explain.packets import quic_packet_lines
from tlslens.explain.timeline import explain
from tlslens.keys.store import KeyStore
from tlslens.quic import assembly, route
from tlslens.quic.assembly import QuicSession
from tlslens.serialize import connection_to_json

from conftest import CAPTURES

QUIC = CAPTURES / "udp" / "quic.pcapng"
KEYS = CAPTURES / "udp" / "quic.keys"
KEEP = 9  # packets listed per connection in the second test


def _told(*, one_by_one: bool, records: bool = False) -> list[tuple[Any, Any, list[str]]]:
    """Each connection's JSON, narration and --records lines; ``one_by_one``: with a
    plaintext sink, so that no packet is folded."""
    keys = KeyStore()
    keys.keylog.add_text(KEYS.read_text(), str(KEYS))
    sink = (lambda _conn, _direction, _data: None) if one_by_one else None
    conns = list(tlslens.read_capture(QUIC, keys=keys, plaintext_sink=sink, records=records))
    return [
        (connection_to_json(c), explain(c), quic_packet_lines(c))
        for c in conns
        if c.quic is not None
    ]


def _spy_runs(monkeypatch: pytest.MonkeyPatch) -> list[_core.QuicRun]:
    runs: list[_core.QuicRun] = []
    take = QuicSession._run

    def spy(self: QuicSession, run: _core.QuicRun) -> None:
        runs.append(run)
        take(self, run)

    monkeypatch.setattr(QuicSession, "_run", spy)
    return runs


def test_routine_packets_come_folded_and_show_tells_the_same(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runs = _spy_runs(monkeypatch)
    one_by_one = _told(one_by_one=True)
    assert runs == []  # with a sink every packet comes on its own
    folded = _told(one_by_one=False)
    assert folded == one_by_one
    # The aioquic connections' HTTP/3 requests and answers and their ACKs came folded:
    # fewer objects than packets, with STREAM bytes of one side each.
    packets = sum(sum(run.packets) for run in runs)
    assert len(runs) < packets
    assert sum(run.stream_frames for run in runs) > 20
    assert all(len(run.data) == sum(size for _s, size in run.streams) for run in runs)
    assert all(run.stream_side is None or run.first_stream is not None for run in runs)


def test_past_the_packets_kept_a_run_lists_only_those_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With only the first 9 packets of each connection listed (4096 in use: here its
    handshake and two more), runs that cross that line list their packets up to it: the
    same --records lines, the same counts."""
    monkeypatch.setattr(route, "MAX_PACKETS_KEPT", KEEP)
    monkeypatch.setattr(assembly, "MAX_PACKETS_KEPT", KEEP)
    runs = _spy_runs(monkeypatch)
    one_by_one = _told(one_by_one=True, records=True)
    folded = _told(one_by_one=False, records=True)
    assert folded == one_by_one
    assert any(f"… the first {KEEP} packets are listed" in lines[-1] for _j, _t, lines in folded)
    # Some runs listed packets (early ones), some listed none (past the ninth).
    assert any(run.kept is not None for run in runs)
    assert any(run.kept is None for run in runs)
