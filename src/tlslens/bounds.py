"""What one read of a capture may hold or spend: the bounds a hostile or endless capture
meets (the README's "Bounds" table; each has a command-line option, cli/options.py)."""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Any

from tlslens.capture.reader import GZIP_MAX_RATIO
from tlslens.flows.tcp import MAX_PENDING_BYTES
from tlslens.tls.defrag import MAX_HANDSHAKE_MESSAGE
from tlslens.tls.detect import plausible_start
from tlslens.tls.session import MAX_PRELUDE_SCAN

# Ended connections held back while an earlier one is still open, to keep first-packet
# order; past this many they are reported, and the open ones when they end, with a note.
REORDER_WINDOW = 1000
# TCP connections tracked at once (about 3.4 kB each before any payload); past this many the
# oldest open one is closed early, with a finding.
MAX_OPEN_FLOWS = 50_000


@dataclass(frozen=True, slots=True)
class Limits:
    """What a hostile or endless capture can make one read hold or spend (the README's
    "Bounds" table; each has a command-line option)."""

    reorder_window: int = REORDER_WINDOW
    max_connections: int = MAX_OPEN_FLOWS  # TCP connections open at once
    max_buffer: int = MAX_PENDING_BYTES  # out-of-order bytes per direction
    max_message: int = MAX_HANDSHAKE_MESSAGE  # one handshake message
    max_expansion: int = GZIP_MAX_RATIO  # a gzip'd capture's decompressed / compressed size
    time_budget_s: float | None = None  # per file, checked between frames


DEFAULT_LIMITS = Limits()


class ShareWatch:
    """Whether a worker reading one share of a capture's connections (cli/shares.py) may
    meet a bound that one process applies across all of them: more than ``reorder_window``
    connections ended while an earlier one is still open (one process then reports them
    out of order), or more than ``max_connections`` open at once. The worker sees every flow
    begin, and another share's flow end at its FIN or RST; one process may also let a flow go
    earlier, after a megabyte of plaintext with no TLS in it. So a flow counts as open until
    its FIN or RST, and as ended from then or from that megabyte, whichever comes first:
    ``reached`` errs towards yes, and comes no later than one process meets the bound. From
    then on the share's output may differ from one process's: the caller reads by one.
    A share does not hold connections back past the window itself (the flows of the other
    shares it counts would make it do so when one process does not): ``reached`` comes first.
    Without a share of n > 1 (``on`` False) it watches nothing."""

    def __init__(self, limits: Limits, share: tuple[int, int] | None) -> None:
        self.on = share is not None and share[1] > 1
        self.window = limits.reorder_window
        self.max_open = limits.max_connections
        self.reached = False
        self._foreign_open = 0  # another share's flows begun and not seen to end
        # (index, flow) of the flows that may be open: those ended are dropped when they come
        # to the top. Indexes of flows that may have ended after the oldest of them began.
        self._open: list[tuple[int, Any]] = []
        self._ended: list[int] = []

    def begun(self, index: int, flow: Any, own_open: int) -> None:
        """Flow ``index`` began; ``own_open`` of this share's flows are open (itself
        included if it is one); ``flow.closed`` tells later whether it ended."""
        if not self.on:
            return
        heapq.heappush(self._open, (index, flow))
        self._foreign_open += flow.foreign
        if own_open + self._foreign_open > self.max_open:
            self.reached = True

    def ended(self, index: int, flow: Any) -> None:
        """Flow ``index`` ended (``flow.closed``), or may have (one process's megabyte)."""
        if not self.on:
            return
        self._foreign_open -= flow.foreign and flow.closed
        heap, ended = self._open, self._ended
        heapq.heappush(ended, index)
        while heap and heap[0][1].closed:
            heapq.heappop(heap)
        while ended and (not heap or ended[0] < heap[0][0]):
            heapq.heappop(ended)  # it comes out in order, as one process gives it
        if len(ended) > self.window:
            self.reached = True

    def carried(self, flow: Any, side: int, seq: int, payload: bytes) -> None:
        """Data of another share's flow: one that opens with a TLS record on the side of its
        SYN is never let go early; any other counts as ended past ``MAX_PRELUDE_SCAN``."""
        if (
            not flow.carried
            and side == 0
            and flow.isn is not None
            and seq == (flow.isn + 1) & 0xFFFFFFFF
            and len(payload) >= 6
            and plausible_start(payload, mid_stream=False)
        ):
            flow.carried = -1
            return
        flow.carried += len(payload)
        if flow.carried > MAX_PRELUDE_SCAN:
            flow.carried = -1
            self.ended(flow.index, flow)
