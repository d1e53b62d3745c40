"""Read pcap and pcapng files, plain or gzip-compressed, as a stream of frames.

Strategy: every byte is parsed by the compiled core (``tlslens._core.CaptureReader``,
sans-IO), which hands frames back a batch at a time. A regular file is read by the core
itself, on a thread of its own with the GIL released (no bytes object per chunk, and the
reading runs beside the walk); standard input, pipes and file objects are read here in
chunks and fed to it, each walked as soon as it arrives. Memory stays bounded by the chunk,
the few batches read ahead and the largest frame. A corrupt length never makes the
core allocate; a gzip stream is inflated there too, within GZIP_MAX_RATIO / GZIP_FLOOR.

Problems (truncation, corrupt blocks) are collected in ``CaptureReader.problems`` with the
byte offset where they were found; iteration stops only when nothing after the problem can
be trusted.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, NamedTuple

from tlslens import _core
from tlslens.errors import CaptureError

CHUNK_SIZE = 1 << 20
# A gzip'd capture may expand this many times its compressed size (and always to this many
# bytes); past that it is read no further, as a decompression bomb would be. Real captures
# compress 2-20 times. The core's figures; read at each capture's start.
GZIP_MAX_RATIO = _core.GZIP_MAX_RATIO
GZIP_FLOOR = _core.GZIP_FLOOR


class CaptureProblem(NamedTuple):
    offset: int
    message: str
    frame: int | None = None


class DecryptionSecrets(NamedTuple):
    """A pcapng Decryption Secrets Block (kept for decryption; type 0x544c534b = TLS key log)."""

    secrets_type: int
    data: bytes


@dataclass(slots=True)
class CaptureReader:
    """Iterate ``(ts_ns, linktype, data)`` tuples of a capture file object.

    Raises CaptureError from ``iter()`` only when the file is not a capture at all; every
    later problem goes to ``problems`` and ends or skips what it must. With ``path`` (a
    regular file, as ``open_capture`` finds it), the core reads that file itself and
    ``stream`` is not read.
    """

    stream: BinaryIO
    name: str = "<capture>"
    path: str | None = None
    max_expansion: int = GZIP_MAX_RATIO
    format: str = "unknown"
    problems: list[CaptureProblem] = field(default_factory=list)
    secrets: list[DecryptionSecrets] = field(default_factory=list)
    linktypes: set[int] = field(default_factory=set)
    frames: int = 0
    bytes_read: int = 0
    _ended: bool = False

    def __iter__(self) -> Iterator[tuple[int, int, bytes]]:
        core = self.open_core()
        first: list[tuple[int, int, bytes]] = []
        while core.format == "unknown" and (batch := self._next(core)) is not None:
            first += batch
        if core.fatal is not None:
            raise CaptureError(core.fatal, layer="capture", offset=0)
        self.format = core.format
        return self._frames(core, first)

    def _frames(
        self, core: _core.CaptureReader, first: list[tuple[int, int, bytes]]
    ) -> Iterator[tuple[int, int, bytes]]:
        yield from first
        while (batch := self._next(core)) is not None:
            yield from batch

    def _next(self, core: _core.CaptureReader) -> list[tuple[int, int, bytes]] | None:
        """The next batch of frames (empty while a chunk is read and fed), None at the end."""
        batch = core.poll()
        if batch.problems:
            self.problems.extend(CaptureProblem(*problem) for problem in batch.problems)
        if batch.secrets:
            self.secrets.extend(DecryptionSecrets(*block) for block in batch.secrets)
        self.linktypes.update(core.linktypes)
        self.frames = core.frames
        if batch.frames:
            return batch.frames
        if core.done or self._ended:  # once finished, the core walks all it was given
            return None
        self.more(core)
        return []

    def open_core(self) -> _core.CaptureReader:
        """The compiled reader for this capture, at the gzip bounds in force now."""
        if self.path is None:
            return _core.CaptureReader(self.max_expansion, GZIP_FLOOR)
        # The very file Python opened, not whatever bears its name by now (a rotated log).
        opened = os.fstat(self.stream.fileno())
        identity = (opened.st_dev, opened.st_ino)
        return _core.CaptureReader(
            self.max_expansion, GZIP_FLOOR, path=self.path, identity=identity
        )

    def more(self, core: _core.CaptureReader) -> bool:
        """Read one more chunk into the core, or tell it the stream ended; False when it
        had already ended (the core has walked all it was given). A core that reads its
        own file needs nothing: it waits for its next batch by itself."""
        if core.reads_file:
            self.bytes_read = core.bytes_read
            return not core.done
        if self._ended:
            return False
        try:
            chunk = self.stream.read(CHUNK_SIZE)
        except OSError as exc:
            core.finish(f"the capture could not be read further ({exc})")
            self._ended = True
            return True
        if chunk:
            self.bytes_read += len(chunk)
            core.feed(chunk)
        else:
            core.finish()
            self._ended = True
        return True


# Bytes of a file enough to tell a capture (a gzip'd one's first block gives its magic).
SNIFFED_BYTES = 4096


def capture_format(head: bytes) -> str | None:
    """The format, "pcap" or "pcapng", when ``head`` (a file's first bytes) opens a
    capture, plain or gzip'd, as the core's reader tells them; None otherwise."""
    core = _core.CaptureReader(GZIP_MAX_RATIO, GZIP_FLOOR)
    core.feed(head[:SNIFFED_BYTES])
    core.finish()
    core.poll()
    return None if core.format == "unknown" else core.format


# The capture "file" that names standard input (``tcpdump -w - | tlslens show -``).
STDIN = "-"


def is_stdin(path: str | Path) -> bool:
    return str(path) == STDIN


class ArrivingStream:
    """A pipe read as its bytes arrive: ``read(n)`` returns what is there (at least one
    byte, b"" at the end) instead of waiting for ``n``, so a capture being written is told
    as it grows; ``tell()`` counts the bytes read, as nothing can be sought."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.done = 0

    def read(self, size: int = -1) -> bytes:
        # A buffered reader's read(n) waits for n bytes; read1 takes one read of the pipe.
        size = size if size > 0 else CHUNK_SIZE
        read1 = getattr(self.raw, "read1", None)
        data = bytes(read1(size) if read1 is not None else self.raw.read(size))
        self.done += len(data)
        return data

    def tell(self) -> int:
        return self.done

    def close(self) -> None:
        """Standard input stays open: a second ``-`` then reads as an empty capture."""


def open_capture(
    path: str | Path, max_expansion: int = GZIP_MAX_RATIO
) -> tuple[BinaryIO, CaptureReader]:
    """Open a capture file (gzip-compressed or not), or standard input for ``-`` (read as
    it arrives, never sought), and return its reader; a gzip stream may expand at most
    ``max_expansion`` times.

    Raises OSError when the file cannot be opened, CaptureError when ``-`` names a
    terminal (nothing would ever come).
    """
    if is_stdin(path):
        if sys.stdin is None or sys.stdin.isatty():
            raise CaptureError(
                "standard input is a terminal: pipe a capture in (tcpdump -w - | tlslens show -)",
                layer="capture",
                offset=0,
            )
        arriving: BinaryIO = ArrivingStream(sys.stdin.buffer)  # type: ignore[assignment]
        return arriving, CaptureReader(arriving, name=STDIN, max_expansion=max_expansion)
    raw: BinaryIO = open(path, "rb")
    # A regular file is read by the core itself; a named pipe or a device only as it comes.
    regular = stat.S_ISREG(os.fstat(raw.fileno()).st_mode)
    core_path = str(path) if regular else None
    return raw, CaptureReader(raw, name=str(path), max_expansion=max_expansion, path=core_path)
