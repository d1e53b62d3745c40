"""NSS key log files (SSLKEYLOGFILE): every label Wireshark reads.

Strategy: a ``KeyLog`` is a dict keyed by (label, client random) — the TLS 1.3
labels and CLIENT_RANDOM — plus the RSA form keyed by the first 8 bytes of the
encrypted premaster. Text from any source (files, pcapng Decryption Secrets
Blocks, comments) goes through ``add_text``; every line that cannot be used is
kept in ``problems`` with its source and line number, and the good lines are
used all the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field

CLIENT_RANDOM = "CLIENT_RANDOM"
RSA = "RSA"
TLS13_LABELS = (
    "CLIENT_EARLY_TRAFFIC_SECRET",
    "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
    "SERVER_HANDSHAKE_TRAFFIC_SECRET",
    "CLIENT_TRAFFIC_SECRET_0",
    "SERVER_TRAFFIC_SECRET_0",
    "EARLY_EXPORTER_SECRET",
    "EXPORTER_SECRET",
)
LABELS = (CLIENT_RANDOM, RSA, *TLS13_LABELS)
EARLY = "CLIENT_EARLY_TRAFFIC_SECRET"
SERVER_HANDSHAKE_TRAFFIC_SECRET = "SERVER_HANDSHAKE_TRAFFIC_SECRET"
# The secrets of the application data, derived only once a TLS 1.3 handshake completes.
TLS13_APPLICATION_LABELS = ("CLIENT_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0")
# What opens a TLS 1.3 connection's records after the ServerHello, in the order used.
TLS13_TRAFFIC_LABELS = (
    "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
    SERVER_HANDSHAKE_TRAFFIC_SECRET,
    *TLS13_APPLICATION_LABELS,
)


@dataclass(frozen=True, slots=True)
class KeyLogProblem:
    source: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.source}, line {self.line}: {self.message}"


@dataclass(slots=True)
class KeyLog:
    secrets: dict[tuple[str, bytes], bytes] = field(default_factory=dict)
    rsa_premasters: dict[bytes, bytes] = field(default_factory=dict)
    problems: list[KeyLogProblem] = field(default_factory=list)  # the first MAX_PROBLEMS_KEPT
    problem_count: int = 0  # every bad line, kept or not
    # where each secret came from: "keylog" (a file) or "pcapng" (a Decryption Secrets Block)
    origins: dict[tuple[str, bytes], str] = field(default_factory=dict)

    MAX_PROBLEMS_KEPT = 20  # a garbage file must not cost memory per line

    def _problem(self, source: str, number: int, message: str) -> None:
        self.problem_count += 1
        if len(self.problems) < self.MAX_PROBLEMS_KEPT:
            self.problems.append(KeyLogProblem(source, number, message))

    def __len__(self) -> int:
        return len(self.secrets) + len(self.rsa_premasters)

    def add_text(self, text: str, source: str, origin: str = "keylog") -> int:
        """Add every usable line of ``text``; returns how many were used."""
        used = 0
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split()
            label = parts[0]
            if label not in LABELS:
                self._problem(source, number, f"unknown label {label[:40]!r}")
                continue
            if len(parts) != 3:
                self._problem(source, number, f"{label} needs 2 values, found {len(parts) - 1}")
                continue
            try:
                first, secret = bytes.fromhex(parts[1]), bytes.fromhex(parts[2])
            except ValueError:
                self._problem(source, number, "a value is not even-length hex")
                continue
            if label == RSA:
                if len(first) != 8 or len(secret) != 48:
                    self._problem(
                        source,
                        number,
                        "RSA needs 8 bytes of encrypted premaster and a 48-byte premaster",
                    )
                    continue
                self.rsa_premasters[first] = secret
            else:
                if len(first) != 32:
                    self._problem(source, number, f"client random has {len(first)} bytes, not 32")
                    continue
                if label == CLIENT_RANDOM and len(secret) != 48:
                    self._problem(source, number, f"master secret has {len(secret)} bytes, not 48")
                    continue
                self.secrets[(label, first)] = secret
                self.origins[(label, first)] = origin
            used += 1
        return used

    def get(self, label: str, client_random: bytes) -> bytes | None:
        return self.secrets.get((label, client_random))

    def knows(self, client_random: bytes) -> bool:
        """Whether any line of the key log is for this client random."""
        return any((label, client_random) in self.secrets for label in LABELS)

    def origin(self, label: str, client_random: bytes) -> str:
        return self.origins.get((label, client_random), "keylog")
