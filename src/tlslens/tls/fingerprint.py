"""JA3, JA3S and JA4: the client's and the server's hello reduced to comparable strings.

Pure: a hello in, the fingerprint out. JA3 (Salesforce, BSD-3-Clause) is
"SSLVersion,Ciphers,Extensions,EllipticCurves,EllipticCurvePointFormats" of the
ClientHello, each list in wire order with '-' between decimal values and GREASE (RFC 8701)
left out, and its MD5; JA3S is "SSLVersion,Cipher,Extensions" of the ServerHello. The same
strings tshark prints as tls.handshake.ja3_full and ja3s_full.

JA4 (FoxIO, BSD-3-Clause; the client fingerprint only: JA4S and the rest of JA4+ are under
the FoxIO License 1.1 and left out) is "a_b_c": a = transport ("t": TLS over TCP, "q":
QUIC, "d": DTLS; the connection's transport, not guessed from the hello), the
highest version offered (supported_versions, else the hello's), "d" with an SNI or "i"
without, the counts of cipher suites and of extensions (two digits each, at most 99), the
first and last characters of the first ALPN protocol ("00" without one); b = the first 12
hex digits of the SHA-256 of the suites, as 4-digit hex sorted, comma-separated; c = the
same of the extensions sorted (SNI and ALPN left out), "_", the signature algorithms in
wire order. GREASE is left out everywhere. An SSLv2-format CLIENT-HELLO (RFC 5246
Appendix E.2) has a JA4 too, from its version ("s2" for SSL 2.0, in FoxIO's table), its
cipher specs (those outside the 16-bit space of TLS suites, SSL 2.0's own kinds, in six
hex digits) and no extensions; it has no JA3, as tshark gives none.
"""

from __future__ import annotations

import hashlib

from tlslens._core import ECPointFormats, SignatureSchemes, SupportedGroups, SupportedVersions
from tlslens.handshake import extensions as ext
from tlslens.handshake import messages as hs
from tlslens.registry import is_grease


def _join(values: list[int] | tuple[int, ...]) -> str:
    return "-".join(str(v) for v in values if not is_grease(v))


def ja3_string(hello: hs.ClientHello) -> str:
    groups = ext.decoded_in(hello, ext.SUPPORTED_GROUPS, SupportedGroups)
    formats = ext.decoded_in(hello, ext.EC_POINT_FORMATS, ECPointFormats)
    return ",".join(
        (
            str(hello.legacy_version),
            _join(hello.cipher_suites),
            _join([e.type for e in hello.extensions]),
            _join(groups.groups if groups is not None else []),
            "-".join(str(f) for f in (formats.formats if formats is not None else [])),
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


_JA4_VERSIONS = {
    0x0304: "13",
    0x0303: "12",
    0x0302: "11",
    0x0301: "10",
    0x0300: "s3",
    0x0002: "s2",
    0xFEFF: "d1",
    0xFEFD: "d2",
    0xFEFC: "d3",
}


# JA4's first character: the protocol that carried the hello (FoxIO's JA4.md).
_JA4_PROTOCOLS = {"tcp": "t", "quic": "q", "dtls": "d"}


def _alnum(byte: int) -> bool:
    return 0x30 <= byte <= 0x39 or 0x41 <= byte <= 0x5A or 0x61 <= byte <= 0x7A


def _ja4_alpn(protocol: bytes | None) -> str:
    if not protocol:
        return "00"
    if _alnum(protocol[0]) and _alnum(protocol[-1]):
        return chr(protocol[0]) + chr(protocol[-1])
    # A byte that is not a letter or a digit: the first and last hex digits instead.
    digits = protocol.hex()
    return digits[0] + digits[-1]


def _sha12(text: str) -> str:
    if not text:
        return "000000000000"
    return hashlib.sha256(text.encode("ascii")).hexdigest()[:12]


def ja4_parts(hello: hs.ClientHello, transport: str = "tcp") -> tuple[str, str, str]:
    """JA4's three parts before hashing: (a, the sorted suites, the sorted extensions and
    signature algorithms), as JA4_r prints them. ``transport`` (a ``model.Transport``) is
    what carried the hello: JA4 starts with "q" for QUIC, "d" for DTLS, "t" otherwise."""
    versions = ext.decoded_in(hello, ext.SUPPORTED_VERSIONS, SupportedVersions)
    offered = [v for v in (versions.versions if versions else []) if not is_grease(v)]
    version = max(offered) if offered else hello.legacy_version
    suites = [s for s in hello.cipher_suites if not is_grease(s)]
    types = [e.type for e in hello.extensions if not is_grease(e.type)]
    sni = "d" if ext.SERVER_NAME in types else "i"
    a = (
        f"{_JA4_PROTOCOLS.get(transport, 't')}{_JA4_VERSIONS.get(version, '00')}{sni}{min(len(suites), 99):02d}"
        f"{min(len(types), 99):02d}{_ja4_alpn(ext.first_alpn(hello))}"
    )
    hashed = sorted(t for t in types if t not in (ext.SERVER_NAME, ext.ALPN))
    schemes = ext.decoded_in(hello, ext.SIGNATURE_ALGORITHMS, SignatureSchemes)
    algorithms = [s for s in (schemes.schemes if schemes else []) if not is_grease(s)]
    c = ",".join(f"{t:04x}" for t in hashed)
    if algorithms:
        c += "_" + ",".join(f"{s:04x}" for s in algorithms)
    # SSL 2.0's own cipher kinds lie outside the 16-bit space: all three bytes, in hex.
    return a, ",".join(f"{s:04x}" if s <= 0xFFFF else f"{s:06x}" for s in sorted(suites)), c


def ja4(hello: hs.ClientHello, transport: str = "tcp") -> str:
    a, b, c = ja4_parts(hello, transport)
    return f"{a}_{_sha12(b)}_{_sha12(c)}"


# What the client fingerprints read of a hello besides its version, suites and extension
# types: the bodies of these extensions (the rest, randoms and key shares included, differ
# from one connection to the next while the fingerprints stay those of the client's stack).
_READ = frozenset(
    (
        ext.SUPPORTED_GROUPS,
        ext.EC_POINT_FORMATS,
        ext.SUPPORTED_VERSIONS,
        ext.SIGNATURE_ALGORITHMS,
        ext.ALPN,
    )
)
_SEEN: dict[tuple[object, ...], tuple[str, str]] = {}
_MAX_SEEN = 4096  # distinct client stacks remembered; a fleet has few


def client_fingerprints(hello: hs.ClientHello, transport: str = "tcp") -> tuple[str | None, str]:
    """(JA3 as MD5 hex, JA4) of a ClientHello carried over ``transport``, remembered for the
    next hello of the same client stack (the same suites and extensions: the fingerprints
    only read those). An SSLv2-format hello has no JA3 (None)."""
    if hello.sslv2:
        return None, ja4(hello)
    key = (
        transport,
        hello.legacy_version,
        hello.cipher_suites,
        *[(e.type, e.data if e.type in _READ else None) for e in hello.extensions],
    )
    found = _SEEN.get(key)
    if found is None:
        found = (md5_hex(ja3_string(hello)), ja4(hello, transport))
        if len(_SEEN) >= _MAX_SEEN:
            _SEEN.clear()
        _SEEN[key] = found
    return found


__all__ = ["client_fingerprints", "ja3_string", "ja3s_string", "ja4", "ja4_parts", "md5_hex"]
