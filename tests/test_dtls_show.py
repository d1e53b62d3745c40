"""DTLS connections told end to end: the capture path's DTLS associations, read by the core
and the same handshake parsers and ``Connection`` model as TCP, against tshark's DTLS
dissector (tests/_tshark.py) on the project's capture (tests/vectors/captures/udp, with its
.keys file and with its own Decryption Secrets Block) and on the corpus's DTLS captures.
"""

from __future__ import annotations

import json
import random
import re
from collections import defaultdict
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner
from test_udp_flows import _udp_frame

from tlslens.bounds import Limits
from tlslens.capture.writer import PcapngWriter
from tlslens.cli import main
from tlslens.events import EncryptedHandshakeEvent, HandshakeEvent
from tlslens.explain.timeline import explain
from tlslens.keys.files import add_keylog_file
from tlslens.keys.store import KeyStore
from tlslens.model import C2S, S2C, Connection
from tlslens.outcome import outcome_of
from tlslens.pipeline import read_capture
from tlslens.serialize import connection_to_json
from tlslens.tls.dtls import DtlsSession

from _frames import read_frames
from _tshark import TsharkDTLS, _fields, run_tshark_dtls, strip_secrets
from conftest import CAPTURES, ROOT

UDP = CAPTURES / "udp"
SCHEMA = json.loads((ROOT / "src/tlslens/schema/connection.schema.json").read_text())
DTLS13 = 0xFEFC
CLIENT_LINE, SERVER_LINE = b"hello from the DTLS client\n", b"hello from the DTLS server\n"
# The corpus's DTLS captures: (file, tshark's options, whether tshark decrypts its handshake
# with the key log beside it). hotplace's run on port 9000, which tshark does not take for
# DTLS unless told.
HOTPLACE = ["-d", "udp.port==9000,dtls"]
CORPUS_DTLS = [
    "hotplace/dtls12/dtls12.pcapng",
    "hotplace/dtls12/dtls12mtu1500.pcapng",
    "hotplace/dtls12/dtls12netclient.pcapng",
    "hotplace/dtls12/dtls12_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256.pcapng",
    "wireshark/dtls12-aes128ccm8-dsb.pcapng",
    "wireshark/udt-dtls.pcapng.gz",
    "wireshark/snakeoil-dtls.pcap",
    "zeek/dtls1_0.pcap",
    "zeek/dtls1_2.pcap",
    "zeek/webrtc-stun.pcap",
    "zeek/dtls13-wolfssl.pcap",
]


def _read(path: Path, keylog: Path | None = None) -> tuple[list[Connection], dict[int, bytes]]:
    """The connections of ``path`` and the plaintext each direction opened, by flow and
    direction (the ``decrypt`` sink's view)."""
    store = None
    if keylog is not None:
        store = KeyStore()
        add_keylog_file(store, keylog)
    plaintext: dict[tuple[int, str], bytes] = defaultdict(bytes)

    def sink(flow: int, direction: str, data: bytes) -> None:
        plaintext[flow, direction] += data

    capture = read_capture(path, keys=store, plaintext_sink=sink)
    conns = list(capture)
    return conns, plaintext  # type: ignore[return-value]


def _by_port(conn: Connection, plaintext: dict[tuple[int, str], bytes]) -> dict[int, bytes]:
    """The plaintext each end sent, by its port (as tshark's ``data`` is kept)."""
    ports = {C2S: conn.client.port, S2C: conn.server.port}
    return {ports[d]: plaintext[conn.tcp_stream, d] for d in ports if plaintext[conn.tcp_stream, d]}


def _agree(conn: Connection, st: TsharkDTLS, what: str) -> None:
    """Version, SNI, ALPN, suite and leaf certificate as tshark read them (a ServerHello
    sent again is the same one: tshark lists each copy)."""
    assert conn.server_hello is not None, what
    assert {conn.server_hello.legacy_version} == set(st.versions), what
    if conn.version != DTLS13:  # else supported_versions, checked by the caller
        assert conn.version == conn.server_hello.legacy_version, what
    assert {conn.cipher_suite} == set(st.suites), what
    assert conn.sni == (st.sni[0] if st.sni else None), what
    assert conn.alpn == (st.alpn[0] if st.alpn else None), what
    leaf = conn.certificates[0].sha256 if conn.certificates else None
    assert leaf == st.leaf_sha256, what
    # handshake fragments reassembled: tshark counts the records holding part of a message
    assert conn.dtls is not None and sum(conn.dtls.fragments.values()) == st.fragments, what


