"""A lab PKI: a root CA, an intermediate CA, keys, CSRs, issued certificates, OCSP responses.

Every step returns what it made together with a sentence saying who signed what with
which key, so that `tlslens pki` can tell the story of trust while it builds it.
Files are read and written by the caller (cli.py); the time comes in as ``now``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tlslens._text import plural
from tlslens.x509.signature import signed_by

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@dataclass(frozen=True, slots=True)
class Issued:
    certificate: x509.Certificate
    key: PrivateKey | None
    story: str


def new_key(kind: str = "ec") -> PrivateKey:
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def describe_key(key: PrivateKey) -> str:
    if isinstance(key, rsa.RSAPrivateKey):
        return f"an RSA {key.key_size}-bit key"
    return f"an EC {key.curve.name} key"


def name(common_name: str, organization: str = "tlslens lab") -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _builder(
    subject: x509.Name,
    public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey,
    issuer_name: x509.Name,
    issuer_key: PrivateKey,
    not_before: dt.datetime,
    not_after: dt.datetime,
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        # RFC 5280 §4.2.1.1-2: validators follow these identifiers from issuer to subject.
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    )


def _ca_extensions(
    builder: x509.CertificateBuilder, path_length: int | None
) -> x509.CertificateBuilder:
    return builder.add_extension(
        x509.BasicConstraints(ca=True, path_length=path_length), critical=True
    ).add_extension(
        x509.KeyUsage(
            digital_signature=True,
            key_cert_sign=True,
            crl_sign=True,
            content_commitment=False,
            key_encipherment=False,
            data_encipherment=False,
            key_agreement=False,
            encipher_only=False,
            decipher_only=False,
        ),
        critical=True,
    )


def make_root(
    common_name: str, *, now: dt.datetime, days: int = 3650, key: PrivateKey | None = None
) -> Issued:
    key = key or new_key()
    subject = name(common_name)
    builder = _ca_extensions(
        _builder(
            subject,
            key.public_key(),
            subject,
            key,
            now - dt.timedelta(minutes=5),
            now + dt.timedelta(days=days),
        ),
        None,
    )
    cert = builder.sign(key, hashes.SHA256())
    story = (
        f"Root CA '{common_name}': {describe_key(key)}, and a certificate it signs itself. "
        "Nobody vouches for a root: a client trusts it only because it is in its trust store."
    )
    return Issued(cert, key, story)


def _with_urls(
    builder: x509.CertificateBuilder, ocsp_url: str | None, crl_url: str | None
) -> x509.CertificateBuilder:
    """Where clients ask about revocation: AIA (OCSP) and CRL distribution points."""
    if ocsp_url:
        builder = builder.add_extension(
            x509.AuthorityInformationAccess(
                [
                    x509.AccessDescription(
                        x509.oid.AuthorityInformationAccessOID.OCSP,
                        x509.UniformResourceIdentifier(ocsp_url),
                    )
                ]
            ),
            critical=False,
        )
    if crl_url:
        builder = builder.add_extension(
            x509.CRLDistributionPoints(
                [
                    x509.DistributionPoint(
                        [x509.UniformResourceIdentifier(crl_url)], None, None, None
                    )
                ]
            ),
            critical=False,
        )
    return builder


def make_crl(
    issuer: Issued,
    revoked_serials: list[int],
    *,
    now: dt.datetime,
    days: int = 7,
    revoked_at: dict[int, dt.datetime] | None = None,
) -> tuple[bytes, str]:
    """A DER CRL signed by ``issuer`` listing the revoked serial numbers (revoked ``now``
    unless ``revoked_at`` says when)."""
    assert issuer.key is not None
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.certificate.subject)
        .last_update(now)
        .next_update(now + dt.timedelta(days=days))
    )
    for serial in revoked_serials:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(serial)
            .revocation_date((revoked_at or {}).get(serial, now))
            .build()
        )
    signing_key: CertificateIssuerPrivateKeyTypes = issuer.key
    crl = builder.sign(signing_key, hashes.SHA256())
    story = (
        f"'{issuer.certificate.subject.rfc4514_string()}' signs a CRL listing "
        f"{plural(len(revoked_serials), 'revoked certificate')}, valid until "
        f"{now + dt.timedelta(days=days):%Y-%m-%d}."
    )
    return crl.public_bytes(serialization.Encoding.DER), story


def make_intermediate(
    common_name: str,
    root: Issued,
    *,
    now: dt.datetime,
    days: int = 1825,
    key: PrivateKey | None = None,
    ocsp_url: str | None = None,
    crl_url: str | None = None,
) -> Issued:
    assert root.key is not None
    key = key or new_key()
    builder = _ca_extensions(
        _builder(
            name(common_name),
            key.public_key(),
            root.certificate.subject,
            root.key,
            now - dt.timedelta(minutes=5),
            now + dt.timedelta(days=days),
        ),
        0,
    )
    builder = _with_urls(builder, ocsp_url, crl_url)
    cert = builder.sign(root.key, hashes.SHA256())
    story = (
        f"Intermediate CA '{common_name}': {describe_key(key)}; the root signs its certificate "
        "with the root's private key, so whoever trusts the root can trust it."
    )
    return Issued(cert, key, story)


def make_csr(
    common_name: str, sans: list[str], key: PrivateKey | None = None
) -> tuple[x509.CertificateSigningRequest, PrivateKey, str]:
    key = key or new_key()
    alt_names: list[x509.GeneralName] = [x509.DNSName(s) for s in (sans or [common_name])]
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(name(common_name))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .sign(key, hashes.SHA256())
    )
    story = (
        f"A fresh private key ({describe_key(key)}) stays with its owner; the CSR carries only "
        "the public key "
        f"and the names ({', '.join(sans or [common_name])}), signed with the private key to "
        "prove the requester holds it."
    )
    return csr, key, story


def sign_csr(
    csr: x509.CertificateSigningRequest,
    issuer: Issued,
    *,
    now: dt.datetime,
    days: float = 365,
    not_before: dt.datetime | None = None,
    client: bool = False,
    ocsp_url: str | None = None,
    crl_url: str | None = None,
) -> Issued:
    """Issue a server (or client) certificate for a CSR. Raises ValueError for a bad CSR."""
    assert issuer.key is not None
    if not csr.is_signature_valid:
        raise ValueError("the CSR's signature does not verify: it was not made with its key")
    public_key = csr.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        raise ValueError("only RSA and EC keys are issued here")
    start = not_before or now - dt.timedelta(minutes=5)
    builder = _builder(
        csr.subject,
        public_key,
        issuer.certificate.subject,
        issuer.key,
        start,
        start + dt.timedelta(days=days),
    )
    builder = builder.add_extension(
        x509.BasicConstraints(ca=False, path_length=None), critical=True
    )
    usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
    builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    builder = builder.add_extension(
        x509.KeyUsage(
            digital_signature=True,
            key_encipherment=isinstance(public_key, rsa.RSAPublicKey),
            content_commitment=False,
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=False,
            crl_sign=False,
            encipher_only=False,
            decipher_only=False,
        ),
        critical=True,
    )
    try:
        san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        builder = builder.add_extension(san.value, critical=False)
    except x509.ExtensionNotFound:
        pass
    builder = _with_urls(builder, ocsp_url, crl_url)
    signing_key: CertificateIssuerPrivateKeyTypes = issuer.key
    cert = builder.sign(signing_key, hashes.SHA256())
    subject = csr.subject.rfc4514_string()
    story = (
        f"'{issuer.certificate.subject.rfc4514_string()}' signs a "
        f"{'client' if client else 'server'} "
        f"certificate for {subject} with its private key, valid {start:%Y-%m-%d} to "
        f"{start + dt.timedelta(days=days):%Y-%m-%d}. The requester's private key never left them."
    )
    return Issued(cert, None, story)


def make_ocsp_response(
    certificate: x509.Certificate,
    issuer: Issued,
    *,
    now: dt.datetime,
    revoked: bool = False,
    valid_days: int = 7,
    this_update: dt.datetime | None = None,
) -> tuple[bytes, str]:
    """A DER OCSP response (good or revoked) signed by the issuer, for stapling.

    Raises ValueError when ``issuer`` did not issue ``certificate``: a responder speaks
    only for its own certificates (RFC 6960 §2.2)."""
    assert issuer.key is not None
    verify_issued_by(certificate, issuer.certificate)
    start = this_update or now
    status = ocsp.OCSPCertStatus.REVOKED if revoked else ocsp.OCSPCertStatus.GOOD
    builder = (
        ocsp.OCSPResponseBuilder()
        .add_response(
            cert=certificate,
            issuer=issuer.certificate,
            algorithm=hashes.SHA256(),
            cert_status=status,
            this_update=start,
            next_update=start + dt.timedelta(days=valid_days),
            revocation_time=start - dt.timedelta(days=1) if revoked else None,
            revocation_reason=x509.ReasonFlags.key_compromise if revoked else None,
        )
        .responder_id(ocsp.OCSPResponderEncoding.HASH, issuer.certificate)
    )
    signing_key: CertificateIssuerPrivateKeyTypes = issuer.key
    response = builder.sign(signing_key, hashes.SHA256())
    story = (
        f"'{issuer.certificate.subject.rfc4514_string()}' signs an OCSP response saying "
        f"serial {certificate.serial_number:x} is {'REVOKED' if revoked else 'good'}, valid "
        f"{start:%Y-%m-%d %H:%M} to {start + dt.timedelta(days=valid_days):%Y-%m-%d %H:%M} UTC; "
        "the server staples it to its handshake."
    )
    return response.public_bytes(serialization.Encoding.DER), story


def verify_issued_by(certificate: x509.Certificate, issuer: x509.Certificate) -> None:
    """Raises ValueError, naming both, unless ``issuer`` signed ``certificate``."""
    subject = certificate.subject.rfc4514_string()
    ours = issuer.subject.rfc4514_string()
    if certificate.issuer != issuer.subject or not signed_by(certificate, issuer):
        raise ValueError(
            f"{subject} was issued by {certificate.issuer.rfc4514_string()}, not by this CA "
            f"({ours})"
        )


def pem_key(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def pem_cert(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)
