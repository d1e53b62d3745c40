"""The fuzz harnesses (tools/fuzz.py): every input that ever failed is replayed, and each
target runs briefly, coverage-guided, from its seeds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import fuzz
from conftest import ROOT

SAVED = sorted(p for p in (ROOT / "tests" / "vectors" / "fuzz").glob("*/*") if p.is_file())


@pytest.mark.parametrize("path", SAVED, ids=[f"{p.parent.name}/{p.name[:16]}" for p in SAVED])
def test_saved_inputs_stay_fixed(path: Path) -> None:
    fuzz.replay(path.parent.name, path.read_bytes())  # raises on a regression


def test_every_target_runs_clean_briefly() -> None:
    """Each harness, a few hundred inputs: only tlslens' own errors, never a crash."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "fuzz.py"), "all", "--runs", "400"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    lines = [line for line in done.stdout.splitlines() if "inputs" in line]
    assert len(lines) == len(fuzz._target_names()) + 1
    assert all(" 400 inputs" in line for line in lines[:-1]), lines
