"""`scan`'s network side: many probes against one server, at once, within bounds.

EDGE: sockets, threads and asyncio. Each probe is one TCP connection carrying one
ClientHello that ``scan.probe`` wrote (after the STARTTLS prelude, if any) and the server's
first flight, read until the probe has what it needs. Independent questions run
concurrently (``asyncio.gather``) under a per-target limit on connections in flight and an
optional rate; the questions that depend on an earlier answer (the next cipher suite once
the server's favourite is removed) run in sequence. Every connection and every read is
bounded by the timeout. Resumption is checked with Python ``ssl`` full handshakes.
"""

from __future__ import annotations

import asyncio
import functools
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TypeVar

from tlslens.explain.verdict import LiveOutcome
from tlslens.handshake.compose import push_sslv2_client_hello
from tlslens.net.udpclient import attempt
from tlslens.net.wire import (
    Channel,
    Deadline,
    DeadlineError,
    Plan,
    Recording,
    resolve,
    socket_failure,
)
from tlslens.scan.findings import ScanReport
from tlslens.scan.probe import (
    TLS10,
    Offer,
    Probe,
    ProbeResult,
)
from tlslens.scan.questions import Scanner, hrr_group
from tlslens.scan.udpquestions import (
    QUIC_V1,
    QUIC_V2,
    QuicAnswer,
    QuicSupport,
    answer_quic,
    compare_certificates,
    read_back,
)

T = TypeVar("T")
TICKET_WAIT_S = 0.3  # the longest wait for a TLS 1.3 ticket after the handshake
# Groups the scanner holds private keys for, so that it can read what follows ServerHello.
SHAREABLE = (29, 23, 24, 25, 30)  # x25519, secp256r1, secp384r1, secp521r1, x448
SSL2_KINDS = (0x010080, 0x020080, 0x030080, 0x040080, 0x050080, 0x060040, 0x0700C0)


@dataclass(slots=True)
class ScanSettings:
    timeout_s: float = 5.0  # each connection, from SYN to the end of the server's flight
    max_connections: int = 16  # in flight at once, per target
    rate: float | None = None  # connections started per second, per target
    starttls: Callable[[Channel, Plan], None] | None = None
    starttls_name: str | None = None
    resumption: bool = True
    quic: bool = False  # also ask the QUIC questions (scan --quic)


