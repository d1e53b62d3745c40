"""The command line: the only package that prints or exits.

Every string that came from a capture goes through ``safe_text`` and into
``rich.text.Text`` objects (never markup), so a hostile certificate subject or
SNI cannot move the cursor, recolour the screen or inject markup.
"""

from __future__ import annotations

import importlib
import os
import sys

import click

from tlslens import __version__
from tlslens._text import safe_text

# Each command is imported when it runs: `scan` does not pay for pyOpenSSL, `show` not for
# the scanner (start-up time is part of every command's time).
_COMMANDS = {
    "show": "tlslens.cli.show:show",
    "connect": "tlslens.cli.remote:connect",
    "scan": "tlslens.cli.audit:scan",
    "decrypt": "tlslens.cli.plaintext:decrypt",
    "certs": "tlslens.cli.certs:certs",
    "report": "tlslens.cli.picture:report",
    "extract": "tlslens.cli.harvest:extract",
    "pki": "tlslens.cli.lab:pki",
}


class _Main(click.Group):
    """The group of commands; a reader that goes away (``| head``) ends the run quietly."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = _COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, _, attr = target.partition(":")
        command = getattr(importlib.import_module(module), attr)
        assert isinstance(command, click.Command)
        return command

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            # Imported here: cli.output brings rich and the model, which --version and
            # --help do without.
            from tlslens.cli.output import closed_pipe

            closed_pipe()


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tlslens")
def main() -> None:
    """tlslens: see what really happens inside TLS, step by step, from the real bytes."""


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
