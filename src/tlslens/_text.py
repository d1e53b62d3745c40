"""Text helpers: attacker-controlled text made safe for a terminal; counts and articles in
English ("1 byte", "2 bytes", "an ECPrivateKey")."""

from __future__ import annotations

import re

# C0 and C1 control characters (ESC, CSI, BEL, backspace...) and DEL; tabs become spaces.
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f]")
# Bidirectional overrides and isolates can reorder what a reader sees (CVE-2021-42574).
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")


def printable(data: bytes) -> str:
    """Bytes as text a reader can look at: printable ASCII and newlines, dots for the rest."""
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


# Initialisms read letter by letter whose first letter sounds like a vowel ("an RSA key",
# "an ECPrivateKey", "an X.509 certificate"), and words starting with a vowel letter that
# do not ("a UTF-8 string").
_VOWEL_SOUND = re.compile(r"(?:[aeio]|u(?![nst]?[aeiou])|[FHLMNRSX](?=[A-Z0-9.\-]))")


def article(word: str) -> str:
    """``word`` after "a" or "an", by how it is spoken: "an ECPrivateKey", "a PEM file"."""
    return f"{'an' if _VOWEL_SOUND.match(word) or word[:1] in 'AEIO' else 'a'} {word}"
