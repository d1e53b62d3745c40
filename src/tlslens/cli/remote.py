"""`tlslens connect`: one real handshake, recorded byte by byte and shown like a capture."""

from __future__ import annotations

import io
import re
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from tlslens._text import safe_text
from tlslens.cli.options import (
    Target,
    chain_checker,
    is_address,
    judging,
    live_options,
    name_to_check,
    trust_options,
)
from tlslens.cli.output import PROGRESS_AFTER_S, Stderr, write_line, write_out
from tlslens.cli.show import render_connection
from tlslens.cli.terminal import PipedConsole
from tlslens.decrypt.h2wire import read_http2
from tlslens.decrypt.http import read_http1
from tlslens.errors import OptionError
from tlslens.explain.verdict import LiveOutcome, Verdict, live_verdict
from tlslens.judge import Judge, Reading
from tlslens.model import Connection
from tlslens.net import starttls as starttls_protocols
from tlslens.net.live import VERSIONS
from tlslens.net.live import connect as live_connect
from tlslens.net.udpclient import connect_quic, heard_quic, settle
from tlslens.net.wire import Plan, Recording
from tlslens.serialize import SCHEMA_VERSION, connection_to_json, json_line

HTTP_PORTS = (443, 8443)


def _unescape(text: str) -> bytes:
    r"""``--send TEXT`` with ``\r``, ``\n``, ``\t``, ``\\`` and ``\xNN``."""
    out = bytearray()
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            simple = {"r": b"\r", "n": b"\n", "t": b"\t", "\\": b"\\", "0": b"\0"}
            if nxt in simple:
                out += simple[nxt]
                i += 2
                continue
            if nxt == "x" and re.fullmatch(r"[0-9A-Fa-f]{2}", text[i + 2 : i + 4]):
                out.append(int(text[i + 2 : i + 4], 16))
                i += 4
                continue
            raise click.BadParameter(
                f"unknown escape \\{nxt} (use \\r \\n \\t \\\\ \\xNN)", param_hint="--send"
            )
        out += ch.encode("utf-8")
        i += 1
    return bytes(out)


def _payload(send: str | None) -> bytes | None:
    if send is None:
        return None
    if send.startswith("@"):
        try:
            return Path(send[1:]).read_bytes()
        except OSError as exc:
            raise click.BadParameter(
                f"{safe_text(send[1:])}: cannot read ({exc.strerror or exc})", param_hint="--send"
            ) from exc
    return _unescape(send)


def _writable(path: Path | None, option: str) -> io.BufferedWriter | None:
    """Open an output file before connecting: a path that cannot be written is a usage error,
    not a surprise after the handshake."""
    if path is None:
        return None
    try:
        return open(path, "wb")
    except OSError as exc:
        raise click.BadParameter(
            f"{safe_text(str(path))}: cannot be written ({exc.strerror or exc})", param_hint=option
        ) from exc


def _readable(path: Path | None, option: str) -> str | None:
    if path is None:
        return None
    try:
        path.read_bytes()
    except OSError as exc:
        raise click.BadParameter(
            f"{safe_text(str(path))}: cannot be read ({exc.strerror or exc})", param_hint=option
        ) from exc
    return str(path)


