"""Capture files: pcap and pcapng, plain or gzip-compressed, read as a stream."""

from tlslens.capture.reader import (
    CaptureProblem,
    CaptureReader,
    DecryptionSecrets,
    is_stdin,
    open_capture,
)

__all__ = ["CaptureProblem", "CaptureReader", "DecryptionSecrets", "is_stdin", "open_capture"]
