"""The command line: the only module that prints or exits.

Every string that came from a capture goes through ``safe_text`` and into
``rich.text.Text`` objects (never markup), so a hostile certificate subject or
SNI cannot move the cursor, recolour the screen or inject markup.
"""

from __future__ import annotations

import base64
import fnmatch
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import click
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, load_pem_private_key
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from tlslens import __version__
from tlslens import pki as tlspki
from tlslens._text import safe_text
from tlslens.decryption import KeyStore
from tlslens.errors import CaptureError
from tlslens.explain import (
    ForwardSecrecyTally,
    Step,
    certificate_lines,
    decryption_summary,
    explain,
    summary_lines,
    trust_lines,
)
from tlslens.http import summarize as http_summary
from tlslens.keyfiles import KeyFileError, add_keylog_file, load_rsa_key, parse_key_argument
from tlslens.model import C2S, Connection, Finding
from tlslens.net.revocation import RevocationChecker
from tlslens.pipeline import CaptureSummary, read_capture
from tlslens.serialize import connection_to_json
from tlslens.x509 import ChainChecker, TrustStore

_TONE_STYLE = {"normal": "", "encrypted": "dim", "warning": "yellow", "error": "bold red"}


def _problem_line(file: str, conn_id: int | None, finding: Finding) -> str:
    where = [safe_text(file)]
    if finding.frame is not None:
        where.append(f"frame {finding.frame}")
    if conn_id is not None:
        where.append(
            f"connection {conn_id}" + (f" ({finding.direction})" if finding.direction else "")
        )
    if finding.offset is not None:
        where.append(f"byte offset {finding.offset}")
    return f"{', '.join(where)}: {safe_text(finding.message)}"


def _unreadable(path: Path, exc: Exception) -> Text:
    """One red line: which file, and why nothing could be read from it."""
    if isinstance(exc, CaptureError):
        return Text(f"{safe_text(str(path))}: {safe_text(str(exc))}", style="red")
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return Text(f"{safe_text(str(path))}: cannot read: {safe_text(reason)}", style="red")


class _ServerFilter(click.ParamType):  # type: ignore[type-arg]
    name = "HOST[:PORT]"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[str, int | None]:
        text = str(value)
        host, port = text, None
        if text.startswith("["):  # [v6]:port
            host, _, rest = text[1:].partition("]")
            port_text = rest.lstrip(":")
            port = int(port_text) if port_text.isdigit() else None
        elif text.count(":") == 1:
            host, port_text = text.split(":")
            if not port_text.isdigit():
                self.fail(f"{port_text!r} is not a port number", param, ctx)
            port = int(port_text)
        return host, port


def _matches(
    conn: Connection, number: int | None, server: tuple[str, int | None] | None, sni: str | None
) -> bool:
    if number is not None and conn.id != number:
        return False
    if server is not None:
        host, port = server
        text = str(conn.server)
        ip = text.rsplit(":", 1)[0].strip("[]")
        if host and host != ip and host != (conn.sni or ""):
            return False
        if port is not None and conn.server.port != port:
            return False
    return not (sni is not None and not fnmatch.fnmatch((conn.sni or "").lower(), sni.lower()))


