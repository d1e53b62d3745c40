"""Benchmark: what an open TCP flow costs (issue 23: peak RSS under 150 MB whatever the capture).

Usage (no root needed):
    python bench/bench_open_flows.py --before "CMD" [--flows 20000 50000] [--keep]

``--before`` is the command that runs the tlslens to compare with, e.g. a clone of main's
``env PYTHONPATH=/tmp/old/src /tmp/old/.venv/bin/python -m tlslens`` (as bench_flows.py);
this venv's ``tlslens`` is "after". Writes, for each N of ``--flows``, captures of N TCP flows
all open at once (none ends before the capture does), in six shapes:
    syn           the client's SYN alone (a port scan, a SYN flood);
    established   the handshake done, no data;
    header        a 5-byte TLS record header each way (claiming 32 bytes), nothing more
                  (too little to tell TLS: the flows stay undecided);
    started       the same and one byte of the record's body: TLS started each way;
    hello         a whole ClientHello from the client (handshake/compose), nothing back;
    browser       the same with a browser-sized ClientHello (1.7 KB, a hybrid key share);
    http          a plaintext HTTP request and its answer (not TLS, but a prelude: kept in
                  case a STARTTLS follows);
then runs ``show --json`` on each with before and after in the same run, and prints their
peak RSS and wall time (the median of ``--runs``) and whether their outputs are the same.

The captures are written by a child process (this script with ``--write``): a child of a
large process would carry its size into ``ru_maxrss`` (os.wait4), so this one stays small.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

WORK = Path(__file__).resolve().parent / "work"
SHAPES = ("syn", "established", "header", "started", "hello", "browser", "http")


def _write(shape: str, flows: int, path: Path) -> None:
    """The capture of ``flows`` flows of ``shape``, each open until the capture ends (run in
    the child: it imports tlslens' writers)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
    from tlslens.handshake import compose

    import adversarial

    header = b"\x16\x03\x01\x00\x20"
    data = {
        "header": (header, header),
        "started": (header + b"\x01", header + b"\x01"),
        "hello": (compose.push_records(22, 0x0301, adversarial._hello()), b""),
        "browser": (compose.push_records(22, 0x0301, _browser_hello(compose)), b""),
        "http": (b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n", b"HTTP/1.1 200 OK\r\n\r\n"),
    }.get(shape, (b"", b""))
    frames = adversarial.all_open(flows, established=shape != "syn", data=data)
    adversarial._write(path, frames)


def _browser_hello(compose: Any) -> bytes:
    """A ClientHello of a browser's size and shape (a 1.7 KB record: 16 suites, GREASE, a
    hybrid X25519MLKEM768 key share, session ticket, ALPN, padding-free), as Chrome's."""
    spec = compose.HelloSpec(
        legacy_version=0x0303,
        random=bytes(range(32)),
        session_id=bytes(32),
        cipher_suites=(
            0x1301,
            0x1302,
            0x1303,
            0xC02B,
            0xC02F,
            0xC02C,
            0xC030,
            0xCCA9,
            0xCCA8,
            0xC013,
            0xC014,
            0x009C,
            0x009D,
            0x002F,
            0x0035,
        ),
        server_name="www.example.com",
        supported_versions=(0x0304, 0x0303),
        groups=(0x11EC, 29, 23, 24),
        key_shares=((0x11EC, bytes(1216)), (29, bytes(32))),
        signature_algorithms=(0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601),
        alpn=("h2", "http/1.1"),
        status_request=True,
        session_ticket=b"",
        extended_master_secret=True,
        renegotiation_info=True,
        ec_point_formats=True,
        psk_key_exchange_modes=(1,),
        grease=0x0A0A,
        extra=[(18, b""), (27, b"\x02\x00\x02"), (17513, b"\x00\x03\x02h2")],
    )
    return bytes(compose.push_client_hello(spec))


def _capture(shape: str, flows: int, keep: bool) -> Path:
    path = WORK / f"open-{shape}-{flows}.pcapng"
    if not (keep and path.exists()):
        command = [sys.executable, __file__, "--write", shape, str(flows), str(path)]
        subprocess.run(command, check=True)
    return path


def _run(cmd: list[str]) -> tuple[float, int, bytes]:
    """Wall seconds, peak RSS (kB) and the SHA-256 of the standard output of one run."""
    digest = hashlib.sha256()
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    stream = proc.stdout
    assert stream is not None
    for chunk in iter(lambda: stream.read(1 << 20), b""):
        digest.update(chunk)
    _pid, status, usage = os.wait4(proc.pid, 0)
    took = time.perf_counter() - start
    if status != 0:
        raise RuntimeError(f"{shlex.join(cmd)} failed")
    return took, usage.ru_maxrss, digest.digest()


def _measure(cmd: list[str], runs: int) -> tuple[float, int, bytes]:
    """Median wall seconds and peak RSS (kB) over ``runs``, and the output's digest."""
    results = [_run(cmd) for _ in range(runs)]
    times = sorted(took for took, _rss, _digest in results)
    digests = {digest for _took, _rss, digest in results}
    if len(digests) != 1:
        raise RuntimeError(f"{shlex.join(cmd)} gave different outputs from one run to the next")
    return times[len(times) // 2], max(rss for _took, rss, _digest in results), digests.pop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", help="the tlslens command to compare with")
    parser.add_argument("--flows", type=int, nargs="+", default=[20_000, 50_000])
    parser.add_argument("--shapes", nargs="+", choices=SHAPES, default=list(SHAPES))
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="reuse captures already written")
    parser.add_argument("--write", nargs=3, metavar=("SHAPE", "N", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.write:
        shape, flows, path = args.write
        _write(shape, int(flows), Path(path))
        return 0
    WORK.mkdir(parents=True, exist_ok=True)
    # tlslens' bytecode compiled before anything is timed (bench/_bytecode.py), in a child.
    subprocess.run([sys.executable, str(Path(__file__).with_name("_bytecode.py"))], check=True)
    after = [str(Path(sys.executable).parent / "tlslens"), "show", "--json"]
    commands = {"after": after}
    if args.before:
        commands = {"before": [*shlex.split(args.before), "show", "--json"], "after": after}
    print(
        f"{'shape':12} {'N':>7}  " + "  ".join(f"{k + ' RSS':>11} {k + ' s':>9}" for k in commands)
    )
    for flows in args.flows:
        for shape in args.shapes:
            path = _capture(shape, flows, args.keep)
            measured = {
                name: _measure([*cmd, str(path)], args.runs) for name, cmd in commands.items()
            }
            same = len({digest for _t, _r, digest in measured.values()}) == 1
            cells = "  ".join(
                f"{rss / 1024:8.0f} MB {took:7.2f} s" for took, rss, _d in measured.values()
            )
            note = "" if same else "  OUTPUT DIFFERS"
            print(f"{shape:12} {flows:7,}  {cells}{note}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
