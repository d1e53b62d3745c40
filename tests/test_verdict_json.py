"""A chain verdict's JSON when the checker hands out copies of a cached verdict (one per
connection): each copy names its own path, with the fingerprints of its certificates,
whatever was remembered from an earlier copy (lab PKI, tests/vectors/pki)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import importlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tlslens.x509 import ChainChecker, Problem, TrustStore

from conftest import VECTORS

PKI = VECTORS / "pki"
DER = serialization.Encoding.DER
AT = dt.datetime(2027, 6, 1, tzinfo=dt.UTC)  # inside the lab PKI's 2026-2036 validity


def _load(name: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate((PKI / f"{name}.pem").read_bytes())


def _sha256(cert: x509.Certificate) -> str:
    return hashlib.sha256(cert.public_bytes(DER)).hexdigest()


ROOT, INTER, LEAF = _load("root"), _load("intermediate"), _load("server")


def test_copies_of_a_cached_verdict_each_name_their_path() -> None:
    checker = ChainChecker(TrustStore("lab", [ROOT]))
    chain = [c.public_bytes(DER) for c in (LEAF, INTER)]
    first = checker.check(chain, sni="tlslens.test", at=AT, stapled_ocsp=None)
    again = checker.check(
        chain, sni="tlslens.test", at=AT + dt.timedelta(days=1), stapled_ocsp=None
    )
    assert first is not None and again is not None and first is not again
    expected = [_sha256(c) for c in (LEAF, INTER, ROOT)]
    shown = first.to_json()["path"]
    assert shown == expected
    shown.append("the caller's list")  # the row's to change: the next verdict is not
    assert again.to_json()["path"] == expected
    assert again.to_json()["checked_at"] == "2027-06-02T00:00:00Z"
    # Another chain through the same intermediate: its own leaf, not the remembered one.
    other = _load("client")
    client = checker.check_client([other.public_bytes(DER)], at=AT, lent=chain)
    assert client is not None
    assert client.to_json()["path"] == [_sha256(c) for c in (other, INTER, ROOT)]


def test_a_cached_verdict_is_reworded_once_per_wording(monkeypatch: pytest.MonkeyPatch) -> None:
    """Connections a second apart whose chain is not yet valid get the same words ("N days
    after the capture"): the checker words them once, and each connection still gets the
    verdict a fresh validation gives at its own time."""
    module = importlib.import_module("tlslens.x509.validate")
    worded: list[dt.datetime] = []
    real = module.validity_problems

    def counted(path: list[x509.Certificate], at: dt.datetime, **kw: bool) -> list[Problem]:
        worded.append(at)
        return real(path, at, **kw)

    monkeypatch.setattr(module, "validity_problems", counted)
    # Where the checker finds it by its own name (it did, before it asked the module).
    monkeypatch.setattr("tlslens.x509.checker.validity_problems", counted, raising=False)
    store = TrustStore("lab", [ROOT])
    checker = ChainChecker(store)
    chain = [c.public_bytes(DER) for c in (LEAF, INTER)]
    early = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    times = [early + dt.timedelta(seconds=s) for s in range(200)]
    times.append(early + dt.timedelta(days=100))
    verdicts = [checker.check(chain, sni="tlslens.test", at=t, stapled_ocsp=None) for t in times]
    # One wording when first validated, one for the day a hundred days later.
    assert len(worded) == 2
    monkeypatch.setattr(module, "validity_problems", real)
    for at in (times[0], times[150], times[-1]):
        got = verdicts[times.index(at)]
        fresh = module.validate(chain, hostname="tlslens.test", at=at, store=store)
        assert got is not None and got.to_json() == fresh.to_json()
    assert [p.code for p in verdicts[-1].problems if p.code == "not_yet_valid"] == [
        "not_yet_valid"
    ] * 3
    first, second = verdicts[0], verdicts[1]
    assert first is not None and second is not None
    # Worded alike, the copies share one list (read-only: test_judge_costs.py checks that
    # online revocation gives a copy a list of its own).
    assert first.problems is second.problems
    assert (first.checked_at, second.checked_at) == (times[0], times[1])


def test_a_verdict_as_of_another_time_keeps_every_other_field() -> None:
    """``Validation.as_of`` (the copy each connection gets) names every field: one added
    to Validation and forgotten there would be lost on every cached verdict."""
    module = importlib.import_module("tlslens.x509.validate")
    fields = dataclasses.fields(module.Validation)
    # A value for every field unlike its default, so that a forgotten one shows.
    values = {f.name: object() for f in fields}
    verdict = module.Validation(**values)
    later = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    copied = verdict.as_of(later, [])
    assert {f.name: getattr(copied, f.name) for f in fields} == {
        **values,
        "checked_at": later,
        "problems": [],
    }
