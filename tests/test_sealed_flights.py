"""TLS 1.3 without keys: what the statistics say of records the wire calls application data.

The server's EncryptedExtensions ... Finished and the client's Finished travel in records
of outer type 23 (application_data), as the data does: tshark without keys lists them all
as "Application Data", and with the key log as the handshake messages they are. tlslens
tells them as the encrypted handshake in the timeline; its statistics
(`bytes.*.application_data_*`) count as application data only the records after them, so
a handshake the client abandoned after the server's flight exchanged no application data,
with keys or without. And a direction with no plaintext has no plaintext digest
(`decryption.plaintext_sha256` null, not the SHA-256 of nothing, e3b0c442...).
"""

from __future__ import annotations

import json
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest
from click.testing import CliRunner

import tlslens
from tlslens.cli import main
from tlslens.events import ApplicationDataEvent, EarlyDataEvent, EncryptedHandshakeEvent
from tlslens.model import C2S, S2C, Connection

import adversarial
from _tshark import strip_secrets
from conftest import CAPTURES, CORPUS
from corpus_digests import _cwd

DEMO = CAPTURES / "demo-tls12-tls13.pcapng"
ABORTED = CAPTURES / "aborted.pcapng"
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

# (direction, TCP stream) -> each TLS record tshark saw: (outer type, type inside, length);
# the type inside is the outer one for a record in the clear, None for one left sealed.
Records = dict[tuple[str, int], list[tuple[int, int | None, int]]]


def _show_json(*args: str) -> list[dict]:  # type: ignore[type-arg]
    result = CliRunner().invoke(main, ["show", "--json", *args], env={"SSLKEYLOGFILE": None})
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def _app_data(row: dict, direction: str) -> tuple[int, int]:  # type: ignore[type-arg]
    stats = row["bytes"][direction]
    return stats["application_data_records"], stats["application_data_bytes"]


def _each(value: object) -> list:  # type: ignore[type-arg]
    """tshark's JSON holds one of a kind as itself, several as a list."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _tshark_records(tshark: str, path: Path, options: list[str], cwd: Path) -> Records:
    """Each TLS record tshark dissects, in order, by the port that sent it and its TCP
    stream: its outer type (``opaque_type`` for a protected one) and, opened or in the
    clear, the type inside (``content_type``)."""
    command = [tshark, "-r", str(path), *options, "-Y", "tls", "-T", "json"]
    command += ["-J", "tcp tls", "--no-duplicate-keys"]
    out = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=True).stdout
    records: Records = defaultdict(list)
    for packet in json.loads(out):
        layers = packet["_source"]["layers"]
        key = (layers["tcp"]["tcp.srcport"], int(layers["tcp"]["tcp.stream"]))
        for tls in _each(layers.get("tls")):
            for record in _each(tls.get("tls.record") if isinstance(tls, dict) else None):
                inner = record.get("tls.record.content_type")
                outer = record.get("tls.record.opaque_type", inner)
                if outer is None or "tls.record.length" not in record:
                    continue  # not a record header (a continuation)
                opened = None if inner is None else int(inner)
                records[key].append((int(outer), opened, int(record["tls.record.length"])))
    return records


def _sealed(conn: Connection, direction: str) -> list[int]:
    """The lengths of the records the timeline tells as the encrypted handshake."""
    return [
        e.length
        for e in conn.timeline
        if type(e) is EncryptedHandshakeEvent and e.direction == direction
    ]


def _early_records(conn: Connection, direction: str) -> int:
    """The records the timeline tells as 0-RTT early data."""
    return sum(
        e.records for e in conn.timeline if type(e) is EarlyDataEvent and e.direction == direction
    )


def test_the_demos_tls13_flights_are_not_its_application_data() -> None:
    """The `make demo` sample without keys: the server's four records after its ServerHello
    (23 + 1,233 + 281 + 69 bytes, EncryptedExtensions ... Finished to tshark with the key
    log) and the client's Finished (69) were 8 and 3 records of application data; now the
    records the timeline calls application data (4 records, 5,835 bytes; 99 + 19 bytes)."""
    tls13, tls12 = _show_json(str(DEMO))
    assert tls13["version"] == "TLS 1.3" and tls12["version"] == "TLS 1.2"
    assert _app_data(tls13, "s2c") == (4, 5835)
    assert _app_data(tls13, "c2s") == (2, 118)
    # TLS 1.2 sends its Finished in handshake records: as before.
    assert _app_data(tls12, "s2c") == (1, 5169) and _app_data(tls12, "c2s") == (1, 106)
    keyed = _show_json(str(DEMO), "--keylog", str(DEMO.with_suffix(".keys")))[0]
    # With the key log: the GET (82 bytes) and the response (5,299); the rest is the
    # handshake, two NewSessionTickets and close_notify, which no key-less count can tell.
    assert _app_data(keyed, "c2s") == (1, 82) and _app_data(keyed, "s2c") == (1, 5299)


def test_a_tls13_handshake_the_client_aborted_exchanged_no_application_data() -> None:
    """aborted.pcapng: each TLS 1.3 client that refused the server's certificate after the
    server's encrypted flight. The key log shows no application data either way; without
    it the server's four flight records (1,128 to 1,632 bytes) were application data."""
    plain = _show_json(str(ABORTED))
    keyed = _show_json(str(ABORTED), "--keylog", str(ABORTED.with_suffix(".keys")))
    aborted = 0
    for without, with_keys in zip(plain, keyed, strict=True):
        plaintext = with_keys["decryption"]["plaintext_bytes"]
        if without["version"] != "TLS 1.3" or any(plaintext.values()):
            continue
        aborted += 1
        assert without["outcome"]["status"] == "failed"
        encrypted = [m for m in without["handshake"] if m["type"] == "encrypted"]
        assert any(m["direction"] == "s2c" for m in encrypted)  # the server's flight
        for direction in ("c2s", "s2c"):
            assert _app_data(without, direction) == (0, 0) == _app_data(with_keys, direction)
    # The four certificate cases (expired, missing intermediate, unknown CA, wrong name) x
    # the three clients; with no shared cipher there is no flight, and the clients without
    # the certificate asked for sent data.
    assert aborted == 12


