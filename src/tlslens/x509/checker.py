"""Chain verdicts for a whole capture: each connection as of its own time, cached."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509

from tlslens.x509.trust import TrustStore
from tlslens.x509.validate import Validation, quiet, validate, validity_problems

_EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
_LATEST = datetime(9999, 12, 30, tzinfo=UTC)
_TICK = timedelta(microseconds=1)


class ChainChecker:
    """Validates each connection's chain as of its own handshake time (or ``at``).

    Keeps the certificates seen so far in the capture, to tell a missing intermediate
    that another connection did send, and reuses a result while the validation time
    stays inside the window where nothing it depends on changes.
    """

    MAX_POOL = 20_000
    MAX_CACHE = 4096

    def __init__(
        self, store: TrustStore, *, host: str | None = None, at: datetime | None = None
    ) -> None:
        self.store = store
        self.host = host
        self.at = at
        self.pool: dict[bytes, x509.Certificate] = {}
        self.cache: dict[tuple[Any, ...], tuple[datetime, datetime, Validation]] = {}

    def check(
        self,
        certificates: list[bytes],
        *,
        sni: str | None,
        at: datetime,
        stapled_ocsp: bytes | None,
    ) -> Validation | None:
        if not certificates:
            return None
        hostname = self.host or sni
        when = self.at or at
        key = (tuple(hashlib.sha256(der).digest() for der in certificates), hostname, stapled_ocsp)
        cached = self.cache.get(key)
        if cached is not None and cached[0] <= when <= cached[1]:
            # Same verdict; only the time-relative wording of validity problems changes.
            old = cached[2]
            count = sum(1 for p in old.problems if p.code in ("expired", "not_yet_valid"))
            problems = [
                *old.problems[: old.validity_at],
                *validity_problems(old.path, when),
                *old.problems[old.validity_at + count :],
            ]
            return dataclasses.replace(old, checked_at=when, problems=problems)
        result = validate(
            certificates,
            hostname=hostname,
            at=when,
            store=self.store,
            seen_elsewhere=self.pool,
            stapled_ocsp=stapled_ocsp,
        )
        self._remember(certificates)
        if not any(
            p.code in ("missing_intermediate", "unparsable_certificate") for p in result.problems
        ):
            # The verdict only changes when the time crosses a validity boundary of a
            # certificate (or of the staple): it holds for the interval around ``when``.
            boundaries = {c.not_valid_before_utc for c in result.path}
            boundaries |= {c.not_valid_after_utc for c in result.path}
            if result.ocsp is not None:
                boundaries |= {t for t in (result.ocsp.this_update, result.ocsp.next_update) if t}
            start = max((b for b in boundaries if b <= when), default=_EARLIEST)
            end = min((b for b in boundaries if b > when), default=_LATEST)
            if len(self.cache) >= self.MAX_CACHE:
                self.cache.clear()
            self.cache[key] = (start, end - _TICK, result)
        # Callers may add to the verdict (online revocation): never to the cached one.
        return dataclasses.replace(result, problems=list(result.problems))

    @quiet
    def _remember(self, certificates: list[bytes]) -> None:
        for der in certificates[1:]:
            if len(self.pool) >= self.MAX_POOL:
                return
            try:
                cert = x509.load_der_x509_certificate(der)
            except ValueError:
                continue
            self.pool.setdefault(cert.subject.public_bytes(), cert)
