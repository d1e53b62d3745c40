"""What tlslens did not read is said as such, never as absent or late.

A message skipped past ``--max-message`` or held behind a hole in the capture is in the
capture: the chain it held is "not read" (not "not in the capture"), a hello skipped is not
a capture that starts after the handshake, and records released late from behind a hole
take their place in the timeline by the frame they came in. The captures are the repo's own
framed again (tests/_frames.py).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from click.testing import CliRunner
from test_decrypt_lack import DEMO, DEMO_KEYS, TLS13_CLIENT_PORT, _gapped, demo_chunks

import tlslens
from tlslens import registry
from tlslens.bounds import Limits
from tlslens.cli import main
from tlslens.explain.ladder import ladder

from _frames import read_frames, write_conversation
from conftest import CAPTURES
from test_session import _record

RESUMPTION = CAPTURES / "openssl-resumption.pcap"
RESUMPTION_KEYS = CAPTURES / "openssl-resumption.keys"
ABBREVIATED_CLIENT_PORT = 40098  # its TLS 1.2 session-id resumption


def _run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def _rows(*args: str) -> list[dict[str, object]]:
    lines = _run("show", "--json", *args).splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


def test_records_released_from_behind_a_hole_keep_the_timeline_in_frame_order(
    tmp_path: Path,
) -> None:
    """The server's Certificate segment lost: its ServerKeyExchange and ServerHelloDone wait
    behind the hole until the connection ends, then come at their own frames (6, 7), which
    listed them after the client's frame-8 flight ([4, 5, 8, 8, 6, 7, 10])."""
    capture = _gapped(tmp_path / "gap.pcapng", lost=False, certificate_record=True)
    [row] = _rows("--keylog", str(DEMO_KEYS), str(capture))
    frames = [message["frame"] for message in row["handshake"]]  # type: ignore[union-attr]
    assert frames == sorted(frames)
    assert len(set(frames)) > 3
    text = _run("show", "--keylog", str(DEMO_KEYS), str(capture))
    steps = [int(line.split()[0][1:]) for line in text.splitlines() if line.startswith("    #")]
    assert steps == sorted(steps)


def test_hellos_skipped_leave_the_chain_unknown_not_absent() -> None:
    """At --max-message 100 the TLS 1.3 connection's hellos are skipped: whether a chain came,
    and in the clear, is not known (it said "not in the capture", --brief "no chain seen")."""
    for keys in ((), ("--keylog", str(DEMO_KEYS))):
        certs = _run("certs", *keys, "--max-message", "100", str(DEMO))
        assert (
            "No certificate chain: tlslens did not read the ServerHello (see the problems), so "
            "whether the server sent its chain, and in the clear, is not known.\n"
        ) in certs
        assert "not in the capture" not in certs
        brief = _run("show", "--brief", *keys, "--max-message", "100", str(DEMO))
        assert all(" chain not read; " in line for line in brief.splitlines()[:2])


def test_a_tls13_server_hello_skipped_still_says_tls13_by_its_suite() -> None:
    """At --max-message 100 the TLS 1.3 connection's ServerHello (118 bytes) is skipped; its
    first bytes still hold the cipher suite, TLS_AES_256_GCM_SHA384, TLS 1.3's alone. Its
    ChangeCipherSpec read as TLS 1.2's ("From here on the server encrypts everything it
    sends") and the sealed flights counted as application data (c2s 3 records, 187 bytes;
    s2c 8, 7,441): now as with the hellos read (2/118 and 4/5,835)."""
    whole = _rows(str(DEMO))[0]
    [skipped, _tls12] = _rows("--max-message", "100", str(DEMO))
    assert skipped["version"] is None  # supported_versions is past the limit, unread
    for direction in ("c2s", "s2c"):
        stats, read = skipped["bytes"][direction], whole["bytes"][direction]  # type: ignore[index]
        for field in ("application_data_records", "application_data_bytes"):
            assert stats[field] == read[field], (direction, field)
    assert skipped["outcome"]["status"] == "completed"  # type: ignore[index]
    text = _run("show", "--max-message", "100", str(DEMO)).split("── Connection 2")[0]
    assert "From here on" not in text
    assert text.count("A dummy ChangeCipherSpec for middlebox compatibility: the ServerHello") == 2
    assert text.count("Encrypted handshake record") == 5
    assert "Application data: 1 record, 99 bytes" in text


