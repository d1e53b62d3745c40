"""A DTLS handshake message tlslens does not have is not the key log's fault.

When the association refuses a message (its header claims more than ``--max-message``, its
fragments conflict, the bounds on what is held are reached) or the capture lacks fragments
of it, the Finished recomputed without it cannot match, whatever the secret: the core tells
Python (``DtlsEvent`` kind "lacking", crates/tlslens-core/src/dtls/lack.rs) and the
decryption says why the Finished were not checked, never "wrong secret" or "does NOT
verify" (tls/dtls.py). The TCP side of the same fix is tests/test_decrypt_lack.py.

The cases past the limit are the project's captures (tests/vectors/captures/udp) read with
``--max-message 300``: every DTLS 1.2 association's Certificate (1,016 or 1,207 bytes) and
every DTLS 1.3 association's second ClientHello (541 to 1,899 bytes) is past it. The others
are the first DTLS 1.2 association of ``dtls.pcapng`` written again with a datagram left out
or added, or a byte of its ClientKeyExchange changed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from test_udp_flows import _udp_frame

from tlslens.capture.writer import PcapngWriter
from tlslens.cli import main

from _frames import read_frames
from conftest import CAPTURES

UDP = CAPTURES / "udp"
FIRST = range(13)  # the frames of dtls.pcapng's first association (1 to 13)
CLIENT_PORT = 47839  # its client's
NOT_VERIFIED = (
    "Finished does not verify although the records open: the handshake messages it hashes "
    "were altered, or not all read"
)


def _show(keys: Path, *args: str) -> str:
    result = CliRunner().invoke(main, ["show", "--keylog", str(keys), *args])
    assert result.exit_code == 0, result.output
    return result.output


def _decryptions(keys: Path, *args: str) -> list[dict[str, Any]]:
    lines = _show(keys, "--json", *args).splitlines()
    return [json.loads(line)["decryption"] for line in lines if '"decryption"' in line]


def _blames_the_secret(text: str) -> bool:
    return any(
        words in text
        for words in ("wrong secret", "wrong_secret", "does NOT match", "does NOT verify")
    )


def _not_checked(why: str) -> str:
    return f"the Finished messages were not checked: {why}, and a Finished MACs the whole handshake"


def _skipped(side: str, message: str, claims: str, limit: str = "300") -> str:
    return (
        f"tlslens skipped the {side}'s handshake message {message}, which claims {claims} bytes, "
        f"past --max-message's limit of {limit} bytes"
    )


CERTIFICATE = "type 11 (Certificate)"
CLIENT_HELLO = "type 1 (ClientHello)"


@pytest.mark.parametrize(
    ("name", "reasons"),
    [
        (
            "dtls",
            [
                _not_checked(_skipped("server", CERTIFICATE, "1,207")),
                _not_checked(_skipped("server", CERTIFICATE, "1,207")),
                _not_checked(_skipped("server", CERTIFICATE, "1,207")),
                _not_checked(_skipped("server", CERTIFICATE, "1,016")),
                # The client rejects the server's certificate: no secret is logged for it.
                # Searched: the key log given and the capture's own secrets (its DSB).
                "neither the key log given nor the capture's Decryption Secrets Blocks hold "
                "a secret for this connection",
            ],
        ),
        (
            "dtls13",
            [
                # Both ClientHellos are past the limit: the random of the first fragment
                # finds the secrets (it said "so no secret can be looked up").
                "the secrets were looked up by client random 2262c7a9d1f6…, read from the "
                "first bytes of the ClientHello tlslens skipped; "
                + _not_checked(_skipped("client", CLIENT_HELLO, "468")),
                _not_checked(_skipped("client", CLIENT_HELLO, "1,883")),
                _not_checked(_skipped("client", CLIENT_HELLO, "1,899")),
            ],
        ),
    ],
)
def test_messages_past_max_message_are_why_the_finished_are_not_checked(
    name: str, reasons: list[str]
) -> None:
    keys, capture = UDP / f"{name}.keys", str(UDP / f"{name}.pcapng")
    decryptions = _decryptions(keys, "--max-message", "300", capture)
    assert [d["reason"] for d in decryptions] == reasons
    for decryption in decryptions:
        assert decryption["finished_verified"] == {"c2s": None, "s2c": None}
    text = _show(keys, "--max-message", "300", capture)
    assert not _blames_the_secret(text)
    # The finding names the message's type and the option (it said "message 2 of 1,207
    # bytes is longer than the 300 kept": 2 was its message_seq), once a message (it was
    # told for each of its fragments: 7 lines for dtls.pcapng's fifth Certificate).
    refusals = re.findall(
        r"connection (\d+) \(([cs]2[cs])\), byte offset \d+: handshake message type \d+ "
        r"\(\w+\), message_seq (\d+), claims [\d,]+ bytes, past --max-message's limit of 300 "
        r"bytes; skipped",
        text,
    )
    assert refusals and len(refusals) == len(set(refusals)), refusals
    unchecked = "the Finished messages were not checked: "
    decrypted = [r[r.index(unchecked) :] for r in reasons if unchecked in r]
    assert text.count("neither Finished was checked") == len(decrypted)
    for reason in set(decrypted):
        why = reason.removeprefix(unchecked)
        why = why.removesuffix(", and a Finished MACs the whole handshake")
        step = f"Not checked: {why}, and it MACs the whole handshake: it cannot be recomputed"
        assert text.count(step) == 2 * decrypted.count(reason)  # on each Finished
    # Without the limit, every Finished read verifies.
    for decryption in _decryptions(keys, capture):
        assert False not in decryption["finished_verified"].values()
        assert decryption["reason"] is None or "not checked" not in decryption["reason"]


def test_a_signature_whose_certificate_was_skipped_says_so() -> None:
    """Each association's server Certificate is past --max-message: its ServerKeyExchange's
    signature is not checked, for that reason (it said "no server certificate was seen")."""
    capture = str(UDP / "dtls.pcapng")
    lines = _show(UDP / "dtls.keys", "--json", "--max-message", "300", capture).splitlines()
    checks = [json.loads(line)["handshake_signatures"] for line in lines if line.startswith("{")]
    claims = ["1,207", "1,207", "1,207", "1,016", "1,207"]
    assert [[(c["message"], c["verified"], c["reason"]) for c in check] for check in checks] == [
        [
            (
                "server_key_exchange",
                None,
                f"{_skipped('server', CERTIFICATE, length)}; the key to check the signature "
                "with is in it",
            )
        ]
        for length in claims
    ]


def _datagrams() -> list[tuple[bool, bytes]]:
    """dtls.pcapng's first association as (from the client, UDP payload)."""
    frames = read_frames(UDP / "dtls.pcapng")
    out = []
    for index in FIRST:
        frame = frames[index][2]
        udp = 14 + (frame[14] & 15) * 4  # Ethernet, then IPv4 with its options
        out.append((int.from_bytes(frame[udp : udp + 2]) == CLIENT_PORT, frame[udp + 8 :]))
    return out


