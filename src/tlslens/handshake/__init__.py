"""Handshake messages and extensions: parsers over a ``Buffer`` (RFC 8446 §4, RFC 5246 §7.4)."""