@pytest.mark.parametrize("way", ["keys", "dsb"])
def test_project_capture_agrees_with_tshark(tshark: str, tmp_path: Path, way: str) -> None:
    path = UDP / "dtls.pcapng"
    keys = UDP / "dtls.keys"
    if way == "keys":
        path, options, keylog = (
            strip_secrets(path, tmp_path),
            ["-o", f"tls.keylog_file:{keys}"],
            keys,
        )
    else:
        options, keylog = [], None
    conns, plaintext = _read(path, keylog)
    oracle = [st for _n, st in sorted(run_tshark_dtls(path, options).items())]
    assert len(conns) == len(oracle) == 5
    assert [c.id for c in conns] == [1, 2, 3, 4, 5]
    assert [c.first_frame for c in conns] == sorted(c.first_frame for c in conns)
    for conn, st in zip(conns, oracle, strict=True):
        what = f"connection {conn.id}"
        assert conn.transport == "dtls", what
        assert conn.tcp_stream == st.stream, what  # the udp_stream of the JSON
        _agree(conn, st, what)
        # the decrypted application data: tshark's ``data`` per sender port (tshark 4.0
        # cannot open connection 2's ChaCha20-Poly1305; the README says what it holds)
        if conn.id != 2:
            assert _by_port(conn, plaintext) == st.plaintext, what
        decryption = connection_to_json(conn)["decryption"]
        if conn.id == 5:  # the client refused the certificate: no key was ever logged
            assert decryption["status"] == "no_secret", what
        else:
            assert decryption["status"] == "decrypted", what
            assert decryption["source"] == ("keylog" if way == "keys" else "pcapng"), what
            assert decryption["finished_verified"] == {C2S: True, S2C: True}, what
            assert decryption["plaintext_bytes"] == {C2S: 27, S2C: 27}, what
    assert plaintext[1, C2S] == CLIENT_LINE and plaintext[1, S2C] == SERVER_LINE
    statuses = [outcome_of(c).status for c in conns]
    assert statuses == ["completed"] * 4 + ["failed"]
    assert outcome_of(conns[4]).alert == "unknown_ca"


def test_without_keys_the_handshake_still_reads(tshark: str, tmp_path: Path) -> None:
    path = strip_secrets(UDP / "dtls.pcapng", tmp_path)
    conns, plaintext = _read(path)
    oracle = [st for _n, st in sorted(run_tshark_dtls(path, []).items())]
    for conn, st in zip(conns, oracle, strict=True):
        _agree(conn, st, f"connection {conn.id}")
        assert conn.records is None
    assert not plaintext
    assert [outcome_of(c).status for c in conns] == ["completed"] * 4 + ["failed"]


@pytest.mark.parametrize("name", CORPUS_DTLS)
def test_corpus_capture_agrees_with_tshark(corpus: Path, tshark: str, name: str) -> None:
    path = corpus / name
    keylog = path.parent / "sslkeylog" if name.startswith("hotplace/") else None
    options = HOTPLACE if keylog is not None else []
    if keylog is not None:
        options = [*options, "-o", f"tls.keylog_file:{keylog}"]
    conns, plaintext = _read(path, keylog)
    oracle = {n: st for n, st in run_tshark_dtls(path, options).items() if st.versions}
    mine = [c for c in conns if c.server_hello is not None]
    assert len(mine) == len(oracle) > 0
    for conn, (_n, st) in zip(mine, sorted(oracle.items()), strict=True):
        _agree(conn, st, f"{name} connection {conn.id}")
        assert conn.transport == "dtls"
        assert not conn.problems, [p.message for p in conn.problems]
        if st.plaintext:  # tshark opened the application data: the same bytes
            assert _by_port(conn, plaintext) == st.plaintext, name
        if keylog is not None:  # hotplace: with its key log, decrypted and both Finished
            decryption = connection_to_json(conn)["decryption"]
            assert decryption["status"] == "decrypted", name
            assert decryption["finished_verified"] == {C2S: True, S2C: True}, name
    if "dtls13" in name:
        assert [c.version for c in mine] == [DTLS13] * len(mine)  # its supported_versions


