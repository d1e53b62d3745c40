"""A handshake message missing from what tlslens read is not the key log's fault.

When tlslens skips a message (its header claims more than ``--max-message``) or the capture
lost one in a gap, the transcript the Finished are recomputed from lacks it: they cannot
match, whatever the secret. The decryption must then say why they were not checked, and
never "wrong secret" (crates/tlslens-core/src/decrypt/lack.rs).

The gap cases are the TLS 1.2 connection of ``demo-tls12-tls13.pcapng`` framed again with
the server's flight cut in records and one record left out of the capture.

Over QUIC a ClientHello skipped is no reason for "no secret": QUIC packet protection reads
its random from the CRYPTO stream's first bytes and opens the packets with the key log's
secrets for it, and the decryption says so.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tlslens.cli import main
from tlslens.explain.derivation import _finished_words

from _frames import read_frames, write_conversation
from conftest import CAPTURES
from test_session import _record

DEMO = CAPTURES / "demo-tls12-tls13.pcapng"
DEMO_KEYS = CAPTURES / "demo-tls12-tls13.keys"
TLS13_CLIENT_PORT = 47810  # the demo's first connection, TLS 1.3
TLS12_CLIENT_PORT = 47820  # the demo's second connection, TLS 1.2
QUIC = CAPTURES / "udp" / "quic.pcapng"
QUIC_KEYS = CAPTURES / "udp" / "quic.keys"
CERTIFICATE_SKIPPED = (
    "tlslens skipped the server's handshake message type 11 (Certificate), which claims "
    "1,207 bytes, past --max-message's limit of 500 bytes"
)


def _show(*args: str) -> str:
    result = CliRunner().invoke(main, ["show", "--keylog", str(DEMO_KEYS), *args])
    assert result.exit_code == 0, result.output
    return result.output


def _decryptions(capture: Path, *args: str) -> list[dict[str, object]]:
    lines = _show("--json", *args, str(capture)).splitlines()
    return [json.loads(line)["decryption"] for line in lines if '"decryption"' in line]


def _blames_the_secret(text: str) -> bool:
    return any(
        words in text
        for words in ("wrong secret", "wrong_secret", "does NOT match", "does not verify")
    )


def test_messages_skipped_past_max_message_are_why_not_the_secret() -> None:
    first, second = _decryptions(DEMO, "--max-message", "500")
    # The TLS 1.3 ClientHello skipped: its random, in its first record, still finds the
    # secrets (it said "no secret": the ClientHello was skipped, so no secret can be looked
    # up).
    whole = _decryptions(DEMO)[0]
    assert first["status"] == "decrypted"
    assert first["plaintext_sha256"] == whole["plaintext_sha256"]
    assert first["opened"] == whole["opened"]
    assert first["reason"] == (
        "the secrets were looked up by client random e6d4f0e69bf8…, read from the first bytes "
        "of the ClientHello tlslens skipped; the Finished messages were not checked: tlslens "
        "skipped the client's handshake message type 1 (ClientHello), which claims 508 bytes, "
        "past --max-message's limit of 500 bytes, and a Finished MACs the whole handshake"
    )
    assert second["status"] == "decrypted"
    assert second["finished_verified"] == {"c2s": None, "s2c": None}
    assert second["reason"] == (
        f"the Finished messages were not checked: {CERTIFICATE_SKIPPED}, and a Finished MACs "
        "the whole handshake"
    )
    text = _show("--max-message", "500", str(DEMO))
    assert not _blames_the_secret(text)
    # The reason is said once, after the Finished it is about.
    assert (
        "Decryption       decrypted (6 records, 5227 bytes of application data); neither "
        f"Finished was checked: {CERTIFICATE_SKIPPED}, and a Finished MACs the whole handshake\n"
    ) in text
    assert "were not checked" not in text
    not_checked = (
        f"Not checked: {CERTIFICATE_SKIPPED}, and it MACs the whole handshake: it cannot be "
        "recomputed without what is missing (the secret is not at fault)."
    )
    assert text.count(not_checked) == 2  # on each Finished of the TLS 1.2 connection
    # Without the limit, both connections' Finished verify as before.
    for decryption in _decryptions(DEMO):
        assert decryption["finished_verified"] == {"c2s": True, "s2c": True}


def _signatures(*args: str) -> list[list[dict[str, object]]]:
    """Each connection's handshake signatures, from `show --json`."""
    result = CliRunner().invoke(main, ["show", "--json", *args])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    return [row["handshake_signatures"] for row in rows]


