"""What judging a capture costs per connection: a chain already judged is answered from
the checker's cache (its words reused while the time stays in their span), a connection
without a chain is not looked into, and the resumption savings are timed only for the
command that says them. Each answer is the one a fresh validation gives (lab PKI,
tests/vectors/pki; project captures, tests/vectors/captures)."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tlslens import _core
from tlslens.judge import Judge, Reading, checker_given
from tlslens.model import Connection
from tlslens.x509 import ChainChecker, TrustStore, validate

from conftest import CAPTURES, VECTORS

PKI = VECTORS / "pki"
DER = serialization.Encoding.DER
UTC = dt.UTC


def _load(name: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate((PKI / f"{name}.pem").read_bytes())


ROOT, INTER, LEAF = _load("root"), _load("intermediate"), _load("server")
CHAIN = [c.public_bytes(DER) for c in (LEAF, INTER)]


def test_the_words_of_a_distance_hold_across_their_whole_span() -> None:
    """Ends past and to come, minutes to years away: every time in the span is worded as
    the time it was made for, and the span is most of a rounding step, not a point."""
    from tlslens.x509.validity import distances, wording_window

    rng = random.Random(23)
    base = dt.datetime(2026, 3, 1, tzinfo=UTC)
    for _ in range(400):
        at = base + dt.timedelta(seconds=rng.uniform(-1e8, 1e8))
        ends = [at + dt.timedelta(seconds=rng.choice((-1, 1)) * 10 ** rng.uniform(1, 8))]
        ends += [at - dt.timedelta(days=rng.uniform(0, 900))]
        start, end = wording_window(ends, at)
        if start > end:
            continue  # at a rounding edge: worded every time, never wrongly
        assert start <= at <= end
        words = distances(ends, at)
        for moment in (start, end, *(start + (end - start) * rng.random() for _ in range(5))):
            assert distances(ends, moment) == words
    # Ten days after an end: the span is a day short of two margins.
    at = base + dt.timedelta(days=10, hours=3)
    start, end = wording_window([base], at)
    assert (start, end) == (
        base + dt.timedelta(days=9.5, milliseconds=1),
        base + dt.timedelta(days=10.5, milliseconds=-1),
    )
    # Next to an edge (9.5 days) there is no span: that time is worded anew.
    edge = base + dt.timedelta(days=9.5)
    assert wording_window([base], edge) == (
        dt.datetime.max.replace(tzinfo=UTC),
        dt.datetime.min.replace(tzinfo=UTC),
    )
    # Where the calendar ends, no span either (and no OverflowError).
    last = dt.datetime.max.replace(tzinfo=UTC) - dt.timedelta(hours=1)
    assert wording_window([last - dt.timedelta(days=3)], last)[0] > last


def test_cached_verdicts_across_hour_edges_are_worded_as_fresh_ones() -> None:
    """A chain valid only from 2026-01-01 (the lab PKI), judged every seven minutes over
    the six hours before: the words change each hour ("N hours after the capture"), and
    each connection's verdict is the one a fresh validation gives at its time."""
    store = TrustStore("lab", [ROOT])
    checker = ChainChecker(store)
    start = LEAF.not_valid_before_utc - dt.timedelta(hours=6)
    for step in range(52):
        at = start + dt.timedelta(minutes=7 * step, seconds=13)
        got = checker.check(CHAIN, sni="tlslens.test", at=at, stapled_ocsp=None)
        fresh = validate(CHAIN, hostname="tlslens.test", at=at, store=store)
        assert got is not None and got.to_json() == fresh.to_json()
    assert len(checker.cache) == 1


def test_the_verdict_cache_is_bounded_in_count_and_bytes() -> None:
    """Verdicts for ever new names on few chains: the cache never holds more entries, nor
    more DER, than its bounds, and its answers are an unbounded checker's."""
    store = TrustStore("lab", [ROOT])
    bounded, unbounded = ChainChecker(store), ChainChecker(store)
    bounded.MAX_CACHE = 3
    bounded.MAX_CACHE_BYTES = 2 * sum(map(len, CHAIN))  # two chains' worth
    client = _load("client").public_bytes(DER)
    at = dt.datetime(2027, 6, 1, tzinfo=UTC)
    for n in range(12):
        for chain in (CHAIN, [CHAIN[0]], [client, CHAIN[1]]):
            name = f"host{n % 5}.tlslens.test"
            got = bounded.check(chain, sni=name, at=at, stapled_ocsp=None)
            want = unbounded.check(chain, sni=name, at=at, stapled_ocsp=None)
            assert got is not None and want is not None and got.to_json() == want.to_json()
            assert len(bounded.cache) <= 3
            assert bounded.cache_bytes <= bounded.MAX_CACHE_BYTES
    assert len(unbounded.cache) == 15


def test_copies_of_a_verdict_share_their_words_until_one_is_added_to() -> None:
    """Connections of one chain get copies that share the problems' list; online
    revocation gives the copy it is added to a list of its own."""
    checker = ChainChecker(TrustStore("lab", [ROOT]))
    at = dt.datetime(2027, 6, 1, tzinfo=UTC)
    first = checker.check(CHAIN, sni="other.test", at=at, stapled_ocsp=None)
    second = checker.check(CHAIN, sni="other.test", at=at, stapled_ocsp=None)
    assert first is not None and second is not None
    assert first.problems is second.problems and [p.code for p in first.problems] == [
        "name_mismatch"
    ]

    class Unavailable:
        subject, method, url, status, message = "leaf", "ocsp", "http://x", "unavailable", "down"

    first.add_revocation([Unavailable()])
    assert [p.code for p in first.problems] == ["name_mismatch", "revocation_unavailable"]
    assert [p.code for p in second.problems] == ["name_mismatch"]


