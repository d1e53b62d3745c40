"""What one read of a capture may hold or spend: the bounds a hostile or endless capture
meets (the README's "Bounds" table; each has a command-line option, cli/options.py)."""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Any

from tlslens.capture.reader import GZIP_MAX_RATIO
from tlslens.flows.tcp import MAX_PENDING_BYTES
from tlslens.tls.defrag import MAX_HANDSHAKE_MESSAGE

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
    meet a bound that one process applies across all of them: the reorder window (an open
    connection holding back more than ``reorder_window`` later ones) or ``max_connections``
    open at once. The worker sees every flow begin, but another share's end only at its FIN
    or RST (one process lets a non-TLS flow go at once), so it errs towards "reached", and
    no later than one process would reach it. Once ``reached``, the share's output may
    differ from one process's: the caller reads the capture by one process."""

    def __init__(self, limits: Limits) -> None:
        self.window = limits.reorder_window
        self.max_open = limits.max_connections
        self.foreign_open = 0  # another share's flows begun and not yet seen to end
        self.reached = False
        # (index, flow) of the flows that may still be open; those found ended are dropped
        # when they come to the top, so it holds no more than the window's worth.
        self._open: list[tuple[int, Any]] = []

    def begun(self, index: int, flow: Any, own_open: int) -> None:
        """Flow ``index`` began (``flow.closed`` tells later whether it ended); ``own_open``
        of this share's flows are open, itself included if it is one."""
        heap = self._open
        heapq.heappush(heap, (index, flow))
        while heap[0][1].closed:
            heapq.heappop(heap)
        if own_open + self.foreign_open > self.max_open or index - heap[0][0] > self.window:
            self.reached = True
