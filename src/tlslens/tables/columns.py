"""The tables of `tlslens extract`, as Arrow schemas, and the rows that fill them.

Strategy: the `connections` table follows the JSON contract (schema/connection.schema.json)
so that the two never drift apart: every property becomes a column, an object's properties
become columns named with its name as a prefix (``decryption_status``), a date-time a UTC
timestamp, a list of scalars an Arrow list, a list of objects an Arrow list of structs, and anything without a fixed shape
(an object with open keys) its JSON text. Three more tables hold what a connection has many
of: `certificates` (one row per distinct certificate of the file), `handshake_messages` and
`problems`. Every table starts with `capture_file`; TABLE_SCHEMA_VERSION changes with any
column change (the README lists the columns).
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any

import pyarrow as pa

# 2 (show --json 7): outcome_*, decryption_opened_*, decryption_missing_secrets, compressed_certificates
# 3 (show --json 8): transport, udp_stream; tcp_stream may be null
TABLE_SCHEMA_VERSION = 3
TABLES = ("connections", "certificates", "handshake_messages", "problems")

_SCALARS = {
    "string": pa.string(),
    "integer": pa.int64(),
    "number": pa.float64(),
    "boolean": pa.bool_(),
}
# Lists of objects that have their own table: the connection keeps only their keys.
_OWN_TABLE = {"handshake", "problems"}


def _types(prop: dict[str, Any]) -> list[str]:
    kind = prop.get("type")
    if kind is None and "enum" in prop:
        values = [v for v in prop["enum"] if v is not None]
        kind = "string" if all(isinstance(v, str) for v in values) else "integer"
    if kind is None and "const" in prop:
        kind = "integer" if isinstance(prop["const"], int) else "string"
    kinds = kind if isinstance(kind, list) else [kind]
    return [k for k in kinds if k not in (None, "null")]


def _arrow(prop: dict[str, Any]) -> pa.DataType:
    """The Arrow type of a JSON schema property (JSON text when it has no fixed shape)."""
    kinds = _types(prop)
    if kinds == ["string"] and prop.get("format") == "date-time":
        return pa.timestamp("us", tz="UTC")
    if len(kinds) == 1 and kinds[0] in _SCALARS:
        return _SCALARS[kinds[0]]
    if kinds == ["array"]:
        items = prop.get("items", {})
        if not isinstance(items, dict):
            # A tuple ("prefixItems", then "items": false): a list of its one item type
            # when every place has the same, else of JSON text.
            places = prop.get("prefixItems", [])
            items = places[0] if places and all(p == places[0] for p in places) else {}
        return pa.list_(_arrow(items))
    if kinds == ["object"] and prop.get("properties"):
        return pa.struct([pa.field(k, _arrow(v)) for k, v in prop["properties"].items()])
    return pa.string()  # JSON text


@cache
def _connection_schema() -> dict[str, Any]:
    text = (resources.files("tlslens.schema") / "connection.schema.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


def _columns(props: dict[str, Any], prefix: str = "") -> list[tuple[tuple[str, ...], pa.Field]]:
    out: list[tuple[tuple[str, ...], pa.Field]] = []
    for name, prop in props.items():
        if not prefix and name in _OWN_TABLE:
            continue
        if _types(prop) == ["object"] and prop.get("properties"):
            for path, column in _columns(prop["properties"], f"{prefix}{name}_"):
                out.append(((name, *path), column))
        else:
            out.append(((name,), pa.field(f"{prefix}{name}", _arrow(prop))))
    return out


@cache
def connection_columns() -> tuple[tuple[tuple[str, ...], pa.Field], ...]:
    """(path into the `show --json` object, column) of every connections column."""
    return (
        ((), pa.field("capture_file", pa.string())),
        *_columns(_connection_schema()["properties"]),
    )


def _fit(value: Any, kind: pa.DataType) -> Any:
    """A JSON value in the shape of its column: JSON text where the column is text."""
    if value is None:
        return None
    if pa.types.is_timestamp(kind):
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    if pa.types.is_string(kind) and not isinstance(value, str):
        return json.dumps(value, sort_keys=True)
    if pa.types.is_list(kind):
        return [_fit(v, kind.value_type) for v in value]
    if pa.types.is_struct(kind):
        return {
            kind.field(i).name: _fit(value.get(kind.field(i).name), kind.field(i).type)
            for i in range(kind.num_fields)
        }
    return value


def connection_row(capture_file: str, row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path, column in connection_columns():
        if not path:
            out[column.name] = capture_file
            continue
        value: Any = row
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        out[column.name] = _fit(value, column.type)
    return out


def schema(table: str) -> pa.Schema:
    fields = {
        "connections": [column for _path, column in connection_columns()],
        "certificates": [
            pa.field("capture_file", pa.string()),
            pa.field("sha256", pa.string()),
            pa.field("subject", pa.string()),
            pa.field("issuer", pa.string()),
            pa.field("serial", pa.string()),
            pa.field("not_before", pa.timestamp("us", tz="UTC")),
            pa.field("not_after", pa.timestamp("us", tz="UTC")),
            pa.field("san", pa.list_(pa.string())),
            pa.field("key", pa.string()),
            pa.field("signature_algorithm", pa.string()),
            pa.field("error", pa.string()),
            pa.field("first_seen_connection", pa.int64()),
            pa.field("first_seen_time", pa.timestamp("us", tz="UTC")),
            pa.field("connections", pa.int64()),
        ],
        "handshake_messages": [
            pa.field("capture_file", pa.string()),
            pa.field("connection", pa.int64()),
            pa.field("index", pa.int64()),
            pa.field("frame", pa.int64()),
            pa.field("direction", pa.string()),
            pa.field("type", pa.string()),
        ],
        "problems": [
            pa.field("capture_file", pa.string()),
            pa.field("connection", pa.int64()),  # null: the capture's own problems
            pa.field("frame", pa.int64()),
            pa.field("direction", pa.string()),
            pa.field("layer", pa.string()),
            pa.field("offset", pa.int64()),
            pa.field("message", pa.string()),
        ],
    }[table]
    meta = {
        b"tlslens.table": table.encode(),
        b"tlslens.schema_version": str(TABLE_SCHEMA_VERSION).encode(),
    }
    return pa.schema(fields, metadata=meta)
