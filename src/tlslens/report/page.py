"""One self-contained HTML page: the overview, the charts and every connection's detail.

Strategy: the page is rendered by Jinja2 with autoescaping on. Captured text never goes
into markup or code: the overview rows are one JSON block, and the connections' details
are JSON too, gzip'd in chunks of CHUNK connections and base64'd, each chunk unpacked by the
browser (DecompressionStream) only when one of its connections is opened, so a capture of
thousands of connections stays a few megabytes and paints at once. JSON in a script block
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

CHUNK = 50  # connections per compressed detail block
_JSON_ESCAPES = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})
_CHARTS = (
    ("Versions", 4),
    ("Cipher suites", 5),
    ("Key exchange", 6),
    ("Chain verdicts", 10),
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

    def add(self, row: list[Any], detail: dict[str, Any]) -> None:
        self.rows.append(row)
        self._pending.append(detail)
        if len(self._pending) == CHUNK:
            self._seal()

    def _seal(self) -> None:
        if not self._pending:
            return
        packed = json.dumps(self._pending, ensure_ascii=False, separators=(",", ":"))
        self.chunks.append(base64.b64encode(gzip.compress(packed.encode(), 6, mtime=0)).decode())
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
            overview=script_json({"columns": COLUMNS, "rows": self.rows, "chunk": CHUNK}),
            chunks=script_json(self.chunks),
        )


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
