"""TCP reassembly for one direction of a connection.

Strategy: sequence numbers are turned into a 64-bit byte offset within the
direction by taking the signed 32-bit distance from the next expected sequence
number, which survives wrap-around. In-order data (the common case) is handed
on at once without copying; earlier bytes (retransmissions, overlaps) are
trimmed away; later bytes wait in a small map keyed by offset. A hole is given
up on, and reported as a ``StreamGap``, when the waiting data exceeds its bound
or when the connection ends, so memory stays bounded however much is lost.
"""

from __future__ import annotations

from dataclasses import dataclass

_MASK = 0xFFFFFFFF
_HALF = 0x80000000

# Out-of-order data kept per direction before a hole is declared lost.
MAX_PENDING_BYTES = 4 << 20
MAX_PENDING_SEGMENTS = 4096


@dataclass(frozen=True, slots=True)
class StreamData:
    offset: int  # byte offset within this direction
    data: bytes


@dataclass(frozen=True, slots=True)
class StreamGap:
    offset: int
    length: int


StreamEvent = StreamData | StreamGap


class HalfStream:
    """Reassembles one direction. ``feed`` returns the events it made available."""

    __slots__ = (
        "gap_bytes",
        "next_seq",
        "offset",
        "out_of_order_segments",
        "pending",
        "pending_bytes",
        "retransmitted_bytes",
    )

    def __init__(self) -> None:
        self.next_seq: int | None = None
        self.offset = 0  # offset of next_seq within the direction
        self.pending: dict[int, bytes] = {}
        self.pending_bytes = 0
        self.retransmitted_bytes = 0
        self.out_of_order_segments = 0
        self.gap_bytes = 0

    def syn(self, seq: int) -> None:
        if self.next_seq is None or self.offset == 0:
            self.next_seq = (seq + 1) & _MASK

    def feed(self, seq: int, payload: bytes) -> list[StreamEvent]:
        n = len(payload)
        next_seq = self.next_seq
        if next_seq is None:  # picked up mid-stream: start where we first see data
            next_seq = self.next_seq = seq
        delta = ((seq - next_seq + _HALF) & _MASK) - _HALF
        if delta == 0:
            self.next_seq = (seq + n) & _MASK
            out: list[StreamEvent] = [StreamData(self.offset, payload)]
            self.offset += n
            if self.pending:
                self._drain(out)
            return out
        if delta < 0:
            if delta + n <= 0:
                self.retransmitted_bytes += n
                return []
            self.retransmitted_bytes += -delta
            payload = payload[-delta:]
            n = len(payload)
            self.next_seq = (next_seq + n) & _MASK
            out = [StreamData(self.offset, payload)]
            self.offset += n
            if self.pending:
                self._drain(out)
            return out
        # Data beyond a hole: keep it until the hole fills or is given up.
        self.out_of_order_segments += 1
        at = self.offset + delta
        old = self.pending.get(at)
        if old is None or len(old) < n:
            self.pending_bytes += n - (len(old) if old else 0)
            self.pending[at] = payload
        if self.pending_bytes > MAX_PENDING_BYTES or len(self.pending) > MAX_PENDING_SEGMENTS:
            out = []
            self._skip_hole(out)
            return out
        return []

    def _drain(self, out: list[StreamEvent]) -> None:
        pending = self.pending
        while pending:
            at = min(pending)
            if at > self.offset:
                return
            data = pending.pop(at)
            self.pending_bytes -= len(data)
            end = at + len(data)
            if end <= self.offset:
                self.retransmitted_bytes += len(data)
                continue
            if at < self.offset:
                self.retransmitted_bytes += self.offset - at
                data = data[self.offset - at :]
            out.append(StreamData(self.offset, data))
            self.offset += len(data)
            assert self.next_seq is not None
            self.next_seq = (self.next_seq + len(data)) & _MASK

    def _skip_hole(self, out: list[StreamEvent]) -> None:
        at = min(self.pending)
        length = at - self.offset
        out.append(StreamGap(self.offset, length))
        self.gap_bytes += length
        assert self.next_seq is not None
        self.next_seq = (self.next_seq + length) & _MASK
        self.offset = at
        self._drain(out)

    def flush(self) -> list[StreamEvent]:
        """At the end of the connection: give up every remaining hole."""
        out: list[StreamEvent] = []
        while self.pending:
            self._skip_hole(out)
        return out
