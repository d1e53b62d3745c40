"""Output that cannot be written (a full disk, a device that refuses bytes) is said as the
output's failure, once, with exit status 1: never as the capture's ("cannot read"), nor as
a connection's internal error, nor by the interpreter as it exits."""

from __future__ import annotations

import errno
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tlslens.cli import main, plaintext

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
    ],
    ids=["show --json", "show", "certs", "decrypt"],
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
