"""The line of ``show --json`` written by the compiled core (crates/tlslens-py/src/row/):
the same bytes as ``json.dumps`` of the row as Python built it, read from the hellos, the
timeline and the connection's attributes, hostile values included.

The oracle below is the row as ``serialize.connection_to_json`` built it in Python before
the core wrote the line (its code, over the same objects): what the core reads natively
must come out as Python read it."""

from __future__ import annotations

import json
import struct
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import tlslens
from tlslens import _core, registry
from tlslens._text import iso_time, ts_iso
from tlslens.events import (
    AlertEvent,
    ApplicationDataEvent,
    ChangeCipherSpecEvent,
    EncryptedAlertEvent,
    EncryptedHandshakeEvent,
    GapEvent,
    HandshakeEvent,
    SSLv2EncryptedEvent,
)
from tlslens.handshake import extensions as ext
from tlslens.handshake import messages as hs
from tlslens.keys.files import add_keylog_file
from tlslens.keys.store import KeyStore
from tlslens.model import C2S, S2C, Connection, Endpoint, Finding, Handshake
from tlslens.outcome import outcome_of
from tlslens.serialize import (
    _python_parts,
    connection_line,
    connection_line_bytes,
    connection_to_json,
    decryption_json,
)
from tlslens.tls.proof import SignatureCheck
from tlslens.x509.validate import Problem, Validation

CAPTURES = Path(__file__).parent / "vectors" / "captures"


def _vec(width: int, data: bytes) -> bytes:
    return len(data).to_bytes(width, "big") + data


def _ext(ext_type: int, body: bytes) -> bytes:
    return struct.pack("!H", ext_type) + _vec(2, body)


def _hostile_client_hello() -> hs.ClientHello:
    """A ClientHello with GREASE, unknown and pre-standard code points, a host name that is
    not UTF-8 and ALPN names that are not text."""
    suites = [0x0A0A, 0x1301, 0xFEFE, 0x00FF, 0xC02F]
    extensions = b"".join(
        [
            _ext(0, _vec(2, b"\x00" + _vec(2, "bücher.example\u2028".encode() + b"\xff\xfe"))),
            _ext(16, _vec(2, _vec(1, b"h2") + _vec(1, b'\xff\x00\x7f"\\') + _vec(1, b"x"))),
            _ext(43, _vec(1, struct.pack("!4H", 0x0A0A, 0x0304, 0x7F1C, 0x0303))),
            _ext(10, _vec(2, struct.pack("!5H", 0x1A1A, 0x001D, 0x11EC, 0x9999, 0x0100))),
            _ext(35, b"\x01\x02"),
        ]
    )
    body = (
        b"\x03\x03"
        + bytes(32)
        + _vec(1, b"\x01" * 32)
        + _vec(2, b"".join(struct.pack("!H", s) for s in suites))
        + _vec(1, b"\x00")
        + _vec(2, extensions)
    )
    hello = hs.parse_message(hs.CLIENT_HELLO, body, hs.HandshakeContext())
    assert isinstance(hello, hs.ClientHello)
    return hello


