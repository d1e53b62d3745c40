"""What the HTML report shows of one connection, as plain JSON-ready values.

Strategy: everything is computed here, in Python, from the Connection model (read with
``records=True`` so that records and message bytes are kept): the overview row, the ladder
(explain/ladder.py), each arrow's bytes and fields (explain/fields.py), the narration of
``show``, the chain cards and the key derivation. The page's script only draws what it is
given. Every string here may come from a capture and is treated as text by the page.
"""

from __future__ import annotations

from typing import Any

from tlslens import registry
from tlslens._text import printable
from tlslens.events import AlertEvent, HandshakeEvent
from tlslens.explain import carried_over, explain, summary_lines
from tlslens.explain.derivation import secret_hex
from tlslens.explain.fields import Field, alert_fields, message_fields, record_header_fields
from tlslens.explain.ladder import Arrow, ladder
from tlslens.explain.summary import connection_title
from tlslens.model import Connection
from tlslens.outcome import Outcome
from tlslens.serialize import connection_to_json
from tlslens.x509.validate import fingerprint

# Overview columns, in order (the page's table header comes from here too).
COLUMNS = (
    "id",
    "file",
    "client",
    "server",
    "sni",
    "version",
    "suite",
    "key_exchange",
    "forward_secrecy",
    "resumed",
    "decrypted",
    "chain",
    "outcome",
    "problems",
    "codes",
)


def chain_verdict(row: dict[str, Any]) -> str:
    validation = row.get("validation")
    if not row.get("certificates"):
        return "no chain seen"
    if not validation:
        return "not checked"
    return "trusted" if validation.get("trusted") else "not trusted"


def overview_row(conn: Connection, row: dict[str, Any]) -> list[Any]:
    """One table row; ``row`` is the connection's `show --json` object."""
    resumed = row.get("resumed")
    return [
        conn.id,
        conn.file,
        row["client"],
        row["server"],
        row.get("sni") or "",
        " ".join(filter(None, [row.get("version"), carried_over(conn)])),
        row.get("cipher_suite") or "",
        row.get("key_exchange") or "",
        {True: "yes", False: "no"}.get(row.get("forward_secrecy"), ""),  # type: ignore[arg-type]
        resumed or "no",
        row["decryption"]["status"].replace("_", " "),
        chain_verdict(row),
        Outcome(**row["outcome"]).brief,
        len(row.get("problems") or []),
        problem_codes(row),
    ]


def problem_codes(row: dict[str, Any]) -> str:
    """Every problem code of a connection, once each, space-separated: the chain's, the
    client chain's and the connection's own (what the overview's filter finds)."""
    validations = [row.get("validation"), (row.get("client_auth") or {}).get("validation")]
    codes = [p["code"] for v in validations if v for p in v.get("problems") or []]
    codes += [p["code"] for p in row.get("problems") or [] if p.get("code")]
    return " ".join(dict.fromkeys(codes))


def _fields(fields: list[Field], raw: bytes) -> list[Any]:
    """[name, start, end, value, meaning, children]; a value that only repeats the field's
    bytes is left empty (the page shows the bytes)."""
    return [
        [
            f.name,
            f.start,
            f.end,
            "" if f.value == raw[f.start : f.end].hex() else f.value,
            f.meaning,
            _fields(list(f.children), raw),
        ]
        for f in fields
    ]


