"""`show --records` and the ladder of QUIC connections: every datagram's packets and their
frames against tshark's QUIC dissection of the project's capture
(tests/vectors/captures/udp/quic.pcapng, its README lists each connection), the ladder's
Retry, migration and CRYPTO_ERROR close, and a hostile reason phrase in the terminal and
the report."""

from __future__ import annotations

import base64
import gzip
import itertools
import json
import re
import struct
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jsonschema
import pytest
from click.testing import CliRunner
from test_report import Page, browser  # noqa: F401 (the browser fixture)

import tlslens
from tlslens.capture.writer import PcapngWriter
from tlslens.cli import main
from tlslens.explain.ladder import ladder

from _frames import read_frames
from _tshark import strip_secrets
from conftest import CAPTURES

QUIC = CAPTURES / "udp" / "quic.pcapng"
KEYS = CAPTURES / "udp" / "quic.keys"
DTLS = CAPTURES / "udp" / "dtls.pcapng"
RETRY_CONNECTION = 2  # index; tshark follows its second ClientHello only without
NO_OUT_OF_ORDER = ["-o", "quic.reassemble_crypto_out_of_order:FALSE"]  # (test_quic_show)
MIGRATING_CONNECTION = 4
REFUSED_CONNECTION = 5
# RFC 9000 §17.2 (v1) and RFC 9369 §3.2 (v2): the long header's two type bits.
LONG_TYPES = {
    0x00000001: {0: "Initial", 1: "0-RTT", 2: "Handshake", 3: "Retry"},
    0x6B3343CF: {1: "Initial", 2: "0-RTT", 3: "Handshake", 0: "Retry"},
}
# RFC 9000 §19 / §12.4 and RFC 9221: frame type code -> name.
FRAME_NAMES = {
    0x00: "PADDING",
    0x01: "PING",
    0x02: "ACK",
    0x03: "ACK_ECN",
    0x04: "RESET_STREAM",
    0x05: "STOP_SENDING",
    0x06: "CRYPTO",
    0x07: "NEW_TOKEN",
    **dict.fromkeys(range(0x08, 0x10), "STREAM"),
    0x10: "MAX_DATA",
    0x11: "MAX_STREAM_DATA",
    0x12: "MAX_STREAMS",
    0x13: "MAX_STREAMS",
    0x14: "DATA_BLOCKED",
    0x15: "STREAM_DATA_BLOCKED",
    0x16: "STREAMS_BLOCKED",
    0x17: "STREAMS_BLOCKED",
    0x18: "NEW_CONNECTION_ID",
    0x19: "RETIRE_CONNECTION_ID",
    0x1A: "PATH_CHALLENGE",
    0x1B: "PATH_RESPONSE",
    0x1C: "CONNECTION_CLOSE",
    0x1D: "CONNECTION_CLOSE",
    0x1E: "HANDSHAKE_DONE",
    0x30: "DATAGRAM",
    0x31: "DATAGRAM",
}

Packet = tuple[int, str, int | None, list[str]]  # (frame, type, packet number, frame types)


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _tshark_packet(layer: dict[str, Any]) -> tuple[str, int | None] | None:
    """(type, packet number) of one packet of tshark's JSON; None for the bytes after the
    last packet of a datagram (tshark shows them as a packet of no header, or as a short
    header whose fixed bit is 0)."""
    short = layer.get("quic.short")
    if short is not None and short.get("quic.fixed_bit") == "0":
        return None  # zeros after the last packet (Chromium pads its datagrams so)
    if short is not None:
        number = short.get("quic.packet_number")
        return "1-RTT", None if number is None else int(number)
    if "quic.version" not in layer:
        return None
    version = int(layer["quic.version"], 16)
    if version == 0:
        return "Version Negotiation", None
    bits = layer.get("quic.long.packet_type", layer.get("quic.long.packet_type_v2"))
    number = layer.get("quic.packet_number")
    return LONG_TYPES[version][int(bits)], None if number is None else int(number)


