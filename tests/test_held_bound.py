"""What the open TCP connections hold at once is bounded (`--max-held`; issue 23: peak RSS
under 150 MB whatever the capture). The bound of connections open at once alone let each of
50,000 hold what a hostile length field or a hole made it wait for: 5,000 flows gathering
a 60 KB message that never completes made a `show` of 366 MB, and 5,000 flows waiting on
58 KB beyond a lost segment one of 6 GB (each hole given up at the end, the zeros after it
read as 10,900 four-byte messages a connection, made at once for 1,000 connections)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import tlslens
from tlslens import _core
from tlslens.bounds import Limits
from tlslens.cli import main

import adversarial
from conftest import CAPTURES
from corpus_digests import digest, key_options

OVER = "the open connections held more than 1 MiB (--max-held)"


def test_past_max_held_the_oldest_open_connections_are_closed_early(tmp_path: Path) -> None:
    """40 flows each gathering a 60 KB message: 1 MiB holds about 15 of them. Each flow
    past it closes the oldest open one at the frame that went over, with a finding; every
    connection is still reported once, in first-packet order, its hello as far as it came;
    the summary counts them. Under the default bound none is closed early."""
    path = tmp_path / "unfinished.pcapng"
    adversarial._write(path, adversarial.unfinished_messages(40 / 5_000))
    capture = tlslens.read_capture(path, limits=Limits(max_held=1 << 20))
    conns = list(capture)
    assert [c.tcp_stream for c in conns] == list(range(40))
    early = [c for c in conns if any(OVER in p.message for p in c.problems)]
    assert 20 <= len(early) <= 30, len(early)
    assert [c.tcp_stream for c in early] == list(range(len(early)))  # the oldest first
    finding = next(p for p in early[0].problems if OVER in p.message)
    assert finding.message.startswith(f"closed early at frame {finding.frame}: ")
    # The frame that went over is the first segment of a flow opened after it.
    assert finding.frame is not None and finding.frame > early[0].last_frame
    summary = [p.message for p in capture.summary.problems]
    assert f"{len(early)} connections were closed early, the oldest first: {OVER}" in summary
    default = tlslens.read_capture(path)
    assert not [c for c in default for p in c.problems if "closed early" in p.message]


def test_max_held_is_an_option_of_the_commands_that_read_captures(tmp_path: Path) -> None:
    path = tmp_path / "unfinished.pcapng"
    adversarial._write(path, adversarial.unfinished_messages(40 / 5_000))
    result = CliRunner().invoke(main, ["show", "--json", "--max-held", "1MiB", str(path)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == 40
    assert any(OVER in p["message"] for p in rows[0]["problems"])
    refused = CliRunner().invoke(main, ["show", "--max-held", "0", str(path)])
    assert refused.exit_code == 2 and "--max-held" in refused.output


def test_what_a_capture_makes_tlslens_keep_costs_a_bounded_peak(tmp_path: Path) -> None:
    """The default bound on the shapes that grew without it (measured 2026-12-07, before ->
    after): 2,500 flows gathering 60 KB messages, 150 MB waited on (192 -> 99 MB); 500 flows
    waiting beyond a hole (2,651 -> 64 MB: each hole given up at the end, 1,000 connections
    at a time, before); 300 connections of 10,000 four-byte messages each, held back for
    first-packet order behind one left open (the 900 of the adversarial set: 1,911 -> 63 MB,
    the open one closed early); 2,000 connections each sending its own 60 KB leaf of an
    issuer none sends (302 -> 119 MB: the chain verdicts kept, and the leaves awaiting their
    issuer, bounded by their bytes)."""
    shapes = {  # (frames, connections)
        "unfinished": (adversarial.unfinished_messages(0.5), 2_500),
        "holes": (adversarial.beyond_holes(0.1), 500),
        "held-back": (adversarial.held_back(1 / 3), 301),
        "leaves": (adversarial.distinct_leaves(1), 2_000),
    }
    for name, (frames, connections) in shapes.items():
        path = tmp_path / f"{name}.pcapng"
        adversarial._write(path, frames)
        _seconds, peak, code, out, err = adversarial.run_show(path)
        assert code == 0, err[-500:]
        assert out.count("\n") == connections, name  # every connection reported once
        assert peak < 150, (name, f"{peak} MB")


def test_nothing_is_counted_held_once_every_connection_is_handed_out(
    corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The count `--max-held` bounds is kept as flows change, not summed afresh: a path that
    forgot to take a flow's part back would leave it counted, and a long capture would
    then close every connection early. Over every corpus capture and the project's own,
    with and without their keys (each way a flow goes: plaintext, STARTTLS, SSL 2.0, given
    up, resumed, decrypted, closed early), nothing is counted once all are handed out."""
    made: list[_core.FlowCore] = []
    real = _core.FlowCore

    def recording(**kwargs: Any) -> _core.FlowCore:
        made.append(real(**kwargs))
        return made[-1]

    monkeypatch.setattr(_core, "FlowCore", recording)
    captures = json.loads((corpus / "ground_truth.json").read_text())["captures"]
    runs = [
        (corpus, name, options)
        for name in sorted(captures)
        for options in ([], key_options(captures[name]))
    ]
    for path in sorted(CAPTURES.glob("*.pcap*")):
        runs += [
            (CAPTURES, path.name, []),
            (CAPTURES, path.name, ["--keylog", path.with_suffix(".keys").name]),
        ]
    limits = ["--max-connections", "3"]  # and with flows closed early
    runs += [(CAPTURES, path.name, limits) for path in sorted(CAPTURES.glob("*.pcap*"))]
    for folder, name, options in runs:
        made.clear()
        digest(folder, name, options)
        assert made, (name, options)
        assert [core.held for core in made] == [0] * len(made), (name, options)