def _old_row(conn: Connection, parts: dict[str, Any]) -> dict[str, Any]:
    """The row as Python built it, for the fields the core now writes."""
    ch = conn.client_hello
    first = conn.hello_retry_request or conn.server_hello
    groups = ext.decoded_in(ch, ext.SUPPORTED_GROUPS, _core.SupportedGroups)
    alpn = ext.decoded_in(ch, ext.ALPN, _core.ProtocolNameList)
    versions = ext.decoded_in(ch, ext.SUPPORTED_VERSIONS, _core.SupportedVersions)
    row: dict[str, Any] = {
        "schema_version": parts["schema_version"],
        "id": conn.id,
        "transport": conn.transport,
        "tcp_stream": conn.tcp_stream,
        "udp_stream": None,
        "file": conn.file,
        "client": str(conn.client),
        "server": str(conn.server),
        "first_frame": conn.first_frame,
        "last_frame": conn.last_frame,
        "start_time": ts_iso(conn.start_ts_ns),
        "end_time": ts_iso(conn.end_ts_ns) if conn.end_ts_ns else None,
        "starttls": None,
        "sni": ch.server_name if ch else None,
        "alpn_offered": list(alpn.protocols) if alpn else [],
        "alpn": None,
        "client_versions": [
            registry.version_name(v)
            for v in (versions.versions if versions else [ch.legacy_version] if ch else [])
            if not registry.is_grease(v)
        ],
        "groups_offered": [
            registry.group_name(g)
            for g in (groups.groups if groups else [])
            if not registry.is_grease(g)
        ],
        "version": None,
        "version_id": None,
        "cipher_suites_offered": [registry.cipher_suite_label(s) for s in ch.cipher_suites]
        if ch
        else [],
        "ja3": _core.ja3(ch) if ch else None,
        "ja3s": _core.ja3s(first) if first else None,
        "ja4": _core.ja4(ch, conn.transport) if ch else None,
        "cipher_suite": None,
        "cipher_suite_id": None,
        "key_exchange": None,
        "authentication": None,
        "group": None,
        "forward_secrecy": None,
        "resumed": None,
        "resumed_from": conn.resumed_from,
        "session_ticket": {
            "offered": ext.decoded_in(ch, ext.SESSION_TICKET, _core.SessionTicket) is not None,
            "issued": conn.new_session_ticket,
        },
        "ocsp_stapled": conn.ocsp_stapled,
        "client_auth": conn.client_auth,
        "hello_retry_request": False,
        "renegotiation": conn.renegotiation,
        "handshakes": [
            {
                "version": registry.version_name(h.version) if h.version is not None else None,
                "cipher_suite": (
                    registry.cipher_suite_name(h.cipher_suite)
                    if h.cipher_suite is not None
                    else None
                ),
                "key_exchange": h.key_exchange,
                "certificates": [cert.to_json() for cert in h.certificates],
                "first_frame": h.first_frame,
            }
            for h in conn.handshakes
        ],
        "handshake": [
            {
                "frame": e.frame,
                "direction": e.direction,
                "type": registry.handshake_name(e.message.msg_type),
            }
            for e in conn.handshake_events
            if isinstance(e, HandshakeEvent)
        ],
        "certificates": [cert.to_json() for cert in conn.certificates],
        "compressed_certificates": [],
        "handshake_signatures": [_old_signature(check) for check in conn.handshake_signatures],
        "alerts": [_old_alert(e) for e in conn.alerts],
        "bytes": {
            d: {
                "total": s.bytes,
                "records": s.records,
                "application_data_records": s.application_data_records,
                "application_data_bytes": s.application_data_bytes,
                "gaps": s.gaps,
                "gap_bytes": s.gap_bytes,
            }
            for d, s in conn.stats.items()
        },
        "closed_by": conn.closed_by,
        "outcome": _old_outcome(conn),
        "timing": {
            "tcp_handshake_ms": None,
            "client_hello_to_server_hello_ms": None,
            "handshake_ms": None,
        },
        "decryption": parts.get("decryption", _OLD_NOT_ATTEMPTED),
        "validation": _old_validation(conn.validation),
        "problems": [_old_finding(finding) for finding in conn.problems],
    }
    return row


# A connection read without secrets, as serialize.py wrote it.
_OLD_NOT_ATTEMPTED: dict[str, Any] = {
    "status": "not_attempted",
    "source": None,
    "reason": None,
    "finished_verified": {"c2s": None, "s2c": None},
    "records_decrypted": {"c2s": 0, "s2c": 0},
    "records_failed_integrity": {"c2s": 0, "s2c": 0},
    "plaintext_bytes": {"c2s": 0, "s2c": 0},
    "plaintext_sha256": {"c2s": None, "s2c": None},
    "opened": {
        "handshake": {"c2s": False, "s2c": False},
        "application_data": {"c2s": False, "s2c": False},
        "early_data": False,
    },
    "missing_secrets": [],
}


