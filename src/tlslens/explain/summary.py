"""The key facts of one connection, as (label, value) pairs."""

from __future__ import annotations

from tlslens import registry
from tlslens.explain.derivation import decryption_summary
from tlslens.explain.vocabulary import KX_WORDS
from tlslens.model import Connection


def summary_lines(conn: Connection) -> list[tuple[str, str]]:
    """Key facts of a connection, as (label, value) pairs."""
    out: list[tuple[str, str]] = [("Client", str(conn.client)), ("Server", str(conn.server))]
    if conn.sni:
        out.append(("Server name", conn.sni))
    version = conn.version
    if version is not None:
        out.append(("Version", registry.version_name(version)))
    if conn.cipher_suite is not None:
        out.append(("Cipher suite", registry.cipher_suite_name(conn.cipher_suite)))
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
        out.append(("Resumed", f"yes, by {conn.resumed.replace('_', ' ')}"))
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
    if conn.validation is not None:
        validation = conn.validation
        codes = ", ".join(dict.fromkeys(p.code for p in validation.problems))
        verdict = "trusted" if validation.trusted else "NOT trusted"
        out.append(
            ("Trust", f"{verdict} ({validation.trust_store})" + (f": {codes}" if codes else ""))
        )
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
            f"yes, {len(answered)} time(s) ({'; '.join(shown)}{more}); the version and suite "
            "above are the first handshake's"
        )
    if later:
        return (
            f"asked by the client (frame {later[0].first_frame}), never answered by the server "
            "with a ServerHello"
        )
    return "likely: encrypted handshake messages after Finished (a key log shows what they are)"
