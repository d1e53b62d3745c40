"""Start-up: each command imports what it uses, nothing more (issue 23 wants the whole
start of `show --json` under 0.1 s; importing was 0.14-0.18 s of it).

Each case runs the command in a fresh interpreter and lists which of the modules it must
not need were imported; the output is checked too, so that a command that failed early
cannot pass for a lean one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

from conftest import CAPTURES, CORPUS, ROOT, VECTORS, require_program

DEMO = CAPTURES / "demo-tls12-tls13.pcapng"

# Never needed to read a capture: the report, the Parquet tables and their engines, the
# scanner and the network clients, and what only one kind of payload needs.
_OTHER_COMMANDS = (
    "jinja2",
    "pyarrow",
    "duckdb",
    "dask",
    "tlslens.report",
    "tlslens.tables",
    "tlslens.scan",
    "tlslens.net",
    "OpenSSL",
)
_HTTP2 = ("h2", "hpack", "hyperframe", "tlslens.decrypt.h2wire")
_HTTP3 = ("aioquic", "pylsqpack", "tlslens.decrypt.h3wire")
# What draws on a terminal: JSON Lines to a file or a pipe, with nothing said on stderr,
# draw nothing (rich is a sixth of that start-up).
_RICH = ("rich", "rich.console", "rich.text", "tlslens.cli.terminal")
# The narration of `show` as text, which JSON does without.
_NARRATION = (
    "tlslens.explain.timeline",
    "tlslens.explain.hello",
    "tlslens.explain.key_exchange",
    "tlslens.explain.framing",
    "statistics",
)


def _imported(
    args: list[str], unwanted: tuple[str, ...], exit_code: int = 0
) -> tuple[str, list[str]]:
    """(standard output, the ``unwanted`` modules imported) of ``tlslens ARGS``, which
    exits with ``exit_code``."""
    code = (
        "import sys\n"
        "from tlslens.cli import main\n"
        "try:\n"
        f"    main({args!r}, standalone_mode=False)\n"
        "finally:\n"
        f"    print(sorted(m for m in {unwanted!r} if m in sys.modules), file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == exit_code, done.stderr
    return done.stdout, json.loads(done.stderr.splitlines()[-1].replace("'", '"'))


def test_show_json_imports_neither_the_narration_nor_other_commands() -> None:
    out, imported = _imported(
        ["show", "--json", str(DEMO)], _OTHER_COMMANDS + _HTTP2 + _HTTP3 + _NARRATION + _RICH
    )
    assert [json.loads(line)["id"] for line in out.splitlines()] == [1, 2]
    assert imported == []


def test_show_json_imports_no_cryptography_without_a_certificate_in_the_clear() -> None:
    """TLS 1.3 without its key log (``nginx-h2.pcapng``): every certificate is encrypted, so
    nothing of ``cryptography`` is needed, not even its package (3 ms) for the trust
    options' files, which are none."""
    out, imported = _imported(
        ["show", "--json", str(CAPTURES / "nginx-h2.pcapng")], ("cryptography",)
    )
    assert [json.loads(line)["version"] for line in out.splitlines()] == ["TLS 1.3"]
    assert imported == []


