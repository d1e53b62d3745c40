"""The command line: the only package that prints or exits.

Every string that came from a capture goes through ``safe_text`` and into
``rich.text.Text`` objects (never markup), so a hostile certificate subject or
SNI cannot move the cursor, recolour the screen or inject markup.
"""

from __future__ import annotations

import os
import sys

import click

from tlslens import __version__
from tlslens._text import safe_text
from tlslens.cli.audit import scan
from tlslens.cli.certs import certs
from tlslens.cli.lab import pki
from tlslens.cli.output import closed_pipe
from tlslens.cli.plaintext import decrypt
from tlslens.cli.remote import connect
from tlslens.cli.show import show


class _Main(click.Group):
    """The group of commands; a reader that goes away (``| head``) ends the run quietly."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            closed_pipe()


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tlslens")
def main() -> None:
    """tlslens: see what really happens inside TLS, step by step, from the real bytes."""


for _command in (show, connect, scan, decrypt, certs, pki):
    main.add_command(_command)


def run() -> None:  # pragma: no cover - console entry point for `python -m tlslens`
    try:
        main(standalone_mode=True)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # a bug: one line for the user, the traceback on request
        if os.environ.get("TLSLENS_DEBUG"):
            raise
        print(
            f"tlslens: internal error: {type(exc).__name__}: {safe_text(str(exc))} "
            "(a bug; set TLSLENS_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        sys.exit(2)
