"""One certificate as sent, read with ``cryptography`` as far as it can be read."""

from __future__ import annotations

import functools
import hashlib
import warnings
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar, cast

from tlslens import _core
from tlslens._text import iso_time
from tlslens.x509.wording import error_text, general_name_text

if TYPE_CHECKING:
    from cryptography import x509

_F = TypeVar("_F", bound=Callable[..., Any])


class CertificateInfo(NamedTuple):
    """One certificate as sent, parsed with ``cryptography`` where it can be."""

    der: bytes
    sha256: str
    subject: str | None
    issuer: str | None
    serial: str | None
    not_before: datetime | None
    not_after: datetime | None
    san: tuple[str, ...] = ()
    key: str | None = None  # e.g. "RSA 2048", "EC secp256r1"
    signature_algorithm: str | None = None
    error: str | None = None

    def __repr__(self) -> str:
        # Without the DER: kilobytes of noise in every message that shows a certificate.
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields[1:])
        return f"CertificateInfo({shown})"

    def to_json(self) -> dict[str, Any]:
        # The same certificate comes in connection after connection (parse_certificate
        # hands out one object per DER): its JSON is made once.
        cached = _JSON.get(id(self))
        if cached is not None and cached[0] is self:
            made = cached[1]
        else:
            made = self._json()
            if len(_JSON) >= 4096:
                _JSON.clear()
            _JSON[id(self)] = (self, made)
        return {**made, "san": list(made["san"])}  # the caller's to keep, or change

    def _json(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "issuer": self.issuer,
            "serial": self.serial,
            "not_before": iso_time(self.not_before),
            "not_after": iso_time(self.not_after),
            "sha256": self.sha256,
            "san": list(self.san),
            "key": self.key,
            "signature_algorithm": self.signature_algorithm,
            "error": self.error,
        }


# By the DER itself: the key is the very bytes its CertificateInfo keeps (nothing more is
# held), and a certificate seen again is found without hashing it with SHA-256 first. The
# core hands out one bytes object per certificate it saw recently (shared_der.rs): its
# hash is computed once, and the lookup is answered by identity.
_CERT_CACHE: dict[bytes, CertificateInfo] = {}
MAX_CACHED_CERTIFICATES = 4096
# (Their parsed objects hold as much again, and more once their extensions are read.)
MAX_CACHED_BYTES = 16 << 20
_CACHED_BYTES = 0  # the DER bytes _CERT_CACHE holds
_JSON: dict[int, tuple[CertificateInfo, dict[str, Any]]] = {}  # by id(), with the object


def parse_certificate(der: bytes) -> CertificateInfo:
    """Parse a DER certificate; a certificate ``cryptography`` rejects keeps its reason."""
    cached = _CERT_CACHE.get(der)
    if cached is not None:
        return cached
    digest = hashlib.sha256(der).digest()
    # cryptography accepts some RFC 5280 violations (a serial that is not positive) with a
    # deprecation warning: they become part of the certificate's reported problems.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        info = _parse_certificate(der, digest.hex())
    notes = sorted({str(w.message).split(", which")[0] for w in caught})
    if notes:
        error = "; ".join([*notes, *([info.error] if info.error else [])])
        info = info._replace(error=error)
    global _CACHED_BYTES
    # Bounded in count and in bytes (many captures reuse a few chains; a hostile one may
    # send certificates of megabytes each).
    if len(_CERT_CACHE) >= MAX_CACHED_CERTIFICATES or _CACHED_BYTES + len(der) > MAX_CACHED_BYTES:
        _CERT_CACHE.clear()
        _CACHED_BYTES = 0
        # Their JSON too (here and the row writer's text): it holds its certificate (and
        # DER), which the byte bound let go.
        _JSON.clear()
        _core.forget_certificate_texts()
    if info.der not in _CERT_CACHE:  # another thread may have parsed it meanwhile
        _CACHED_BYTES += len(info.der)
    _CERT_CACHE[info.der] = info
    return info


