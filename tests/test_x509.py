"""Certificate chains: the verdict and the named problems, against chains built from the lab
PKI (tests/vectors/pki), the project's captures, `openssl verify`, and the shared corpus."""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

import tlslens
from tlslens.cli import main
from tlslens.judge import verdicts
from tlslens.x509 import ChainChecker, TrustStore, validate
from tlslens.x509.ocsp import check_stapled_ocsp

from conftest import CAPTURES, VECTORS, require_program

PKI = VECTORS / "pki"
DER = serialization.Encoding.DER
AT = dt.datetime(2027, 6, 1, tzinfo=dt.UTC)  # inside the lab PKI's 2026-2036 validity


def _load(name: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate((PKI / f"{name}.pem").read_bytes())


def _key(name: str):  # type: ignore[no-untyped-def]
    return serialization.load_pem_private_key((PKI / f"{name}.key").read_bytes(), None)


ROOT, INTER, LEAF = _load("root"), _load("intermediate"), _load("server")
LAB = TrustStore("lab", [ROOT])
EMPTY = TrustStore("none", [])


def _issue(
    cn: str = "tlslens.test",
    *,
    san: list[str] | None = None,
    key=None,  # type: ignore[no-untyped-def]
    issuer: x509.Certificate = INTER,
    issuer_key=None,  # type: ignore[no-untyped-def]
    ca: bool = False,
    eku: x509.ObjectIdentifier = ExtendedKeyUsageOID.SERVER_AUTH,
    not_before: dt.datetime = dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    not_after: dt.datetime = dt.datetime(2030, 1, 1, tzinfo=dt.UTC),
    digest: hashes.HashAlgorithm | None = None,
    self_signed: bool = False,
    names: list[x509.GeneralName] | None = None,
) -> x509.Certificate:
    key = key or ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    issuer_name = name if self_signed else issuer.subject
    signing_key = key if self_signed else (issuer_key or _key("intermediate"))
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
        .add_extension(
            x509.SubjectAlternativeName(names or [x509.DNSName(n) for n in (san or [cn])]),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signing_key.public_key()),
            critical=False,
        )
    )
    return builder.sign(signing_key, digest or hashes.SHA256())


def _ders(*certs: x509.Certificate) -> list[bytes]:
    return [c.public_bytes(DER) for c in certs]


def _codes(
    certs: list[bytes],
    store: TrustStore = LAB,
    host: str | None = "tlslens.test",
    at: dt.datetime = AT,
    **kw,
) -> list[str]:  # type: ignore[no-untyped-def]
    return [p.code for p in validate(certs, hostname=host, at=at, store=store, **kw).problems]


def test_good_chain_is_trusted_and_explained() -> None:
    result = validate(_ders(LEAF, INTER), hostname="tlslens.test", at=AT, store=LAB)
    assert result.trusted and result.problems == [] and result.path_in_store
    assert [c.subject for c in result.path] == [LEAF.subject, INTER.subject, ROOT.subject]
    assert "ECDSA cannot be 'decrypted'" in result.links[0][-1]


@pytest.mark.parametrize(
    ("certs", "kwargs", "expected"),
    [
        ("leaf", {}, ["missing_intermediate"]),
        ("leaf inter", {"store": EMPTY}, ["untrusted_root"]),
        ("leaf inter", {"host": "other.example"}, ["name_mismatch"]),
        ("leaf inter", {"at": dt.datetime(2040, 1, 1, tzinfo=dt.UTC)}, ["expired"] * 3),
        ("leaf inter", {"at": dt.datetime(2025, 1, 1, tzinfo=dt.UTC)}, ["not_yet_valid"] * 3),
        ("leaf root inter", {}, ["wrong_order"]),
        ("leaf inter other", {}, ["extra_certificates"]),
    ],
)
def test_problems_are_named(certs: str, kwargs: dict, expected: list[str]) -> None:  # type: ignore[type-arg]
    pool = {"leaf": LEAF, "inter": INTER, "root": ROOT, "other": _load("other-root")}
    assert _codes(_ders(*(pool[n] for n in certs.split())), **kwargs) == expected


def test_intermediate_elsewhere_in_capture() -> None:
    checker = ChainChecker(LAB)
    first = checker.check(_ders(LEAF, INTER), sni="tlslens.test", at=AT, stapled_ocsp=None)
    assert first is not None and first.trusted
    second = checker.check(
        _ders(_issue("b.tlslens.test")), sni="b.tlslens.test", at=AT, stapled_ocsp=None
    )
    assert second is not None
    assert [p.code for p in second.problems] == [
        "missing_intermediate",
        "intermediate_elsewhere_in_capture",
    ]


