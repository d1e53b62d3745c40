"""`tlslens show`: every connection narrated, or one JSON object per connection."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from tlslens._text import safe_text
from tlslens.cli.options import (
    ServerFilter,
    chain_checker,
    check_chain,
    key_store,
    matches,
    secret_options,
    trust_options,
)
from tlslens.cli.output import Connections, connection_rule, problem_line, unreadable
from tlslens.errors import CaptureError
from tlslens.explain import (
    ForwardSecrecyTally,
    Step,
    explain,
    late_intermediate_lines,
    summary_lines,
)
from tlslens.model import C2S, Connection
from tlslens.net.revocation import RevocationChecker
from tlslens.pipeline import CaptureSummary
from tlslens.serialize import connection_to_json

_TONE_STYLE = {"normal": "", "encrypted": "dim", "warning": "yellow", "error": "bold red"}


@click.command()
@click.argument(
    "captures", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path)
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="JSON Lines, one object per connection (schema: connection.schema.json).",
)
@click.option(
    "--connection", "number", type=int, help="Only connection N (the numbers `show` prints)."
)
@click.option(
    "--server", type=ServerFilter(), help="Only connections to HOST (IP or SNI) and/or PORT."
)
@click.option("--sni", help="Only connections whose SNI matches NAME (shell wildcards allowed).")
@secret_options
@click.option(
    "--reveal-keys",
    is_flag=True,
    help="Show derived secrets and keys in full (default: truncated).",
)
@trust_options
def show(
    captures: tuple[Path, ...],
    as_json: bool,
    number: int | None,
    server: tuple[str, int | None] | None,
    sni: str | None,
    keylogs: tuple[Path, ...],
    rsa_keys: tuple[str, ...],
    psk: str | None,
    reveal_keys: bool,
    trust_store: str,
    cas: tuple[Path, ...],
    host: str | None,
    revocation: str,
    at_text: str | None,
) -> None:
    """Narrate every TLS connection in CAPTURES (pcap or pcapng, optionally .gz).

    With --keylog (or SSLKEYLOGFILE), --rsa-key or --psk, the connections are
    decrypted and the key derivation is shown step by step.
    """
    out = Console(highlight=False, soft_wrap=False)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    keys = key_store(keylogs, rsa_keys, psk, err)
    checker = chain_checker(trust_store, cas, host, at_text, err)
    revoker = RevocationChecker() if revocation == "online" else None
    readable = 0
    for path in captures:
        try:
            connections = Connections(path, as_json, err, keys)
            shown = 0
            tally = ForwardSecrecyTally()
            chains = checker.fresh()  # "elsewhere in the capture" means this capture
            for conn in connections.iter():
                if not matches(conn, number, server, sni):
                    chains.observe([cert.der for cert in conn.certificates], conn.id)
                    continue
                shown += 1
                tally.add(conn)
                check_chain(chains, conn, revoker)
                if as_json:
                    sys.stdout.write(json.dumps(connection_to_json(conn), ensure_ascii=True) + "\n")
                else:
                    _render(out, conn, reveal_keys)
            summary = connections.summary
            if keys is not None and keys.rsa_keys and not as_json:
                for line in tally.lines():
                    out.print(Text(line))
        except (CaptureError, OSError) as exc:
            err.print(unreadable(path, exc))
            continue
        readable += 1
        for finding in summary.problems:
            err.print(Text(problem_line(str(path), None, finding), style="yellow"))
        for line in late_intermediate_lines(chains.late):
            # JSON Lines carry one object per connection: the note goes to stderr there.
            (err if as_json else out).print(Text(f"{safe_text(str(path))}: {line}", style="yellow"))
        if not as_json:
            _render_summary(out, summary, shown)
    if readable == 0:
        sys.exit(1)


def _render(out: Console, conn: Connection, reveal_keys: bool = False) -> None:
    out.print(connection_rule(conn))
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold cyan")
    facts.add_column()
    for label, value in summary_lines(conn):
        facts.add_row(label, Text(safe_text(value)))
    out.print(facts)
    out.print()
    steps = explain(conn, reveal_keys=reveal_keys)
    table = Table.grid(padding=(0, 1))
    table.add_column(justify="right", style="dim")  # frame
    table.add_column(style="dim")  # time
    table.add_column()  # direction
    table.add_column(ratio=1)
    start = conn.start_ts_ns
    for step in steps:
        table.add_row(*_step_cells(step, start, conn))
    out.print(table)
    for finding in conn.problems:
        out.print(Text("  ⚠ " + problem_line(conn.file, conn.id, finding), style="yellow"))
    out.print()


def _step_cells(step: Step, start_ns: int, conn: Connection) -> tuple[Text, Text, Text, Text]:
    arrow = {"c2s": "C → S", "s2c": "C ← S"}.get(step.direction, "")
    style = _TONE_STYLE.get(step.tone, "")
    body = Text(safe_text(step.title), style=("bold " + style).strip())
    for line in step.lines:
        if line:
            body.append("\n" + safe_text(line), style=style or None)
    frame = Text(f"#{step.frame}")
    timestamp = Text(step.time[11:23] if step.time else "")
    direction = Text(arrow, style="green" if step.direction == C2S else "magenta")
    return frame, timestamp, direction, body


def _render_summary(out: Console, summary: CaptureSummary, shown: int) -> None:
    skipped = ", ".join(
        f"{count} {reason.replace('_', ' ')}" for reason, count in sorted(summary.skipped.items())
    )
    text = (
        f"{safe_text(summary.file)}: {summary.format}, {summary.frames} frames "
        f"({', '.join(summary.linktypes) or 'no packets'}), {summary.tcp_flows} TCP connections, "
        f"{summary.tls_connections} with TLS, {shown} shown"
    )
    if skipped:
        text += f"; frames without TCP payload for us: {skipped}"
    out.print(Text(text, style="dim"))