def _written(path: Path, datagrams: list[tuple[bool, bytes]]) -> str:
    with path.open("wb") as out:
        writer = PcapngWriter(out)
        writer.add_interface(101)  # raw IP
        for i, (from_client, payload) in enumerate(datagrams):
            sport, dport = (40000, 4433) if from_client else (4433, 40000)
            writer.add_packet(i * 1000, _udp_frame(sport, dport, payload, back=not from_client))
    return str(path)


def _fragment(msg_type: int, length: int, message_seq: int, body: bytes) -> bytes:
    """A plaintext (epoch 0) DTLS 1.2 record holding one handshake fragment at offset 0."""
    fragment = (
        bytes([msg_type])
        + length.to_bytes(3, "big")
        + message_seq.to_bytes(2, "big")
        + b"\0\0\0"  # fragment_offset
        + len(body).to_bytes(3, "big")
        + body
    )
    return (
        b"\x16\xfe\xfd"
        + bytes(2)
        + (900).to_bytes(6, "big")
        + len(fragment).to_bytes(2, "big")
        + fragment
    )


def _altered() -> list[tuple[bool, bytes]]:
    """The association with the last byte of the client's ECDHE public value changed: the
    records still open (their keys come from the key log), the Finished no longer match."""
    datagrams = _datagrams()
    from_client, payload = datagrams[7]  # frame 8: ClientKeyExchange, CCS, Finished
    assert from_client and payload[0] == 22 and payload[13] == 16
    at = 13 + 12 + 32  # record header, fragment header, the public value's length byte + 31
    datagrams[7] = (True, payload[:at] + bytes([payload[at] ^ 1]) + payload[at + 1 :])
    return datagrams


