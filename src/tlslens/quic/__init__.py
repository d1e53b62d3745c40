"""QUIC connections (RFC 9000/9001) told through the TLS ``Connection`` model: the core
reads datagrams, packets and frames (``tlslens._core.QuicEvents``); ``route`` gives each
connection its events, ``assembly`` turns them into the model, ``details`` holds what only
QUIC has (packets, frames, Retry, migration, the close)."""
