"""The bounds a capture met, in words: a connection closed early (``--max-connections``,
``--max-held``) or ended early (``--max-udp-flows``), reported out of first-packet order
(``--reorder-window``, ``--max-held``), or left open when the time budget ran out
(``--time-budget``). Each bound is named with its option, so that the reader knows what to
raise; a connection a bound stopped says where in ``Connection.stopped``, which its outcome
reads (the capture may well hold the rest).
"""

from __future__ import annotations

from tlslens._text import plural, size_text
from tlslens.bounds import Limits


def over(limits: Limits, why: str) -> str:
    """The bound an eviction (``FlowEvicted.why``: "held" or "connections") met."""
    if why == "held":
        return f"the open connections held more than {size_text(limits.max_held)} (--max-held)"
    many = limits.max_connections
    were = plural(many, "connection") + (" was" if many == 1 else " were")
    return f"more than {were} open at once (--max-connections)"


def closed_early(limits: Limits, why: str, frame: int, open_flows: int) -> tuple[str, str]:
    """A TCP connection closed early at ``frame``, the oldest of ``open_flows``: where and
    why tlslens stopped reading it, and its finding."""
    stopped = f"at frame {frame}: {over(limits, why)}"
    which = (
        "it was the only one open"
        if open_flows == 1
        else f"this was the oldest of the {open_flows:,} open"
    )
    return stopped, f"closed early {stopped}, and {which}"


def closed_early_summary(limits: Limits, why: str, count: int, *, udp: bool = False) -> str:
    """How many TCP connections (``udp``: QUIC or DTLS associations) were closed early."""
    was = "was" if count == 1 else "were"
    what = plural(count, "QUIC or DTLS association" if udp else "connection")
    return f"{what} {was} closed early, the oldest first: {over(limits, why)}"


def ended_early(limits: Limits, frame: int) -> tuple[str, str]:
    """A QUIC or DTLS association ended past ``--max-udp-flows`` after ``frame``, its last
    datagram: where and why tlslens stopped reading its connections, and their finding."""
    many = limits.max_udp_flows
    were = plural(many, "QUIC or DTLS association") + (" was" if many == 1 else " were")
    stopped = (
        f"after frame {frame}, the last of its datagrams tlslens read: more than {were} open at "
        "once (--max-udp-flows)"
    )
    return stopped, f"ended early {stopped}, and this one had been idle longest"


def ended_early_summary(limits: Limits, count: int) -> str:
    was = "was" if count == 1 else "were"
    return (
        f"{plural(count, 'QUIC or DTLS association')} {was} ended early, the one idle longest "
        f"first: over {limits.max_udp_flows:,} open at once (--max-udp-flows)"
    )


def late(limits: Limits, held: bool) -> str:
    """Why a connection was handed out after later ones (``FlowHandOut.held``)."""
    if held:
        bound = size_text(limits.max_held)
        why = f"the later connections that had ended held more than {bound} (--max-held)"
    else:
        window = limits.reorder_window
        why = f"{plural(window, 'later connection')} had ended (--reorder-window)"
    return (
        f"reported out of first-packet order: it was still open when {why}, and those were "
        "reported first"
    )


def out_of_time(limits: Limits, frame: int) -> tuple[str, str]:
    """Reading stopped after ``frame``, the time budget spent: where and why tlslens stopped
    reading the connections open then, and the capture's finding."""
    stopped = (
        f"after frame {frame}: the time budget of {limits.time_budget_s:g} s for this file ran "
        "out (--time-budget)"
    )
    return stopped, (
        f"reading stopped {stopped}; the connections open then are reported as they stood"
    )
