"""QUIC connections (RFC 9000/9001) told through the TLS ``Connection`` model: the core
reads datagrams, packets and frames (``tlslens._core.QuicEvents``); ``route`` gives each
connection its events, ``assembly`` turns them into the model, ``details`` holds what only
QUIC has (packets, frames, Retry, migration, the close).

Every capture pass makes a router (``route``); the other modules load with the first QUIC
connection, so a capture of TCP only does not pay for them."""

# Packets kept per connection for the narration and --records; the rest are counted.
MAX_PACKETS_KEPT = 4096
# Packets kept one by one across the connections not yet handed out (about 1.1 KB each in
# Python's model: 18 MB); past it, a connection's later packets are counted only, with a
# finding. Per connection alone, 50,000 associations open at once could keep 200 million.
MAX_PACKETS_KEPT_OPEN = 16_384


class PacketBudget:
    """The packets the QUIC connections of a pass keep until their hand-out, and the bound
    (``MAX_PACKETS_KEPT_OPEN``): shared by the router's sessions."""

    __slots__ = ("kept", "limit")

    def __init__(self, limit: int | None = None) -> None:
        self.kept = 0
        self.limit = MAX_PACKETS_KEPT_OPEN if limit is None else limit

    def take(self, packets: int) -> bool:
        """Keep ``packets`` more: whether there is room (nothing is taken if not)."""
        if self.kept + packets > self.limit:
            return False
        self.kept += packets
        return True
