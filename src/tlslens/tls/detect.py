"""Where TLS starts in a byte stream, who sent it, and what came before in plaintext.

Pure functions over the first bytes of a direction: is this a TLS record header,
an SSLv2-compatible ClientHello, or a plaintext prelude (STARTTLS and friends),
and which end of the connection is the client.
"""

from __future__ import annotations

import re

from tlslens import registry
from tlslens.handshake import messages as hs
from tlslens.tls.record import CT_ALERT, CT_HANDSHAKE, MAX_RECORD

_CLIENT_ONLY = {hs.CLIENT_HELLO, hs.CLIENT_KEY_EXCHANGE}
_SERVER_ONLY = {
    hs.SERVER_HELLO,
    hs.NEW_SESSION_TICKET,
    hs.ENCRYPTED_EXTENSIONS,
    hs.SERVER_KEY_EXCHANGE,
    hs.CERTIFICATE_REQUEST,
    hs.SERVER_HELLO_DONE,
    hs.CERTIFICATE_STATUS,
}
# Ports where the server side of a connection picked up mid-stream is obvious.
_TLS_PORTS = {
    443,
    465,
    563,
    636,
    853,
    989,
    990,
    992,
    993,
    994,
    995,
    5061,
    5223,
    5671,
    8443,
    8883,
    9443,
}

_CLIENT_START_RE = re.compile(rb"\x16\x03[\x00-\x04]..\x01", re.S)
_SERVER_START_RE = re.compile(rb"\x16\x03[\x00-\x04]..\x02|\x15\x03[\x00-\x04]\x00\x02", re.S)

# What a plaintext prelude says about the protocol that upgraded to TLS.
_STARTTLS_HINTS: tuple[tuple[bytes, str], ...] = (
    (b"\x00\x00\x00\x08\x04\xd2\x16\x2f", "PostgreSQL SSLRequest"),
    (b"1.3.6.1.4.1.1466.20037", "LDAP StartTLS"),
    (b"<starttls", "XMPP STARTTLS"),
    (b"ESMTP", "SMTP STARTTLS"),
    (b"EHLO", "SMTP STARTTLS"),
    (b"IMAP4", "IMAP STARTTLS"),
    (b"+OK", "POP3 STLS"),
    (b"NNTP", "NNTP STARTTLS"),
    (b"STARTTLS", "STARTTLS"),
    (b"STLS", "POP3 STLS"),
    (b"AUTH TLS", "FTP AUTH TLS"),
    (b"AUTH SSL", "FTP AUTH SSL"),
    (b"mysql_native_password", "MySQL SSL request"),
    (b"caching_sha2_password", "MySQL SSL request"),
)


def guess_client_side(port0: int, port1: int) -> int:
    """Without a SYN or a hello, the well-known (or lower, privileged) port is the server."""
    if port1 in _TLS_PORTS and port0 not in _TLS_PORTS:
        return 0
    if port0 in _TLS_PORTS and port1 not in _TLS_PORTS:
        return 1
    if port0 < 1024 <= port1:
        return 1
    return 0


def looks_like(data: bytes, at: int) -> str:
    """Which end sends a record that starts at ``at``, judging by its first message."""
    if len(data) > at + 5 and data[at] == CT_HANDSHAKE:
        if data[at + 5] in _CLIENT_ONLY:
            return "client_hello"
        if data[at + 5] in _SERVER_ONLY:
            return "server_hello"
    return "other"


def sslv2_client_hello_length(data: bytes) -> int | None:
    """The record length of an SSLv2-compatible ClientHello (RFC 5246 Appendix E.2)."""
    b0 = data[0]
    if b0 & 0x80 and data[2] == 1 and data[3] in (0, 2, 3):
        return 2 + (((b0 & 0x7F) << 8) | data[1])
    return None


def is_sslv2_server_hello(data: bytes) -> bool:
    return bool(data[0] & 0x80) and data[2] == 4


def plausible_start(data: bytes, *, mid_stream: bool) -> bool:
    """Do at least six bytes look like the first record of a TLS stream?"""
    ctype = data[0]
    if data[1] != 3 or data[2] > 4:
        return False
    length = (data[3] << 8) | data[4]
    if length == 0 or length > MAX_RECORD:
        return False
    if ctype == CT_HANDSHAKE:
        return data[5] in registry.HANDSHAKE_TYPES
    if ctype == CT_ALERT:
        return (length == 2 and data[5] in (1, 2)) or length > 2
    # Mid-stream pickups start with any record type.
    return mid_stream and ctype in (20, 23, 24)


def oversized_start(data: bytes) -> bool:
    """Do at least six bytes open a TLS handshake or alert record, but with a length past
    what TLS allows? (The record layer then says so, rather than the flow going unseen.)"""
    if data[1] != 3 or data[2] > 4 or ((data[3] << 8) | data[4]) <= MAX_RECORD:
        return False
    if data[0] == CT_HANDSHAKE:
        return data[5] in registry.HANDSHAKE_TYPES
    return data[0] == CT_ALERT and data[5] in (1, 2)


def find_tls_start(window: bytes, *, from_client: bool) -> tuple[int, str] | None:
    """In plaintext, the first record that opens TLS from this side: (index, looks_like)."""
    pattern = _CLIENT_START_RE if from_client else _SERVER_START_RE
    match = pattern.search(window)
    while match is not None:
        start = match.start()
        length = (window[start + 3] << 8) | window[start + 4]
        if 0 < length <= MAX_RECORD:
            break
        match = pattern.search(window, start + 1)
    if match is None:
        return None
    begin = match.start()
    looks = "client_hello" if window[begin + 5] == hs.CLIENT_HELLO else "server_hello"
    if window[begin] == CT_ALERT:
        looks = "other"
    return begin, looks


def starttls_protocol(head: bytes) -> str | None:
    """The protocol a plaintext prelude belongs to, from the words it uses."""
    for needle, name in _STARTTLS_HINTS:
        if needle in head:
            return name
    return None