def _old_finding(finding: Finding) -> dict[str, Any]:
    made: dict[str, Any] = {
        "frame": finding.frame,
        "direction": finding.direction,
        "layer": finding.layer,
        "offset": finding.offset,
        "message": finding.message,
    }
    if finding.code is not None:
        made["code"] = finding.code
    return made


def _old_signature(check: SignatureCheck) -> dict[str, Any]:
    return {
        "message": check.message,
        "direction": check.direction,
        "scheme": check.scheme,
        "verified": check.verified,
        "reason": check.reason,
    }


def _old_validation(verdict: Validation | None) -> dict[str, Any] | None:
    if verdict is None:
        return None
    return {
        "trusted": verdict.trusted,
        "problems": [{"code": p.code, "message": p.message} for p in verdict.problems],
        "path": list(verdict.path_digests()),
        "checked_at": iso_time(verdict.checked_at),
        "hostname": verdict.hostname,
        "trust_store": verdict.trust_store,
        "ocsp": verdict.ocsp.to_json() if verdict.ocsp is not None else None,
        "revocation": (
            [r.to_json() for r in verdict.revocation] if verdict.revocation is not None else None
        ),
    }


def _old_outcome(conn: Connection) -> dict[str, Any]:
    outcome = outcome_of(conn)
    return {
        "status": outcome.status,
        "by": outcome.by,
        "alert": outcome.alert,
        "reason": outcome.reason,
    }


def _old_alert(event: AlertEvent | EncryptedAlertEvent) -> dict[str, Any]:
    if isinstance(event, EncryptedAlertEvent):
        return {
            "frame": event.frame,
            "direction": event.direction,
            "level": None,
            "description": "encrypted",
        }
    level = {1: "warning", 2: "fatal"}.get(event.level, f"unknown ({event.level})")
    return {
        "frame": event.frame,
        "direction": event.direction,
        "level": level,
        "description": registry.alert_name(event.description),
    }


