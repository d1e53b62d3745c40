"""Buffer: bounds-checked big-endian reads over bytes, in aioquic's pull_x style.

Strategy: a Buffer never raises anything but BufferReadError; message parsers
convert it into DecodeError once, at their boundary, naming the message.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from tlslens._text import plural


class BufferReadError(ValueError):
    """Read past the end of the buffer, or a block not consumed exactly."""


class Buffer:
    __slots__ = ("_data", "_end", "_pos")

    def __init__(self, data: bytes, start: int = 0, end: int | None = None) -> None:
        self._data = data
        self._pos = start
        self._end = len(data) if end is None else end

    @property
    def position(self) -> int:
        return self._pos

    @property
    def remaining(self) -> int:
        return self._end - self._pos

    def skip_to(self, end: int) -> None:
        """Move to ``end`` (within the buffer): the rest of a block we gave up on."""
        self._pos = max(self._pos, min(end, self._end))

    def eof(self) -> bool:
        return self._pos >= self._end

    def _take(self, n: int) -> int:
        pos = self._pos
        if n < 0 or pos + n > self._end:
            raise BufferReadError(
                f"needs {plural(n, 'byte')} at offset {pos}, {self._end - pos} remain"
            )
        self._pos = pos + n
        return pos

    def pull_bytes(self, n: int) -> bytes:
        pos = self._take(n)
        return bytes(self._data[pos : pos + n])

    def pull_uint8(self) -> int:
        pos = self._take(1)
        return self._data[pos]

    def pull_uint16(self) -> int:
        pos = self._take(2)
        d = self._data
        return (d[pos] << 8) | d[pos + 1]

    def pull_uint24(self) -> int:
        pos = self._take(3)
        d = self._data
        return (d[pos] << 16) | (d[pos + 1] << 8) | d[pos + 2]

    def pull_uint32(self) -> int:
        pos = self._take(4)
        return int.from_bytes(self._data[pos : pos + 4], "big")

    def pull_rest(self) -> bytes:
        return self.pull_bytes(self._end - self._pos)

    def pull_vector(self, length_size: int) -> bytes:
        """An opaque vector with a 1-, 2- or 3-byte length prefix."""
        return self.pull_bytes(self._pull_length(length_size))

    def _pull_length(self, length_size: int) -> int:
        if length_size == 1:
            return self.pull_uint8()
        if length_size == 2:
            return self.pull_uint16()
        return self.pull_uint24()

    @contextmanager
    def pull_block(self, length_size: int) -> Iterator[int]:
        """A length-prefixed block that must be consumed exactly."""
        length = self._pull_length(length_size)
        end = self._pos + length
        if end > self._end:
            raise BufferReadError(
                f"block at offset {self._pos} declares {length} bytes, {self._end - self._pos} "
                "remain"
            )
        outer_end = self._end
        self._end = end
        try:
            yield length
            if self._pos != end:
                raise BufferReadError(
                    f"block ending at offset {end} has {end - self._pos} unparsed bytes"
                )
        finally:
            self._end = outer_end

    def pull_list(self, length_size: int, item_size: int) -> tuple[int, ...]:
        """A length-prefixed list of fixed-size unsigned integers."""
        data = self.pull_vector(length_size)
        if len(data) % item_size:
            raise BufferReadError(f"list of {len(data)} bytes is not a multiple of {item_size}")
        return tuple(
            int.from_bytes(data[i : i + item_size], "big") for i in range(0, len(data), item_size)
        )


def push_uint8(out: bytearray, value: int) -> None:
    out.append(value)


def push_uint16(out: bytearray, value: int) -> None:
    out += value.to_bytes(2, "big")


def push_uint24(out: bytearray, value: int) -> None:
    out += value.to_bytes(3, "big")


def push_vector(out: bytearray, length_size: int, data: bytes) -> None:
    out += len(data).to_bytes(length_size, "big")
    out += data
