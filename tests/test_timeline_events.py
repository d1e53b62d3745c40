"""A connection's timeline is typed (issue 23): one class per kind of event, each kind's
facts as fields with real types, no kind string to dispatch on and no ``detail`` dict.

The events come from real captures: SSL 2.0 (wireshark-notes), Heartbleed (zeek, with
tshark as the oracle of the heartbeat fields), a DTLS 1.3 ACK (tests/vectors/captures/udp,
cross-checked with what ``--records`` keeps of the same record) and TLS 1.3 early data.
"""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import pytest

import tlslens
from tlslens import events
from tlslens.events import (
    ACKEvent,
    AlertEvent,
    ApplicationDataEvent,
    ChangeCipherSpecEvent,
    EarlyDataEvent,
    EncryptedAlertEvent,
    EncryptedHandshakeEvent,
    GapEvent,
    HandshakeEvent,
    HeartbeatEvent,
    SSLv2EncryptedEvent,
    SSLv2MessageEvent,
    TimelineEvent,
    UndecryptableEvent,
)
from tlslens.handshake import messages as hs
from tlslens.handshake.sslv2 import SSLv2ClientMasterKey, SSLv2ServerHello
from tlslens.keys.files import add_keylog_file
from tlslens.keys.store import KeyStore
from tlslens.model import Connection

from conftest import CAPTURES

# The names JSON and the narration print, as they were when an event was a kind string.
KINDS = {
    HandshakeEvent: "handshake",
    EncryptedHandshakeEvent: "encrypted_handshake",
    ChangeCipherSpecEvent: "change_cipher_spec",
    AlertEvent: "alert",
    EncryptedAlertEvent: "alert",
    ApplicationDataEvent: "application_data",
    EarlyDataEvent: "early_data",
    HeartbeatEvent: "heartbeat",
    GapEvent: "gap",
    SSLv2MessageEvent: "sslv2",
    SSLv2EncryptedEvent: "sslv2",
    ACKEvent: "ack",
    UndecryptableEvent: "undecryptable",
}
# Connection fields that were Any.
TYPED_FIELDS = (
    "handshake_signatures",
    "decryption",
    "dtls",
    "validation",
    "client_validation",
    "sslv2_hello",
    "sslv2_master_key",
)


def _subclasses(cls: type) -> set[type]:
    found = set(cls.__subclasses__())
    for sub in list(found):
        found |= _subclasses(sub)
    return found


def _timeline(path: Path, keylog: Path | None = None) -> list[tuple[Connection, TimelineEvent]]:
    keys = None
    if keylog is not None:
        keys = KeyStore()
        add_keylog_file(keys, keylog)
    return [(c, e) for c in tlslens.read_capture(path, keys=keys) for e in c.timeline]


def test_each_kind_is_a_class_that_keeps_its_printed_name() -> None:
    concrete = {c for c in _subclasses(TimelineEvent) if "kind" in vars(c)}
    assert concrete == set(KINDS)
    assert {cls: cls.kind for cls in concrete} == KINDS
    for cls in {TimelineEvent} | _subclasses(TimelineEvent):
        names = {f.name for f in dataclasses.fields(cls)}
        assert "detail" not in names and "kind" not in names, cls
        # The facts are typed: no Any anywhere in a class's annotations.
        for klass in cls.__mro__[:-1]:
            for name, annotation in vars(klass).get("__annotations__", {}).items():
                assert "Any" not in str(annotation), (cls, name, annotation)
    for name in TYPED_FIELDS:
        assert "Any" not in str(Connection.__annotations__[name]), name
    assert not [n for n in dir(events) if n == "Any"]


