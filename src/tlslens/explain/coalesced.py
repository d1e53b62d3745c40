"""A QUIC connection's packets as the datagrams that carried them, for ``--records`` (text
and JSON) and the ladder.

Pure: ``conn.quic`` in, plain values out. The core tells a Retry and a Version Negotiation
packet as events of their own, not as packets: they come back here as packets of their
datagram (no header fields but their type), so that every datagram of the connection is
listed in frame order. Connection IDs are bytes (told in hex); a CONNECTION_CLOSE's reason
phrase is the peer's text (the terminal layer sanitises it, the report escapes it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tlslens import registry
from tlslens.quic.details import QuicDetails, QuicFrameInfo, QuicPacketInfo

# RFC 9001 §4.8: CRYPTO_ERROR is 0x0100 + a TLS alert's description.
CRYPTO_ERROR_BASE = 0x0100
CRYPTO_ERROR_LAST = 0x01FF
RETRY = "Retry"
VERSION_NEGOTIATION = "Version Negotiation"
# The packet types the core tells as events of their own (no header fields kept).
ANNOUNCED = frozenset((RETRY, VERSION_NEGOTIATION))
# Which secret opened a packet of each type (RFC 9001 §5): JSON's ``key``.
_KEYS = {"Initial": "initial", "Handshake": "handshake", "0-RTT": "early", "1-RTT": "application"}
_KEY_WORDS = {
    "initial": "the Initial keys (computed from a Connection ID, RFC 9001 §5.2)",
    "handshake": "the handshake traffic secret",
    "early": "the client's early traffic secret",
    "application": "the application traffic secret",
}


@dataclass(frozen=True, slots=True)
class Datagram:
    """One UDP datagram of a QUIC connection: its packets, coalesced in wire order."""

    frame: int
    ts_ns: int
    direction: str
    packets: tuple[QuicPacketInfo, ...]


def _announced(quic: QuicDetails) -> list[QuicPacketInfo]:
    """The Retry and Version Negotiation packets, as packets of their datagram."""
    found = []
    if quic.retry is not None:
        found.append((quic.retry[0], RETRY))
    found += [(frame, VERSION_NEGOTIATION) for frame, _versions in quic.version_negotiation]
    return [
        QuicPacketInfo(
            frame, quic.times.get(frame, 0), "s2c", 0, 0, kind, None, None, None, b"", b""
        )
        for frame, kind in found
    ]


def quic_datagrams(quic: QuicDetails) -> list[Datagram]:
    """The datagrams of the packets kept (``MAX_PACKETS_KEPT``), in frame order."""
    packets = sorted([*quic.packets, *_announced(quic)], key=lambda p: p.frame)
    out: list[Datagram] = []
    group: list[QuicPacketInfo] = []
    for packet in packets:
        if group and (group[0].frame, group[0].direction) != (packet.frame, packet.direction):
            out.append(Datagram(group[0].frame, group[0].ts_ns, group[0].direction, tuple(group)))
            group = []
        group.append(packet)
    if group:
        out.append(Datagram(group[0].frame, group[0].ts_ns, group[0].direction, tuple(group)))
    return out


def packet_key(packet: QuicPacketInfo) -> str | None:
    """The secret that opened ``packet`` (``initial``, ``handshake``, ``early``,
    ``application``), None when it stayed sealed or carries no protection."""
    if packet.pn is None:
        return None
    return _KEYS.get(packet.kind)


def key_words(packet: QuicPacketInfo) -> str:
    """How the packet was opened, in words."""
    key = packet_key(packet)
    if key is None:
        return "no protection to remove" if packet.kind in ANNOUNCED else "not opened (no key)"
    words = f"opened with {_KEY_WORDS[key]}"
    if packet.key_phase is not None and packet.kind == "1-RTT":
        words += f", key phase {int(packet.key_phase)}"
    return words


def close_alert(frame: QuicFrameInfo) -> str | None:
    """The TLS alert inside a CONNECTION_CLOSE's CRYPTO_ERROR, by name."""
    code = frame.code
    transport = not (frame.error or "").startswith("application")
    if code is None or not transport or not CRYPTO_ERROR_BASE <= code <= CRYPTO_ERROR_LAST:
        return None
    return registry.alert_name(code - CRYPTO_ERROR_BASE)


