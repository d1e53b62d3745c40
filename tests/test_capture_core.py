"""The capture reader in the compiled core (tlslens._core): its typed surface, what it
reads that the Python walk did not, and its frames against tshark's on every capture."""

from __future__ import annotations

import ast
import gzip
import io
import struct
import subprocess
from pathlib import Path

from click.testing import CliRunner

import tlslens
from tlslens import _core
from tlslens.capture import CaptureReader
from tlslens.cli import main

from _frames import read_frames
from conftest import CAPTURES, ROOT

SHB = struct.pack("<IIIHHq", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1) + struct.pack("<I", 28)
IDB = struct.pack("<IIHHI", 1, 20, 1, 0, 0) + struct.pack("<I", 20)


def test_the_stub_names_what_the_module_holds() -> None:
    stub = ast.parse((ROOT / "src" / "tlslens" / "_core.pyi").read_text())

    def typing_only(node: ast.stmt) -> bool:
        """Type aliases, TypedDicts and private bases (a signature several classes share)
        exist for the type checker alone."""
        if isinstance(node, ast.AnnAssign):
            return ast.unparse(node.annotation) == "TypeAlias"
        return isinstance(node, ast.ClassDef) and (
            "TypedDict" in map(ast.unparse, node.bases) or node.name.startswith("_")
        )

    named = {
        node.target.id if isinstance(node, ast.AnnAssign) else node.name  # type: ignore[union-attr]
        for node in stub.body
        if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AnnAssign)
        and not typing_only(node)
    }
    assert named == {name for name in dir(_core) if not name.startswith("_")}
    assert _core.GZIP_FLOOR == 32 << 20 and _core.GZIP_MAX_RATIO == 50


def test_a_packet_block_too_short_for_its_fields_is_a_finding(tmp_path: Path) -> None:
    # An EPB of 12 bytes at the end of the file: the Python walk read its fields past the
    # file's end and stopped with an internal error.
    path = tmp_path / "short-epb.pcapng"
    path.write_bytes(SHB + IDB + struct.pack("<III", 6, 12, 12))
    result = CliRunner().invoke(main, ["show", str(path)], catch_exceptions=False)
    assert result.exit_code == 0
    assert "internal error" not in result.stdout + result.stderr
    assert (
        "frame 1, byte offset 60: packet block of 12 bytes is too short for its fields"
        in result.stdout + result.stderr
    )


def test_a_gzip_capture_given_as_a_stream_is_read() -> None:
    # read_capture(stream=...) (as connect and the library use it) now inflates gzip too.
    data = gzip.compress((CAPTURES / "python-ssl.pcap").read_bytes())
    conns = list(tlslens.read_capture("in-memory.pcap.gz", stream=io.BytesIO(data)))
    assert [c.sni for c in conns] == [
        c.sni for c in tlslens.read_capture(CAPTURES / "python-ssl.pcap")
    ]
    assert conns


def test_a_stream_is_read_one_chunk_at_a_time() -> None:
    class Trickle(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            return super().read(min(size or 1, 7) if size and size > 0 else 7)

    data = (CAPTURES / "demo-tls12-tls13.pcapng").read_bytes()
    trickled = list(CaptureReader(Trickle(data)))  # type: ignore[arg-type]
    assert trickled == read_frames(CAPTURES / "demo-tls12-tls13.pcapng")


def test_frames_and_times_agree_with_tshark(tshark: str) -> None:
    for path in sorted(CAPTURES.glob("*.pcap*")):
        fields = subprocess.run(
            [tshark, "-r", str(path), "-T", "fields", "-e", "frame.len", "-e", "frame.time_epoch"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        ours = read_frames(path)
        assert [int(n) for n in fields[::2]] == [len(d) for _ts, _lt, d in ours], path.name
        for epoch, (ts, _lt, _d) in zip(fields[1::2], ours, strict=True):
            seconds, _dot, fraction = epoch.partition(".")
            assert int(seconds) * 10**9 + int(fraction.ljust(9, "0")[:9]) == ts, path.name