def test_json_and_ja4_say_dtls() -> None:
    result = CliRunner().invoke(main, ["show", "--json", str(UDP / "dtls.pcapng")])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    conns = [r for r in rows if "transport" in r]
    assert [r["transport"] for r in conns] == ["dtls"] * 5
    assert [r["udp_stream"] for r in conns] == [0, 1, 2, 3, 4]
    assert all(r["tcp_stream"] is None for r in conns)
    # FoxIO's JA4: "d" for DTLS, then the version DTLS 1.2 ("d2") or 1.0 ("d1")
    assert [r["ja4"][:3] for r in conns] == ["dd2", "dd2", "dd1", "dd2", "dd2"]
    assert conns[0]["dtls"]["cookie_length"] == 20 and conns[0]["dtls"]["cookie_frame"] == 2
    assert conns[0]["dtls"]["epochs"] == {"c2s": [0, 1], "s2c": [0, 1]}
    records = CliRunner().invoke(
        main, ["show", "--json", "--records", "--connection", "1", str(UDP / "dtls.pcapng")]
    )
    (row,) = [json.loads(line) for line in records.output.splitlines() if '"transport"' in line]
    for row_ in [*conns, row]:
        jsonschema.validate(row_, SCHEMA)
    text = CliRunner().invoke(
        main, ["show", "--records", "--connection", "1", str(UDP / "dtls.pcapng")]
    )
    assert "  #1      C → S  handshake, DTLS 1.0, 161 bytes (epoch 0, sequence 0; header at " in (
        text.output
    )
    # every record with its epoch and sequence number, as tshark numbers them
    first = row["records"][:3]
    assert [(r["frame"], r["epoch"], r["seq"]) for r in first] == [(1, 0, 0), (2, 0, 0), (3, 0, 1)]


def test_text_lists_the_connections() -> None:
    result = CliRunner().invoke(main, ["show", str(UDP / "dtls.pcapng")])
    assert result.exit_code == 0, result.output
    out = result.output
    assert out.count("── Connection ") == 5
    assert "not yet dissected" not in out
    assert "HelloVerifyRequest" in out and "the client must send its ClientHello again" in out
    assert len(re.findall(r"\nDTLS cookie +asked for in frame \d+\n", out)) == 5
    # connection 5's certificate flight came in 270-byte fragments
    assert "It came in 7 fragments" in out and "\nFragmented " in out
    assert out.count("both Finished verify") == 4  # the DSB's secrets


def test_garbage_in_a_dtls_flow_is_a_finding(tmp_path: Path) -> None:
    """The project's first ClientHello, then a datagram of garbage from the client on the
    same addresses: a finding naming its frame, direction and offset; the next datagram (the
    ClientHello again) is still read."""
    hello = read_frames(UDP / "dtls.pcapng")[0][2][14 + 20 + 8 :]  # Ethernet, IPv4, UDP
    garbage = b"\x17\xfe\xfd\x00\x00" + b"\xff" * 3
    path = tmp_path / "garbage.pcapng"
    with path.open("wb") as out:
        writer = PcapngWriter(out)
        writer.add_interface(101)  # raw IP
        for i, payload in enumerate([hello, garbage, hello]):
            writer.add_packet(i * 1000, _udp_frame(40000, 4433, payload))
    conns, _ = _read(path)
    assert len(conns) == 1 and conns[0].transport == "dtls"
    (finding,) = conns[0].problems
    assert (finding.frame, finding.direction, finding.layer) == (2, C2S, "dtls")
    assert finding.offset == 5 and "not a DTLS record (truncated" in finding.message
    # the ClientHello sent again after the garbage is read, as a retransmission
    assert len(conns[0].client_hellos) == 1 and conns[0].sni == "tlslens.test"
    assert conns[0].dtls.retransmissions == {C2S: 1, S2C: 0}


@pytest.mark.parametrize("name", ["dtls.pcapng", "quic.pcapng"])
def test_an_association_ended_by_the_bound_says_so(tmp_path: Path, name: str) -> None:
    """Past --max-udp-flows the association idle longest ends: its connection is reported
    as it stood, with a finding naming the frame, and its outcome says tlslens stopped
    reading it (not that the capture ended). A QUIC connection had no finding of its own;
    both had the outcome "the capture ends before the handshake did". (The QUIC Initial sent
    again from other ports keeps its connection IDs: one connection, its first association
    ended.)"""
    hello = read_frames(UDP / name)[0][2][14 + 20 + 8 :]
    path = tmp_path / "many.pcapng"
    with path.open("wb") as out:
        writer = PcapngWriter(out)
        writer.add_interface(101)
        for i in range(3):
            writer.add_packet(i * 1000, _udp_frame(40000 + i, 4433, hello))
    conns = list(read_capture(path, limits=Limits(max_udp_flows=2)))
    assert conns[0].sni == "tlslens.test"
    (finding,) = conns[0].problems
    why = (
        "after frame 1, the last of its datagrams tlslens read: more than 2 QUIC or DTLS "
        "associations were open "
        "at once (--max-udp-flows)"
    )
    assert (finding.frame, finding.message) == (
        1,
        f"ended early {why}, and this one had been idle longest",
    )
    assert outcome_of(conns[0]).reason == (
        f"the handshake had not ended when tlslens stopped reading the connection {why}; "
        "the last step seen is the client's ClientHello (frame 1)"
    )
    if name == "dtls.pcapng":
        assert [c.sni for c in conns] == ["tlslens.test"] * 3
        assert not conns[1].problems and not conns[2].problems
        assert outcome_of(conns[2]).reason.startswith("the capture ends before the handshake")


