"""How a connection's handshake ended: completed, failed (by whom, with which alert, why) or
incomplete, in one place for the JSON, the narration, ``--brief``, ``certs``, ``connect``
and the report.

Strategy: a pure function of a read ``Connection`` and, where one was checked, the verdict
on its chain. The questions are asked in this order:

1. a fatal alert that could be read (in plaintext or decrypted) fails the connection,
   whoever sent it and whenever: a TLS 1.3 server rejects a missing client certificate
   after both Finished messages;
2. otherwise both sides' Finished (read, or sent encrypted right after ChangeCipherSpec)
   or application data both ways complete it;
3. otherwise, where the hellos were seen, a FIN or RST fails it, by the side that closed
   first, or that sent the last alert before the close (an encrypted alert in a handshake
   that never finished is most likely the fatal one);
4. otherwise, the capture began after the hellos (whatever closed it) or ended before
   the end: incomplete.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeGuard

from tlslens import _core, registry
from tlslens.events import (
    ALERT_EVENTS,
    AlertEvent,
    EncryptedAlertEvent,
    EncryptedHandshakeEvent,
    HandshakeEvent,
    TimelineEvent,
)
from tlslens.handshake import messages as hs
from tlslens.model import C2S, S2C, Connection

if TYPE_CHECKING:
    from tlslens.x509.validate import Validation

COMPLETED = "completed"
FAILED = "failed"
INCOMPLETE = "incomplete"

ALERT_WORDS = {
    "close_notify": "a normal, orderly close",
    "unknown_ca": "the sender did not trust the certificate's issuer",
    "bad_certificate": "the sender rejected the certificate",
    "certificate_expired": "the sender found the certificate expired",
    "handshake_failure": "no acceptable set of parameters could be agreed",
    "protocol_version": "the sender does not support the offered versions",
    "decrypt_error": "a signature or Finished check failed",
    "bad_record_mac": "a record failed its integrity check",
    "unexpected_message": "a message arrived where it is not allowed",
    "no_renegotiation": "renegotiation was refused",
    "certificate_required": "the server wanted a client certificate",
    "inappropriate_fallback": "a version downgrade was detected (RFC 7507)",
    "unrecognized_name": "the server does not know the requested name",
    "no_application_protocol": "no ALPN protocol in common",
}

# RFC 8446 §6: in TLS 1.3 every alert but these two is fatal, whatever its level says.

# Alerts about a certificate, and the chain problems that explain each best (first found).
_CERTIFICATE_ALERTS: dict[str, tuple[str, ...]] = {
    "certificate_expired": ("expired", "not_yet_valid"),
    "unknown_ca": ("missing_intermediate", "self_signed", "untrusted_root"),
    "certificate_revoked": ("revoked", "ocsp_revoked", "crl_revoked"),
    "bad_certificate": (),
    "certificate_unknown": (),
    "unsupported_certificate": ("bad_key_usage", "bad_extension"),
}
_LIKELY_CERTIFICATE_PROBLEMS = (
    "name_mismatch",
    "expired",
    "not_yet_valid",
    "revoked",
    "ocsp_revoked",
    "crl_revoked",
    "missing_intermediate",
    "self_signed",
    "untrusted_root",
)
# A server that finds nothing it accepts in the ClientHello says one of these.
_NOTHING_IN_COMMON = frozenset({"handshake_failure", "insufficient_security"})


@dataclass(frozen=True, slots=True)
class ChainEvidence:
    """A reason that turns on what the check of a chain found (``which``: the "server"'s
    or the "client"'s): its words before and after that finding."""

    which: str
    alert: str
    before: str
    unseen: str  # said when the chain was not checked
    after: str

    def reason(self, validation: Validation | None) -> str:
        """The reason, with the chain's verdict or None."""
        return self.before + chain_evidence(validation, self.alert, self.unseen) + self.after


@dataclass(frozen=True, slots=True)
class Outcome:
    """How the handshake ended. ``by`` is "client", "server" or None; ``alert`` the name of
    the alert that ended it, when one was read; ``reason`` one sentence in plain words."""

    status: str
    by: str | None
    alert: str | None
    reason: str
    # A fatal alert read after both Finished: the handshake had completed (not in the
    # JSON, whose reason says it in words).
    after_completion: bool = False

    @property
    def failed_in_handshake(self) -> bool:
        """The handshake failed before it completed, so no application traffic secret was
        ever derived by the side that ended it."""
        return self.status == FAILED and not self.after_completion

    def to_json(self) -> dict[str, str | None]:
        return {"status": self.status, "by": self.by, "alert": self.alert, "reason": self.reason}

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


def _side(direction: str) -> str:
    return "client" if direction == C2S else "server"


def message_title(msg_type: int) -> str:
    """A handshake message's name as the RFC writes it: ServerHello, CertificateVerify."""
    return "".join(word.capitalize() for word in registry.handshake_name(msg_type).split("_"))


def outcome_of(conn: Connection) -> Outcome:
    """The outcome of ``conn``, read to its end (``conn.validation`` is used when set)."""
    # One walk of the timeline in the core (row/completion.rs) answers both.
    completed, fatal = _core.connection_completion(conn, conn.tls13)
    if fatal is not None:
        return _failed_by_alert(conn, fatal, completed is not None)
    if completed is not None:
        return Outcome(COMPLETED, None, None, completed)
    if conn.client_hello is None and conn.server_hello is None:
        # A close seen here may end a session that completed long before the capture began.
        return Outcome(
            INCOMPLETE,
            None,
            None,
            "the capture starts after the handshake began, and what it shows does not tell "
            "whether the handshake completed",
        )
    if conn.closed_first is not None:
        return _failed_by_close(conn, conn.closed_first)
    if conn.quic is not None:
        quic_outcome = _quic_unfinished(conn)
        if quic_outcome is not None:
            return quic_outcome
    return Outcome(
        INCOMPLETE,
        None,
        None,
        f"the capture ends before the handshake did: the last step seen is {_last_step(conn)}",
    )


def _quic_unfinished(conn: Connection) -> Outcome | None:
    """A QUIC handshake not seen to complete: a CONNECTION_CLOSE read (from an Initial,
    or any packet a key log opened) names who ended it; unread, the client's Handshake
    packets hold its Finished and ACKs, or the close that ended the handshake (QUIC has no
    TCP FIN: only the packets tell). None: nothing QUIC-specific to say."""
    quic = conn.quic
    if quic is not None and quic.closes:
        close = quic.closes[0]
        who = _side(close.direction)
        return Outcome(
            FAILED,
            who,
            None,
            f"the {who} closed the connection before the handshake completed "
            f"(CONNECTION_CLOSE in frame {close.frame}: {close.error})",
        )
    flight = next(
        (
            e
            for e in reversed(conn.timeline)
            if isinstance(e, EncryptedHandshakeEvent) and e.direction == C2S
        ),
        None,
    )
    if flight is None:
        return None
    frames = (
        f"frame {flight.frame}"
        if flight.last_frame == flight.frame
        else f"frames {flight.frame}–{flight.last_frame}"
    )
    return Outcome(
        INCOMPLETE,
        None,
        None,
        "the handshake is not seen to complete: the client sent no 1-RTT packet (those "
        f"follow its Finished), and its last packets ({frames}) are Handshake packets only "
        "a key log opens: its Finished and ACKs, or a CONNECTION_CLOSE that ended the "
        "handshake",
    )


def is_fatal(event: AlertEvent | EncryptedAlertEvent, tls13: bool) -> TypeGuard[AlertEvent]:
    """Is this alert event a fatal alert that could be read (not one still encrypted)?"""
    return isinstance(event, AlertEvent) and _core.alert_is_fatal(event, tls13)


def _failed_by_alert(conn: Connection, event: AlertEvent, completed: bool) -> Outcome:
    name = registry.alert_name(event.description)
    who = _side(event.direction)
    after = ", after the handshake had completed" if completed else ""
    evidence = _certificate_alert(conn, event, name, after)
    if evidence is not None:
        validation = conn.validation if evidence.which == "server" else conn.client_validation
        return Outcome(FAILED, who, name, evidence.reason(validation), completed)
    reason = _alert_reason(conn, event, name) or _generic_alert_reason(event, name)
    return Outcome(FAILED, who, name, reason + after, completed)


def _generic_alert_reason(event: TimelineEvent, name: str) -> str:
    meaning = ALERT_WORDS.get(name)
    text = f"the {_side(event.direction)} sent a fatal {name} alert (frame {event.frame})"
    return text + (f": {meaning}" if meaning else "")


def _certificate_alert(
    conn: Connection, event: TimelineEvent, name: str, after: str
) -> ChainEvidence | None:
    """A side rejecting the other's certificate: the reason, but for what the check of
    that chain found."""
    if name not in _CERTIFICATE_ALERTS:
        return None
    if event.direction == C2S:
        unseen = "; no certificate was seen"
        if conn.resumed is not None:
            # An abbreviated handshake carries no certificate: the alert is about the one
            # of the session's first handshake, or about nothing this connection shows.
            unseen = "; the session was resumed: the server sent no certificate in this connection"
        elif conn.tls13 and conn.decryption is not None:
            unseen = "; the certificate travelled encrypted and the secrets given did not open it"
        elif conn.tls13:
            unseen = "; the certificate travelled encrypted (a key log opens it)"
        before = f"the client rejected the server's certificate: {name}"
        return ChainEvidence("server", name, before, unseen, after)
    if conn.client_certificates:
        before = f"the server rejected the client's certificate: {name}"
        return ChainEvidence("client", name, before, "", after)
    return None


def _alert_reason(conn: Connection, event: TimelineEvent, name: str) -> str | None:
    """The alert tied to what the capture shows, where the capture shows something."""
    if event.direction == C2S:
        return None
    if name == "certificate_required" or (
        name in ("handshake_failure", "bad_certificate")
        and conn.certificate_request
        and not conn.client_certificates
    ):
        return f"the server required a client certificate and the client sent none: {name}"
    answered = conn.server_hello is not None
    if name in _NOTHING_IN_COMMON and not answered:
        return f"the server found no cipher suite in common with the client's offer: {name}"
    if name == "protocol_version" and not answered:
        offered = ", ".join(registry.version_name(v) for v in conn.client_versions)
        return f"the server accepts none of the versions the client offered ({offered}): {name}"
    if name == "unrecognized_name" and conn.sni:
        return f"the server does not serve the name {conn.sni} the client asked for: {name}"
    if name == "no_application_protocol":
        offered = ", ".join(conn.alpn_offered)
        return (
            f"the server serves none of the ALPN protocols the client offered ({offered}): {name}"
        )
    return None


def chain_evidence(validation: Validation | None, alert: str, unseen: str) -> str:
    """What tlslens' own check of a chain found that explains ``alert``; ``unseen`` when
    the chain was not checked."""
    if validation is None:
        return unseen
    problems = validation.problems
    if not problems:
        return (
            f"; tlslens finds the chain trusted ({validation.trust_store}): the client "
            "trusts other roots, or checks what tlslens does not"
        )
    for code in (*_CERTIFICATE_ALERTS.get(alert, ()), *_LIKELY_CERTIFICATE_PROBLEMS):
        found = next((p for p in problems if p.code == code), None)
        if found is not None:
            return f"; {found.message.rstrip('.')}"
    return f"; {problems[0].message.rstrip('.')}"


def alert_sized(conn: Connection, event: TimelineEvent) -> bool:
    """A lone, unread TLS 1.3 record as long as a protected alert (its 2 bytes, the inner
    content type and the AEAD tag): what a side that rejects the other's flight sends,
    where a completed handshake brings a Finished, session tickets or an answer."""
    return _core.alert_sized(conn, event)


def _failed_by_close(conn: Connection, closed_first: str) -> Outcome:
    how = "reset" if conn.closed_by == "rst" else "closed"
    # A server that closed first after one alert-sized record most likely sent its alert
    # in it; after the client's close, such a record is more likely its close_notify. A
    # client's first protected record of that size is never its Finished.
    server_closed = closed_first == S2C
    unread = [
        e
        for e in conn.timeline
        if isinstance(e, ALERT_EVENTS)
        or (alert_sized(conn, e) and (server_closed or isinstance(e, EncryptedHandshakeEvent)))
    ]
    last_alert = unread[-1] if unread else None
    if last_alert is not None:
        who = _side(last_alert.direction)
        if not isinstance(last_alert, AlertEvent):
            what = (
                "an encrypted alert"
                if isinstance(last_alert, EncryptedAlertEvent)
                else "one encrypted record the size of an alert"
            )
            return Outcome(
                FAILED,
                who,
                None,
                f"the {who} sent {what} (frame {last_alert.frame}) and the connection was "
                f"{how} before the handshake ended: most likely the fatal alert that ended it "
                "(a key log for this connection shows which)",
            )
        name = registry.alert_name(last_alert.description)
        return Outcome(
            FAILED,
            who,
            name,
            f"the {who} sent {name} (frame {last_alert.frame}) and the connection was {how} "
            "before the handshake ended",
        )
    who = _side(closed_first)
    answered = conn.server_hello is not None or conn.hello_retry_request is not None
    if not answered and conn.client_hello is not None:
        if closed_first == S2C:
            reason = f"the server {how} the connection after the ClientHello, before answering"
        else:
            reason = f"the client {how} the connection before the server answered its ClientHello"
        return Outcome(FAILED, who, None, reason)
    return Outcome(
        FAILED,
        who,
        None,
        f"the {who} {how} the connection after {_last_step(conn)}, before the handshake ended",
    )


def _last_step(conn: Connection) -> str:
    """The last handshake step of the timeline, in words."""
    for event in reversed(conn.timeline):
        who = _side(event.direction)
        if isinstance(event, HandshakeEvent):
            if isinstance(event.message, hs.ServerHello) and event.message.is_hello_retry_request:
                return f"the server's HelloRetryRequest (frame {event.frame})"
            return f"the {who}'s {message_title(event.message.msg_type)} (frame {event.frame})"
        if isinstance(event, EncryptedHandshakeEvent) and event.direction == C2S and conn.tls13:
            # Unread, a TLS 1.3 client's first protected record may be its Finished or an alert.
            return (
                f"the client's first encrypted record (frame {event.frame}: its Finished, or "
                "an alert that ended the handshake)"
            )
        if isinstance(event, EncryptedHandshakeEvent):
            return f"the {who}'s encrypted handshake (frame {event.frame})"
    return "no handshake message"
