"""`tlslens report`: one self-contained HTML page for captures or a live connection."""

from __future__ import annotations

import io
import os
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import click
from rich.console import Console
from rich.text import Text

from tlslens._text import plural, safe_text
from tlslens.cli.options import (
    ServerFilter,
    Target,
    capture_limits,
    chain_checker,
    check_chain,
    is_address,
    key_store,
    limit_options,
    matches,
    secret_options,
    trust_options,
)
from tlslens.cli.output import (
    Connections,
    exit_if_nothing_matched,
    say_if_no_such_connection,
    unreadable,
)
from tlslens.errors import CaptureError
from tlslens.net.revocation import RevocationChecker
from tlslens.net.starttls import PROTOCOLS
from tlslens.pipeline import CaptureSummary, read_capture
from tlslens.report.data import report_rows
from tlslens.report.page import ReportBuilder

FIRST_BYTES = 512  # of each direction's plaintext, shown as the proof of decryption


class _FirstBytes:
    """A plaintext sink that keeps the first FIRST_BYTES of each connection's directions."""

    def __init__(self) -> None:
        self.kept: dict[int, dict[str, bytearray]] = {}

    def write(self, stream: int, direction: str, data: bytes) -> None:
        sides = self.kept.setdefault(stream, {})
        held = sides.setdefault(direction, bytearray())
        if len(held) < FIRST_BYTES:
            held += data[: FIRST_BYTES - len(held)]

    def take(self, stream: int) -> dict[str, bytes]:
        return {d: bytes(b) for d, b in sorted(self.kept.pop(stream, {}).items())}


@click.command()
@click.argument("captures", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The HTML file to write (one self-contained page).",
)
@click.option(
    "--connect",
    "target",
    type=Target(),
    metavar="HOST[:PORT]",
    help="Report one live connection to HOST (as `tlslens connect` makes it) instead of captures.",
)
@click.option(
    "--starttls",
    type=click.Choice([*PROTOCOLS, "none"]),
    help="With --connect: upgrade a plaintext protocol first (default: by well-known port).",
)
@click.option(
    "--timeout", "timeout_s", type=float, default=10.0, show_default=True,
    help="With --connect: seconds for the whole attempt.",
)  # fmt: skip
@click.option(
    "--connection", "number", type=int, help="Only connection N (the numbers `show` prints)."
)
@click.option(
    "--server", type=ServerFilter(), help="Only connections to HOST (IP or SNI) and/or PORT."
)
@click.option(
    "--sni",
    help="Captures: only connections whose SNI matches NAME (wildcards allowed); "
    "--connect: the server name to send.",
)
@secret_options
@click.option("--reveal-keys", is_flag=True, help="Show derived secrets and keys in full.")
@trust_options
@limit_options
def report(
    captures: tuple[Path, ...],
    output: Path,
    target: tuple[str, int | None] | None,
    starttls: str | None,
    timeout_s: float,
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
    client_cas: tuple[Path, ...],
    revocation: str,
    at_text: str | None,
) -> None:
    """Write CAPTURES (or one live connection, --connect) as one HTML page: every
    connection in a table, and for each the handshake ladder with every byte explained,
    the chain of trust and the key derivation. The page loads nothing: it opens offline.
    """
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    if bool(captures) == (target is not None):
        raise click.UsageError("give CAPTURES or --connect HOST[:PORT], one of the two")
    folder = output.parent if str(output.parent) else Path(".")
    if not folder.is_dir() or not os.access(folder, os.W_OK):
        # Said before the work, not after it.
        raise click.BadParameter(
            f"{safe_text(str(output))}: cannot write in {safe_text(str(folder))}",
            param_hint="--output",
        )
    keys = key_store(keylogs, rsa_keys, psk, err)
    revoker = RevocationChecker(now=datetime.now(UTC)) if revocation == "online" else None
    made = datetime.now(UTC)
    if target is not None:
        name, port = target
        checker = chain_checker(trust_store, cas, host or sni or name, at_text, err, client_cas)
        label, capture = _live(err, name, port or 443, sni, starttls, timeout_s)
        builder = ReportBuilder(label, [label], made)
        first = _FirstBytes()
        reading = read_capture(
            label, stream=io.BytesIO(capture), keys=keys, records=True, plaintext_sink=first.write
        )
        for conn in reading:
            check_chain(checker.fresh(), conn, revoker)
            builder.add(*report_rows(conn, reveal_keys, first.take(conn.tcp_stream)))
        if not builder.rows:
            builder.notes.append(
                "No TLS was seen on this connection: `tlslens connect` says what happened."
            )
    else:
        checker = chain_checker(trust_store, cas, host, at_text, err, client_cas)
        names = ", ".join(p.name for p in captures)
        builder = ReportBuilder(names, [str(p) for p in captures], made)
        limits = capture_limits()
        readable = 0
        summaries: list[tuple[Path, CaptureSummary]] = []
        for path in captures:
            first = _FirstBytes()
            connections = Connections(
                path, err, keys, sink=first.write, records=True, limits=limits
            )
            chains = checker.fresh()
            try:
                for conn in connections.iter():
                    kept = first.take(conn.tcp_stream)
                    if not matches(conn, number, server, sni):
                        chains.observe([cert.der for cert in conn.certificates], conn.id)
                        continue
                    check_chain(chains, conn, revoker)
                    builder.add(*report_rows(conn, reveal_keys, kept))
            except (CaptureError, OSError) as exc:
                err.print(unreadable(path, exc))
                continue
            readable += 1
            summaries.append((path, connections.summary))
            for problem in connections.summary.problems:
                builder.notes.append(f"{path.name}: {problem.message}")
        if not readable:
            sys.exit(1)
        for path, summary in summaries:
            say_if_no_such_connection(err, path, number, summary)
        exit_if_nothing_matched(err, len(builder.rows), number, server, sni)
    _write(output, builder.render(), err)
    err.print(
        Text(
            f"{safe_text(str(output))}: {plural(len(builder.rows), 'connection')} reported",
            style="green",
        )
    )
    if not builder.rows:
        sys.exit(1)


def _live(
    err: Console, name: str, port: int, sni: str | None, starttls: str | None, timeout_s: float
) -> tuple[str, bytes]:
    """One recorded connection, as `tlslens connect` makes it (HEAD on the HTTPS ports)."""
    from tlslens.cli.remote import HTTP_PORTS, with_progress
    from tlslens.net import starttls as starttls_protocols
    from tlslens.net.live import UsageError
    from tlslens.net.wire import Plan

    protocol = starttls_protocols.protocol_for(starttls, port)
    plan = Plan(
        host=name,
        port=port,
        sni=sni or (None if is_address(name) else name),
        timeout_s=timeout_s,
        min_version="1.2",
        starttls=starttls_protocols.PROTOCOL_NAMES.get(protocol) if protocol else None,
        http=port in HTTP_PORTS and protocol is None,
    )
    prelude = starttls_protocols.PROTOCOLS.get(protocol) if protocol else None
    try:
        rec = with_progress(err, plan, prelude)
    except UsageError as exc:
        raise click.BadParameter(safe_text(str(exc)), param_hint=exc.option) from exc
    return f"{name}:{port} (live)", rec.to_pcapng()


def _write(path: Path, page: str, err: Console) -> None:
    """Atomically: a reader never sees half a page."""
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tlslens-", suffix=".html")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(page)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # as a plain open() would have made it
        os.replace(tmp, path)
    except OSError as exc:
        raise click.BadParameter(
            f"{safe_text(str(path))}: {exc.strerror or exc}", param_hint="--output"
        ) from exc
