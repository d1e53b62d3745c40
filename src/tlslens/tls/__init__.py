"""The TLS layer of one connection: record layer, handshake reassembly, the session."""