def _hostile_connection() -> Connection:
    hello = _hostile_client_hello()
    conn = Connection(
        id=2**70,  # beyond 64 bits: written as Python writes an int
        tcp_stream=3,
        client=Endpoint(bytes([10, 0, 0, 1]), 50000),
        server=Endpoint(bytes(15) + b"\x01", 443),
        first_frame=1,
        start_ts_ns=-1,  # before the epoch: a clock that lies
        file="capture-\udcff\u2028.pcap",  # a file name that is not UTF-8 (surrogateescape)
        last_frame=2**64 + 7,
    )
    conn.client_hellos.append(hello)
    conn.handshakes.append(Handshake(first_frame=2**65, client_hello_frame=1))
    conn.timeline += [
        HandshakeEvent(1, 5, C2S, 0, 100, 1, 1, message=hello),
        AlertEvent(2, 6, S2C, 0, 2, 2, 1, 7, 250),  # an unknown level and description
        AlertEvent(3, 7, S2C, 0, 2, 3, 1, 2**80, 40),
        EncryptedAlertEvent(4, 8, C2S, 2, 2, 4, 1),
    ]
    conn.stats[C2S].bytes = 2**64 - 1  # the most a count holds
    conn.problems.append(Finding(1, C2S, "handshake", 2**66, "lone \ud800 and \x00\x7f\u2028", "x"))
    conn.problems.append(Finding(None, None, "capture", None, "no code"))
    conn.handshake_signatures.append(
        SignatureCheck("certificate_verify", S2C, "x\udcff", None, "\u2028\x00", 2**70)
    )
    conn.validation = Validation(
        trusted=False,
        checked_at=datetime(1, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
        hostname="bücher\ud800.example",
        trust_store="\x1b[31mstore",
        problems=[Problem("expired", "lone \udcff"), Problem("x" * 300, "")],
        path_sha256=("ab" * 32, "\u2028"),
    )
    return conn


def test_a_hostile_hello_gives_the_line_python_wrote() -> None:
    conn = _hostile_connection()
    parts = _python_parts(conn, False)
    parts["dtls"] = {"status": "nan", "detail": float("nan"), "huge": -(2**90)}
    line = _core.connection_line(conn, parts)
    old = _old_row(conn, parts) | {"dtls": parts["dtls"]}
    assert line == json.dumps(old)
    # The dict is made by the same writer: the same values in the same key order.
    made = _core.connection_row(conn, parts)
    assert made == old and list(made) == list(old)
    assert made["dtls"] is parts["dtls"]  # Python's parts as given, not copied
    for key in ("validation", "problems", "handshake_signatures"):
        assert list(json.loads(json.dumps(made[key]))) == list(old[key]), key
    assert line.isascii()
    row = json.loads(line)
    assert row["id"] == 2**70 and row["file"] == "capture-\udcff\u2028.pcap"
    assert row["client_versions"] == ["TLS 1.3", "TLS 1.3 (draft 28)", "TLS 1.2"]
    assert row["groups_offered"] == ["x25519", "X25519MLKEM768", "unknown (0x9999)", "ffdhe2048"]
    assert row["cipher_suites_offered"][0] == "GREASE (0x0a0a)"
    assert row["alerts"][0]["level"] == "unknown (7)"
    assert row["start_time"] == "1969-12-31T23:59:59.999999Z"


# RFC 8446 §4.1.3: the random of a ServerHello that is a HelloRetryRequest.
_HRR_RANDOM = bytes.fromhex("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")


def _server_hello(random: bytes) -> hs.ServerHello:
    body = (
        b"\x03\x03"  # legacy_version
        + random
        + _vec(1, b"")  # legacy_session_id_echo
        + b"\xc0\x2f"  # cipher_suite
        + b"\x00"  # legacy_compression_method
    )
    hello = hs.parse_message(hs.SERVER_HELLO, body, hs.HandshakeContext())
    assert isinstance(hello, hs.ServerHello)
    return hello


def _every_event_class() -> Connection:
    """A TLS 1.2 handshake with an event of every class the row's walks tell apart, and a
    message of every class they tell apart (times in ms: the hello at 1, its answer at 5,
    the client's Finished sealed at 6, the server's read at 7.5)."""
    ctx = hs.HandshakeContext()
    hello = _hostile_client_hello()
    retry, answer = _server_hello(_HRR_RANDOM), _server_hello(bytes(32))
    packed = hs.parse_message(
        hs.COMPRESSED_CERTIFICATE, b"\x00\x01\x00\x00\x10" + _vec(3, b"abc"), ctx
    )
    done = hs.parse_message(hs.SERVER_HELLO_DONE, b"", ctx)
    finished = hs.parse_message(hs.FINISHED, bytes(12), ctx)
    conn = Connection(
        id=1,
        tcp_stream=0,
        client=Endpoint(bytes([10, 0, 0, 1]), 50000),
        server=Endpoint(bytes([10, 0, 0, 2]), 443),
        first_frame=1,
        start_ts_ns=1_000_000,
    )
    conn.client_hellos += [hello, hello]
    conn.hello_retry_request, conn.server_hello = retry, answer
    ms = 1_000_000
    conn.timeline += [
        HandshakeEvent(1, 1 * ms, C2S, 0, 100, 1, 1, message=hello),
        HandshakeEvent(2, 2 * ms, S2C, 0, 50, 2, 1, message=retry),
        HandshakeEvent(3, 3 * ms, C2S, 100, 100, 3, 1, message=hello),
        HandshakeEvent(4, 5 * ms, S2C, 50, 50, 4, 1, message=answer),
        HandshakeEvent(4, 5 * ms, S2C, 100, 12, 4, 1, message=packed),
        HandshakeEvent(4, 5 * ms, S2C, 112, 4, 4, 1, message=done),
        ChangeCipherSpecEvent(5, 6 * ms, C2S, 200, 1, 5, 1),
        EncryptedHandshakeEvent(5, 6 * ms, C2S, 206, 40, 5, 1),
        ChangeCipherSpecEvent(6, 7 * ms, S2C, 116, 1, 6, 1),
        HandshakeEvent(6, 7_500_000, S2C, 122, 16, 6, 1, message=finished, decrypted=True),
        ApplicationDataEvent(7, 8 * ms, C2S, 246, 30, 7, 1),
        AlertEvent(8, 9 * ms, S2C, 160, 2, 8, 1, 1, 0),
        EncryptedAlertEvent(9, 10 * ms, C2S, 276, 26, 9, 1),
        SSLv2EncryptedEvent(10, 11 * ms, C2S, 302, 10, 10, 1),
        GapEvent(11, 12 * ms, S2C, 186, 10, 11, 1),
    ]
    return conn


def test_the_row_tells_every_event_and_message_class_apart() -> None:
    conn = _every_event_class()
    row = json.loads(_core.connection_line(conn, _python_parts(conn, False)))
    steps = [(s["frame"], s["direction"], s["type"]) for s in row["handshake"]]
    assert steps == [
        (1, C2S, "client_hello"),
        (2, S2C, "hello_retry_request"),
        (3, C2S, "client_hello"),
        (4, S2C, "server_hello"),
        (4, S2C, "compressed_certificate"),
        (4, S2C, "server_hello_done"),
        (5, C2S, "encrypted"),
        (6, S2C, "finished"),
    ]
    assert row["compressed_certificates"] == [
        {
            "frame": 4,
            "direction": S2C,
            "algorithm": "zlib",
            "algorithm_id": 1,
            "compressed_length": 3,
            "uncompressed_length": 16,
            "decompressed": False,
        }
    ]
    assert row["alerts"] == [
        {"frame": 8, "direction": S2C, "level": "warning", "description": "close_notify"},
        {"frame": 9, "direction": C2S, "level": None, "description": "encrypted"},
    ]
    # The retry is not the answer; the client's Finished is its record after its CCS.
    assert row["timing"] == {
        "tcp_handshake_ms": None,
        "client_hello_to_server_hello_ms": 4.0,
        "handshake_ms": 6.5,
    }
    assert row["hello_retry_request"] is True
    assert row["outcome"]["status"] == "completed"
    assert conn.timing == row["timing"]
    # An object that is no event is a TypeError, as it always was, not a crash.
    conn.timeline.append(object())
    with pytest.raises(TypeError):
        _core.connection_line(conn, _python_parts(conn, False))


def test_a_missing_part_is_a_key_error_not_a_crash() -> None:
    conn = _hostile_connection()
    parts = _python_parts(conn, False)
    del parts["schema_version"]
    with pytest.raises(KeyError, match="schema_version"):
        _core.connection_line(conn, parts)
    # Without "decryption" the row reads the connection's Decryptor: it has none, and
    # nothing was tried; anything else there is not one.
    parts = _python_parts(conn, False)
    assert "decryption" not in parts
    assert json.loads(_core.connection_line(conn, parts))["decryption"] == _OLD_NOT_ATTEMPTED
    assert decryption_json(conn) == _OLD_NOT_ATTEMPTED
    assert list(decryption_json(conn)) == list(_OLD_NOT_ATTEMPTED)
    conn.decryption = object()  # type: ignore[assignment]
    with pytest.raises(TypeError, match="Decryptor"):
        _core.connection_line(conn, parts)
    conn.decryption = None
    parts = _python_parts(conn, False)
    conn.problems.append(Finding(1, C2S, "tcp", 0, object()))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not JSON serializable"):
        _core.connection_line(conn, parts)
    conn.problems[-1] = object()  # type: ignore[call-overload]
    with pytest.raises(AttributeError, match="frame"):
        _core.connection_line(conn, parts)


@pytest.mark.parametrize(
    "capture",
    [
        "openssl-versions.pcapng",
        "openssl-resumption.pcap",
        "compressed-certificate.pcapng",
        "udp/dtls13.pcapng",
        "udp/quic.pcapng",
    ],
)
def test_every_connection_of_a_capture_reads_back_as_its_line(capture: str) -> None:
    """extract, report and remote read the row the line says (one definition), and the
    model's properties answer as the row does."""
    store = KeyStore()
    add_keylog_file(store, CAPTURES / capture.replace(".pcapng", ".keys").replace(".pcap", ".keys"))
    conns = list(tlslens.read_capture(CAPTURES / capture, keys=store, records=True))
    assert conns
    for conn in conns:
        line = connection_line(conn)
        assert connection_line_bytes(conn) == (line + "\n").encode("ascii")
        row = json.loads(line)
        made = connection_to_json(conn)
        assert json.dumps(made) == line
        assert made == row and list(made) == list(row)
        assert row["timing"] == conn.timing
        assert (row["version_id"], row["cipher_suite_id"]) == (conn.version, conn.cipher_suite)
        assert row["key_exchange"] == conn.key_exchange and row["group"] == conn.group_name
        assert row["resumed"] == conn.resumed and row["session_ticket"] == conn.session_ticket
        assert "records" in row, capture
        got = [(h["version"], h["key_exchange"], h["first_frame"]) for h in row["handshakes"]]
        assert got == [
            (registry.version_name(h.version) if h.version else None, h.key_exchange, h.first_frame)
            for h in conn.handshakes
        ]


# What the Python model concluded for these connections before the row computed it (the
# model's properties now ask the same core functions, so they cannot be the oracle): per
# connection, (version, resumed, key exchange, group, session ticket offered/issued, whether
# the handshake was timed).
CONCLUSIONS = {
    "openssl-resumption.pcap": [
        ("TLS 1.2", None, "ECDHE", "x25519", (False, False), True),
        ("TLS 1.2", "session_id", "ECDHE", None, (False, False), True),
        ("TLS 1.2", None, "ECDHE", "x25519", (True, True), True),
        ("TLS 1.2", "ticket", "ECDHE", None, (True, False), True),
        ("TLS 1.3", None, "ECDHE", "x25519", (True, True), True),
        ("TLS 1.3", "psk", "PSK+ECDHE", "x25519", (True, True), True),
    ],
    "openssl-versions.pcapng": [
        ("TLS 1.0", None, "RSA", None, (True, True), True),
        ("TLS 1.1", None, "RSA", None, (True, True), True),
        ("TLS 1.2", None, "ECDHE", "x25519", (True, True), True),
        ("TLS 1.2", None, "DHE", "DH 2048-bit", (True, True), True),
        ("TLS 1.2", None, "RSA", None, (True, True), True),
        ("TLS 1.3", None, "ECDHE", "x25519", (True, True), True),
    ],
    "openssl-hrr-clientauth.pcapng": [
        ("TLS 1.3", None, "ECDHE", "secp256r1", (True, True), True),
        ("TLS 1.2", None, "ECDHE", "secp256r1", (True, True), True),
        ("TLS 1.2", None, "ECDHE", "secp256r1", (True, False), False),
    ],
    "udp/dtls13.pcapng": [
        ("DTLS 1.3", None, "ECDHE", "secp256r1", (False, False), True),
        ("DTLS 1.3", None, "ECDHE+KEM", "SecP384r1MLKEM1024", (False, False), True),
        ("DTLS 1.3", None, "ECDHE+KEM", "SecP384r1MLKEM1024", (False, False), True),
    ],
}


@pytest.mark.parametrize("capture", sorted(CONCLUSIONS))
def test_the_row_concludes_as_the_model_did(capture: str) -> None:
    store = KeyStore()
    add_keylog_file(store, CAPTURES / capture.replace(".pcapng", ".keys").replace(".pcap", ".keys"))
    rows = [
        json.loads(connection_line(c)) for c in tlslens.read_capture(CAPTURES / capture, keys=store)
    ]
    assert [
        (
            r["version"],
            r["resumed"],
            r["key_exchange"],
            r["group"],
            (r["session_ticket"]["offered"], r["session_ticket"]["issued"]),
            r["timing"]["handshake_ms"] is not None,
        )
        for r in rows
    ] == CONCLUSIONS[capture]


def _old_decryption(conn: Connection, failed: bool, reveal_keys: bool) -> dict[str, Any]:
    """The ``decryption`` object as Python built it before the row read the decryptor."""
    assert conn.decryption is not None
    result = conn.decryption.to_json(failed)
    if reveal_keys:
        result["derived"] = [
            {
                "handshake": number,
                "source": derivation.source,
                "values": [{"name": name, "hex": value.hex()} for name, value in derivation.values],
            }
            for number, derivation in enumerate(conn.decryption.derivations)
            if derivation.values
        ]
    return result


@pytest.mark.parametrize("reveal_keys", [False, True])
@pytest.mark.parametrize(
    "capture", ["demo-tls12-tls13.pcapng", "openssl-resumption.pcap", "aborted.pcapng"]
)
def test_the_row_writes_the_decryptor_it_reads(capture: str, reveal_keys: bool) -> None:
    """Without a "decryption" part the row writes the connection's Decryptor itself (no
    dict of it crosses), as Python wrote it: the outcome's failed handshake (the core's,
    as ``outcome_of`` says it) asks for fewer secrets, and --reveal-keys adds every
    handshake's derived values."""
    store = KeyStore()
    add_keylog_file(store, CAPTURES / capture.replace(".pcapng", ".keys").replace(".pcap", ".keys"))
    conns = list(tlslens.read_capture(CAPTURES / capture, keys=store))
    assert any(c.decryption is not None and c.decryption.status == "decrypted" for c in conns)
    for conn in conns:
        parts = _python_parts(conn, reveal_keys)
        assert "decryption" not in parts
        line = _core.connection_line(conn, parts, reveal_keys=reveal_keys)
        old = _old_decryption(conn, outcome_of(conn).failed_in_handshake, reveal_keys)
        assert json.dumps(json.loads(line)["decryption"]) == json.dumps(old)
        made = _core.connection_row(conn, parts, reveal_keys=reveal_keys)
        assert made["decryption"] == old and list(made["decryption"]) == list(old)
        row = json.loads(connection_line(conn, reveal_keys=reveal_keys))
        assert ("derived" in row["decryption"]) == reveal_keys  # [] where none was derived


def _old_tls13_staple(conn: Connection) -> bytes | None:
    """TLS 1.3's stapled OCSP response as the model's Python walk found it."""
    from tlslens.handshake import compression

    if not conn.certificates:
        return None
    for event in conn.timeline:
        if event.direction != S2C or type(event) is not HandshakeEvent:
            continue
        certificate = compression.certificate_of(event.message)
        if certificate is not None and certificate.certificate_list:
            leaf = certificate.certificate_list[0]
            value = ext.decoded_in(leaf, ext.STATUS_REQUEST, _core.StapledStatus)
            if value is not None:
                return value.ocsp_response
    return None


@pytest.mark.parametrize("keyed", [True, False])
@pytest.mark.parametrize(
    "capture", ["openssl-ocsp.pcapng", "compressed-certificate.pcapng", "openssl-versions.pcapng"]
)
def test_the_row_reads_the_stapled_ocsp_itself(capture: str, keyed: bool) -> None:
    """ocsp_stapled is the core's (the row's and the model's one function): a TLS 1.2
    CertificateStatus, TLS 1.3's response in the leaf's CertificateEntry (read only with
    the key log), None where the server's flight was not read."""
    store = KeyStore()
    if keyed:
        add_keylog_file(store, CAPTURES / capture.replace(".pcapng", ".keys"))
    conns = list(tlslens.read_capture(CAPTURES / capture, keys=store))
    stapled = []
    for conn in conns:
        staple = _core.connection_tls13_stapled_ocsp(conn)
        assert staple == _old_tls13_staple(conn) == conn.tls13_stapled_ocsp
        if conn.certificate_status is not None:
            old: bool | None = True
        elif conn.tls13 and conn.encrypted_extensions is not None:
            old = staple is not None
        else:
            old = None if conn.tls13 or not conn.handshake_visible else False
        assert json.loads(connection_line(conn))["ocsp_stapled"] == old == conn.ocsp_stapled
        stapled.append((conn.tls13, old))
    if capture == "openssl-ocsp.pcapng":  # one TLS 1.2 staple, one TLS 1.3 (keys needed)
        assert stapled == [(False, True), (True, True if keyed else None)]


def _old_client_auth(conn: Connection) -> dict[str, Any]:
    """``client_auth`` as the model's Python built it."""
    from tlslens.model import request_words

    answer: dict[str, Any]
    if conn.tls13 and conn.encrypted_extensions is None:
        answer = {"requested": None, "sent": None}
    elif conn.tls13:
        sent13 = bool(conn.client_certificates) if conn.client_certificates is not None else None
        answer = {
            "requested": conn.certificate_request,
            "sent": sent13 if conn.certificate_request else False,
        }
    else:
        requested = conn.certificate_request if conn.handshake_visible else None
        sent = None
        if conn.client_certificates is not None:
            sent = bool(conn.client_certificates)
        elif requested is False:
            sent = False
        answer = {"requested": requested, "sent": sent}
    request = conn.certificate_request_message
    types, authorities = request_words(request) if request is not None else ([], [])
    answer["certificate_types"] = types
    answer["authorities"] = authorities
    validation = conn.client_validation
    answer["validation"] = validation.to_json() if validation is not None else None
    return answer


@pytest.mark.parametrize("keyed", [True, False])
@pytest.mark.parametrize(
    "capture", ["openssl-hrr-clientauth.pcapng", "openssl-versions.pcapng", "aborted.pcapng"]
)
def test_the_row_reads_client_auth_itself(capture: str, keyed: bool) -> None:
    """client_auth is the core's (the row's and the model's one function), as Python said
    it: TLS 1.3's request is known only with the key log; a TLS 1.2 request is in the clear;
    the request's words and the client chain's verdict come from Python."""
    from tlslens.judge import Judge, Reading, checker_given

    store = KeyStore()
    if keyed:
        add_keylog_file(store, CAPTURES / capture.replace(".pcapng", ".keys"))
    root = CAPTURES.parent / "pki" / "root.pem"
    judge = Judge(checker_given("none", [root], None, None, warn=pytest.fail, client_cas=[root]))
    conns = list(Reading(CAPTURES / capture, judge, keys=store))
    said = []
    for conn in conns:
        old = _old_client_auth(conn)
        made = _core.connection_client_auth(conn)
        assert made == old and list(made) == list(old) == list(conn.client_auth)
        assert json.loads(connection_line(conn))["client_auth"] == old
        said.append((old["requested"], old["sent"], bool(old["authorities"])))
    if capture == "openssl-hrr-clientauth.pcapng":
        assert any(s[0] is True for s in said)
        checked = [c.client_auth["validation"] for c in conns if c.client_validation is not None]
        assert checked and all(v["trusted"] for v in checked)


@pytest.mark.parametrize(
    "at",
    [
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2026, 12, 6, 21, 0, 0, 120, tzinfo=UTC),
        datetime(2026, 12, 6, 21, 0, 0, tzinfo=timezone(timedelta(hours=-5))),
        datetime(2026, 12, 6, 21, 0, 0, 5),  # naive: local time, as astimezone reads it
    ],
)
def test_a_verdict_is_dated_and_written_as_python_wrote_it(at: datetime) -> None:
    """The core writes a UTC verdict's time from its fields, and asks ``iso_time`` for any
    other zone: either way the old text."""
    verdict = Validation(trusted=True, checked_at=at, hostname=None, trust_store="mozilla")
    assert verdict.to_json() == _old_validation(verdict)
    assert list(verdict.to_json()) == list(_old_validation(verdict) or {})


@given(st.datetimes(timezones=st.just(UTC)))
def test_every_utc_time_is_written_as_iso_time_writes_it(at: datetime) -> None:
    verdict = Validation(trusted=False, checked_at=at, hostname="h", trust_store="s")
    assert _core.validation_json(verdict)["checked_at"] == iso_time(at)
