"""tlslens: see what really happens inside TLS.

>>> import tlslens
>>> for conn in tlslens.read_capture("capture.pcapng"):
...     print(conn.id, conn.sni, conn.cipher_suite)
"""

from tlslens.capture.tally import CaptureSummary
from tlslens.errors import CaptureError, DecodeError, TLSLensError
from tlslens.model import Connection, Endpoint, Finding, TimelineEvent
from tlslens.pipeline import Capture, read_capture
from tlslens.x509.certificate import CertificateInfo

__version__ = "0.1.0"

__all__ = [
    "Capture",
    "CaptureError",
    "CaptureSummary",
    "CertificateInfo",
    "Connection",
    "DecodeError",
    "Endpoint",
    "Finding",
    "TLSLensError",
    "TimelineEvent",
    "__version__",
    "read_capture",
]
