"""What a live connection sends once the handshake is done, and when its answer is complete.

EDGE helper of ``live``: plaintext in and out, no socket. HTTP/1.1 ``HEAD /``, the same
request over HTTP/2 (``h2``) when the server chose h2 by ALPN, the user's own bytes, or
nothing (then the connection only waits briefly for what servers send unasked, such as
TLS 1.3 session tickets).
"""

from __future__ import annotations

import h2.config
import h2.connection
import h2.events
import h2.exceptions

from tlslens import __version__

USER_AGENT = f"tlslens/{__version__}"


class Request:
    """Nothing to send: the connection closes after a short quiet time."""

    expects_answer = False

    def __init__(self) -> None:
        self.done = False

    def first(self) -> list[bytes]:
        return []

    def received(self, plain: bytes) -> list[bytes]:
        """Take decrypted bytes from the server; the bytes to answer with (HTTP/2 ACKs)."""
        return []


class RawRequest(Request):
    """The user's bytes (``--send``); the answer is read until close, limit or timeout."""

    expects_answer = True

    def __init__(self, data: bytes) -> None:
        super().__init__()
        self.data = data

    def first(self) -> list[bytes]:
        return [self.data] if self.data else []


def _authority(name: str, port: int) -> str:
    host = f"[{name}]" if ":" in name else name
    return host if port == 443 else f"{host}:{port}"


class HTTP1Head(RawRequest):
    """``HEAD / HTTP/1.1``: complete once the response header has ended."""

    def __init__(self, name: str, port: int) -> None:
        super().__init__(
            (
                f"HEAD / HTTP/1.1\r\nHost: {_authority(name, port)}\r\n"
                f"User-Agent: {USER_AGENT}\r\nAccept: */*\r\nConnection: close\r\n\r\n"
            ).encode("idna" if not name.isascii() else "ascii")
        )
        self._answer = b""

    def received(self, plain: bytes) -> list[bytes]:
        self._answer = (self._answer + plain)[-(1 << 16) :]
        if b"\r\n\r\n" in self._answer:
            self.done = True
        return []


class HTTP2Head(Request):
    """The same HEAD over HTTP/2, stream 1; complete when the stream ends or the server
    says GOAWAY."""

    expects_answer = True

    def __init__(self, name: str, port: int) -> None:
        super().__init__()
        self.h2 = h2.connection.H2Connection(
            config=h2.config.H2Configuration(client_side=True, header_encoding=None)
        )
        self.headers = [
            (":method", "HEAD"),
            (":scheme", "https"),
            (":authority", _authority(name, port)),
            (":path", "/"),
            ("user-agent", USER_AGENT),
            ("accept", "*/*"),
        ]

    def first(self) -> list[bytes]:
        self.h2.initiate_connection()
        self.h2.send_headers(1, self.headers, end_stream=True)
        return [self.h2.data_to_send()]

    def received(self, plain: bytes) -> list[bytes]:
        try:
            events = self.h2.receive_data(plain)
        except h2.exceptions.H2Error:
            self.done = True  # not HTTP/2 after all; what came is still shown decrypted
            return []
        for event in events:
            if isinstance(event, h2.events.StreamEnded | h2.events.StreamReset):
                if event.stream_id == 1:
                    self.done = True
            elif isinstance(event, h2.events.ConnectionTerminated):
                self.done = True
        reply = self.h2.data_to_send()
        return [reply] if reply else []


__all__ = ["HTTP1Head", "HTTP2Head", "RawRequest", "Request"]