# An application close's code is the application protocol's: HTTP/3's (RFC 9114 §8.1)
# and QPACK's (RFC 9204 §6) when ALPN chose h3.
H3_ERRORS: dict[int, tuple[str, str]] = {
    0x100: ("H3_NO_ERROR", "no error: the connection or stream simply ends"),
    0x101: ("H3_GENERAL_PROTOCOL_ERROR", "a protocol violation with no more specific code"),
    0x102: ("H3_INTERNAL_ERROR", "an internal error of the HTTP stack"),
    0x103: ("H3_STREAM_CREATION_ERROR", "the peer created a stream it must not"),
    0x104: ("H3_CLOSED_CRITICAL_STREAM", "a stream HTTP/3 needs was closed or reset"),
    0x105: ("H3_FRAME_UNEXPECTED", "a frame not allowed in its state or on its stream"),
    0x106: ("H3_FRAME_ERROR", "a frame that does not follow its layout"),
    0x107: ("H3_EXCESSIVE_LOAD", "the peer generates excessive load"),
    0x108: ("H3_ID_ERROR", "a stream or push ID was used wrongly"),
    0x109: ("H3_SETTINGS_ERROR", "an error in the SETTINGS frame's payload"),
    0x10A: ("H3_MISSING_SETTINGS", "no SETTINGS frame at the start of the control stream"),
    0x10B: ("H3_REQUEST_REJECTED", "the server rejected the request unprocessed"),
    0x10C: ("H3_REQUEST_CANCELLED", "the request or its response was cancelled"),
    0x10D: ("H3_REQUEST_INCOMPLETE", "the client's stream ended with the request incomplete"),
    0x10E: ("H3_MESSAGE_ERROR", "a malformed HTTP message"),
    0x10F: ("H3_CONNECT_ERROR", "the CONNECT request's connection was reset or closed"),
    0x110: ("H3_VERSION_FALLBACK", "the request must be retried over HTTP/1.1"),
    0x200: ("QPACK_DECOMPRESSION_FAILED", "a field section QPACK cannot decode"),
    0x201: ("QPACK_ENCODER_STREAM_ERROR", "an encoder stream instruction QPACK cannot use"),
    0x202: ("QPACK_DECODER_STREAM_ERROR", "a decoder stream instruction QPACK cannot use"),
}
H3_NO_ERROR = 0x100  # RFC 9114 §8.1: HTTP/3's "no error", the code of its ordinary end


def over_h3(alpn: str | None) -> bool:
    """Whether ALPN chose HTTP/3 ("h3", or a draft's "h3-29"): application codes are its."""
    return (alpn or "").startswith("h3")


def h3_error(code: int | None, application: bool, h3: bool) -> tuple[str, str] | None:
    """An application close's code as HTTP/3 or QPACK names it (name, meaning), when ALPN
    chose h3; None otherwise."""
    if not (application and h3) or code is None:
        return None
    return H3_ERRORS.get(code)


def normal_close(error: str, code: int | None, h3: bool) -> bool:
    """A CONNECTION_CLOSE that reports no error: QUIC's NO_ERROR, an application's 0, or
    over HTTP/3 (ALPN h3) its H3_NO_ERROR."""
    if error in ("NO_ERROR", "application error 0x0"):
        return True
    return h3 and error.startswith("application") and code == H3_NO_ERROR


def close_words(frame: QuicFrameInfo, h3: bool) -> str:
    """A CONNECTION_CLOSE's error: its code, its name (HTTP/3's and QPACK's for an
    application close over ``h3``) and the alert inside CRYPTO_ERROR."""
    code = f"0x{frame.code:x}" if frame.code is not None else "?"
    alert = close_alert(frame)
    if alert is not None:
        return f"CRYPTO_ERROR {code}: TLS alert {alert}"
    error = frame.error or ""
    if not error.startswith("application"):
        return f"{error} ({code})"
    named = h3_error(frame.code, True, h3)
    return f"{error} ({named[0]})" if named else error


def _frame_json(frame: QuicFrameInfo) -> dict[str, Any]:
    close = frame.name == "CONNECTION_CLOSE"
    ncid = frame.name == "NEW_CONNECTION_ID"
    return {
        "type": frame.name,
        "offset": frame.offset,
        "detail": frame.detail,
        "stream": frame.stream,
        "stream_offset": frame.at,
        "length": frame.length,
        "fin": frame.fin,
        "code": frame.code,
        "error": frame.error,
        "alert": close_alert(frame) if close else None,
        "reason": (frame.data or b"").decode("utf-8", "replace") if close else None,
        "connection_id": (frame.data or b"").hex() if ncid else None,
    }


def _packet_json(packet: QuicPacketInfo) -> dict[str, Any]:
    announced = packet.kind in ANNOUNCED
    return {
        "type": packet.kind,
        "offset": None if announced else packet.offset,
        "length": None if announced else packet.length,
        "version_id": None if announced or not packet.version else packet.version,
        "dcid": None if announced else packet.dcid.hex(),
        "scid": None if announced or packet.kind == "1-RTT" else packet.scid.hex(),
        "space": packet.space,
        "packet_number": packet.pn,
        "opened": packet.pn is not None,
        "key": packet_key(packet),
        "key_phase": None if packet.key_phase is None else int(packet.key_phase),
        "frames": [_frame_json(f) for f in packet.frames],
    }


def datagrams_json(quic: QuicDetails, time_of: Callable[[int], str]) -> list[dict[str, Any]]:
    """``quic.datagrams`` of ``show --json --records``; ``time_of`` makes a capture time
    (ns) the JSON's text."""
    return [
        {
            "frame": d.frame,
            "time": time_of(d.ts_ns) if d.ts_ns else None,
            "direction": d.direction,
            "packets": [_packet_json(p) for p in d.packets],
        }
        for d in quic_datagrams(quic)
    ]
