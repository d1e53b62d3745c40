"""`tlslens extract`: captures (files, folders, globs) into a Parquet dataset."""

from __future__ import annotations

import os
import secrets
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

from tlslens._text import plural, safe_text
from tlslens.cli.options import (
    capture_limits,
    chain_checker,
    key_store,
    limit_options,
    secret_options,
    trust_options,
)
from tlslens.cli.output import Stderr

if TYPE_CHECKING:
    from tlslens.tables.jobs import Done, Job


@click.command()
@click.argument("captures", nargs=-1, required=True)
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The dataset folder: connections/, certificates/, handshake_messages/, problems/.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=os.cpu_count() or 1,
    show_default="all cores",
    help="Captures extracted at once, each in its own process (1: this process).",
)
@click.option("--resume", is_flag=True, help="Skip the captures already extracted into --out.")
@click.option(
    "--dask",
    "dask_address",
    metavar="ADDRESS",
    help="Run on a dask.distributed scheduler at ADDRESS (tcp://host:8786), or on a "
    "LocalCluster of --workers processes with 'local'.",
)
@secret_options
@trust_options
@limit_options
def extract(
    captures: tuple[str, ...],
    out: Path,
    workers: int,
    resume: bool,
    dask_address: str | None,
    keylogs: tuple[Path, ...],
    rsa_keys: tuple[str, ...],
    psk: str | None,
    trust_store: str,
    cas: tuple[Path, ...],
    host: str | None,
    client_cas: tuple[Path, ...],
    revocation: str,
    at_text: str | None,
) -> None:
    """Extract CAPTURES (files, folders searched for captures, globs) into a Parquet
    dataset: one row per TLS connection (every field of `show --json`, with JA3, JA3S and
    JA4), per distinct certificate, per handshake message and per problem. Each capture's
    tables are written whole or not at all; --resume goes on where a run stopped.
    """
    # Imported when the command runs: Arrow and Parquet are a third of a second that
    # `extract --help` does without.
    from tlslens.tables.jobs import Job, captures_in, done_marker, key_of

    err = Stderr()
    if revocation == "online":
        raise click.BadParameter("extract asks no CA online", param_hint="--revocation")
    keys = key_store(keylogs, rsa_keys, psk, err)  # checked once here, then in each job quietly
    if keys is not None and not keys:  # the jobs' notes are not said: said here, once
        err.say(
            "no usable secret in what was given: only Decryption Secrets Blocks inside the "
            "captures can decrypt them",
            "yellow",
        )
    chain_checker(trust_store, cas, host, at_text, err, client_cas)
    if not keylogs and not rsa_keys and not psk and os.environ.get("SSLKEYLOGFILE"):
        keylogs = (Path(os.environ["SSLKEYLOGFILE"]),)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise click.BadParameter(f"{out}: {exc.strerror or exc}", param_hint="--out") from exc
    paths = list(captures_in(captures))
    if not paths:  # a glob that matched nothing, an empty folder: said, not "0 extracted"
        err.say(f"no capture found in {safe_text(' '.join(captures))}", "red")
        sys.exit(1)
    missing = [p for p in paths if not p.is_file()]
    for path in missing:
        err.say(f"{safe_text(str(path))}: no such capture file", "red")
    run = secrets.token_hex(8)
    jobs = [
        Job(
            capture=str(path),
            out=str(out),
            keylogs=tuple(map(str, keylogs)),
            rsa_keys=rsa_keys,
            psk=psk,
            trust_store=trust_store,
            cas=tuple(map(str, cas)),
            host=host,
            at=at_text,
            client_cas=tuple(map(str, client_cas)),
            limits=capture_limits(),
            run=run,
        )
        for path in paths
        if path.is_file()
    ]
    # A capture named twice (a folder and a file in it, globs that overlap) is extracted
    # once: two jobs of one capture at once removed each other's files (review).
    unique: dict[str, Job] = {}
    for job in jobs:
        unique.setdefault(key_of(job.capture), job)
    jobs = list(unique.values())
    skipped = [job for job in jobs if resume and done_marker(job.out, job.capture).exists()]
    jobs = [job for job in jobs if job not in skipped]
    if skipped:
        err.say(f"{plural(len(skipped), 'capture')} already extracted: skipped (--resume)")
    failed = _run(err, jobs, workers, dask_address)
    # A capture named that is not there fails the run as one that cannot be read does, once
    # the others are extracted (exit 0 beside a good one: the newcomer's trial).
    if failed or missing:
        sys.exit(1)


def _run(err: Stderr, jobs: list[Job], workers: int, dask_address: str | None) -> int:
    """The jobs, with a progress bar on a terminal's stderr; the closing summary; how many
    captures could not be read."""
    from tlslens.tables.jobs import run_dask, run_local

    total = sum(Path(job.capture).stat().st_size for job in jobs)
    started = time.monotonic()
    done: list[Done] = []
    with _progress(err, len(jobs), total) as advance:

        def on_done(result: Done) -> None:
            if result.unwritable is not None:
                raise result.unwritable  # the dataset's failure: the run stops (exit 1)
            done.append(result)
            if result.error is not None:
                err.say(f"{safe_text(result.capture)}: {safe_text(result.error)}", "red")
            elapsed = max(time.monotonic() - started, 1e-9)
            advance(sum(d.size for d in done), sum(d.connections for d in done) / elapsed)

        if dask_address is not None:
            run_dask(jobs, dask_address, workers, on_done)
        else:
            run_local(jobs, workers, on_done)
    elapsed = time.monotonic() - started
    connections = sum(d.connections for d in done)
    failed = sum(1 for d in done if d.error is not None)
    err.say(
        f"extracted {len(done) - failed} capture(s), {connections} connection(s), "
        f"{total / 1e6:.1f} MB in {elapsed:.1f} s ({connections / max(elapsed, 1e-9):.0f} "
        f"connections/s)" + (f"; {failed} could not be read" if failed else "")
    )
    return failed


@contextmanager
def _progress(err: Stderr, files: int, total: int) -> Iterator[Callable[[int, float], None]]:
    """A progress bar on a terminal's stderr, advanced a capture at a time with the bytes
    and the connections per second so far; elsewhere nothing (nor rich's import)."""
    if not err.is_terminal:
        yield lambda size, rate: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    progress = Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(
            "files · {task.fields[mb]:.0f}/{task.fields[total_mb]:.0f} MB · "
            "{task.fields[rate]:.0f} connections/s"
        ),
        TimeRemainingColumn(),
        console=err.console,
        transient=True,
    )
    task = progress.add_task("extract", total=files, mb=0.0, total_mb=total / 1e6, rate=0.0)
    with progress:
        yield lambda size, rate: progress.update(task, advance=1, mb=size / 1e6, rate=rate)
