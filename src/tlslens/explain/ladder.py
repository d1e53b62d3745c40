"""A connection as a ladder: client and server as two lines, an arrow per record and per
message inside it, grouped into flights.

Pure: a Connection read with ``records=True`` in, ``Arrow``s out (the terminal and the HTML
report draw them). A message belongs to the record whose bytes hold its first byte (by
stream offset, per direction; over DTLS, by its datagram's frame and the offset in it); a
run of more than ``APP_DATA_RUN`` application data records in one direction is one arrow
that counts them, so a bulk transfer stays one line. A QUIC connection has no records: its
datagrams are the arrows, the packets coalesced in each are stacked under it, and the
frames that matter are named on them (``quic_drafts``).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from tlslens import _core, registry
from tlslens._text import gap_label, plural
from tlslens.events import (
    ALERT_EVENTS,
    ACKEvent,
    AlertEvent,
    ApplicationDataEvent,
    ChangeCipherSpecEvent,
    EarlyDataEvent,
    EncryptedAlertEvent,
    EncryptedHandshakeEvent,
    GapEvent,
    HandshakeEvent,
    HeartbeatEvent,
    SkippedMessageEvent,
    TimelineEvent,
)
from tlslens.explain.coalesced import (
    RETRY,
    VERSION_NEGOTIATION,
    Datagram,
    close_words,
    normal_close,
    over_h3,
    quic_datagrams,
)
from tlslens.explain.over_udp import acked_words
from tlslens.model import C2S, Connection, RecordInfo
from tlslens.outcome import alert_sized
from tlslens.quic.details import QuicDetails, QuicFrameInfo, QuicPacketInfo

APP_DATA_RUN = 3

# The events drawn as a message inside the record that carried them.
_MESSAGE_EVENTS = (
    HandshakeEvent,
    EncryptedHandshakeEvent,
    AlertEvent,
    EncryptedAlertEvent,
    HeartbeatEvent,
    EarlyDataEvent,
    ACKEvent,
    SkippedMessageEvent,
)
_RECORD_NAMES = {
    20: "ChangeCipherSpec",
    21: "alert",
    22: "handshake",
    23: "application data",
    24: "heartbeat",
    26: "ACK",
}
_RECORD_TONES = {
    20: "ccs",
    21: "alert",
    22: "handshake",
    23: "data",
    24: "heartbeat",
    26: "handshake",
}


@dataclass(frozen=True, slots=True)
class Arrow:
    # "record" (a QUIC datagram), "message" (inside the record before it: a QUIC packet),
    # "gap" or "note" (QUIC: a migration or key update between datagrams)
    kind: str
    direction: str  # c2s or s2c
    frame: int
    ms: float  # since the connection's first packet
    label: str
    tone: str  # handshake, ccs, alert, data, encrypted, heartbeat, gap
    flight: int  # 1, 2, ...: a new flight whenever the sender changes
    record: int | None = None  # index into conn.records
    event: int | None = None  # index into conn.timeline
    count: int = 1  # records this arrow stands for


def ladder(conn: Connection) -> list[Arrow]:
    if conn.quic is not None:
        return _finish(quic_drafts(conn))
    records = conn.records or []
    starts: dict[str, list[int]] = {}
    ordered: dict[str, list[int]] = {}
    for index, rec in enumerate(records):
        starts.setdefault(rec.direction, []).append(rec.offset)
        ordered.setdefault(rec.direction, []).append(index)
    # DTLS: each datagram's records, whose offsets are in the datagram, not in a stream.
    datagrams = _by_datagram(records) if conn.dtls is not None else None
    inside: dict[int, list[int]] = {}  # record index -> timeline events in it
    loose: list[int] = []  # events in no kept record (gaps, SSL 2.0, records not kept)
    for number, event in enumerate(conn.timeline):
        if not isinstance(event, _MESSAGE_EVENTS):
            if isinstance(event, GapEvent) or not records:
                loose.append(number)
            continue
        if datagrams is not None:
            holder = _dtls_holder(event, records, datagrams)
        else:
            holder = _holder(event, records, starts, ordered)
        if holder is None:
            loose.append(number)
        else:
            inside.setdefault(holder, []).append(number)
    data_from: dict[str, int] = {}  # per direction, the offset where application data starts
    for event in conn.timeline:
        if isinstance(event, ApplicationDataEvent):
            data_from.setdefault(event.direction, event.offset)
    arrows: list[_Draft] = []
    pending = iter(loose)
    next_loose = next(pending, None)
    for index, rec in enumerate(records):
        while next_loose is not None and conn.timeline[next_loose].frame <= rec.frame:
            arrows.append(_loose(conn, next_loose))
            next_loose = next(pending, None)
        arrows.append(_record_arrow(conn, index, rec, data_from))
        for number in inside.get(index, []):
            arrows.append(_message_arrow(conn, number, conn.timeline[number]))
        if datagrams is not None and datagrams[(rec.frame, rec.direction)][-1] == index:
            arrows.extend(_retransmitted(conn, rec))
    while next_loose is not None:
        arrows.append(_loose(conn, next_loose))
        next_loose = next(pending, None)
    return _finish(_merge_runs(arrows))


@dataclass(slots=True)
class _Draft:
    kind: str
    direction: str
    frame: int
    ms: float
    label: str
    tone: str
    record: int | None = None
    event: int | None = None
    count: int = 1
    size: int = 0  # bytes of the records it stands for
    bulk: bool = False  # data alone: merged with its neighbours in a run


def _holder(
    event: TimelineEvent,
    records: list[RecordInfo],
    starts: dict[str, list[int]],
    ordered: dict[str, list[int]],
) -> int | None:
    offsets = starts.get(event.direction)
    if not offsets:
        return None
    at = bisect.bisect_right(offsets, event.offset) - 1
    if at < 0:
        return None
    index = ordered[event.direction][at]
    rec = records[index]
    return index if event.offset < rec.offset + 5 + rec.length else None


def _by_datagram(records: list[RecordInfo]) -> dict[tuple[int, str], list[int]]:
    found: dict[tuple[int, str], list[int]] = {}
    for index, rec in enumerate(records):
        found.setdefault((rec.frame, rec.direction), []).append(index)
    return found


def _dtls_holder(
    event: TimelineEvent, records: list[RecordInfo], datagrams: dict[tuple[int, str], list[int]]
) -> int | None:
    """The record of the event's datagram that holds its offset (the last record that
    starts at or before it: a DTLS 1.3 unified header's length varies)."""
    held = [
        index
        for index in datagrams.get((event.frame, event.direction), [])
        if records[index].offset <= event.offset
    ]
    return held[-1] if held else None