@pytest.mark.parametrize("keys", [(), ("--keylog", str(DEMO_KEYS))])
def test_a_signature_whose_certificate_was_skipped_says_so(keys: tuple[str, ...]) -> None:
    """The server's Certificate skipped past --max-message: its ServerKeyExchange's signature
    is not checked, for that reason (it said "no server certificate was seen")."""
    [check] = _signatures(*keys, "--max-message", "500", str(DEMO))[1]
    assert (check["message"], check["verified"]) == ("server_key_exchange", None)
    assert check["reason"] == (
        f"{CERTIFICATE_SKIPPED}; the key to check the signature with is in it"
    )
    [check] = _signatures(*keys, str(DEMO))[1]
    assert (check["message"], check["verified"], check["reason"]) == (
        "server_key_exchange",
        True,
        None,
    )


def demo_chunks(client_port: int = TLS12_CLIENT_PORT) -> list[tuple[int, int, bytes]]:
    """The demo's connection from ``client_port`` as (ts_ns, side, payload), one per
    segment."""
    chunks = []
    for ts_ns, _linktype, frame in read_frames(DEMO):
        tcp = 14 + (frame[14] & 15) * 4
        payload = frame[tcp + (frame[tcp + 12] >> 4) * 4 :]
        sport = int.from_bytes(frame[tcp : tcp + 2])
        dport = int.from_bytes(frame[tcp + 2 : tcp + 4])
        if payload and client_port in (sport, dport):
            chunks.append((ts_ns, 0 if sport == client_port else 1, payload))
    return chunks


def _gapped(path: Path, lost: bool, certificate_record: bool = False) -> Path:
    """The TLS 1.2 connection with part of the server's flight (ServerHello, Certificate,
    ServerKeyExchange, ServerHelloDone, one record each) missing: its ServerKeyExchange
    record, its Certificate record (``certificate_record``), or (``lost``) the second of
    two records the Certificate is cut into."""
    chunks = demo_chunks()
    ts_ns, side, flight = chunks[1]
    hello, certificate, rest = flight[:98], flight[98:1314], flight[1314:]
    if lost:
        message = certificate[5:]
        parts = [hello + _record(22, message[:600]), _record(22, message[600:]), rest]
    elif certificate_record:
        parts = [hello, certificate, rest]
    else:
        parts = [hello + certificate, rest[:305], rest[305:]]
    chunks[1:2] = [(ts_ns + i, side, part) for i, part in enumerate(parts)]
    sent = [(side, data) for _ts, side, data in chunks]
    write_conversation(path, sent, chunks[0][0], left_out=parts[1])
    return path


