"""The connection model: what a capture showed of one TLS connection.

``Connection`` holds the raw observations (the timeline of records and messages, the parsed
hellos, certificates, alerts, problems; over QUIC, its packets too); its properties draw the
conclusions (version, cipher suite, key exchange, forward secrecy, resumption...). Everything
here is pure data: building it is the sessions' job, showing it the explain package's.
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from tlslens import _core, registry
from tlslens._core import MadeOnUse
from tlslens.events import (
    ALERT_EVENTS,
    AlertEvent,
    EncryptedAlertEvent,
    EncryptedHandshakeEvent,
    HandshakeEvent,
    TimelineEvent,
)
from tlslens.handshake import extensions as ext
from tlslens.handshake import messages as hs
from tlslens.x509.asn1 import name_text
from tlslens.x509.certificate import CertificateInfo

if TYPE_CHECKING:
    from tlslens._core import Decryptor
    from tlslens.handshake.sslv2 import SSLv2ClientMasterKey, SSLv2ServerHello
    from tlslens.quic.details import QuicDetails
    from tlslens.tls.association_facts import DtlsFacts
    from tlslens.tls.prelude import Prelude
    from tlslens.tls.proof import SignatureCheck
    from tlslens.x509.validate import Validation

_HANDSHAKE_EVENTS = (HandshakeEvent, EncryptedHandshakeEvent)

C2S = "c2s"
S2C = "s2c"

TLS13 = 0x0304


# What carried a connection's handshake: a TCP stream, QUIC (CRYPTO frames), DTLS records.
Transport = Literal["tcp", "quic", "dtls"]


# One end of a connection (its address's bytes, its port): the core's, which hands each
# flow's ends out shared (one object per end seen again, bounded by count: a capture's
# connections go to few servers and come from few addresses) and writes them as
# ``_address_text`` words the address, then ":" and the port.
Endpoint = _core.Endpoint


@functools.lru_cache(maxsize=4096)
def _address_text(ip: bytes) -> str:
    # Every connection is written with both ends, and a capture has few distinct addresses:
    # ipaddress builds an object and formats it each time it is asked.
    addr = ipaddress.ip_address(ip)
    return f"[{addr}]" if addr.version == 6 else str(addr)


# How a gap's lack ends where it may have held a certificate ("... (a gap): they may have
# held it"): not a chain that was sent, in a session that was resumed.
MAY_HOLD = ": they may have held it"


# The frozen records of the house are NamedTuples, not frozen dataclasses: the class is made
# in a tenth of the time at import (0.08 ms, not 0.63: start-up is part of every command's
# time, 15 such classes in a `show`) and an instance in a third.
class Finding(NamedTuple):
    """A problem found in the bytes, with where it was found."""

    frame: int | None
    direction: str | None
    layer: str
    offset: int | None  # byte offset within the direction's TCP stream
    message: str
    code: str | None = None  # a problem with a name to act on (e.g. "deprecated_version")

    def to_json(self) -> dict[str, Any]:
        return _core.finding_json(self)  # as the row writes it


def request_words(request: hs.CertificateRequest) -> tuple[list[str], list[str]]:
    """What a CertificateRequest asks for, as ``client_auth`` says it: the certificate types
    by name and the CA names it lists (TLS 1.3: its certificate_authorities) as text (the
    core's ``connection_client_auth`` asks, for a connection with a request)."""
    names = list(request.certificate_authorities)
    found = ext.decoded_in(request, ext.CERTIFICATE_AUTHORITIES, _core.CertificateAuthorities)
    names += found.authorities if found else []
    types = [registry.client_certificate_type_name(t) for t in request.certificate_types]
    return types, [name_text(der) for der in names]


class RecordInfo(NamedTuple):
    """One record as the record layer framed it (kept on request: ``records=True``)."""

    frame: int
    direction: str
    offset: int  # of its 5-byte header in the direction's stream
    content_type: int
    version: int  # the record header's (legacy_record_version)
    length: int
    ts_ns: int = 0
    epoch: int | None = None  # DTLS: the record's epoch and sequence number
    seq: int | None = None
    cid: bytes | None = None  # DTLS: the connection ID the record carries (RFC 9146, 9147)
    # DTLS: a decrypted record's real content type (a tls12_cid record's, DTLS 1.3's)
    inner_type: int | None = None
    # DTLS 1.3: the (epoch, sequence number) pairs an ACK record acknowledges (RFC 9147
    # §7), the first MAX_ACKED_KEPT of them (tls/dtls.py)
    acked: tuple[tuple[int, int], ...] | None = None


# What one direction of a connection carried (records, bytes, application data, gaps):
# the core's, which counts a side's end into it and writes it in the row.
DirectionStats = _core.DirectionStats


# The key exchange a ServerHello chose (ECDHE, DHE, RSA, PSK+ECDHE, ECDHE+KEM...): the
# core's, which the row of show --json writes.
key_exchange_of = _core.key_exchange


@dataclass(slots=True, eq=False)
class Handshake:
    """One handshake of a connection: the first, or a renegotiation (RFC 5746)."""

    first_frame: int  # its ClientHello's (or, picked up mid-stream, its ServerHello's)
    client_hello_frame: int | None = None
    server_hello: hs.ServerHello | None = None
    server_hello_frame: int | None = None
    _certificates: list[CertificateInfo] | None = None  # see MadeOnUse
    certificates = MadeOnUse[list[CertificateInfo]](list)

    @property
    def version(self) -> int | None:
        return self.server_hello.selected_version if self.server_hello else None

    @property
    def cipher_suite(self) -> int | None:
        return self.server_hello.cipher_suite if self.server_hello else None

    @property
    def key_exchange(self) -> str | None:
        return key_exchange_of(self.server_hello) if self.server_hello else None


@dataclass(slots=True, eq=False)
class Connection:
    """One TLS connection: over a TCP stream, or over UDP (QUIC, DTLS) where
    ``tcp_stream`` is the flow index of the first UDP address pair it was seen on."""

    id: int
    tcp_stream: int
    client: Endpoint
    server: Endpoint
    first_frame: int
    start_ts_ns: int
    file: str = ""
    transport: Transport = "tcp"
    last_frame: int = 0
    end_ts_ns: int = 0
    timeline: list[TimelineEvent] = field(default_factory=list)
    _problems: list[Finding] | None = None  # made on first use: see MadeOnUse
    prelude: Prelude | None = None
    client_hellos: list[hs.ClientHello] = field(default_factory=list)
    server_hello: hs.ServerHello | None = None  # of the first handshake
    handshakes: list[Handshake] = field(default_factory=list)  # the first, then renegotiations
    records: list[RecordInfo] | None = None  # every record's header, when asked for
    _handshake_signatures: list[SignatureCheck] | None = None
    hello_retry_request: hs.ServerHello | None = None
    _certificates: list[CertificateInfo] | None = None
    client_certificates: list[CertificateInfo] | None = None
    server_key_exchange: hs.ServerKeyExchange | None = None
    encrypted_extensions: hs.EncryptedExtensions | None = None  # TLS 1.3, once decrypted
    decryption: Decryptor | None = None  # when secrets were given
    dtls: DtlsFacts | None = None  # over DTLS: cookie, epochs, retransmissions
    validation: Validation | None = None  # once the chain has been checked
    certificate_request: bool = False
    certificate_request_message: hs.CertificateRequest | None = None
    client_validation: Validation | None = None  # of the client's chain, once checked
    certificate_status: hs.CertificateStatus | None = None
    new_session_ticket: bool = False
    _issued_tickets: list[bytes] | None = None  # the first few NewSessionTickets
    resumed_from: int | None = None  # the id of the connection whose session this resumes
    renegotiation: bool = False
    handshake_visible: bool = False  # the server's plaintext flight was seen
    abbreviated: bool = False  # resumed TLS <= 1.2: server CCS right after ServerHello
    sslv2_server_hello: bool = False
    sslv2_hello: SSLv2ServerHello | None = None  # decoded
    sslv2_master_key: SSLv2ClientMasterKey | None = None  # the cipher chosen
    closed_by: str | None = None  # "fin", "rst" or None (capture ended)
    closed_first: str | None = None  # the direction of the first FIN or RST: who ended it
    closed_at: tuple[int, int] | None = None  # its (frame, timestamp in ns)
    # Where and why tlslens stopped reading it before its end, in words: a bound met ("at
    # frame 12: the open connections held more than 64 MiB (--max-held)"); None: read to
    # the end of the capture, or to the connection's own.
    stopped: str | None = None
    tcp_syn_ts_ns: int | None = None  # as seen at the capture point
    tcp_synack_ts_ns: int | None = None
    timing_cache: dict[str, float | None] | None = field(default=None, repr=False)
    _stats: dict[str, DirectionStats] | None = None
    quic: QuicDetails | None = None  # over QUIC: packets, frames, Retry, migration, close
    # Why no server chain was read though the server sent one: the message that held it
    # skipped past --max-message or lost (the lack's words), or a gap before the server's
    # Finished that may have held it. None: nothing known kept it from being read.
    chain_lack: str | None = None
    # A hello tlslens skipped (past --max-message) or could not reassemble: the connection
    # does not start after its handshake for want of one.
    hello_unread: bool = False
    # The content layer took the records after the ServerHello for TLS 1.3's (its sealed
    # flights, the compatibility ChangeCipherSpec): a TLS 1.3 ServerHello read, or one
    # skipped past --max-message whose first bytes chose a TLS 1.3 cipher suite.
    tls13_sealed: bool = False

    # -- members made on first use (MadeOnUse) ----------------------------------
    problems = MadeOnUse[list[Finding]](list)
    handshake_signatures = MadeOnUse[list["SignatureCheck"]](list)
    certificates = MadeOnUse[list[CertificateInfo]](list)
    issued_tickets = MadeOnUse[list[bytes]](list)
    # Per direction (C2S, S2C): records, bytes and gaps (written at the end of a TCP
    # connection, as its records come over QUIC or DTLS).
    stats = MadeOnUse[dict[str, DirectionStats]](_core.direction_stats)

    def kept(self) -> int:
        """The steps, findings and record headers the model keeps, and a QUIC connection's
        Version Negotiations, migrations, key updates and closes: what grows with what the
        peers send (a QUIC or DTLS connection's count toward ``--max-held``)."""
        kept = len(self.timeline) + len(self._problems or ()) + len(self.records or ())
        quic = self.quic
        if quic is not None:
            kept += len(quic.version_negotiation) + len(quic.migrations)
            kept += len(quic.key_updates) + len(quic.closes)
        return kept

    # -- conclusions ---------------------------------------------------------
    @property
    def client_hello(self) -> hs.ClientHello | None:
        return self.client_hellos[0] if self.client_hellos else None

    @property
    def current_server_certificates(self) -> list[CertificateInfo]:
        """The chain of the latest handshake that sent one (a renegotiation's, else the
        first's): the key a server signature is checked with."""
        if self.handshakes and self.handshakes[-1].certificates:
            return self.handshakes[-1].certificates
        return self.certificates

    # The conclusions the row of show --json writes are the core's (crates/tlslens-py/src/
    # row/conclusions.rs): the narration, the report and the line read the same answers.
    @property
    def version(self) -> int | None:
        return _core.connection_version(self)

    @property
    def tls13(self) -> bool:
        v = self.version
        return v is not None and hs.is_tls13_version(v)

    @property
    def client_versions(self) -> list[int]:
        return _core.connection_client_versions(self)

    @property
    def cipher_suite(self) -> int | None:
        """The suite chosen; for SSL 2.0 the 3-byte cipher kind of CLIENT-MASTER-KEY."""
        return _core.connection_cipher_suite(self)

    @property
    def suite_info(self) -> registry.CipherSuiteInfo | None:
        suite = self.cipher_suite
        return registry.CIPHER_SUITES.get(suite) if suite is not None else None

    @property
    def sni(self) -> str | None:
        ch = self.client_hello
        return ch.server_name if ch is not None else None

    @property
    def alpn_offered(self) -> list[str]:
        return _core.connection_alpn_offered(self)

    @property
    def alpn(self) -> str | None:
        return _core.connection_alpn(self)

    @property
    def group(self) -> int | None:
        """The (EC)DH group of the key exchange, where the wire shows it."""
        group = self.server_hello.key_share_group if self.server_hello is not None else None
        if group is not None:
            return group
        ske = self.server_key_exchange
        if ske is not None and "named_curve" in ske.params:
            return int(ske.params["named_curve"])
        return None

    @property
    def group_name(self) -> str | None:
        return _core.connection_group_name(self)

    @property
    def key_exchange(self) -> str | None:
        return _core.key_exchange(self.server_hello) if self.server_hello is not None else None

    @property
    def forward_secrecy(self) -> bool | None:
        return _core.connection_forward_secrecy(self)

    @property
    def resumed(self) -> str | None:
        """How the session was resumed: "session_id", "ticket", "psk", or None."""
        return _core.connection_resumed(self)

    @property
    def session_ticket(self) -> dict[str, Any]:
        offered, issued = _core.connection_session_ticket(self)
        return {"offered": offered, "issued": issued}

    @property
    def ocsp_stapled(self) -> bool | None:
        """Whether the server stapled an OCSP response (a CertificateStatus, or TLS 1.3's in
        the leaf's CertificateEntry); None where it cannot be told (the row's answer)."""
        return _core.connection_ocsp_stapled(self)

    @property
    def tls13_stapled_ocsp(self) -> bytes | None:
        """TLS 1.3 staples OCSP in the leaf's CertificateEntry (RFC 8446 §4.4.2.1)."""
        return _core.connection_tls13_stapled_ocsp(self)

    @property
    def client_auth(self) -> dict[str, Any]:
        """Whether the server asked for a client certificate and whether one came, what it
        asked for (certificate types, CA names) and the client chain's verdict (the row's
        answer, ``request_words`` wording the request)."""
        return _core.connection_client_auth(self)

    @property
    def stapled_ocsp(self) -> bytes | None:
        if self.certificate_status is not None:
            return self.certificate_status.response
        return self.tls13_stapled_ocsp

    def chain_unread(self) -> str | None:
        """Why the server's chain is not here though the server may have sent one (None:
        nothing known kept it from tlslens): the message that held it skipped or lost, a gap
        before the server's Finished (unless the session was resumed: a resumed handshake
        sends no chain), or the ServerHello not read, so that nothing tells what came."""
        if self.certificates:
            return None
        lack = self.chain_lack
        if lack is not None and not (lack.endswith(MAY_HOLD) and self._resuming()):
            return lack
        if self.hello_unread and self.server_hello is None:
            return (
                "tlslens did not read the ServerHello (see the problems), so whether the server "
                "sent its chain, and in the clear, is not known"
            )
        return None

    def _resuming(self) -> bool:
        """Resumed, or so its hellos say where the rest is missing: a server echoing the
        client's session id resumes that session (RFC 5246 §7.4.1.3), whether or not its
        ChangeCipherSpec, which tells the abbreviated handshake, was captured."""
        if self.resumed is not None:
            return True
        hello, server = self.client_hello, self.server_hello
        echoed = server.legacy_session_id if server is not None else b""
        return bool(echoed) and hello is not None and echoed == hello.legacy_session_id

    @property
    def start_time(self) -> datetime:
        return datetime.fromtimestamp(self.start_ts_ns / 1e9, tz=UTC)

    @property
    def alerts(self) -> list[AlertEvent | EncryptedAlertEvent]:
        return [event for event in self.timeline if isinstance(event, ALERT_EVENTS)]

    @property
    def timing(self) -> dict[str, float | None]:
        # Asked once the connection has ended, then kept (the row of show --json keeps
        # the times it wrote the same way).
        if self.timing_cache is None:
            self.timing_cache = self._timing()
        return dict(self.timing_cache)

    def _timing(self) -> dict[str, float | None]:
        """The handshake's times as seen at the capture point, in milliseconds; None where a
        packet it needs is missing (the core's, as the row writes them).

        tcp_handshake_ms: SYN to SYN/ACK, the round trip before the client can send;
        client_hello_to_server_hello_ms: what the server took to answer (plus a round trip
        when the capture is at the client); handshake_ms: ClientHello to the later of the
        two Finished messages of the first handshake."""
        tcp, answer, handshake = _core.connection_timing(self)
        return {
            "tcp_handshake_ms": tcp,
            "client_hello_to_server_hello_ms": answer,
            "handshake_ms": handshake,
        }

    @property
    def handshake_events(self) -> list[HandshakeEvent | EncryptedHandshakeEvent]:
        return [e for e in self.timeline if isinstance(e, _HANDSHAKE_EVENTS)]