def _retransmitted(conn: Connection, rec: RecordInfo) -> list[_Draft]:
    """DTLS: the handshake messages this datagram sent again (a lost flight resent, RFC
    6347 §4.2.4), which the handshake reads once."""
    if conn.dtls is None:
        return []
    return [
        _Draft(
            "message",
            direction,
            frame,
            _ms(conn, rec.ts_ns),
            f"{_message_name(msg_type)} again (retransmission)",
            "notice",
        )
        for frame, direction, msg_type in conn.dtls.retransmitted
        if (frame, direction) == (rec.frame, rec.direction)
    ]


def _ms(conn: Connection, ts_ns: int) -> float:
    return round((ts_ns - conn.start_ts_ns) / 1e6, 3) if ts_ns else 0.0


def _record_arrow(
    conn: Connection, index: int, rec: RecordInfo, data_from: dict[str, int]
) -> _Draft:
    # DTLS: a record opened is named by the type its header hides (a unified header's, a
    # tls12_cid record's), as --records tells it.
    content_type = rec.content_type if rec.inner_type is None else rec.inner_type
    tone = _RECORD_TONES.get(content_type, "data")
    name = _RECORD_NAMES.get(content_type) or registry.content_type_name(content_type)
    hidden = content_type == 23 and conn.tls13  # any TLS 1.3 record still sealed
    if rec.epoch is not None and rec.seq is None and rec.inner_type is None:
        # DTLS 1.3, unopened: its header names no type (RFC 9147 §4), its number is sealed.
        tone, name = "encrypted", "sealed"
    elif hidden and rec.offset < data_from.get(rec.direction, -1):
        # TLS 1.3 hides the rest of the handshake in records typed application data.
        tone, name = "encrypted", "encrypted handshake"
    elif hidden and rec.direction not in data_from:
        tone, name = "encrypted", "encrypted"
    label = f"{name} record, {rec.length} byte{'' if rec.length == 1 else 's'}"
    if rec.epoch is not None:  # DTLS: a retransmission is the same message, a new number
        label += f", epoch {rec.epoch} seq {'?' if rec.seq is None else rec.seq}"
    return _Draft(
        "record",
        rec.direction,
        rec.frame,
        _ms(conn, rec.ts_ns),
        label,
        tone,
        record=index,
        size=rec.length,
        bulk=tone == "data",
    )


