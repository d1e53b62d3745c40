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

import hashlib
import io
import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from tlslens.errors import CaptureError
from tlslens.pipeline import Limits, read_capture
from tlslens.serialize import connection_to_json
from tlslens.tables.columns import TABLES, connection_row, schema

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
    limits: Limits = field(default_factory=Limits)


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


def _write(table: pa.Table, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    pq.write_table(table, temporary, compression="zstd")
    os.replace(temporary, target)


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def extract(job: Job) -> Done:
    """Extract one capture (never raises for a bad capture: the error is in the result)."""
    from rich.console import Console

    from tlslens.cli.options import chain_checker, check_chain, key_store

    size = Path(job.capture).stat().st_size if Path(job.capture).exists() else 0
    quiet = Console(file=io.StringIO())  # the command checked the options already
    keys = key_store(tuple(map(Path, job.keylogs)), job.rsa_keys, job.psk, quiet)
    checker = chain_checker(job.trust_store, tuple(map(Path, job.cas)), job.host, job.at, quiet)
    rows: dict[str, list[dict[str, Any]]] = {table: [] for table in TABLES}
    certificates: dict[str, dict[str, Any]] = {}
    name = job.capture
    capture = read_capture(job.capture, keys=keys, limits=job.limits)
    try:
        for conn in capture:
            check_chain(checker, conn)
            row = connection_to_json(conn)
            rows["connections"].append(connection_row(name, row))
            for index, message in enumerate(row["handshake"]):
                rows["handshake_messages"].append(
                    {"capture_file": name, "connection": conn.id, "index": index, **message}
                )
            for problem in row["problems"]:
                rows["problems"].append({"capture_file": name, "connection": conn.id, **problem})
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
                    "first_seen_connection": conn.id,
                    "first_seen_time": _time(row["start_time"]),
                    "connections": 1,
                }
    except (CaptureError, OSError) as exc:
        return Done(name, size, error=str(exc))
    for problem in capture.summary.problems:
        rows["problems"].append(
            {
                "capture_file": name,
                "connection": None,
                "frame": problem.frame,
                "direction": problem.direction,
                "layer": problem.layer,
                "offset": problem.offset,
                "message": problem.message,
            }
        )
    rows["certificates"] = list(certificates.values())
    key = key_of(name)
    for table in TABLES:
        # What a killed run of this capture left half-written goes.
        for stale in (Path(job.out) / table).glob(f".{key}.parquet.*.tmp"):
            stale.unlink(missing_ok=True)
        columns = schema(table)
        _write(
            pa.Table.from_pylist(rows[table], schema=columns),
            Path(job.out) / table / f"{key}.parquet",
        )
    counts = {table: len(rows[table]) for table in TABLES}
    marker = done_marker(job.out, name)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"capture": name, "rows": counts}) + "\n")
    return Done(name, size, connections=counts["connections"], rows=counts)


def run_local(jobs: list[Job], workers: int, on_done: Callable[[Done], None]) -> None:
    """The jobs in this process (one worker) or in a pool of processes, each result handed
    to ``on_done`` as it comes."""
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            on_done(extract(job))
        return
    from concurrent.futures import ProcessPoolExecutor, as_completed

    with ProcessPoolExecutor(max_workers=workers) as pool:
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
