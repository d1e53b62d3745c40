"""`tlslens decrypt`: each connection's plaintext, per direction, with an HTTP summary."""

from __future__ import annotations

import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import IO

import click
from rich.console import Console
from rich.text import Text

from tlslens._text import plural, printable, safe_text
from tlslens.cli.gate import Gate, fail_on_option_without_chains
from tlslens.cli.options import (
    capture_limits,
    key_store,
    limit_options,
    secret_options,
)
from tlslens.cli.output import (
    Stderr,
    exit_if_nothing_matched,
    judged,
    print_heading,
    problem_line,
    say_note,
    say_unreadable,
)
from tlslens.cli.terminal import PipedConsole
from tlslens.decrypt.http import summarize as http_summary
from tlslens.errors import CaptureError, OutputError
from tlslens.explain import decryption_summary
from tlslens.judge import Judge, Reading, Selection
from tlslens.model import Connection

_ARROWS = {"c2s": "client → server", "s2c": "server → client"}


class _PlaintextFiles:
    """Decrypted bytes per connection and direction, written as they are opened.

    Files are kept open for the busiest connections only, so a capture with many
    connections at once never runs out of file descriptors.
    """

    MAX_OPEN = 128

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.handles: dict[tuple[int, str], IO[bytes]] = {}
        self.order: dict[int, list[tuple[str, int]]] = {}
        # Per connection, the directions besides c2s and s2c: a QUIC connection's plaintext
        # comes per stream and direction ("stream0-c2s"), each its own file.
        self.streams: dict[int, set[str]] = {}

    def path(self, stream: int, direction: str) -> Path:
        return self.directory / f".stream{stream}-{direction}.part"

    def write(self, stream: int, direction: str, data: bytes) -> None:
        try:
            self._write(stream, direction, data)
        except OSError as exc:  # the output's, not the connection's (a full disk...)
            raise OutputError(exc, str(self.directory)) from exc

    def _write(self, stream: int, direction: str, data: bytes) -> None:
        key = (stream, direction)
        handle = self.handles.pop(key, None)
        if handle is None:
            if len(self.handles) >= self.MAX_OPEN:
                oldest = next(iter(self.handles))
                self.handles.pop(oldest).close()
            handle = self.path(stream, direction).open("ab")
        self.handles[key] = handle  # most recently used last
        handle.write(data)
        if direction not in _ARROWS:
            self.streams.setdefault(stream, set()).add(direction)
        chunks = self.order.setdefault(stream, [])
        if chunks and chunks[-1][0] == direction:
            chunks[-1] = (direction, chunks[-1][1] + len(data))
        else:
            chunks.append((direction, len(data)))

    def passed_over(self, conn: Connection) -> None:
        """A connection not shown: its files are finished all the same (under --out, every
        connection's plaintext is written)."""
        self.finish(conn.tcp_stream, conn.id)

    def finish(self, stream: int, conn_id: int) -> tuple[dict[str, Path], list[tuple[str, int]]]:
        """A connection's plaintext files, closed (empty if it had none), under its number
        (what --out promises), and the order its chunks came in."""
        try:
            return self._finish(stream, conn_id)
        except OSError as exc:  # the output's, not the capture's
            raise OutputError(exc, str(self.directory)) from exc

    def _finish(self, stream: int, conn_id: int) -> tuple[dict[str, Path], list[tuple[str, int]]]:
        files: dict[str, Path] = {}
        for direction in ("c2s", "s2c", *sorted(self.streams.pop(stream, ()), key=_stream_order)):
            handle = self.handles.pop((stream, direction), None)
            if handle is not None:
                handle.close()
            part = self.path(stream, direction)
            if not part.exists():
                part.write_bytes(b"")
            target = self.directory / f"conn{conn_id}-{direction}.bin"
            part.replace(target)
            files[direction] = target
        return files, self.order.pop(stream, [])


def _stream_order(direction: str) -> tuple[int, str]:
    """ "stream4-c2s" sorts by its stream number, then direction."""
    number, _, side = direction.removeprefix("stream").partition("-")
    return (int(number) if number.isdigit() else -1, side)


def _arrow(direction: str) -> str:
    """ "client → server", or for a QUIC stream "client → server, stream 4"."""
    if direction in _ARROWS:
        return _ARROWS[direction]
    number, _, side = direction.removeprefix("stream").partition("-")
    return f"{_ARROWS.get(side, side)}, stream {number}"


