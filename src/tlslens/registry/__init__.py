"""IANA registries: names for every TLS code point, and cipher suite attributes.

Fields in messages keep raw ints; these helpers turn them into names at display
time. They are total: GREASE values (RFC 8701) and unknown codes come back as
readable text carrying the number, never as an exception.
"""

from __future__ import annotations

from tlslens.registry._generated import (
    ALERT_DESCRIPTIONS,
    CERTIFICATE_COMPRESSION,
    CERTIFICATE_STATUS_TYPES,
    CERTIFICATE_TYPES,
    CIPHER_SUITES,
    CONTENT_TYPES,
    EC_POINT_FORMATS,
    EXTENSION_TYPES,
    HANDSHAKE_TYPES,
    HASH_ALGORITHMS,
    NAME_TYPES,
    PSK_KEY_EXCHANGE_MODES,
    SIGNATURE_ALGORITHMS,
    SIGNATURE_SCHEMES,
    SUPPORTED_GROUPS,
    TLS_VERSIONS,
)
from tlslens.registry._types import CipherSuiteInfo

__all__ = [
    "ALERT_DESCRIPTIONS",
    "CERTIFICATE_COMPRESSION",
    "CERTIFICATE_STATUS_TYPES",
    "CERTIFICATE_TYPES",
    "CIPHER_SUITES",
    "CONTENT_TYPES",
    "EC_POINT_FORMATS",
    "EXTENSION_TYPES",
    "HANDSHAKE_TYPES",
    "HASH_ALGORITHMS",
    "NAME_TYPES",
    "PSK_KEY_EXCHANGE_MODES",
    "SIGNATURE_ALGORITHMS",
    "SIGNATURE_SCHEMES",
    "SUPPORTED_GROUPS",
    "TLS_VERSIONS",
    "CipherSuiteInfo",
    "alert_name",
    "cipher_suite_label",
    "cipher_suite_name",
    "content_type_name",
    "extension_name",
    "group_name",
    "handshake_name",
    "is_grease",
    "lookup",
    "signature_scheme_name",
    "tls_base_version",
    "version_name",
]


def is_grease(value: int) -> bool:
    """RFC 8701: 0x0A0A, 0x1A1A, ... 0xFAFA (16-bit code points)."""
    return (value & 0x0F0F) == 0x0A0A and (value >> 8) == (value & 0xFF)


def lookup(table: dict[int, str], value: int, width: int = 4) -> str:
    """Name of ``value`` in ``table``; GREASE and unknown values keep their number."""
    name = table.get(value)
    if name is not None and name != "Reserved":
        return name
    if width == 4 and is_grease(value):
        return f"GREASE (0x{value:04x})"
    return f"unknown (0x{value:0{width}x})"


def cipher_suite_name(value: int) -> str:
    info = CIPHER_SUITES.get(value)
    if info is not None:
        return info.name
    return lookup({}, value)


def group_name(value: int) -> str:
    return lookup(SUPPORTED_GROUPS, value)


def signature_scheme_name(value: int) -> str:
    return lookup(SIGNATURE_SCHEMES, value)


# TLS ClientCertificateType Identifiers (RFC 5246 §7.4.4, RFC 8422 §5.5, RFC 9189): the
# registry is not among the CSVs of shared/iana, so its few values are written here.
CLIENT_CERTIFICATE_TYPES = {
    1: "rsa_sign",
    2: "dss_sign",
    3: "rsa_fixed_dh",
    4: "dss_fixed_dh",
    5: "rsa_ephemeral_dh",
    6: "dss_ephemeral_dh",
    20: "fortezza_dms",
    64: "ecdsa_sign",
    65: "rsa_fixed_ecdh",
    66: "ecdsa_fixed_ecdh",
    67: "gost_sign256",
    68: "gost_sign512",
}


# SSL 2.0 cipher kinds (draft-hickman-netscape-ssl-00 Appendix C; 0x080080 as OpenSSL
# names it): 3-byte values outside the TLS cipher suite space.
SSL2_CIPHER_KINDS = {
    0x010080: "SSL_CK_RC4_128_WITH_MD5",
    0x020080: "SSL_CK_RC4_128_EXPORT40_WITH_MD5",
    0x030080: "SSL_CK_RC2_128_CBC_WITH_MD5",
    0x040080: "SSL_CK_RC2_128_CBC_EXPORT40_WITH_MD5",
    0x050080: "SSL_CK_IDEA_128_CBC_WITH_MD5",
    0x060040: "SSL_CK_DES_64_CBC_WITH_MD5",
    0x0700C0: "SSL_CK_DES_192_EDE3_CBC_WITH_MD5",
    0x080080: "SSL_CK_RC4_64_WITH_MD5",
}


def ssl2_cipher_kind_name(value: int) -> str:
    return SSL2_CIPHER_KINDS.get(value, f"SSLv2 cipher kind 0x{value:06x}")


def cipher_suite_label(value: int) -> str:
    """A cipher suite's name, or an SSL 2.0 cipher kind's (3 bytes, not a TLS suite)."""
    if value > 0xFFFF:
        return ssl2_cipher_kind_name(value)
    return cipher_suite_name(value)


def client_certificate_type_name(value: int) -> str:
    return lookup(CLIENT_CERTIFICATE_TYPES, value, width=2)


def extension_name(value: int) -> str:
    if value == 40 and value not in EXTENSION_TYPES:
        return "key_share (TLS 1.3 drafts before 23)"  # moved to 51 by draft 23
    return lookup(EXTENSION_TYPES, value)


def alert_name(value: int) -> str:
    return lookup(ALERT_DESCRIPTIONS, value, width=2)


def handshake_name(value: int) -> str:
    return lookup(HANDSHAKE_TYPES, value, width=2)


def content_type_name(value: int) -> str:
    return lookup(CONTENT_TYPES, value, width=2)


# The TLS version each DTLS version is built on (its PRF, CBC IVs, key exchange layouts):
# DTLS 1.0 on TLS 1.1 (RFC 4347 §4.1), 1.2 on 1.2, 1.3 on 1.3; OpenSSL's pre-standard
# DTLS1_BAD_VER (0x0100, before 0.9.8f) is DTLS 1.0 as OpenSSL first wrote it.
_DTLS_BASES = {0xFEFF: 0x0302, 0xFEFD: 0x0303, 0xFEFC: 0x0304, 0x0100: 0x0302}


def tls_base_version(value: int) -> int:
    """The TLS version a (D)TLS version works as: itself for TLS and SSL, the TLS version
    a DTLS version is built on."""
    return _DTLS_BASES.get(value, value)


def version_name(value: int) -> str:
    name = TLS_VERSIONS.get(value)
    if name is not None and not name.startswith("Reserved"):
        return name
    # Pre-standard TLS 1.3 code points that the registry does not list.
    if 0x7E01 <= value <= 0x7E03:
        return f"TLS 1.3 (Google experiment {value & 0xFF}, pre-standard)"
    if 0x7F00 <= value <= 0x7FFF:
        return f"TLS 1.3 (draft {value & 0xFF})"
    return lookup({}, value)
