"""Benchmark: many short connections, tlslens against tshark, in one run.

Usage (with tshark installed):
    python bench/bench_workers.py [--connections 5000] [--keep]

The capture: the project's recorded captures (real OpenSSL, GnuTLS, nginx and Python
connections on loopback, with their key logs) copied to --connections TLS connections, each
copy with its own client address (bench_report.py builds it), about 45 MB for 5,000. Then,
each command three times (the median):
    without keys: tlslens show --json
                  tshark -T fields (SNI, version, suite, certificate subject)
    with keys:    tlslens show --json --keylog K
                  tshark -o tls.keylog_file:K -q -z io,stat,0,tls.app_data
and prints each time, the ratios to tshark and the peak RSS. (The name is the history's:
this measured `show --workers 1` against `--workers 2` until the share machinery went; one
capture is read by one process now. Other benchmarks import ``many_capture`` from here.)
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import _bytecode  # noqa: F401  (tlslens' bytecode, compiled before anything is timed)
from bench_report import CAPTURES, WORK, _frames, _multiplied
from bench_show import timed, tshark_fields

from tlslens.capture.writer import write_pcap


def _build(capture: Path, connections: int) -> None:
    frames, per_copy = _frames()
    with capture.open("wb") as out:
        write_pcap(out, _multiplied(frames, -(-connections // per_copy)), nanoseconds=True)


def many_capture(connections: int, keep: bool) -> tuple[Path, Path]:
    """The many-connection capture (built unless ``keep`` finds it) and its key log."""
    WORK.mkdir(parents=True, exist_ok=True)
    capture = WORK / f"many-{connections}.pcap"
    keys = WORK / "many.keys"
    if not (keep and capture.exists()):
        # In a child: the peak RSS a process reports carries over to the processes it
        # starts (fork), so this one stays small for the measures that follow.
        with ProcessPoolExecutor(1) as pool:
            pool.submit(_build, capture, connections).result()
    keys.write_text("".join(p.read_text() for p in sorted(CAPTURES.glob("*.keys"))))
    return capture, keys


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=5000)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    capture, keys = many_capture(args.connections, args.keep)
    tlslens = str(Path(sys.executable).parent / "tlslens")
    show = [tlslens, "show", "--json"]
    app = [
        "tshark",
        "-n",
        "-r",
        str(capture),
        "-o",
        f"tls.keylog_file:{keys}",
        "-q",
        "-z",
        "io,stat,0,tls.app_data",
    ]
    runs = {
        "tlslens, no keys": timed([*show, str(capture)]),
        "tshark -T fields": timed(tshark_fields(capture)),
        "tlslens, keys": timed([*show, "--keylog", str(keys), str(capture)]),
        "tshark -z io,stat (keys)": timed(app),
    }
    # Counted after the measures: this process holding the output would raise the peak RSS
    # its later children report.
    lines = subprocess.run([*show, str(capture)], capture_output=True, check=True).stdout.count(
        b"\n"
    )
    size = capture.stat().st_size / 1e6
    print(f"capture: {size:.0f} MB, {lines} TLS connections")
    for name, (seconds, rss) in runs.items():
        print(
            f"{name:30} {seconds:6.2f} s  {size / seconds:6.1f} MB/s  peak RSS {rss / 1024:5.0f} MB"
        )
    for shape, tshark in (("no keys", "tshark -T fields"), ("keys", "tshark -z io,stat (keys)")):
        ours, theirs = runs[f"tlslens, {shape}"][0], runs[tshark][0]
        print(f"{shape}: tlslens / tshark throughput {theirs / ours:.2f}x")
    if not args.keep:
        capture.unlink()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