def test_a_direction_without_plaintext_has_no_plaintext_digest() -> None:
    """With the key log, a direction with no application data plaintext (the aborted
    handshakes' both, the TLS 1.2 ones' the key log lacks) has a null plaintext_sha256: it
    was the SHA-256 of nothing, which reads as a digest of data that was there."""
    rows = _show_json(str(ABORTED), "--keylog", str(ABORTED.with_suffix(".keys")))
    rows += _show_json(str(DEMO), "--keylog", str(DEMO.with_suffix(".keys")))
    empty = 0
    for row in rows:
        decryption = row["decryption"]
        for direction in ("c2s", "s2c"):
            digest = decryption["plaintext_sha256"][direction]
            assert digest != EMPTY_SHA256
            if decryption["plaintext_bytes"][direction] == 0:
                empty += 1
                assert digest is None
            else:
                assert digest is not None and len(digest) == 64
    assert empty >= 70


def test_a_record_too_short_for_a_handshake_message_is_not_called_one() -> None:
    """aborted.pcapng #2: GnuTLS refuses the expired certificate with its fatal alert under
    the handshake key, 19 bytes (2 + 1 + the 16-byte tag). The timeline titled it
    "Encrypted handshake record (19 bytes)"; its type is hidden, and no handshake message
    fits in it. With the key log it is the alert (bad_certificate)."""
    args = ["show", str(ABORTED)]
    text = CliRunner().invoke(main, args, env={"SSLKEYLOGFILE": None}).output
    second = text.split("── Connection 2 ")[1].split("── Connection 3 ")[0]
    assert "Encrypted handshake record (19 bytes)" not in second
    assert "#20 10:25:06.598 C → S Encrypted record, content type hidden (19 bytes)" in second
    assert "too few for a handshake message, whose header alone is 4 bytes (21 bytes" in second
    keys = ["--keylog", str(ABORTED.with_suffix(".keys"))]
    keyed = CliRunner().invoke(main, [*args, *keys], env={"SSLKEYLOGFILE": None}).output
    second = keyed.split("── Connection 2 ")[1].split("── Connection 3 ")[0]
    assert "#20 10:25:06.598 C → S Alert (fatal): bad_certificate" in second


def _keylogged_tls13() -> list[tuple[str, Path, Path, list[str], Path]]:
    """(name, capture, key log, tshark's options without keys, where to run) of each TLS 1.3
    capture with a key log: the project's own, and the shared corpus's (one case saying it
    is missing when it is not there)."""
    cases = [
        (path.name, path, path.with_suffix(".keys"), [], CAPTURES)
        for path in sorted(CAPTURES.glob("*.pcap*"))
        if path.with_suffix(".keys").exists() and path.name != "chains.pcapng"  # TLS 1.2 only
    ]
    truth = CORPUS / "ground_truth.json"
    if not truth.exists():
        return [*cases, ("<corpus missing>", CORPUS, CORPUS, [], CORPUS)]
    for name, info in sorted(json.loads(truth.read_text())["captures"].items()):
        opts = [str(o) for o in info.get("tshark_opts", [])]
        keylog = [o.split(":", 1)[1] for o in opts if o.startswith("tls.keylog_file:")]
        tls13 = any(h.get("version") == "TLS1.3" for h in info.get("server_hellos", []))
        if info.get("proto") == "tls" and keylog and tls13:
            base = CORPUS / info.get("run_from", ".")
            keyless = [str(o) for o in info.get("tshark_opts_without_keys", [])]
            cases.append((name, CORPUS / name, base / keylog[0], keyless, base))
    return cases