def test_client_chain_uses_the_intermediates_of_its_connection() -> None:
    """A client that sends its leaf alone, issued by the CA whose intermediate the server sent
    in the same connection: the path is built with it (the server holds it)."""
    client = _load("client")
    checker = ChainChecker(LAB)
    alone = checker.check_client(_ders(client), at=AT)
    assert alone is not None and not alone.trusted
    assert [p.code for p in alone.problems] == ["missing_intermediate"]
    lent = checker.check_client(_ders(client), at=AT, lent=_ders(LEAF, INTER))
    assert lent is not None and lent.trusted and lent.problems == []
    assert lent.path == [client, INTER, ROOT]
    server, verdict = verdicts(
        ChainChecker(LAB),
        _ders(LEAF, INTER),
        _ders(client),
        sni="tlslens.test",
        at=AT,
        stapled_ocsp=None,
        conn_id=1,
    )
    assert server is not None and server.trusted
    assert verdict is not None and verdict.trusted and verdict.path == [client, INTER, ROOT]


def test_web_pki_rules_are_for_server_certificates_only() -> None:
    """CN not among the SANs and a 1024-bit RSA key break the CA/B Forum's Baseline
    Requirements, which govern server certificates; a client's chain is not held to them."""
    person = _issue(
        "Alice Example",
        names=[x509.RFC822Name("alice@example.com")],
        key=rsa.generate_private_key(public_exponent=65537, key_size=1024),
        eku=ExtendedKeyUsageOID.CLIENT_AUTH,
    )
    as_server = validate(_ders(person, INTER), hostname=None, at=AT, store=LAB)
    assert {"cn_not_in_san", "weak_key"} <= {p.code for p in as_server.problems}
    as_client = ChainChecker(LAB).check_client(_ders(person, INTER), at=AT)
    assert as_client is not None and as_client.trusted and as_client.problems == []


@pytest.mark.parametrize(
    "name", [x509.RFC822Name("ops@example.com"), x509.UniformResourceIdentifier("https://a.test/")]
)
def test_email_and_uri_sans_are_sans(name: x509.GeneralName) -> None:
    leaf = _issue("tlslens.test", names=[name])
    shown = (
        name.value if isinstance(name, x509.UniformResourceIdentifier) else f"email:{name.value}"
    )
    asked = validate(_ders(leaf, INTER), hostname="tlslens.test", at=AT, store=LAB)
    texts = {p.code: p.message for p in asked.problems}
    assert texts["name_mismatch"].endswith(f"the certificate covers {shown}")
    assert f"subjectAltName values as written ({shown})" in texts["cn_not_in_san"]
    unasked = validate(_ders(leaf, INTER), hostname=None, at=AT, store=LAB)
    mismatch = next(p.message for p in unasked.problems if p.code == "name_mismatch")
    assert "no subjectAltName" not in mismatch
    assert f"names no host (its subjectAltName holds only {shown})" in mismatch


def test_cache_respects_the_validity_window() -> None:
    checker = ChainChecker(LAB)
    now = checker.check(_ders(LEAF, INTER), sni="tlslens.test", at=AT, stapled_ocsp=None)
    later = checker.check(
        _ders(LEAF, INTER),
        sni="tlslens.test",
        at=dt.datetime(2040, 1, 1, tzinfo=dt.UTC),
        stapled_ocsp=None,
    )
    assert now is not None and later is not None
    assert now.trusted and not later.trusted and "expired" in [p.code for p in later.problems]


def test_self_signed_weak_and_misused_certificates() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    assert _codes(_ders(_issue(self_signed=True, key=key))) == ["self_signed", "untrusted_root"]
    weak = _issue(key=rsa.generate_private_key(public_exponent=65537, key_size=1024))
    assert "weak_key" in _codes(_ders(weak, INTER))
    client_only = _issue(eku=ExtendedKeyUsageOID.CLIENT_AUTH)
    assert "bad_key_usage" in _codes(_ders(client_only, INTER))
    not_a_ca_key = ec.generate_private_key(ec.SECP256R1())
    not_a_ca = _issue("not a CA", key=not_a_ca_key, ca=False)
    below = _issue(issuer=not_a_ca, issuer_key=not_a_ca_key)
    assert "bad_basic_constraints" in _codes(_ders(below, not_a_ca, INTER))


def test_unparsable_certificate_is_reported() -> None:
    result = validate(
        [b"\x30\x03\x02\x01\x00", *_ders(LEAF, INTER)], hostname="tlslens.test", at=AT, store=LAB
    )
    assert result.problems[0].code == "unparsable_certificate"


def _ocsp(
    status: ocsp.OCSPCertStatus,
    this_update: dt.datetime,
    next_update: dt.datetime,
    cert: x509.Certificate = LEAF,
) -> bytes:
    revoked = status == ocsp.OCSPCertStatus.REVOKED
    builder = (
        ocsp.OCSPResponseBuilder()
        .add_response(
            cert=cert,
            issuer=INTER,
            algorithm=hashes.SHA256(),
            cert_status=status,
            this_update=this_update,
            next_update=next_update,
            revocation_time=this_update if revoked else None,
            revocation_reason=x509.ReasonFlags.key_compromise if revoked else None,
        )
        .responder_id(ocsp.OCSPResponderEncoding.HASH, INTER)
    )
    return builder.sign(_key("intermediate"), hashes.SHA256()).public_bytes(DER)