@pytest.mark.parametrize(
    ("lost", "why"),
    [
        (
            False,
            "bytes the server sent before its Finished are missing from the capture (a gap)",
        ),
        (
            True,
            "the server's handshake message type 11 (Certificate) lost bytes in a gap of the "
            "capture and was dropped",
        ),
    ],
)
def test_a_handshake_gap_is_why_the_finished_are_not_checked(
    tmp_path: Path, lost: bool, why: str
) -> None:
    capture = _gapped(tmp_path / "gap.pcapng", lost)
    text = _show(str(capture))
    assert ("a handshake message lost bytes in the gap; it is dropped" in text) == lost
    [decryption] = _decryptions(capture)
    assert decryption["status"] == "decrypted"
    assert decryption["finished_verified"] == {"c2s": None, "s2c": None}
    assert decryption["reason"] == (
        f"the Finished messages were not checked: {why}, and a Finished MACs the whole handshake"
    )
    assert not _blames_the_secret(text)
    # On each Finished; and, the Certificate lost, on the ServerKeyExchange's signature.
    assert text.count(f"Not checked: {why}") == 2 + lost
    signatures = _signatures(str(capture))[0]
    assert [(s["message"], s["verified"], s["reason"]) for s in signatures] == (
        [
            (
                "server_key_exchange",
                None,
                f"{why}; the key to check the signature with is in it",
            )
        ]
        if lost
        else []  # the record left out held the ServerKeyExchange
    )


def test_a_finished_without_a_verdict_is_not_checked_when_seen() -> None:
    assert _finished_words({"c2s": True, "s2c": None}, set()) == (
        "the client's Finished verifies, the server's was not seen"
    )
    assert _finished_words({"c2s": True, "s2c": None}, {"c2s", "s2c"}) == (
        "the client's Finished verifies, the server's was not checked"
    )
    assert _finished_words({"c2s": None, "s2c": None}, {"c2s", "s2c"}) == (
        "neither Finished was checked"
    )
    assert _finished_words({"c2s": None, "s2c": False}, {"s2c"}) == (
        "the client's Finished was not seen, the server's does NOT verify"
    )


def test_a_signature_after_a_gap_without_a_certificate_says_what_may_have_held_it(
    tmp_path: Path,
) -> None:
    """The server's Certificate record missing from the capture: its ServerKeyExchange's
    signature has no key, and the gap before it may have held the certificate."""
    capture = _gapped(tmp_path / "gap.pcapng", lost=False, certificate_record=True)
    gap = "bytes the server sent before its Finished are missing from the capture (a gap)"
    [check] = _signatures(str(capture))[0]
    assert (check["message"], check["verified"]) == ("server_key_exchange", None)
    assert check["reason"] == f"no server certificate was seen, and {gap}: they may have held it"


def _quic(*args: str) -> list[dict[str, Any]]:
    """``show --json`` of the QUIC capture's 7 connections with its key log."""
    options = ["show", "--json", "--keylog", str(QUIC_KEYS), *args, str(QUIC)]
    result = CliRunner().invoke(main, options)
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]


def _quic_hello_skipped(limit: str) -> re.Pattern[str]:
    """The reason of a QUIC connection whose ClientHello (465 to 1,936 bytes) was skipped."""
    return re.compile(
        r"the secrets were looked up by client random [0-9a-f]{12}…, which QUIC packet "
        r"protection read from the first bytes of the ClientHello to open the packets; the "
        r"(?:Finished messages were|server's Finished was) not checked: tlslens skipped the "
        r"client's handshake message type 1 \(ClientHello\), which claims (?P<claims>[\d,]+) "
        rf"bytes, past --max-message's limit of {limit} bytes, and a Finished MACs the whole "
        r"handshake"
    )


SAME_WITH_THE_HELLO_SKIPPED = (
    "source",
    "opened",
    "missing_secrets",
    "records_decrypted",
    "records_failed_integrity",
    "plaintext_bytes",
    "plaintext_sha256",
)


