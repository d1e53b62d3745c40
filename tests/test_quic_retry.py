"""A Retry whose integrity tag does not verify (RFC 9001 §5.8), and a migrated client
without keys, on the project's real aioquic exchanges (tests/vectors/captures/udp/
quic.pcapng, its README lists each connection):

- the Retry of connection 3, its tag altered in a copy: aioquic followed it (its next
  Initial goes to the Retry's Source Connection ID), so the Initials open only with keys
  from that ID; the forged Retry and the client that did not discard it are findings, and
  the rest reads as the genuine exchange (tshark flags the same Retry and reads the same
  second ClientHello);
- a Retry with a wrong tag slipped into connection 1, which its client never saw: the
  Initials go on with the original Destination Connection ID's keys;
- connection 5 without keys: its client's datagrams from the port it migrated to carry a
  Connection ID issued in an encrypted NEW_CONNECTION_ID; tshark ties them to no
  connection, tlslens says once where they probably belong.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

from click.testing import CliRunner

import tlslens
from tlslens.capture.writer import PcapngWriter
from tlslens.cli import main

from _frames import read_frames
from _tshark import _fields, strip_secrets
from conftest import CAPTURES

QUIC = CAPTURES / "udp" / "quic.pcapng"
KEYS = CAPTURES / "udp" / "quic.keys"
RETRY_FRAME = 22  # connection 3's Retry; frame 23 is the client's Initial after it
RETRY_CONNECTION = 2
MIGRATING_CONNECTION = 4  # opened in frame 46; its client moves to a new port in frame 61
ORPHANS = [61, 63, 64, 65, 66]  # the new port's datagrams (62 is on the old path)
UDP_PAYLOAD = 14 + 20 + 8  # Ethernet, IPv4, UDP
TAG_LEN = 16
NO_OUT_OF_ORDER = ["-o", "quic.reassemble_crypto_out_of_order:FALSE"]


def _show(path: Path) -> tuple[list[dict[str, Any]], str]:
    result = CliRunner().invoke(main, ["show", "--json", str(path)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()], result.stderr


def _forged_tag(retry: bytes) -> bytes:
    """``retry`` (a frame) with the last byte of its integrity tag changed."""
    return retry[:-1] + bytes([retry[-1] ^ 0xFF])


def _tag_altered_copy(tmp_path: Path) -> Path:
    """quic.pcapng, byte for byte but for one byte of the Retry's tag (its Decryption
    Secrets Block kept, so tshark opens it alone)."""
    frames = read_frames(QUIC)
    retry = frames[RETRY_FRAME - 1][2]
    tag = retry[-TAG_LEN:]
    data = QUIC.read_bytes()
    assert data.count(tag) == 1
    forged = tmp_path / "forged-retry.pcapng"
    forged.write_bytes(data.replace(retry, _forged_tag(retry)))
    return forged


def _without(row: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in keys}


def test_a_forged_retry_the_client_followed(tmp_path: Path, tshark: str) -> None:
    forged = _tag_altered_copy(tmp_path)
    genuine, _ = _show(QUIC)
    rows, _ = _show(forged)
    row = rows[RETRY_CONNECTION]
    assert row["quic"]["retry"]["integrity_tag_verified"] is False
    (retry, followed) = row["problems"]
    assert (retry["frame"], retry["layer"]) == (RETRY_FRAME, "quic")
    assert "integrity tag does not verify" in retry["message"]
    assert "a client must discard it" in retry["message"]
    assert followed["frame"] == RETRY_FRAME + 1
    assert "the client did not discard that Retry" in followed["message"]
    # The second ClientHello (a new random, the one the key log has) is read, decrypted and
    # its Finished checked: nothing is blamed on the key log.
    assert row["decryption"]["status"] == "decrypted" and row["decryption"]["reason"] is None
    assert row["decryption"]["finished_verified"] == {"c2s": True, "s2c": True}
    assert row["outcome"]["status"] == "completed"
    same = ("file", "problems", "quic")
    assert _without(row, *same) == _without(genuine[RETRY_CONNECTION], *same)
    assert _without(row["quic"], "retry") == _without(genuine[RETRY_CONNECTION]["quic"], "retry")
    for index, (ours, theirs) in enumerate(zip(rows, genuine, strict=True)):
        if index != RETRY_CONNECTION:
            assert _without(ours, "file") == _without(theirs, "file")

    # tshark flags that Retry alone, and reads the same second ClientHello (with out-of-order
    # CRYPTO reassembly off, as for the genuine one: Wireshark issue 18757).
    flagged = _fields(forged, [], "quic.bad_retry", ["frame.number"], None)
    assert flagged.split() == [str(RETRY_FRAME)]
    randoms = _fields(
        forged,
        NO_OUT_OF_ORDER,
        "tls.handshake.type == 1",
        ["frame.number", "tls.handshake.random"],
        None,
    )
    by_frame = dict(line.split("\t") for line in randoms.splitlines())
    conn = list(tlslens.read_capture(forged))[RETRY_CONNECTION]
    assert [ch.random.hex() for ch in conn.client_hellos] == [
        by_frame[str(RETRY_FRAME - 1)],
        by_frame[str(RETRY_FRAME + 1)],
    ]


def _retry_for(retry: bytes, client: bytes, to_port: int, from_port: int) -> bytes:
    """Connection 3's Retry frame re-addressed: UDP ports, Destination Connection ID (the
    client's Source Connection ID of the same length), no UDP checksum (IPv4 allows none)."""
    udp = struct.pack(">HHHH", from_port, to_port, len(retry) - UDP_PAYLOAD + 8, 0)
    payload = bytearray(retry[UDP_PAYLOAD:])
    dcid_len = payload[5]
    assert dcid_len == len(client)
    payload[6 : 6 + dcid_len] = client
    return retry[: UDP_PAYLOAD - 8] + udp + bytes(payload)