def test_stapled_ocsp_good_revoked_stale_invalid() -> None:
    t0, t1 = AT - dt.timedelta(days=1), AT + dt.timedelta(days=6)
    good = check_stapled_ocsp(_ocsp(ocsp.OCSPCertStatus.GOOD, t0, t1), LEAF, INTER, AT)
    assert (good.status, good.problems, good.responder) == ("good", [], "the issuing CA")
    revoked = check_stapled_ocsp(_ocsp(ocsp.OCSPCertStatus.REVOKED, t0, t1), LEAF, INTER, AT)
    assert revoked.status == "revoked" and revoked.revocation_reason == "key_compromise"
    assert [c for c, _m in revoked.problems] == ["ocsp_revoked"]
    stale = check_stapled_ocsp(
        _ocsp(ocsp.OCSPCertStatus.GOOD, t0 - dt.timedelta(days=30), t0 - dt.timedelta(days=20)),
        LEAF,
        INTER,
        AT,
    )
    assert stale.status == "stale" and [c for c, _m in stale.problems] == ["ocsp_stale"]
    other = check_stapled_ocsp(
        _ocsp(ocsp.OCSPCertStatus.GOOD, t0, t1, cert=_issue()), LEAF, INTER, AT
    )
    assert other.status == "invalid" and "another certificate" in other.problems[0][1]
    garbage = check_stapled_ocsp(b"\x30\x02\x05\x00", LEAF, INTER, AT)
    assert garbage.status == "invalid" and garbage.problems[0][0] == "ocsp_invalid"
    codes = _codes(_ders(LEAF, INTER), stapled_ocsp=_ocsp(ocsp.OCSPCertStatus.REVOKED, t0, t1))
    assert codes == ["ocsp_revoked"]


def test_captured_chain_verdicts() -> None:
    conn = next(iter(tlslens.read_capture(CAPTURES / "openssl-ocsp.pcapng")))
    ders = [c.der for c in conn.certificates]
    at = conn.start_time
    staple = conn.stapled_ocsp
    assert validate(ders, hostname=conn.sni, at=at, store=LAB, stapled_ocsp=staple).trusted
    assert (
        validate(ders, hostname=conn.sni, at=at, store=LAB, stapled_ocsp=staple).ocsp.status
        == "good"
    )  # type: ignore[union-attr]
    assert _codes(ders, store=EMPTY, host=conn.sni, at=at) == ["untrusted_root"]


def _openssl_verify(
    tmp_path: Path, leaf: x509.Certificate, at: dt.datetime, host: str | None
) -> bool:
    (tmp_path / "leaf.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    cmd = [
        "openssl",
        "verify",
        "-CAfile",
        str(PKI / "root.pem"),
        "-untrusted",
        str(PKI / "intermediate.pem"),
        "-attime",
        str(int(at.timestamp())),
    ]
    if host:
        cmd += ["-verify_hostname", host]
    return (
        subprocess.run(
            [*cmd, str(tmp_path / "leaf.pem")], capture_output=True, check=False
        ).returncode
        == 0
    )


@pytest.mark.parametrize(
    ("at", "host"),
    [
        (AT, "tlslens.test"),
        (AT, "wrong.example"),
        (dt.datetime(2040, 1, 1, tzinfo=dt.UTC), "tlslens.test"),
        (dt.datetime(2025, 1, 1, tzinfo=dt.UTC), "tlslens.test"),
        (AT, "localhost"),
    ],
)
def test_agrees_with_openssl_verify(tmp_path: Path, at: dt.datetime, host: str) -> None:
    require_program("openssl", "openssl")
    ours = validate(_ders(LEAF, INTER), hostname=host, at=at, store=LAB).trusted
    assert ours == _openssl_verify(tmp_path, LEAF, at, host)


def test_two_corpus_chains_in_detail(corpus: Path) -> None:
    snapshot = next((VECTORS / "trust").glob("mozilla-certifi-*.pem"))
    mozilla = TrustStore.from_pem("mozilla", snapshot.read_bytes())
    # Scapy's test capture with its own CA as the trust anchor: the path is sound, but its
    # leaf names no host (no subjectAltName) and the client sent no SNI.
    ca = x509.load_der_x509_certificate((corpus / "scapy/keys/ca_cert.der").read_bytes())
    conn = next(iter(tlslens.read_capture(corpus / "scapy/tls_nss_example.pcap")))
    scapy = ChainChecker(TrustStore("scapy-ca", [ca])).check(
        [c.der for c in conn.certificates], sni=conn.sni, at=conn.start_time, stapled_ocsp=None
    )
    assert scapy is not None and scapy.path_in_store and not scapy.trusted
    assert [p.code for p in scapy.problems] == ["name_mismatch"]
    # Twitter's 2014 chain: SHA-1 signatures (which cryptography no longer signs with, so
    # the unit tests cannot build one), a stapled response signed by the issuing CA, and a
    # root that has left today's Mozilla store.
    conn = next(iter(tlslens.read_capture(corpus / "zeek/ocsp-stapling-twimg.pcap")))
    result = ChainChecker(mozilla).check(
        [c.der for c in conn.certificates],
        sni=conn.sni,
        at=conn.start_time,
        stapled_ocsp=conn.stapled_ocsp,
    )
    assert result is not None and not result.trusted
    assert [p.code for p in result.problems] == [
        "untrusted_root",
        "weak_signature",
        "weak_signature",
    ]
    assert result.ocsp is not None and result.ocsp.status == "good"
    assert result.links[0][-1].endswith("they are equal.")