def test_a_bug_in_one_association_is_a_finding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An exception while reading one association is reported on that connection; the
    others are read."""
    calls = 0
    original = DtlsSession.datagram

    def failing(self: DtlsSession, side: int, frame: int, ts_ns: int, data: bytes) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("boom")
        original(self, side, frame, ts_ns, data)

    monkeypatch.setattr(DtlsSession, "datagram", failing)
    conns, _ = _read(UDP / "dtls.pcapng")
    assert len(conns) == 5
    (finding,) = conns[0].problems
    assert finding.layer == "internal" and "RuntimeError: boom" in finding.message
    assert all(not c.problems for c in conns[1:4])


def test_numbered_with_the_tcp_connections_in_first_frame_order(tmp_path: Path) -> None:
    """DTLS connection 1's datagrams, the demo's two TCP connections, the other four DTLS
    connections: one numbering, in the order of each connection's first frame."""
    dtls = read_frames(UDP / "dtls.pcapng")
    tcp = read_frames(CAPTURES / "demo-tls12-tls13.pcapng")
    path = tmp_path / "mixed.pcapng"
    with path.open("wb") as out:
        writer = PcapngWriter(out)
        writer.add_interface(1)  # Ethernet, as both captures
        frames = dtls[:13] + tcp + dtls[13:]
        for i, (_ts, _linktype, frame) in enumerate(frames):
            writer.add_packet(i * 1000, frame)
    conns, _ = _read(path)
    assert [(c.id, c.transport) for c in conns] == [
        (1, "dtls"),
        (2, "tcp"),
        (3, "tcp"),
        (4, "dtls"),
        (5, "dtls"),
        (6, "dtls"),
        (7, "dtls"),
    ]
    assert [c.first_frame for c in conns] == sorted(c.first_frame for c in conns)


def test_an_ack_is_counted(tmp_path: Path) -> None:
    """A DTLS 1.3 ACK record (RFC 9147 §7) from the server acknowledging the ClientHello's
    record (epoch 0, sequence 0): counted in ``dtls.acks``."""
    hello = read_frames(UDP / "dtls.pcapng")[0][2][14 + 20 + 8 :]
    numbers = (16).to_bytes(2, "big") + bytes(16)  # one record number: epoch 0, sequence 0
    ack = b"\x1a\xfe\xfd" + bytes(2) + (1).to_bytes(6, "big") + (18).to_bytes(2, "big") + numbers
    path = tmp_path / "ack.pcapng"
    with path.open("wb") as out:
        writer = PcapngWriter(out)
        writer.add_interface(101)
        writer.add_packet(0, _udp_frame(40000, 4433, hello))
        writer.add_packet(1000, _udp_frame(4433, 40000, ack, back=True))
    (conn,) = _read(path)[0]
    assert conn.dtls.acks == {C2S: 0, S2C: 1}
    assert connection_to_json(conn)["dtls"]["acks"] == {C2S: 0, S2C: 1}


def test_records_agree_with_tshark(tshark: str) -> None:
    """``--records``: every record's frame, epoch and sequence number as tshark reads them."""
    path = UDP / "dtls.pcapng"
    fields = ["frame.number", "dtls.record.epoch", "dtls.record.sequence_number"]
    oracle = []
    for line in _fields(path, [], "dtls", fields, None).splitlines():
        frame, epochs, seqs = line.split("\t")
        oracle += [
            (int(frame), int(e), int(q))
            for e, q in zip(epochs.split(","), seqs.split(","), strict=True)
        ]
    result = CliRunner().invoke(main, ["show", "--json", "--records", str(path)])
    rows = [json.loads(line) for line in result.output.splitlines()]
    mine = sorted((r["frame"], r["epoch"], r["seq"]) for row in rows for r in row["records"])
    assert mine == sorted(oracle) and len(mine) == 91


