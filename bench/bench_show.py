"""Benchmark: `tlslens show --json` against tshark on a large capture of real connections.

Usage (as root, with tshark, dumpcap and ethtool installed):
    python bench/bench_show.py [--size-mb 600] [--base 240] [--keep]

1. Record --base real TLS connections on loopback (Python `ssl` on both ends, TLS 1.2
   and 1.3; AES-GCM, ChaCha20 and AES-CBC suites in TLS 1.2, Python's default in 1.3; 100-400 kB of data each) with the
   loopback MTU set to 1500 and segmentation offload off (ethtool), so that segments
   look like a real network's.
2. Multiply them to --size-mb with rewritten client addresses and ports (each copy a
   distinct 4-tuple, timestamps shifted), into one classic pcap.
3. Time `tlslens show --json` and `tshark -Y 'tls.handshake.type==1 || ...==2 || ...==11'
   -T fields` extracting the same fields (SNI, version, cipher suite, certificate subject),
   and a pure-Python loop that only walks the pcap record headers (the floor).
4. Print MB/s, the ratio and peak RSS of each.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import _bytecode  # noqa: F401  (tlslens' bytecode, compiled before anything is timed)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

from record_lab import PKI, capture, make_pki  # noqa: E402

from tlslens.capture import open_capture  # noqa: E402
from tlslens.capture.writer import write_pcap  # noqa: E402

WORK = ROOT / "bench" / "work"
NAME = "bench.tlslens.test"

TLS12_CIPHERS = [
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-RSA-CHACHA20-POLY1305",
    "ECDHE-RSA-AES256-SHA384",
    "ECDHE-RSA-AES128-SHA",
]


def _set_lo_mtu(mtu: int) -> None:
    subprocess.run(["ip", "link", "set", "lo", "mtu", str(mtu)], check=False)


def _lo_mtu() -> int:
    return int(Path("/sys/class/net/lo/mtu").read_text())


def _set_lo_offload(on: bool) -> None:
    """Segmentation offload makes loopback segments far larger than the MTU."""
    state = "on" if on else "off"
    subprocess.run(
        ["ethtool", "-K", "lo", "tso", state, "gso", state, "gro", state],
        capture_output=True,
        check=False,
    )


def record_base(
    path: Path,
    count: int,
    keylog: Path | None = None,
    sizes: tuple[int, int] = (100_000, 400_000),
) -> None:
    """Record ``count`` real connections, each carrying a response of ``sizes`` bytes."""
    make_pki(PKI)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    if keylog is not None:
        keylog.unlink(missing_ok=True)
        server_ctx.keylog_filename = str(keylog)
    server_ctx.load_cert_chain(PKI / "server-chain.pem", PKI / "server.key")
    server_ctx.set_ciphers(":".join(TLS12_CIPHERS))
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    rnd = random.Random(1)
    payload = rnd.randbytes(400_000)

    def serve() -> None:
        for _ in range(count):
            conn, _addr = listener.accept()
            try:
                with server_ctx.wrap_socket(conn, server_side=True) as tls:
                    size = int(tls.recv(64).decode())
                    tls.sendall(payload[:size])
            except (OSError, ssl.SSLError):
                pass

    old_mtu = _lo_mtu()
    _set_lo_mtu(1500)
    _set_lo_offload(False)
    try:
        with capture(path, port):
            thread = threading.Thread(target=serve, daemon=True)
            thread.start()
            for i in range(count):
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                ctx.load_verify_locations(PKI / "root.pem")
                if i % 2:
                    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
                    ctx.set_ciphers(TLS12_CIPHERS[i // 2 % len(TLS12_CIPHERS)])
                with (
                    socket.create_connection(("127.0.0.1", port)) as raw,
                    ctx.wrap_socket(raw, server_hostname="tlslens.test") as tls,
                ):
                    tls.sendall(str(rnd.randint(*sizes)).encode())
                    while tls.recv(65536):
                        pass
            thread.join(timeout=30)
    finally:
        _set_lo_offload(True)
        _set_lo_mtu(old_mtu)
        listener.close()


def multiply(base: Path, out_path: Path, size_mb: int) -> int:
    """Copies of the base capture, each with its own client address and port."""
    raw, reader = open_capture(base)
    with raw:
        frames = list(reader)
    server_port = None
    for _ts, _lt, data in frames:
        # the server port is the destination of the first SYN
        if data[14 + 9] == 6 and data[14 + 20 + 13] & 0x02:
            server_port = struct.unpack_from(">H", data, 14 + 20 + 2)[0]
            break
    assert server_port is not None
    base_size = sum(len(d) + 16 for _t, _l, d in frames)
    copies = max(1, size_mb * 1_000_000 // base_size + 1)
    t0 = frames[0][0]
    span = frames[-1][0] - t0 + 1_000_000_000

    def rewritten() -> Iterator[tuple[int, bytes]]:
        for k in range(copies):
            client_ip = bytes([127, 1 + k // 65536 % 250, k // 256 % 256, k % 256])
            for ts, _lt, data in frames:
                frame = bytearray(data)
                ip = 14
                sport, dport = struct.unpack_from(">HH", frame, ip + 20)
                if dport == server_port:  # client -> server
                    frame[ip + 12 : ip + 16] = client_ip
                    struct.pack_into(">H", frame, ip + 20, (sport + k * 7) % 60000 + 1024)
                else:
                    frame[ip + 16 : ip + 20] = client_ip
                    struct.pack_into(">H", frame, ip + 22, (dport + k * 7) % 60000 + 1024)
                yield ts - t0 + k * span + 1_700_000_000_000_000_000, bytes(frame)

    with out_path.open("wb") as handle:
        write_pcap(handle, rewritten(), nanoseconds=True)
    return copies


def timed(cmd: list[str], runs: int = 3) -> tuple[float, int]:
    """Median wall time over ``runs`` and peak RSS (kB) of a command, output discarded."""
    times: list[float] = []
    peak = 0
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _pid, status, usage = os.wait4(proc.pid, 0)
        times.append(time.perf_counter() - start)
        if status != 0:
            error = proc.stderr.read().decode()[:500] if proc.stderr else ""
            raise RuntimeError(f"{cmd[0]} failed: {error}")
        peak = max(peak, usage.ru_maxrss)
    return sorted(times)[len(times) // 2], peak


def tshark_fields(path: Path) -> list[str]:
    """tshark printing what `show --json` tells of each hello: SNI, version, suite, and the
    certificate subjects."""
    return [
        "tshark", "-n", "-r", str(path), "-Y",
        "tls.handshake.type==1 || tls.handshake.type==2 || tls.handshake.type==11",
        "-T", "fields", "-e", "tls.handshake.extensions_server_name",
        "-e", "tls.handshake.version", "-e", "tls.handshake.ciphersuite",
        "-e", "x509sat.printableString", "-e", "x509sat.uTF8String",
    ]  # fmt: skip


def floor_walk(path: Path) -> float:
    """A pure-Python loop that only walks the pcap record headers."""
    start = time.perf_counter()
    with path.open("rb") as handle:
        data = handle.read(24)
        unpack = struct.Struct("<IIII").unpack
        n = 0
        while True:
            header = handle.read(16)
            if len(header) < 16:
                break
            incl = unpack(header)[2]
            handle.seek(incl, 1)
            n += 1
    del data
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=600)
    parser.add_argument("--base", type=int, default=240, help="real connections to record")
    parser.add_argument("--keep", action="store_true", help="reuse bench/work/ if present")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    base = WORK / f"base-{args.base}.pcap"
    big = WORK / f"big-{args.size_mb}.pcap"
    if not (args.keep and base.exists()):
        print(f"recording {args.base} real connections on loopback (MTU 1500)...", flush=True)
        record_base(base, args.base)
    if not (args.keep and big.exists()):
        copies = multiply(base, big, args.size_mb)
        print(f"built {big.name}: {copies} copies of the base capture", flush=True)
    size_mb = big.stat().st_size / 1e6
    # Warm the page cache so the first tool does not pay for the disk alone.
    floor_walk(big)
    floor_s = floor_walk(big)
    tlslens = [str(Path(sys.executable).parent / "tlslens"), "show", "--json", str(big)]
    ours_s, ours_rss = timed(tlslens)
    theirs_s, theirs_rss = timed(tshark_fields(big))
    print(f"capture: {size_mb:.0f} MB")
    print(f"floor (walk pcap headers in Python): {size_mb / floor_s:8.0f} MB/s")
    print(
        f"tlslens show --json: {ours_s:7.1f} s  {size_mb / ours_s:6.1f} MB/s  peak RSS {ours_rss / 1024:6.0f} MB"
    )
    print(
        f"tshark -T fields:    {theirs_s:7.1f} s  {size_mb / theirs_s:6.1f} MB/s  peak RSS {theirs_rss / 1024:6.0f} MB"
    )
    print(f"ratio (tlslens throughput / tshark throughput): {theirs_s / ours_s:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
