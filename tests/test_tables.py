"""The tables of `tlslens extract` (tables/columns.py): the connections table holds what
`show --json` says of each connection, column by column, whichever way it is built."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from click.testing import CliRunner

from tlslens.cli import main
from tlslens.tables.columns import connection_arrays, connection_columns, schema

from conftest import CAPTURES


def _expected(value: Any, kind: pa.DataType) -> Any:
    """What the README says a JSON value becomes in its column, written out plainly."""
    if value is None:
        return None
    if pa.types.is_timestamp(kind):
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    if pa.types.is_string(kind) and not isinstance(value, str):
        return json.dumps(value, sort_keys=True)  # JSON text
    if pa.types.is_list(kind):
        return [_expected(v, kind.value_type) for v in value]
    if pa.types.is_struct(kind):
        return {f.name: _expected(value.get(f.name), f.type) for f in kind}
    return value


def _row(capture_file: str, obj: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for path, column, _convert in connection_columns():
        value: Any = obj if path else capture_file
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        out[column.name] = _expected(value, column.type)
    return out


def test_a_connection_object_in_columns() -> None:
    """Timestamps deep in lists of objects, JSON text, objects missing or with properties
    the table has no column for."""
    obj = {
        "id": 7,
        "start_time": "2026-11-28T10:00:00.123456Z",
        "alpn_offered": ["h2", "http/1.1"],
        "bytes": {"c2s": {"total": 5}},  # s2c missing: its columns null
        "client_auth": {"requested": True, "validation": {"trusted": False, "path": ["ab"]}},
        "validation": {
            "checked_at": "2026-11-28T10:00:02Z",
            "revocation": [
                {"subject": "CN=x", "checked_at": "2026-11-28T10:00:03Z", "revoked_at": None}
            ],
        },
        "quic": {
            "packets": {"initial": 2, "1rtt": 5},  # no fixed shape: JSON text
            "datagrams": [
                {
                    "frame": 3,
                    "time": "2026-11-28T10:00:01.5Z",
                    "direction": "c2s",
                    "packets": [{"type": "initial", "frames": [{"type": "crypto"}]}],
                    "not_a_column": "left out",
                }
            ],
        },
        "not_in_the_schema": 1,
    }
    table = pa.Table.from_arrays(
        connection_arrays("f.pcap", [obj, {}]), schema=schema("connections")
    )
    rows = table.to_pylist()
    assert rows == [_row("f.pcap", obj), _row("f.pcap", {})]
    first = rows[0]
    assert first["start_time"] == datetime(2026, 11, 28, 10, 0, 0, 123456, tzinfo=UTC)
    assert first["bytes_c2s_total"] == 5 and first["bytes_s2c_total"] is None
    assert first["client_auth_validation"] == '{"path": ["ab"], "trusted": false}'
    assert first["quic_packets"] == '{"1rtt": 5, "initial": 2}'
    (datagram,) = first["quic_datagrams"]
    assert datagram["time"] == datetime(2026, 11, 28, 10, 0, 1, 500000, tzinfo=UTC)
    assert "not_a_column" not in datagram
    assert first["validation_revocation"][0]["checked_at"].second == 3


def test_the_connections_table_is_show_json(tmp_path: Path) -> None:
    """Every column of every connection, against `show --json` of the same captures: OCSP
    times, client certificates' verdicts (JSON text), certificates and handshakes; and a
    handshake_messages row for each message of each connection, in order."""
    for name in ("openssl-ocsp", "openssl-hrr-clientauth", "openssl-resumption"):
        capture = next(CAPTURES.glob(f"{name}.pcap*"))
        keys = ["--keylog", str(capture.with_suffix(".keys"))]
        shown = CliRunner().invoke(main, ["show", "--json", *keys, str(capture)])
        objects = [json.loads(line) for line in shown.stdout.splitlines()]
        out = tmp_path / name
        result = CliRunner().invoke(main, ["extract", "--out", str(out), *keys, str(capture)])
        assert result.exit_code == 0, result.stderr[-2000:]
        (path,) = (out / "connections").glob("*.parquet")
        rows = pq.read_table(path).to_pylist()
        assert rows == [_row(str(capture), obj) for obj in objects]
        assert len(rows) >= 2
        (path,) = (out / "handshake_messages").glob("*.parquet")
        messages = [
            {"capture_file": str(capture), "connection": obj["id"], "index": i, **message}
            for obj in objects
            for i, message in enumerate(obj["handshake"])
        ]
        assert pq.read_table(path).to_pylist() == messages
