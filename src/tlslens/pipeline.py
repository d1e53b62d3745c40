"""From a capture file to TLS connections: frames -> TCP flows -> sessions.

Strategy: one pass over the file. A dict maps both directions' 4-tuples to the
flow, so each packet costs one lookup. Flows that turn out not to be TLS stop
getting their payload parsed. A connection is handed out as soon as it ends
(FIN from both sides, or RST) and every earlier-starting connection has been
handed out too, so output is in order of first packet and memory is bounded by
the connections open at once rather than by the capture's size.
"""

from __future__ import annotations

import gc
import heapq
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from tlslens._text import plural
from tlslens.bounds import DEFAULT_LIMITS, Limits
from tlslens.capture import CaptureReader, open_capture
from tlslens.errors import CaptureError
from tlslens.flows.packet import (
    LINKTYPE_NAMES,
    TCP_ACK,
    TCP_FIN,
    TCP_RST,
    TCP_SYN,
    Skip,
    TCPSegment,
    decode_tcp,
)
from tlslens.flows.tcp import HalfStream, StreamData, StreamEvent, StreamGap
from tlslens.keys.store import KeyStore
from tlslens.model import CaptureSummary, Connection, Endpoint, Finding
from tlslens.tls.resumption import ResumptionIndex
from tlslens.tls.session import TLSSession

# Closed flows are remembered (so late retransmissions do not open new ones) this long.
CLOSED_FLOW_LINGER_NS = 120 * 1_000_000_000
PROGRESS_EVERY_FRAMES = 1 << 12
GC_THRESHOLD = 100_000  # allocations between young-generation collections while reading
MAX_CLOSED_FLOWS = 10_000  # closed flows remembered, to drop their late retransmissions
TLS_KEY_LOG = 0x544C534B  # pcapng DSB secrets type "TLSK"


class _Flow:
    __slots__ = (
        "closed",
        "closed_ts",
        "fin",
        "halves",
        "index",
        "isn",
        "keys",
        "rst",
        "session",
        "syn_ts",
        "synack_ts",
    )

    def __init__(self, index: int, session: TLSSession, max_buffer: int) -> None:
        self.index = index
        self.session = session
        self.halves = (HalfStream(max_buffer), HalfStream(max_buffer))
        self.fin = [False, False]
        self.rst = False
        self.closed = False
        self.closed_ts = 0
        self.keys: tuple[_FlowKey, _FlowKey] | None = None  # its two entries in the flow table
        self.isn: int | None = None
        self.syn_ts: int | None = None  # the client's SYN, then the server's SYN/ACK
        self.synack_ts: int | None = None


_FlowKey = tuple[bytes, int, bytes, int]
_CLOSED = TLSSession(-1, (Endpoint(b"", 0), Endpoint(b"", 0)), 0, 0, client_side=0, mid_stream=True)
_NO_HALVES = (HalfStream(), HalfStream())


