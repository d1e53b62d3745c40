"""Real DTLS 1.3 (RFC 9147): wolfSSL 5.9.4's example client and server on loopback
(tests/vectors/captures/udp/dtls13.pcapng, tools/record_dtls13.py; the README beside it says
what each connection holds), read by the core and told as any connection.

tshark 4.0, the oracle here, dissects DTLS 1.3's plaintext records (the hellos: version,
suite, SNI, each record's epoch and sequence number) and knows no unified header, so the
encrypted part is checked against the stack itself: the lines it sends, the certificate it
was given, the Finished messages its key log's secrets verify, and the record numbers its
ACKs name.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from test_dtls_show import _read

from tlslens.capture.writer import PcapngWriter
from tlslens.cli import main
from tlslens.explain.over_udp import MAX_ACK_RANGES, acked_words
from tlslens.model import C2S, S2C, Connection
from tlslens.outcome import outcome_of
from tlslens.serialize import connection_to_json
from tlslens.tls.dtls import MAX_ACKED_KEPT

from _frames import read_frames
from _tshark import TsharkDTLS, _fields, run_tshark_dtls, strip_secrets
from conftest import CAPTURES, ROOT

UDP = CAPTURES / "udp"
LINKTYPE_ETHERNET = 1
CAPTURE, KEYS = UDP / "dtls13.pcapng", UDP / "dtls13.keys"
DTLS12, DTLS13 = 0xFEFD, 0xFEFC
LINES = {C2S: b"hello wolfssl!", S2C: b"I hear you fa shizzle!"}
SUITES = [0x1301, 0x1303, 0x1302]  # AES-128-GCM, ChaCha20-Poly1305, AES-256-GCM
# The certificate the server was given (tools/record_dtls13.py: -c server-chain.pem).
LEAF = x509.load_pem_x509_certificate((ROOT / "tests/vectors/pki/server.pem").read_bytes())
LEAF_SHA256 = hashlib.sha256(LEAF.public_bytes(Encoding.DER)).hexdigest()


def read_with_tshark(
    capture: Path, keys: Path, way: str, tmp_path: Path
) -> tuple[list[Connection], dict[tuple[int, str], bytes], list[TsharkDTLS]]:
    """The connections and plaintext tlslens reads, and tshark's conversations, with the
    key log given beside the capture (``way`` "keys": the capture's own secrets stripped)
    or with the capture's Decryption Secrets Block ("dsb")."""
    path, keylog, options = capture, None, []
    if way == "keys":
        path, keylog = strip_secrets(capture, tmp_path), keys
        options = ["-o", f"tls.keylog_file:{keys}"]
    conns, plaintext = _read(path, keylog)
    oracle = [st for _n, st in sorted(run_tshark_dtls(path, options).items())]
    return conns, plaintext, oracle  # type: ignore[return-value]


@pytest.mark.parametrize("way", ["keys", "dsb"])
def test_wolfssl_dtls13_agrees_with_tshark(tshark: str, tmp_path: Path, way: str) -> None:
    """Version, SNI, suite as tshark reads the hellos; the leaf the server was given; the
    lines both ways; both Finished and the CertificateVerify verified; "completed"."""
    conns, plaintext, oracle = read_with_tshark(CAPTURE, KEYS, way, tmp_path)
    assert len(conns) == len(oracle) == 3
    for conn, st, suite in zip(conns, oracle, SUITES, strict=True):
        what = f"connection {conn.id}"
        assert conn.transport == "dtls", what
        # tshark sees the HelloRetryRequest and the ServerHello: both DTLS 1.2 on the wire,
        # DTLS 1.3 in supported_versions; the suite the same in both.
        assert st.versions == [DTLS12, DTLS12] and st.suites == [suite, suite], what
        assert conn.server_hello is not None and conn.server_hello.legacy_version == DTLS12
        assert conn.version == DTLS13 and conn.cipher_suite == suite, what
        assert conn.sni == st.sni[0] == "tlslens.test" and len(st.sni) == 2, what
        assert st.leaf_sha256 is None  # encrypted: tshark 4.0 cannot open it
        assert conn.certificates and conn.certificates[0].sha256 == LEAF_SHA256, what
        for direction, line in LINES.items():
            assert plaintext[conn.tcp_stream, direction] == line, what
        decryption = connection_to_json(conn)["decryption"]
        assert decryption["status"] == "decrypted", what
        assert decryption["source"] == ("keylog" if way == "keys" else "pcapng"), what
        assert decryption["finished_verified"] == {C2S: True, S2C: True}, what
        assert decryption["records_failed_integrity"] == {C2S: 0, S2C: 0}, what
        (signature,) = conn.handshake_signatures
        assert (signature.direction, signature.verified) == (S2C, True), signature
        assert outcome_of(conn).status == "completed", what


def test_records_agree_with_tshark_and_the_acks(tshark: str) -> None:
    """``--records``: the plaintext records' frame, epoch and sequence number as tshark reads
    them; the unified headers' (no tshark 4.0 reads them) decrypted, epoch 2 then 3, record
    numbers from 0 one after the other; one ACK, the server's (the core's tests check that
    it names the client's Finished record by the number decrypted for it)."""
    fields = ["frame.number", "dtls.record.epoch", "dtls.record.sequence_number"]
    oracle = set()
    for line in _fields(CAPTURE, [], "dtls", fields, None).splitlines():
        frame, epochs, seqs = line.split("\t")
        for epoch, seq in zip(epochs.split(","), seqs.split(","), strict=True):
            oracle.add((int(frame), int(epoch), int(seq)))
    result = CliRunner().invoke(main, ["show", "--json", "--records", str(CAPTURE)])
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert len(rows) == 3
    plain = {(r["frame"], r["epoch"], r["seq"]) for row in rows for r in row["records"]}
    assert oracle <= plain
    for row in rows:
        unified = [r for r in row["records"] if (r["frame"], r["epoch"], r["seq"]) not in oracle]
        for direction in (C2S, S2C):
            numbers = [(r["epoch"], r["seq"]) for r in unified if r["direction"] == direction]
            epoch_2 = [n for n in numbers if n[0] == 2]
            epoch_3 = [n for n in numbers if n[0] == 3]
            assert numbers == epoch_2 + epoch_3 and epoch_2 and epoch_3, numbers
            assert [s for _e, s in epoch_2] == list(range(len(epoch_2)))
            assert [s for _e, s in epoch_3] == list(range(len(epoch_3)))
        assert row["dtls"]["acks"] == {C2S: 0, S2C: 1}
        assert row["dtls"]["epochs"] == {C2S: [0, 2, 3], S2C: [0, 2, 3]}


def test_an_altered_client_hello_fails_both_finished(tmp_path: Path) -> None:
    """The server name changed in both plaintext ClientHellos: every record still opens
    (the key log is found by the unchanged random), but the transcript the Finished messages
    and the CertificateVerify cover is not the one the ends hashed."""
    data = CAPTURE.read_bytes()
    assert data.count(b"tlslens.test") == 6  # two ClientHellos per connection
    altered = tmp_path / "altered.pcapng"
    altered.write_bytes(data.replace(b"tlslens.test", b"tlslens.tesu"))
    conns, plaintext = _read(altered)
    for conn in conns:
        assert conn.sni == "tlslens.tesu"
        decryption = connection_to_json(conn)["decryption"]
        assert decryption["finished_verified"] == {C2S: False, S2C: False}, decryption
        assert decryption["records_failed_integrity"] == {C2S: 0, S2C: 0}
        assert decryption["status"] == "decrypted" and "does not verify" in decryption["reason"]
        assert [s.verified for s in conn.handshake_signatures] == [False]
        assert plaintext[conn.tcp_stream, C2S] == LINES[C2S]


def test_without_keys_the_hellos_still_read(tshark: str, tmp_path: Path) -> None:
    path = strip_secrets(CAPTURE, tmp_path)
    conns, plaintext = _read(path)
    assert [c.version for c in conns] == [DTLS13] * 3
    assert [c.cipher_suite for c in conns] == SUITES
    assert not plaintext
    for conn in conns:
        decryption = connection_to_json(conn)["decryption"]
        assert decryption["finished_verified"] == {C2S: None, S2C: None}
        assert [s.verified for s in conn.handshake_signatures] in ([], [None])


def _wolfssl_rows() -> list[dict[str, Any]]:
    result = CliRunner().invoke(main, ["show", "--json", "--records", str(CAPTURE)])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.output.splitlines()]


