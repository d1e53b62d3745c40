"""Every secret a run knows: what the user gave, and the sessions learnt from the capture."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from cryptography.hazmat.primitives.asymmetric import rsa

from tlslens.keys.keylog import KeyLog


@dataclass(slots=True)
class KeyStore:
    """Every secret the user gave, and the sessions learnt while reading the capture."""

    keylog: KeyLog = field(default_factory=KeyLog)
    rsa_keys: list[rsa.RSAPrivateKey] = field(default_factory=list)
    psk: bytes | None = None
    # master secrets of full handshakes seen, for the abbreviated ones that resume them
    sessions: dict[bytes, bytes] = field(default_factory=dict)
    tickets: dict[bytes, bytes] = field(default_factory=dict)
    # Kept by a worker that reads one share of a capture's connections (cli/shares.py):
    # every session learnt and every resumption looked up, with its frame and the number
    # of its connection in first-packet order (``frame``, ``flow``, set by the reader), so
    # that the parent can tell whether one process would have found the same secrets:
    # (frame, flow, "learn" or "look_up", table, key, found). The flow orders what happens
    # within one frame: the end of the capture, where every open connection is flushed.
    journal: list[tuple[int, int, str, str, bytes, bool]] | None = None
    frame: int = 0
    flow: int = 0

    MAX_SESSIONS = 1 << 16  # resumable sessions remembered, oldest forgotten first

    def remember(
        self, table: Literal["sessions", "tickets"], key: bytes, master_secret: bytes
    ) -> None:
        """Keep a master secret for resumption (by session ID or by ticket), bounded."""
        secrets = self.sessions if table == "sessions" else self.tickets
        secrets.pop(key, None)
        secrets[key] = master_secret
        while len(secrets) > self.MAX_SESSIONS:
            del secrets[next(iter(secrets))]  # dicts keep insertion order: the oldest first
        if self.journal is not None:
            self.journal.append((self.frame, self.flow, "learn", table, key, True))

    def look_up(self, table: Literal["sessions", "tickets"], key: bytes) -> bytes | None:
        """The master secret of a session a connection resumes, if it was learnt."""
        found = (self.sessions if table == "sessions" else self.tickets).get(key)
        if self.journal is not None:
            self.journal.append((self.frame, self.flow, "look_up", table, key, found is not None))
        return found

    def __bool__(self) -> bool:
        return bool(len(self.keylog) or self.rsa_keys or self.psk)