def test_a_message_never_completed_is_why_the_finished_are_not_checked(tmp_path: Path) -> None:
    """The Certificate's middle fragment left out of the capture: it never completes, which
    is told at the association's end, after both Finished were found not to match: their
    verdicts are taken back."""
    datagrams = _datagrams()
    del datagrams[4]  # frame 5
    capture = _written(tmp_path / "lost.pcapng", datagrams)
    [decryption] = _decryptions(UDP / "dtls.keys", capture)
    why = (
        "the server's handshake message type 11 (Certificate) never completed: 760 of its "
        "1,207 bytes are in the capture"
    )
    assert decryption["status"] == "decrypted"
    assert decryption["finished_verified"] == {"c2s": None, "s2c": None}
    assert decryption["reason"] == _not_checked(why)
    text = _show(UDP / "dtls.keys", capture)
    assert not _blames_the_secret(text)
    assert text.count(f"Not checked: {why}") == 3  # each Finished, and the signature
    # Checked before the lack was told, the ServerKeyExchange's signature says it too (it
    # said "no server certificate was seen").
    lines = _show(UDP / "dtls.keys", "--json", capture).splitlines()
    [row] = [json.loads(line) for line in lines if line.startswith("{")]
    [check] = row["handshake_signatures"]
    assert check["reason"] == f"{why}; the key to check the signature with is in it"


def test_a_finished_that_matches_still_counts(tmp_path: Path) -> None:
    """A fragment overlapping the Certificate's first one with other bytes is refused (the
    Finished not checked, were they not to match), but the message completes from the
    others: both Finished match, and a match proves the transcript whole."""
    datagrams = _datagrams()
    datagrams.insert(4, (False, _fragment(11, 1207, 2, b"\xff" * 10)))
    capture = _written(tmp_path / "overlap.pcapng", datagrams)
    [decryption] = _decryptions(UDP / "dtls.keys", capture)
    assert decryption["finished_verified"] == {"c2s": True, "s2c": True}
    assert decryption["reason"] is None
    assert "overlaps an earlier one with different bytes" in _show(UDP / "dtls.keys", capture)


@pytest.mark.parametrize("before_its_finished", [True, False])
def test_a_message_a_side_sends_after_its_finished_is_in_none(
    tmp_path: Path, before_its_finished: bool
) -> None:
    """An altered handshake: neither Finished matches (a real verdict). A server message past
    the limit told after the client's Finished was found not to match: as message 5, before
    the server's Finished (message 6), the handshake lacks it and the verdicts are taken
    back; as message 7, after it, it is in no Finished and the verdicts stand."""
    datagrams = _altered()
    seq, at = (5, 8) if before_its_finished else (7, 9)
    datagrams.insert(at, (False, _fragment(4, 5000, seq, b"\0" * 10)))
    capture = _written(tmp_path / "late.pcapng", datagrams)
    [decryption] = _decryptions(UDP / "dtls.keys", "--max-message", "1300", capture)
    assert decryption["status"] == "decrypted"
    if before_its_finished:
        why = _skipped("server", "type 4 (NewSessionTicket)", "5,000", "1,300")
        assert decryption["finished_verified"] == {"c2s": None, "s2c": None}
        assert decryption["reason"] == _not_checked(why)
    else:
        assert decryption["finished_verified"] == {"c2s": False, "s2c": False}
        assert decryption["reason"] == NOT_VERIFIED


def _replayed(datagram: bytes) -> bytes:
    """A DTLS 1.0 datagram's epoch-0 handshake records again, each message_seq 100 and each
    record's sequence number 1,000 higher (a second handshake that replays the first)."""
    out, at = b"", 0
    while at + 13 <= len(datagram):
        length = int.from_bytes(datagram[at + 11 : at + 13])
        record, at = datagram[at : at + 13 + length], at + 13 + length
        if record[0] != 22 or record[3:5] != b"\0\0":
            continue
        body, i = bytearray(record[13:]), 0
        while i + 12 <= len(body):
            seq = int.from_bytes(body[i + 4 : i + 6]) + 100
            body[i + 4 : i + 6] = seq.to_bytes(2, "big")
            i += 12 + int.from_bytes(body[i + 9 : i + 12])
        seq = (int.from_bytes(record[5:11]) + 1000).to_bytes(6, "big")
        out += record[:5] + seq + record[11:13] + bytes(body)
    return out


