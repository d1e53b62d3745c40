"""`tlslens extract` (issue 12): the Parquet dataset against `show`, a killed run resumed,
the dask.distributed path on a LocalCluster, and the README's DuckDB recipes."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

import tlslens
from tlslens.cli import main
from tlslens.tables import jobs
from tlslens.tables.columns import TABLES

from conftest import CAPTURES

ROOT = Path(__file__).resolve().parent.parent


def _extract(*args: str) -> Any:
    result = CliRunner().invoke(main, ["extract", *args], catch_exceptions=False)
    return result


def _dataset(out: Path) -> dict[str, pa.Table]:
    """Every table of a dataset, its rows in a fixed order (files finish in any order)."""
    tables = {}
    for table in TABLES:
        parts = [pq.read_table(p) for p in sorted((out / table).glob("*.parquet"))]
        whole = pa.concat_tables(parts)
        keys = [
            (c, "ascending")
            for c in ("capture_file", "id", "connection", "index", "sha256")
            if c in whole.column_names
        ]
        tables[table] = whole.sort_by(keys) if keys else whole
    return tables


def test_the_corpus_as_a_dataset(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    result = _extract("--out", str(out), "--workers", "2", str(corpus))
    assert result.exit_code == 0, result.stderr[-2000:]
    assert re.search(r"extracted \d+ capture\(s\), \d+ connection\(s\)", result.stderr)
    counts = duckdb.sql(
        f"SELECT capture_file, count(*) FROM '{out}/connections/*.parquet' GROUP BY ALL"
    ).fetchall()
    per_file = dict(counts)
    captures = sorted(
        p
        for p in corpus.rglob("*")
        if p.name.endswith((".pcap", ".pcapng", ".pcap.gz", ".pcapng.gz"))
    )
    for path in captures:
        expected = sum(1 for _ in tlslens.read_capture(path))
        assert per_file.get(str(path), 0) == expected, path
    # The connections table carries the fingerprints and the JSON's scalars.
    row = duckdb.sql(
        f"SELECT ja3, ja3s, ja4, version, decryption_status, validation_trusted, start_time "
        f"FROM '{out}/connections/*.parquet' WHERE ja4 IS NOT NULL LIMIT 1"
    ).fetchall()[0]
    assert row is not None and len(row[0]) == 32 and row[2].startswith("t")
    # Every file's schema is the same, with its version in the metadata.
    meta = pq.read_schema(next((out / "connections").glob("*.parquet"))).metadata
    assert meta[b"tlslens.schema_version"] == b"3"
    # One certificate row per distinct certificate of a file.
    dupes = duckdb.sql(
        f"SELECT capture_file, sha256, count(*) c FROM '{out}/certificates/*.parquet' "
        "GROUP BY ALL HAVING c > 1"
    ).fetchall()
    assert dupes == []


def test_a_killed_run_resumed_gives_the_clean_dataset(tmp_path: Path) -> None:
    import shutil

    captures = []
    for copy in range(4):  # enough captures that the kill lands midway
        folder = tmp_path / f"copy{copy}"
        folder.mkdir()
        for path in sorted(CAPTURES.glob("*.pcap*")):
            captures.append(str(shutil.copy(path, folder)))
    clean, broken = tmp_path / "clean", tmp_path / "broken"
    assert _extract("--out", str(clean), "--workers", "1", *captures).exit_code == 0
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tlslens",
            "extract",
            "--out",
            str(broken),
            "--workers",
            "1",
            *captures,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list((broken / "_done").glob("*.json"))) < 3:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait(10)
    finished = len(list((broken / "_done").glob("*.json")))
    assert 3 <= finished < len(captures), "the run was not stopped midway"
    result = _extract("--out", str(broken), "--workers", "1", "--resume", *captures)
    assert result.exit_code == 0
    assert (
        f"{finished} capture{'' if finished == 1 else 's'} already extracted: skipped (--resume)"
        in result.stderr
    )
    assert _dataset(broken) == _dataset(clean)
    assert not list(broken.rglob("*.tmp"))


def test_the_dask_path_gives_the_same_dataset(tmp_path: Path) -> None:
    captures = sorted(str(p) for p in CAPTURES.glob("*.pcap*"))[:4]
    local, cluster = tmp_path / "local", tmp_path / "cluster"
    assert _extract("--out", str(local), "--workers", "1", *captures).exit_code == 0
    result = _extract("--out", str(cluster), "--dask", "local", "--workers", "2", *captures)
    assert result.exit_code == 0, result.stderr[-2000:]
    assert _dataset(cluster) == _dataset(local)
    # The same bytes, not only the same rows.
    for table in TABLES:
        for path in (local / table).glob("*.parquet"):
            assert path.read_bytes() == (cluster / table / path.name).read_bytes()


def test_bad_inputs_are_said_and_the_rest_goes_on(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pcap"
    garbage.write_bytes(b"this is no capture")
    good = str(CAPTURES / "demo-tls12-tls13.pcapng")
    out = tmp_path / "ds"
    result = _extract("--out", str(out), str(tmp_path / "missing.pcap"), str(garbage), good)
    assert result.exit_code == 1
    assert "missing.pcap: no such capture file" in result.stderr
    assert "garbage.pcap" in result.stderr and "could not be read" in result.stderr
    assert duckdb.sql(f"SELECT count(*) FROM '{out}/connections/*.parquet'").fetchall()[0] == (2,)
    # A missing capture beside a good one: the good one extracted, exit 1 (it was 0).
    again = tmp_path / "again"
    result = _extract("--out", str(again), good, str(tmp_path / "missing.pcap"))
    assert result.exit_code == 1, result.stderr
    assert "missing.pcap: no such capture file" in result.stderr
    assert duckdb.sql(f"SELECT count(*) FROM '{again}/connections/*.parquet'").fetchall()[0] == (2,)
    result = _extract("--out", str(out), "--revocation", "online", good)
    assert result.exit_code == 2 and "extract asks no CA online" in result.stderr
    # A glob that matches nothing, an empty folder: said, exit 1 (it was "extracted 0
    # capture(s)" and 0: newcomer's trial).
    (tmp_path / "empty").mkdir()
    for nothing in (str(tmp_path / "none-*.pcap"), str(tmp_path / "empty")):
        result = _extract("--out", str(out), nothing)
        assert (result.exit_code, result.stderr) == (1, f"no capture found in {nothing}\n")


def _recipes() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = text.split("<!-- duckdb recipes -->")[1].split("```")[1]
    return [q.strip() for q in block.removeprefix("sql").split(";") if q.strip()]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("recipes")
    captures = [str(p) for p in sorted(CAPTURES.glob("*.pcap*"))]
    keys = [a for p in sorted(CAPTURES.glob("*.keys")) for a in ("--keylog", str(p))]
    assert _extract("--out", str(out), "--workers", "2", *keys, *captures).exit_code == 0
    return out


def test_the_readme_recipes_run(dataset: Path) -> None:
    recipes = _recipes()
    assert len(recipes) == 5
    results = []
    for sql in recipes:
        results.append(duckdb.sql(sql.replace("ds/", f"{dataset}/")).fetchall())
    versions, expiring, mlkem, ja4_days, failed = results
    total = duckdb.sql(f"SELECT count(*) FROM '{dataset}/connections/*.parquet'").fetchall()[0]
    assert sum(row[-1] for row in versions) == total[0]
    # The lab's expired leaf (chains.pcapng) was already past its end when it was seen.
    assert any("expired" in (row[0] or "") for row in expiring)
    # The project's OpenSSL 3 / Python clients offer no ML-KEM; the query runs, typed.
    assert all(isinstance(row[1], int) for row in mlkem)
    assert all(row[0].startswith("t1") for row in ja4_days)
    # aborted.pcapng: its clients rejecting the expired leaf, and the server that resets.
    assert any(row[2:4] == ("client", "certificate_expired") for row in failed)
    assert any(row[2:4] == ("server", None) for row in failed)
    json.dumps([str(r) for r in results])


def test_one_worker_and_several_give_the_same_bytes(tmp_path: Path) -> None:
    """Several captures on two processes, one capture each: the tables are the bytes one
    process writes, ids, resumptions, chain verdicts and the captures' own problems
    included; a capture that cannot be read is said, and the others are extracted."""
    import adversarial

    many = tmp_path / "many.pcapng"
    adversarial._write(many, adversarial._normal(300))
    resumption = CAPTURES / "openssl-resumption.pcap"
    keys = ["--keylog", str(resumption.with_suffix(".keys"))]
    captures = [str(many), str(resumption), str(CAPTURES / "chains.pcapng")]
    one, two = tmp_path / "one", tmp_path / "two"
    assert _extract("--out", str(one), "--workers", "1", *keys, *captures).exit_code == 0
    result = _extract("--out", str(two), "--workers", "2", *keys, *captures)
    assert result.exit_code == 0, result.stderr[-2000:]
    for table in TABLES:
        paths = sorted((one / table).glob("*.parquet"))
        assert len(paths) == len(captures), table
        for path in paths:
            assert path.read_bytes() == (two / table / path.name).read_bytes(), (path, table)
    garbage = tmp_path / "garbage.pcap"
    garbage.write_bytes(b"this is no capture")
    result = _extract("--out", str(tmp_path / "bad"), "--workers", "2", str(garbage), str(many))
    assert result.exit_code == 1 and "garbage.pcap: " in result.stderr
    assert len(list((tmp_path / "bad" / "connections").glob("*.parquet"))) == 1


def test_client_certificates_judged_against_the_client_cas(tmp_path: Path) -> None:
    """--client-ca reaches every job, as it reaches `show`: the lab's client certificates
    are trusted against the lab root, on one process and on several."""
    capture = CAPTURES / "openssl-hrr-clientauth.pcapng"
    options = ["--keylog", str(capture.with_suffix(".keys"))]
    options += ["--client-ca", str(CAPTURES.parent / "pki" / "root.pem")]
    shown = CliRunner().invoke(main, ["show", "--json", *options, str(capture)]).stdout
    expected = [json.loads(line)["client_auth"]["validation"] for line in shown.splitlines()]
    assert [v and v["trust_store"] for v in expected] == ["client-ca", "client-ca", None]
    for workers in ("1", "2"):
        out = tmp_path / workers
        copy = tmp_path / f"copy{workers}.pcapng"  # two captures: two processes
        copy.write_bytes(capture.read_bytes())
        result = _extract(
            "--out", str(out), "--workers", workers, *options, str(capture), str(copy)
        )
        assert result.exit_code == 0, result.stderr[-2000:]
        rows = duckdb.sql(
            f"SELECT client_auth_validation FROM '{out}/connections/*.parquet' "
            f"WHERE capture_file = '{capture}' ORDER BY id"
        ).fetchall()
        assert [json.loads(v) if v else None for (v,) in rows] == expected


def test_row_groups_go_by_the_bytes_held(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A capture of a few thousand connections is one row group per table (Parquet's cost,
    and a reader's, goes by column chunk); past GROUP_BYTES of Arrow data held, a row
    group is written out, and the rows are the same whichever the grouping."""
    import adversarial

    capture = tmp_path / "many.pcapng"
    adversarial._write(capture, adversarial._normal(2500))
    whole = jobs.extract(jobs.Job(capture=str(capture), out=str(tmp_path / "whole")))
    assert whole.error is None and whole.connections == 2500
    for table in TABLES:
        (path,) = (tmp_path / "whole" / table).glob("*.parquet")
        assert pq.ParquetFile(path).num_row_groups == min(whole.rows[table], 1), table
    monkeypatch.setattr(jobs, "GROUP_BYTES", 1)  # every batch its own row group
    split = jobs.extract(jobs.Job(capture=str(capture), out=str(tmp_path / "split")))
    assert split.rows == whole.rows
    for table in ("connections", "handshake_messages"):
        (one,) = (tmp_path / "whole" / table).glob("*.parquet")
        (many,) = (tmp_path / "split" / table).glob("*.parquet")
        expected = -(-whole.connections // jobs.BATCH_ROWS)  # a batch of connections each
        assert pq.ParquetFile(many).num_row_groups == expected > 1
        assert pq.read_table(one).equals(pq.read_table(many))


def test_a_process_reads_the_roots_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The jobs of one process share their options: the Mozilla roots are read for the
    first capture with a chain to check, not again for every capture (`show` does the
    same with several captures); each capture still judges with a pool of its own."""
    from tlslens import judge

    reads = []
    where = judge.mozilla_roots_file
    monkeypatch.setattr(judge, "mozilla_roots_file", lambda: reads.append(1) or where())
    captures = []
    for name in ("chains.pcapng", "demo-tls12-tls13.pcapng", "openssl-versions.pcapng"):
        copy = tmp_path / name
        copy.write_bytes((CAPTURES / name).read_bytes())
        captures.append(str(copy))
    result = _extract("--out", str(tmp_path / "ds"), "--workers", "1", *captures)
    assert result.exit_code == 0, result.stderr[-2000:]
    assert len(reads) <= 1  # none when an earlier test of this process read them
    alone = tmp_path / "alone"
    assert _extract("--out", str(alone), "--workers", "1", captures[0]).exit_code == 0
    for table in TABLES:
        (path,) = (alone / table).glob("chains*.parquet")
        assert path.read_bytes() == (tmp_path / "ds" / table / path.name).read_bytes()


def test_each_run_reads_its_ca_files_anew(tmp_path: Path) -> None:
    """A process that runs the jobs of several runs (a dask worker does) reads a --ca file
    again for the next run: changed in between, the verdicts follow it."""
    pki = CAPTURES.parent / "pki"
    ca = tmp_path / "ca.pem"
    capture = str(CAPTURES / "demo-tls12-tls13.pcapng")
    verdicts = []
    for root in ("root.pem", "other-root.pem"):
        ca.write_bytes((pki / root).read_bytes())
        out = tmp_path / root
        options = ["--trust-store", "none", "--ca", str(ca), "--at", "2026-11-28T10:00:00Z"]
        result = _extract("--out", str(out), "--workers", "1", *options, capture)
        assert result.exit_code == 0, result.stderr[-2000:]
        verdicts.append(
            duckdb.sql(
                f"SELECT list(validation_trusted ORDER BY id) FROM '{out}/connections/*.parquet'"
            ).fetchall()[0][0]
        )
    # Connection 1 is TLS 1.3 without its keys: no certificate in the clear to judge.
    assert verdicts == [[None, True], [None, False]]
