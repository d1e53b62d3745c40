"""What a connection's cipher suite asks of the core: its records' layout.

Computed by ``tlslens._core`` (crates/tlslens-core: protection/spec.rs); this module only
hands over the registry's names.
"""

from __future__ import annotations

from tlslens import _core, registry
from tlslens._core import CipherSpec


def cipher_spec(info: registry.CipherSuiteInfo, version: int) -> CipherSpec:
    """What records of this suite need. Raises UnsupportedCipherError, saying why."""
    return _core.cipher_spec(info.name, info.cipher or "", info.mac or "", info.tls13, version)
