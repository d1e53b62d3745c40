"""What DTLS adds to a connection's story: the cookie exchange, the records' epochs and
sequence numbers, the fragments sent again (RFC 6347, RFC 9147).

Reads only the model (``Connection.dtls``, a ``tls.association_facts.DtlsFacts``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tlslens import _core
from tlslens._text import plural
from tlslens.events import ACKEvent
from tlslens.explain.vocabulary import Step
from tlslens.model import C2S, S2C, Connection

if TYPE_CHECKING:
    from tlslens.tls.association_facts import DtlsFacts

HELLO_VERIFY_REQUEST = 3
MAX_ACK_RANGES = 8  # runs of record numbers one ACK's step names; the rest counted


def hello_verify_request_lines(conn: Connection) -> list[str]:
    """The HelloVerifyRequest step: why DTLS servers ask for a cookie."""
    facts = conn.dtls
    size = (
        f" ({plural(facts.cookie_length, 'byte')})"
        if facts is not None and facts.cookie_length
        else ""
    )
    return [
        f"The server answers with a cookie{size} and keeps no state yet (RFC 6347 §4.2.1): "
        "the client must send its ClientHello again with the cookie, which proves it receives "
        "datagrams at the address it claims; a spoofed source gets no amplified answer.",
        "The handshake hash starts with that second ClientHello.",
    ]


def fragments_line(fragments: int, *, dtls13: bool) -> str:
    """A handshake message's step, when it came in pieces: the rule is RFC 9147 §5.5's in
    DTLS 1.3 (which obsoletes RFC 6347 for it), RFC 6347 §4.2.3's in DTLS 1.0 and 1.2."""
    rule = "RFC 9147 §5.5" if dtls13 else "RFC 6347 §4.2.3"
    return (
        f"It came in {fragments} fragments (each datagram must fit the path's MTU), "
        f"reassembled by their offsets ({rule})."
    )


def _side_words(facts: DtlsFacts, direction: str, who: str) -> str:
    records = facts.records[direction]
    epochs = ", ".join(str(e) for e in facts.epochs[direction])
    words = f"{plural(records, 'record')} from the {who}"
    return words + (f" (epochs {epochs})" if epochs else "")


def _connection_ids(facts: DtlsFacts) -> str | None:
    """Which connection ID each side's records carry (RFC 9146), in hex; None when none
    were negotiated."""
    parts = []
    for direction, who, receiver in ((C2S, "client", "server"), (S2C, "server", "client")):
        cid = facts.connection_ids[direction]
        if cid is None:
            return None
        if cid:
            parts.append(
                f"the {who}'s records carry {cid.hex()} ({plural(len(cid), 'byte')}, "
                f"the {receiver}'s choice)"
            )
        else:
            parts.append(f"the {who}'s carry none (the {receiver} asked for an empty one)")
    return "; ".join(parts) + ": the association outlives an address change (RFC 9146)"


def _hellos_missing(facts: DtlsFacts) -> str:
    """Why a DTLS 1.3 association seen after its hellos stays sealed."""
    words = (
        "not captured: the capture starts after them, so which suite was chosen and the "
        "client random that names the secrets are unknown, and every record stays sealed: "
        "DTLS 1.3 encrypts even the record numbers (RFC 9147 §4.2.3), and the content type "
        "is inside the protected part; the client is guessed: the receiver of the first "
        "epoch 2 records (the server's flight comes first); of the first "
        f"{_core.UNIFIED_IN_A_ROW} datagrams, which in a row showed it DTLS, only the last is read"
    )
    if facts.keys_given:
        words += "; the key log is not tried without the client random"
    return words


def dtls_facts(conn: Connection) -> list[tuple[str, str]]:
    """The key facts DTLS adds, as (label, value) pairs (none over TCP)."""
    facts: DtlsFacts | None = conn.dtls
    if facts is None:
        return []
    records = f"{_side_words(facts, C2S, 'client')}, {_side_words(facts, S2C, 'server')}"
    if facts.unified_headers:
        records += f"; {plural(facts.unified_headers, 'DTLS 1.3 unified header')}"
    out = [("DTLS records", records)]
    if facts.hellos_missing:
        out.append(("Hellos", _hellos_missing(facts)))
    if facts.cookie_frame is not None:
        out.append(("DTLS cookie", f"asked for in frame {facts.cookie_frame}"))
    if (cids := _connection_ids(facts)) is not None:
        out.append(("Connection IDs", cids))
    pieces = [
        f"{plural(facts.fragmented[d], 'handshake message')} from the {who} in "
        f"{plural(facts.fragments[d], 'fragment')}"
        for d, who in ((C2S, "client"), (S2C, "server"))
        if facts.fragmented[d]
    ]
    if pieces:
        out.append(("Fragmented", "; ".join(pieces) + ", reassembled"))
    again = facts.retransmissions
    if again[C2S] or again[S2C]:
        out.append(
            (
                "Retransmitted",
                f"{plural(again[C2S], 'handshake message')} from the client, "
                f"{again[S2C]} from the server, sent again after a loss or a timeout (read "
                "once)",
            )
        )
    if facts.multiplexed:
        out.append(
            (
                "Multiplexed",
                f"{plural(facts.multiplexed, 'datagram')} of another protocol on this flow "
                "(STUN, RTP: WebRTC, RFC 7983), passed over",
            )
        )
    return out


def acked_words(numbers: tuple[tuple[int, int], ...], count: int) -> str:
    """The record numbers of an ACK, runs joined: "epoch 2 numbers 0–3, epoch 3 number 0"
    (the first MAX_ACK_RANGES runs of the ``numbers`` kept; ``count``: all it listed)."""
    if not count:
        return "no record number"
    runs: list[tuple[int, int, int]] = []  # (epoch, first, last)
    for epoch, seq in numbers:
        if runs and runs[-1][0] == epoch and runs[-1][2] + 1 == seq:
            runs[-1] = (epoch, runs[-1][1], seq)
        else:
            runs.append((epoch, seq, seq))
    told = runs[:MAX_ACK_RANGES]
    words = ", ".join(
        f"epoch {e} number {a}" if a == b else f"epoch {e} numbers {a}–{b}" for e, a, b in told
    )
    rest = count - sum(b - a + 1 for _e, a, b in told)
    return words + (f" and {plural(rest, 'more record number')}" if rest else "")


def ack_step(event: ACKEvent, time: str) -> Step:
    """A DTLS 1.3 ACK (RFC 9147 §7): which of the peer's records it says arrived."""
    who, peer = ("client", "server") if event.direction == C2S else ("server", "client")
    numbers = acked_words(event.acked, event.count)
    noun = "record" if event.count == 1 else "records"
    return Step(
        event.frame,
        time,
        event.direction,
        "ACK",
        (
            f"The {who} acknowledges the {peer}'s {noun} {numbers} (RFC 9147 §7): "
            f"they arrived, so the {peer} need not send them again (an ACK of a final "
            "flight tells its sender the handshake is over).",
        ),
    )
