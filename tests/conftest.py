"""Shared fixtures: test data paths, the shared corpus, and system programs.

Tests that need a system program (tshark, editcap...) install it with apt-get
when run as root and skip with a reason otherwise; in CI (CI=true) a skip of
that kind, or a missing corpus, is a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parent.parent
VECTORS = ROOT / "tests" / "vectors"
CAPTURES = VECTORS / "captures"
CORPUS = ROOT.parent / "shared" / "corpus"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

settings.register_profile("dev", max_examples=60, deadline=None)
settings.register_profile(
    "ci", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "long", max_examples=3000, deadline=None, suppress_health_check=list(HealthCheck)
)
settings.load_profile(os.environ.get("TLSLENS_HYPOTHESIS") or ("ci" if IN_CI else "dev"))

_APT_UPDATED = False


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: a missing dependency is a failure, not a skip)")
    pytest.skip(reason)


def require_program(program: str, package: str) -> str:
    """Path of ``program``; installs ``package`` with apt-get when root."""
    global _APT_UPDATED
    found = shutil.which(program)
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        if not _APT_UPDATED:
            subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, check=False)
            _APT_UPDATED = True
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", package], env=env, capture_output=True, check=False
        )
        found = shutil.which(program)
        if found:
            return found
        _unavailable(f"{program} could not be installed with apt-get install {package}")
    _unavailable(
        f"{program} is not installed (package {package}); run the tests as root to install it"
    )
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def tshark() -> str:
    require_program("editcap", "tshark")
    return require_program("tshark", "tshark")


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not (CORPUS / "ground_truth.json").exists():
        _unavailable(f"the shared corpus is not at {CORPUS}")
    return CORPUS
