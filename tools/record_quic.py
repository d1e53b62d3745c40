"""The QUIC scenario of tools/record_captures.py: HTTP/3 over aioquic, and Chromium.

aioquic HTTP/3 servers (the lab RSA chain, ALPN h3) listen on UDP 443 (the plain server),
on a free port with Retry, and on a free port for Chromium; clients connect one after
another, each in its own QUIC connection:

1. aioquic client, QUIC v1, GET / (port 443);
2. aioquic client, QUIC v2 (RFC 9369) from its first Initial, GET / (port 443);
3. aioquic client, QUIC v1, against the Retry server: Retry, then GET / (free port);
4. aioquic client whose ClientHello carries a 1200-byte transport parameter (aioquic's
   ``quantum_readiness_test``: it has no post-quantum group), so that the ClientHello's
   CRYPTO data spans two Initial packets in two datagrams (port 443);
5. aioquic client that GETs /, switches to a connection ID the server issued
   (NEW_CONNECTION_ID, then RETIRE_CONNECTION_ID), GETs /cid, then migrates to a new UDP
   port (the server validates the path with PATH_CHALLENGE) and GETs /migrated (port 443);
6. aioquic client trusting an unrelated root: it refuses the certificate and closes with
   CONNECTION_CLOSE carrying CRYPTO_ERROR 0x12a (TLS alert bad_certificate, 42) (port 443);
7. headless Chromium (Debian's) forced to QUIC on the Chromium server's port, trusting the
   leaf by its SPKI hash (--ignore-certificate-errors-spki-list), with its own key log.

The aioquic clients write the key log (``secrets_log_file``); every connection's secrets are
in quic.keys and in the capture's Decryption Secrets Block.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import shutil
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from aioquic.asyncio.client import connect
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.asyncio.server import serve
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import DataReceived, H3Event, HeadersReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import ProtocolNegotiated, QuicEvent
from aioquic.quic.packet import QuicProtocolVersion
from aioquic.tls import CipherSuite
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from record_lab import HOST, NAME, Context, capture, embed_key_log, free_port, run

QUIC_PORT = 443  # the usual port for the plain server; the others are free ports
TIMEOUT_S = 10.0
BULK_PATH = b"/bytes/"  # GET /bytes/N: N bytes of data (bench/bench_quic.py's transfers)
MAX_BULK = 1 << 30


def _body(path: bytes) -> bytes:
    """A short text naming the path, or for ``/bytes/N`` N bytes of data."""
    size = path.removeprefix(BULK_PATH)
    if path.startswith(BULK_PATH) and size.isdigit() and int(size) <= MAX_BULK:
        block = hashlib.sha256(path).digest() * 2048  # 64 kB, repeated
        return (block * (int(size) // len(block) + 1))[: int(size)]
    return b"<html><body>hello over HTTP/3, " + path + b"</body></html>\n"


class H3Server(QuicConnectionProtocol):
    """Answers every request with a short text naming its path (or bulk data, ``_body``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._h3: H3Connection | None = None

    def quic_event_received(self, event: QuicEvent) -> None:
        if isinstance(event, ProtocolNegotiated) and event.alpn_protocol in H3_ALPN:
            self._h3 = H3Connection(self._quic)
        if self._h3 is None:
            return
        for h3_event in self._h3.handle_event(event):
            if isinstance(h3_event, HeadersReceived):
                body = _body(dict(h3_event.headers).get(b":path", b"/"))
                self._h3.send_headers(
                    h3_event.stream_id,
                    [
                        (b":status", b"200"),
                        (b"content-type", b"text/html"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                )
                self._h3.send_data(h3_event.stream_id, body, end_stream=True)
        self.transmit()


class _H3Client(QuicConnectionProtocol):
    """GET requests, one stream each, answered when the response's stream ends."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._h3 = H3Connection(self._quic)
        self._waiting: dict[int, asyncio.Future[None]] = {}

    async def get(self, path: str, timeout_s: float = TIMEOUT_S) -> None:
        stream_id = self._quic.get_next_available_stream_id()
        self._h3.send_headers(
            stream_id,
            [
                (b":method", b"GET"),
                (b":scheme", b"https"),
                (b":authority", NAME.encode()),
                (b":path", path.encode()),
                (b"user-agent", b"tlslens-recorder"),
            ],
            end_stream=True,
        )
        done = asyncio.get_running_loop().create_future()
        self._waiting[stream_id] = done
        self.transmit()
        await asyncio.wait_for(done, timeout_s)

    def quic_event_received(self, event: QuicEvent) -> None:
        for h3_event in self._h3.handle_event(event):
            self._h3_event_received(h3_event)

    def _h3_event_received(self, event: H3Event) -> None:
        if isinstance(event, DataReceived | HeadersReceived) and event.stream_ended:
            done = self._waiting.pop(event.stream_id, None)
            if done is not None and not done.done():
                done.set_result(None)

    async def migrate(self) -> None:
        """Move to a new local UDP port (the same dual-stack socket kind ``connect``
        made): the server sees the connection arrive from a new address."""
        old = self._transport
        sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind(("::", 0, 0, 0))
        await asyncio.get_running_loop().create_datagram_endpoint(lambda: self, sock=sock)
        if old is not None:
            old.close()


def server_config(pki: Path, cert: str = "server", **options: Any) -> QuicConfiguration:
    """An aioquic HTTP/3 server's configuration with the lab certificate ``cert`` (its
    chain and key under ``pki``); ``options`` are QuicConfiguration fields (the live tests
    set idle_timeout, max_data and supported_versions)."""
    config = QuicConfiguration(is_client=False, alpn_protocols=H3_ALPN, **options)
    config.load_cert_chain(pki / f"{cert}-chain.pem", pki / f"{cert}.key")
    return config


@asynccontextmanager
async def _client(
    ctx: Context,
    port: int,
    keylog: Path,
    *,
    version: int = QuicProtocolVersion.VERSION_1,
    root: str = "root.pem",
    large_hello: bool = False,
    suite: CipherSuite | None = None,
) -> AsyncIterator[_H3Client]:
    with keylog.open("a") as secrets:
        config = QuicConfiguration(
            is_client=True,
            alpn_protocols=H3_ALPN,
            server_name=NAME,
            secrets_log_file=secrets,
            supported_versions=[version],
            quantum_readiness_test=large_hello,
            cipher_suites=None if suite is None else [suite],
        )
        config.load_verify_locations(str(ctx.pki / root))
        async with connect(HOST, port, configuration=config, create_protocol=_H3Client) as conn:
            assert isinstance(conn, _H3Client)
            yield conn


async def _aioquic_clients(ctx: Context, port: int, retry_port: int, keylog: Path) -> None:
    """Connections 1 to 6 of the module's list, in that order."""
    async with _client(ctx, port, keylog) as conn:
        await conn.get("/")
    async with _client(ctx, port, keylog, version=QuicProtocolVersion.VERSION_2) as conn:
        await conn.get("/")
    async with _client(ctx, retry_port, keylog) as conn:
        await conn.get("/")
    async with _client(ctx, port, keylog, large_hello=True) as conn:
        await conn.get("/")
    async with _client(ctx, port, keylog) as conn:
        await conn.get("/")
        conn.change_connection_id()
        await conn.get("/cid")
        await conn.migrate()
        await conn.get("/migrated")
    try:
        async with _client(ctx, port, keylog, root="other-root.pem") as conn:
            await conn.get("/")
    except ConnectionError:
        pass  # the refusal is the point


def _spki_hash(ctx: Context) -> str:
    """The leaf's SPKI hash as --ignore-certificate-errors-spki-list takes it."""
    leaf = x509.load_pem_x509_certificate((ctx.pki / "server.pem").read_bytes())
    spki = leaf.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


def _chromium(ctx: Context, port: int, keylog: Path) -> None:
    run(
        [
            "chromium",
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            f"--user-data-dir={ctx.work / 'chromium-quic'}",
            f"--ssl-key-log-file={keylog}",
            f"--host-resolver-rules=MAP {NAME} {HOST}",
            "--enable-quic",
            f"--origin-to-force-quic-on={NAME}:{port}",
            f"--ignore-certificate-errors-spki-list={_spki_hash(ctx)}",
            "--disable-background-networking",
            "--no-first-run",
            "--dump-dom",
            f"https://{NAME}:{port}/",
        ],
        timeout_s=60,
    )


async def _record(ctx: Context, ports: tuple[int, int, int], keylog: Path) -> None:
    port, retry_port, chromium_port = ports
    config = server_config(ctx.pki)
    servers = [
        await serve(HOST, port, configuration=config, create_protocol=H3Server),
        await serve(HOST, retry_port, configuration=config, create_protocol=H3Server, retry=True),
        await serve(HOST, chromium_port, configuration=config, create_protocol=H3Server),
    ]
    try:
        await _aioquic_clients(ctx, port, retry_port, keylog)
        await asyncio.to_thread(_chromium, ctx, chromium_port, keylog)
    finally:
        for server in servers:
            server.close()


def scenario_quic(ctx: Context) -> None:
    """aioquic HTTP/3 clients and headless Chromium against aioquic HTTP/3 servers."""
    if shutil.which("chromium") is None:
        raise SystemExit("the quic scenario needs Debian's chromium (apt-get install chromium)")
    ports = (QUIC_PORT, free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_DGRAM))
    keylog = ctx.udp_out / "quic.keys"
    keylog.unlink(missing_ok=True)
    port_filter = " or ".join(f"udp port {p}" for p in ports)
    pcapng = ctx.udp_out / "quic.pcapng"
    with capture(pcapng, 0, port_filter=port_filter):
        asyncio.run(_record(ctx, ports, keylog))
    embed_key_log(pcapng, keylog)