@click.command()
# A directory is said as a file that is not there is (exit 1), not refused as usage.
@click.argument("capture", type=click.Path(allow_dash=True, path_type=Path))
@secret_options
@limit_options
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write each connection's plaintext to DIR/connN-c2s.bin and connN-s2c.bin; a QUIC "
    "connection's, stream by stream, to DIR/connN-streamK-c2s.bin and -s2c.bin (its "
    "connN-c2s.bin and connN-s2c.bin are then empty).",
)
@click.option("--connection", "number", type=int, help="Only connection N.")
@click.option(
    "--max-dump",
    default=4096,
    show_default=True,
    help="Without --out: bytes of each direction's plaintext printed (follow-stream style).",
)
@fail_on_option_without_chains
def decrypt(
    capture: Path,
    keylogs: tuple[Path, ...],
    rsa_keys: tuple[str, ...],
    psk: str | None,
    out: Path | None,
    number: int | None,
    max_dump: int,
    fail_on: tuple[str, ...] | None,
) -> None:
    """Decrypt CAPTURE's application data, connection by connection, with an HTTP summary.

    CAPTURE - reads standard input as it arrives.
    """
    console = PipedConsole(highlight=False, soft_wrap=True)
    err = Stderr()
    keys = key_store(keylogs, rsa_keys, psk, err)
    with tempfile.TemporaryDirectory(prefix="tlslens-") as scratch:
        directory = out or Path(scratch)
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            err.say(f"{safe_text(str(directory))}: {exc.strerror or exc}", "red")
            sys.exit(1)
        files = _PlaintextFiles(directory)
        limits = capture_limits()
        dump = None if out else max_dump
        gate = Gate(fail_on)
        selection = Selection(number)
        reading = Reading(
            capture,
            Judge(),  # the plaintext, not the chains: no verdict is given here
            keys=keys,
            selection=selection,
            passed_over=files.passed_over,
            sink=files.write,
            limits=limits,
        )
        try:
            for conn in judged(reading, err):
                paths, chunks = files.finish(conn.tcp_stream, conn.id)
                gate.check(conn)
                _render_decrypted(console, conn, paths, chunks, dump=dump)
                if out is None:
                    for path in paths.values():
                        path.unlink(missing_ok=True)
        except BrokenPipeError:
            raise
        except (CaptureError, OSError) as exc:
            say_unreadable(err, capture, exc)
            sys.exit(1)
        notes = reading.notes()
        for finding in notes.problems:
            err.say(problem_line(str(capture), None, finding), "yellow")
        say_note(err, capture, notes.no_such_connection)
        say_note(err, capture, notes.key_log_unmatched)
    exit_if_nothing_matched(err, notes.shown, selection)
    gate.close(err)


def _render_decrypted(
    console: Console,
    conn: Connection,
    paths: dict[str, Path],
    chunks: list[tuple[str, int]],
    dump: int | None,
) -> None:
    """``paths``: the plaintext files, by direction."""
    print_heading(console, conn)
    console.print(
        Text(
            safe_text(
                decryption_summary(conn)
                or (
                    "not attempted: no secret was given (--keylog, --rsa-key, --psk or "
                    "SSLKEYLOGFILE)"
                )
            )
        )
    )
    if dump is None:
        for direction, path in paths.items():
            console.print(Text(f"{direction}: {path} ({plural(path.stat().st_size, 'byte')})"))
    with paths["c2s"].open("rb") as c2s, paths["s2c"].open("rb") as s2c:
        protocol: str | None = "HTTP/3"
        if conn.transport == "quic" and conn.alpn == "h3":
            lines = _http3_lines(paths)
        else:
            protocol, lines = http_summary(c2s, s2c)
        if protocol:
            console.print(Text(f"{protocol}:", style="bold"))
            for line in lines:
                console.print(Text("  " + safe_text(line)))
        if dump is not None:
            _dump_chunks(console, paths, chunks, dump, {"c2s": c2s, "s2c": s2c})
    console.print()


def _http3_lines(paths: dict[str, Path]) -> list[str]:
    """The HTTP/3 summary of a QUIC connection's per-stream plaintext files."""
    # Imported here: aioquic and pylsqpack are for HTTP/3 only, not every decrypt.
    from tlslens.decrypt.h3wire import summarize_http3

    with ExitStack() as stack:
        files = {
            direction: stack.enter_context(path.open("rb"))
            for direction, path in paths.items()
            if direction not in _ARROWS
        }
        return summarize_http3(files)


def _dump_chunks(
    console: Console,
    paths: dict[str, Path],
    chunks: list[tuple[str, int]],
    dump: int,
    handles: dict[str, IO[bytes]],
) -> None:
    """Each chunk of plaintext in the order it came, at most ``dump`` bytes per file."""
    left = dict.fromkeys(paths, dump)
    for handle in handles.values():
        handle.seek(0)
    with ExitStack() as stack:
        # A QUIC connection's streams: each its own file, read in chunk order.
        for direction, path in paths.items():
            if direction not in handles:
                handles[direction] = stack.enter_context(path.open("rb"))
        for direction, length in chunks:
            data = handles[direction].read(length)
            shown = data[: left[direction]]
            left[direction] -= len(shown)
            if shown:
                style = "green" if direction.endswith("c2s") else "magenta"
                # The colour alone tells the sides apart on a terminal; in a file or a
                # pipe each chunk needs its heading.
                heading = f"{_arrow(direction)} ({plural(len(data), 'byte')}"
                heading += f", first {len(shown)} shown)" if len(shown) < len(data) else ")"
                console.print(Text(heading, style=f"bold {style}"))
                console.print(Text(printable(shown), style=style))