def _part(conn: Connection, arrow: Arrow) -> dict[str, Any] | None:
    """The bytes behind an arrow and what each of them says: ``what`` and ``offset`` (in
    the direction's stream), ``hex``, ``fields``, and in a Certificate message ``certs``,
    where each certificate's DER lies (the page keeps each certificate once)."""
    if arrow.kind == "record" and arrow.record is not None and conn.records:
        rec = conn.records[arrow.record]
        raw, fields = record_header_fields(rec.content_type, rec.version, rec.length)
        return {
            "what": "record header",
            "offset": rec.offset,
            "hex": raw.hex(),
            "fields": _fields(fields, raw),
        }
    if arrow.event is None:
        return None
    event = conn.timeline[arrow.event]
    message = event.raw if isinstance(event, HandshakeEvent) else None
    if message is not None:
        part: dict[str, Any] = {
            "what": "handshake message",
            "offset": event.offset,
            "hex": message.hex(),
            "fields": _fields(message_fields(message, tls13=conn.tls13), message),
        }
        if message[:1] == b"\x0b":
            spans = []
            for info in [*conn.certificates, *(conn.client_certificates or [])]:
                at = message.find(info.der)
                if at > 0:
                    spans.append([at, at + len(info.der)])
            part["certs"] = sorted(spans)
        return part
    if isinstance(event, AlertEvent):
        body = bytes([event.level, event.description])
        return {
            "what": "alert",
            "offset": event.offset,
            "hex": body.hex(),
            "fields": _fields(alert_fields(body), body),
        }
    return None


def connection_detail(
    conn: Connection, row: dict[str, Any], reveal: bool, first: dict[str, bytes] | None = None
) -> dict[str, Any]:
    arrows = ladder(conn)
    parts: list[dict[str, Any] | None] = [_part(conn, arrow) for arrow in arrows]
    steps = explain(conn, reveal)
    summary = summary_lines(conn)
    return {
        "id": conn.id,
        "file": conn.file,
        "title": connection_title(conn),
        "summary": [[label, text] for label, text in summary],
        "ladder": [
            [a.kind, a.direction, a.frame, a.ms, a.label, a.tone, a.flight, a.count] for a in arrows
        ],
        "parts": parts,
        "steps": [[s.frame, s.direction, s.title, list(s.lines), s.tone] for s in steps],
        "chain": _chain(conn, row),
        "keys": _keys(conn, reveal, first, _randoms(conn, parts), dict(summary)),
        "problems": [f"{p.code}: {p.message}" if p.code else p.message for p in conn.problems],
    }


def _card(cert: Any, info: Any, checked_at: Any) -> dict[str, Any]:
    """One certificate card: ``cert`` an x509.Certificate of the path (or None), ``info`` the
    CertificateInfo as sent (or None)."""
    if info is not None and info.subject is None:
        return {"subject": "(unreadable)", "error": info.error, "sha256": info.sha256}
    subject = info.subject if info is not None else _name(cert, "subject")
    not_before = info.not_before if info is not None else cert.not_valid_before_utc
    not_after = info.not_after if info is not None else cert.not_valid_after_utc
    valid = None
    if checked_at is not None and not_before is not None and not_after is not None:
        valid = not_before <= checked_at <= not_after
    return {
        "subject": subject,
        "issuer": info.issuer if info is not None else _name(cert, "issuer"),
        "not_before": f"{not_before:%Y-%m-%d %H:%M} UTC" if not_before else None,
        "not_after": f"{not_after:%Y-%m-%d %H:%M} UTC" if not_after else None,
        "valid_then": valid,
        "key": info.key if info is not None else None,
        "signature_algorithm": info.signature_algorithm if info is not None else None,
        "san": list(info.san) if info is not None else [],
        "sha256": info.sha256 if info is not None else fingerprint(cert),
        "error": info.error if info is not None else None,
    }


def _name(cert: Any, which: str) -> str:
    try:
        return str(getattr(cert, which).rfc4514_string())
    except ValueError:
        return "(unreadable name)"