def test_certs_command(tmp_path: Path) -> None:
    capture = CAPTURES / "openssl-ocsp.pcapng"
    result = CliRunner().invoke(
        main, ["certs", str(capture), "--ca", str(PKI / "root.pem"), "--pem", str(tmp_path)]
    )
    assert result.exit_code == 0
    text = result.stdout
    assert (
        "trusted." in text
        and f"[trust anchor, from --ca {PKI / 'root.pem'}]" in text
        and "Stapled OCSP: good" in text
    )
    assert "No certificate chain: encrypted (TLS 1.3): give --keylog to see it." in text
    pem = (tmp_path / "conn1-0.pem").read_bytes()
    assert x509.load_pem_x509_certificate(pem) == LEAF
    decrypted = CliRunner().invoke(
        main,
        [
            "certs",
            str(capture),
            "--keylog",
            str(capture.with_suffix(".keys")),
            "--host",
            "nope.example",
            "--connection",
            "2",
        ],
    )
    assert "name_mismatch: the client asked for nope.example" in decrypted.stdout


CHAINS = VECTORS / "chains"
# (SNI, trusted with the chains root, problem codes), in the order recorded.
CHAIN_VERDICTS = [
    ("valid.chains.lab", True, []),
    ("valid-then.chains.lab", True, []),  # valid for the capture; expired an hour later
    ("expired.chains.lab", False, ["expired"]),
    ("not-yet-valid.chains.lab", False, ["not_yet_valid"]),
    ("name-mismatch.chains.lab", False, ["name_mismatch"]),
    (
        "intermediate-elsewhere.chains.lab",
        False,
        ["missing_intermediate", "intermediate_elsewhere_in_capture"],
    ),
    ("missing-intermediate.chains.lab", False, ["missing_intermediate"]),
    ("wrong-order.chains.lab", True, ["wrong_order"]),
    ("ocsp-good.chains.lab", True, []),
    ("ocsp-revoked.chains.lab", False, ["ocsp_revoked"]),
    ("ocsp-stale.chains.lab", True, ["ocsp_stale"]),
]


def _chain_connections() -> list[tlslens.Connection]:
    store = TrustStore("lab", [x509.load_pem_x509_certificate((CHAINS / "root.pem").read_bytes())])
    checker = ChainChecker(store)
    conns = list(tlslens.read_capture(CAPTURES / "chains.pcapng"))
    for conn in conns:
        conn.validation = checker.check(
            [c.der for c in conn.certificates],
            sni=conn.sni,
            at=conn.start_time,
            stapled_ocsp=conn.stapled_ocsp,
        )
    return conns


def test_recorded_chain_verdicts() -> None:
    got = [
        (c.sni, c.validation.trusted, [p.code for p in c.validation.problems])
        for c in _chain_connections()
    ]
    assert got == CHAIN_VERDICTS


def test_valid_at_capture_time_expired_now() -> None:
    conn = _chain_connections()[1]
    assert conn.validation.trusted
    root = x509.load_pem_x509_certificate((CHAINS / "root.pem").read_bytes())
    a_day_later = conn.start_time + dt.timedelta(days=1)  # any time after its hour of life
    later = validate(
        [c.der for c in conn.certificates],
        hostname=conn.sni,
        at=a_day_later,
        store=TrustStore("lab", [root]),
    )
    assert not later.trusted and [p.code for p in later.problems] == ["expired"]


def test_recorded_chains_without_the_private_root() -> None:
    conn = next(iter(tlslens.read_capture(CAPTURES / "chains.pcapng")))
    result = ChainChecker(EMPTY).check(
        [c.der for c in conn.certificates], sni=conn.sni, at=conn.start_time, stapled_ocsp=None
    )
    assert result is not None and [p.code for p in result.problems] == ["untrusted_root"]


@pytest.mark.parametrize("index", range(8))  # the cases openssl verify can judge (no OCSP)
def test_recorded_chains_agree_with_openssl_verify(tmp_path: Path, index: int) -> None:
    require_program("openssl", "openssl")
    conn = _chain_connections()[index]
    certs = [x509.load_der_x509_certificate(c.der) for c in conn.certificates]
    leaf = tmp_path / "leaf.pem"
    leaf.write_bytes(certs[0].public_bytes(serialization.Encoding.PEM))
    cmd = [
        "openssl",
        "verify",
        "-CAfile",
        str(CHAINS / "root.pem"),
        "-attime",
        str(int(conn.start_time.timestamp())),
        "-verify_hostname",
        str(conn.sni),
    ]
    if len(certs) > 1:
        untrusted = tmp_path / "sent.pem"
        untrusted.write_bytes(
            b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs[1:])
        )
        cmd += ["-untrusted", str(untrusted)]
    accepted = subprocess.run([*cmd, str(leaf)], capture_output=True, check=False).returncode == 0
    assert conn.validation.trusted == accepted, conn.sni


