"""Real DTLS connection IDs: wolfSSL 5.9.4's example client and server on loopback
(tests/vectors/captures/udp/dtls-cid.pcapng, tools/record_dtls_cid.py; the README beside it
says what each connection holds): DTLS 1.2's tls12_cid records (RFC 9146) with AES-GCM and
CBC with encrypt-then-MAC, IDs one way only, and DTLS 1.3's unified header with its C bit.

The oracles: tshark 4.0, which reads RFC 9146's records (the connection_id extension 54, each
record's ID, epoch and sequence number, the application data it decrypts with the key log),
and what the two ends printed while recording (dtls-cid.txt: version, suite, the ID each
sends with, the lines received).
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
from test_dtls13 import read_with_tshark
from test_dtls_show import _by_port, _read

from tlslens import registry
from tlslens.cli import main
from tlslens.model import C2S, S2C
from tlslens.outcome import outcome_of
from tlslens.serialize import connection_to_json

from _tshark import _fields
from conftest import CAPTURES, ROOT

UDP = CAPTURES / "udp"
CAPTURE, KEYS, PRINTED = UDP / "dtls-cid.pcapng", UDP / "dtls-cid.keys", UDP / "dtls-cid.txt"
SCHEMA = json.loads((ROOT / "src/tlslens/schema/connection.schema.json").read_text())
LINES = {C2S: b"hello wolfssl!", S2C: b"I hear you fa shizzle!"}
VERSIONS = {"DTLSv1.2": 0xFEFD, "DTLSv1.3": 0xFEFC}
TLS12_CID = 25


def _printed() -> list[dict[str, Any]]:
    """Per connection, what the ends printed: version, suite, and the ID each sends with
    (the client's records: c2s), "" when its peer asked for an empty one."""
    sections = re.split(r"^# connection (\d+): (server|client)\n", PRINTED.read_text(), flags=re.M)
    out: list[dict[str, Any]] = []
    for n, end, text in zip(sections[1::3], sections[2::3], sections[3::3], strict=True):
        while len(out) <= int(n):
            out.append({})
        conn = out[int(n)]
        conn["version"] = VERSIONS[re.findall(r"^SSL version is (\S+)$", text, re.M)[0]]
        conn["suite"] = re.findall(r"^SSL cipher suite is (\S+)$", text, re.M)[0]
        sending = re.findall(r"^Sending CID is ([0-9a-f]+)$", text, re.M)
        empty = "other peer provided empty CID" in text
        conn[C2S if end == "client" else S2C] = sending[0] if sending else "" if empty else None
        if end == "server":
            conn["client_line"] = re.findall(r"^Client message: (.*)$", text, re.M)[0]
        else:
            conn["server_line"] = text.strip().splitlines()[-2]
    return out


def _rows(path: Path, *options: str) -> list[dict[str, Any]]:
    result = CliRunner().invoke(main, ["show", "--json", "--records", *options, str(path)])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.output.splitlines() if '"transport"' in line]


def test_the_stacks_printed_what_the_readme_says() -> None:
    printed = _printed()
    assert [(p["version"], p[C2S], p[S2C]) for p in printed] == [
        (0xFEFD, b"srv0".hex(), b"client-0".hex()),
        (0xFEFD, b"srv1".hex(), b"client-1".hex()),
        (0xFEFD, b"srv2".hex(), ""),  # the client asked for an empty ID
        (0xFEFC, b"srv3".hex(), b"client-3".hex()),
    ]
    for p in printed:
        assert (p["client_line"], p["server_line"]) == ("hello wolfssl!", "I hear you fa shizzle!")


