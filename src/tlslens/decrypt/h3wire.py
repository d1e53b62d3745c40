"""HTTP/3 (RFC 9114) in a decrypted QUIC connection's streams, header blocks by QPACK.

Strategy: the plaintext comes per QUIC stream and direction ("stream4-c2s"). Each
unidirectional stream opens with its type: the control stream's frames are read, each
side's QPACK encoder stream is kept aside, the rest is only counted. Request streams
(client-initiated bidirectional, ids 0, 4, 8 …) are cut into frames (varint type, varint
length); DATA and unknown (GREASE) payloads are sought over, never read. Header blocks
are decoded with ``pylsqpack`` (one decoder per direction, as QPACK requires), fed that
direction's encoder stream a little at a time whenever a block waits for table entries:
close to wire order, so later inserts do not evict what an earlier block names. Frames
are kept as ``H2Frame`` records in an ``H2Direction``, so the exchange lines come from the
same helpers as HTTP/2's. Anything malformed ends the reading of that stream with a note
naming the stream, direction and offset; it never raises.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import BinaryIO

import pylsqpack
from aioquic.h3.connection import FrameType, Setting, StreamType

from tlslens.decrypt.h2wire import (
    DIRECTION_WORDS,
    MAX_BLOCKS,
    MAX_FRAMES_KEPT,
    MAX_HEADER_BLOCK,
    MAX_STREAMS_TOLD,
    MAX_VALUE_SHOWN,
    H2Direction,
    H2Frame,
    _kept,
)
from tlslens.decrypt.http import _exchange, _h2_messages, _size

# The table capacity and blocked streams a decoder accepts: the peer's SETTINGS, capped.
MAX_TABLE_CAPACITY = 1 << 16
MAX_BLOCKED_STREAMS = 1000
ENCODER_CHUNK = 64  # encoder-stream bytes fed at a time while a header block waits
MAX_SETTINGS = 100  # pairs read from one SETTINGS frame


def _name(kind: int, table: type[FrameType] | type[Setting] | type[StreamType]) -> str:
    try:
        return table(kind).name
    except ValueError:
        return f"0x{kind:x}"


def _varint(handle: BinaryIO) -> int | None:
    """RFC 9000 §16 variable-length integer, or None at the end of the stream."""
    first = handle.read(1)
    if not first:
        return None
    size = 1 << (first[0] >> 6)
    rest = handle.read(size - 1)
    if len(rest) < size - 1:
        return None
    return int.from_bytes(bytes([first[0] & 0x3F]) + rest, "big")


def _varints(data: bytes) -> list[int] | None:
    """A frame payload of varints (SETTINGS pairs, a GOAWAY id), None if one is cut."""
    values: list[int] = []
    at = 0
    while at < len(data) and len(values) < 2 * MAX_SETTINGS:
        size = 1 << (data[at] >> 6)
        if at + size > len(data):
            return None
        values.append(int.from_bytes(bytes([data[at] & 0x3F]) + data[at + 1 : at + size], "big"))
        at += size
    return values


class _Side:
    """One direction's QPACK state: its decoder and the encoder stream still unfed."""

    def __init__(self, encoder_stream: bytes, settings: dict[int, int]) -> None:
        capacity = min(settings.get(Setting.QPACK_MAX_TABLE_CAPACITY, 0), MAX_TABLE_CAPACITY)
        blocked = min(settings.get(Setting.QPACK_BLOCKED_STREAMS, 0), MAX_BLOCKED_STREAMS)
        self.decoder = pylsqpack.Decoder(capacity, blocked)
        self.encoder_stream = encoder_stream
        self.fed = 0

    def decode(self, stream: int, block: bytes) -> tuple[tuple[str, str], ...] | str:
        """The block's fields, or why it does not decode."""
        try:
            try:
                fields: list[tuple[bytes, bytes]] | None = self.decoder.feed_header(stream, block)[
                    1
                ]
            except pylsqpack.StreamBlocked:
                fields = self._unblock(stream)
            if fields is None:
                return "it waits for QPACK table entries the encoder stream never sent"
        except (pylsqpack.DecompressionFailed, pylsqpack.EncoderStreamError) as exc:
            return f"QPACK: {exc or type(exc).__name__}"
        return tuple(
            (name.decode("utf-8", "replace"), value.decode("utf-8", "replace"))
            for name, value in fields
        )

    def _unblock(self, stream: int) -> list[tuple[bytes, bytes]] | None:
        while self.fed < len(self.encoder_stream):
            chunk = self.encoder_stream[self.fed : self.fed + ENCODER_CHUNK]
            self.fed += len(chunk)
            if stream in self.decoder.feed_encoder(chunk):
                return self.decoder.resume_header(stream)[1]
        return None


