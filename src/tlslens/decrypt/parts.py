"""The parts of a connection its secrets can open, as ``show --json`` names them.

The core's decryptor (``tlslens._core.Decryptor``) says which were read and which
key-log labels were missing (``to_json``, ``missing_secrets``); QUIC counts its packets
into the same parts.
"""

from __future__ import annotations

HANDSHAKE = "handshake"
APPLICATION_DATA = "application_data"
EARLY_DATA = "early_data"
