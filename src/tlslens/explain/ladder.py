"""A connection as a ladder: client and server as two lines, an arrow per record and per
message inside it, grouped into flights.

Pure: a Connection read with ``records=True`` in, ``Arrow``s out (the terminal and the HTML
report draw them). A message belongs to the record whose bytes hold its first byte (by
stream offset, per direction); a run of more than ``APP_DATA_RUN`` application data records
in one direction is one arrow that counts them, so a bulk transfer stays one line.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from tlslens import registry
from tlslens._text import plural
from tlslens.model import Connection, RecordInfo, TimelineEvent

APP_DATA_RUN = 3

_MESSAGE_KINDS = {"handshake", "encrypted_handshake", "alert", "heartbeat", "early_data"}
_RECORD_NAMES = {
    20: "ChangeCipherSpec",
    21: "alert",
    22: "handshake",
    23: "application data",
    24: "heartbeat",
}
_RECORD_TONES = {20: "ccs", 21: "alert", 22: "handshake", 23: "data", 24: "heartbeat"}


@dataclass(frozen=True, slots=True)
class Arrow:
    kind: str  # "record", "message" (inside the record before it) or "gap"
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
    records = conn.records or []
    starts: dict[str, list[int]] = {}
    ordered: dict[str, list[int]] = {}
    for index, rec in enumerate(records):
        starts.setdefault(rec.direction, []).append(rec.offset)
        ordered.setdefault(rec.direction, []).append(index)
    inside: dict[int, list[int]] = {}  # record index -> timeline events in it
    loose: list[int] = []  # events in no kept record (gaps, SSL 2.0, records not kept)
    for number, event in enumerate(conn.timeline):
        if event.kind not in _MESSAGE_KINDS:
            if event.kind == "gap" or not records:
                loose.append(number)
            continue
        holder = _holder(event, records, starts, ordered)
        if holder is None:
            loose.append(number)
        else:
            inside.setdefault(holder, []).append(number)
    data_from: dict[str, int] = {}  # per direction, the offset where application data starts
    for event in conn.timeline:
        if event.kind == "application_data":
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


def _ms(conn: Connection, ts_ns: int) -> float:
    return round((ts_ns - conn.start_ts_ns) / 1e6, 3) if ts_ns else 0.0


def _record_arrow(
    conn: Connection, index: int, rec: RecordInfo, data_from: dict[str, int]
) -> _Draft:
    tone = _RECORD_TONES.get(rec.content_type, "data")
    name = _RECORD_NAMES.get(rec.content_type) or registry.content_type_name(rec.content_type)
    if rec.content_type == 23 and conn.tls13 and rec.offset < data_from.get(rec.direction, -1):
        # TLS 1.3 hides the rest of the handshake in records typed application data.
        tone, name = "encrypted", "encrypted handshake"
    elif rec.content_type == 23 and conn.tls13 and rec.direction not in data_from:
        tone, name = "encrypted", "encrypted"
    return _Draft(
        "record",
        rec.direction,
        rec.frame,
        _ms(conn, rec.ts_ns),
        f"{name} record, {rec.length} byte{'' if rec.length == 1 else 's'}",
        tone,
        record=index,
        size=rec.length,
    )


def _message_arrow(conn: Connection, number: int, event: TimelineEvent) -> _Draft:
    tone = "handshake"
    if event.kind == "handshake" and event.message is not None:
        label = registry.handshake_name(event.message.msg_type)
        label = "".join(word.capitalize() for word in label.split("_"))
        if event.detail.get("decrypted"):
            label += " (decrypted)"
    elif event.kind == "encrypted_handshake":
        label, tone = f"encrypted handshake message, {plural(event.length, 'byte')}", "encrypted"
    elif event.kind == "alert":
        label, tone = _alert_label(event), "alert"
    else:
        label = event.kind.replace("_", " ")
    return _Draft(
        "message", event.direction, event.frame, _ms(conn, event.ts_ns), label, tone, event=number
    )


def _alert_label(event: TimelineEvent) -> str:
    if event.detail.get("encrypted"):
        return "encrypted alert"
    level = {1: "warning", 2: "fatal"}.get(event.detail.get("level", 0), "alert")
    return f"{level} alert: {registry.alert_name(event.detail.get('description', 0))}"


def _loose(conn: Connection, number: int) -> _Draft:
    event = conn.timeline[number]
    if event.kind == "gap":
        return _Draft(
            "gap",
            event.direction,
            event.frame,
            _ms(conn, event.ts_ns),
            f"{plural(event.length, 'byte')} missing from the capture",
            "gap",
            event=number,
        )
    draft = _message_arrow(conn, number, event)
    draft.kind = "record" if event.kind not in _MESSAGE_KINDS else draft.kind
    if event.kind == "application_data":
        draft.label = f"application data, {plural(event.records, 'record')}"
        draft.tone, draft.count = "data", event.records
    elif event.kind == "change_cipher_spec":
        draft.tone = "ccs"
    return draft


def _merge_runs(drafts: list[_Draft]) -> list[_Draft]:
    """Runs of application data records in one direction: one arrow past APP_DATA_RUN."""
    out: list[_Draft] = []
    run: list[_Draft] = []

    def flush() -> None:
        if len(run) > APP_DATA_RUN:
            first = run[0]
            size = sum(d.size for d in run)
            first.label = f"application data, {plural(len(run), 'record')}, {plural(size, 'byte')}"
            first.count = len(run)
            out.append(first)
        else:
            out.extend(run)
        run.clear()

    for draft in drafts:
        mergeable = draft.kind == "record" and draft.tone == "data" and draft.record is not None
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
