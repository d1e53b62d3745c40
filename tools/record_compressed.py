"""The certificate compression scenario (RFC 8879) of tools/record_captures.py.

A tlslite-ng server (the one stack here that compresses certificates: OpenSSL 3.2+ is
not in Debian 12) serves TLS 1.3 on loopback, compressing its Certificate with the
algorithms it is told, one phase after another on the same port:

1. headless Chromium (Debian's), the server compressing nothing: the baseline;
2. headless Chromium, which offers brotli only, the server compressing with brotli;
3. a tlslite-ng client offering zlib, the server compressing with zlib;
4. a tlslite-ng client offering zstd, the server compressing with zstd;
5. a tlslite-ng client with the lab client certificate, the server asking for it in a
   CertificateRequest that offers zlib: the client's Certificate comes compressed.

Chromium writes its own key log (--ssl-key-log-file); tlslite-ng has none, so its
client's TLS 1.3 secrets are taken from its key schedule (``derive_secret``) as they are
derived and written in the NSS format with the client random of the connection.
"""

from __future__ import annotations

import shutil
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from record_lab import HOST, NAME, Context, capture, free_port, run

_LABELS = {
    b"c hs traffic": "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
    b"s hs traffic": "SERVER_HANDSHAKE_TRAFFIC_SECRET",
    b"c ap traffic": "CLIENT_TRAFFIC_SECRET_0",
    b"s ap traffic": "SERVER_TRAFFIC_SECRET_0",
}
_REPLY = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 24\r\nConnection: close\r\n\r\ncompressed certificates\n"


class _KeySchedule:
    """tlslite-ng's ``derive_secret`` wrapped: the secrets this thread derives, by name."""

    def __init__(self) -> None:
        self.local = threading.local()

    def install(self) -> Callable[[], None]:
        from tlslite import tlsconnection

        original = tlsconnection.derive_secret

        def derive_secret(secret: Any, label: Any, hashes: Any, algorithm: str) -> Any:
            value = original(secret, label, hashes, algorithm)
            name = _LABELS.get(bytes(label))
            taken = getattr(self.local, "taken", None)
            if name is not None and taken is not None:
                taken.append((name, bytes(value)))
            return value

        tlsconnection.derive_secret = derive_secret

        def restore() -> None:
            tlsconnection.derive_secret = original

        return restore

    def start(self) -> None:
        self.local.taken = []

    def lines(self, client_random: bytes) -> str:
        taken: list[tuple[str, bytes]] = self.local.taken
        return "".join(f"{name} {client_random.hex()} {value.hex()}\n" for name, value in taken)


def _serve(ctx: Context, listener: socket.socket, phase: dict[str, Any]) -> None:
    from tlslite import HandshakeSettings, TLSConnection, X509CertChain, parsePEMKey

    chain = X509CertChain()
    chain.parsePemList((ctx.pki / "server-chain.pem").read_text())
    key = parsePEMKey((ctx.pki / "server.key").read_text(), private=True)
    while True:
        try:
            sock, _addr = listener.accept()
        except OSError:
            return  # the listener was closed: the scenario is over
        settings = HandshakeSettings()
        settings.minVersion = (3, 4)
        settings.certificate_compression_send = list(phase["send"])
        tls = TLSConnection(sock)
        try:
            tls.handshakeServer(
                certChain=chain,
                privateKey=key,
                settings=settings,
                reqCert=phase["ask"],
                alpn=[bytearray(b"http/1.1")],  # Chromium offers h2 first; tlslite-ng needs a list
            )
            tls.read(max=4096)
            tls.write(_REPLY)
            tls.close()
        except Exception:  # a client going away must not stop the server
            sock.close()


def _tlslite_client(ctx: Context, port: int, offer: str, keylog: Path, cert: bool) -> None:
    from tlslite import HandshakeSettings, TLSConnection, X509CertChain, parsePEMKey

    schedule = _KeySchedule()
    restore = schedule.install()
    try:
        schedule.start()
        settings = HandshakeSettings()
        settings.minVersion = (3, 4)
        settings.certificate_compression_receive = [offer]
        settings.certificate_compression_send = [offer]
        chain, key = None, None
        if cert:
            chain = X509CertChain()
            chain.parsePemList((ctx.pki / "client-chain.pem").read_text())
            key = parsePEMKey((ctx.pki / "client.key").read_text(), private=True)
        with socket.create_connection((HOST, port)) as sock:
            tls = TLSConnection(sock)
            tls.handshakeClientCert(chain, key, settings=settings, serverName=NAME)
            tls.write(b"GET / HTTP/1.1\r\nHost: " + NAME.encode() + b"\r\n\r\n")
            tls.read(max=4096)
            tls.close()
        with keylog.open("a") as out:
            out.write(schedule.lines(bytes(tls._clientRandom)))
    finally:
        restore()


def _chromium(port: int, keylog: Path, profile: Path) -> None:
    run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--user-data-dir={profile}",
            f"--ssl-key-log-file={keylog}",
            f"--host-resolver-rules=MAP {NAME} {HOST}",
            "--ignore-certificate-errors",
            "--disable-background-networking",
            "--no-first-run",
            "--dump-dom",
            f"https://{NAME}:{port}/",
        ],
        timeout_s=60,
    )


@contextmanager
def _server(ctx: Context, port: int, phase: dict[str, Any]) -> Iterator[None]:
    listener = socket.create_server((HOST, port))
    thread = threading.Thread(target=_serve, args=(ctx, listener, phase), daemon=True)
    thread.start()
    try:
        yield
    finally:
        listener.close()
        thread.join(timeout=5)


def scenario_compressed(ctx: Context) -> None:
    """tlslite-ng server compressing its certificate (RFC 8879) to Chromium and tlslite-ng."""
    if shutil.which("chromium") is None:
        raise SystemExit(
            "the compressed scenario needs Debian's chromium (apt-get install chromium)"
        )
    port = free_port()
    keylog = ctx.out / "compressed-certificate.keys"
    keylog.unlink(missing_ok=True)
    phase: dict[str, Any] = {"send": [], "ask": False}
    with capture(ctx.out / "compressed-certificate.pcapng", port), _server(ctx, port, phase):
        _chromium(port, keylog, ctx.work / "chromium-plain")
        phase["send"] = ["brotli"]
        _chromium(port, keylog, ctx.work / "chromium-brotli")
        for algorithm in ("zlib", "zstd"):
            phase["send"] = [algorithm]
            _tlslite_client(ctx, port, algorithm, keylog, cert=False)
        phase.update(send=["zlib"], ask=True)
        _tlslite_client(ctx, port, "zlib", keylog, cert=True)
