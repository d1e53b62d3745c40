"""Protected records lost in a gap of the capture are not the key log's fault.

A record's sequence number is in its nonce (TLS 1.3) or its additional data (TLS 1.2), never
on the wire: after a gap that took whole records of a side, the records that follow are
numbered higher than the decryptor counts. tlslens tries the numbers the hole's size allows
and resumes at the one that opens; when none does, the records after the gap are no verdict
on the secret (crates/tlslens-core/src/decrypt/resync.rs).

The captures are the connections of ``demo-tls12-tls13.pcapng`` written again with one
segment of the server left out (the gap is told at the frame after it, where tshark says
"previous segment not captured"); the TLS 1.2 one with two records lost has the server's
application data cut in three records and sealed again with the connection's own keys.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from test_decrypt_lack import (
    DEMO,
    DEMO_KEYS,
    TLS13_CLIENT_PORT,
    _blames_the_secret,
    _decryptions,
    _show,
    demo_chunks,
)

from tlslens import _core
from tlslens.cli import main

from _frames import write_conversation
from test_session import _record


def _after_the_gap(text: str) -> str:
    """The timeline after the step of the bytes missing."""
    return text.split(" bytes missing from the capture\n", 1)[1]


def _without(path: Path, client_port: int, sent: list[tuple[int, bytes]], left_out: bytes) -> Path:
    write_conversation(path, sent, demo_chunks(client_port)[0][0], left_out=left_out)
    return path


def _tls13(path: Path, drop: str) -> Path:
    """The TLS 1.3 connection without a segment of the server's: ``one``, its application
    data record; ``two``, its two NewSessionTicket records (sent together); ``flight``, its
    encrypted flight (EncryptedExtensions to Finished, four records) after the ServerHello."""
    sent = [(side, data) for _ts, side, data in demo_chunks(TLS13_CLIENT_PORT)]
    if drop == "one":
        left_out = sent[6][1]  # 5,321 bytes: one record, in four segments
    elif drop == "two":
        sent[4:6] = [(1, sent[4][1] + sent[5][1])]
        left_out = sent[4][1]
    else:
        flight = sent[1][1]
        sent[1:2] = [(1, flight[:133]), (1, flight[133:])]
        left_out = flight[133:]
    return _without(path, TLS13_CLIENT_PORT, sent, left_out)


@pytest.mark.parametrize(
    ("drop", "said", "opened"),
    [
        (
            "one",
            "1 record lost in the gap at frame 11 (bytes 2,269 to 7,589 of the server's "
            "stream); decryption resumed at sequence number 3",
            "Alert (warning): close_notify",
        ),
        (
            "two",
            "2 records lost in the gap at frame 9 (bytes 1,759 to 2,268 of the server's "
            "stream); decryption resumed at sequence number 2",
            "Application data (decrypted): 1 record, 5299 bytes of plaintext",
        ),
        (
            "flight",
            "the server's Finished was lost in the gap at frame 8 (bytes 133 to 1,758 of its "
            "stream); decryption resumed with its application traffic keys at sequence number 0",
            "NewSessionTicket (decrypted)",
        ),
    ],
)
def test_tls13_records_after_a_gap_resume_at_the_numbers_it_took(
    tmp_path: Path, drop: str, said: str, opened: str
) -> None:
    capture = _tls13(tmp_path / "gap.pcapng", drop)
    text = _show(str(capture))
    assert not _blames_the_secret(text)
    assert "does not decrypt" not in text
    assert said in text  # the finding at the record it opened, and the decryption's reason
    assert f"C ← S {opened}" in _after_the_gap(text)
    [decryption] = _decryptions(capture)
    assert decryption["status"] == "decrypted"
    assert decryption["records_failed_integrity"] == {"c2s": 0, "s2c": 0}
    assert str(decryption["reason"]).endswith(said)
    if drop != "one":  # the server's application data opened, all of it
        [original, _] = _decryptions(DEMO)
        assert decryption["plaintext_sha256"] == original["plaintext_sha256"]


def _server_keys(chunks: list[tuple[int, int, bytes]]) -> tuple[bytes, bytes]:
    """The TLS 1.2 connection's server_write_key and server_write_iv (its 4-byte salt),
    from the key log's master secret and the hellos' randoms (TLS_ECDHE_RSA_WITH_AES_256_GCM_
    SHA384)."""
    client_random, server_random = chunks[0][2][11:43], chunks[1][2][11:43]
    lines = DEMO_KEYS.read_text().splitlines()
    [master] = [
        bytes.fromhex(line.split()[2])
        for line in lines
        if line.startswith(f"CLIENT_RANDOM {client_random.hex()}")
    ]
    block = _core.key_block(0x0303, "SHA384", master, client_random, server_random, 0, 32, 4)
    return block[3], block[5]


def _gcm(
    key: bytes, salt: bytes, seq: int, ctype: int, record: bytes | None, plain: bytes
) -> bytes:
    """``record`` opened (when given) or ``plain`` sealed as record ``seq`` (RFC 5288: the
    explicit nonce is the sequence number, as OpenSSL sends it)."""
    aead = AESGCM(key)
    if record is not None:
        body = record[5:]
        aad = seq.to_bytes(8) + bytes([ctype]) + b"\x03\x03" + (len(body) - 24).to_bytes(2)
        return aead.decrypt(salt + body[:8], body[8:], aad)
    aad = seq.to_bytes(8) + bytes([ctype]) + b"\x03\x03" + len(plain).to_bytes(2)
    explicit = seq.to_bytes(8)
    return _record(ctype, explicit + aead.encrypt(salt + explicit, plain, aad))


def _tls12(path: Path, records: int) -> Path:
    """The TLS 1.2 connection without the segment of the server's application data
    (``records`` 1: the record as sent; 2: its plaintext cut in three records, the last two
    in one segment left out, and the close_notify sealed again after them)."""
    chunks = demo_chunks()
    sent = [(side, data) for _ts, side, data in chunks]
    if records == 2:
        key, salt = _server_keys(chunks)
        data = _gcm(key, salt, 1, 23, sent[5][1], b"")
        alert = _gcm(key, salt, 2, 21, sent[6][1], b"")
        first, second, third = data[:2000], data[2000:4000], data[4000:]
        sealed = [
            _gcm(key, salt, seq, 23, None, p) for seq, p in enumerate((first, second, third), 1)
        ]
        sent[5:7] = [
            (1, sealed[0]),
            (1, sealed[1] + sealed[2]),
            (1, _gcm(key, salt, 4, 21, None, alert)),
        ]
    left_out = sent[5][1] if records == 1 else sent[6][1]
    return _without(path, 47820, sent, left_out)


@pytest.mark.parametrize(
    ("records", "said"),
    [
        (
            1,
            "1 record lost in the gap at frame 10 (bytes 1,679 to 6,852 of the server's "
            "stream); decryption resumed at sequence number 2",
        ),
        (
            2,
            "2 records lost in the gap at frame 12 (bytes 3,708 to 6,910 of the server's "
            "stream); decryption resumed at sequence number 4",
        ),
    ],
)
def test_tls12_records_after_a_gap_resume_at_the_numbers_it_took(
    tmp_path: Path, records: int, said: str
) -> None:
    capture = _tls12(tmp_path / "gap.pcapng", records)
    text = _show(str(capture))
    assert not _blames_the_secret(text)
    assert "does not decrypt" not in text
    assert said in text
    assert "C ← S Alert (warning): close_notify" in _after_the_gap(text)
    [decryption] = _decryptions(capture)
    assert decryption["status"] == "decrypted"
    assert decryption["finished_verified"] == {"c2s": True, "s2c": True}
    assert decryption["records_failed_integrity"] == {"c2s": 0, "s2c": 0}
    assert decryption["reason"] == said
    assert decryption["plaintext_bytes"]["s2c"] == (0 if records == 1 else 2000)


def test_records_no_number_opens_after_a_gap_are_no_verdict_on_the_secret(
    tmp_path: Path,
) -> None:
    """The TLS 1.3 server's flight lost, and a key log whose SERVER_TRAFFIC_SECRET_0 is
    another session's: nothing after the gap opens, which says nothing of the secret (it
    said "wrong secret: the first protected record does not authenticate")."""
    keys = tmp_path / "other.keys"
    keys.write_text(
        "".join(
            line.split()[0] + " " + line.split()[1] + " " + "5a" * 48 + "\n"
            if line.startswith("SERVER_TRAFFIC_SECRET_0")
            else line + "\n"
            for line in DEMO_KEYS.read_text().splitlines()
        )
    )
    capture = _tls13(tmp_path / "gap.pcapng", "flight")
    result = CliRunner().invoke(main, ["show", "--json", "--keylog", str(keys), str(capture)])
    assert result.exit_code == 0, result.output
    [decryption] = [json.loads(line)["decryption"] for line in result.output.splitlines()]
    assert decryption["status"] == "decrypted"
    assert decryption["records_failed_integrity"] == {"c2s": 0, "s2c": 0}
    assert str(decryption["reason"]).endswith(
        "the server's records after the gap at frame 8 (bytes 133 to 1,758 of its stream) "
        "could not be opened: the gap hid how many records were lost, and no sequence number "
        "from 0 to 31 (nor any from 0 to 31 with its application traffic keys) opens the "
        "record after it (tlslens tries 64 numbers a gap, 4,096 a side); no verdict on the "
        "secret"
    )
    assert not _blames_the_secret(str(decryption))


def test_records_after_a_gap_that_do_not_open_leave_a_proven_secret_good(
    tmp_path: Path,
) -> None:
    """The TLS 1.2 server's application data lost, and its close_notify after the gap
    damaged: the keys opened the server's Finished before it, so the secret is good."""
    sent = [(side, data) for _ts, side, data in demo_chunks()]
    alert = sent[6][1]
    sent[6] = (1, alert[:-1] + bytes([alert[-1] ^ 1]))
    capture = _without(tmp_path / "gap.pcapng", 47820, sent, sent[5][1])
    [decryption] = _decryptions(capture)
    assert decryption["status"] == "decrypted"
    assert decryption["records_failed_integrity"] == {"c2s": 0, "s2c": 0}
    assert decryption["reason"] == (
        "the server's records after the gap at frame 10 (bytes 1,679 to 6,852 of its stream) "
        "could not be opened: the gap hid how many records were lost, and no sequence number "
        "from 1 to 64 opens the record after it (tlslens tries 64 numbers a gap, 4,096 a "
        "side); the secret is good: its keys opened records of this connection before the gap"
    )
