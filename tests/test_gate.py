"""`--fail-on`: the exit status a CI pipeline gates on, on the project's recorded captures.

The output is the same with or without the gate; only the exit status (4) and one line on
stderr say what matched, for the connections shown."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from tlslens.cli import main
from tlslens.cli.gate import GATE_EXIT

from conftest import CAPTURES, ROOT

ABORTED = CAPTURES / "aborted.pcapng"
DEMO = CAPTURES / "demo-tls12-tls13.pcapng"
VERSIONS = CAPTURES / "openssl-versions.pcapng"  # TLS 1.0, 1.1, then 1.2 and 1.3
LAB_ROOT = ROOT / "tests/vectors/pki/root.pem"


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def _keys(capture: Path) -> list[str]:
    return ["--keylog", str(capture.with_suffix(".keys"))]


@pytest.mark.parametrize("command", [["show"], ["show", "--json"], ["certs"], ["decrypt"]])
def test_failed_handshakes_trip_the_gate_and_the_output_stays(command: list[str]) -> None:
    plain = _run(*command, str(ABORTED), *_keys(ABORTED))
    gated = _run(*command, str(ABORTED), *_keys(ABORTED), "--fail-on", "failed")
    assert plain[0] == 0
    assert gated[0] == GATE_EXIT
    assert gated[1] == plain[1]  # what is printed does not depend on the gate
    assert (
        "--fail-on: 38 connections matched (failed: #1, #2, #3, #4, #5, #6, #7, #8, #9, #10 and 28 more)"
        in gated[2]
    )


def test_a_completed_trusted_capture_passes_every_condition() -> None:
    code, _out, err = _run(
        "show", str(DEMO), *_keys(DEMO), "--ca", str(LAB_ROOT), "--brief",
        "--fail-on", "failed,untrusted,deprecated,problem",
    )  # fmt: skip
    assert code == 0
    assert "--fail-on" not in err


def test_untrusted_chains_trip_the_gate() -> None:
    # Without the lab root the demo's chains lead nowhere the default store trusts.
    code, _out, err = _run("show", str(DEMO), *_keys(DEMO), "--brief", "--fail-on", "untrusted")
    assert code == GATE_EXIT
    assert "(untrusted: #1, #2)" in err


@pytest.mark.parametrize(("condition", "number", "code"), [
    ("deprecated", "1", GATE_EXIT),  # TLS 1.0
    ("deprecated", "2", GATE_EXIT),  # TLS 1.1
    ("deprecated", "3", 0),  # TLS 1.2
    ("problem", "1", GATE_EXIT),  # the deprecated version is a problem too
    ("problem", "3", 0),
    ("failed", "1", 0),
])  # fmt: skip
def test_the_gate_watches_the_connections_shown(condition: str, number: str, code: int) -> None:
    result = _run("show", str(VERSIONS), "--brief", "--connection", number, "--fail-on", condition)
    assert result[0] == code


def test_an_unknown_condition_is_a_usage_error() -> None:
    code, _out, err = _run("show", str(DEMO), "--fail-on", "failed,bogus")
    assert code == 2
    assert "bogus: choose from failed, untrusted, deprecated, problem" in err


def test_decrypt_refuses_a_condition_it_cannot_judge() -> None:
    # decrypt checks no chain: an untrusted gate there would pass whatever the chain.
    code, _out, err = _run("decrypt", str(DEMO), *_keys(DEMO), "--fail-on", "untrusted")
    assert code == 2
    assert "untrusted (this command checks no chain: show and certs do)" in err
    assert "choose from failed, deprecated, problem" in err


def test_conditions_are_taken_in_either_case() -> None:
    # --help shows the choices in capitals, as click writes a metavar.
    assert (
        _run("show", str(VERSIONS), "--brief", "--connection", "1", "--fail-on", "DEPRECATED")[0]
        == GATE_EXIT
    )


def test_a_chain_too_encrypted_to_judge_is_said_not_passed_in_silence() -> None:
    # The demo's TLS 1.3 connection without its key log: no chain to judge, said on stderr;
    # its TLS 1.2 connection's chain is judged (untrusted without the lab root).
    code, _out, err = _run("show", str(DEMO), "--brief", "--fail-on", "untrusted")
    assert code == GATE_EXIT
    assert "no chain seen to judge in 1 connection (#1)" in err
    assert "(untrusted: #2)" in err
    code, _out, err = _run("show", str(DEMO), *_keys(DEMO), "--brief", "--fail-on", "untrusted")
    assert "no chain seen" not in err
