"""The plaintext exchanges that upgrade a connection to TLS (STARTTLS and its relatives).

EDGE helper of ``live``: each function speaks the client side of one protocol over the
recorded ``Channel`` until the server has agreed to start TLS, or writes why it refused
into the outcome. The bytes are part of the recording, so the capture pipeline shows
them as the prelude, as it does for a captured STARTTLS.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable

from tlslens.net.wire import Channel, Plan

_LDAP_STARTTLS_OID = b"1.3.6.1.4.1.1466.20037"
_POSTGRES_SSL_REQUEST = struct.pack("!II", 8, 80877103)
_MYSQL_CLIENT_SSL = 0x0800
_MYSQL_CAPABILITIES = 0x0000_0001 | 0x0000_0200 | 0x0000_0800 | 0x0000_8000 | 0x0008_0000
_XMPP_TLS_NS = "urn:ietf:params:xml:ns:xmpp-tls"


def _lines_done(data: bytes) -> bool:
    return data.endswith(b"\n")


def _reply_line(data: bytes) -> str:
    return data.decode("utf-8", "replace").strip().splitlines()[-1] if data.strip() else ""


def _smtp_like_reply(channel: Channel) -> tuple[int, str]:
    """A multi-line reply of SMTP or FTP: "250-..." lines, then "250 ..."."""

    def complete(data: bytes) -> bool:
        lines = data.split(b"\r\n") if b"\r\n" in data else data.split(b"\n")
        return any(len(line) >= 4 and line[:3].isdigit() and line[3:4] == b" " for line in lines)

    data = channel.read_until(lambda d: _lines_done(d) and complete(d))
    text = data.decode("utf-8", "replace")
    last = next(
        (
            line
            for line in reversed(text.splitlines())
            if line[:3].isascii() and line[:3].isdigit() and line[3:4] == " "
        ),
        text.strip(),
    )
    return int(last[:3]) if last[:3].isascii() and last[:3].isdigit() else 0, text


def _refuse(channel: Channel, text: str) -> None:
    channel.rec.outcome.starttls_refusal = text.strip()[:200] or "no answer"


def smtp(channel: Channel, plan: Plan) -> None:
    code, text = _smtp_like_reply(channel)
    if code != 220:
        return _refuse(channel, f"greeting {_reply_line(text.encode())!r}")
    channel.send(b"EHLO tlslens.invalid\r\n")
    code, text = _smtp_like_reply(channel)
    if code != 250:
        return _refuse(channel, f"EHLO answered {_reply_line(text.encode())!r}")
    if "STARTTLS" not in text.upper():
        return _refuse(channel, "STARTTLS is not among the EHLO extensions")
    channel.send(b"STARTTLS\r\n")
    code, text = _smtp_like_reply(channel)
    if code != 220:
        return _refuse(channel, f"STARTTLS answered {_reply_line(text.encode())!r}")
    return None


def ftp(channel: Channel, plan: Plan) -> None:
    code, text = _smtp_like_reply(channel)
    if code != 220:
        return _refuse(channel, f"greeting {_reply_line(text.encode())!r}")
    channel.send(b"AUTH TLS\r\n")
    code, text = _smtp_like_reply(channel)
    if code != 234:
        return _refuse(channel, f"AUTH TLS answered {_reply_line(text.encode())!r}")
    return None


def imap(channel: Channel, plan: Plan) -> None:
    greeting = channel.read_until(_lines_done)
    if not greeting.startswith(b"* OK"):
        return _refuse(channel, f"greeting {_reply_line(greeting)!r}")
    channel.send(b"a1 STARTTLS\r\n")
    answer = channel.read_until(lambda d: re.search(rb"(^|\n)a1 [^\n]*\n", d) is not None)
    tagged = re.search(rb"(?:^|\n)(a1 [^\r\n]*)", answer)
    line = tagged.group(1) if tagged else answer
    if not line.upper().startswith(b"A1 OK"):
        return _refuse(channel, f"STARTTLS answered {line.decode('utf-8', 'replace')!r}")
    return None


def pop3(channel: Channel, plan: Plan) -> None:
    greeting = channel.read_until(_lines_done)
    if not greeting.startswith(b"+OK"):
        return _refuse(channel, f"greeting {_reply_line(greeting)!r}")
    channel.send(b"STLS\r\n")
    answer = channel.read_until(_lines_done)
    if not answer.startswith(b"+OK"):
        return _refuse(channel, f"STLS answered {_reply_line(answer)!r}")
    return None


def xmpp(channel: Channel, plan: Plan) -> None:
    domain = plan.sni or plan.host
    channel.send(
        (
            "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
            "xmlns:stream='http://etherx.jabber.org/streams' "
            f"to='{_xml_attr(domain)}' version='1.0'>"
        ).encode()
    )
    features = channel.read_until(lambda d: b"</stream:features>" in d or b"</stream:stream>" in d)
    if b"<starttls" not in features:
        return _refuse(channel, "the stream features do not offer <starttls/>")
    channel.send(f"<starttls xmlns='{_XMPP_TLS_NS}'/>".encode())
    answer = channel.read_until(lambda d: b"<proceed" in d or b"<failure" in d)
    if b"<proceed" not in answer:
        return _refuse(channel, f"STARTTLS answered {answer.decode('utf-8', 'replace')!r}")
    return None


def _xml_attr(text: str) -> str:
    return text.replace("&", "&amp;").replace("'", "&apos;").replace("<", "&lt;")


def _ber_length(data: bytes, at: int) -> tuple[int, int] | None:
    """(length, offset of the content) of the BER element whose length byte is at ``at``."""
    if at >= len(data):
        return None
    first = data[at]
    if first < 0x80:
        return first, at + 1
    size = first & 0x7F
    if not 1 <= size <= 4 or at + 1 + size > len(data):
        return None
    return int.from_bytes(data[at + 1 : at + 1 + size], "big"), at + 1 + size


def _ldap_message_complete(data: bytes) -> bool:
    found = _ber_length(data, 1) if data[:1] == b"\x30" else None
    return found is not None and len(data) >= found[0] + found[1]


def ldap(channel: Channel, plan: Plan) -> None:
    # ExtendedRequest (RFC 4511 §4.12) with the StartTLS OID (RFC 4511 §4.14), message ID 1.
    name = b"\x80" + bytes([len(_LDAP_STARTTLS_OID)]) + _LDAP_STARTTLS_OID
    op = b"\x77" + bytes([len(name)]) + name
    body = b"\x02\x01\x01" + op
    channel.send(b"\x30" + bytes([len(body)]) + body)
    answer = channel.read_until(_ldap_message_complete)
    # LDAPMessage { messageID, ExtendedResponse [APPLICATION 24] { resultCode ENUMERATED ...
    code = None
    at = answer.find(b"\x78")
    if at > 0:
        found = _ber_length(answer, at + 1)
        if found is not None and answer[found[1] : found[1] + 2] == b"\x0a\x01":
            code = answer[found[1] + 2]
    if code != 0:
        what = f"resultCode {code}" if code is not None else f"an answer {answer[:32].hex(' ')}"
        return _refuse(channel, f"the StartTLS extended operation was answered with {what}")
    return None


def postgresql(channel: Channel, plan: Plan) -> None:
    channel.send(_POSTGRES_SSL_REQUEST)
    answer = channel.read_until(lambda d: len(d) >= 1)
    if answer[:1] != b"S":
        return _refuse(channel, f"SSLRequest answered {answer[:1]!r} (S would mean yes)")
    return None


def _mysql_packet_complete(data: bytes) -> bool:
    return len(data) >= 4 and len(data) >= 4 + int.from_bytes(data[:3], "little")


def mysql(channel: Channel, plan: Plan) -> None:
    greeting = channel.read_until(_mysql_packet_complete)
    length = int.from_bytes(greeting[:3], "little")
    payload, sequence = greeting[4 : 4 + length], greeting[3]
    if payload[:1] == b"\xff":
        return _refuse(
            channel, f"the server greeted with an error: {payload[3:].decode('utf-8', 'replace')!r}"
        )
    # Initial handshake v10: version, server version\0, thread id, 8 salt bytes, filler,
    # then the lower two bytes of the capability flags.
    end = payload.find(b"\0", 1)
    flags_at = end + 1 + 4 + 8 + 1
    if payload[:1] != b"\x0a" or end < 0 or len(payload) < flags_at + 2:
        return _refuse(channel, f"not a MySQL greeting ({payload[:16].hex(' ')})")
    capabilities = int.from_bytes(payload[flags_at : flags_at + 2], "little")
    if not capabilities & _MYSQL_CLIENT_SSL:
        return _refuse(channel, "the server does not announce CLIENT_SSL")
    # SSLRequest (the first 32 bytes of a HandshakeResponse41): capabilities, max packet,
    # character set (utf8mb4), 23 reserved zero bytes.
    request = struct.pack("<IIB23x", _MYSQL_CAPABILITIES, 1 << 24, 45)
    channel.send(len(request).to_bytes(3, "little") + bytes([sequence + 1]) + request)
    return None


PROTOCOLS: dict[str, Callable[[Channel, Plan], None]] = {
    "smtp": smtp,
    "imap": imap,
    "pop3": pop3,
    "ftp": ftp,
    "xmpp": xmpp,
    "ldap": ldap,
    "postgres": postgresql,
    "mysql": mysql,
}
PROTOCOL_NAMES = {
    "smtp": "SMTP STARTTLS",
    "imap": "IMAP STARTTLS",
    "pop3": "POP3 STLS",
    "ftp": "FTP AUTH TLS",
    "xmpp": "XMPP STARTTLS",
    "ldap": "LDAP StartTLS",
    "postgres": "PostgreSQL SSLRequest",
    "mysql": "MySQL SSL request",
}
WELL_KNOWN_PORTS = {
    25: "smtp",
    587: "smtp",
    143: "imap",
    110: "pop3",
    21: "ftp",
    5222: "xmpp",
    389: "ldap",
    5432: "postgres",
    3306: "mysql",
}


def protocol_for(option: str | None, port: int) -> str | None:
    """The prelude to run: ``--starttls`` when given ("none": no prelude), else the one the
    well-known port implies."""
    protocol = option or WELL_KNOWN_PORTS.get(port)
    return None if protocol == "none" else protocol


__all__ = ["PROTOCOLS", "PROTOCOL_NAMES", "WELL_KNOWN_PORTS", "protocol_for"]
