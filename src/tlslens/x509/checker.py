"""Chain verdicts for a whole capture: each connection as of its own time, cached."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from tlslens.x509.certificate import load_certificate, parse_certificate, quiet
from tlslens.x509.validity import distances, wording_window

if TYPE_CHECKING:
    from cryptography import x509

    from tlslens.x509.trust import TrustStore
    from tlslens.x509.validate import Problem, Validation

_EARLIEST = datetime(1, 1, 2, tzinfo=UTC)


_LATEST = datetime(9999, 12, 30, tzinfo=UTC)
_SECOND = timedelta(seconds=1)
_TICK = timedelta(microseconds=1)


class LateIntermediate(NamedTuple):
    """An issuer some connections did not send, that a later connection of the capture did."""

    issuer: str
    missing_in: tuple[int, ...]  # the first connections that lacked it (at most MAX_IDS)
    more: int  # how many more lacked it
    sent_in: int  # the first later connection that sent it


@dataclass(slots=True)
class _Awaited:
    child: x509.Certificate  # the certificate whose issuer was missing
    ids: list[int]
    more: int = 0
    size: int = 0  # the child's DER bytes


@dataclass(slots=True)
class _Cached:
    """A verdict, with where it holds (times, pool) and its problems as worded so far."""

    start: datetime  # the window of time in which no certificate of the path starts or ends
    end: datetime
    verdict: Validation
    pool_size: int  # the pool's size when it was given
    complete: bool  # no intermediate missing: a grown pool can only change it with ``awaited``
    awaited: bytes | None  # the issuer name (DER) it lacks, that another connection may send
    # The pool cannot change it any more: the walk reads the pool at one name only (the
    # missing issuer's), and it held that name when the verdict was given (an entry once in
    # is never replaced: setdefault).
    settled: bool = False
    lapsed: int = 0  # its expired and not-yet-valid problems, from verdict.validity_at on
    ends: tuple[datetime, ...] = ()  # the validity end each of those certificates is past
    # The problems for each distinct wording of those distances (validity.distances).
    worded: dict[tuple[str, ...], list[Problem]] = field(default_factory=dict)
    # The last of those wordings, and the span of time in which it holds unchanged
    # (validity.wording_window): the next connection's time is usually inside it.
    said: list[Problem] = field(default_factory=list)
    said_from: datetime = _LATEST
    said_to: datetime = _EARLIEST


def _digests(certificates: list[bytes]) -> tuple[str, ...]:
    return tuple(parse_certificate(der).sha256 for der in certificates)


class ChainChecker:
    """Validates each connection's chain as of its own handshake time (or ``at``).

    Keeps the certificates seen so far in the capture, to tell a missing intermediate
    that another connection did send, and reuses a result while the validation time
    stays inside the window where nothing it depends on changes. A verdict is given
    when its connection ends, so an intermediate that only a *later* connection sends
    cannot change it: ``late`` lists those cases for a closing summary. Every map here
    is bounded, whatever the number of connections.
    """

    # (A certificate kept parsed costs 1.3 KB for a 300-byte one: 20,000 of them, the
    # bound before, held 26 MB.)
    MAX_POOL = 8192
    # ... and their DER (each kept parsed, ~3 times that): 2,000 connections that each sent
    # 100 distinct certificates filled the pool with 20,000, ~60 MB.
    MAX_POOL_BYTES = 8 << 20
    MAX_CACHE = 4096
    # The DER of the chains whose verdicts the cache keeps (each path's certificates are
    # held parsed, with their extensions once read): with what the open connections hold
    # (--max-held, 64 MiB), 16 MiB of them made 162 MB of open connections that each sent
    # 100 distinct certificates.
    MAX_CACHE_BYTES = 8 << 20
    MAX_AWAITED = 4096
    # ... and the DER of the certificates those wait with (each kept whole, parsed: twice
    # its DER and more with its extensions read): 4,096 leaves of 8 KB each, each lacking
    # its own issuer, held 74 MB of a `show` of 240 MB.
    MAX_AWAITED_BYTES = 8 << 20
    MAX_IDS = 20
    MAX_WORDINGS = 64  # per verdict: a capture spanning days words an expiry anew each hour

    def __init__(
        self,
        store: TrustStore | Callable[[], TrustStore],
        *,
        host: str | None = None,
        at: datetime | None = None,
        client_store: TrustStore | None = None,
    ) -> None:
        # The roots may come as the function that reads them, called at the first chain
        # checked (once: it is the caller's to remember its answer): a capture without a
        # certificate in the clear never reads the Mozilla store.
        self._store = store
        self._client_store = client_store
        self.host = host
        self.at = at
        self.pool: dict[bytes, x509.Certificate] = {}
        self.pool_bytes = 0  # the DER of the certificates in ``pool``
        self.cache: dict[tuple[Any, ...], _Cached] = {}  # chain, name, staple... -> verdict
        self.cache_bytes = 0  # the DER of the chains in ``cache`` (each entry's own)
        self.known: set[str] = set()  # SHA-256 (hex) of the certificates remembered
        self.awaited: dict[bytes, _Awaited] = {}  # issuer subject (DER) -> who lacked it
        self.awaited_bytes = 0  # the DER of their children
        self.late: list[LateIntermediate] = []

    def fresh(self, *, host: str | None = None) -> ChainChecker:
        """The same store, host (or ``host`` when given) and time, for another capture or
        target: nothing seen yet."""
        return ChainChecker(
            self._store, host=host or self.host, at=self.at, client_store=self._client_store
        )

    @property
    def store(self) -> TrustStore:
        """The roots, read now if they were not yet."""
        if callable(self._store):
            self._store = self._store()
        return self._store

    @property
    def client_store(self) -> TrustStore:
        """The roots a client's chain is checked against: the client roots given, or the
        server roots."""
        return self._client_store or self.store

    def check_client(
        self, certificates: list[bytes], *, at: datetime, lent: list[bytes] | None = None
    ) -> Validation | None:
        """The chain a client sent for client authentication, against the client roots;
        ``lent``: the server's certificates of the same connection, whose intermediates the
        path may use (a client often sends its leaf alone, issued by the server's CA)."""
        if not certificates:
            return None
        result, _ = self._check(
            certificates,
            _digests(certificates),
            sni=None,
            at=at,
            stapled_ocsp=None,
            client=True,
            lent=lent or [],
        )
        return result

    def observe(self, certificates: list[bytes], conn_id: int | None = None) -> None:
        """A connection whose chain is not checked still shows its certificates."""
        self._remember(certificates, _digests(certificates), conn_id)

    def check(
        self,
        certificates: list[bytes],
        *,
        sni: str | None,
        at: datetime,
        stapled_ocsp: bytes | None,
        conn_id: int | None = None,
    ) -> Validation | None:
        if not certificates:
            return None
        digests = _digests(certificates)
        result, cached = self._check(
            certificates, digests, sni=sni, at=at, stapled_ocsp=stapled_ocsp
        )
        if conn_id is not None and cached.awaited is not None:
            self._await(cached.awaited, result, conn_id)
        self._remember(certificates, digests, conn_id)
        return result

    def _check(
        self,
        certificates: list[bytes],
        digests: tuple[str, ...],
        *,
        sni: str | None,
        at: datetime,
        stapled_ocsp: bytes | None,
        client: bool = False,
        lent: list[bytes] | None = None,
    ) -> tuple[Validation, _Cached]:
        """The verdict on a server's chain, or (``client``) on a client's, against the client
        roots and without the pool: a client's chain is not completed from elsewhere."""
        hostname = None if client else self.host or sni
        when = self.at or at
        # The certificates' SHA-256, not their bytes: a key keeps its chain alive, and a
        # hostile capture's chains may be megabytes each. parse_certificate knows each DER
        # object already (one per distinct DER), so no digest is computed anew here.
        key = (digests, hostname, stapled_ocsp, client, _digests(lent) if lent else ())
        cached = self.cache.get(key)
        if (
            cached is None
            or not cached.start <= when <= cached.end
            # The pool of certificates seen elsewhere only grows: unchanged since the
            # verdict, the verdict stands; grown, it may still stand (_pool_kept).
            or not (client or cached.pool_size == len(self.pool) or self._pool_kept(cached))
        ):
            counted = cached is not None  # a verdict replaced: the same chain, counted
            cached = self._validate(certificates, hostname, when, stapled_ocsp, client, lent)
            if not counted:
                size = sum(map(len, certificates))
                if len(self.cache) >= self.MAX_CACHE or (
                    self.cache_bytes + size > self.MAX_CACHE_BYTES
                ):
                    self.cache.clear()
                    self.cache_bytes = 0
                self.cache_bytes += size
            self.cache[key] = cached
        # A copy per connection, sharing the problems: a caller adding to the verdict
        # (online revocation) does it on a list of the copy's own.
        return cached.verdict.as_of(when, self._worded(cached, when)), cached

    def _pool_kept(self, cached: _Cached) -> bool:
        """Whether the pool, grown since ``cached`` was given, leaves it as it was: the
        walk reads the pool at the missing issuer's name only, where only an intermediate
        that issued the certificate lacking it changes the verdict (other chains'
        certificates do not count, nor a root another server sent)."""
        if cached.settled:
            return True
        if cached.awaited is None:
            return cached.complete
        if cached.awaited not in self.pool:
            return True
        from tlslens.x509.walk import intermediate_elsewhere

        child = cached.verdict.missing_issuer
        # What the pool holds at that name is never replaced: once told, it stays told.
        cached.settled = child is not None and intermediate_elsewhere(child, self.pool) is None
        return cached.settled

    def _validate(
        self,
        certificates: list[bytes],
        hostname: str | None,
        when: datetime,
        stapled_ocsp: bytes | None,
        client: bool,
        lent: list[bytes] | None,
    ) -> _Cached:
        """A new verdict, and the window of time (and of the pool) where it holds."""
        from tlslens.x509.names import issuer_key
        from tlslens.x509.validate import validate  # see x509/__init__

        result = validate(
            certificates,
            hostname=hostname,
            at=when,
            store=self.client_store if client else self.store,
            seen_elsewhere=None if client else self.pool,
            stapled_ocsp=stapled_ocsp,
            at_capture=self.at is None,
            client=client,
            lent=lent or [],
        )
        # The verdict only changes when the time crosses a validity boundary of a certificate
        # (or of the staple), or when the pool grows: it holds for the interval around
        # ``when`` and this pool. A chain short of an intermediate holds only for this pool.
        complete = not any(
            p.code in ("missing_intermediate", "unparsable_certificate") for p in result.problems
        )
        boundaries = {c.not_valid_before_utc for c in result.path}
        boundaries |= {c.not_valid_after_utc for c in result.path}
        if result.ocsp is not None:
            boundaries |= {t for t in (result.ocsp.this_update, result.ocsp.next_update) if t}
        # cryptography's validator reads the time in whole seconds: in the second after a
        # boundary it may still answer as before it, so that second is a window of its own.
        boundaries |= {b + _SECOND for b in boundaries if b < _LATEST}
        start = max((b for b in boundaries if b <= when), default=_EARLIEST)
        end = min((b for b in boundaries if b > when), default=_LATEST)
        # Inside the window each certificate of the path stays valid, expired or not yet
        # valid: the words of its problem change only with the distance to the end it lapsed.
        lapsed = sum(1 for p in result.problems if p.code in ("expired", "not_yet_valid"))
        ends = tuple(
            c.not_valid_after_utc if when > c.not_valid_after_utc else c.not_valid_before_utc
            for c in result.path
            if not c.not_valid_before_utc <= when <= c.not_valid_after_utc
        )
        child = result.missing_issuer
        elsewhere = any(p.code == "intermediate_elsewhere_in_capture" for p in result.problems)
        awaited = issuer_key(child) if child is not None and not elsewhere else None
        cached = _Cached(start, end - _TICK, result, len(self.pool), complete, awaited)
        cached.settled = elsewhere or (awaited is not None and awaited in self.pool)
        if lapsed:
            cached.lapsed, cached.ends = lapsed, ends
        cached.worded[distances(ends, when) if lapsed else ()] = result.problems
        return cached

    def _worded(self, cached: _Cached, when: datetime) -> list[Problem]:
        """The cached verdict's problems as of ``when``: its expired and not-yet-valid
        certificates' problems worded for that time, once per distinct wording."""
        if not cached.lapsed:
            return cached.verdict.problems
        if cached.said_from <= when <= cached.said_to:
            return cached.said
        from tlslens.x509.validate import validity_problems

        situation = distances(cached.ends, when)
        problems = cached.worded.get(situation)
        if problems is None:
            old, at_capture = cached.verdict, self.at is None
            problems = [
                *old.problems[: old.validity_at],
                *validity_problems(old.path, when, at_capture=at_capture),
                *old.problems[old.validity_at + cached.lapsed :],
            ]
            if len(cached.worded) >= self.MAX_WORDINGS:
                cached.worded.clear()
            cached.worded[situation] = problems
        cached.said, (cached.said_from, cached.said_to) = (
            problems,
            wording_window(cached.ends, when),
        )
        return problems

    def _await(self, key: bytes, result: Validation, conn_id: int) -> None:
        """The issuer (subject ``key``) was missing in connection ``conn_id``: wait for it."""
        entry = self.awaited.get(key)
        if entry is None:
            child = result.missing_issuer
            if len(self.awaited) >= self.MAX_AWAITED or child is None:
                return
            size = len(child.tbs_certificate_bytes) + len(child.signature)
            if self.awaited_bytes + size > self.MAX_AWAITED_BYTES:
                return
            self.awaited_bytes += size
            entry = self.awaited[key] = _Awaited(child, [], size=size)
        if len(entry.ids) < self.MAX_IDS:
            entry.ids.append(conn_id)
        else:
            entry.more += 1

    def _remember(
        self, certificates: list[bytes], digests: tuple[str, ...], conn_id: int | None
    ) -> None:
        for der, digest in zip(certificates[1:], digests[1:], strict=True):
            if digest in self.known:
                continue  # the usual case, told without loading it (nor silencing warnings)
            if len(self.known) < self.MAX_POOL:
                self.known.add(digest)
            self._learn(der, conn_id)

    @quiet
    def _learn(self, der: bytes, conn_id: int | None) -> None:
        """A certificate not seen before in the capture: into the pool, and is it the issuer
        an earlier connection lacked?"""
        from tlslens.x509.names import subject_key
        from tlslens.x509.signature import self_signed, signed_by

        try:
            cert = load_certificate(der)
        except ValueError:
            return
        subject = subject_key(cert)
        entry = self.awaited.get(subject)
        # Only a later connection can have sent what an earlier one lacked: a chain that
        # carries the issuer and still cannot use it did not forget it.
        waiting = [i for i in entry.ids if i != conn_id] if entry is not None else []
        if (
            entry is not None
            and conn_id is not None
            and (waiting or entry.more)
            and not self_signed(cert)
            and signed_by(entry.child, cert)
        ):
            del self.awaited[subject]
            self.awaited_bytes -= entry.size
            self.late.append(
                LateIntermediate(cert.subject.rfc4514_string(), tuple(waiting), entry.more, conn_id)
            )
        size = len(der)
        room = len(self.pool) < self.MAX_POOL and self.pool_bytes + size <= self.MAX_POOL_BYTES
        if room and subject not in self.pool:
            self.pool[subject] = cert
            self.pool_bytes += size
