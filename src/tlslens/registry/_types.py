"""Typed rows of the generated registry tables."""

from __future__ import annotations

from typing import NamedTuple


class CipherSuiteInfo(NamedTuple):
    """One IANA cipher suite, decomposed from its name.

    ``kx``/``auth`` are None for TLS 1.3 suites (the group and the certificate
    decide those); ``mac`` is "AEAD" for AEAD suites; ``prf_hash`` is the hash of
    the TLS 1.2 PRF or the TLS 1.3 HKDF.
    """

    name: str
    kx: str | None
    auth: str | None
    cipher: str | None
    mac: str | None
    prf_hash: str | None
    aead: bool
    forward_secrecy: bool | None
    export: bool
    tls13: bool
    scsv: bool
