"""NSS key log files (SSLKEYLOGFILE): every label Wireshark reads.

The lines are parsed by the core (crates/tlslens-core/src/decrypt/keylog.rs): a ``KeyLog``
takes text from any source (files, pcapng Decryption Secrets Blocks, the scanner's own
shares) through ``add_text``; every line that cannot be used is kept in ``problems`` with
its source and line number, and the good lines are used all the same.
"""

from __future__ import annotations

from tlslens._core import KeyLog, KeyLogProblem

__all__ = ["SERVER_HANDSHAKE_TRAFFIC_SECRET", "KeyLog", "KeyLogProblem"]

SERVER_HANDSHAKE_TRAFFIC_SECRET = "SERVER_HANDSHAKE_TRAFFIC_SECRET"
