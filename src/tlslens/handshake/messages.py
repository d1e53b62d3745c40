"""Handshake messages, SSL 3.0 to TLS 1.3: the Rust core's classes and their parser.

Strategy: ``parse_message(msg_type, body, ctx)`` hands the body to the core
(``crates/tlslens-core/src/handshake/``), which dispatches on the message type; the
few messages whose layout depends on what was negotiated (Certificate,
CertificateRequest, NewSessionTicket, ServerKeyExchange, ClientKeyExchange,
CertificateVerify) read the negotiated version and key exchange from ``ctx``.
Fields keep raw values (ints, bytes) in the RFCs' names; registries name them
at display time. Malformed bodies raise DecodeError naming the message; any
other exception is a bug.
"""

from __future__ import annotations

from typing import NamedTuple

from tlslens._core import (
    Certificate,
    CertificateEntry,
    CertificateRequest,
    CertificateStatus,
    CertificateVerify,
    ClientHello,
    ClientKeyExchange,
    CompressedCertificate,
    EncryptedExtensions,
    Finished,
    HandshakeMessage,
    KeyUpdate,
    NewSessionTicket,
    OpaqueMessage,
    ServerHello,
    ServerKeyExchange,
    is_tls13_version,
    parse_sslv2_client_hello,
)
from tlslens._core import parse_message as _parse_message

__all__ = [
    "Certificate",
    "CertificateEntry",
    "CertificateRequest",
    "CertificateStatus",
    "CertificateVerify",
    "ClientHello",
    "ClientKeyExchange",
    "CompressedCertificate",
    "EncryptedExtensions",
    "Finished",
    "HandshakeContext",
    "HandshakeMessage",
    "KeyUpdate",
    "NewSessionTicket",
    "OpaqueMessage",
    "ServerHello",
    "ServerKeyExchange",
    "is_tls13_version",
    "parse_message",
    "parse_sslv2_client_hello",
    "selected_version",
]

HELLO_REQUEST = 0
CLIENT_HELLO = 1
SERVER_HELLO = 2
NEW_SESSION_TICKET = 4
END_OF_EARLY_DATA = 5
ENCRYPTED_EXTENSIONS = 8
CERTIFICATE = 11
SERVER_KEY_EXCHANGE = 12
CERTIFICATE_REQUEST = 13
SERVER_HELLO_DONE = 14
CERTIFICATE_VERIFY = 15
CLIENT_KEY_EXCHANGE = 16
FINISHED = 20
CERTIFICATE_URL = 21
CERTIFICATE_STATUS = 22
SUPPLEMENTAL_DATA = 23
KEY_UPDATE = 24
COMPRESSED_CERTIFICATE = 25
MESSAGE_HASH = 254

TLS1_3 = 0x0304


class HandshakeContext(NamedTuple):
    """What was negotiated so far, for messages whose layout depends on it."""

    version: int | None = None  # negotiated protocol version (after supported_versions)
    kx: str | None = None  # key exchange of the cipher suite ("ECDHE", "RSA", ...)
    auth: str | None = None

    @property
    def tls13(self) -> bool:
        v = self.version
        return v is not None and is_tls13_version(v)


def selected_version(hello: ServerHello) -> int:
    """The version a ServerHello (or HelloRetryRequest) selects: supported_versions wins
    (the core reads it once, with the hello)."""
    return hello.selected_version


def parse_message(msg_type: int, body: bytes, ctx: HandshakeContext) -> HandshakeMessage:
    """Decode one handshake message body (without its 4-byte header).

    Raises DecodeError on a malformed body; any other exception is a bug.
    """
    return _parse_message(msg_type, body, ctx.version, ctx.kx, ctx.auth)
