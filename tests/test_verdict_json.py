"""A chain verdict's JSON when the checker hands out copies of a cached verdict (one per
connection): each copy names its own path, with the fingerprints of its certificates,
whatever was remembered from an earlier copy (lab PKI, tests/vectors/pki)."""

from __future__ import annotations

import datetime as dt
import hashlib

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tlslens.x509 import ChainChecker, TrustStore

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
