"""Benchmark: the flow layer in the compiled core, tlslens before and after against tshark.

Usage (as root for the bulk capture's recording, with tshark installed):
    python bench/bench_flows.py --before "CMD" [--connections 5040] [--app-mb 100] [--keep]

``--before`` is the command that runs the tlslens to compare with, e.g. an older checkout's
``env PYTHONPATH=/tmp/old/src .venv/bin/python -m tlslens``; this venv's ``tlslens`` is
"after". Both read the same captures in the same run, each command three times (median):
    many connections (bench_workers.many_capture), no keys: show --json, and
        tshark -T fields (SNI, version, suite, subject);
    the same with its key log: show --json --keylog K, and
        tshark -o tls.keylog_file:K -q -z io,stat,0,tls.app_data;
    bulk (bench_decrypt.bulk_capture) with its key log: the same two.
Prints each time, peak RSS, the ratio to tshark, and after / before. The outputs of before
and after are checked to be the same bytes.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from pathlib import Path

import _bytecode  # noqa: F401  (tlslens' bytecode, compiled before anything is timed)
from bench_decrypt import bulk_capture
from bench_show import timed, tshark_fields
from bench_workers import many_capture


def _tshark_keyed(capture: Path, keys: Path) -> list[str]:
    return [
        "tshark", "-n", "-r", str(capture), "-o", f"tls.keylog_file:{keys}",
        "-q", "-z", "io,stat,0,tls.app_data",
    ]  # fmt: skip


def _case(name: str, before: list[str], after: list[str], tshark: list[str]) -> None:
    old = subprocess.run(before, capture_output=True, check=True).stdout
    new = subprocess.run(after, capture_output=True, check=True).stdout
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True)
    parser.add_argument("--connections", type=int, default=5040)
    parser.add_argument("--app-mb", type=int, default=100)
    parser.add_argument("--base", type=int, default=240)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--skip-bulk", action="store_true")
    args = parser.parse_args()
    before = [*shlex.split(args.before), "show", "--json"]
    after = [str(Path(sys.executable).parent / "tlslens"), "show", "--json"]
    many, keys = many_capture(args.connections, args.keep)
    print(f"many connections: {many.name}, {many.stat().st_size / 1e6:.0f} MB", flush=True)
    _case("many, no keys", [*before, str(many)], [*after, str(many)], tshark_fields(many))
    keyed = ["--keylog", str(keys), str(many)]
    _case("many, key log", [*before, *keyed], [*after, *keyed], _tshark_keyed(many, keys))
    if not args.skip_bulk:
        bulk, bulk_keys = bulk_capture(args.app_mb, args.base, args.keep)
        print(f"bulk: {bulk.name}, {bulk.stat().st_size / 1e6:.0f} MB", flush=True)
        keyed = ["--keylog", str(bulk_keys), str(bulk)]
        _case("bulk, key log", [*before, *keyed], [*after, *keyed], _tshark_keyed(bulk, bulk_keys))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
