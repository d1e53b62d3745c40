"""The trust store is read at the first chain checked, not when the options are read: a
capture without a certificate in the clear never pays for it (issue 23, start-up). What is
said of a store that cannot be read, and the verdicts, stay as they were."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tlslens import judge
from tlslens.errors import OptionError

from conftest import VECTORS

PKI = VECTORS / "pki"
AT = dt.datetime(2027, 6, 1, tzinfo=dt.UTC)  # inside the lab PKI's 2026-2036 validity


def _chain() -> list[bytes]:
    return [
        x509.load_pem_x509_certificate((PKI / f"{name}.pem").read_bytes()).public_bytes(
            serialization.Encoding.DER
        )
        for name in ("server", "intermediate")
    ]


def test_an_unreadable_store_is_said_at_the_first_chain(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    missing = tmp_path / "ca-certificates.crt"
    monkeypatch.setattr(judge, "SYSTEM_STORE", missing)
    warned: list[str] = []
    checker = judge.checker_given("system", [], None, None, warn=warned.append)
    assert warned == []  # not read yet
    capture = checker.fresh()  # what each capture's reading takes
    verdict = capture.check(_chain(), sni="tlslens.test", at=AT, stapled_ocsp=None)
    assert warned == [
        f"trust store system: cannot be read ([Errno 2] No such file or directory: "
        f"'{missing}'); no roots are trusted"
    ]
    assert verdict is not None and verdict.trust_store == "none" and not verdict.trusted
    # Read once: another capture's checker, and its chains, say nothing more.
    checker.fresh().check(_chain(), sni="tlslens.test", at=AT, stapled_ocsp=None)
    assert len(warned) == 1


def test_the_roots_given_with_ca_are_read_with_the_options(tmp_path: Path) -> None:
    """--ca is still read, and refused, before any capture; the roots it adds are trusted
    once the store is read."""
    bad = tmp_path / "bad.pem"
    bad.write_bytes(b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    with pytest.raises(OptionError, match="not a usable certificate"):
        judge.checker_given("none", [bad], None, None, warn=print)
    checker = judge.checker_given("none", [PKI / "root.pem"], None, None, warn=print)
    verdict = checker.check(_chain(), sni="tlslens.test", at=AT, stapled_ocsp=None)
    assert verdict is not None and verdict.trusted and verdict.trust_store == "none+ca"
