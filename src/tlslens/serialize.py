"""The JSON form of a connection: a versioned contract (schema/connection.schema.json).

Field names change only with a SCHEMA_VERSION bump.
"""

from __future__ import annotations

from typing import Any

from tlslens import _core
from tlslens._text import ts_iso
from tlslens.events import AlertEvent, EncryptedAlertEvent
from tlslens.model import Connection
from tlslens.outcome import Outcome, outcome_of

SCHEMA_VERSION = 8


def alert_json(event: AlertEvent | EncryptedAlertEvent) -> dict[str, Any]:
    """An alert as the row writes it (the core names its level and description)."""
    level, description = _core.alert_names(event)
    return {
        "frame": event.frame,
        "direction": event.direction,
        "level": level,
        "description": description,
    }


def decryption_json(
    conn: Connection, reveal_keys: bool = False, outcome: Outcome | None = None
) -> dict[str, Any]:
    """``outcome``: the connection's, when the caller has it already."""
    given = _given_decryption(conn, reveal_keys, outcome)
    if given is not None:
        return given
    if conn.decryption is None:  # read without secrets: the row's words for it
        return _core.decryption_not_attempted()
    failed = (outcome or outcome_of(conn)).failed_in_handshake
    return conn.decryption.to_json(failed, reveal_keys, conn.stopped)


def _given_decryption(
    conn: Connection, reveal_keys: bool, outcome: Outcome | None = None
) -> dict[str, Any] | None:
    """The ``decryption`` object where Python words it: over DTLS (the association's), over
    QUIC (its Initial packets open without a key log); None where the row writer says it
    itself (the connection's ``Decryptor``, or "not_attempted" without one)."""
    if conn.dtls is not None:  # over DTLS the core's association decrypts (tls/dtls.py)
        result: dict[str, Any] = conn.dtls.decryption_json(conn.stopped, reveal_keys)
        return result
    if conn.decryption is None or conn.quic is None:
        return None
    failed = (outcome or outcome_of(conn)).failed_in_handshake
    result = conn.decryption.to_json(failed, reveal_keys, conn.stopped)
    if result["status"] == "no_secret" and conn.client_hello is not None:
        from tlslens.quic.details import initials_opened_reason  # over QUIC only

        result["reason"] = initials_opened_reason(result["reason"])
    return result


def _python_parts(conn: Connection, reveal_keys: bool) -> dict[str, Any]:
    """The values of a row that Python owns (the core's ``connection_line`` writes the rest
    from the connection's objects, the outcome, the verdicts and the problems among them, and
    the certificates from their ``to_json``): the schema, decryption where Python words it,
    details."""
    parts: dict[str, Any] = {"schema_version": SCHEMA_VERSION}
    if conn.dtls is not None:  # over DTLS: what the association read (tls/dtls.py)
        parts["dtls"] = conn.dtls.to_json()
    if conn.quic is not None:  # over QUIC only: TCP connections' JSON is unchanged
        # (Its modules load with the first QUIC connection, as the capture's router does.)
        from tlslens.explain.coalesced import datagrams_json
        from tlslens.quic.details import details_json

        parts["quic"] = details_json(conn.quic)
        if conn.records is not None:  # --records: every datagram, its packets and frames
            parts["quic"]["datagrams"] = datagrams_json(conn.quic, ts_iso)
    decryption = _given_decryption(conn, reveal_keys)
    if decryption is not None:
        parts["decryption"] = decryption
    return parts


def connection_line(conn: Connection, *, reveal_keys: bool = False) -> str:
    """The connection's line of ``show --json`` (without its newline), written by the
    compiled core: ``records`` is there only when the capture was read with
    ``records=True`` (``show --records``), and ``decryption.derived`` (every secret, key and
    IV derived) only with ``reveal_keys``."""
    return _core.connection_line(conn, _python_parts(conn, reveal_keys), reveal_keys=reveal_keys)


def connection_line_bytes(conn: Connection, *, reveal_keys: bool = False) -> bytes:
    """``connection_line`` and its newline, as ASCII bytes for a binary stream (``show
    --json`` writes them to standard output's buffer: no str is made of each line, nor
    encoded again)."""
    return _core.connection_line_bytes(
        conn, _python_parts(conn, reveal_keys), reveal_keys=reveal_keys
    )


def connection_to_json(conn: Connection, *, reveal_keys: bool = False) -> dict[str, Any]:
    """The connection as a JSON-ready dict: the values of its ``show --json`` line, made by
    the same writer in the core (one definition of the row for ``extract``, ``report`` and
    ``remote``)."""
    return _core.connection_row(conn, _python_parts(conn, reveal_keys), reveal_keys=reveal_keys)


def json_line(value: dict[str, Any]) -> str:
    """One line of JSON Lines (ASCII, as ``json.dumps`` writes it), without its newline:
    written by the compiled core, the same bytes as ``json.JSONEncoder`` at a fraction of
    its time (a row is a tree built for the line, so there is no cycle to check for)."""
    return _core.json_line(value)