def test_a_quic_server_hello_skipped_leaves_its_packets_decrypted() -> None:
    """QUIC at --max-message 100: both hellos skipped, the core's QUIC layer still opens the
    Handshake and 1-RTT packets with the key log's secrets (5 and 6 of the first
    connection's); the decryption said "no_secret" all the same."""
    keys = ("--keylog", str(CAPTURES / "udp" / "quic.keys"))
    quic = str(CAPTURES / "udp" / "quic.pcapng")
    rows = _rows(*keys, "--max-message", "100", quic)
    assert len(rows) == 7
    for row in rows:
        decryption = row["decryption"]
        assert sum(decryption["records_decrypted"].values()) > 0  # type: ignore[index]
        assert decryption["status"] == "decrypted", decryption  # type: ignore[index]
    brief = _run("show", "--brief", *keys, "--max-message", "100", quic)
    assert "no secret" not in brief


def _resumption_without_server_ccs(path: Path) -> Path:
    """openssl-resumption's TLS 1.2 session-id resumption, one record a segment, with the
    server's ChangeCipherSpec record left out of the capture (a gap before its Finished)."""
    sent: list[tuple[int, bytes]] = []
    first_ts = None
    for ts_ns, _linktype, frame in read_frames(RESUMPTION):
        tcp = 14 + (frame[14] & 15) * 4
        payload = frame[tcp + (frame[tcp + 12] >> 4) * 4 :]
        sport = int.from_bytes(frame[tcp : tcp + 2])
        dport = int.from_bytes(frame[tcp + 2 : tcp + 4])
        if not payload or ABBREVIATED_CLIENT_PORT not in (sport, dport):
            continue
        first_ts = first_ts or ts_ns
        side = 0 if sport == ABBREVIATED_CLIENT_PORT else 1
        while payload:  # one record each
            length = 5 + int.from_bytes(payload[3:5])
            sent.append((side, payload[:length]))
            payload = payload[length:]
    server_ccs = next(data for side, data in sent if side == 1 and data[0] == 20)
    assert first_ts is not None
    write_conversation(path, sent, first_ts, left_out=server_ccs)
    return path


def test_a_gap_in_a_resumed_handshake_is_no_chain_not_read(tmp_path: Path) -> None:
    """A resumed handshake sends no chain: the gap before the server's Finished could not
    have held one (the session id echoed tells the resumption, its lost ChangeCipherSpec
    notwithstanding)."""
    capture = _resumption_without_server_ccs(tmp_path / "resumed.pcapng")
    keys = ("--keylog", str(RESUMPTION_KEYS))
    brief = _run("show", "--brief", *keys, str(capture))
    assert " no chain seen; " in brief
    assert "Certificate      not read" not in _run("show", *keys, str(capture))
    # A full handshake with the same gap: its chain may have been in it.
    gapped = _gapped(tmp_path / "full.pcapng", lost=False, certificate_record=True)
    assert " chain not read; " in _run("show", "--brief", str(gapped))


def test_a_client_hello_in_tiny_records_still_finds_the_secrets(tmp_path: Path) -> None:
    """The TLS 1.3 ClientHello cut into records of 20 bytes (a DPI evasion), skipped past
    --max-message 300: its random, over its first two records, still finds the secrets (it
    said "no secret: the ClientHello was skipped")."""
    chunks = demo_chunks(TLS13_CLIENT_PORT)
    ts_ns, side, hello = chunks[0]
    message = hello[5:]
    cut = b"".join(_record(22, message[i : i + 20], 0x0301) for i in range(0, len(message), 20))
    chunks[0] = (ts_ns, side, cut)
    capture = tmp_path / "tiny.pcapng"
    write_conversation(capture, [(s, data) for _ts, s, data in chunks], chunks[0][0])
    [row] = _rows("--keylog", str(DEMO_KEYS), "--max-message", "300", str(capture))
    decryption = row["decryption"]
    assert isinstance(decryption, dict)
    assert decryption["status"] == "decrypted"
    assert str(decryption["reason"]).startswith(
        "the secrets were looked up by client random e6d4f0e69bf8…, read from the first bytes "
        "of the ClientHello tlslens skipped"
    )


UDP = CAPTURES / "udp"


