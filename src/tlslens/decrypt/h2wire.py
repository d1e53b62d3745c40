"""HTTP/2 in decrypted application data: every frame of a direction, and the header blocks.

Strategy: frames are cut and parsed with ``hyperframe`` (h2's frame layer) and header
blocks decoded with ``hpack`` (one decoder per direction, in wire order, as the protocol
requires); DATA bodies are sought over, never read, so a 1 GB download costs a few reads.
Each frame becomes an ``H2Frame`` (stream, type, length, flags and what the type carries);
``frame_lines`` then tells them per stream, consecutive DATA and WINDOW_UPDATE frames
summed. Anything malformed ends the reading of that direction with a note; it never raises.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import BinaryIO

import hpack
from h2.errors import ErrorCodes
from h2.settings import SettingCodes
from hyperframe.exceptions import HyperframeError
from hyperframe.frame import (
    ContinuationFrame,
    DataFrame,
    Frame,
    GoAwayFrame,
    HeadersFrame,
    PushPromiseFrame,
    RstStreamFrame,
    SettingsFrame,
    WindowUpdateFrame,
)

from tlslens.decrypt.http import H2_PREFACE

MAX_HEADER_BLOCK = 256 * 1024
MAX_FRAMES_KEPT = 10_000  # per direction; past it frames are counted, not kept
MAX_BLOCKS = 10_000  # header blocks kept per direction, and streams whose DATA is summed
MAX_STREAMS_TOLD = 100  # per direction, in the text
MAX_VALUE_SHOWN = 200  # characters of a header value in the text
# Decoded header fields kept per direction (name and value lengths): HPACK lets a few
# bytes on the wire name a 4 KB table entry again and again, so past this budget a block
# keeps only what the exchange lines need, each name once, its value cut to the text's.
MAX_FIELD_BYTES_KEPT = 1 << 22
_NEEDED = frozenset({":method", ":path", ":status", ":authority", "host", "content-type"})

# RFC 9113 §6 (and RFC 7838 ALTSVC, RFC 8336 ORIGIN, RFC 9218 PRIORITY_UPDATE).
FRAME_TYPES = {
    0x0: "DATA",
    0x1: "HEADERS",
    0x2: "PRIORITY",
    0x3: "RST_STREAM",
    0x4: "SETTINGS",
    0x5: "PUSH_PROMISE",
    0x6: "PING",
    0x7: "GOAWAY",
    0x8: "WINDOW_UPDATE",
    0x9: "CONTINUATION",
    0xA: "ALTSVC",
    0xC: "ORIGIN",
    0x10: "PRIORITY_UPDATE",
}
DIRECTION_WORDS = {"c2s": "client → server", "s2c": "server → client"}


def error_name(code: int) -> str:
    """RFC 9113 §7's name of an error code, or its number."""
    try:
        return f"{ErrorCodes(code).name} (0x{code:x})"
    except ValueError:
        return f"unknown error 0x{code:x}"


def setting_name(code: int) -> str:
    try:
        return SettingCodes(code).name.lower()
    except ValueError:
        return f"setting 0x{code:x}"


