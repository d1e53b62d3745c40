"""Certificate chains: path, trust as of a given time, stapled OCSP, signatures explained."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tlslens._lazy import lazy_names

if TYPE_CHECKING:
    from tlslens.x509.checker import ChainChecker
    from tlslens.x509.ocsp import OCSPCheck, check_stapled_ocsp
    from tlslens.x509.signature import explain_signature
    from tlslens.x509.trust import TrustStore
    from tlslens.x509.validate import CODES, Problem, Validation, validate

# Imported when asked for: a submodule (x509.asn1, x509.certificate) must not bring the
# chain checker, OCSP and validation with it.
_WHERE = {
    "CODES": "tlslens.x509.validate",
    "ChainChecker": "tlslens.x509.checker",
    "OCSPCheck": "tlslens.x509.ocsp",
    "Problem": "tlslens.x509.validate",
    "TrustStore": "tlslens.x509.trust",
    "Validation": "tlslens.x509.validate",
    "check_stapled_ocsp": "tlslens.x509.ocsp",
    "explain_signature": "tlslens.x509.signature",
    "validate": "tlslens.x509.validate",
}

__all__ = [
    "CODES",
    "ChainChecker",
    "OCSPCheck",
    "Problem",
    "TrustStore",
    "Validation",
    "check_stapled_ocsp",
    "explain_signature",
    "validate",
]

__getattr__, __dir__ = lazy_names(__name__, _WHERE)
