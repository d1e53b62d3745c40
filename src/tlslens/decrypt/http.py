"""What decrypted application data says at the HTTP level: HTTP/1.x and HTTP/2.

Strategy: both readers take a binary file object per direction and seek over
bodies instead of reading them, so a 1 GB download costs a few reads. HTTP/2 is
read frame by frame in ``decrypt/h2wire.py``; here its header blocks become the
exchange lines. Anything malformed ends the summary of that direction with a
note; it never raises.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO

from tlslens._text import plural

if TYPE_CHECKING:
    from tlslens.decrypt.h2wire import H2Direction

MAX_MESSAGES = 10_000
# What an HTTP/2 client sends first (RFC 9113 §3.4); h2wire, with h2's frame and HPACK
# libraries, is imported only for a connection that starts with it.
H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


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


def _h2_messages(seen: H2Direction, version: str = "HTTP/2") -> list[HTTPMessage]:
    """The requests or responses of one HTTP/2 (or HTTP/3) direction, with each stream's
    DATA length given to its last message (the final response after any 1xx)."""
    messages: list[HTTPMessage] = []
    last: dict[int, HTTPMessage] = {}
    for stream, fields in seen.blocks:
        pairs = list(fields)
        pseudo = dict(p for p in pairs if p[0].startswith(":"))
        if ":status" in pseudo:
            start = f"{version} {pseudo[':status']}"
        else:
            start = f"{pseudo.get(':method', '?')} {pseudo.get(':path', '?')} {version}"
        if stream not in last or ":status" in pseudo or ":method" in pseudo:
            last[stream] = HTTPMessage(seen.direction, start, pairs, stream=stream)
            messages.append(last[stream])
    for stream, message in last.items():
        message.body_bytes = seen.data_bytes.get(stream, 0)
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
        from tlslens.decrypt.h2wire import frame_lines, read_http2

        sent = read_http2(c2s, "c2s", notes)
        answered = read_http2(s2c, "s2c", notes)
        by_stream = {m.stream: m for m in _h2_messages(answered)}
        lines = []
        for request in _h2_messages(sent):
            response = by_stream.get(request.stream)
            lines.append(_exchange(f"stream {request.stream}: ", request, response))
        return "HTTP/2", lines + frame_lines(sent) + frame_lines(answered) + notes
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
