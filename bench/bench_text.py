"""Benchmark: the narration to a file against --json to a file, on the same capture, in one run.

Usage:
    python bench/bench_text.py [--connections 24000] [--runs 3] [--keep]

The capture is bench_workers.py's many-connection capture (the project's recorded captures
copied to --connections connections, about 9 kB each). Both commands run in one process,
so the comparison is per core, and write to a file (the narration's plain path, as
`tlslens show CAPTURE > file` takes it), alternating text and JSON so that a slow moment of
a shared machine falls on both. Prints the median wall time and CPU time (user + system) of
each over --runs runs, and the text/JSON ratios; the target is at most 2x.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import _bytecode  # noqa: F401  (tlslens' bytecode, compiled before anything is timed)
from bench_memory import run_to
from bench_workers import many_capture

TARGET_RATIO = 2.0


def _run(cmd: list[str], out: Path) -> tuple[float, float]:
    """Wall and CPU seconds of one run, its standard output to ``out``."""
    wall, usage = run_to(cmd, out)
    return wall, usage.ru_utime + usage.ru_stime


def _median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=24000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="reuse a capture already built")
    args = parser.parse_args()
    capture, _keys = many_capture(args.connections, args.keep)
    tlslens = str(Path(sys.executable).parent / "tlslens")
    commands = {
        "text": [tlslens, "show", str(capture)],
        "json": [tlslens, "show", "--json", str(capture)],
    }
    walls: dict[str, list[float]] = {name: [] for name in commands}
    cpus: dict[str, list[float]] = {name: [] for name in commands}
    with tempfile.TemporaryDirectory(prefix="bench-text-") as scratch:
        for _ in range(args.runs):
            for name, cmd in commands.items():
                wall, cpu = _run(cmd, Path(scratch) / name)
                walls[name].append(wall)
                cpus[name].append(cpu)
        sizes = {name: (Path(scratch) / name).stat().st_size for name in commands}
    size_mb = capture.stat().st_size / 1e6
    print(f"{capture.name}: {size_mb:.0f} MB, {args.connections:,} connections")
    for name in commands:
        print(
            f"  {name}: {_median(walls[name]):.2f} s wall, {_median(cpus[name]):.2f} s CPU "
            f"(median of {args.runs}), {sizes[name] / 1e6:.1f} MB written"
        )
    wall_ratio = _median(walls["text"]) / _median(walls["json"])
    cpu_ratio = _median(cpus["text"]) / _median(cpus["json"])
    print(f"  text / JSON: {wall_ratio:.2f}x wall, {cpu_ratio:.2f}x CPU (target {TARGET_RATIO}x)")
    return 0 if wall_ratio <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