def test_a_connection_without_a_chain_is_not_looked_into(monkeypatch: pytest.MonkeyPatch) -> None:
    """TLS 1.3 without keys sends no certificate in the clear: its verdict is None at once,
    without its staple or its time worked out (half of a capture, per connection)."""
    asked: list[int] = []
    real = Connection.stapled_ocsp

    def counted(conn: Connection) -> bytes | None:
        asked.append(conn.id)
        return real.fget(conn)  # type: ignore[attr-defined, no-any-return]

    monkeypatch.setattr(Connection, "stapled_ocsp", property(counted))
    checker = checker_given("none", [], None, None, warn=pytest.fail)
    conns = list(Reading(CAPTURES / "demo-tls12-tls13.pcapng", Judge(checker)))
    chained = [conn.id for conn in conns if conn.certificates]
    assert chained and len(chained) < len(conns)
    assert asked == chained
    assert all((conn.validation is None) == (not conn.certificates) for conn in conns)


def test_resumption_savings_are_timed_only_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only `show` says the savings: another command's reading times no handshake for
    them, and says nothing of them; asked, they are the ones `show` prints."""
    timed: list[int] = []
    real = _core.connection_timing

    def counted(conn: Connection) -> tuple[float | None, float | None, float | None]:
        timed.append(conn.id)
        return real(conn)

    monkeypatch.setattr(_core, "connection_timing", counted)
    capture = CAPTURES / "openssl-resumption.pcap"
    quiet = Reading(capture, Judge())
    assert list(quiet) and timed == [] and quiet.savings is None
    assert quiet.notes().resumption_savings == []
    asked = Reading(capture, Judge(), savings=True)
    conns = list(asked)
    assert timed == [conn.id for conn in conns]
    (line,) = asked.notes().resumption_savings
    assert "full handshakes" in line and "(median of 3), abbreviated" in line


def test_a_verdict_in_the_second_after_an_end_does_not_hold_past_it() -> None:
    """cryptography's validator reads whole seconds: half a second after the leaf's end it
    still accepts the chain. That verdict must not be cached for the days after."""
    store = TrustStore("lab", [ROOT])
    checker = ChainChecker(store)
    end = LEAF.not_valid_after_utc
    for at in (end + dt.timedelta(milliseconds=500), end + dt.timedelta(days=3)):
        cached = checker.check(CHAIN, sni="tlslens.test", at=at, stapled_ocsp=None)
        fresh = validate(CHAIN, hostname="tlslens.test", at=at, store=store)
        assert (cached.trusted, [p.code for p in cached.problems]) == (
            fresh.trusted,
            [p.code for p in fresh.problems],
        ), at
    assert not fresh.trusted


def test_a_verdict_is_given_anew_only_when_the_pool_changes_at_its_missing_issuer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The walk reads the pool of other connections' certificates at one name only (the
    missing issuer's), where only an intermediate that issued the certificate lacking it
    counts, and an entry once in stays: a chain is validated again when such an
    intermediate comes into the pool, not whenever another chain's certificate, or a root
    of that name, does. Each answer is a fresh validation's against the same pool."""
    store = TrustStore("empty", [])  # the lab root is nobody's: every chain lacks its issuer
    checker = ChainChecker(store)
    validated: list[int] = []
    real = ChainChecker._validate

    def counted(self: ChainChecker, certificates: list[bytes], *args: object) -> object:
        validated.append(len(certificates))
        return real(self, certificates, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(ChainChecker, "_validate", counted)
    at = dt.datetime(2027, 6, 1, tzinfo=UTC)

    def judged(chain: list[bytes]) -> list[str]:
        got = checker.check(chain, sni="tlslens.test", at=at, stapled_ocsp=None, conn_id=1)
        fresh = validate(
            chain, hostname="tlslens.test", at=at, store=store, seen_elsewhere=dict(checker.pool)
        )
        assert got is not None and got.to_json() == fresh.to_json()
        return [p.code for p in got.problems]

    def grown(certificate: x509.Certificate) -> None:
        size = len(checker.pool)
        checker.observe([CHAIN[0], certificate.public_bytes(DER)])
        assert len(checker.pool) == size + 1

    alone = judged(CHAIN[:1])  # the leaf without its intermediate, nowhere yet
    assert "intermediate_elsewhere_in_capture" not in alone
    judged(CHAIN)  # lacks the root; sends the intermediate, into the pool
    assert validated == [1, 2]
    grown(_load("other-root"))  # another name
    judged(CHAIN)
    assert validated == [1, 2]
    # The intermediate the leaf alone lacks came in: validated again, and explained.
    assert "intermediate_elsewhere_in_capture" in judged(CHAIN[:1])
    assert validated == [1, 2, 1]
    grown(ROOT)  # the name the chain lacks, but a root: it explains nothing
    judged(CHAIN)
    grown(_load("client"))
    judged(CHAIN)
    judged(CHAIN[:1])
    assert validated == [1, 2, 1]
