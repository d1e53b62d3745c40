"""`tlslens extract`: captures in, a Parquet dataset out, one file per table per capture.

Strategy: one job per capture file, self-contained and picklable (plain paths and option
values), so that the same function runs in this process, in a pool of worker processes or
on a dask.distributed cluster, and gives the same rows. A job reads its capture as `show
--json` does (the same pipeline, chain checks and JSON contract, columns.py), then writes
each table to a temporary file renamed into place, and last a marker in ``_done/``: a
killed worker leaves no half-written table that counts, and ``--resume`` skips exactly the
captures whose marker exists.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from tlslens.bounds import Limits
from tlslens.errors import CaptureError, OutputError
from tlslens.judge import Judge, Reading, checker_given, secrets_given
from tlslens.keys.store import KeyStore
from tlslens.model import Finding
from tlslens.serialize import connection_to_json
from tlslens.tables.columns import TABLES, connection_arrays, message_arrays, schema
from tlslens.x509 import ChainChecker

CAPTURE_SUFFIXES = (".pcap", ".pcapng", ".cap", ".pcap.gz", ".pcapng.gz")


@dataclass(frozen=True)
class Job:
    """One capture to extract, with every option as a plain value."""

    capture: str
    out: str
    keylogs: tuple[str, ...] = ()
    rsa_keys: tuple[str, ...] = ()
    psk: str | None = None
    trust_store: str = "mozilla"
    cas: tuple[str, ...] = ()
    host: str | None = None
    at: str | None = None
    client_cas: tuple[str, ...] = ()
    limits: Limits = field(default_factory=Limits)
    # The command's run: its jobs share what their options read (a dask worker outlives a
    # run, and a --ca file may have changed by the next one).
    run: str = ""


@dataclass(frozen=True)
class Done:
    capture: str
    size: int
    connections: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    resumed: bool = False  # already extracted: skipped
    error: str | None = None
    # Its tables could not be written (a full disk): the run's failure, raised by the
    # command (not in a worker, where dask would log it as a task's traceback).
    unwritable: OutputError | None = None


def captures_in(arguments: Iterable[str]) -> Iterator[Path]:
    """Files as given; folders searched for captures; shell-style globs expanded."""
    import glob

    for argument in arguments:
        path = Path(argument)
        if path.is_dir():
            yield from sorted(
                p for p in path.rglob("*") if p.is_file() and p.name.endswith(CAPTURE_SUFFIXES)
            )
        elif any(ch in argument for ch in "*?[") and not path.exists():
            yield from sorted(Path(p) for p in glob.glob(argument, recursive=True))
        else:
            yield path


def key_of(capture: str) -> str:
    """The file name a capture's tables get: its name, and a digest of its full path (two
    captures of the same name in different folders stay apart)."""
    full = str(Path(capture).resolve())
    return f"{Path(capture).name}-{hashlib.sha256(full.encode()).hexdigest()[:12]}"


def done_marker(out: str, capture: str) -> Path:
    return Path(out) / "_done" / f"{key_of(capture)}.json"


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def extract(job: Job) -> Done:
    """Extract one capture (never raises for a bad capture: the error is in the result, and
    a dataset that cannot be written is its ``unwritable``; either way, no table of the
    capture is left behind)."""
    size = Path(job.capture).stat().st_size if Path(job.capture).exists() else 0
    # The command checked the options and said what they warn of already.
    keys = secrets_given(tuple(map(Path, job.keylogs)), job.rsa_keys, job.psk, warn=_quiet)
    checker = _checker(job.run, job.trust_store, job.cas, job.host, job.at, job.client_cas)
    tables: dict[str, _Table] = {}
    marker = done_marker(job.out, job.capture)
    try:
        with _writing(job.out):  # done again: not done until it is (a run may stop midway)
            marker.unlink(missing_ok=True)
        for name in TABLES:
            tables[name] = _Table(Path(job.out), name, key_of(job.capture))
        # Both fed `show --json` objects: a row each, a row per handshake message.
        tables["connections"].arrays = functools.partial(connection_arrays, job.capture)
        tables["handshake_messages"].arrays = functools.partial(message_arrays, job.capture)
        try:
            _fill(job, keys, checker, tables)
        except (CaptureError, OSError) as exc:  # reading the capture (writes raise OutputError)
            _discard(job, tables)
            return Done(job.capture, size, error=str(exc))
        for table in tables.values():
            table.commit()  # (its last rows counted as they are converted)
        counts = {table_name: table.count for table_name, table in tables.items()}
        with _writing(job.out):
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.write_text(json.dumps({"capture": job.capture, "rows": counts}) + "\n")
    except OutputError as exc:
        _discard(job, tables)
        return Done(job.capture, size, unwritable=exc)
    return Done(job.capture, size, connections=counts["connections"], rows=counts)


def _fill(
    job: Job, keys: KeyStore | None, checker: ChainChecker, tables: dict[str, _Table]
) -> None:
    """The capture's rows into its tables."""
    name = job.capture
    certificates: dict[str, dict[str, Any]] = {}  # distinct, so bounded by the work
    summary_problems: list[Finding] = []
    for row in _connections(job, keys, checker, summary_problems):
        conn_id = row["id"]
        tables["connections"].add(row)
        tables["handshake_messages"].add(row)
        for problem in row["problems"]:
            tables["problems"].add({"capture_file": name, "connection": conn_id, **problem})
        for cert in row["certificates"]:
            seen = certificates.get(cert["sha256"])
            if seen is not None:
                seen["connections"] += 1
                continue
            certificates[cert["sha256"]] = {
                "capture_file": name,
                **cert,
                "not_before": _time(cert["not_before"]),
                "not_after": _time(cert["not_after"]),
                "first_seen_connection": conn_id,
                "first_seen_time": _time(row["start_time"]),
                "connections": 1,
            }
    for problem in summary_problems:
        tables["problems"].add({"capture_file": name, "connection": None, **problem.to_json()})
    for cert_row in certificates.values():
        tables["certificates"].add(cert_row)


