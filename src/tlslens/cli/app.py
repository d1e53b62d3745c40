"""The command line: the only package that prints or exits.

Every string that came from a capture goes through ``safe_text`` and into
``rich.text.Text`` objects (never markup), so a hostile certificate subject or
SNI cannot move the cursor, recolour the screen or inject markup.
"""

from __future__ import annotations

import errno
import gc
import importlib
import os
import sys
from typing import NoReturn

import click

from tlslens import GC_THRESHOLD, __version__
from tlslens._text import safe_text
from tlslens.errors import OutputError

# Each command is imported when it runs: `scan` does not pay for pyOpenSSL, `show` not for
# the scanner (start-up time is part of every command's time). Beside it, what `tlslens
# --help` lists for it: its help's first sentence, all that click shows of it (the listing
# stays the same: tests/test_imports.py). Asking each command for it imported
# them all, pyarrow, cryptography, rich and the scanner with them: 0.4 s for a screen.
_COMMANDS = {
    "show": (
        "tlslens.cli.show:show",
        "Narrate every TLS connection in CAPTURES (pcap or pcapng, optionally .gz; - reads "
        "standard input as it arrives, e.g. tcpdump -w - | tlslens show -).",
    ),
    "connect": (
        "tlslens.cli.remote:connect",
        "Connect to TARGET (HOST[:PORT], default port 443), record one TLS handshake and "
        "show it from the inside: every message, the keys, the decrypted data, the chain.",
    ),
    "scan": (
        "tlslens.cli.audit:scan",
        "Scan TARGETS (HOST[:PORT], default port 443): versions, cipher suites in the "
        "server's order, groups, signature algorithms, resumption, stapling, ALPN, downgrade "
        "protection, the certificate chains, and a grade after the SSL Labs rating guide; "
        "with --quic, the same port over QUIC too.",
    ),
    "decrypt": (
        "tlslens.cli.plaintext:decrypt",
        "Decrypt CAPTURE's application data, connection by connection, with an HTTP summary.",
    ),
    "certs": (
        "tlslens.cli.certs:certs",
        "Each connection's certificate chain: as sent, as a trust path, and the verdict.",
    ),
    "report": (
        "tlslens.cli.picture:report",
        "Write CAPTURES (or one live connection, --connect) as one HTML page: every "
        "connection in a table, and for each the handshake ladder with every byte explained, "
        "the chain of trust and the key derivation.",
    ),
    "extract": (
        "tlslens.cli.harvest:extract",
        "Extract CAPTURES (files, folders searched for captures, globs) into a Parquet "
        "dataset: one row per TLS connection (every field of `show --json`, with JA3, JA3S "
        "and JA4), per distinct certificate, per handshake message and per problem.",
    ),
    "pki": (
        "tlslens.cli.lab:pki",
        "A lab PKI to build the story of trust yourself: root, intermediate, CSR, "
        "certificate, OCSP answer, revocation and CRL.",
    ),
}


class _Main(click.Group):
    """The group of commands; a reader that goes away (``| head``) ends the run quietly."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = _COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, _, attr = target[0].partition(":")
        command = getattr(importlib.import_module(module), attr)
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The listing of click's own ``format_commands``, each command shortened by click
        from its first sentence as it would be from its whole help."""
        limit = formatter.width - 6 - max(map(len, _COMMANDS))
        rows = [
            (name, click.Command(name, help=sentence).get_short_help_str(limit))
            for name, (_, sentence) in _COMMANDS.items()
        ]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> object:
        try:
            try:
                return super().invoke(ctx)
            finally:
                _flush_output()
        except BrokenPipeError:
            # Imported here: cli.output brings rich and the model, which --version and
            # --help do without.
            from tlslens.cli.output import closed_pipe

            closed_pipe()
        except OutputError as exc:
            from tlslens.cli.output import failed_output

            failed_output(exc)


def _flush_output() -> None:
    """Standard output's last bytes, written before the command ends: a failure is said as
    the output's (``OutputError``), not printed by the interpreter as it exits."""
    if sys.stdout is None:  # started with it closed (>&-): nothing was written
        return
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise OutputError(exc) from exc


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tlslens")
def main() -> None:
    """tlslens: see what really happens inside TLS, step by step, from the real bytes."""


def run() -> None:  # pragma: no cover - console entry point for `python -m tlslens`
    # A command runs once, then exits: its start-up's objects (imports) need no walking
    # every 700 allocations (2.8 % of the main thread's instructions of a 5,000-connection
    # `show --json`, callgrind).
    gc.set_threshold(GC_THRESHOLD, *gc.get_threshold()[1:])
    try:
        main(standalone_mode=True)
    except KeyboardInterrupt:
        sys.exit(130)
    except OSError as exc:
        if _unwritable(exc):
            # click's own writing (--help, --version) to a full disk: the output's failure,
            # said as every command's is (it was an internal error: newcomer's trial).
            from tlslens.cli.output import failed_output

            failed_output(OutputError(exc))
        _internal_error(exc)
    except Exception as exc:
        _internal_error(exc)
    finally:
        # Whatever the run left alive is freed as the interpreter ends, and the collections
        # it runs then would first walk all of it (about 3 % of a 5,000-connection show):
        # frozen, it is not walked, and reference counting still frees it.
        gc.freeze()


def _unwritable(exc: OSError) -> bool:
    """Whether ``exc`` is a stream that refuses bytes (a full disk, a device): what reaches
    here is click's writing to standard output; every file tlslens writes names itself
    (``OutputError``), and a capture that cannot be read is its command's to say."""
    return exc.filename is None and exc.errno in _UNWRITABLE


_UNWRITABLE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO}


def _internal_error(exc: Exception) -> NoReturn:
    """A bug: one line for the user, the traceback on request."""
    if os.environ.get("TLSLENS_DEBUG"):
        raise exc
    print(
        f"tlslens: internal error: {type(exc).__name__}: {safe_text(str(exc))} "
        "(a bug; set TLSLENS_DEBUG=1 for the traceback)",
        file=sys.stderr,
    )
    sys.exit(2)
