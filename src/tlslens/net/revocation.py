"""EDGE: online revocation checks, for the leaf and every intermediate.

Off by default (`--revocation online` turns it on) because it contacts the CAs' servers.
For each certificate below the root: OCSP at the AIA URL when there is one (the response
checked exactly as a stapled one: for this certificate, signed by the issuer or by a
responder the issuer authorised, fresh), else the CRL at the distribution point (signed
by the issuer, fresh, serial listed or not). Certificates are attacker-controlled, so
only http(s) URLs are followed, every request has a timeout, every answer a size cap,
and the number of requests per run is bounded. Answers are cached per URL and request.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID

from tlslens._text import iso_time
from tlslens.x509.decoding import EXTENSION_ERRORS
from tlslens.x509.ocsp import check_stapled_ocsp
from tlslens.x509.wording import error_text

MAX_ANSWER = 1 << 20
Fetch = Callable[[str, bytes | None, float], bytes]


@dataclass(frozen=True, slots=True)
class RevocationResult:
    subject: str
    method: str | None  # "ocsp", "crl" or None
    url: str | None
    status: str  # good / revoked / unknown / unavailable / invalid
    message: str
    checked_at: datetime | None = None  # when the answer was judged: now, not the capture
    revoked_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "method": self.method,
            "url": self.url,
            "status": self.status,
            "message": self.message,
            "checked_at": iso_time(self.checked_at),
            "revoked_at": iso_time(self.revoked_at),
        }


def http_fetch(url: str, body: bytes | None, timeout_s: float) -> bytes:
    """GET (or POST an OCSP request to) an http(s) URL; at most MAX_ANSWER bytes."""
    if not url.lower().startswith(("http://", "https://")):
        raise ValueError(f"not an http(s) URL: {url[:60]!r}")
    # Here, not at the top: urllib.request costs every run 10 ms of imports, and only
    # `--revocation online` fetches.
    import urllib.request

    headers = {"Content-Type": "application/ocsp-request"} if body is not None else {}
    request = urllib.request.Request(url, data=body, headers=headers)
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        data: bytes = response.read(MAX_ANSWER + 1)
    if len(data) > MAX_ANSWER:
        raise ValueError(f"answer larger than {MAX_ANSWER} bytes")
    return data


def _urls(cert: x509.Certificate) -> tuple[list[str], list[str]]:
    ocsp_urls: list[str] = []
    crl_urls: list[str] = []
    try:
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
        ocsp_urls = [
            str(d.access_location.value)
            for d in aia
            if d.access_method == AuthorityInformationAccessOID.OCSP
        ]
    except EXTENSION_ERRORS:
        pass
    try:
        points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
        crl_urls = [str(n.value) for p in points for n in (p.full_name or [])]
    except EXTENSION_ERRORS:
        pass
    return ocsp_urls, crl_urls


class RevocationChecker:
    """Asks the CAs now. An online answer describes the present, so it is judged as of
    ``now`` (the caller's clock), and a revocation after the capture's time does not
    change the verdict at capture time: it is reported beside it."""

    def __init__(
        self,
        *,
        timeout_s: float = 5.0,
        max_requests: int = 256,
        fetch: Fetch = http_fetch,
        now: datetime | None = None,
    ) -> None:
        self.now = now
        self.timeout_s = timeout_s
        self.max_requests = max_requests
        self.fetch = fetch
        self.requests = 0
        self.cache: dict[tuple[str, bytes | None], bytes | str] = {}

    def _get(self, url: str, body: bytes | None) -> bytes | str:
        """The answer, or why there is none (a string)."""
        key = (url, body)
        if key in self.cache:
            return self.cache[key]
        if self.requests >= self.max_requests:
            return "the request budget of this run is spent"
        self.requests += 1
        try:
            answer: bytes | str = self.fetch(url, body, self.timeout_s)
        except (OSError, ValueError) as exc:  # URLError is an OSError
            answer = f"{url}: {getattr(exc, 'reason', exc)}"
        self.cache[key] = answer
        return answer

    def check_path(self, path: list[x509.Certificate], at: datetime) -> list[RevocationResult]:
        return [self.check(cert, issuer, at) for cert, issuer in itertools.pairwise(path)]

    def check(
        self, cert: x509.Certificate, issuer: x509.Certificate, at: datetime
    ) -> RevocationResult:
        """``cert``'s status now (``at``, the capture's time, when no ``now`` was given)."""
        now = self.now or at
        subject = cert.subject.rfc4514_string()
        ocsp_urls, crl_urls = _urls(cert)
        tried: list[str] = []  # every URL that gave no answer, and why
        for url in ocsp_urls:
            request = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1()).build()
            answer = self._get(url, request.public_bytes(Encoding.DER))
            if isinstance(answer, str):
                tried.append(f"OCSP {answer}")
                continue
            result = check_stapled_ocsp(answer, cert, issuer, now)
            message = (
                "; ".join(m for _c, m in result.problems) or f"the responder says {result.status}"
            )
            return RevocationResult(
                subject, "ocsp", url, result.status, message, now, result.revocation_time
            )
        for url in crl_urls:
            answer = self._get(url, None)
            if isinstance(answer, str):
                tried.append(f"CRL {answer}")
                continue
            return self._crl(subject, cert, issuer, url, answer, now)
        if tried:
            method = "ocsp" if ocsp_urls else "crl"
            url = (ocsp_urls or crl_urls)[0]
            return RevocationResult(
                subject, method, url, "unavailable", "no answer: " + "; ".join(tried), now
            )
        return RevocationResult(
            subject, None, None, "unknown", "the certificate names no OCSP or CRL URL", now
        )

    @staticmethod
    def _crl(
        subject: str,
        cert: x509.Certificate,
        issuer: x509.Certificate,
        url: str,
        data: bytes,
        at: datetime,
    ) -> RevocationResult:
        try:
            crl = (
                x509.load_pem_x509_crl(data)
                if data.lstrip().startswith(b"-----")
                else x509.load_der_x509_crl(data)
            )
        except ValueError as exc:
            return RevocationResult(
                subject, "crl", url, "invalid", f"the CRL cannot be parsed: {error_text(exc)}", at
            )
        if crl.issuer != issuer.subject or not crl.is_signature_valid(issuer.public_key()):  # type: ignore[arg-type]
            return RevocationResult(
                subject, "crl", url, "invalid", "the CRL is not signed by the issuer", at
            )
        next_update = crl.next_update_utc
        if next_update is not None and at > next_update:
            return RevocationResult(
                subject,
                "crl",
                url,
                "invalid",
                f"the CRL expired {next_update:%Y-%m-%d %H:%M} UTC",
                at,
            )
        entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
        if entry is not None:
            return RevocationResult(
                subject,
                "crl",
                url,
                "revoked",
                f"the CRL lists it as revoked on {entry.revocation_date_utc:%Y-%m-%d}",
                at,
                entry.revocation_date_utc,
            )
        return RevocationResult(subject, "crl", url, "good", "not on the issuer's CRL", at)
