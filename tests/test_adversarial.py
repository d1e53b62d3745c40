"""The adversarial capture set (tools/adversarial.py), at a small scale: `show --json`
finishes on each with exit 0, a valid JSON line per connection and no internal error, and
names the anomalies it knows how to name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tlslens.cli import main

import adversarial

EXPECTED = {
    "huge-lengths.pcapng": ["claiming 65535 bytes, more than TLS allows", "claims 16777215 bytes"],
    "many-extensions.pcapng": ["ClientHello carries 103 extensions"],
    "nested-asn1.pcapng": ["malformed DER"],
    "one-byte-records.pcapng": ["handshake message type 1 claims"],
    "overlapping-segments.pcapng": ['"frame": 5', "overlapping TCP data conflicts"],
    "pcapng-4gb-block.pcapng": ["corrupt pcapng block"],
    "time-backwards.pcapng": ["timestamp earlier than the frame before"],
}  # the gzip bomb at this scale stays under its floor: see the next test


@pytest.fixture(scope="module")
def captures(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return adversarial.build(tmp_path_factory.mktemp("adversarial"), 0.01)


def test_every_adversarial_capture_is_survived(captures: list[Path]) -> None:
    assert len(captures) == len(adversarial.KINDS)
    for path in captures:
        result = CliRunner().invoke(main, ["show", "--json", str(path)], catch_exceptions=False)
        assert result.exit_code == 0, (path.name, result.stderr[-500:])
        assert "internal error" not in result.stdout + result.stderr, path.name
        for line in result.stdout.splitlines():
            json.loads(line)
        for expected in EXPECTED.get(path.name, []):
            assert expected in result.stdout + result.stderr, (path.name, expected)


def test_ten_thousand_extensions_with_repeats_are_named(tmp_path: Path) -> None:
    path = tmp_path / "many.pcapng"
    adversarial._write(path, adversarial.many_extensions(1))
    result = CliRunner().invoke(main, ["show", str(path)], catch_exceptions=False)
    assert "ClientHello carries 10003 extensions" in result.stdout
    assert "10003 extensions, 8720 of them repeating a type already present" in result.stdout
    # The narration counts the unregistered types instead of naming ten thousand.
    assert "9976 of unregistered types (0xfa00 to 0xfeff)" in result.stdout
    assert "unknown (0xfa01)" not in result.stdout


def test_the_gzip_bomb_stops_at_its_budget(tmp_path: Path) -> None:
    from tlslens.capture import reader

    path = adversarial.build(tmp_path, 0.1)[-1]  # 100 MB of zeros, gzip'd
    assert path.name == "gzip-bomb.pcap.gz"
    raw, capture = reader.open_capture(path)
    with raw:
        frames = sum(1 for _ in capture)
    # 32 MiB (the floor) of 16-byte records at most, not 100 MB of them.
    assert frames <= (reader.GZIP_FLOOR // 16) + 1
    assert any("decompression bomb" in p.message for p in capture.problems)
