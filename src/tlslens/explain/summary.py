"""The key facts of one connection, as (label, value) pairs; the timing tally of a capture."""

from __future__ import annotations

from tlslens import _core, registry
from tlslens._text import plural, safe_text
from tlslens.events import HandshakeEvent
from tlslens.handshake import messages as hs
from tlslens.model import Connection, Endpoint
from tlslens.outcome import outcome_of
from tlslens.registry import cipher_suite_label
from tlslens.tls.deprecated import deprecation


def connection_title(conn: Connection) -> str:
    """Number, endpoints and SNI: the heading of a connection, and what carried it when
    that is not TCP (the Version line says DTLS itself; the heading comes first)."""
    title = f"Connection {conn.id} · {conn.client} → {conn.server}"
    if conn.sni:
        title += f" · {safe_text(conn.sni)}"
    carrier = carried_over(conn) or ("over DTLS" if conn.transport == "dtls" else None)
    return title + f" · {carrier}" if carrier else title


def carried_over(conn: Connection) -> str | None:
    """ "over QUIC v1" for a QUIC connection, None otherwise: its TLS version alone
    (TLS 1.3) would not tell it from a TCP one."""
    if conn.quic is None:
        return None
    return f"over {_core.quic_version_name(conn.quic.version)}"


def summary_lines(conn: Connection) -> list[tuple[str, str]]:
    """Key facts of a connection, as (label, value) pairs."""
    # The narration's modules, for the text only (show --json and the tables tally here).
    from tlslens.explain.derivation import decryption_summary
    from tlslens.explain.over_udp import dtls_facts
    from tlslens.explain.vocabulary import KX_WORDS

    out: list[tuple[str, str]] = [
        ("Outcome", outcome_of(conn).headline),
        ("Client", str(conn.client)),
        ("Server", str(conn.server)),
    ]
    if conn.sni:
        out.append(("Server name", conn.sni))
    version = conn.version
    if version is not None:
        retired = " (deprecated_version: see the problems)" if deprecation(version) else ""
        carrier = carried_over(conn)
        over = f", {carrier}" if carrier else ""
        out.append(("Version", registry.version_name(version) + over + retired))
    if conn.cipher_suite is not None:
        out.append(("Cipher suite", cipher_suite_label(conn.cipher_suite)))
    if conn.key_exchange:
        kx = KX_WORDS.get(conn.key_exchange, conn.key_exchange)
        if conn.group_name:
            kx += f", {conn.group_name}"
        out.append(("Key exchange", kx))
    fs = conn.forward_secrecy
    if fs is not None:
        if fs:
            words = "yes"
        elif conn.key_exchange == "PSK":
            # Plain PSK: no server key at all; the shared key itself opens every session.
            words = "no: whoever holds the pre-shared key can open recorded sessions"
        else:
            words = "no: a leaked server key opens recorded sessions"
        out.append(("Forward secrecy", words))
    if conn.alpn:
        out.append(("ALPN", conn.alpn))
    if conn.resumed:
        out.append(("Resumed", _resumption_words(conn)))
    if conn.hello_retry_request is not None:
        out.append(("HelloRetryRequest", "yes"))
    if conn.renegotiation:
        out.append(("Renegotiation", _renegotiation_words(conn)))
    if conn.ocsp_stapled:
        out.append(("OCSP stapled", "yes"))
    auth = conn.client_auth
    if auth["requested"]:
        out.append(("Client certificate", "requested, " + ("sent" if auth["sent"] else "not sent")))
    if conn.certificates:
        leaf = conn.certificates[0]
        out.append(("Certificate", leaf.subject or f"unreadable ({leaf.error})"))
    elif (unread := conn.chain_unread()) is not None:
        out.append(("Certificate", f"not read: {unread}"))
    if conn.validation is not None:
        validation = conn.validation
        codes = ", ".join(dict.fromkeys(p.code for p in validation.problems))
        verdict = "trusted" if validation.trusted else "NOT trusted"
        out.append(
            ("Trust", f"{verdict} ({validation.trust_store})" + (f": {codes}" if codes else ""))
        )
    timing = _timing_words(conn)
    if timing:
        out.append(("Timing", timing))
    out.extend(dtls_facts(conn))
    decryption = decryption_summary(conn)
    if decryption is not None:
        out.append(("Decryption", decryption))
    if conn.problems:
        out.append(("Problems", str(len(conn.problems))))
    return out


