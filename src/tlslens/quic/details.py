"""What a QUIC connection has that TLS over TCP does not: its packets and their frames,
Retry, Version Negotiation, migration, key updates and the close. Plain data, filled by
``tlslens.quic.assembly`` and read by the narration and the JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tlslens import _core

# Bytes of each stream kept per direction for the narration's summary (all go to the sink).
MAX_STREAMS_KEPT = 256
# CONNECTION_CLOSE frames listed a connection (one or two end a real one; each keeps its
# reason phrase, up to a datagram's size: 60,000 of 1,000 bytes held 390 MB); the rest are
# a finding's count.
MAX_CLOSES_LISTED = 16


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


def _packet_frame(packet: QuicPacketInfo) -> int:
    return packet.frame


# The packets kept of a run the core folded, with the direction of each side (client,
# server).
_Run = tuple[_core.QuicKeptPackets, tuple[str, str]]


def _run_packets(run: _core.QuicKeptPackets, directions: tuple[str, str]) -> list[QuicPacketInfo]:
    """The packets kept of a run the core folded (routine 1-RTT packets)."""
    return [
        QuicPacketInfo(
            frame,
            ts_ns,
            directions[side],
            offset,
            length,
            "1-RTT",
            "application",
            pn,
            key_phase,
            dcid,
            b"",
            [
                QuicFrameInfo(
                    name, at, detail, None, stream=stream, at=offset, fin=fin, length=size
                )
                for name, at, detail, stream, offset, fin, size in frames
            ],
        )
        for frame, ts_ns, side, offset, length, pn, key_phase, dcid, frames in run.packets()
    ]


@dataclass(slots=True)
class QuicDetails:
    version: int
    initial_dcid: bytes | None  # None: the client's first Initial was not read
    # The first MAX_PACKETS_KEPT packets as told: one by one, or in the runs of routine
    # packets the core folded, whose packets are made only when ``packets`` is read (JSON
    # does not read them).
    told: list[QuicPacketInfo | _Run] = field(default_factory=list)
    kept: int = 0  # packets in ``told``, those of its runs included
    # The frame from which packets were counted only: the packets kept across the open
    # connections reached their bound (quic.MAX_PACKETS_KEPT_OPEN).
    unlisted_from: int | None = None
    listed: list[QuicPacketInfo] | None = None  # ``packets``, once made
    packet_count: dict[str, int] = field(default_factory=dict)  # by kind
    unopened: int = 0
    failed: int = 0  # of ``unopened``: their keys were there and did not authenticate them
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

    def tell(self, packet: QuicPacketInfo | _Run) -> None:
        """A packet kept, or a run of them (``kept``: how many) with its directions."""
        self.told.append(packet)
        self.kept += 1 if isinstance(packet, QuicPacketInfo) else len(packet[0])
        self.listed = None

    @property
    def packets(self) -> list[QuicPacketInfo]:
        """The packets kept, in frame order (those kept for keys were told late)."""
        if self.listed is None:
            packets: list[QuicPacketInfo] = []
            for item in self.told:
                if isinstance(item, QuicPacketInfo):
                    packets.append(item)
                else:
                    packets.extend(_run_packets(*item))
            self.listed = sorted(packets, key=_packet_frame)
        return self.listed


def details_json(quic: QuicDetails) -> dict[str, Any]:
    """``show --json``'s ``quic`` object. The reason phrase of a close is the peer's text,
    decoded as UTF-8 or replaced."""
    return {
        "version": _core.quic_version_name(quic.version),
        "version_id": quic.version,
        "initial_dcid": None if quic.initial_dcid is None else quic.initial_dcid.hex(),
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


def initials_opened_reason(reason: str | None) -> str:
    """Why a QUIC connection is "no_secret" although its ClientHello was read: its Initial
    packets opened with keys from a Connection ID, no key log needed (RFC 9001 §5.2)."""
    rest = f"; for the rest, {reason}" if reason else ""
    return "Initial packets opened (their keys come from the connection ID)" + rest
