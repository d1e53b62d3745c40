"""Trust stores: the roots a client would accept, as data handed to validation."""

from __future__ import annotations

import importlib.util
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    # Imported where used: a store is made at start-up, its roots read at the first chain.
    from cryptography import x509
    from cryptography.x509.verification import Store


@dataclass(slots=True)
class TrustStore:
    """Named set of trust anchors. ``name`` goes into the JSON (mozilla, system, none, +ca)."""

    name: str
    roots: list[x509.Certificate] = field(default_factory=list)
    # Where a root added to the named store came from (an --ca file), by its DER: a path
    # anchored there names that file, not the store it was added to.
    origins: dict[bytes, str] = field(default_factory=dict)
    _store: Store | None = None
    _by_subject: dict[bytes, list[x509.Certificate]] | None = None

    @classmethod
    def from_pem(cls, name: str, pem: bytes) -> TrustStore:
        if not pem.strip():
            return cls(name, [])
        from cryptography import x509

        # Some long-trusted roots have a non-positive serial, which cryptography accepts
        # with a deprecation warning that means nothing to a user.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return cls(name, list(x509.load_pem_x509_certificates(pem)))

    def extended(
        self, name: str, extra: list[x509.Certificate], sources: Sequence[str] = ()
    ) -> TrustStore:
        """This store with ``extra`` roots; ``sources``: where each came from, in the same
        order (a root the store held already stays the store's)."""
        from cryptography.hazmat.primitives.serialization import Encoding

        added = {
            cert.public_bytes(Encoding.DER): source
            for cert, source in zip(extra, sources, strict=False)
            if not self.contains(cert)
        }
        return TrustStore(name, [*self.roots, *extra], {**self.origins, **added})

    def anchor_origin(self, root: x509.Certificate) -> str:
        """Where a trust anchor of this store came from: "the NAME store", or the file
        that added it ("--ca FILE")."""
        from cryptography.hazmat.primitives.serialization import Encoding

        return self.origins.get(root.public_bytes(Encoding.DER), f"the {self.name} store")

    @property
    def store(self) -> Store | None:
        if self._store is None and self.roots:
            from cryptography.x509.verification import Store

            self._store = Store(self.roots)
        return self._store

    def by_subject(self, subject: x509.Name) -> list[x509.Certificate]:
        if self._by_subject is None:
            from tlslens.x509.decoding import DECODE_ERRORS

            index: dict[bytes, list[x509.Certificate]] = {}
            for root in self.roots:
                try:
                    key = root.subject.public_bytes()
                except DECODE_ERRORS:
                    continue  # a root whose name does not decode anchors nothing by name
                index.setdefault(key, []).append(root)
            self._by_subject = index
        return self._by_subject.get(subject.public_bytes(), [])

    def contains(self, cert: x509.Certificate) -> bool:
        return any(root == cert for root in self.by_subject(cert.subject))


def mozilla_roots_file() -> Path:
    """certifi's bundle of the Mozilla roots: its own ``cacert.pem`` when it ships one, even
    where a shim makes ``certifi.where()`` name the system's store instead (the system's
    store is ``--trust-store system``)."""
    # certifi.where() finds it through importlib.resources (zipfile, tempfile, shutil, bz2
    # and lzma imported, an atexit hook): 15 ms of a `show` with a chain to check. In an
    # installed (unzipped) certifi the file lies beside its __init__; where() is asked only
    # when it does not.
    spec = importlib.util.find_spec("certifi")
    if spec is not None and spec.origin is not None:
        beside = Path(spec.origin).with_name("cacert.pem")
        if beside.is_file():
            return beside
    import certifi

    return Path(certifi.where())