@pytest.mark.parametrize("way", ["keys", "dsb"])
def test_wolfssl_cids_agree_with_tshark_and_the_stack(
    tshark: str, tmp_path: Path, way: str
) -> None:
    """Version, suite as tshark reads the hellos and wolfSSL printed them; the ID each
    direction's records carry as wolfSSL printed it; the lines both ways as tshark decrypts
    them (DTLS 1.2) and as the ends printed them; both Finished verified; "completed"."""
    conns, plaintext, oracle = read_with_tshark(CAPTURE, KEYS, way, tmp_path)
    printed = _printed()
    assert len(conns) == len(oracle) == len(printed) == 4
    for conn, st, stack in zip(conns, oracle, printed, strict=True):
        what = f"connection {conn.id}"
        assert conn.version == stack["version"], what
        assert conn.cipher_suite is not None and set(st.suites) == {conn.cipher_suite}, what
        assert registry.cipher_suite_name(conn.cipher_suite) == stack["suite"], what
        row = connection_to_json(conn)
        assert row["dtls"]["connection_ids"] == {C2S: stack[C2S], S2C: stack[S2C]}, what
        for direction, line in LINES.items():
            assert plaintext[conn.tcp_stream, direction] == line, what
        if conn.version == 0xFEFD:  # tshark 4.0 reads no DTLS 1.3 unified header
            assert _by_port(conn, plaintext) == st.plaintext, what
        decryption = row["decryption"]
        assert decryption["status"] == "decrypted", what
        assert decryption["finished_verified"] == {C2S: True, S2C: True}, what
        assert decryption["records_failed_integrity"] == {C2S: 0, S2C: 0}, what
        assert outcome_of(conn).status == "completed", what
        jsonschema.validate(row, SCHEMA)


Frames = dict[int, tuple[list[tuple[int, int, int]], int, list[str]]]


def _tshark_records(path: Path, keys: Path) -> Frames:
    """Per frame, tshark's records with the key log: (epoch, sequence number, content type:
    the decrypted one for a tls12_cid record it opens), how many are tls12_cid, their IDs."""
    fields = [
        "frame.number",
        "dtls.record.epoch",
        "dtls.record.sequence_number",
        "dtls.record.content_type",
        "dtls.record.special_type",
        "dtls.record.connection_id",
    ]
    oracle: Frames = {}
    options = ["-o", f"tls.keylog_file:{keys}"]
    for line in _fields(path, options, "dtls.record", fields, None).splitlines():
        frame, epochs, seqs, types, special, cids = [*line.split("\t"), "", ""][:6]
        numbers = zip(epochs.split(","), seqs.split(","), types.split(","), strict=True)
        oracle[int(frame)] = (
            [(int(e), int(s), int(t)) for e, s, t in numbers],
            special.split(",").count(str(TLS12_CID)) if special else 0,
            cids.split(",") if cids else [],
        )
    return oracle


def _my_records(rows: list[dict[str, Any]]) -> Frames:
    """The same of ``show --json --records``: the inner type of a record decrypted."""
    mine: Frames = {}
    for row in rows:
        jsonschema.validate(row, SCHEMA)
        for r in row["records"]:
            records, cid_records, cids = mine.setdefault(r["frame"], ([], 0, []))
            real = r.get("inner_content_type_id", r["content_type_id"])
            records.append((r["epoch"], r["seq"], real))
            if r["content_type_id"] == TLS12_CID:
                mine[r["frame"]] = (records, cid_records + 1, cids)
            if "cid" in r:
                cids.append(r["cid"])
    return mine


def test_every_record_agrees_with_tshark(tshark: str) -> None:
    """``--records``: per frame, each record's epoch, sequence number and real content type,
    which of them are tls12_cid records and the IDs they carry, as tshark reads them with
    the key log (DTLS 1.2); DTLS 1.3's unified headers with the IDs wolfSSL printed."""
    oracle = _tshark_records(CAPTURE, KEYS)
    rows = _rows(CAPTURE)
    mine = _my_records(rows)
    dtls12 = {f: v for f, v in mine.items() if f in oracle}
    assert dtls12 == oracle
    # 2 × 6 tls12_cid records both ways, then 3 from the client only (its records carry
    # the server's ID; the server's, towards a client that asked for an empty one, none)
    assert sum(n for _r, n, _c in oracle.values()) == 15
    # DTLS 1.3: every unified header carries the receiver's ID (C bit), and opens
    unified = [r for r in rows[3]["records"] if r["version"] == "DTLS 1.3" and "cid" in r]
    assert {(r["direction"], r["cid"]) for r in unified} == {
        (C2S, b"srv3".hex()),
        (S2C, b"client-3".hex()),
    }
    assert len(unified) == rows[3]["dtls"]["unified_headers"] == 10
    assert all("inner_content_type" in r for r in unified)
    kinds = {r["inner_content_type"] for r in unified}
    assert kinds == {"handshake", "application_data", "ACK", "alert"}


