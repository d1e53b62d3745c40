"""Just enough DER to hand ``cryptography`` what it reads: a mended OCSP response, a bare name.

Strategy: ``cryptography`` parses X.509 and OCSP strictly. Some responders encode
``version [0] EXPLICIT DEFAULT v1`` in an OCSP ResponseData, which DER forbids (X.690
§11.5) and OpenSSL and Wireshark accept. ``drop_default_ocsp_version`` rewrites the
response without that field, so that ``cryptography`` can read it, and hands back the
original ResponseData bytes, which the responder's signature covers. No other byte
changes; anything unexpected leaves the input alone.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography import x509

_SEQUENCE = 0x30
_OCTET_STRING = 0x04
_CONTEXT_0 = 0xA0


def _header(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start of content, content length) of the TLV at ``pos``; ValueError if bad."""
    if pos + 2 > len(data):
        raise ValueError("truncated DER header")
    tag, first = data[pos], data[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or pos + count > len(data):
            raise ValueError("unsupported DER length")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    if pos + length > len(data):
        raise ValueError("DER length beyond the data")
    return tag, pos, length


def _tlv(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    size = (n.bit_length() + 7) // 8
    return bytes([tag, 0x80 | size]) + n.to_bytes(size, "big") + content


def _children(data: bytes, start: int, length: int) -> list[tuple[int, int, int]]:
    """(tag, start of the TLV, end of the TLV) of each element inside a constructed value."""
    out = []
    pos, end = start, start + length
    while pos < end:
        tag, content, size = _header(data, pos)
        out.append((tag, pos, content + size))
        pos = content + size
    if pos != end:
        raise ValueError("elements overrun their container")
    return out


def drop_default_ocsp_version(der: bytes) -> tuple[bytes, bytes] | None:
    """(mended OCSPResponse, original ResponseData TLV), or None when the quirk is absent."""
    try:
        tag, start, length = _header(der, 0)
        if tag != _SEQUENCE:
            return None
        status, wrapper = _children(der, start, length)[:2]
        if wrapper[0] != _CONTEXT_0:
            return None
        _, rb_start, rb_len = _header(der, _header(der, wrapper[1])[1])  # ResponseBytes
        oid, octets = _children(der, rb_start, rb_len)
        if octets[0] != _OCTET_STRING:
            return None
        _, basic_at, _ = _header(der, octets[1])
        basic = der[basic_at : octets[2]]
        _, b_start, b_len = _header(basic, 0)
        tbs, *rest = _children(basic, b_start, b_len)
        _, t_start, t_len = _header(basic, tbs[1])
        fields = _children(basic, t_start, t_len)
        first = fields[0]
        if first[0] != _CONTEXT_0 or basic[first[1] : first[2]] != bytes.fromhex("a003020100"):
            return None  # no explicit v1: nothing to mend
        original_tbs = basic[tbs[1] : tbs[2]]
        mended_tbs = _tlv(_SEQUENCE, b"".join(basic[s:e] for _t, s, e in fields[1:]))
        mended_basic = _tlv(_SEQUENCE, mended_tbs + b"".join(basic[s:e] for _t, s, e in rest))
        response_bytes = _tlv(_SEQUENCE, der[oid[1] : oid[2]] + _tlv(_OCTET_STRING, mended_basic))
        mended = _tlv(_SEQUENCE, der[status[1] : status[2]] + _tlv(_CONTEXT_0, response_bytes))
        return mended, original_tbs
    except (ValueError, IndexError):
        return None


def name_from_der(der: bytes) -> x509.Name:
    """A DistinguishedName on its own (as a CertificateRequest lists them), read by
    ``cryptography``: it reads names only inside a structure, so the name is wrapped as
    the issuer of an empty CRL (RFC 5280 §5.1) whose signature nobody checks.

    Raises ValueError when the bytes are no Name."""
    from cryptography import x509  # a third of start-up: only once a name is read

    tag, start, length = _header(der, 0)
    if tag != _SEQUENCE or start + length != len(der):
        raise ValueError("a distinguished name is a DER SEQUENCE")
    algorithm = bytes.fromhex("300d06092a864886f70d01010b0500")  # sha256WithRSAEncryption
    this_update = _tlv(0x17, b"250101000000Z")  # UTCTime
    tbs = _tlv(_SEQUENCE, algorithm + der + this_update)
    crl = _tlv(_SEQUENCE, tbs + algorithm + _tlv(0x03, b"\x00"))
    return x509.load_der_x509_crl(crl).issuer


@functools.lru_cache(maxsize=1024)  # a server asks every client for the same few CAs
def name_text(der: bytes) -> str:
    """A DistinguishedName's RFC 4514 text, or what it is when it is none."""
    try:
        return name_from_der(der).rfc4514_string() or "(empty name)"
    except ValueError:
        return f"(unreadable name, {len(der)} bytes)"
