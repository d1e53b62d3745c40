"""Benchmark: the HTML report of a capture of thousands of connections, in headless Chromium.

Usage:
    python bench/bench_report.py [--connections 5000] [--keep]

1. The project's recorded captures (tests/vectors/captures: real OpenSSL, GnuTLS, nginx and
   Python `ssl` connections on loopback, TLS 1.0 to 1.3, with their key logs) are copied
   until there are --connections TLS connections, each copy with its own client address
   (both directions of each flow rewritten, timestamps shifted), into one pcap; their key
   logs are joined (the copies keep their randoms, so every copy decrypts).
2. `tlslens report --keylog` writes the page; its size and the time to make it are printed.
3. Headless Chromium (Debian's, through Playwright) opens it: first contentful paint,
   the time until the table is drawn, and the time to open one connection's detail (its
   chunk unpacked on demand), each the median of three loads.

No peer makes such a page; the targets are the issue's: under 10 MB, first paint under 1 s.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import _bytecode  # noqa: F401  (tlslens' bytecode, compiled before anything is timed)

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / "work"
CAPTURES = ROOT / "tests" / "vectors" / "captures"

from tlslens.capture import open_capture  # noqa: E402
from tlslens.capture.writer import write_pcap  # noqa: E402

ETHERNET_IPV4 = 0x0800


def _frames() -> tuple[list[tuple[int, bytes]], int]:
    """Every IPv4-over-Ethernet frame of the recorded captures, on one time line, and the
    number of TLS connections they hold."""
    import tlslens

    frames: list[tuple[int, bytes]] = []
    connections = 0
    offset = 0
    for path in sorted(CAPTURES.glob("*.pcap*")):
        raw, reader = open_capture(path)
        with raw:
            these = [
                (ts, data)
                for ts, linktype, data in reader
                if linktype == 1 and struct.unpack_from(">H", data, 12)[0] == ETHERNET_IPV4
            ]
        if not these:
            continue
        t0 = these[0][0]
        frames += [(ts - t0 + offset, data) for ts, data in these]
        offset = frames[-1][0] + 1_000_000_000
        connections += sum(1 for _ in tlslens.read_capture(path))
    return frames, connections


def _multiplied(frames: list[tuple[int, bytes]], copies: int) -> Iterator[tuple[int, bytes]]:
    span = frames[-1][0] + 1_000_000_000
    clients: dict[tuple[bytes, int], bool] = {}  # (address, port) of each flow's SYN sender
    for _ts, data in frames:
        ip = 14 + 0
        if data[ip + 9] == 6 and data[ip + 20 + 13] & 0x12 == 0x02:
            clients[(data[ip + 12 : ip + 16], struct.unpack_from(">H", data, ip + 20)[0])] = True
    for k in range(copies):
        address = bytes([10, 1 + k // 65536 % 250, k // 256 % 256, k % 256])
        for ts, data in frames:
            frame = bytearray(data)
            ip = 14
            src = (bytes(frame[ip + 12 : ip + 16]), struct.unpack_from(">H", frame, ip + 20)[0])
            dst = (bytes(frame[ip + 16 : ip + 20]), struct.unpack_from(">H", frame, ip + 22)[0])
            if src in clients:
                frame[ip + 12 : ip + 16] = address
            elif dst in clients:
                frame[ip + 16 : ip + 20] = address
            yield ts + k * span + 1_700_000_000_000_000_000, bytes(frame)


def _browser_times(page_path: Path, chromium: str) -> tuple[float, float, float]:
    from playwright.sync_api import sync_playwright

    paints, tables, details = [], [], []
    with sync_playwright() as play:
        browser = play.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        for _ in range(3):
            page = browser.new_page()
            started = time.monotonic()
            page.goto(page_path.resolve().as_uri())
            page.wait_for_selector("body[data-ready='1']")
            tables.append((time.monotonic() - started) * 1000)
            paints.append(
                page.evaluate("performance.getEntriesByName('first-contentful-paint')[0].startTime")
            )
            started = time.monotonic()
            page.click("#rows tbody tr:nth-child(7)")
            page.wait_for_selector("#ladder .arrow")
            details.append((time.monotonic() - started) * 1000)
            page.close()
        browser.close()
    return statistics.median(paints), statistics.median(tables), statistics.median(details)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=5000)
    parser.add_argument("--keep", action="store_true", help="Keep bench/work/report-*.")
    args = parser.parse_args()
    chromium = shutil.which("chromium")
    if chromium is None:
        print("chromium is not installed (apt-get install chromium)", file=sys.stderr)
        return 1
    WORK.mkdir(parents=True, exist_ok=True)
    frames, per_copy = _frames()
    copies = -(-args.connections // per_copy)
    capture = WORK / f"report-{copies * per_copy}.pcap"
    with capture.open("wb") as out:
        write_pcap(out, _multiplied(frames, copies), nanoseconds=True)
    keys = WORK / "report.keys"
    keys.write_text("".join(p.read_text() for p in sorted(CAPTURES.glob("*.keys"))))
    print(f"capture: {capture.stat().st_size / 1e6:.1f} MB, {copies * per_copy} TLS connections")
    failed = False
    pages = []
    for label, options in (("with the key log", ["--keylog", str(keys)]), ("without keys", [])):
        page = WORK / f"report-{'keys' if options else 'plain'}.html"
        pages.append(page)
        started = time.monotonic()
        subprocess.run(
            [sys.executable, "-m", "tlslens", "report", *options, "-o", str(page), str(capture)],
            check=True,
        )
        made = time.monotonic() - started
        size = page.stat().st_size
        paint, table, detail = _browser_times(page, chromium)
        print(
            f"{label}: report {size / 1e6:.2f} MB (limit 10 MB), made in {made:.1f} s; "
            f"chromium: first contentful paint {paint:.0f} ms (limit 1000 ms), table drawn "
            f"{table:.0f} ms, one connection's detail opened in {detail:.0f} ms"
        )
        failed = failed or size >= 10_000_000 or paint >= 1000
    if not args.keep:
        for path in (capture, keys, *pages):
            path.unlink()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