@click.command()
@click.argument("target", type=Target())
@live_options
@click.option(
    "--quic",
    is_flag=True,
    help="Over QUIC v1 (UDP, aioquic; ALPN h3 unless --alpn): GET / over HTTP/3, then close.",
)
@click.option("--no-sni", is_flag=True, help="Send no server_name extension.")
@click.option("--alpn", metavar="LIST", help="ALPN protocols to offer, e.g. h2,http/1.1.")
@click.option("--tls1.2", "tls12", is_flag=True, help="Offer TLS 1.2 only.")
@click.option("--tls1.3", "tls13", is_flag=True, help="Offer TLS 1.3 only.")
@click.option("--min-version", type=click.Choice(list(VERSIONS)), help="Lowest version offered.")
@click.option("--max-version", type=click.Choice(list(VERSIONS)), help="Highest version offered.")
@click.option(
    "--cipher", metavar="LIST", help="TLS <= 1.2 cipher suites (an OpenSSL cipher string)."
)
@click.option("--ciphersuites", metavar="LIST", help="TLS 1.3 suites, e.g. TLS_AES_128_GCM_SHA256.")
@click.option("--groups", metavar="LIST", help="Key exchange groups, e.g. X25519MLKEM768:X25519.")
@click.option(
    "--client-cert",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Client certificate chain (PEM).",
)
@click.option(
    "--client-key",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Client private key (PEM).",
)
@click.option(
    "--http", is_flag=True, help="Send HEAD / after the handshake (default on 443, 8443)."
)
@click.option(
    "--send", metavar="TEXT|@FILE", help=r"Send this after the handshake (\r \n \xNN escapes)."
)
@click.option("--no-data", is_flag=True, help="Send nothing after the handshake.")
@click.option(
    "--read-limit",
    type=click.IntRange(min=0),
    default=1 << 20,
    show_default=True,
    help="Stop reading after this many plaintext bytes.",
)
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(min=0.1, max=3600),
    default=10.0,
    show_default=True,
    help="Seconds for the whole operation.",
)
@click.option("-4", "ipv4", is_flag=True, help="Use IPv4 only.")
@click.option("-6", "ipv6", is_flag=True, help="Use IPv6 only.")
@click.option("--reveal-keys", is_flag=True, help="Show derived secrets and keys in full.")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="One JSON object: the connection as in show --json, plus target and verdict.",
)
@click.option(
    "--keylog-out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the secrets as an NSS key log.",
)
@click.option(
    "--pcapng",
    "pcapng_out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the connection as a pcapng with its keys embedded.",
)
@trust_options
def connect(
    target: tuple[str, int | None],
    sni: str | None,
    quic: bool,
    no_sni: bool,
    alpn: str | None,
    tls12: bool,
    tls13: bool,
    min_version: str | None,
    max_version: str | None,
    cipher: str | None,
    ciphersuites: str | None,
    groups: str | None,
    client_cert: Path | None,
    client_key: Path | None,
    starttls: str | None,
    http: bool,
    send: str | None,
    no_data: bool,
    read_limit: int,
    timeout_s: float,
    ipv4: bool,
    ipv6: bool,
    reveal_keys: bool,
    as_json: bool,
    keylog_out: Path | None,
    pcapng_out: Path | None,
    trust_store: str,
    cas: tuple[Path, ...],
    host: str | None,
    client_cas: tuple[Path, ...],
    revocation: str,
    at_text: str | None,
) -> None:
    """Connect to TARGET (HOST[:PORT], default port 443), record one TLS handshake and
    show it from the inside: every message, the keys, the decrypted data, the chain.
    With --quic the handshake runs over QUIC v1 (UDP) and is recorded as datagrams.

    Exit status: 0 handshake completed and chain trusted; 3 completed but the chain is
    not trusted, or its Trust line names a problem (ocsp_invalid...); 1 no connection or
    the handshake failed; 2 bad usage.
    """
    out = PipedConsole(highlight=False, soft_wrap=True)
    err = Stderr()
    name, port_given = target
    port = port_given or 443
    _exclusive(
        bool(sni) and no_sni, tls12 and tls13, (http, send is not None, no_data), ipv4 and ipv6
    )
    if quic:
        _quic_refuses(starttls not in (None, "none"), tls12, (min_version, max_version), {
            "--cipher": cipher, "--ciphersuites": ciphersuites, "--groups": groups, "--send": send
        })  # fmt: skip
    server_name = None if no_sni else (sni or (None if is_address(name) else name))
    protocol = None if quic else starttls_protocols.protocol_for(starttls, port)
    fixed = {(True, False): ("1.2", "1.2"), (False, True): ("1.3", "1.3")}
    versions = fixed.get((tls12, tls13), (min_version, max_version))
    payload = _payload(send)
    plan = Plan(
        host=name,
        port=port,
        sni=server_name,
        timeout_s=timeout_s,
        alpn=tuple(p.strip() for p in alpn.split(",") if p.strip()) if alpn else (),
        # A modern client's floor unless asked: offering TLS 1.0 changes what is negotiated.
        min_version=versions[0] or "1.2",
        max_version=versions[1],
        cipher=cipher,
        ciphersuites=ciphersuites,
        groups=groups,
        client_cert=_readable(client_cert, "--client-cert"),
        client_key=_readable(client_key, "--client-key"),
        starttls=starttls_protocols.PROTOCOL_NAMES.get(protocol) if protocol else None,
        send=None if no_data else payload,
        http=not no_data
        and payload is None
        and (quic or http or (port in HTTP_PORTS and protocol is None)),
        read_limit=read_limit,
        family={(True, False): 2, (False, True): 10}.get((ipv4, ipv6), 0),
    )
    checked = name_to_check(host, server_name, name)
    checker = chain_checker(trust_store, cas, checked, at_text, err, client_cas)
    files = (_writable(pcapng_out, "--pcapng"), _writable(keylog_out, "--keylog-out"))
    prelude = starttls_protocols.PROTOCOLS.get(protocol) if protocol else None
    try:
        rec = with_progress(err, plan, prelude, (lambda: connect_quic(plan)) if quic else None)
    except OptionError as exc:
        raise click.BadParameter(safe_text(str(exc)), param_hint=exc.option) from exc
    # --revocation online asks the CAs named in the chain: third parties, on request only.
    conn, verdict = _read_back(rec, judging(checker, revocation), *files)
    notes = _notes(rec.outcome) + _sni_hint(plan, verdict, asked=no_sni)
    if as_json:
        row = _json(rec, conn, verdict, reveal_keys, notes)
        write_out(json_line(row) + "\n")
    else:
        _render(out, rec, conn, verdict, reveal_keys, notes)
    sys.exit(verdict.exit_status)


