"""Benchmark: the flow layer in the compiled core, tlslens before and after against tshark.

Usage (as root for the bulk capture's recording, with tshark installed):
    python bench/bench_flows.py --before "CMD" [--connections 5040] [--app-mb 100] [--keep]
        [--many FILE --many-keys FILE] [--bulk FILE --bulk-keys FILE] [--distinct N]
        [--alternate N]

``--before`` is the command that runs the tlslens to compare with, e.g. an older checkout's
``env PYTHONPATH=/tmp/old/src .venv/bin/python -m tlslens``; this venv's ``tlslens`` is
"after". Both read the same captures in the same run, each command three times (median):
    many connections (bench_workers.many_capture), no keys: show --json, and
        tshark -T fields (SNI, version, suite, subject);
    the same with its key log: show --json --keylog K, and
        tshark -o tls.keylog_file:K -q -z io,stat,0,tls.app_data;
    bulk (bench_decrypt.bulk_capture) with its key log: the same two;
    distinct handshakes (``--distinct N``, 2,000 by default, 0 for none): N real connections
        recorded here (bench_show.record_base, a short response each), without keys and with
        their key log, against the same two tshark commands. The many-connection capture
        repeats a few hundred connections, so its signatures and chains are each checked
        once and answered from the verdict caches after; here every handshake signs its own
        randoms, as in a capture of real traffic.
Prints each time, peak RSS, the ratio to tshark, and after / before. The outputs of before
and after are checked to be the same bytes. ``--many``/``--bulk`` (with their key logs) take
captures already built elsewhere, read where they are. ``--alternate N`` also runs before,
after and tshark N times each, in rotating order, and prints the median wall and CPU (user
+ system, every thread) of each and the median of each round's ratio to tshark: the
steadier figures on a shared machine.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

import _bytecode  # noqa: F401  (tlslens' bytecode, compiled before anything is timed)
from bench_decrypt import bulk_capture
from bench_show import WORK, record_base, timed, tshark_fields
from bench_workers import many_capture


def _tshark_keyed(capture: Path, keys: Path) -> list[str]:
    return [
        "tshark", "-n", "-r", str(capture), "-o", f"tls.keylog_file:{keys}",
        "-q", "-z", "io,stat,0,tls.app_data",
    ]  # fmt: skip


def _run(cmd: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds (user + system, all threads) of one run, output discarded."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _pid, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise RuntimeError(f"{shlex.join(cmd)} failed")
    return time.perf_counter() - start, usage.ru_utime + usage.ru_stime


def _alternate(
    name: str, before: list[str], after: list[str], tshark: list[str], runs: int
) -> None:
    """Before, after and tshark ``runs`` times each, one after the other in a rotating
    order; the medians of each, and the median of each round's tshark / after (and before):
    on a machine whose speed moves by a tenth from minute to minute, a ratio taken within
    a round is the steadier figure."""
    cmds = {"before": before, "after": after, "tshark": tshark}
    times: dict[str, list[tuple[float, float]]] = {label: [] for label in cmds}
    order = list(cmds)
    for _ in range(runs):
        for label in order:
            times[label].append(_run(cmds[label]))
        order.append(order.pop(0))
    (bw, bc), (aw, ac), (tw, _tc) = (
        (statistics.median(w for w, _ in times[k]), statistics.median(c for _, c in times[k]))
        for k in cmds
    )
    rounds = list(zip(times["before"], times["after"], times["tshark"], strict=True))
    over_after = statistics.median(t / a for _, (a, _), (t, _) in rounds)
    over_before = statistics.median(t / b for (b, _), _, (t, _) in rounds)
    print(
        f"  {name:24} alternated x{runs}: before {bw:.2f} s wall {bc:.2f} s CPU, after "
        f"{aw:.2f} s wall {ac:.2f} s CPU: {bw / aw:.2f}x wall, {bc / ac:.2f}x CPU; tshark "
        f"{tw:.2f} s: tshark/after {over_after:.2f}x, tshark/before {over_before:.2f}x "
        "(medians of the rounds)",
        flush=True,
    )


def _output_digest(cmd: list[str]) -> bytes:
    """The SHA-256 of a command's stdout, read a MiB at a time: the bench process must stay
    small, since a child forked from it starts with its size (ru_maxrss counts it)."""
    digest = hashlib.sha256()
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as proc:
        stream = proc.stdout
        assert stream is not None
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    if proc.returncode != 0:
        raise RuntimeError(f"{shlex.join(cmd)} failed")
    return digest.digest()


def _case(name: str, before: list[str], after: list[str], tshark: list[str]) -> None:
    old, new = _output_digest(before), _output_digest(after)
    same = "same output" if old == new else "OUTPUT DIFFERS"
    rows = []
    for label, cmd in (("before", before), ("after", after), ("tshark", tshark)):
        seconds, rss = timed(cmd)
        rows.append((label, seconds, rss))
        print(f"  {name:24} {label:7} {seconds:7.2f} s  peak RSS {rss / 1024:5.0f} MB", flush=True)
    (_, b, _), (_, a, _), (_, t, _) = rows
    print(
        f"  {name:24} tshark/before {t / b:5.2f}x  tshark/after {t / a:5.2f}x  "
        f"after is {b / a:5.2f}x before; {same}",
        flush=True,
    )


def _distinct_capture(count: int, keep: bool) -> tuple[Path, Path]:
    """``count`` real connections recorded here (unless ``keep`` finds them), each with its
    own handshake and a short response, and their key log."""
    WORK.mkdir(parents=True, exist_ok=True)
    path, keys = WORK / f"distinct-{count}.pcap", WORK / f"distinct-{count}.keys"
    if not (keep and path.exists() and keys.exists()):
        print(f"recording {count} connections...", flush=True)
        record_base(path, count, keys, sizes=(200, 2_000))
    return path, keys


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True)
    parser.add_argument("--connections", type=int, default=5040)
    parser.add_argument("--app-mb", type=int, default=100)
    parser.add_argument("--base", type=int, default=240)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--skip-bulk", action="store_true")
    parser.add_argument("--many", type=Path, help="the many-connection capture, built")
    parser.add_argument("--many-keys", type=Path)
    parser.add_argument("--bulk", type=Path, help="the bulk capture, built")
    parser.add_argument("--bulk-keys", type=Path)
    parser.add_argument("--distinct", type=int, default=2000, metavar="N")
    parser.add_argument("--alternate", type=int, default=0, metavar="N")
    args = parser.parse_args()
    before = [*shlex.split(args.before), "show", "--json"]
    after = [str(Path(sys.executable).parent / "tlslens"), "show", "--json"]
    many, keys = (
        (args.many, args.many_keys) if args.many else many_capture(args.connections, args.keep)
    )
    print(f"many connections: {many.name}, {many.stat().st_size / 1e6:.0f} MB", flush=True)
    cases = [
        ("many, no keys", [str(many)], tshark_fields(many)),
        ("many, key log", ["--keylog", str(keys), str(many)], _tshark_keyed(many, keys)),
    ]
    if not args.skip_bulk:
        bulk, bulk_keys = (
            (args.bulk, args.bulk_keys)
            if args.bulk
            else bulk_capture(args.app_mb, args.base, args.keep)
        )
        print(f"bulk: {bulk.name}, {bulk.stat().st_size / 1e6:.0f} MB", flush=True)
        keyed = ["--keylog", str(bulk_keys), str(bulk)]
        cases.append(("bulk, key log", keyed, _tshark_keyed(bulk, bulk_keys)))
    if args.distinct:
        distinct, distinct_keys = _distinct_capture(args.distinct, args.keep)
        print(f"distinct handshakes: {distinct.name}, {args.distinct} connections", flush=True)
        cases.append(("distinct, no keys", [str(distinct)], tshark_fields(distinct)))
        keyed = ["--keylog", str(distinct_keys), str(distinct)]
        cases.append(("distinct, key log", keyed, _tshark_keyed(distinct, distinct_keys)))
    for name, given, tshark in cases:
        _case(name, [*before, *given], [*after, *given], tshark)
        if args.alternate:
            _alternate(name, [*before, *given], [*after, *given], tshark, args.alternate)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
