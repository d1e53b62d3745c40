"""The JSON form of a connection: a versioned contract (schema/connection.schema.json).

Field names change only with a SCHEMA_VERSION bump.
"""

from __future__ import annotations

from typing import Any

from tlslens import _core, registry
from tlslens._core import SupportedGroups
from tlslens.events import (
    AlertEvent,
    EncryptedAlertEvent,
    EncryptedHandshakeEvent,
    HandshakeEvent,
)
from tlslens.explain.coalesced import datagrams_json
from tlslens.handshake import compression
from tlslens.handshake import extensions as ext
from tlslens.handshake import messages as hs
from tlslens.model import Connection, RecordInfo, ts_iso
from tlslens.outcome import Outcome, outcome_of
from tlslens.quic.details import details_json, initials_opened_reason

SCHEMA_VERSION = 8

_ALERT_LEVELS = {1: "warning", 2: "fatal"}


def cipher_suite_label(value: int) -> str:
    if value > 0xFFFF:  # a 3-byte SSLv2 cipher kind that is not a TLS suite
        return registry.ssl2_cipher_kind_name(value)
    return registry.cipher_suite_name(value)


_LABELS: dict[tuple[int, ...], list[str]] = {}
_MAX_LABELS = 4096  # distinct suite lists remembered: a fleet's clients send few


def _suite_labels(suites: tuple[int, ...]) -> list[str]:
    """The names of a hello's suites (a new list: the caller may keep it)."""
    names = _LABELS.get(suites)
    if names is None:
        names = [cipher_suite_label(s) for s in suites]
        if len(_LABELS) >= _MAX_LABELS:
            _LABELS.clear()
        _LABELS[suites] = names
    return list(names)


def message_type_name(event: HandshakeEvent | EncryptedHandshakeEvent) -> str:
    if isinstance(event, EncryptedHandshakeEvent):
        return "encrypted"
    message = event.message
    if isinstance(message, hs.ServerHello) and message.is_hello_retry_request:
        return "hello_retry_request"
    name = _MESSAGE_NAMES.get(message.msg_type)
    if name is None:  # a one-byte type: the table holds at most 256 names
        name = _MESSAGE_NAMES[message.msg_type] = registry.handshake_name(message.msg_type)
    return name


_MESSAGE_NAMES: dict[int, str] = {}


def alert_json(event: AlertEvent | EncryptedAlertEvent) -> dict[str, Any]:
    if isinstance(event, EncryptedAlertEvent):
        return {
            "frame": event.frame,
            "direction": event.direction,
            "level": None,
            "description": "encrypted",
        }
    return {
        "frame": event.frame,
        "direction": event.direction,
        "level": _ALERT_LEVELS.get(event.level, f"unknown ({event.level})"),
        "description": registry.alert_name(event.description),
    }


