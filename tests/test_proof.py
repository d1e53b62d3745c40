"""Handshake signatures (tls/proof.py): checked with the certificate's key, and a signature
seen again (the same certificate, scheme, signature and signed bytes) not checked again."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tlslens import read_capture
from tlslens.keys.files import add_keylog_file
from tlslens.keys.store import KeyStore
from tlslens.tls import proof
from tlslens.x509.certificate import parse_certificate

from conftest import CAPTURES

ECDSA_SHA256 = 0x0403  # ecdsa_secp256r1_sha256 (RFC 8446 §4.2.3)


def _signed(data: bytes) -> tuple[bytes, bytes]:
    """A fresh self-signed P-256 certificate (DER) and its key's signature over ``data``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "proof.test")])
    start = datetime(2026, 1, 1, tzinfo=UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    signature = key.sign(data, ec.ECDSA(hashes.SHA256()))
    return certificate.public_bytes(serialization.Encoding.DER), signature


def test_a_signature_is_told_from_other_bytes_and_other_keys() -> None:
    data = proof.tls13_signed_content(proof.TLS13_SERVER_CONTEXT, bytes(32))
    der, signature = _signed(data)
    certificate = parse_certificate(der)
    assert proof.verify(certificate, ECDSA_SHA256, signature, data) == (True, None)
    # Asked again (answered from what was checked), and with one byte changed: not confused.
    assert proof.verify(certificate, ECDSA_SHA256, signature, data) == (True, None)
    assert proof.verify(certificate, ECDSA_SHA256, signature, data[:-1] + b"\1")[0] is False
    other, _ = _signed(data)
    assert proof.verify(parse_certificate(other), ECDSA_SHA256, signature, data)[0] is False
    assert proof.verify(certificate, 0x0804, signature, data) == (
        None,
        "an RSA-PSS scheme with a key that is not RSA",
    )


def test_a_signature_seen_again_is_not_checked_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """A capture that holds a connection twice (merged with itself, a replay, a load test's
    copies) gives the same verdicts, with each signature checked with its key once (here:
    the capture walk's own check left out, as for a signature it cannot check)."""
    capture = CAPTURES / "demo-tls12-tls13.pcapng"
    checked: list[tuple[Any, ...]] = []
    check, verify = proof._check, proof.verify

    def counting(*args: Any) -> str | None:
        checked.append(args)
        return check(*args)

    def unaided(*args: Any) -> tuple[bool | None, str | None]:
        return verify(*args[:4])

    monkeypatch.setattr(proof, "_check", counting)
    monkeypatch.setattr(proof, "verify", unaided)
    # What other tests checked before is forgotten: this one counts from nothing.
    monkeypatch.setattr(proof, "_VERDICTS", {}, raising=False)
    first = [c.to_json() for conn in read_capture(capture) for c in conn.handshake_signatures]
    assert any(check["verified"] for check in first)  # the TLS 1.2 ServerKeyExchange's
    once = len(checked)
    assert once >= 1
    again = [c.to_json() for conn in read_capture(capture) for c in conn.handshake_signatures]
    assert again == first
    assert len(checked) == once


def test_the_walks_check_is_only_ever_a_verdict_cryptography_gives(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Over every capture the project recorded, read with its key log (TLS 1.3's
    CertificateVerify decrypted): each signature the capture walk told as verifying (ring,
    through rustls' reading of the leaf) is one `cryptography` verifies too, told by the very
    key the verdict cache uses; and the walk told most of them (those it cannot check, a
    scheme or key ring does not take, are `cryptography`'s alone)."""
    asked: list[tuple[Any, ...]] = []
    verify = proof.verify

    def recording(*args: Any) -> tuple[bool | None, str | None]:
        asked.append(args)
        return verify(*args)

    monkeypatch.setattr(proof, "verify", recording)
    for capture in sorted(CAPTURES.glob("*.pcap*")):
        keylog = capture.with_suffix(".keys")
        keys = KeyStore()
        if keylog.exists():
            add_keylog_file(keys, keylog)
        for _conn in read_capture(capture, keys=keys):
            pass
    told = [args for args in asked if args[4] is not None]
    verified = 0
    for certificate, scheme, signature, data, by_core in asked:
        truth = proof._verify(certificate.der, scheme, signature, data)
        verified += truth == (True, None)
        if by_core is not None:
            key = (
                certificate.sha256,
                scheme,
                hashlib.sha256(signature).digest(),
                hashlib.sha256(data).digest(),
            )
            assert by_core == key
            assert truth == (True, None), (capture, scheme)
    assert len(told) >= verified * 3 // 4 > 0, (len(told), verified, len(asked))


def test_a_check_told_by_the_walk_answers_only_that_check() -> None:
    """The walk's verdict is taken for the check it names, never for another: the same key
    and signature over other bytes are checked here (and found not to verify)."""
    data = proof.tls13_signed_content(proof.TLS13_SERVER_CONTEXT, bytes([7]) * 32)
    der, signature = _signed(data)
    certificate = parse_certificate(der)
    told = (
        certificate.sha256,
        ECDSA_SHA256,
        hashlib.sha256(signature).digest(),
        hashlib.sha256(data).digest(),
    )
    other = data[:-1] + b"\x08"
    assert proof.verify(certificate, ECDSA_SHA256, signature, other, told)[0] is False
    assert proof.verify(certificate, ECDSA_SHA256, signature, data, told) == (True, None)