def _discard(job: Job, tables: dict[str, _Table]) -> None:
    """No table of the capture left, this run's (``tables``, made so far) or a run's before
    (a table this run did not come to: review)."""
    for table in tables.values():
        table.discard()
    key = key_of(job.capture)
    for name in TABLES:
        with contextlib.suppress(OSError):
            (Path(job.out) / name / f"{key}.parquet").unlink(missing_ok=True)


@contextmanager
def _writing(out: str | Path) -> Iterator[None]:
    """A failure to write under ``out`` (a full disk, a folder that refuses) is the
    output's: OutputError, never taken for the capture's."""
    try:
        yield
    except OSError as exc:
        raise OutputError(exc, where=str(out)) from exc


# Rows (or `show --json` objects) held as Python objects before Arrow takes them (such an
# object is about 17 KB of them, its Arrow columns under 3 KB), then the Arrow bytes held
# before they are written out as one row group: memory stays bounded whatever the size of
# the capture, and a capture of a few thousand connections is one row group (Parquet's
# cost goes by column chunk: 5,104 connections took 70 ms to write as row groups of 2,048,
# 42 ms as one).
BATCH_ROWS = 1024
# ... or fewer: a connection weighs one more for each handshake message its object holds
# (a row each in handshake_messages), each alert and each finding, so that a batch of
# connections of 10,000 messages each is not held whole (901 of them made an extract of
# 2.7 GB; 300 of 10,000 alerts each 933 MB).
BATCH_WEIGHT = 16_384
# What a connection's object may hold many of, each weighing one.
_MANY = ("handshake", "alerts", "problems")
# Tables of batches held before they are made one (or written, past GROUP_BYTES).
MAX_HELD_TABLES = 64
GROUP_BYTES = 16 << 20


