"""The record layer told: which sub-protocol each record carries, its version and length.

RFC 8446 §5 / RFC 5246 §6: every byte of TLS travels in records, and each record names
the protocol it carries (handshake, change_cipher_spec, alert, application_data,
heartbeat). Under encryption in TLS 1.3 the outer type is always application_data and
the real one is inside.
"""

from __future__ import annotations

from tlslens import registry
from tlslens._text import plural
from tlslens.explain.over_udp import acked_words
from tlslens.explain.packets import quic_packet_lines
from tlslens.model import C2S, Connection

_ROLES = {
    20: "tells the peer that what follows uses the new keys",
    21: "carries an alert",
    22: "carries handshake messages",
    23: "carries application data (or, in TLS 1.3, any encrypted record)",
    24: "carries a heartbeat (RFC 6520)",
    25: (
        "is DTLS 1.2's record with a connection ID (RFC 9146): the ID its receiver asked for "
        "after the epoch and sequence number, the real type encrypted at the end"
    ),
}


def record_lines(conn: Connection) -> list[str]:
    """One line per record kept (``show --records``), then what each sub-protocol is for."""
    if conn.quic is not None:
        return quic_packet_lines(conn)  # QUIC has packets and frames, not TLS records
    records = conn.records or []
    lines = [f"Record layer: {plural(len(records), 'record')}, as framed on the wire:"]
    for record in records:
        arrow = "C → S" if record.direction == C2S else "C ← S"
        where = f"header at byte {record.offset}"
        if record.epoch is not None:  # DTLS: in the datagram, with its record number
            seq = "still encrypted" if record.seq is None else record.seq
            where = f"epoch {record.epoch}, sequence {seq}; {where} of the datagram"
        if record.cid is not None:
            where = f"connection ID {record.cid.hex()}; {where}"
        kind = registry.content_type_name(record.content_type)
        if record.inner_type is not None:
            kind += f" ({registry.content_type_name(record.inner_type)} inside)"
        if record.acked is not None:
            where += f"; acknowledges {acked_words(record.acked, len(record.acked))}"
        lines.append(
            f"  #{record.frame:<6} {arrow}  {kind}, "
            f"{registry.version_name(record.version)}, {plural(record.length, 'byte')} "
            f"({where})"
        )
    seen = sorted({r.content_type for r in records})
    for content_type in seen:
        role = _ROLES.get(content_type)
        if role:
            lines.append(f"  {registry.content_type_name(content_type)}: {role}.")
    return lines
