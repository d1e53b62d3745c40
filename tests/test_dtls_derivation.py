"""DTLS keys told as TLS keys are: the "Key derivation" step of ``show`` and ``show --json
--reveal-keys``'s ``decryption.derived``, from what the core's association derived (the
project's captures in tests/vectors/captures/udp with their key logs). DTLS 1.0/1.2's key
blocks are held against tshark's (``-o tls.debug_file`` writes each handshake's keys);
DTLS 1.3's, which tshark 4.0 does not derive, against HKDF-Expand-Label computed here with
``cryptography`` and RFC 9147 §5.9's "dtls13" prefix.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from tlslens.cli import main

from conftest import CAPTURES, ROOT

UDP = CAPTURES / "udp"
SCHEMA = json.loads((ROOT / "src/tlslens/schema/connection.schema.json").read_text())
DTLS12_NAMES = [
    "master_secret",
    "client_write_key",
    "server_write_key",
    "client_write_iv",
    "server_write_iv",
]
# DTLS 1.3's secrets by epoch (2: handshake, 3: application), the client's first.
PHASES = ("client_handshake", "server_handshake", "client_application", "server_application")
DTLS13_NAMES = [
    f"{phase}_{what}"
    for phase in PHASES
    for what in ("traffic_secret", "write_key", "write_iv", "sn_key")
]
# tshark's debug file names for the key block's parts.
_TSHARK_NAMES = {
    "Client MAC key": "client_write_mac_key",
    "Server MAC key": "server_write_mac_key",
    "Client Write key": "client_write_key",
    "Server Write key": "server_write_key",
    "Client Write IV": "client_write_iv",
    "Server Write IV": "server_write_iv",
}


def _show(capture: str, keys: str, *options: str) -> str:
    result = CliRunner().invoke(
        main, ["show", "--keylog", str(UDP / keys), *options, str(UDP / capture)]
    )
    assert result.exit_code == 0, result.output
    return result.stdout


def _rows(capture: str, keys: str, *options: str) -> list[dict[str, Any]]:
    lines = _show(capture, keys, "--json", *options).splitlines()
    return [json.loads(line) for line in lines]


def _steps(text: str) -> list[list[str]]:
    """Each "Key derivation" step of ``show``'s text: its title line and the lines under it."""
    lines = text.splitlines()
    steps = []
    for i, line in enumerate(lines):
        if "Key derivation" in line:
            end = next(j for j in range(i + 1, len(lines)) if re.match(r"\s+#\d+ ", lines[j]))
            steps.append([s.strip() for s in lines[i:end]])
    return steps


def _derived(row: dict[str, Any]) -> list[dict[str, str]]:
    """Each handshake's derived values by name, in the JSON's order."""
    return [{v["name"]: v["hex"] for v in d["values"]} for d in row["decryption"]["derived"]]


