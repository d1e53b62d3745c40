"""The rules of RFC 5280 and the CA/Browser Forum that ``cryptography``'s path validator
does not check, applied to the path it built (or the one tlslens walked).

Pure: a path (leaf first, trust anchor last) in, named problems out. ``forbidding``
problems make a chain untrusted (clients reject such chains, or the rule is a MUST that
leaves no doubt); ``advisory`` ones are reported beside a verdict they do not change (the
rule is real, but clients do not enforce it). What each case of x509-limbo needs is in
tools/limbo.py.
"""

from __future__ import annotations

import ipaddress
from typing import TypeVar

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa
from cryptography.x509.oid import NameOID

from tlslens.x509.decoding import DECODE_ERRORS, EXTENSION_ERRORS
from tlslens.x509.names import san_texts, subject_text
from tlslens.x509.signature import self_signed
from tlslens.x509.wording import error_text

# Problem code -> whether it makes the chain untrusted.
FORBIDDING = frozenset({"weak_key", "missing_key_identifier", "bad_key_identifier", "bad_serial"})
ADVISORY = frozenset({"cn_not_in_san"})


_E = TypeVar("_E", bound=x509.ExtensionType)


def extension(cert: x509.Certificate, kind: type[_E]) -> _E | None:
    """The extension's value; None when it is absent or cannot be decoded."""
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except EXTENSION_ERRORS:
        return None


def _ext_or_error(
    cert: x509.Certificate, kind: type[x509.ExtensionType]
) -> tuple[x509.ExtensionType | None, str | None]:
    """The extension's value, or why it cannot be read (None, None when absent)."""
    try:
        return cert.extensions.get_extension_for_class(kind).value, None
    except x509.ExtensionNotFound:
        return None, None
    except DECODE_ERRORS as exc:
        return None, error_text(exc)


def key_problem(cert: x509.Certificate) -> str | None:
    """Why the certificate's key is one the web PKI forbids (CA/B BR §6.1.5), if it is."""
    try:
        key = cert.public_key()
    except (ValueError, UnsupportedAlgorithm):
        return None
    name = subject_text(cert)
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < 2048:
            return f"{name} has a {key.key_size}-bit RSA key (2048 is the least clients accept)"
        if key.key_size % 8:
            return f"{name} has a {key.key_size}-bit RSA key, not a multiple of 8 bits (BR §6.1.5)"
    elif isinstance(key, dsa.DSAPublicKey):
        return f"{name} has a DSA key, which no current client accepts"
    elif isinstance(key, ec.EllipticCurvePublicKey) and key.curve.key_size < 256:
        return f"{name} uses the {key.curve.name} curve, which no current client accepts"
    return None


def path_problems(
    path: list[x509.Certificate], *, anchored: bool, client: bool = False
) -> list[tuple[str, str]]:
    """(code, message) for each rule the path breaks; ``anchored``: its last certificate is a
    trust anchor of the store (trusted for what it is: its own identifiers are not asked).
    ``client``: a client's chain, to which RFC 5280's rules apply but not the CA/Browser
    Forum's (its Baseline Requirements govern publicly trusted server certificates)."""
    found: list[tuple[str, str]] = []
    last = len(path) - 1
    for depth, cert in enumerate(path):
        anchor = anchored and depth == last
        name = subject_text(cert)
        weak = None if client else key_problem(cert)
        if weak is not None:
            found.append(("weak_key", weak))
        if not anchor and cert.serial_number <= 0:
            found.append(
                (
                    "bad_serial",
                    f"{name} has serial number {cert.serial_number}; RFC 5280 "
                    "§4.1.2.2 wants a positive integer",
                )
            )
        if depth == 0:
            continue
        ski = extension(cert, x509.SubjectKeyIdentifier)
        aki, aki_error = _ext_or_error(cert, x509.AuthorityKeyIdentifier)
        if aki_error is not None:
            found.append(
                (
                    "bad_key_identifier",
                    f"the authorityKeyIdentifier of {name} cannot be read: {aki_error}",
                )
            )
            continue
        if not anchor and ski is None:
            found.append(
                (
                    "missing_key_identifier",
                    f"the CA certificate {name} has no "
                    "subjectKeyIdentifier (RFC 5280 §4.2.1.2: a CA MUST include it)",
                )
            )
        root = self_signed(cert)
        if not anchor and not root and aki is None:
            found.append(
                (
                    "missing_key_identifier",
                    f"{name} has no authorityKeyIdentifier (RFC 5280 "
                    "§4.2.1.1: every certificate a CA issues MUST name its key)",
                )
            )
        if not client and anchor and root and isinstance(aki, x509.AuthorityKeyIdentifier):
            if aki.authority_cert_issuer or aki.authority_cert_serial_number is not None:
                found.append(
                    (
                        "bad_key_identifier",
                        f"the root {name} names an issuer and serial in its "
                        "authorityKeyIdentifier (CA/B BR §7.1.2.1.3 allows only a key identifier)",
                    )
                )
            elif (
                isinstance(ski, x509.SubjectKeyIdentifier)
                and aki.key_identifier is not None
                and aki.key_identifier != ski.digest
            ):
                found.append(
                    (
                        "bad_key_identifier",
                        f"the root {name} has an authorityKeyIdentifier that "
                        "differs from its own subjectKeyIdentifier (CA/B BR §7.1.2.1.3)",
                    )
                )
    if path and not client:
        mismatch = cn_outside_san(path[0])
        if mismatch is not None:
            found.append(("cn_not_in_san", mismatch))
    return found


def _canonical_ip(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def cn_outside_san(leaf: x509.Certificate) -> str | None:
    """CA/B BR §7.1.4.3: a subscriber's commonName, if any, is one of its SAN values, written
    the same way (a dNSName byte for byte; an address in its canonical text)."""
    try:
        cns = leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    except EXTENSION_ERRORS:
        return None
    san = extension(leaf, x509.SubjectAlternativeName)
    if not cns or not isinstance(san, x509.SubjectAlternativeName):
        return None
    cn = cns[0].value
    if not isinstance(cn, str):
        return None
    dns = san.get_values_for_type(x509.DNSName)
    ips = [str(a) for a in san.get_values_for_type(x509.IPAddress)]
    if cn in dns or (cn in ips and _canonical_ip(cn) == cn):
        return None
    return (
        f"the leaf's commonName {cn!r} is not one of its subjectAltName values as written "
        f"({', '.join(san_texts(leaf)[:6]) or 'none'}); clients ignore the CN, CA/B BR "
        "§7.1.4.3 forbids the difference"
    )


__all__ = ["ADVISORY", "FORBIDDING", "cn_outside_san", "extension", "key_problem", "path_problems"]
