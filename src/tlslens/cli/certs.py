"""`tlslens certs`: each chain as sent, as a trust path, its verdict and its signatures."""

from __future__ import annotations

import base64
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.text import Text

from tlslens._text import safe_text
from tlslens.cli.gate import Gate, fail_on_option
from tlslens.cli.options import (
    capture_limits,
    chain_checker,
    judging,
    key_store,
    limit_options,
    secret_options,
    trust_options,
)
from tlslens.cli.output import (
    Stderr,
    exit_if_nothing_matched,
    judged,
    print_heading,
    problem_line,
    replace_file,
    say_note,
    say_unreadable,
)
from tlslens.cli.terminal import PipedConsole
from tlslens.errors import CaptureError, OutputError
from tlslens.explain import certificate_lines, trust_lines
from tlslens.judge import Reading, Selection
from tlslens.keys.keylog import SERVER_HANDSHAKE_TRAFFIC_SECRET
from tlslens.model import Connection
from tlslens.outcome import outcome_of
from tlslens.x509 import Validation
from tlslens.x509.certificate import CertificateInfo


@click.command()
# A directory is said as a file that is not there is (exit 1), not refused as usage.
@click.argument("capture", type=click.Path(allow_dash=True, path_type=Path))
@trust_options
@secret_options
@limit_options
@click.option("--connection", "number", type=int, help="Only connection N.")
@click.option(
    "--pem",
    "pem_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write every certificate to DIR/connN-I.pem (I: its place in the chain as sent).",
)
@click.option("--no-color", is_flag=True, help="No colours (as `show --no-color`).")
@fail_on_option
def certs(
    capture: Path,
    trust_store: str,
    cas: tuple[Path, ...],
    host: str | None,
    client_cas: tuple[Path, ...],
    revocation: str,
    at_text: str | None,
    keylogs: tuple[Path, ...],
    rsa_keys: tuple[str, ...],
    psk: str | None,
    number: int | None,
    pem_dir: Path | None,
    no_color: bool,
    fail_on: tuple[str, ...] | None,
) -> None:
    """Each connection's certificate chain: as sent, as a trust path, and the verdict.
    CAPTURE - reads standard input as it arrives.

    TLS 1.3 chains travel encrypted: give --keylog to see them.
    """
    console = PipedConsole(highlight=False, soft_wrap=True, no_color=no_color or None)
    err = Stderr(no_color)
    judge = judging(chain_checker(trust_store, cas, host, at_text, err, client_cas), revocation)
    keys = key_store(keylogs, rsa_keys, psk, err)
    limits = capture_limits()
    gate = Gate(fail_on)
    selection = Selection(number)
    reading = Reading(capture, judge, keys=keys, selection=selection, limits=limits)
    try:
        for conn in judged(reading, err):
            gate.check(conn)
            _render_certs(console, conn)
            if pem_dir is not None:
                _write_pems(pem_dir, conn.id, [cert.der for cert in conn.certificates])
    except BrokenPipeError:
        raise
    except (CaptureError, OSError) as exc:
        say_unreadable(err, capture, exc)
        sys.exit(1)
    notes = reading.notes()
    for finding in notes.problems:
        err.say(problem_line(str(capture), None, finding), "yellow")
    for line in notes.late_intermediates:
        console.print(Text(line, style="yellow"))
    say_note(err, capture, notes.no_such_connection)
    say_note(err, capture, notes.key_log_unmatched)
    exit_if_nothing_matched(err, notes.shown, selection)
    gate.close(err)


def _render_certs(console: Console, conn: Connection) -> None:
    print_heading(console, conn)
    # Whether the handshake went through, and why not: often the chain below is the reason.
    console.print(Text(safe_text(f"Outcome: {outcome_of(conn).headline}")))
    if not conn.certificates:
        console.print(Text(f"No certificate chain: {_no_chain(conn)}."))
    else:
        _render_chain(console, "As sent, leaf first:", conn.certificates, conn.validation)
    if conn.client_certificates:
        _render_chain(
            console,
            "The client's certificate (client authentication), leaf first:",
            conn.client_certificates,
            conn.client_validation,
        )
    console.print()


def _no_chain(conn: Connection) -> str:
    """Why no server certificate is shown: TLS 1.3 sends it encrypted, and the secrets given
    may hold nothing for this connection, or not the server's handshake secret."""
    dec = conn.decryption
    unread = conn.chain_unread()
    if unread is not None:  # sent (or may have been), and tlslens did not read it
        return unread
    if not conn.tls13:
        return "not in the capture"
    if dec is None:
        return "encrypted (TLS 1.3): give --keylog to see it"
    if not dec.key_log_knows():
        return "encrypted (TLS 1.3), and the key log given holds nothing for this connection"
    if SERVER_HANDSHAKE_TRAFFIC_SECRET in dec.missing_secrets():
        return (
            f"encrypted (TLS 1.3), and the key log has no {SERVER_HANDSHAKE_TRAFFIC_SECRET} "
            "for this connection"
        )
    if conn.resumed is not None:
        return "none sent: the session was resumed"
    if dec.status != "decrypted":
        return f"encrypted (TLS 1.3), and not opened: {dec.to_json()['reason']}"
    return "not in the capture"


def _render_chain(
    console: Console, title: str, certificates: list[CertificateInfo], validation: Validation | None
) -> None:
    console.print(Text(title, style="bold"))
    for index, cert in enumerate(certificates):
        for line in certificate_lines(index, cert):
            console.print(Text(safe_text(line)))
    if validation is not None:
        console.print(Text("Trust:", style="bold"))
        for line in trust_lines(validation):
            style = "red" if "✗" in line else ""
            console.print(Text(safe_text(line), style=style))
        if validation.links:
            console.print(Text("Signatures, link by link:", style="bold"))
            for link in validation.links:
                for i, line in enumerate(link):
                    console.print(Text(("  " if i == 0 else "    ") + safe_text(line)))


def _write_pems(directory: Path, conn_id: int, certificates: list[bytes]) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for index, der in enumerate(certificates):
            body = base64.encodebytes(der).decode().replace("\n", "")
            lines = [body[i : i + 64] for i in range(0, len(body), 64)]
            pem = (
                "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"
            )
            replace_file(directory / f"conn{conn_id}-{index}.pem", pem.encode())
    except OSError as exc:  # the output's failure: the run stops, said once (exit 1)
        raise OutputError(exc, where=str(directory)) from exc
