"""What decrypted application data says at the HTTP level: HTTP/1.x and HTTP/2.

Strategy: both readers take a binary file object per direction and seek over
bodies instead of reading them, so a 1 GB download costs a few reads. HTTP/2
frames are parsed with ``hyperframe`` and header blocks decoded with ``hpack``
(one decoder per direction, as the protocol requires). Anything malformed ends
the summary of that direction with a note; it never raises.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import BinaryIO

import hpack
from hyperframe.exceptions import HyperframeError
from hyperframe.frame import ContinuationFrame, DataFrame, Frame, HeadersFrame

from tlslens._text import plural

H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
MAX_HEADER_BLOCK = 256 * 1024
MAX_MESSAGES = 10_000


@dataclass(slots=True)
class HTTPMessage:
    direction: str
    start_line: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body_bytes: int = 0
    stream: int | None = None  # HTTP/2 stream id

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None


def _read_line(handle: BinaryIO, limit: int = 16384) -> bytes | None:
    line = handle.readline(limit)
    return line if line else None


def read_http1(handle: BinaryIO, direction: str, notes: list[str]) -> list[HTTPMessage]:
    """HTTP/1.x messages of one direction (requests from the client, responses from the server)."""
    messages: list[HTTPMessage] = []
    while len(messages) < MAX_MESSAGES:
        line = _read_line(handle)
        while line is not None and not line.strip():
            line = _read_line(handle)
        if line is None:
            break
        start = line.decode("latin-1").rstrip("\r\n")
        if not (start.startswith("HTTP/") or " HTTP/" in start):
            notes.append(f"{direction}: not HTTP/1.x from here on ({start[:40]!r})")
            break
        message = HTTPMessage(direction, start)
        while True:
            header = _read_line(handle)
            if header is None or not header.strip():
                break
            name, _, value = header.decode("latin-1").partition(":")
            message.headers.append((name.strip(), value.strip()))
        messages.append(message)
        length = message.header("content-length")
        if message.header("transfer-encoding") and "chunked" in (
            message.header("transfer-encoding") or ""
        ):
            message.body_bytes = _skip_chunked(handle)
        elif length is not None and length.strip().isascii() and length.strip().isdigit():
            size = int(length)
            before = handle.tell()
            handle.seek(size, 1)
            message.body_bytes = min(size, _size(handle) - before)
        elif direction == "s2c" and not _no_body(message):
            before = handle.tell()
            handle.seek(0, 2)  # read until the connection closed
            message.body_bytes = handle.tell() - before
    return messages


def _size(handle: BinaryIO) -> int:
    here = handle.tell()
    end = handle.seek(0, 2)
    handle.seek(min(here, end))
    return end


def _no_body(message: HTTPMessage) -> bool:
    parts = message.start_line.split()
    if len(parts) < 2:
        return False
    return parts[1] in ("204", "304") or parts[1].startswith("1")


def _skip_chunked(handle: BinaryIO) -> int:
    total = 0
    while True:
        line = _read_line(handle)
        if line is None:
            return total
        size_text = line.split(b";")[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            return total
        if size == 0:
            while (trailer := _read_line(handle)) is not None and trailer.strip():
                pass
            return total
        handle.seek(size + 2, 1)
        total += size


def read_http2(handle: BinaryIO, direction: str, notes: list[str]) -> list[HTTPMessage]:
    """HTTP/2 header blocks and DATA sizes of one direction, per stream."""
    if direction == "c2s" and handle.read(len(H2_PREFACE)) != H2_PREFACE:
        notes.append("c2s: no HTTP/2 connection preface")
        return []
    decoder = hpack.Decoder()
    decoder.max_allowed_table_size = 65536
    messages: list[HTTPMessage] = []
    by_stream: dict[int, HTTPMessage] = {}
    block = bytearray()
    block_stream = 0
    while len(messages) < MAX_MESSAGES:
        header = handle.read(9)
        if len(header) < 9:
            break
        try:
            frame, length = Frame.parse_frame_header(memoryview(header))
        except HyperframeError as exc:
            notes.append(f"{direction}: bad HTTP/2 frame header ({exc})")
            break
        if isinstance(frame, DataFrame):
            handle.seek(length, 1)
            target = by_stream.get(frame.stream_id)
            if target is not None:
                target.body_bytes += length
            continue
        body = handle.read(length)
        if len(body) < length:
            notes.append(f"{direction}: the last HTTP/2 frame is cut short")
            break
        try:
            frame.parse_body(memoryview(body))
        except HyperframeError as exc:
            notes.append(f"{direction}: bad HTTP/2 {type(frame).__name__} ({exc})")
            break
        if isinstance(frame, HeadersFrame | ContinuationFrame):
            if isinstance(frame, HeadersFrame):
                block = bytearray()
                block_stream = frame.stream_id
            block += frame.data
            if len(block) > MAX_HEADER_BLOCK:
                notes.append(f"{direction}: header block over {MAX_HEADER_BLOCK} bytes")
                break
            if "END_HEADERS" in frame.flags:
                try:
                    fields = decoder.decode(bytes(block), raw=False)
                except hpack.HPACKError as exc:
                    notes.append(f"{direction}: header block does not decode ({exc})")
                    break
                pairs = [(str(k), str(v)) for k, v in fields]
                pseudo = dict(p for p in pairs if p[0].startswith(":"))
                if ":status" in pseudo:
                    start = f"HTTP/2 {pseudo[':status']}"
                else:
                    start = f"{pseudo.get(':method', '?')} {pseudo.get(':path', '?')} HTTP/2"
                message = HTTPMessage(direction, start, pairs, stream=block_stream)
                if block_stream not in by_stream or ":status" in pseudo or ":method" in pseudo:
                    by_stream[block_stream] = message
                    messages.append(message)
    return messages


def summarize(c2s: BinaryIO, s2c: BinaryIO) -> tuple[str | None, list[str]]:
    """("HTTP/1.x" | "HTTP/2" | None, one line per exchange and per note)."""
    head = c2s.read(len(H2_PREFACE))
    c2s.seek(0)
    # An HTTP/1 request line is as long as its target: read the whole first line to decide.
    first = c2s.readline(16384).rstrip(b"\r\n")
    c2s.seek(0)
    notes: list[str] = []
    if head == H2_PREFACE:
        protocol = "HTTP/2"
        requests = read_http2(c2s, "c2s", notes)
        responses = read_http2(s2c, "s2c", notes)
        by_stream = {m.stream: m for m in responses}
        lines = []
        for request in requests:
            response = by_stream.get(request.stream)
            lines.append(_exchange(f"stream {request.stream}: ", request, response))
        return protocol, lines + notes
    if b" HTTP/1." not in first:
        return None, []
    requests = read_http1(c2s, "c2s", notes)
    responses = read_http1(s2c, "s2c", notes)
    lines = [
        _exchange("", request, responses[i] if i < len(responses) else None)
        for i, request in enumerate(requests)
    ]
    return "HTTP/1.x", lines + notes


def _exchange(prefix: str, request: HTTPMessage, response: HTTPMessage | None) -> str:
    host = request.header("host") or request.header(":authority")
    text = prefix + request.start_line.rsplit(" HTTP/", 1)[0]
    if host:
        text += f" (host {host})"
    if response is None:
        return text + " -> no response"
    status = (
        response.start_line.split(" ", 1)[1] if " " in response.start_line else response.start_line
    )
    kind = response.header("content-type")
    text += f" -> {status}"
    details = [d for d in (kind, plural(response.body_bytes, "byte")) if d]
    return text + f" ({', '.join(details)})"
