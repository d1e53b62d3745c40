"""The recorded socket: one TCP connection whose every byte is kept with its time.

EDGE: sockets and the clock. ``Channel`` is what the STARTTLS preludes, the live TLS pump
(``live``) and the scanner's probes (``sweep``) read and write; ``Recording`` is what a
connection saw (a TCP byte conversation, or a live QUIC connection's UDP datagrams from
``udpclient``), framed as a capture by ``to_pcapng``. Every read is bounded by a deadline
and the recording by ``--read-limit`` plus an allowance for the handshake.
"""

from __future__ import annotations

import errno
import io
import ipaddress
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tlslens.capture.writer import PcapngWriter
from tlslens.explain.verdict import LiveOutcome
from tlslens.flows.synth import Chunk, Close, iter_datagram_frames, iter_frames
from tlslens.model import Endpoint

READ_CHUNK = 65536
# What the recording keeps from the server beyond --read-limit: room for the handshake
# (certificate chains, tickets) and the records around the plaintext.
HANDSHAKE_ALLOWANCE = 1 << 20


@dataclass(slots=True)
class Plan:
    """What to offer and what to send; every field has the meaning of its CLI option."""

    host: str
    port: int
    sni: str | None
    timeout_s: float = 10.0
    alpn: tuple[str, ...] = ()
    min_version: str | None = None
    max_version: str | None = None
    cipher: str | None = None
    ciphersuites: str | None = None
    groups: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    starttls: str | None = None
    send: bytes | None = None  # sent as it is after the handshake
    http: bool = False  # send HEAD / (HTTP/1.1, or HTTP/2 when h2 is negotiated)
    read_limit: int = 1 << 20
    family: int = socket.AF_UNSPEC


# Of the server's decrypted answer, what is kept to show its start (an HTTP status line and
# headers, or HTTP/2's first frames).
REPLY_KEPT = 16384


@dataclass(slots=True)
class Recording:
    """Everything one attempt saw; ``client`` is None until the socket is bound."""

    plan: Plan
    outcome: LiveOutcome
    ip: str | None = None
    server: Endpoint | None = None
    client: Endpoint | None = None
    syn_ts_ns: int = 0
    synack_ts_ns: int | None = None
    chunks: list[Chunk] = field(default_factory=list)  # over QUIC: one per UDP datagram
    udp: bool = False  # the chunks are datagrams (``connect --quic``)
    closes: list[Close] = field(default_factory=list)
    keylog: list[bytes] = field(default_factory=list)
    plaintext_in: int = 0
    reply_head: bytes = b""  # the first REPLY_KEPT bytes of the server's decrypted answer
    # Over HTTP/3, the answer's header fields as the QUIC stack's QPACK decoder gave them.
    reply_headers: list[tuple[str, str]] = field(default_factory=list)

    def keylog_text(self) -> str:
        return "".join(line.decode("ascii", "replace") + "\n" for line in self.keylog)

    def to_pcapng(self) -> bytes:
        """The attempt as a pcapng: synthetic Ethernet/IP/TCP (or UDP) framing around the real
        bytes and times, the key log in a Decryption Secrets Block ahead of the packets."""
        out = io.BytesIO()
        writer = PcapngWriter(out)
        writer.add_interface(tsresol=9)
        if self.keylog:
            writer.add_secrets(self.keylog_text().encode("ascii"))
        if self.server is not None and self.client is not None and self.udp:
            for ts_ns, frame in iter_datagram_frames(self.client, self.server, self.chunks):
                writer.add_packet(ts_ns, frame)
        elif self.server is not None and self.client is not None:
            for ts_ns, frame in iter_frames(
                self.client,
                self.server,
                syn_ts_ns=self.syn_ts_ns,
                synack_ts_ns=self.synack_ts_ns,
                chunks=self.chunks,
                closes=self.closes,
            ):
                writer.add_packet(ts_ns, frame)
        return out.getvalue()


class Deadline:
    def __init__(self, timeout_s: float) -> None:
        self.end = time.monotonic() + timeout_s

    def left(self) -> float:
        return self.end - time.monotonic()


class DeadlineError(Exception):
    """The whole operation's time is up."""