def test_pki_round_trip_with_openssl(tmp_path: Path) -> None:
    """init -> csr -> sign -> a real s_server serves it -> s_client -verify_return_error accepts."""
    require_program("openssl", "openssl")
    runner = CliRunner()
    ca = tmp_path / "ca"
    assert runner.invoke(main, ["pki", "init", str(ca)]).exit_code == 0
    result = runner.invoke(
        main, ["pki", "csr", "--cn", "web.lab", "--san", "web.lab", "--out", str(tmp_path / "web")]
    )
    assert result.exit_code == 0 and "the CSR carries only the public key" in result.stdout
    result = runner.invoke(
        main,
        [
            "pki",
            "sign",
            str(tmp_path / "web.csr"),
            "--ca-dir",
            str(ca),
            "--out",
            str(tmp_path / "web.pem"),
        ],
    )
    assert result.exit_code == 0 and "signs a server certificate for CN=web.lab" in result.stdout
    result = runner.invoke(
        main,
        [
            "pki",
            "ocsp",
            str(tmp_path / "web.pem"),
            "--ca-dir",
            str(ca),
            "--out",
            str(tmp_path / "web.ocsp"),
        ],
    )
    assert result.exit_code == 0 and "is good" in result.stdout
    import socket
    import time

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [
            "openssl",
            "s_server",
            "-accept",
            str(port),
            "-naccept",
            "1",
            "-www",
            "-cert",
            str(tmp_path / "web.pem"),
            "-key",
            str(tmp_path / "web.key"),
            "-cert_chain",
            str(ca / "intermediate.pem"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(0.5)
        client = subprocess.run(
            [
                "openssl",
                "s_client",
                "-connect",
                f"127.0.0.1:{port}",
                "-servername",
                "web.lab",
                "-verify_return_error",
                "-verify_hostname",
                "web.lab",
                "-CAfile",
                str(ca / "root.pem"),
            ],
            input=b"GET / HTTP/1.0\r\n\r\n",
            capture_output=True,
            timeout=10,
            check=False,
        )
    finally:
        server.kill()
        server.wait()
    assert b"Verify return code: 0 (ok)" in client.stdout


def test_pki_refuses_bad_input(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        [
            "pki",
            "sign",
            str(tmp_path / "none.csr"),
            "--ca-dir",
            str(tmp_path),
            "--out",
            str(tmp_path / "x.pem"),
        ],
    )
    assert result.exit_code != 0 and "no usable intermediate CA" in result.output


def test_cached_verdicts_keep_exact_wording() -> None:
    checker = ChainChecker(LAB)
    early = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    first = checker.check(_ders(LEAF, INTER), sni="tlslens.test", at=early, stapled_ocsp=None)
    second = checker.check(
        _ders(LEAF, INTER), sni="tlslens.test", at=early + dt.timedelta(days=100), stapled_ocsp=None
    )
    assert first is not None and second is not None
    assert (
        [p.code for p in first.problems]
        == [p.code for p in second.problems]
        == ["not_yet_valid"] * 3
    )
    assert first.problems[0].message != second.problems[0].message
    fresh = validate(
        _ders(LEAF, INTER), hostname="tlslens.test", at=early + dt.timedelta(days=100), store=LAB
    )
    assert second.problems == fresh.problems and second.checked_at == fresh.checked_at


def test_unknown_critical_extension_is_explained_by_the_validator() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    odd = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tlslens.test")]))
        .issuer_name(INTER.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
        .not_valid_after(dt.datetime(2030, 1, 1, tzinfo=dt.UTC))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("tlslens.test")]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(_key("intermediate").public_key()),
            critical=False,
        )
        .add_extension(
            x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.55555.1"), b"\x05\x00"),
            critical=True,
        )
        .sign(_key("intermediate"), hashes.SHA256())
    )
    result = validate(_ders(odd, INTER), hostname="tlslens.test", at=AT, store=LAB)
    assert not result.trusted
    # The validator's words name the reason; tlslens files it under its code (issue 14).
    assert [p.code for p in result.problems] == ["bad_extension"]
    assert "the path validator says" in result.problems[0].message
    assert "unaccounted-for critical extensions" in result.problems[0].message