def _renegotiation_words(conn: Connection) -> str:
    """What the renegotiation was: answered (with what), only asked for, or unseen."""
    later = conn.handshakes[1:]
    answered = [h for h in later if h.server_hello is not None]
    if answered:
        shown = [
            f"frame {h.first_frame}: {registry.version_name(h.version or 0)} "
            f"{registry.cipher_suite_name(h.cipher_suite or 0)}"
            for h in answered[:3]
        ]
        more = f" and {len(answered) - 3} more" if len(answered) > 3 else ""
        return (
            f"yes, {plural(len(answered), 'time')} ({'; '.join(shown)}{more}); the version and "
            "suite "
            "above are the first handshake's"
        )
    if later:
        return (
            f"asked by the client (frame {later[0].first_frame}), never answered by the server "
            "with a ServerHello"
        )
    return "likely: encrypted handshake messages after Finished (a key log shows what they are)"


# What a full TLS <= 1.2 handshake carries that a resumption leaves out (RFC 5246 §7.3).
_FULL_ONLY = (
    (hs.CERTIFICATE, "Certificate"),
    (hs.SERVER_KEY_EXCHANGE, "ServerKeyExchange"),
    (hs.SERVER_HELLO_DONE, "ServerHelloDone"),
    (hs.CLIENT_KEY_EXCHANGE, "ClientKeyExchange"),
)
_SKIPPED_TLS13 = "the server's Certificate and CertificateVerify: the pre-shared key authenticates"


def _resumption_words(conn: Connection) -> str:
    """How, from which connection, and what the abbreviated handshake left out."""
    assert conn.resumed is not None
    how = {"session_id": "session ID", "ticket": "session ticket", "psk": "TLS 1.3 ticket (PSK)"}
    origin = (
        f" issued in connection {conn.resumed_from}"
        if conn.resumed_from is not None
        else " (issued before this capture, or in a connection it cannot see into)"
    )
    text = f"yes, by {how.get(conn.resumed, conn.resumed)}{origin}: an abbreviated handshake"
    if conn.tls13:
        text += f" that skips {_SKIPPED_TLS13}"
        kx = conn.key_exchange or ""
        if "+" in kx:
            text += f"; a fresh {kx.split('+', 1)[1]} still runs (psk_dhe_ke), so it keeps forward secrecy"
        return text
    seen = {e.message.msg_type for e in conn.handshake_events if isinstance(e, HandshakeEvent)}
    skipped = [name for msg_type, name in _FULL_ONLY if msg_type not in seen]
    if not skipped:
        return text
    return (
        text + f": no {', '.join(skipped)} on the wire; no certificate is checked and no key "
        "exchange runs, the resumed master secret and fresh randoms give new keys"
    )


def _timing_words(conn: Connection) -> str | None:
    t = conn.timing
    parts = []
    if t["tcp_handshake_ms"] is not None:
        parts.append(f"TCP SYN to SYN/ACK {t['tcp_handshake_ms']:.1f} ms")
    if t["client_hello_to_server_hello_ms"] is not None:
        parts.append(f"ClientHello to ServerHello {t['client_hello_to_server_hello_ms']:.1f} ms")
    if t["handshake_ms"] is not None:
        parts.append(f"TLS handshake {t['handshake_ms']:.1f} ms (ClientHello to the last Finished)")
    return "; ".join(parts) + ", as seen at the capture point" if parts else None


class ResumptionSavings:
    """Full and abbreviated handshakes of the same server, timed on the user's own traffic:
    does resumption save the expensive part? Bounded: a sample of each kind per server."""

    MAX_SERVERS = 4096
    MAX_SAMPLES = 1001

    def __init__(self) -> None:
        # By (server, SNI): its text is made only for the lines, not once per connection.
        self.samples: dict[tuple[Endpoint, str | None], tuple[list[float], list[float]]] = {}

    def add(self, conn: Connection) -> None:
        """A connection's handshake time (ms), under its server, if it was timed."""
        if conn.server_hello is None:
            return
        # Kept by the row or the narration that read it first (``timing_cache``).
        took = conn.timing["handshake_ms"]
        if took is None:
            return
        server = (conn.server, conn.sni or None)
        entry = self.samples.get(server)
        if entry is None:
            if len(self.samples) >= self.MAX_SERVERS:
                return
            entry = self.samples[server] = ([], [])
        kind = entry[1] if conn.resumed else entry[0]
        if len(kind) < self.MAX_SAMPLES:
            kind.append(took)

    def lines(self) -> list[str]:
        named = {
            str(server) + (f" ({sni})" if sni else ""): kinds
            for (server, sni), kinds in self.samples.items()
        }
        out = []
        for server, (full, short) in sorted(named.items()):
            if not full or not short:
                continue
            import statistics  # here: only a server with resumed handshakes comes this far

            full_ms, short_ms = statistics.median(full), statistics.median(short)
            verdict = (
                f"resumption saved {full_ms - short_ms:.1f} ms a handshake"
                if short_ms < full_ms
                else "resumption saved nothing measurable here"
            )
            out.append(
                f"{server}: full handshakes {full_ms:.1f} ms (median of {len(full)}), "
                f"abbreviated {short_ms:.1f} ms (median of {len(short)}): {verdict}."
            )
        return out
