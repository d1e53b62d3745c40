"""Certificate chains: path, trust as of a given time, stapled OCSP, signatures explained.

The names are imported when first asked for (PEP 562): the model and the record layer
import ``tlslens.x509.certificate``, and a capture without a certificate in the clear must
not pay for the checker and cryptography's X.509 (a third of `show --json`'s start-up).
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING

from tlslens._lazy import lazy_names

if TYPE_CHECKING:
    from tlslens.x509.checker import ChainChecker
    from tlslens.x509.ocsp import OCSPCheck, check_stapled_ocsp
    from tlslens.x509.signature import explain_signature
    from tlslens.x509.trust import TrustStore
    from tlslens.x509.validate import CODES, Problem, Validation, validate

_LAZY = {
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


class _Package(types.ModuleType):
    """The package, whose name ``validate`` is the function: importing the submodule of
    the same name binds the module here (the import system's last step), which would hide
    the function from ``from tlslens.x509 import validate`` from then on."""

    def __setattr__(self, name: str, value: object) -> None:
        if name == "validate" and isinstance(value, types.ModuleType):
            value = value.validate
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
__getattr__, __dir__ = lazy_names(__name__, _LAZY)
