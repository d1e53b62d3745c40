"""What ``cryptography`` raises on attacker bytes, apart from the module that words it
(``wording``): naming these classes imports ``cryptography.x509``, which a capture with no
certificate in the clear never needs (a third of start-up)."""

from __future__ import annotations

from cryptography import x509

# What cryptography raises on attacker bytes besides ValueError: a field decoded lazily, on
# first access (a name constraint that is no network: TypeError; the same extension twice; a
# general name of a kind it does not know), or a version field it does not know at loading.
DECODE_ERRORS: tuple[type[Exception], ...] = (
    ValueError,
    TypeError,
    x509.DuplicateExtension,
    x509.UnsupportedGeneralNameType,
    x509.InvalidVersion,  # at loading: a version field other than v1-v3
)
# An extension that is absent, or present and unreadable.
EXTENSION_ERRORS: tuple[type[Exception], ...] = (x509.ExtensionNotFound, *DECODE_ERRORS)
