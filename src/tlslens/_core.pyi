"""Types of the compiled core (crates/tlslens-py), built by maturin into tlslens._core."""

from typing import final

GZIP_MAX_RATIO: int
GZIP_FLOOR: int

@final
class FrameBatch:
    """What one ``CaptureReader.poll`` read."""

    @property
    def frames(self) -> list[tuple[int, int, bytes]]:
        """``(timestamp in ns, link type, frame bytes)`` in capture order."""
    @property
    def problems(self) -> list[tuple[int, str, int]]:
        """``(byte offset, message, frame number)``."""
    @property
    def secrets(self) -> list[tuple[int, bytes]]:
        """pcapng Decryption Secrets Blocks: ``(secrets type, data)``."""

@final
class CaptureReader:
    """pcap / pcapng / gzip'd capture reader, sans-IO: ``feed`` bytes, ``poll`` batches."""

    def __init__(self, max_expansion: int, gzip_floor: int) -> None: ...
    def feed(self, chunk: bytes) -> None: ...
    def finish(self, error: str | None = None) -> None:
        """No more bytes will come; ``error``: why (a read that failed)."""
    def poll(self) -> FrameBatch:
        """What can be read of the bytes fed so far: no frames when more are needed."""
    @property
    def format(self) -> str:
        """``pcap``, ``pcapng``, or ``unknown`` until the first bytes are walked."""
    @property
    def fatal(self) -> str | None:
        """Why the input is not a capture at all."""
    @property
    def done(self) -> bool:
        """Nothing more will come out, whatever is fed."""
    @property
    def frames(self) -> int: ...
    @property
    def linktypes(self) -> list[int]: ...