def test_sslv2_messages_are_decoded_then_encrypted_runs(corpus: Path) -> None:
    path = corpus / "wireshark-notes/ssl3/sslv2.pcapng"
    found = _timeline(path)
    conn = found[0][0]
    hello, server_hello, master_key, *encrypted = [e for _c, e in found]
    assert isinstance(hello, HandshakeEvent) and hello.sslv2
    assert isinstance(hello.message, hs.ClientHello)
    assert isinstance(server_hello, SSLv2MessageEvent) and server_hello.name == "SERVER-HELLO"
    assert isinstance(server_hello.decoded, SSLv2ServerHello)
    assert server_hello.decoded is conn.sslv2_hello
    assert isinstance(master_key, SSLv2MessageEvent) and master_key.name == "CLIENT-MASTER-KEY"
    assert isinstance(master_key.decoded, SSLv2ClientMasterKey)
    assert master_key.decoded is conn.sslv2_master_key
    assert encrypted and all(type(e) is SSLv2EncryptedEvent for e in encrypted)
    # Each direction alternates, so no two encrypted records in a row join one run.
    assert [(e.frame, e.direction, e.records) for e in encrypted] == [
        (9, "s2c", 1),
        (10, "c2s", 1),
        (11, "s2c", 1),
        (12, "c2s", 1),
        (13, "s2c", 1),
    ]


@pytest.mark.parametrize(
    "name", ["heartbleed-success.pcap", "heartbleed.pcap", "heartbleed-encrypted.pcap"]
)
def test_heartbeats_agree_with_tshark(name: str, tshark: str, corpus: Path) -> None:
    path = corpus / "zeek" / name
    done = subprocess.run(
        [
            tshark,
            "-r",
            str(path),
            "-Y",
            "tls.record.content_type == 24",
            "-T",
            "fields",
            "-e",
            "frame.number",
            "-e",
            "tls.heartbeat_message.type",
            "-e",
            "tls.heartbeat_message.payload_length",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    theirs = [
        (int(frame), int(kind) if kind else None, int(length) if length else None)
        for frame, kind, length in (line.split("\t") for line in done.stdout.splitlines())
    ]
    ours = [
        (e.frame, e.heartbeat_type, e.payload_length)
        for _c, e in _timeline(path)
        if isinstance(e, HeartbeatEvent)
    ]
    assert theirs and ours == theirs
    encrypted = {e.encrypted for _c, e in _timeline(path) if isinstance(e, HeartbeatEvent)}
    assert encrypted == {all(kind is None for _f, kind, _l in theirs)}


def test_dtls13_ack_lists_what_its_record_lists() -> None:
    udp = CAPTURES / "udp"
    found = [
        (c, e)
        for c in tlslens.read_capture(
            udp / "dtls13.pcapng", keys=_keys(udp / "dtls13.keys"), records=True
        )
        for e in c.timeline
    ]
    acks = [(c, e) for c, e in found if isinstance(e, ACKEvent)]
    assert len(acks) == 3
    for conn, ack in acks:
        (record,) = [
            r
            for r in conn.records or []
            if (r.frame, r.direction, r.offset) == (ack.frame, ack.direction, ack.offset)
        ]
        assert record.acked == ack.acked == ((2, 0),) and ack.count == 1
        assert ack.length == 2 + 16 * ack.count


def _keys(path: Path) -> KeyStore:
    keys = KeyStore()
    add_keylog_file(keys, path)
    return keys


def test_alerts_read_or_not_and_early_data(corpus: Path) -> None:
    (conn,) = tlslens.read_capture(corpus / "zeek/heartbleed-encrypted.pcap")
    alerts = conn.alerts
    assert len(alerts) == 2 and all(type(e) is EncryptedAlertEvent for e in alerts)
    assert not hasattr(alerts[0], "level")
    dtls = _timeline(CAPTURES / "udp/dtls13.pcapng", CAPTURES / "udp/dtls13.keys")
    read = [e for _c, e in dtls if isinstance(e, AlertEvent)]
    assert [(e.level, e.description, e.quic) for e in read[:2]] == [(1, 0, False), (1, 0, False)]
    early = _timeline(corpus / "wireshark/tls13-rfc8446.pcap")
    runs = [e for _c, e in early if isinstance(e, EarlyDataEvent)]
    assert runs and all(e.direction == "c2s" and e.records >= 1 for e in runs)


def test_events_are_slotted() -> None:
    """No per-event __dict__: a capture of thousands of connections makes millions."""
    found = _timeline(CAPTURES / "demo-tls12-tls13.pcapng")
    for _conn, event in found:
        assert not hasattr(event, "__dict__"), type(event)
    # One __repr__ for every kind, with the kind's own fields.
    hello = found[0][1]
    assert repr(hello).startswith("HandshakeEvent(frame=4, ") and "message=" in repr(hello)
