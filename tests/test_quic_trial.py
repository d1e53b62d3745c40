"""What a newcomer's trial of QUIC reading found, each on the project's recorded capture
(tests/vectors/captures/udp/quic.pcapng, its README lists each connection): application
data counted in packets (not STREAM frames) alike in the narration, the JSON statistics
and ``--records``; a wrong key log told as a wrong secret; a refused handshake without
keys given no handshake time."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

from click.testing import CliRunner

import tlslens
from tlslens.cli import main
from tlslens.explain.ladder import ladder
from tlslens.explain.packets import quic_steps

from _tshark import strip_secrets
from conftest import CAPTURES

QUIC = CAPTURES / "udp" / "quic.pcapng"
KEYS = CAPTURES / "udp" / "quic.keys"
RETRIED = 3  # the server sent a Retry (captures README)
REFUSED = 6  # the client rejected the server's certificate (captures README)


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


def _altered_keys(tmp_path: Path) -> Path:
    """quic.keys with the last byte of every secret flipped: each label and client random
    is there, no secret is right."""
    lines = []
    for line in KEYS.read_text().splitlines():
        label, random, secret = line.split()
        last = int(secret[-2:], 16) ^ 0xFF
        lines.append(f"{label} {random} {secret[:-2]}{last:02x}")
    out = tmp_path / "wrong.keys"
    out.write_text("\n".join(lines) + "\n")
    return out


def test_a_wrong_key_log_is_a_wrong_secret_not_a_success(tmp_path: Path, tshark: str) -> None:
    """With the capture's own secrets stripped and a key log whose secrets are all wrong,
    the Handshake and 1-RTT packets fail authentication: each connection whose packets were
    tried is "wrong_secret" with its failures counted, not "decrypted" because the
    Initials (whose keys need no key log) opened."""
    stripped = strip_secrets(QUIC, tmp_path)
    wrong = _altered_keys(tmp_path)
    result = CliRunner().invoke(main, ["show", "--json", "--keylog", str(wrong), str(stripped)])
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    first = rows[0]["decryption"]
    assert first["status"] == "wrong_secret"
    assert "key log" in first["reason"]
    failures = sum(first["records_failed_integrity"].values())
    assert failures == 11  # 4 Handshake + 7 1-RTT packets, as --records lists them
    assert not any(r["decryption"]["status"] == "decrypted" for r in rows)
    text = CliRunner().invoke(main, ["show", "--keylog", str(wrong), str(stripped)]).output
    assert "Decryption decrypted" not in text and "wrong secret" in text
    assert "11 not opened (the key log's secrets do not authenticate them)" in text


def test_a_handshake_the_client_refused_has_no_handshake_time(tmp_path: Path, tshark: str) -> None:
    """Connection 6: the client rejects the certificate and closes (CONNECTION_CLOSE with
    CRYPTO_ERROR 0x12a in a Handshake packet, frame 71). Without keys its Handshake packets
    (frames 70-71) are unread: they are not "its Finished", no handshake time is given,
    and the outcome says what the packets show rather than "the capture ends"; the
    completed connections keep theirs."""
    stripped = strip_secrets(QUIC, tmp_path)
    result = CliRunner().invoke(main, ["show", "--json", str(stripped)])
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    refused = rows[REFUSED - 1]
    assert refused["timing"]["handshake_ms"] is None
    assert refused["timing"]["client_hello_to_server_hello_ms"] is not None
    reason = refused["outcome"]["reason"]
    assert refused["outcome"]["status"] == "incomplete"
    assert "capture ends" not in reason and "frames 70–71" in reason
    assert "CONNECTION_CLOSE" in reason and "no 1-RTT packet" in reason
    assert all(r["timing"]["handshake_ms"] for r in rows if r["id"] != REFUSED)
    text = CliRunner().invoke(main, ["show", str(stripped), "--connection", str(REFUSED)])
    assert "TLS handshake" not in text.output and "last Finished" not in text.output


def test_an_http3_close_code_is_named() -> None:
    """Over h3, an application CONNECTION_CLOSE's code is HTTP/3's (RFC 9114 §8.1): the
    recorded connection's close (aioquic's 0x0) carrying H3_NO_ERROR (0x100), as Chromium
    and curl close, is named and told as a normal end, not "application error 0x100"."""
    conn = next(iter(tlslens.read_capture(QUIC)))
    assert conn.alpn == "h3" and conn.quic is not None
    close = conn.quic.closes[0]
    conn.quic.closes[0] = dataclasses.replace(close, code=0x100, error="application error 0x100")
    (step,) = [s for s in quic_steps(conn, bytes.hex) if s.title == "CONNECTION_CLOSE"]
    assert step.lines[0].startswith("Error: application error 0x100 (H3_NO_ERROR, RFC 9114")
    assert step.tone == "normal"


def test_one_cipher_suite_is_singular() -> None:
    """dtls-cid-mte.pcapng's client offers one cipher suite (captures README)."""
    path = CAPTURES / "udp" / "dtls-cid-mte.pcapng"
    text = CliRunner().invoke(main, ["show", str(path)]).output
    assert "1 cipher suite, in the client's order" in text
    assert "1 cipher suites" not in text


