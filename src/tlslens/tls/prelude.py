"""Plaintext a connection carried before TLS started (STARTTLS and friends): counted each
way, the first MAX_PRELUDE_KEPT bytes kept to be shown as text lines."""

from __future__ import annotations

from dataclasses import dataclass, field

from tlslens.model import C2S

MAX_PRELUDE_KEPT = 4096


@dataclass(slots=True)
class Prelude:
    """Plaintext sent before TLS started (STARTTLS and friends)."""

    protocol: str | None = None
    c2s_bytes: int = 0
    s2c_bytes: int = 0
    chunks: list[tuple[str, bytes]] = field(default_factory=list)  # (direction, bytes), merged
    kept: int = 0

    def add(self, direction: str, data: bytes) -> None:
        if direction == C2S:
            self.c2s_bytes += len(data)
        else:
            self.s2c_bytes += len(data)
        room = MAX_PRELUDE_KEPT - self.kept
        if room <= 0:
            return
        data = data[:room]
        self.kept += len(data)
        if self.chunks and self.chunks[-1][0] == direction:
            self.chunks[-1] = (direction, self.chunks[-1][1] + data)
        else:
            self.chunks.append((direction, data))

    @property
    def lines(self) -> list[tuple[str, str]]:
        """(direction, text) lines; binary runs are summarised by their size."""
        out: list[tuple[str, str]] = []
        for direction, data in self.chunks:
            printable = sum(32 <= b < 127 or b in (9, 10, 13) for b in data)
            if printable >= 0.9 * len(data):
                out.extend(
                    (direction, line[:200])
                    for line in data.decode("latin-1").splitlines()
                    if line.strip()
                )
            else:
                out.append((direction, f"<{len(data)} bytes of binary data>"))
        return out