def _read_frames(
    handle: BinaryIO, stream: int, seen: H2Direction, side: _Side | None, notes: list[str]
) -> dict[int, int]:
    """Every frame of one stream into ``seen`` (header blocks decoded by ``side``); the
    settings of a control stream's SETTINGS frame are returned."""
    settings: dict[int, int] = {}
    where = f"{seen.direction} stream {stream}"
    while True:
        at = handle.tell()
        kind = _varint(handle)
        length = _varint(handle) if kind is not None else None
        if kind is None or length is None:
            if handle.tell() > at:
                notes.append(f"{where}: the HTTP/3 frame header at offset {at} is cut short")
            return settings
        frame = H2Frame(stream=stream, frame_type=kind, length=length)
        if kind == FrameType.DATA or kind not in FrameType._value2member_map_:
            # A body, or a frame type to ignore (RFC 9114 §9: GREASE among them): counted,
            # as far as the stream has it.
            start = handle.tell()
            got = min(length, _size(handle) - start)
            handle.seek(start + got)
            if kind == FrameType.DATA and (
                stream in seen.data_bytes or len(seen.data_bytes) < MAX_BLOCKS
            ):
                seen.data_bytes[stream] = seen.data_bytes.get(stream, 0) + got
            if got < length:
                notes.append(
                    f"{where}: {_name(kind, FrameType)} frame at offset {at} is cut short "
                    f"({got:,} of {length:,} bytes)"
                )
                return settings
        elif length > MAX_HEADER_BLOCK:
            notes.append(
                f"{where}: {_name(kind, FrameType)} frame at offset {at} claims {length:,} "
                f"bytes, over {MAX_HEADER_BLOCK:,}"
            )
            return settings
        else:
            body = handle.read(length)
            if len(body) < length:
                notes.append(
                    f"{where}: {_name(kind, FrameType)} frame at offset {at} is cut short "
                    f"({len(body):,} of {length:,} bytes)"
                )
                return settings
            frame = _payload(frame, body, seen, side, notes, where=f"{where} offset {at}")
            settings.update(frame.settings)
        seen.count += 1  # a frame read whole (or sought over whole)
        if len(seen.frames) < MAX_FRAMES_KEPT:
            seen.frames.append(frame)


def _payload(
    frame: H2Frame, body: bytes, seen: H2Direction, side: _Side | None, notes: list[str], where: str
) -> H2Frame:
    """A frame with what its payload says: a header block's fields, SETTINGS, GOAWAY's id."""
    common = {"stream": frame.stream, "frame_type": frame.frame_type, "length": frame.length}
    if frame.frame_type == FrameType.HEADERS and side is not None:
        decoded = side.decode(frame.stream, body)
        if isinstance(decoded, str):
            notes.append(f"{where}: the header block does not decode ({decoded})")
            return frame
        fields = _kept(seen, decoded, notes)
        if len(seen.blocks) < MAX_BLOCKS:
            seen.blocks.append((frame.stream, fields))
        return H2Frame(**common, headers=fields)  # type: ignore[arg-type]
    if frame.frame_type in (FrameType.SETTINGS, FrameType.GOAWAY):
        values = _varints(body)
        if values is None:
            notes.append(f"{where}: a {_name(frame.frame_type, FrameType)} value is cut short")
            return frame
        if frame.frame_type == FrameType.GOAWAY:
            return H2Frame(**common, last_stream=values[0] if values else None)  # type: ignore[arg-type]
        pairs = tuple(zip(values[::2], values[1::2], strict=False))
        return H2Frame(**common, settings=pairs)  # type: ignore[arg-type]
    return frame


MAX_ENCODER_STREAM = 1 << 20  # bytes of a QPACK encoder stream kept for the decoder


def _streams(files: Mapping[str, BinaryIO]) -> list[tuple[int, str, BinaryIO]]:
    """(stream id, direction, file) of every "streamK-c2s"-named file, by stream id."""
    found: list[tuple[int, str, BinaryIO]] = []
    for name, handle in files.items():
        number, _, side = name.removeprefix("stream").partition("-")
        if number.isdigit() and side in DIRECTION_WORDS:
            found.append((int(number), side, handle))
    return sorted(found, key=lambda item: (item[0], item[1]))


def _unidirectional(
    streams: list[tuple[int, str, BinaryIO]],
    seen: dict[str, H2Direction],
    kinds: dict[tuple[int, str], str],
    notes: list[str],
) -> tuple[dict[str, bytes], dict[str, dict[int, int]]]:
    """Each unidirectional stream's type; the control streams' frames read into ``seen``.
    Returns each direction's QPACK encoder stream and SETTINGS."""
    encoder = dict.fromkeys(DIRECTION_WORDS, b"")
    settings: dict[str, dict[int, int]] = {side: {} for side in DIRECTION_WORDS}
    for stream, side, handle in streams:
        if stream % 4 < 2:
            continue
        kind = _varint(handle)
        if kind is None:
            continue
        kinds[(stream, side)] = _name(kind, StreamType).lower().replace("_", " ")
        if kind == StreamType.CONTROL:
            settings[side].update(_read_frames(handle, stream, seen[side], None, notes))
        elif kind == StreamType.QPACK_ENCODER:
            encoder[side] = handle.read(MAX_ENCODER_STREAM)
            if handle.read(1):
                notes.append(
                    f"{side} stream {stream}: QPACK encoder stream over {MAX_ENCODER_STREAM:,} "
                    "bytes; only its start is used"
                )
    return encoder, settings


