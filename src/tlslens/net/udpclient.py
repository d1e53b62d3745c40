"""One live QUIC connection through aioquic, every datagram recorded.

EDGE: sockets, asyncio and the clock. tlslens owns the UDP socket (connected to the
server, so that its local address is the real one); aioquic's sans-IO ``QuicConnection``
runs the handshake inside aioquic's asyncio protocol, whose transport is wrapped so that
each datagram sent and received is kept with its time, beside the secrets aioquic writes
to its key log hook. The recording is framed as UDP datagrams (``Recording.to_pcapng``)
and read back through the capture path, as ``connect`` does for TCP.

Strategy: one attempt is resolve, connect the socket, send the Initial, wait for the
handshake (or the close, an ICMP refusal, the deadline, the datagram bound), then with
ALPN h3 one HTTP/3 GET / and its answer, then CONNECTION_CLOSE and the server's last
datagrams. Nothing here raises for what the network or the server does: the outcome says it.
"""

from __future__ import annotations

import asyncio
import io
import ipaddress
import logging
import socket
import time
from collections.abc import Callable, Sequence
from typing import Any, cast

from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.h3.connection import ErrorCode, H3Connection
from aioquic.h3.events import DataReceived, H3Event, HeadersReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import NetworkAddress, QuicConnection
from aioquic.quic.events import (
    ConnectionTerminated,
    HandshakeCompleted,
    ProtocolNegotiated,
    QuicEvent,
)
from aioquic.quic.packet import QuicErrorCode, QuicProtocolVersion

from tlslens._text import plural, printable
from tlslens.errors import OptionError
from tlslens.explain.verdict import LiveOutcome
from tlslens.flows.synth import Chunk
from tlslens.model import Connection, Endpoint
from tlslens.net.wire import (
    HANDSHAKE_ALLOWANCE,
    Deadline,
    DeadlineError,
    Plan,
    Recording,
    bind_client,
    resolve,
    socket_failure,
)

QUIC_V1_ONLY = (int(QuicProtocolVersion.VERSION_1),)  # what connect --quic offers
DEFAULT_ALPN = ("h3",)
# Datagrams kept per attempt, both directions: a handshake, one request and the close
# take a few dozen; a server that floods is cut off there.
MAX_DATAGRAMS = 2048
CLOSE_WAIT_S = 1.0  # how long the server's last datagrams are awaited after our close
USER_AGENT = b"tlslens"
H3_NO_ERROR = int(ErrorCode.H3_NO_ERROR)
# aioquic logs its connection's troubles (no common version...) as warnings under "quic":
# the outcome says them; without a handler of the caller's, Python would print them raw.
logging.getLogger("quic").addHandler(logging.NullHandler())


class _RecordingTransport(asyncio.DatagramTransport):
    """The socket's transport as aioquic sees it: every datagram it sends is kept first."""

    def __init__(self, inner: asyncio.DatagramTransport, protocol: _Recorder) -> None:
        super().__init__()
        self.inner = inner
        self.protocol = protocol

    def sendto(self, data: Any, addr: Any = None) -> None:
        del addr  # the socket is connected to the server: its address is the only one
        self.protocol.keep(0, bytes(data))
        self.inner.sendto(data)

    def close(self) -> None:
        self.inner.close()

    def is_closing(self) -> bool:
        return self.inner.is_closing()

    def abort(self) -> None:
        self.inner.abort()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.inner.get_extra_info(name, default)


