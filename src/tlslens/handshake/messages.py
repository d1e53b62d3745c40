"""Handshake messages, SSL 3.0 to TLS 1.3: frozen dataclasses and their parsers.

Strategy: ``parse_message(msg_type, body, ctx)`` dispatches on the message type;
the few messages whose layout depends on what was negotiated (Certificate,
CertificateRequest, NewSessionTicket, ServerKeyExchange, ClientKeyExchange,
CertificateVerify) read the negotiated version and key exchange from ``ctx``.
Fields keep raw values (ints, bytes) in the RFCs' names; registries name them
at display time. Malformed bodies raise DecodeError naming the message; any
other exception is a bug.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tlslens._buffer import Buffer, BufferReadError
from tlslens._core import SelectedVersion
from tlslens.errors import DecodeError
from tlslens.handshake import extensions as ext

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

# RFC 8446 §4.1.3: a ServerHello with this random is a HelloRetryRequest.
HRR_RANDOM = bytes.fromhex("CF21AD74E59A6111BE1D8C021E65B891C2A211167ABB8C5E079E09E2C8A8339C")

TLS1_3 = 0x0304


def is_tls13_version(value: int) -> bool:
    """RFC 8446's 0x0304 and every pre-standard TLS 1.3 code point: the IETF drafts
    (0x7Fxx), Google's experiments (0x7E01-0x7E03) and Facebook's drafts (0xFB17, 0xFB1A)."""
    return value == TLS1_3 or 0x7F00 <= value <= 0x7FFF or value in _TLS13_VARIANTS


_TLS13_VARIANTS = frozenset({0x7E01, 0x7E02, 0x7E03, 0xFB17, 0xFB1A})
SSL3 = 0x0300


@dataclass(frozen=True, slots=True)
class HandshakeContext:
    """What was negotiated so far, for messages whose layout depends on it."""

    version: int | None = None  # negotiated protocol version (after supported_versions)
    kx: str | None = None  # key exchange of the cipher suite ("ECDHE", "RSA", ...)
    auth: str | None = None

    @property
    def tls13(self) -> bool:
        v = self.version
        return v is not None and is_tls13_version(v)


@dataclass(frozen=True, slots=True, kw_only=True)
class HandshakeMessage:
    msg_type: int
    malformed: str | None = None  # why parts of the message could not be read


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientHello(HandshakeMessage):
    legacy_version: int
    random: bytes
    legacy_session_id: bytes
    cipher_suites: tuple[int, ...]
    legacy_compression_methods: bytes
    extensions: tuple[ext.Extension, ...]
    sslv2: bool = False  # sent in the SSLv2-compatible format (RFC 5246 Appendix E.2)


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerHello(HandshakeMessage):
    legacy_version: int
    random: bytes
    legacy_session_id: bytes
    cipher_suite: int
    legacy_compression_method: int
    extensions: tuple[ext.Extension, ...]

    @property
    def is_hello_retry_request(self) -> bool:
        return self.random == HRR_RANDOM


@dataclass(frozen=True, slots=True, kw_only=True)
class NewSessionTicket(HandshakeMessage):
    ticket_lifetime: int
    ticket_age_add: int | None
    ticket_nonce: bytes | None
    ticket: bytes = field(repr=False)
    extensions: tuple[ext.Extension, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class EncryptedExtensions(HandshakeMessage):
    extensions: tuple[ext.Extension, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class CertificateEntry:
    cert_data: bytes = field(repr=False)
    extensions: tuple[ext.Extension, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Certificate(HandshakeMessage):
    certificate_request_context: bytes | None  # TLS 1.3 only
    certificate_list: tuple[CertificateEntry, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerKeyExchange(HandshakeMessage):
    kx: str | None  # the key exchange this was read as
    params: dict[str, Any]
    signature_scheme: int | None  # TLS 1.2 SignatureAndHashAlgorithm
    signature: bytes | None = field(repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class CertificateRequest(HandshakeMessage):
    certificate_request_context: bytes | None
    certificate_types: bytes
    signature_schemes: tuple[int, ...]
    certificate_authorities: tuple[bytes, ...]
    extensions: tuple[ext.Extension, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class CertificateVerify(HandshakeMessage):
    signature_scheme: int | None
    signature: bytes = field(repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientKeyExchange(HandshakeMessage):
    kx: str | None
    params: dict[str, Any]
    exchange_keys: bytes = field(repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Finished(HandshakeMessage):
    verify_data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class CertificateStatus(HandshakeMessage):
    status_type: int
    response: bytes = field(repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyUpdate(HandshakeMessage):
    request_update: int


@dataclass(frozen=True, slots=True, kw_only=True)
class CompressedCertificate(HandshakeMessage):
    algorithm: int
    uncompressed_length: int
    compressed_certificate_message: bytes = field(repr=False)
    certificate: Certificate | None = None  # once opened (handshake/compression.py)


@dataclass(frozen=True, slots=True, kw_only=True)
class OpaqueMessage(HandshakeMessage):
    """Empty messages (HelloRequest, ServerHelloDone, EndOfEarlyData) and ones kept raw."""

    body: bytes = field(repr=False)


def selected_version(hello: ServerHello) -> int:
    """The version a ServerHello (or HelloRetryRequest) selects: supported_versions wins."""
    value = ext.find_decoded(
        hello.extensions, ext.SUPPORTED_VERSIONS, ext.SERVER_HELLO, SelectedVersion
    )
    return value.selected_version if value is not None else hello.legacy_version


# -- parsers ---------------------------------------------------------------


def _pull_client_hello(buf: Buffer, ctx: HandshakeContext) -> ClientHello:
    legacy_version = buf.pull_uint16()
    random = buf.pull_bytes(32)
    session_id = buf.pull_vector(1)
    suites = buf.pull_list(2, 2)
    compression = buf.pull_vector(1)
    extensions, problem = ext.pull_extensions(buf, "ClientHello")
    return ClientHello(
        msg_type=CLIENT_HELLO,
        legacy_version=legacy_version,
        random=random,
        legacy_session_id=session_id,
        cipher_suites=suites,
        legacy_compression_methods=compression,
        extensions=extensions,
        malformed=problem,
    )


def _pull_server_hello(buf: Buffer, ctx: HandshakeContext) -> ServerHello:
    legacy_version = buf.pull_uint16()
    random = buf.pull_bytes(32)
    # TLS 1.3 drafts before -22 dropped the session id and compression (draft version in
    # legacy_version 0x7fxx).
    draft = 0x7F00 <= legacy_version < 0x7F16
    session_id = b"" if draft else buf.pull_vector(1)
    suite = buf.pull_uint16()
    compression = 0 if draft else buf.pull_uint8()
    name = "HelloRetryRequest" if random == HRR_RANDOM else "ServerHello"
    extensions, problem = ext.pull_extensions(buf, name)
    return ServerHello(
        msg_type=SERVER_HELLO,
        legacy_version=legacy_version,
        random=random,
        legacy_session_id=session_id,
        cipher_suite=suite,
        legacy_compression_method=compression,
        extensions=extensions,
        malformed=problem,
    )


def _pull_new_session_ticket(buf: Buffer, ctx: HandshakeContext) -> NewSessionTicket:
    lifetime = buf.pull_uint32()
    if not ctx.tls13:  # RFC 5077 §3.3
        return NewSessionTicket(
            msg_type=NEW_SESSION_TICKET,
            ticket_lifetime=lifetime,
            ticket_age_add=None,
            ticket_nonce=None,
            ticket=buf.pull_vector(2),
        )
    age_add = buf.pull_uint32()
    nonce = buf.pull_vector(1)
    ticket = buf.pull_vector(2)
    extensions, problem = ext.pull_extensions(buf, "NewSessionTicket")
    return NewSessionTicket(
        msg_type=NEW_SESSION_TICKET,
        ticket_lifetime=lifetime,
        ticket_age_add=age_add,
        ticket_nonce=nonce,
        ticket=ticket,
        extensions=extensions,
        malformed=problem,
    )


def _pull_encrypted_extensions(buf: Buffer, ctx: HandshakeContext) -> EncryptedExtensions:
    extensions, problem = ext.pull_extensions(buf, "EncryptedExtensions")
    return EncryptedExtensions(
        msg_type=ENCRYPTED_EXTENSIONS, extensions=extensions, malformed=problem
    )


def _pull_certificate(buf: Buffer, ctx: HandshakeContext) -> Certificate:
    context = buf.pull_vector(1) if ctx.tls13 else None
    entries: list[CertificateEntry] = []
    with buf.pull_block(3):
        while not buf.eof():
            data = buf.pull_vector(3)
            if ctx.tls13:
                exts_raw = buf.pull_vector(2)
                exts, _problem = ext.pull_extensions(
                    Buffer(len(exts_raw).to_bytes(2, "big") + exts_raw), "CertificateEntry"
                )
                entries.append(CertificateEntry(cert_data=data, extensions=exts))
            else:
                entries.append(CertificateEntry(cert_data=data))
    return Certificate(
        msg_type=CERTIFICATE, certificate_request_context=context, certificate_list=tuple(entries)
    )


def _pull_signature(buf: Buffer, ctx: HandshakeContext) -> tuple[int | None, bytes]:
    # TLS 1.2 added the SignatureAndHashAlgorithm in front (RFC 5246 §7.4.1.4.1).
    scheme = None
    if ctx.version is None or ctx.version >= 0x0303:
        scheme = buf.pull_uint16()
    return scheme, buf.pull_vector(2)


def _pull_server_key_exchange(buf: Buffer, ctx: HandshakeContext) -> ServerKeyExchange:
    kx = ctx.kx or ""
    auth = ctx.auth or ""
    params: dict[str, Any] = {}
    if "PSK" in kx or auth == "PSK":
        params["psk_identity_hint"] = buf.pull_vector(2).decode("utf-8", "replace")
    if kx.startswith("ECDH") or (kx == "ECDHE" and auth == "PSK"):
        curve_type = buf.pull_uint8()
        params["curve_type"] = curve_type
        if curve_type == 3:  # named_curve
            params["named_curve"] = buf.pull_uint16()
        elif curve_type in (1, 2):  # explicit prime/char2: long obsolete, keep raw
            raise BufferReadError(f"explicit curve parameters (type {curve_type}) not decoded")
        params["public_key"] = buf.pull_vector(1)
    elif kx.startswith("DH"):
        params["dh_p"] = buf.pull_vector(2)
        params["dh_g"] = buf.pull_vector(2)
        params["dh_Ys"] = buf.pull_vector(2)
    elif kx == "RSA":  # RSA_EXPORT: a temporary 512-bit RSA key
        params["rsa_modulus"] = buf.pull_vector(2)
        params["rsa_exponent"] = buf.pull_vector(2)
    elif kx == "SRP":
        for name, size in (("srp_N", 2), ("srp_g", 2), ("srp_s", 1), ("srp_B", 2)):
            params[name] = buf.pull_vector(size)
    elif kx != "PSK":
        params["raw"] = buf.pull_rest()
    scheme, signature = None, None
    if not buf.eof() and auth not in ("anon", "PSK"):
        scheme, signature = _pull_signature(buf, ctx)
    return ServerKeyExchange(
        msg_type=SERVER_KEY_EXCHANGE,
        kx=ctx.kx,
        params=params,
        signature_scheme=scheme,
        signature=signature,
    )


def _pull_certificate_request(buf: Buffer, ctx: HandshakeContext) -> CertificateRequest:
    if ctx.tls13:
        context = buf.pull_vector(1)
        extensions, problem = ext.pull_extensions(buf, "CertificateRequest")
        schemes: tuple[int, ...] = ()
        sig_ext = ext.find(extensions, ext.SIGNATURE_ALGORITHMS)
        if sig_ext is not None:
            schemes = tuple(Buffer(sig_ext.data).pull_list(2, 2))
        return CertificateRequest(
            msg_type=CERTIFICATE_REQUEST,
            certificate_request_context=context,
            certificate_types=b"",
            signature_schemes=schemes,
            certificate_authorities=(),
            extensions=extensions,
            malformed=problem,
        )
    types = buf.pull_vector(1)
    schemes = ()
    if ctx.version is None or ctx.version >= 0x0303:
        schemes = buf.pull_list(2, 2)
    authorities: list[bytes] = []
    with buf.pull_block(2):
        while not buf.eof():
            authorities.append(buf.pull_vector(2))
    return CertificateRequest(
        msg_type=CERTIFICATE_REQUEST,
        certificate_request_context=None,
        certificate_types=types,
        signature_schemes=schemes,
        certificate_authorities=tuple(authorities),
    )


def _pull_certificate_verify(buf: Buffer, ctx: HandshakeContext) -> CertificateVerify:
    scheme, signature = _pull_signature(buf, ctx)
    return CertificateVerify(
        msg_type=CERTIFICATE_VERIFY, signature_scheme=scheme, signature=signature
    )


def _pull_client_key_exchange(buf: Buffer, ctx: HandshakeContext) -> ClientKeyExchange:
    kx = ctx.kx or ""
    params: dict[str, Any] = {}
    if "PSK" in kx or ctx.auth == "PSK":
        params["psk_identity"] = buf.pull_vector(2).decode("utf-8", "replace")
    if kx == "RSA" or kx == "RSA_PSK":
        # SSL 3.0 sends the encrypted premaster without a length prefix.
        if ctx.version == SSL3:
            keys = buf.pull_rest()
        else:
            keys = buf.pull_vector(2)
        params["encrypted_pre_master_secret_length"] = len(keys)
    elif kx.startswith("ECDH"):
        keys = buf.pull_vector(1)
        params["ecdh_Yc_length"] = len(keys)
    elif kx.startswith("DH"):
        keys = buf.pull_vector(2)
        params["dh_Yc_length"] = len(keys)
    elif kx == "SRP":
        keys = buf.pull_vector(2)
    else:
        keys = buf.pull_rest()
    return ClientKeyExchange(
        msg_type=CLIENT_KEY_EXCHANGE, kx=ctx.kx, params=params, exchange_keys=keys
    )


def _pull_certificate_status(buf: Buffer, ctx: HandshakeContext) -> CertificateStatus:
    status_type = buf.pull_uint8()
    return CertificateStatus(
        msg_type=CERTIFICATE_STATUS, status_type=status_type, response=buf.pull_vector(3)
    )


def _pull_key_update(buf: Buffer, ctx: HandshakeContext) -> KeyUpdate:
    return KeyUpdate(msg_type=KEY_UPDATE, request_update=buf.pull_uint8())


def _pull_compressed_certificate(buf: Buffer, ctx: HandshakeContext) -> CompressedCertificate:
    algorithm = buf.pull_uint16()
    length = buf.pull_uint24()
    return CompressedCertificate(
        msg_type=COMPRESSED_CERTIFICATE,
        algorithm=algorithm,
        uncompressed_length=length,
        compressed_certificate_message=buf.pull_vector(3),
    )


def _pull_finished(buf: Buffer, ctx: HandshakeContext) -> Finished:
    return Finished(msg_type=FINISHED, verify_data=buf.pull_rest())


_PARSERS = {
    CLIENT_HELLO: _pull_client_hello,
    SERVER_HELLO: _pull_server_hello,
    NEW_SESSION_TICKET: _pull_new_session_ticket,
    ENCRYPTED_EXTENSIONS: _pull_encrypted_extensions,
    CERTIFICATE: _pull_certificate,
    SERVER_KEY_EXCHANGE: _pull_server_key_exchange,
    CERTIFICATE_REQUEST: _pull_certificate_request,
    CERTIFICATE_VERIFY: _pull_certificate_verify,
    CLIENT_KEY_EXCHANGE: _pull_client_key_exchange,
    FINISHED: _pull_finished,
    CERTIFICATE_STATUS: _pull_certificate_status,
    KEY_UPDATE: _pull_key_update,
    COMPRESSED_CERTIFICATE: _pull_compressed_certificate,
}
_EMPTY = {HELLO_REQUEST, SERVER_HELLO_DONE, END_OF_EARLY_DATA}


def parse_message(msg_type: int, body: bytes, ctx: HandshakeContext) -> HandshakeMessage:
    """Decode one handshake message body (without its 4-byte header).

    Raises DecodeError on a malformed body; any other exception is a bug.
    """
    parser = _PARSERS.get(msg_type)
    if parser is None:
        if msg_type in _EMPTY and body:
            raise DecodeError(
                f"message type {msg_type} should be empty, holds {len(body)} bytes",
                layer="handshake",
            )
        return OpaqueMessage(msg_type=msg_type, body=body)
    buf = Buffer(body)
    try:
        message = parser(buf, ctx)
        if not buf.eof():
            raise BufferReadError(f"{buf.remaining} bytes after the end of the message")
    except BufferReadError as exc:
        raise DecodeError(f"message type {msg_type}: {exc}", layer="handshake") from exc
    return message


def parse_sslv2_client_hello(record: bytes) -> ClientHello:
    """An SSLv2-format ClientHello (RFC 5246 Appendix E.2), header included.

    The 3-byte SSLv2 cipher specs whose first byte is zero are TLS cipher suites;
    the others (SSLv2-only kinds) are kept with the 0x00xxxx they map to outside
    the 16-bit space, so nothing is dropped.
    """
    buf = Buffer(record)
    try:
        buf.pull_uint16()  # record header: high bit + 15-bit length
        if buf.pull_uint8() != 1:
            raise BufferReadError("not an SSLv2 CLIENT-HELLO")
        version = buf.pull_uint16()
        spec_len = buf.pull_uint16()
        sid_len = buf.pull_uint16()
        challenge_len = buf.pull_uint16()
        if spec_len % 3:
            raise BufferReadError(f"cipher spec length {spec_len} is not a multiple of 3")
        specs = buf.pull_bytes(spec_len)
        session_id = buf.pull_bytes(sid_len)
        challenge = buf.pull_bytes(challenge_len)
    except BufferReadError as exc:
        raise DecodeError(f"SSLv2 ClientHello: {exc}", layer="handshake") from exc
    suites = tuple(int.from_bytes(specs[i : i + 3], "big") for i in range(0, len(specs), 3))
    # The challenge becomes the right-aligned, zero-padded client random.
    random = challenge[-32:].rjust(32, b"\x00")
    return ClientHello(
        msg_type=CLIENT_HELLO,
        legacy_version=version,
        random=random,
        legacy_session_id=session_id,
        cipher_suites=suites,
        legacy_compression_methods=b"\x00",
        extensions=(),
        sslv2=True,
    )