def tshark_packets(path: Path, options: list[str]) -> dict[int, list[Packet]]:
    """tshark's packets per QUIC connection (``quic.connection.number``), in frame order."""
    cmd = ["tshark", "-n", "-r", str(path), *options, "-Y", "quic", "-T", "json"]
    cmd += ["--no-duplicate-keys", "-J", "frame quic"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=True).stdout
    found: dict[int, list[Packet]] = {}
    for record in json.loads(out):
        layers = record["_source"]["layers"]
        frame = int(layers["frame"]["frame.number"])
        quic = _listed(layers["quic"])
        number = int(quic[0]["QUIC Connection information"]["quic.connection.number"])
        for layer in quic:
            packet = _tshark_packet(layer)
            if packet is None:
                continue
            kinds = [int(f["quic.frame_type"]) for f in _listed(layer.get("quic.frame", []))]
            names = [FRAME_NAMES[k] for k in kinds]
            found.setdefault(number, []).append((frame, packet[0], packet[1], names))
    return found


def _rows(*args: str) -> list[dict[str, Any]]:
    result = CliRunner().invoke(main, ["show", "--json", "--records", *args])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def our_packets(row: dict[str, Any]) -> list[Packet]:
    return [
        (d["frame"], p["type"], p["packet_number"], [f["type"] for f in p["frames"]])
        for d in row["quic"]["datagrams"]
        for p in d["packets"]
    ]


