"""Digest of `tlslens show --json` for every capture of the shared corpus.

Each capture is shown twice: without secrets, and with the key material its
`ground_truth.json` entry names (key log, RSA key, PSK), run from the corpus root
so that the `file` field is the corpus-relative name on every machine.
`tests/test_corpus_digests.py` compares the result with the committed
`tests/vectors/corpus_digests.json`, so a refactoring that changes any field of
any connection fails loudly.

    python -bb tools/corpus_digests.py [--corpus ../shared/corpus] [--write FILE]

Run it under `-bb`, as `make unit` runs the suite (a BytesWarning raised inside a
certificate parse is reported in that certificate's `error`). Use `--write` only for a change that is meant to alter the output, and
say in the commit which fields changed and why.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from click.testing import CliRunner

from tlslens.cli import main

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus"
DIGESTS = ROOT / "tests" / "vectors" / "corpus_digests.json"


def key_options(info: dict[str, object]) -> list[str]:
    """The `show` options equivalent to the tshark options the corpus gives."""
    run_from = str(info.get("run_from", "."))
    raw = info.get("tshark_opts", [])
    opts = [str(o) for o in raw] if isinstance(raw, list) else []
    args: list[str] = []
    for i, opt in enumerate(opts):
        if opt != "-o" or i + 1 >= len(opts):
            continue
        value = opts[i + 1]
        if value.startswith(("tls.keylog_file:", "ssl.keylog_file:")):
            args += ["--keylog", os.path.join(run_from, value.split(":", 1)[1])]
        elif value.startswith("uat:rsa_keys:"):
            path, password = re.findall(r'"([^"]*)"', value)
            key = os.path.join(run_from, path)
            args += ["--rsa-key", f"{key}:{password}" if password else key]
        elif value.startswith("tls.psk:"):
            args += ["--psk", value.split(":", 1)[1]]
    return args


@contextmanager
def _cwd(path: Path) -> Iterator[None]:
    before = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def digest(corpus: Path, name: str, options: list[str]) -> str:
    """sha256 of the exit status and standard output of `show --json NAME OPTIONS`."""
    runner = CliRunner()
    env = {"SSLKEYLOGFILE": None}
    with _cwd(corpus):
        result = runner.invoke(main, ["show", "--json", name, *options], env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    h = hashlib.sha256(f"exit {result.exit_code}\n".encode())
    h.update(result.stdout_bytes)
    return h.hexdigest()


def digests(corpus: Path) -> dict[str, dict[str, str]]:
    captures = json.loads((corpus / "ground_truth.json").read_text())["captures"]
    out: dict[str, dict[str, str]] = {}
    for name in sorted(captures):
        entry = {"without_keys": digest(corpus, name, [])}
        options = key_options(captures[name])
        if options:
            entry["with_keys"] = digest(corpus, name, options)
        out[name] = entry
    return out


def _main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--write", type=Path, help="write the digests to this JSON file")
    args = parser.parse_args()
    result = digests(args.corpus.resolve())
    text = json.dumps(result, indent=1, sort_keys=True) + "\n"
    if args.write:
        args.write.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
