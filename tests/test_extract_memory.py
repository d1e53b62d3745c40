"""A process that extracts capture after capture (an `extract --workers` process, a dask
worker) keeps what it holds across jobs flat: the caches it keeps between captures are
keyed on what decides their answer (a certificate's bytes), not on one job's objects."""

from __future__ import annotations

import datetime as dt
import gc
import importlib
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from tlslens.tables.jobs import Job, extract
from tlslens.x509.trust import TrustStore
from tlslens.x509.validate import validate

import adversarial
from conftest import CAPTURES, VECTORS

CERTIFICATE = importlib.import_module("tlslens.x509.certificate")


def _live_x509_objects() -> int:
    """The cryptography X.509 objects alive (names, attributes, extensions: what a
    certificate object decodes and keeps, the certificates themselves not being tracked)."""
    gc.collect()
    count = 0
    for obj in gc.get_objects():
        module = getattr(type(obj), "__module__", None)
        if isinstance(module, str) and module.startswith("cryptography.x509"):
            count += 1
    return count


def test_a_worker_holds_no_more_after_many_jobs_than_after_one(tmp_path: Path) -> None:
    """The same captures extracted again and again in one process: after the first round
    every later round finds what it needs already known, and keeps nothing more alive (each
    round used to keep every verdict's certificates, with all they decoded, ~1,000 objects
    per capture of many-5040)."""
    captures = sorted(str(p) for p in CAPTURES.iterdir() if p.name.endswith((".pcap", ".pcapng")))
    assert len(captures) >= 10

    def round_(k: int) -> int:
        for capture in captures:
            done = extract(Job(capture, str(tmp_path / f"round{k}"), run="memory"))
            assert done.error is None, done.error
        return _live_x509_objects()

    first = round_(1)
    later = [round_(k) for k in (2, 3, 4)]
    assert later == [first] * 3, (first, later)


def test_the_certificate_json_cache_goes_with_the_certificates(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The JSON made for a certificate is dropped when its parsed certificate is: else the
    JSON cache kept alive, by count only, the certificates the byte bound had let go (a
    hostile capture's certificates may be megabytes each)."""
    pem = b"".join((VECTORS / "pki" / n).read_bytes() for n in ("server-chain.pem", "ecdsa.pem"))
    ders = [c.public_bytes(Encoding.DER) for c in x509.load_pem_x509_certificates(pem)]
    assert len(ders) >= 2
    monkeypatch.setattr(CERTIFICATE, "_CERT_CACHE", {})
    monkeypatch.setattr(CERTIFICATE, "_JSON", {})
    monkeypatch.setattr(CERTIFICATE, "_CACHED_BYTES", 0)
    # Room for one certificate at a time.
    monkeypatch.setattr(CERTIFICATE, "MAX_CACHED_BYTES", max(map(len, ders)) + 1)
    for der in ders * 3:
        CERTIFICATE.parse_certificate(der).to_json()
        held = {id(info) for info in CERTIFICATE._CERT_CACHE.values()}
        assert set(CERTIFICATE._JSON) <= held


def test_the_row_writers_certificate_texts_go_with_the_certificates(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The text the row writer keeps of a certificate (``show --json``) goes when its parsed
    certificate does: once the connections are gone, no certificate outlives the cache's
    bound in bytes because a line was written with it."""
    import tlslens
    from tlslens.serialize import connection_line

    monkeypatch.setattr(CERTIFICATE, "_CERT_CACHE", {})
    monkeypatch.setattr(CERTIFICATE, "_JSON", {})
    monkeypatch.setattr(CERTIFICATE, "_CACHED_BYTES", 0)
    monkeypatch.setattr(CERTIFICATE, "MAX_CACHED_BYTES", 4096)  # about one certificate
    conns = list(tlslens.read_capture(CAPTURES / "demo-tls12-tls13.pcapng"))
    written = {id(info) for conn in conns for info in conn.certificates}  # not the objects
    assert len(written) >= 2, "the demo's connections send their chains"
    for conn in conns:
        connection_line(conn)
    del conns, conn
    # Other servers' certificates come (a later capture of extract's worker): past the
    # bound, the cache starts over.
    for der in _distinct_certificates(0, 16):
        CERTIFICATE.parse_certificate(der)
    assert CERTIFICATE._CACHED_BYTES < 16 * 300
    gc.collect()
    held = {id(info) for info in CERTIFICATE._CERT_CACHE.values()}
    alive = [
        o
        for o in gc.get_objects()
        if type(o) is CERTIFICATE.CertificateInfo and id(o) in written and id(o) not in held
    ]
    assert not alive, [o.subject for o in alive]


def _distinct_certificates(first: int, count: int) -> list[bytes]:
    """Self-signed certificates of ``count`` distinct servers (numbered from ``first``)."""
    key = ec.generate_private_key(ec.SECP256R1())
    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    ders = []
    for n in range(first, first + count):
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"server{n}.tlslens.test")])
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(n + 1)
            .not_valid_before(start)
            .not_valid_after(start + dt.timedelta(days=90))
            .sign(key, hashes.SHA256())
        )
        ders.append(cert.public_bytes(Encoding.DER))
    return ders


def test_what_verdicts_remember_of_certificates_is_bounded() -> None:
    """Verdicts on ever new servers (capture after capture of distinct ones): the caches
    keyed on certificates keep a few hundred alive, with what they decoded, not thousands."""
    store = TrustStore("lab", [])
    at = dt.datetime(2025, 2, 1, tzinfo=dt.UTC)

    def judge(ders: list[bytes]) -> int:
        for der in ders:
            validate([der], hostname="tlslens.test", at=at, store=store).to_json()
        return _live_x509_objects()

    judge(_distinct_certificates(0, 300))  # what the caches hold, full
    held = judge(_distinct_certificates(300, 300))
    assert judge(_distinct_certificates(600, 300)) <= held


def test_extract_of_connections_of_many_messages_costs_a_bounded_peak(tmp_path: Path) -> None:
    """extract held 1,024 `show --json` objects before it made their columns: 301
    connections of 10,000 handshake messages each (a row each in handshake_messages) made
    a peak of 1,066 MB (2.7 GB for 901). A connection now weighs one more for each of its
    messages (BATCH_WEIGHT): 167 MB, 164 MB for the 901 (Arrow's 16 MiB a row group, one
    connection's object of 600 KB, the Parquet writers'). Every message is still a row."""
    path = tmp_path / "held-back.pcapng"
    adversarial._write(path, adversarial.held_back(1 / 3))
    out = tmp_path / "tables"
    _seconds, peak, code, _out, err = adversarial.run_tlslens(
        "extract", "--out", str(out), str(path)
    )
    assert code == 0, err[-500:]
    assert peak < 250, f"{peak} MB"
    _seconds, _peak, code, shown, err = adversarial.run_show(path)
    assert code == 0, err[-500:]
    rows = [json.loads(line) for line in shown.splitlines()]
    assert pq.read_table(out / "connections").num_rows == len(rows) == 301
    messages = sum(len(row["handshake"]) for row in rows)
    assert messages > 3_000_000
    assert pq.read_table(out / "handshake_messages").num_rows == messages
