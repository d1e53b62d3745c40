"""Text helpers: attacker-controlled text made safe for a terminal; counts and articles in
English ("1 byte", "2 bytes", "an ECPrivateKey"); times as the JSON contract writes them."""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime
from typing import Literal

# The bound that ended tlslens' wait for bytes beyond a hole (a gap's ``given_up``).
GiveUp = Literal["bytes", "segments"]

# C0 and C1 control characters (ESC, CSI, BEL, backspace...) and DEL; tabs become spaces.
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f]")
# Bidirectional overrides and isolates can reorder what a reader sees (CVE-2021-42574).
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")


def printable(data: bytes, *, lines: bool = True) -> str:
    """Bytes as text a reader can look at: printable ASCII and line ends (CRLF as a newline,
    as a stream's text is followed in Wireshark), dots for the rest. Without ``lines``, one
    character a byte, a line end a dot too (text shown beside its hex)."""
    if not lines:
        return "".join(chr(b) if 32 <= b < 127 else "." for b in data)
    data = data.replace(b"\r\n", b"\n")
    return "".join(chr(b) if 32 <= b < 127 or b == 10 else "." for b in data)


def safe_text(text: str) -> str:
    """Replace every control or bidi character with a visible placeholder (�)."""
    if text.isascii() and text.isprintable():
        # Printable ASCII (0x20-0x7e) holds neither kind: most of a narration's lines, and
        # two regex passes over each of them cost a narration a tenth of its time.
        return text
    text = text.replace("\t", " ")
    text = _CONTROL.sub("\ufffd", text)
    return _BIDI.sub("\ufffd", text)


def plural(count: int, noun: str, many: str | None = None) -> str:
    """``count`` and ``noun`` in agreement: "1 byte", "2 bytes", "0 bytes" (``many``: an
    irregular plural, such as "entries")."""
    return f"{count} {noun if count == 1 else many or noun + 's'}"


def gap_label(length: int, given_up: GiveUp | None) -> str:
    """A gap's short name: bytes the capture lacks, or (``given_up``: the bound that ended
    the wait, "bytes" or "segments") bytes tlslens stopped waiting for, which the capture
    may still bring later: not "missing from the capture" then."""
    if given_up is None:
        return f"{plural(length, 'byte')} missing from the capture"
    return f"{plural(length, 'byte')} given up on"


def gap_reason(given_up: GiveUp) -> str:
    """Why tlslens gave up on a gap's bytes, as a sentence's middle: "not yet captured when
    tlslens stopped waiting for them (the out-of-order data after them filled
    --max-buffer)"."""
    from tlslens import _core  # (the core's own words for the bound)

    reason = _core.give_up_reason(given_up)
    return f"not yet captured when tlslens stopped waiting for them ({reason})"


def late_text(length: int, given_up: GiveUp) -> str:
    """Bytes tlslens gave up on at a bound (``given_up``) came after all: what the finding
    at their frame says, and how to read them."""
    from tlslens import _core

    reason = _core.give_up_reason(given_up)
    remedy = "; raise --max-buffer to read them" if given_up == "bytes" else ""
    return (
        f"the {plural(length, 'byte')} given up on here came after all: the capture holds "
        f"them, but tlslens had stopped waiting for them ({reason}) and read on without "
        f"them{remedy}"
    )


# Initialisms read letter by letter whose first letter sounds like a vowel ("an RSA key",
# "an ECPrivateKey", "an X.509 certificate"), and words starting with a vowel letter that
# do not ("a UTF-8 string").
_VOWEL_SOUND = re.compile(r"(?:[aeio]|u(?![nst]?[aeiou])|[FHLMNRSX](?=[A-Z0-9.\-]))")


def size_text(size: int) -> str:
    """A byte count as the command line's sizes take it: "64 MiB", "1.5 GiB", "1,000,000
    bytes" when no unit says it exactly to a tenth."""
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        tenths = size * 10 / (1 << shift)
        if tenths >= 10 and tenths == int(tenths):
            return f"{tenths / 10:g} {unit}"
    return f"{size:,} byte{'' if size == 1 else 's'}"


def article(word: str) -> str:
    """``word`` after "a" or "an", by how it is spoken: "an ECPrivateKey", "a PEM file"."""
    return f"{'an' if _VOWEL_SOUND.match(word) or word[:1] in 'AEIO' else 'a'} {word}"


def ts_iso(ts_ns: int) -> str:
    """``2026-11-28T10:00:00.123456Z`` (no fraction when the microseconds are 0, as
    ``datetime.isoformat`` writes it)."""
    micro = (ts_ns % 1_000_000_000) // 1000
    second = _second_iso(ts_ns // 1_000_000_000)
    return f"{second}.{micro:06d}Z" if micro else second + "Z"


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def iso_time(value: datetime | None) -> str | None:
    """A time as the JSON contract writes it: ISO 8601 in UTC with a Z (``ts_iso``'s text:
    a time zone's ``isoformat`` asks it for its offset, three times the cost, and a chain's
    verdict is dated once per connection). A naive time is local, as ``astimezone`` reads it."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.astimezone(UTC)
    since = value - _EPOCH  # exact: whole days, seconds and microseconds
    micros = (since.days * 86_400 + since.seconds) * 1_000_000 + since.microseconds
    return ts_iso(micros * 1000)


@functools.lru_cache(maxsize=64)
def _second_iso(seconds: int) -> str:
    # A narration times every step, and a connection's steps share their second: building
    # a datetime for each cost as much as writing the line.
    return datetime.fromtimestamp(seconds, tz=UTC).isoformat().removesuffix("+00:00")
