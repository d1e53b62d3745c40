"""`scan --quic`: what a server says over QUIC, and whether it is the server of the TCP port.

Core: no sockets. Each question is one live QUIC connection (``net.udpclient``: aioquic,
recorded as datagrams; ``net.sweep`` runs them) whose recording is read back through the
capture path (``read_back``), so that every answer is the capture path's reading: the
QUIC version of the server's packets, a Retry, a Version Negotiation and its list, ALPN,
the transport parameters (decoded by the core from the server's EncryptedExtensions) and
the certificates. Two connections, at once:

1. QUIC v1 offering ALPN h3 alone: v1, h3, Retry, transport parameters, the chain;
2. QUIC v2 (RFC 9369) from the first Initial: accepted, or the Version Negotiation's list.

The chain over QUIC is then compared with the chains the TCP scan of the same port saw.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tlslens import _core
from tlslens._text import plural
from tlslens.errors import TLSLensError
from tlslens.explain.verdict import LiveOutcome
from tlslens.handshake import extensions as ext
from tlslens.model import Connection
from tlslens.pipeline import read_capture
from tlslens.scan.findings import Answer, CertificateChain, answer_words

QUIC_V1 = 0x00000001  # RFC 9000 §15
QUIC_V2 = 0x6B3343CF  # RFC 9369 §3.1
QUIC_VERSIONS = {"QUIC v1": QUIC_V1, "QUIC v2": QUIC_V2}
QUIC_TRANSPORT_PARAMETERS = 0x39  # RFC 9001 §8.2
NO_APPLICATION_PROTOCOL = 0x100 + 120  # CRYPTO_ERROR carrying the TLS alert (RFC 9001 §4.8)


@dataclass(frozen=True, slots=True)
class QuicAnswer:
    """One QUIC probe: how the attempt went, and its connection as the capture path read
    the recording back (None when it found none)."""

    outcome: LiveOutcome
    conn: Connection | None


@dataclass(slots=True)
class QuicSupport:
    """The QUIC answers of one server; None where the scan could not tell."""

    versions: dict[str, Answer] = field(default_factory=lambda: dict.fromkeys(QUIC_VERSIONS))
    version_negotiation: list[int] | None = None  # the versions a VN packet listed
    alpn_h3: Answer = None
    retry: Answer = None
    # RFC 9000 §18.2 name (or the hex id) -> the integer, or the value's hex
    transport_parameters: dict[str, int | str] = field(default_factory=dict)
    chain: list[tuple[str, str]] = field(default_factory=list)  # (sha256, subject) leaf first
    same_certificate_as_tcp: Answer = None
    certificate_difference: str | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def answered(self) -> bool:
        """Did the server accept any QUIC version?"""
        return any(self.versions.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "versions": dict(self.versions),
            "version_negotiation": None
            if self.version_negotiation is None
            else [f"0x{v:08x}" for v in self.version_negotiation],
            "alpn_h3": self.alpn_h3,
            "retry": self.retry,
            "transport_parameters": dict(self.transport_parameters),
            "leaf_sha256": self.chain[0][0] if self.chain else None,
            "same_certificate_as_tcp": self.same_certificate_as_tcp,
            "certificate_difference": self.certificate_difference,
            "errors": list(self.errors),
        }

    def rows(self) -> list[tuple[str, str]]:
        """The text output's lines (label, value)."""
        versions = ", ".join(f"{name[5:]} {answer_words(v)}" for name, v in self.versions.items())
        if self.version_negotiation is not None:
            listed = ", ".join(_core.quic_version_name(v) for v in self.version_negotiation)
            versions += f" (Version Negotiation lists {listed or 'nothing'})"
        params = ", ".join(f"{k} {v}" for k, v in self.transport_parameters.items())
        same = answer_words(self.same_certificate_as_tcp)
        if self.same_certificate_as_tcp is None and self.chain:
            same = "no TCP certificate to compare it with"  # nothing answered TLS over TCP
        if self.certificate_difference:
            same += f": {self.certificate_difference}"
        return [
            ("QUIC", versions),
            ("QUIC ALPN h3", answer_words(self.alpn_h3)),
            ("QUIC Retry", answer_words(self.retry)),
            ("QUIC transport parameters", params or "not told"),
            ("QUIC certificate as TCP", same),
        ]


def read_back(pcapng: bytes, name: str) -> Connection | None:
    """An attempt's one connection, read from its recording by the capture path."""
    try:
        return next(iter(read_capture(name, stream=io.BytesIO(pcapng))), None)
    except TLSLensError:
        return None


def _spoken(conn: Connection | None, version: int) -> bool:
    """Did the server answer in ``version`` with packets that opened?"""
    quic = conn.quic if conn is not None else None
    if quic is None or quic.version != version:
        return False
    return any(p.direction == "s2c" and p.pn is not None for p in quic.packets)


