"""Output that cannot be written (a full disk, a device that refuses bytes) is said as the
output's failure, once, with exit status 1: never as the capture's ("cannot read"), nor as
a connection's internal error, nor by the interpreter as it exits."""

from __future__ import annotations

import errno
import io
import os
import pickle
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from tlslens.cli import certs, main, plaintext
from tlslens.errors import OutputError
from tlslens.tables import jobs

from conftest import CAPTURES

CAPTURE = CAPTURES / "demo-tls12-tls13.pcapng"
KEYS = CAPTURES / "demo-tls12-tls13.keys"
FULL = Path("/dev/full")  # Linux: every write fails with ENOSPC


@pytest.mark.skipif(not FULL.exists(), reason="no /dev/full on this system")
@pytest.mark.parametrize(
    "args",
    [
        ["show", "--json", str(CAPTURE)],
        ["show", str(CAPTURE)],
        ["certs", str(CAPTURE)],
        ["decrypt", "--keylog", str(KEYS), str(CAPTURE)],
        # click's own writing: it was an internal error, exit 2 (newcomer's trial)
        ["--help"],
        ["--version"],
        ["show", "--help"],
    ],
    ids=["show --json", "show", "certs", "decrypt", "--help", "--version", "show --help"],
)
def test_a_full_standard_output_is_the_outputs_failure(args: list[str]) -> None:
    with FULL.open("wb") as full:
        done = subprocess.run(
            [sys.executable, "-m", "tlslens", *args],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    assert done.returncode == 1
    assert done.stderr == "tlslens: cannot write to standard output: No space left on device\n"
    assert FULL.is_char_device()


def test_plaintext_files_that_cannot_be_written_stop_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """decrypt --out on a disk that fills up: the run stops there, said as the folder's
    failure (the plaintext is written from inside the capture's reading, where any other
    exception is a bug of that connection, told on it, and the run goes on)."""

    def full(self: plaintext._PlaintextFiles, stream: int, direction: str, data: bytes) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(plaintext._PlaintextFiles, "_write", full)
    out = tmp_path / "plain"
    result = CliRunner().invoke(
        main, ["decrypt", "--keylog", str(KEYS), "--out", str(out), str(CAPTURE)]
    )
    assert result.exit_code == 1
    assert result.stderr == f"tlslens: cannot write to {out}: No space left on device\n"
    assert "internal error" not in result.output


def test_a_standard_output_closed_from_the_start_is_no_internal_error() -> None:
    """Started with standard output closed (``>&-``): nothing is written, and nothing is
    said of it (the final flush found no stream: an internal error, review)."""
    for args in (["show", "--help"], ["show", str(CAPTURE)], ["certs", str(CAPTURE)]):
        done = subprocess.run(
            ["sh", "-c", 'exec "$@" >&-', "sh", sys.executable, "-m", "tlslens", *args],
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
        assert (done.returncode, done.stderr) == (0, ""), args


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="no /proc/self/fd here")
def test_a_report_to_standard_output_goes_where_the_shell_opened_it(tmp_path: Path) -> None:
    """``report -o /dev/stdout >> FILE``: the page is appended to what FILE held (opening
    the name anew truncated it, review); /proc/self/fd/1 is what /dev/stdout names."""
    kept = tmp_path / "kept.html"
    kept.write_text("prior\n")
    with kept.open("a") as appended:
        done = subprocess.run(
            [sys.executable, "-m", "tlslens", "report", "-o", "/proc/self/fd/1", str(CAPTURE)],
            stdout=appended,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    assert done.returncode == 0, done.stderr
    text = kept.read_text()
    assert text.startswith("prior\n<!doctype html>") and text.endswith("</html>")


@pytest.mark.skipif(not FULL.exists(), reason="no /dev/full on this system")
@pytest.mark.parametrize("command", ["connect", "scan"])
def test_a_live_commands_json_to_a_full_output_is_the_outputs_failure(command: str) -> None:
    """connect --json and scan --json write their line without a Console: a write that
    fails was an internal error (exit 2), the text form already the output's."""
    from _servers import NAME, PKI, ScriptedServer, http_answer, server_context, tls_then

    with ScriptedServer(tls_then(server_context(), http_answer)) as server:
        for form in (["--json"], []):
            with FULL.open("wb") as full:
                target = [f"127.0.0.1:{server.port}", "--sni", NAME, "--ca", str(PKI / "root.pem")]
                done = subprocess.run(
                    [sys.executable, "-m", "tlslens", command, *form, *target],
                    stdout=full,
                    stderr=subprocess.PIPE,
                    text=True,
                    timeout=120,
                )
            assert done.returncode == 1, (form, done.stderr)
            assert done.stderr.endswith(
                "tlslens: cannot write to standard output: No space left on device\n"
            ), (form, done.stderr)
            assert "internal error" not in done.stderr


class _FullDisk(pq.ParquetWriter):
    """A Parquet file whose row groups the disk refuses."""

    def write_table(self, table: pa.Table, row_group_size: int | None = None) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")


def test_a_dataset_that_cannot_be_written_stops_extract(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """extract on a disk that fills up: the run stops, said as --out's failure with exit 1
    (it was an internal error, exit 2; a table write inside the reading was taken for the
    capture's failure), and no table, temporary file or marker is left of the captures
    it stopped in."""
    monkeypatch.setattr(pq, "ParquetWriter", _FullDisk)
    out = tmp_path / "dataset"
    captures = [str(CAPTURE), str(CAPTURES / "chains.pcapng")]
    result = CliRunner().invoke(main, ["extract", "--out", str(out), "--workers", "1", *captures])
    assert result.exit_code == 1, result.output
    assert result.stderr == f"tlslens: cannot write to {out}: No space left on device\n"
    assert [p.name for p in out.rglob("*") if p.is_file()] == []


def _copies(folder: Path, count: int) -> list[str]:
    folder.mkdir()
    for n in range(count):
        (folder / f"c{n}.pcapng").write_bytes(CAPTURE.read_bytes())
    return [str(folder / f"c{n}.pcapng") for n in range(count)]


def test_a_worker_that_cannot_write_stops_the_run(tmp_path: Path) -> None:
    """Two workers, the first capture's table unwritable (a folder where its file goes):
    the failure comes back from the worker process whole, said once, exit 1; the captures
    not begun are not begun (the others were all extracted, review), and none is left
    half done."""
    out = tmp_path / "dataset"
    captures = _copies(tmp_path / "in", 8)
    (out / "connections" / f"{jobs.key_of(captures[0])}.parquet").mkdir(parents=True)
    result = CliRunner().invoke(main, ["extract", "--out", str(out), "--workers", "2", *captures])
    assert result.exit_code == 1, result.output
    assert result.stderr == f"tlslens: cannot write to {out}: Is a directory\n"
    markers = list((out / "_done").glob("*.json")) if (out / "_done").exists() else []
    assert len(markers) < len(captures) - 1, markers
    finished = {m.name.removesuffix(".json") for m in markers}
    for table in ("connections", "certificates", "handshake_messages", "problems"):
        kept = {p.name.removesuffix(".parquet") for p in (out / table).glob("*.parquet")}
        assert kept - {jobs.key_of(captures[0])} <= finished, table


def test_a_capture_named_twice_is_extracted_once(tmp_path: Path) -> None:
    """A capture given twice (a folder and a file in it) under two workers: two jobs of it
    at once removed each other's files, and it was left with its marker and no tables
    (review)."""
    out = tmp_path / "dataset"
    (capture,) = _copies(tmp_path / "in", 1)
    result = CliRunner().invoke(
        main, ["extract", "--out", str(out), "--workers", "2", str(tmp_path / "in"), capture]
    )
    assert result.exit_code == 0, result.output
    assert "extracted 1 capture(s)" in result.stderr
    for table in ("connections", "certificates", "handshake_messages", "problems"):
        assert len(list((out / table).glob("*.parquet"))) == 1, table


def test_an_output_error_crosses_from_a_worker_whole() -> None:
    """Pickled (a worker process's exception comes back so), it keeps its cause and
    where it happened, not only its message."""
    error = OutputError(OSError(errno.ENOSPC, "No space left on device"), where="/data/out")
    again = pickle.loads(pickle.dumps(error))
    assert (again.where, again.cause.errno, str(again)) == (
        "/data/out",
        errno.ENOSPC,
        "No space left on device",
    )


def test_pki_files_that_cannot_be_written_are_the_outputs_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pki into a folder that is a file, or onto a disk that fills up: one line naming the
    file, exit 1 (both were internal errors), and the file that was there left whole (a
    revocation list truncated, then removed, un-revoked its certificates: review). A
    private key is its owner's alone from its creation (it was written, then restricted)."""
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    result = CliRunner().invoke(main, ["pki", "csr", "--cn", "x", "--out", str(a_file / "k")])
    assert result.exit_code == 1
    assert result.stderr == f"tlslens: cannot write to {a_file / 'k.key'}: Not a directory\n"

    created: list[int] = []
    opened = os.open

    def watched(path: str, flags: int, mode: int = 0o777) -> int:
        created.append(mode)
        return opened(path, flags, mode)

    monkeypatch.setattr(os, "open", watched)
    good = tmp_path / "good"
    assert CliRunner().invoke(main, ["pki", "csr", "--cn", "x", "--out", str(good)]).exit_code == 0
    assert stat.S_IMODE((tmp_path / "good.key").stat().st_mode) == 0o600
    assert created[0] == 0o600  # the key: made so, not chmod-ed after
    monkeypatch.undo()

    class Refusing(io.BufferedWriter):
        def write(self, data: Any) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

    kept = tmp_path / "k.key"
    kept.write_bytes(b"the key that was there\n")
    monkeypatch.setattr(os, "fdopen", lambda fd, mode: Refusing(io.FileIO(fd, "w")))
    replace = ["pki", "csr", "--cn", "x", "--out", str(tmp_path / "k"), "--force"]
    result = CliRunner().invoke(main, replace)
    assert result.exit_code == 1
    assert result.stderr == f"tlslens: cannot write to {kept}: No space left on device\n"
    assert kept.read_bytes() == b"the key that was there\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "good.csr", "good.key", "k.key"]


def test_certificates_that_cannot_be_written_stop_certs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """certs --pem on a disk that fills up: said once as the folder's failure, exit 1 (it
    was said for every connection in turn, and the run ended with 0)."""

    def full(path: Path, data: bytes, *, private: bool = False) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(certs, "replace_file", full)
    pems = tmp_path / "pems"
    result = CliRunner().invoke(main, ["certs", "--pem", str(pems), str(CAPTURE)])
    assert result.exit_code == 1
    assert result.stderr.endswith(f"tlslens: cannot write to {pems}: No space left on device\n")
    assert result.stderr.count("cannot write") == 1


class _FullAtCertificates(pq.ParquetWriter):
    """The certificates table's file: refused as it closes (its footer)."""

    def __init__(self, where: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(where, *args, **kwargs)
        self.refuses = f"{os.sep}certificates{os.sep}" in str(where)

    def close(self) -> None:
        super().close()
        if self.refuses:
            raise OSError(errno.ENOSPC, "No space left on device")


class _FullAtMessages(pq.ParquetWriter):
    """The handshake messages table's file: refused as it is made (the tables after it are
    never made in this run)."""

    def __init__(self, where: str, *args: Any, **kwargs: Any) -> None:
        if f"{os.sep}handshake_messages{os.sep}" in str(where):
            raise OSError(errno.ENOSPC, "No space left on device")
        super().__init__(where, *args, **kwargs)


@pytest.mark.parametrize("writer", [_FullAtCertificates, _FullAtMessages])
def test_a_captures_tables_count_together(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, writer: type[pq.ParquetWriter]
) -> None:
    """A capture extracted again, into a dataset that has it, on a disk that fills up after
    one of its tables was renamed into place, or before its last tables were begun: none of
    its tables stays, this run's or the run's before, nor its marker of the run before (the
    dataset would mix the two runs' tables, and --resume skip it: review)."""
    out = tmp_path / "dataset"
    extract = ["extract", "--out", str(out), "--workers", "1", str(CAPTURE)]
    assert CliRunner().invoke(main, extract).exit_code == 0
    assert len(list((out / "_done").iterdir())) == 1
    monkeypatch.setattr(pq, "ParquetWriter", writer)
    result = CliRunner().invoke(main, extract)
    assert result.exit_code == 1
    assert result.stderr == f"tlslens: cannot write to {out}: No space left on device\n"
    assert [p.name for p in out.rglob("*") if p.is_file()] == []
