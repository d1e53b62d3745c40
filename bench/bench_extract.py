"""Benchmark: a fleet of captures through `tlslens extract`, 1 and 2 workers, against tshark
run per file under `xargs -P 2`, in one run.

Usage (with tshark installed):
    python bench/bench_extract.py [--gb 5] [--keep]

The captures: the many-connection capture of bench_workers.py (the project's recorded
OpenSSL, GnuTLS, nginx and Python connections copied to 5,040 connections, 45 MB), as many
times as makes --gb of captures, each a hard link of its own name (the same bytes: the page
cache holds them, for every tool alike). Then, once each:
    tlslens extract --workers 1 --out D1 FILES...
    tlslens extract --workers 2 --out D2 FILES...
    printf FILES | xargs -P 2 -n 1 tshark -T fields (SNI, version, suite, subject)
and prints the times, the CPU seconds of each command and its processes (user + system: on
a machine shared with other work, the wall time of two workers depends on the load, their
CPU much less), the ratios at equal cores, the scaling from 1 to 2 workers and the peak RSS
of the largest process (a worker). The two datasets are checked to be the same bytes.

With --rss-jobs K, instead: a worker's memory across jobs. K extract jobs of the capture,
each under a name of its own, in one fresh process (as one worker of `extract --workers`
or a dask worker runs capture after capture), with its RSS and peak RSS after each job
(tests/test_extract_memory.py counts what the caches keep alive).
"""

from __future__ import annotations

import argparse
import os
import resource
import shlex
import shutil
import sys
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import _bytecode  # noqa: F401  (tlslens' bytecode, compiled before anything is timed)
from bench_report import WORK
from bench_show import timed, tshark_fields
from bench_workers import _build


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gb", type=float, default=5.0)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--rss-jobs", type=int, metavar="K", help="a worker's RSS across K jobs")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    base = WORK / "many-5040.pcap"
    if not (args.keep and base.exists()):
        _build(base, 5040)
    if args.rss_jobs:
        # A process of its own, started afresh: its peak RSS is the jobs' alone.
        with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
            pool.submit(_rss_across_jobs, base, args.rss_jobs).result()
        return 0
    fleet = WORK / "fleet"
    shutil.rmtree(fleet, ignore_errors=True)
    fleet.mkdir()
    count = max(2, round(args.gb * 1e9 / base.stat().st_size))
    files = []
    for k in range(count):
        link = fleet / f"sensor{k:03d}.pcap"
        os.link(base, link)
        files.append(str(link))
    total = count * base.stat().st_size / 1e9
    tlslens = str(Path(sys.executable).parent / "tlslens")
    out = {n: WORK / f"dataset-{n}" for n in (1, 2)}
    runs: dict[str, tuple[float, int, float]] = {}
    for workers in (1, 2):
        shutil.rmtree(out[workers], ignore_errors=True)
        command = [tlslens, "extract", "--workers", str(workers), "--out", str(out[workers])]
        runs[f"tlslens extract --workers {workers}"] = _cpu_timed([*command, *files])
    listing = fleet / "files.txt"
    listing.write_text("".join(f"{f}\n" for f in files))
    # One tshark per file, its output discarded: tshark_fields with "$1" for the file.
    script = fleet / "tshark-one.sh"
    words = [shlex.quote(word) for word in tshark_fields(Path("FILE"))]
    script.write_text(" ".join(words).replace("FILE", '"$1"') + " > /dev/null\n")
    xargs = ["xargs", "-P", "2", "-n", "1", "-a", str(listing), "sh", str(script)]
    runs["tshark -T fields, xargs -P 2"] = _cpu_timed(xargs)
    for table in ("connections", "certificates", "handshake_messages", "problems"):
        one = sorted((out[1] / table).glob("*.parquet"))
        two = sorted((out[2] / table).glob("*.parquet"))
        assert [p.name for p in one] == [p.name for p in two], table
        assert all(a.read_bytes() == b.read_bytes() for a, b in zip(one, two, strict=True)), table
    print(f"{count} captures, {total:.2f} GB, {count * 5040} TLS connections")
    for name, (seconds, rss, cpu) in runs.items():
        print(
            f"{name:32} {seconds:7.1f} s  {total * 1000 / seconds:6.1f} MB/s  "
            f"CPU {cpu:7.1f} s  peak RSS {rss / 1024:5.0f} MB"
        )
    one_s, _rss, one_cpu = runs["tlslens extract --workers 1"]
    two_s, _rss, two_cpu = runs["tlslens extract --workers 2"]
    theirs, _rss, their_cpu = runs["tshark -T fields, xargs -P 2"]
    print(
        f"tlslens (2 workers) / tshark (xargs -P 2) throughput {theirs / two_s:.2f}x, "
        f"by CPU {their_cpu / two_cpu:.2f}x (1 worker {their_cpu / one_cpu:.2f}x); "
        f"1 -> 2 workers {one_s / two_s:.2f}x"
    )
    if not args.keep:
        for path in (fleet, *out.values()):
            shutil.rmtree(path, ignore_errors=True)
    return 0


def _rss_across_jobs(base: Path, count: int) -> None:
    """``count`` extract jobs of ``base`` in this process, each capture a hard link of its
    own name (the fleet's), and what the process holds after each."""
    from tlslens.tables.jobs import Job, extract

    fleet = WORK / "fleet-rss"
    out = WORK / "dataset-rss"
    for path in (fleet, out):
        shutil.rmtree(path, ignore_errors=True)
    fleet.mkdir()
    first = None
    for k in range(count):
        link = fleet / f"sensor{k:03d}.pcap"
        os.link(base, link)
        done = extract(Job(str(link), str(out), run="rss"))
        rss = _rss_mb()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        first = first or rss
        print(
            f"job {k + 1:3}: {done.connections} connections, RSS {rss:6.1f} MB, "
            f"peak {peak:6.1f} MB",
            flush=True,
        )
    if first is not None:
        print(f"after job 1 -> job {count}: RSS {first:.1f} -> {rss:.1f} MB, peak {peak:.1f} MB")
    for path in (fleet, out):
        shutil.rmtree(path, ignore_errors=True)


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def _cpu_timed(cmd: list[str]) -> tuple[float, int, float]:
    """bench_show.timed's wall time and peak RSS of one run, and the CPU seconds (user +
    system) of the command and every process it waited for."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    seconds, rss = timed(cmd, runs=1)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return seconds, rss, cpu


if __name__ == "__main__":
    raise SystemExit(main())
