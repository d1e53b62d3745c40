"""Read pcap and pcapng files as a stream of frames.

Strategy: the file is read in fixed-size chunks and packet headers are decoded
with ``struct.unpack_from`` on the chunk, so memory stays bounded by the chunk
size and the largest packet, whatever the file's size. A corrupt length field
never makes us allocate: a length is only trusted once the bytes it covers are
actually in the buffer, and a length beyond a sane maximum is reported as a
problem. gzip-compressed captures are recognised by their magic and read through
``gzip`` transparently.

Problems (truncation, corrupt blocks) are collected in ``CaptureReader.problems``
with the byte offset where they were found; iteration stops only when nothing
after the problem can be trusted.
"""

from __future__ import annotations

import gzip
import struct
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from tlslens.errors import CaptureError

CHUNK_SIZE = 1 << 20
# A gzip'd capture may expand this many times its compressed size (and always to this many
# bytes); past that it is read no further, as a decompression bomb would be. Real captures
# compress 2-20 times.
GZIP_MAX_RATIO = 50
GZIP_FLOOR = 32 << 20
# No link layer carries frames larger than this; anything bigger is a corrupt header.
MAX_FRAME = 1 << 18
MAX_PCAPNG_BLOCK = 1 << 24

PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1000),  # microseconds, little-endian
    b"\xa1\xb2\xc3\xd4": (">", 1000),
    b"\x4d\x3c\xb2\xa1": ("<", 1),  # nanoseconds
    b"\xa1\xb2\x3c\x4d": (">", 1),
}
PCAPNG_SHB = 0x0A0D0D0A
BLOCK_IDB = 1
BLOCK_OPB = 2  # obsolete Packet Block
BLOCK_SPB = 3
BLOCK_EPB = 6
BLOCK_DSB = 0x0000000A
KNOWN_BLOCKS = {
    PCAPNG_SHB,
    BLOCK_IDB,
    BLOCK_OPB,
    BLOCK_SPB,
    4,
    5,
    BLOCK_EPB,
    BLOCK_DSB,
    0xBAD,
    0xBAD + 1,
}


@dataclass(frozen=True, slots=True)
class CaptureProblem:
    offset: int
    message: str
    frame: int | None = None


@dataclass(frozen=True, slots=True)
class DecryptionSecrets:
    """A pcapng Decryption Secrets Block (kept for decryption; type 0x544c534b = TLS key log)."""

    secrets_type: int
    data: bytes


@dataclass(slots=True)
class _Interface:
    linktype: int
    snaplen: int
    ts_mul_num: int = 1000  # ts_ns = ts * num // den
    ts_div: int = 1
    ts_offset_ns: int = 0


