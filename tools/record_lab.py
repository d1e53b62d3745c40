"""The lab the recorders share: the PKI, free ports, processes, dumpcap on loopback, key
logs embedded in a pcapng, and the scenario context with OpenSSL's client and server.

tools/record_captures.py runs the scenarios; each recorder module (record_aborted.py,
record_quic.py ...) takes what it needs from here.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tlslens.capture import open_capture
from tlslens.capture.writer import LINKTYPE_ETHERNET, PcapngWriter
from tlslens.x509 import pki

ROOT = Path(__file__).resolve().parent.parent
PKI = ROOT / "tests" / "vectors" / "pki"
OUT = ROOT / "tests" / "vectors" / "captures"
HOST = "127.0.0.1"
NAME = "tlslens.test"

# A fixed validity window so regenerated certificates mean the same thing.
NOT_BEFORE = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
NOT_AFTER = dt.datetime(2036, 1, 1, tzinfo=dt.UTC)


# -- lab PKI ---------------------------------------------------------------------


def make_pki(pki_dir: Path) -> None:
    """root -> intermediate -> server (RSA, for RSA key exchange) and client; an ECDSA server;
    an unrelated root for the unknown-CA case. Made once; the committed files are reused."""
    if (pki_dir / "server.pem").exists():
        return
    pki_dir.mkdir(parents=True, exist_ok=True)
    now = NOT_BEFORE + dt.timedelta(minutes=5)
    days = (NOT_AFTER - NOT_BEFORE).days
    root = pki.make_root("tlslens lab root CA", now=now, days=days)
    inter = pki.make_intermediate("tlslens lab intermediate CA", root, now=now, days=days)
    issued: dict[str, pki.Issued] = {"root": root, "intermediate": inter}
    for label, cn, sans, key_type, client in (
        ("server", NAME, [NAME, "localhost"], "rsa", False),
        ("ecdsa", "ecdsa." + NAME, ["ecdsa." + NAME, "localhost"], "ec", False),
        ("client", "tlslens lab client", ["client.tlslens.test"], "ec", True),
    ):
        csr, key, _story = pki.make_csr(cn, sans, pki.new_key(key_type))
        cert = pki.sign_csr(csr, inter, now=now, days=days, client=client).certificate
        issued[label] = pki.Issued(cert, key, "")
    issued["other-root"] = pki.make_root("unrelated root CA", now=now, days=days)
    for label, item in issued.items():
        (pki_dir / f"{label}.pem").write_bytes(pki.pem_cert(item.certificate))
        if item.key is not None and label != "other-root":
            (pki_dir / f"{label}.key").write_bytes(pki.pem_key(item.key))
    chain = pki.pem_cert(inter.certificate)
    for label in ("server", "ecdsa", "client"):
        (pki_dir / f"{label}-chain.pem").write_bytes(
            pki.pem_cert(issued[label].certificate) + chain
        )


def _lab_ca(pki_dir: Path) -> pki.Issued:
    key = serialization.load_pem_private_key((pki_dir / "intermediate.key").read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey)
    cert = x509.load_pem_x509_certificate((pki_dir / "intermediate.pem").read_bytes())
    return pki.Issued(cert, key, "")


def make_ocsp_response(pki_dir: Path, work: Path) -> Path:
    """A 'good' OCSP response for the server certificate, signed by its issuer."""
    server = x509.load_pem_x509_certificate((pki_dir / "server.pem").read_bytes())
    der, _story = pki.make_ocsp_response(server, _lab_ca(pki_dir), now=dt.datetime.now(dt.UTC))
    path = work / "ocsp-good.der"
    path.write_bytes(der)
    return path


# -- processes -------------------------------------------------------------------


def free_port(kind: socket.SocketKind = socket.SOCK_STREAM) -> int:
    """A port free for ``kind`` (TCP by default, SOCK_DGRAM for the QUIC and DTLS servers)."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, host: str = HOST, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    while time.monotonic() < deadline:
        with socket.socket(family) as sock:
            if sock.connect_ex((host, port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {host}:{port}")


def wait_listening(
    port: int, timeout_s: float = 10.0, kind: socket.SocketKind = socket.SOCK_STREAM
) -> None:
    """Wait until something listens on the port (bound, for SOCK_DGRAM), without
    connecting (nothing to capture)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_INET, kind) as sock:
            try:
                sock.bind((HOST, port))
            except OSError:
                return  # taken: the server is up
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {HOST}:{port}")


@contextmanager
def process(cmd: list[str], **kw: object) -> Iterator[subprocess.Popen[bytes]]:
    """``cmd`` in a session of its own, killed on leaving; its output dropped unless ``kw``
    says where (``stdout=``)."""
    options: dict[str, object] = {
        "stdin": subprocess.PIPE,
        "stdout": subprocess.DEVNULL,
        "stderr": subprocess.DEVNULL,
        **kw,
    }
    proc = subprocess.Popen(cmd, start_new_session=True, **options)  # type: ignore[call-overload]
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


@contextmanager
def capture(
    path: Path, port: int, port_filter: str | None = None, count: int | None = None
) -> Iterator[None]:
    """dumpcap writes pcapng or classic pcap by the file's suffix (both formats get tested);
    with ``count``, it stops after that many packets (ends that never stop sending)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    fmt = "-n" if path.suffix == ".pcapng" else "-P"
    cmd = [
        "dumpcap",
        "-q",
        "-i",
        "lo",
        "-f",
        port_filter or f"tcp port {port}",
        fmt,
        *(["-c", str(count)] if count else []),
        "-w",
        str(tmp),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # capture must be running before the first SYN
    try:
        yield
    finally:
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)
        tmp.replace(path)


def embed_key_log(pcapng: Path, keylog: Path) -> None:
    """Write the capture again with the key log in a Decryption Secrets Block after the
    interface, as `tlslens connect` does, so that Wireshark opens it decrypted; the .keys
    file stays beside it. (editcap --inject-secrets puts the DSB before the interface, and
    editcap 4.0 then cannot rewrite the file: --discard-all-secrets fails on it.)"""
    raw, reader = open_capture(pcapng)
    with raw:
        frames = list(reader)
    out = io.BytesIO()
    writer = PcapngWriter(out)
    writer.add_interface(frames[0][1] if frames else LINKTYPE_ETHERNET, tsresol=9)
    writer.add_secrets(keylog.read_bytes())
    for ts_ns, _linktype, data in frames:
        writer.add_packet(ts_ns, data)
    pcapng.write_bytes(out.getvalue())


def run(
    cmd: list[str], stdin: bytes = b"", env: dict[str, str] | None = None, timeout_s: float = 20
) -> None:
    subprocess.run(
        cmd,
        input=stdin,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=timeout_s,
        env={**os.environ, **(env or {})},
        check=False,
    )


# -- the scenario context and OpenSSL ----------------------------------------------


@dataclass
class Context:
    pki: Path
    out: Path
    work: Path

    @property
    def udp_out(self) -> Path:
        """Where the QUIC and DTLS captures go: a folder of their own, so that the tests
        that read every TCP capture of ``out`` do not take them for TCP ones."""
        path = self.out / "udp"
        path.mkdir(parents=True, exist_ok=True)
        return path


def s_client(port: int, *args: str, keylog: Path, data: bytes = b"GET / HTTP/1.0\r\n\r\n") -> None:
    run(
        [
            "openssl",
            "s_client",
            "-connect",
            f"{HOST}:{port}",
            "-servername",
            NAME,
            "-keylogfile",
            str(keylog),
            "-ign_eof",
            *args,
        ],
        stdin=data,
    )


@contextmanager
def s_server(ctx: Context, port: int, *args: str, cert: str = "server") -> Iterator[None]:
    cmd = [
        "openssl",
        "s_server",
        "-accept",
        str(port),
        "-naccept",
        "16",
        "-cert",
        str(ctx.pki / f"{cert}.pem"),
        "-key",
        str(ctx.pki / f"{cert}.key"),
        "-cert_chain",
        str(ctx.pki / "intermediate.pem"),
        "-www",
        *args,
    ]
    with process(cmd):
        wait_port(port)
        yield