@dataclass(frozen=True, slots=True, kw_only=True)
class H2Frame:
    """One HTTP/2 frame as read; a HEADERS or PUSH_PROMISE frame carries its whole header
    block's decoded fields (its CONTINUATION frames follow it, with none)."""

    stream: int
    frame_type: int
    length: int  # of the frame's payload
    flags: tuple[str, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    error_code: int | None = None  # RST_STREAM, GOAWAY
    last_stream: int | None = None  # GOAWAY
    debug_data: bytes = b""  # GOAWAY
    settings: tuple[tuple[int, int], ...] = ()  # SETTINGS, in wire order
    increment: int | None = None  # WINDOW_UPDATE
    promised_stream: int | None = None  # PUSH_PROMISE

    @property
    def name(self) -> str:
        return FRAME_TYPES.get(self.frame_type, f"type 0x{self.frame_type:x}")


@dataclass(slots=True)
class H2Direction:
    """What one direction of an HTTP/2 connection sent."""

    direction: str
    frames: list[H2Frame] = field(default_factory=list)  # the first MAX_FRAMES_KEPT
    count: int = 0  # all of them
    # Every header block's fields by stream (the first MAX_BLOCKS), and every stream's DATA
    # length: what the exchange lines need, however many frames there were.
    blocks: list[tuple[int, tuple[tuple[str, str], ...]]] = field(default_factory=list)
    data_bytes: dict[int, int] = field(default_factory=dict)
    field_bytes: int = 0  # decoded header fields kept, name and value lengths
    fields_cut: bool = False  # past MAX_FIELD_BYTES_KEPT


def _block_frame(frame: HeadersFrame | PushPromiseFrame, length: int) -> H2Frame:
    promised = frame.promised_stream_id if isinstance(frame, PushPromiseFrame) else None
    return H2Frame(
        stream=frame.stream_id,
        frame_type=frame.type or 0,
        length=length,
        flags=tuple(sorted(frame.flags)),
        promised_stream=promised,
    )


def _frame(frame: Frame, length: int) -> H2Frame:
    flags = tuple(sorted(frame.flags))
    kind = frame.type if frame.type is not None else 0
    common = {"stream": frame.stream_id, "frame_type": kind, "length": length, "flags": flags}
    if isinstance(frame, RstStreamFrame):
        return H2Frame(**common, error_code=frame.error_code)  # type: ignore[arg-type]
    if isinstance(frame, GoAwayFrame):
        return H2Frame(
            **common,  # type: ignore[arg-type]
            error_code=frame.error_code,
            last_stream=frame.last_stream_id,
            debug_data=bytes(frame.additional_data),
        )
    if isinstance(frame, SettingsFrame):
        return H2Frame(**common, settings=tuple(frame.settings.items()))  # type: ignore[arg-type]
    if isinstance(frame, WindowUpdateFrame):
        return H2Frame(**common, increment=frame.window_increment)  # type: ignore[arg-type]
    return H2Frame(**common)  # type: ignore[arg-type]


def read_http2(handle: BinaryIO, direction: str, notes: list[str]) -> H2Direction:
    """Every HTTP/2 frame of one direction (after the client's preface), header blocks
    decoded. Problems end the reading with a line in ``notes``."""
    seen = H2Direction(direction)
    if direction == "c2s" and handle.read(len(H2_PREFACE)) != H2_PREFACE:
        notes.append("c2s: no HTTP/2 connection preface")
        return seen
    decoder = hpack.Decoder()
    decoder.max_allowed_table_size = 65536
    block = bytearray()
    opener: H2Frame | None = None  # the HEADERS / PUSH_PROMISE whose block is being read
    at = 0  # its place in ``frames``
    while True:
        header = handle.read(9)
        if len(header) < 9:
            if header:
                notes.append(f"{direction}: the last HTTP/2 frame header is cut short")
            break
        try:
            frame, length = Frame.parse_frame_header(memoryview(header))
        except HyperframeError as exc:
            notes.append(f"{direction}: bad HTTP/2 frame header ({exc})")
            break
        seen.count += 1
        keep = len(seen.frames) < MAX_FRAMES_KEPT
        if isinstance(frame, DataFrame):
            # The flags are in the header; the body (padding included) is only counted.
            handle.seek(length, 1)
            if frame.stream_id in seen.data_bytes or len(seen.data_bytes) < MAX_BLOCKS:
                seen.data_bytes[frame.stream_id] = seen.data_bytes.get(frame.stream_id, 0) + length
            if keep:
                seen.frames.append(_frame(frame, length))
            continue
        body = handle.read(length)
        if len(body) < length:
            notes.append(f"{direction}: the last HTTP/2 frame is cut short")
            break
        try:
            frame.parse_body(memoryview(body))
        except HyperframeError as exc:
            notes.append(f"{direction}: bad HTTP/2 {FRAME_TYPES.get(header[3], 'frame')} ({exc})")
            break
        if isinstance(frame, HeadersFrame | PushPromiseFrame):
            block = bytearray(frame.data)
            opener, at = _block_frame(frame, length), len(seen.frames)
        elif isinstance(frame, ContinuationFrame):
            if opener is None or frame.stream_id != opener.stream:
                notes.append(
                    f"{direction}: CONTINUATION of no header block (stream {frame.stream_id})"
                )
                break
            block += frame.data
        if keep:
            seen.frames.append(_frame(frame, length))
        if len(block) > MAX_HEADER_BLOCK:
            notes.append(f"{direction}: header block over {MAX_HEADER_BLOCK} bytes")
            break
        if opener is not None and "END_HEADERS" in frame.flags:
            try:
                fields = decoder.decode(bytes(block), raw=False)
            except hpack.HPACKError as exc:
                notes.append(f"{direction}: header block does not decode ({exc})")
                break
            decoded = _kept(seen, tuple((str(n), str(v)) for n, v in fields), notes)
            # A PUSH_PROMISE's block is the pushed request, not this stream's message.
            if len(seen.blocks) < MAX_BLOCKS and opener.promised_stream is None:
                seen.blocks.append((opener.stream, decoded))
            if at < len(seen.frames):
                seen.frames[at] = _with_headers(opener, decoded)
            opener, block = None, bytearray()
    return seen


def _kept(
    seen: H2Direction, fields: tuple[tuple[str, str], ...], notes: list[str]
) -> tuple[tuple[str, str], ...]:
    """The fields of a header block as kept: all of them within the direction's budget,
    past it only the needed ones (see MAX_FIELD_BYTES_KEPT)."""
    size = sum(len(name) + len(value) for name, value in fields)
    if seen.field_bytes + size <= MAX_FIELD_BYTES_KEPT:
        seen.field_bytes += size
        return fields
    if not seen.fields_cut:
        seen.fields_cut = True
        notes.append(
            f"{seen.direction}: past {MAX_FIELD_BYTES_KEPT:,} bytes of header fields, only "
            f"{', '.join(sorted(_NEEDED))} are kept, cut to {MAX_VALUE_SHOWN} characters"
        )
    needed: dict[str, str] = {}
    for name, value in fields:
        if name in _NEEDED and name not in needed:
            needed[name] = value[:MAX_VALUE_SHOWN]
    return tuple(needed.items())


def _with_headers(frame: H2Frame, headers: tuple[tuple[str, str], ...]) -> H2Frame:
    return H2Frame(
        stream=frame.stream,
        frame_type=frame.frame_type,
        length=frame.length,
        flags=frame.flags,
        headers=headers,
        promised_stream=frame.promised_stream,
    )


def _flags(frame: H2Frame) -> str:
    shown = [flag for flag in frame.flags if flag != "END_HEADERS"]
    return f" ({', '.join(shown)})" if shown else ""


def _summary(frame: H2Frame) -> str:
    """One frame in a few words (its header block is told under it)."""
    if frame.error_code is not None and frame.last_stream is not None:
        text = f"GOAWAY last stream {frame.last_stream}, {error_name(frame.error_code)}"
        if frame.debug_data:
            text += f": {frame.debug_data[:MAX_VALUE_SHOWN].decode('utf-8', 'replace')!r}"
        return text
    if frame.error_code is not None:
        return f"RST_STREAM {error_name(frame.error_code)}"
    if frame.frame_type == 0x4:
        if "ACK" in frame.flags:
            return "SETTINGS (ACK)"
        values = ", ".join(f"{setting_name(code)}={value}" for code, value in frame.settings)
        return f"SETTINGS {values}" if values else "SETTINGS (none)"
    if frame.promised_stream is not None:
        return f"PUSH_PROMISE of stream {frame.promised_stream}{_flags(frame)}"
    return frame.name + _flags(frame)


def _stream_lines(frames: list[H2Frame]) -> list[str]:
    """One stream's frames in order; a run of DATA, or of WINDOW_UPDATE, frames is one line."""
    lines: list[str] = []
    i = 0
    while i < len(frames):
        frame = frames[i]
        if frame.frame_type in (0x0, 0x8):
            run = [frame]
            while (
                i + len(run) < len(frames) and frames[i + len(run)].frame_type == frame.frame_type
            ):
                run.append(frames[i + len(run)])
            i += len(run)
            count = f"{len(run)} frame{'s' if len(run) > 1 else ''}"
            if frame.frame_type == 0x0:
                end = " (END_STREAM)" if "END_STREAM" in run[-1].flags else ""
                lines.append(f"DATA: {count}, {sum(f.length for f in run):,} bytes{end}")
            else:
                total = sum(f.increment or 0 for f in run)
                lines.append(f"WINDOW_UPDATE: {count}, +{total:,} bytes of window")
            continue
        i += 1
        if frame.frame_type == 0x9:  # its fields are told with the HEADERS it continues
            continue
        text = _summary(frame)
        if lines and lines[-1].split(" ×")[0] == text and not frame.headers:
            # The same frame again (a stream reset for each frame still arriving on it).
            times = int(lines[-1].split(" ×")[1]) + 1 if " ×" in lines[-1] else 2
            lines[-1] = f"{text} ×{times}"
            continue
        lines.append(text)
        for name, value in frame.headers:
            shown = value if len(value) <= MAX_VALUE_SHOWN else value[:MAX_VALUE_SHOWN] + "…"
            lines.append(f"  {name}: {shown}")
    return lines


def frame_lines(seen: H2Direction) -> list[str]:
    """A direction's frames told per stream (the connection's own, stream 0, first)."""
    by_stream: dict[int, list[H2Frame]] = {}
    for frame in seen.frames:
        by_stream.setdefault(frame.stream, []).append(frame)
    more = f"; the first {len(seen.frames):,} told" if seen.count > len(seen.frames) else ""
    frames = f"{seen.count:,} frame{'' if seen.count == 1 else 's'}"
    lines = [f"{DIRECTION_WORDS.get(seen.direction, seen.direction)}: {frames}{more}"]
    streams = sorted(by_stream)
    for stream in streams[:MAX_STREAMS_TOLD]:
        told = _stream_lines(by_stream[stream])
        lines.append(f"  {'connection' if stream == 0 else f'stream {stream}'}: {told[0]}")
        lines.extend("    " + line for line in told[1:])
    if len(streams) > MAX_STREAMS_TOLD:
        lines.append(f"  ... and {len(streams) - MAX_STREAMS_TOLD} more streams")
    return lines