class _Target:
    """One server: the probes' shared limits and the report they fill in."""

    def __init__(
        self, report: ScanReport, sockaddr: tuple[str, int], family: int, settings: ScanSettings
    ) -> None:
        self.report = report
        self.sockaddr = sockaddr
        self.family = family
        self.settings = settings
        self.slots = asyncio.Semaphore(settings.max_connections)
        self.next_start = 0.0
        self.rate_lock = asyncio.Lock()
        # One thread per connection in flight: the default executor has a handful of
        # threads, which would cap the probes in flight below --max-connections.
        self.executor = ThreadPoolExecutor(settings.max_connections, thread_name_prefix="probe")

    async def _blocking(self, function: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.executor, function, *args)

    async def _paced(self) -> None:
        rate = self.settings.rate
        if not rate:
            return
        async with self.rate_lock:
            now = time.monotonic()
            wait = self.next_start - now
            self.next_start = max(now, self.next_start) + 1.0 / rate
        if wait > 0:
            await asyncio.sleep(wait)

    async def probe(self, offer: Offer) -> ProbeResult:
        """One probe; a HelloRetryRequest for a group the scanner can make a key for is
        followed, on a new connection, by the same offer with that key share."""
        result = await self._one(offer)
        group = hrr_group(result.conn)
        if (
            group is not None
            and offer.key_share_groups
            and group in SHAREABLE
            and group not in offer.key_share_groups
        ):
            result = await self._one(replace(offer, key_share_groups=(group,)))
        return result

    async def _one(self, offer: Offer) -> ProbeResult:
        async with self.slots:
            await self._paced()
            self.report.connections_used += 1
            return await self._blocking(
                self._probe_blocking, Probe(offer, ts_ns=time.time_ns()), None
            )

    async def sslv2(self) -> ProbeResult:
        async with self.slots:
            await self._paced()
            self.report.connections_used += 1
            probe = Probe(Offer(version=TLS10, cipher_suites=()), ts_ns=time.time_ns())
            hello = push_sslv2_client_hello(SSL2_KINDS, bytes(16))
            return await self._blocking(self._probe_blocking, probe, hello)

    def _open(self, deadline: Deadline) -> tuple[socket.socket, Channel]:
        plan = Plan(
            host=self.report.host,
            port=self.report.port,
            sni=self.report.sni,
            timeout_s=self.settings.timeout_s,
        )
        sock = socket.socket(self.family, socket.SOCK_STREAM)
        sock.settimeout(max(deadline.left(), 0.01))
        try:
            sock.connect(self.sockaddr)
        except OSError:
            sock.close()
            raise
        channel = Channel(sock, Recording(plan, LiveOutcome(timeout_s=plan.timeout_s)), deadline)
        if self.settings.starttls is not None:
            self.settings.starttls(channel, plan)
            refusal = channel.rec.outcome.starttls_refusal
            if refusal is not None:
                sock.close()
                raise ConnectionError(f"{self.settings.starttls_name} refused: {refusal}")
        return sock, channel

    def _probe_blocking(self, probe: Probe, hello: bytes | None) -> ProbeResult:
        deadline = Deadline(self.settings.timeout_s)
        try:
            sock, channel = self._open(deadline)
        except (OSError, DeadlineError, ConnectionError) as exc:
            return ProbeResult(None, _failure_text(exc))
        try:
            sock.sendall(hello if hello is not None else probe.hello)
            if hello is not None:
                probe.hello = hello
            while not probe.done:
                try:
                    data = channel.recv()
                except DeadlineError:
                    if not probe.result().answered:
                        result = probe.result()
                        result.error = (
                            result.error
                            or f"no complete answer within {self.settings.timeout_s:g} s"
                        )
                        return result
                    break
                probe.feed(data)
        except OSError as exc:
            result = probe.result()
            if not result.answered:
                result.error = result.error or socket_failure(exc, "the connection")[1]
            return result
        finally:
            sock.close()
        return probe.result()

    # -- resumption with Python ssl ------------------------------------------------

    def _ssl_handshake(
        self, context: ssl.SSLContext, session: ssl.SSLSession | None, wait_ticket: bool
    ) -> ssl.SSLSocket:
        deadline = Deadline(self.settings.timeout_s)
        sock, _channel = self._open(deadline)
        tls = context.wrap_socket(
            sock, server_hostname=self.report.sni, session=session, do_handshake_on_connect=False
        )
        tls.settimeout(max(deadline.left(), 0.01))
        tls.do_handshake()
        if wait_ticket:
            # TLS 1.3 tickets come after the handshake: read in short steps until one has
            # been taken in (or TICKET_WAIT_S has passed).
            until = time.monotonic() + min(TICKET_WAIT_S, max(deadline.left(), 0.01))
            while time.monotonic() < until:
                session = tls.session
                if session is not None and session.has_ticket:
                    break
                tls.settimeout(0.02)
                try:
                    tls.recv(1)
                except TimeoutError:
                    continue
                except (ssl.SSLError, OSError):
                    break
        return tls

    def _resumes(
        self, version: ssl.TLSVersion, tickets: bool, suites: Sequence[int]
    ) -> tuple[bool | None, bool | None]:
        """(resumed, ticket issued) with two full Python ssl handshakes; before TLS 1.3
        offering ``suites`` (the server's own), as far as the local OpenSSL has them."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        context.minimum_version = context.maximum_version = version
        if version < ssl.TLSVersion.TLSv1_3:
            _offer_suites(context, suites)
        if not tickets:
            # No session_ticket extension at all: the server can resume by session ID only.
            context.options |= ssl.OP_NO_TICKET
        try:
            first = self._ssl_handshake(context, None, version == ssl.TLSVersion.TLSv1_3)
            session = first.session
            _close_cleanly(first)
            if session is None or (version == ssl.TLSVersion.TLSv1_3 and not session.has_ticket):
                return False, False
            second = self._ssl_handshake(context, session, False)
            resumed = second.session_reused
            _close_cleanly(second)
            return resumed, session.has_ticket
        except (OSError, ssl.SSLError, DeadlineError, ConnectionError, ValueError):
            return None, None

    async def resumption(self, possible: dict[str, bool], suites: Sequence[int]) -> None:
        """Resumed or not, by two full handshakes each; ``possible`` says which kinds the
        first TLS 1.2 answer already ruled out (no session ID, no session_ticket), and
        ``suites`` are TLS 1.2 suites the server accepted."""
        report = self.report
        jobs: list[tuple[str, ssl.TLSVersion, bool]] = []
        if report.versions["TLS 1.2"].accepted:
            for name, tickets in (("session_id", False), ("ticket", True)):
                if possible.get(name, True):
                    jobs.append((name, ssl.TLSVersion.TLSv1_2, tickets))
                else:
                    report.resumption[name] = False
        if report.versions["TLS 1.3"].accepted:
            jobs.append(("tls13_psk", ssl.TLSVersion.TLSv1_3, True))

        async def one(name: str, version: ssl.TLSVersion, tickets: bool) -> None:
            async with self.slots:
                await self._paced()
                report.connections_used += 2
                resumed, issued = await self._blocking(self._resumes, version, tickets, suites)
            if name == "ticket" and issued is False:
                resumed = False  # resumed by session ID, not by a ticket
            report.resumption[name] = resumed
            if name == "tls13_psk":
                report.tls13_tickets_issued = issued

        await asyncio.gather(*(one(*job) for job in jobs))


def _offer_suites(context: ssl.SSLContext, suites: Sequence[int]) -> None:
    """Offer ``suites`` (IANA codes) alone: Python's default list has no RSA key exchange,
    which a server may accept alone. Suites the local OpenSSL lacks leave the default."""
    names = _openssl_names()
    wanted = [names[s] for s in suites if s in names]
    if wanted:
        # SECLEVEL 0: the scanner asks in the server's terms; it judges them elsewhere.
        context.set_ciphers(":".join(wanted) + ":@SECLEVEL=0")


@functools.cache
def _openssl_names() -> dict[int, str]:
    """The local OpenSSL's name of each suite it has, by IANA code."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.set_ciphers("ALL:COMPLEMENTOFALL:@SECLEVEL=0")
    return {int(c["id"]) & 0xFFFF: str(c["name"]) for c in context.get_ciphers()}


