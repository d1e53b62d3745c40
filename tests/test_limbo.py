"""x509-limbo: every case through tlslens' validation, and every case as a capture.

The suite is `../shared/x509-limbo/limbo.json` (C2SP, 207 cases); the harness is
`tools/limbo.py` (`make limbo`), whose skip table says why each skipped case is skipped.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from tlslens.capture.writer import PcapngWriter
from tlslens.cli import main
from tlslens.flows.synth import Chunk, Close, iter_frames
from tlslens.handshake import compose
from tlslens.model import Endpoint
from tlslens.x509.validate import quiet

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


def _server_hello() -> bytes:
    body = b"\x03\x03" + bytes(32) + b"\x00" + b"\xc0\x2f" + b"\x00" + b"\x00\x00"
    return compose.push_handshake(2, body)


def _certificate(ders: list[bytes]) -> bytes:
    entries = b"".join(len(d).to_bytes(3, "big") + d for d in ders)
    return compose.push_handshake(11, len(entries).to_bytes(3, "big") + entries)


@quiet
def _capture(cases: list[dict[str, Any]], path: Path) -> None:
    """One TLS 1.2 connection per case: ClientHello, then ServerHello, the case's chain
    (leaf, then its intermediates) in a Certificate message, ServerHelloDone."""
    with path.open("wb") as out:
        writer = PcapngWriter(out)
        writer.add_interface()
        ts = int(NOW.timestamp() * 1e9)
        for number, case in enumerate(cases):
            ders = [
                x509.load_pem_x509_certificate(pem.encode()).public_bytes(Encoding.DER)
                for pem in [case["peer_certificate"], *case["untrusted_intermediates"]]
            ]
            peer = case["expected_peer_name"]
            sni = peer["value"] if peer and peer["kind"] == "DNS" else None
            hello = compose.push_client_hello(
                compose.HelloSpec(
                    legacy_version=0x0303,
                    random=bytes(32),
                    cipher_suites=(0xC02F,),
                    server_name=sni,
                    groups=(29,),
                    signature_algorithms=(0x0804,),
                )
            )
            flight = _server_hello() + _certificate(ders) + compose.push_handshake(14, b"")
            client = Endpoint(bytes([10, 0, number // 250, number % 250 + 1]), 40000 + number)
            server = Endpoint(bytes([10, 1, 0, 1]), 443)
            for frame_ts, frame in iter_frames(
                client,
                server,
                syn_ts_ns=ts,
                synack_ts_ns=ts + 1000,
                chunks=[
                    Chunk(ts + 2000, 0, compose.push_records(22, 0x0301, hello)),
                    Chunk(ts + 3000, 1, compose.push_records(22, 0x0303, flight)),
                ],
                closes=[Close(ts + 4000, 0, "fin"), Close(ts + 5000, 1, "fin")],
            ):
                writer.add_packet(frame_ts, frame)
            ts += 10_000_000


def test_every_case_as_a_capture(limbo: list[dict[str, Any]], tmp_path: Path) -> None:
    """Every chain of the suite sent by a server in one capture: `show` and `certs` give each
    connection its certificates and a verdict with named problems, and none ends the run."""
    capture = tmp_path / "limbo.pcapng"
    _capture(limbo, capture)
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