def _read_back(
    rec: Recording,
    judge: Judge,
    pcapng_file: io.BufferedWriter | None,
    keylog_file: io.BufferedWriter | None,
) -> tuple[Connection | None, Verdict]:
    """The recording through the capture path (the connection, judged) and its verdict;
    what --pcapng and --keylog-out asked for, written."""
    capture = rec.to_pcapng()
    where = f"{rec.plan.host}:{rec.plan.port} (live)"
    conn = next(iter(Reading(where, judge, stream=io.BytesIO(capture))), None)
    if rec.udp:
        settle(rec, conn)
    _save(pcapng_file, capture)
    _save(keylog_file, rec.keylog_text().encode("ascii"))
    return conn, live_verdict(rec.outcome, conn)


def _exclusive(
    sni_and_no_sni: bool, both_versions: bool, data: tuple[bool, bool, bool], both_families: bool
) -> None:
    """Options that exclude each other are a usage error naming the first of them."""
    if sni_and_no_sni:
        raise click.BadParameter("--sni and --no-sni exclude each other", param_hint="--sni")
    if both_versions:
        raise click.BadParameter("--tls1.2 and --tls1.3 exclude each other", param_hint="--tls1.2")
    if sum(data) > 1:
        raise click.BadParameter("choose one of --http, --send and --no-data", param_hint="--send")
    if both_families:
        raise click.BadParameter("-4 and -6 exclude each other", param_hint="-4")


def _quic_refuses(
    starttls: bool, tls12: bool, bounds: tuple[str | None, str | None], given: dict[str, Any]
) -> None:
    """The options of a TLS-over-TCP connection that QUIC has no place for: aioquic offers
    TLS 1.3 alone, with its own suites and groups, and over HTTP/3 sends GET /."""
    named = {"--starttls": starttls, "--tls1.2": tls12}
    named |= {"--min-version": bounds[0] not in (None, "1.3")}
    named |= {"--max-version": bounds[1] not in (None, "1.3")}
    named |= {option: value is not None for option, value in given.items()}
    for option, present in named.items():
        if present:
            raise click.BadParameter(
                f"{option} is not available with --quic (QUIC carries TLS 1.3 only; aioquic "
                "chooses its suites and groups; over HTTP/3 tlslens sends GET /)",
                param_hint=option,
            )


def _save(file: io.BufferedWriter | None, data: bytes) -> None:
    """What --pcapng or --keylog-out asked for, written and closed."""
    if file is not None:
        with file:
            file.write(data)


def with_progress(
    err: Stderr, plan: Plan, prelude: Any, attempt: Callable[[], Recording] | None = None
) -> Recording:
    """The attempt (``attempt``, or TLS over TCP with ``prelude``); on a terminal's stderr
    a pulsing bar appears once it has taken over PROGRESS_AFTER_S (it may take the whole
    timeout); nothing extra otherwise."""
    run = attempt or (lambda: live_connect(plan, prelude))
    if not err.is_terminal:
        return run()
    progress = Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=err.console,
        transient=True,
        redirect_stdout=False,
        redirect_stderr=False,
    )
    progress.add_task(safe_text(f"connecting to {plan.host} port {plan.port}"), total=None)
    timer = threading.Timer(PROGRESS_AFTER_S, progress.start)
    timer.start()
    try:
        return run()
    finally:
        timer.cancel()
        timer.join()
        progress.stop()


def _target_json(rec: Recording) -> dict[str, Any]:
    plan = rec.plan
    return {"host": plan.host, "ip": rec.ip, "port": plan.port, "sni": plan.sni}


def _json(
    rec: Recording, conn: Connection | None, verdict: Verdict, reveal_keys: bool, notes: list[str]
) -> dict[str, Any]:
    row: dict[str, Any] = (
        connection_to_json(conn, reveal_keys=reveal_keys)
        if conn is not None
        else {"schema_version": SCHEMA_VERSION}
    )
    row["target"] = _target_json(rec)
    row["verdict"] = verdict.to_json()
    row["notes"] = notes
    return row


