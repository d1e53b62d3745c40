"""`tlslens report`: one self-contained HTML page for captures or a live connection."""

from __future__ import annotations

import io
import os
import stat
import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from tlslens._text import plural, safe_text
from tlslens.cli.options import (
    ServerFilter,
    Target,
    capture_limits,
    chain_checker,
    is_address,
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
    replace_file,
    say_note,
    say_unreadable,
)
from tlslens.errors import CaptureError, OptionError, OutputError
from tlslens.judge import Judge, Reading, Selection
from tlslens.keys.store import KeyStore
from tlslens.model import Connection
from tlslens.net.starttls import PROTOCOLS
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

    def passed_over(self, conn: Connection) -> None:
        """A connection not reported: its bytes go."""
        self.kept.pop(conn.tcp_stream, None)


@click.command()
# A directory is said as a file that is not there is (exit 1), not refused as usage.
@click.argument("captures", nargs=-1, type=click.Path(path_type=Path))
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
    "--quic",
    is_flag=True,
    help="With --connect: over QUIC v1 (UDP), as `tlslens connect --quic` (HTTP/3 GET /).",
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
    quic: bool,
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
    err = Stderr()
    if bool(captures) == (target is not None):
        raise click.UsageError("give CAPTURES or --connect HOST[:PORT], one of the two")
    if quic and target is None:
        raise click.BadParameter("--quic goes with --connect HOST[:PORT]", param_hint="--quic")
    if quic and starttls not in (None, "none"):
        raise click.BadParameter("--starttls is not available with --quic", param_hint="--starttls")
    unwritable = _unwritable(output)
    if unwritable is not None:  # said before the work, not after it
        raise click.BadParameter(
            f"{safe_text(str(output))}: {safe_text(unwritable)}", param_hint="--output"
        )
    keys = key_store(keylogs, rsa_keys, psk, err)
    made = datetime.now(UTC)
    all_read = True  # every capture given was read (a live connection is no file)
    if target is not None:
        # aioquic loads with it: only a live report pays for it.
        from tlslens.net.udpclient import heard_quic

        name, port = target
        checker = chain_checker(trust_store, cas, host or sni or name, at_text, err, client_cas)
        label, capture = _live(
            err, name, port or 443, sni, None if quic else starttls, timeout_s, quic
        )
        builder = ReportBuilder(label, [label], made)
        first = _FirstBytes()
        reading = Reading(
            label,
            judging(checker, revocation),
            keys=keys,
            records=True,
            sink=first.write,
            stream=io.BytesIO(capture),
        )
        heard = False
        for conn in reading:
            heard = heard or not quic or heard_quic(conn)
            builder.add(*report_rows(conn, reveal_keys, first.take(conn.tcp_stream)))
        if not builder.rows:
            builder.notes.append(
                "No TLS was seen on this connection: `tlslens connect` says what happened."
            )
        elif not heard:
            # The client's Initial alone: refused (ICMP), silence, or not a QUIC server.
            builder.notes.append(
                "The server sent no QUIC packet of this connection: `tlslens connect --quic` "
                "says what happened."
            )
    else:
        judge = judging(chain_checker(trust_store, cas, host, at_text, err, client_cas), revocation)
        names = ", ".join(p.name for p in captures)
        builder = ReportBuilder(names, [str(p) for p in captures], made)
        selection = Selection(number, server, sni)
        all_read = _add_captures(builder, err, captures, judge, keys, selection, reveal_keys)
    _write(output, builder.render())
    err.say(
        f"{safe_text(str(output))}: {plural(len(builder.rows), 'connection')} reported", "green"
    )
    if not builder.rows or not all_read:
        sys.exit(1)


def _add_captures(
    builder: ReportBuilder,
    err: Stderr,
    captures: tuple[Path, ...],
    judge: Judge,
    keys: KeyStore | None,
    selection: Selection,
    reveal_keys: bool,
) -> bool:
    """Every selected connection of the captures, and their notes; exit 1 when no capture
    could be read or nothing matched the filters. False when a capture could not be read:
    the page is written from the others, and then the run fails."""
    limits = capture_limits()
    readable: list[tuple[Path, str | None]] = []  # and whether --connection N was there
    for path in captures:
        first = _FirstBytes()
        reading = Reading(
            path,
            judge,
            keys=keys,
            selection=selection,
            passed_over=first.passed_over,
            sink=first.write,
            records=True,
            limits=limits,
        )
        try:
            for conn in judged(reading, err):
                builder.add(*report_rows(conn, reveal_keys, first.take(conn.tcp_stream)))
        except (CaptureError, OSError) as exc:
            say_unreadable(err, path, exc)
            continue
        notes = reading.notes()
        readable.append((path, notes.no_such_connection))
        # Said as show says it: once the capture (and any secrets it carries) is read.
        say_note(err, path, notes.key_log_unmatched)
        for problem in notes.problems:
            builder.notes.append(f"{path.name}: {problem.message}")
    if not readable:
        sys.exit(1)
    for path, missing in readable:
        say_note(err, path, missing)
    exit_if_nothing_matched(err, len(builder.rows), selection)
    return len(readable) == len(captures)