def test_pre_standard_openssl_dtls_is_read_as_dtls_1_0(corpus: Path, tshark: str) -> None:
    """Wireshark's snakeoil-dtls.pcap speaks OpenSSL's DTLS before 0.9.8f (record and hello
    version 0x0100, DTLS1_BAD_VER): found as DTLS by its first datagram, its records read
    with DTLS 1.0's header as tshark reads them, the version told by name, and its RSA
    ClientKeyExchange read as that OpenSSL wrote it (no length before the premaster)."""
    path = corpus / "wireshark/snakeoil-dtls.pcap"
    fields = [
        "frame.number",
        "dtls.record.content_type",
        "dtls.record.version",
        "dtls.record.epoch",
        "dtls.record.sequence_number",
    ]
    oracle = []
    for line in _fields(path, [], "dtls", fields, None).splitlines():
        frame, *columns = line.split("\t")
        for kind, version, epoch, seq in zip(*(c.split(",") for c in columns), strict=True):
            oracle.append((int(frame), int(kind), int(version, 16), int(epoch), int(seq)))
    result = CliRunner().invoke(main, ["show", "--json", "--records", str(path)])
    assert result.exit_code == 0, result.output
    [row] = [json.loads(line) for line in result.output.splitlines()]
    assert (row["transport"], row["version_id"]) == ("dtls", 0x0100)
    assert row["version"] == "DTLS 1.0 (OpenSSL pre 0.9.8f)"
    assert {r["version"] for r in row["records"]} == {row["version"]}
    mine = [
        (r["frame"], r["content_type_id"], 0x0100, r["epoch"], r["seq"]) for r in row["records"]
    ]
    assert sorted(mine) == sorted(oracle) and len(mine) == 14
    assert row["problems"] == []
    text = CliRunner().invoke(main, ["show", str(path)]).output
    assert "premaster secret encrypted with the server's RSA public key (128 bytes)" in text
    assert "MD5+SHA-1 for the handshake hash (TLS 1.0/1.1 PRF)" in text


def test_mutated_datagrams_never_crash(tmp_path: Path) -> None:
    """A ClientHello, then the project's DTLS datagrams with bytes changed and cut, either
    way, in any order: every connection is told (JSON and narration) with findings, never
    an internal error."""
    rng = random.Random(24)
    datagrams = [frame[14 + 20 + 8 :] for _ts, _lt, frame in read_frames(UDP / "dtls.pcapng")]
    path = tmp_path / "mutated.pcapng"
    told = 0
    for _trial in range(60):
        with path.open("wb") as out:
            writer = PcapngWriter(out)
            writer.add_interface(101)
            writer.add_packet(0, _udp_frame(40000, 4433, datagrams[0]))  # opens it as DTLS
            for i in range(1, rng.randint(2, 13)):
                payload = bytearray(rng.choice(datagrams))
                for _ in range(rng.randint(0, 6)):
                    payload[rng.randrange(len(payload))] = rng.randrange(256)
                payload = payload[: rng.randint(0, len(payload))]
                back = rng.random() < 0.5
                ports = (4433, 40000) if back else (40000, 4433)
                writer.add_packet(i * 1000, _udp_frame(*ports, bytes(payload), back=back))
        for conn in read_capture(path):
            connection_to_json(conn)
            explain(conn)
            assert all(p.layer != "internal" for p in conn.problems), conn.problems
            told += 1
    assert told == 60


def test_decryption_status_follows_the_records_not_the_finished(tmp_path: Path) -> None:
    """The records' tags prove the secret: a handshake cut before any protected record, or
    one whose Finished does not verify while every record opens, is not "wrong_secret"
    (both were, before)."""
    frames = [frame for _ts, _lt, frame in read_frames(UDP / "dtls.pcapng")]
    keys = UDP / "dtls.keys"

    def written(name: str, chosen: list[bytes]) -> Path:
        path = tmp_path / name
        with path.open("wb") as out:
            writer = PcapngWriter(out)
            writer.add_interface(1)
            for i, frame in enumerate(chosen):
                writer.add_packet(i * 1000, frame)
        return path

    cut, _ = _read(written("cut.pcapng", frames[:3]), keys)  # ClientHello, HVR, ClientHello
    decryption = connection_to_json(cut[0])["decryption"]
    assert decryption["status"] == "decrypted", decryption
    assert "no protected record" in decryption["reason"]
    # One byte of the first connection's certificate changed: its Finished hashes it.
    ports = {frames[0][34:38], frames[0][36:38] + frames[0][34:36]}  # UDP ports, both ways
    first = [f for f in frames if f[34:38] in ports]
    at = next(i for i, f in enumerate(first) if b"tlslens lab" in f)
    altered = bytearray(first[at])
    altered[altered.index(b"tlslens lab")] ^= 0x20
    conns, _ = _read(
        written("altered.pcapng", [*first[:at], bytes(altered), *first[at + 1 :]]), keys
    )
    decryption = connection_to_json(conns[0])["decryption"]
    assert False in decryption["finished_verified"].values(), decryption
    assert decryption["records_failed_integrity"] == {"c2s": 0, "s2c": 0}
    assert decryption["status"] == "decrypted" and "does not verify" in decryption["reason"]


