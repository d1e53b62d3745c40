"""Certificate chains: path, trust as of a given time, stapled OCSP, signatures explained."""

from tlslens.x509.checker import ChainChecker
from tlslens.x509.ocsp import OCSPCheck, check_stapled_ocsp
from tlslens.x509.signature import explain_signature
from tlslens.x509.trust import TrustStore
from tlslens.x509.validate import CODES, Problem, Validation, validate

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