def _live(
    err: Stderr,
    name: str,
    port: int,
    sni: str | None,
    starttls: str | None,
    timeout_s: float,
    quic: bool,
) -> tuple[str, bytes]:
    """One recorded connection, as `tlslens connect` makes it (HEAD on the HTTPS ports;
    over QUIC, HTTP/3 GET /)."""
    from tlslens.cli.remote import HTTP_PORTS, with_progress
    from tlslens.net import starttls as starttls_protocols
    from tlslens.net.udpclient import connect_quic
    from tlslens.net.wire import Plan

    protocol = None if quic else starttls_protocols.protocol_for(starttls, port)
    plan = Plan(
        host=name,
        port=port,
        sni=sni or (None if is_address(name) else name),
        timeout_s=timeout_s,
        min_version="1.2",
        starttls=starttls_protocols.PROTOCOL_NAMES.get(protocol) if protocol else None,
        http=quic or (port in HTTP_PORTS and protocol is None),
    )
    prelude = starttls_protocols.PROTOCOLS.get(protocol) if protocol else None
    try:
        rec = with_progress(err, plan, prelude, (lambda: connect_quic(plan)) if quic else None)
    except OptionError as exc:
        raise click.BadParameter(safe_text(str(exc)), param_hint=exc.option) from exc
    return f"{name}:{port} (live)", rec.to_pcapng()


def _write(path: Path, page: str) -> None:
    """The page, whole, where ``--output`` names: a file (or a new one) replaced atomically,
    a reader never seeing half a page; through a link, the file it names (the link kept);
    /dev/stdout and the like, the stream the shell opened (appended as it opened it, never
    truncated anew); a pipe or a device, written to. (Renaming over those replaced the link
    or the device node itself.) A failure is the output's, after the work."""
    data = page.encode("utf-8")
    try:
        if _replaceable(path):
            replace_file(path, data)
            return
        target = _through(path)
        if target is not None:
            for fd in (1, 2):
                if _same_file(target, fd):
                    _write_fd(fd, data)
                    return
            if stat.S_ISREG(target.st_mode):
                replace_file(path.resolve(), data)
                return
        with path.open("wb") as out:  # a pipe, a device; a link to nothing yet: made
            out.write(data)
    except BrokenPipeError:
        raise  # a reader gone (-o /dev/stdout | head): the run ends quietly
    except OSError as exc:
        raise OutputError(exc, str(path)) from exc


def _through(path: Path) -> os.stat_result | None:
    """What ``path`` names through its links; None for a link to nothing yet."""
    try:
        return path.stat()
    except FileNotFoundError:
        return None


def _same_file(target: os.stat_result, fd: int) -> bool:
    try:
        opened = os.fstat(fd)
    except OSError:
        return False
    return (target.st_dev, target.st_ino) == (opened.st_dev, opened.st_ino)


def _write_fd(fd: int, data: bytes) -> None:
    """To an open standard stream, after what its text layer holds."""
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            stream.flush()
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _unwritable(output: Path) -> str | None:
    """Why the page could not be written at ``output``, said before the work; or None: the
    folder it is renamed into, or what it is written through (/dev/stdout: /dev is not the
    user's to write in; a link: the file it names, or that file's folder)."""
    try:
        if not _replaceable(output) and output.exists():
            return None if os.access(output, os.W_OK) else "cannot be written"
        target = output if _replaceable(output) else output.resolve()
    except (OSError, RuntimeError):  # links that go round in a loop
        return "cannot be written (its links loop)"
    folder = target.parent if str(target.parent) else Path(".")
    if folder.is_dir() and os.access(folder, os.W_OK):
        return None
    return f"cannot write in {folder}"


def _replaceable(path: Path) -> bool:
    """Whether the page may be renamed into place: ``path`` is a regular file or nothing yet
    (not a link: renaming over one would replace the link, not what it names). What cannot
    be looked at (a file for a folder, a folder not to be searched) is left to the folder's
    check and the writing to say."""
    try:
        return stat.S_ISREG(path.lstat().st_mode)
    except OSError:
        return True
