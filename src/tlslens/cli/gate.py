"""`--fail-on`: the exit status a pipeline can gate on (`show`, `certs`, `decrypt`).

Strategy: the commands print what they print whatever the gate says; the gate only
watches each connection shown and, once the run is over, names on stderr what it matched
and exits with GATE_EXIT. The default (no `--fail-on`) keeps the exit status at 0 for a
capture that could be read, whatever it holds.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from tlslens._text import plural
from tlslens.cli.output import Stderr
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
    """A comma-separated list of CONDITIONS' names, of those a command can judge."""

    def __init__(self, allowed: tuple[str, ...]) -> None:
        self.allowed = allowed
        self.name = ",".join(allowed)

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[str, ...]:
        if isinstance(value, tuple):
            return value
        # --help shows the choices as a metavar, in capitals: either case is taken.
        parts = (part.strip().lower() for part in str(value).split(","))
        names = tuple(dict.fromkeys(part for part in parts if part))
        unknown = [name for name in names if name not in self.allowed]
        if unknown or not names:
            said = ", ".join(unknown) or "nothing"
            if "untrusted" in unknown:
                said += " (this command checks no chain: show and certs do)"
            self.fail(f"{said}: choose from {', '.join(self.allowed)}", param, ctx)
        return names


def _fail_on(command: Callable[..., Any], allowed: tuple[str, ...]) -> Callable[..., Any]:
    help_text = (
        "Exit with status 4 when a connection shown matches one of these (comma-separated): "
        + "; ".join(f"{name}: {CONDITIONS[name][1]}" for name in allowed)
        + ". The output is the same; what matched is said on stderr."
    )
    return click.option("--fail-on", "fail_on", type=Conditions(allowed), help=help_text)(command)


def fail_on_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """--fail-on for a command that checks each shown connection's chain (show, certs)."""
    return _fail_on(command, tuple(CONDITIONS))


def fail_on_option_without_chains(command: Callable[..., Any]) -> Callable[..., Any]:
    """--fail-on for a command that checks no chain (decrypt): "untrusted" could never
    match there, so it is refused rather than passed in silence."""
    return _fail_on(command, tuple(name for name in CONDITIONS if name != "untrusted"))


MAX_NAMED = 10  # connections named per condition on stderr; the rest are counted


def _numbers(ids: list[int]) -> str:
    named = ", ".join(f"#{conn_id}" for conn_id in ids[:MAX_NAMED])
    return named + (f" and {len(ids) - MAX_NAMED} more" if len(ids) > MAX_NAMED else "")


class Gate:
    """Watches the connections shown; ``close`` exits with GATE_EXIT if any matched."""

    def __init__(self, names: tuple[str, ...] | None) -> None:
        self.names = names or ()
        self.matched: dict[str, list[int]] = {}
        self.connections = 0
        self.unjudged: list[int] = []  # "untrusted" asked, but no chain was seen to judge

    def check(self, conn: Connection) -> None:
        hits = [name for name in self.names if CONDITIONS[name][0](conn)]
        for name in hits:
            self.matched.setdefault(name, []).append(conn.id)
        self.connections += bool(hits)
        # A TLS 1.3 chain travels encrypted: without the secrets there is none to judge (a
        # resumed session has no chain at all, and is not counted).
        if "untrusted" in self.names and conn.validation is None:
            if conn.tls13 and conn.resumed is None:
                self.unjudged.append(conn.id)

    def close(self, err: Stderr) -> None:
        """Say what matched and exit with GATE_EXIT; nothing when nothing matched. A chain
        that could not be judged (TLS 1.3 without a key log) is said, not counted."""
        if self.unjudged:
            err.say(
                f"--fail-on untrusted: no chain seen to judge in "
                f"{plural(len(self.unjudged), 'connection')} ({_numbers(self.unjudged)}): "
                "TLS 1.3 encrypts it and no secret given opened it (--keylog)",
                "yellow",
            )
        if not self.connections:
            return
        what = "; ".join(f"{name}: {_numbers(ids)}" for name, ids in self.matched.items())
        err.say(f"--fail-on: {plural(self.connections, 'connection')} matched ({what})", "yellow")
        sys.exit(GATE_EXIT)


__all__ = ["CONDITIONS", "GATE_EXIT", "Gate", "fail_on_option", "fail_on_option_without_chains"]
