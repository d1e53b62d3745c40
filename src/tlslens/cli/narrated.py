"""The narrated commands (`show`, `certs`, `decrypt`) by N worker processes: one share of
a capture's connections each (cli/shares.py), for a file or a pipe.

Strategy: a worker narrates its own connections, printing the numbers only the parent knows
(a connection's, the one it resumes) as markers; the parent replaces them. What the parent
cannot mend in a narration (the connection a resumption names, a chain verdict another
share's certificate could change, the secrets resumptions found) it checks, while the
output waits in a file; on a difference the capture is read again by address pair, then by
one process (the caller's own loop).
"""

from __future__ import annotations

import io
import json
import secrets
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from rich.console import Console

from tlslens.cli.shares import BOUNDS, ONE_PROCESS, RETRY, Renumber, SharedJson
from tlslens.keys.store import KeyStore
from tlslens.model import Connection
from tlslens.pipeline import Limits
from tlslens.x509 import ChainChecker


class _Mark(int):
    """A connection number only the parent knows (its own, or the one it resumes): a
    worker prints it as a marker that the parent replaces. The marker holds a random
    number drawn for the run, so captured text cannot forge one; it is made of letters and
    digits, so that safe_text (through which some numbers are printed) leaves it alone."""

    mark: str

    def __new__(cls, value: int, mark: str) -> _Mark:
        made = super().__new__(cls, value)
        made.mark = mark
        return made

    def __str__(self) -> str:
        return self.mark

    __repr__ = __str__

    def __format__(self, spec: str) -> str:
        return self.mark


class SharedText(SharedJson):
    """A narrated command's output (``render`` of each connection) for a file or a pipe,
    by ``workers`` processes: the bytes one process writes. A worker renders its
    connections itself, with markers for the numbers only the parent knows; nothing the
    parent cannot mend may differ from one process: the secrets resumptions find, the
    connection each resumes, a verdict short of an issuer that another share's certificate
    could complete. So the output waits in a file until all is checked; on a difference
    the capture is read again by address pair, and if that differs too, ``fallback`` is
    set and nothing was given: the caller reads it in one process. ``certificates(id,
    ders)`` is called, in order, for each connection rendered; ``each(id, flow)`` for every
    connection; ``sink`` receives the workers' plaintext (as ``read_capture``'s), and
    ``restart()`` is called before each read of the capture."""

    def __init__(
        self,
        path: Path,
        workers: int,
        keys: KeyStore | None,
        checker: ChainChecker,
        limits: Limits,
        filters: tuple[int | None, tuple[str, int | None] | None, str | None],
        render: Callable[[Connection], str],
        *,
        checks: bool,
        records: bool = False,
        on_progress: Callable[[int], None] | None = None,
        certificates: Callable[[int, list[bytes]], None] | None = None,
        each: Callable[[int, int], None] | None = None,
        sink: Callable[[int, str, bytes], None] | None = None,
        restart: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(
            path, workers, keys, checker, None, limits, filters, False, on_progress, records=records
        )
        self.render, self.checks, self.rechecks = render, checks, False
        self.on_certificates = certificates
        self.each, self.sink, self.restart = each, sink, restart
        nonce = secrets.token_hex(16)
        self._marks = (f"tlslens{nonce}i", f"tlslens{nonce}r")  # own number, resumed one

    def __iter__(self) -> Iterator[str]:
        # Spooled as the workers go; the first difference stops them.
        for split in ("connections", "addresses"):
            self._start()
            self._split = split
            if self.restart is not None:
                self.restart()
            with tempfile.TemporaryFile("w+", encoding="utf-8", newline="") as spool:
                for text in self._merged(self.workers, hold=False):
                    spool.write(text)
                if self.failure in (ONE_PROCESS, BOUNDS):
                    break
                if self.failure == RETRY:
                    continue
                spool.seek(0)
                yield from iter(lambda: spool.read(1 << 16), "")
                return
        self._start()
        if self.restart is not None:
            self.restart()
        self.fallback = True

    def _row(self, conn: Connection, chain: dict[str, Any]) -> str:
        if conn.resumed_from is not None:
            chain["rf"] = self._issuers.get(conn.resumed_from)
            conn.resumed_from = _Mark(conn.resumed_from, self._marks[1])
        conn.id = _Mark(conn.id, self._marks[0])
        return json.dumps(self.render(conn))

    def _out(
        self,
        conn_id: int,
        chain: dict[str, Any],
        row: str,
        source: int | None,
        sent: list[bytes],
        ders: Callable[[list[str]], list[bytes]],
        renumber: Renumber,
    ) -> str | None:
        if chain.get("rf") != (None if source is None else renumber.flows.get(source)):
            self.failure = RETRY  # it resumes another connection than in one process
            return None
        if self.checks:
            if chain["f"]:
                self.chains.observe(sent, conn_id)
            elif not ("x" in chain and self.chains.adopt(sent, chain["x"], chain["e"], conn_id)):
                self.failure = ONE_PROCESS  # a verdict only one process can give
                return None
        if self.on_certificates is not None:
            self.on_certificates(conn_id, sent)
        text: str = json.loads(row)
        own, resumed = self._marks
        return text.replace(own, str(conn_id)).replace(resumed, str(source))


def rendered(
    draw: Callable[[Console, Connection], None], no_color: bool
) -> Callable[[Connection], str]:
    """``draw`` (a command's way of printing one connection to a file or a pipe) as a
    function that returns what it prints."""
    buffer = io.StringIO()
    console = Console(file=buffer, highlight=False, soft_wrap=True, no_color=no_color or None)

    def render(conn: Connection) -> str:
        buffer.seek(0)
        buffer.truncate()
        draw(console, conn)
        return buffer.getvalue()

    return render
