"""Finished verdicts a capture's order or a renegotiation used to get wrong.

A segment that comes late in the capture (TCP reordering) holds the bytes after it behind
a hole while the other side's messages go on being read: a Finished checked then hashes a
transcript out of stream order and said "wrong secret". It now waits for the messages it
follows (crates/tlslens-core/src/decrypt/order.rs). The captures are the two connections
of ``demo-tls12-tls13.pcapng`` framed again with the server's first flight cut in three
segments, the middle one (the TLS 1.2 Certificate record; part of the TLS 1.3 encrypted
flight) captured after the client's flight, as tshark reads them (it decrypts both).

A connection that renegotiates checks each handshake's Finished; the verdict per side was
the last handshake's, so a first handshake whose Finished fail followed by a renegotiation
whose Finished match read "matches". Each handshake's verdict is now kept and the worst
reported (decrypt/verdicts.rs; tls/association_facts.py for DTLS). The failing first
handshakes are real captures with one byte of the first handshake's server Certificate
changed (its last certificate's DER, in the clear): the Finished of that handshake hash it,
so they no longer match, as a Finished with a byte changed would not, while every record
still opens with the key log. (Changing the key log's line for the first handshake instead
would leave its records sealed, the renegotiation's ClientHello among them; changing the
Finished itself would need each record sealed again.)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from test_decrypt_lack import (
    TLS12_CLIENT_PORT,
    TLS13_CLIENT_PORT,
    _blames_the_secret,
    _decryptions,
    _show,
    demo_chunks,
)

from tlslens.capture.writer import PcapngWriter
from tlslens.cli import main
from tlslens.flows.synth import Chunk, Close, iter_frames
from tlslens.model import Endpoint

from _frames import read_frames, write_conversation
from conftest import CAPTURES

MATCHES = "it matches, so both sides saw the same handshake"
DOES_NOT_MATCH = "it does NOT match"
# Where the server's first flight is cut: TLS 1.2 after its ServerHello record and after
# its Certificate record; TLS 1.3 after its ServerHello and inside its encrypted flight.
CUTS = {TLS12_CLIENT_PORT: (98, 1314), TLS13_CLIENT_PORT: (133, 600)}


def _sent(client_port: int) -> tuple[int, list[tuple[int, bytes]]]:
    """The connection's segments as (side, bytes), the server's first flight in three."""
    chunks = demo_chunks(client_port)
    first, second = CUTS[client_port]
    flight = chunks[1][2]
    sent = [(side, data) for _ts, side, data in chunks]
    sent[1:2] = [(1, flight[:first]), (1, flight[first:second]), (1, flight[second:])]
    return chunks[0][0], sent


def _framed(path: Path, at: int, sent: list[tuple[int, bytes]], late_after: int | None) -> Path:
    """``sent`` ((side, bytes), a microsecond apart) as one TCP connection in a pcapng; with
    ``late_after``, the segments of ``sent[2]`` (the middle of the server's flight) are
    captured after the last of ``sent[late_after]``'s."""
    chunks = [Chunk(at + 1000 * (i + 2), side, data) for i, (side, data) in enumerate(sent)]
    end = at + 1000 * (len(sent) + 2)
    frames = list(
        iter_frames(
            Endpoint(bytes([10, 0, 0, 1]), 40000),
            Endpoint(bytes([10, 0, 0, 2]), 443),
            syn_ts_ns=at,
            synack_ts_ns=at + 1000,
            chunks=chunks,
            closes=[Close(end, 0, "fin"), Close(end + 1000, 1, "fin")],
        )
    )
    order = [frame for _ts, frame in frames]
    if late_after is not None:
        late = [frame for ts, frame in frames if ts == chunks[2].ts_ns]
        rest = [frame for ts, frame in frames if ts != chunks[2].ts_ns]
        after = [ts for ts, _frame in frames].index(chunks[late_after].ts_ns) - len(late) + 1
        order = rest[:after] + late + rest[after:]
    with path.open("wb") as out:
        writer = PcapngWriter(out)
        writer.add_interface(tsresol=9)
        for number, frame in enumerate(order):
            writer.add_packet(at + 1000 * number, frame)
    return path


def _late(path: Path, client_port: int) -> Path:
    """The connection with the middle segment of the server's flight captured after the
    client's flight (CCS and Finished, and for TLS 1.2 its ClientKeyExchange): after the
    segment that follows the server's flight."""
    at, sent = _sent(client_port)
    return _framed(path, at, sent, late_after=5)


@pytest.mark.parametrize("client_port", [TLS12_CLIENT_PORT, TLS13_CLIENT_PORT])
def test_a_finished_read_before_a_late_segment_is_checked_in_stream_order(
    tmp_path: Path, client_port: int
) -> None:
    """It said "wrong_secret: Finished does not verify" with finished_verified false."""
    capture = _late(tmp_path / "late.pcapng", client_port)
    [decryption] = _decryptions(capture)
    assert decryption["status"] == "decrypted"
    assert decryption["reason"] is None
    assert decryption["finished_verified"] == {"c2s": True, "s2c": True}
    text = _show(str(capture))
    assert not _blames_the_secret(text)
    assert text.count(MATCHES) == 2
    # The segment never captured: the hole is given up, and the client's Finished, read
    # before the messages it follows, is not checked, and says why.
    at, sent = _sent(client_port)
    lost = tmp_path / "lost.pcapng"
    write_conversation(lost, sent, at, left_out=sent[2][1])
    [decryption] = _decryptions(lost)
    assert decryption["status"] == "decrypted"
    assert decryption["finished_verified"]["c2s"] is None
    assert "not checked: bytes the server sent before its Finished are missing" in str(
        decryption["reason"]
    )
    assert not _blames_the_secret(_show(str(lost)))


def test_a_finished_waiting_for_records_that_do_not_open_is_checked_as_in_order(
    tmp_path: Path,
) -> None:
    """The TLS 1.3 connection with the server's segment late and a key log whose
    SERVER_HANDSHAKE_TRAFFIC_SECRET is wrong: the server's records came (late) and did not
    open. The client's Finished, waiting for the server's Finished that would never be read,
    said "Not checked: the transcript lacks the server's messages it follows ..., which the
    capture did not hold in order before it", though the capture held them. It is now
    checked once the server's records fail, as when the capture is in order: it does not
    match, and the secret is blamed."""
    keys = tmp_path / "wrong-server-secret.keys"
    lines = (CAPTURES / "demo-tls12-tls13.keys").read_text().splitlines()
    wrong = [
        f"{line[:-1]}{'0' if line[-1] != '0' else '1'}"
        if line.startswith("SERVER_HANDSHAKE_TRAFFIC_SECRET ")
        else line
        for line in lines
    ]
    keys.write_text("\n".join(wrong) + "\n")
    in_order = CAPTURES / "demo-tls12-tls13.pcapng"
    late = _late(tmp_path / "late.pcapng", TLS13_CLIENT_PORT)
    expected, _text = _first_verdicts(keys, in_order)
    assert expected["status"] == "wrong_secret"
    assert expected["finished_verified"] == {"c2s": False, "s2c": None}
    decryption, text = _first_verdicts(keys, late)
    assert "did not hold in order" not in text
    assert decryption["status"] == expected["status"]
    assert decryption["finished_verified"] == expected["finished_verified"]
    assert DOES_NOT_MATCH in text


def _edited(source: Path, path: Path, frame_number: int, offset: int) -> Path:
    """``source`` with one bit of frame ``frame_number``'s byte at ``offset`` flipped."""
    frames = read_frames(source)
    with path.open("wb") as out:
        writer = PcapngWriter(out)
        writer.add_interface(frames[0][1], tsresol=9)
        for number, (ts_ns, _linktype, data) in enumerate(frames, 1):
            if number == frame_number:
                data = data[:offset] + bytes([data[offset] ^ 1]) + data[offset + 1 :]
            writer.add_packet(ts_ns, data)
    return path


def _first_verdicts(keys: Path, capture: Path) -> tuple[dict[str, object], str]:
    """The first connection's decryption object and its narration."""
    args = ["show", "--keylog", str(keys)]
    result = CliRunner().invoke(main, [*args, "--json", str(capture)])
    assert result.exit_code == 0, result.output
    decryption: dict[str, object] = json.loads(result.stdout.splitlines()[0])["decryption"]
    shown = CliRunner().invoke(main, [*args, "--connection", "1", str(capture)])
    assert shown.exit_code == 0, shown.output
    return decryption, shown.stdout


# pop-ssl.pcapng's frame 11: the server's Certificate message at bytes 142 to 1,074, one
# certificate whose DER ends with its signature; this byte is in that signature.
OFFSET = 1065
BY_HANDSHAKE = (
    "Finished by handshake: the first handshake: the client's does not verify, the "
    "server's does not verify; renegotiation 1: the client's matches, the server's matches"
)

# The same situation's reason over TCP and DTLS: the records open, a Finished does not.
FINISHED_FAILS = (
    "Finished does not verify although the records open: the handshake messages it hashes "
    "were altered, or not all read"
)


def test_a_tcp_renegotiation_does_not_hide_a_first_handshake_that_fails(
    tmp_path: Path, corpus: Path
) -> None:
    """pop-ssl.pcapng (POP3 STLS, TLS 1.2, renegotiated under encryption in frame 21)
    with a byte of its first handshake's Certificate (frame 11, ``OFFSET``: the server
    certificate's signature) changed. It said finished_verified true both ways, and the
    status decrypted with the reason "Finished does not verify"."""
    folder = corpus / "wireshark-notes"
    capture = _edited(folder / "tls" / "pop-ssl.pcapng", tmp_path / "pop.pcapng", 11, OFFSET)
    decryption, text = _first_verdicts(folder / "keys" / "pop-ssl.keys", capture)
    # Every record opens, the Finished ones too: the secret stands and the transcript is
    # blamed, as over DTLS (below). It said "wrong_secret", and DTLS "decrypted".
    assert decryption["status"] == "decrypted"
    assert decryption["finished_verified"] == {"c2s": False, "s2c": False}
    assert str(decryption["reason"]) == f"{FINISHED_FAILS}; {BY_HANDSHAKE}"
    # Each Finished step says its own handshake's verdict: the first two do not match.
    verdicts = [DOES_NOT_MATCH if DOES_NOT_MATCH in line else MATCHES for line in _said(text)]
    assert verdicts == [DOES_NOT_MATCH, DOES_NOT_MATCH, MATCHES, MATCHES]


def test_a_dtls_renegotiation_does_not_hide_a_first_handshake_that_fails(tmp_path: Path) -> None:
    """udp/dtls-reneg.pcapng's first association with a byte of its first handshake's
    server Certificate (frame 5, offset 500) changed. It said finished_verified true both
    ways and no reason."""
    udp = CAPTURES / "udp"
    capture = _edited(udp / "dtls-reneg.pcapng", tmp_path / "dtls.pcapng", 5, 500)
    decryption, text = _first_verdicts(udp / "dtls-reneg.keys", capture)
    assert decryption["status"] == "decrypted"
    assert decryption["finished_verified"] == {"c2s": False, "s2c": False}
    assert str(decryption["reason"]) == f"{FINISHED_FAILS}; {BY_HANDSHAKE}"
    verdicts = [DOES_NOT_MATCH if DOES_NOT_MATCH in line else MATCHES for line in _said(text)]
    assert verdicts == [DOES_NOT_MATCH, DOES_NOT_MATCH, MATCHES, MATCHES]


def _said(text: str) -> list[str]:
    """The verdict lines of the narration's Finished steps, in order."""
    return [line for line in text.splitlines() if "tlslens recomputed it" in line]


def test_dtls_finished_verdicts_are_bounded_and_the_worst_stays() -> None:
    """A hostile association renegotiating without end: the verdicts kept per side stay
    few (the first 16 handshakes', the newest's and the worst of the others'), and the
    summary is still the one failure, with its handshake."""
    from tlslens.model import C2S
    from tlslens.tls.association_facts import DtlsFacts

    facts = DtlsFacts()
    for handshake in range(200):
        facts.finished_verdict(C2S, handshake, handshake != 30, None)
    assert len(facts.finished_each[C2S]) <= 18
    assert facts.finished_verified[C2S] is False
    assert facts.finished_handshake[C2S] == 30
    assert facts.finished_each[C2S][-1][0] == 199


# openssl-versions.pcapng's connections with RSA key transport and the extended master
# secret, which the lab RSA key opens: TLS 1.0 AES-128-CBC (encrypt-then-MAC, each record's
# IV the last block before), TLS 1.1 AES-256-CBC, TLS 1.2 AES-128-GCM.
RSA_CAPTURE = CAPTURES / "openssl-versions.pcapng"
RSA_CLIENT_PORTS = (39054, 39070, 39098)
SERVER_FINISHED_WAITS = (
    "the server's Finished was not checked: the transcript lacks the client's messages it "
    "follows (its Finished and what came before it), which the capture did not hold in order "
    "before it, and a Finished MACs the whole handshake"
)


def _rsa_reframed(path: Path, client_port: int, late: bool) -> Path:
    """The RSA connection framed again with the server's first flight in three segments,
    the middle one captured after the client's flight (ClientKeyExchange, CCS, Finished)
    when ``late``."""
    chunks = []
    for ts_ns, _linktype, frame in read_frames(RSA_CAPTURE):
        tcp = 14 + (frame[14] & 15) * 4
        payload = frame[tcp + (frame[tcp + 12] >> 4) * 4 :]
        ports = (int.from_bytes(frame[tcp : tcp + 2]), int.from_bytes(frame[tcp + 2 : tcp + 4]))
        if payload and client_port in ports:
            chunks.append((ts_ns, 0 if ports[0] == client_port else 1, payload))
    at, flight = chunks[0][0], chunks[1][2]
    cut = len(flight) // 3
    sent = [(side, data) for _ts, side, data in chunks]
    sent[1:2] = [(1, flight[:cut]), (1, flight[cut : 2 * cut]), (1, flight[2 * cut :])]
    return _framed(path, at, sent, late_after=4 if late else None)


@pytest.mark.parametrize("client_port", RSA_CLIENT_PORTS)
def test_an_rsa_extended_master_secret_waits_for_the_server_s_late_segment(
    tmp_path: Path, client_port: int
) -> None:
    """--rsa-key with the extended master secret and the server's Certificate segment
    captured after the client's flight: the session hash covered the ClientKeyExchange
    before the server's messages, so the master secret was another, and it said
    "wrong_secret: the first protected record does not authenticate". Now the master secret
    waits for the ServerHelloDone (decrypt/ems.rs): every record after the client's Finished
    opens, with the plaintext of the capture in order; the client's Finished record went by
    before the keys, so the server's Finished, which hashes it, is not checked."""
    key = str(CAPTURES.parent / "pki" / "server.key")

    def decryption(capture: Path) -> dict[str, Any]:
        result = CliRunner().invoke(main, ["show", "--json", "--rsa-key", key, str(capture)])
        assert result.exit_code == 0, result.output
        [line] = result.stdout.splitlines()
        found: dict[str, Any] = json.loads(line)["decryption"]
        return found

    in_order = decryption(_rsa_reframed(tmp_path / "in-order.pcapng", client_port, late=False))
    assert in_order["status"] == "decrypted"
    assert in_order["finished_verified"] == {"c2s": True, "s2c": True}
    late = decryption(_rsa_reframed(tmp_path / "late.pcapng", client_port, late=True))
    assert late["status"] == "decrypted", late["reason"]
    assert late["records_failed_integrity"] == {"c2s": 0, "s2c": 0}
    assert late["plaintext_sha256"] == in_order["plaintext_sha256"]
    assert late["records_decrypted"] == {
        "c2s": in_order["records_decrypted"]["c2s"] - 1,  # its Finished, before the keys
        "s2c": in_order["records_decrypted"]["s2c"],
    }
    assert late["finished_verified"] == {"c2s": None, "s2c": None}
    assert late["reason"] == SERVER_FINISHED_WAITS
