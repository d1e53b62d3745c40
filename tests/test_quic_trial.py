"""What a newcomer's trial of QUIC reading found, each on the project's recorded capture
(tests/vectors/captures/udp/quic.pcapng, its README lists each connection): application
data counted in packets (not STREAM frames) alike in the narration, the JSON statistics
and ``--records``."""

from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner

from tlslens.cli import main

from conftest import CAPTURES

QUIC = CAPTURES / "udp" / "quic.pcapng"


def _rows(*args: str) -> list[dict[str, Any]]:
    result = CliRunner().invoke(main, ["show", "--json", "--records", *args])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def _stream_packets(row: dict[str, Any], direction: str) -> int:
    """1-RTT packets of ``direction`` carrying STREAM frames (or sealed: what they carry is
    not known), as --records lists them."""
    return sum(
        1
        for d in row["quic"]["datagrams"]
        if d["direction"] == direction
        for p in d["packets"]
        if p["type"] == "1-RTT"
        and (not p["opened"] or any(f["type"] == "STREAM" for f in p["frames"]))
    )


def test_application_data_counts_packets_not_stream_frames() -> None:
    """Frame 3 holds one 1-RTT packet (pn 3) with three STREAM frames: one packet of
    application data, in the narration and in the JSON statistics, as --records lists."""
    text = CliRunner().invoke(main, ["show", str(QUIC), "--connection", "1"]).output
    assert "#3 12:56:09.177 C ← S Application data (decrypted): 1 packet, 14 bytes" in text
    assert "#5 12:56:09.180 C → S Application data (decrypted): 1 packet, 20 bytes" in text
    assert "3 packets, 14 bytes" not in text
    rows = _rows(str(QUIC))
    for index, row in enumerate(rows):
        for direction in ("c2s", "s2c"):
            counted = row["bytes"][direction]["application_data_records"]
            assert counted == _stream_packets(row, direction), (index + 1, direction)