def _secret_options(command: Callable[..., None]) -> Callable[..., None]:
    """--keylog, --rsa-key and --psk, shared by the commands that decrypt."""
    options = [
        click.option(
            "--keylog",
            "keylogs",
            multiple=True,
            type=click.Path(dir_okay=False, path_type=Path),
            help="NSS key log file (SSLKEYLOGFILE format); repeatable. "
            "Without any secret option, $SSLKEYLOGFILE is read.",
        ),
        click.option(
            "--rsa-key",
            "rsa_keys",
            multiple=True,
            metavar="FILE[:PASSWORD]",
            help="Server RSA private key (PEM, DER, PKCS#8 or PKCS#12); repeatable.",
        ),
        click.option("--psk", metavar="HEX", help="Pre-shared key for PSK cipher suites."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _key_store(
    keylogs: tuple[Path, ...], rsa_keys: tuple[str, ...], psk: str | None, err: Console
) -> KeyStore | None:
    """The secrets given on the command line; every unusable one is said, one line each."""
    if not keylogs and not rsa_keys and not psk and os.environ.get("SSLKEYLOGFILE"):
        keylogs = (Path(os.environ["SSLKEYLOGFILE"]),)
    if not keylogs and not rsa_keys and not psk:
        return None
    store = KeyStore()
    for path in keylogs:
        try:
            add_keylog_file(store, path)
        except KeyFileError as exc:
            err.print(Text(safe_text(str(exc)), style="red"))
    for problem in store.keylog.problems:
        err.print(Text(safe_text(str(problem)), style="yellow"))
    for argument in rsa_keys:
        path_text, password = parse_key_argument(argument)
        try:
            store.rsa_keys.append(load_rsa_key(path_text, password))
        except KeyFileError as exc:
            err.print(Text(safe_text(str(exc)), style="red"))
    if psk:
        try:
            store.psk = bytes.fromhex(psk)
        except ValueError:
            err.print(Text("--psk: not a hex string", style="red"))
    return store


SYSTEM_STORE = Path("/etc/ssl/certs/ca-certificates.crt")


def _trust_options(command: Callable[..., None]) -> Callable[..., None]:
    """--trust-store, --ca, --host and --at, shared by the commands that check chains."""
    options = [
        click.option(
            "--trust-store",
            type=click.Choice(["mozilla", "system", "none"]),
            default="mozilla",
            show_default=True,
            help="Roots to trust: Mozilla's (certifi), the system's, or none.",
        ),
        click.option(
            "--ca",
            "cas",
            multiple=True,
            type=click.Path(dir_okay=False, path_type=Path),
            help="Extra trusted root(s), PEM or DER; repeatable.",
        ),
        click.option("--host", help="Check the certificate against this name instead of the SNI."),
        click.option(
            "--revocation",
            type=click.Choice(["off", "online"]),
            default="off",
            show_default=True,
            help="online: ask the CAs' OCSP responders and CRLs about the leaf and every "
            "intermediate (contacts third parties).",
        ),
        click.option(
            "--at",
            "at_text",
            metavar="TIME",
            help="Validate as of TIME (ISO 8601, e.g. 2024-05-01T12:00Z) instead of the capture's.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _checker(
    trust_store: str, cas: tuple[Path, ...], host: str | None, at_text: str | None, err: Console
) -> ChainChecker:
    store = TrustStore("none")
    try:
        if trust_store == "mozilla":
            import certifi

            store = TrustStore.from_pem("mozilla", Path(certifi.where()).read_bytes())
        elif trust_store == "system":
            store = TrustStore.from_pem("system", SYSTEM_STORE.read_bytes())
    except (OSError, ValueError) as exc:
        err.print(
            Text(
                f"trust store {trust_store}: cannot be read ({exc}); no roots are trusted",
                style="red",
            )
        )
    extra: list[x509.Certificate] = []
    for path in cas:
        try:
            data = path.read_bytes()
            if b"-----BEGIN" in data:
                extra.extend(x509.load_pem_x509_certificates(data))
            else:
                extra.append(x509.load_der_x509_certificate(data))
        except (OSError, ValueError) as exc:
            err.print(
                Text(f"{safe_text(str(path))}: not a usable certificate ({exc})", style="red")
            )
    if extra:
        store = store.extended(f"{store.name}+ca", extra)
    at = None
    if at_text:
        try:
            at = datetime.fromisoformat(at_text.replace("Z", "+00:00"))
        except ValueError as exc:
            raise click.BadParameter(
                f"{at_text!r} is not an ISO 8601 time", param_hint="--at"
            ) from exc
        if at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
    return ChainChecker(store, host=host, at=at)


def _check_chain(
    checker: ChainChecker, conn: Connection, revoker: RevocationChecker | None = None
) -> None:
    conn.validation = checker.check(
        [cert.der for cert in conn.certificates],
        sni=conn.sni,
        at=conn.start_time,
        stapled_ocsp=conn.stapled_ocsp,
    )
    if revoker is not None and conn.validation is not None and len(conn.validation.path) > 1:
        validation = conn.validation
        validation.add_revocation(revoker.check_path(validation.path, validation.checked_at))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tlslens")
def main() -> None:
    """tlslens: see what really happens inside TLS, step by step, from the real bytes."""


@main.command()
@click.argument(
    "captures", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path)
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="JSON Lines, one object per connection (schema: connection.schema.json).",
)
@click.option(
    "--connection", "number", type=int, help="Only connection N (the numbers `show` prints)."
)
@click.option(
    "--server", type=_ServerFilter(), help="Only connections to HOST (IP or SNI) and/or PORT."
)
@click.option("--sni", help="Only connections whose SNI matches NAME (shell wildcards allowed).")
@_secret_options
@click.option(
    "--reveal-keys",
    is_flag=True,
    help="Show derived secrets and keys in full (default: truncated).",
)
@_trust_options
def show(
    captures: tuple[Path, ...],
    as_json: bool,
    number: int | None,
    server: tuple[str, int | None] | None,
    sni: str | None,
    keylogs: tuple[Path, ...],
    rsa_keys: tuple[str, ...],
    psk: str | None,
    reveal_keys: bool,
    trust_store: str,
    cas: tuple[Path, ...],
    host: str | None,
    revocation: str,
    at_text: str | None,
) -> None:
    """Narrate every TLS connection in CAPTURES (pcap or pcapng, optionally .gz).

    With --keylog (or SSLKEYLOGFILE), --rsa-key or --psk, the connections are
    decrypted and the key derivation is shown step by step.
    """
    out = Console(highlight=False, soft_wrap=False)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    keys = _key_store(keylogs, rsa_keys, psk, err)
    checker = _checker(trust_store, cas, host, at_text, err)
    revoker = RevocationChecker() if revocation == "online" else None
    readable = 0
    for path in captures:
        try:
            connections = _Connections(path, as_json, err, keys)
            shown = 0
            tally = ForwardSecrecyTally()
            for conn in connections.iter():
                if not _matches(conn, number, server, sni):
                    continue
                shown += 1
                tally.add(conn)
                _check_chain(checker, conn, revoker)
                if as_json:
                    sys.stdout.write(json.dumps(connection_to_json(conn), ensure_ascii=True) + "\n")
                else:
                    _render(out, conn, reveal_keys)
            summary = connections.summary
            if keys is not None and keys.rsa_keys and not as_json:
                for line in tally.lines():
                    out.print(Text(line))
        except (CaptureError, OSError) as exc:
            err.print(_unreadable(path, exc))
            continue
        readable += 1
        for finding in summary.problems:
            err.print(Text(_problem_line(str(path), None, finding), style="yellow"))
        if not as_json:
            _render_summary(out, summary, shown)
    if readable == 0:
        sys.exit(1)


class _Connections:
    """Runs the pipeline with a progress bar on a terminal's stderr."""

    def __init__(
        self,
        path: Path,
        quiet: bool,
        err: Console,
        keys: KeyStore | None = None,
        sink: Callable[[int, str, bytes], None] | None = None,
    ) -> None:
        self.path = path
        self.quiet = quiet
        self.err = err
        self.keys = keys
        self.sink = sink
        self.summary = CaptureSummary(file=str(path))

    def iter(self) -> Iterator[Connection]:
        size = self.path.stat().st_size
        use_bar = not self.quiet and self.err.is_terminal and size > (8 << 20)
        if not use_bar:
            capture = read_capture(self.path, keys=self.keys, plaintext_sink=self.sink)
            yield from capture
            self.summary = capture.summary
            return
        progress = Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            console=self.err,
            transient=True,
        )
        with progress:
            task = progress.add_task(safe_text(self.path.name), total=size)
            capture = read_capture(
                self.path,
                on_progress=lambda done: progress.update(task, completed=done),
                keys=self.keys,
                plaintext_sink=self.sink,
            )
            yield from capture
        self.summary = capture.summary


def _render(out: Console, conn: Connection, reveal_keys: bool = False) -> None:
    title = f"Connection {conn.id} · {conn.client} → {conn.server}"
    if conn.sni:
        title += f" · {safe_text(conn.sni)}"
    out.print(Rule(Text(title, style="bold")))
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold cyan")
    facts.add_column()
    for label, value in summary_lines(conn):
        facts.add_row(label, Text(safe_text(value)))
    out.print(facts)
    out.print()
    steps = explain(conn, reveal_keys=reveal_keys)
    table = Table.grid(padding=(0, 1))
    table.add_column(justify="right", style="dim")  # frame
    table.add_column(style="dim")  # time
    table.add_column()  # direction
    table.add_column(ratio=1)
    start = conn.start_ts_ns
    for step in steps:
        table.add_row(*_step_cells(step, start, conn))
    out.print(table)
    for finding in conn.problems:
        out.print(Text("  ⚠ " + _problem_line(conn.file, conn.id, finding), style="yellow"))
    out.print()


def _step_cells(step: Step, start_ns: int, conn: Connection) -> tuple[Text, Text, Text, Text]:
    arrow = {"c2s": "C → S", "s2c": "C ← S"}.get(step.direction, "")
    style = _TONE_STYLE.get(step.tone, "")
    body = Text(safe_text(step.title), style=("bold " + style).strip())
    for line in step.lines:
        if line:
            body.append("\n" + safe_text(line), style=style or None)
    frame = Text(f"#{step.frame}")
    timestamp = Text(step.time[11:23] if step.time else "")
    direction = Text(arrow, style="green" if step.direction == C2S else "magenta")
    return frame, timestamp, direction, body


def _render_summary(out: Console, summary: CaptureSummary, shown: int) -> None:
    skipped = ", ".join(
        f"{count} {reason.replace('_', ' ')}" for reason, count in sorted(summary.skipped.items())
    )
    text = (
        f"{safe_text(summary.file)}: {summary.format}, {summary.frames} frames "
        f"({', '.join(summary.linktypes) or 'no packets'}), {summary.tcp_flows} TCP connections, "
        f"{summary.tls_connections} with TLS, {shown} shown"
    )
    if skipped:
        text += f"; frames without TCP payload for us: {skipped}"
    out.print(Text(text, style="dim"))


def run() -> None:  # pragma: no cover - console entry point for `python -m tlslens`
    try:
        main(standalone_mode=True)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # a bug: one line for the user, the traceback on request
        if os.environ.get("TLSLENS_DEBUG"):
            raise
        print(
            f"tlslens: internal error: {type(exc).__name__}: {safe_text(str(exc))} "
            "(a bug; set TLSLENS_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        sys.exit(2)
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): stop quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(0)


class _PlaintextFiles:
    """Decrypted bytes per connection and direction, written as they are opened.

    Files are kept open for the busiest connections only, so a capture with many
    connections at once never runs out of file descriptors.
    """

    MAX_OPEN = 128

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.handles: dict[tuple[int, str], IO[bytes]] = {}
        self.order: dict[int, list[tuple[str, int]]] = {}

    def path(self, stream: int, direction: str) -> Path:
        return self.directory / f".stream{stream}-{direction}.part"

    def write(self, stream: int, direction: str, data: bytes) -> None:
        key = (stream, direction)
        handle = self.handles.pop(key, None)
        if handle is None:
            if len(self.handles) >= self.MAX_OPEN:
                oldest = next(iter(self.handles))
                self.handles.pop(oldest).close()
            handle = self.path(stream, direction).open("ab")
        self.handles[key] = handle  # most recently used last
        handle.write(data)
        chunks = self.order.setdefault(stream, [])
        if chunks and chunks[-1][0] == direction:
            chunks[-1] = (direction, chunks[-1][1] + len(data))
        else:
            chunks.append((direction, len(data)))

    def finish(self, stream: int, conn_id: int) -> tuple[dict[str, Path], list[tuple[str, int]]]:
        files: dict[str, Path] = {}
        for direction in ("c2s", "s2c"):
            handle = self.handles.pop((stream, direction), None)
            if handle is not None:
                handle.close()
            part = self.path(stream, direction)
            target = self.directory / f"conn{conn_id}-{direction}.bin"
            if part.exists():
                part.replace(target)
            else:
                target.write_bytes(b"")
            files[direction] = target
        return files, self.order.pop(stream, [])


def _printable(data: bytes) -> str:
    return "".join(chr(b) if 32 <= b < 127 or b in (10,) else "." for b in data)


@main.command()
@click.argument("capture", type=click.Path(dir_okay=False, path_type=Path))
@_secret_options
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write each connection's plaintext to DIR/connN-c2s.bin and connN-s2c.bin.",
)
@click.option("--connection", "number", type=int, help="Only connection N.")
@click.option(
    "--max-dump",
    default=4096,
    show_default=True,
    help="Without --out: bytes of each direction's plaintext printed (follow-stream style).",
)
def decrypt(
    capture: Path,
    keylogs: tuple[Path, ...],
    rsa_keys: tuple[str, ...],
    psk: str | None,
    out: Path | None,
    number: int | None,
    max_dump: int,
) -> None:
    """Decrypt CAPTURE's application data, connection by connection, with an HTTP summary."""
    console = Console(highlight=False, soft_wrap=True)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    keys = _key_store(keylogs, rsa_keys, psk, err) or KeyStore()
    with tempfile.TemporaryDirectory(prefix="tlslens-") as scratch:
        directory = out or Path(scratch)
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            err.print(Text(f"{safe_text(str(directory))}: {exc.strerror or exc}", style="red"))
            sys.exit(1)
        files = _PlaintextFiles(directory)
        connections = _Connections(capture, False, err, keys, sink=files.write)
        try:
            for conn in connections.iter():
                paths, chunks = files.finish(conn.tcp_stream, conn.id)
                if number is not None and conn.id != number:
                    continue
                _render_decrypted(console, conn, paths, chunks, dump=None if out else max_dump)
                if out is None:
                    for path in paths.values():
                        path.unlink(missing_ok=True)
        except (CaptureError, OSError) as exc:
            err.print(_unreadable(capture, exc))
            sys.exit(1)
        for finding in connections.summary.problems:
            err.print(Text(_problem_line(str(capture), None, finding), style="yellow"))