def test_trust_store_choices_and_time(tmp_path: Path) -> None:
    capture = CAPTURES / "chains.pcapng"
    runner = CliRunner()
    none = runner.invoke(
        main, ["show", "--json", "--trust-store", "none", "--connection", "1", str(capture)]
    )
    import json

    row = json.loads(none.stdout)
    assert row["validation"]["trust_store"] == "none"
    assert [p["code"] for p in row["validation"]["problems"]] == ["untrusted_root"]
    system = runner.invoke(
        main,
        [
            "show",
            "--json",
            "--trust-store",
            "system",
            "--connection",
            "1",
            "--ca",
            str(CHAINS / "root.pem"),
            str(capture),
        ],
    )
    row = json.loads(system.stdout)
    if Path("/etc/ssl/certs/ca-certificates.crt").exists():
        assert row["validation"]["trust_store"] == "system+ca"
    assert row["validation"]["trusted"]
    later = runner.invoke(
        main,
        [
            "show",
            "--json",
            "--connection",
            "1",
            "--ca",
            str(CHAINS / "root.pem"),
            "--at",
            "2040-01-01T00:00Z",
            str(capture),
        ],
    )
    row = json.loads(later.stdout)
    assert row["validation"]["checked_at"].startswith("2040-01-01")
    assert "expired" in [p["code"] for p in row["validation"]["problems"]]
    bad = runner.invoke(main, ["show", "--at", "yesterday", str(capture)])
    assert bad.exit_code == 2 and "is not an ISO 8601 time" in bad.output
    text = runner.invoke(
        main, ["show", "--connection", "1", "--ca", str(CHAINS / "root.pem"), str(capture)]
    )
    assert "days of validity left at that time" in " ".join(text.stdout.split())


