"""Benchmark: QUIC with its key log, tlslens against tshark.

Usage (as root, with tshark and dumpcap installed):
    python bench/bench_quic.py [--size-mb 110] [--transfer-mb 8] [--keep]

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
and checks once (not timed) that both decrypted the same STREAM bytes.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
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


def tshark_stream_bytes(path: Path, keylog: Path) -> tuple[int, int]:
    """The STREAM frames tshark decrypted and their bytes (``quic.stream_data``, hex)."""
    cmd = ["tshark", "-n", "-r", str(path), "-o", f"tls.keylog_file:{keylog}"]
    proc = subprocess.Popen(
        [*cmd, "-T", "fields", "-e", "quic.stream_data"], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    frames = total = 0
    for line in proc.stdout:
        for data in line.split(","):
            if data.strip():
                frames += 1
                total += len(data.strip()) // 2
    proc.wait()
    return frames, total


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=110, help="the capture's size")
    parser.add_argument("--transfer-mb", type=int, default=8, help="data per connection")
    parser.add_argument("--keep", action="store_true", help="reuse bench/work/ if present")
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
    frames, theirs = tshark_stream_bytes(cap, keylog)
    print(
        f"capture: {size_mb:.0f} MB, {conns} QUIC connections ({decrypted} decrypted); "
        f"STREAM bytes decrypted: tlslens {ours:,}, tshark {theirs:,} in {frames:,} frames"
        + ("" if ours == theirs else "  MISMATCH")
    )
    show = [tlslens, "show", "--json"]
    keyed = ["-o", f"tls.keylog_file:{keylog}"]
    runs = (
        (
            "with the key log",
            [*show, "--keylog", str(keylog), str(cap)],
            ["tshark", "-n", "-r", str(cap), *keyed, "-q", "-z", "io,stat,0,quic.stream_data"],
        ),
        (
            "without keys",
            [*show, str(cap)],
            ["tshark", "-n", "-r", str(cap), "-T", "fields", "-e", "quic.version",
             "-e", "tls.handshake.extensions_server_name"],
        ),
    )  # fmt: skip
    for name, ours_cmd, theirs_cmd in runs:
        ours_s, ours_rss = timed(ours_cmd)
        theirs_s, theirs_rss = timed(theirs_cmd)
        print(
            f"{name}: tlslens {ours_s:6.2f} s ({size_mb / ours_s:6.1f} MB/s, peak RSS "
            f"{ours_rss / 1024:5.0f} MB)  tshark {theirs_s:6.2f} s ({size_mb / theirs_s:6.1f} "
            f"MB/s, peak RSS {theirs_rss / 1024:5.0f} MB)  ratio {theirs_s / ours_s:.2f}x",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