def test_the_ladder_names_each_decrypted_record_by_its_inner_type() -> None:
    """``--ladder``: a unified header carries no content type (RFC 9147 §4); opened, each
    record is drawn as what it carried, the type ``--records`` names inside it: epoch 2's
    the handshake's, then the server's ACK, the lines and the close_notify alerts."""
    result = CliRunner().invoke(main, ["show", "--ladder", "--no-color", str(CAPTURE)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    records = [
        ln.split(" record, ")[0].split("-- ")[-1].strip("-<> ") for ln in lines if " record, " in ln
    ]
    epochs = [ln.split(", epoch ")[1].split()[0] for ln in lines if " record, " in ln]
    for epoch, names in (("2", {"handshake"}), ("3", {"ACK", "application data", "alert"})):
        assert {n for n, e in zip(records, epochs, strict=True) if e == epoch} == names, epoch
    assert sum(" ACK record, 35 bytes, epoch 3 seq 0 " in ln for ln in lines) == 3
    assert sum("ACK of epoch 2 number 0" in ln for ln in lines) == 3
    inner = {r.get("inner_content_type") for row in _wolfssl_rows() for r in row["records"]}
    assert inner == {None, "handshake", "ACK", "application_data", "alert"}


def test_each_ack_is_told_with_the_record_numbers_it_lists() -> None:
    """RFC 9147 §7: wolfSSL's server acknowledges the client's Finished, the one record
    the client sent in epoch 2 (number 0, as decrypted for it); told as a step of the
    story, in ``--records`` text, and as ``acked`` in its JSON record."""
    for row in _wolfssl_rows():
        (ack,) = [r for r in row["records"] if r.get("inner_content_type") == "ACK"]
        finished = [r for r in row["records"] if r["direction"] == C2S and r["epoch"] == 2]
        assert ack["direction"] == S2C and ack["acked"] == [[2, r["seq"]] for r in finished]
        assert ack["acked"] == [[2, 0]]
    text = CliRunner().invoke(main, ["show", "--records", "--no-color", str(CAPTURE)]).output
    told = "The server acknowledges the client's record epoch 2 number 0 (RFC 9147 §7)"
    assert text.count(told) == 3
    assert text.count("(ACK inside), DTLS 1.3, 35 bytes (epoch 3, sequence 0; ") == 3
    assert text.count("; acknowledges epoch 2 number 0)") == 3


def test_acked_numbers_are_told_in_runs_and_bounded() -> None:
    numbers = ((2, 0), (2, 1), (2, 2), (2, 3), (3, 0))
    assert acked_words(numbers, 5) == "epoch 2 numbers 0–3, epoch 3 number 0"
    assert acked_words((), 0) == "no record number"
    scattered = tuple((2, 2 * n) for n in range(MAX_ACKED_KEPT))
    words = acked_words(scattered, 1000)
    assert words.count("epoch 2") == MAX_ACK_RANGES
    assert words.endswith(f"and {1000 - MAX_ACK_RANGES} more record numbers")


def _without_hellos(tmp_path: Path) -> Path:
    """dtls13.pcapng with each connection's plaintext datagrams (the hellos, the
    HelloRetryRequest round) left out: what a capture started after them holds."""
    plain = {int(line) for line in _plaintext_frames()}
    path = tmp_path / "late.pcapng"
    with path.open("wb") as out:
        writer = PcapngWriter(out)
        writer.add_interface(LINKTYPE_ETHERNET)
        for number, (ts, linktype, data) in enumerate(read_frames(CAPTURE), 1):
            assert linktype == LINKTYPE_ETHERNET
            if number not in plain:
                writer.add_packet(ts, data)
    return path


def _plaintext_frames() -> list[str]:
    """The frames whose first record has a plain DTLS header (content type 22)."""
    result = CliRunner().invoke(main, ["show", "--json", "--records", str(CAPTURE)])
    rows = [json.loads(line) for line in result.output.splitlines()]
    return [str(r["frame"]) for row in rows for r in row["records"] if r["epoch"] == 0]


@pytest.mark.parametrize("keyed", [False, True])
def test_a_capture_started_after_the_hellos_is_found_and_said_sealed(
    tmp_path: Path, keyed: bool
) -> None:
    """Unified headers alone, found by content (three datagrams in a row of whole unified
    records on a 4-tuple); each association told as DTLS 1.3 whose hellos were not
    captured, its records sealed, the client the receiver of the first epoch 2 records."""
    whole, _ = _read(CAPTURE)
    path = _without_hellos(tmp_path)
    conns, plaintext = _read(path, KEYS if keyed else None)
    assert len(conns) == 3 and not plaintext
    for conn, original in zip(conns, whole, strict=True):
        assert conn.transport == "dtls" and conn.client_hello is None
        assert (conn.client, conn.server) == (original.client, original.server)
        assert conn.dtls is not None and conn.dtls.hellos_missing
        assert conn.dtls.unified_headers and not any(conn.dtls.records_decrypted.values())
        status = connection_to_json(conn)["decryption"]["status"]
        assert status == ("no_secret" if keyed else "not_attempted")
    args = ["show", str(path)] + (["--keylog", str(KEYS)] if keyed else [])
    text = CliRunner().invoke(main, args).output
    assert text.count("Hellos        not captured: the capture starts after them") == 3
    assert text.count("the key log is not tried") == (3 if keyed else 0)
    assert "Everything the server sends after its ServerHello is encrypted" in text
