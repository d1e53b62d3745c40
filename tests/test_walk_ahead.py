"""The flow walk goes ahead on a thread of its own (crates/tlslens-py/src/walk.rs) while
Python reads the events of the frames before: the same connections, findings and order as
a walk that never goes ahead (a capture read as a stream, whose reader waits for Python to
feed it, never does), including where a batch brings Decryption Secrets Blocks halfway."""

from __future__ import annotations

import io
import sys
from pathlib import Path

from tlslens.capture.writer import PcapngWriter
from tlslens.pipeline import read_capture
from tlslens.serialize import connection_line

from conftest import ROOT

sys.path.insert(0, str(ROOT / "tools"))
import adversarial

# Connections of a few KB each: a few thousand make several of the reader's batches.
COUNT = 3000


def _capture(path: Path, *, secrets_halfway: bool) -> None:
    with path.open("wb") as out:
        writer = PcapngWriter(out)
        writer.add_interface(tsresol=9)
        for ts, frame in adversarial._normal(COUNT // 2):
            writer.add_packet(ts, frame)
        if secrets_halfway:  # a key log for none of them: the run reads with keys from here
            writer.add_secrets(b"CLIENT_RANDOM " + b"ab" * 32 + b" " + b"cd" * 48 + b"\n")
        for ts, frame in adversarial._normal(COUNT - COUNT // 2, first=COUNT // 2):
            writer.add_packet(ts, frame)


def _walk_threads() -> set[str]:
    return {task.joinpath("comm").read_text().strip() for task in Path("/proc/self/task").iterdir()}


def _read(path: Path, *, as_stream: bool) -> tuple[list[str], list[str], set[str]]:
    """The lines of the connections, the capture's problems, and the threads seen while
    the connections came."""
    stream = io.BytesIO(path.read_bytes()) if as_stream else None
    capture = read_capture(path, stream=stream)
    lines, threads = [], set()
    for conn in capture:
        lines.append(connection_line(conn))
        if len(lines) == 10:
            threads = _walk_threads()
    problems = [str(problem.to_json()) for problem in capture.summary.problems]
    return lines, problems, threads


def test_a_walk_ahead_tells_what_a_walk_in_step_tells(tmp_path: Path) -> None:
    path = tmp_path / "many.pcapng"
    _capture(path, secrets_halfway=False)
    ahead, ahead_problems, threads = _read(path, as_stream=False)
    in_step, in_step_problems, _ = _read(path, as_stream=True)
    assert "tlslens-walk" in threads  # the file's frames were walked ahead
    assert len(ahead) == COUNT
    assert (ahead, ahead_problems) == (in_step, in_step_problems)


def test_secrets_halfway_wait_for_the_events_before_them(tmp_path: Path) -> None:
    """The batch carrying the Decryption Secrets Block is fetched ahead but held back until
    the connections before it are out: they are read without keys, those after with the
    capture's key log, as in a walk that never goes ahead."""
    path = tmp_path / "secrets.pcapng"
    _capture(path, secrets_halfway=True)
    ahead, ahead_problems, _ = _read(path, as_stream=False)
    in_step, in_step_problems, _ = _read(path, as_stream=True)
    assert (ahead, ahead_problems) == (in_step, in_step_problems)
    first, last = ahead[0], ahead[-1]
    assert '"status": "not_attempted"' in first and '"status": "not_attempted"' not in last
