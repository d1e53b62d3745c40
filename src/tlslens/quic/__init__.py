"""QUIC connections (RFC 9000/9001) told through the TLS ``Connection`` model: the core
reads datagrams, packets and frames (``tlslens._core.QuicEvents``); ``session`` turns a
connection's events into the model, ``model`` holds what only QUIC has."""