class ServerClosedError(Exception):
    """The server closed its side (FIN) when more was expected."""


class RecordingLimitError(Exception):
    """The server has sent more than the recording keeps (--read-limit plus the handshake's
    allowance): memory is bounded by the work asked for, not by what a server sends."""


class Channel:
    """The recorded socket: what the STARTTLS preludes and the TLS pump read and write."""

    def __init__(self, sock: socket.socket, rec: Recording, deadline: Deadline) -> None:
        self.sock = sock
        self.rec = rec
        self.deadline = deadline
        self.eof = False
        self.buffer = b""  # plaintext read but not yet used by a prelude

    def send(self, data: bytes) -> None:
        if not data:
            return
        self.rec.chunks.append(Chunk(time.time_ns(), 0, data))
        self.sock.sendall(data)

    def recv(self, wait_s: float | None = None) -> bytes:
        """The next bytes from the server; b"" at its FIN. Raises DeadlineError when the whole
        operation's deadline passes, TimeoutError when only ``wait_s`` did."""
        left = self.deadline.left()
        if left <= 0:
            raise DeadlineError
        self.sock.settimeout(min(left, wait_s) if wait_s is not None else left)
        try:
            data = self.sock.recv(READ_CHUNK)
        except TimeoutError:
            if wait_s is not None and self.deadline.left() > 0:
                raise
            raise DeadlineError from None
        now = time.time_ns()
        if data:
            outcome = self.rec.outcome
            if outcome.server_bytes + len(data) > self.rec.plan.read_limit + HANDSHAKE_ALLOWANCE:
                raise RecordingLimitError
            self.rec.chunks.append(Chunk(now, 1, data))
            outcome.server_bytes += len(data)
        elif not self.eof:
            self.eof = True
            self.rec.closes.append(Close(now, 1, "fin"))
        return data

    def read_until(self, done: Callable[[bytes], bool], limit: int = 1 << 16) -> bytes:
        """Prelude text up to where ``done`` says the answer is complete."""
        data = self.buffer
        while not done(data):
            if len(data) > limit:
                break
            more = self.recv()
            if not more:
                raise ServerClosedError
            data += more
        self.buffer = b""
        return data


def bind_client(sock: socket.socket, rec: Recording) -> None:
    """The client's end of the recording: the socket's local address once it is bound."""
    try:
        local = sock.getsockname()
    except OSError:
        return
    if local and local[1]:
        rec.client = Endpoint(ipaddress.ip_address(local[0]).packed, int(local[1]))


def resolve(plan: Plan, deadline: Deadline) -> tuple[int, tuple[str, int]]:
    """One address for the host (the first the resolver gives), within the deadline."""
    found: list[tuple[int, tuple[str, int]]] = []
    failure: list[OSError] = []

    def lookup() -> None:
        try:
            infos = socket.getaddrinfo(plan.host, plan.port, plan.family, socket.SOCK_STREAM)
            found.extend((info[0], (str(info[4][0]), plan.port)) for info in infos)
        except OSError as exc:
            failure.append(exc)

    worker = threading.Thread(target=lookup, daemon=True)
    worker.start()
    worker.join(max(deadline.left(), 0.0))
    if worker.is_alive():
        raise DeadlineError
    if failure:
        raise failure[0]
    if not found:
        raise OSError(errno.ENOENT, "no address")
    return found[0]


def socket_failure(exc: OSError, what: str) -> tuple[str, str]:
    code = exc.errno
    if isinstance(exc, TimeoutError):
        return "timeout", f"{what}: no answer"
    if code == errno.ECONNREFUSED:
        return "refused", f"{what}: connection refused"
    if code in (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL):
        return "unreachable", f"{what}: {exc.strerror}"
    if code in (errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED):
        return "reset", f"{what}: reset by the server"
    return "error", f"{what}: {exc.strerror or exc}"


__all__ = [
    "HANDSHAKE_ALLOWANCE",
    "READ_CHUNK",
    "Channel",
    "Deadline",
    "DeadlineError",
    "Plan",
    "Recording",
    "RecordingLimitError",
    "ServerClosedError",
    "bind_client",
    "resolve",
    "socket_failure",
]
