"""Benchmark: decrypting a capture with a key log, tlslens against tshark.

Usage (as root, with tshark, dumpcap and ethtool installed):
    python bench/bench_decrypt.py [--app-mb 160] [--base 240] [--keep]

Records real connections on loopback (as bench_show.py does: Python `ssl`, TLS 1.2
with AES-GCM, ChaCha20 and AES-CBC suites and TLS 1.3, MTU 1500, offload off) with the
server's key log, multiplies them until the capture holds --app-mb of application
data, then times, in one run,
    tlslens show --json --keylog K   (decrypts and hashes every record)
    tshark -o tls.keylog_file:K -q -z io,stat,0,tls.app_data
and prints MB/s of the capture for each, the ratio and peak RSS.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import _bytecode  # noqa: F401  (tlslens' bytecode, compiled before anything is timed)
from bench_show import WORK, multiply, record_base, timed


def bulk_capture(app_mb: int, base_count: int, keep: bool) -> tuple[Path, Path]:
    """The bulk capture (recorded if missing, or unless ``keep``) and its key log."""
    WORK.mkdir(parents=True, exist_ok=True)
    base = WORK / f"decrypt-base-{base_count}.pcap"
    keylog = base.with_suffix(".keys")
    big = WORK / f"decrypt-{app_mb}.pcap"
    if not (keep and base.exists() and keylog.exists()):
        print(f"recording {base_count} real connections with a key log...", flush=True)
        record_base(base, base_count, keylog)
    tlslens = str(Path(sys.executable).parent / "tlslens")
    if not (keep and big.exists()):
        probe = subprocess.run(
            [tlslens, "show", "--json", "--keylog", str(keylog), str(base)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        app = sum(
            sum(json.loads(line)["decryption"]["plaintext_bytes"].values())
            for line in probe.splitlines()
        )
        copies = max(1, -(-app_mb * 1_000_000 // app))
        base_mb = base.stat().st_size / 1e6
        multiply(base, big, int(base_mb * copies))
        print(
            f"built {big.name}: about {copies} copies, {app * copies / 1e6:.0f} MB of application data"
        )
    return big, keylog


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--app-mb", type=int, default=160)
    parser.add_argument("--base", type=int, default=240)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    big, keylog = bulk_capture(args.app_mb, args.base, args.keep)
    tlslens = str(Path(sys.executable).parent / "tlslens")
    size_mb = big.stat().st_size / 1e6
    show = [tlslens, "show", "--json", "--keylog", str(keylog)]
    out = subprocess.run([*show, str(big)], capture_output=True, check=True)
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    app_mb = sum(sum(r["decryption"]["plaintext_bytes"].values()) for r in rows) / 1e6
    failed = [r["id"] for r in rows if r["decryption"]["status"] != "decrypted"]
    del out, rows  # this process stays small: its children's peak RSS is measured
    ours_s, ours_rss = timed([*show, str(big)])
    theirs_s, theirs_rss = timed(
        [
            "tshark",
            "-n",
            "-r",
            str(big),
            "-o",
            f"tls.keylog_file:{keylog}",
            "-q",
            "-z",
            "io,stat,0,tls.app_data",
        ]
    )
    print(
        f"capture: {size_mb:.0f} MB, {app_mb:.0f} MB of application data decrypted by tlslens "
        f"({len(failed)} connection(s) not decrypted)"
    )
    for name, seconds, rss in (
        ("tlslens show --json", ours_s, ours_rss),
        ("tshark -z io,stat (keylog)", theirs_s, theirs_rss),
    ):
        print(
            f"{name:28} {seconds:6.2f} s  {size_mb / seconds:6.1f} MB/s  "
            f"peak RSS {rss / 1024:5.0f} MB"
        )
    print(f"tlslens / tshark throughput: {theirs_s / ours_s:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
