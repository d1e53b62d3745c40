"""Standard output through rich, for the commands that print text.

Its own module: ``cli.output``, which every command imports, does not import rich, and
`show --json` never needs this one.
"""

from __future__ import annotations

from typing import NoReturn

from rich.console import Console

from tlslens.cli.output import closed_pipe


class PipedConsole(Console):
    """Standard output through rich that a closed pipe ends as ``closed_pipe`` does: rich
    catches the BrokenPipeError itself and would exit 1, which ``| head`` must not see."""

    def on_broken_pipe(self) -> NoReturn:
        closed_pipe()