def _tshark_key_blocks(
    tshark: str, capture: Path, keys: Path, tmp_path: Path
) -> list[dict[str, str]]:
    """The key blocks tshark derived, in the order it derived them."""
    debug = tmp_path / "tls-debug.txt"
    subprocess.run(
        [
            tshark,
            "-r",
            str(capture),
            "-V",
            "-o",
            f"tls.keylog_file:{keys}",
            "-o",
            f"tls.debug_file:{debug}",
        ],
        capture_output=True,
        check=True,
        timeout=120,
    )
    lines = debug.read_text(errors="replace").splitlines()
    blocks: list[dict[str, str]] = []
    for i, line in enumerate(lines):
        if line.endswith("sess key generation"):  # a handshake's key block follows
            blocks.append({})
        found = re.match(r"(.+)\[(\d+)\]:$", line)
        if blocks and found is not None and found.group(1) in _TSHARK_NAMES:
            rows = lines[i + 1 : i + 1 + (int(found.group(2)) + 15) // 16]
            value = "".join("".join(row[2:49].split()) for row in rows)
            blocks[-1][_TSHARK_NAMES[found.group(1)]] = value
    return blocks


def test_dtls12_keys_are_told_as_tls12_keys_and_agree_with_tshark(
    tshark: str, tmp_path: Path
) -> None:
    text = _show("dtls.pcapng", "dtls.keys", "--connection", "1")
    (step,) = _steps(text)
    assert step[0].endswith("Key derivation")
    assert step[2].startswith("DTLS 1.2 derives its keys as TLS 1.2 does")
    assert step[4].startswith('key_block = PRF(master_secret, "key expansion"')
    # Redacted: the first 6 bytes and the last 2 (tshark's client_write_key below).
    assert step[5] == "client_write_key (16 bytes): 47f145892cce…1663"
    assert "47f145892cceac088c760d82153b1663" not in text
    revealed = _show("dtls.pcapng", "dtls.keys", "--connection", "1", "--reveal-keys")
    assert "client_write_key (16 bytes): 47f145892cceac088c760d82153b1663" in revealed

    rows = _rows("dtls.pcapng", "dtls.keys", "--reveal-keys")
    theirs = _tshark_key_blocks(tshark, UDP / "dtls.pcapng", UDP / "dtls.keys", tmp_path)
    ours = [_derived(row) for row in rows]
    assert [len(d) for d in ours] == [1, 1, 1, 1, 0]  # the fifth never logged a key
    assert len(theirs) == 4
    for (handshake,), block in zip(ours[:4], theirs, strict=True):
        # tshark cuts IVs from a CBC suite's key block too; DTLS 1.0's travel in its records.
        shared = handshake.keys() & block.keys()
        assert {"client_write_key", "server_write_key"} <= shared
        assert {k: handshake[k] for k in shared} == {k: block[k] for k in shared}
    assert list(ours[0][0]) == DTLS12_NAMES
    assert list(ours[2][0])[:3] == ["master_secret", "client_write_mac_key", "server_write_mac_key"]


def _expand_label(secret: bytes, label: str, length: int) -> bytes:
    full = b"dtls13" + label.encode()
    info = length.to_bytes(2) + bytes([len(full)]) + full + b"\x00"
    return HKDFExpand(hashes.SHA256(), length, info).derive(secret)


def test_dtls13_keys_are_told_with_the_dtls13_labels_and_the_record_number_keys() -> None:
    text = _show("dtls13.pcapng", "dtls13.keys", "--connection", "1")
    (step,) = _steps(text)  # after the HelloRetryRequest, one handshake
    assert step[2].startswith("DTLS 1.3: each traffic secret gives a key, an IV and a record")
    assert '"dtls13"' in step[2] and "RFC 9147 §5.9" in step[2] and "§4.2.3" in step[2]
    assert [line.split(" (")[0] for line in step[3:]] == DTLS13_NAMES
    assert "…" in step[3]  # redacted

    (row, *_) = _rows("dtls13.pcapng", "dtls13.keys", "--reveal-keys")
    jsonschema.validate(row, SCHEMA)
    (derived,) = row["decryption"]["derived"]
    # Its own DSB holds the same secrets as the key log given: the file given, read first,
    # is the source named (it was "pcapng" while the block's copy overwrote it).
    assert (derived["handshake"], derived["source"]) == (0, "keylog")
    values = {v["name"]: bytes.fromhex(v["hex"]) for v in derived["values"]}
    assert list(values) == DTLS13_NAMES
    for phase in PHASES:
        secret = values[f"{phase}_traffic_secret"]
        assert values[f"{phase}_write_key"] == _expand_label(secret, "key", 16)
        assert values[f"{phase}_write_iv"] == _expand_label(secret, "iv", 12)
        assert values[f"{phase}_sn_key"] == _expand_label(secret, "sn", 16)
    logged = (UDP / "dtls13.keys").read_text().split()
    assert values["client_handshake_traffic_secret"].hex() in logged


def test_a_renegotiation_tells_its_own_keys() -> None:
    text = _show("dtls-reneg.pcapng", "dtls-reneg.keys")
    titles = [step[0].split("       ")[-1] for step in _steps(text)]
    assert titles == ["Key derivation", "Key derivation (renegotiation 1)"] * 2
    rows = _rows("dtls-reneg.pcapng", "dtls-reneg.keys", "--reveal-keys")
    lines = (UDP / "dtls-reneg.keys").read_text().splitlines()
    logged = {line.split()[2] for line in lines if line.startswith("CLIENT_RANDOM ")}
    for row in rows:
        jsonschema.validate(row, SCHEMA)
        assert [d["handshake"] for d in row["decryption"]["derived"]] == [0, 1]
        first, again = _derived(row)
        assert list(first) == list(again) == DTLS12_NAMES
        # Two handshakes, two master secrets of the key log, two key blocks.
        assert {first["master_secret"], again["master_secret"]} <= logged
        assert first["master_secret"] != again["master_secret"]
        assert first["client_write_key"] != again["client_write_key"]


@pytest.mark.parametrize(
    ("capture", "keys"),
    [
        ("dtls.pcapng", "dtls.keys"),
        ("dtls13.pcapng", "dtls13.keys"),
        ("dtls-cid.pcapng", "dtls-cid.keys"),
    ],
)
def test_the_derived_values_are_in_the_json_only_with_reveal_keys(capture: str, keys: str) -> None:
    assert all("derived" not in row["decryption"] for row in _rows(capture, keys))
    rows = _rows(capture, keys, "--reveal-keys")
    assert all("derived" in row["decryption"] for row in rows)
    assert any(row["decryption"]["derived"] for row in rows)