def transport_parameters(conn: Connection) -> dict[str, int | str]:
    """The server's quic_transport_parameters, as the core decodes them."""
    found = ext.decoded_in(
        conn.encrypted_extensions, QUIC_TRANSPORT_PARAMETERS, _core.TransportParameters
    )
    if found is None:
        return {}
    return {(p.name or f"0x{p.id:x}"): _parameter_value(p) for p in found.parameters}


def _parameter_value(p: _core.TransportParameter) -> int | str:
    if p.integer is not None:
        return p.integer
    info = p.version_information
    if info is not None:  # RFC 9368: the server's Initial version, then all it supports
        available = ", ".join(_core.quic_version_name(v) for v in info.available_versions)
        return f"chosen {_core.quic_version_name(info.chosen_version)}; available {available}"
    return p.value.hex()


def _failure(outcome: LiveOutcome, probe: str) -> str | None:
    if outcome.handshake_done:
        return None
    what = outcome.detail or outcome.tls_error or outcome.transport or "no handshake"
    if outcome.transport == "timeout":
        what = f"timed out after {plural(outcome.server_bytes, 'byte')} from the server"
    return f"{probe}: {what}"


def _v1(support: QuicSupport, answer: QuicAnswer) -> None:
    conn = answer.conn
    support.versions["QUIC v1"] = True if _spoken(conn, QUIC_V1) else _undecided(answer)
    if conn is None or conn.quic is None or not _spoken(conn, QUIC_V1):
        return
    support.retry = conn.quic.retry is not None
    if answer.outcome.handshake_done:
        support.alpn_h3 = conn.alpn == "h3"
    elif any(c.code == NO_APPLICATION_PROTOCOL for c in conn.quic.closes):
        support.alpn_h3 = False
    support.transport_parameters = transport_parameters(conn)
    support.chain = [(cert.sha256, cert.subject or "") for cert in conn.certificates]


def _v2(support: QuicSupport, answer: QuicAnswer) -> None:
    conn = answer.conn
    quic = conn.quic if conn is not None else None
    if _spoken(conn, QUIC_V2):
        support.versions["QUIC v2"] = True
    elif quic is not None and quic.version_negotiation:
        support.versions["QUIC v2"] = QUIC_V2 in quic.version_negotiation[0][1]
        support.version_negotiation = list(quic.version_negotiation[0][1])
    else:
        support.versions["QUIC v2"] = _undecided(answer)


def _undecided(answer: QuicAnswer) -> Answer:
    """No answer in the version asked: a refusal (ICMP) or a close is a no, silence is
    not told."""
    if answer.outcome.transport == "refused":
        return False
    quic = answer.conn.quic if answer.conn is not None else None
    if quic is not None and any(c.direction == "s2c" for c in quic.closes):
        return False
    return None


def answer_quic(support: QuicSupport, v1: QuicAnswer, v2: QuicAnswer) -> None:
    """Fill ``support`` in from the QUIC v1 (ALPN h3) and QUIC v2 probes."""
    _v1(support, v1)
    _v2(support, v2)
    # Why a version is not a yes, unless a Version Negotiation already said it.
    for answer, name in ((v1, "QUIC v1"), (v2, "QUIC v2")):
        failure = _failure(answer.outcome, f"{name} probe")
        told = name == "QUIC v2" and support.version_negotiation is not None
        if failure is not None and support.versions[name] is not True and not told:
            support.errors.append(failure)


def compare_certificates(support: QuicSupport, chains: Sequence[CertificateChain]) -> None:
    """The chain over QUIC against the TCP scan's: the same when a TCP chain has the same
    certificates; else which certificate differs, with its SHA-256 on both sides."""
    tcp = [[(c.sha256, c.subject or "") for c in chain.conn.certificates] for chain in chains]
    if not support.chain or not tcp:
        return
    if support.chain in tcp:
        support.same_certificate_as_tcp = True
        return
    support.same_certificate_as_tcp = False
    other = next((c for c in tcp if c and c[0] == support.chain[0]), tcp[0])
    for index, (quic_cert, tcp_cert) in enumerate(zip(support.chain, other, strict=False)):
        if quic_cert != tcp_cert:
            which = "the leaf" if index == 0 else f"certificate [{index}]"
            support.certificate_difference = (
                f"{which} differs: over QUIC {quic_cert[1]} (SHA-256 {quic_cert[0]}), "
                f"over TCP {tcp_cert[1]} (SHA-256 {tcp_cert[0]})"
            )
            return
    support.certificate_difference = (
        f"the chains differ in length: {len(support.chain)} certificates over QUIC, "
        f"{len(other)} over TCP"
    )


__all__ = [
    "QUIC_V1",
    "QUIC_V2",
    "QUIC_VERSIONS",
    "QuicAnswer",
    "QuicSupport",
    "answer_quic",
    "compare_certificates",
    "read_back",
    "transport_parameters",
]