def test_show_json_says_a_warning_on_a_pipe_without_rich() -> None:
    """A warning on a stderr that is no terminal is the line rich would write there, said
    without importing it (here: --connection 9 of a capture of two connections)."""
    code = (
        "import sys\n"
        "from tlslens.cli import main\n"
        "try:\n"
        f"    main(['show', '--json', '--connection', '9', {str(DEMO)!r}])\n"
        "except SystemExit as exc:\n"
        "    print(exc.code, sorted(m for m in sys.modules if m.startswith('rich')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout == "1 []\n"
    assert done.stderr == (
        f"{DEMO}: there is no connection 9; the capture holds 2 TLS connections, "
        "numbered from 1 (--connection)\n"
    )


@pytest.mark.parametrize(
    "line",
    [
        "plain ASCII",
        "",
        "  leading and trailing spaces  ",
        "x" * 300,  # longer than any terminal: never wrapped
        "caf\u00e9 \u4e2d\u6587 \U0001f512 \ufffd",  # wide characters, a placeholder
        "[bold]not markup[/bold] :lock: not an emoji",
    ],
)
def test_a_line_said_without_rich_is_what_rich_writes(
    line: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stderr.say on a non-terminal writes what rich's Console there wrote, style or not."""
    import io

    from rich.console import Console
    from rich.text import Text

    from tlslens.cli.output import Stderr

    for style in ("", "red", "bold yellow"):
        ours = io.StringIO()
        monkeypatch.setattr(sys, "stderr", ours)
        Stderr().say(line, style)
        riches = io.StringIO()
        monkeypatch.setattr(sys, "stderr", riches)
        Console(stderr=True, highlight=False, soft_wrap=True).print(Text(line, style=style))
        assert ours.getvalue() == riches.getvalue() == line + "\n"


def test_show_as_text_imports_no_other_command() -> None:
    out, imported = _imported(["show", str(DEMO)], _OTHER_COMMANDS + _HTTP2 + _HTTP3)
    assert "Connection 2" in out
    assert imported == []


def test_certs_imports_neither_the_narration_nor_other_commands() -> None:
    out, imported = _imported(["certs", str(DEMO)], _OTHER_COMMANDS + _HTTP2 + _HTTP3 + _NARRATION)
    assert "Connection 1" in out
    assert imported == []


def test_extract_help_imports_neither_arrow_nor_rich() -> None:
    out, imported = _imported(["extract", "--help"], ("pyarrow", "duckdb", "dask", "rich"))
    assert "Parquet" in out
    assert imported == []


def test_extract_to_a_pipe_draws_no_progress_bar(tmp_path: Path) -> None:
    """Standard error a pipe: no progress bar, nor rich.progress imported for one."""
    _out, imported = _imported(
        ["extract", "--workers", "1", "--out", str(tmp_path / "ds"), str(DEMO)],
        ("rich.progress", "rich.live"),
    )
    assert (tmp_path / "ds" / "connections").is_dir()
    assert imported == []


@pytest.mark.parametrize(
    ("capture", "http2"), [("demo-tls12-tls13.pcapng", False), ("nginx-curl.pcapng", True)]
)
def test_decrypt_imports_the_http2_reader_for_http2_only(capture: str, http2: bool) -> None:
    """h2, hpack and hyperframe come with the first HTTP/2 connection; aioquic and
    pylsqpack with the first HTTP/3 one, so neither here."""
    path = CAPTURES / capture
    keys = str(path.with_suffix(".keys"))
    out, imported = _imported(
        ["decrypt", "--keylog", keys, str(path)], _OTHER_COMMANDS + _HTTP2 + _HTTP3 + _NARRATION
    )
    assert ("HTTP/2:" in out) is http2 and "HTTP/1.x:" in out
    assert imported == (sorted(_HTTP2) if http2 else [])


@pytest.mark.parametrize(
    ("args", "said"), [(["--version"], "tlslens, version 0.1.0\n"), (["--help"], "Usage: ")]
)
def test_version_and_help_import_no_capture_machinery(args: list[str], said: str) -> None:
    """`tlslens --version` and `tlslens --help` load click and the command table, not the
    commands: neither the capture pipeline, the model, cryptography, rich nor pyarrow (the
    listing imported every command: 0.4 s)."""
    code = (
        "import sys\n"
        "from tlslens.cli import main\n"
        "try:\n"
        f"    main({args!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith(('tlslens.', 'cryptography', "
        "'rich', 'pyarrow'))), file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.startswith(said)
    loaded = json.loads(done.stderr.splitlines()[-1].replace("'", '"'))
    # (tlslens.errors: the exception hierarchy alone, for the output's failures.)
    assert loaded == [
        "tlslens._lazy",
        "tlslens._text",
        "tlslens.cli",
        "tlslens.cli.app",
        "tlslens.errors",
    ]


@pytest.mark.parametrize("width", [40, 80, 100, 160, 400])
def test_help_lists_each_command_as_click_would_from_its_own_help(width: int) -> None:
    """The listing `tlslens --help` makes without importing the commands is the one click
    makes from the commands themselves, at any width."""
    from tlslens.cli import main

    ctx = click.Context(main)
    ours, clicks = click.HelpFormatter(width=width), click.HelpFormatter(width=width)
    main.format_commands(ctx, ours)
    click.Group.format_commands(main, ctx, clicks)
    assert ours.getvalue() == clicks.getvalue()
    assert "show" in ours.getvalue() and "extract" in ours.getvalue()


def test_the_package_names_are_there_when_asked_for() -> None:
    """``import tlslens`` imports its names when first used; all of ``__all__`` is there,
    each the same object as in its module."""
    import tlslens
    from tlslens.pipeline import read_capture
    from tlslens.x509 import ChainChecker
    from tlslens.x509.checker import ChainChecker as Checker

    assert all(hasattr(tlslens, name) for name in tlslens.__all__)
    assert tlslens.read_capture is read_capture
    assert ChainChecker is Checker
    assert set(tlslens.__all__) <= set(dir(tlslens))
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        tlslens.nothing  # noqa: B018


def test_make_demo_compiles_the_sources_first() -> None:
    """Where PYTHONDONTWRITEBYTECODE is set (many containers, this one), a module without
    fresh bytecode is compiled by every run: 0.2 s of start-up for all of src/. `make demo`
    and `make unit` compile what changed since the install first (-o: the install is taken
    as done)."""
    make = require_program("make", "make")
    done = subprocess.run(
        [make, "--no-print-directory", "-n", "-o", ".venv/.installed", "demo"],
        cwd=ROOT,
        # Under `make test` the parent's MAKEFLAGS would add its own directory lines.
        env={k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")},
        capture_output=True,
        text=True,
        check=True,
    )
    commands = done.stdout.splitlines()
    assert "-m compileall -q src" in commands[0]
    assert " show " in commands[-1]


@pytest.mark.parametrize("package", ["tlslens", "tlslens.explain"])
def test_no_lazy_name_is_also_a_submodule(package: str) -> None:
    """A lazy name that is also a submodule's name (x509's ``validate``) would be the module
    once the submodule is imported: such a package imports its names eagerly."""
    import importlib

    module = importlib.import_module(package)
    folder = Path(module.__file__ or "").parent
    submodules = {p.stem for p in folder.glob("*.py")} | {
        p.parent.name for p in folder.glob("*/__init__.py")
    }
    assert set(module.__all__) & submodules == set()


def test_show_json_without_a_certificate_in_the_clear_needs_no_x509() -> None:
    """A TLS 1.3 capture read without keys shows no certificate: cryptography's X.509 (a
    third of start-up), the Mozilla store (certifi) and the chain checks stay unimported."""
    capture = CAPTURES / "nginx-h2.pcapng"
    out, imported = _imported(
        ["show", "--json", str(capture)],
        ("cryptography.x509", "certifi", "tlslens.x509.validate", "tlslens.explain.chain"),
    )
    [row] = [json.loads(line) for line in out.splitlines()]
    assert (row["version"], row["certificates"], row["validation"]) == ("TLS 1.3", [], None)
    assert imported == []


def test_show_json_with_a_chain_imports_what_checking_it_needs_only() -> None:
    """A chain checked against the Mozilla store: certifi's file is read without
    importlib.resources (zipfile, tempfile, shutil...: certifi.where() took 15 ms), and the
    fingerprints need not cryptography's key serialization (SSH keys, bcrypt, ciphers)."""
    out, imported = _imported(
        ["show", "--json", str(DEMO)],
        (
            "certifi",
            "importlib.resources",
            "zipfile",
            "tempfile",
            "cryptography.hazmat.primitives.serialization",
            "bcrypt",
        ),
    )
    rows = [json.loads(line) for line in out.splitlines()]
    assert [row["validation"]["trust_store"] for row in rows if row["validation"]] == ["mozilla"]
    assert imported == []


def test_x509_validate_is_the_function_whichever_is_imported_first() -> None:
    """``tlslens.x509`` imports its names when first asked for; its name ``validate`` is the
    function even once its submodule of the same name has been imported."""
    code = (
        "import importlib, types\n"
        "module = importlib.import_module('tlslens.x509.validate')\n"
        "import tlslens.x509\n"
        "from tlslens.x509 import validate\n"
        "assert validate is module.validate and tlslens.x509.validate is module.validate\n"
        "assert isinstance(module, types.ModuleType)\n"
        "from tlslens.x509 import pki\n"
        "assert isinstance(pki, types.ModuleType)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# cryptography's primitives and key loaders (the RSA ones, PKCS#12 and with it X.509).
_KEY_LOADING = (
    "cryptography.hazmat",
    "cryptography.hazmat.primitives.asymmetric.rsa",
    "cryptography.hazmat.primitives.serialization",
    "cryptography.hazmat.primitives.serialization.pkcs12",
    "cryptography.x509",
)


def test_show_json_without_keys_imports_no_cryptography_primitive() -> None:
    """Without keys nothing is decrypted and (TLS 1.3) no certificate is in the clear: the
    key store names the RSA keys' type without importing it, and the RSA premaster answer
    imports its padding when asked."""
    out, imported = _imported(["show", "--json", str(CAPTURES / "nginx-h2.pcapng")], _KEY_LOADING)
    [row] = [json.loads(line) for line in out.splitlines()]
    assert (row["version"], row["decryption"]["status"]) == ("TLS 1.3", "not_attempted")
    assert imported == []


def test_show_json_with_a_key_log_imports_no_key_loader() -> None:
    """A key log is read by the core: neither the RSA key loaders nor PKCS#12 (whose import
    brings cryptography's X.509) come with it. The key log here holds another capture's
    secrets, so that the TLS 1.3 certificates stay encrypted and need no X.509 either."""
    keys = CAPTURES / "demo-tls12-tls13.keys"
    out, imported = _imported(
        ["show", "--json", "--keylog", str(keys), str(CAPTURES / "nginx-h2.pcapng")], _KEY_LOADING
    )
    [row] = [json.loads(line) for line in out.splitlines()]
    assert (row["version"], row["certificates"]) == ("TLS 1.3", [])
    assert imported == []


@pytest.mark.parametrize(
    ("key", "password"),
    [(VECTORS / "pki" / "server.key", None), (CORPUS / "wireshark" / "keys" / "key.p12", "WebAS")],
)
def test_rsa_keys_load_with_their_imports_inside(key: Path, password: str | None) -> None:
    """The loaders import cryptography when called: a PEM key and a PKCS#12 bundle (BER,
    Wireshark's) load in a fresh interpreter that imported nothing of cryptography before."""
    code = (
        "import sys\n"
        "from tlslens.keys.files import load_rsa_key\n"
        "assert 'cryptography.hazmat' not in sys.modules\n"
        f"key = load_rsa_key({str(key)!r}, {password!r})\n"
        "print(key.key_size)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert (done.returncode, done.stdout) == (0, "2048\n"), done.stderr


def test_the_mutable_records_of_the_import_path_compare_by_identity() -> None:
    """Python 3.11 compiles a dataclass's generated methods at every start; the mutable
    records nothing compares by value get no __eq__ (and stay hashable by identity), the
    frozen ones keep value equality."""
    from tlslens.keys.store import KeyStore
    from tlslens.model import (
        Connection,
        DirectionStats,
        Endpoint,
        Finding,
        Handshake,
        TimelineEvent,
    )

    for mutable in (Connection, Handshake, TimelineEvent, DirectionStats, KeyStore):
        assert "__eq__" not in vars(mutable), mutable
    assert DirectionStats() != DirectionStats() and len({KeyStore(), KeyStore()}) == 2
    assert Endpoint(b"\x7f\x00\x00\x01", 443) == Endpoint(b"\x7f\x00\x00\x01", 443)
    assert Finding(1, "c2s", "record", 0, "m") == Finding(1, "c2s", "record", 0, "m")