def quiet(func: _F) -> _F:
    """A non-positive serial is reported with the certificate (x509.certificate.CertificateInfo.error);
    cryptography's deprecation warning for it would only reach the user as noise."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from cryptography.utils import CryptographyDeprecationWarning

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            return func(*args, **kwargs)

    return cast(_F, wrapper)


def readable(cert: x509.Certificate) -> x509.Certificate:
    """The certificate, once the fields that ``cryptography`` decodes lazily and that every
    check reads (names, serial, validity) have decoded: a flipped byte inside a Name loads
    fine and raises only on first use. Raises ValueError naming the field."""
    from tlslens.x509.decoding import DECODE_ERRORS

    for name, getter in (
        ("subject", lambda: cert.subject.public_bytes()),
        ("issuer", lambda: cert.issuer.public_bytes()),
        ("serial", lambda: cert.serial_number),
        ("validity", lambda: (cert.not_valid_before_utc, cert.not_valid_after_utc)),
    ):
        try:
            getter()
        except DECODE_ERRORS as exc:
            raise ValueError(f"its {name} cannot be decoded: {error_text(exc)}") from exc
    return cert


def load_certificate(der: bytes) -> x509.Certificate:
    """A DER certificate whose every field the checks read decodes; ValueError otherwise."""
    # cryptography's X.509 is a third of start-up: imported by the first certificate.
    from cryptography import x509

    from tlslens.x509.decoding import DECODE_ERRORS

    try:
        cert = x509.load_der_x509_certificate(der)
    except DECODE_ERRORS as exc:
        raise ValueError(error_text(exc)) from exc
    return readable(cert)


def _parse_certificate(der: bytes, sha256: str) -> CertificateInfo:
    from cryptography import x509
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

    from tlslens.x509.decoding import DECODE_ERRORS

    try:
        cert = x509.load_der_x509_certificate(der)
    except DECODE_ERRORS as exc:
        return CertificateInfo(der, sha256, None, None, None, None, None, error=error_text(exc))
    problems: list[str] = []
    fields: dict[str, Any] = {}
    for name, getter in (
        ("subject", lambda: cert.subject.rfc4514_string()),
        ("issuer", lambda: cert.issuer.rfc4514_string()),
        ("serial", lambda: format(cert.serial_number, "x")),
        ("not_before", lambda: cert.not_valid_before_utc),
        ("not_after", lambda: cert.not_valid_after_utc),
    ):
        try:
            fields[name] = getter()
        except (ValueError, TypeError) as exc:
            fields[name] = None
            problems.append(f"{name}: {error_text(exc)}")
    san: tuple[str, ...] = ()
    try:
        ext_san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        san = tuple(general_name_text(v) for v in ext_san.value)
    except x509.ExtensionNotFound:
        pass
    except DECODE_ERRORS as exc:
        problems.append(f"extensions: {error_text(exc)}")
    key_text: str | None = None
    try:
        key = cert.public_key()
        if isinstance(key, rsa.RSAPublicKey):
            key_text = f"RSA {key.key_size}"
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key_text = f"EC {key.curve.name}"
        elif isinstance(key, ed25519.Ed25519PublicKey):
            key_text = "Ed25519"
        elif isinstance(key, ed448.Ed448PublicKey):
            key_text = "Ed448"
        elif isinstance(key, dsa.DSAPublicKey):
            key_text = f"DSA {key.key_size}"
        else:
            key_text = type(key).__name__
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:  # e.g. ML-DSA, odd curves
        key_text = f"unsupported ({error_text(exc)})"
    sig_alg: str | None
    try:
        sig_alg = cert.signature_algorithm_oid._name
    except (ValueError, AttributeError):
        sig_alg = None
    return CertificateInfo(
        der,
        sha256,
        fields["subject"],
        fields["issuer"],
        fields["serial"],
        fields["not_before"],
        fields["not_after"],
        san=san,
        key=key_text,
        signature_algorithm=sig_alg,
        error="; ".join(problems) or None,
    )
