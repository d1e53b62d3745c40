"""Caches keyed on a certificate (or its DER), bounded in count and in bytes.

Strategy: servers send the same few certificates over and over, and each verdict names
them; a cache keyed on a certificate keeps that object, and the DER it holds, alive. A few
hundred ordinary certificates hold the chains a capture repeats. A certificate of more than
``LARGEST_CACHED`` bytes (only a hostile or broken peer sends one: a real chain's are a
few KiB) is worked out again each time it is asked for, so that no capture leaves more
than ``CERTIFICATES_CACHED`` × ``LARGEST_CACHED`` per cache to the next one a process reads
(``extract``'s workers read capture after capture). A full cache lets its oldest entry go.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:  # cryptography is imported by what first parses a certificate, not here
    from cryptography import x509

CERTIFICATES_CACHED = 256
LARGEST_CACHED = 64 << 10

_K = TypeVar("_K", bound=Hashable)
_R = TypeVar("_R")


class PerCertificate(Generic[_K, _R]):
    """``work(key)``, kept for ``key`` while ``size(key)`` is ordinary (see the module's
    Strategy); ``entries`` is what is held."""

    def __init__(self, work: Callable[[_K], _R], size: Callable[[_K], int]) -> None:
        self.work = work
        self.size = size
        self.entries: dict[_K, _R] = {}
        # Probes of `audit` and `scan` check signatures on threads: the eviction (find the
        # oldest, delete it) must not race another thread's.
        self._lock = threading.Lock()
        functools.update_wrapper(self, work)

    def __call__(self, key: _K) -> _R:
        try:
            return self.entries[key]
        except KeyError:
            pass
        answer = self.work(key)
        if self.size(key) <= LARGEST_CACHED:
            with self._lock:
                if len(self.entries) >= CERTIFICATES_CACHED:
                    del self.entries[next(iter(self.entries))]  # the first kept goes first
                self.entries[key] = answer
        return answer


def per_certificate(work: Callable[[x509.Certificate], _R]) -> PerCertificate[x509.Certificate, _R]:
    """Cached by certificate, its size the DER of its body."""
    return PerCertificate(work, lambda cert: len(cert.tbs_certificate_bytes))


def per_der(work: Callable[[bytes], _R]) -> PerCertificate[bytes, _R]:
    """Cached by a certificate's DER."""
    return PerCertificate(work, len)
