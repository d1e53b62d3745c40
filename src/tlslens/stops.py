"""The bounds a capture met, in words: a connection closed early (``--max-connections``,
``--max-held``) or ended early (``--max-udp-flows``), reported out of first-packet order
(``--reorder-window``, ``--max-held``), or left open when the time budget ran out
(``--time-budget``). Each bound is named with its option, so that the reader knows what to
raise; a connection a bound stopped says where in ``Connection.stopped``, which its outcome
reads (the capture may well hold the rest).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from tlslens import _core
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


def associations(kinds: Mapping[str, int]) -> str:
    """UDP associations counted by kind ("QUIC", "DTLS"), in words: "2 DTLS associations",
    "1 DTLS and 3 QUIC associations" (a QUIC-only capture's were called "QUIC or DTLS
    associations": the newcomer's trial)."""
    counts = [(count, kind) for kind, count in sorted(kinds.items()) if count]
    total = sum(count for count, _kind in counts)
    named = " and ".join(f"{count:,} {kind}" for count, kind in counts)
    return f"{named} association{'' if total == 1 else 's'} {'was' if total == 1 else 'were'}"


def closed_early_summary(
    limits: Limits, why: str, count: int = 0, *, kinds: Mapping[str, int] | None = None
) -> str:
    """How many TCP connections (``count``) or UDP associations (``kinds``, by kind) were
    closed early."""
    if kinds is None:
        what = f"{plural(count, 'connection')} {'was' if count == 1 else 'were'}"
    else:
        what = associations(kinds)
    return f"{what} closed early, the oldest first: {over(limits, why)}"


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


def ended_early_summary(limits: Limits, kinds: Mapping[str, int]) -> str:
    """How many UDP associations, by kind, ended early past ``--max-udp-flows``."""
    return (
        f"{associations(kinds)} ended early, the one idle longest first: over "
        f"{limits.max_udp_flows:,} open at once (--max-udp-flows)"
    )


def after_stop(datagrams: int, stopped: int, first: int) -> str:
    """The datagrams skipped because their address pair's QUIC or DTLS association was
    closed or ended early (said above; ``stopped``: how many of those associations had
    datagrams skipped): read as new associations, each seemed to start after its handshake
    began."""
    idle = _core.UDP_IDLE_TIMEOUT_NS // 1_000_000_000
    were = "was" if datagrams == 1 else "were"
    return (
        f"{plural(datagrams, 'later datagram')} of {plural(stopped, 'association')} tlslens "
        f"stopped reading early {were} skipped (the first is frame {first}): read as a new "
        "association, the rest of that conversation would seem to start after its "
        f"handshake; its address pair is read again after {idle} s without a datagram, or "
        "at a new DTLS ClientHello (raise --max-held or --max-udp-flows to read it all)"
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


def brief(stopped: str) -> str:
    """A connection's brief line's words for where a bound stopped reading it
    (``Connection.stopped``, whose words end with the option): "stopped early
    (--max-held)". Its line said "completed; 1 problem" and no more (the newcomer's trial)."""
    option = re.search(r"\((--[a-z-]+)\)$", stopped)
    return "stopped early" + (f" ({option.group(1)})" if option else "")