def test_a_changed_connection_id_fails_the_record(tmp_path: Path) -> None:
    """The ID is in the additional data (RFC 9146 §5): the client's application data record
    (frame 11) with the server's ID altered on the wire no longer opens, a finding naming
    its frame and offset, while the rest of the connection still does."""
    data = bytearray(CAPTURE.read_bytes())
    # tls12_cid, DTLS 1.2, epoch 1, sequence number 1, the server's ID
    header = bytes.fromhex("19fefd0001000000000001") + b"srv0"
    at = data.find(header)
    assert at > 0 and data.find(header, at + 1) < 0
    data[at + 11 : at + 15] = b"srvX"
    altered = tmp_path / "altered.pcapng"
    altered.write_bytes(bytes(data))
    conns, plaintext = _read(altered)
    first = conns[0]
    decryption = connection_to_json(first)["decryption"]
    assert decryption["records_failed_integrity"] == {C2S: 1, S2C: 0}
    assert decryption["finished_verified"] == {C2S: True, S2C: True}
    assert plaintext[first.tcp_stream, C2S] == b""
    assert plaintext[first.tcp_stream, S2C] == LINES[S2C]
    (finding,) = [f for f in first.problems if "does not open" in f.message]
    assert (finding.frame, finding.direction, finding.offset) == (11, C2S, 0)
    assert "epoch 1 record 1" in finding.message


def test_mac_then_encrypt_records_open_as_tshark_opens_them(tshark: str) -> None:
    """dtls-cid-mte.pcapng: CBC with MAC-then-encrypt, whose MAC input is RFC 9146 §5's
    (seq_num_placeholder, tls12_cid, cid_length, tls12_cid, version, epoch and sequence,
    the ID, the inner plaintext's length); wolfSSL's server never accepts the client's
    Finished, which is sent again and again: each copy opens, as tshark opens it."""
    path, keys = UDP / "dtls-cid-mte.pcapng", UDP / "dtls-cid-mte.keys"
    oracle = _tshark_records(path, keys)
    (row,) = _rows(path)
    assert _my_records([row]) == oracle
    cid_records = [r for r in row["records"] if r["content_type"] == "tls12_cid"]
    assert len(cid_records) == 6 and {r["direction"] for r in cid_records} == {C2S}
    assert {r["inner_content_type"] for r in cid_records} == {"handshake"}
    assert row["dtls"]["connection_ids"] == {C2S: b"srvm".hex(), S2C: b"client-m".hex()}
    decryption = row["decryption"]
    assert decryption["records_decrypted"] == {C2S: 6, S2C: 0}
    assert decryption["records_failed_integrity"] == {C2S: 0, S2C: 0}
    assert decryption["finished_verified"] == {C2S: True, S2C: None}


def test_a_capture_started_after_the_hellos_still_frames_the_cid_records(
    tshark: str, tmp_path: Path
) -> None:
    """Connection 0 from its application data on (frames 11 to 14, editcap): no hello says
    how long the IDs are, so each record's is the one that makes it end its datagram: the
    IDs wolfSSL printed, the epochs and sequence numbers tshark reads in the whole capture;
    no "not a DTLS record" finding."""
    late = tmp_path / "late.pcapng"
    subprocess.run(
        ["editcap", "-r", str(CAPTURE), str(late), "11-14"], check=True, capture_output=True
    )
    (row,) = _rows(late)
    assert row["problems"] == []
    whole = _tshark_records(CAPTURE, KEYS)
    seen = [(r["direction"], r["cid"], r["epoch"], r["seq"]) for r in row["records"]]
    printed = _printed()[0]
    assert seen == [
        (direction, printed[direction], *whole[frame][0][0][:2])
        for frame, direction in ((11, C2S), (12, S2C), (13, S2C), (14, C2S))
    ]
