"""The caches keyed on a certificate (x509/cache.py) hold ordinary certificates only, a
bounded number of them, and answer as the uncached work does: a hostile capture's
certificates of megabytes are not kept for the next capture a process reads."""

from __future__ import annotations

import datetime
import sys
import threading

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tlslens.tls import proof
from tlslens.x509 import cache, names
from tlslens.x509.validate import fingerprint


def _certificate(name: str, padding: int = 0) -> x509.Certificate:
    """A self-signed certificate, ``padding`` bytes bigger by an unknown extension."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=90))
    )
    if padding:
        oid = x509.ObjectIdentifier("1.3.6.1.4.1.55555.1")
        builder = builder.add_extension(x509.UnrecognizedExtension(oid, b"\0" * padding), False)
    return builder.sign(key, hashes.SHA256())


def test_an_oversized_certificate_is_answered_but_not_kept() -> None:
    big = _certificate("big.example", padding=cache.LARGEST_CACHED + 1)
    small = _certificate("small.example")
    for cached in (names.subject_text, fingerprint):
        cached.entries.clear()
        assert cached(big) == cached.work(big)
        assert cached(small) == cached.work(small)
        assert big not in cached.entries and small in cached.entries
    der = big.public_bytes(serialization.Encoding.DER)
    proof._public_key.entries.clear()
    assert proof._public_key(der) is not None
    assert der not in proof._public_key.entries


def test_a_cache_keyed_on_certificates_is_bounded_in_count() -> None:
    certificates = [_certificate(f"host{i}.example") for i in range(cache.CERTIFICATES_CACHED + 5)]
    names.subject_text.entries.clear()
    said = [names.subject_text(cert) for cert in certificates]
    assert said == [f"CN=host{i}.example" for i in range(len(certificates))]
    assert 0 < len(names.subject_text.entries) <= cache.CERTIFICATES_CACHED
    # Asked again, the answers are the same, from the cache or worked out anew.
    assert [names.subject_text(cert) for cert in certificates] == said


def test_a_cache_keyed_on_certificates_is_safe_on_threads() -> None:
    """Probes of ``audit`` check signatures on threads: evicting from a full cache must not
    race (two threads deleting the same oldest entry raised KeyError)."""
    cached = cache.per_der(len)
    errors: list[BaseException] = []

    def ask(first: int) -> None:
        try:
            for n in range(first, first + 3 * cache.CERTIFICATES_CACHED):
                assert cached(n.to_bytes(4, "big")) == 4
        except BaseException as exc:
            errors.append(exc)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=ask, args=(i * 97,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert errors == []
    assert len(cached.entries) <= cache.CERTIFICATES_CACHED
