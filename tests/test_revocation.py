"""Online revocation: a local `openssl ocsp` responder for the leaf, a local HTTP server
with the root's CRL for the intermediate. Both run on 127.0.0.1 for the test only."""

from __future__ import annotations

import datetime as dt
import http.server
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID

from tlslens.net.revocation import RevocationChecker
from tlslens.x509 import TrustStore, pki, validate

from conftest import require_program

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
DER = Encoding.DER


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _listening(port: int) -> bool:
    """Is something in LISTEN on the port? Asked of the kernel (/proc/net/tcp*), because a
    connecting probe would block the single-threaded responder, and a port already bound is
    not yet one that accepts."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":
                return True
    return False


@contextmanager
def crl_server() -> Iterator[tuple[int, dict[str, bytes]]]:
    """Serves content["crl"], which the caller sets once it knows what to serve."""
    content: dict[str, bytes] = {"crl": b""}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/pkix-crl")
            self.end_headers()
            self.wfile.write(content["crl"])

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1], content
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def ocsp_responder(
    tmp: Path,
    port: int,
    issuer: pki.Issued,
    entries: list[tuple[str, x509.Certificate]],
    signer: tuple[x509.Certificate, object] | None = None,
) -> Iterator[None]:
    """`openssl ocsp` answering for ``issuer``'s certificates (index: V valid, R revoked)."""
    cert, key = signer or (issuer.certificate, issuer.key)
    lines = []
    for status, entry in entries:
        expiry = entry.not_valid_after_utc.strftime("%y%m%d%H%M%SZ")
        revoked = NOW.strftime("%y%m%d%H%M%SZ") if status == "R" else ""
        lines.append(f"{status}\t{expiry}\t{revoked}\t{entry.serial_number:X}\tunknown\t/CN=x")
    (tmp / "index.txt").write_text("\n".join(lines) + "\n")
    (tmp / "ca.pem").write_bytes(pki.pem_cert(issuer.certificate))
    (tmp / "signer.pem").write_bytes(pki.pem_cert(cert))
    (tmp / "signer.key").write_bytes(pki.pem_key(key))  # type: ignore[arg-type]
    proc = subprocess.Popen(
        [
            "openssl",
            "ocsp",
            "-index",
            str(tmp / "index.txt"),
            "-port",
            str(port),  # all interfaces: openssl ocsp takes no address; only loopback asks
            "-CA",
            str(tmp / "ca.pem"),
            "-rsigner",
            str(tmp / "signer.pem"),
            "-rkey",
            str(tmp / "signer.key"),
            "-ndays",
            "1",
            "-nrequest",
            "10",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not _listening(port):
            time.sleep(0.05)
        yield
    finally:
        proc.kill()
        proc.wait()


@contextmanager
def lab(
    intermediate_revoked: bool = False,
) -> Iterator[tuple[pki.Issued, pki.Issued, x509.Certificate, int]]:
    """root -> intermediate (CRL served here) -> leaf (OCSP URL on a port chosen now)."""
    root = pki.make_root("revocation root", now=NOW)
    with crl_server() as (crl_port, content):
        inter = pki.make_intermediate(
            "revocation intermediate",
            root,
            now=NOW,
            crl_url=f"http://127.0.0.1:{crl_port}/root.crl",
        )
        revoked = [inter.certificate.serial_number] if intermediate_revoked else []
        content["crl"], _story = pki.make_crl(root, revoked, now=NOW)
        ocsp_port = _free_port()
        csr, _key, _story = pki.make_csr("revoke.lab", ["revoke.lab"])
        leaf = pki.sign_csr(
            csr, inter, now=NOW, ocsp_url=f"http://127.0.0.1:{ocsp_port}/"
        ).certificate
        yield root, inter, leaf, ocsp_port


@pytest.mark.parametrize(
    ("leaf_status", "intermediate_revoked", "expected", "codes"),
    [
        ("V", False, ["good", "good"], []),
        ("R", False, ["revoked", "good"], ["ocsp_revoked"]),
        ("V", True, ["good", "revoked"], ["crl_revoked"]),
    ],
)
def test_leaf_by_ocsp_intermediate_by_crl(
    tmp_path: Path,
    leaf_status: str,
    intermediate_revoked: bool,
    expected: list[str],
    codes: list[str],
) -> None:
    require_program("openssl", "openssl")
    with (
        lab(intermediate_revoked) as (root, inter, leaf, ocsp_port),
        ocsp_responder(tmp_path, ocsp_port, inter, [(leaf_status, leaf)]),
    ):
        checker = RevocationChecker(timeout_s=5)
        path = [leaf, inter.certificate, root.certificate]
        results = checker.check_path(path, NOW)
        assert [r.status for r in results] == expected, [r.message for r in results]
        assert [r.method for r in results] == ["ocsp", "crl"]
        verdict = validate(
            [leaf.public_bytes(DER), inter.certificate.public_bytes(DER)],
            hostname="revoke.lab",
            at=NOW,
            store=TrustStore("lab", [root.certificate]),
        )
        assert verdict.trusted
        verdict.add_revocation(results)
        assert [p.code for p in verdict.problems] == codes
        assert verdict.trusted == (not codes)
        assert checker.requests == 2
        checker.check_path(path, NOW)
        assert checker.requests == 2  # answers are cached


def test_responder_authorisation(tmp_path: Path) -> None:
    """RFC 6960 §4.2.2.2: a delegated responder needs the OCSPSigning EKU from the issuer."""
    require_program("openssl", "openssl")
    for eku, expected in (
        (ExtendedKeyUsageOID.OCSP_SIGNING, "good"),
        (ExtendedKeyUsageOID.SERVER_AUTH, "invalid"),
    ):
        with lab() as (_root, inter, leaf, ocsp_port):
            key = pki.new_key()
            assert inter.key is not None
            responder = (
                x509.CertificateBuilder()
                .subject_name(pki.name("delegated responder"))
                .issuer_name(inter.certificate.subject)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(NOW - dt.timedelta(hours=1))
                .not_valid_after(NOW + dt.timedelta(days=30))
                .add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
                .sign(inter.key, pki.hashes.SHA256())
            )
            with ocsp_responder(tmp_path, ocsp_port, inter, [("V", leaf)], signer=(responder, key)):
                result = RevocationChecker().check(leaf, inter.certificate, NOW)
            assert result.status == expected, result.message


def test_unreachable_and_refused_urls() -> None:
    root = pki.make_root("r", now=NOW)
    inter = pki.make_intermediate("i", root, now=NOW, crl_url="file:///etc/passwd")
    csr, _key, _story = pki.make_csr("x.lab", ["x.lab"])
    closed = pki.sign_csr(
        csr, inter, now=NOW, ocsp_url=f"http://127.0.0.1:{_free_port()}/"
    ).certificate
    checker = RevocationChecker(timeout_s=2)
    results = checker.check_path([closed, inter.certificate, root.certificate], NOW)
    assert [r.status for r in results] == ["unavailable", "unavailable"]
    assert "not an http(s) URL" in results[1].message
    none = pki.sign_csr(csr, root, now=NOW).certificate
    assert RevocationChecker().check(none, root.certificate, NOW).status == "unknown"
