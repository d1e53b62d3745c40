"""QUIC connections (RFC 9000/9001) told through the TLS ``Connection`` model: the core
reads datagrams, packets and frames (``tlslens._core.QuicEvents``); ``route`` gives each
connection its events, ``assembly`` turns them into the model, ``details`` holds what only
QUIC has (packets, frames, Retry, migration, the close).

Every capture pass makes a router (``route``); the other modules load with the first QUIC
connection, so a capture of TCP only does not pay for them."""

# Packets kept per connection for the narration and --records; the rest are counted.
MAX_PACKETS_KEPT = 4096
