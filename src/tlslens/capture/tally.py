"""What one pass over a capture file saw beyond its connections: the format, the frames,
the flows, what was skipped and why, and the file's own problems."""

from __future__ import annotations

from dataclasses import dataclass, field

from tlslens.model import Finding


@dataclass(slots=True)
class CaptureSummary:
    """What the pass over the file saw, beyond the connections."""

    file: str
    format: str = "unknown"
    frames: int = 0
    linktypes: list[str] = field(default_factory=list)
    tcp_flows: int = 0
    tls_connections: int = 0
    # UDP associations that look like QUIC or DTLS, by kind ("QUIC", "DTLS"): kept apart
    # from the other UDP frames (counted in ``skipped``), not yet dissected.
    udp_flows: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    problems: list[Finding] = field(default_factory=list)
    decryption_secrets_blocks: int = 0
    capture_secrets: int = 0  # key log lines those blocks gave (the capture's own secrets)
    readable: bool = False  # at least the file header could be read
    # With a key log: the client randoms seen, and how many of them it has a line for
    # (counted by judge.Reading, over every connection, shown or not).
    client_randoms: int = 0
    key_log_matched: int = 0
