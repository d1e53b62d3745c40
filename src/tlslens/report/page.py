"""One self-contained HTML page: the overview, the charts and every connection's detail.

Strategy: the page is rendered by Jinja2 with autoescaping on. Captured text never goes
into markup or code: the overview rows are one JSON block, gzip'd and base64'd, and the
connections' details are JSON too, gzip'd in chunks of CHUNK connections and base64'd,
each chunk unpacked by the browser (DecompressionStream) only when one of its connections
is opened, so a capture of thousands of connections stays a few megabytes and paints at
once. To pack well, a chunk is stored by column (all ladders, then all narrations...);
field names and meanings, the narration's lines, the ladder's labels and the summary's
are numbers into one table of strings (most recur from connection to connection); each
distinct list of fields is kept once, and so is each certificate's DER (a Certificate
message's bytes refer to it): the shared block holds these tables. JSON in a script block
has ``<``, ``>`` and ``&`` escaped, so no captured string can close the block. The script
and the style are inline and allowed by their SHA-256 in a Content-Security-Policy that
forbids every other load: no network, no external file, nothing but this page.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from tlslens.report.data import COLUMNS

CHUNK = 100  # connections per compressed detail block
_COLUMNS = (
    "id", "file", "title", "summary", "ladder", "parts", "steps", "chain", "keys", "problems"
)  # fmt: skip
_JSON_ESCAPES = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})
_CHARTS = (
    ("Versions", COLUMNS.index("version")),
    ("Cipher suites", COLUMNS.index("suite")),
    ("Key exchange", COLUMNS.index("key_exchange")),
    ("Chain verdicts", COLUMNS.index("chain")),
)


def script_json(value: Any) -> Markup:
    """JSON that is safe inside a <script type="application/json"> block."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return Markup(text.translate(_JSON_ESCAPES))  # escaped just above


def _csp_hash(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


@dataclass
class ReportBuilder:
    """Collects rows and details connection by connection; ``render`` gives the page."""

    title: str
    sources: list[str]
    made: datetime
    rows: list[list[Any]] = field(default_factory=list)
    chunks: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    _pending: list[dict[str, Any]] = field(default_factory=list)
    _strings: dict[str, int] = field(default_factory=lambda: {"": 0})
    _certs: dict[str, int] = field(default_factory=dict)
    _fieldsets: dict[str, int] = field(default_factory=dict)

    def add(self, row: list[Any], detail: dict[str, Any]) -> None:
        self.rows.append(row)
        s = self._string
        detail["parts"] = [self._part(part) for part in detail["parts"]]
        detail["ladder"] = [[*a[:4], s(a[4]), *a[5:]] for a in detail["ladder"]]
        detail["steps"] = [
            [frame, direction, s(title), [s(line) for line in lines], tone]
            for frame, direction, title, lines, tone in detail["steps"]
        ]
        detail["summary"] = [[s(label), s(text)] for label, text in detail["summary"]]
        self._pending.append(detail)
        if len(self._pending) == CHUNK:
            self._seal()

    def _string(self, text: str) -> int:
        return self._strings.setdefault(text, len(self._strings))

    def _fields(self, fields: list[Any]) -> list[Any]:
        return [
            [
                self._string(name),
                start,
                end,
                self._string(value) if value else 0,
                self._string(meaning),
                self._fields(kids),
            ]
            for name, start, end, value, meaning, kids in fields
        ]

    def _part(self, part: dict[str, Any] | None) -> list[Any] | int:
        """[what, offset, hex, fields]; ``hex`` a list of hex strings and certificate
        numbers when the part holds certificates."""
        if part is None:
            return 0
        hexed: str | list[str | int] = part["hex"]
        if part.get("certs"):
            pieces: list[str | int] = []
            at = 0
            for start, end in part["certs"]:
                if start < at:
                    continue  # the same certificate twice: the first is referred to
                der = part["hex"][2 * start : 2 * end]
                pieces += [
                    part["hex"][2 * at : 2 * start],
                    self._certs.setdefault(der, len(self._certs)),
                ]
                at = end
            pieces.append(part["hex"][2 * at :])
            hexed = pieces
        # The same layout recurs (every hello of one client stack, every record header of one
        # length): each distinct field list is kept once.
        layout = json.dumps(self._fields(part["fields"]), separators=(",", ":"))
        fieldset = self._fieldsets.setdefault(layout, len(self._fieldsets))
        return [self._string(part["what"]), part["offset"], hexed, fieldset]

    def _seal(self) -> None:
        if not self._pending:
            return
        columns = {name: [detail[name] for detail in self._pending] for name in _COLUMNS}
        self.chunks.append(_packed(columns))
        self._pending = []

    def render(self) -> str:
        self._seal()
        assets = resources.files("tlslens.report") / "assets"
        css = (assets / "report.css").read_text()
        js = (assets / "report.js").read_text()
        env = Environment(
            loader=PackageLoader("tlslens.report", "assets"),
            autoescape=select_autoescape(default=True, default_for_string=True),
        )
        template = env.get_template("report.html.j2")
        return template.render(
            title=self.title,
            sources=self.sources,
            made=f"{self.made:%Y-%m-%d %H:%M} UTC",
            count=len(self.rows),
            notes=self.notes,
            charts=_charts(self.rows),
            columns=COLUMNS,
            css=Markup(css),  # the package's own file
            js=Markup(js),  # the package's own file
            csp=f"default-src 'none'; script-src 'sha256-{_csp_hash(js)}'; "
            f"style-src 'sha256-{_csp_hash(css)}'; img-src data:; base-uri 'none'; "
            "form-action 'none'",
            overview=script_json(_packed({"columns": COLUMNS, "rows": self.rows, "chunk": CHUNK})),
            chunks=script_json(self.chunks),
            shared=script_json(
                _packed(
                    {
                        "strings": list(self._strings),
                        "certs": list(self._certs),
                        "fieldsets": [json.loads(layout) for layout in self._fieldsets],
                    }
                )
            ),
        )


def _packed(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return base64.b64encode(gzip.compress(text.encode(), 9, mtime=0)).decode()


def _charts(rows: list[list[Any]]) -> list[dict[str, Any]]:
    """Bar charts of the overview's columns: the most common values first, the rest summed."""
    charts = []
    for title, column in _CHARTS:
        counts = Counter(str(row[column]) or "(none)" for row in rows)
        top = counts.most_common(8)
        rest = sum(counts.values()) - sum(n for _v, n in top)
        if rest:
            top.append((f"{len(counts) - len(top)} others", rest))
        largest = max((n for _v, n in top), default=1)
        bars = [
            {"label": value, "count": n, "width": round(300 * n / largest, 1), "y": 22 * i}
            for i, (value, n) in enumerate(top)
        ]
        charts.append({"title": title, "bars": bars, "height": 22 * len(bars) + 4})
    return charts
