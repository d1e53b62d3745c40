"""tlslens: see what really happens inside TLS.

>>> import tlslens
>>> for conn in tlslens.read_capture("capture.pcapng"):
...     print(conn.id, conn.sni, conn.cipher_suite)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tlslens._lazy import lazy_names

if TYPE_CHECKING:
    from tlslens.capture.tally import CaptureSummary
    from tlslens.errors import CaptureError, DecodeError, TLSLensError
    from tlslens.events import TimelineEvent
    from tlslens.model import Connection, Endpoint, Finding
    from tlslens.pipeline import Capture, read_capture
    from tlslens.x509.certificate import CertificateInfo

__version__ = "0.1.0"

# Allocations between the cyclic collector's young-generation collections while a capture
# is read (pipeline.Capture), and for a whole command run (cli.app.run): the default 700
# walks the objects a command's start-up makes and keeps (modules, classes, the model's
# live sessions) every few events; they hold no reference cycles worth finding early.
GC_THRESHOLD = 100_000

# The public names, imported when first asked for (PEP 562): every command imports this
# package, and `tlslens --version` or `scan` must not pay for the capture pipeline, the
# model and cryptography's X.509 (a third of `show --json`'s start-up).
_LAZY = {
    "Capture": "tlslens.pipeline",
    "CaptureError": "tlslens.errors",
    "CaptureSummary": "tlslens.capture.tally",
    "CertificateInfo": "tlslens.x509.certificate",
    "Connection": "tlslens.model",
    "DecodeError": "tlslens.errors",
    "Endpoint": "tlslens.model",
    "Finding": "tlslens.model",
    "TLSLensError": "tlslens.errors",
    "TimelineEvent": "tlslens.events",
    "read_capture": "tlslens.pipeline",
}

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


__getattr__, __dir__ = lazy_names(__name__, _LAZY)
