"""How far a time is from a certificate's validity ends, in the words an expired or
not-yet-valid problem uses ("3 days", "5 hours"), and for how long those words hold: plain
arithmetic on times, without cryptography's X.509 (the checker asks it per connection)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

_DAY = 86400.0
_HOUR = 3600.0
# Seconds kept clear of each rounding edge: at the edge itself the float arithmetic of
# days_text may round either way, a millisecond away it cannot (its error is far smaller).
_MARGIN = 0.001
_EARLIEST = datetime.min.replace(tzinfo=UTC)
_LATEST = datetime.max.replace(tzinfo=UTC)


def days_text(delta_seconds: float) -> str:
    """A distance in time as the problems word it: whole days from two days on, else hours."""
    days = abs(delta_seconds) / 86400
    return f"{days:.0f} days" if days >= 2 else f"{days * 24:.0f} hours"


def distances(ends: Sequence[datetime], at: datetime) -> tuple[str, ...]:
    """How far ``at`` is from each validity end (the end a certificate is past, or the
    start it is before), as ``validity_problems`` words it: between two times that agree
    here and on which certificates are valid, its words are the same."""
    return tuple(days_text((at - end).total_seconds()) for end in ends)


def _same_words(distance: float) -> tuple[float, float]:
    """The distances (seconds, inclusive) that ``days_text`` words as it words
    ``distance``: the rounding step around it, short of a margin at each edge, on the same
    side of the two days where the unit changes. Empty (low above high) near an edge."""
    if distance >= 2 * _DAY:
        step, shown = _DAY, round(distance / _DAY)
        low, high = max(2 * _DAY, (shown - 0.5) * step + _MARGIN), (shown + 0.5) * step - _MARGIN
    else:
        step, shown = _HOUR, round(distance / _HOUR)
        low = max(0.0, (shown - 0.5) * step + _MARGIN)
        high = min(2 * _DAY - _MARGIN, (shown + 0.5) * step - _MARGIN)
    return low, high


def wording_window(ends: Sequence[datetime], at: datetime) -> tuple[datetime, datetime]:
    """A span of time around ``at`` (inclusive) in which ``distances(ends, ·)`` is what it
    is at ``at``, so that a verdict worded at ``at`` is worded alike for any time inside it
    without a word recomputed. It may be empty (start after end) when ``at`` sits at a
    rounding edge: the caller words that time anew."""
    start, end = _EARLIEST, _LATEST
    try:
        for lapsed in ends:
            low, high = _same_words(abs((at - lapsed).total_seconds()))
            if at >= lapsed:  # past the end: the distance grows with the time
                start, end = (
                    max(start, lapsed + timedelta(seconds=low)),
                    min(end, lapsed + timedelta(seconds=high)),
                )
            else:  # before the start: the distance shrinks as the time nears it
                start, end = (
                    max(start, lapsed - timedelta(seconds=high)),
                    min(end, lapsed - timedelta(seconds=low)),
                )
    except OverflowError:  # a time at the calendar's edge: no span, worded every time
        return _LATEST, _EARLIEST
    # Within a margin of an edge ``at`` itself may be worded as the next step: no span then.
    return (start, end) if start <= at <= end else (_LATEST, _EARLIEST)
