"""The options commands share: secrets (--keylog, --rsa-key, --psk), trust, filters,
and the bounds of a capture read."""

from __future__ import annotations

import fnmatch
import ipaddress
import os
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import click
from cryptography import x509
from rich.console import Console
from rich.text import Text

from tlslens._text import plural, safe_text
from tlslens.errors import KeyFileError
from tlslens.keys.files import add_keylog_file, load_rsa_key, parse_key_argument
from tlslens.keys.store import KeyStore
from tlslens.model import Connection
from tlslens.net.revocation import RevocationChecker
from tlslens.pipeline import Limits
from tlslens.x509 import ChainChecker, TrustStore, Validation
from tlslens.x509.validate import quiet

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


class ServerFilter(click.ParamType):  # type: ignore[type-arg]
    name = "[HOST][:PORT]"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[str, int | None]:
        try:
            return split_host_port(str(value), port_alone=True)
        except (ValueError, UnicodeError) as exc:
            self.fail(safe_text(str(exc)), param, ctx)


def matches(
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
            help="Server RSA private key (PEM, DER, PKCS#8 or PKCS#12); repeatable.",
        ),
        click.option("--psk", metavar="HEX", help="Pre-shared key for PSK cipher suites."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


_SIZE_UNITS = {"": 1, "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30}


class Size(click.ParamType):  # type: ignore[type-arg]
    """A byte count: digits, optionally with KiB, MiB or GiB."""

    name = "bytes"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> int:
        if isinstance(value, int):
            return value
        match = re.fullmatch(r"\s*([0-9]+)\s*([A-Za-z]*)\s*", str(value))
        unit = match.group(2).lower() if match else ""
        if match is None or unit not in _SIZE_UNITS:
            self.fail(f"{value!r} is not a size (digits, optionally with KiB, MiB or GiB)")
        size = int(match.group(1)) * _SIZE_UNITS[unit]
        if size < 1:
            self.fail("must be at least 1 byte")
        return size


_LIMITS_KEY = "tlslens.limits"


def _keep_limit(ctx: click.Context, param: click.Parameter, value: object) -> None:
    if value is not None and param.name is not None:
        ctx.meta.setdefault(_LIMITS_KEY, {})[param.name] = value


def limit_options(command: Callable[..., None]) -> Callable[..., None]:
    """The bounds of a capture read (pipeline.Limits; the README's "Bounds" table), shared
    by the commands that read captures; ``capture_limits`` gives what was chosen."""
    defaults = Limits()
    count = click.IntRange(min=1)
    options: list[tuple[str, click.ParamType, str]] = [  # type: ignore[type-arg]
        (
            "--max-connections",
            count,
            "TCP connections tracked at once; past it the oldest is closed early, with a "
            f"finding (default {defaults.max_connections:,}).",
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
            click.FloatRange(min=0, min_open=True),
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


SHOWN_KEYLOG_PROBLEMS = 5


def key_store(
    keylogs: tuple[Path, ...], rsa_keys: tuple[str, ...], psk: str | None, err: Console
) -> KeyStore | None:
    """The secrets given on the command line, checked before any capture is read.

    A file that cannot be used is a usage error naming its option (exit 2); bad lines of
    a key log are named, the first few with their numbers, then counted."""
    hint = "--keylog"
    if not keylogs and not rsa_keys and not psk and os.environ.get("SSLKEYLOGFILE"):
        keylogs = (Path(os.environ["SSLKEYLOGFILE"]),)
        hint = "SSLKEYLOGFILE"
    if not keylogs and not rsa_keys and not psk:
        return None
    store = KeyStore()
    for path in keylogs:
        try:
            add_keylog_file(store, path)
        except KeyFileError as exc:
            raise click.BadParameter(safe_text(str(exc)), param_hint=hint) from exc
    keylog = store.keylog
    for problem in keylog.problems[:SHOWN_KEYLOG_PROBLEMS]:
        err.print(Text(safe_text(str(problem)), style="yellow"))
    if keylog.problem_count > SHOWN_KEYLOG_PROBLEMS:
        err.print(
            Text(
                "... and "
                f"{plural(keylog.problem_count - SHOWN_KEYLOG_PROBLEMS, 'more key log line')} "
                f"that cannot be used; {plural(len(keylog), 'usable secret')} in all",
                style="yellow",
            )
        )
    for argument in rsa_keys:
        path_text, password = parse_key_argument(argument)
        try:
            store.rsa_keys.append(load_rsa_key(path_text, password))
        except KeyFileError as exc:
            raise click.BadParameter(safe_text(str(exc)), param_hint="--rsa-key") from exc
    if psk:
        try:
            store.psk = bytes.fromhex(psk)
        except ValueError as exc:
            raise click.BadParameter(
                f"{safe_text(psk)!r} is not a hex string", param_hint="--psk"
            ) from exc
    if not store:
        err.print(
            Text(
                "no usable secret in what was given: no connection can be decrypted",
                style="yellow",
            )
        )
    return store


SYSTEM_STORE = Path("/etc/ssl/certs/ca-certificates.crt")


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


@quiet
def _certificates(paths: tuple[Path, ...], option: str) -> list[x509.Certificate]:
    """Every certificate of the PEM or DER files an option names; a bad one is a usage error."""
    found: list[x509.Certificate] = []
    for path in paths:
        try:
            data = path.read_bytes()
            if b"-----BEGIN" in data:
                found.extend(x509.load_pem_x509_certificates(data))
            else:
                found.append(x509.load_der_x509_certificate(data))
        except (OSError, ValueError, x509.InvalidVersion) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise click.BadParameter(
                f"{safe_text(str(path))}: not a usable certificate ({safe_text(reason)})",
                param_hint=option,
            ) from exc
    return found


def chain_checker(
    trust_store: str,
    cas: tuple[Path, ...],
    host: str | None,
    at_text: str | None,
    err: Console,
    client_cas: tuple[Path, ...] = (),
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
    extra = _certificates(cas, "--ca")
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
    client_roots = _certificates(client_cas, "--client-ca")
    client_store = TrustStore("client-ca", client_roots) if client_roots else None
    return ChainChecker(store, host=host, at=at, client_store=client_store)


def check_chain(
    checker: ChainChecker, conn: Connection, revoker: RevocationChecker | None = None
) -> None:
    validation, client = verdicts(
        checker,
        [cert.der for cert in conn.certificates],
        [cert.der for cert in conn.client_certificates or []],
        sni=conn.sni,
        at=conn.start_time,
        stapled_ocsp=conn.stapled_ocsp,
        conn_id=conn.id,
        revoker=revoker,
    )
    conn.validation = validation
    if conn.client_certificates:
        conn.client_validation = client


def verdicts(
    checker: ChainChecker,
    certificates: list[bytes],
    client_certificates: list[bytes],
    *,
    sni: str | None,
    at: datetime,
    stapled_ocsp: bytes | None,
    conn_id: int,
    revoker: RevocationChecker | None = None,
) -> tuple[Validation | None, Validation | None]:
    """The server chain's verdict and the client chain's, as of ``at``."""
    validation = checker.check(
        certificates, sni=sni, at=at, stapled_ocsp=stapled_ocsp, conn_id=conn_id
    )
    client = (
        checker.check_client(client_certificates, at=at, lent=certificates)
        if client_certificates
        else None
    )
    if revoker is not None and validation is not None and len(validation.path) > 1:
        validation.add_revocation(revoker.check_path(validation.path, validation.checked_at))
    return validation, client
