"""What every command prints alike: problem lines, unreadable files, titles, progress."""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NoReturn

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn
from rich.rule import Rule
from rich.text import Text

from tlslens._text import safe_text
from tlslens.errors import CaptureError
from tlslens.keys.store import KeyStore
from tlslens.model import Connection, Finding
from tlslens.pipeline import CaptureSummary, read_capture


def connection_title(conn: Connection) -> str:
    """Number, endpoints and SNI: the heading of a connection."""
    title = f"Connection {conn.id} · {conn.client} → {conn.server}"
    if conn.sni:
        title += f" · {safe_text(conn.sni)}"
    return title


def print_heading(out: Console, conn: Connection) -> None:
    """A rule across a terminal; in a file or a pipe one plain line, never cut."""
    if out.is_terminal:
        out.print(Rule(Text(connection_title(conn), style="bold")))
    else:
        write_line(out, f"── {connection_title(conn)} ──")


def closed_pipe() -> NoReturn:
    """Standard output was closed by its reader: stop at once, with no message, exit 0.

    Whatever is still buffered goes to /dev/null, so the interpreter's last flush cannot
    raise again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, io.UnsupportedOperation):  # not a real file (tests)
        pass
    sys.exit(0)


def say_if_no_such_connection(
    err: Console, path: Path, number: int | None, summary: CaptureSummary
) -> None:
    """``--connection N`` that names no connection of the capture is said, not left silent."""
    if number is not None and not 1 <= number <= summary.tls_connections:
        err.print(
            Text(
                f"{safe_text(str(path))}: there is no connection {number}; the capture holds "
                f"{summary.tls_connections} TLS connection(s), numbered from 1 (--connection)",
                style="yellow",
            )
        )


def write_line(out: Console, line: str) -> None:
    """One line to a file or pipe as it is: no wrapping, cropping or padding, no rich overhead.
    The caller has made it safe (``safe_text``)."""
    out.file.write(line + "\n")


def problem_line(file: str, conn_id: int | None, finding: Finding) -> str:
    where = [safe_text(file)]
    if finding.frame is not None:
        where.append(f"frame {finding.frame}")
    if conn_id is not None:
        where.append(
            f"connection {conn_id}" + (f" ({finding.direction})" if finding.direction else "")
        )
    if finding.offset is not None:
        where.append(f"byte offset {finding.offset}")
    return f"{', '.join(where)}: {safe_text(finding.message)}"


def unreadable(path: Path, exc: Exception) -> Text:
    """One red line: which file, and why nothing could be read from it."""
    if isinstance(exc, CaptureError):
        return Text(f"{safe_text(str(path))}: {safe_text(str(exc))}", style="red")
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return Text(f"{safe_text(str(path))}: cannot read: {safe_text(reason)}", style="red")


class Connections:
    """Runs the pipeline with a progress bar on a terminal's stderr."""

    def __init__(
        self,
        path: Path,
        quiet: bool,
        err: Console,
        keys: KeyStore | None = None,
        sink: Callable[[int, str, bytes], None] | None = None,
    ) -> None:
        self.path = path
        self.quiet = quiet
        self.err = err
        self.keys = keys
        self.sink = sink
        self.summary = CaptureSummary(file=str(path))

    def iter(self) -> Iterator[Connection]:
        size = self.path.stat().st_size
        use_bar = not self.quiet and self.err.is_terminal and size > (8 << 20)
        if not use_bar:
            capture = read_capture(self.path, keys=self.keys, plaintext_sink=self.sink)
            yield from capture
            self.summary = capture.summary
            return
        progress = Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            console=self.err,
            transient=True,
        )
        with progress:
            task = progress.add_task(safe_text(self.path.name), total=size)
            capture = read_capture(
                self.path,
                on_progress=lambda done: progress.update(task, completed=done),
                keys=self.keys,
                plaintext_sink=self.sink,
            )
            yield from capture
        self.summary = capture.summary
