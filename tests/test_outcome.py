"""How each handshake ended (`outcome`), on handshakes recorded failing from real stacks
(tests/vectors/captures/aborted.pcapng: OpenSSL, GnuTLS and Python clients, see
tools/record_captures.py scenario_aborted), with tshark as the oracle for the alerts; TLS
1.3 plaintext alerts; and a capture cut in the middle of a handshake."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner
from record_aborted import ABORT_CASES, ABORT_CLIENTS

from tlslens import registry
from tlslens.cli import main

from _frames import write_conversation
from _tshark import alerts_by_stream
from conftest import CAPTURES, ROOT

ABORTED = CAPTURES / "aborted.pcapng"
KEYS = CAPTURES / "aborted.keys"
SCHEMA = json.loads((ROOT / "src/tlslens/schema/connection.schema.json").read_text())
# The cases where the server refuses; in the others the client rejects the certificate.
SERVER_REFUSES = ("no_shared_cipher", "client_cert_required")
RESETS = 2  # the last connections: a server that resets after the ClientHello


def _show(*args: str) -> list[dict[str, Any]]:
    result = CliRunner().invoke(main, ["show", "--json", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def _text(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def _case(conn_id: int) -> str:
    """The scenario's case of a connection: cases x (1.3, 1.2) x clients, then resets."""
    index = conn_id - 1
    per_case = 2 * len(ABORT_CLIENTS)
    return ABORT_CASES[index // per_case] if index < len(ABORT_CASES) * per_case else "reset"


@pytest.mark.parametrize("keys", [True, False], ids=["keylog", "no-keys"])
def test_every_aborted_handshake_fails_by_the_side_and_alert_tshark_sees(
    tshark: str, keys: bool
) -> None:
    options = ["--keylog", str(KEYS)] if keys else []
    rows = _show(str(ABORTED), *options)
    assert len(rows) == len(ABORT_CASES) * 2 * len(ABORT_CLIENTS) + RESETS
    oracle = alerts_by_stream(ABORTED, ["-o", f"tls.keylog_file:{KEYS}"] if keys else [])
    for row in rows:
        jsonschema.validate(row, SCHEMA)
        case, outcome = _case(row["id"]), row["outcome"]
        where = f"connection {row['id']} ({case}): {outcome}"
        assert outcome["status"] == "failed", where
        if case == "reset":
            assert outcome == {
                "status": "failed",
                "by": "server",
                "alert": None,
                "reason": "the server reset the connection after the ClientHello, before answering",
            }
            assert row["tcp_stream"] not in oracle
            continue
        assert outcome["by"] == ("server" if case in SERVER_REFUSES else "client"), where
        fatal = [d for level, d in oracle.get(row["tcp_stream"], []) if level == 2]
        if outcome["alert"] is None:
            # Without the key log, only GnuTLS' TLS 1.3 alert stays encrypted, as for tshark.
            assert not keys and not fatal, where
            assert "encrypted" in outcome["reason"], where
            continue
        assert outcome["alert"] == registry.alert_name(fatal[0]), where


def test_the_reasons_tie_the_alert_to_what_the_capture_shows() -> None:
    rows = {row["id"]: row["outcome"] for row in _show(str(ABORTED), "--keylog", str(KEYS))}
    # TLS 1.2, OpenSSL: the chain was seen and checked.
    assert rows[4]["reason"] == (
        "the client rejected the server's certificate: certificate_expired; CN=tlslens.test,"
        "O=tlslens lab expired 2025-11-30 10:25 UTC, 370 days before the capture"
    )
    assert rows[10]["reason"].startswith(
        "the client rejected the server's certificate: unknown_ca; the issuer of CN=tlslens.test"
    )
    assert "the client asked for wrong.tlslens.test" in rows[22]["reason"]
    # TLS 1.3, OpenSSL: the certificate is encrypted and the key log holds only the
    # handshake secrets (item 2 of the issue opens it).
    assert rows[1]["reason"].startswith(
        "the client rejected the server's certificate: certificate_expired; "
    )
    assert rows[25]["reason"] == (
        "the server found no cipher suite in common with the client's offer: handshake_failure"
    )
    for conn_id, alert in ((31, "certificate_required"), (34, "handshake_failure")):
        assert rows[conn_id]["reason"].startswith(
            f"the server required a client certificate and the client sent none: {alert}"
        )


def test_a_tls13_plaintext_alert_is_decoded_and_told() -> None:
    # Connection 1: OpenSSL's s_client aborts TLS 1.3 with `15 03 03 00 02 02 2d`.
    row = _show(str(ABORTED), "--connection", "1")[0]
    assert row["alerts"] == [
        {"frame": 8, "direction": "c2s", "level": "fatal", "description": "certificate_expired"}
    ]
    assert row["outcome"]["alert"] == "certificate_expired"
    text = _text("show", str(ABORTED), "--connection", "1")
    lines = text.splitlines()
    assert lines[1].startswith("Outcome  ")
    # The reason names the alert (it stands alone in the JSON): the line says it once.
    assert "FAILED by client — the client rejected the server's certificate: " in lines[1]
    assert lines[1].count("certificate_expired") == 1
    assert "Alert (fatal): certificate_expired" in text
    assert "most often close_notify" not in text
    brief = _text("show", str(ABORTED), "--brief", "--connection", "1")
    assert "; FAILED by client: certificate_expired; 0 problems" in brief


def _records(stream: bytes) -> list[bytes]:
    out = []
    while len(stream) >= 5:
        size = 5 + int.from_bytes(stream[3:5], "big")
        out.append(stream[:size])
        stream = stream[size:]
    return out


def _tcp_stream(path: Path, stream: int) -> tuple[bytes, bytes]:
    """(client bytes, server bytes) of a TCP stream, as tshark follows it."""
    out = subprocess.run(
        ["tshark", "-r", str(path), "-q", "-z", f"follow,tcp,raw,{stream}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    body = out.split("Node 1: ", 1)[1].split("\n", 1)[1]
    sides = [bytearray(), bytearray()]
    for line in body.splitlines():
        if line and not line.startswith("="):
            sides[line.startswith("\t")] += bytes.fromhex(line.strip())
    return bytes(sides[0]), bytes(sides[1])


def test_an_encrypted_alert_of_an_unfinished_handshake_is_not_called_a_normal_end(
    tshark: str, tmp_path: Path
) -> None:
    # The real records of a TLS 1.2 handshake (openssl-hrr-clientauth, connection 2): the
    # client's flight up to its encrypted Finished, then its encrypted alert; the server's
    # ChangeCipherSpec and Finished never come.
    client, server = _tcp_stream(CAPTURES / "openssl-hrr-clientauth.pcapng", 1)
    sent = _records(client)
    ccs = next(i for i, r in enumerate(sent) if r[0] == 20)
    alert = next(r for r in sent if r[0] == 21)
    flight = [r for r in _records(server) if r[0] == 22][:5]
    assert [r[0] for r in sent[ccs : ccs + 2]] == [20, 22] and len(flight) == 5
    cut = tmp_path / "unfinished.pcapng"
    conversation = [(0, sent[0]), (1, b"".join(flight)), (0, b"".join(sent[1 : ccs + 2]))]
    write_conversation(cut, [*conversation, (0, alert)], 1_700_000_000 * 10**9)
    row = _show(str(cut))[0]
    assert row["alerts"][0]["description"] == "encrypted"
    assert row["outcome"]["status"] == "failed" and row["outcome"]["by"] == "client"
    assert row["outcome"]["reason"].startswith("the client sent an encrypted alert (frame ")
    text = _text("show", str(cut))
    assert "Alert (encrypted)" in text
    assert "most often close_notify" not in text
    assert "in a handshake that never finished" in text


def test_certs_says_how_the_handshake_ended() -> None:
    text = _text("certs", str(ABORTED), "--connection", "4")
    assert (
        "Outcome: FAILED by client — the client rejected the server's certificate: "
        "certificate_expired; CN=tlslens.test"
    ) in text


def test_the_client_rejecting_the_ca_in_tls12_and_the_completed_ones() -> None:
    capture = CAPTURES / "openssl-hrr-clientauth.pcapng"
    rows = _show(str(capture))
    outcomes = [(row["outcome"]["status"], row["outcome"]["by"]) for row in rows]
    assert outcomes == [("completed", None), ("completed", None), ("failed", "client")]
    assert rows[2]["outcome"]["alert"] == "unknown_ca"
    assert rows[2]["outcome"]["reason"].startswith(
        "the client rejected the server's certificate: unknown_ca; "
    )
    assert "completed" in _text("show", str(capture), "--brief", "--connection", "1")


def test_a_capture_cut_after_the_server_hello_is_incomplete(tshark: str, tmp_path: Path) -> None:
    first = _show(str(ABORTED), "--connection", "4")[0]
    hello = next(m["frame"] for m in first["handshake"] if m["type"] == "server_hello")
    cut = tmp_path / "cut.pcapng"
    subprocess.run(["editcap", "-r", str(ABORTED), str(cut), f"1-{hello}"], check=True)
    row = _show(str(cut), "--connection", "4")[0]
    assert row["closed_by"] is None
    assert row["outcome"]["status"] == "incomplete"
    assert row["outcome"]["by"] is None and row["outcome"]["alert"] is None
    assert row["outcome"]["reason"].startswith("the capture ends before the handshake did")
    assert "incomplete" in _text("show", str(cut), "--brief", "--connection", "4")


def _judged(rows: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    return [(row["outcome"]["status"], row["outcome"]["by"]) for row in rows]


@pytest.mark.parametrize(
    "capture",
    sorted(p for p in CAPTURES.glob("*.pcap*") if p.with_suffix(".keys").exists()),
    ids=lambda p: p.name,
)
def test_without_keys_the_recorded_outcomes_are_those_decryption_shows(capture: Path) -> None:
    with_keys = _show(str(capture), "--keylog", str(capture.with_suffix(".keys")))
    expected = [
        # A TLS 1.3 client's alert after its Finished travels in an application-data record
        # like any other: without the key log the completed handshake is all there is to see
        # (nginx-h2's client, after the exchange). A server's refusal of the client's flight
        # (certificate_required) is told by its size and the close that follows.
        ("completed", None)
        if row["version"] == "TLS 1.3"
        and judged == ("failed", "client")
        and "after the handshake had completed" in row["outcome"]["reason"]
        else judged
        for row, judged in zip(with_keys, _judged(with_keys), strict=True)
    ]
    assert _judged(_show(str(capture))) == expected


@pytest.mark.parametrize("name", ["http1.pcapng", "http2.pcapng", "http2_trial.pcapng"])
def test_without_keys_a_browsers_aborts_and_resumptions_are_told_apart(
    corpus: Path, name: str
) -> None:
    # Chromium rejecting a certificate for another name (its TLS 1.3 alert is encrypted),
    # and resuming with a ticket where it completed: what the record sizes tell without
    # the key log is what the decrypted handshake shows.
    capture = corpus / "hotplace" / "http" / name
    with_keys = _show(str(capture), "--keylog", str(capture.parent / "sslkeylog"))
    assert {row["outcome"]["alert"] for row in with_keys} >= {"certificate_unknown"}
    assert ("completed", None) in _judged(with_keys) or name == "http1.pcapng"
    assert _judged(_show(str(capture))) == _judged(with_keys)


def test_a_certificate_alert_in_a_resumed_session_does_not_blame_the_key_log(
    corpus: Path,
) -> None:
    # hotplace http2 connection 5 resumes connection 4's ticket: its handshake is opened
    # from the key log and carries no certificate; Chromium still sends certificate_unknown.
    capture = corpus / "hotplace" / "http" / "http2.pcapng"
    for options in ([], ["--keylog", str(capture.parent / "sslkeylog")]):
        (row,) = _show(str(capture), "--connection", "5", *options)
        outcome = row["outcome"]
        assert outcome["alert"] in ("certificate_unknown", None), outcome
        if outcome["alert"] is None:
            continue  # without keys the alert stays encrypted
        assert "did not open it" not in outcome["reason"]
        assert "a key log opens it" not in outcome["reason"]
        assert "the session was resumed" in outcome["reason"]


def test_a_capture_that_starts_after_the_handshake_is_not_a_failed_one(
    tshark: str, tmp_path: Path
) -> None:
    # The demo's TLS 1.2 connection from its last application data on: both encrypted
    # close_notify alerts (31-byte records, tshark: "Encrypted Alert") and both FINs.
    demo = CAPTURES / "demo-tls12-tls13.pcapng"
    cut = tmp_path / "mid.pcapng"
    subprocess.run(["editcap", "-r", str(demo), str(cut), "32-37"], check=True)
    (row,) = _show(str(cut))
    assert row["closed_by"] == "fin"
    assert row["alerts"] == [
        {"frame": 1, "direction": "c2s", "level": None, "description": "encrypted"},
        {"frame": 3, "direction": "s2c", "level": None, "description": "encrypted"},
    ]
    assert row["outcome"]["status"] == "incomplete"
    assert row["outcome"]["by"] is None and row["outcome"]["alert"] is None
    assert row["outcome"]["reason"].startswith("the capture starts after the handshake began")


def test_the_server_reset_is_a_step_of_the_narration(tshark: str) -> None:
    """The two connections the server resets end with a "TCP reset (RST)" step at the frame
    tshark shows the RST in (the narration said nothing of it before)."""
    out = subprocess.run(
        [
            tshark,
            "-r",
            str(ABORTED),
            "-Y",
            "tcp.flags.reset == 1",
            "-T",
            "fields",
            "-e",
            "frame.number",
            "-e",
            "tcp.stream",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    first_rst: dict[int, int] = {}
    for line in out.splitlines():
        frame, stream = (int(x) for x in line.split("\t"))
        first_rst.setdefault(stream, frame)
    result = CliRunner().invoke(main, ["show", str(ABORTED), "--connection", "38"])
    line = next(line for line in result.stdout.splitlines() if "TCP reset (RST)" in line)
    assert int(line.split()[0].lstrip("#")) == first_rst[37]
    assert "C ← S" in line


def test_the_outcome_reads_the_timeline_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fatal alert is found in the walk that looks for the Finished messages: the
    connection's list of alerts (a second walk of the timeline) is not made. Answers as
    before, on every connection of the aborted handshakes, read with and without keys."""
    import tlslens
    from tlslens.keys.files import add_keylog_file
    from tlslens.keys.store import KeyStore
    from tlslens.model import Connection
    from tlslens.outcome import outcome_of

    store = KeyStore()
    add_keylog_file(store, KEYS)
    conns = list(tlslens.read_capture(ABORTED, keys=store)) + list(tlslens.read_capture(ABORTED))
    expected = [outcome_of(conn) for conn in conns]
    assert any(o.alert is not None for o in expected)

    def unused(conn: Connection) -> None:
        raise AssertionError("outcome_of walked the timeline for the alerts again")

    monkeypatch.setattr(Connection, "alerts", property(unused))
    assert [outcome_of(conn) for conn in conns] == expected


def _tls13_with(suite: int, *events: Any) -> Any:
    """A TLS 1.3 connection that chose ``suite``, with ``events`` as its timeline."""
    from tlslens.handshake import messages as hs
    from tlslens.model import Connection, Endpoint

    extensions = bytes.fromhex("002b00020304")  # supported_versions: TLS 1.3
    body = (
        bytes.fromhex("0303")
        + bytes(range(32))
        + b"\x00"
        + suite.to_bytes(2, "big")
        + b"\x00"
        + len(extensions).to_bytes(2, "big")
        + extensions
    )
    hello = hs.parse_message(hs.SERVER_HELLO, body, hs.HandshakeContext())
    ends = (Endpoint(bytes(4), 1), Endpoint(bytes(4), 2))
    conn = Connection(1, 0, *ends, 1, 0)
    conn.server_hello = hello
    conn.timeline.extend(events)
    return conn


@pytest.mark.parametrize(
    ("suite", "alert_length"),
    [(0x1301, 19), (0x1305, 11)],
    ids=["gcm-16-byte-tag", "ccm8-8-byte-tag"],
)
def test_a_protected_alert_is_told_by_the_suites_tag_length(suite: int, alert_length: int) -> None:
    """A lone unread TLS 1.3 record is alert-sized when it holds 2 bytes, the inner content
    type and the suite's AEAD tag: 19 bytes under a 16-byte tag, 11 under CCM_8's 8 (the
    registry's suite name says which); one byte more, or a run of two, is not. A server
    that sends one and closes refused the client's flight: the handshake is not counted as
    completed from that flight."""
    from tlslens.events import ApplicationDataEvent, EncryptedHandshakeEvent
    from tlslens.outcome import alert_sized, outcome_of

    def record(direction: str, length: int, records: int = 1) -> Any:
        kind = EncryptedHandshakeEvent if direction == "c2s" else ApplicationDataEvent
        return kind(5, 0, direction, 0, length, 5, records)

    other = 19 if alert_length == 11 else 11
    conn = _tls13_with(suite)
    assert conn.tls13
    assert alert_sized(conn, record("s2c", alert_length))
    assert not alert_sized(conn, record("s2c", other))
    assert not alert_sized(conn, record("s2c", alert_length + 1))
    assert not alert_sized(conn, record("s2c", alert_length, records=2))

    flight = record("c2s", 80)
    refused = _tls13_with(suite, flight, record("s2c", alert_length))
    refused.closed_first = "s2c"
    assert outcome_of(refused).status != "completed"
    answered = _tls13_with(suite, flight, record("s2c", 80))
    assert outcome_of(answered).reason == "both sides sent their Finished message (encrypted)"


def test_connections_that_never_started_tls_are_said_with_why(tmp_path: Path) -> None:
    """A port that refused, SYNs nobody answered (one the client gave up on with its own RST:
    not a refusal, the newcomer's trial), a connection answered and closed without a byte:
    what a failed attempt to connect looks like. The summary said "5 TCP connections, 0
    with TLS" and no more; it says why, with the first connection of each kind."""
    from tlslens.capture.writer import PcapngWriter
    from tlslens.flows.synth import TCP_ACK, TCP_RST, TCP_SYN, Close, _Framer, iter_frames
    from tlslens.model import Endpoint

    server = Endpoint(bytes([10, 0, 0, 2]), 443)
    t0 = 1_780_000_000 * 10**9
    shapes = [  # (SYN/ACK time, closes): refused, unanswered twice, silent
        (None, [Close(t0 + 1000, 1, "rst")]),
        (None, []),
        (None, []),
        (t0 + 1000, [Close(t0 + 2000, 0, "fin"), Close(t0 + 3000, 1, "fin")]),
    ]
    path = tmp_path / "unstarted.pcapng"
    with path.open("wb") as out:
        writer = PcapngWriter(out)
        writer.add_interface(tsresol=9)
        for n, (synack, closes) in enumerate(shapes):
            client = Endpoint(bytes([10, 0, 0, 1]), 40_000 + n)
            shift = n * 10**6
            moved = [Close(c.ts_ns + shift, c.side, c.kind) for c in closes]
            frames = iter_frames(
                client,
                server,
                syn_ts_ns=t0 + shift,
                synack_ts_ns=None if synack is None else synack + shift,
                chunks=[],
                closes=moved,
            )
            for ts, frame in frames:
                writer.add_packet(ts, frame)
        # The client's own RST after its SYN (it gave up, nobody refused): no SYN/ACK read.
        framer = _Framer(Endpoint(bytes([10, 0, 0, 1]), 40_009), server)
        writer.add_packet(t0 + 9 * 10**6, framer.frame(0, TCP_SYN))
        writer.add_packet(t0 + 9 * 10**6 + 1000, framer.frame(0, TCP_RST | TCP_ACK))
    result = CliRunner().invoke(main, ["show", "--json", str(path)])
    assert result.exit_code == 0 and result.stdout == ""
    said = [line.split(", ", 1)[1] for line in result.stderr.splitlines() if "TLS:" in line]
    assert said == [
        "frame 1: 1 TCP connection never started TLS: the server's side answered the SYN with "
        "an RST, refusing it (nothing listened on the port, or a firewall said no); "
        "10.0.0.1:40000 → 10.0.0.2:443",
        "frame 3: 3 TCP connections never started TLS: no SYN/ACK to the SYN was read (the "
        "server, or the path to it, did not answer before the client gave up or the capture "
        "ended); the first: 10.0.0.1:40001 → 10.0.0.2:443",
        "frame 5: 1 TCP connection never started TLS: the server answered the SYN, and "
        "neither side sent a byte before the connection or the capture ended; 10.0.0.1:40003 "
        "→ 10.0.0.2:443",
    ], result.stderr
