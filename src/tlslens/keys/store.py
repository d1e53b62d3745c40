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

    def look_up(self, table: Literal["sessions", "tickets"], key: bytes) -> bytes | None:
        """The master secret of a session a connection resumes, if it was learnt."""
        return (self.sessions if table == "sessions" else self.tickets).get(key)

    def __bool__(self) -> bool:
        return bool(len(self.keylog) or self.rsa_keys or self.psk)
