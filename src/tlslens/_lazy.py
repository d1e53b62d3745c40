"""A package's public names imported when first asked for (PEP 562).

A package ``__init__`` that imports its submodules makes every importer pay for all of
them: `show --json` would load the narration, `--version` the capture pipeline and
cryptography's X.509. A package lists its names here instead; type checkers read the
same names from an ``if TYPE_CHECKING:`` block beside the table.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping


def lazy_names(
    package: str, where: Mapping[str, str]
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``, whose name N lives in module
    ``where[N]``; a name once imported is kept as the package's own global."""

    def getattr_(name: str) -> object:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)  # the next access is a plain global
        return value

    def dir_() -> list[str]:
        return sorted({*vars(sys.modules[package]), *where})

    return getattr_, dir_