def _render_decrypted(
    console: Console,
    conn: Connection,
    paths: dict[str, Path],
    chunks: list[tuple[str, int]],
    dump: int | None,
) -> None:
    title = f"Connection {conn.id} · {conn.client} → {conn.server}"
    if conn.sni:
        title += f" · {safe_text(conn.sni)}"
    console.print(Rule(Text(title, style="bold")))
    console.print(
        Text(
            safe_text(
                decryption_summary(conn)
                or (
                    "not attempted: no secret was given (--keylog, --rsa-key, --psk or SSLKEYLOGFILE)"
                )
            )
        )
    )
    if dump is None:
        for direction, path in paths.items():
            console.print(Text(f"{direction}: {path} ({path.stat().st_size} bytes)"))
    with paths["c2s"].open("rb") as c2s, paths["s2c"].open("rb") as s2c:
        protocol, lines = http_summary(c2s, s2c)
        if protocol:
            console.print(Text(f"{protocol}:", style="bold"))
            for line in lines:
                console.print(Text("  " + safe_text(line)))
        if dump is not None:
            left = {"c2s": dump, "s2c": dump}
            handles = {"c2s": c2s, "s2c": s2c}
            for handle in handles.values():
                handle.seek(0)
            for direction, length in chunks:
                data = handles[direction].read(length)
                shown = data[: left[direction]]
                left[direction] -= len(shown)
                if shown:
                    style = "green" if direction == "c2s" else "magenta"
                    console.print(Text(_printable(shown), style=style))
    console.print()