@pytest.mark.parametrize(
    ("name", "path", "keylog", "options", "cwd"),
    _keylogged_tls13(),
    ids=[case[0] for case in _keylogged_tls13()],
)
def test_without_keys_tls13_application_data_is_the_wires_less_the_sealed_handshake(
    name: str,
    path: Path,
    keylog: Path,
    options: list[str],
    cwd: Path,
    tshark: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    """tshark without keys calls every protected record Application Data; tlslens counts
    those less the ones its timeline tells as the encrypted handshake: each side's first
    protected records, which tshark with the key log opens as the handshake (or an alert
    that ends it). The client's flight is all of its handshake records: with a client
    certificate (openssl-hrr-clientauth #1) its CertificateVerify (96 bytes) and Finished
    (69) were counted as application data. tls13-rfc8446's resumption has its server answer
    the client's 0-RTT request before the client's Finished: that answer (135 bytes) and
    the tickets before it (397) were taken for the server's flight (a PSK server's is
    EncryptedExtensions and Finished, here the first record alone)."""
    if path.is_relative_to(CORPUS):
        request.getfixturevalue("corpus")  # missing: a skip, or in CI a failure
    _agrees_with_tshark(name, path, keylog, options, cwd, tshark, tmp_path)


def _agrees_with_tshark(
    name: str, path: Path, keylog: Path, options: list[str], cwd: Path, tshark: str, tmp_path: Path
) -> None:
    """The test above's checks, for one capture."""
    keys = ["-o", f"tls.keylog_file:{keylog}"]
    wire = _tshark_records(tshark, strip_secrets(path, tmp_path), options, cwd)
    opened = _tshark_records(tshark, path, [*options, *keys], cwd)
    with _cwd(cwd):
        connections = list(tlslens.read_capture(path))
    connections = [c for c in connections if c.tls13 and c.dtls is None and c.quic is None]
    assert connections, f"{name}: no TLS 1.3 connection over TCP"
    half_rtt = []
    for conn in connections:
        for direction in (C2S, S2C):
            port = str((conn.client if direction == C2S else conn.server).port)
            where = f"{name} #{conn.id} {direction}"
            key = (port, conn.tcp_stream)
            protected = [size for outer, _, size in wire[key] if outer == 23]
            sealed = _sealed(conn, direction)
            stats = conn.stats[direction]
            assert stats.application_data_records == len(protected) - len(sealed), where
            assert stats.application_data_bytes == sum(protected) - sum(sealed), where
            inside = [(inner, size) for outer, inner, size in opened[key] if outer == 23]
            del inside[: _early_records(conn, direction)]  # 0-RTT data, before the hellos
            assert [size for _, size in inside[: len(sealed)]] == sealed, where
            half_rtt += [where for inner, _ in inside[: len(sealed)] if inner not in (21, 22)]
            if direction == C2S:
                # Its whole flight: what follows is no handshake message of the client's.
                assert [inner for inner, _ in inside[len(sealed) :]][:1] != [22], where
    assert half_rtt == []


def test_dtls13s_application_epoch_is_not_its_encrypted_handshake(
    tshark: str, tmp_path: Path
) -> None:
    """udp/dtls13.pcapng without its secrets: the encrypted handshake is epoch 2's records
    (RFC 9147 §6.1), the server's flight and the client's Finished. The first records of
    the application epoch were told as the handshake too, as TLS 1.3's over TCP would be:
    the server's ACK and the client's "hello wolfssl!" (14 bytes, as the key log opens
    it) read "Encrypted handshake record (31 bytes)"."""
    path = strip_secrets(CAPTURES / "udp" / "dtls13.pcapng", tmp_path)
    for conn in tlslens.read_capture(path):
        assert conn.dtls is not None and conn.decryption is None
        sealed = [e.direction for e in conn.timeline if type(e) is EncryptedHandshakeEvent]
        # The server's flight (the third connection's certificate in 295-byte fragments),
        # then the client's Finished: nothing after it.
        assert sealed[-1] == C2S and set(sealed[:-1]) == {S2C}, conn.id
        data = [e for e in conn.timeline if type(e) is ApplicationDataEvent]
        assert [(e.direction, e.length) for e in data[:2]] == [(S2C, 35), (C2S, 31)]
        # The statistics counted the application epoch's records all along.
        stats = conn.stats
        assert (stats[C2S].application_data_records, stats[C2S].application_data_bytes) == (2, 50)
        assert (stats[S2C].application_data_records, stats[S2C].application_data_bytes) == (3, 93)


def test_early_data_captured_after_the_server_hello_is_early_data() -> None:
    """early-data.pcapng #2: the client resumes and sends 200 kB of 0-RTT data in 25
    records of 8,209 bytes (the last 3,436); 11 of them are captured after the ServerHello
    and the server's flight (EncryptedExtensions 27, Finished 69), before the client's
    EndOfEarlyData (21) and Finished (69). Without keys those 11 were the client's
    "Encrypted handshake record (8209 bytes)", out of its application data (16 records);
    now they are early data, as the key log opens them (CLIENT_EARLY_TRAFFIC_SECRET)."""
    path = CAPTURES / "early-data.pcapng"
    conn = list(tlslens.read_capture(path))[-1]
    assert conn.tls13 and conn.resumed
    assert _early_records(conn, C2S) == 25
    assert _sealed(conn, C2S) == [21, 69] and _sealed(conn, S2C) == [27, 69]
    early = [e for e in conn.timeline if type(e) is EarlyDataEvent]
    assert [e.records for e in early] == [14, 11]
    without = _show_json(str(path))[-1]
    keyed = _show_json(str(path), "--keylog", str(path.with_suffix(".keys")))[-1]
    # The 25 early records and the client's "hello\n" (6 bytes) with the key log; without
    # it its close_notify (19 bytes) too, which no key-less count tells from data.
    assert _app_data(keyed, "c2s") == (26, 200_033)
    assert _app_data(without, "c2s") == (27, 14 * 8209 + 10 * 8209 + 3436 + 23 + 19)


def test_a_server_record_within_the_clients_certificate_flight_does_not_end_it(
    tshark: str, tmp_path: Path
) -> None:
    """openssl-hrr-clientauth.pcapng #1 rebuilt from its own bytes (tools/adversarial.py)
    with the server's NewSessionTicket (746 bytes) captured between the client's
    Certificate (998) and its CertificateVerify (96) and Finished (69), as a server's
    0.5-RTT data would be. The server's record ended the client's flight: its
    CertificateVerify and Finished were application data (4 records, 219 bytes); now they
    are its flight, and its application data is its request (35) and close_notify (19)."""
    path = tmp_path / "interleaved.pcapng"
    source = CAPTURES / "openssl-hrr-clientauth.pcapng"
    adversarial.server_record_within_client_flight(source, path)
    conn = next(iter(tlslens.read_capture(path)))
    assert _sealed(conn, C2S) == [998, 96, 69]
    assert _app_data(_show_json(str(path))[0], "c2s") == (2, 54)
    keyed = _show_json(str(path), "--keylog", str(source.with_suffix(".keys")))[0]
    assert _app_data(keyed, "c2s") == (1, 18)  # the request's plaintext
    keylog = source.with_suffix(".keys")
    _agrees_with_tshark(path.name, path, keylog, [], tmp_path, tshark, tmp_path)


def test_the_clients_data_after_its_padded_finished_is_application_data() -> None:
    """openssl-padding.pcapng #1: the client pads its records to 512 bytes of plaintext
    (`s_client -record_padding 512`), so its Finished is 528 bytes, not 69, and its request,
    sent before the server's tickets came, is 528 too. Without keys the request was the
    client's flight ("Encrypted handshake record (528 bytes)", c2s 1 record of application
    data: the close_notify); now the flight is the Finished alone, as the key log opens it.
    #2: the server pads (its flight 528, 1,552, 528, 528): its flight ends where the
    client's begins, as before."""
    path = CAPTURES / "openssl-padding.pcapng"
    client_pads, server_pads = tlslens.read_capture(path)
    assert _sealed(client_pads, C2S) == [528]
    assert _sealed(server_pads, S2C) == [528, 1552, 528, 528] and _sealed(server_pads, C2S) == [69]
    without = _show_json(str(path))
    keyed = _show_json(str(path), "--keylog", str(path.with_suffix(".keys")))
    # The request and the close_notify (528 each); with the key log, the request (18).
    assert _app_data(without[0], "c2s") == (2, 1056) and _app_data(keyed[0], "c2s") == (1, 18)