def _close_cleanly(tls: ssl.SSLSocket) -> None:
    """close_notify first: a server drops a session from its cache when the connection
    ends without one."""
    try:
        tls.unwrap()
    except (OSError, ssl.SSLError, ValueError):
        pass
    tls.close()


def _failure_text(exc: BaseException) -> str:
    if isinstance(exc, DeadlineError):
        return "timed out"
    if isinstance(exc, OSError):
        return socket_failure(exc, "the connection")[1]
    return str(exc)


async def _quic(support: QuicSupport, plan: Plan, report: ScanReport) -> None:
    """The QUIC questions (scan.udpquestions): two live QUIC connections at once, each
    recording read back through the capture path."""
    probe = Plan(
        host=plan.host, port=plan.port, sni=plan.sni, timeout_s=plan.timeout_s, alpn=("h3",)
    )
    versions = {"QUIC v1": QUIC_V1, "QUIC v2": QUIC_V2}
    recs = await asyncio.gather(*(attempt(probe, [v]) for v in versions.values()))
    report.connections_used += len(recs)
    v1, v2 = (
        QuicAnswer(rec.outcome, read_back(rec.to_pcapng(), f"{plan.host}:{plan.port} ({name})"))
        for rec, name in zip(recs, versions, strict=True)
    )
    answer_quic(support, v1, v2)


async def scan_target(report: ScanReport, settings: ScanSettings) -> None:
    """Fill ``report`` in; every failure goes to ``report.errors``."""
    started = time.monotonic()
    plan = Plan(host=report.host, port=report.port, sni=report.sni, timeout_s=settings.timeout_s)
    try:
        family, sockaddr = await asyncio.to_thread(resolve, plan, Deadline(settings.timeout_s))
    except (OSError, DeadlineError) as exc:
        report.errors.append(
            f"cannot resolve {report.host}: {getattr(exc, 'strerror', None) or exc or 'timed out'}"
        )
        report.duration_s = time.monotonic() - started
        return
    report.ip = sockaddr[0]
    target = _Target(report, sockaddr, family, settings)
    try:
        resumption = settings.resumption and settings.starttls is None
        questions = [Scanner(target, report, resumption=resumption).run()]
        if settings.quic and settings.starttls is None:  # QUIC has no STARTTLS
            report.quic = QuicSupport()
            questions.append(_quic(report.quic, plan, report))
        await asyncio.gather(*questions)
        if report.quic is not None:
            compare_certificates(report.quic, report.certificate_chains)
    except Exception as exc:  # a bug in tlslens: this target's entry says so, the scan goes on
        report.errors.append(
            f"internal error ({type(exc).__name__}: {exc}); the scan of this target stopped"
        )
    finally:
        target.executor.shutdown(wait=False)
    report.duration_s = time.monotonic() - started


__all__ = ["ScanSettings", "scan_target"]
