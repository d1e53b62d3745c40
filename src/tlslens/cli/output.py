"""What every command prints alike: problem lines, unreadable files, titles, progress.

rich is imported where something is drawn, not here: every command imports this module,
and `show --json` to a file or a pipe usually draws nothing (rich is a sixth of its
start-up). Standard error goes through ``Stderr``; standard output's Console for the
text commands is ``cli.terminal.PipedConsole``.
"""

from __future__ import annotations

import io
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NoReturn

from tlslens._text import safe_text
from tlslens.capture import is_stdin
from tlslens.errors import CaptureError, OutputError
from tlslens.explain.summary import connection_title
from tlslens.judge import Reading, Selection
from tlslens.model import Connection, Finding

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID
    from rich.table import Table


def print_heading(out: Console, conn: Connection) -> None:
    """A rule across a terminal; in a file or a pipe one plain line, never cut."""
    if out.is_terminal:
        from rich.rule import Rule
        from rich.text import Text

        out.print(Rule(Text(connection_title(conn), style="bold")))
    else:
        write_line(out, f"── {connection_title(conn)} ──")


def closed_pipe() -> NoReturn:
    """Standard output was closed by its reader: stop at once, with no message, exit 0."""
    _drop_stdout()
    sys.exit(0)


def failed_output(exc: OutputError) -> NoReturn:
    """Writing the output failed (a full disk, a device that refuses): one line naming the
    output on standard error, exit 1 (said as the output's failure, not a capture's)."""
    print(
        f"tlslens: cannot write to {safe_text(exc.where)}: {safe_text(str(exc))}", file=sys.stderr
    )
    _drop_stdout()
    sys.exit(1)


def _drop_stdout() -> None:
    """Whatever is still buffered for standard output goes to /dev/null, so that the
    interpreter's last flush cannot raise again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, io.UnsupportedOperation):  # not a real file (tests)
        pass


class OutputStream:
    """Standard output as a command's Console writes to it: a write that fails is the
    output's (``OutputError``), which no reading of a capture takes for its own; a reader
    gone stays a BrokenPipeError (``closed_pipe``)."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise OutputError(exc) from exc

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise OutputError(exc) from exc

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def replace_file(path: Path, data: bytes, *, private: bool = False) -> None:
    """``data`` as the file ``path``, atomically: written beside it under a temporary name,
    then renamed over it, so that a failure (a full disk) leaves what was there whole (a
    CA's revocation list truncated, then removed, had un-revoked its certificates: review).
    The file is the owner's alone with ``private`` (a key: so from its creation), else as
    a plain open() makes it. Raises OSError; the temporary file goes with the failure."""
    import tempfile  # here: every command imports this module, few write files

    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        if not private:  # mkstemp made it 0600
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_out(text: str) -> None:
    """``text`` on standard output, where a failure to write it is the output's
    (``OutputStream``): what a command writes there without a Console (a JSON line)."""
    OutputStream(sys.stdout).write(text)


class Stderr:
    """Standard error as the commands print to it: rich's Console, made when first needed.

    A run that draws no progress bar and says nothing on a terminal never imports rich."""

    def __init__(self, no_color: bool = False) -> None:
        self._no_color = no_color or None
        self._console: Console | None = None

    @property
    def console(self) -> Console:
        """rich's Console itself, for what draws on it (a progress bar, a spinner)."""
        if self._console is None:
            from rich.console import Console

            self._console = Console(
                stderr=True, highlight=False, soft_wrap=True, no_color=self._no_color
            )
        return self._console

    @property
    def is_terminal(self) -> bool:
        if self._console is None and not _may_be_terminal(sys.stderr):
            return False  # what rich would answer, without importing it
        return self.console.is_terminal

    def say(self, line: str, style: str = "") -> None:
        """One line in one style, as it is (never markup); the caller made it safe."""
        if self._console is None and not _may_be_terminal(sys.stderr):
            # What rich writes where there is no terminal: the line, without its style. A
            # run whose only words are a closing note or a warning need not import rich
            # (20-40 ms) to say them.
            sys.stderr.write(line + "\n")
            sys.stderr.flush()
            return
        from rich.text import Text

        self.console.print(Text(line, style=style))


def _may_be_terminal(stream: object) -> bool:
    """False only where rich's ``Console.is_terminal`` is False too: no TTY_COMPATIBLE=1,
    no FORCE_COLOR, and not a tty. Otherwise rich decides (Jupyter, IDLE...)."""
    if os.environ.get("TTY_COMPATIBLE") == "1" or "FORCE_COLOR" in os.environ:
        return True
    isatty = getattr(stream, "isatty", None)
    try:
        return isatty is not None and bool(isatty())
    except ValueError:  # a closed file: no terminal, as rich says
        return False


