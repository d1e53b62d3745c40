"""Handshake messages tlslens writes itself: the scanner's ClientHellos, the push_ twins of
the parsers in ``messages`` and ``extensions``.

Pure: values in, wire bytes out. Any version from SSL 3.0 to TLS 1.3, any suite, group
and signature list, key shares of any group (the caller supplies their bytes), GREASE
(RFC 8701), and the SSL 2.0 CLIENT-HELLO that detects SSL 2.0 servers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from tlslens._buffer import push_uint8, push_uint16, push_uint24, push_vector
from tlslens.handshake import extensions as ext
from tlslens.handshake import messages as hs

CT_HANDSHAKE = 22
TLS_EMPTY_RENEGOTIATION_INFO_SCSV = 0x00FF
TLS_FALLBACK_SCSV = 0x5600
GREASE_VALUES = tuple(0x0A0A + 0x1010 * i for i in range(16))


@dataclass(slots=True, kw_only=True)
class HelloSpec:
    """Everything a ClientHello says; ``extensions`` after the built-in ones, in order."""

    legacy_version: int
    random: bytes
    session_id: bytes = b""
    cipher_suites: Sequence[int] = ()
    compression_methods: Sequence[int] = (0,)
    server_name: str | None = None
    supported_versions: Sequence[int] = ()  # TLS 1.3 only
    groups: Sequence[int] = ()
    key_shares: Sequence[tuple[int, bytes]] = ()
    signature_algorithms: Sequence[int] = ()
    alpn: Sequence[str] = ()
    status_request: bool = False
    session_ticket: bytes | None = None  # b"" asks for a ticket; None leaves it out
    extended_master_secret: bool = False
    encrypt_then_mac: bool = False
    renegotiation_info: bool = False  # the empty extension (else the SCSV is in the suites)
    ec_point_formats: bool = False
    psk_key_exchange_modes: Sequence[int] = ()
    grease: int | None = None  # one GREASE value for suites, groups, versions, extensions
    extra: list[tuple[int, bytes]] = field(default_factory=list)


def _u16_list(values: Sequence[int]) -> bytes:
    out = bytearray()
    for value in values:
        push_uint16(out, value)
    return bytes(out)


def server_name_body(name: str) -> bytes:
    host = name.encode("idna") if not name.isascii() else name.encode("ascii")
    entry = bytearray([0])  # host_name
    push_vector(entry, 2, host)
    out = bytearray()
    push_vector(out, 2, bytes(entry))
    return bytes(out)


def key_share_body(shares: Sequence[tuple[int, bytes]]) -> bytes:
    entries = bytearray()
    for group, key in shares:
        push_uint16(entries, group)
        push_vector(entries, 2, key)
    out = bytearray()
    push_vector(out, 2, bytes(entries))
    return bytes(out)


def alpn_body(protocols: Sequence[str]) -> bytes:
    names = bytearray()
    for name in protocols:
        push_vector(names, 1, name.encode("ascii"))
    out = bytearray()
    push_vector(out, 2, bytes(names))
    return bytes(out)


def _vector(size: int, body: bytes) -> bytes:
    out = bytearray()
    push_vector(out, size, body)
    return bytes(out)


def push_extensions(spec: HelloSpec) -> bytes:
    items: list[tuple[int, bytes]] = []
    grease = spec.grease
    if grease is not None:
        items.append((grease, b""))
    if spec.server_name:
        items.append((ext.SERVER_NAME, server_name_body(spec.server_name)))
    if spec.extended_master_secret:
        items.append((ext.EXTENDED_MASTER_SECRET, b""))
    if spec.renegotiation_info:
        items.append((ext.RENEGOTIATION_INFO, b"\x00"))
    if spec.groups:
        groups = ([grease] if grease is not None else []) + list(spec.groups)
        items.append((ext.SUPPORTED_GROUPS, _vector(2, _u16_list(groups))))
    if spec.ec_point_formats:
        items.append((ext.EC_POINT_FORMATS, _vector(1, b"\x00")))
    if spec.session_ticket is not None:
        items.append((ext.SESSION_TICKET, spec.session_ticket))
    if spec.alpn:
        items.append((ext.ALPN, alpn_body(spec.alpn)))
    if spec.status_request:
        items.append((ext.STATUS_REQUEST, b"\x01\x00\x00\x00\x00"))  # ocsp, no ids, no exts
    if spec.signature_algorithms:
        items.append((ext.SIGNATURE_ALGORITHMS, _vector(2, _u16_list(spec.signature_algorithms))))
    if spec.encrypt_then_mac:
        items.append((ext.ENCRYPT_THEN_MAC, b""))
    if spec.key_shares or spec.supported_versions:
        items.append((ext.KEY_SHARE, key_share_body(spec.key_shares)))
    if spec.psk_key_exchange_modes:
        items.append((ext.PSK_KEY_EXCHANGE_MODES, _vector(1, bytes(spec.psk_key_exchange_modes))))
    if spec.supported_versions:
        versions = ([grease] if grease is not None else []) + list(spec.supported_versions)
        items.append((ext.SUPPORTED_VERSIONS, _vector(1, _u16_list(versions))))
    items.extend(spec.extra)
    out = bytearray()
    for ext_type, body in items:
        push_uint16(out, ext_type)
        push_vector(out, 2, body)
    return bytes(out)


def push_client_hello(spec: HelloSpec) -> bytes:
    """The ClientHello handshake message (type, length, body)."""
    if len(spec.random) != 32:
        raise ValueError("a ClientHello random is 32 bytes")
    body = bytearray()
    push_uint16(body, spec.legacy_version)
    body += spec.random
    push_vector(body, 1, spec.session_id)
    suites = ([spec.grease] if spec.grease is not None else []) + list(spec.cipher_suites)
    push_vector(body, 2, _u16_list(suites))
    push_vector(body, 1, bytes(spec.compression_methods))
    extensions = push_extensions(spec)
    if extensions or spec.legacy_version > 0x0300:
        push_vector(body, 2, extensions)
    return push_handshake(hs.CLIENT_HELLO, bytes(body))


def push_handshake(msg_type: int, body: bytes) -> bytes:
    out = bytearray()
    push_uint8(out, msg_type)
    push_uint24(out, len(body))
    return bytes(out) + body


def push_records(content_type: int, version: int, payload: bytes) -> bytes:
    """``payload`` as records of at most 2^14 bytes (RFC 8446 §5.1)."""
    out = bytearray()
    for start in range(0, max(len(payload), 1), 1 << 14):
        fragment = payload[start : start + (1 << 14)]
        push_uint8(out, content_type)
        push_uint16(out, version)
        push_vector(out, 2, fragment)
    return bytes(out)


def push_sslv2_client_hello(cipher_kinds: Sequence[int], challenge: bytes) -> bytes:
    """An SSL 2.0 CLIENT-HELLO record offering SSL 2.0 only (RFC 6101 Appendix E)."""
    kinds = b"".join(kind.to_bytes(3, "big") for kind in cipher_kinds)
    body = bytes([1]) + (2).to_bytes(2, "big")  # CLIENT-HELLO, version 2
    body += (
        len(kinds).to_bytes(2, "big") + (0).to_bytes(2, "big") + len(challenge).to_bytes(2, "big")
    )
    body += kinds + challenge
    return (0x8000 | len(body)).to_bytes(2, "big") + body


__all__ = [
    "GREASE_VALUES",
    "TLS_EMPTY_RENEGOTIATION_INFO_SCSV",
    "TLS_FALLBACK_SCSV",
    "HelloSpec",
    "push_client_hello",
    "push_handshake",
    "push_records",
    "push_sslv2_client_hello",
]