def test_psk_and_rsa_key_are_said_unused_over_dtls(corpus: Path) -> None:
    """--psk (and --rsa-key) open TCP connections; over DTLS they are not applied yet, and
    the reason says so instead of "the secrets given hold nothing"."""
    capture = corpus / "wireshark" / "dtls12-aes128ccm8.pcap"
    result = CliRunner().invoke(
        main, ["show", "--json", "--psk", "ca19e028a8a372ad2d325f950fcaceed", str(capture)]
    )
    decryption = json.loads(result.stdout.splitlines()[0])["decryption"]
    assert decryption["status"] == "no_secret"
    assert "--rsa-key and --psk are not applied to DTLS" in decryption["reason"]


def test_dtls13_epoch_2_is_the_handshake_unread(corpus: Path) -> None:
    """Zeek's DTLS 1.3 capture, no keys: the client's records of epoch 2 (RFC 9147 §6.1,
    the handshake's) are its encrypted handshake, not application data (they were)."""
    conns, _ = _read(corpus / "zeek" / "dtls13-cid.pcap")
    conn = next(c for c in conns if c.id == 2)
    client = [
        type(e) for e in conn.timeline if e.direction == C2S and not isinstance(e, HandshakeEvent)
    ]
    assert client and set(client) == {EncryptedHandshakeEvent}, client
    assert conn.stats[C2S].application_data_records == 0


def test_a_key_log_without_this_connection_is_no_finding() -> None:
    """Connection 5 (refused, unknown_ca) logged no secret: its decryption status says so,
    as over TCP; it is no problem of the capture (it was one, at its ServerHello)."""
    conns, _ = _read(UDP / "dtls.pcapng", UDP / "dtls.keys")
    refused = next(c for c in conns if c.id == 5)
    assert refused.problems == []
    assert connection_to_json(refused)["decryption"]["status"] == "no_secret"


def test_an_unopened_dtls13_record_number_is_not_shown_as_a_number(corpus: Path) -> None:
    """Without keys a DTLS 1.3 record number is still encrypted (RFC 9147 §4.2.3): --records
    says so (null in JSON) instead of printing the masked bits as a sequence number."""
    capture = read_capture(corpus / "zeek" / "dtls13-cid.pcap", records=True)
    conn = next(c for c in capture if c.id == 2)
    records = conn.records or []
    assert [r.seq for r in records if r.epoch == 0] == [0, 0, 1, 1]  # plaintext: as sent
    assert {r.seq for r in records if r.epoch and r.epoch >= 2} == {None}


def test_a_resent_flight_s_change_cipher_spec_is_a_retransmission_not_a_renegotiation() -> None:
    """wolfSSL's client resends its last flight (CCS + Finished) five times when its
    server never accepts the Finished (udp/dtls-cid-mte.pcapng): each CCS is the flight
    again, in epoch 0, and nothing was renegotiated."""
    result = CliRunner().invoke(main, ["show", str(UDP / "dtls-cid-mte.pcapng")])
    assert result.exit_code == 0, result.output
    assert "ChangeCipherSpec of a renegotiation" not in result.output
    resent = result.output.count("ChangeCipherSpec again: its flight is sent again")
    assert resent == 5


def test_the_heading_says_dtls_carried_the_connection() -> None:
    full = CliRunner().invoke(main, ["show", str(UDP / "dtls.pcapng")]).output
    headings = [line for line in full.splitlines() if line.startswith("── Connection")]
    assert headings and all(line.endswith("· over DTLS ──") for line in headings)
    demo = CliRunner().invoke(main, ["show", str(CAPTURES / "demo-tls12-tls13.pcapng")]).output
    assert "── Connection" in demo and "over DTLS" not in demo