def _chain(conn: Connection, row: dict[str, Any]) -> dict[str, Any] | None:
    if not conn.certificates:
        return None
    validation = conn.validation
    sent = {info.sha256: info for info in conn.certificates}
    if validation is None:
        cards = [_card(None, info, None) for info in conn.certificates]
        return {
            "verdict": chain_verdict(row),
            "cards": cards,
            "links": [],
            "problems": [],
            "off_path": [],
            "checked": None,
        }
    path = validation.path
    cards = []
    on_path = set()
    for cert in path:
        digest = fingerprint(cert)
        on_path.add(digest)
        card = _card(cert, sent.get(digest), validation.checked_at)
        card["sent"] = digest in sent
        card["problems"] = [
            f"{p.code}: {p.message}" for p in validation.problems if card["subject"] in p.message
        ]
        cards.append(card)
    if path and validation.path_in_store:
        origin = validation.anchor_origin or f"the {validation.trust_store} store"
        cards[-1]["anchor"] = f"trust anchor from {origin}"
    if cards:
        cards[0]["problems"] += [
            f"{p.code}: {p.message}"
            for p in validation.problems
            if p.code == "name_mismatch" and f"{p.code}: {p.message}" not in cards[0]["problems"]
        ]
    placed = {text for card in cards for text in card["problems"]}
    return {
        "verdict": chain_verdict(row),
        "checked": f"{validation.checked_at:%Y-%m-%d %H:%M} UTC, for "
        f"{validation.hostname or 'no host name'}, with the {validation.trust_store} roots",
        "cards": cards,
        "links": [list(lines) for lines in validation.links],
        "problems": [
            f"{p.code}: {p.message}"
            for p in validation.problems
            if f"{p.code}: {p.message}" not in placed
        ],
        "missing": _name(validation.missing_issuer, "issuer")
        if validation.missing_issuer is not None
        else None,
        "off_path": [
            _card(None, info, validation.checked_at) for d, info in sent.items() if d not in on_path
        ],
    }


def _randoms(conn: Connection, parts: list[dict[str, Any] | None]) -> list[list[Any]]:
    """The two randoms the keys come from: [name, hex], or [name, n] when part n (a hello
    in the ladder) holds them, so that the page does not carry them twice."""
    found: list[list[Any]] = []
    for name, message in (
        ("client random", conn.client_hello),
        ("server random", conn.server_hello),
    ):
        if message is None:
            continue
        value = message.random.hex()
        at = next((n for n, part in enumerate(parts) if part and part["hex"][12:76] == value), None)
        found.append([name, value if at is None else at])
    return found


def _keys(
    conn: Connection,
    reveal: bool,
    first: dict[str, bytes] | None,
    randoms: list[list[Any]],
    summary: dict[str, str],
) -> dict[str, Any] | None:
    # Over DTLS the core's association derives the keys (``Connection.dtls``): the same
    # derivations and the same ``decryption`` object as a TCP connection's decryptor.
    dec, facts = conn.decryption, conn.dtls
    if dec is not None:
        derivations, state = dec.derivations, dec.to_json()
    elif facts is not None:
        derivations, state = facts.derivations, facts.decryption_json()
    else:
        return None
    if not derivations or not derivations[0].values:
        return None
    derivation = derivations[0]
    return {
        "tls13": conn.tls13,
        "dtls": facts is not None,
        "source": derivation.source,
        "kx": registry.cipher_suite_name(conn.server_hello.cipher_suite)
        if conn.server_hello is not None
        else None,
        "inputs": randoms,
        "values": [
            [name, secret_hex(value, reveal), len(value)] for name, value in derivation.values
        ],
        "finished": state["finished_verified"],
        "records": state["records_decrypted"],
        "failed": state["records_failed_integrity"],
        "forward_secrecy": summary.get("Forward secrecy"),
        "revealed": reveal,
        # The first bytes each side sent, decrypted: what the keys were for.
        "first": {direction: printable(data) for direction, data in (first or {}).items()},
    }


def report_rows(
    conn: Connection, reveal: bool, first: dict[str, bytes] | None = None
) -> tuple[list[Any], dict[str, Any]]:
    """The overview row and the detail of one connection; ``first`` holds the first
    decrypted bytes of each direction, when they were collected."""
    row = connection_to_json(conn)
    return overview_row(conn, row), connection_detail(conn, row, reveal, first)
