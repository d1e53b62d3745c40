"""The TLS layer, fed stream bytes directly (sans-IO): detection, records, bad input."""

from __future__ import annotations

from tlslens.events import AlertEvent, ApplicationDataEvent
from tlslens.model import Connection, Endpoint
from tlslens.tls.session import TLSSession

from test_handshake import CLIENT_HELLO_BODY

CLIENT = Endpoint(bytes([10, 0, 0, 1]), 50000)
SERVER = Endpoint(bytes([10, 0, 0, 2]), 443)


def _record(ctype: int, body: bytes, version: int = 0x0303) -> bytes:
    return bytes([ctype]) + version.to_bytes(2, "big") + len(body).to_bytes(2, "big") + body


def _handshake(msg_type: int, body: bytes) -> bytes:
    return bytes([msg_type]) + len(body).to_bytes(3, "big") + body


CH_RECORD = _record(22, _handshake(1, CLIENT_HELLO_BODY), 0x0301)


def _session(mid_stream: bool = False) -> TLSSession:
    return TLSSession(
        0, (CLIENT, SERVER), 1, 0, client_side=0 if not mid_stream else None, mid_stream=mid_stream
    )


def _feed(chunks: list[tuple[int, bytes]], mid_stream: bool = False) -> Connection | None:
    session = _session(mid_stream)
    offsets = [0, 0]
    for frame, (side, data) in enumerate(chunks, start=1):
        session.data(side, offsets[side], data, frame, frame * 1000)
        offsets[side] += len(data)
    return session.finish()


def test_client_hello_whole_and_byte_by_byte() -> None:
    whole = _feed([(0, CH_RECORD)])
    bytewise = _feed([(0, CH_RECORD[i : i + 1]) for i in range(len(CH_RECORD))])
    assert whole is not None and bytewise is not None
    assert whole.sni == bytewise.sni == "tlslens.test"
    assert whole.client_versions == [0x0304]


def test_record_header_claiming_16_mb_resynchronises() -> None:
    huge = b"\x16\x03\x03\xff\xff" + b"\x00" * 20
    conn = _feed([(0, CH_RECORD), (1, huge + _record(21, b"\x02\x28"))])
    assert conn is not None
    assert any("claiming 65535 bytes, more than TLS allows" in p.message for p in conn.problems)
    alert = conn.alerts[0]
    assert isinstance(alert, AlertEvent)
    assert (alert.level, alert.description, alert.quic) == (2, 40, False)
    assert alert.direction == "s2c"


def test_handshake_length_larger_than_its_record_stream() -> None:
    lying = _record(22, b"\x02\xff\xff\xff" + b"\x00" * 40)
    conn = _feed([(0, CH_RECORD), (1, lying)])
    assert conn is not None
    assert any(
        "claims 16,777,215 bytes, past --max-message's limit" in p.message for p in conn.problems
    )
    short = _record(22, b"\x02\x00\x10\x00" + b"\x00" * 40)  # claims 4096, has 40
    conn = _feed([(0, CH_RECORD), (1, short)])
    assert conn is not None
    found = [p for p in conn.problems if "claims 4096 bytes, only 40 arrived" in p.message]
    assert found and found[0].offset == 5 and found[0].direction == "s2c"


def test_garbage_on_port_443_is_not_tls() -> None:
    session = _session()
    session.data(0, 0, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * 10, 1, 0)
    session.data(1, 0, b"HTTP/1.1 400 Bad Request\r\n\r\n", 2, 0)
    assert session.finish() is None


def test_starttls_prelude_then_tls() -> None:
    conn = _feed(
        [
            (1, b"220 mail.example ESMTP\r\n"),
            (0, b"EHLO me\r\n"),
            (1, b"250-mail.example\r\n250 STARTTLS\r\n"),
            (0, b"STARTTLS\r\n"),
            (1, b"220 go ahead\r\n"),
            (0, CH_RECORD),
        ]
    )
    assert conn is not None and conn.prelude is not None
    assert conn.prelude.protocol == "SMTP STARTTLS"
    assert conn.prelude.lines[0] == ("s2c", "220 mail.example ESMTP")
    assert conn.sni == "tlslens.test"
    assert conn.timeline[0].offset == len(b"EHLO me\r\nSTARTTLS\r\n") + 5


def test_gap_inside_application_data_does_not_desynchronise() -> None:
    session = _session()
    session.data(0, 0, CH_RECORD, 1, 0)
    app = _record(23, b"\xaa" * 1000)
    session.data(0, len(CH_RECORD), app[:100], 2, 0)
    session.gap(0, len(CH_RECORD) + 100, 500, 3, 0)  # lost inside the record body
    session.data(0, len(CH_RECORD) + 600, app[600:] + _record(21, b"\x01\x00"), 4, 0)
    conn = session.finish()
    assert conn is not None
    assert [e.kind for e in conn.timeline] == ["handshake", "application_data", "gap", "alert"]
    assert not conn.problems


def test_gap_across_record_headers_resynchronises() -> None:
    session = _session()
    session.data(0, 0, CH_RECORD, 1, 0)
    stream = _record(22, b"\x10\x00\x00\x02\x00\x00") + _record(23, b"\xbb" * 300) * 3
    session.data(0, len(CH_RECORD), stream[:20], 2, 0)
    session.gap(0, len(CH_RECORD) + 20, 400, 3, 0)  # swallows the second record's header
    session.data(0, len(CH_RECORD) + 420, stream[420:], 4, 0)
    conn = session.finish()
    assert conn is not None
    messages = [p.message for p in conn.problems]
    assert "resynchronised on a record header after skipping 201 bytes" in messages
    resync = next(p for p in conn.problems if p.message.startswith("resynchronised"))
    assert resync.offset == len(CH_RECORD) + 621
    app = [e for e in conn.timeline if isinstance(e, ApplicationDataEvent)]
    assert app[-1].records == 1 and app[-1].offset == len(CH_RECORD) + 621


def test_mid_stream_pickup_guesses_the_server_by_port() -> None:
    app = _record(23, b"\x01" * 50)
    session = TLSSession(0, (SERVER, CLIENT), 1, 0, client_side=None, mid_stream=True)
    session.data(0, 0, app, 1, 0)  # the server talks first in this capture
    conn = session.finish()
    assert conn is not None
    assert conn.server == SERVER and conn.timeline[0].direction == "s2c"


def test_heartbleed_pattern_is_reported() -> None:
    heartbeat = _record(24, b"\x01\x40\x00" + b"\x00" * 16)  # claims 16384 payload bytes
    conn = _feed([(0, CH_RECORD), (0, heartbeat)])
    assert conn is not None
    assert any("Heartbleed" in p.message for p in conn.problems)


def test_a_server_alert_whose_header_ends_a_plaintext_segment() -> None:
    """A STARTTLS server refusing with an alert whose 2 bytes come in the next segment: the
    TLS start is found at the header (the search once read past it: an internal error)."""
    alert = _record(21, b"\x02\x28")  # fatal handshake_failure
    session = _session()
    session.data(1, 0, b"220 mail.example ESMTP\r\n", 1, 1000)
    session.data(0, 0, b"STARTTLS\r\n", 2, 2000)
    session.data(1, 24, b"220 go ahead\r\n" + alert[:5], 3, 3000)
    session.data(1, 43, alert[5:], 4, 4000)
    conn = session.finish()
    assert conn is not None and conn.prelude is not None
    assert conn.prelude.protocol == "SMTP STARTTLS"
    assert [(e.kind, e.offset) for e in conn.timeline] == [("alert", 38)]
    assert not any(p.layer == "internal" for p in conn.problems)