def _message_arrow(conn: Connection, number: int, event: TimelineEvent) -> _Draft:
    tone = "handshake"
    if isinstance(event, HandshakeEvent):
        label = _message_name(event.message.msg_type)
        if event.decrypted:
            label += " (decrypted)"
    elif isinstance(event, EncryptedHandshakeEvent) and alert_sized(conn, event):
        # Too short for a handshake message: its type stays hidden (the timeline says why).
        label, tone = f"encrypted record, type hidden, {plural(event.length, 'byte')}", "encrypted"
    elif isinstance(event, EncryptedHandshakeEvent):
        label, tone = f"encrypted handshake message, {plural(event.length, 'byte')}", "encrypted"
    elif isinstance(event, ALERT_EVENTS):
        label, tone = _alert_label(event), "alert"
    elif isinstance(event, SkippedMessageEvent):
        claimed = f"{event.claimed:,} bytes, past --max-message"
        label, tone = f"{_message_name(event.msg_type)}, not read ({claimed})", "notice"
    elif isinstance(event, ACKEvent):  # DTLS 1.3 (RFC 9147 §7)
        label = f"ACK of {acked_words(event.acked, event.count)}"
    else:
        label = event.kind.replace("_", " ")
    return _Draft(
        "message", event.direction, event.frame, _ms(conn, event.ts_ns), label, tone, event=number
    )


def _alert_label(event: AlertEvent | EncryptedAlertEvent) -> str:
    if isinstance(event, EncryptedAlertEvent):
        return "encrypted alert"
    level = {1: "warning", 2: "fatal"}.get(event.level, "alert")
    return f"{level} alert: {registry.alert_name(event.description)}"


def _loose(conn: Connection, number: int) -> _Draft:
    event = conn.timeline[number]
    if isinstance(event, GapEvent):
        return _Draft(
            "gap",
            event.direction,
            event.frame,
            _ms(conn, event.ts_ns),
            gap_label(event.length, event.given_up),
            "gap",
            event=number,
        )
    draft = _message_arrow(conn, number, event)
    draft.kind = "record" if not isinstance(event, _MESSAGE_EVENTS) else draft.kind
    if isinstance(event, ApplicationDataEvent):
        draft.label = f"application data, {plural(event.records, 'record')}"
        draft.tone, draft.count = "data", event.records
    elif isinstance(event, ChangeCipherSpecEvent):
        draft.tone = "ccs"
    return draft


def _merge_runs(
    drafts: list[_Draft], what: str = "application data", unit: str = "record"
) -> list[_Draft]:
    """Runs of data alone (application data records, 1-RTT datagrams) in one direction:
    one arrow past APP_DATA_RUN."""
    out: list[_Draft] = []
    run: list[_Draft] = []

    def flush() -> None:
        if len(run) > APP_DATA_RUN:
            first = run[0]
            size = sum(d.size for d in run)
            first.label = f"{what}, {plural(len(run), unit)}, {plural(size, 'byte')}"
            first.count = len(run)
            out.append(first)
        else:
            out.extend(run)
        run.clear()

    for draft in drafts:
        mergeable = draft.bulk
        if mergeable and (not run or run[0].direction == draft.direction):
            run.append(draft)
            continue
        flush()
        if mergeable:
            run.append(draft)
        else:
            out.append(draft)
    flush()
    return out


def _finish(drafts: list[_Draft]) -> list[Arrow]:
    arrows = []
    flight, last = 0, ""
    for d in drafts:
        if d.kind != "message" and d.direction != last:
            flight, last = flight + 1, d.direction
        arrows.append(
            Arrow(
                d.kind,
                d.direction,
                d.frame,
                d.ms,
                d.label,
                d.tone,
                max(flight, 1),
                d.record,
                d.event,
                d.count,
            )
        )
    return arrows