class _Recorder(QuicConnectionProtocol):
    """aioquic's protocol, with every datagram recorded, the attempt's ends signalled
    (``wake``), and the HTTP/3 answer to our request kept."""

    def __init__(self, quic: QuicConnection, rec: Recording, peer: tuple[str, int]) -> None:
        super().__init__(quic)
        self.rec = rec
        self.peer = peer
        self.wake = asyncio.Event()
        self.handshake_done = False
        self.terminated: ConnectionTerminated | None = None
        self.error: OSError | None = None
        self.over_limit = False
        self.h3: H3Connection | None = None
        self.request_stream: int | None = None
        self.reply_done = False

    def keep(self, side: int, data: bytes) -> bool:
        """Record one datagram; False (and the attempt ends) past the bounds."""
        rec = self.rec
        outcome = rec.outcome
        if side == 1:
            if outcome.server_bytes + len(data) > rec.plan.read_limit + HANDSHAKE_ALLOWANCE:
                self.over_limit = True
            else:
                outcome.server_bytes += len(data)
        if len(rec.chunks) >= MAX_DATAGRAMS:
            self.over_limit = True
        if self.over_limit:
            self.wake.set()
            return False
        rec.chunks.append(Chunk(time.time_ns(), side, data))
        return True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(
            _RecordingTransport(cast(asyncio.DatagramTransport, transport), self)
        )

    def datagram_received(self, data: bytes | str, addr: NetworkAddress) -> None:
        if isinstance(data, str) or not self.keep(1, data):
            return
        if self.rec.outcome.phase == "connecting":
            self.rec.outcome.phase = "handshake"
        # The socket is connected: every datagram is the server's. aioquic compares
        # addresses as tuples, and an IPv6 socket reports 4-tuples where the path it
        # connected to is the resolver's 2-tuple: a mismatch it would take for another path.
        del addr
        super().datagram_received(data, self.peer)

    def error_received(self, exc: Exception) -> None:
        # A connected UDP socket reports the ICMP answers to what it sent (port
        # unreachable is ECONNREFUSED): nothing listens, or a firewall rejects.
        if isinstance(exc, OSError) and self.error is None:
            self.error = exc
            self.wake.set()

    def quic_event_received(self, event: QuicEvent) -> None:
        if isinstance(event, ProtocolNegotiated) and event.alpn_protocol == "h3":
            self.h3 = H3Connection(self._quic)
        elif isinstance(event, HandshakeCompleted):
            self.handshake_done = True
        elif isinstance(event, ConnectionTerminated):
            self.terminated = event
        if self.h3 is not None:
            for h3_event in self.h3.handle_event(event):
                self._answer(h3_event)
        # Not the base class's handler: it opens an asyncio stream per stream, which
        # nothing here reads.
        self.wake.set()

    def _answer(self, event: H3Event) -> None:
        if not isinstance(event, HeadersReceived | DataReceived):
            return
        if event.stream_id != self.request_stream:
            return
        rec = self.rec
        if isinstance(event, HeadersReceived) and not rec.reply_headers:
            rec.reply_headers = [
                (name.decode("ascii", "replace"), value.decode("utf-8", "replace"))
                for name, value in event.headers
            ]
        elif isinstance(event, DataReceived):
            rec.plaintext_in += len(event.data)
        if event.stream_ended:
            self.reply_done = True

    def get(self, authority: str) -> None:
        """HTTP/3 GET / on a new bidirectional stream."""
        assert self.h3 is not None
        stream = self._quic.get_next_available_stream_id()
        self.request_stream = stream
        self.h3.send_headers(
            stream,
            [
                (b":method", b"GET"),
                (b":scheme", b"https"),
                (b":authority", authority.encode("idna")),
                (b":path", b"/"),
                (b"user-agent", USER_AGENT),
            ],
            end_stream=True,
        )
        self.transmit()

    def ended(self) -> bool:
        return self.terminated is not None or self.error is not None or self.over_limit

    async def until(self, ready: Callable[[], bool], deadline: Deadline) -> None:
        """Wait until ``ready()`` or the attempt ended; DeadlineError when time is up."""
        while not ready() and not self.ended():
            self.wake.clear()
            left = deadline.left()
            if left <= 0:
                raise DeadlineError
            try:
                await asyncio.wait_for(self.wake.wait(), left)
            except TimeoutError:
                raise DeadlineError from None


