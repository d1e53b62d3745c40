"""The scan's question on certificate compression (RFC 8879): which algorithms a server
compresses its certificate with.

One TLS 1.3 probe per algorithm, offering that algorithm alone and the suite the server
picked in its first TLS 1.3 answer. The probe decrypts the server's flight with its own
key share, so the answer is read, not guessed: a CompressedCertificate in that algorithm
is a yes, a plain Certificate a no; a flight the probe could not open (a hybrid group, a
HelloRetryRequest) or no TLS 1.3 answer leaves it not told.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

from tlslens.events import HandshakeEvent
from tlslens.handshake import compression
from tlslens.handshake import messages as hs
from tlslens.model import S2C, Connection
from tlslens.scan.findings import ScanReport
from tlslens.scan.probe import TLS13, Offer, ProbeResult


def compressed_with(conn: Connection | None, algorithm: int) -> bool | None:
    """Did the server's certificate come compressed with ``algorithm``? None: not seen."""
    if conn is None or conn.version != TLS13:
        return None
    for event in conn.timeline:
        if event.direction != S2C or not isinstance(event, HandshakeEvent):
            continue
        message = event.message
        if isinstance(message, hs.CompressedCertificate):
            return message.algorithm == algorithm and message.certificate is not None
        if isinstance(message, hs.Certificate):
            return False
    return None


async def certificate_compression(
    probe: Callable[[Offer], Awaitable[ProbeResult]],
    offer: Callable[..., Offer],
    report: ScanReport,
    first: Mapping[int, Connection],
) -> None:
    """Fill ``report.certificate_compression`` (needs a TLS 1.3 answer in ``first``)."""
    answer = first.get(TLS13)
    if answer is None or answer.cipher_suite is None:
        return
    suite = answer.cipher_suite

    async def ask(algorithm: int) -> bool | None:
        result = await probe(offer(TLS13, (suite,), compress_certificate=(algorithm,)))
        return compressed_with(result.conn, algorithm)

    answers = await asyncio.gather(*(ask(a) for a in compression.ALGORITHMS))
    for algorithm, said in zip(compression.ALGORITHMS, answers, strict=True):
        report.certificate_compression[compression.algorithm_name(algorithm)] = said
