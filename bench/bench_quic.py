"""Benchmark: QUIC with its key log, tlslens against tshark.

Usage (as root, with tshark and dumpcap installed):
    python bench/bench_quic.py [--size-mb 110] [--transfer-mb 8] [--keep] [--before CMD]

Records real QUIC connections on loopback, aioquic client against aioquic server (the
HTTP/3 server and client of tools/record_quic.py), each one GET of --transfer-mb of bulk
data, cycling QUIC v1 and v2 and the TLS 1.3 suites AES-128-GCM, AES-256-GCM and
ChaCha20-Poly1305, with the client's key log, until the capture holds --size-mb. The
connections are not multiplied: a copy would need new Connection IDs, and so new packet
protection. Then times, in one run (median of 3, peak RSS),
    tlslens show --json --keylog K   against
    tshark -o tls.keylog_file:K -q -z io,stat,0,quic.stream_data   (opens every packet)
and without the key log
    tlslens show --json              against
    tshark -T fields -e quic.version -e tls.handshake.extensions_server_name
and checks once (not timed) that both decrypted the same STREAM bytes. ``--before CMD``
(another checkout's tlslens, as bench_flows.py takes it) is timed beside, its output checked
to be the same bytes.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import re
import shlex
import socket
import subprocess
import sys
from pathlib import Path

import _bytecode  # noqa: F401  (tlslens' bytecode, compiled before anything is timed)
from aioquic.asyncio.server import serve
from aioquic.quic.packet import QuicProtocolVersion
from aioquic.tls import CipherSuite
from bench_show import WORK, timed
from record_lab import HOST, PKI, Context, capture, free_port, make_pki
from record_quic import BULK_PATH, H3Server, _client, server_config

VERSIONS = (QuicProtocolVersion.VERSION_1, QuicProtocolVersion.VERSION_2)
SUITES = (
    CipherSuite.AES_128_GCM_SHA256,
    CipherSuite.AES_256_GCM_SHA384,
    CipherSuite.CHACHA20_POLY1305_SHA256,
)
TRANSFER_TIMEOUT_S = 600.0


async def _transfers(
    ctx: Context, port: int, keylog: Path, growing: Path, size: int, each: int
) -> int:
    """Connections one after the other until the capture being written holds ``size``
    bytes; how many."""
    server = await serve(HOST, port, configuration=server_config(ctx.pki), create_protocol=H3Server)
    count = 0
    try:
        for version, suite in itertools.cycle(itertools.product(VERSIONS, SUITES)):
            if growing.exists() and growing.stat().st_size >= size:
                return count
            async with _client(ctx, port, keylog, version=version, suite=suite) as conn:
                await conn.get(f"{BULK_PATH.decode()}{each}", timeout_s=TRANSFER_TIMEOUT_S)
            count += 1
    finally:
        server.close()
    return count


def record(path: Path, keylog: Path, size_mb: int, transfer_mb: int) -> int:
    """Record the bulk QUIC capture (classic pcap) and its key log; the connections."""
    make_pki(PKI)
    ctx = Context(pki=PKI, out=WORK, work=WORK)
    keylog.unlink(missing_ok=True)
    port = free_port(socket.SOCK_DGRAM)
    growing = path.with_suffix(path.suffix + ".tmp")  # where record_lab.capture writes
    with capture(path, 0, port_filter=f"udp port {port}"):
        count = asyncio.run(
            _transfers(ctx, port, keylog, growing, size_mb * 1_000_000, transfer_mb * 1_000_000)
        )
    return count


def tshark_keyed(path: Path, keylog: Path) -> list[str]:
    """The timed tshark command: every packet opened to count the STREAM data in it."""
    return [
        "tshark", "-n", "-r", str(path), "-o", f"tls.keylog_file:{keylog}",
        "-q", "-z", "io,stat,0,quic.stream_data",
    ]  # fmt: skip


def tshark_stream_bytes(path: Path, keylog: Path) -> tuple[int, int, int, int]:
    """What tshark decrypted: packets with STREAM data, STREAM frames and their bytes
    (``quic.stream_data``, hex), and the packets the timed ``io,stat`` command counted."""
    cmd = ["tshark", "-n", "-r", str(path), "-o", f"tls.keylog_file:{keylog}"]
    proc = subprocess.Popen(
        [*cmd, "-T", "fields", "-e", "quic.stream_data"], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    packets = frames = total = 0
    for line in proc.stdout:
        found = [data for data in line.strip().split(",") if data]
        packets += bool(found)
        frames += len(found)
        total += sum(len(data) // 2 for data in found)
    proc.wait()
    stat = subprocess.run(tshark_keyed(path, keylog), capture_output=True, text=True).stdout
    # The table's row: "|  0 <> 12 | 90997 |" (interval, then the count).
    counted = [int(m) for m in re.findall(r"<>[^|]*\|\s*(\d+)\s*\|", stat)]
    return packets, frames, total, sum(counted)


def tlslens_stream_bytes(tlslens: str, path: Path, keylog: Path) -> tuple[int, int, int]:
    """Connections, those decrypted, and the STREAM bytes ``show --json`` counted."""
    out = subprocess.run(
        [tlslens, "show", "--json", "--keylog", str(keylog), str(path)],
        capture_output=True,
        check=True,
    ).stdout
    rows = [json.loads(line) for line in out.splitlines()]
    quic = [r for r in rows if r.get("quic")]
    decrypted = sum(r["decryption"]["status"] == "decrypted" for r in quic)
    total = sum(s["bytes"] for r in quic for s in r["quic"]["streams"])
    return len(quic), decrypted, total


def _compare(
    name: str,
    size_mb: float,
    tlslens: str,
    args: list[str],
    tshark: list[str],
    before: list[str] | None,
) -> None:
    """Time ``show --json ARGS`` and tshark (and the ``before`` tlslens, checked to print
    the same bytes) and print the times, peak RSS and ratios."""
    ours = [tlslens, "show", "--json", *args]
    rows = [("tlslens", ours), ("tshark", tshark)]
    if before is not None:
        old = [*before, "show", "--json", *args]
        same = subprocess.run(old, capture_output=True, check=True).stdout == (
            subprocess.run(ours, capture_output=True, check=True).stdout
        )
        print(f"{name}: before and after print {'the same' if same else 'DIFFERENT'} bytes")
        rows.insert(0, ("before", old))
    times = {}
    for label, cmd in rows:
        seconds, rss = timed(cmd)
        times[label] = seconds
        print(
            f"{name:17} {label:8} {seconds:6.2f} s  {size_mb / seconds:6.1f} MB/s  "
            f"peak RSS {rss / 1024:5.0f} MB",
            flush=True,
        )
    ratio = f"{name:17} tshark / tlslens {times['tshark'] / times['tlslens']:.2f}x"
    if "before" in times:
        ratio += f"  (before: {times['tshark'] / times['before']:.2f}x; "
        ratio += f"after is {times['before'] / times['tlslens']:.2f}x before)"
    print(ratio, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=110, help="the capture's size")
    parser.add_argument("--transfer-mb", type=int, default=8, help="data per connection")
    parser.add_argument("--keep", action="store_true", help="reuse bench/work/ if present")
    parser.add_argument("--before", help="another tlslens command to time beside this one")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    cap = WORK / f"quic-{args.size_mb}.pcap"
    keylog = cap.with_suffix(".keys")
    if not (args.keep and cap.exists() and keylog.exists()):
        print(f"recording QUIC connections of {args.transfer_mb} MB each...", flush=True)
        count = record(cap, keylog, args.size_mb, args.transfer_mb)
        print(f"recorded {cap.name}: {count} connections", flush=True)
    tlslens = str(Path(sys.executable).parent / "tlslens")
    size_mb = cap.stat().st_size / 1e6
    conns, decrypted, ours = tlslens_stream_bytes(tlslens, cap, keylog)
    packets, frames, theirs, counted = tshark_stream_bytes(cap, keylog)
    print(
        f"capture: {size_mb:.0f} MB, {conns} QUIC connections ({decrypted} decrypted); "
        f"STREAM bytes decrypted: tlslens {ours:,}, tshark {theirs:,} in {frames:,} frames"
        + ("" if ours == theirs else "  MISMATCH")
        + f"; tshark's io,stat counted {counted:,} packets with STREAM data of {packets:,}"
    )
    keyed = ["--keylog", str(keylog), str(cap)]
    tshark_plain = ["tshark", "-n", "-r", str(cap), "-T", "fields", "-e", "quic.version",
                    "-e", "tls.handshake.extensions_server_name"]  # fmt: skip
    before = shlex.split(args.before) if args.before else None
    _compare("with the key log", size_mb, tlslens, keyed, tshark_keyed(cap, keylog), before)
    _compare("without keys", size_mb, tlslens, [str(cap)], tshark_plain, before)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
