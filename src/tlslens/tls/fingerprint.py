"""JA3 and JA3S: the client's and the server's hello reduced to one comparable string.

Pure: a hello in, the fingerprint out. JA3 (Salesforce, BSD-3-Clause) is
"SSLVersion,Ciphers,Extensions,EllipticCurves,EllipticCurvePointFormats" of the
ClientHello, each list in wire order with '-' between decimal values and GREASE (RFC 8701)
left out, and its MD5; JA3S is "SSLVersion,Cipher,Extensions" of the ServerHello. The same
strings tshark prints as tls.handshake.ja3_full and ja3s_full.
"""

from __future__ import annotations

import hashlib

from tlslens.handshake import extensions as ext
from tlslens.handshake import messages as hs
from tlslens.registry import is_grease


def _join(values: list[int] | tuple[int, ...]) -> str:
    return "-".join(str(v) for v in values if not is_grease(v))


def ja3_string(hello: hs.ClientHello) -> str:
    groups = ext.find_decoded(hello.extensions, ext.SUPPORTED_GROUPS, ext.CLIENT_HELLO) or {}
    formats = ext.find_decoded(hello.extensions, ext.EC_POINT_FORMATS, ext.CLIENT_HELLO) or {}
    return ",".join(
        (
            str(hello.legacy_version),
            _join(hello.cipher_suites),
            _join([e.type for e in hello.extensions]),
            _join(groups.get("groups", [])),
            "-".join(str(f) for f in formats.get("formats", [])),
        )
    )


def ja3s_string(hello: hs.ServerHello) -> str:
    return ",".join(
        (
            str(hello.legacy_version),
            str(hello.cipher_suite),
            _join([e.type for e in hello.extensions]),
        )
    )


def md5_hex(text: str) -> str:
    # MD5 is what the fingerprint is defined with, not a security choice.
    return hashlib.md5(text.encode("ascii"), usedforsecurity=False).hexdigest()


__all__ = ["ja3_string", "ja3s_string", "md5_hex"]
