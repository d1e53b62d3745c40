"""The TLS record layer of one direction, sans-IO: stream bytes in, records out.

Strategy: ``feed(offset, data)`` hands over the next bytes of one direction's
stream (``offset`` is where they start in that stream); ``next_event()`` then
returns what they complete, one event at a time, and ``None`` when it needs more
bytes. The capture path feeds it reassembled TCP, a live client feeds it what
the socket reads; neither needs to know how records are framed.

  RECORDS  walk 5-byte headers; a record's body is returned whole, except that
           application data bodies can be skipped without copying
           (``skip_application_data``), reported by their header only
  RESYNC   after a hole (``gap``) or a header that cannot be one: look for the
           next plausible header (a header whose record is followed by another
           header, or ends where the data ends) and go on from there

Events name the stream offset of what they describe, so every finding can say
which byte it is about. Memory is bounded: a record is buffered only up to
``MAX_RECORD`` bytes past its header (RFC 5246 §6.2.3), a resync window up to
``RESYNC_WINDOW``; a length field never decides more.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_RECORD = 16384 + 2048  # RFC 5246 §6.2.3: TLSCiphertext.length
RESYNC_WINDOW = 1 << 16

CT_CHANGE_CIPHER_SPEC = 20
CT_ALERT = 21
CT_HANDSHAKE = 22
CT_APPLICATION_DATA = 23
CT_HEARTBEAT = 24

HEADER_RE = re.compile(rb"[\x14-\x18]\x03[\x00-\x04]", re.S)

_RECORDS, _RESYNC = range(2)


@dataclass(frozen=True, slots=True)
class Record:
    """A whole record: its header fields and its body (still protected, if it was)."""

    content_type: int
    version: int
    offset: int  # stream offset of the 5-byte header
    body: bytes


@dataclass(frozen=True, slots=True)
class SkippedRecord:
    """An application data record whose body was skipped, as asked."""

    content_type: int
    version: int
    offset: int
    length: int


@dataclass(frozen=True, slots=True)
class BadHeader:
    """Bytes where a header should be that cannot be one; the reader resynchronises."""

    offset: int
    message: str


@dataclass(frozen=True, slots=True)
class Resynchronised:
    """A plausible header found after a hole or a bad header; records follow from here."""

    offset: int
    skipped: int  # bytes passed over in this search window to find it
    head: bytes  # the first bytes at ``offset``, enough to tell which side sent them


@dataclass(frozen=True, slots=True)
class Truncated:
    """At the end of the stream: a record that never completed."""

    offset: int
    present: int
    needed: int


RecordEvent = Record | SkippedRecord | BadHeader | Resynchronised | Truncated


def _bad_header_message(data: bytes, pos: int, length: int) -> str:
    ctype = data[pos]
    if (ctype & 0x80 and data[pos + 1] == 3) or (ctype & 0x80 and data[pos + 2] == 2):
        what = "an SSLv2 record, which is not decoded"
    elif length > MAX_RECORD and 20 <= ctype <= 24:
        what = f"a record header claiming {length} bytes, more than TLS allows ({MAX_RECORD})"
    else:
        what = f"bytes that are not a TLS record header ({data[pos : pos + 5].hex()})"
    return f"found {what}; resynchronising"


class RecordReader:
    """One direction's record layer. Raises nothing on bad input: it becomes an event.

    ``bytes`` counts the stream bytes taken as record data (a resync's skipped
    bytes are not), ``records`` the records framed.
    """

    __slots__ = (
        "_base",
        "_data",
        "_eof",
        "_mode",
        "_need",
        "_pend",
        "_pend_offset",
        "_pos",
        "bytes",
        "records",
        "skip",
        "skip_application_data",
    )

    def __init__(self, *, skip_application_data: bool = True, resync_at: int | None = None) -> None:
        self.skip_application_data = skip_application_data
        self._mode = _RECORDS if resync_at is None else _RESYNC
        self._data = b""  # the chunk being walked ...
        self._pos = 0  # ... from here ...
        self._base = 0  # ... whose byte 0 is at this stream offset
        self._pend = bytearray()  # an incomplete record, or the resync window
        self._pend_offset = resync_at or 0
        self._need = 0
        # Bytes of a skipped application data body still to come. Public so that a caller
        # on a hot path may consume a segment that falls wholly inside it (see feed).
        self.skip = 0
        self._eof = False
        self.bytes = 0
        self.records = 0

    @property
    def resynchronising(self) -> bool:
        return self._mode == _RESYNC

    def feed(self, offset: int, data: bytes | bytearray | memoryview) -> bool:
        """Add the direction's next bytes; False when they cannot complete any event.

        Drain ``next_event()`` before the next ``feed``. A segment wholly inside a skipped
        body (``len(data) <= skip``) only lowers ``skip`` and adds to ``bytes``: a caller
        may do that itself and not call ``feed`` at all.
        """
        n = len(data)
        skip = self.skip
        if skip >= n and self._mode == _RECORDS:  # most segments of a bulk transfer end here
            self.bytes += n
            self.skip = skip - n
            return False
        if type(data) is not bytes:
            data = bytes(data)  # events always carry bytes, whatever a socket handed over
        if self._mode == _RESYNC:
            if not self._pend:
                self._pend_offset = offset
            self._pend += data
            return True
        self.bytes += n
        if skip:
            data = data[skip:]
            offset += skip
            self.skip = 0
        pend = self._pend
        if pend:
            pend += data
            if len(pend) < self._need:
                return False
            data, offset = bytes(pend), self._pend_offset
            pend.clear()
        self._data, self._pos, self._base = data, 0, offset
        return True

    def gap(self, offset: int, length: int) -> bool:
        """``length`` bytes at ``offset`` are missing. True when the hole falls inside a
        skipped application data body (nothing is lost); otherwise the reader resynchronises
        after the hole."""
        if self._mode == _RECORDS and self.skip >= length and not self._pend:
            self.skip -= length
            return True
        self._mode = _RESYNC
        self._pend.clear()
        self.skip = 0
        self._data = b""
        self._pend_offset = offset + length
        return False

    def feed_eof(self) -> None:
        """The stream ended: what is left comes out of ``next_event`` as a last try or a
        ``Truncated``."""
        self._eof = True

    def next_event(self) -> RecordEvent | None:
        if self._mode == _RESYNC:
            return self._resync()
        data, pos = self._data, self._pos
        n = len(data)
        if pos >= n:
            return self._at_end()
        avail = n - pos
        if avail < 5:
            self._hold(data, pos, 5)
            return self._at_end()
        ctype = data[pos]
        length = (data[pos + 3] << 8) | data[pos + 4]
        if ctype < 20 or ctype > 24 or data[pos + 1] != 3 or length > MAX_RECORD:
            message = _bad_header_message(data, pos, length)
            self._mode = _RESYNC
            self._data = b""
            self._pend_offset = self._base + pos + 1
            self._pend += data[pos + 1 :]
            return BadHeader(self._base + pos, message)
        version = data[pos + 1] << 8 | data[pos + 2]
        if ctype == CT_APPLICATION_DATA and self.skip_application_data:
            self.records += 1
            offset = self._base + pos
            pos += 5
            if n - pos >= length:
                self._pos = pos + length
            else:
                self.skip = length - (n - pos)
                self._data = b""
            return SkippedRecord(ctype, version, offset, length)
        if avail < 5 + length:
            self._hold(data, pos, 5 + length)
            return self._at_end()
        self.records += 1
        self._pos = pos + 5 + length
        return Record(ctype, version, self._base + pos, data[pos + 5 : pos + 5 + length])

    def _hold(self, data: bytes, pos: int, need: int) -> None:
        self._pend += data[pos:]
        self._pend_offset = self._base + pos
        self._need = need
        self._data = b""

    def _at_end(self) -> Truncated | None:
        if self._eof and self._pend:
            event = Truncated(self._pend_offset, len(self._pend), self._need)
            self._pend.clear()
            return event
        return None

    def _resync(self) -> Resynchronised | None:
        final = self._eof
        window = bytes(self._pend)
        pos = 0
        while True:
            match = HEADER_RE.search(window, pos)
            if match is None:
                keep = window[-4:]
                self._pend = bytearray(keep)
                self._pend_offset += len(window) - len(keep)
                return None
            i = match.start()
            length = (window[i + 3] << 8) | window[i + 4] if i + 5 <= len(window) else -1
            if length < 0:
                self._pend = bytearray(window[i:])
                self._pend_offset += i
                return None
            if 0 < length <= MAX_RECORD:
                nxt = i + 5 + length
                if nxt + 3 <= len(window):
                    if HEADER_RE.match(window, nxt):
                        break
                elif nxt == len(window) or (final and nxt <= len(window)):
                    break  # the record ends exactly where the data does
                elif not final:
                    if len(window) >= RESYNC_WINDOW:
                        break  # enough bytes seen: take it
                    self._pend = bytearray(window[i:])  # wait for the bytes after this record
                    self._pend_offset += i
                    return None
                # at the end of the stream, a record that does not fit is no record
            pos = i + 1
        base = self._pend_offset
        self._pend.clear()
        self._mode = _RECORDS
        self.bytes += len(window) - i
        self._data, self._pos, self._base = window, i, base
        return Resynchronised(base + i, i, window[i : i + 6])
