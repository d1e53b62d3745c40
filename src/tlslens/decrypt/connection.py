"""Decrypting one connection: the Python edge of the core's decryptor.

Strategy: ``tlslens._core.Decryptor`` (crates/tlslens-core/src/decrypt) follows each
connection: transcript, secrets from the key log or a resumed session or a PSK, keys,
record opening, Finished checks, the derivation kept to be shown. The one step it cannot
take is RSA decryption with a private key read from a PEM file: the core's content layer asks
for it once per handshake, and ``rsa_premaster`` answers with ``cryptography``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from tlslens.model import Finding

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import rsa

    from tlslens import _core
    from tlslens.model import Connection

PlaintextSink = Callable[[str, bytes], None]


def rsa_premaster(
    keys: list[rsa.RSAPrivateKey], encrypted: bytes, versions: tuple[int, int]
) -> bytes | None:
    """The premaster one of ``keys`` recovers from an EncryptedPreMasterSecret, or None."""
    # Imported when asked: only a run given an RSA key gets here.
    from cryptography.hazmat.primitives.asymmetric import padding

    for key in keys:
        if key.key_size // 8 != len(encrypted):
            continue
        try:
            candidate = key.decrypt(encrypted, padding.PKCS1v15())
        except ValueError:
            continue
        # RFC 5246 §7.4.7.1: 48 bytes, opening with the ClientHello's version (some old
        # clients put the negotiated one). A wrong key need not fail: OpenSSL's implicit
        # rejection answers it with random bytes, at times 48 of them.
        if len(candidate) == 48 and int.from_bytes(candidate[:2]) in versions:
            return candidate
    return None


def note_lost_digests(conn: Connection, dec: _core.Decryptor | None) -> None:
    """The core's hashing thread ended early (a bug): waits for the connection's digests,
    as its JSON would, and says which were lost (that direction's ``plaintext_sha256`` is
    null)."""
    if dec is None:
        return
    for direction, why in dec.lost_digests():
        conn.problems.append(Finding(conn.last_frame, direction, "internal", None, why))
