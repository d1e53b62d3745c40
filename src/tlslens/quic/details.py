"""What a QUIC connection has that TLS over TCP does not: its packets and their frames,
Retry, Version Negotiation, migration, key updates and the close. Plain data, filled by
``tlslens.quic.assembly`` and read by the narration and the JSON."""

from __future__ import annotations

from dataclasses import dataclass, field

# Packets kept per connection for the narration and --records; the rest are counted.
MAX_PACKETS_KEPT = 4096
# Bytes of each stream kept per direction for the narration's summary (all go to the sink).
MAX_STREAMS_KEPT = 256


@dataclass(frozen=True, slots=True)
class QuicFrameInfo:
    """One frame of an opened packet: its name, offset in the plaintext, fields in words
    (``detail``), and a CONNECTION_CLOSE's error name."""

    name: str
    offset: int
    detail: str = ""
    error: str | None = None


@dataclass(slots=True)
class QuicPacketInfo:
    """One packet: ``offset``/``length`` are its bytes in the datagram's UDP payload."""

    frame: int
    ts_ns: int
    direction: str
    offset: int
    length: int
    kind: str  # Initial, 0-RTT, Handshake, Retry, 1-RTT, Version Negotiation, other
    space: str | None  # initial, handshake, application
    pn: int | None  # None: not opened
    key_phase: bool | None
    dcid: bytes
    scid: bytes
    frames: list[QuicFrameInfo] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class QuicClose:
    """A CONNECTION_CLOSE: who sent it, its error in words and its reason phrase."""

    frame: int
    direction: str
    application: bool
    code: int
    error: str
    reason: bytes


@dataclass(slots=True)
class QuicDetails:
    version: int
    initial_dcid: bytes
    packets: list[QuicPacketInfo] = field(default_factory=list)  # the first MAX_PACKETS_KEPT
    packet_count: dict[str, int] = field(default_factory=dict)  # by kind
    unopened: int = 0
    retry: tuple[int, bool, int] | None = None  # (frame, tag verified, token length)
    version_negotiation: list[tuple[int, tuple[int, ...]]] = field(default_factory=list)
    migrations: list[tuple[int, str]] = field(default_factory=list)  # (frame, new address)
    key_updates: list[tuple[int, str, bool]] = field(default_factory=list)
    closes: list[QuicClose] = field(default_factory=list)
    # (direction, stream id) -> bytes of STREAM data seen (1-RTT and 0-RTT, opened)
    streams: dict[tuple[str, int], int] = field(default_factory=dict)
    connection_ids: list[bytes] = field(default_factory=list)  # NEW_CONNECTION_ID's
