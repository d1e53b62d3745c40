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

import functools
import hashlib
import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from tlslens.bounds import Limits
from tlslens.errors import CaptureError
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
    """Extract one capture (never raises for a bad capture: the error is in the result)."""
    size = Path(job.capture).stat().st_size if Path(job.capture).exists() else 0
    # The command checked the options and said what they warn of already.
    keys = secrets_given(tuple(map(Path, job.keylogs)), job.rsa_keys, job.psk, warn=_quiet)
    checker = _checker(job.run, job.trust_store, job.cas, job.host, job.at, job.client_cas)
    name = job.capture
    key = key_of(name)
    tables = {table: _Table(Path(job.out), table, key) for table in TABLES}
    # Both fed `show --json` objects: a row each, a row per handshake message.
    tables["connections"].arrays = functools.partial(connection_arrays, name)
    tables["handshake_messages"].arrays = functools.partial(message_arrays, name)
    certificates: dict[str, dict[str, Any]] = {}  # distinct, so bounded by the work
    try:
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
    except (CaptureError, OSError) as exc:
        for table in tables.values():
            table.discard()
        return Done(name, size, error=str(exc))
    for problem in summary_problems:
        tables["problems"].add({"capture_file": name, "connection": None, **problem.to_json()})
    for cert_row in certificates.values():
        tables["certificates"].add(cert_row)
    for table in tables.values():
        table.commit()
    counts = {table_name: table.count for table_name, table in tables.items()}
    marker = done_marker(job.out, name)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"capture": name, "rows": counts}) + "\n")
    return Done(name, size, connections=counts["connections"], rows=counts)


# Rows (or `show --json` objects) held as Python objects before Arrow takes them (such an
# object is about 17 KB of them, its Arrow columns under 3 KB), then the Arrow bytes held
# before they are written out as one row group: memory stays bounded whatever the size of
# the capture, and a capture of a few thousand connections is one row group (Parquet's
# cost goes by column chunk: 5,104 connections took 70 ms to write as row groups of 2,048,
# 42 ms as one).
BATCH_ROWS = 1024
GROUP_BYTES = 16 << 20


class _Table:
    """One table of one capture, written as it grows to a temporary file that is renamed
    into place once the capture is whole (what a killed run of it left goes first)."""

    def __init__(self, out: Path, table: str, key: str) -> None:
        self.target = out / table / f"{key}.parquet"
        self.target.parent.mkdir(parents=True, exist_ok=True)
        for stale in self.target.parent.glob(f".{key}.parquet.*.tmp"):
            stale.unlink(missing_ok=True)
        self.temporary = self.target.with_name(f".{self.target.name}.{os.getpid()}.tmp")
        self.schema = schema(table)
        self.writer = pq.ParquetWriter(self.temporary, self.schema, compression="zstd")
        self.rows: list[dict[str, Any]] = []
        self.count = 0
        # The columns of the rows added, where they are not the table's rows themselves
        # (`show --json` objects); None: the table's rows, one key per column.
        self.arrays: Callable[[list[dict[str, Any]]], list[pa.Array]] | None = None
        self.held: list[pa.Table] = []
        self.held_bytes = 0

    def add(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        if len(self.rows) >= BATCH_ROWS:
            self._convert()

    def _convert(self) -> None:
        if not self.rows:
            return
        if self.arrays is None:
            table = pa.Table.from_pylist(self.rows, schema=self.schema)
        else:
            table = pa.Table.from_arrays(self.arrays(self.rows), schema=self.schema)
        self.rows = []
        if not table.num_rows:
            return  # objects without a row here (connections without a handshake message)
        self.count += table.num_rows
        self.held.append(table)
        self.held_bytes += table.nbytes
        if self.held_bytes >= GROUP_BYTES:
            self._write()

    def _write(self) -> None:
        if self.held:
            self.writer.write_table(pa.concat_tables(self.held))
            self.held = []
            self.held_bytes = 0

    def commit(self) -> None:
        self._convert()
        self._write()
        self.writer.close()
        os.replace(self.temporary, self.target)

    def discard(self) -> None:
        self.writer.close()
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
        for future in as_completed(pool.submit(extract, job) for job in jobs):
            on_done(future.result())


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