@pytest.fixture(scope="module")
def stripped(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return strip_secrets(QUIC, tmp_path_factory.mktemp("quic"))


def test_every_packet_and_frame_agrees_with_tshark(tshark: str, stripped: Path) -> None:
    """Per connection, the sequence of (frame, packet type, packet number, frame types) of
    show --json --records equals tshark's with the same key log (a run of PADDING is one
    frame in both); the JSON follows the schema."""
    options = ["-o", f"tls.keylog_file:{KEYS}"]
    theirs = tshark_packets(stripped, options)
    theirs[RETRY_CONNECTION] = tshark_packets(stripped, options + NO_OUT_OF_ORDER)[RETRY_CONNECTION]
    rows = _rows("--keylog", str(KEYS), str(stripped))
    schema = json.loads(
        (Path(tlslens.__file__).parent / "schema/connection.schema.json").read_text()
    )
    assert len(rows) == len(theirs) == 7
    for index, row in enumerate(rows):
        jsonschema.validate(row, schema)
        assert our_packets(row) == theirs[index], f"connection {index + 1}"
    kinds = {p[1] for row in rows for p in our_packets(row)}
    assert kinds == {"Initial", "Handshake", "Retry", "1-RTT"}
    # Without --records, the JSON is as before: no datagrams.
    plain = CliRunner().invoke(main, ["show", "--json", str(QUIC), "--connection", "1"])
    assert "datagrams" not in json.loads(plain.stdout)["quic"]


def test_records_json_names_the_fields_of_each_frame() -> None:
    rows = _rows(str(QUIC))
    first = rows[0]["quic"]["datagrams"][0]
    assert first["direction"] == "c2s" and first["time"].endswith("Z")
    (initial,) = first["packets"]
    assert initial["type"] == "Initial" and initial["version_id"] == 1
    assert initial["dcid"] == rows[0]["quic"]["initial_dcid"] and initial["scid"]
    assert (initial["opened"], initial["key"], initial["space"]) == (True, "initial", "initial")
    crypto = initial["frames"][0]
    assert (crypto["type"], crypto["stream_offset"], crypto["length"]) == ("CRYPTO", 0, 469)
    frames = [f for d in rows[0]["quic"]["datagrams"] for p in d["packets"] for f in p["frames"]]
    assert all(
        f["connection_id"] and re.fullmatch("[0-9a-f]{16}", f["connection_id"])
        for f in frames
        if f["type"] == "NEW_CONNECTION_ID"
    )
    assert any(f["type"] == "STREAM" and f["fin"] and f["stream"] == 0 for f in frames)
    (close,) = [
        f
        for d in rows[REFUSED_CONNECTION]["quic"]["datagrams"]
        for p in d["packets"]
        for f in p["frames"]
        if f["type"] == "CONNECTION_CLOSE"
    ]
    assert (close["code"], close["alert"]) == (0x12A, "bad_certificate")
    assert close["reason"] == "unable to get local issuer certificate"
    chromium = [p for d in rows[6]["quic"]["datagrams"] for p in d["packets"]]
    padding = [f for f in chromium[0]["frames"] if f["type"] == "PADDING"]
    assert padding and all(re.fullmatch(r"\d+ bytes", f["detail"]) for f in padding)
    retry = [p for d in rows[RETRY_CONNECTION]["quic"]["datagrams"] for p in d["packets"]]
    assert [p["type"] for p in retry[:3]] == ["Initial", "Retry", "Initial"]
    assert retry[1]["opened"] is False and retry[1]["dcid"] is None


def test_records_text_lists_datagrams_packets_and_frames() -> None:
    out = CliRunner().invoke(main, ["show", "--records", str(QUIC), "--connection", "6"]).output
    assert "  #68     C ← S  Initial + Handshake" in out
    assert re.search(
        r"Handshake, QUIC v1 \(handshake space\), pn 1, 1023 bytes at byte 177; DCID \w+, SCID \w+; opened with the handshake traffic secret",
        out,
    )
    assert "1-RTT (application space), 53 bytes at byte 722" in out and "not opened (no key)" in out
    assert "CONNECTION_CLOSE: CRYPTO_ERROR 0x12a: TLS alert bad_certificate" in out
    retry = CliRunner().invoke(main, ["show", "--records", str(QUIC), "--connection", "3"]).output
    assert (
        "  #22     C ← S  Retry\n      Retry: integrity tag verified, a token of 61 bytes" in retry
    )


def _labels(index: int) -> list[tuple[str, str, int, str]]:
    conn = list(tlslens.read_capture(QUIC, records=True))[index]
    return [(a.kind, a.direction, a.frame, a.label) for a in ladder(conn)]


def test_the_ladder_draws_datagrams_and_their_packets() -> None:
    """Each datagram an arrow; coalesced packets stacked under it with the handshake
    messages their CRYPTO frames completed; the Retry, the migration and the refused
    certificate's CONNECTION_CLOSE (0x12a) by its alert's name."""
    retry = _labels(RETRY_CONNECTION)
    assert retry[:2] == [
        ("record", "c2s", 21, "Initial pn 0: CRYPTO (ClientHello); 517 bytes"),
        ("record", "s2c", 22, "Retry: integrity tag verified, a token of 61 bytes"),
    ]
    assert ("record", "s2c", 24, "datagram: Initial + Handshake, 1200 bytes") in retry
    assert ("message", "s2c", 24, "Initial pn 0: CRYPTO (ServerHello)") in retry
    assert (
        "message",
        "s2c",
        25,
        "Handshake pn 2: CRYPTO (Certificate, CertificateVerify, Finished)",
    ) in retry
    assert any("HANDSHAKE_DONE" in label for *_x, label in retry)
    migrating = _labels(MIGRATING_CONNECTION)
    (note,) = [a for a in migrating if a[0] == "note"]
    assert note[2] == 61 and note[3].startswith("migration: the client now sends from 127.0.0.1:")
    refused = _labels(REFUSED_CONNECTION)
    assert refused[-1] == (
        "record",
        "c2s",
        71,
        "Handshake pn 3: CONNECTION_CLOSE CRYPTO_ERROR 0x12a: TLS alert bad_certificate; 86 bytes",
    )
    text = CliRunner().invoke(main, ["show", "--ladder", "--no-color", str(QUIC)]).output
    assert "TLS alert bad_certificate" in text and "Retry: integrity tag verified" in text


def test_dtls_messages_sit_under_their_own_datagram() -> None:
    """DTLS record offsets are in the datagram: each message is drawn under a record of
    the datagram that carried it (the HelloVerifyRequest right after its record)."""
    conn = next(iter(tlslens.read_capture(DTLS, records=True)))
    arrows = ladder(conn)
    for before, arrow in itertools.pairwise(arrows):
        if arrow.kind == "message":
            assert before.frame == arrow.frame, arrow
    hvr = [n for n, a in enumerate(arrows) if a.label == "HelloVerifyRequest"]
    assert hvr and arrows[hvr[0] - 1].label.startswith("handshake record, 35 bytes, epoch 0 seq 0")


HOSTILE = "<script>window.__tlslens_pwned=1</script>\x1b[2J\x07"


def _udp_frame(template: bytes, payload: bytes, sport: int) -> bytes:
    """An Ethernet/IPv4/UDP frame like ``template`` (loopback, to port 443) carrying
    ``payload``: lengths rewritten, the IPv4 checksum too."""
    ip = bytearray(template[14:34])
    ip[2:4] = struct.pack(">H", 20 + 8 + len(payload))
    ip[10:12] = b"\0\0"
    words = sum(struct.unpack(">10H", bytes(ip)))
    while words > 0xFFFF:
        words = (words & 0xFFFF) + (words >> 16)
    ip[10:12] = struct.pack(">H", ~words & 0xFFFF)
    udp = struct.pack(">HHHH", sport, 443, 8 + len(payload), 0)
    return template[:14] + bytes(ip) + udp + payload


@pytest.fixture(scope="module")
def hostile_close(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real aioquic client's first Initial, then its CONNECTION_CLOSE (in an Initial
    packet, keys from its Destination Connection ID) with a hostile reason phrase."""
    from aioquic.quic.configuration import QuicConfiguration
    from aioquic.quic.connection import QuicConnection

    client = QuicConnection(configuration=QuicConfiguration(is_client=True, alpn_protocols=["h3"]))
    client.connect(("127.0.0.1", 443), now=1.0)
    sent = [data for data, _addr in client.datagrams_to_send(now=1.0)]
    client.close(error_code=0x0A, frame_type=0x06, reason_phrase=HOSTILE)
    sent += [data for data, _addr in client.datagrams_to_send(now=1.1)]
    _ts, _lt, template = read_frames(QUIC)[0]
    path = tmp_path_factory.mktemp("hostile") / "close.pcapng"
    with path.open("wb") as f:
        writer = PcapngWriter(f)
        writer.add_interface(1)
        for n, data in enumerate(sent):
            writer.add_packet(
                1_700_000_000_000_000_000 + n * 1_000_000, _udp_frame(template, data, 50000)
            )
    return path


def test_a_hostile_reason_phrase_is_text_everywhere(hostile_close: Path, tmp_path: Path) -> None:
    (row,) = _rows(str(hostile_close))
    closes = [
        f
        for d in row["quic"]["datagrams"]
        for p in d["packets"]
        for f in p["frames"]
        if f["type"] == "CONNECTION_CLOSE"
    ]
    assert [c["reason"] for c in closes] == [HOSTILE]
    for args in (["--records"], ["--ladder"]):
        out = CliRunner().invoke(main, ["show", *args, str(hostile_close)]).output
        assert "\x1b" not in out and "\x07" not in out
        assert "PROTOCOL_VIOLATION" in out
    report = tmp_path / "report.html"
    result = CliRunner().invoke(main, ["report", "-o", str(report), str(hostile_close)])
    assert result.exit_code == 0, result.output
    html = report.read_text()
    assert "<script>window" not in html  # the phrase never reaches the markup as markup
    details = _details(html)
    labels = [label for d in details for label in d["ladder"]]
    assert any("CONNECTION_CLOSE PROTOCOL_VIOLATION (0xa)" in label for label in labels)


def _block(html: str, name: str) -> Any:
    found = re.search(rf'<script type="application/json" id="tlslens-{name}">(.*?)</script>', html)
    assert found is not None
    return json.loads(found.group(1))


def _unpack(text: str) -> Any:
    return json.loads(gzip.decompress(base64.b64decode(text)))


def _details(html: str) -> list[dict[str, Any]]:
    """The connections' ladders of a report page, unpacked as its script unpacks them:
    labels resolved through the shared table of strings."""
    strings = _unpack(_block(html, "shared"))["strings"]
    out = []
    for chunk in _block(html, "chunks"):
        for rows in _unpack(chunk)["ladder"]:
            out.append({"ladder": [strings[a[4]] for a in rows]})
    return out


def test_the_report_draws_quic_arrows_and_shows_a_hostile_phrase_as_text(
    hostile_close: Path,
    tmp_path: Path,
    browser: Any,  # noqa: F811 (test_report's fixture)
) -> None:
    """In the browser: the QUIC ladder's datagram and packet arrows are drawn, clicking
    each runs no captured text, and the reason phrase reads as the text it is."""
    report = tmp_path / "report.html"
    args = ["report", "-o", str(report), str(hostile_close), str(QUIC), "--keylog", str(KEYS)]
    assert CliRunner().invoke(main, args).exit_code == 0
    page = Page(browser, report)
    p = page.page
    page.click_every_arrow()
    assert "<script>window.__tlslens_pwned=1</script>" in (p.text_content("body") or "")
    assert p.evaluate("window.__tlslens_pwned") is None
    p.goto(page.url + "#connection-" + quote(str(QUIC), safe="") + "-3")  # after a Retry
    p.wait_for_selector("body[data-ready='1']")
    p.wait_for_function(f"document.getElementById('detail').dataset.id === '{QUIC}#3'")
    labels = p.locator("#ladder .arrow text:not(.time)").all_text_contents()
    assert "Retry: integrity tag verified, a token of 61 bytes" in labels
    assert "datagram: Initial + Handshake, 1200 bytes" in labels
    assert p.locator("#ladder .arrow.message").count() >= 4  # coalesced packets, stacked
    page.clean()


def _server_to_client(frame: bytes) -> bytes:
    """``frame`` sent back: IPv4 addresses and UDP ports swapped."""
    ip, udp = bytearray(frame[14:34]), bytearray(frame[34:42])
    ip[12:16], ip[16:20] = ip[16:20], ip[12:16]
    udp[0:2], udp[2:4] = udp[2:4], udp[0:2]
    return frame[:14] + bytes(ip) + bytes(udp) + frame[42:]


@pytest.fixture(scope="module")
def version_negotiation(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real aioquic client's first Initial, then a server's Version Negotiation packet
    (RFC 9000 §17.2.1: its Connection IDs echo the client's) offering v2 and a GREASE
    version."""
    from aioquic.quic.configuration import QuicConfiguration
    from aioquic.quic.connection import QuicConnection

    client = QuicConnection(configuration=QuicConfiguration(is_client=True, alpn_protocols=["h3"]))
    client.connect(("127.0.0.1", 443), now=1.0)
    (initial,) = [data for data, _addr in client.datagrams_to_send(now=1.0)]
    dcil = initial[5]
    dcid, scid = initial[6 : 6 + dcil], initial[7 + dcil : 7 + dcil + initial[6 + dcil]]
    packet = (
        bytes([0x80 | 0x2A])  # long header, the other bits unused
        + b"\0\0\0\0"  # version 0: Version Negotiation
        + bytes([len(scid)])
        + scid
        + bytes([len(dcid)])
        + dcid
        + struct.pack(">II", 0x6B3343CF, 0x1A2A3A4A)  # QUIC v2, a GREASE version
    )
    _ts, _lt, template = read_frames(QUIC)[0]
    path = tmp_path_factory.mktemp("vn") / "vn.pcapng"
    with path.open("wb") as f:
        writer = PcapngWriter(f)
        writer.add_interface(1)
        writer.add_packet(1_700_000_000_000_000_000, _udp_frame(template, initial, 50001))
        answer = _server_to_client(_udp_frame(template, packet, 50001))
        writer.add_packet(1_700_000_000_001_000_000, answer)
    return path


def test_version_negotiation_is_listed_and_drawn(tshark: str, version_negotiation: Path) -> None:
    (row,) = _rows(str(version_negotiation))
    assert our_packets(row) == tshark_packets(version_negotiation, [])[0]
    assert our_packets(row)[-1] == (2, "Version Negotiation", None, [])
    conn = next(iter(tlslens.read_capture(version_negotiation, records=True)))
    assert [(a.kind, a.direction, a.frame, a.label) for a in ladder(conn)][-1] == (
        "record",
        "s2c",
        2,
        "Version Negotiation: the server offers QUIC v2, reserved (GREASE) version 0x1a2a3a4a",
    )
    text = CliRunner().invoke(main, ["show", "--records", str(version_negotiation)]).output
    assert (
        "  #2      C ← S  Version Negotiation\n      Version Negotiation: versions offered QUIC v2"
        in text
    )


def test_dtls_retransmissions_are_drawn_where_tshark_sees_them(tshark: str, corpus: Path) -> None:
    """Zeek's DTLS 1.3 capture: clients resend their ClientHello unanswered. Each datagram
    that repeats a message (tshark: the same message_seq and fragment offset one way
    again) gets a "… again (retransmission)" arrow under its record, and no other does."""
    path = corpus / "zeek" / "dtls13-cid.pcap"
    cmd = ["tshark", "-n", "-r", str(path), "-Y", "dtls.handshake", "-T", "fields"]
    for name in ("frame.number", "udp.stream", "udp.srcport", "dtls.handshake.message_seq"):
        cmd += ["-e", name]
    cmd += ["-e", "dtls.handshake.fragment_offset", "-E", "occurrence=f"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout
    seen: set[tuple[str, ...]] = set()
    theirs = []
    for line in out.splitlines():
        frame, *key = line.split("\t")
        if tuple(key) in seen:
            theirs.append(int(frame))
        seen.add(tuple(key))
    ours = [
        arrow.frame
        for conn in tlslens.read_capture(path, records=True)
        for arrow in ladder(conn)
        if arrow.label == "ClientHello again (retransmission)"
    ]
    assert ours == theirs == [2, 3, 20, 21, 22, 24, 25]
