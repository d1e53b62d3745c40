"""x509-limbo: every case through tlslens' validation, and every case as a capture.

The suite is `../shared/x509-limbo/limbo.json` (C2SP, 207 cases); the harness is
`tools/limbo.py` (`make limbo`), whose skip table says why each skipped case is skipped.
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from tlslens.cli import main
from tlslens.x509.validate import quiet

from _frames import tls12_capture
from conftest import IN_CI, ROOT

LIMBO = ROOT.parent / "shared" / "x509-limbo" / "limbo.json"
# The time of cases without one: fixed, so that the figures below do not drift.
NOW = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def limbo() -> list[dict[str, Any]]:
    if not LIMBO.exists():
        if IN_CI:
            pytest.fail(f"the x509-limbo suite is not at {LIMBO}")
        pytest.skip(f"the x509-limbo suite is not at {LIMBO}")
    cases: list[dict[str, Any]] = json.loads(LIMBO.read_text())["testcases"]
    return cases


def test_every_case_that_runs_matches(limbo: list[dict[str, Any]]) -> None:
    import limbo as harness

    outcomes = harness.run(LIMBO, NOW)
    run = [o for o in outcomes if o.actual != "SKIPPED"]
    wrong = [
        f"{o.id}: expected {o.expected}, got {o.actual} ({o.context})" for o in run if not o.matched
    ]
    assert wrong == []
    kinds = {case["id"]: case["validation_kind"] for case in limbo}
    server_run = sum(1 for o in run if kinds[o.id] == "SERVER")
    assert (len(outcomes), len(run), server_run) == (207, 169, 159)
    for o in outcomes:
        if o.actual == "SKIPPED":
            assert len(o.context) > 40, o.id  # a reason, not a placeholder
    # No failure is left at a bare "the validator rejected it" when a named reason fits.
    bare = [
        o.id
        for o in run
        if o.actual == "FAILURE" and o.context.split(" (")[0] in ("-", "verification_failed")
    ]
    assert bare == []
    # pathological::* stay bounded.
    for o in outcomes:
        if o.id.startswith("pathological::"):
            assert float(o.context.rsplit("(", 1)[1].split()[0]) < 5, o.id


def _sni(case: dict[str, Any]) -> str | None:
    peer = case["expected_peer_name"]
    return str(peer["value"]) if peer and peer["kind"] == "DNS" else None


def _ders(chains: list[tuple[list[str], str | None]]) -> list[tuple[list[bytes], str | None]]:
    return [
        (
            [x509.load_pem_x509_certificate(p.encode()).public_bytes(Encoding.DER) for p in pems],
            sni,
        )
        for pems, sni in chains
    ]


def test_every_case_as_a_capture(limbo: list[dict[str, Any]], tmp_path: Path) -> None:
    """Every chain of the suite sent by a server in one capture: `show` and `certs` give each
    connection its certificates and a verdict with named problems, and none ends the run."""
    capture = tmp_path / "limbo.pcapng"
    chains = [
        ([case["peer_certificate"], *case["untrusted_intermediates"]], _sni(case)) for case in limbo
    ]
    tls12_capture(capture, quiet(_ders)(chains), NOW)
    roots = tmp_path / "roots.pem"
    roots.write_text("".join(pem for case in limbo for pem in case["trusted_certs"]))
    started = time.monotonic()
    result = CliRunner().invoke(
        main,
        [
            "show",
            "--json",
            str(capture),
            "--trust-store",
            "none",
            "--ca",
            str(roots),
            "--at",
            "2026-12-01T00:00Z",
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.stderr[-2000:]
    assert "internal error" not in result.stdout + result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == len(limbo)
    for row, case in zip(rows, limbo, strict=True):
        assert row["certificates"], case["id"]
        validation = row["validation"]
        assert validation is not None, case["id"]
        if not validation["trusted"]:
            assert validation["problems"], case["id"]
    certs = CliRunner().invoke(
        main,
        ["certs", str(capture), "--trust-store", "none", "--ca", str(roots)],
        catch_exceptions=False,
    )
    assert certs.exit_code == 0
    assert "internal error" not in certs.stdout + certs.stderr
    assert certs.stdout.count("Connection ") >= len(limbo)
    assert time.monotonic() - started < 120


def test_a_chain_that_carries_its_issuer_did_not_forget_it(
    limbo: list[dict[str, Any]], tmp_path: Path
) -> None:
    """A connection whose own chain holds the issuer its path cannot use (a cycle, a wrong
    key) is not one that "forgot" it: no late-intermediate note names it against itself."""
    capture = tmp_path / "limbo.pcapng"
    tls12_capture(
        capture,
        quiet(_ders)(
            [([c["peer_certificate"], *c["untrusted_intermediates"]], None) for c in limbo]
        ),
        NOW,
    )
    result = CliRunner().invoke(main, ["show", "--json", str(capture)], catch_exceptions=False)
    for line in result.stderr.splitlines():
        if "did not send" in line:
            late = re.split(r"Connections? ", line, maxsplit=1)[1].split(" did not send")[0]
            by = line.split("; connection ", 1)[1].split(",", 1)[0]
            assert by not in late.split(", "), line
