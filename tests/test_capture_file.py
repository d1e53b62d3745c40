"""A capture that is a regular file is read by the compiled core itself, on its own thread;
Ctrl-C stops the walk, whatever it is doing.

The project's recorded pcapng captures, concatenated (one section each) and repeated, make a
capture of several megabytes: several reads and batches. Read by the core from the file, it
gives the same frames, problems and ``show --json`` bytes as the same bytes fed from Python
(a file object, standard input), gzip'd or cut short; Python's file object is never read.
"""

from __future__ import annotations

import gc
import gzip
import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from test_interrupts import raise_when_decryptor_made, with_own_secrets

from tests.conftest import CAPTURES
from tlslens import _core, read_capture
from tlslens.capture import CaptureReader, open_capture
from tlslens.errors import CaptureError
from tlslens.keys.files import add_keylog_file
from tlslens.keys.store import KeyStore
from tlslens.pipeline import _Pass

TLSLENS = str(Path(sys.executable).parent / "tlslens")
COPIES = 8  # of the recorded pcapng captures, about 0.7 MB: several 1 MiB reads
THREAD_NAME = "tlslens-capture"  # the core's reading thread (crates/tlslens-py)


@pytest.fixture(scope="module")
def large(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The large capture and the key log of its connections."""
    sections = sorted(CAPTURES.glob("*.pcapng"))
    folder = tmp_path_factory.mktemp("large")
    capture, keys = folder / "large.pcapng", folder / "large.keys"
    capture.write_bytes(b"".join(path.read_bytes() for path in sections) * COPIES)
    keys.write_text("".join(path.with_suffix(".keys").read_text() for path in sections))
    return capture, keys


def _fed(data: bytes, name: str) -> tuple[list[tuple[int, int, bytes]], CaptureReader]:
    reader = CaptureReader(io.BytesIO(data), name=name)
    return list(reader), reader


def _outcome(reader: CaptureReader) -> tuple[object, ...]:
    """Everything a reader tells of its capture, or why it is not one."""
    try:
        frames = list(reader)
    except CaptureError as exc:
        return ("not a capture", str(exc))
    return (frames, reader.problems, reader.secrets, reader.linktypes, reader.frames)


def _capture_threads() -> set[int]:
    """The ids of this process's reading threads. One may end while the tasks are listed
    (its folder then goes): it is left out."""
    found = set()
    for task in Path("/proc/self/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if name == THREAD_NAME:
            found.add(int(task.name))
    return found


def _within(seconds: float, done: Callable[[], bool]) -> bool:
    """Whether ``done()`` comes true within ``seconds`` (polled: a thread ends a moment
    after it is told to)."""
    deadline = time.monotonic() + seconds
    while not done():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_a_regular_file_is_read_by_the_core_not_through_python(large: tuple[Path, Path]) -> None:
    capture, _ = large
    raw, reader = open_capture(capture)
    with raw:
        assert reader.open_core().reads_file
        frames = list(reader)
        assert raw.tell() == 0  # the core read the file; Python's file object was not read
    fed, fed_reader = _fed(capture.read_bytes(), str(capture))
    assert len(frames) > 1000
    assert frames == fed
    assert reader.problems == fed_reader.problems
    assert reader.secrets == fed_reader.secrets
    assert reader.linktypes == fed_reader.linktypes
    assert reader.frames == fed_reader.frames == len(frames)


def test_the_progress_of_a_file_read_by_the_core_counts_its_bytes(
    large: tuple[Path, Path],
) -> None:
    capture, _ = large
    seen: list[int] = []
    connections = list(read_capture(capture, on_progress=seen.append))
    assert len(connections) > 100
    assert seen == sorted(seen)
    assert 0 < seen[0] < capture.stat().st_size == seen[-1]


@pytest.mark.parametrize("cut", [0, 1, 3000, 1_500_007], ids=lambda n: f"cut {n}")
def test_a_file_cut_short_or_gzipd_reads_as_its_bytes_fed(
    large: tuple[Path, Path], tmp_path: Path, cut: int
) -> None:
    capture, _ = large
    data = capture.read_bytes()[: cut or None]
    for body in (data, gzip.compress(data, compresslevel=1)):
        path = tmp_path / "cut.pcapng"
        path.write_bytes(body)
        raw, reader = open_capture(path)
        with raw:
            assert reader.open_core().reads_file
            told = _outcome(reader)
        assert told == _outcome(CaptureReader(io.BytesIO(body), name=str(path)))
        if cut in (0, 3000):  # the whole file, or a cut in a block: read up to it
            assert len(told[0]) > 1  # type: ignore[arg-type]


def test_a_file_still_being_written_is_read_as_far_as_it_was_written(
    large: tuple[Path, Path], tmp_path: Path
) -> None:
    """A capture that grows while the core reads it (tcpdump -w still writing) is read up
    to where it ends when the core's reading gets there, as Python's reading did: the
    reading thread is running (a first frame taken) when the rest is written, and the
    file written so far is longer than the thread reads ahead."""
    capture, _ = large
    data = capture.read_bytes()
    path = tmp_path / "growing.pcapng"
    path.write_bytes(data)
    raw, reader = open_capture(path)
    with raw:
        frames = iter(reader)
        first = next(frames)
        with path.open("ab") as out:
            out.write(data)
        told = [first, *frames]
    fed, whole = _fed(data + data, str(path))
    assert told == fed and reader.problems == whole.problems
    assert reader.frames == whole.frames


def test_show_json_of_the_file_is_the_same_as_through_standard_input(
    large: tuple[Path, Path],
) -> None:
    capture, keys = large
    args = [TLSLENS, "show", "--json", "--keylog", str(keys)]
    whole = subprocess.run([*args, str(capture)], capture_output=True, timeout=300, check=False)
    with capture.open("rb") as stdin:
        piped = subprocess.run(
            [*args, "-"], stdin=stdin, capture_output=True, timeout=300, check=False
        )
    assert whole.returncode == piped.returncode == 0, whole.stderr
    assert len(whole.stdout.splitlines()) > 100
    assert piped.stdout == whole.stdout.replace(str(capture).encode(), b"-")


def test_the_reading_thread_ends_when_the_run_stops_early(large: tuple[Path, Path]) -> None:
    capture, _ = large
    # Threads of earlier runs may still be ending: this run's is the one that was not there.
    before = _capture_threads()
    connections = iter(read_capture(capture))
    next(connections)
    started = _capture_threads() - before
    assert len(started) == 1  # reading ahead, at most a few batches: not done yet
    del connections
    gc.collect()
    assert _within(10, lambda: not started & _capture_threads())


def test_a_reader_of_its_own_file_takes_no_bytes_from_python(large: tuple[Path, Path]) -> None:
    capture, _ = large
    core = _core.CaptureReader(_core.GZIP_MAX_RATIO, _core.GZIP_FLOOR, path=str(capture))
    with pytest.raises(ValueError, match="its own file"):
        core.feed(b"\x00")
    with pytest.raises(FileNotFoundError):
        _core.CaptureReader(_core.GZIP_MAX_RATIO, _core.GZIP_FLOOR, path=str(capture) + ".gone")


def test_ctrl_c_in_the_keyed_walk_stops_the_run(
    large: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A KeyboardInterrupt raised in Python while the walk calls into it (a new flow's key
    store asked for, in a capture with its own secrets) stops the run instead of leaving
    that flow undecrypted."""
    capture, keys = large
    capture = with_own_secrets(capture, keys, tmp_path / "own-secrets.pcapng")
    calls = raise_when_decryptor_made(monkeypatch, 5, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        list(read_capture(capture))
    assert len(calls) == 5


def test_sigint_stops_show_while_it_decrypts(large: tuple[Path, Path], tmp_path: Path) -> None:
    small, keys = large
    capture = tmp_path / "larger.pcapng"  # a run of seconds: the signal comes mid-walk
    capture.write_bytes(small.read_bytes() * 4)
    child = subprocess.Popen(
        [TLSLENS, "show", "--json", "--keylog", str(keys), str(capture)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        # Python ignores SIGINT when its parent did (a background job): undo that.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert child.stdout is not None
    first = child.stdout.readline()  # the walk is under way
    child.send_signal(signal.SIGINT)
    rest, err = child.communicate(timeout=60)
    lines = len([first, *rest.splitlines()])
    assert child.returncode == 1, err
    assert b"Aborted!" in err
    assert lines < 1300  # of the capture's 2,600 connections


def test_a_run_leaves_nothing_behind(large: tuple[Path, Path]) -> None:
    """The flow table holds the run's callbacks (bound methods of the run, which holds the
    table): the cyclic collector frees both once the run is over, read whole or not."""
    capture, keys = large
    store = KeyStore()
    add_keylog_file(store, keys)
    for kept in (store, None):
        list(read_capture(CAPTURES / "python-ssl.pcap", keys=kept))
        partly = iter(read_capture(capture, keys=kept))
        next(partly)
        del partly
    gc.collect()
    assert not [o for o in gc.get_objects() if type(o) is _Pass]


def test_a_file_name_that_is_not_utf8_is_read_by_the_core(
    large: tuple[Path, Path], tmp_path: Path
) -> None:
    """A name with bytes that are not UTF-8 (a surrogate escape in Python) still opens."""
    capture, _ = large
    path = Path(os.fsdecode(bytes(tmp_path) + b"/capture-\xff.pcapng"))
    path.write_bytes(capture.read_bytes())
    raw, reader = open_capture(path)
    with raw:
        assert reader.open_core().reads_file
        told = list(reader)
    assert told == _fed(capture.read_bytes(), str(path))[0]


def test_a_file_replaced_under_its_name_after_it_was_opened_is_refused(
    large: tuple[Path, Path], tmp_path: Path
) -> None:
    """The core reads the file Python opened, not another one renamed over its name since
    (a rotated log): it says so rather than read the other."""
    capture, _ = large
    path, other = tmp_path / "rotating.pcapng", tmp_path / "next.pcapng"
    path.write_bytes(capture.read_bytes())
    other.write_bytes(capture.read_bytes()[:100_000])
    raw, reader = open_capture(path)
    with raw:
        other.replace(path)
        with pytest.raises(OSError, match="replaced under its name"):
            reader.open_core()