# Verdicts for every chain of the shared corpus, against the committed Mozilla snapshot, as
# of each capture's time: (trusted, problem codes) -> number of connections.
CORPUS_VERDICTS = {
    "hotplace/dtls12/dtls12.pcapng": {(False, "cn_not_in_san missing_intermediate"): 1},
    "hotplace/dtls12/dtls12_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256.pcapng": {
        (False, "cn_not_in_san missing_intermediate"): 1
    },
    "hotplace/dtls12/dtls12_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256.pcapng": {
        (False, "cn_not_in_san missing_intermediate"): 1
    },
    "hotplace/dtls12/dtls12mtu1500.pcapng": {(False, "cn_not_in_san missing_intermediate"): 1},
    "hotplace/dtls12/dtls12netclient.pcapng": {(False, "cn_not_in_san missing_intermediate"): 1},
    "hotplace/http/curl_http1_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256.pcapng": {
        (False, "cn_not_in_san missing_intermediate name_mismatch"): 1
    },
    "hotplace/http/curl_http1_tls12.pcapng": {(True, ""): 1},
    "hotplace/linux/ubuntu20.pcap": {(False, "cn_not_in_san missing_intermediate"): 1},
    "hotplace/tls12/tls12_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256.pcapng": {
        (False, "self_signed untrusted_root"): 1
    },
    "hotplace/tls12/tls12_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384.pcapng": {
        (False, "self_signed untrusted_root"): 1
    },
    "hotplace/tls12/tls12_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256.pcapng": {
        (False, "self_signed untrusted_root"): 1
    },
    "hotplace/tls12/tls12etm_TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256.pcapng": {
        (False, "cn_not_in_san missing_intermediate"): 1
    },
    "hotplace/tls12/tls12mte_TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256.pcapng": {
        (False, "cn_not_in_san missing_intermediate"): 1
    },
    "hotplace/tls12/tls12no_renogotiation.pcapng": {
        (False, "cn_not_in_san missing_intermediate"): 1
    },
    "hotplace/tls12/tls12renogotiation.pcapng": {(False, "cn_not_in_san missing_intermediate"): 1},
    "scapy/tls_nss_example.pcap": {(False, "missing_intermediate"): 1},
    "scapy/tls_tcp_frag.pcap.gz": {(True, ""): 1},  # no SNI: checked without a name
    "scapy/tls_tcp_frag_withnss.pcap.gz": {(True, ""): 1},
    "wireshark/dmgr.pcapng": {
        (False, "cn_not_in_san name_mismatch untrusted_root weak_signature"): 1
    },
    "wireshark/http2-brotli.pcapng": {(False, "self_signed untrusted_root"): 1},
    "wireshark/http2-data-reassembly.pcap": {(False, "self_signed untrusted_root"): 1},
    "wireshark/http2_follow_multistream.pcapng": {(False, "untrusted_root"): 1},
    "wireshark/quic-fragmented-handshakes.pcapng.gz": {
        (False, "name_mismatch self_signed untrusted_root"): 1
    },
    "wireshark/rsasnakeoil2.pcap": {
        (False, "cn_not_in_san missing_intermediate weak_key weak_signature"): 1
    },
    "wireshark/snakeoil-dtls.pcap": {
        (False, "cn_not_in_san missing_intermediate weak_key weak_signature"): 1
    },
    "wireshark/tls-renegotiation.pcap": {(False, "self_signed untrusted_root weak_key"): 1},
    "wireshark/tls12-chacha20poly1305.pcap": {
        (False, "name_mismatch self_signed untrusted_root"): 4
    },
    "wireshark/tls12-dsb.pcapng": {(False, "untrusted_root"): 2},
    "wireshark-notes/all/dump.pcapng": {
        (False, "missing_intermediate weak_signature"): 8,
        (False, "self_signed untrusted_root weak_key weak_signature"): 49,
        (False, "self_signed untrusted_root weak_signature"): 16,
    },
    "wireshark-notes/ssl3/dump.pcapng": {
        (False, "self_signed untrusted_root weak_key weak_signature"): 7,
        (False, "self_signed untrusted_root weak_signature"): 32,
    },
    "wireshark-notes/tls/all/dump.pcapng": {
        (False, "self_signed untrusted_root weak_key weak_signature"): 7,
        (False, "self_signed untrusted_root weak_signature"): 32,
    },
    # The SSL 2.0 SERVER-HELLO carries the certificate since the review's item 8.
    "wireshark-notes/ssl3/sslv2.pcapng": {
        (False, "self_signed untrusted_root weak_key weak_signature"): 1
    },
    "wireshark-notes/tls/amqps.pcapng": {(False, "self_signed untrusted_root weak_key"): 1},
    "wireshark-notes/tls/http-chunked-ssl.pcapng": {(False, "untrusted_root"): 1},
    "wireshark-notes/tls/http-no-content-length-ssl.pcapng": {(False, "untrusted_root"): 1},
    "wireshark-notes/tls/http2-16-ssl.pcapng": {
        (False, "name_mismatch self_signed untrusted_root weak_key"): 1
    },
    "wireshark-notes/tls/ldap-ssl.pcapng": {(False, "self_signed untrusted_root weak_key"): 1},
    "wireshark-notes/tls/mysql-ssl-larger.pcapng": {(False, "self_signed untrusted_root"): 1},
    "wireshark-notes/tls/mysql-ssl.pcapng": {(False, "self_signed untrusted_root"): 1},
    "wireshark-notes/tls/pgsql-ssl.pcapng": {(False, "self_signed untrusted_root"): 1},
    "wireshark-notes/tls/pop-ssl.pcapng": {(False, "self_signed untrusted_root"): 1},
    "wireshark-notes/tls/smtp-ssl.pcapng": {(False, "self_signed untrusted_root"): 1},
    "wireshark-notes/tls/smtp2525-ssl.pcapng": {(False, "self_signed untrusted_root"): 1},
    "wireshark-notes/tls/tls-null.pcapng": {(False, "self_signed untrusted_root"): 1},
    "wireshark-notes/tls/xmpp-ssl.pcapng": {(False, "untrusted_root weak_signature"): 1},
    "wireshark/udt-dtls.pcapng.gz": {(False, "name_mismatch self_signed untrusted_root"): 1},
    "zeek/CVE-2015-3194.pcap": {(False, "no_certificate unparsable_certificate"): 1},
    "zeek/cert-no-cn.pcap": {(False, "self_signed untrusted_root weak_signature"): 1},
    "zeek/certificate-request-failed.pcap": {(False, "untrusted_root"): 1},
    "zeek/certificate-with-sct.pcap": {(False, "name_mismatch untrusted_root"): 1},
    "zeek/chrome-34-google.pcap": {(False, "untrusted_root weak_signature"): 1},
    "zeek/dhe.pcap": {(False, "untrusted_root weak_signature"): 1},
    "zeek/dtls1_0.pcap": {(False, "self_signed untrusted_root weak_signature"): 1},
    "zeek/dtls1_2.pcap": {(False, "self_signed untrusted_root"): 1},
    "zeek/ecdhe.pcap": {(False, "untrusted_root weak_signature"): 1},
    "zeek/ecdsa-cert.pcap": {(True, ""): 1},
    "zeek/google-cert-repeat.pcap": {(True, ""): 8},
    "zeek/google-duplicate.pcap": {(False, "untrusted_root weak_signature"): 2},
    "zeek/heartbleed-encrypted-short.pcap": {(False, "missing_intermediate"): 1},
    "zeek/heartbleed-encrypted-success.pcap": {(False, "untrusted_root weak_signature"): 1},
    "zeek/heartbleed-encrypted.pcap": {(False, "untrusted_root weak_signature"): 1},
    "zeek/heartbleed-success.pcap": {(False, "untrusted_root weak_signature"): 1},
    "zeek/heartbleed.pcap": {(False, "untrusted_root weak_signature"): 1},
    "zeek/imap-starttls.pcap": {(False, "untrusted_root weak_signature"): 1},
    "zeek/irc-starttls.pcap": {(False, "self_signed untrusted_root"): 1},
    "zeek/ml-dsa-44-cert.pcap": {(False, "not_yet_valid self_signed untrusted_root"): 1},
    "zeek/ocsp-stapling-twimg.pcap": {(False, "untrusted_root weak_signature"): 1},
    "zeek/ocsp-stapling.pcap": {(False, "missing_key_identifier untrusted_root weak_signature"): 1},
    "zeek/pop3-starttls.pcap": {(False, "missing_intermediate weak_signature"): 1},
    "zeek/signed_certificate_timestamp-2.pcap": {(False, "untrusted_root"): 1},
    "zeek/signed_certificate_timestamp.pcap": {(True, ""): 1},
    "zeek/signed_certificate_timestamp_tls1_0.pcap": {(False, "untrusted_root weak_signature"): 1},
    "zeek/ssl.v3.pcap": {
        (False, "missing_key_identifier untrusted_root weak_key weak_signature"): 3
    },
    "zeek/telesec.pcap": {(False, "untrusted_root weak_signature"): 1},
    "zeek/tls-conn-with-extensions.pcap": {(False, "untrusted_root weak_key weak_signature"): 1},
    "zeek/tls-early-alert.pcap": {
        (
            False,
            "bad_basic_constraints expired malformed_extension missing_key_identifier name_mismatch untrusted_root weak_key weak_signature",
        ): 1
    },
    "zeek/tls-fragmented-handshake.pcap.gz": {
        (False, "cn_not_in_san name_mismatch self_signed untrusted_root"): 1
    },
    "zeek/tls1.2-late-protocol-error.pcap": {(False, "untrusted_root weak_signature"): 1},
    "zeek/tls1.2.pcap": {(False, "untrusted_root weak_signature"): 1},
    "zeek/tls12-decryption.pcap": {(False, "untrusted_root"): 1},
    "zeek/tls1_1.pcap": {(False, "untrusted_root weak_signature"): 1},
    "zeek/webrtc-stun.pcap": {(False, "self_signed untrusted_root"): 1},
    "zeek/x509-generalizedtime.pcap": {
        (False, "self_signed untrusted_root weak_key weak_signature"): 1
    },
    "zeek/xmpp-dialback-starttls.pcap": {(True, ""): 1},
    "zeek/xmpp-starttls.pcap": {(False, "bad_serial untrusted_root weak_signature"): 1},
}