# At 100 bytes most ServerHellos are skipped too: no suite, the TLS layer derives nothing,
# and the source (it was null) and why the Finished were not checked (nothing was said)
# come from the packets QUIC opened and the transcript's lack.
@pytest.mark.parametrize("limit", ["300", "100"])
def test_a_quic_client_hello_skipped_past_max_message_still_finds_the_secrets(
    limit: str,
) -> None:
    whole, skipped = _quic(), _quic("--max-message", limit)
    assert len(whole) == len(skipped) == 7
    for before, after in zip(whole, skipped, strict=True):
        was, now = before["decryption"], after["decryption"]
        # Without the option: decrypted, the server's Finished verifies (the client of the
        # refused connection sent none), nothing to explain.
        assert was["status"] == "decrypted"
        assert was["finished_verified"]["s2c"] is True
        assert was["reason"] is None
        # With it: the packets open with the same secrets, the Finished have no verdict.
        assert now["status"] == "decrypted", now["reason"]
        for key in SAME_WITH_THE_HELLO_SKIPPED:
            assert now[key] == was[key], key
        assert now["finished_verified"] == {"c2s": None, "s2c": None}
        told = _quic_hello_skipped(limit).fullmatch(now["reason"])
        assert told is not None, now["reason"]
        problem = (
            f"handshake message type 1 (ClientHello) claims {told['claims']} bytes, past "
            f"--max-message's limit of {limit} bytes; skipped, as far as it claims in its CRYPTO "
            "stream or to the next CRYPTO data that is whole messages"
        )
        assert problem in [p["message"] for p in after["problems"]]
        assert not _blames_the_secret(json.dumps(now))


def test_a_quic_client_hello_skipped_is_decrypted_in_brief_and_text() -> None:
    args = ["show", "--keylog", str(QUIC_KEYS), "--max-message", "300", str(QUIC)]
    brief = CliRunner().invoke(main, [*args[:1], "--brief", *args[1:]]).output
    lines = [line for line in brief.splitlines() if line.startswith("#")]
    assert len(lines) == 7
    assert all("decrypted: handshake" in line for line in lines), brief
    assert "no secret" not in brief
    text = CliRunner().invoke(main, args).output
    assert text.count("Decryption       decrypted (") == 7
    # Why the Finished were not checked is said once, with them (it came twice: "(...;
    # neither Finished was checked); ...; the Finished messages were not checked: ...").
    decryptions = [line for line in text.splitlines() if line.startswith("Decryption")]
    assert all(
        "neither Finished was checked: tlslens skipped the client's" in line
        or "the server's was not checked: tlslens skipped the client's" in line
        for line in decryptions
    ), decryptions
    assert not any("Finished messages were not checked" in line for line in decryptions)
    assert text.count("Key derivation") == 7
    assert "Decryption       no secret" not in text


@pytest.mark.parametrize("keys", [(), ("--keylog", str(DEMO_KEYS))])
def test_an_encrypted_alert_after_a_lost_change_cipher_spec_is_not_read_as_alerts(
    tmp_path: Path, keys: tuple[str, ...]
) -> None:
    """The TLS 1.2 server's ChangeCipherSpec and Finished lost in a gap: its close_notify,
    encrypted (26 bytes), was read in the clear as 13 alerts of made-up levels ("Alert
    (unknown (193)): export_restriction" ...; tshark: "Encrypted Alert")."""
    chunks = demo_chunks()
    ccs = next(data for _ts, side, data in chunks if side == 1 and data[:1] == b"\x14")
    capture = tmp_path / "no-ccs.pcapng"
    write_conversation(capture, [(side, data) for _ts, side, data in chunks], 0, left_out=ccs)
    result = CliRunner().invoke(main, ["show", "--json", *keys, str(capture)])
    assert result.exit_code == 0, result.output
    [row] = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    server_alerts = [a for a in row["alerts"] if a["direction"] == "s2c"]
    assert [(a["level"], a["description"]) for a in server_alerts] == [(None, "encrypted")]
    assert (
        "alert record of 26 bytes holds no readable alert (each begins with its level, 1 or 2): "
        "taken as an encrypted alert"
    ) in [p["message"] for p in row["problems"]]


def _certs(*args: str) -> str:
    result = CliRunner().invoke(main, ["certs", *args, str(DEMO)])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("keys", [(), ("--keylog", str(DEMO_KEYS))])
