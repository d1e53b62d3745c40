"""Certificate chains: path, trust as of a given time, stapled OCSP, signatures explained."""

from tlslens.x509.ocsp import OCSPCheck, check_stapled_ocsp
from tlslens.x509.trust import TrustStore
from tlslens.x509.validate import (
    CODES,
    ChainChecker,
    Problem,
    Validation,
    explain_signature,
    validate,
)

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