def configuration(plan: Plan, versions: Sequence[int], keylog: io.StringIO) -> QuicConfiguration:
    """aioquic's client configuration for ``plan``; OptionError for a client certificate or
    key it cannot load (before anything is sent)."""
    config = QuicConfiguration(
        is_client=True,
        alpn_protocols=list(plan.alpn or DEFAULT_ALPN),
        server_name=plan.sni,
        secrets_log_file=keylog,
        supported_versions=list(versions),
        idle_timeout=max(plan.timeout_s, 1.0),
    )
    # tlslens checks the chain itself, after the handshake, against the chosen trust
    # store: the handshake must complete whatever the certificate (as connect over TCP).
    config.verify_mode = 0  # ssl.CERT_NONE
    if plan.client_cert is not None or plan.client_key is not None:
        if plan.client_cert is None or plan.client_key is None:
            raise OptionError("--client-cert", "--client-cert and --client-key go together")
        try:
            config.load_cert_chain(plan.client_cert, plan.client_key)
        except (OSError, ValueError, TypeError) as exc:
            raise OptionError(
                "--client-cert", f"{plan.client_cert}: not a usable PEM certificate and key"
            ) from exc
    return config


def connect_quic(plan: Plan, versions: Sequence[int] = QUIC_V1_ONLY) -> Recording:
    """``connect --quic``: one attempt from a synchronous caller (see ``attempt``)."""
    return asyncio.run(attempt(plan, versions))


async def attempt(plan: Plan, versions: Sequence[int] = QUIC_V1_ONLY) -> Recording:
    """Resolve, handshake offering ``versions`` (the first in the Initial), GET / over
    HTTP/3 when ``plan.http`` and ALPN h3, close; the Recording's ``udp`` chunks are the
    datagrams. Never raises for what the network or the server does; OptionError for
    options aioquic refuses (before anything is sent)."""
    keylog = io.StringIO()
    config = configuration(plan, versions, keylog)
    rec = Recording(plan, LiveOutcome(timeout_s=plan.timeout_s), udp=True)
    outcome = rec.outcome
    deadline = Deadline(plan.timeout_s)
    try:
        family, sockaddr = await asyncio.to_thread(resolve, plan, deadline)
    except OSError as exc:
        outcome.transport, outcome.detail = "dns", f"{plan.host}: {exc.strerror or exc}"
        return rec
    except DeadlineError:
        outcome.transport = "dns"
        outcome.detail = f"{plan.host}: no answer within {plan.timeout_s:g} s"
        return rec
    rec.ip = str(sockaddr[0])
    rec.server = Endpoint(ipaddress.ip_address(sockaddr[0]).packed, plan.port)
    outcome.phase = "connecting"
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        sock.connect(sockaddr)
        bind_client(sock, rec)
    except OSError as exc:
        sock.close()
        outcome.transport, outcome.detail = socket_failure(exc, _where(rec))
        return rec
    try:
        await _run(sock, sockaddr, config, rec, deadline)
    finally:
        rec.keylog = [line.encode("ascii") for line in keylog.getvalue().splitlines() if line]
    return rec


async def _run(
    sock: socket.socket,
    sockaddr: tuple[str, int],
    config: QuicConfiguration,
    rec: Recording,
    deadline: Deadline,
) -> None:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        lambda: _Recorder(QuicConnection(configuration=config), rec, sockaddr), sock=sock
    )
    assert isinstance(protocol, _Recorder)
    try:
        protocol.connect(sockaddr)
        await _converse(protocol, rec, deadline)
    finally:
        transport.close()


async def _converse(protocol: _Recorder, rec: Recording, deadline: Deadline) -> None:
    outcome = rec.outcome
    plan = rec.plan
    try:
        await protocol.until(lambda: protocol.handshake_done, deadline)
        if not protocol.ended():
            outcome.handshake_done = True
            outcome.phase = "data"
            if plan.http and protocol.h3 is not None:
                protocol.get(plan.sni or plan.host)
                await protocol.until(lambda: protocol.reply_done, deadline)
    except DeadlineError:
        if outcome.handshake_done:
            outcome.notes.append(
                f"the answer was read until the timeout ({plan.timeout_s:g} s, --timeout)"
            )
        elif outcome.phase == "connecting":
            outcome.transport = "error"
            outcome.detail = (
                f"no QUIC answer from {_where(rec)} within {plan.timeout_s:g} s "
                "(nothing listens there, or a firewall drops UDP)"
            )
        else:
            outcome.transport = "timeout"
    _ended(protocol, rec)
    if protocol.terminated is None and protocol.error is None:
        await _close(protocol, deadline)


