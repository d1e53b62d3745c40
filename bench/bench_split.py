"""Benchmark: two ways to give each worker its share of one capture, timed side by side.

Usage:
    python bench/bench_split.py CAPTURE [--workers 2]

The issue behind `--workers` left open how a capture is split: every worker reads the file
and keeps the connections whose 4-tuple hashes to its share (what tlslens does), or one
reader process hands each worker its packets. This times only that part, the delivery of
each share's TCP segments to its worker, both ways, on the same capture in one run:

    each reads:  N processes, each reading and decoding every frame (tlslens' reader and
                 decode_tcp) and keeping the segments of its share's flows;
    one reader:  one process reading and decoding every frame and writing each segment
                 (addresses, ports, sequence numbers, flags, payload) to its worker's
                 pipe; N processes unpacking them.

Both count what each worker got, and the counts must agree. What a worker does with its
segments afterwards (TCP reassembly, TLS) is the same either way, so the faster delivery
is the faster design.
"""

from __future__ import annotations

import argparse
import os
import struct
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import _bytecode  # noqa: F401  (tlslens' bytecode, compiled before anything is timed)

from tlslens.capture import open_capture
from tlslens.flows.packet import TCP_FIN, TCP_RST, TCP_SYN, TCPSegment, decode_tcp, flow_share

_HEAD = struct.Struct(">QBHHIIBI")  # ts, address length, sport, dport, seq, ack, flags, size
_CHUNK = 256 * 1024
_CONTROL = TCP_SYN | TCP_FIN | TCP_RST


def _shared(path: Path, workers: int) -> Iterator[tuple[int, TCPSegment]]:
    """Every TCP segment (pure ACKs left out, as the pipeline leaves them) with its share."""
    shares: dict[tuple[bytes, int, bytes, int], int] = {}
    raw, reader = open_capture(path)
    try:
        for _ts, linktype, data in reader:
            seg = decode_tcp(linktype, data)
            if not isinstance(seg, TCPSegment) or not (seg.payload or seg.flags & _CONTROL):
                continue
            key = (seg.src, seg.sport, seg.dst, seg.dport)
            share = shares.get(key)
            if share is None:
                share = flow_share(seg.src, seg.sport, seg.dst, seg.dport, workers, True)
                shares[key] = shares[(seg.dst, seg.dport, seg.src, seg.sport)] = share
            yield share, seg
    finally:
        raw.close()


def _each_reads(path: Path, mine: int, workers: int) -> tuple[int, int]:
    """A worker of today's design: reads every frame, keeps its share's segments."""
    count = size = 0
    for share, seg in _shared(path, workers):
        if share == mine:
            count += 1
            size += len(seg.payload)
    return count, size


def _reader(path: Path, pipes: list[int], workers: int) -> None:
    """The one reader: decodes every frame, writes each segment to its worker's pipe."""
    out = [bytearray() for _ in pipes]
    for share, seg in _shared(path, workers):
        buf = out[share]
        buf += _HEAD.pack(
            0, len(seg.src), seg.sport, seg.dport, seg.seq, seg.ack, seg.flags, len(seg.payload)
        )
        buf += seg.src
        buf += seg.dst
        buf += seg.payload
        if len(buf) >= _CHUNK:
            _write_all(pipes[share], buf)
            buf.clear()
    for fd, buf in zip(pipes, out, strict=True):
        _write_all(fd, buf)
        os.close(fd)


def _write_all(fd: int, data: bytearray) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _handed(fd: int) -> tuple[int, int]:
    """A worker of the other design: unpacks the segments the reader wrote to it."""
    pending = b""
    count = size = 0
    head = _HEAD.size
    while chunk := os.read(fd, _CHUNK):
        data = pending + chunk
        pos, end = 0, len(data)
        while end - pos >= head:
            _ts, alen, sport, dport, seq, ack, flags, length = _HEAD.unpack_from(data, pos)
            stop = pos + head + 2 * alen + length
            if stop > end:
                break
            at = pos + head
            seg = TCPSegment(
                data[at : at + alen],
                data[at + alen : at + 2 * alen],
                sport,
                dport,
                seq,
                ack,
                flags,
                data[at + 2 * alen : stop],
            )
            count += 1
            size += len(seg.payload)
            pos = stop
        pending = data[pos:]
    return count, size


def _each_reads_all(path: Path, workers: int) -> tuple[float, list[tuple[int, int]]]:
    """Today's design: the wall time of N forked workers reading the file, and what each kept."""
    start = time.perf_counter()
    children = []
    for share in range(workers):
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            count, size = _each_reads(path, share, workers)
            os.write(write_end, f"{count} {size}".encode())
            os._exit(0)
        os.close(write_end)
        children.append((pid, read_end))
    got = []
    for pid, read_end in children:
        said = os.read(read_end, 64).split()
        os.close(read_end)
        os.waitpid(pid, 0)
        got.append((int(said[0]), int(said[1])))
    return time.perf_counter() - start, got


def _one_reader(path: Path, expected: list[tuple[int, int]]) -> float:
    """The other design: the wall time of this process reading for N forked workers, each of
    which must get what its counterpart above kept."""
    start = time.perf_counter()
    pipes = [os.pipe() for _ in expected]
    pids = []
    for share, want in enumerate(expected):
        pid = os.fork()
        if pid == 0:
            for other, (read_end, write_end) in enumerate(pipes):
                os.close(write_end)
                if other != share:
                    os.close(read_end)
            os._exit(0 if _handed(pipes[share][0]) == want else 1)
        pids.append(pid)
    for read_end, _write_end in pipes:
        os.close(read_end)
    _reader(path, [write_end for _read_end, write_end in pipes], len(expected))
    if any(os.waitpid(pid, 0)[1] for pid in pids):
        raise SystemExit("the two designs delivered different segments")
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("capture", type=Path)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    each_times, reader_times = [], []
    for _ in range(args.runs):  # alternated, so that both see the same moments of the VM
        took, got = _each_reads_all(args.capture, args.workers)
        each_times.append(took)
        reader_times.append(_one_reader(args.capture, got))
    each = sorted(each_times)[args.runs // 2]
    reader = sorted(reader_times)[args.runs // 2]
    size = args.capture.stat().st_size / 1e6
    print(f"capture: {size:.0f} MB, {sum(c for c, _s in got)} TCP segments, {args.workers} workers")
    print(f"each worker reads the file   {each:.2f} s (median of {args.runs})")
    print(f"one reader hands them out    {reader:.2f} s")
    print(f"one reader takes {reader / each:.2f}x the time of each-reads")
    return 0


if __name__ == "__main__":
    sys.exit(main())
