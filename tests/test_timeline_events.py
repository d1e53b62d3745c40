"""A connection's timeline is typed (issue 23): one class per kind of event, each kind's
facts as fields with real types, no kind string to dispatch on and no ``detail`` dict.

The events come from real captures: SSL 2.0 (wireshark-notes), Heartbleed (zeek, with
tshark as the oracle of the heartbeat fields), a DTLS 1.3 ACK (tests/vectors/captures/udp,
cross-checked with what ``--records`` keeps of the same record) and TLS 1.3 early data.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

import tlslens
from tlslens import _core, events
from tlslens.events import (
    ACKEvent,
    AlertEvent,
    ApplicationDataEvent,
    ChangeCipherSpecEvent,
    DataEvent,
    EarlyDataEvent,
    EncryptedAlertEvent,
    EncryptedHandshakeEvent,
    GapEvent,
    HandshakeEvent,
    HeartbeatEvent,
    SkippedMessageEvent,
    SSLv2EncryptedEvent,
    SSLv2MessageEvent,
    TimelineEvent,
    fold_run,
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
    SkippedMessageEvent: "skipped_message",
    SSLv2MessageEvent: "sslv2",
    SSLv2EncryptedEvent: "sslv2",
    ACKEvent: "ack",
}
# Connection fields that were Any.
BASE_FIELDS = ("frame", "ts_ns", "direction", "offset", "length", "last_frame", "records")
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
    for cls in concrete:
        names = cls.__match_args__
        assert names[:7] == BASE_FIELDS, cls
        assert "detail" not in names and "kind" not in names, cls
    annotations = Connection.__annotations__
    for name in TYPED_FIELDS:
        # A member made on first use (model.MadeOnUse) is typed in its slot, "_" + name.
        typed = annotations.get(name) or annotations["_" + name]
        assert "Any" not in str(typed), name
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


def test_the_core_makes_the_timeline_and_its_kinds_are_final() -> None:
    """The timeline's classes are the compiled core's: its content layer makes the events
    of what it reads (no second object made in Python), and Python (DTLS, QUIC, handshake
    messages) makes the others with the same classes. Only what grows is writable."""
    for cls in {TimelineEvent} | _subclasses(TimelineEvent):
        assert cls.__module__ == "tlslens._core", cls
    for cls in KINDS:
        with pytest.raises(TypeError):
            type("Sub", (cls,), {})
    # The content layer's own event classes, one per kind beside the timeline's, are gone.
    for gone in ("ContentAlert", "ContentApplicationData", "ContentChangeCipherSpec"):
        assert not hasattr(_core, gone), gone
    found = _timeline(CAPTURES / "openssl-resumption.pcap")
    kinds = {type(e) for _c, e in found}
    assert {ChangeCipherSpecEvent, EncryptedHandshakeEvent, ApplicationDataEvent} <= kinds
    assert EncryptedAlertEvent in kinds
    run = next(e for _c, e in found if type(e) is ApplicationDataEvent)
    run.records += 1
    run.last_frame = run.frame
    with pytest.raises(AttributeError):
        run.frame = 0  # type: ignore[misc]
    assert repr(run).startswith(f"ApplicationDataEvent(frame={run.frame}, ts_ns=")
    assert repr(run).endswith(", decrypted=False)")


def test_a_run_joins_the_step_before_only_when_the_timeline_tells_them_as_one() -> None:
    def run(kind: type[DataEvent], direction: str, decrypted: bool, frame: int) -> DataEvent:
        return kind(frame, frame * 1000, direction, frame * 10, 100, frame, 2, decrypted)

    timeline: list[TimelineEvent] = []
    assert not fold_run(timeline, run(ApplicationDataEvent, "c2s", True, 1))
    assert fold_run(timeline, run(ApplicationDataEvent, "c2s", True, 2))
    assert fold_run(timeline, run(ApplicationDataEvent, "c2s", False, 3))  # sealed joins
    first = timeline[0]
    assert (first.frame, first.records, first.length, first.last_frame) == (1, 6, 300, 3)
    assert not fold_run(timeline, run(ApplicationDataEvent, "s2c", True, 4))
    assert not fold_run(timeline, run(EarlyDataEvent, "s2c", True, 5))
    sealed = run(ApplicationDataEvent, "s2c", False, 6)
    assert not fold_run(timeline, sealed)
    assert not fold_run(timeline, run(ApplicationDataEvent, "s2c", True, 7))  # opened: no
    assert [type(e) for e in timeline] == [
        ApplicationDataEvent,
        ApplicationDataEvent,
        EarlyDataEvent,
        ApplicationDataEvent,
        ApplicationDataEvent,
    ]
    assert timeline[3] is sealed and sealed.records == 2


def test_the_core_counts_what_the_statistics_tell() -> None:
    """Application data records and bytes (not TLS 1.3's encrypted flights, though sent as
    application data records) and gaps are counted by the core's content layer, per side,
    and told once at the end."""
    path = CAPTURES / "openssl-resumption.pcap"
    for keys in (None, _keys(CAPTURES / "openssl-resumption.keys")):
        for conn in tlslens.read_capture(path, keys=keys):
            for direction, stats in conn.stats.items():
                steps = [e for e in conn.timeline if e.direction == direction]
                runs = [e for e in steps if isinstance(e, DataEvent)]
                assert stats.application_data_records == sum(e.records for e in runs)
                assert stats.application_data_bytes == sum(e.length for e in runs)
                assert (stats.gaps, stats.gap_bytes) == (0, 0)


def test_a_hole_is_a_gap_step_counted_where_it_is(tmp_path: Path) -> None:
    """The server's handshake with a segment lost (tools/adversarial.py): one
    gap step from the core, counted in the server's statistics, and the finding."""
    import adversarial

    path = tmp_path / "hole.pcapng"
    adversarial.lost_segment(path)
    (conn,) = tlslens.read_capture(path)
    (gap,) = [e for e in conn.timeline if isinstance(e, GapEvent)]
    assert type(gap).__module__ == "tlslens._core" and gap.direction == "s2c"
    assert gap.length > 1000 and gap.records == 1 and gap.last_frame == gap.frame
    stats = conn.stats["s2c"]
    assert (stats.gaps, stats.gap_bytes) == (1, gap.length)
    assert (conn.stats["c2s"].gaps, conn.stats["c2s"].gap_bytes) == (0, 0)
    assert any("missing from the capture" in p.message for p in conn.problems)
