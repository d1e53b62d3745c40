"""What one read of a capture may hold or spend: the bounds a hostile or endless capture
meets (the README's "Bounds" table; each has a command-line option, cli/options.py)."""

from __future__ import annotations

from typing import NamedTuple

from tlslens import _core
from tlslens._core import MAX_HANDSHAKE_MESSAGE
from tlslens.capture.reader import GZIP_MAX_RATIO

# The flow table's defaults are the compiled core's (crates/tlslens-core/src/flows).
# Ended connections held back while an earlier one is still open, to keep first-packet
# order; past this many they are reported, and the open ones when they end, with a note.
REORDER_WINDOW = _core.REORDER_WINDOW
# TCP connections tracked at once; past this many the oldest open one is closed early, with
# a finding.
MAX_OPEN_FLOWS = _core.MAX_OPEN_FLOWS
# Out-of-order bytes kept per direction before a hole is given up as a gap.
MAX_PENDING_BYTES = _core.MAX_PENDING_BYTES
# UDP associations (QUIC, DTLS) tracked at once; past this many the one idle longest ends
# early, with a finding.
MAX_UDP_FLOWS = _core.MAX_UDP_FLOWS
# Bytes the open connections hold at once, as the core counts them (a TCP flow's state,
# what reassembly, the record layer and the handshake wait on, the events held or told for
# it; a fixed cost for each QUIC or DTLS association); past this the oldest open one is
# closed early, with a finding.
MAX_HELD = _core.MAX_HELD


class Limits(NamedTuple):
    """What a hostile or endless capture can make one read hold or spend (the README's
    "Bounds" table; each has a command-line option)."""

    reorder_window: int = REORDER_WINDOW
    max_connections: int = MAX_OPEN_FLOWS  # TCP connections open at once
    max_buffer: int = MAX_PENDING_BYTES  # out-of-order bytes per direction
    max_udp_flows: int = MAX_UDP_FLOWS  # UDP associations (QUIC, DTLS) open at once
    max_held: int = MAX_HELD  # bytes the open connections hold at once
    max_message: int = MAX_HANDSHAKE_MESSAGE  # one handshake message
    max_expansion: int = GZIP_MAX_RATIO  # a gzip'd capture's decompressed / compressed size
    time_budget_s: float | None = None  # per file, checked between frames


DEFAULT_LIMITS = Limits()