_NOT_ATTEMPTED: dict[str, Any] = {
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


def _groups_offered(conn: Connection) -> list[str]:
    """The groups of the first ClientHello's supported_groups, GREASE left out (a new list:
    the caller may keep it)."""
    hello = conn.client_hello
    body = hello.extension(ext.SUPPORTED_GROUPS) if hello is not None else None
    if hello is None or body is None:
        return []
    names = _GROUP_NAMES.get(body.data)  # a fleet's clients send few distinct lists
    if names is None:
        found = ext.decoded_in(hello, ext.SUPPORTED_GROUPS, SupportedGroups)
        groups = found.groups if found is not None else []
        names = [registry.group_name(g) for g in groups if not registry.is_grease(g)]
        if len(_GROUP_NAMES) >= _MAX_LABELS:
            _GROUP_NAMES.clear()
        _GROUP_NAMES[body.data] = names
    return list(names)


_GROUP_NAMES: dict[bytes, list[str]] = {}


def decryption_json(
    conn: Connection, reveal_keys: bool = False, outcome: Outcome | None = None
) -> dict[str, Any]:
    """``outcome``: the connection's, when the caller has it already."""
    if conn.dtls is not None:  # over DTLS the core's association decrypts (tls/dtls.py)
        result: dict[str, Any] = conn.dtls.decryption_json()
        return result
    if conn.decryption is None:
        return dict(_NOT_ATTEMPTED)
    result = conn.decryption.to_json((outcome or outcome_of(conn)).failed_in_handshake)
    if conn.quic is not None and result["status"] == "no_secret" and conn.client_hello is not None:
        result["reason"] = initials_opened_reason(result["reason"])
    if reveal_keys:
        # Names as the narration gives them, per handshake (then each renegotiation).
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


def compressed_certificates_json(
    events: list[HandshakeEvent | EncryptedHandshakeEvent],
) -> list[dict[str, Any]]:
    """Each CompressedCertificate (RFC 8879) of a connection's handshake events: how it
    was packed, and whether it opened."""
    return [
        {
            "frame": event.frame,
            "direction": event.direction,
            "algorithm": compression.algorithm_name(message.algorithm),
            "algorithm_id": message.algorithm,
            "compressed_length": len(message.compressed_certificate_message),
            "uncompressed_length": message.uncompressed_length,
            "decompressed": message.certificate is not None,
        }
        for event in events
        if isinstance(event, HandshakeEvent)
        and isinstance(message := event.message, hs.CompressedCertificate)
    ]


def record_json(record: RecordInfo) -> dict[str, Any]:
    return (
        {
            "frame": record.frame,
            "direction": record.direction,
            "offset": record.offset,
            "content_type": registry.content_type_name(record.content_type),
            "content_type_id": record.content_type,
            "version": registry.version_name(record.version),
            "length": record.length,
        }
        | ({"epoch": record.epoch, "seq": record.seq} if record.epoch is not None else {})
        | ({"cid": record.cid.hex()} if record.cid is not None else {})
        | (
            {
                "inner_content_type": registry.content_type_name(record.inner_type),
                "inner_content_type_id": record.inner_type,
            }
            if record.inner_type is not None
            else {}
        )
        | ({"acked": [list(n) for n in record.acked]} if record.acked is not None else {})
    )


def _handshakes_json(conn: Connection) -> list[dict[str, Any]]:
    """Each handshake of the connection (a renegotiation adds one): what it settled."""
    return [
        {
            "version": registry.version_name(h.version) if h.version is not None else None,
            "cipher_suite": (
                registry.cipher_suite_name(h.cipher_suite) if h.cipher_suite is not None else None
            ),
            "key_exchange": h.key_exchange,
            "certificates": [cert.to_json() for cert in h.certificates],
            "first_frame": h.first_frame,
        }
        for h in conn.handshakes
    ]


def connection_to_json(conn: Connection, *, reveal_keys: bool = False) -> dict[str, Any]:
    """The connection as a JSON-ready dict (one line of ``show --json``); ``records`` is
    there only when the capture was read with ``records=True`` (``show --records``), and
    ``decryption.derived`` (every secret, key and IV derived) only with ``reveal_keys``."""
    ch = conn.client_hello
    # JA3S is of the first ServerHello on the wire: a HelloRetryRequest when there is one
    # (as tshark computes it).
    first_hello = conn.hello_retry_request or conn.server_hello
    version = conn.version
    suite = conn.cipher_suite
    info = conn.suite_info
    outcome = outcome_of(conn)
    events = conn.handshake_events  # one walk of the timeline for both lists below
    row: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "id": conn.id,
        "transport": conn.transport,
        "tcp_stream": conn.tcp_stream if conn.transport == "tcp" else None,
        "udp_stream": None if conn.transport == "tcp" else conn.tcp_stream,
        "file": conn.file,
        "client": str(conn.client),
        "server": str(conn.server),
        "first_frame": conn.first_frame,
        "last_frame": conn.last_frame,
        "start_time": ts_iso(conn.start_ts_ns),
        "end_time": ts_iso(conn.end_ts_ns) if conn.end_ts_ns else None,
        "starttls": conn.prelude.protocol or "plaintext prelude" if conn.prelude else None,
        "sni": conn.sni,
        "alpn_offered": conn.alpn_offered,
        "alpn": conn.alpn,
        "client_versions": [registry.version_name(v) for v in conn.client_versions],
        "groups_offered": _groups_offered(conn),
        "version": registry.version_name(version) if version is not None else None,
        "version_id": version,
        "cipher_suites_offered": _suite_labels(ch.cipher_suites) if ch else [],
        "ja3": _core.ja3(ch) if ch is not None else None,
        "ja3s": _core.ja3s(first_hello) if first_hello is not None else None,
        "ja4": _core.ja4(ch, conn.transport) if ch is not None else None,
        "cipher_suite": cipher_suite_label(suite) if suite is not None else None,
        "cipher_suite_id": suite,
        "key_exchange": conn.key_exchange,
        "authentication": info.auth if info and not info.tls13 else None,
        "group": conn.group_name,
        "forward_secrecy": conn.forward_secrecy,
        "resumed": conn.resumed,
        "resumed_from": conn.resumed_from,
        "session_ticket": conn.session_ticket,
        "ocsp_stapled": conn.ocsp_stapled,
        "client_auth": conn.client_auth,
        "hello_retry_request": conn.hello_retry_request is not None,
        "renegotiation": conn.renegotiation,
        "handshakes": _handshakes_json(conn),
        "handshake": [
            {"frame": e.frame, "direction": e.direction, "type": message_type_name(e)}
            for e in events
        ],
        "certificates": [cert.to_json() for cert in conn.certificates],
        "compressed_certificates": compressed_certificates_json(events),
        "handshake_signatures": [check.to_json() for check in conn.handshake_signatures],
        "alerts": [alert_json(e) for e in conn.alerts],
        "bytes": {
            direction: {
                "total": stats.bytes,
                "records": stats.records,
                "application_data_records": stats.application_data_records,
                "application_data_bytes": stats.application_data_bytes,
                "gaps": stats.gaps,
                "gap_bytes": stats.gap_bytes,
            }
            for direction, stats in conn.stats.items()
        },
        "closed_by": conn.closed_by,
        "outcome": outcome.to_json(),
        "timing": conn.timing,
        "decryption": decryption_json(conn, reveal_keys, outcome),
        "validation": conn.validation.to_json() if conn.validation is not None else None,
        "problems": [p.to_json() for p in conn.problems],
    }
    if conn.records is not None:
        row["records"] = [record_json(r) for r in conn.records]
    if conn.dtls is not None:  # over DTLS: what the association read (tls/dtls.py)
        row["dtls"] = conn.dtls.to_json()
    if conn.quic is not None:  # over QUIC only: TCP connections' JSON is unchanged
        row["quic"] = details_json(conn.quic)
        if conn.records is not None:  # --records: every datagram, its packets and frames
            row["quic"]["datagrams"] = datagrams_json(conn.quic, ts_iso)
    return row


def json_line(value: dict[str, Any]) -> str:
    """One line of JSON Lines (ASCII, as ``json.dumps`` writes it), without its newline:
    written by the compiled core, the same bytes as ``json.JSONEncoder`` at a fraction of
    its time (a row is a tree built for the line, so there is no cycle to check for)."""
    return _core.json_line(value)
