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
        out.append(
            ("Forward secrecy", "yes" if fs else "no: a leaked server key opens recorded sessions")
        )
    if conn.alpn:
        out.append(("ALPN", conn.alpn))
    if conn.resumed:
        out.append(("Resumed", f"yes, by {conn.resumed.replace('_', ' ')}"))
    if conn.hello_retry_request is not None:
        out.append(("HelloRetryRequest", "yes"))
    if conn.renegotiation:
        out.append(("Renegotiation", "yes"))
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
