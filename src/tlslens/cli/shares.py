"""`show --json --workers N` (and `extract` of a big capture): one capture read by N
processes at once, one share of its connections each, printed as one process prints it.

Strategy: forked workers (the options already checked, nothing to pickle) each read the
whole file and parse only their share of the connections, by 4-tuple (flow_share),
numbering every flow as one process would. A worker writes one line per connection: its
flow number, its own id, what the parent needs (certificates, each whole the first time;
the session keys presented and issued, for ``resumed_from``) and the JSON. A worker checks
its chains: a verdict that found every issuer does not depend on the other certificates,
and one short of an issuer stands unless the parent saw a certificate that could be that
issuer (ChainChecker.adopt); else the parent checks it. The parent merges the lines by
flow number as they come, gives the ids and ``resumed_from`` in that order, checks the
chains left to it with one checker that has seen every certificate, and writes them into
the JSON: the same bytes as one process.

Only the secrets a TLS 1.2 session's resumptions reuse cross connections: where secrets
may decrypt, the lines wait in the workers' files until each worker has sent its journal
of sessions learnt and looked up (KeyStore.journal); replayed in frame order, it tells
whether each resumption found what it finds in one process. If one did not, the capture
is read again by address pair, then by one process. Memory stays that of one worker.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import selectors
import signal
import sys
import tempfile
import time
import traceback
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, Any, NoReturn

from cryptography.hazmat.primitives import serialization
from rich.console import Console
from rich.text import Text

from tlslens._text import safe_text
from tlslens.capture import open_capture
from tlslens.cli.journals import END, Replay
from tlslens.cli.options import check_chain, matches, verdicts
from tlslens.cli.output import FileProgress, count_key_log_match, key_log_match, unreadable
from tlslens.errors import CaptureError
from tlslens.explain import ResumptionSavings
from tlslens.keys.store import KeyStore
from tlslens.model import Connection, Finding
from tlslens.net.revocation import RevocationChecker
from tlslens.outcome import ChainEvidence, outcome_of
from tlslens.pipeline import CaptureSummary, Limits, read_capture
from tlslens.serialize import connection_to_json
from tlslens.tls.resumption import MAX_SESSIONS, ResumptionIndex, issued, presented
from tlslens.x509 import ChainChecker, Validation

Work = Callable[[tuple[int, int], Callable[[str], None]], None]


def _flow_of(line: bytes) -> int:
    return int(line.split(b"\t", 2)[1])


# How long the parent waits for a worker's note before it looks at their files again.
_POLL_S = 0.02
# What the parent reads of a worker's file at a time, and how many of its lines it keeps
# waiting before it reads more: memory stays bounded however much the workers write.
_CHUNK = 1 << 20
_LINES_AHEAD = 256


def run_shares(workers: int, work: Work, *, hold: bool = False) -> Iterator[str]:
    """The lines the ``workers`` forked processes write: their notes (progress "P", error
    "E" and the like) as they come, and the connections ("C") of all of them merged by flow
    number while they work (with ``hold``, once all have ended and every note is out).

    Connection lines go to a file per worker, which the parent reads as it grows, not
    through a pipe: a pipe would hold the worker that is ahead until the other catches up,
    and the two would take turns. Raises RuntimeError if a worker dies."""
    children: list[tuple[int, IO[str]]] = []
    sys.stdout.flush()
    sys.stderr.flush()
    with (
        tempfile.TemporaryDirectory(prefix="tlslens-shares-") as scratch,
        contextlib.ExitStack() as files,
    ):
        parts = [Path(scratch) / f"share-{k}" for k in range(workers)]
        for part in parts:
            part.touch()
        readers = [files.enter_context(part.open("rb")) for part in parts]
        for k in range(workers):
            read, write = os.pipe()
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the child (its work is what the tests check)
                os.close(read)
                _child(k, workers, work, write, parts[k])
            os.close(write)
            children.append((pid, os.fdopen(read)))
        pending: list[deque[bytes]] = [deque() for _ in range(workers)]
        partial = [b""] * workers
        exited = [False] * workers
        ended = [False] * workers  # the worker exited and its file was read to the end
        failed = 0
        try:
            selector = selectors.DefaultSelector()
            for _pid, stream in children:
                selector.register(stream, selectors.EVENT_READ)
            while not all(ended) or selector.get_map():
                waiting = selector.get_map() and not all(exited)
                for key, _events in selector.select(_POLL_S if waiting else 0):
                    line = key.fileobj.readline()  # type: ignore[union-attr]
                    if line:
                        yield line
                    else:
                        selector.unregister(key.fileobj)
                for k, (pid, _stream) in enumerate(children):
                    if not exited[k]:
                        # Asked before reading: once it has exited, what is read is all.
                        done, status = os.waitpid(pid, os.WNOHANG)
                        if done:
                            exited[k] = True
                            failed += status != 0
                    if ended[k] or len(pending[k]) >= _LINES_AHEAD:
                        continue
                    chunk = readers[k].read(_CHUNK)
                    if chunk:
                        lines = (partial[k] + chunk).split(b"\n")
                        partial[k] = lines.pop()
                        pending[k].extend(lines)
                    elif exited[k]:
                        ended[k] = True
                # A line goes out once every worker still at work has one waiting too.
                while not hold or (all(exited) and not selector.get_map()):
                    ready = [k for k in range(workers) if pending[k]]
                    if not ready or any(not pending[k] and not ended[k] for k in range(workers)):
                        break
                    k = min(ready, key=lambda k: _flow_of(pending[k][0]))
                    yield pending[k].popleft().decode() + "\n"
        finally:
            for k, (pid, stream) in enumerate(children):
                stream.close()
                if not exited[k]:
                    os.kill(pid, signal.SIGKILL)  # the reader stopped early
                    os.waitpid(pid, 0)
        if failed:
            raise RuntimeError(f"{failed} worker process(es) failed")


def _child(k: int, workers: int, work: Work, notes: int, part: Path) -> NoReturn:
    """A worker: its connections to ``part``, its notes to the pipe ``notes``."""
    if k:
        # One worker says what concerns the whole file (each sees all of it).
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
    status = 0
    try:
        with part.open("w", buffering=1 << 16) as data, os.fdopen(notes, "w", buffering=1) as pipe:

            def send(text: str) -> None:
                (data if text.startswith(("C", "B")) else pipe).write(text)

            work((k, workers), send)
    except BaseException:
        traceback.print_exc()
        status = 1
    os._exit(status)


class Renumber:
    """Gives connections their ids in flow order, and the connection each resumes
    (resolved here: its issuer may be another worker's)."""

    def __init__(self) -> None:
        self.count = 0
        self.resumptions = ResumptionIndex()
        # The flow of each connection that issued a session, for SharedText (bounded as
        # the index is).
        self.flows: OrderedDict[int, int] = OrderedDict()

    def line(self, text: str) -> tuple[int, dict[str, Any], str, int | None]:
        """(id, what the worker says of the connection, its row, the id of the connection
        it resumes) of a "C" line."""
        _kind, flow, local, meta_text, row = text.rstrip("\n").split("\t", 4)
        self.count += 1
        number = self.count
        meta = json.loads(meta_text)
        meta["local"] = int(local)
        presented = [(kind, bytes.fromhex(value)) for kind, value in meta.get("p", ())]
        source = self.resumptions.resolve_keys(presented, number)
        if "i" in meta:
            self.resumptions.learn_keys(
                [(kind, bytes.fromhex(value)) for kind, value in meta["i"]], number
            )
            self.flows[number] = int(flow)
            if len(self.flows) > self.resumptions.max_sessions:
                self.flows.popitem(last=False)
        return number, meta, row, source


def _json_ids(row: str, local: int, number: int, source: int | None) -> str:
    """A worker's JSON line with the id and ``resumed_from`` the parent gave: keys come in
    a fixed order and strings are escaped, so the first '"id": N' is the key itself, and
    so is the first '"resumed_from": '."""
    row = row.replace(f'"id": {local},', f'"id": {number},', 1)
    at = row.index('"resumed_from": ')
    end = row.index(",", at)
    value = "null" if source is None else str(source)
    return f'{row[:at]}"resumed_from": {value}{row[end:]}'


_VALIDATION = ', "validation": null, "problems": '
_CLIENT_VALIDATION = '"validation": null}, "hello_retry_request": '


def with_verdicts(
    row: str, server: str | None, client: str | None, evidence: list[str] | None = None
) -> str:
    """A worker's JSON line with the chain verdicts (as JSON) the parent gives: the last
    "validation" key is the connection's, the one before "hello_retry_request" its client
    chain's (keys come in a fixed order and strings are escaped). With ``evidence`` (an
    outcome.ChainEvidence's fields), the outcome's reason, which the worker gave as for a
    chain not checked, says what the parent's verdict found."""
    if evidence is not None:
        told = ChainEvidence(*evidence)
        verdict = server if told.which == "server" else client
        old = json.dumps(told.reason(None), ensure_ascii=True)
        checked = None if verdict is None else json.loads(verdict)
        new = json.dumps(told.reason(checked), ensure_ascii=True)
        at = row.index(old, row.index('"outcome": '))
        row = row[:at] + new + row[at + len(old) :]
    if server is not None:
        at = row.rindex(_VALIDATION)
        row = f'{row[:at]}, "validation": {server}, "problems": {row[at + len(_VALIDATION) :]}'
    if client is not None:
        row = row.replace(
            _CLIENT_VALIDATION, f'"validation": {client}}}, "hello_retry_request": ', 1
        )
    return row


def _json(validation: Validation) -> str:
    return json.dumps(validation.to_json(), ensure_ascii=True)


def _verdict_to_adopt(conn: Connection, chains: ChainChecker) -> dict[str, Any]:
    """A worker's verdicts of a chain short of an issuer, and what the parent needs to
    tell whether it stands (ChainChecker.adopt): which certificate lacks its issuer, and
    which certificate of the share the verdict names as that issuer, if any."""
    validation = conn.validation
    assert validation is not None and validation.missing_issuer is not None
    child = validation.missing_issuer
    top = child.public_bytes(serialization.Encoding.DER)
    client = conn.client_validation if conn.client_certificates else None
    named = any(p.code == "intermediate_elsewhere_in_capture" for p in validation.problems)
    return {
        "v": _json(validation),
        "w": None if client is None else _json(client),
        "x": next(i for i, cert in enumerate(conn.certificates) if cert.der == top),
        "e": chains.elsewhere(child) if named else None,
    }


class SharedJson:
    """`show --json` of one capture by ``workers`` forked processes: iterating gives the
    lines one process prints, in its order; then ``failure`` (why the capture could not be
    read, or None), ``problems`` (the capture's own findings), ``chains`` (the checker that
    saw every certificate: its ``late`` notes), ``savings`` and ``connections`` (how many)
    are what one process knows at the end."""

    def __init__(
        self,
        path: Path,
        workers: int,
        keys: KeyStore | None,
        checker: ChainChecker,
        revoker: RevocationChecker | None,
        limits: Limits,
        filters: tuple[int | None, tuple[str, int | None] | None, str | None],
        reveal_keys: bool,
        on_progress: Callable[[int], None] | None = None,
        *,
        records: bool = False,
    ) -> None:
        self.path, self.workers, self.keys, self.checker = path, workers, keys, checker
        self.revoker, self.limits, self.filters = revoker, limits, filters
        self.reveal_keys, self.on_progress, self.records = reveal_keys, on_progress, records
        self.checks = True  # chains checked (SharedText: as the command does)
        self.rechecks = True  # the parent can check a chain again and mend the row
        self.sink: Callable[[int, str, bytes], None] | None = None  # SharedText's, in workers
        self.each: Callable[[int, int], None] | None = None  # SharedText's: (id, flow)
        self._issuers: OrderedDict[int, int] = OrderedDict()  # a worker's: id -> flow
        self.fallback = False  # only one process can give the output (SharedText)
        self._start()
        # By 4-tuple, so that one client's connections to one server spread too; by address
        # pair (which keeps a session with its resumptions) or by one process if a
        # resumption would not find the secrets one process finds (see journals.Replay).
        self._split = "connections"

    def _start(self) -> None:
        """What one read of the capture learns, from nothing."""
        self.failure: str | None = None
        self.problems: list[Finding] = []
        self.chains = self.checker.fresh()  # "elsewhere in the capture" means this capture
        self.savings = ResumptionSavings()
        self.connections = 0
        self.shown = 0
        self.summary = CaptureSummary(file=str(self.path))
        self.key_log = CaptureSummary(file=str(self.path))  # its matches, over all workers

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
        """What is printed of a connection the filters let through; None if only one
        process can print it (never, for JSON)."""
        chains = self.chains
        row = _json_ids(row, chain["local"], conn_id, source) + "\n"
        if chain["f"]:
            # Its verdict found every issuer: what the others sent cannot change it, but
            # the pool (and the late-intermediate note) still learns from it.
            chains.observe(sent, conn_id)
            return row
        if "v" in chain and chains.adopt(sent, chain["x"], chain["e"], conn_id):
            return with_verdicts(row, chain["v"], chain["w"], chain.get("u"))
        validation, client = verdicts(
            chains,
            sent,
            ders(chain["k"]),
            sni=chain["s"],
            at=datetime.fromisoformat(chain["t"]),
            stapled_ocsp=bytes.fromhex(chain["o"]) if chain["o"] else None,
            conn_id=conn_id,
            revoker=self.revoker,
        )
        return with_verdicts(
            row,
            None if validation is None else _json(validation),
            None if client is None else _json(client),
            chain.get("u"),
        )

    def _work(self, share: tuple[int, int], write: Callable[[str], None]) -> None:
        """A worker: one line per connection of its share, then the capture's findings."""
        _number, server, sni = self.filters
        sent: set[bytes] = set()  # certificates already written out whole
        last = [0]
        # Online revocation is asked by the parent, once per path, as one process asks it.
        own_chains = self.checker.fresh() if self.revoker is None and self.checks else None

        def der(data: bytes) -> str:
            digest = hashlib.sha256(data).digest()
            if digest in sent:
                return "h" + digest.hex()
            sent.add(digest)
            return "d" + data.hex()

        def progress(done: int) -> None:
            if share[0] == 0 and done - last[0] >= 1 << 20:
                last[0] = done
                write(f"P\t{done}\n")
            journal(reading.summary.frames)

        def journal(mark: int) -> None:
            """The sessions learnt and looked up since the last note, and the frame up to
            which this worker has read (the parent's replay goes as far as all have)."""
            keys = reading.keys
            events = keys.journal if keys is not None and keys.journal else []
            data = [(f, n, op, table, key.hex(), hit) for f, n, op, table, key, hit in events]
            write(f"J\t{share[0]}\t{mark}\t{json.dumps(data)}\n")
            events.clear()  # a worker's journal holds no more than a note's worth

        reading = read_capture(
            self.path,
            keys=self.keys,
            limits=self.limits,
            share=share,
            on_progress=progress,
            records=self.records,
            share_by_connection=self._split == "connections",
            journal=True,
            clock=time.monotonic,
            plaintext_sink=self.sink,
        )
        try:
            for conn in reading:
                if reading.watch is not None and reading.watch.reached:
                    break
                shown = matches(conn, None, server, sni)
                final = False
                chain: dict[str, Any] = {}
                if shown and own_chains is not None:
                    check_chain(own_chains, conn)
                    final = conn.validation is None or conn.validation.missing_issuer is None
                    if not final:
                        # Short of an issuer: the parent, which has seen every certificate,
                        # keeps this verdict if none of them can be that issuer.
                        chain |= _verdict_to_adopt(conn, own_chains)
                        if self.rechecks:  # else left in the row, which the parent cannot mend
                            conn.validation = conn.client_validation = None
                chain |= {
                    "c": [der(cert.der) for cert in conn.certificates],
                    "y": key_log_match(conn),
                    "m": shown,
                    "f": final,
                    "r": ResumptionSavings.sample(conn) if shown else None,
                }
                for tag, keys in (("p", presented(conn)), ("i", issued(conn))):
                    if keys:
                        chain[tag] = [(kind, value.hex()) for kind, value in keys]
                if "i" in chain:
                    self._issuers[conn.id] = conn.tcp_stream
                    if len(self._issuers) > MAX_SESSIONS:
                        self._issuers.popitem(last=False)
                if not final and self.rechecks:
                    chain |= {
                        "k": [der(cert.der) for cert in conn.client_certificates or []],
                        "s": conn.sni,
                        "t": conn.start_time.isoformat(),
                        "o": conn.stapled_ocsp.hex() if conn.stapled_ocsp else None,
                    }
                if not final and self.rechecks and shown:
                    evidence = outcome_of(conn).evidence  # the parent gives the verdict
                    if evidence is not None:
                        chain["u"] = dataclasses.astuple(evidence)
                local = conn.id
                row = self._row(conn, chain) if shown else ""
                write(f"C\t{conn.tcp_stream}\t{local}\t{json.dumps(chain)}\t{row}\n")
        except (CaptureError, OSError) as exc:
            write(f"E\t{json.dumps(str(exc))}\n")
            return
        if reading.watch is not None and reading.watch.reached:
            # Among this worker's lines, in their order (flow 0: the parent takes it at
            # once): what it wrote before is what one process gives; what follows may not be.
            write("B\t0\n")
            return
        journal(END)
        if share[0] == 0:  # each worker saw the whole file: one says what concerns it
            for finding in reading.summary.problems:
                write(f"S\t{json.dumps(finding.to_json())}\n")
            summary = dataclasses.asdict(reading.summary)
            del summary["problems"]
            write(f"U\t{json.dumps(summary)}\n")

    def _row(self, conn: Connection, chain: dict[str, Any]) -> str:
        """What the parent prints of a connection, on one line (here: its JSON)."""
        return json.dumps(connection_to_json(conn, reveal_keys=self.reveal_keys), ensure_ascii=True)

    def __iter__(self) -> Iterator[str]:
        # Where secrets may decrypt (given, or carried by a pcapng), the connections wait in
        # the workers' files until every worker has said which sessions it learnt and looked
        # up: if a resumption would not find what it finds in one process, nothing came out
        # yet and the capture is read again, by address pair, then by one process.
        # A share that may meet a bound one process applies to all connections (BOUNDS)
        # stops where its output stops being one process's: one process reads the capture
        # again, and what was given already is not given twice.
        hold = bool(self.keys) or _may_carry_secrets(self.path)
        given = 0
        reads = [("connections", self.workers), ("addresses", self.workers), ("", 1)]
        while reads:
            split, workers = reads.pop(0)
            self._start()
            self._split = split
            skip = given
            for line in self._merged(workers, hold=hold):
                if skip:
                    skip -= 1
                    continue
                given += 1
                yield line
            if self.failure == BOUNDS:
                reads = reads[-1:]
            elif self.failure != RETRY:
                return

    def _merged(self, workers: int, *, hold: bool) -> Iterator[str]:
        """The lines of one read by ``workers`` (with ``hold``, once every worker has ended
        and its journal is replayed; else as they come, for a caller that keeps them until
        the read has ended without a RETRY)."""
        number = self.filters[0]
        replay = Replay(workers)
        renumber = Renumber()
        chains = self.chains
        certificates: dict[str, bytes] = {}  # by SHA-256 hex

        def ders(refs: list[str]) -> list[bytes]:
            out = []
            for ref in refs:
                if ref[0] == "d":
                    data = bytes.fromhex(ref[1:])
                    certificates.setdefault(hashlib.sha256(data).hexdigest(), data)
                    out.append(data)
                else:
                    out.append(certificates[ref[1:]])
            return out

        try:
            for line in run_shares(workers, self._work, hold=hold):
                kind = line[:2]
                if kind == "P\t":
                    if self.on_progress is not None:
                        self.on_progress(int(line[2:]))
                    continue
                if kind == "E\t":
                    self.failure = json.loads(line[2:])
                    continue
                if kind == "S\t":
                    self.problems.append(Finding(**json.loads(line[2:])))
                    continue
                if kind == "J\t":
                    worker, mark, events = line[2:].split("\t", 2)
                    if not replay.add(int(worker), int(mark), json.loads(events)):
                        self.failure = RETRY  # a resumption would find other secrets
                        return
                    continue
                if kind == "B\t":
                    self.failure = BOUNDS
                    return
                if kind == "U\t":
                    self.summary = CaptureSummary(**json.loads(line[2:]))
                    continue
                conn_id, chain, row, source = renumber.line(line)
                self.connections = conn_id
                if self.each is not None:
                    self.each(conn_id, _flow_of(line.encode()))
                sent = ders(chain["c"])
                count_key_log_match(self.key_log, chain["y"])
                if not chain["m"] or (number is not None and conn_id != number):
                    chains.observe(sent, conn_id)
                    continue
                self.shown += 1
                if chain["r"] is not None:
                    self.savings.add_sample(*chain["r"])
                out = self._out(conn_id, chain, row, source, sent, ders, renumber)
                if out is None:
                    return  # _out said why (self.failure)
                yield out
        except RuntimeError as exc:
            self.failure = f"{exc}; the output above is incomplete"


RETRY = "read again"  # by address pair, then by one process
ONE_PROCESS = "read by one process"
BOUNDS = "a bound may be met"  # --reorder-window, --max-connections: by one process


def _may_carry_secrets(path: Path) -> bool:
    """Whether the capture is pcapng (whose Decryption Secrets Blocks carry key logs);
    a file that cannot be opened is for the workers to say."""
    try:
        raw, reader = open_capture(path)
    except OSError:
        return False
    with raw:
        try:
            iter(reader)
        except CaptureError:
            return False
        return reader.format == "pcapng"


def write_shared(shared: SharedJson, out: Console) -> bool | None:
    """``shared``'s output to ``out`` (a file or a pipe), with the progress bar of a file:
    True if the capture could be read (``shared`` then holds what its closing notes need,
    ``summary`` counted), False if not (said here), None if only one process can tell it
    (nothing was written then)."""
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    path = shared.path
    try:
        path.open("rb").close()  # said here, as one process says it, not by each worker
    except OSError as exc:
        err.print(unreadable(path, exc))
        return False
    bar = FileProgress(err, path)
    shared.on_progress = bar.update
    try:
        for chunk in shared:
            out.file.write(chunk)
    finally:
        bar.stop()
    if shared.fallback:
        return None
    if shared.failure is not None:
        err.print(Text(f"{safe_text(str(path))}: {safe_text(shared.failure)}", style="red"))
        return False
    shared.summary.tls_connections = shared.connections
    shared.summary.client_randoms = shared.key_log.client_randoms
    shared.summary.key_log_matched = shared.key_log.key_log_matched
    return True
