"""Standard output through rich, for the commands that print text.

Its own module: ``cli.output``, which every command imports, does not import rich, and
`show --json` never needs this one.
"""

from __future__ import annotations

import sys
from typing import IO, Any, NoReturn, cast

from rich.console import Console

from tlslens.cli.output import OutputStream, closed_pipe


class PipedConsole(Console):
    """Standard output through rich that a closed pipe ends as ``closed_pipe`` does: rich
    catches the BrokenPipeError itself and would exit 1, which ``| head`` must not see.
    Any other failure to write is the output's (``OutputStream``)."""

    def __init__(self, **options: Any) -> None:
        # (A stand-in for the stream: rich reads any other attribute through to it. With
        # standard output closed from the start (>&-), rich writes nowhere, as it would.)
        stream = cast(IO[str], OutputStream(sys.stdout)) if sys.stdout is not None else None
        super().__init__(file=stream, **options)

    def on_broken_pipe(self) -> NoReturn:
        closed_pipe()
