"""Key exchange messages told: whose public value travels, and what that means."""

from __future__ import annotations

from tlslens import registry
from tlslens._text import plural
from tlslens.events import HandshakeEvent
from tlslens.handshake import messages as hs
from tlslens.model import C2S, Connection


def server_key_exchange_lines(conn: Connection, msg: hs.ServerKeyExchange) -> list[str]:
    params = msg.params
    if "named_curve" in params:
        text = (
            f"The server sends its ephemeral ECDHE public key on "
            f"{registry.group_name(params['named_curve'])} ({len(params['public_key'])} bytes)"
        )
    elif "dh_p" in params:
        bits = len(params["dh_p"].lstrip(b"\0")) * 8
        text = f"The server sends ephemeral DH parameters: a {bits}-bit prime, the generator and its public value"
    elif "rsa_modulus" in params:
        bits = len(params["rsa_modulus"].lstrip(b"\0")) * 8
        text = f"The server sends a temporary {bits}-bit RSA key (export-grade key exchange)"
    else:
        text = "The server sends key exchange parameters"
    if msg.signature is not None:
        scheme = (
            registry.signature_scheme_name(msg.signature_scheme)
            if msg.signature_scheme is not None
            else "the suite's default algorithm"
        )
        text += (
            f", signed with {scheme} ({len(msg.signature)} bytes) using the certificate's key, "
            "so the client knows they come from the certificate's owner."
        )
    else:
        text += "."
    return [text]


def client_key_exchange_lines(conn: Connection, msg: hs.ClientKeyExchange) -> list[str]:
    kx = msg.kx or ""
    n = len(msg.exchange_keys)
    if kx in ("RSA", "RSA_PSK"):
        return [
            "The client sends the premaster secret encrypted with the server's RSA public key "
            f"({plural(n, 'byte')}).",
            "Whoever holds the server's private key, now or later, can decrypt this session: "
            "no forward secrecy.",
        ]
    if kx.startswith("ECDH") or kx.startswith("DH"):
        return [
            f"The client sends its {kx} public value ({plural(n, 'byte')}). Each side combines "
            "the other's "
            "public value with its own private one: both get the same premaster secret, which is "
            "never sent."
        ]
    return [f"The client sends its key exchange message ({plural(n, 'byte')})."]


def signature_lines(conn: Connection, event: HandshakeEvent, message: str) -> list[str]:
    """What checking this message's signature showed, on the real bytes."""
    check = next(
        (
            c
            for c in conn.handshake_signatures
            if c.frame == event.frame and c.direction == event.direction and c.message == message
        ),
        None,
    )
    if check is None:
        return []
    who = "client" if event.direction == C2S else "server"
    if check.verified:
        return [
            f"tlslens checked it with the certificate's public key: it verifies ({check.scheme}). "
            f"The {who} proved it holds the private key of the certificate it sent."
        ]
    if check.verified is False:
        return [f"tlslens checked it: it does NOT verify ({check.reason}); a peer must abort here."]
    return [f"Not checked: {check.reason}."]
