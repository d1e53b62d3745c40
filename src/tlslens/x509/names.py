"""What a certificate is called and which host names it covers (RFC 6125)."""

from __future__ import annotations

import ipaddress

from cryptography import x509

from tlslens.x509.cache import per_certificate
from tlslens.x509.decoding import EXTENSION_ERRORS
from tlslens.x509.wording import general_name_text


@per_certificate
def subject_text(cert: x509.Certificate) -> str:
    try:
        return cert.subject.rfc4514_string() or "(empty subject)"
    except ValueError:
        return "(unreadable subject)"


@per_certificate
def issuer_key(cert: x509.Certificate) -> bytes:
    """The issuer name's DER: how an issuer is looked up by the name its child gives."""
    return cert.issuer.public_bytes()


@per_certificate
def subject_key(cert: x509.Certificate) -> bytes:
    return cert.subject.public_bytes()


def hostname_matches(pattern: str, host: str) -> bool:
    pattern, host = pattern.lower().rstrip("."), host.lower().rstrip(".")
    if pattern.startswith("*."):
        # RFC 6125 §6.4.3: the wildcard covers exactly one left-most label.
        return "." in host and host.split(".", 1)[1] == pattern[2:] and bool(host.split(".", 1)[0])
    return pattern == host


def names_of(cert: x509.Certificate) -> tuple[list[str], list[str]]:
    """(DNS names, IP addresses) the certificate covers, from subjectAltName."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except EXTENSION_ERRORS:
        return [], []
    return san.get_values_for_type(x509.DNSName), [
        str(a) for a in san.get_values_for_type(x509.IPAddress)
    ]


def san_texts(cert: x509.Certificate) -> list[str]:
    """Every subjectAltName value, of any kind (DNS, IP, email, URI...), as a person writes
    it: a certificate whose only SAN is an email address or a URI has SANs all the same."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except EXTENSION_ERRORS:
        return []
    return [general_name_text(name) for name in san]


def covers(cert: x509.Certificate, host: str) -> bool:
    dns, ips = names_of(cert)
    try:
        address = str(ipaddress.ip_address(host))
        return address in ips
    except ValueError:
        return any(hostname_matches(name, host) for name in dns)
