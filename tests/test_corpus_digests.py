"""`show --json` on every shared-corpus capture, with and without its key material,
prints exactly what the committed digests say (taken before the layout change of
issue 7; refreshed with `tools/corpus_digests.py --write` only for an intended change)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import CORPUS, VECTORS
from corpus_digests import digest, key_options

EXPECTED: dict[str, dict[str, str]] = json.loads((VECTORS / "corpus_digests.json").read_text())


def _cases() -> list[tuple[str, str]]:
    return [(name, kind) for name in sorted(EXPECTED) for kind in sorted(EXPECTED[name])]


def test_every_corpus_capture_is_pinned(corpus: Path) -> None:
    captures = json.loads((corpus / "ground_truth.json").read_text())["captures"]
    assert sorted(captures) == sorted(EXPECTED)


@pytest.mark.parametrize(("name", "kind"), _cases())
def test_show_json_unchanged(name: str, kind: str, corpus: Path) -> None:
    info = json.loads((CORPUS / "ground_truth.json").read_text())["captures"][name]
    options = key_options(info) if kind == "with_keys" else []
    assert digest(corpus, name, options) == EXPECTED[name][kind]
