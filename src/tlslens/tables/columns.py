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
import warnings
from collections.abc import Callable, Iterator, Sequence
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

# How a JSON value becomes one Arrow can read as its column; None where Arrow reads it as
# the JSON has it.
Convert = Callable[[Any], Any] | None


def _types(prop: dict[str, Any]) -> list[str]:
    kind = prop.get("type")
    if kind is None and "enum" in prop:
        values = [v for v in prop["enum"] if v is not None]
        kind = "string" if all(isinstance(v, str) for v in values) else "integer"
    if kind is None and "const" in prop:
        kind = "integer" if isinstance(prop["const"], int) else "string"
    kinds = kind if isinstance(kind, list) else [kind]
    return [k for k in kinds if k not in (None, "null")]


def _json_text(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True)


def _each(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else [convert(v) for v in value]


def _fields(converts: dict[str, Callable[[Any], Any]]) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        if value is None:
            return None
        return {**value, **{name: c(value.get(name)) for name, c in converts.items()}}

    return convert


def _shape(prop: dict[str, Any]) -> tuple[pa.DataType, Convert]:
    """The Arrow type of a JSON schema property (JSON text when it has no fixed shape), and
    how a JSON value becomes one Arrow reads as it (only JSON text, and what holds it:
    Arrow takes an object's properties by name, leaving out the ones the struct lacks)."""
    kinds = _types(prop)
    if kinds == ["string"] and prop.get("format") == "date-time":
        return pa.timestamp("us", tz="UTC"), None
    if len(kinds) == 1 and kinds[0] in _SCALARS:
        return _SCALARS[kinds[0]], None
    if kinds == ["array"]:
        items = prop.get("items", {})
        if not isinstance(items, dict):
            # A tuple ("prefixItems", then "items": false): a list of its one item type
            # when every place has the same, else of JSON text.
            places = prop.get("prefixItems", [])
            items = places[0] if places and all(p == places[0] for p in places) else {}
        kind, convert = _shape(items)
        return pa.list_(kind), None if convert is None else _each(convert)
    if kinds == ["object"] and prop.get("properties"):
        shapes = {k: _shape(v) for k, v in prop["properties"].items()}
        converts = {k: c for k, (_t, c) in shapes.items() if c is not None}
        kind = pa.struct([pa.field(k, t) for k, (t, _c) in shapes.items()])
        return kind, _fields(converts) if converts else None
    return pa.string(), _json_text


def _as_read(kind: pa.DataType) -> pa.DataType:
    """The type Arrow reads a column's JSON values as: a date-time as its text, cast once
    the column is whole (Arrow's ISO 8601 parser, C++, for the datetime of each value)."""
    if pa.types.is_timestamp(kind):
        return pa.string()
    if pa.types.is_list(kind):
        return pa.list_(_as_read(kind.value_type))
    if pa.types.is_struct(kind):
        return pa.struct([pa.field(f.name, _as_read(f.type)) for f in kind])
    return kind


@cache
def _connection_schema() -> dict[str, Any]:
    text = (resources.files("tlslens.schema") / "connection.schema.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


Column = tuple[tuple[str, ...], pa.Field, Convert]


def _columns(props: dict[str, Any], prefix: str = "") -> list[Column]:
    out: list[Column] = []
    for name, prop in props.items():
        if not prefix and name in _OWN_TABLE:
            continue
        if _types(prop) == ["object"] and prop.get("properties"):
            for path, column, convert in _columns(prop["properties"], f"{prefix}{name}_"):
                out.append(((name, *path), column, convert))
        else:
            kind, convert = _shape(prop)
            out.append(((name,), pa.field(f"{prefix}{name}", kind), convert))
    return out


@cache
def connection_columns() -> tuple[Column, ...]:
    """(path into the `show --json` object, column, conversion of its values) of every
    connections column."""
    return (
        ((), pa.field("capture_file", pa.string()), None),
        *_columns(_connection_schema()["properties"]),
    )


# A `show --json` object's nested objects, down to the columns Arrow reads as they are.
_Tree = dict[str, "_Tree | pa.DataType"]


@cache
def _read_tree() -> _Tree:
    tree: _Tree = {}
    for path, column, convert in connection_columns():
        if not path or convert is not None:
            continue
        node = tree
        for key in path[:-1]:
            child = node.setdefault(key, {})
            assert isinstance(child, dict)  # a column's path never runs through another's
            node = child
        node[path[-1]] = _as_read(column.type)
    return tree


def _struct(tree: _Tree) -> pa.StructType:
    return pa.struct(
        [pa.field(k, _struct(v) if isinstance(v, dict) else v) for k, v in tree.items()]
    )


def _leaves(
    array: pa.StructArray, tree: _Tree, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], pa.Array]]:
    # flatten(): a child null wherever its object is (a missing object: null columns).
    for (key, node), child in zip(tree.items(), array.flatten(), strict=True):
        if isinstance(node, dict):
            yield from _leaves(child, node, (*path, key))
        else:
            yield (*path, key), child


def _lookup(row: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = row
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _read(values: Sequence[Any], kind: pa.DataType) -> pa.Array:
    with warnings.catch_warnings():
        # Where an object's first property has no field (JSON text, or not in the schema),
        # Arrow tries the fields' names as bytes too: the right values, but a BytesWarning,
        # an error under `python -bb`.
        warnings.simplefilter("ignore", BytesWarning)
        return pa.array(values, kind)


def connection_arrays(capture_file: str, rows: Sequence[dict[str, Any]]) -> list[pa.Array]:
    """The connections columns of `show --json` objects.

    Strategy: Arrow reads the objects whole as one struct of their nested objects (its
    C++ converter looks each property up, not a Python loop per column and row), which
    flattens into the columns; only the columns of JSON text are built value by value."""
    tree = _read_tree()
    read = dict(_leaves(_read(rows, _struct(tree)), tree))
    arrays = []
    for path, column, convert in connection_columns():
        if not path:
            array = pa.array([capture_file] * len(rows), column.type)
        elif convert is None:
            array = read[path]
        else:
            values = [convert(_lookup(row, path)) for row in rows]
            array = _read(values, _as_read(column.type))
        arrays.append(array if array.type == column.type else array.cast(column.type))
    return arrays


def message_arrays(capture_file: str, rows: Sequence[dict[str, Any]]) -> list[pa.Array]:
    """The handshake_messages columns of `show --json` objects: a row per message, its
    connection and index first."""
    messages = [message for row in rows for message in row["handshake"]]
    own = list(schema("handshake_messages"))[3:]  # frame, direction, type
    return [
        pa.array([capture_file] * len(messages), pa.string()),
        pa.array([row["id"] for row in rows for _message in row["handshake"]], pa.int64()),
        pa.array([i for row in rows for i in range(len(row["handshake"]))], pa.int64()),
        *_read(messages, pa.struct(own)).flatten(),
    ]


def schema(table: str) -> pa.Schema:
    fields = {
        "connections": [column for _path, column, _convert in connection_columns()],
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