def test_corpus_verdicts(corpus: Path) -> None:
    snapshot = next((VECTORS / "trust").glob("mozilla-certifi-*.pem"))
    store = TrustStore.from_pem("mozilla", snapshot.read_bytes())
    got: dict[str, dict[tuple[bool, str], int]] = {}
    for path in sorted(corpus.rglob("*.pcap*")):
        checker = ChainChecker(store)
        rows: dict[tuple[bool, str], int] = {}
        for conn in tlslens.read_capture(path):
            result = checker.check(
                [c.der for c in conn.certificates],
                sni=conn.sni,
                at=conn.start_time,
                stapled_ocsp=conn.stapled_ocsp,
            )
            if result is not None:
                assert result.trusted or result.problems, path  # a refusal always says why
                key = (result.trusted, " ".join(sorted({p.code for p in result.problems})))
                rows[key] = rows.get(key, 0) + 1
        if rows:
            got[str(path.relative_to(corpus))] = dict(sorted(rows.items()))
    assert got == CORPUS_VERDICTS


def test_verdicts_are_cached_by_the_certificates_digests() -> None:
    """The cache of verdicts is keyed by the certificates' SHA-256 (never their bytes, which
    a key would keep alive): a copy of a chain (equal bytes, other objects) finds the
    verdict given to the first; another chain, or another name, gets its own; the cache
    never holds more than MAX_CACHE verdicts."""
    checker = ChainChecker(LAB)
    first = checker.check(_ders(LEAF, INTER), sni="tlslens.test", at=AT, stapled_ocsp=None)
    copy = [bytes(bytearray(der)) for der in _ders(LEAF, INTER)]
    again = checker.check(copy, sni="tlslens.test", at=AT, stapled_ocsp=None)
    assert first is not None and again is not None and len(checker.cache) == 1
    ((chain, *_rest),) = checker.cache
    assert chain == tuple(c.fingerprint(hashes.SHA256()).hex() for c in (LEAF, INTER))
    assert again.to_json() == first.to_json() and again.trusted
    other = checker.check(_ders(LEAF, INTER), sni="other.test", at=AT, stapled_ocsp=None)
    assert other is not None and len(checker.cache) == 2
    assert [p.code for p in other.problems] == ["name_mismatch"]
    checker.MAX_CACHE = 2  # type: ignore[misc]
    checker.check(_ders(INTER), sni="tlslens.test", at=AT, stapled_ocsp=None)
    assert len(checker.cache) == 1  # full: emptied before the new verdict went in


def test_a_certificate_is_parsed_once_by_its_bytes() -> None:
    """parse_certificate hands out one CertificateInfo per DER, found by the bytes alone
    (a copy finds it), with the SHA-256 it would have without the cache."""
    from tlslens.x509.certificate import _CERT_CACHE, parse_certificate

    der = LEAF.public_bytes(serialization.Encoding.DER)
    info = parse_certificate(der)
    assert parse_certificate(bytes(bytearray(der))) is info
    assert info.sha256 == LEAF.fingerprint(hashes.SHA256()).hex()
    assert _CERT_CACHE[der] is info and len(_CERT_CACHE) <= 4096


def test_the_certificate_cache_is_bounded_in_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Certificates of a megabyte each (a hostile capture's) do not pile up: the cache of
    parsed certificates holds at most MAX_CACHED_BYTES of DER, whatever their count."""
    from tlslens.x509 import certificate

    monkeypatch.setattr(certificate, "MAX_CACHED_BYTES", 3 << 20)
    for n in range(8):
        info = certificate.parse_certificate(bytes([0x30, n]) + bytes(1 << 20))
        assert info.error  # not a certificate: kept with its reason all the same
        held = sum(len(der) for der in certificate._CERT_CACHE)
        assert held <= certificate._CACHED_BYTES <= 3 << 20
