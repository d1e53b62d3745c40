"""Certificate values and parse errors in words: what a reader sees, never a repr.

``cryptography`` reports malformed DER with the Rust parser's debug text
(``ParseError { kind: ShortData { needed: 1 }, location: [...] }``), names unknown
OIDs "Unknown OID" and prints general names as ``<DNSName(value=...)>``. Everything
shown to a user about a certificate passes through here.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from tlslens._text import plural

if TYPE_CHECKING:
    from cryptography import x509

_PARSE_ERROR = re.compile(
    r"(?:error parsing asn1 value: )?ParseError \{ kind: (?P<kind>\w+)(?P<detail> \{[^}]*\})?"
    r"(?:, location: \[(?P<location>[^\]]*)\])? \}"
)
_KINDS = {
    "InvalidValue": "an invalid value",
    "InvalidTag": "an invalid tag",
    "InvalidLength": "an invalid length",
    "UnexpectedTag": "an unexpected tag",
    "ShortData": "data that ends too early",
    "IntegerOverflow": "an integer too large to read",
    "ExtraData": "extra bytes after the end",
    "InvalidSetOrdering": "a SET whose elements are not in DER order",
    "EncodedDefault": "a field that encodes its DEFAULT value, which DER forbids",
    "OidTooLong": "an object identifier too long to read",
    "UnknownDefinedBy": "an algorithm identifier it does not know",
}


def error_text(error: Exception | str) -> str:
    """An error from ``cryptography`` worded for people: the Rust parser's debug form becomes
    "malformed DER: <what> in <where>"."""
    text = str(error)

    def worded(match: re.Match[str]) -> str:
        kind = _KINDS.get(match["kind"], match["kind"])
        needed = re.search(r"needed: (\d+)", match["detail"] or "")
        if needed:
            kind += f" ({plural(int(needed[1]), 'more byte')} needed)"
        location = [
            part.strip().strip('"').replace("::", ".")
            for part in (match["location"] or "").split(",")
            if part.strip()
        ]
        where = f" in {' > '.join(location)}" if location else ""
        return f"malformed DER: {kind}{where}"

    return _PARSE_ERROR.sub(worded, text)


# otherName types met in server certificates (RFC 6120, RFC 4985, RFC 8398, Microsoft).
_OTHER_NAMES = {
    "1.3.6.1.5.5.7.8.5": "xmppAddr",
    "1.3.6.1.5.5.7.8.7": "SRVName",
    "1.3.6.1.5.5.7.8.9": "SmtpUTF8Mailbox",
    "1.3.6.1.4.1.311.20.2.3": "userPrincipalName",
}


def oid_text(oid: x509.ObjectIdentifier) -> str:
    """A registered name, or the dotted OID when ``cryptography`` knows no name for it."""
    name = getattr(oid, "_name", "Unknown OID")
    if name == "Unknown OID":
        known = _OTHER_NAMES.get(oid.dotted_string)
        return f"{known} ({oid.dotted_string})" if known else f"OID {oid.dotted_string}"
    return str(name)


def general_name_text(name: x509.GeneralName) -> str:
    """One subjectAltName / AIA / CRL distribution point name, as a person writes it."""
    from cryptography import x509  # only once there is a certificate: see decoding

    if isinstance(name, x509.DNSName | x509.UniformResourceIdentifier):
        return name.value
    if isinstance(name, x509.IPAddress):
        return str(name.value)
    if isinstance(name, x509.RFC822Name):
        return f"email:{name.value}"
    if isinstance(name, x509.DirectoryName):
        return f"directory name {name.value.rfc4514_string()}"
    if isinstance(name, x509.RegisteredID):
        return f"registered ID {oid_text(name.value)}"
    if isinstance(name, x509.OtherName):
        return f"otherName {oid_text(name.type_id)}: {_other_name_value(name.value)}"
    return str(name.value)  # pragma: no cover - every GeneralName type is listed above


def _other_name_value(der: bytes) -> str:
    """The value of an otherName: a string when it is one (UTF8String, IA5String...), else hex."""
    if len(der) >= 2 and der[0] in (0x0C, 0x13, 0x16, 0x1E) and der[1] < 0x80:
        body = der[2 : 2 + der[1]]
        try:
            return body.decode("utf-16-be" if der[0] == 0x1E else "utf-8")
        except UnicodeDecodeError:
            pass
    return der.hex()
