"""The words narration is made of: algorithm names in plain English, and ``Step``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tlslens import registry
from tlslens.registry import cipher_suite_label

_CIPHER_WORDS = {
    "GCM": "GCM mode",
    "CCM": "CCM mode",
    "CCM_8": "CCM mode with an 8-byte tag",
    "CBC": "CBC mode",
    "POLY1305": "with Poly1305",
}


_HASH_WORDS = {
    "SHA": "SHA-1",
    "SHA256": "SHA-256",
    "SHA384": "SHA-384",
    "SHA512": "SHA-512",
    "MD5": "MD5",
    "SM3": "SM3",
}


KX_WORDS = {
    "ECDHE": "ECDHE (ephemeral elliptic-curve Diffie-Hellman)",
    "DHE": "DHE (ephemeral finite-field Diffie-Hellman)",
    "RSA": "RSA (the client encrypts the premaster secret to the server's key)",
    "ECDH": "static ECDH (the certificate's key; no forward secrecy)",
    "DH": "static DH (the certificate's key; no forward secrecy)",
    "PSK": "a pre-shared key",
    "DH_anon": "anonymous DH (no authentication at all)",
    "ECDH_anon": "anonymous ECDH (no authentication at all)",
}


@dataclass(frozen=True, slots=True)
class Step:
    frame: int
    time: str
    direction: str  # "c2s", "s2c" or "" for notes
    title: str
    lines: tuple[str, ...] = ()
    tone: str = "normal"  # normal | encrypted | warning | error
    extra: dict[str, Any] = field(default_factory=dict)


def describe_cipher_suite(suite: int, version: int | None) -> str:
    """'ECDHE for key exchange, RSA to authenticate the server, AES-256 in GCM mode...'"""
    info = registry.CIPHER_SUITES.get(suite)
    if info is None:
        return f"{cipher_suite_label(suite)}, which no registry describes"
    parts: list[str] = []
    if info.tls13:
        parts.append("the key exchange and authentication come from the extensions (TLS 1.3)")
    else:
        if info.kx:
            parts.append(f"{info.kx} for key exchange")
        if info.auth and info.auth not in ("anon", "PSK", info.kx):
            parts.append(f"{info.auth} to authenticate the server")
        elif info.auth == "anon":
            parts.append("no authentication of the server")
    parts.append(_describe_cipher(info.cipher or "NULL") + " for the data")
    if info.mac and info.mac != "AEAD":
        parts.append(f"HMAC-{_HASH_WORDS.get(info.mac, info.mac)} for integrity")
    base = None if version is None else registry.tls_base_version(version)
    if base is not None and base <= 0x0300:
        parts.append("MD5 and SHA-1 for the key derivation (SSL 3.0's own, not a TLS PRF)")
    elif base is not None and base < 0x0303 and not info.tls13:
        parts.append("MD5+SHA-1 for the handshake hash (TLS 1.0/1.1 PRF)")
    elif info.prf_hash:
        parts.append(f"{_HASH_WORDS.get(info.prf_hash, info.prf_hash)} for the handshake hash")
    return ", ".join(parts)


_KX_ROLES = {
    "ECDHE": "ECDHE (key agreement)",
    "DHE": "DHE (key agreement)",
    "ECDH": "static ECDH (key agreement with the certificate's key)",
    "DH": "static DH (key agreement with the certificate's key)",
    "RSA": "RSA (key transport: the client encrypts the premaster secret to the server's key)",
    "DH_anon": "anonymous DH (key agreement, no one authenticated)",
    "ECDH_anon": "anonymous ECDH (key agreement, no one authenticated)",
    "RSA_PSK": "RSA (key transport, mixed with the pre-shared key)",
    "DHE_PSK": "DHE (key agreement, mixed with the pre-shared key)",
    "ECDHE_PSK": "ECDHE (key agreement, mixed with the pre-shared key)",
}


def algorithm_roles(suite: int, version: int | None, key_exchange: str | None = None) -> str:
    """Which algorithms of the suite are asymmetric (public-key) and which symmetric, and
    what each one does: 'asymmetric: ECDHE (key agreement), RSA (signature); symmetric: ...'"""
    info = registry.CIPHER_SUITES.get(suite)
    if info is None:
        return ""
    asymmetric: list[str] = []
    if info.tls13:
        if key_exchange and key_exchange != "PSK":
            kind = key_exchange.replace("PSK+", "")
            asymmetric.append(f"{kind} (key agreement, from key_share)")
        if key_exchange is None or not key_exchange.startswith("PSK"):
            asymmetric.append("the certificate's key (signature, in CertificateVerify)")
    else:
        kx = info.kx or ""
        if kx in _KX_ROLES:
            asymmetric.append(_KX_ROLES[kx])
        if info.auth and info.auth not in ("anon", "PSK", "NULL") and info.auth != kx:
            asymmetric.append(f"{info.auth} (signature over the key exchange)")
    symmetric = [_describe_cipher(info.cipher or "NULL")]
    if info.mac and info.mac != "AEAD":
        symmetric[0] += " (bulk encryption)"
        symmetric.append(f"HMAC-{_HASH_WORDS.get(info.mac, info.mac)} (integrity)")
    elif info.cipher and info.cipher != "NULL":
        symmetric[0] += " (bulk encryption and integrity)"
    if not asymmetric:
        asymmetric_text = "none: the pre-shared key replaces public-key cryptography"
    else:
        asymmetric_text = ", ".join(asymmetric)
    return f"Asymmetric: {asymmetric_text}; symmetric: {', '.join(symmetric)}."


def _describe_cipher(cipher: str) -> str:
    if cipher == "NULL":
        return "no encryption at all (NULL cipher)"
    tokens = cipher.split("_")
    if tokens[0] == "CHACHA20":
        return "ChaCha20-Poly1305"
    name = tokens[0]
    bits = tokens[1] if len(tokens) > 1 and tokens[1].isdigit() else None
    mode_tokens = tokens[2:] if bits else tokens[1:]
    mode = "_".join(mode_tokens)
    text = f"{name}-{bits}" if bits else name
    if mode:
        text += f" in {_CIPHER_WORDS.get(mode, mode + ' mode')}"
    return text


def name_list(values: list[int] | tuple[int, ...], namer: Any, limit: int = 6) -> str:
    shown = [namer(v) for v in values[:limit]]
    more = len(values) - limit
    text = ", ".join(shown)
    return text + (f" and {more} more" if more > 0 else "")
