"""Benchmark: the frame walk alone, the Python reader before the core against the core's,
and tshark's lightest pass over the same file, in one run.

Usage (with tshark installed):
    python bench/bench_capture.py [--connections 5000] [--keep] [--before 7ef1408] [--gzip]

The capture is bench_workers.py's many-connection pcap (--gzip: the same, gzip'd). Each
reader goes through every frame of it, three times (the median):
    python walk:  the Python CaptureReader of commit --before (the last one with the walk in
                  Python), loaded from git, iterating (ts, linktype, bytes) tuples
    core walk:    tlslens.capture.CaptureReader (the core), iterating the same tuples
    core batches: tlslens._core.CaptureReader fed 1 MiB chunks, batches polled, not iterated
    tshark:       tshark -n -r FILE -T fields -e frame.number
and prints each time with the ratios to the Python walk and to tshark. Both readers must
find the same number of frames.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import _bytecode  # noqa: F401  (tlslens' bytecode, compiled before anything is timed)
from bench_report import WORK
from bench_show import timed
from bench_workers import many_capture

from tlslens import _core
from tlslens.capture import reader as core_reader

ROOT = Path(__file__).resolve().parent.parent


def _python_reader(rev: str) -> ModuleType:
    """The Python reader of ``rev``, loaded under its own name beside the current one."""
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{rev}:src/tlslens/capture/reader.py"],
        capture_output=True,
        check=True,
    ).stdout
    path = WORK / f"reader_{rev}.py"
    path.write_bytes(source)
    spec = importlib.util.spec_from_file_location(f"reader_{rev}", path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _walk(module: ModuleType, path: Path) -> int:
    raw, reader = module.open_capture(path)
    with raw:
        return sum(1 for _ in reader)


def _batches(path: Path) -> int:
    core = _core.CaptureReader(core_reader.GZIP_MAX_RATIO, core_reader.GZIP_FLOOR)
    frames = 0
    with path.open("rb") as raw:
        while not core.done:
            batch = core.poll()
            frames += len(batch.frames)
            if not batch.frames:
                chunk = raw.read(core_reader.CHUNK_SIZE)
                if chunk:
                    core.feed(chunk)
                else:
                    core.finish()
    return frames


def _median(work: Callable[[], int], runs: int = 3) -> tuple[float, int]:
    times, frames = [], 0
    for _ in range(runs):
        start = time.perf_counter()
        frames = work()
        times.append(time.perf_counter() - start)
    return statistics.median(times), frames


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=5000)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--before", default="7ef1408", help="a commit with the Python walk")
    parser.add_argument("--gzip", action="store_true", help="read the capture gzip'd")
    args = parser.parse_args()
    capture, _keys = many_capture(args.connections, args.keep)
    if args.gzip:
        packed = capture.with_suffix(".pcap.gz")
        if not (args.keep and packed.exists()):
            packed.write_bytes(gzip.compress(capture.read_bytes(), compresslevel=6))
        capture = packed
    before = _python_reader(args.before)
    size = capture.stat().st_size / 1e6
    python_s, python_n = _median(lambda: _walk(before, capture))
    core_s, core_n = _median(lambda: _walk(core_reader, capture))
    batch_s, batch_n = _median(lambda: _batches(capture))
    if not python_n == core_n == batch_n:
        raise SystemExit(f"frames differ: python {python_n}, core {core_n}, batches {batch_n}")
    tshark_s, _rss = timed(
        ["tshark", "-n", "-r", str(capture), "-T", "fields", "-e", "frame.number"]
    )
    print(f"{capture.name}: {size:.1f} MB, {core_n:,} frames (median of 3)")
    for name, seconds in [
        ("python walk", python_s),
        ("core walk", core_s),
        ("core batches", batch_s),
        ("tshark -e frame.number", tshark_s),
    ]:
        print(
            f"  {name:<24} {seconds:7.3f} s  {size / seconds:7.0f} MB/s  "
            f"python walk / this {python_s / seconds:5.1f}x  tshark / this {tshark_s / seconds:5.1f}x"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