# -- QUIC: datagrams as arrows, the packets coalesced in each below it --------------------
# Frames not worth naming on a packet's arrow when others are there (they are in --records).
_QUIET_FRAMES = frozenset(("PADDING", "PING", "ACK", "ACK_ECN"))
# Frames a run of 1-RTT datagrams may hold and still be drawn as one arrow.
_BULK_FRAMES = _QUIET_FRAMES | {"STREAM", "MAX_DATA", "MAX_STREAM_DATA", "MAX_STREAMS", "DATAGRAM"}


def quic_drafts(conn: Connection) -> list[_Draft]:
    """A QUIC connection's ladder: an arrow per datagram, then, when it coalesces more than
    one packet, an arrow per packet stacked under it; the handshake messages its CRYPTO
    frames completed, HANDSHAKE_DONE and CONNECTION_CLOSE (a TLS alert named) on them;
    Retry, Version Negotiation, migration and key updates where they happen. A run of more
    than APP_DATA_RUN datagrams of 1-RTT data alone one way is one arrow that counts them."""
    quic = conn.quic
    assert quic is not None
    messages = _quic_messages(conn)
    notes = _quic_notes(conn, quic)
    drafts: list[_Draft] = []
    for datagram in quic_datagrams(quic):
        while notes and notes[0].frame <= datagram.frame:
            drafts.append(notes.pop(0))
        drafts.extend(_datagram_drafts(conn, datagram, messages))
    drafts.extend(notes)
    return _merge_runs(drafts, "1-RTT data", "datagram")


_QUIC_MESSAGE_EVENTS = (HandshakeEvent, *ALERT_EVENTS)


def _quic_messages(conn: Connection) -> dict[tuple[int, str], list[int]]:
    """Handshake messages and alerts (CRYPTO_ERROR) of the timeline by (frame, direction):
    the datagram whose CRYPTO bytes completed them."""
    found: dict[tuple[int, str], list[int]] = {}
    for number, event in enumerate(conn.timeline):
        if isinstance(event, _QUIC_MESSAGE_EVENTS):
            found.setdefault((event.frame, event.direction), []).append(number)
    return found


def _quic_notes(conn: Connection, quic: QuicDetails) -> list[_Draft]:
    """Migration and key updates: what happens between datagrams, at their frame."""
    times = {p.frame: p.ts_ns for p in quic.packets} | quic.times
    notes = [
        _Draft(
            "note",
            C2S,
            frame,
            _ms(conn, times.get(frame, 0)),
            f"migration: the client now sends from {address}",
            "notice",
        )
        for frame, address in quic.migrations
    ]
    for frame, direction, phase in quic.key_updates:
        who = "client" if direction == C2S else "server"
        label = f"key update: the {who}'s 1-RTT keys move to key phase {int(phase)}"
        notes.append(
            _Draft("note", direction, frame, _ms(conn, times.get(frame, 0)), label, "notice")
        )
    notes.sort(key=lambda d: d.frame)
    return notes


def _datagram_drafts(
    conn: Connection, datagram: Datagram, messages: dict[tuple[int, str], list[int]]
) -> list[_Draft]:
    events = messages.get((datagram.frame, datagram.direction), [])
    placed = _place_messages(conn, datagram, events)
    packets = [
        _packet_draft(conn, datagram, packet, placed.get(index, []))
        for index, packet in enumerate(datagram.packets)
    ]
    size = sum(p.length for p in datagram.packets)
    kinds = " + ".join(p.kind for p in datagram.packets)
    bulk = all(
        p.kind == "1-RTT" and p.pn is not None and all(f.name in _BULK_FRAMES for f in p.frames)
        for p in datagram.packets
    )
    if len(packets) == 1:
        only = packets[0]
        only.kind, only.bulk = "record", bulk
        only.label = f"{only.label}; {plural(size, 'byte')}" if size else only.label
        return [only]
    tones = [p.tone for p in packets]
    tone = next((t for t in ("alert", "notice", "handshake", "data") if t in tones), "encrypted")
    head = _Draft(
        "record",
        datagram.direction,
        datagram.frame,
        _ms(conn, datagram.ts_ns),
        f"datagram: {kinds}, {plural(size, 'byte')}",
        tone,
        size=size,
        bulk=bulk,
    )
    return [head, *packets]


