"""QUIC connections told end to end: the project's recorded capture
(tests/vectors/captures/udp/quic.pcapng, its README lists each connection) through
`show` and `show --json`, each connection's version, SNI, ALPN, suite and leaf certificate
against tshark's QUIC dissection with the same key log; without keys, the Initials are
still opened; the migrated client's short headers are the same connection's."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import struct
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

import tlslens
from tlslens import _core
from tlslens.capture.writer import PcapngWriter
from tlslens.cli import main
from tlslens.events import AlertEvent, EncryptedHandshakeEvent
from tlslens.explain.timeline import explain
from tlslens.keys.store import KeyStore
from tlslens.model import Connection
from tlslens.outcome import outcome_of
from tlslens.report.data import overview_row
from tlslens.serialize import connection_to_json

from _frames import read_frames
from _tshark import APPLICATION_CLOSE, CONNECTION_CLOSE, _fields, run_tshark_quic, strip_secrets
from conftest import CAPTURES

UDP = CAPTURES / "udp"
QUIC = UDP / "quic.pcapng"
KEYS = UDP / "quic.keys"
TLS13 = 0x0304
# The connection after a Retry: aioquic sends a second ClientHello with a new random, and
# the key log holds only that one (captures README). tshark follows it only with
# out-of-order CRYPTO reassembly off (Wireshark issue 18757), which breaks Chromium's: this
# connection's oracle is read with it off (as test_udp_captures does).
RETRY_CONNECTION = 2
NO_OUT_OF_ORDER = ["-o", "quic.reassemble_crypto_out_of_order:FALSE"]
MIGRATING_CONNECTION = 4
REFUSED_CONNECTION = 5
BAD_CERTIFICATE = 42


def _keyed(path: Path) -> list[Connection]:
    keys = KeyStore()
    keys.keylog.add_text(KEYS.read_text(), str(KEYS))
    return list(tlslens.read_capture(path, keys=keys))


@pytest.fixture(scope="module")
def stripped(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The capture without its Decryption Secrets Block (the key log given apart)."""
    return strip_secrets(QUIC, tmp_path_factory.mktemp("quic"))


def _tshark_leaves(path: Path, options: list[str]) -> dict[int, str]:
    """SHA-256 of the first certificate each QUIC connection's server sent, by tshark."""
    out = _fields(
        path,
        options,
        "tls.handshake.type == 11",
        ["quic.connection.number", "tls.handshake.certificate"],
        None,
    )
    leaves: dict[int, str] = {}
    for line in out.splitlines():
        number, certs = [*line.split("\t"), ""][:2]
        if number and certs:
            leaf = certs.split(",")[0].replace(":", "")
            leaves.setdefault(
                int(number.split(",")[0]), hashlib.sha256(bytes.fromhex(leaf)).hexdigest()
            )
    return leaves


def test_every_quic_connection_agrees_with_tshark(tshark: str, stripped: Path) -> None:
    options = ["-o", f"tls.keylog_file:{KEYS}"]
    tshark_conns = run_tshark_quic(stripped, options)
    tshark_conns[RETRY_CONNECTION] = run_tshark_quic(stripped, options + NO_OUT_OF_ORDER)[
        RETRY_CONNECTION
    ]
    theirs = [c for _n, c in sorted(tshark_conns.items())]
    leaves = _tshark_leaves(stripped, options)
    leaves[RETRY_CONNECTION] = _tshark_leaves(stripped, options + NO_OUT_OF_ORDER)[RETRY_CONNECTION]
    for ours in (_keyed(stripped), list(tlslens.read_capture(QUIC))):  # key log, then DSB
        assert len(ours) == len(theirs) == 7
        for index, (conn, them) in enumerate(zip(ours, theirs, strict=True)):
            assert conn.transport == "quic" and conn.id == index + 1
            assert conn.quic is not None and [conn.quic.version] == them.versions
            assert conn.version == TLS13
            assert [conn.sni] == sorted(set(them.sni))
            assert conn.alpn_offered == them.alpn[0]
            assert [conn.cipher_suite] == them.suites
            # after a Retry, the ClientHello again (a new random, the one the key log has)
            assert len(conn.client_hellos) == them.handshake_types.count(1)
            assert [conn.alpn] == them.alpn[-1]  # chosen in EncryptedExtensions
            assert conn.certificates[0].sha256 == leaves[them.number]
            assert conn.decryption.results["c2s"].finished_verified in (True, None)
            assert conn.decryption.results["s2c"].finished_verified is True
            assert [
                (APPLICATION_CLOSE if c.application else CONNECTION_CLOSE, c.code)
                for c in conn.quic.closes
            ] == [c[:2] for c in them.closes]


