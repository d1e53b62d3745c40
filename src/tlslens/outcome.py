"""How a connection's handshake ended: completed, failed (by whom, with which alert, why) or
incomplete, in one place for the JSON, the narration, ``--brief``, ``certs``, ``connect``
and the report.

Strategy: a pure function of a read ``Connection`` and, where one was checked, the verdict
on its chain, worked out by the core (crates/tlslens-py/src/row/outcome.rs, which the row
of ``show --json`` writes from too). The questions are asked in this order:

1. a fatal alert that could be read (in plaintext or decrypted) fails the connection,
   whoever sent it and whenever: a TLS 1.3 server rejects a missing client certificate
   after both Finished messages;
2. otherwise both sides' Finished (read, or sent encrypted right after ChangeCipherSpec)
   or application data both ways complete it;
3. otherwise, where the hellos were seen, a FIN or RST fails it, by the side that closed
   first, or that sent the last alert before the close (an encrypted alert in a handshake
   that never finished is most likely the fatal one);
4. otherwise, the capture began after the hellos (whatever closed it), a bound made
   tlslens stop reading it (``Connection.stopped``), or the capture ended before the end:
   incomplete.
"""

from __future__ import annotations

import re
from typing import NamedTuple, TypeGuard

from tlslens import _core
from tlslens.events import AlertEvent, EncryptedAlertEvent, TimelineEvent
from tlslens.model import Connection

COMPLETED = "completed"
FAILED = "failed"
INCOMPLETE = "incomplete"

# What an alert means, in plain words (the core's table, which its reasons use).
ALERT_WORDS: dict[str, str] = _core.ALERT_WORDS


class Outcome(NamedTuple):
    """How the handshake ended. ``by`` is "client", "server" or None; ``alert`` the name of
    the alert that ended it, when one was read; ``reason`` one sentence in plain words."""

    status: str
    by: str | None
    alert: str | None
    reason: str
    # A fatal alert read after both Finished: the handshake had completed (not in the
    # JSON, whose reason says it in words; the row writes the rest: row/outcome.rs).
    after_completion: bool = False

    @property
    def failed_in_handshake(self) -> bool:
        """The handshake failed before it completed, so no application traffic secret was
        ever derived by the side that ended it."""
        return self.status == FAILED and not self.after_completion

    @property
    def brief(self) -> str:
        """A few words: "completed", "FAILED by client: certificate_expired", "incomplete"."""
        if self.status != FAILED:
            return self.status
        said = f": {self.alert}" if self.alert else ""
        return f"FAILED by {self.by or 'either side'}{said}"

    @property
    def headline(self) -> str:
        """The brief words and the reason: the narration's first line. The reason names
        the alert itself where it can (it stands alone in the JSON): said once here."""
        brief = self.brief
        if self.alert and re.search(rf"\b{re.escape(self.alert)}\b", self.reason):
            brief = brief.removesuffix(f": {self.alert}")
        return f"{brief} — {self.reason}"


def message_title(msg_type: int) -> str:
    """A handshake message's name as the RFC writes it: ServerHello, CertificateVerify."""
    return _core.message_title(msg_type)


def outcome_of(conn: Connection) -> Outcome:
    """The outcome of ``conn``, read to its end (``conn.validation`` is used when set)."""
    return Outcome(*_core.connection_outcome(conn))


def is_fatal(event: AlertEvent | EncryptedAlertEvent, tls13: bool) -> TypeGuard[AlertEvent]:
    """Is this alert event a fatal alert that could be read (not one still encrypted)?"""
    return isinstance(event, AlertEvent) and _core.alert_is_fatal(event, tls13)


def alert_sized(conn: Connection, event: TimelineEvent) -> bool:
    """A lone, unread TLS 1.3 record as long as a protected alert (its 2 bytes, the inner
    content type and the AEAD tag): what a side that rejects the other's flight sends,
    where a completed handshake brings a Finished, session tickets or an answer."""
    return _core.alert_sized(conn, event)


# TCP connections that ended before either side sent a byte (``FlowCore.unstarted``), by
# how: what a failed attempt to connect looks like, said in the capture's summary.
_UNSTARTED = {
    "refused": "the server's side answered the SYN with an RST, refusing it (nothing listened "
    "on the port, or a firewall said no)",
    "unanswered": "no SYN/ACK to the SYN was read (the server, or the path to it, did not "
    "answer before the client gave up or the capture ended)",
    "silent": "the server answered the SYN, and neither side sent a byte before the "
    "connection or the capture ended",
}


def unstarted_text(
    kind: str, count: int, client: str, server: str, *, stopped: bool = False
) -> str:
    """``count`` TCP connections of one kind (``_UNSTARTED``) that carried no TLS: why, and
    the first (its frame is the finding's); they said nothing but "N TCP connections, 0
    with TLS". ``stopped``: reading
    stopped before the capture's end (``--time-budget``), which ended those still open."""
    many = count != 1
    said = (
        f"{count:,} TCP connection{'s' if many else ''} never started TLS: "
        f"{_UNSTARTED[kind]}; {'the first: ' if many else ''}{client} → {server}"
    )
    if stopped and kind != "refused":
        said += "; tlslens stopped reading before the capture's end, which may hold the rest"
    return said
