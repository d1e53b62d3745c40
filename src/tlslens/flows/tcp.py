"""TCP reassembly for one direction of a connection.

Strategy: sequence numbers are turned into a 64-bit byte offset within the
direction by taking the signed 32-bit distance from the next expected sequence
number, which survives wrap-around. In-order data (the common case) is handed
on at once without copying; earlier bytes (retransmissions, overlaps) are
trimmed away; later bytes wait in a small map keyed by offset. A hole is given
up on, and reported as a ``StreamGap``, when the waiting data exceeds its bound
or when the connection ends, so memory stays bounded however much is lost.

Overlapping copies are compared where both are at hand: the last chunk handed on
(kept by reference, so it costs no copy) and the data waiting beyond a hole. Bytes
that differ are a ``StreamConflict``; the copy seen first is the one kept.
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


@dataclass(frozen=True, slots=True)
class StreamConflict:
    """A later copy of bytes at ``offset`` differs from the copy already taken, over
    ``length`` bytes from the first difference to the last."""

    offset: int
    length: int


StreamEvent = StreamData | StreamGap | StreamConflict


def _differ(a: bytes, a_at: int, b: bytes, b_at: int) -> StreamConflict | None:
    """Where two copies of a stretch of the stream disagree, if they do."""
    lo, hi = max(a_at, b_at), min(a_at + len(a), b_at + len(b))
    if lo >= hi:
        return None
    x, y = a[lo - a_at : hi - a_at], b[lo - b_at : hi - b_at]
    if x == y:
        return None
    first = next(i for i in range(hi - lo) if x[i] != y[i])
    last = next(i for i in range(hi - lo - 1, -1, -1) if x[i] != y[i])
    return StreamConflict(lo + first, last - first + 1)


class HalfStream:
    """Reassembles one direction. ``feed`` returns the events it made available."""

    __slots__ = (
        "gap_bytes",
        "last",
        "last_at",
        "max_pending",
        "next_seq",
        "offset",
        "out_of_order_segments",
        "pending",
        "pending_bytes",
        "retransmitted_bytes",
    )

    def __init__(self, max_pending: int = MAX_PENDING_BYTES) -> None:
        self.max_pending = max_pending  # out-of-order bytes kept before a hole is given up
        self.next_seq: int | None = None
        self.offset = 0  # offset of next_seq within the direction
        self.pending: dict[int, bytes] = {}
        self.pending_bytes = 0
        self.retransmitted_bytes = 0
        self.out_of_order_segments = 0
        self.gap_bytes = 0
        self.last = b""  # the last chunk handed on, at offset last_at
        self.last_at = 0

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
            self.last, self.last_at = payload, self.offset
            self.offset += n
            if self.pending:
                self._drain(out)
            return out
        if delta < 0:
            out = []
            conflict = _differ(self.last, self.last_at, payload, self.offset + delta)
            if conflict is not None:
                out.append(conflict)
            if delta + n <= 0:
                self.retransmitted_bytes += n
                return out
            self.retransmitted_bytes += -delta
            payload = payload[-delta:]
            n = len(payload)
            self.next_seq = (next_seq + n) & _MASK
            out.append(StreamData(self.offset, payload))
            self.last, self.last_at = payload, self.offset
            self.offset += n
            if self.pending:
                self._drain(out)
            return out
        # Data beyond a hole: keep it until the hole fills or is given up.
        self.out_of_order_segments += 1
        at = self.offset + delta
        old = self.pending.get(at)
        conflict = _differ(old, at, payload, at) if old is not None else None
        if old is None or len(old) < n:
            self.pending_bytes += n - (len(old) if old else 0)
            # The longer copy is kept; where the two overlap, the earlier one's bytes.
            self.pending[at] = payload if old is None else old + payload[len(old) :]
        if self.pending_bytes > self.max_pending or len(self.pending) > MAX_PENDING_SEGMENTS:
            out = []
            self._skip_hole(out)
        elif conflict is None:
            return []
        else:
            out = []
        if conflict is not None:
            out.insert(0, conflict)
        return out

    def _drain(self, out: list[StreamEvent]) -> None:
        pending = self.pending
        while pending:
            at = min(pending)
            if at > self.offset:
                return
            data = pending.pop(at)
            self.pending_bytes -= len(data)
            end = at + len(data)
            if at < self.offset:
                conflict = _differ(self.last, self.last_at, data, at)
                if conflict is not None:
                    out.append(conflict)
            if end <= self.offset:
                self.retransmitted_bytes += len(data)
                continue
            if at < self.offset:
                self.retransmitted_bytes += self.offset - at
                data = data[self.offset - at :]
            out.append(StreamData(self.offset, data))
            self.last, self.last_at = data, self.offset
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