@main.command()
@click.argument("capture", type=click.Path(dir_okay=False, path_type=Path))
@_trust_options
@_secret_options
@click.option("--connection", "number", type=int, help="Only connection N.")
@click.option(
    "--pem",
    "pem_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write every certificate to DIR/connN-I.pem (I: its place in the chain as sent).",
)
def certs(
    capture: Path,
    trust_store: str,
    cas: tuple[Path, ...],
    host: str | None,
    revocation: str,
    at_text: str | None,
    keylogs: tuple[Path, ...],
    rsa_keys: tuple[str, ...],
    psk: str | None,
    number: int | None,
    pem_dir: Path | None,
) -> None:
    """Each connection's certificate chain: as sent, as a trust path, and the verdict.

    TLS 1.3 chains travel encrypted: give --keylog to see them.
    """
    console = Console(highlight=False, soft_wrap=True)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    checker = _checker(trust_store, cas, host, at_text, err)
    revoker = RevocationChecker() if revocation == "online" else None
    keys = _key_store(keylogs, rsa_keys, psk, err)
    connections = _Connections(capture, False, err, keys)
    try:
        for conn in connections.iter():
            if number is not None and conn.id != number:
                continue
            _check_chain(checker, conn, revoker)
            _render_certs(console, conn)
            if pem_dir is not None:
                _write_pems(pem_dir, conn, err)
    except (CaptureError, OSError) as exc:
        err.print(_unreadable(capture, exc))
        sys.exit(1)


