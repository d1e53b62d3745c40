"""The compiled core's JSON writer (crates/tlslens-py/src/json.rs): the same bytes as
``json.JSONEncoder(check_circular=False).encode`` for every JSON-like value, the same
errors for what json cannot write, and a bounded depth."""

from __future__ import annotations

import enum
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tlslens import _core

_PYTHON = json.JSONEncoder(check_circular=False)

# Every code point, lone surrogates and controls included (a str from a capture may hold
# anything); text that looks like a row's (ASCII, a little non-ASCII) weighs most.
_TEXT = st.one_of(
    st.text(st.characters(exclude_categories=(), min_codepoint=0, max_codepoint=0x10FFFF)),
    st.text(st.characters(min_codepoint=0, max_codepoint=0x7F)),
    st.text(st.sampled_from('"\\/\b\f\n\r\t\x00\x1f\x7f\x80é\u2028\ud800\udfff\U0001f600')),
)
_FLOATS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e-05, 1e16, 1e15, 0.0001, -0.0, 5e-324, 1.7976931348623157e308, 0.1]),
)
_INTS = st.one_of(st.integers(), st.integers(min_value=-(2**200), max_value=2**200))
_KEYS = st.one_of(_TEXT, _INTS, _FLOATS, st.booleans(), st.none())
_SCALARS = st.one_of(st.none(), st.booleans(), _INTS, _FLOATS, _TEXT)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=6),
        st.lists(inner, max_size=6).map(tuple),
        st.dictionaries(_KEYS, inner, max_size=6),
    ),
    max_leaves=40,
)


@settings(max_examples=1500, deadline=None)
@given(_VALUES)
def test_the_core_writes_what_json_writes(value: Any) -> None:
    assert _core.json_line(value) == _PYTHON.encode(value)


@pytest.mark.parametrize(
    "value",
    [
        1e-05,
        1e16,
        -0.0,
        5e-324,
        float("nan"),
        float("-inf"),
        2**64,
        -(2**63) - 1,
        2**63 - 1,
        "\ud800x\udc00\U0001f600",
        {"\udfff": [None, True, False]},
        {3: "a", 2.5: "b", True: "c", False: "g", None: "d", float("inf"): "e", 2**70: "f"},
        {},
        [],
        (),
        [[[]], {"a": {}}],
        "",
    ],
)
def test_edges_are_json_s(value: Any) -> None:
    assert _core.json_line(value) == _PYTHON.encode(value)


class _Level(enum.IntEnum):
    HIGH = 7


class _Name(enum.StrEnum):
    A = "a\u00e9"


class _Text(str):
    def encode(self, *args: Any, **kwargs: Any) -> bytes:
        return b"not the str's bytes"


class _Float(float):
    def __repr__(self) -> str:
        return "not the float's repr"


class _Dict(dict[str, Any]):
    pass


def test_subclasses_are_written_as_json_writes_their_base() -> None:
    """IntEnum as its number (int.__repr__, not its str), a str Enum as its value, a float
    subclass as float.__repr__ gives it, a str subclass (lone surrogate and all) by its
    characters whatever its own encode says, a dict subclass as a dict."""
    value = _Dict({"level": _Level.HIGH, "name": _Name.A, "ms": _Float(1.5), _Name.A: 1})
    value["lone"] = _Text("\ud800\u00e9")
    value[_Level.HIGH] = 2  # type: ignore[index]
    assert _core.json_line(value) == _PYTHON.encode(value)
    assert (
        _core.json_line(value)
        == '{"level": 7, "name": "a\\u00e9", "ms": 1.5, "a\\u00e9": 1, "lone": "\\ud800\\u00e9", "7": 2}'
    )


@pytest.mark.parametrize(
    ("value", "name"),
    [
        (b"bytes", "bytes"),
        ({"a": [1, {2, 3}]}, "set"),
        (object(), "object"),
        ([1, bytearray(b"x")], "bytearray"),
        ({"a": 1j}, "complex"),
    ],
)
def test_what_json_refuses_raises_the_same_type_error(value: Any, name: str) -> None:
    with pytest.raises(TypeError, match=f"^Object of type {name} is not JSON serializable$"):
        _core.json_line(value)
    with pytest.raises(TypeError, match=f"^Object of type {name} is not JSON serializable$"):
        _PYTHON.encode(value)


@pytest.mark.parametrize(
    ("key", "name"), [((1, 2), "tuple"), (b"k", "bytes"), (frozenset(), "frozenset")]
)
def test_a_key_json_refuses_raises_the_same_type_error(key: Any, name: str) -> None:
    message = f"^keys must be str, int, float, bool or None, not {name}$"
    with pytest.raises(TypeError, match=message):
        _core.json_line({"fine": 1, key: 2})
    with pytest.raises(TypeError, match=message):
        _PYTHON.encode({"fine": 1, key: 2})


def test_nesting_past_the_limit_is_a_value_error_not_a_crash() -> None:
    deep: Any = []
    for _ in range(_core.JSON_MAX_DEPTH - 1):
        deep = [deep]
    assert _core.json_line(deep) == _PYTHON.encode(deep)
    for too_deep in ([deep], {"a": deep}, [{"b": deep}] * 2):
        with pytest.raises(ValueError, match="nesting deeper than"):
            _core.json_line(too_deep)
    cycle: list[Any] = []
    cycle.append(cycle)  # a cycle, which check_circular=False leaves to the recursion limit
    with pytest.raises(ValueError, match="nesting deeper than"):
        _core.json_line(cycle)
