"""What a DTLS association tells that it used to get wrong or keep silent: the reassembly
rule each version's steps cite, a "retransmission" that is another message, and a DTLS 1.3
handshake past the transcript tlslens keeps.

The captures are the project's (tests/vectors/captures/udp), some written again with a
datagram added (test_dtls_lack.py's ``_datagrams`` and ``_written``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from test_dtls_lack import UDP, _datagrams, _fragment, _not_checked, _written

from tlslens.cli import main

from _frames import read_frames

DTLS13_CLIENT_PORT = 49236  # dtls13.pcapng's first association's client
BOUND_WHY = "the handshake is longer than the 2 MiB of transcript tlslens keeps"


def _show(keys: Path, *args: str) -> str:
    result = CliRunner().invoke(main, ["show", "--keylog", str(keys), *args])
    assert result.exit_code == 0, result.output
    return result.output


def _rows(keys: Path, capture: str) -> list[dict[str, Any]]:
    lines = _show(keys, "--json", capture).splitlines()
    return [json.loads(line) for line in lines if line.startswith('{"')]


def test_a_fragmented_message_cites_the_reassembly_rule_of_its_version() -> None:
    """RFC 9147 §5.5 for DTLS 1.3 (it said RFC 6347 §4.2.3, which DTLS 1.3 obsoletes), RFC
    6347 §4.2.3 for DTLS 1.0 and 1.2."""
    rule = "reassembled by their offsets ({})."
    dtls13 = _show(UDP / "dtls13.keys", str(UDP / "dtls13.pcapng"))
    assert dtls13.count(rule.format("RFC 9147 §5.5")) == 5
    assert "RFC 6347 §4.2.3" not in dtls13
    dtls12 = _show(UDP / "dtls.keys", str(UDP / "dtls.pcapng"))
    assert dtls12.count(rule.format("RFC 6347 §4.2.3")) == 7
    assert "RFC 9147 §5.5" not in dtls12


def test_a_retransmission_with_other_bytes_is_a_finding_and_the_first_copy_is_read(
    tmp_path: Path,
) -> None:
    """dtls.pcapng's first association with the Certificate's middle fragment (frame 5) sent
    again after the server's flight with one byte changed: a finding names the frame, the
    epoch, the message_seq and the byte of the message that differs, and the handshake
    reads the first copy (both Finished verify). It was counted as a retransmission and
    said nothing."""
    datagrams = _datagrams()
    from_client, payload = datagrams[4]
    assert not from_client and payload[13] == 11  # the Certificate, in one record
    offset = int.from_bytes(payload[13 + 6 : 13 + 9])  # the fragment's, in the message
    at = 13 + 12 + 100
    changed = payload[:at] + bytes([payload[at] ^ 1]) + payload[at + 1 :]
    datagrams.insert(7, (False, changed))  # frame 8, before the client's last flight
    capture = _written(tmp_path / "changed.pcapng", datagrams)
    [row] = _rows(UDP / "dtls.keys", capture)
    what = (
        "handshake message type 11 (Certificate), epoch 0, message_seq 2, came again with "
        f"bytes that differ from the first copy's at byte {offset + 100:,} of the message: "
        "another message under the same epoch and message_seq, not a retransmission; the "
        "first copy is kept"
    )
    assert [(f["frame"], f["direction"], f["offset"], f["message"]) for f in row["problems"]] == [
        (8, "s2c", 13, what)
    ]
    assert row["decryption"]["finished_verified"] == {"c2s": True, "s2c": True}
    assert row["dtls"]["retransmissions"] == {"c2s": 0, "s2c": 0}
    text = " ".join(_show(UDP / "dtls.keys", capture).split())
    assert f"frame 8, connection 1 (s2c), byte offset 13: {what}" in text
    assert "Retransmitted" not in text


def _dtls13_first() -> list[tuple[bool, bytes]]:
    """dtls13.pcapng's first association (frames 1 to 14) as (from the client, payload)."""
    out = []
    for _, _, frame in read_frames(UDP / "dtls13.pcapng")[:14]:
        udp = 14 + (frame[14] & 15) * 4  # Ethernet, then IPv4 with its options
        out.append((int.from_bytes(frame[udp : udp + 2]) == DTLS13_CLIENT_PORT, frame[udp + 8 :]))
    return out


def test_a_dtls13_handshake_past_the_transcript_bound_says_so(tmp_path: Path) -> None:
    """dtls13.pcapng's first association with 2.2 MB of server handshake messages after its
    ServerHello (frame 4): a finding names the bound and the frame where the transcript was
    given up, and the Finished and the CertificateVerify say they were not checked (it
    stopped silently: "neither Finished was checked", no reason)."""
    datagrams = _dtls13_first()
    datagrams[4:4] = [
        (False, _fragment(23, 16000, 900 + m, bytes([m]) * 16000)) for m in range(140)
    ]
    capture = _written(tmp_path / "long13.pcapng", datagrams)
    [row] = _rows(UDP / "dtls13.keys", capture)
    decryption = row["decryption"]
    assert decryption["status"] == "decrypted"
    assert decryption["finished_verified"] == {"c2s": None, "s2c": None}
    assert decryption["reason"] == _not_checked(BOUND_WHY)
    # 2 MiB of transcript: the hellos and the first 130 of the 16,000-byte messages.
    bound = (
        "handshake message type 23, message_seq 1030, takes the handshake past the 2 MiB "
        "(2,097,152 bytes) of transcript tlslens keeps: the transcript is given up, and the "
        "Finished and CertificateVerify messages after it are not checked"
    )
    found = [(f["frame"], f["direction"], f["message"]) for f in row["problems"]]
    assert found == [(135, "s2c", bound)]
    [check] = row["handshake_signatures"]
    assert check["verified"] is None
    assert check["reason"] == f"the transcript hash it signs is not known: {BOUND_WHY}"
    text = " ".join(_show(UDP / "dtls13.keys", capture).split())
    assert text.count(f"Not checked: {BOUND_WHY}, and it MACs the whole handshake") == 2
    assert f"Not checked: the transcript hash it signs is not known: {BOUND_WHY}." in text
