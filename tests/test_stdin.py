"""A capture on standard input (``tcpdump -w - | tlslens show -``): read as it arrives.

Each test runs the installed ``tlslens`` with a real pipe on its standard input, either a
file or a writer that trickles the capture in small chunks and holds its last bytes back
until the first connection has come out: a reader that seeks fails on the pipe, and one
that waits for the end of the input never says anything while the writer waits.
"""

from __future__ import annotations

import gzip
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import CAPTURES

TLSLENS = str(Path(sys.executable).parent / "tlslens")
# pcap and pcapng, each with six connections, the first ended long before the last frame.
PIPED = [CAPTURES / "openssl-resumption.pcap", CAPTURES / "openssl-versions.pcapng"]
HELD_BACK = 40  # bytes kept until the first connection is out: less than the last frame
FIRST_OUTPUT_TIMEOUT_S = 20


def _from_file(args: list[str], capture: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [TLSLENS, *args, str(capture)], capture_output=True, timeout=120, check=False
    )


def _through_pipe(args: list[str], data: bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [TLSLENS, *args, "-"], input=data, capture_output=True, timeout=120, check=False
    )


def _summary_named(output: bytes, capture: Path) -> bytes:
    """What is read from ``-`` names its capture ``-`` (the closing line, JSON's file)."""
    return output.replace(str(capture).encode(), b"-")


@pytest.mark.parametrize("capture", PIPED, ids=lambda p: p.name)
@pytest.mark.parametrize(
    "args",
    [["show", "--json"], ["show"], ["show", "--brief"], ["certs"], ["decrypt"]],
    ids=" ".join,
)
def test_stdin_from_a_file_tells_what_the_file_does(capture: Path, args: list[str]) -> None:
    keys = ["--keylog", str(capture.with_suffix(".keys"))] if args[0] != "show" else []
    args = [*args, *keys]
    with capture.open("rb") as stdin:
        piped = subprocess.run(
            [TLSLENS, *args, "-"], stdin=stdin, capture_output=True, timeout=120, check=False
        )
    whole = _from_file(args, capture)
    assert piped.returncode == whole.returncode == 0, piped.stderr
    assert len(piped.stdout.splitlines()) >= 6  # every connection, one line at least
    assert piped.stdout == _summary_named(whole.stdout, capture)
    assert piped.stderr == _summary_named(whole.stderr, capture)


def test_gzip_on_stdin_is_read_like_the_file() -> None:
    capture = PIPED[1]
    piped = _through_pipe(["show", "--json"], gzip.compress(capture.read_bytes()))
    assert piped.returncode == 0, piped.stderr
    whole = _from_file(["show", "--json"], capture).stdout
    assert piped.stdout == _summary_named(whole, capture)


def _trickle(stdin: subprocess.Popen[bytes], data: bytes, first: queue.Queue[bytes]) -> None:
    """All but the last bytes in small chunks, then the rest once output has come."""
    pipe = stdin.stdin
    assert pipe is not None
    body = data[:-HELD_BACK]
    for start in range(0, len(body), 1000):
        pipe.write(body[start : start + 1000])
        pipe.flush()
        time.sleep(0.002)
    # Raises queue.Empty (the test fails) unless the first connection is told while the
    # capture is still open.
    first.get(timeout=FIRST_OUTPUT_TIMEOUT_S)
    pipe.write(data[-HELD_BACK:])
    pipe.close()


@pytest.mark.parametrize("capture", PIPED, ids=lambda p: p.name)
@pytest.mark.parametrize("args", [["show", "--brief"], ["show", "--json"], ["show"]], ids=" ".join)
def test_a_capture_trickling_in_is_told_as_it_arrives(capture: Path, args: list[str]) -> None:
    data = capture.read_bytes()
    process = subprocess.Popen(
        [TLSLENS, *args, "-"],
        # Output to a pipe as a user's shell gives it: block-buffered, unless tlslens flushes.
        env={k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    first: queue.Queue[bytes] = queue.Queue()
    failure: list[BaseException] = []

    def write() -> None:
        try:
            _trickle(process, data, first)
        except BaseException as exc:  # reported by the test below
            failure.append(exc)
            assert process.stdin is not None
            process.stdin.close()

    writer = threading.Thread(target=write)
    writer.start()
    assert process.stdout is not None
    out = [process.stdout.readline()]
    first.put(out[0])
    writer.join()
    rest = process.stdout.read()
    assert process.stderr is not None
    err = process.stderr.read()
    process.wait(timeout=120)
    assert not failure, f"nothing was told before the end of the input: {failure!r}"
    assert process.returncode == 0, err
    assert out[0] + rest == _summary_named(_from_file(args, capture).stdout, capture)


def test_a_terminal_on_stdin_is_said_not_waited_for() -> None:
    controller, terminal = os.openpty()
    try:
        done = subprocess.run(
            [TLSLENS, "show", "-"], stdin=terminal, capture_output=True, timeout=60, check=False
        )
    finally:
        os.close(controller)
        os.close(terminal)
    assert done.returncode == 1
    assert b"standard input is a terminal" in done.stderr
