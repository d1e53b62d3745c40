"""What a QUIC connection has that TLS over TCP does not: its packets and their frames,
Retry, Version Negotiation, migration, key updates and the close. Plain data, filled by
``tlslens.quic.assembly`` and read by the narration and the JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tlslens import _core

# Packets kept per connection for the narration and --records; the rest are counted.
MAX_PACKETS_KEPT = 4096
# Bytes of each stream kept per direction for the narration's summary (all go to the sink).
MAX_STREAMS_KEPT = 256


@dataclass(frozen=True, slots=True)
class QuicFrameInfo:
    """One frame of an opened packet: its name, offset in the plaintext, fields in words
    (``detail``), and a CONNECTION_CLOSE's error name. For ``--records``' JSON: a STREAM
    frame's ``stream``, a CRYPTO or STREAM frame's ``at`` (offset in its stream), ``fin``
    and ``length`` (bytes carried), a CONNECTION_CLOSE's ``code``; ``data`` only the short
    bytes worth showing (a NEW_CONNECTION_ID's Connection ID, a close's reason phrase)."""

    name: str
    offset: int
    detail: str = ""
    error: str | None = None
    stream: int | None = None
    at: int | None = None
    fin: bool = False
    length: int | None = None
    code: int | None = None
    data: bytes | None = None


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
    version: int = 0  # of a long header; 0 for a short header (1-RTT) and VN


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
    # The capture time of the frames above that name no packet kept (Retry, VN, migration,
    # key update): one entry per such event.
    times: dict[int, int] = field(default_factory=dict)


def details_json(quic: QuicDetails) -> dict[str, Any]:
    """``show --json``'s ``quic`` object. The reason phrase of a close is the peer's text,
    decoded as UTF-8 or replaced."""
    return {
        "version": _core.quic_version_name(quic.version),
        "version_id": quic.version,
        "initial_dcid": quic.initial_dcid.hex(),
        "packets": dict(quic.packet_count),
        "packets_unopened": quic.unopened,
        "retry": None
        if quic.retry is None
        else {
            "frame": quic.retry[0],
            "integrity_tag_verified": quic.retry[1],
            "token_length": quic.retry[2],
        },
        "version_negotiation": [
            {"frame": frame, "versions": [f"0x{v:08x}" for v in versions]}
            for frame, versions in quic.version_negotiation
        ],
        "migrations": [{"frame": frame, "client": client} for frame, client in quic.migrations],
        "key_updates": [
            {"frame": frame, "direction": direction, "key_phase": int(phase)}
            for frame, direction, phase in quic.key_updates
        ],
        "closes": [
            {
                "frame": c.frame,
                "direction": c.direction,
                "application": c.application,
                "code": c.code,
                "error": c.error,
                "reason": c.reason.decode("utf-8", "replace"),
            }
            for c in quic.closes
        ],
        "streams": [
            {"direction": direction, "stream": stream, "bytes": size}
            for (direction, stream), size in quic.streams.items()
        ],
    }