class _Table:
    """One table of one capture, written as it grows to a temporary file that is renamed
    into place once the capture is whole (what a killed run of it left goes first)."""

    def __init__(self, out: Path, table: str, key: str) -> None:
        self.out = out
        self.target = out / table / f"{key}.parquet"
        self.temporary = self.target.with_name(f".{self.target.name}.{os.getpid()}.tmp")
        self.schema = schema(table)
        with _writing(out):
            self.target.parent.mkdir(parents=True, exist_ok=True)
            for stale in self.target.parent.glob(f".{key}.parquet.*.tmp"):
                stale.unlink(missing_ok=True)
            try:
                self.writer = pq.ParquetWriter(self.temporary, self.schema, compression="zstd")
            except OSError:
                with contextlib.suppress(OSError):  # made, then refused its first bytes
                    self.temporary.unlink(missing_ok=True)
                raise
        self.rows: list[dict[str, Any]] = []
        self.weight = 0  # of ``rows`` (BATCH_WEIGHT)
        self.count = 0
        # The columns of the rows added, where they are not the table's rows themselves
        # (`show --json` objects); None: the table's rows, one key per column.
        self.arrays: Callable[[list[dict[str, Any]]], list[pa.Array]] | None = None
        self.held: list[pa.Table] = []
        self.held_bytes = 0

    def add(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        self.weight += 1 + sum(len(row.get(key) or ()) for key in _MANY)
        if len(self.rows) >= BATCH_ROWS or self.weight >= BATCH_WEIGHT:
            self._convert()

    def _convert(self) -> None:
        if not self.rows:
            return
        if self.arrays is None:
            table = pa.Table.from_pylist(self.rows, schema=self.schema)
        else:
            table = pa.Table.from_arrays(self.arrays(self.rows), schema=self.schema)
        self.rows = []
        self.weight = 0
        if not table.num_rows:
            return  # objects without a row here (connections without a handshake message)
        self.count += table.num_rows
        self.held.append(table)
        self.held_bytes += table.nbytes
        if self.held_bytes >= GROUP_BYTES:
            self._write()
        elif len(self.held) >= MAX_HELD_TABLES:
            # Batches made small by their weight: one table again (each held its columns'
            # arrays, ~100 KB for a few rows of the connections table's 136).
            self.held = [pa.concat_tables(self.held).combine_chunks()]

    def _write(self) -> None:
        if self.held:
            with _writing(self.out):
                self.writer.write_table(pa.concat_tables(self.held))
            self.held = []
            self.held_bytes = 0

    def commit(self) -> None:
        self._convert()
        self._write()
        with _writing(self.out):
            self.writer.close()
            os.replace(self.temporary, self.target)

    def discard(self) -> None:
        """Its temporary file removed, whatever the disk says (a full one refuses the
        footer that closing writes); what is in place is ``_discard``'s."""
        with contextlib.suppress(OSError):
            self.writer.close()
        with contextlib.suppress(OSError):
            self.temporary.unlink(missing_ok=True)


def _quiet(line: str) -> None:
    """A warning the command has said already, once for every job."""


@functools.lru_cache(maxsize=4)
def _checker(
    run: str,
    trust_store: str,
    cas: tuple[str, ...],
    host: str | None,
    at: str | None,
    client_cas: tuple[str, ...],
) -> ChainChecker:
    """The chain checker of a run's jobs in this process, which share their options: the
    roots are read once, not for every capture, as `show` reads several captures (each
    capture's reading judges with a fresh copy: what one capture lends another stays in
    it)."""
    return checker_given(
        trust_store,
        tuple(map(Path, cas)),
        host,
        at,
        warn=_quiet,
        client_cas=tuple(map(Path, client_cas)),
    )


def _connections(
    job: Job, keys: KeyStore | None, checker: ChainChecker, problems: list[Finding]
) -> Iterator[dict[str, Any]]:
    """The capture's connections as `show --json` gives them; the capture's own findings
    are added to ``problems`` at the end. Raises CaptureError or OSError when it cannot be
    read."""
    reading = Reading(job.capture, Judge(checker), keys=keys, limits=job.limits)
    for conn in reading:
        yield connection_to_json(conn)
    problems += reading.notes().problems


def run_local(jobs: list[Job], workers: int, on_done: Callable[[Done], None]) -> None:
    """The jobs in this process (one worker, or one job) or on ``workers`` processes, one
    capture per process, each result handed to ``on_done`` as it comes."""
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            on_done(extract(job))
        return
    from concurrent.futures import ProcessPoolExecutor, as_completed

    with ProcessPoolExecutor(max_workers=min(workers, len(jobs))) as pool:
        futures = [pool.submit(extract, job) for job in jobs]
        try:
            for future in as_completed(futures):
                on_done(future.result())
        except OutputError:
            # The dataset cannot be written: the captures not begun are not begun.
            pool.shutdown(cancel_futures=True)
            raise


def run_dask(jobs: list[Job], address: str, workers: int, on_done: Callable[[Done], None]) -> None:
    """The jobs on a dask.distributed cluster (``local``: a LocalCluster of ``workers``
    processes started here), one task per capture."""
    from dask.distributed import Client, LocalCluster, as_completed

    cluster = None
    if address == "local":
        cluster = LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        )
        client = Client(cluster)  # type: ignore[no-untyped-call]
    else:
        client = Client(address)  # type: ignore[no-untyped-call]
    try:
        futures = client.map(extract, jobs, pure=False)
        for future in as_completed(futures):  # type: ignore[no-untyped-call]
            on_done(future.result())
    finally:
        client.close()  # type: ignore[no-untyped-call]
        if cluster is not None:
            cluster.close()