class Capture:
    """A capture file, iterable over its TLS connections.

    ``summary`` is complete once iteration has ended. Iteration raises
    CaptureError when the file is not a readable capture at all (OSError when
    it cannot be opened); every other problem is reported in the connections'
    ``problems`` or in ``summary.problems``.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        on_progress: Callable[[int], None] | None = None,
        keys: KeyStore | None = None,
        plaintext_sink: Callable[[int, str, bytes], None] | None = None,
        records: bool = False,
        stream: BinaryIO | None = None,
        limits: Limits = DEFAULT_LIMITS,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.path = Path(path)
        self._stream = stream  # a capture already in memory, named ``path``
        self.limits = limits
        self._clock = clock  # seconds, for the time budget
        self.summary = CaptureSummary(file=str(path))
        self._on_progress = on_progress
        self.keys = keys
        self._sink = plaintext_sink
        self._records = records

    def __iter__(self) -> Iterator[Connection]:
        # Tens of thousands of live flows make the cyclic collector's young generation fill
        # every few packets, and each collection walks them: collect far less often while
        # reading (the pipeline's objects hold no reference cycles worth finding early).
        threshold = gc.get_threshold()
        gc.set_threshold(max(threshold[0], GC_THRESHOLD), *threshold[1:])
        try:
            if self._stream is not None:
                reader = CaptureReader(self._stream, name=str(self.path))
                yield from self._run(reader, self._stream.tell)
                return
            raw, reader = open_capture(self.path, self.limits.max_expansion)
            try:
                yield from self._run(reader, raw.tell)
            finally:
                raw.close()
        finally:
            gc.set_threshold(*threshold)

    def _add_capture_secrets(
        self, reader: CaptureReader, start: int, keys: KeyStore | None
    ) -> KeyStore:
        """Key logs carried by the capture itself (pcapng Decryption Secrets Blocks)."""
        if keys is None:
            keys = KeyStore()
            self.keys = keys
        for block in reader.secrets[start:]:
            if block.secrets_type == TLS_KEY_LOG:
                text = block.data.decode("utf-8", "replace")
                keys.keylog.add_text(text, f"{self.path.name} (Decryption Secrets Block)", "pcapng")
        return keys

    def _run(self, reader: CaptureReader, tell: Callable[[], int]) -> Iterator[Connection]:
        summary = self.summary
        frames = iter(reader)  # raises CaptureError if not a capture at all
        summary.format = reader.format
        summary.readable = True
        flows: dict[_FlowKey, tuple[_Flow, int]] = {}
        closing: deque[_Flow] = deque()  # closed flows, in the order they closed
        ready: list[tuple[int, int, Connection | None]] = []  # heap by flow index
        next_emit = 0
        open_flows: dict[int, _Flow] = {}  # by index, oldest first
        limits = self.limits
        max_open = limits.max_connections
        clock = self._clock
        deadline = None
        if limits.time_budget_s is not None and clock is not None:
            deadline = clock() + limits.time_budget_s
        evicted = 0
        last_ts, backwards, first_backwards = 0, 0, 0  # frames whose clock went back
        deferred: set[int] = set()  # flows passed over while open: reported when they end
        reorder_window = limits.reorder_window
        next_index = 0
        next_id = 1
        resumptions = ResumptionIndex()
        skipped: dict[Skip, int] = {}
        file = str(self.path)
        frame = 0
        on_progress = self._on_progress
        keys = self.keys
        secrets_read = 0
        sink = self._sink

        def close(flow: _Flow) -> None:
            session = flow.session
            for side, half in enumerate(flow.halves):
                if half.pending:
                    _dispatch(session, side, half.flush(), frame, session.ts_ns)
            conn = session.finish()
            if conn is not None:
                conn.tcp_syn_ts_ns, conn.tcp_synack_ts_ns = flow.syn_ts, flow.synack_ts
            heapq.heappush(ready, (flow.index, id(flow), conn))
            flow.closed = True
            open_flows.pop(flow.index, None)
            flow.closed_ts = session.ts_ns
            # A closed flow keeps only what tells a late retransmission (dropped) from a new
            # connection on the same 4-tuple (its ISN): the session, its connection and the
            # reassembly buffers go now, not when the flow is purged.
            _forget(flow)
            closing.append(flow)

        def emit() -> Iterator[Connection]:
            nonlocal next_emit, next_id
            while ready:
                index = ready[0][0]
                late = index in deferred
                if index == next_emit or late:
                    _index, _key, conn = heapq.heappop(ready)
                    if late:
                        deferred.discard(index)
                    else:
                        next_emit += 1
                elif len(ready) > reorder_window:
                    # Earlier connections are still open and the window is full: report the
                    # ended ones now and those open ones when they end (memory stays bounded
                    # by the window, not by how long one connection lasts).
                    deferred.update(range(next_emit, index))
                    next_emit = index
                    continue
                else:
                    return
                if conn is None:
                    continue
                if late:
                    conn.problems.append(
                        Finding(
                            conn.first_frame,
                            None,
                            "capture",
                            None,
                            f"reported out of first-packet order: it was still open when "
                            f"{reorder_window} later connections had ended, and those were "
                            "reported first",
                        )
                    )
                conn.id = next_id
                next_id += 1
                summary.tls_connections += 1
                conn.resumed_from = resumptions.resolve(conn)
                resumptions.learn(conn)
                yield conn

        for ts_ns, linktype, data in frames:
            frame += 1
            if ts_ns < last_ts:
                backwards += 1
                first_backwards = first_backwards or frame
            last_ts = ts_ns
            seg = decode_tcp(linktype, data)
            if not isinstance(seg, TCPSegment):
                skipped[seg] = skipped.get(seg, 0) + 1
                continue
            src, dst, sport, dport, seq, _ack, flags, payload = seg
            if not payload and not flags & (TCP_SYN | TCP_FIN | TCP_RST):
                continue  # a pure ACK: reassembly goes by sequence numbers alone
            key = (src, sport, dst, dport)
            entry = flows.get(key)
            new_syn = flags & TCP_SYN and not flags & TCP_ACK
            if entry is not None:
                flow, side = entry
                if new_syn and (flow.closed or (flow.isn is not None and flow.isn != seq)):
                    # The 4-tuple is reused by a new connection.
                    if not flow.closed:
                        close(flow)
                    entry = None
            if entry is None:
                if not payload and not flags & TCP_SYN:
                    continue  # a stray ACK/FIN/RST of a flow we never saw
                if len(reader.secrets) > secrets_read:
                    keys = self._add_capture_secrets(reader, secrets_read, keys)
                    secrets_read = len(reader.secrets)
                client_side = None
                if flags & TCP_SYN:
                    client_side = 1 if flags & TCP_ACK else 0
                session = TLSSession(
                    next_index,
                    (Endpoint(src, sport), Endpoint(dst, dport)),
                    frame,
                    ts_ns,
                    client_side=client_side,
                    mid_stream=not flags & TCP_SYN,
                    file=file,
                    keys=keys,
                    sink=_bind_sink(sink, next_index),
                    keep_records=self._records,
                    max_message=limits.max_message,
                )
                flow = _Flow(next_index, session, limits.max_buffer)
                open_flows[next_index] = flow
                next_index += 1
                summary.tcp_flows += 1
                if len(open_flows) > max_open:
                    # Memory is bounded by the connections open at once, not by how many a
                    # capture opens and never closes: the oldest open one is closed now.
                    evicted += 1
                    oldest = next(iter(open_flows.values()))
                    if oldest.session.conn is not None:
                        oldest.session.conn.problems.append(
                            Finding(
                                frame,
                                None,
                                "capture",
                                None,
                                f"closed early at frame {frame}: more than {max_open} "
                                "connections were open at once, and this was the oldest",
                            )
                        )
                    close(oldest)
                if new_syn:
                    flow.isn = seq
                reverse = (dst, dport, src, sport)
                flows[key] = (flow, 0)
                flows[reverse] = (flow, 1)
                flow.keys = (key, reverse)
                side = 0
            if flow.closed:
                continue
            session = flow.session
            if flags & TCP_SYN:
                if flags & TCP_ACK:
                    flow.synack_ts = flow.synack_ts or ts_ns
                else:
                    flow.syn_ts = flow.syn_ts or ts_ns
                flow.halves[side].syn(seq)
                if payload:  # TCP Fast Open: data rides on the SYN
                    seq = (seq + 1) & 0xFFFFFFFF
            session.frame, session.ts_ns = frame, ts_ns
            if payload and not session.ignored:
                half = flow.halves[side]
                try:
                    if half.next_seq == seq and not half.pending:
                        # In order, nothing waiting: hand it on without building events.
                        offset = half.offset
                        half.last, half.last_at = payload, offset
                        half.offset = offset + len(payload)
                        half.next_seq = (seq + len(payload)) & 0xFFFFFFFF
                        session.data(side, offset, payload, frame, ts_ns)
                    else:
                        events = half.feed(seq, payload)
                        if events:
                            _dispatch(session, side, events, frame, ts_ns)
                except Exception as exc:  # a bug in tlslens: report it, keep going
                    _internal_error(session, frame, exc)
            if session.ignored and not flow.closed:
                # Not TLS: hand its slot on so later connections are not held back.
                heapq.heappush(ready, (flow.index, id(flow), None))
                flow.closed = True
                open_flows.pop(flow.index, None)
                flow.closed_ts = ts_ns
                _forget(flow)
                closing.append(flow)
            elif flags & (TCP_FIN | TCP_RST):
                session.closing(side, frame, ts_ns)
                if flags & TCP_RST:
                    flow.rst = True
                else:
                    flow.fin[side] = True
                if flow.rst or (flow.fin[0] and flow.fin[1]):
                    if session.conn is not None:
                        session.conn.closed_by = "rst" if flow.rst else "fin"
                        session.conn.last_frame = frame
                        session.conn.end_ts_ns = ts_ns
                    close(flow)
            if ready:
                yield from emit()
            if not frame & (PROGRESS_EVERY_FRAMES - 1):
                _purge(flows, closing, ts_ns, MAX_CLOSED_FLOWS)
                if on_progress is not None:
                    on_progress(tell())
            if (
                deadline is not None
                and not frame & 255
                and clock is not None
                and clock() > deadline
            ):
                summary.problems.append(
                    Finding(
                        frame,
                        None,
                        "capture",
                        None,
                        f"reading stopped after frame {frame}: the time budget of "
                        f"{limits.time_budget_s:g} s for this file ran out (--time-budget); "
                        "the connections open then are reported as they stood",
                    )
                )
                break

        # Flushed in first-packet order, the order one connection's resumption of another's
        # session needs (a later connection looks up what an earlier one learnt).
        still_open = {f.index: f for f, _side in flows.values() if not f.closed}
        for index in sorted(still_open):
            close(still_open[index])
        yield from emit()
        summary.frames = frame
        summary.linktypes = sorted(
            {LINKTYPE_NAMES.get(lt, f"link type {lt}") for lt in reader.linktypes}
        )
        summary.skipped = {reason.name.lower(): count for reason, count in skipped.items()}
        summary.decryption_secrets_blocks = len(reader.secrets)
        if backwards:
            summary.problems.append(
                Finding(
                    first_backwards,
                    None,
                    "capture",
                    None,
                    f"{plural(backwards, 'frame')} {'has' if backwards == 1 else 'have'} a "
                    f"timestamp earlier than the frame before (the first is frame {first_backwards}"
                    "): the clock went back, or frames were merged out of order; times mislead",
                )
            )
        if evicted:
            summary.problems.append(
                Finding(
                    None,
                    None,
                    "capture",
                    None,
                    f"{plural(evicted, 'connection')} {'was' if evicted == 1 else 'were'} closed "
                    f"early, the oldest first: over {max_open} open at once (half-open or endless)",
                )
            )
        for problem in reader.problems:
            summary.problems.append(
                Finding(problem.frame, None, "capture", problem.offset, problem.message)
            )
        if on_progress is not None:
            on_progress(tell())


def _bind_sink(
    sink: Callable[[int, str, bytes], None] | None, index: int
) -> Callable[[str, bytes], None] | None:
    if sink is None:
        return None
    return lambda direction, data: sink(index, direction, data)


def _dispatch(
    session: TLSSession, side: int, events: list[StreamEvent], frame: int, ts_ns: int
) -> None:
    for ev in events:
        if isinstance(ev, StreamData):
            session.data(side, ev.offset, ev.data, frame, ts_ns)
        elif isinstance(ev, StreamGap):
            session.gap(side, ev.offset, ev.length, frame, ts_ns)
        else:
            session.conflict(side, ev.offset, ev.length, frame, ts_ns)


def _internal_error(session: TLSSession, frame: int, exc: Exception) -> None:
    """Report a bug as a finding of this connection and stop parsing it; the run goes on."""
    session.abandon(
        f"internal error ({type(exc).__name__}: {exc}); this connection is not parsed further"
    )


def _forget(flow: _Flow) -> None:
    """A closed flow keeps only what tells a late retransmission (dropped) from a new
    connection on the same 4-tuple (its ISN): the session, its connection and the
    reassembly buffers go at once, not when the flow leaves the table."""
    flow.session = _CLOSED
    flow.halves = _NO_HALVES


def _purge(
    flows: dict[_FlowKey, tuple[_Flow, int]], closing: deque[_Flow], now_ns: int, keep: int
) -> None:
    """Drop the flows closed longer than the linger time, or past the ``keep`` most recent,
    oldest first: O(dropped)."""
    while closing and (
        now_ns - closing[0].closed_ts > CLOSED_FLOW_LINGER_NS or len(closing) > keep
    ):
        flow = closing.popleft()
        for key in flow.keys or ():
            entry = flows.get(key)
            if entry is not None and entry[0] is flow:  # not a new flow on the same 4-tuple
                del flows[key]


def read_capture(
    path: str | Path,
    *,
    on_progress: Callable[[int], None] | None = None,
    keys: KeyStore | None = None,
    plaintext_sink: Callable[[int, str, bytes], None] | None = None,
    records: bool = False,
    stream: BinaryIO | None = None,
    limits: Limits = DEFAULT_LIMITS,
    clock: Callable[[], float] | None = None,
) -> Capture:
    """Open a pcap/pcapng capture (optionally gzip-compressed) for dissection.

    Iterating the result yields one ``Connection`` per TCP connection that
    carried TLS, in order of first packet; ``.summary`` then describes the pass.

    Raises (during iteration) CaptureError when the file is not a capture, and
    OSError when it cannot be read.

    With ``keys`` (and with any key log the pcapng carries), connections are
    decrypted; ``plaintext_sink(tcp_stream, direction, data)`` then receives the
    application data as it is opened. With ``records``, each connection keeps the header
    of every record (``Connection.records``) and each handshake message its bytes
    (``TimelineEvent.raw``), which costs memory per record. With
    ``stream``, the capture is read from that binary file object, named ``path``.
    ``limits`` bound what the read may hold; its time budget needs ``clock`` (seconds).
    """
    return Capture(
        path,
        on_progress=on_progress,
        keys=keys,
        plaintext_sink=plaintext_sink,
        records=records,
        stream=stream,
        limits=limits,
        clock=clock,
    )


__all__ = ["Capture", "CaptureError", "CaptureSummary", "Limits", "read_capture"]
