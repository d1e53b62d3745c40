"""The options commands share: secrets (--keylog, --rsa-key, --psk), trust, filters,
and the bounds of a capture read."""

from __future__ import annotations

import ipaddress
import math
import os
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from tlslens._text import safe_text
from tlslens.bounds import Limits
from tlslens.cli.output import Stderr
from tlslens.errors import OptionError
from tlslens.judge import Judge, checker_given, secrets_given
from tlslens.keys.store import KeyStore
from tlslens.x509.checker import ChainChecker

_T = TypeVar("_T")
_HOSTNAME = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.?)+$")


def split_host_port(text: str, *, port_alone: bool = False) -> tuple[str, int | None]:
    """``HOST``, ``HOST:PORT``, ``[V6]`` or ``[V6]:PORT`` (a bare IPv6 address has no port);
    with ``port_alone`` (a filter), ``:PORT`` too, as ("", PORT).

    Raises ValueError with the reason for anything else."""
    host, port_text = text, None
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ValueError(f"{text!r}: an IPv6 address in brackets is [ADDRESS]:PORT")
        port_text = rest[1:] if rest else None
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"{host!r} is not an IPv6 address") from None
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    elif text.count(":") > 1:
        try:
            ipaddress.IPv6Address(text)
        except ValueError:
            raise ValueError(
                f"{text!r}: write an IPv6 address with a port as [ADDRESS]:PORT"
            ) from None
    port = None
    if port_text is not None:
        if not (port_text.isascii() and port_text.isdigit()) or not 1 <= int(port_text) <= 65535:
            raise ValueError(f"{port_text!r} is not a port number (1-65535)")
        port = int(port_text)
    if not host and port_alone and port is not None:
        return host, port
    if not host:
        raise ValueError(f"{text!r} names no host")
    if ":" not in host and not _HOSTNAME.match(
        host.encode("idna").decode() if not host.isascii() else host
    ):
        raise ValueError(f"{host!r} is not a host name or an IP address")
    return host, port


class Target(click.ParamType):  # type: ignore[type-arg]
    name = "HOST[:PORT]"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[str, int | None]:
        try:
            return split_host_port(str(value))
        except (ValueError, UnicodeError) as exc:
            self.fail(safe_text(str(exc)), param, ctx)


def is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def name_to_check(host: str | None, sni: str | None, target: str) -> str | None:
    """The name a client would check the certificate against: --host, else the SNI sent,
    else the target typed (a client dialling an IP checks the IP; one dialling a name with
    --no-sni still checks that name)."""
    return host or sni or target


class ServerFilter(click.ParamType):  # type: ignore[type-arg]
    name = "[HOST][:PORT]"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[str, int | None]:
        try:
            return split_host_port(str(value), port_alone=True)
        except (ValueError, UnicodeError) as exc:
            self.fail(safe_text(str(exc)), param, ctx)


