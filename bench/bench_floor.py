"""Benchmark: how much of `show --json` is work done in C, which no trimming of tlslens'
Python can remove, against tshark's time, in one run.

Usage (with tshark installed; --bulk records as root if bench_decrypt.py has not):
    python bench/bench_floor.py [--connections 5000] [--bulk] [--keep]

The captures are bench_workers.py's (real loopback connections copied to --connections) and,
with --bulk, bench_decrypt.py's (720 connections, 175 MB of application data). One
process runs `tlslens show --json` (without and with the key log) under cProfile, and the
time of the C functions it calls is summed by kind: signature verifications, symmetric
decryption, key derivation and HMAC, hashing, X.509 parsing in `cryptography`, and the JSON
encoder. That sum is a floor: a tool that checks every handshake's signature, opens every
record and prints what `show --json` prints spends at least that, in whatever language the
rest is written; a reader in Python also walks the pcap record headers at least
(bench_show.floor_walk). It is printed against tshark's median time and the time the
targets of issue 12 leave (many connections: 3x tshark without keys, 2x with keys; bulk: 3x),
with tlslens' own median time. One capture is read by one process (the share machinery that
split it across processes went in issue 23), so the floor is counted on one core. cProfile's own cost per call
(measured on ``len``) is taken off each C function's time; what it adds around a call, it
gives the caller, which is Python.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import subprocess
import sys
import tempfile
from pathlib import Path

import _bytecode  # noqa: F401  (tlslens' bytecode, compiled before anything is timed)
from bench_decrypt import bulk_capture
from bench_show import floor_walk, timed, tshark_fields
from bench_workers import many_capture

from tlslens.capture import open_capture

# (kind, what a C function's profile name holds); the first that matches counts it.
KINDS = (
    ("signature verifications", ("'verify' of",)),
    ("record decryption", ("aead.", "'decrypt' of", "CipherContext")),
    ("key derivation, HMAC", ("HKDF", "hmac.HMAC", "hashes.Hash")),
    ("hashing (hashlib)", ("_hashlib",)),
    ("X.509 in cryptography", ("x509", "load_der")),
    ("JSON encoding", ("_json.",)),
)


def _kind(name: str) -> str | None:
    return next((kind for kind, marks in KINDS if any(m in name for m in marks)), None)


def profiler_cost() -> float:
    """What cProfile counts in a C function's own time for one call of it: the time it
    gives ``len`` of a short bytes, which itself takes a few nanoseconds."""
    profile = cProfile.Profile()
    data, calls = b"x", 200_000
    profile.runcall(lambda: [len(data) for _ in range(calls)])
    table = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    own: float = next(v[2] for k, v in table.items() if "len" in k[2])
    return own / calls


def profiled(command: list[str], stats: Path, per_call: float) -> dict[str, float]:
    """The seconds a `tlslens` command spends in each kind of C work (less ``per_call``
    for each call: cProfile's own), and in all ("profile")."""
    # argv: ["-c", STATS, "tlslens", ...]; cProfile.run writes the stats when `run` exits.
    code = (
        "import cProfile, sys; from tlslens.cli import run; stats = sys.argv[1]; "
        "sys.argv = sys.argv[2:]; cProfile.run('run()', stats)"
    )
    subprocess.run(
        [sys.executable, "-c", code, str(stats), "tlslens", *command],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )
    table = pstats.Stats(str(stats)).stats  # type: ignore[attr-defined]
    seconds = dict.fromkeys([kind for kind, _ in KINDS], 0.0)
    seconds["profile"] = 0.0
    for (filename, _line, function), (_cc, calls, tottime, _ct, _callers) in table.items():
        seconds["profile"] += tottime
        tottime = max(tottime - calls * per_call, 0.0)
        # C functions (filename "~"), and the JSON encoder's thin Python wrapper around its
        # C part (whose calls cProfile does not see apart).
        if filename.endswith("json/encoder.py"):
            seconds["JSON encoding"] += tottime
        elif filename == "~" and (kind := _kind(function)) is not None:
            seconds[kind] += tottime
    return seconds


def _tshark_keys(capture: Path, keys: Path) -> list[str]:
    return [
        "tshark", "-n", "-r", str(capture), "-o", f"tls.keylog_file:{keys}",
        "-q", "-z", "io,stat,0,tls.app_data",
    ]  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=5000)
    parser.add_argument("--bulk", action="store_true", help="also bench_decrypt's capture")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    capture, keys = many_capture(args.connections, args.keep)
    show = ["show", "--json"]
    # (shape, capture, tlslens arguments, peer, target ratio)
    shapes = [
        ("many, no keys", capture, show, tshark_fields(capture), 3),
        ("many, keys", capture, [*show, "--keylog", str(keys)], _tshark_keys(capture, keys), 2),
    ]
    if args.bulk:
        bulk, bulk_keys = bulk_capture(160, 240, keep=True)
        bulk_show = [*show, "--keylog", str(bulk_keys)]
        shapes.append(("bulk, keys", bulk, bulk_show, _tshark_keys(bulk, bulk_keys), 3))
    tlslens = str(Path(sys.executable).parent / "tlslens")
    # The command's own module: the command table imports each command when it runs.
    started = timed([sys.executable, "-c", "import tlslens.cli.app, tlslens.cli.show"])[0]
    print(f"tlslens start-up (import): {started:.2f} s")
    per_call = profiler_cost()
    print(f"cProfile's cost per call, taken off each: {per_call * 1e9:.0f} ns")
    with tempfile.TemporaryDirectory() as scratch:
        for shape, path, command, peer, target in shapes:
            ours = timed([tlslens, *command, str(path)])[0]
            theirs = timed(peer)[0]
            floor = profiled([*command, str(path)], Path(scratch) / "stats", per_call)
            walk = min(floor_walk(path) for _ in range(3))
            raw, reader = open_capture(path)
            with raw:
                frames = sum(1 for _ in reader)
            c_work = sum(v for k, v in floor.items() if k != "profile")
            budget = theirs / target  # wall time the target allows
            print(
                f"\n{shape} ({path.stat().st_size / 1e6:.0f} MB, {frames} frames): "
                f"tshark {theirs:.2f} s, tlslens (1 process) {ours:.2f} s"
            )
            for kind, _marks in KINDS:
                print(f"  C work: {kind:26} {floor[kind]:6.3f} s")
            print(f"  C work in all: {c_work:.2f} s (of a {floor['profile']:.2f} s profile)")
            print(f"  the least a Python reader does (walk the pcap headers): {walk:.2f} s")
            best = started + c_work + walk
            print(
                f"  {target}x tshark leaves {budget:.2f} s of wall time; "
                f"start-up plus only these, in one process, take {best:.2f} s "
                f"({best / budget:.0%} of it), leaving "
                f"{max(budget - best, 0) * 1e6 / frames:.1f} us of CPU a frame for "
                f"all the rest (tlslens spends {(ours - started - c_work - walk) * 1e6 / frames:.1f} "
                "us now)"
            )
    if not args.keep:
        capture.unlink()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
