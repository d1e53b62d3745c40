"""Imported by every benchmark for its effect: tlslens measured as pip would install it, with
its bytecode compiled (the Makefile's `bytecode`). Where PYTHONDONTWRITEBYTECODE is set, as in
many containers, each tlslens run would otherwise compile its 70 modules again (0.15 s)."""

import compileall
from pathlib import Path

compileall.compile_dir(Path(__file__).resolve().parent.parent / "src", quiet=1)