def test_a_chain_skipped_past_max_message_is_not_said_absent(keys: tuple[str, ...]) -> None:
    """`certs` said "No certificate chain: not in the capture." (with the key log, of the
    TLS 1.3 connection: "the key log given holds nothing for this connection"), --brief "no
    chain seen", `show` nothing: the chain is in the capture, tlslens skipped it."""
    limit = ("--max-message", "300")
    skipped = CERTIFICATE_SKIPPED.replace("500", "300")
    certs = _certs(*keys, *limit)
    assert f"No certificate chain: {skipped}.\n" in certs
    assert "not in the capture" not in certs and "holds nothing" not in certs
    brief = _show_plain("show", "--brief", *keys, *limit)
    tls13, tls12 = brief.splitlines()[:2]
    assert " chain not read; " in tls12
    # Without keys the TLS 1.3 chain is encrypted: nothing says it was skipped.
    assert (" chain not read; " if keys else " no chain seen; ") in tls13
    text = _show_plain("show", *keys, *limit)
    assert f"Certificate      not read: {skipped}\n" in text
    # Under the limit the TLS 1.2 chain is read (the TLS 1.3 one too, with the key log).
    assert _certs(*keys, "--max-message", "2000").count("No certificate chain") == (
        0 if keys else 1
    )


def _show_plain(*args: str) -> str:
    result = CliRunner().invoke(main, [*args, str(DEMO)])
    assert result.exit_code == 0, result.output
    return result.output


def test_a_tls13_certificate_verify_says_what_its_transcript_lacks() -> None:
    """It said "the transcript hash it signs is not known": the transcript lacks the
    message tlslens skipped."""
    [check] = _signatures("--keylog", str(DEMO_KEYS), "--max-message", "600", str(DEMO))[0]
    assert (check["message"], check["verified"]) == ("certificate_verify", None)
    assert check["reason"] == (
        "the transcript hash it signs is not known: tlslens skipped the server's handshake "
        "message type 11 (Certificate), which claims 1,212 bytes, past --max-message's limit "
        "of 600 bytes"
    )


def test_hellos_skipped_past_max_message_are_not_a_capture_that_starts_late() -> None:
    """At --max-message 100 both TLS 1.3 hellos are skipped: the outcome said "the capture
    starts after the handshake", the decryption "the ServerHello was not captured (lost or
    cut)"."""
    result = CliRunner().invoke(
        main, ["show", "--json", "--keylog", str(DEMO_KEYS), "--max-message", "100", str(DEMO)]
    )
    assert result.exit_code == 0, result.output
    first = json.loads(result.output.splitlines()[0])
    assert first["outcome"]["reason"] == (
        "tlslens did not read the hellos (see the problems); application data went both ways"
    )
    assert first["decryption"]["reason"] == (
        "tlslens skipped the server's handshake message type 2 (ServerHello), which claims 118 "
        "bytes, past --max-message's limit of 100 bytes, so the cipher suite and the server "
        "random are unknown and the keys cannot be used: the key log's secrets for client "
        "random e6d4f0e69bf8… are not at fault"
    )
    # The TLS 1.2 connection's ServerHello is read: its keys open it, as without the limit.
    second = json.loads(result.output.splitlines()[1])
    assert second["decryption"]["status"] == "decrypted"


def test_quic_hellos_skipped_name_the_capture_s_own_secrets(corpus: Path) -> None:
    """quic-fragmented-handshakes.pcapng.gz at --max-message 100: its DSB opens connection 1's
    packets with both hellos skipped; the source is the capture's key log (it was null)."""
    path = corpus / "wireshark" / "quic-fragmented-handshakes.pcapng.gz"
    result = CliRunner().invoke(main, ["show", "--json", "--max-message", "100", str(path)])
    assert result.exit_code == 0, result.output
    first = json.loads(result.output.splitlines()[0])["decryption"]
    assert (first["status"], first["source"]) == ("decrypted", "pcapng")
    assert first["finished_verified"] == {"c2s": None, "s2c": None}
    assert _quic_hello_skipped("100").fullmatch(first["reason"]), first["reason"]
