"""What a live connection attempt comes to, in one verdict: did it work, and if not, why.

Pure: the facts of the attempt (``LiveOutcome``, filled in by the network edge) and the
connection the capture pipeline made of the recorded bytes in; a ``Verdict`` out, with
the exit status scripts test (0 trusted, 3 completed but not trusted, 1 failed).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tlslens import registry
from tlslens._text import plural
from tlslens.events import AlertEvent
from tlslens.model import C2S, Connection
from tlslens.outcome import ALERT_WORDS, is_fatal

EXIT_TRUSTED = 0
EXIT_FAILED = 1
EXIT_UNTRUSTED = 3
TLS13 = 0x0304


@dataclass(slots=True)
class LiveOutcome:
    """How far a live attempt got, as the network edge saw it.

    ``transport`` is None when the socket behaved, else one of "dns", "refused",
    "unreachable", "timeout", "reset", "closed" (the server closed early), "limit" (it
    sent more than the recording keeps) or "error";
    ``phase`` says what was going on: "resolving", "connecting", "starttls",
    "handshake", "data" or "closing"."""

    phase: str = "resolving"
    transport: str | None = None
    detail: str = ""
    tls_error: str | None = None  # what the TLS library said when it gave up
    handshake_done: bool = False
    timeout_s: float = 0.0
    starttls: str | None = None  # the protocol name, when there was a prelude
    starttls_refusal: str | None = None
    server_bytes: int = 0
    server_head: bytes = b""  # the first bytes the server sent after the prelude
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Verdict:
    status: str  # trusted, untrusted, failed
    exit_status: int
    text: str

    def to_json(self) -> dict[str, object]:
        return {"status": self.status, "exit_status": self.exit_status, "text": self.text}


_WAITING = {
    "resolving": "resolving the name",
    "connecting": "connecting",
    "starttls": "in the plaintext STARTTLS exchange",
    "handshake": "during the TLS handshake",
    "data": "after the handshake, while reading the answer",
    "closing": "while closing",
}


def live_verdict(outcome: LiveOutcome, conn: Connection | None) -> Verdict:
    """The verdict of one attempt; ``conn`` is None when no TLS was seen at all."""
    failed = _failure(outcome, conn)
    if failed is not None:
        return Verdict("failed", EXIT_FAILED, failed)
    assert conn is not None
    validation = conn.validation
    name = validation.hostname if validation is not None and validation.hostname else "any name"
    version = registry.version_name(conn.version) if conn.version is not None else "TLS"
    done = f"Handshake completed ({version})"
    if validation is None or not conn.certificates:
        if conn.cipher_suite is not None and "PSK" in registry.cipher_suite_name(conn.cipher_suite):
            return Verdict("trusted", EXIT_TRUSTED, f"{done}, authenticated by a pre-shared key")
        return Verdict(
            "untrusted", EXIT_UNTRUSTED, f"{done}, but the server sent no certificate to check"
        )
    if validation.trusted and not validation.problems:
        return Verdict(
            "trusted",
            EXIT_TRUSTED,
            f"{done}; the chain is trusted for {name} ({validation.trust_store})",
        )
    if validation.trusted:
        # The path holds, yet the Trust line names a problem (a staple that does not check
        # out, a CN outside the SANs): the last line and the exit status say so too.
        named = "; ".join(dict.fromkeys(f"{p.code}: {p.message}" for p in validation.problems))
        return Verdict(
            "untrusted",
            EXIT_UNTRUSTED,
            f"{done}; the path to a {validation.trust_store} root holds for {name}, but the "
            f"chain is not clean: {named}",
        )
    reasons = "; ".join(dict.fromkeys(problem.message for problem in validation.problems))
    return Verdict(
        "untrusted",
        EXIT_UNTRUSTED,
        f"{done}, but the chain is NOT trusted for {name}: "
        f"{reasons or 'no path to a trusted root'}",
    )


def _failure(outcome: LiveOutcome, conn: Connection | None) -> str | None:
    transport = outcome.transport
    where = _WAITING.get(outcome.phase, outcome.phase)
    if transport == "dns":
        return f"Cannot resolve the name: {outcome.detail}"
    if outcome.phase == "connecting" and transport is not None:
        if transport == "refused":
            return f"Connection refused: nothing listens there ({outcome.detail})"
        if transport == "unreachable":
            return f"Unreachable: {outcome.detail}"
        if transport == "timeout":
            return (
                f"No answer to the TCP SYN within {outcome.timeout_s:g} s: a firewall may drop it"
            )
        return f"Cannot connect: {outcome.detail}"
    if outcome.starttls_refusal is not None:
        return f"The server did not agree to {outcome.starttls}: {outcome.starttls_refusal}"
    # What the server sent that is not TLS at all, or not well-formed, comes before the
    # alert the client's library answered it with.
    not_tls = _not_tls(outcome, conn)
    if not_tls is not None:
        return not_tls
    oversized = None
    if conn is not None:
        oversized = next(
            (
                p
                for p in conn.problems
                if p.direction != C2S and "more than TLS allows" in p.message
            ),
            None,
        )
    if oversized is not None:
        return f"The server sent a malformed record: {oversized.message}"
    # A fatal alert ends the connection even after the client's side of the handshake
    # completed (TLS 1.3 servers reject a missing client certificate that way).
    alert = _fatal_alert(conn, outcome.tls_error)
    if alert is not None:
        return alert
    if outcome.handshake_done:
        return None
    seen = f"after {plural(outcome.server_bytes, 'byte')} from the server"
    if not outcome.server_bytes:
        seen = "before the server sent anything"
    if transport == "timeout":
        return f"Timed out after {outcome.timeout_s:g} s {where}, {seen}"
    if transport == "reset":
        return f"The server reset the connection {where}, {seen}"
    if transport == "limit":
        return (
            f"The server sent more than tlslens keeps ({outcome.detail}) {where}: reading stopped"
        )
    if transport == "closed":
        return f"The server closed the connection {where}, {seen}"
    if outcome.tls_error:
        return f"The handshake failed {where}: {outcome.tls_error}"
    return f"The handshake did not complete {where}: {outcome.detail or 'no reason given'}"


def _fatal_alert(conn: Connection | None, tls_error: str | None) -> str | None:
    if conn is None:
        return None
    tls13 = conn.tls13
    for event in conn.alerts:
        if not isinstance(event, AlertEvent):
            continue  # an alert still encrypted
        name = registry.alert_name(event.description)
        if name == "close_notify":
            return None
        if not is_fatal(event, tls13):
            continue
        sender = "The client (tlslens)" if event.direction == C2S else "The server"
        text = f"{sender} sent a fatal {name} alert"
        meaning = ALERT_WORDS.get(name)
        if meaning:
            text += f" ({meaning})"
        reason = likely_reason(conn, name, event.direction)
        if reason is None and event.direction == C2S and tls_error:
            reason = f"its TLS library said: {tls_error}"
        return text + (f": {reason}" if reason else "")
    return None


def likely_reason(conn: Connection, alert: str, direction: str) -> str | None:
    """Why an alert was most likely sent, judged from what the client offered."""
    offered = conn.client_versions
    answered = conn.server_hello is not None
    if direction == C2S:
        return None
    if alert in ("protocol_version", "handshake_failure", "insufficient_security") and not answered:
        if offered and min(offered) >= TLS13:
            return (
                "no version or cipher suite in common: the client offered only TLS 1.3, "
                "which this server does not seem to speak (try without --tls1.3, or "
                "--max-version 1.2)"
            )
        if alert == "protocol_version" and offered and max(offered) < TLS13:
            newest = registry.version_name(max(offered))
            return (
                f"no version in common: the client offered at most {newest}; the server "
                "wants a newer one"
            )
        ch = conn.client_hello
        if ch is not None and len(ch.cipher_suites) <= 4 and alert == "handshake_failure":
            names = ", ".join(registry.cipher_suite_name(s) for s in ch.cipher_suites)
            return f"no cipher suite in common: the client offered only {names}"
        return "no version, cipher suite, group or signature algorithm in common"
    if alert in ("certificate_required", "handshake_failure", "bad_certificate") and (
        conn.certificate_request
    ):
        if not conn.client_certificates:
            return "the server requires a client certificate (--client-cert and --client-key)"
        return "the server rejected the client certificate"
    if (
        alert in ("unknown_ca", "bad_certificate", "certificate_unknown")
        and conn.client_certificates
    ):
        return "the server does not trust the client certificate's issuer"
    if alert == "unrecognized_name":
        return f"the server does not serve the name {conn.sni!r} (SNI)" if conn.sni else None
    if alert == "no_application_protocol":
        return f"none of the ALPN protocols offered ({', '.join(conn.alpn_offered)}) is served"
    return None


def _not_tls(outcome: LiveOutcome, conn: Connection | None) -> str | None:
    head = outcome.server_head
    if not head or (conn is not None and conn.server_hello is not None):
        return None
    return not_tls(head, outcome.server_bytes)


def not_tls(head: bytes, total: int) -> str | None:
    """What a server's first bytes say when they are not TLS records (None when they are),
    with the start of a plaintext answer (``connect`` and ``scan`` alike). ``total`` is how
    many bytes the server sent; the sentence is raw text for the output's sanitiser."""
    if head[:1] in (b"\x14", b"\x15", b"\x16", b"\x17") and head[1:2] == b"\x03":
        return None  # records; what they said is told elsewhere
    first_line = head.split(b"\n", 1)[0].strip().decode("ascii", "replace")
    if head.startswith(b"HTTP/"):
        return (
            f"The server answered in plaintext HTTP ({first_line!r}): this port speaks HTTP, "
            "not TLS"
        )
    if sum(32 <= b < 127 or b in (9, 10, 13) for b in head) >= 0.9 * len(head):
        return (
            f"The server answered in plaintext ({first_line[:80]!r}), not TLS: a STARTTLS "
            "protocol (--starttls) or the wrong port?"
        )
    return f"The server sent {plural(total, 'byte')} that are not TLS (they begin {head[:16].hex(' ')})"


__all__ = ["LiveOutcome", "Verdict", "likely_reason", "live_verdict", "not_tls"]