def _ended(protocol: _Recorder, rec: Recording) -> None:
    """What ended the attempt early, in the outcome's words."""
    outcome = rec.outcome
    if protocol.over_limit:
        outcome.transport = "limit"
        outcome.detail = f"{plural(len(rec.chunks), 'datagram')} kept"
    elif protocol.error is not None:
        if outcome.phase == "connecting":
            outcome.transport, outcome.detail = socket_failure(protocol.error, _where(rec))
            if outcome.transport == "refused":
                outcome.detail = f"{_where(rec)}: ICMP port unreachable"
        else:
            outcome.transport, outcome.detail = "error", f"{_where(rec)}: {protocol.error}"
    elif protocol.terminated is not None and not outcome.handshake_done:
        closed = protocol.terminated
        reason = f": {closed.reason_phrase}" if closed.reason_phrase else ""
        outcome.tls_error = (
            f"the QUIC connection was closed (error 0x{closed.error_code:x}{reason})"
        )


async def _close(protocol: _Recorder, deadline: Deadline) -> None:
    """CONNECTION_CLOSE (no error), then the server's last datagrams until aioquic's
    draining period ends, never past the whole operation's time."""
    # RFC 9114 §8.1: over HTTP/3 the application's "no error" is H3_NO_ERROR.
    protocol.close(error_code=H3_NO_ERROR if protocol.h3 is not None else QuicErrorCode.NO_ERROR)
    wait = min(CLOSE_WAIT_S, max(deadline.left(), 0.05))
    try:
        await asyncio.wait_for(protocol.wait_closed(), wait)
    except TimeoutError:
        pass


def _where(rec: Recording) -> str:
    plan = rec.plan
    ip = rec.ip or plan.host
    name = ip if ip == plan.host else f"{plan.host} ({ip})"
    return f"{name} UDP port {plan.port}"


def heard_quic(conn: Connection | None) -> bool:
    """Did a packet of the server's open as one of this connection's? Until one does, the
    read-back is nothing but the client's own Initial (and whatever else came back)."""
    packets = conn.quic.packets if conn is not None and conn.quic is not None else []
    return any(packet.direction == "s2c" and packet.pn is not None for packet in packets)


def settle(rec: Recording, conn: Connection | None) -> None:
    """The outcome once the recording is read back: datagrams from the server none of which
    opened as a QUIC packet of this connection (garbage, or another protocol on the port),
    though every key the client had is in the recording, end the attempt as a port that
    does not speak QUIC, not as a handshake that timed out. A flood (the datagram bound)
    keeps its own ending."""
    outcome = rec.outcome
    server = [chunk.data for chunk in rec.chunks if chunk.side == 1]
    if not server or outcome.handshake_done or outcome.transport not in (None, "timeout"):
        return
    if heard_quic(conn):
        return
    head = server[0][:24]
    outcome.phase, outcome.transport = "connecting", "error"
    # The server's bytes: printable ASCII (dots for the rest) and hex, never raw.
    outcome.detail = (
        f"{_where(rec)} answered with {plural(len(server), 'datagram')} "
        f"({plural(sum(map(len, server)), 'byte')}), none of which opened as a QUIC packet of "
        f"this connection: not a QUIC server (the first begins "
        f"{printable(head, lines=False)!r}: {head[:16].hex(' ')})"
    )


__all__ = [
    "DEFAULT_ALPN",
    "MAX_DATAGRAMS",
    "QUIC_V1_ONLY",
    "attempt",
    "configuration",
    "connect_quic",
    "heard_quic",
    "settle",
]
