"""A connection's timeline: one class per kind of thing that happened on the wire, in order.

Each event says where it was seen (``frame``, ``ts_ns``, ``direction``, ``offset`` in the
direction's stream, ``length``) and what only its kind knows (a handshake message, an
alert's level and description, the record numbers an ACK lists...). Readers tell the
kinds apart by class (``isinstance``, ``match``, or ``type(event) is`` in a loop over every
event: the kinds are final); ``kind`` is the name the JSON and the narration print. Records
of the same kind in a row (application data, QUIC packets left sealed, SSL 2.0's encrypted
records) are one event that grows: ``records``, ``length`` and ``last_frame`` count them.

The classes are the compiled core's (crates/tlslens-py/src/timeline.rs): its content layer
makes the events of what it reads, and the transports' Python (DTLS, QUIC, handshake
messages) makes the others with the same classes.
"""

from __future__ import annotations

from tlslens._core import (
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

__all__ = [
    "ALERT_EVENTS",
    "SSLV2_EVENTS",
    "ACKEvent",
    "AlertEvent",
    "ApplicationDataEvent",
    "ChangeCipherSpecEvent",
    "DataEvent",
    "EarlyDataEvent",
    "EncryptedAlertEvent",
    "EncryptedHandshakeEvent",
    "GapEvent",
    "HandshakeEvent",
    "HeartbeatEvent",
    "SSLv2EncryptedEvent",
    "SSLv2MessageEvent",
    "SkippedMessageEvent",
    "TimelineEvent",
    "fold_run",
]

# The kinds an alert can be, read or not.
ALERT_EVENTS = (AlertEvent, EncryptedAlertEvent)
SSLV2_EVENTS = (SSLv2MessageEvent, SSLv2EncryptedEvent)