def _render_certs(console: Console, conn: Connection) -> None:
    title = f"Connection {conn.id} · {conn.client} → {conn.server}"
    if conn.sni:
        title += f" · {safe_text(conn.sni)}"
    console.print(Rule(Text(title, style="bold")))
    if not conn.certificates:
        reason = (
            "encrypted (TLS 1.3): give --keylog to see it" if conn.tls13 else "not in the capture"
        )
        console.print(Text(f"No certificate chain: {reason}."))
        console.print()
        return
    console.print(Text("As sent, leaf first:", style="bold"))
    for index, cert in enumerate(conn.certificates):
        for line in certificate_lines(index, cert):
            console.print(Text(safe_text(line)))
    validation = conn.validation
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
    console.print()


def _write_pems(directory: Path, conn: Connection, err: Console) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for index, cert in enumerate(conn.certificates):
            body = base64.encodebytes(cert.der).decode().replace("\n", "")
            lines = [body[i : i + 64] for i in range(0, len(body), 64)]
            pem = (
                "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"
            )
            (directory / f"conn{conn.id}-{index}.pem").write_text(pem)
    except OSError as exc:
        err.print(Text(f"{safe_text(str(directory))}: {exc.strerror or exc}", style="red"))


@main.group()
def pki() -> None:
    """A lab PKI to build the story of trust yourself: root, intermediate, CSR, certificate."""


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _write(path: Path, data: bytes, console: Console, secret: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if secret:
        path.chmod(0o600)
    console.print(Text(f"  wrote {path}", style="dim"))


def _load_ca(ca_dir: Path) -> tlspki.Issued:
    try:
        cert = x509.load_pem_x509_certificate((ca_dir / "intermediate.pem").read_bytes())
        key = load_pem_private_key((ca_dir / "intermediate.key").read_bytes(), None)
    except (OSError, ValueError) as exc:
        raise click.ClickException(
            f"{ca_dir}: no usable intermediate CA ({exc}); run `tlslens pki init` first"
        ) from exc
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise click.ClickException(f"{ca_dir}/intermediate.key: not an RSA or EC key")
    return tlspki.Issued(cert, key, "")


@pki.command("init")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--root-cn", default="tlslens lab root CA", show_default=True)
@click.option("--intermediate-cn", default="tlslens lab intermediate CA", show_default=True)
def pki_init(directory: Path, root_cn: str, intermediate_cn: str) -> None:
    """Create a root CA and an intermediate CA in DIRECTORY."""
    console = Console(highlight=False, soft_wrap=True)
    now = _now()
    root = tlspki.make_root(root_cn, now=now)
    console.print(Text("1. " + root.story))
    assert root.key is not None
    _write(directory / "root.pem", tlspki.pem_cert(root.certificate), console)
    _write(directory / "root.key", tlspki.pem_key(root.key), console, secret=True)
    inter = tlspki.make_intermediate(intermediate_cn, root, now=now)
    console.print(Text("2. " + inter.story))
    assert inter.key is not None
    _write(directory / "intermediate.pem", tlspki.pem_cert(inter.certificate), console)
    _write(directory / "intermediate.key", tlspki.pem_key(inter.key), console, secret=True)
    console.print(
        Text(
            f"Give {directory / 'root.pem'} to clients as their trust anchor (e.g. --ca); servers send "
            "their certificate followed by intermediate.pem."
        )
    )


@pki.command("csr")
@click.option("--cn", required=True, help="Common name of the subject.")
@click.option(
    "--san", "sans", multiple=True, help="A DNS name the certificate will cover; repeatable."
)
@click.option("--key-type", type=click.Choice(["ec", "rsa"]), default="ec", show_default=True)
@click.option(
    "--out",
    "prefix",
    required=True,
    type=click.Path(path_type=Path),
    help="Write PREFIX.key and PREFIX.csr.",
)
def pki_csr(cn: str, sans: tuple[str, ...], key_type: str, prefix: Path) -> None:
    """Make a private key and a certificate signing request."""
    console = Console(highlight=False, soft_wrap=True)
    csr, key, story = tlspki.make_csr(cn, list(sans), tlspki.new_key(key_type))
    console.print(Text(story))
    _write(prefix.with_suffix(".key"), tlspki.pem_key(key), console, secret=True)
    _write(prefix.with_suffix(".csr"), csr.public_bytes(Encoding.PEM), console)


@pki.command("sign")
@click.argument("csr_path", metavar="CSR", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--ca-dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The directory `tlslens pki init` made.",
)
@click.option("--days", default=365, show_default=True)
@click.option("--client", is_flag=True, help="Issue a client certificate instead of a server one.")
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Certificate file; OUT.chain.pem gets the certificate and the intermediate.",
)
def pki_sign(csr_path: Path, ca_dir: Path, days: int, client: bool, out: Path) -> None:
    """Issue a certificate for CSR from the intermediate CA."""
    console = Console(highlight=False, soft_wrap=True)
    ca = _load_ca(ca_dir)
    try:
        csr = x509.load_pem_x509_csr(csr_path.read_bytes())
        issued = tlspki.sign_csr(csr, ca, now=_now(), days=days, client=client)
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"{csr_path}: {exc}") from exc
    console.print(Text(issued.story))
    _write(out, tlspki.pem_cert(issued.certificate), console)
    chain = tlspki.pem_cert(issued.certificate) + tlspki.pem_cert(ca.certificate)
    _write(out.with_suffix(".chain.pem"), chain, console)


@pki.command("ocsp")
@click.argument("cert_path", metavar="CERT", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--ca-dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--revoked", is_flag=True, help="Say the certificate is revoked.")
@click.option("--days", default=7, show_default=True, help="How long the response is valid.")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
def pki_ocsp(cert_path: Path, ca_dir: Path, revoked: bool, days: int, out: Path) -> None:
    """Make a signed OCSP response for CERT (DER), for a server to staple."""
    console = Console(highlight=False, soft_wrap=True)
    ca = _load_ca(ca_dir)
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"{cert_path}: {exc}") from exc
    der, story = tlspki.make_ocsp_response(cert, ca, now=_now(), revoked=revoked, valid_days=days)
    console.print(Text(story))
    _write(out, der, console)
