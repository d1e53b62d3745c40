"""`--fail-on`: the exit status a pipeline can gate on (`show`, `certs`, `decrypt`).

Strategy: the commands print what they print whatever the gate says; the gate only
watches each connection shown and, once the run is over, names on stderr what it matched
and exits with GATE_EXIT. The default (no `--fail-on`) keeps the exit status at 0 for a
capture that could be read, whatever it holds.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable
from typing import Any

import click
from rich.console import Console
from rich.text import Text

from tlslens._text import plural
from tlslens.model import Connection
from tlslens.outcome import outcome_of
from tlslens.tls.deprecated import DEPRECATED_VERSION

# 1 is "nothing could be read / nothing matched the filters", 2 bad usage, 3 connect's
# "completed but not trusted": a tripped gate has its own status.
GATE_EXIT = 4


def _failed(conn: Connection) -> bool:
    return outcome_of(conn).status == "failed"


def _untrusted(conn: Connection) -> bool:
    validation = conn.validation
    return validation is not None and not validation.trusted


def _deprecated(conn: Connection) -> bool:
    return any(problem.code == DEPRECATED_VERSION for problem in conn.problems)


def _problem(conn: Connection) -> bool:
    return bool(conn.problems)


CONDITIONS: dict[str, tuple[Callable[[Connection], bool], str]] = {
    "failed": (_failed, "the handshake failed (a fatal alert, or a close or reset before its end)"),
    "untrusted": (_untrusted, "the server's chain is not trusted"),
    "deprecated": (_deprecated, "a deprecated protocol version was negotiated (RFC 8996)"),
    "problem": (_problem, "anything malformed or missing was found in the connection"),
}


class Conditions(click.ParamType):  # type: ignore[type-arg]
    """A comma-separated list of CONDITIONS' names."""

    name = ",".join(CONDITIONS)

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[str, ...]:
        if isinstance(value, tuple):
            return value
        names = tuple(dict.fromkeys(part.strip() for part in str(value).split(",") if part))
        unknown = [name for name in names if name not in CONDITIONS]
        if unknown or not names:
            self.fail(
                f"{', '.join(unknown) or 'nothing'}: choose from {', '.join(CONDITIONS)}",
                param,
                ctx,
            )
        return names


def fail_on_option(command: Callable[..., Any]) -> Callable[..., Any]:
    help_text = (
        "Exit with status 4 when a connection shown matches one of these (comma-separated): "
        + "; ".join(f"{name}: {words}" for name, (_test, words) in CONDITIONS.items())
        + ". The output is the same; what matched is said on stderr."
    )
    return click.option("--fail-on", "fail_on", type=Conditions(), help=help_text)(command)


class Gate:
    """Watches the connections shown; ``close`` exits with GATE_EXIT if any matched."""

    def __init__(self, names: tuple[str, ...] | None) -> None:
        self.names = names or ()
        self.matched: Counter[str] = Counter()
        self.connections = 0

    def check(self, conn: Connection) -> None:
        hits = [name for name in self.names if CONDITIONS[name][0](conn)]
        self.matched.update(hits)
        self.connections += bool(hits)

    def close(self, err: Console) -> None:
        """Say what matched and exit with GATE_EXIT; nothing when nothing matched."""
        if not self.connections:
            return
        what = ", ".join(f"{name}: {count}" for name, count in self.matched.items())
        err.print(
            Text(
                f"--fail-on: {plural(self.connections, 'connection')} matched ({what})",
                style="yellow",
            )
        )
        sys.exit(GATE_EXIT)


__all__ = ["CONDITIONS", "GATE_EXIT", "Gate", "fail_on_option"]
