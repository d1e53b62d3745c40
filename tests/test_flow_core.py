"""The compiled flow table (tlslens._core.FlowCore) seen from Python: frames are walked a
batch at a time, never one call per frame, and a flow whose session gives it up (no TLS
after a megabyte of plaintext each way) is let go at that frame, freeing its place among the
connections open at once."""

from __future__ import annotations

import struct
import sys
from datetime import UTC, datetime
from pathlib import Path

import tlslens
from tlslens import _core
from tlslens.bounds import DEFAULT_LIMITS, Limits
from tlslens.capture import open_capture
from tlslens.capture.writer import PcapngWriter
from tlslens.flows.synth import Chunk, iter_frames
from tlslens.model import Endpoint

from _frames import read_frames, tls12_capture
from conftest import CAPTURES, ROOT

sys.path.insert(0, str(ROOT / "tools"))
import adversarial


def test_the_frames_are_walked_a_batch_at_a_time(tmp_path: Path) -> None:
    path = tmp_path / "normal.pcapng"
    adversarial._write(path, adversarial._normal(1000))
    limits = DEFAULT_LIMITS
    core = _core.FlowCore(
        reorder_window=limits.reorder_window,
        max_connections=limits.max_connections,
        max_buffer=limits.max_buffer,
        watch_after=1 << 20,
        checks=False,
    )
    calls = opened = handed = 0
    raw, reader = open_capture(path)
    with raw:
        capture_core = reader.open_core()
        while True:
            batch = core.pull(capture_core)
            calls += 1
            opened += sum(isinstance(ev, _core.FlowOpened) for ev in batch.events)
            handed += sum(isinstance(ev, _core.FlowHandOut) for ev in batch.events)
            if batch.hungry:
                if not reader.more(capture_core):
                    break
            elif core.exhausted(capture_core):
                break
        handed += sum(isinstance(ev, _core.FlowHandOut) for ev in core.finish().events)
    assert (core.frames, core.tcp_flows, opened, handed) == (7000, 1000, 1000, 1000)
    assert calls * 100 < core.frames, f"{calls} calls for {core.frames} frames"


def test_a_plaintext_flow_given_up_frees_its_place_among_the_open(tmp_path: Path) -> None:
    """A plaintext conversation of 1.1 MB each way, still open, then two TLS connections one
    after the other, with one connection open at most: once its session gives it up, the
    plaintext flow no longer counts, so no connection is closed early."""
    at = datetime(2026, 6, 1, tzinfo=UTC)
    tls = tmp_path / "tls.pcapng"
    tls12_capture(tls, [([], "b.test"), ([], "c.test")], at)
    start = int(at.timestamp() * 1e9) - 10_000_000
    plain = iter_frames(
        Endpoint(bytes([10, 9, 0, 1]), 50000),
        Endpoint(bytes([10, 9, 0, 2]), 80),
        syn_ts_ns=start,
        synack_ts_ns=start + 1000,
        chunks=[
            Chunk(start + 2000, 1, b"220 plain text service ready\r\n" * 40_000),
            *(Chunk(start + 3000 + i, 0, b"x" * 100_000) for i in range(11)),
        ],
        closes=[],
    )
    path = tmp_path / "mixed.pcapng"
    with path.open("wb") as out:
        writer = PcapngWriter(out)
        writer.add_interface(tsresol=9)
        for ts, frame in plain:
            writer.add_packet(ts, frame)
        for ts, _lt, frame in read_frames(tls):
            writer.add_packet(ts, frame)
    cap = tlslens.read_capture(path, limits=Limits(max_connections=1))
    conns = list(cap)
    assert [c.sni for c in conns] == ["b.test", "c.test"]
    assert cap.summary.tcp_flows == 3
    assert not [p.message for c in conns for p in c.problems if "closed early" in p.message]
    assert not [p.message for p in cap.summary.problems if "closed early" in p.message]


def _discarded(size: int) -> bytes:
    """An Ethernet frame of ``size`` bytes of UDP to the discard port (no flow of ours)."""
    udp = struct.pack("!HHHH", 40000, 9, 8 + size, 0) + bytes(size)
    ip = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        20 + len(udp),
        0,
        0,
        64,
        17,
        0,
        bytes([10, 7, 7, 1]),
        bytes([10, 7, 7, 2]),
    )
    return bytes(6) + bytes([2, 0, 0, 0, 0, 1]) + b"\x08\x00" + ip + udp


def _with_secrets_between(path: Path, *, other_flow: bool) -> list[tuple[str, str | None]]:
    """The demo capture with a Decryption Secrets Block of a key unrelated to it first,
    and its own key log in a second block after the first connection's SYN (and, with
    ``other_flow``, a SYN of another flow after that): each connection's decryption."""
    source = CAPTURES / "demo-tls12-tls13.pcapng"
    frames = read_frames(source)
    out = path.open("wb")
    with out:
        writer = PcapngWriter(out)
        writer.add_secrets(f"CLIENT_RANDOM {'00' * 32} {'11' * 48}\n".encode())
        writer.add_interface(1)
        first_ts, _lt, first = frames[0]
        writer.add_packet(first_ts, first)
        # 2 MB of UDP to the discard port: the second block is read in a later batch than
        # the first SYN (a batch's blocks are read before its frames are walked).
        for _ in range(1500):
            writer.add_packet(first_ts, _discarded(1400))
        writer.add_secrets(source.with_suffix(".keys").read_bytes())
        if other_flow:
            client, server = (
                Endpoint(bytes([10, 9, 9, 9]), 40000),
                Endpoint(bytes([10, 9, 9, 8]), 1),
            )
            syn = next(
                iter_frames(client, server, syn_ts_ns=first_ts, synack_ts_ns=None, chunks=[])
            )
            writer.add_packet(*syn)
        for ts, _lt, data in frames[1:]:
            writer.add_packet(ts, data)
    conns = list(tlslens.read_capture(path))
    return [(c.decryption.status, c.decryption.source) for c in conns]


def test_secrets_read_mid_capture_reach_the_key_store_when_a_flow_opens(tmp_path: Path) -> None:
    """A flow's decryptor is made when it first says something, but the capture's new
    secrets still reach the run's key store when the next keyed flow opens: the first
    connection, opened before its keys were read, decrypts when another flow opened after
    them (a SYN alone, never told to Python), as when every flow made its decryptor at its
    SYN."""
    with_other = _with_secrets_between(tmp_path / "other.pcapng", other_flow=True)
    assert with_other == [("decrypted", "pcapng"), ("decrypted", "pcapng")]
    # Without it, nothing gave the store the second block before the first connection's
    # records were read (main said the same: the answers do not change).
    alone = _with_secrets_between(tmp_path / "alone.pcapng", other_flow=False)
    assert alone == [("no_secret", None), ("decrypted", "pcapng")]
