"""Handshake messages out of record bodies, sans-IO: one direction's defragmenter.

A handshake message may span records and a record may hold several messages
(RFC 8446 §5.1). ``feed`` takes the handshake bytes of one record (with the
stream offset where they start); ``next_message`` returns each message whole,
header included, with the offset of its first byte. A header claiming more than
``max_message`` bytes is reported, and the bytes it claims are skipped as they come
instead of buffered (so what follows it is read as the next message, not its body),
unless a later record is whole messages exactly: the header was garbage, then.
"""

from __future__ import annotations

from dataclasses import dataclass

from tlslens import registry

MAX_HANDSHAKE_MESSAGE = 1 << 21


@dataclass(frozen=True, slots=True)
class HandshakeBytes:
    msg_type: int
    raw: bytes  # the 4-byte header and the body
    offset: int


@dataclass(frozen=True, slots=True)
class OversizedMessage:
    msg_type: int
    length: int
    offset: int
    limit: int


def _whole_messages(data: bytes, limit: int) -> bool:
    """Is ``data`` (one record's body) whole handshake messages of known types, exactly?
    (HelloRequest, all zeros, is left out: zeros are common inside a certificate.)"""
    pos = 0
    while pos + 4 <= len(data):
        length = int.from_bytes(data[pos + 1 : pos + 4], "big")
        if data[pos] == 0 or data[pos] not in registry.HANDSHAKE_TYPES or length > limit:
            return False
        pos += 4 + length
    return pos == len(data) > 0


class HandshakeDefragmenter:
    """Raises nothing on bad input: an oversized header becomes an event."""

    __slots__ = ("_buf", "_offset", "_skip", "max_message")

    def __init__(self, max_message: int = MAX_HANDSHAKE_MESSAGE) -> None:
        self.max_message = max_message
        self._buf = bytearray()
        self._offset = 0  # stream offset of _buf[0]
        self._skip = 0  # bytes still to come of an oversized message

    def feed(self, offset: int, data: bytes) -> None:
        if self._skip and _whole_messages(data, self.max_message):
            # A record of whole messages: the oversized header was garbage (a real message's
            # continuation would not look like that), so read on from here.
            self._skip = 0
        if self._skip:
            n = min(self._skip, len(data))
            self._skip -= n
            if n == len(data):
                return
            data, offset = data[n:], offset + n
        if not self._buf:
            self._offset = offset
        self._buf += data

    def next_message(self) -> HandshakeBytes | OversizedMessage | None:
        buf = self._buf
        if len(buf) < 4:
            return None
        msg_type = buf[0]
        length = (buf[1] << 16) | (buf[2] << 8) | buf[3]
        if length > self.max_message:
            event = OversizedMessage(msg_type, length, self._offset, self.max_message)
            if len(buf) >= 4 + length:
                del buf[: 4 + length]
                self._offset += 4 + length
            else:
                self._skip = 4 + length - len(buf)
                buf.clear()
            return event
        if len(buf) < 4 + length:
            return None
        raw = bytes(buf[: 4 + length])
        del buf[: 4 + length]
        offset = self._offset
        self._offset += 4 + length
        return HandshakeBytes(msg_type, raw, offset)

    @property
    def pending(self) -> bool:
        return bool(self._buf)

    @property
    def pending_offset(self) -> int:
        return self._offset

    def incomplete(self) -> tuple[int, int, int] | None:
        """(type, declared length, body bytes present) of a message still incomplete."""
        buf = self._buf
        if not buf:
            return None
        declared = int.from_bytes(buf[1:4], "big") if len(buf) >= 4 else 0
        return buf[0], declared, len(buf) - 4

    def clear(self) -> None:
        self._buf.clear()
        self._skip = 0
