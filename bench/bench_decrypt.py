"""Benchmark: decrypting a capture with a key log, tlslens against tshark.

Usage (as root, with tshark, dumpcap and ethtool installed):
    python bench/bench_decrypt.py [--app-mb 160] [--base 240] [--keep]

Records real connections on loopback (as bench_show.py does: Python `ssl`, TLS 1.2
with AES-GCM, ChaCha20 and AES-CBC suites and TLS 1.3, MTU 1500, offload off) with the
server's key log, multiplies them until the capture holds --app-mb of application
data, then times
    tlslens show --json --keylog K           (decrypts and hashes every record)
    tshark -o tls.keylog_file:K -q -z io,stat,0,tls.app_data
and prints MB/s of the capture for both, the ratio and peak RSS.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from bench_show import WORK, multiply, record_base, timed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--app-mb", type=int, default=160)
    parser.add_argument("--base", type=int, default=240)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    base = WORK / f"decrypt-base-{args.base}.pcap"
    keylog = base.with_suffix(".keys")
    big = WORK / f"decrypt-{args.app_mb}.pcap"
    if not (args.keep and base.exists() and keylog.exists()):
        print(f"recording {args.base} real connections with a key log...", flush=True)
        record_base(base, args.base, keylog)
    tlslens = str(Path(sys.executable).parent / "tlslens")
    if not (args.keep and big.exists()):
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
        copies = max(1, -(-args.app_mb * 1_000_000 // app))
        base_mb = base.stat().st_size / 1e6
        multiply(base, big, int(base_mb * copies))
        print(
            f"built {big.name}: about {copies} copies, {app * copies / 1e6:.0f} MB of application data"
        )
    size_mb = big.stat().st_size / 1e6
    out = subprocess.run(
        [tlslens, "show", "--json", "--keylog", str(keylog), str(big)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = [json.loads(line) for line in out.splitlines()]
    app_mb = sum(sum(r["decryption"]["plaintext_bytes"].values()) for r in rows) / 1e6
    failed = [r["id"] for r in rows if r["decryption"]["status"] != "decrypted"]
    ours_s, ours_rss = timed([tlslens, "show", "--json", "--keylog", str(keylog), str(big)])
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
        f"capture: {size_mb:.0f} MB, {len(rows)} connections, {app_mb:.0f} MB of application data "
        f"decrypted by tlslens ({len(failed)} not decrypted)"
    )
    print(
        f"tlslens show --json --keylog: {ours_s:6.1f} s  {size_mb / ours_s:6.1f} MB/s  "
        f"peak RSS {ours_rss / 1024:5.0f} MB"
    )
    print(
        f"tshark -z io,stat (keylog):   {theirs_s:6.1f} s  {size_mb / theirs_s:6.1f} MB/s  "
        f"peak RSS {theirs_rss / 1024:5.0f} MB"
    )
    print(f"ratio (tlslens throughput / tshark throughput): {theirs_s / ours_s:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