def test_a_replayed_certificate_verify_is_not_checked_against_an_earlier_handshake(
    corpus: Path, tmp_path: Path
) -> None:
    """webrtc-stun.pcap's DTLS 1.0 handshake with client authentication, then the same one
    replayed with 2.2 MB of server messages before its CertificateVerify: the transcript is
    given up past its 2 MiB, so the replayed CertificateVerify is not checked (it was checked
    against the first handshake's messages, and "verified")."""
    frames = read_frames(corpus / "zeek" / "webrtc-stun.pcap")

    def datagram(number: int) -> tuple[bool, bytes]:
        frame = frames[number - 1][2]
        udp = 14 + (frame[14] & 15) * 4
        return int.from_bytes(frame[udp : udp + 2]) == 43044, frame[udp + 8 :]

    first = [datagram(number) for number in (9, 11, 13, 14)]
    again = [(side, _replayed(payload)) for side, payload in first[:3]]
    bloat = [
        (
            False,
            _fragment(23, 16000, 1000 + m, bytes([m]) * 16000).replace(b"\xfe\xfd", b"\xfe\xff", 1),
        )
        for m in range(140)
    ]
    capture = _written(tmp_path / "replayed.pcapng", first + again[:2] + bloat + again[2:])
    result = CliRunner().invoke(main, ["show", "--json", capture])
    assert result.exit_code == 0, result.output
    [row] = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    checks = [(s["message"], s["direction"], s["verified"]) for s in row["handshake_signatures"]]
    assert ("certificate_verify", "c2s", True) in checks  # the first handshake's
    assert checks[-1] == ("certificate_verify", "c2s", None)  # the replayed one's


def test_a_handshake_past_the_transcript_bound_says_why_its_finished_are_not_checked(
    tmp_path: Path,
) -> None:
    """dtls.pcapng's first association with 2.2 MB of server handshake messages before the
    client's last flight: the DTLS 1.2 transcript is given up past its 2 MiB, and both
    Finished say so (they said "neither Finished was checked" with no reason)."""
    datagrams = _datagrams()
    datagrams[7:7] = [
        (False, _fragment(23, 16000, 900 + m, bytes([m]) * 16000)) for m in range(140)
    ]
    capture = _written(tmp_path / "long.pcapng", datagrams)
    [decryption] = _decryptions(UDP / "dtls.keys", capture)
    why = "the handshake is longer than the 2 MiB of transcript tlslens keeps"
    assert decryption["finished_verified"] == {"c2s": None, "s2c": None}
    assert decryption["reason"] == _not_checked(why)


def test_a_dtls_message_skipped_past_max_message_is_a_step_at_its_place(tmp_path: Path) -> None:
    # The association refused the hellos and the Certificate (past --max-message 300): they
    # were findings only, missing from the row's handshake steps and the timeline; each is
    # now a step where its first fragment came, said not read, once for all its fragments.
    keys = UDP / "dtls.keys"
    capture = UDP / "dtls.pcapng"
    rows = [
        json.loads(line)
        for line in _show(keys, "--json", "--max-message", "300", str(capture)).splitlines()
        if line.startswith("{")
    ]
    whole = [
        json.loads(line)
        for line in _show(keys, "--json", str(capture)).splitlines()
        if line.startswith("{")
    ]
    read = [(s["frame"], s["type"]) for s in whole[0]["handshake"] if s["type"] != "encrypted"]
    shown = [(s["frame"], s["type"]) for s in rows[0]["handshake"] if s["type"] != "encrypted"]
    # The messages up to the Certificate, in order; the one skipped is at its first
    # fragment's frame (4), where reading it whole places it at its last (6), as tshark does.
    assert [kind for _frame, kind in shown[:5]] == [kind for _frame, kind in read[:5]]
    assert shown[4] == (4, "certificate") and read[4] == (6, "certificate")
    assert shown[:4] == read[:4]
    text = _show(keys, "--max-message", "300", "--connection", "1", str(capture))
    assert text.count("Certificate (not read)") == 1
    assert "Sent here, but not read: its header claims 1,207 bytes" in text
