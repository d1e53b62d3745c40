"""Benchmark: memory and speed on many short connections (issue 8, item 10 and 15).

Usage (as root, with tshark, dumpcap and ethtool installed):
    python bench/bench_memory.py [--size-mb 219] [--base 24] [--keep]

Records --base short real TLS connections (Python `ssl`, TLS 1.2 and 1.3, 3-6 kB each way)
with their key log, multiplies them to --size-mb and to twice that (each copy its own
4-tuple), then runs on both, one after the other in this one run:
    tlslens show --json              peak RSS and time
    tlslens show --json --keylog K   peak RSS and time (every record decrypted)
    tlslens show > file              the narration as text, to a file
    tlslens show --brief > file      one line per connection
and prints each figure, the RSS growth when the number of connections doubles, and the
ratio of text to JSON time. Memory must not grow with the number of connections.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import _bytecode  # noqa: F401  (tlslens' bytecode, compiled before anything is timed)
from bench_show import WORK, multiply, record_base


def run(cmd: list[str]) -> tuple[float, int]:
    """Wall time (s) and peak RSS (kB) of one run, output to a file on disk."""
    took, usage = run_to(cmd, WORK / "out.txt")
    return took, usage.ru_maxrss


def run_to(cmd: list[str], out: Path) -> tuple[float, resource.struct_rusage]:
    """Wall time (s) and resource usage of one run, its standard output to ``out``."""
    start = time.perf_counter()
    with out.open("wb") as sink:
        proc = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.PIPE)
        _pid, status, usage = os.wait4(proc.pid, 0)
    took = time.perf_counter() - start
    if status != 0:
        error = proc.stderr.read().decode()[:500] if proc.stderr else ""
        raise RuntimeError(f"{' '.join(cmd)} failed: {error}")
    return took, usage


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=219)
    parser.add_argument("--base", type=int, default=24)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    base = WORK / f"short-base-{args.base}.pcap"
    keylog = base.with_suffix(".keys")
    if not (args.keep and base.exists() and keylog.exists()):
        print(f"recording {args.base} short real connections with a key log...", flush=True)
        record_base(base, args.base, keylog, sizes=(3_000, 6_000))
    tlslens = str(Path(sys.executable).parent / "tlslens")
    results: dict[int, dict[str, tuple[float, int]]] = {}
    for size_mb in (args.size_mb, 2 * args.size_mb):
        big = WORK / f"short-{size_mb}.pcap"
        if not (args.keep and big.exists()):
            copies = multiply(base, big, size_mb)
            print(
                f"built {big.name}: {copies} copies, {copies * args.base} connections", flush=True
            )
        real_mb = big.stat().st_size / 1e6
        runs = {
            "show --json": [tlslens, "show", "--json", str(big)],
            "show --json --keylog": [tlslens, "show", "--json", "--keylog", str(keylog), str(big)],
            "show (text)": [tlslens, "show", str(big)],
            "show --brief": [tlslens, "show", "--brief", str(big)],
        }
        results[size_mb] = {}
        for label, cmd in runs.items():
            took, rss = run(cmd)
            results[size_mb][label] = (took, rss)
            print(
                f"{real_mb:6.0f} MB  {label:22} {took:7.1f} s  {real_mb / took:6.1f} MB/s  "
                f"peak RSS {rss / 1024:6.0f} MB",
                flush=True,
            )
    small, large = results[args.size_mb], results[2 * args.size_mb]
    for label in ("show --json", "show --json --keylog"):
        growth = large[label][1] / small[label][1] - 1
        print(f"RSS growth when connections double, {label}: {growth * 100:+.1f} %")
    for size_mb, rows in results.items():
        ratio = rows["show (text)"][0] / rows["show --json"][0]
        brief = rows["show --brief"][0] / rows["show --json"][0]
        print(f"{size_mb} MB: text / JSON time {ratio:.2f}x, brief / JSON {brief:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
