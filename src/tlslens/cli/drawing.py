"""`show --ladder`: the ladder of explain/ladder.py drawn in the terminal.

Box-drawing characters and colours on a terminal; plain ASCII (``|``, ``-``, ``.``,
``>``) with ``--no-color``, in a pipe or in a file, where nothing is cut: a label longer
than the space between the two lines widens the picture instead.
"""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from tlslens._text import safe_text
from tlslens.explain.ladder import Arrow, ladder
from tlslens.model import C2S, Connection

WIDTH = 56  # between the two lifelines
_TONES = {
    "handshake": "blue",
    "ccs": "magenta",
    "alert": "bold red",
    "data": "green",
    "encrypted": "dim",
    "heartbeat": "yellow",
    "gap": "yellow",
    "notice": "yellow",  # QUIC: Retry, Version Negotiation, migration, key update
}


def _arrow_text(arrow: Arrow, fancy: bool, width: int) -> str:
    label = safe_text(arrow.label) + (f" (x{arrow.count})" if arrow.count > 1 else "")
    if fancy:
        line = "┄" if arrow.kind != "record" else "─"
        left, right = ("", "▶") if arrow.direction == C2S else ("◀", "")
    else:
        line = "." if arrow.kind != "record" else "-"
        left, right = ("", ">") if arrow.direction == C2S else ("<", "")
    inset = 2 if arrow.kind == "message" else 0
    room = width - len(label) - 2 - len(left) - len(right) - inset
    before = room // 2
    after = room - before
    body = f"{left}{line * before} {label} {line * after}{right}"
    pad = " " * inset
    return pad + body if arrow.direction == C2S else body + pad


def render_ladder(out: Console, conn: Connection, *, plain: bool) -> None:
    """The connection as a ladder: one line per record and per message inside it."""
    arrows = ladder(conn)
    fancy = not plain and out.is_terminal
    bar = "│" if fancy else "|"
    width = max([WIDTH, *(len(safe_text(a.label)) + 16 for a in arrows)])
    gutter = 20
    # Each name centred over its line (the left one at column ``gutter``).
    title = " " * (gutter - 3) + "Client" + " " * (width - 5) + "Server"
    out.print(Text(title, style="bold" if fancy else ""))
    flight = 0
    for arrow in arrows:
        if arrow.flight != flight and flight:
            out.print(Text(" " * gutter + bar + " " * width + bar))
        flight = arrow.flight
        when = f"#{arrow.frame} +{arrow.ms:.3f} ms"
        line = Text(f"{when:<{gutter}}")
        line.append(bar)
        style = _TONES.get(arrow.tone, "") if fancy else ""
        line.append(_arrow_text(arrow, fancy, width), style=style)
        line.append(bar)
        out.print(line)