def _place_messages(
    conn: Connection, datagram: Datagram, events: list[int]
) -> dict[int, list[int]]:
    """Which packet of the datagram carried each message: a decrypted one in the first
    non-Initial packet with CRYPTO frames, one read from the Initial packets in the Initial
    packet with CRYPTO frames; an alert in the packet with the CONNECTION_CLOSE."""
    placed: dict[int, list[int]] = {}
    packets = datagram.packets
    for number in events:
        event = conn.timeline[number]
        alert = isinstance(event, ALERT_EVENTS)
        wanted = "CONNECTION_CLOSE" if alert else "CRYPTO"
        decrypted = isinstance(event, HandshakeEvent) and event.decrypted
        candidates = [
            index
            for index, packet in enumerate(packets)
            if any(f.name == wanted for f in packet.frames)
        ]
        preferred = [
            index
            for index in candidates
            if alert or (packets[index].space != "initial") == decrypted
        ]
        chosen = (preferred or candidates or [len(packets) - 1])[0]
        placed.setdefault(chosen, []).append(number)
    return placed


def _packet_draft(
    conn: Connection, datagram: Datagram, packet: QuicPacketInfo, events: list[int]
) -> _Draft:
    label, tone = _packet_label(conn, packet, events)
    return _Draft(
        "message",
        datagram.direction,
        datagram.frame,
        _ms(conn, datagram.ts_ns),
        label,
        tone,
        event=events[0] if events else None,
        size=packet.length,
    )


def _packet_label(conn: Connection, packet: QuicPacketInfo, events: list[int]) -> tuple[str, str]:
    quic = conn.quic
    assert quic is not None
    if packet.kind == RETRY and quic.retry is not None:
        _frame, tag_ok, token = quic.retry
        check = "integrity tag verified" if tag_ok else "integrity tag does NOT verify"
        return (
            f"Retry: {check}, a token of {plural(token, 'byte')}",
            "notice" if tag_ok else "alert",
        )
    if packet.kind == VERSION_NEGOTIATION:
        offered = [v for frame, vs in quic.version_negotiation if frame == packet.frame for v in vs]
        versions = ", ".join(_core.quic_version_name(v) for v in offered) or "no version"
        return f"Version Negotiation: the server offers {versions}", "notice"
    head = packet.kind if packet.pn is None else f"{packet.kind} pn {packet.pn}"
    if packet.pn is None:
        return f"{head}, sealed (no key)", "encrypted"
    names: list[str] = []
    tone = "data" if packet.kind in ("1-RTT", "0-RTT") else "handshake"
    for name, frames in _frame_runs(packet.frames):
        if name == "CRYPTO":
            said = [
                _message_name(event.message.msg_type)
                for n in events
                if isinstance(event := conn.timeline[n], HandshakeEvent)
            ]
            names.append(f"CRYPTO ({', '.join(said)})" if said else "CRYPTO")
        elif name == "CONNECTION_CLOSE":
            h3 = over_h3(conn.alpn)
            names.extend(f"CONNECTION_CLOSE {close_words(f, h3)}" for f in frames)
            if any(not normal_close(f.error or "", f.code, h3) for f in frames):
                tone = "alert"
        elif name not in _QUIET_FRAMES or len(packet.frames) == len(frames):
            names.append(name if len(frames) == 1 else f"{name} x{len(frames)}")
    return f"{head}: {', '.join(names)}" if names else head, tone


def _frame_runs(frames: list[QuicFrameInfo]) -> list[tuple[str, list[QuicFrameInfo]]]:
    """The packet's frames by name, in the order each name first appears."""
    runs: dict[str, list[QuicFrameInfo]] = {}
    for f in frames:
        runs.setdefault(f.name, []).append(f)
    return list(runs.items())


def _message_name(msg_type: int) -> str:
    """A handshake message's name as the RFCs write it: "ServerHello", not "server_hello"."""
    return "".join(word.capitalize() for word in registry.handshake_name(msg_type).split("_"))
