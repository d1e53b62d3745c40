"""Protocol versions the IETF has retired, and why, in one wording for `show` and `scan`.

RFC 6176 prohibits SSL 2.0, RFC 7568 deprecates SSL 3.0 and RFC 8996 deprecates TLS 1.0
and TLS 1.1: a connection that negotiates one is named with the problem code
``deprecated_version``, and a server that accepts one is told so by `scan`.
"""

from __future__ import annotations

DEPRECATED_VERSION = "deprecated_version"

# Why each retired version matters to real clients (after "negotiated X: " or "accepts X: ").
WHY_DEPRECATED = {
    "SSL 2.0": "broken since 1996 (DROWN); no client needs it; disable it",
    "SSL 3.0": "broken by POODLE (2014); no current client needs it; disable it",
    "TLS 1.0": "only clients from before 2014 need it; deprecated by RFC 8996, "
    "and PCI DSS forbids it",
    "TLS 1.1": "no client needs it without also speaking TLS 1.2; deprecated by RFC 8996",
}

# The version numbers on the wire (SSL 2.0's is 0x0002, as `Connection.version` gives it).
_NAMES = {0x0002: "SSL 2.0", 0x0300: "SSL 3.0", 0x0301: "TLS 1.0", 0x0302: "TLS 1.1"}


def deprecation(version: int | None) -> str | None:
    """Why a connection that negotiated ``version`` uses a retired protocol, if it does."""
    name = _NAMES.get(version) if version is not None else None
    return None if name is None else f"negotiated {name}: {WHY_DEPRECATED[name]}"


__all__ = ["DEPRECATED_VERSION", "WHY_DEPRECATED", "deprecation"]
