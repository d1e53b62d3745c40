"""Capture files: pcap and pcapng, plain or gzip-compressed, read as a stream."""

from tlslens.capture.reader import (
    CaptureProblem,
    CaptureReader,
    DecryptionSecrets,
    open_capture,
)

__all__ = ["CaptureProblem", "CaptureReader", "DecryptionSecrets", "open_capture"]
