"""Stapled OCSP responses: for this certificate? signed by whom? fresh at capture time?"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID

from tlslens._text import iso_time
from tlslens.x509.asn1 import drop_default_ocsp_version
from tlslens.x509.decoding import EXTENSION_ERRORS
from tlslens.x509.signature import signed_by
from tlslens.x509.wording import error_text

# Without nextUpdate, a response older than this is called stale (a common CA practice).
MAX_AGE_WITHOUT_NEXT_UPDATE = timedelta(days=7)


@dataclass(slots=True)
class OCSPCheck:
    status: str  # good / revoked / unknown / invalid / stale
    produced_at: datetime | None = None
    this_update: datetime | None = None
    next_update: datetime | None = None
    revocation_time: datetime | None = None
    revocation_reason: str | None = None
    responder: str | None = None
    problems: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # quirks tolerated, as OpenSSL does

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "produced_at": iso_time(self.produced_at),
            "this_update": iso_time(self.this_update),
            "next_update": iso_time(self.next_update),
            "revocation_time": iso_time(self.revocation_time),
            "revocation_reason": self.revocation_reason,
            "responder": self.responder,
            "notes": list(self.notes),
        }


_EXPLICIT_VERSION_NOTE = (
    "the responder encodes the default version (v1) explicitly, which DER forbids; OpenSSL and "
    "Wireshark accept it, and so does tlslens: the signature was checked over the bytes as sent"
)


def load_ocsp_response(der: bytes) -> tuple[ocsp.OCSPResponse, bytes | None, list[str]]:
    """Parse an OCSP response strictly, else mend the one quirk real responders have.

    Returns (response, the signed bytes as sent when they differ from the parsed ones,
    notes). Raises ValueError when the response cannot be read even so."""
    try:
        return ocsp.load_der_ocsp_response(der), None, []
    except ValueError as exc:
        mended = drop_default_ocsp_version(der) if "EncodedDefault" in str(exc) else None
        if mended is None:
            raise
        response = ocsp.load_der_ocsp_response(mended[0])
        return response, mended[1], [_EXPLICIT_VERSION_NOTE]


def _verify(
    signer: x509.Certificate, response: ocsp.OCSPResponse, signed: bytes | None = None
) -> bool:
    try:
        key = signer.public_key()
        algorithm = response.signature_hash_algorithm
        tbs = signed if signed is not None else response.tbs_response_bytes
        if isinstance(key, rsa.RSAPublicKey) and algorithm is not None:
            key.verify(response.signature, tbs, padding.PKCS1v15(), algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey) and algorithm is not None:
            key.verify(response.signature, tbs, ec.ECDSA(algorithm))
        else:
            return False
    except (InvalidSignature, UnsupportedAlgorithm, ValueError):
        return False
    return True


def check_stapled_ocsp(
    der: bytes, leaf: x509.Certificate, issuer: x509.Certificate | None, at: datetime
) -> OCSPCheck:
    """Check a stapled response against the leaf and its issuer, as of ``at``: the checks of
    RFC 6960 §3.2 in its order (the certificate it is for, the signature and the signer's
    authority, then the times)."""
    try:
        response, signed, notes = load_ocsp_response(der)
    except ValueError as exc:
        return _invalid(f"the stapled OCSP response cannot be parsed: {error_text(exc)}")
    if response.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        return _invalid(f"the OCSP responder answered {response.response_status.name.lower()}")
    try:
        check = OCSPCheck(
            response.certificate_status.name.lower(),
            produced_at=response.produced_at_utc,
            this_update=response.this_update_utc,
            next_update=response.next_update_utc,
            notes=notes,
        )
        serial = response.serial_number
        key_hash = response.issuer_key_hash
        hash_algorithm = response.hash_algorithm
    except (ValueError, UnsupportedAlgorithm) as exc:
        return _invalid(f"the response is unusual: {error_text(exc)}")
    failure = _not_for(leaf, issuer, serial, key_hash, hash_algorithm)
    if failure is None and issuer is not None:  # an unknown issuer is a failure of its own
        check.responder = _signer(response, issuer, signed)
        if check.responder is None:
            failure = "the response's signature does not verify with the issuer or an authorised responder"
    if failure is not None:
        check.status = "invalid"
        check.problems.append(("ocsp_invalid", failure))
        return check
    if response.certificate_status == ocsp.OCSPCertStatus.REVOKED:
        _note_revocation(check, response)
    _check_times(check, at)
    return check


def _invalid(message: str) -> OCSPCheck:
    return OCSPCheck("invalid", problems=[("ocsp_invalid", message)])


def _not_for(
    leaf: x509.Certificate,
    issuer: x509.Certificate | None,
    serial: int,
    key_hash: bytes,
    hash_algorithm: hashes.HashAlgorithm,
) -> str | None:
    """Why the response is not about this leaf from this issuer (RFC 6960 §3.2 step 1); None
    when it is."""
    if serial != leaf.serial_number:
        return "the stapled response is for another certificate (serial differs)"
    if issuer is None:
        return "the issuer is unknown, so the response's signature cannot be checked"
    expected = ocsp.OCSPRequestBuilder().add_certificate(leaf, issuer, hash_algorithm).build()
    if expected.issuer_key_hash != key_hash:
        return "the response names another issuer key"
    return None


def _signer(
    response: ocsp.OCSPResponse, issuer: x509.Certificate, signed: bytes | None
) -> str | None:
    """Who signed the response, in words; None when no one the client can accept did.

    RFC 6960 §4.2.2.2: signed by the issuer itself, or by a responder the issuer
    authorised with the OCSPSigning extended key usage."""
    if _verify(issuer, response, signed):
        return "the issuing CA"
    for responder in response.certificates:
        try:
            eku = responder.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except EXTENSION_ERRORS:
            continue
        if ExtendedKeyUsageOID.OCSP_SIGNING not in eku:
            continue
        if not signed_by(responder, issuer):  # SHA-1 included: old responders use it
            continue
        if _verify(responder, response, signed):
            return f"a responder the CA authorised: {responder.subject.rfc4514_string()}"
    return None


def _note_revocation(check: OCSPCheck, response: ocsp.OCSPResponse) -> None:
    check.revocation_time = response.revocation_time_utc
    reason = response.revocation_reason
    check.revocation_reason = reason.name if reason is not None else None
    when = f"{check.revocation_time:%Y-%m-%d}" if check.revocation_time else "at an unknown time"
    check.problems.append(
        (
            "ocsp_revoked",
            f"the CA says the certificate was revoked {when}"
            + (f" ({check.revocation_reason})" if check.revocation_reason else ""),
        )
    )


def _check_times(check: OCSPCheck, at: datetime) -> None:
    """RFC 6960 §3.2 steps 5 and 6: thisUpdate not after the capture (five minutes of clock
    skew allowed), nextUpdate not before it; without nextUpdate, not older than
    MAX_AGE_WITHOUT_NEXT_UPDATE."""
    this_update, next_update = check.this_update, check.next_update
    if this_update is not None and at < this_update - timedelta(minutes=5):
        check.problems.append(
            (
                "ocsp_stale",
                f"the response was produced after the capture ({this_update:%Y-%m-%d %H:%M} UTC)",
            )
        )
    elif next_update is not None and at > next_update:
        check.status = "stale"
        check.problems.append(
            (
                "ocsp_stale",
                f"the response expired {next_update:%Y-%m-%d %H:%M} UTC, before the capture",
            )
        )
    elif (
        next_update is None
        and this_update is not None
        and at - this_update > MAX_AGE_WITHOUT_NEXT_UPDATE
    ):
        check.status = "stale"
        check.problems.append(
            (
                "ocsp_stale",
                f"the response is {(at - this_update).days} days old and gives no next update",
            )
        )
