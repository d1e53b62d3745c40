"""TLS extensions: the list in a hello, and each extension's body.

Strategy: an ``Extension`` (the Rust core's, read with its message by
``crates/tlslens-core/src/handshake/extensions_list.rs``) keeps its code and raw body
(so unknown and GREASE extensions survive untouched), and ``decode_extension`` hands a
known body to the core's decoders, which return one typed class per shape
(``tlslens._core``), by the message it sits in, since several extensions (key_share,
supported_versions, pre_shared_key, server_name...) have a different shape in a
ClientHello, a ServerHello, a HelloRetryRequest or EncryptedExtensions. A message read by
the core indexes its extensions by code point and decodes each body once, as its own
(``message.extension(type)``, ``message.decoded(type)``); ``decoded_in`` asks for the shape
it expects, so its callers read typed fields. Names are added at display time from the
registries.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, TypeVar

from tlslens import _core
from tlslens._core import Extension as Extension

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


if TYPE_CHECKING:
    # A union of the core's classes, declared in its stub only.
    from tlslens._core import DecodedExtension, KeyShareList

D = TypeVar("D", bound="DecodedExtension")


def find(extensions: tuple[Extension, ...], ext_type: int) -> Extension | None:
    """The first extension of ``ext_type`` in a bare tuple of extensions; a message answers
    ``message.extension(ext_type)`` itself, without this walk."""
    for ext in extensions:
        if ext.type == ext_type:
            return ext
    return None


class Body(Protocol):
    """What the decoders read of an extension: its code and raw body."""

    @property
    def type(self) -> int: ...
    @property
    def data(self) -> bytes: ...


def decode_extension(ext: Body, message: str) -> DecodedExtension | None:
    """Decode a known extension's body as it appears in ``message`` (one of the message
    names above); None for codes kept raw (unknown, GREASE). The decoders are the core's
    (crates/tlslens-core/src/extensions), one typed class per shape.

    Raises DecodeError on a malformed body; any other exception is a bug.
    """
    return _core.decode_extension(ext.type, ext.data, message)


class Holder(Protocol):
    """A message with extensions (a hello, EncryptedExtensions, a CertificateEntry, a
    CertificateRequest, a NewSessionTicket): the core indexes them by code point."""

    def extension(self, ext_type: int, /) -> Extension | None: ...
    def decoded(self, ext_type: int, /) -> DecodedExtension | None: ...


def decoded_in(holder: Holder | None, ext_type: int, kind: type[D]) -> D | None:
    """The decoded body of the first ``ext_type`` extension of a message (decoded as that
    message's, once, by the core) when it has the shape ``kind``; None when the message or
    the extension is absent, or the body is malformed or of another shape. The result is
    shared: read it, do not change it."""
    if holder is None:
        return None
    value = holder.decoded(ext_type)
    return value if isinstance(value, kind) else None


def key_share_in(holder: Holder | None, kind: type[D]) -> D | None:
    """key_share, under its RFC 8446 code or the code the drafts used."""
    return decoded_in(holder, KEY_SHARE, kind) or decoded_in(holder, DRAFT_KEY_SHARE, kind)


def server_key_share(hello: Holder | None) -> KeyShareList | None:
    """The one key share a ServerHello carries, under either code; None without one."""
    return key_share_in(hello, _core.KeyShareList)


def first_alpn(holder: Holder) -> bytes | None:
    """The first protocol the ALPN extension names, as raw bytes (None without one)."""
    found = holder.extension(ALPN)
    return None if found is None else _core.first_alpn(found.data)