def test_initial_keys_derived_again_after_a_retry() -> None:
    """Connection 3 follows a Retry: the client's next Initial goes to a new Destination
    Connection ID (the Retry's Source Connection ID), from which the Initial keys are
    derived again; the narration tells it with that ID, as --records lists the packet."""
    (row,) = _rows(str(QUIC), "--connection", str(RETRIED))
    first = row["quic"]["initial_dcid"]
    packets = [
        (d["frame"], p)
        for d in row["quic"]["datagrams"]
        if d["direction"] == "c2s"
        for p in d["packets"]
        if p["type"] == "Initial"
    ]
    frame, again = next((f, p) for f, p in packets if p["dcid"] != first)
    assert again["opened"]
    text = CliRunner().invoke(main, ["show", str(QUIC), "--connection", str(RETRIED)]).output
    told = (
        f"Initial keys derived again from the new Destination Connection ID {again['dcid']} "
        "(RFC 9001 §5.2)"
    )
    assert told in text
    assert re.search(rf"#{frame} \S+ +QUIC v1 Initial keys again\n +After the Retry", text)
    assert f"HKDF-Extract(salt 38762cf7f55934b34d179ae6a4c80cadccbb7f0a, {again['dcid']})" in text


def test_initial_only_flows_say_their_initials_opened(corpus: Path) -> None:
    """quic-fragmented-handshakes.pcapng.gz: its DSB holds secrets for connection 1 only;
    the other flows are Initials alone, which opened without a key log. Their decryption
    says so rather than only "the secrets given hold nothing", and names what was searched:
    the capture's own secrets, no key log being given."""
    path = corpus / "wireshark" / "quic-fragmented-handshakes.pcapng.gz"
    rows = [json.loads(line) for line in _show_json(str(path))]
    assert rows[0]["decryption"]["status"] == "decrypted"
    for row in rows[1:]:
        decryption = row["decryption"]
        assert decryption["status"] == "no_secret"
        assert decryption["reason"].startswith(
            "Initial packets opened (their keys come from the connection ID); for the rest, "
            "the capture's Decryption Secrets Blocks hold nothing for client random "
        )


def _show_json(*args: str) -> list[str]:
    result = CliRunner().invoke(main, ["show", "--json", *args])
    assert result.exit_code == 0, result.output
    return result.stdout.splitlines()


def test_the_ladder_draws_an_http3_no_error_close_as_a_normal_end() -> None:
    """The same H3_NO_ERROR close on the ladder: its packet's arrow is not an alert's."""
    conn = next(iter(tlslens.read_capture(QUIC)))
    assert conn.alpn == "h3" and conn.quic is not None
    packets = conn.quic.packets  # listed once, then kept: the ladder reads this list
    for i, packet in enumerate(packets):
        frames = [
            dataclasses.replace(f, code=0x100, error="application error 0x100")
            if f.name == "CONNECTION_CLOSE"
            else f
            for f in packet.frames
        ]
        packets[i] = dataclasses.replace(packet, frames=frames)
    closes = [a for a in ladder(conn) if "CONNECTION_CLOSE" in a.label]
    assert closes and all(a.tone != "alert" for a in closes)