def test_a_forged_retry_the_client_never_saw(tmp_path: Path) -> None:
    """A wrong-tag Retry slipped in after connection 1's first Initial: its client went on
    with its first Destination Connection ID, and so does the reader."""
    frames = read_frames(QUIC)
    first = frames[0][2]
    client_port, server_port = struct.unpack_from(">HH", first, UDP_PAYLOAD - 8)
    scid_at = UDP_PAYLOAD + 6 + first[UDP_PAYLOAD + 5]
    client_cid = first[scid_at + 1 : scid_at + 1 + first[scid_at]]
    retry = _retry_for(frames[RETRY_FRAME - 1][2], client_cid, client_port, server_port)
    path = tmp_path / "slipped-retry.pcapng"
    with path.open("wb") as out:
        writer = PcapngWriter(out)
        writer.add_interface(tsresol=9)
        writer.add_secrets(KEYS.read_bytes())
        for number, (ts, _lt, data) in enumerate(frames[:10], start=1):
            writer.add_packet(ts, data)
            if number == 1:
                writer.add_packet(ts + 1000, retry)
    (row,), _ = _show(path)
    genuine, _ = _show(QUIC)
    assert row["quic"]["retry"] == {"frame": 2, "integrity_tag_verified": False, "token_length": 61}
    (problem,) = row["problems"]
    assert problem["frame"] == 2 and "a client must discard it" in problem["message"]
    assert row["decryption"]["status"] == "decrypted"
    assert row["decryption"]["finished_verified"] == {"c2s": True, "s2c": True}
    for key in ("version", "cipher_suite", "alpn", "certificates", "outcome"):
        assert row[key] == genuine[0][key], key


def test_a_migrated_client_without_keys_is_told_once(tmp_path: Path, tshark: str) -> None:
    stripped = strip_secrets(QUIC, tmp_path)
    # tshark ties the new port's datagrams to no connection without the key log (nor the
    # old path's short headers, which tlslens keeps by their address pair).
    numbers = _fields(stripped, [], "udp", ["frame.number", "quic.connection.number"], None)
    unassigned = {int(f) for f, n in (line.split("\t") for line in numbers.splitlines()) if not n}
    assert set(ORPHANS) <= unassigned
    rows, stderr = _show(stripped)
    (problem,) = rows[MIGRATING_CONNECTION]["problems"]
    assert (problem["frame"], problem["offset"], problem["layer"]) == (ORPHANS[0], 0, "quic")
    assert problem["message"].startswith(
        "short-header packets from a new address whose Connection ID was never seen "
        "unencrypted: probably a migrated client of the QUIC connection opened in frame 46 "
        "(same server, same Destination Connection ID length) — a key log would tie them"
    )
    assert rows[MIGRATING_CONNECTION]["first_frame"] == 46
    # Not one line per datagram for the capture either.
    assert not any(f"frame {frame}," in stderr for frame in ORPHANS), stderr
    assert [r["problems"] for i, r in enumerate(rows) if i != MIGRATING_CONNECTION] == [[]] * 6
    # With the key log the new Connection ID is seen, and there is nothing to say.
    keyed, _ = _show(QUIC)
    assert keyed[MIGRATING_CONNECTION]["problems"] == []
    assert len(keyed[MIGRATING_CONNECTION]["quic"]["migrations"]) == 1
