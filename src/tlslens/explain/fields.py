"""Every byte of a record header or a handshake message, named and explained.

Strategy: the parsers in handshake/ say what a message means; this module says where each
part of it lies, for a picture that shows the bytes beside their meaning. It walks the raw
bytes with its own cursor and never raises: a length that overruns the message ends the
walk with a field "malformed" over the rest, so a hostile message still gets a picture.
Offsets are within the bytes given (record header: 0..5; message: 0..len(raw)).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tlslens import registry
from tlslens._text import plural
from tlslens.explain.vocabulary import describe_cipher_suite
from tlslens.handshake import compression


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    start: int
    end: int
    value: str
    meaning: str
    children: tuple[Field, ...] = ()


class _OverrunError(Exception):
    """A length field claims more bytes than the message holds (caught in this module)."""


class _Cursor:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos

    def take(self, size: int) -> tuple[int, bytes]:
        if self.pos + size > len(self.data):
            raise _OverrunError
        start = self.pos
        self.pos += size
        return start, self.data[start : self.pos]

    def uint(self, size: int) -> tuple[int, int]:
        start, raw = self.take(size)
        return start, int.from_bytes(raw, "big")


_HELLO_MEANINGS = {
    "client_random": "32 bytes the client chose at random; both randoms go into every key "
    "derived later, so no two connections share keys",
    "server_random": "32 bytes the server chose at random; with the client's random it makes "
    "this connection's keys unique (its last 8 bytes also signal a downgrade)",
    "session_id": "a session to resume (TLS 1.2), or random bytes kept for middlebox "
    "compatibility (TLS 1.3)",
}

_EXTENSION_MEANINGS = {
    0: "the host name the client wants (SNI), in clear text: how one address serves many sites",
    5: "asks the server to staple an OCSP answer: proof that its certificate is not revoked",
    10: "the groups (curves, finite fields, hybrids) the client can use for key exchange",
    11: "the EC point formats the client can read (uncompressed is the only one in use)",
    13: "the signature algorithms the client accepts on handshake signatures and certificates",
    16: "ALPN: the application protocols on offer (h2, http/1.1...), or the one chosen",
    18: "asks for Certificate Transparency proofs (SCTs) of the server's certificate",
    21: "zero bytes that pad the hello to a size some middleboxes handle better",
    22: "encrypt-then-MAC for CBC suites (RFC 7366)",
    23: "extended master secret: the master secret covers the whole handshake (RFC 7627)",
    27: "the certificate compression algorithms the client can read (RFC 8879)",
    28: "the largest record the sender accepts (RFC 8449)",
    35: "a session ticket to resume with (empty: the client can take one)",
    41: "pre-shared key identities to resume with, and binders that prove the key is known",
    42: "the client will send 0-RTT early data",
    43: "the protocol versions on offer (client) or the one chosen (server): how TLS 1.3 is "
    "negotiated",
    44: "a cookie from a HelloRetryRequest, sent back",
    45: "the PSK modes the client accepts (with (EC)DHE: resumption keeps forward secrecy)",
    51: "key shares: the sender's public values for the key exchange, one per group",
    65037: "Encrypted ClientHello: the real hello, encrypted to the server's ECH key",
    65281: "secure renegotiation (RFC 5746): ties a renegotiation to the connection it renews",
}

_MESSAGE_MEANINGS = {
    0: "HelloRequest: the server asks the client to renegotiate",
    1: "ClientHello: what the client can do, and its random",
    2: "ServerHello: what the server chose, and its random",
    4: "NewSessionTicket: a ticket to resume a later connection without a full handshake",
    5: "EndOfEarlyData: the client's 0-RTT data ends here",
    8: "EncryptedExtensions: the server's extensions that need no clear text (TLS 1.3)",
    11: "Certificate: the sender's certificate chain, leaf first",
    12: "ServerKeyExchange: the server's key exchange value, signed with its certificate's key",
    13: "CertificateRequest: the server asks for a client certificate",
    14: "ServerHelloDone: the server's hello messages end here",
    15: "CertificateVerify: a signature over the handshake so far, with the certificate's key",
    16: "ClientKeyExchange: the client's key exchange value (or the encrypted premaster secret)",
    20: "Finished: a MAC over the whole handshake; proves both sides saw the same messages "
    "and derived the same keys",
    22: "CertificateStatus: a stapled OCSP answer about the server's certificate",
    24: "KeyUpdate: the sender moves to the next generation of traffic keys",
    25: "CompressedCertificate: the sender's Certificate message, compressed (RFC 8879)",
}


def record_header_fields(content_type: int, version: int, length: int) -> tuple[bytes, list[Field]]:
    """The five bytes of a record header, and what each part says."""
    raw = bytes([content_type]) + version.to_bytes(2, "big") + length.to_bytes(2, "big")
    return raw, [
        Field(
            "content_type",
            0,
            1,
            f"{content_type} ({registry.content_type_name(content_type)})",
            "which sub-protocol the record carries: handshake (22), change_cipher_spec (20), "
            "alert (21) or application data (23; in TLS 1.3 every encrypted record)",
        ),
        Field(
            "legacy_record_version",
            1,
            3,
            f"0x{version:04x} ({registry.version_name(version)})",
            "the record layer's version: kept at TLS 1.2 or lower for old middleboxes; the "
            "real version is negotiated in the hellos",
        ),
        Field(
            "length",
            3,
            5,
            str(length),
            "the bytes of the record body that follow (at most 16,384 plus expansion)",
        ),
    ]


def alert_fields(body: bytes) -> list[Field]:
    if len(body) < 2:
        return [Field("malformed", 0, len(body), body.hex(), "an alert is two bytes")]
    level = {1: "warning", 2: "fatal"}.get(body[0], "unknown")
    return [
        Field("level", 0, 1, f"{body[0]} ({level})", "fatal alerts end the connection at once"),
        Field(
            "description",
            1,
            2,
            f"{body[1]} ({registry.alert_name(body[1])})",
            "what went wrong, or close_notify: the sender is done",
        ),
    ]


def message_fields(raw: bytes, *, tls13: bool = False) -> list[Field]:
    """The fields of one handshake message (its 4-byte header included)."""
    cur = _Cursor(raw)
    fields: list[Field] = []
    try:
        start, msg_type = cur.uint(1)
        fields.append(
            Field(
                "msg_type",
                start,
                1,
                f"{msg_type} ({registry.handshake_name(msg_type)})",
                _MESSAGE_MEANINGS.get(msg_type, "a handshake message type"),
            )
        )
        start, length = cur.uint(3)
        fields.append(Field("length", start, 4, str(length), "the bytes of the message body"))
        end = min(len(raw), 4 + length)
        body = _Cursor(raw[:end], 4)
        walk = _BODIES.get(msg_type)
        if walk is not None:
            walk(body, fields, tls13)
        if body.pos < end:
            fields.append(
                Field(
                    "body", body.pos, end, plural(end - body.pos, "byte"), "the message's content"
                )
            )
        cur.pos = end
    except _OverrunError:
        pass
    covered = max((f.end for f in fields), default=0)
    if covered < len(raw):
        fields.append(
            Field(
                "malformed",
                covered,
                len(raw),
                plural(len(raw) - covered, "byte"),
                "bytes a length field claims but the message does not hold, or left over",
            )
        )
    return fields


def _vector(
    cur: _Cursor, size_len: int, name: str, meaning: str, value: str | None = None
) -> tuple[Field, bytes]:
    """A length-prefixed vector as one field (the length included)."""
    start, size = cur.uint(size_len)
    _at, data = cur.take(size)
    shown = value if value is not None else (data.hex() if data else "empty")
    return Field(name, start, cur.pos, shown, meaning), data


def _list_of(
    cur: _Cursor,
    size_len: int,
    item: int,
    name: str,
    meaning: str,
    label: Callable[[int], str],
    says: Callable[[int], str] = lambda _value: "",
) -> Field:
    start, size = cur.uint(size_len)
    end = cur.pos + size
    if end > len(cur.data):
        raise _OverrunError
    children = []
    while cur.pos + item <= end:
        at, value = cur.uint(item)
        children.append(Field(name.removesuffix("s"), at, cur.pos, label(value), says(value)))
    cur.pos = end
    return Field(
        name, start, end, plural(len(children), "entry", "entries"), meaning, tuple(children)
    )


def _version(cur: _Cursor, fields: list[Field], meaning: str) -> None:
    start, version = cur.uint(2)
    fields.append(
        Field(
            "legacy_version",
            start,
            cur.pos,
            f"0x{version:04x} ({registry.version_name(version)})",
            meaning,
        )
    )


def _random(cur: _Cursor, fields: list[Field], who: str) -> None:
    start, data = cur.take(32)
    fields.append(Field("random", start, cur.pos, data.hex(), _HELLO_MEANINGS[f"{who}_random"]))


def _extensions(cur: _Cursor, fields: list[Field]) -> None:
    if cur.pos >= len(cur.data):
        return  # extensions may be absent (RFC 5246 §7.4.1.2)
    start, size = cur.uint(2)
    end = min(cur.pos + size, len(cur.data))
    children = []
    while cur.pos + 4 <= end:
        at, ext_type = cur.uint(2)
        _l, ext_len = cur.uint(2)
        if cur.pos + ext_len > end:
            raise _OverrunError
        cur.pos += ext_len
        children.append(
            Field(
                registry.extension_name(ext_type),
                at,
                cur.pos,
                f"type {ext_type}, {plural(ext_len, 'byte')}",
                _EXTENSION_MEANINGS.get(
                    ext_type,
                    "GREASE: a reserved value that checks the peer ignores what it does not know"
                    if registry.is_grease(ext_type)
                    else "an extension",
                ),
            )
        )
    cur.pos = end
    fields.append(
        Field(
            "extensions",
            start,
            end,
            f"{len(children)} extensions",
            "what the hello adds to its fixed part, each as type, length and data",
            tuple(children),
        )
    )


def _client_hello(cur: _Cursor, fields: list[Field], _tls13: bool) -> None:
    _version(cur, fields, "the highest version the client offers before TLS 1.3 (1.3 itself "
             "is offered in supported_versions)")  # fmt: skip
    _random(cur, fields, "client")
    fields.append(_vector(cur, 1, "session_id", _HELLO_MEANINGS["session_id"])[0])
    fields.append(
        _list_of(
            cur,
            2,
            2,
            "cipher_suites",
            "the cipher suites the client accepts, in its order of preference",
            registry.cipher_suite_name,
            lambda suite: describe_cipher_suite(suite, None),
        )
    )
    fields.append(
        _list_of(
            cur,
            1,
            1,
            "compression_methods",
            "compression methods (only null, 0, is safe: compression leaks secrets, CRIME)",
            lambda v: "null" if v == 0 else f"method {v}",
        )
    )
    _extensions(cur, fields)


def _server_hello(cur: _Cursor, fields: list[Field], _tls13: bool) -> None:
    _version(cur, fields, "the version the server chose before TLS 1.3 (TLS 1.3 puts "
             "0x0303 here and the real one in supported_versions)")  # fmt: skip
    _random(cur, fields, "server")
    fields.append(_vector(cur, 1, "session_id", _HELLO_MEANINGS["session_id"])[0])
    start, suite = cur.uint(2)
    fields.append(
        Field(
            "cipher_suite",
            start,
            cur.pos,
            registry.cipher_suite_name(suite),
            f"the cipher suite the server selected: {describe_cipher_suite(suite, None)}",
        )
    )
    start, method = cur.uint(1)
    fields.append(
        Field("compression_method", start, cur.pos, str(method), "the compression chosen")
    )
    _extensions(cur, fields)


def _certificate(cur: _Cursor, fields: list[Field], tls13: bool) -> None:
    if tls13:
        fields.append(
            _vector(cur, 1, "certificate_request_context", "empty, except after a request")[0]
        )
    start, size = cur.uint(3)
    end = cur.pos + size
    if end > len(cur.data):
        raise _OverrunError
    children = []
    number = 0
    while cur.pos + 3 <= end:
        at, cert_len = cur.uint(3)
        cur.take(cert_len)
        number += 1
        which = "the leaf: the sender's own" if number == 1 else "an intermediate or a root"
        children.append(
            Field(f"certificate {number}", at, cur.pos, f"{plural(cert_len, 'byte')} of DER", which)
        )
        if tls13:
            children.append(_vector(cur, 2, "extensions", "per-certificate extensions")[0])
    cur.pos = end
    fields.append(
        Field(
            "certificate_list",
            start,
            end,
            plural(number, "certificate"),
            "the chain, leaf first, each as a 3-byte length and its DER",
            tuple(children),
        )
    )


def _server_key_exchange(cur: _Cursor, fields: list[Field], _tls13: bool) -> None:
    if cur.pos >= len(cur.data) or cur.data[cur.pos] != 3:
        return  # DHE or RSA-export parameters: shown as one body
    start, _curve_type = cur.uint(1)
    fields.append(Field("curve_type", start, cur.pos, "3 (named_curve)", "a named group follows"))
    start, group = cur.uint(2)
    fields.append(
        Field(
            "named_curve",
            start,
            cur.pos,
            registry.group_name(group),
            "the group of the server's ephemeral key",
        )
    )
    fields.append(
        _vector(
            cur,
            1,
            "public",
            "the server's ephemeral public key; with the client's it gives the shared secret",
        )[0]
    )
    _signature(cur, fields, "the server's signature over both randoms and these parameters")


def _signature(cur: _Cursor, fields: list[Field], meaning: str) -> None:
    if cur.pos + 4 > len(cur.data):
        return
    start, scheme = cur.uint(2)
    fields.append(
        Field(
            "signature_algorithm",
            start,
            cur.pos,
            registry.signature_scheme_name(scheme),
            "the signature scheme used",
        )
    )
    fields.append(_vector(cur, 2, "signature", meaning)[0])


def _certificate_verify(cur: _Cursor, fields: list[Field], _tls13: bool) -> None:
    _signature(cur, fields, "a signature over the transcript hash, with the certificate's key")


def _client_key_exchange(cur: _Cursor, fields: list[Field], _tls13: bool) -> None:
    body = len(cur.data) - cur.pos
    if body >= 2 and int.from_bytes(cur.data[cur.pos : cur.pos + 2], "big") == body - 2:
        fields.append(
            _vector(
                cur,
                2,
                "exchange_keys",
                "the premaster secret encrypted to the server's RSA key, or a DH public value",
            )[0]
        )
    elif body >= 1 and cur.data[cur.pos] == body - 1:
        fields.append(_vector(cur, 1, "public", "the client's ephemeral EC public key (ECDHE)")[0])


def _compressed_certificate(cur: _Cursor, fields: list[Field], _tls13: bool) -> None:
    start, algorithm = cur.uint(2)
    fields.append(
        Field(
            "algorithm",
            start,
            cur.pos,
            compression.algorithm_name(algorithm),
            "the compression algorithm, one the peer offered in compress_certificate",
        )
    )
    start, length = cur.uint(3)
    fields.append(
        Field(
            "uncompressed_length",
            start,
            cur.pos,
            str(length),
            "the Certificate message's length once decompressed",
        )
    )
    start, size = cur.uint(3)
    cur.take(size)
    fields.append(
        Field(
            "compressed_certificate_message",
            start,
            cur.pos,
            f"{size} bytes",
            "the Certificate message body, compressed (the transcript hashes it as sent)",
        )
    )


def _finished(cur: _Cursor, fields: list[Field], _tls13: bool) -> None:
    start, data = cur.take(len(cur.data) - cur.pos)
    fields.append(
        Field(
            "verify_data",
            start,
            cur.pos,
            data.hex(),
            "a MAC of the handshake transcript under the finished key: checked by the peer",
        )
    )


_BODIES = {
    1: _client_hello,
    2: _server_hello,
    11: _certificate,
    12: _server_key_exchange,
    15: _certificate_verify,
    16: _client_key_exchange,
    20: _finished,
    25: _compressed_certificate,
}