@dataclass(slots=True)
class CaptureReader:
    """Iterate ``(ts_ns, linktype, data)`` tuples of a capture file object.

    Raises CaptureError from iteration only when the file is not a capture at
    all; every later problem goes to ``problems`` and ends or skips what it must.
    """

    stream: BinaryIO
    name: str = "<capture>"
    format: str = "unknown"
    problems: list[CaptureProblem] = field(default_factory=list)
    secrets: list[DecryptionSecrets] = field(default_factory=list)
    linktypes: set[int] = field(default_factory=set)
    frames: int = 0
    bytes_read: int = 0

    # -- buffered reading -------------------------------------------------
    _buf: bytes = b""
    _pos: int = 0
    _base: int = 0  # file offset of _buf[0]
    _eof: bool = False

    def _fill(self, need: int) -> bool:
        """Make ``need`` bytes available from ``_pos``; False at end of file."""
        while len(self._buf) - self._pos < need:
            if self._eof:
                return False
            try:
                chunk = self.stream.read(max(CHUNK_SIZE, need))
            except (EOFError, OSError, zlib.error) as exc:
                # A gzip stream cut short, corrupt or a bomb: keep what was decompressed.
                what = str(exc) if "decompression bomb" in str(exc) else None
                self._problem(what or f"compressed data is damaged or cut short ({exc})")
                chunk = b""
            if not chunk:
                self._eof = True
                return False
            self.bytes_read += len(chunk)
            self._base += self._pos
            self._buf = self._buf[self._pos :] + chunk
            self._pos = 0
        return True

    def _offset(self) -> int:
        return self._base + self._pos

    def __iter__(self) -> Iterator[tuple[int, int, bytes]]:
        if not self._fill(4):
            if self._offset() + len(self._buf) == 0:
                raise CaptureError("the file is empty", layer="capture", offset=0)
            raise CaptureError("too short to be a capture", layer="capture", offset=0)
        magic = self._buf[self._pos : self._pos + 4]
        if magic in PCAP_MAGICS:
            self.format = "pcap"
            return self._iter_pcap()
        if struct.unpack_from("<I", magic)[0] == PCAPNG_SHB:
            self.format = "pcapng"
            return self._iter_pcapng()
        raise CaptureError(
            f"not a pcap or pcapng file (starts with {magic.hex()})", layer="capture", offset=0
        )

    def _problem(self, message: str, offset: int | None = None) -> None:
        self.problems.append(
            CaptureProblem(self._offset() if offset is None else offset, message, self.frames + 1)
        )

    # -- pcap ---------------------------------------------------------------
    def _iter_pcap(self) -> Iterator[tuple[int, int, bytes]]:
        if not self._fill(24):
            self._problem("pcap file header is cut short")
            return
        order, ts_mul = PCAP_MAGICS[self._buf[self._pos : self._pos + 4]]
        snaplen, linktype_field = struct.unpack_from(order + "II", self._buf, self._pos + 16)
        # The upper bits of the link-type field hold FCS flags (pcap-savefile(5)).
        linktype = linktype_field & 0x0FFFFFFF
        self.linktypes.add(linktype)
        self._pos += 24
        unpack = struct.Struct(order + "IIII").unpack_from
        limit = max(MAX_FRAME, snaplen if snaplen < (1 << 24) else 0)
        while True:
            # Fast path: the whole record is already in the buffer.
            buf, pos = self._buf, self._pos
            end = len(buf)
            while pos + 16 <= end:
                sec, frac, incl, _orig = unpack(buf, pos)
                start = pos + 16
                if incl > limit or start + incl > end:
                    break
                pos = start + incl
                self._pos = pos
                self.frames += 1
                yield sec * 1_000_000_000 + frac * ts_mul, linktype, buf[start:pos]
            if not self._fill(16):
                if len(self._buf) > self._pos:
                    self._problem(
                        f"capture ends inside a packet record header "
                        f"({len(self._buf) - self._pos} of 16 bytes)"
                    )
                return
            sec, frac, incl, _orig = unpack(self._buf, self._pos)
            if incl > limit:
                self._problem(f"packet record claims {incl} bytes (corrupt header); reading stops")
                return
            if not self._fill(16 + incl):
                self._problem(
                    f"capture cut in the middle of a packet: record needs {incl} bytes, "
                    f"{len(self._buf) - self._pos - 16} present"
                )
                return
            start = self._pos + 16
            self._pos = start + incl
            self.frames += 1
            yield sec * 1_000_000_000 + frac * ts_mul, linktype, self._buf[start : start + incl]

    # -- pcapng -------------------------------------------------------------
    def _iter_pcapng(self) -> Iterator[tuple[int, int, bytes]]:
        order = "<"
        interfaces: list[_Interface] = []
        while True:
            if not self._fill(12):
                if len(self._buf) > self._pos:
                    self._problem("capture ends inside a block header")
                return
            buf, pos = self._buf, self._pos
            btype = struct.unpack_from(order + "I", buf, pos)[0]
            if btype == PCAPNG_SHB:
                bom = buf[pos + 8 : pos + 12]
                if bom == b"\x4d\x3c\x2b\x1a":
                    order = "<"
                elif bom == b"\x1a\x2b\x3c\x4d":
                    order = ">"
                else:
                    self._problem("section header block with an unknown byte-order magic")
                    return
                interfaces = []
            blen = struct.unpack_from(order + "I", buf, pos + 4)[0]
            if blen < 12 or blen % 4 or blen > MAX_PCAPNG_BLOCK:
                self._problem(f"corrupt pcapng block (type 0x{btype:x}, length {blen})")
                if not self._resync_pcapng(order):
                    return
                continue
            if not self._fill(blen):
                self._problem(
                    f"capture cut in the middle of a block: needs {blen} bytes, "
                    f"{len(self._buf) - self._pos} present"
                )
                return
            buf, pos = self._buf, self._pos
            if struct.unpack_from(order + "I", buf, pos + blen - 4)[0] != blen:
                self._problem(f"corrupt pcapng block (type 0x{btype:x}): trailing length differs")
                if not self._resync_pcapng(order):
                    return
                continue
            body_start, body_end = pos + 8, pos + blen - 4
            self._pos = pos + blen
            if btype == BLOCK_EPB or btype == BLOCK_OPB:
                if btype == BLOCK_EPB:
                    iface, ts_hi, ts_lo, caplen = struct.unpack_from(
                        order + "IIII", buf, body_start
                    )
                else:
                    iface, _drops, ts_hi, ts_lo, caplen = struct.unpack_from(
                        order + "HHIII", buf, body_start
                    )
                data_start = body_start + 20
                if iface >= len(interfaces):
                    self._problem(f"packet block names interface {iface}, which was not described")
                    continue
                if data_start + caplen > body_end:
                    self._problem(f"packet block claims {caplen} bytes, its block holds fewer")
                    continue
                info = interfaces[iface]
                ts = (ts_hi << 32) | ts_lo
                self.frames += 1
                yield (
                    ts * info.ts_mul_num // info.ts_div + info.ts_offset_ns,
                    info.linktype,
                    buf[data_start : data_start + caplen],
                )
            elif btype == BLOCK_SPB:
                if not interfaces:
                    self._problem("simple packet block before any interface description")
                    continue
                orig = struct.unpack_from(order + "I", buf, body_start)[0]
                info = interfaces[0]
                caplen = min(orig, body_end - body_start - 4)
                if info.snaplen:
                    caplen = min(caplen, info.snaplen)
                self.frames += 1
                # SPBs carry no timestamp.
                yield 0, info.linktype, buf[body_start + 4 : body_start + 4 + caplen]
            elif btype == BLOCK_IDB:
                iface_info = self._parse_idb(order, buf, body_start, body_end)
                interfaces.append(iface_info)
                self.linktypes.add(iface_info.linktype)
            elif btype == BLOCK_DSB:
                stype, slen = struct.unpack_from(order + "II", buf, body_start)
                if body_start + 8 + slen <= body_end:
                    data = buf[body_start + 8 : body_start + 8 + slen]
                    self.secrets.append(DecryptionSecrets(stype, data))
                else:
                    self._problem("decryption secrets block claims more bytes than it holds")
            # Any other block (statistics, name resolution, custom...) is skipped.

    def _parse_idb(self, order: str, buf: bytes, start: int, end: int) -> _Interface:
        linktype, _reserved, snaplen = struct.unpack_from(order + "HHI", buf, start)
        info = _Interface(linktype=linktype, snaplen=snaplen)
        pos = start + 8
        while pos + 4 <= end:
            code, length = struct.unpack_from(order + "HH", buf, pos)
            value = buf[pos + 4 : pos + 4 + length]
            pos += 4 + ((length + 3) & ~3)
            if code == 0:
                break
            if code == 9 and length >= 1:  # if_tsresol
                res = value[0]
                if res & 0x80:
                    info.ts_mul_num, info.ts_div = 1_000_000_000, 1 << (res & 0x7F)
                else:
                    exp = res & 0x7F
                    if exp <= 9:
                        info.ts_mul_num, info.ts_div = 10 ** (9 - exp), 1
                    else:
                        info.ts_mul_num, info.ts_div = 1, 10 ** (exp - 9)
            elif code == 14 and length == 8:  # if_tsoffset, seconds
                info.ts_offset_ns = struct.unpack_from(order + "q", value)[0] * 1_000_000_000
        return info

    def _resync_pcapng(self, order: str) -> bool:
        """After a corrupt block, look ahead for the next block that checks out."""
        start = self._pos
        self._pos += 4
        scanned = 0
        while scanned < MAX_PCAPNG_BLOCK:
            if not self._fill(12):
                return False
            buf, pos = self._buf, self._pos
            btype, blen = struct.unpack_from(order + "II", buf, pos)
            if btype in KNOWN_BLOCKS and 12 <= blen <= MAX_PCAPNG_BLOCK and blen % 4 == 0:
                if self._fill(blen):
                    buf, pos = self._buf, self._pos
                    if struct.unpack_from(order + "I", buf, pos + blen - 4)[0] == blen:
                        self._problem(
                            f"skipped {self._offset() - start} corrupt bytes; reading resumes here"
                        )
                        return True
            self._pos += 4
            scanned += 4
        return False


