"""`tlslens show`: every connection narrated, or one JSON object per connection."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from tlslens import registry, stops
from tlslens._text import plural, safe_text
from tlslens.capture.tally import CaptureSummary
from tlslens.cli.gate import Gate, fail_on_option
from tlslens.cli.options import (
    ServerFilter,
    capture_limits,
    chain_checker,
    judging,
    key_store,
    limit_options,
    secret_options,
    trust_options,
)
from tlslens.cli.output import (
    Stderr,
    exit_if_nothing_matched,
    judged,
    label_grid,
    print_heading,
    problem_line,
    say_note,
    say_unreadable,
    write_line,
    write_lines,
)
from tlslens.errors import CaptureError, OutputError
from tlslens.judge import ClosingNotes, Reading, Selection
from tlslens.model import C2S, Connection
from tlslens.outcome import outcome_of
from tlslens.registry import cipher_suite_label
from tlslens.serialize import connection_line_bytes

if TYPE_CHECKING:
    from collections.abc import Callable

    from rich.console import Console
    from rich.text import Text

    from tlslens.explain import Step

_TONE_STYLE = {"normal": "", "encrypted": "dim", "warning": "yellow", "error": "bold red"}


@click.command()
@click.argument(
    "captures",
    nargs=-1,
    required=True,
    # A directory is said as a file that is not there is (exit 1), not refused as usage.
    type=click.Path(allow_dash=True, path_type=Path),
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
@click.option(
    "--brief",
    is_flag=True,
    help="One line per connection: client, server, SNI, version, suite, verdict, outcome, "
    "problems.",
)
@click.option(
    "--records",
    is_flag=True,
    help="Also list every record: its sub-protocol, record version and length (QUIC: each "
    "datagram, its packets and their frames).",
)
@click.option(
    "--ladder",
    is_flag=True,
    help="Draw each connection as a ladder: an arrow per record and per message inside it "
    "(QUIC: per datagram and per packet inside it).",
)
@click.option("--no-color", is_flag=True, help="No colours, and plain characters for --ladder.")
@trust_options
@limit_options
@fail_on_option
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
    brief: bool,
    records: bool,
    ladder: bool,
    no_color: bool,
    trust_store: str,
    cas: tuple[Path, ...],
    host: str | None,
    client_cas: tuple[Path, ...],
    revocation: str,
    at_text: str | None,
    fail_on: tuple[str, ...] | None,
) -> None:
    """Narrate every TLS connection in CAPTURES (pcap or pcapng, optionally .gz; - reads
    standard input as it arrives, e.g. tcpdump -w - | tlslens show -).

    With --keylog (or SSLKEYLOGFILE), --rsa-key or --psk, the connections are
    decrypted and the key derivation is shown step by step.
    """
    # JSON Lines are written as they are: rich is imported for the text only.
    out = None if as_json else _stdout(no_color)
    err = Stderr(no_color)
    keys = key_store(keylogs, rsa_keys, psk, err)
    limits = capture_limits()
    judge = judging(chain_checker(trust_store, cas, host, at_text, err, client_cas), revocation)
    selection = Selection(number, server, sni)
    gate = Gate(fail_on)

    write_json = _json_lines() if as_json else None

    def draw(conn: Connection) -> None:
        if write_json is not None:
            try:
                write_json(connection_line_bytes(conn, reveal_keys=reveal_keys))
            except BrokenPipeError:
                raise
            except OSError as exc:  # the output's, not the capture's (a full disk...)
                raise OutputError(exc) from exc
            return
        assert out is not None  # not JSON: the text's console
        if brief:
            _render_brief(out, conn)
        elif ladder:
            from tlslens.cli.drawing import render_ladder  # the ladder's modules, for it only

            print_heading(out, conn)
            render_ladder(out, conn, plain=no_color)
            for finding in conn.problems:
                _print_line(out, problem_line(conn.file, conn.id, finding), "yellow")
        else:
            render_connection(out, conn, reveal_keys)

    readable = shown_in_all = 0
    for path in captures:
        reading = Reading(
            path,
            judge,
            keys=keys,
            selection=selection,
            records=records or ladder,
            limits=limits,
            savings=True,  # said after the connections, in the text and on stderr with JSON
        )
        try:
            for conn in judged(reading, err):
                gate.check(conn)
                draw(conn)
            notes = reading.notes()
            if out is not None:
                for line in notes.forward_secrecy:
                    _print_line(out, line)
        except BrokenPipeError:
            raise
        except (CaptureError, OSError) as exc:
            say_unreadable(err, path, exc)
            continue
        readable += 1
        _say_notes(out, err, path, notes)
        if out is not None:
            _render_summary(out, reading.summary, notes.shown)
        shown_in_all += notes.shown
    if readable == 0:
        sys.exit(1)
    exit_if_nothing_matched(err, shown_in_all, selection)
    gate.close(err)
    # A capture given that could not be read fails the run, the others shown (as extract
    # does): a missing file must not pass for one read without a problem.
    if readable < len(captures):
        sys.exit(1)


def _json_lines() -> Callable[[bytes], object]:
    """Where JSON Lines go: standard output's binary stream, the lines as the core wrote them
    (ASCII), after what its text layer holds; a text-only stdout (an embedding's) gets
    them as text."""
    binary = getattr(sys.stdout, "buffer", None)
    if binary is None:
        return lambda line: sys.stdout.write(line.decode("ascii"))
    sys.stdout.flush()
    write: Callable[[bytes], object] = binary.write
    return write


def _stdout(no_color: bool) -> Console:
    from tlslens.cli.terminal import PipedConsole

    return PipedConsole(highlight=False, soft_wrap=True, no_color=no_color or None)


def _print_line(out: Console, line: str, style: str = "") -> None:
    """One line to the text's Console, as it is (never markup); the caller made it safe."""
    from rich.text import Text

    out.print(Text(line, style=style))


def _say_notes(out: Console | None, err: Stderr, path: Path, notes: ClosingNotes) -> None:
    """A capture's closing notes, in the order `show` has always said them: with the text on
    standard output, with JSON Lines (one object per connection) on stderr."""
    say = err.say if out is None else lambda line, style="": _print_line(out, line, style)
    for finding in notes.problems:
        err.say(problem_line(str(path), None, finding), "yellow")
    for line in notes.late_intermediates:
        say(f"{safe_text(str(path))}: {line}", "yellow")
    say_note(err, path, notes.no_such_connection)
    say_note(err, path, notes.key_log_unmatched)
    for line in notes.resumption_savings:
        say(line)


def render_connection(out: Console, conn: Connection, reveal_keys: bool = False) -> None:
    """A connection narrated: facts, steps, records and problems."""
    # The narration's modules, imported by the text only: JSON does without them.
    from tlslens.explain import explain, record_lines, summary_lines

    print_heading(out, conn)
    facts = summary_lines(conn)
    steps = explain(conn, reveal_keys=reveal_keys)
    if not out.is_terminal:
        _render_plain(out, conn, facts, steps)
        return
    from rich.table import Table  # a terminal's tables only: not imported for a file or pipe

    out.print(label_grid(facts))
    out.print()
    table = Table.grid(padding=(0, 1))
    table.add_column(justify="right", style="dim")  # frame
    table.add_column(style="dim")  # time
    table.add_column()  # direction
    table.add_column(ratio=1, overflow="fold")  # a long hex value folds, it is never cut
    for step in steps:
        table.add_row(*_step_cells(step))
    out.print(table)
    if conn.records is not None:
        for line in record_lines(conn):
            _print_line(out, safe_text(line), "dim" if line.startswith("  #") else "")
    for finding in conn.problems:
        _print_line(out, "  ⚠ " + problem_line(conn.file, conn.id, finding), "yellow")
    out.print()


def _render_brief(out: Console, conn: Connection) -> None:
    """One line: who, which name, what was negotiated, whether a client would trust it."""
    from tlslens.explain import carried_over, decryption_status  # as render_connection's

    version = registry.version_name(conn.version) if conn.version is not None else "no version"
    carrier = carried_over(conn)
    if carrier:
        version += f" {carrier}"
    suite = cipher_suite_label(conn.cipher_suite) if conn.cipher_suite else "no suite"
    validation = conn.validation
    if validation is None:
        # Sent but not read (a bound, a loss of the capture): said apart from none seen.
        verdict = "no chain seen" if conn.chain_unread() is None else "chain not read"
    else:
        codes = ",".join(dict.fromkeys(p.code for p in validation.problems))
        verdict = ("trusted" if validation.trusted else "NOT trusted") + (
            f" ({codes})" if codes else ""
        )
    named = ",".join(dict.fromkeys(p.code for p in conn.problems if p.code))
    outcome = outcome_of(conn).brief
    if conn.stopped is not None:
        outcome += f"; {stops.brief(conn.stopped)}"
    line = (
        f"#{conn.id} {conn.client} → {conn.server} {safe_text(conn.sni or '-')} {version} "
        f"{suite} {verdict}; {outcome}; {plural(len(conn.problems), 'problem')}"
        + (f" ({named})" if named else "")
    )
    decryption = decryption_status(conn)
    if decryption is not None:  # secrets were given
        line += f"; {decryption}"
    if out.is_terminal:
        _print_line(out, line)
    else:
        write_line(out, line)


def _render_plain(
    out: Console, conn: Connection, facts: list[tuple[str, str]], steps: list[Step]
) -> None:
    """The same narration for a file or a pipe: whole lines, aligned, nothing cut or padded."""
    from tlslens.explain import record_lines  # as render_connection's

    width = max((len(label) for label, _ in facts), default=0) + 2
    lines = [f"{label:<{width}}{safe_text(value)}" for label, value in facts]
    lines.append("")
    for step in steps:
        prefix = f"{'#' + str(step.frame):>7} {step.time[11:23] if step.time else '':12} "
        prefix += f"{_ARROWS.get(step.direction, ''):5} "
        lines.append(prefix + safe_text(step.title))
        indent = " " * len(prefix)
        lines.extend(indent + safe_text(line) for line in step.lines if line)
    if conn.records is not None:
        lines.extend(safe_text(line) for line in record_lines(conn))
    lines.extend("  ⚠ " + problem_line(conn.file, conn.id, finding) for finding in conn.problems)
    lines.append("")
    write_lines(out, lines)


_ARROWS = {"c2s": "C → S", "s2c": "C ← S"}


def _step_cells(step: Step) -> tuple[Text, Text, Text, Text]:
    from rich.text import Text  # a terminal's narration only

    style = _TONE_STYLE.get(step.tone, "")
    body = Text(safe_text(step.title), style=("bold " + style).strip())
    for line in step.lines:
        if line:
            body.append("\n" + safe_text(line), style=style or None)
    frame = Text(f"#{step.frame}")
    timestamp = Text(step.time[11:23] if step.time else "")
    direction = Text(
        _ARROWS.get(step.direction, ""), style="green" if step.direction == C2S else "magenta"
    )
    return frame, timestamp, direction, body


# What one UDP association of each kind is called: a DTLS association is one session; a
# QUIC connection may move between 4-tuples (migration), and each 4-tuple is one flow.
_UDP_NOUNS = {"DTLS": "DTLS association", "QUIC": "QUIC flow"}
_UDP_DISSECTED = frozenset(("DTLS", "QUIC"))  # kinds whose connections are shown


def _udp_flows_text(udp_flows: dict[str, int]) -> str:
    """ "6 DTLS associations and 9 QUIC flows", by kind in name order."""
    parts = [
        plural(count, _UDP_NOUNS[kind]) + ("" if kind in _UDP_DISSECTED else " not yet dissected")
        for kind, count in sorted(udp_flows.items())
    ]
    return " and ".join(parts)


def _render_summary(out: Console, summary: CaptureSummary, shown: int) -> None:
    skipped = ", ".join(
        f"{count} {reason.replace('_', ' ')}" for reason, count in sorted(summary.skipped.items())
    )
    text = (
        f"{safe_text(summary.file)}: {summary.format}, {plural(summary.frames, 'frame')} "
        f"({', '.join(summary.linktypes) or 'no packets'}), "
        f"{plural(summary.tcp_flows, 'TCP connection')}"
    )
    if summary.udp_flows:
        # The TLS count is over every transport: said after the UDP flows too, it does not
        # read as "0 TCP connections, 7 with TLS".
        text += f" and {_udp_flows_text(summary.udp_flows)}"
    text += f", {summary.tls_connections} with TLS, {shown} shown"
    if skipped:
        text += f"; frames with nothing to read (no TCP, QUIC or DTLS payload): {skipped}"
    # The file's own problems (the reader's, at a byte offset: a block cut or corrupt) are
    # said here too, not on stderr alone: a capture cut short must not read as a short one.
    for problem in summary.problems:
        if problem.layer == "capture" and problem.offset is not None:
            frame = "" if problem.frame is None else f", frame {problem.frame}"
            text += f"; {safe_text(problem.message)} (byte offset {problem.offset}{frame})"
    _print_line(out, text, "dim")
