"""TLS extensions: the list in a hello, and each extension's body.

Strategy: an ``Extension`` (the Rust core's, read with its message by
``crates/tlslens-core/src/handshake/extensions_list.rs``) keeps its code and raw body
(so unknown and GREASE extensions survive untouched), and ``decode_extension`` turns a known body into a
small dict of raw values, by the message it sits in, since several extensions
(key_share, supported_versions, pre_shared_key, server_name...) have a different
shape in a ClientHello, a ServerHello, a HelloRetryRequest or EncryptedExtensions.
Names are added at display time from the registries.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tlslens._buffer import Buffer, BufferReadError
from tlslens._core import Extension as Extension
from tlslens.errors import DecodeError

# Extension code points (IANA "TLS ExtensionType Values").
SERVER_NAME = 0
MAX_FRAGMENT_LENGTH = 1
STATUS_REQUEST = 5
SUPPORTED_GROUPS = 10
EC_POINT_FORMATS = 11
SIGNATURE_ALGORITHMS = 13
USE_SRTP = 14
HEARTBEAT = 15
ALPN = 16
SIGNED_CERTIFICATE_TIMESTAMP = 18
CLIENT_CERTIFICATE_TYPE = 19
SERVER_CERTIFICATE_TYPE = 20
PADDING = 21
ENCRYPT_THEN_MAC = 22
EXTENDED_MASTER_SECRET = 23
COMPRESS_CERTIFICATE = 27
RECORD_SIZE_LIMIT = 28
DELEGATED_CREDENTIAL = 34
SESSION_TICKET = 35
PRE_SHARED_KEY = 41
EARLY_DATA = 42
SUPPORTED_VERSIONS = 43
COOKIE = 44
PSK_KEY_EXCHANGE_MODES = 45
CERTIFICATE_AUTHORITIES = 47
OID_FILTERS = 48
POST_HANDSHAKE_AUTH = 49
SIGNATURE_ALGORITHMS_CERT = 50
KEY_SHARE = 51
DRAFT_KEY_SHARE = 40  # key_share in TLS 1.3 drafts before 23, and Google's experiments
QUIC_TRANSPORT_PARAMETERS = 57
NEXT_PROTOCOL_NEGOTIATION = 13172
APPLICATION_SETTINGS_OLD = 17513
APPLICATION_SETTINGS = 17613
ENCRYPTED_CLIENT_HELLO = 0xFE0D
RENEGOTIATION_INFO = 0xFF01

# The message an extension sits in changes its shape.
CLIENT_HELLO = "client_hello"
SERVER_HELLO = "server_hello"
HELLO_RETRY_REQUEST = "hello_retry_request"
ENCRYPTED_EXTENSIONS = "encrypted_extensions"
CERTIFICATE = "certificate"
CERTIFICATE_REQUEST = "certificate_request"
NEW_SESSION_TICKET = "new_session_ticket"


# Extensions in one hello past which it is flagged as crafted (browsers send about 20).
MANY_EXTENSIONS = 100


def crowding(extensions: tuple[Extension, ...], message: str) -> str | None:
    """Why a hello with this many extensions was crafted, if it has too many."""
    if len(extensions) <= MANY_EXTENSIONS:
        return None
    return (
        f"{message} carries {len(extensions)} extensions; common TLS stacks send fewer than "
        "30, so this hello was crafted (by a fuzzer, a scanner or an attack)"
    )


def find(extensions: tuple[Extension, ...], ext_type: int) -> Extension | None:
    for ext in extensions:
        if ext.type == ext_type:
            return ext
    return None


def find_key_share(extensions: tuple[Extension, ...], message: str) -> dict[str, Any] | None:
    """key_share, under its RFC 8446 code or the code the drafts used."""
    return find_decoded(extensions, KEY_SHARE, message) or find_decoded(
        extensions, DRAFT_KEY_SHARE, message
    )


def find_decoded(
    extensions: tuple[Extension, ...], ext_type: int, message: str
) -> dict[str, Any] | None:
    """The decoded body of an extension; None when it is absent or malformed. The result
    is shared: read it, do not change it."""
    found = find(extensions, ext_type)
    if found is None:
        return None
    # By type and bytes, not by the Extension: builtins hash and compare in C.
    key = (found.type, found.data, message)
    if key in _DECODED:
        return _DECODED[key]
    try:
        value = decode_extension(found, message)
    except DecodeError:
        value = None
    if len(_DECODED) >= _MAX_DECODED:
        _DECODED.clear()
    _DECODED[key] = value
    return value


# The same extension is asked for again and again (the SNI, the groups, the versions by
# the narration, the JSON, the fingerprints): its decoding is kept, a few thousand at most.
_MAX_DECODED = 4096
_DECODED: dict[tuple[int, bytes, str], dict[str, Any] | None] = {}


# -- bodies ----------------------------------------------------------------


def _u16_list(buf: Buffer) -> list[int]:
    return list(buf.pull_list(2, 2))


def _server_name(buf: Buffer, message: str) -> dict[str, Any]:
    if buf.eof():  # ServerHello/EncryptedExtensions: empty acknowledgement
        return {"acknowledged": True}
    names: list[dict[str, Any]] = []
    with buf.pull_block(2):
        while not buf.eof():
            name_type = buf.pull_uint8()
            value = buf.pull_vector(2)
            names.append({"type": name_type, "name": value.decode("ascii", "replace")})
    return {"names": names}


def _status_request(buf: Buffer, message: str) -> dict[str, Any]:
    if buf.eof():
        return {"acknowledged": True}
    status_type = buf.pull_uint8()
    if message == CERTIFICATE:  # RFC 8446 §4.4.2.1: a CertificateStatus in a cert entry
        return {"status_type": status_type, "ocsp_response": buf.pull_vector(3)}
    responder_ids = buf.pull_vector(2)
    request_extensions = buf.pull_vector(2)
    return {
        "status_type": status_type,
        "responder_ids_length": len(responder_ids),
        "request_extensions_length": len(request_extensions),
    }


def _supported_groups(buf: Buffer, message: str) -> dict[str, Any]:
    return {"groups": _u16_list(buf)}


def _ec_point_formats(buf: Buffer, message: str) -> dict[str, Any]:
    return {"formats": list(buf.pull_vector(1))}


def _signature_algorithms(buf: Buffer, message: str) -> dict[str, Any]:
    return {"schemes": _u16_list(buf)}


def _use_srtp(buf: Buffer, message: str) -> dict[str, Any]:
    profiles = _u16_list(buf)
    return {"profiles": profiles, "mki": buf.pull_vector(1).hex()}


def _heartbeat(buf: Buffer, message: str) -> dict[str, Any]:
    return {"mode": buf.pull_uint8()}


def _protocol_list(buf: Buffer) -> list[str]:
    protocols: list[str] = []
    with buf.pull_block(2):
        while not buf.eof():
            protocols.append(buf.pull_vector(1).decode("ascii", "replace"))
    return protocols


def first_alpn(extensions: tuple[Extension, ...]) -> bytes | None:
    """The first protocol the ALPN extension names, as raw bytes (None without one)."""
    found = find(extensions, ALPN)
    if found is None:
        return None
    buf = Buffer(found.data)
    try:
        return buf.pull_vector(1) if buf.pull_uint16() else None
    except BufferReadError:
        return None


def _alpn(buf: Buffer, message: str) -> dict[str, Any]:
    return {"protocols": _protocol_list(buf)}


def _sct(buf: Buffer, message: str) -> dict[str, Any]:
    if buf.eof():
        return {"requested": True}
    scts: list[dict[str, Any]] = []
    with buf.pull_block(2):
        while not buf.eof():
            sct = Buffer(buf.pull_vector(2))
            version = sct.pull_uint8()
            log_id = sct.pull_bytes(32)
            timestamp_ms = int.from_bytes(sct.pull_bytes(8), "big")
            scts.append({"version": version, "log_id": log_id.hex(), "timestamp_ms": timestamp_ms})
    return {"scts": scts}


def _certificate_type(buf: Buffer, message: str) -> dict[str, Any]:
    if message == CLIENT_HELLO:
        return {"types": list(buf.pull_vector(1))}
    return {"type": buf.pull_uint8()}


def _padding(buf: Buffer, message: str) -> dict[str, Any]:
    data = buf.pull_rest()
    return {"length": len(data), "all_zero": not any(data)}


def _empty(buf: Buffer, message: str) -> dict[str, Any]:
    if not buf.eof():
        raise BufferReadError(f"should be empty, holds {buf.remaining} bytes")
    return {}


def _compress_certificate(buf: Buffer, message: str) -> dict[str, Any]:
    return {"algorithms": list(buf.pull_list(1, 2))}


def _record_size_limit(buf: Buffer, message: str) -> dict[str, Any]:
    return {"limit": buf.pull_uint16()}


def _max_fragment_length(buf: Buffer, message: str) -> dict[str, Any]:
    code = buf.pull_uint8()
    return {"code": code, "length": {1: 512, 2: 1024, 3: 2048, 4: 4096}.get(code)}


def _session_ticket(buf: Buffer, message: str) -> dict[str, Any]:
    return {"ticket_length": len(buf.pull_rest())}


def _pre_shared_key(buf: Buffer, message: str) -> dict[str, Any]:
    if message == SERVER_HELLO:
        return {"selected_identity": buf.pull_uint16()}
    identities: list[dict[str, Any]] = []
    with buf.pull_block(2):
        while not buf.eof():
            identity = buf.pull_vector(2)
            age = buf.pull_uint32()
            identities.append(
                {
                    "identity": identity,
                    "identity_length": len(identity),
                    "obfuscated_ticket_age": age,
                }
            )
    binders: list[int] = []
    with buf.pull_block(2):
        while not buf.eof():
            binders.append(len(buf.pull_vector(1)))
    return {"identities": identities, "binder_lengths": binders}


def _early_data(buf: Buffer, message: str) -> dict[str, Any]:
    if message == NEW_SESSION_TICKET:
        return {"max_early_data_size": buf.pull_uint32()}
    return _empty(buf, message)


def _supported_versions(buf: Buffer, message: str) -> dict[str, Any]:
    if message == CLIENT_HELLO:
        return {"versions": list(buf.pull_list(1, 2))}
    return {"selected_version": buf.pull_uint16()}


def _cookie(buf: Buffer, message: str) -> dict[str, Any]:
    return {"cookie_length": len(buf.pull_vector(2))}


def _psk_modes(buf: Buffer, message: str) -> dict[str, Any]:
    return {"modes": list(buf.pull_vector(1))}


def _certificate_authorities(buf: Buffer, message: str) -> dict[str, Any]:
    names: list[bytes] = []
    with buf.pull_block(2):
        while not buf.eof():
            names.append(buf.pull_vector(2))
    return {"authorities": names}


def _key_share(buf: Buffer, message: str) -> dict[str, Any]:
    if message == HELLO_RETRY_REQUEST:
        return {"selected_group": buf.pull_uint16()}
    if message == SERVER_HELLO:
        group = buf.pull_uint16()
        return {"shares": [{"group": group, "key_length": len(buf.pull_vector(2))}]}
    shares: list[dict[str, Any]] = []
    with buf.pull_block(2):
        while not buf.eof():
            group = buf.pull_uint16()
            shares.append({"group": group, "key_length": len(buf.pull_vector(2))})
    return {"shares": shares}


def _renegotiation_info(buf: Buffer, message: str) -> dict[str, Any]:
    return {"renegotiated_connection": buf.pull_vector(1).hex()}


def _ech(buf: Buffer, message: str) -> dict[str, Any]:
    if message == CLIENT_HELLO:
        ech_type = buf.pull_uint8()
        if ech_type == 1:  # inner: empty
            return {"ech_type": "inner"}
        kdf = buf.pull_uint16()
        aead = buf.pull_uint16()
        config_id = buf.pull_uint8()
        enc = buf.pull_vector(2)
        payload = buf.pull_vector(2)
        return {
            "ech_type": "outer",
            "kdf_id": kdf,
            "aead_id": aead,
            "config_id": config_id,
            "enc_length": len(enc),
            "payload_length": len(payload),
        }
    if message == HELLO_RETRY_REQUEST:
        return {"confirmation": buf.pull_bytes(8).hex()}
    return {"retry_configs_length": len(buf.pull_rest())}


def _application_settings(buf: Buffer, message: str) -> dict[str, Any]:
    if message == CLIENT_HELLO:
        return {"protocols": _protocol_list(buf)}
    return {"settings_length": len(buf.pull_rest())}


def _npn(buf: Buffer, message: str) -> dict[str, Any]:
    if message == CLIENT_HELLO:
        return _empty(buf, message)
    protocols: list[str] = []
    while not buf.eof():
        protocols.append(buf.pull_vector(1).decode("ascii", "replace"))
    return {"protocols": protocols}


def _delegated_credential(buf: Buffer, message: str) -> dict[str, Any]:
    return {"schemes": _u16_list(buf)} if message == CLIENT_HELLO else {"length": buf.remaining}


_DECODERS: dict[int, Callable[[Buffer, str], dict[str, Any]]] = {
    SERVER_NAME: _server_name,
    MAX_FRAGMENT_LENGTH: _max_fragment_length,
    STATUS_REQUEST: _status_request,
    SUPPORTED_GROUPS: _supported_groups,
    EC_POINT_FORMATS: _ec_point_formats,
    SIGNATURE_ALGORITHMS: _signature_algorithms,
    USE_SRTP: _use_srtp,
    HEARTBEAT: _heartbeat,
    ALPN: _alpn,
    SIGNED_CERTIFICATE_TIMESTAMP: _sct,
    CLIENT_CERTIFICATE_TYPE: _certificate_type,
    SERVER_CERTIFICATE_TYPE: _certificate_type,
    PADDING: _padding,
    ENCRYPT_THEN_MAC: _empty,
    EXTENDED_MASTER_SECRET: _empty,
    COMPRESS_CERTIFICATE: _compress_certificate,
    RECORD_SIZE_LIMIT: _record_size_limit,
    DELEGATED_CREDENTIAL: _delegated_credential,
    SESSION_TICKET: _session_ticket,
    PRE_SHARED_KEY: _pre_shared_key,
    EARLY_DATA: _early_data,
    SUPPORTED_VERSIONS: _supported_versions,
    COOKIE: _cookie,
    PSK_KEY_EXCHANGE_MODES: _psk_modes,
    CERTIFICATE_AUTHORITIES: _certificate_authorities,
    POST_HANDSHAKE_AUTH: _empty,
    SIGNATURE_ALGORITHMS_CERT: _signature_algorithms,
    KEY_SHARE: _key_share,
    DRAFT_KEY_SHARE: _key_share,
    NEXT_PROTOCOL_NEGOTIATION: _npn,
    APPLICATION_SETTINGS_OLD: _application_settings,
    APPLICATION_SETTINGS: _application_settings,
    ENCRYPTED_CLIENT_HELLO: _ech,
    RENEGOTIATION_INFO: _renegotiation_info,
}


def decode_extension(ext: Extension, message: str) -> dict[str, Any] | None:
    """Decode a known extension's body; None for codes we keep raw.

    Raises DecodeError on a malformed body; any other exception is a bug.
    """
    decoder = _DECODERS.get(ext.type)
    if decoder is None:
        return None
    buf = Buffer(ext.data)
    try:
        value = decoder(buf, message)
        if not buf.eof():
            raise BufferReadError(f"{buf.remaining} bytes left over")
    except (BufferReadError, UnicodeError) as exc:
        raise DecodeError(f"extension {ext.type} in {message}: {exc}", layer="extension") from exc
    return value
