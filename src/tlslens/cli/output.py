"""What every command prints alike: problem lines, unreadable files, titles, progress."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn
from rich.rule import Rule
from rich.text import Text

from tlslens._text import safe_text
from tlslens.errors import CaptureError
from tlslens.keys.store import KeyStore
from tlslens.model import Connection, Finding
from tlslens.pipeline import CaptureSummary, read_capture


def connection_rule(conn: Connection) -> Rule:
    """The line that opens a connection: number, endpoints, SNI."""
    title = f"Connection {conn.id} · {conn.client} → {conn.server}"
    if conn.sni:
        title += f" · {safe_text(conn.sni)}"
    return Rule(Text(title, style="bold"))


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