class GzipBudget:
    """A gzip stream that stops once it has expanded past ``max_ratio`` times what was
    read of the compressed file (and past GZIP_FLOOR): OSError then, which the reader
    reports and ends on. ``arriving``: hand on what has been decompressed so far instead
    of waiting for ``size`` bytes (a pipe)."""

    def __init__(
        self, raw: BinaryIO, max_ratio: int = GZIP_MAX_RATIO, arriving: bool = False
    ) -> None:
        self.raw = raw
        self.max_ratio = max_ratio
        self.gzip = gzip.GzipFile(fileobj=raw, mode="rb")
        self.out = 0
        self.arriving = arriving

    def read(self, size: int = -1) -> bytes:
        data = self.gzip.read1(size) if self.arriving else self.gzip.read(size)
        self.out += len(data)
        if self.out > max(GZIP_FLOOR, self.max_ratio * self.raw.tell()):
            raise OSError(
                f"the gzip stream expands more than {self.max_ratio} times "
                f"({self.out:,} bytes from {self.raw.tell():,}): reading stopped there, as a "
                "decompression bomb would need"
            )
        return data


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
        self.head = b""  # read by ``peek``, not yet handed on
        self.done = 0

    def peek(self, size: int) -> bytes:
        """The next ``size`` bytes (fewer at the end), left to be read."""
        while len(self.head) < size:
            chunk = self._read_raw(size - len(self.head))
            if not chunk:
                break
            self.head += chunk
        return self.head[:size]

    def _read_raw(self, size: int) -> bytes:
        # A buffered reader's read(n) waits for n bytes; read1 takes one read of the pipe.
        read1 = getattr(self.raw, "read1", None)
        return bytes(read1(size) if read1 is not None else self.raw.read(size))

    def read(self, size: int = -1) -> bytes:
        if self.head:
            data = self.head if size < 0 else self.head[:size]
            self.head = self.head[len(data) :]
        else:
            data = self._read_raw(size if size > 0 else CHUNK_SIZE)
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
        arriving = ArrivingStream(sys.stdin.buffer)
        piped: BinaryIO = arriving  # type: ignore[assignment]
        if arriving.peek(2) == b"\x1f\x8b":
            piped = GzipBudget(piped, max_expansion, arriving=True)  # type: ignore[assignment]
        return arriving, CaptureReader(piped, name=STDIN)  # type: ignore[return-value]
    raw: BinaryIO = open(path, "rb")
    head = raw.read(2)
    raw.seek(0)
    stream: BinaryIO = raw
    if head == b"\x1f\x8b":
        stream = GzipBudget(raw, max_expansion)  # type: ignore[assignment]
    return raw, CaptureReader(stream, name=str(path))