def test_quic_connections_in_show_json_and_text(tshark: str) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["show", "--json", str(QUIC)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    conns = [line for line in lines if "transport" in line]  # one line per connection
    schema = json.loads(
        (Path(tlslens.__file__).parent / "schema/connection.schema.json").read_text()
    )
    for row in conns:
        jsonschema.validate(row, schema)
    quic = [row["quic"] for row in conns]
    assert [q["version"] for q in quic] == ["QUIC v1", "QUIC v2", *["QUIC v1"] * 5]
    assert [q["retry"] is not None for q in quic] == [i == RETRY_CONNECTION for i in range(7)]
    assert quic[RETRY_CONNECTION]["retry"]["integrity_tag_verified"] is True
    assert [len(q["migrations"]) for q in quic] == [
        int(i == MIGRATING_CONNECTION) for i in range(7)
    ]
    (close,) = quic[REFUSED_CONNECTION]["closes"]
    assert (close["code"], close["error"]) == (0x12A, "CRYPTO_ERROR: TLS alert 42")
    assert {s["stream"] for s in quic[0]["streams"]} >= {0, 2, 3}  # request, control streams
    assert [c["transport"] for c in conns] == ["quic"] * 7
    assert [c["udp_stream"] for c in conns] == list(range(7))
    assert all(c["tcp_stream"] is None for c in conns)
    refused = conns[REFUSED_CONNECTION]
    assert refused["outcome"]["status"] == "failed"
    assert refused["outcome"]["by"] == "client"
    assert refused["outcome"]["alert"] == "bad_certificate"
    assert [c["outcome"]["status"] for i, c in enumerate(conns) if i != REFUSED_CONNECTION] == [
        "completed"
    ] * 6
    for index, conn in enumerate(conns):
        decryption = conn["decryption"]
        assert decryption["status"] == "decrypted"
        if index != REFUSED_CONNECTION:
            assert decryption["finished_verified"] == {"c2s": True, "s2c": True}
            assert decryption["opened"]["application_data"] == {"c2s": True, "s2c": True}
            assert all(decryption["records_decrypted"][d] > 0 for d in ("c2s", "s2c"))
    text = runner.invoke(main, ["show", str(QUIC)]).output
    assert "7 with TLS, 7 shown" in text and "not yet dissected" not in text


def test_without_keys_the_initials_are_still_opened(stripped: Path) -> None:
    """No key at all: ClientHello and ServerHello come out of the Initial packets (keys
    from the client's first Destination Connection ID); the certificate stays sealed."""
    conns = list(tlslens.read_capture(stripped))
    assert len(conns) == 7
    for conn in conns:
        assert conn.sni == "tlslens.test" and conn.cipher_suite == 0x1302
        assert conn.certificates == []
        assert conn.decryption is None
        assert any(isinstance(e, EncryptedHandshakeEvent) for e in conn.timeline)


def test_without_keys_a_refused_handshake_is_not_called_completed(stripped: Path) -> None:
    """Unread, a client's Handshake packets may hold only ACKs or its CONNECTION_CLOSE:
    only its 1-RTT packets show it completed. Connection 6 (the refused certificate) sent
    none: not "completed", as it was told before; the six others did."""
    outcomes = {conn.id: outcome_of(conn).status for conn in tlslens.read_capture(stripped)}
    assert outcomes[6] == "incomplete"
    assert [n for n, status in outcomes.items() if status == "completed"] == [1, 2, 3, 4, 5, 7]
    keyed = {conn.id: outcome_of(conn) for conn in _keyed(QUIC)}
    assert (keyed[6].status, keyed[6].by, keyed[6].alert) == ("failed", "client", "bad_certificate")


def test_the_migrated_client_stays_one_connection() -> None:
    """After the client moves to a new port, its short headers (which open no UDP
    association) are taken by Connection ID: one connection, both client ports."""
    conn = list(tlslens.read_capture(QUIC))[MIGRATING_CONNECTION]
    assert conn.quic is not None
    assert len(conn.quic.migrations) == 1
    frame, address = conn.quic.migrations[0]
    assert address.startswith("127.0.0.1:") and address != str(conn.client)
    assert conn.last_frame > frame  # later packets on the new path are this connection's


def test_crypto_error_is_the_tls_alert(tshark: str) -> None:
    conn = list(tlslens.read_capture(QUIC))[REFUSED_CONNECTION]
    assert conn.quic is not None
    (close,) = conn.quic.closes
    assert close.code == 0x100 + BAD_CERTIFICATE and close.direction == "c2s"
    alerts = [e for e in conn.timeline if isinstance(e, AlertEvent)]
    assert [(e.description, e.quic) for e in alerts] == [(BAD_CERTIFICATE, True)]


def test_the_corpus_quic_capture_agrees_with_tshark(tshark: str, corpus: Path) -> None:
    """Wireshark's quic-fragmented-handshakes (its key log in a DSB): a HelloRetryRequest
    connection decrypted, then 16 connections of a ClientHello each, fragmented and out of
    order across Initials; per connection the ClientHellos, SNI, suite and leaf agree."""
    path = corpus / "wireshark" / "quic-fragmented-handshakes.pcapng.gz"
    out = _fields(
        path,
        [],
        "tls.handshake.type",
        [
            "quic.connection.number",
            "tls.handshake.type",
            "tls.handshake.extensions_server_name",
            "tls.handshake.ciphersuite",
        ],
        None,
    )
    hellos: dict[int, int] = {}
    names: dict[int, set[str]] = {}
    suites: dict[int, list[int]] = {}
    for line in out.splitlines():
        number, types, sni, suite = [*line.split("\t"), "", "", ""][:4]
        n = int(number.split(",")[0])
        hellos[n] = hellos.get(n, 0) + types.split(",").count("1")
        names.setdefault(n, set()).update(s for s in sni.split(",") if s)
        if "1" not in types.split(","):  # a ClientHello's ciphersuite field lists its offer
            suites.setdefault(n, []).extend(int(s, 16) for s in suite.split(",") if s)
    leaves = _tshark_leaves(path, [])
    ours = list(tlslens.read_capture(path))
    assert len(ours) == len(hellos) == 17
    for n, conn in enumerate(ours):
        assert len(conn.client_hellos) == hellos[n], n
        assert ({conn.sni} if conn.sni else set()) == names[n], n
        # tshark names the HelloRetryRequest's suite and the ServerHello's: the same one.
        assert ([conn.cipher_suite] if conn.cipher_suite else []) == sorted(
            set(suites.get(n, []))
        ), n
        assert [c.sha256 for c in conn.certificates[:1]] == ([leaves[n]] if n in leaves else [])
    first = ours[0]
    assert first.hello_retry_request is not None
    assert first.decryption.results["c2s"].finished_verified is True
    assert first.decryption.results["s2c"].finished_verified is True


def test_ja4_says_quic() -> None:
    """FoxIO's JA4 begins with the transport: "q" for a ClientHello carried by QUIC; the
    rest is computed as over TCP."""
    conns = list(tlslens.read_capture(QUIC))
    assert len(conns) == 7
    for conn in conns:
        hello = conn.client_hello
        assert hello is not None
        row = connection_to_json(conn)
        assert row["ja4"] == "q" + _core.ja4(hello)[1:]
        assert row["ja4"].startswith("q13d")


def _hkdf_expand_label(secret: bytes, label: bytes, length: int) -> bytes:
    """RFC 8446 §7.1 over SHA-256, written out here as an independent check of the core."""
    full = b"tls13 " + label
    info = length.to_bytes(2, "big") + bytes([len(full)]) + full + b"\x00"
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(secret, block + info + bytes([counter]), hashlib.sha256).digest()
        out += block
        counter += 1
    return out[:length]


def test_the_narration_tells_quic_steps() -> None:
    runner = CliRunner()
    refused = runner.invoke(
        main, ["show", str(QUIC), "--connection", "6", "--reveal-keys", "--records"]
    ).output
    # The Initial keys with QUIC's labels, checked against RFC 9001 §5.2 computed here.
    dcid = list(tlslens.read_capture(QUIC))[REFUSED_CONNECTION].quic.initial_dcid
    salt = bytes.fromhex("38762cf7f55934b34d179ae6a4c80cadccbb7f0a")  # RFC 9001 §5.2, v1
    initial = hmac.new(salt, dcid, hashlib.sha256).digest()
    client = _hkdf_expand_label(initial, b"client in", 32)
    assert "QUIC v1 Initial keys" in refused
    assert f'"client in", "", 32): {client.hex()}' in refused
    assert f'"quic key" (16 bytes): {_hkdf_expand_label(client, b"quic key", 16).hex()}' in refused
    assert f'"quic hp" (16 bytes): {_hkdf_expand_label(client, b"quic hp", 16).hex()}' in refused
    assert "CONNECTION_CLOSE" in refused and "CRYPTO_ERROR 0x100 + its code" in refused
    assert "Alert (fatal): bad_certificate" in refused
    # --records: each packet, its space and number, and its frames
    assert "QUIC packets: 8, as carried in UDP datagrams:" in refused
    assert "Initial, QUIC v1 (initial space), pn 0, 517 bytes at byte 0" in refused
    assert (
        "CONNECTION_CLOSE: CRYPTO_ERROR 0x12a: TLS alert bad_certificate, caused by a frame of "
        "type 0x6" in refused
    )
    # The 1-RTT packet the core kept for keys that never came is told where its frame is.
    packets = refused[refused.index("QUIC packets: 8") :]
    sealed = packets.index("1-RTT (application space), 53 bytes at byte 722")
    assert packets.index("#69     C ← S  Handshake + 1-RTT") < sealed < packets.index("#70")
    assert list(tlslens.read_capture(QUIC))[REFUSED_CONNECTION].last_frame == 71
    retry = runner.invoke(main, ["show", str(QUIC), "--connection", "3"]).output
    assert "Retry" in retry and "its integrity tag verifies (RFC 9001 §5.8)" in retry
    first = runner.invoke(main, ["show", str(QUIC), "--connection", "1"]).output
    # QUIC protects packets: the decryption line counts them (11 Handshake and 1-RTT), and
    # the plaintext is the STREAM frames' bytes, all streams together.
    assert "decrypted (11 packets, 136 bytes of application data; both Finished verify)" in first
    migrated = runner.invoke(main, ["show", str(QUIC), "--connection", "5"]).output
    assert "Connection migration" in migrated and "New Connection IDs" in migrated


def _tshark_streams(path: Path, options: list[str]) -> dict[tuple[int, int, str], bytes]:
    """tshark's STREAM frame bytes by (QUIC connection, stream id, direction), in order."""
    out = _fields(
        path,
        options,
        "quic.stream_data",
        ["quic.connection.number", "udp.dstport", "quic.stream.stream_id", "quic.stream_data"],
        None,
    )
    servers = {n: c.server_port for n, c in run_tshark_quic(path, options).items()}
    streams: dict[tuple[int, int, str], bytes] = {}
    for line in out.splitlines():
        number, dport, ids, datas = line.split("\t")
        n = int(number.split(",")[0])
        direction = "c2s" if int(dport) == servers[n] else "s2c"
        for stream, data in zip(ids.split(","), datas.split(","), strict=True):
            key = (n, int(stream), direction)
            streams[key] = streams.get(key, b"") + bytes.fromhex(data)
    return streams


def test_decrypt_writes_each_quic_stream_as_tshark_reads_it(
    tshark: str, stripped: Path, tmp_path: Path
) -> None:
    options = ["-o", f"tls.keylog_file:{KEYS}"]
    theirs = {
        k: v for k, v in _tshark_streams(stripped, options).items() if k[0] != RETRY_CONNECTION
    }
    retry = _tshark_streams(stripped, options + NO_OUT_OF_ORDER)
    theirs.update((k, v) for k, v in retry.items() if k[0] == RETRY_CONNECTION)
    out = tmp_path / "plain"
    result = CliRunner().invoke(
        main, ["decrypt", str(stripped), "--keylog", str(KEYS), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    ours: dict[tuple[int, int, str], bytes] = {}
    for path in out.glob("conn*-stream*-*.bin"):
        conn, stream, direction = path.stem.removeprefix("conn").split("-")
        ours[(int(conn) - 1, int(stream.removeprefix("stream")), direction)] = path.read_bytes()
    assert ours == theirs
    assert len(ours) > 50  # six connections' HTTP/3 control, QPACK and request streams


def test_a_forged_retry_and_garbage_on_443_are_findings(tmp_path: Path) -> None:
    """The Retry's last byte (its integrity tag) flipped, and a datagram of garbage to port
    443 from a new port at the end: each is a finding naming its frame and offset; every
    connection is still read."""
    frames = read_frames(QUIC)
    retry_frame = 22
    udp_payload = 14 + 20 + 8  # Ethernet, IPv4 without options, UDP
    out = tmp_path / "hostile.pcapng"
    with out.open("wb") as f:
        writer = PcapngWriter(f)
        writer.add_interface(1)
        for number, (ts, _lt, data) in enumerate(frames, start=1):
            if number == retry_frame:
                data = data[:-1] + bytes([data[-1] ^ 0x01])
            writer.add_packet(ts, data)
        ts, _lt, first = frames[0]
        # Its first byte has the fixed bit clear: with it set, a datagram to a known server
        # reads as a migrated client's short header (test_quic_retry).
        garbage = bytes((7 * i + 0x01) & 0x3F for i in range(len(first) - udp_payload))
        forged = first[:34] + struct.pack(">H", 40000) + first[36:udp_payload] + garbage
        writer.add_packet(frames[-1][0] + 1000, forged)
    cap = tlslens.read_capture(out)
    conns = list(cap)
    assert [c.sni for c in conns] == ["tlslens.test"] * 7
    retry = conns[RETRY_CONNECTION]
    (tag, followed) = [p for p in retry.problems if "integrity tag" in p.message]
    assert followed.frame == retry_frame + 1  # aioquic followed it (test_quic_retry)
    retry_length = len(frames[retry_frame - 1][2]) - udp_payload
    assert (tag.frame, tag.layer, tag.offset) == (retry_frame, "quic", retry_length - 16)
    assert retry.quic is not None and retry.quic.retry is not None
    assert retry.quic.retry[1] is False
    # (the migrated client's datagrams are a note of connection 5 here: no key log)
    (junk,) = [p for p in cap.summary.problems if p.frame == len(frames) + 1]
    assert (junk.layer, junk.offset) == ("quic", 0)
    assert "port 443" in junk.message
    text = CliRunner().invoke(main, ["show", str(out), "--connection", "3"]).output
    assert "its integrity tag does NOT verify" in text


def test_many_datagrams_of_no_connection_are_counted_past_the_first_few(tmp_path: Path) -> None:
    """Garbage to UDP 443 from 12 ports: the first 8 are findings of their own (frame,
    offset), the rest one line that counts them; nothing else is made of them."""
    ts, _lt, first = read_frames(QUIC)[0]
    header = 14 + 20 + 8
    out = tmp_path / "noise.pcapng"
    with out.open("wb") as f:
        writer = PcapngWriter(f)
        writer.add_interface(1)
        for n in range(12):
            payload = bytes([0x41 + n]) * (len(first) - header)
            frame = first[:34] + struct.pack(">H", 40000 + n) + first[36:header] + payload
            writer.add_packet(ts + n, frame)
    cap = tlslens.read_capture(out)
    assert list(cap) == []
    problems = cap.summary.problems
    assert [(p.frame, p.offset) for p in problems[:8]] == [(n, 0) for n in range(1, 9)]
    assert len(problems) == 9 and problems[8].message.startswith("4 more QUIC datagrams")


def test_the_text_says_a_connection_is_quic() -> None:
    """TLS 1.3 alone does not tell QUIC from TCP: the heading, the Version line, --brief and
    the report's overview name QUIC and its version (QUIC v2 too)."""
    runner = CliRunner()
    text = runner.invoke(main, ["show", str(QUIC), "--connection", "2"]).stdout
    assert (
        "── Connection 2 · 127.0.0.1:42096 → 127.0.0.1:443 · tlslens.test · over QUIC v2 ──" in text
    )
    assert re.search(r"^Version\s+TLS 1\.3, over QUIC v2$", text, re.M)
    lines = runner.invoke(main, ["show", "--brief", str(QUIC)]).stdout.splitlines()
    brief = [line for line in lines if line.startswith("#")]
    assert all(" TLS 1.3 over QUIC v" in line for line in brief) and len(brief) == 7
    conn = next(c for c in tlslens.read_capture(QUIC) if c.id == 1)
    assert overview_row(conn, connection_to_json(conn))[5] == "TLS 1.3 over QUIC v1"


def test_every_quic_step_has_its_time() -> None:
    """A Retry, a migration or a key update names only its frame: its step is timed by the
    datagram that carried it (they printed no time before)."""
    for conn in tlslens.read_capture(QUIC):
        for step in explain(conn):
            assert step.time, (conn.id, step.title)


def test_a_new_connection_id_on_a_known_address_pair_stays_the_connections(
    stripped: Path,
) -> None:
    """Without keys the Connection ID a client switches to is unknown (NEW_CONNECTION_ID is
    in 1-RTT): on the connection's own address pair its packets are the connection's,
    unopened, not findings about a stranger (connection 5 had 7 of those). Its datagrams
    from the port it migrated to are one note (test_quic_retry)."""
    conns = {conn.id: conn for conn in tlslens.read_capture(stripped)}
    assert [p.frame for p in conns[5].problems] == [61]
    assert conns[5].quic is not None and conns[5].quic.unopened > 0


def test_quic_steps_speak_of_packets_and_closes() -> None:
    """QUIC has packets, not records, and no alert records: the refused connection's steps
    say "packet" and carry the alert in its CONNECTION_CLOSE."""
    text = CliRunner().invoke(main, ["show", str(QUIC), "--connection", "6"]).stdout
    assert "Alert (fatal): bad_certificate, as CRYPTO_ERROR in CONNECTION_CLOSE" in text
    assert "Application data: 1 packet, 53 bytes" in text


def test_an_outer_ech_is_not_said_to_hide_a_real_hello() -> None:
    """Chromium sends GREASE ECH to every server: the narration says an outer ECH may be
    either, instead of "the real hello is hidden" (as it said)."""
    text = CliRunner().invoke(main, ["show", str(QUIC), "--connection", "7"]).stdout
    assert "the real hello is hidden" not in text
    assert "either a real inner hello travels hidden in it, or it is GREASE" in text