def test_a_dtls_client_hello_skipped_still_finds_the_secrets() -> None:
    """Over DTLS as over TCP: the ClientHellos past --max-message 120, their random read from
    their first fragment (it said "no secret" for 3 of the 5 associations)."""
    keys = ("--keylog", str(UDP / "dtls.keys"))
    whole = [row["decryption"] for row in _rows(*keys, str(UDP / "dtls.pcapng"))]
    limited = [
        row["decryption"] for row in _rows(*keys, "--max-message", "120", str(UDP / "dtls.pcapng"))
    ]
    looked_up = "read from the first bytes of the ClientHello tlslens skipped"
    for number in (0, 1, 3):  # #3 read its first ClientHello (123 bytes) whole
        decryption = limited[number]
        assert isinstance(decryption, dict)
        assert decryption["status"] == "decrypted"
        assert looked_up in str(decryption["reason"])
        assert decryption["plaintext_sha256"] == whole[number]["plaintext_sha256"]  # type: ignore[index]


def test_what_a_hello_retry_request_asks_for_is_said() -> None:
    """The DTLS 1.3 server's HelloRetryRequest carries a cookie and no key share (the second
    ClientHello offers the same shares): it said "The server wants a different key share"."""
    text = _run(
        "show",
        "--keylog",
        str(UDP / "dtls13.keys"),
        "--connection",
        "1",
        str(UDP / "dtls13.pcapng"),
    )
    assert "different key share" not in text
    assert "The server sends a cookie the client must echo in its next ClientHello" in text
    tls13 = _run(
        "show",
        "--keylog",
        str(CAPTURES / "openssl-hrr-clientauth.keys"),
        str(CAPTURES / "openssl-hrr-clientauth.pcapng"),
    )
    assert "The server wants a different key share before it goes on" in tls13
    assert "it asks the client for a share on secp256r1." in tls13


def test_a_renegotiation_client_hello_is_not_said_sent_in_clear_text() -> None:
    text = _run(
        "show",
        "--keylog",
        str(UDP / "dtls-reneg.keys"),
        "--connection",
        "1",
        str(UDP / "dtls-reneg.pcapng"),
    )
    assert text.count("Server name (SNI), sent in clear text: tlslens.test.") == 2  # cookie
    assert text.count("Server name (SNI), sent encrypted (a renegotiation's): tlslens.test.") == 1


def test_a_message_skipped_past_max_message_is_a_step_at_its_place(tshark: str) -> None:
    # At --max-message 100 the TLS 1.3 hellos and the TLS 1.2 Certificate were missing from
    # the row's handshake steps, the timeline and the ladder, and the hellos' times were
    # null: each is now a step at the frame its header came in, said not read.
    short = _rows("--max-message", "100", str(DEMO))
    whole = _rows(str(DEMO))
    assert [r["handshake"] for r in short] == [r["handshake"] for r in whole]
    assert [r["timing"] for r in short] == [r["timing"] for r in whole]
    # tshark's plaintext handshake messages, frame by frame, are the steps named.
    listed = subprocess.run(
        [
            *(tshark, "-n", "-r", str(DEMO), "-Y", "tls.handshake.type", "-T", "fields"),
            *("-e", "frame.number", "-e", "tls.handshake.type"),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    theirs = sorted(
        (int(frame), registry.handshake_name(int(kind)))
        for frame, kinds in (line.split("\t") for line in listed.splitlines())
        for kind in kinds.split(",")
    )
    ours = sorted(
        (step["frame"], step["type"])
        for row in short
        for step in row["handshake"]
        if step["type"] != "encrypted"
    )
    assert theirs == ours
    text = _run("show", "--max-message", "100", str(DEMO))
    assert "#4 08:33:07.843 C → S ClientHello (not read)" in text
    assert (
        "Sent here, but not read: its header claims 1,207 bytes, past --max-message's limit "
        "of 100 bytes, so tlslens skipped it"
    ) in text
    conn = next(iter(tlslens.read_capture(DEMO, limits=Limits(max_message=100))))
    labels = [arrow.label for arrow in ladder(conn) if arrow.kind == "message"]
    assert labels[:2] == [
        "ClientHello, not read (508 bytes, past --max-message)",
        "ServerHello, not read (118 bytes, past --max-message)",
    ]
