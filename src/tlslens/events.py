"""A connection's timeline: one class per kind of thing that happened on the wire, in order.

Each event says where it was seen (``frame``, ``ts_ns``, ``direction``, ``offset`` in the
direction's stream, ``length``) and what only its kind knows (a handshake message, an
alert's level and description, the record numbers an ACK lists...). Readers tell the
kinds apart by class (``isinstance``, ``match``, or ``type(event) is`` in a loop over every
event: the kinds are final); ``kind`` is the name the JSON and the narration print. Records of the same kind in a row (application data, QUIC packets left
sealed, SSL 2.0's encrypted records) are one event that grows: ``records``,
``length`` and ``last_frame`` count them.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, ClassVar, final

if TYPE_CHECKING:
    from tlslens.handshake import messages as hs
    from tlslens.handshake.sslv2 import SSLv2Message


# The events compare by identity (eq=False), as the model's other mutable records do: nothing
# compares two of them by value, and Python 3.11 compiles each generated method at every
# start (about 0.15 ms a method). So one __repr__ serves every kind (repr=False), and the
# kinds with no facts of their own subclass without @dataclass, costing nothing. No field is
# keyword-only: a class called with keywords builds a dict per event, and a capture makes
# millions of events.
@dataclass(slots=True, eq=False, repr=False)
class TimelineEvent:
    """Where one event of the timeline was seen; a subclass says what it was."""

    kind: ClassVar[str]
    frame: int
    ts_ns: int
    direction: str
    offset: int  # in the direction's stream (TCP), datagram (DTLS) or packet (QUIC)
    length: int
    last_frame: int  # of the last record of a run: ``frame`` for one record
    records: int  # of a run; 1 for the others

    def __repr__(self) -> str:
        # One for every kind, written once: a generated __repr__ is compiled at every start.
        shown = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in fields(self))
        return f"{type(self).__name__}({shown})"


@final
@dataclass(slots=True, eq=False, repr=False)
class HandshakeEvent(TimelineEvent):
    """A handshake message read (an unreadable one as ``hs.OpaqueMessage``)."""

    kind: ClassVar[str] = "handshake"
    message: hs.HandshakeMessage
    decrypted: bool = False
    raw: bytes | None = None  # its bytes, header included (records=True)
    sslv2: bool = False  # an SSL 2.0-format ClientHello
    fragments: int = 0  # DTLS: the fragments it was reassembled from, when more than one


@final
class EncryptedHandshakeEvent(TimelineEvent):
    """Handshake bytes no key opened (TLS 1.3's in application data records, the Finished
    after a ChangeCipherSpec, QUIC's Initial and Handshake packets left sealed)."""

    __slots__ = ()
    kind: ClassVar[str] = "encrypted_handshake"


@final
@dataclass(slots=True, eq=False, repr=False)
class ChangeCipherSpecEvent(TimelineEvent):
    kind: ClassVar[str] = "change_cipher_spec"
    encrypted: bool = False  # sent under the keys of a handshake before (renegotiation)


@final
@dataclass(slots=True, eq=False, repr=False)
class AlertEvent(TimelineEvent):
    """An alert read: a TLS alert record, or QUIC's CRYPTO_ERROR in a CONNECTION_CLOSE."""

    kind: ClassVar[str] = "alert"
    level: int
    description: int
    quic: bool = False  # carried as CRYPTO_ERROR (RFC 9001 §4.8), not in a record


@final
class EncryptedAlertEvent(TimelineEvent):
    """An alert record no key opened: its level and description are unknown."""

    __slots__ = ()
    kind: ClassVar[str] = "alert"


@dataclass(slots=True, eq=False, repr=False)
class DataEvent(TimelineEvent):
    """Application data records in a row, in one direction (QUIC: packets)."""

    decrypted: bool = False


@final
class ApplicationDataEvent(DataEvent):
    __slots__ = ()
    kind: ClassVar[str] = "application_data"


@final
class EarlyDataEvent(DataEvent):
    """0-RTT data (TLS 1.3 early data, QUIC's 0-RTT packets)."""

    __slots__ = ()
    kind: ClassVar[str] = "early_data"


# The core's content layer names a data run's kind (``_core.ContentApplicationData.kind``).
DATA_EVENTS: dict[str, type[DataEvent]] = {
    ApplicationDataEvent.kind: ApplicationDataEvent,
    EarlyDataEvent.kind: EarlyDataEvent,
}


@final
@dataclass(slots=True, eq=False, repr=False)
class HeartbeatEvent(TimelineEvent):
    """A heartbeat record (RFC 6520); its type and payload length when it was readable."""

    kind: ClassVar[str] = "heartbeat"
    encrypted: bool = False
    heartbeat_type: int | None = None
    payload_length: int | None = None


@final
class GapEvent(TimelineEvent):
    """Bytes of the stream missing from the capture."""

    __slots__ = ()
    kind: ClassVar[str] = "gap"


@final
@dataclass(slots=True, eq=False, repr=False)
class SSLv2MessageEvent(TimelineEvent):
    """An SSL 2.0 message after the ClientHello, in plaintext (``decoded``: None for a
    type tlslens does not decode)."""

    kind: ClassVar[str] = "sslv2"
    name: str  # as the SSL 2.0 draft writes it: SERVER-HELLO, CLIENT-MASTER-KEY...
    decoded: SSLv2Message | None


@final
class SSLv2EncryptedEvent(TimelineEvent):
    """SSL 2.0 records after CLIENT-MASTER-KEY: all encrypted."""

    __slots__ = ()
    kind: ClassVar[str] = "sslv2"


@final
@dataclass(slots=True, eq=False, repr=False)
class ACKEvent(TimelineEvent):
    """A DTLS 1.3 ACK (RFC 9147 §7)."""

    kind: ClassVar[str] = "ack"
    acked: tuple[tuple[int, int], ...]  # (epoch, sequence number): the first ones listed
    count: int  # how many it lists


@final
@dataclass(slots=True, eq=False, repr=False)
class UndecryptableEvent(TimelineEvent):
    """A record the connection's keys do not open."""

    kind: ClassVar[str] = "undecryptable"
    reason: str


# The kinds an alert can be, read or not.
ALERT_EVENTS = (AlertEvent, EncryptedAlertEvent)
SSLV2_EVENTS = (SSLv2MessageEvent, SSLv2EncryptedEvent)