def read_http3(
    files: Mapping[str, BinaryIO], notes: list[str]
) -> tuple[dict[str, H2Direction], dict[tuple[int, str], str]]:
    """Every HTTP/3 frame of a connection's per-stream plaintext files (named "streamK-c2s"
    / "streamK-s2c"), by direction, and each unidirectional stream's type by (id,
    direction). Problems are lines in ``notes``."""
    seen = {side: H2Direction(side) for side in DIRECTION_WORDS}
    kinds: dict[tuple[int, str], str] = {}
    streams = _streams(files)
    encoder, settings = _unidirectional(streams, seen, kinds, notes)
    # A direction's blocks are decoded with the table its peer's SETTINGS allowed.
    sides = {
        "c2s": _Side(encoder["c2s"], settings["s2c"]),
        "s2c": _Side(encoder["s2c"], settings["c2s"]),
    }
    for stream, side, handle in streams:
        if stream % 4 == 0:
            _read_frames(handle, stream, seen[side], sides[side], notes)
    return seen, kinds


def summarize_http3(files: Mapping[str, BinaryIO]) -> list[str]:
    """An HTTP/3 connection's exchanges, frames per stream and notes (see ``read_http3``)."""
    notes: list[str] = []
    seen, kinds = read_http3(files, notes)
    answers = {m.stream: m for m in _h2_messages(seen["s2c"], "HTTP/3")}
    lines = [
        _exchange(f"stream {request.stream}: ", request, answers.get(request.stream))
        for request in _h2_messages(seen["c2s"], "HTTP/3")
    ]
    for side in DIRECTION_WORDS:
        lines += _frame_lines(seen[side], kinds)
    return lines + notes


def _summary(frame: H2Frame) -> str:
    name = _name(frame.frame_type, FrameType)
    if frame.settings:
        values = ", ".join(f"{_name(code, Setting)}={value}" for code, value in frame.settings)
        return f"SETTINGS {values}"
    if frame.last_stream is not None:
        return f"GOAWAY id {frame.last_stream}"
    if frame.frame_type not in FrameType._value2member_map_:
        return f"type {name} ({frame.length:,} bytes, ignored)"
    return f"{name} ({frame.length:,} bytes)"


def _stream_lines(frames: list[H2Frame]) -> list[str]:
    """One stream's frames in order; a run of DATA frames is one line."""
    lines: list[str] = []
    i = 0
    while i < len(frames):
        frame = frames[i]
        if frame.frame_type == FrameType.DATA:
            run = 1
            while i + run < len(frames) and frames[i + run].frame_type == FrameType.DATA:
                run += 1
            total = sum(f.length for f in frames[i : i + run])
            lines.append(f"DATA: {run} frame{'s' if run > 1 else ''}, {total:,} bytes")
            i += run
            continue
        i += 1
        lines.append(_summary(frame))
        for name, value in frame.headers:
            shown = value if len(value) <= MAX_VALUE_SHOWN else value[:MAX_VALUE_SHOWN] + "…"
            lines.append(f"  {name}: {shown}")
    return lines


def _frame_lines(seen: H2Direction, kinds: dict[tuple[int, str], str]) -> list[str]:
    """A direction's streams: request streams and the control stream with their frames,
    the other unidirectional streams by type."""
    by_stream: dict[int, list[H2Frame]] = {}
    for frame in seen.frames:
        by_stream.setdefault(frame.stream, []).append(frame)
    for stream, side in kinds:
        if side == seen.direction:
            by_stream.setdefault(stream, [])
    more = f"; the first {len(seen.frames):,} told" if seen.count > len(seen.frames) else ""
    frames = f"{seen.count:,} frame{'' if seen.count == 1 else 's'}"
    lines = [f"{DIRECTION_WORDS[seen.direction]}: {frames}{more}"]
    streams = sorted(by_stream)
    for stream in streams[:MAX_STREAMS_TOLD]:
        kind = kinds.get((stream, seen.direction))
        # QPACK's streams carry instructions (RFC 9204 §4.3, §4.4), not frames.
        quiet = "instructions, not frames" if kind and kind.startswith("qpack") else "no frames"
        told = _stream_lines(by_stream[stream]) or [quiet]
        label = f"stream {stream}" + (f" ({kind})" if kind else "")
        lines.append(f"  {label}: {told[0]}")
        lines.extend("    " + line for line in told[1:])
    if len(streams) > MAX_STREAMS_TOLD:
        lines.append(f"  ... and {len(streams) - MAX_STREAMS_TOLD} more streams")
    return lines