def _notes(outcome: LiveOutcome) -> list[str]:
    notes = list(outcome.notes)
    if outcome.handshake_done and outcome.transport == "reset":
        notes.append("the server reset the connection after the handshake")
    if outcome.handshake_done and outcome.tls_error:
        notes.append(f"after the handshake the TLS library reported: {outcome.tls_error}")
    return notes


def _sni_hint(plan: Plan, verdict: Verdict, asked: bool) -> list[str]:
    """A target typed as an IP address sends no SNI: a server hosting several names then
    answers with its default certificate (or refuses), which is the usual reason for a
    name mismatch or a failure here. Said unless --no-sni asked for it, or all went well."""
    if asked or plan.sni is not None or verdict.status == "trusted" or not is_address(plan.host):
        return []
    return [
        f"no SNI was sent ({plan.host} is an IP address): a server with several names "
        "answers with its default certificate, or refuses; give --sni NAME to ask for one"
    ]


def _render(
    out: Console,
    rec: Recording,
    conn: Connection | None,
    verdict: Verdict,
    reveal_keys: bool,
    notes: list[str],
) -> None:
    plan = rec.plan
    where = (
        f"{plan.host} ({rec.ip}) port {plan.port}"
        if rec.ip and rec.ip != plan.host
        else f"{plan.host} port {plan.port}"
    )
    head = f"Connecting to {where}; SNI {plan.sni or '(none)'}"
    if rec.udp:
        head += "; over QUIC (UDP)"
    if plan.starttls:
        head += f"; {plan.starttls} first"
    _line(out, safe_text(head), "bold")
    # Over QUIC, until the server sent a packet of this connection the read-back holds only
    # the client's Initial, and its Outcome would contradict the verdict (an ICMP refusal,
    # a port that speaks something else): the verdict alone says it, as for a refused SYN.
    if conn is not None and (not rec.udp or heard_quic(conn)):
        render_connection(out, conn, reveal_keys)
        lines = (
            h3_reply_lines(rec.reply_headers, rec.plaintext_in)
            if rec.udp
            else reply_lines(rec.reply_head, rec.plaintext_in, conn.alpn)
        )
        for index, line in enumerate(lines):
            _line(out, safe_text(line), "bold" if index == 0 else "")
    for note in notes:
        _line(out, "note: " + safe_text(note), "yellow")
    style = {"trusted": "bold green", "untrusted": "bold yellow"}.get(verdict.status, "bold red")
    _line(out, safe_text(verdict.text), style)


def _line(out: Console, text: str, style: str) -> None:
    if out.is_terminal:
        out.print(Text(text, style=style))
    else:
        write_line(out, text)


REPLY_HEADERS_SHOWN = 8
REPLY_VALUE_SHOWN = 120


def reply_lines(head: bytes, total: int, alpn: str | None) -> list[str]:
    """The start of an HTTP answer: its status and first headers, from ``head`` (the first
    bytes of the ``total`` the server sent decrypted); nothing when it is not HTTP."""
    notes: list[str] = []
    if alpn == "h2":
        seen = read_http2(io.BytesIO(head), "s2c", notes)
        blocks = [fields for stream, fields in seen.blocks if stream == 1]
        return _fields_head("HTTP/2 reply, stream 1", list(blocks[-1]), total) if blocks else []
    if not head.startswith(b"HTTP/"):
        return []
    messages = read_http1(io.BytesIO(head), "s2c", notes)
    if not messages:
        return []
    return _reply_head("HTTP reply", messages[0].start_line, messages[0].headers, total)


def h3_reply_lines(fields: list[tuple[str, str]], total: int) -> list[str]:
    """The start of an HTTP/3 answer, from the header fields the QUIC stack decoded."""
    return _fields_head("HTTP/3 reply, stream 0", fields, total) if fields else []


def _fields_head(title: str, fields: list[tuple[str, str]], total: int) -> list[str]:
    """HTTP/2 and HTTP/3 answers: the pseudo-header :status leads the fields."""
    return _reply_head(title, f"{fields[0][0]} {fields[0][1]}", fields[1:], total)


def _reply_head(title: str, first: str, rest: list[tuple[str, str]], total: int) -> list[str]:
    lines = [f"{title} ({total:,} bytes of plaintext read):", f"  {first}"]
    for name, value in rest[:REPLY_HEADERS_SHOWN]:
        cut = value if len(value) <= REPLY_VALUE_SHOWN else value[:REPLY_VALUE_SHOWN] + "…"
        lines.append(f"  {name}: {cut}")
    if len(rest) > REPLY_HEADERS_SHOWN:
        lines.append(f"  … and {len(rest) - REPLY_HEADERS_SHOWN} more header(s)")
    return lines
