"""`tlslens scan`: what servers accept, found with few connections run at once, and graded."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from tlslens import registry
from tlslens._text import plural, safe_text
from tlslens.cli.options import (
    chain_checker,
    is_address,
    live_options,
    name_to_check,
    split_host_port,
    trust_options,
)
from tlslens.cli.output import PROGRESS_AFTER_S, Stderr, label_grid, write_line, write_out
from tlslens.cli.terminal import PipedConsole
from tlslens.judge import check_chain
from tlslens.net import starttls as starttls_protocols
from tlslens.net.sweep import ScanSettings, scan_target
from tlslens.scan.findings import VERSION_ORDER, ScanReport, answer_words, findings
from tlslens.scan.grade import grade
from tlslens.serialize import json_line
from tlslens.x509 import ChainChecker

_TONE = {"bad": "bold red", "warn": "yellow", "good": "green", "info": ""}
_MARK = {"bad": "✗", "warn": "!", "good": "✓", "info": "·"}


def _targets(texts: tuple[str, ...], target_file: Path | None) -> list[tuple[str, str, int]]:
    lines = list(texts)
    if target_file is not None:
        try:
            content = target_file.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise click.BadParameter(
                f"{safe_text(str(target_file))}: cannot be read ({exc.strerror or exc})",
                param_hint="-f",
            ) from exc
        for number, line in enumerate(content.splitlines(), start=1):
            line = line.split("#", 1)[0].strip()
            if line:
                lines.append(line)
            del number
    if not lines:
        raise click.UsageError("name at least one target (HOST[:PORT]) or -f FILE")
    found = []
    for text in lines:
        try:
            host, port = split_host_port(text)
        except (ValueError, UnicodeError) as exc:
            raise click.BadParameter(safe_text(str(exc)), param_hint="TARGET") from exc
        found.append((text, host, port or 443))
    return found


@click.command()
@click.argument("targets", nargs=-1)
@click.option(
    "-f",
    "target_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Read targets from FILE, one HOST[:PORT] per line (# comments).",
)
@live_options
@click.option(
    "--json", "as_json", is_flag=True, help="One JSON object per target (schema: scan.schema.json)."
)
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(min=0.1, max=600),
    default=5.0,
    show_default=True,
    help="Seconds for each connection.",
)
@click.option(
    "--max-connections",
    type=click.IntRange(min=1, max=256),
    default=16,
    show_default=True,
    help="Connections in flight at once, per target.",
)
@click.option(
    "--rate",
    type=click.FloatRange(min=0.01),
    help="At most this many new connections per second, per target.",
)
@click.option(
    "--parallel",
    "parallel_targets",
    type=click.IntRange(min=1, max=64),
    default=4,
    show_default=True,
    help="Targets scanned at once.",
)
@click.option(
    "--no-resumption", is_flag=True, help="Skip the session resumption checks (full handshakes)."
)
@click.option(
    "--quic",
    is_flag=True,
    help="Also ask over QUIC (UDP, same port): v1 and v2, ALPN h3, Retry, transport "
    "parameters, the certificate against TCP's. Off by default: 2 more connections, and a "
    "server without QUIC costs a --timeout of silence.",
)
@trust_options
def scan(
    targets: tuple[str, ...],
    target_file: Path | None,
    sni: str | None,
    starttls: str | None,
    as_json: bool,
    timeout_s: float,
    max_connections: int,
    rate: float | None,
    parallel_targets: int,
    no_resumption: bool,
    quic: bool,
    trust_store: str,
    cas: tuple[Path, ...],
    host: str | None,
    client_cas: tuple[Path, ...],
    revocation: str,
    at_text: str | None,
) -> None:
    """Scan TARGETS (HOST[:PORT], default port 443): versions, cipher suites in the server's
    order, groups, signature algorithms, resumption, stapling, ALPN, downgrade protection,
    the certificate chains, and a grade after the SSL Labs rating guide; with --quic, the
    same port over QUIC too.

    Exit status: 0 every target was scanned (whatever was found; with --quic a server
    that answers QUIC alone counts), 1 a target could not be scanned, 2 bad usage.
    """
    out = PipedConsole(highlight=False, soft_wrap=True)
    err = Stderr()
    checker = chain_checker(trust_store, cas, host, at_text, err, client_cas)
    reports = []
    for text, name, port in _targets(targets, target_file):
        protocol = starttls_protocols.protocol_for(starttls, port)
        report = ScanReport(
            target=text, host=name, port=port, sni=sni or (None if is_address(name) else name)
        )
        report.starttls = starttls_protocols.PROTOCOL_NAMES.get(protocol or "")
        reports.append((report, protocol))
    asyncio.run(
        _scan_all(
            reports,
            err,
            timeout_s,
            max_connections,
            rate,
            parallel_targets,
            (not no_resumption, quic),
        )
    )
    failed = 0
    for report, _protocol in reports:
        _conclude(report, checker.fresh(host=name_to_check(host, report.sni, report.host)))
        if not report.reached:
            failed += 1
        if as_json:
            write_out(json_line(report.to_json()) + "\n")
        else:
            _render(out, report)
    sys.exit(1 if failed else 0)


async def _scan_all(
    reports: list[tuple[ScanReport, str | None]],
    err: Stderr,
    timeout_s: float,
    max_connections: int,
    rate: float | None,
    parallel: int,
    asked: tuple[bool, bool],
) -> None:
    """``asked``: the resumption questions, the QUIC questions."""
    limit = asyncio.Semaphore(parallel)
    progress = Progress(
        TextColumn("scanning"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err.console,
        transient=True,
        redirect_stdout=False,
        redirect_stderr=False,
    )
    task = progress.add_task("scan", total=len(reports))
    shown = False

    async def one(report: ScanReport, protocol: str | None) -> None:
        settings = ScanSettings(
            timeout_s=timeout_s,
            max_connections=max_connections,
            rate=rate,
            starttls=starttls_protocols.PROTOCOLS.get(protocol) if protocol else None,
            starttls_name=report.starttls,
            resumption=asked[0],
            quic=asked[1],
        )
        async with limit:
            await scan_target(report, settings)
        progress.advance(task)

    async def show_later() -> None:
        nonlocal shown
        await asyncio.sleep(PROGRESS_AFTER_S)
        progress.start()
        shown = True

    timer = asyncio.create_task(show_later()) if err.is_terminal else None
    try:
        await asyncio.gather(*(one(report, protocol) for report, protocol in reports))
    finally:
        if timer is not None:
            timer.cancel()
        if shown:
            progress.stop()


def _conclude(report: ScanReport, chains: ChainChecker) -> None:
    """Chains validated as `show` validates them, against the name `connect` would check
    for the same target (``chains``, fresh for it); the stapled answer; the grade."""
    for chain in report.certificate_chains:
        conn = chain.conn
        check_chain(chains, conn)
        validation = conn.validation
        if validation is not None and validation.ocsp is not None and report.ocsp_status is None:
            report.ocsp_status = validation.ocsp.status
            report.ocsp_problems = [message for _code, message in validation.ocsp.problems]
    report.grade = grade(report)


def _grade_words(report: ScanReport, grade_value: dict[str, Any]) -> str:
    """The grade and why: T and M replace the letter the configuration earned, which is
    said beside them (the JSON's grade_if_trusted) with the problems that cost it."""
    letter = grade_value.get("grade")
    text = f"{letter}"
    earned = grade_value.get("grade_if_trusted")
    if earned is not None:
        codes = sorted(
            {
                p.code
                for chain in report.certificate_chains
                if chain.validation is not None and not chain.validation.trusted
                for p in chain.validation.problems
            }
        )
        why, unless = (
            ("the name does not match", "if it did")
            if letter == "M"
            else ("the chain is not trusted", "if it were")
        )
        text += f" — {why} ({', '.join(codes)}); {earned} {unless}"
    return text + f" (score {grade_value.get('score')}; {grade_value.get('guide')})"


def _line(out: Console, text: str, style: str = "") -> None:
    if out.is_terminal:
        out.print(Text(text, style=style))
    else:
        write_line(out, text)


def _table(out: Console, rows: list[tuple[str, str]]) -> None:
    """Label and value rows: a grid on a terminal, aligned plain text otherwise."""
    if out.is_terminal:
        out.print(label_grid(rows))
    else:
        width = max(len(label) for label, _ in rows) + 2
        for label, value in rows:
            write_line(out, f"  {label:<{width}}{safe_text(value)}")


def _unscanned(out: Console, report: ScanReport) -> None:
    """No TLS over TCP: the QUIC answers when --quic asked for them (a QUIC-only server is
    scanned over UDP), else one line saying nothing answered."""
    quic = report.quic
    if quic is None:
        _line(out, "  not scanned: no TLS or SSL version answered", "bold red")
        return
    if quic.answered:
        _line(out, "  TCP: no TLS or SSL version answered; over QUIC (UDP) the server answered")
    else:
        _line(
            out,
            "  not scanned: no TLS or SSL version answered over TCP, nor QUIC over UDP",
            "bold red",
        )
    _table(out, [*quic.rows(), *(("QUIC error", error) for error in quic.errors)])
    _line(out, "")


def _render(out: Console, report: ScanReport) -> None:
    head = f"── {safe_text(report.target)}"
    if report.ip and report.ip != report.host:
        head += f" · {report.ip} port {report.port}"
    if report.starttls:
        head += f" · {report.starttls}"
    _line(out, head + " ──", "bold")
    for error in report.errors:
        _line(out, "  error: " + safe_text(error), "red")
    if not report.scanned:
        _unscanned(out, report)
        return
    rows: list[tuple[str, str]] = []
    for name in VERSION_ORDER:
        support = report.versions[name]
        if support.accepted is None:
            rows.append((name, "could not be told"))
            continue
        if not support.accepted:
            rows.append((name, "no"))
            continue
        order = {True: "server order", False: "client order", None: ""}[support.server_order]
        suites = ", ".join(registry.cipher_suite_name(s) for s in support.cipher_suites)
        rows.append((name, f"yes{f' ({order})' if order else ''}: {suites}"))
    groups = ", ".join(registry.group_name(g) for g in report.groups) or "none found"
    if report.groups_server_order is not None:
        groups += " (server order)" if report.groups_server_order else " (client order)"
    rows.append(("Groups", groups))
    for version, schemes in report.signatures_json().items():
        words = (", ".join(schemes) or "none found") if isinstance(schemes, list) else schemes
        rows.append((f"Signatures {version}", answer_words(None) if words is None else words))
    rows.append(("ALPN", ", ".join(report.alpn) or "none"))
    res = report.resumption
    rows.append(
        (
            "Resumption",
            ", ".join(f"{k.replace('_', ' ')} {answer_words(v)}" for k, v in res.items()),
        )
    )
    packed = report.certificate_compression
    rows.append(
        ("Certificate compression", ", ".join(f"{k} {answer_words(v)}" for k, v in packed.items()))
    )
    rows.append(
        (
            "OCSP stapling",
            answer_words(report.ocsp_stapled)
            + (f" ({report.ocsp_status})" if report.ocsp_status else ""),
        )
    )
    for feature, flag in (
        ("Fallback SCSV", report.fallback_scsv),
        ("Secure renegotiation", report.secure_renegotiation),
        ("Compression", report.compression),
        ("Extended master secret", report.extended_master_secret),
        ("Encrypt-then-MAC", report.encrypt_then_mac),
    ):
        rows.append((feature, answer_words(flag)))
    for chain in report.certificate_chains:
        leaf = chain.conn.certificates[0]
        validation = chain.validation
        verdict = "trusted" if validation is not None and validation.trusted else "NOT trusted"
        rows.append(
            (
                f"Chain ({chain.key_type})",
                f"{leaf.subject}, {plural(len(chain.conn.certificates), 'certificate')}, {verdict}",
            )
        )
    grade_value = report.grade
    rows.append(("Grade", _grade_words(report, grade_value)))
    if report.quic is not None:
        rows.extend(report.quic.rows())
        rows.extend(("QUIC error", error) for error in report.quic.errors)
    rows.append(
        ("Cost", f"{plural(report.connections_used, 'connection')}, {report.duration_s:.2f} s")
    )
    _table(out, rows)
    for cap in grade_value.get("caps", []):
        _line(
            out, f"  grade capped at {cap['grade']}: {cap['reason']} (fix: {cap['fix']})", "yellow"
        )
    for severity, sentence in findings(report):
        _line(out, f"  {_MARK[severity]} {safe_text(sentence)}", _TONE[severity])
    _line(out, "")
