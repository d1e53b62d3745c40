"""Every secret a run knows: what the user gave, and the sessions learnt from the capture."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tlslens._core import KeyLog, SessionCache

if TYPE_CHECKING:
    # Only named: the keys are loaded (keys/files.py) and used (decrypt/connection.py) by
    # cryptography, which a run without an RSA key never imports.
    from cryptography.hazmat.primitives.asymmetric import rsa


# eq=False: a store is one run's, compared by identity; a generated __eq__ is compiled at
# every start (Python 3.11), and every command imports this class.
@dataclass(slots=True, eq=False)
class KeyStore:
    """Every secret the user gave, and the sessions learnt while reading the capture.

    The key log and the session cache (master secrets of full handshakes by session ID and
    by ticket, for the abbreviated ones that resume them; bounded) live in the core, which
    every connection's decryptor reads; the RSA keys stay with ``cryptography``."""

    keylog: KeyLog = field(default_factory=KeyLog)
    rsa_keys: list[rsa.RSAPrivateKey] = field(default_factory=list)
    psk: bytes | None = None
    sessions: SessionCache = field(default_factory=SessionCache)

    def for_capture(self) -> KeyStore:
        """The store one capture is read with: the secrets given (its own Decryption Secrets
        Blocks add to a copy, which the next capture does not see), the same RSA keys and
        PSK, and sessions of its own: a capture is read as tshark reads each file."""
        return KeyStore(self.keylog.copy(), self.rsa_keys, self.psk)

    def __bool__(self) -> bool:
        return bool(len(self.keylog) or self.rsa_keys or self.psk)