def live_options(command: Callable[..., None]) -> Callable[..., None]:
    """--sni and --starttls, shared by the commands that connect to servers."""
    from tlslens.net.starttls import PROTOCOLS

    options = [
        click.option(
            "--sni", help="Server name to send (default: the host, unless it is an address)."
        ),
        click.option(
            "--starttls",
            type=click.Choice([*PROTOCOLS, "none"]),
            help="Upgrade a plaintext protocol first (default: by well-known port).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def secret_options(command: Callable[..., None]) -> Callable[..., None]:
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
            help="Server RSA private key (PEM, DER, PKCS#8 or PKCS#12); repeatable; TCP only.",
        ),
        click.option(
            "--psk", metavar="HEX", help="Pre-shared key for PSK cipher suites (TCP only)."
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


# As GNU's du, df and sort -S read them: K, M, G and KiB, MiB, GiB are powers of 1,024,
# KB, MB, GB of 1,000, B a byte; in any case ("16k" was refused, the newcomer's trial).
_SIZE_UNITS: dict[str, int] = {"": 1, "b": 1} | {
    f"{letter}{suffix}": 1000**power if suffix == "b" else 1 << 10 * power
    for power, letter in enumerate("kmg", start=1)
    for suffix in ("", "ib", "b")
}
_SIZE_FORMS = (
    "digits, optionally with K, M or G (KiB, MiB, GiB: powers of 1024; KB, MB, GB: of 1000)"
)
# What the core takes (a 64-bit count): more was an internal error (OverflowError).
_LARGEST = (1 << 63) - 1


class Size(click.ParamType):  # type: ignore[type-arg]
    """A byte count: digits, optionally with a unit (``_SIZE_UNITS``)."""

    name = "bytes"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> int:
        if isinstance(value, int):
            return value
        match = re.fullmatch(r"\s*([0-9]+)\s*([A-Za-z]*)\s*", str(value))
        unit = match.group(2).lower() if match else ""
        if match is None or unit not in _SIZE_UNITS:
            self.fail(f"{value!r} is not a size ({_SIZE_FORMS})")
        size = int(match.group(1)) * _SIZE_UNITS[unit]
        if size < 1:
            self.fail("must be at least 1 byte")
        if size > _LARGEST:
            self.fail(f"must be at most {_LARGEST:,} bytes")
        return size


class Seconds(click.FloatRange):
    """A time over 0 seconds ("inf": no limit); not "nan", which every comparison lets by."""

    name = "seconds"

    def __init__(self) -> None:
        super().__init__(min=0, min_open=True)

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        seconds: float = super().convert(value, param, ctx)
        if math.isnan(seconds):
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        return seconds


_LIMITS_KEY = "tlslens.limits"


def _keep_limit(ctx: click.Context, param: click.Parameter, value: object) -> None:
    if value is not None and param.name is not None:
        ctx.meta.setdefault(_LIMITS_KEY, {})[param.name] = value


def limit_options(command: Callable[..., None]) -> Callable[..., None]:
    """The bounds of a capture read (pipeline.Limits; the README's "Bounds" table), shared
    by the commands that read captures; ``capture_limits`` gives what was chosen."""
    defaults = Limits()
    count = click.IntRange(min=1, max=_LARGEST)
    options: list[tuple[str, click.ParamType, str]] = [  # type: ignore[type-arg]
        (
            "--max-connections",
            count,
            "TCP connections tracked at once; past it the oldest is closed early, with a "
            f"finding (default {defaults.max_connections:,}).",
        ),
        (
            "--max-held",
            Size(),
            "Bytes the open connections may hold at once (their state, the data they "
            "wait on, their handshake so far; 12 KiB a QUIC or DTLS association); past it "
            "the oldest is closed early, with a finding (default "
            f"{defaults.max_held >> 20} MiB).",
        ),
        (
            "--max-udp-flows",
            count,
            "QUIC and DTLS associations (UDP 4-tuples) tracked at once; past it the one idle "
            f"longest ends early, with a finding (default {defaults.max_udp_flows:,}).",
        ),
        (
            "--reorder-window",
            count,
            "Ended connections held back while an earlier one is still open, to keep "
            f"first-packet order (default {defaults.reorder_window:,}).",
        ),
        (
            "--max-buffer",
            Size(),
            "Out-of-order TCP bytes kept per direction before a hole is given up "
            f"(default {defaults.max_buffer >> 20} MiB).",
        ),
        (
            "--max-message",
            Size(),
            "Largest handshake message read; a longer one is reported and dropped "
            f"(default {defaults.max_message >> 20} MiB).",
        ),
        (
            "--max-expansion",
            count,
            "How many times a gzip'd capture may expand before reading stops "
            f"(default {defaults.max_expansion}).",
        ),
        (
            "--time-budget",
            Seconds(),
            "Seconds to spend reading one capture; then what was read is reported "
            "(default: no limit).",
        ),
    ]
    for name, kind, text in reversed(options):
        command = click.option(
            name, type=kind, help=text, expose_value=False, callback=_keep_limit
        )(command)
    return command


def capture_limits() -> Limits:
    """The bounds chosen with the options of ``limit_options``."""
    chosen = click.get_current_context().meta.get(_LIMITS_KEY, {})
    given = {name: chosen[name] for name in chosen if name != "time_budget"}
    if "time_budget" in chosen:
        given["time_budget_s"] = chosen["time_budget"]
    return Limits(**given)


def key_store(
    keylogs: tuple[Path, ...], rsa_keys: tuple[str, ...], psk: str | None, err: Stderr
) -> KeyStore | None:
    """The secrets given on the command line (judge.secrets_given), checked before any
    capture is read: without any secret option, $SSLKEYLOGFILE. A file that cannot be used
    is a usage error naming its option (exit 2)."""
    hint = "--keylog"
    if not keylogs and not rsa_keys and not psk and os.environ.get("SSLKEYLOGFILE"):
        keylogs = (Path(os.environ["SSLKEYLOGFILE"]),)
        hint = "SSLKEYLOGFILE"
    warn = _warner(err, "yellow")
    return _usage(lambda: secrets_given(keylogs, rsa_keys, psk, warn=warn, keylog_option=hint))


def _usage(make: Callable[[], _T]) -> _T:
    """What ``make`` makes; an option value it cannot use is a usage error naming the
    option (exit 2)."""
    try:
        return make()
    except OptionError as exc:
        raise click.BadParameter(str(exc), param_hint=exc.option) from exc


def _warner(err: Stderr, style: str) -> Callable[[str], None]:
    return lambda line: err.say(line, style)


def trust_options(command: Callable[..., None]) -> Callable[..., None]:
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
            "--client-ca",
            "client_cas",
            multiple=True,
            type=click.Path(dir_okay=False, path_type=Path),
            help="Root(s) to check client certificates against (default: the server's roots).",
        ),
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


def chain_checker(
    trust_store: str,
    cas: tuple[Path, ...],
    host: str | None,
    at_text: str | None,
    err: Stderr,
    client_cas: tuple[Path, ...] = (),
) -> ChainChecker:
    """The chain checker the trust options make (judge.checker_given); a bad value is a
    usage error naming its option (exit 2)."""
    warn = _warner(err, "red")
    return _usage(
        lambda: checker_given(trust_store, cas, host, at_text, warn=warn, client_cas=client_cas)
    )


def judging(checker: ChainChecker, revocation: str) -> Judge:
    """How a command judges connections: ``checker`` and, with --revocation online, the
    CAs' answers, judged as of now (online answers describe the present)."""
    if revocation != "online":
        return Judge(checker, None)
    from tlslens.net.revocation import RevocationChecker  # the network client, when asked for

    return Judge(checker, RevocationChecker(now=datetime.now(UTC)))