def say_note(err: Stderr, path: Path, note: str | None) -> None:
    """One closing note of a capture (judge.ClosingNotes), on stderr under its file's name:
    said once for the capture, not once for each connection."""
    if note is not None:
        err.say(f"{safe_text(str(path))}: {note}", "yellow")


def exit_if_nothing_matched(err: Stderr, shown: int, selection: Selection) -> None:
    """Filters that matched no connection of any capture are said on stderr, and the run
    fails (exit 1): an empty answer must not pass for "nothing wrong". ``--connection N``
    alone was said capture by capture (``ClosingNotes.no_such_connection``)."""
    number, server, sni = selection.number, selection.server, selection.sni
    if shown or (number is None and server is None and sni is None):
        return
    if server is not None or sni is not None:
        used = [f"--connection {number}"] if number is not None else []
        if server is not None:
            host, port = server
            where = f"[{host}]" if ":" in host else host
            used.append(f"--server {where}{f':{port}' if port is not None else ''}")
        if sni is not None:
            used.append(f"--sni {sni}")
        err.say(safe_text(f"no connection matches {' '.join(used)}"), "yellow")
    sys.exit(1)


def label_grid(rows: list[tuple[str, str]]) -> Table:
    """(label, value) rows as a terminal's two-column grid; values are sanitised."""
    from rich.table import Table  # a terminal's tables only: not imported for a file or pipe
    from rich.text import Text

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold cyan")
    grid.add_column(overflow="fold")
    for label, value in rows:
        grid.add_row(label, Text(safe_text(value)))
    return grid


def write_line(out: Console, line: str) -> None:
    """One line to a file or pipe as it is: no wrapping, cropping or padding, no rich overhead.
    The caller has made it safe (``safe_text``)."""
    out.file.write(line + "\n")


def write_lines(out: Console, lines: list[str]) -> None:
    """Lines to a file or pipe as ``write_line`` writes them, in one write: a narration has
    fifty lines a connection, and a write each cost it a tenth of its time."""
    out.file.write("\n".join(lines) + "\n" if lines else "")


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
    code = f"{finding.code}: " if finding.code else ""
    return f"{', '.join(where)}: {code}{safe_text(finding.message)}"


def say_unreadable(err: Stderr, path: Path, exc: Exception) -> None:
    """One red line: which file, and why nothing could be read from it."""
    if isinstance(exc, CaptureError):
        err.say(f"{safe_text(str(path))}: {safe_text(str(exc))}", "red")
        return
    if isinstance(exc, IsADirectoryError):  # `extract` is the command that takes folders
        reason = "it is a directory, not a capture file (tlslens extract searches folders)"
    else:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    err.say(f"{safe_text(str(path))}: cannot read: {safe_text(reason)}", "red")


# A bar appears once the work has taken this long (tests set 0 to see it at once).
PROGRESS_AFTER_S = float(os.environ.get("TLSLENS_PROGRESS_AFTER_S", "1"))


def judged(reading: Reading, err: Stderr) -> Iterator[Connection]:
    """A capture's judged connections as a command reads them: when stderr is a terminal
    and the work takes over a second, a progress bar there counts the bytes of the file,
    whatever stdout is (JSON or a pipe)."""
    bar = FileProgress(err, reading.path)
    live = is_stdin(reading.path)
    try:
        for conn in reading.connections(
            bar.update if err.is_terminal else None, clock=time.monotonic
        ):
            yield conn
            if live:
                # A capture still being written (tcpdump -w - | tlslens show -): what is
                # told goes out now, not when a buffer fills.
                sys.stdout.flush()
    finally:
        bar.stop()


class FileProgress:
    """A bar on a terminal's stderr counting the bytes of one file, shown once the work has
    taken PROGRESS_AFTER_S; nothing at all when stderr is not a terminal."""

    def __init__(self, err: Stderr, path: Path) -> None:
        self.shown = False
        self.started = time.monotonic()
        self.bar = _file_bar(err.console, path) if err.is_terminal else None

    def update(self, done: int) -> None:
        if self.bar is None:
            return
        progress, task = self.bar
        if not self.shown and time.monotonic() - self.started >= PROGRESS_AFTER_S:
            progress.start()
            self.shown = True
        if self.shown:
            progress.update(task, completed=done)

    def stop(self) -> None:
        if self.bar is not None and self.shown:
            self.bar[0].stop()


def _file_bar(err: Console, path: Path) -> tuple[Progress, TaskID]:
    # Imported here, where a bar can show: rich.progress is a twentieth of every command's
    # start-up, and JSON to a pipe or a file never draws one.
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    progress = Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=err,
        transient=True,
        # Output to the same terminal is printed above the bar; output to a file or a
        # pipe must not be routed through the terminal's console.
        redirect_stdout=sys.stdout.isatty(),
        redirect_stderr=False,
    )
    size = None if is_stdin(path) or not path.exists() else path.stat().st_size
    return progress, progress.add_task(safe_text(path.name), total=size)
