"""Capture-wide judgement in one place: a capture read with its options gives its
connections judged in order, and once read, its closing notes as data.

Every command that reads a capture (`show`, `certs`, `decrypt`, `report`, `connect`,
`extract`) reads it through ``Reading``, so that a connection gets the same verdict
whichever command shows it: its chain checked against the roots given and against the
certificates the capture's earlier connections sent (connections left out by a filter
still lend theirs), revocation when asked, the key log's match counted, the
forward-secrecy tally and resumption savings kept. What is printed, and where, is the
command line's business (cli/); the option values arrive here as plain values, and an
unusable one is an ``OptionError`` naming its option.
"""

from __future__ import annotations

import fnmatch
import functools
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, NamedTuple, Protocol

from tlslens._text import plural, safe_text
from tlslens.bounds import DEFAULT_LIMITS, Limits
from tlslens.capture.tally import CaptureSummary
from tlslens.errors import KeyFileError, NotAKeyLogError, OptionError
from tlslens.explain import ForwardSecrecyTally, ResumptionSavings
from tlslens.keys.store import KeyStore
from tlslens.model import Connection, Finding
from tlslens.pipeline import read_capture
from tlslens.x509.certificate import quiet
from tlslens.x509.checker import ChainChecker
from tlslens.x509.trust import TrustStore, mozilla_roots_file

if TYPE_CHECKING:
    from cryptography import x509

    from tlslens.x509.validate import Validation

Warn = Callable[[str], None]  # a line for the user (already safe to print)


class Revoker(Protocol):
    """Online revocation answers for a trust path (net.revocation.RevocationChecker)."""

    def check_path(self, path: list[x509.Certificate], at: datetime) -> list[Any]: ...


class Judge(NamedTuple):
    """How connections are judged, whatever the capture: the chain checker the trust
    options made (None: chains are not judged, as `decrypt` does) and where revocation is
    asked (None: it is not)."""

    checker: ChainChecker | None = None
    revoker: Revoker | None = None


class Selection(NamedTuple):
    """The connections a command shows: --connection N, --server [HOST][:PORT] and --sni
    NAME (shell wildcards) together; nothing given takes every connection."""

    number: int | None = None
    server: tuple[str, int | None] | None = None
    sni: str | None = None

    def takes(self, conn: Connection) -> bool:
        if self.number is not None and conn.id != self.number:
            return False
        if self.server is not None:
            host, port = self.server
            ip = str(conn.server).rsplit(":", 1)[0].strip("[]")
            if host and host != ip and host != (conn.sni or ""):
                return False
            if port is not None and conn.server.port != port:
                return False
        sni = self.sni
        return not (sni is not None and not fnmatch.fnmatch((conn.sni or "").lower(), sni.lower()))


# Said of a capture when secrets were given and none could be used, nor did the capture
# carry any (a pcapng's Decryption Secrets Blocks).
NO_USABLE_SECRET = (
    "no usable secret in what was given, nor in the capture: no connection could be decrypted"
)


class ClosingNotes(NamedTuple):
    """What is said of a capture once it has been read, beyond its connections. Lines are
    safe to print; each command chooses which it prints and where."""

    problems: list[Finding]  # the capture's own findings (not any one connection's)
    # Intermediates that only a later connection sent: verdicts were given before.
    late_intermediates: list[str]
    no_such_connection: str | None  # --connection N named no connection of the capture
    # A key log given for other connections, or secrets given that none could be used
    key_log_unmatched: str | None
    forward_secrecy: list[str]  # which sessions the RSA key opened (with --rsa-key only)
    resumption_savings: list[str]  # kept only when the Reading was asked to (``savings``)
    shown: int  # connections the selection took


class Reading:
    """One capture read with the options of a command: iterating it yields the selected
    connections in first-packet order, numbered, with ``resumed_from`` and their chains
    judged; ``notes()`` then gives the closing notes, and ``summary`` the pass.

    Iteration raises CaptureError when the file is not a capture and OSError when it
    cannot be read, as ``pipeline.read_capture`` does. ``passed_over`` receives, after the
    judge has seen them, the connections the selection leaves out (a plaintext sink's owner
    lets their bytes go).

    ``tally`` is the forward-secrecy tally when an RSA key was given, and None otherwise:
    only an RSA key opens a session by itself, so without one there is nothing to count
    (``notes().forward_secrecy`` is then empty, whatever the capture).

    ``savings`` keeps the resumption savings (``notes().resumption_savings``), which only
    `show` says: without it no connection's handshake is timed for them, and that note is
    empty.
    """

    def __init__(
        self,
        path: str | Path,
        judge: Judge,
        *,
        keys: KeyStore | None = None,
        selection: Selection | None = None,
        passed_over: Callable[[Connection], None] | None = None,
        sink: Callable[[int, str, bytes], None] | None = None,
        records: bool = False,
        limits: Limits = DEFAULT_LIMITS,
        stream: BinaryIO | None = None,
        savings: bool = False,
    ) -> None:
        self.path = Path(path)
        self.judge = judge
        self.keys = keys
        self.selection = selection or Selection()
        self.passed_over = passed_over
        self.sink = sink
        self.records = records
        self.limits = limits
        self.stream = stream
        self.summary = CaptureSummary(file=str(path))
        # "Elsewhere in the capture" means this capture: the pool starts empty.
        self.chains = judge.checker.fresh() if judge.checker is not None else None
        # Only an RSA key opens a session by itself: without one the tally has nothing to
        # tell (notes() says nothing of it), so no connection is counted into it.
        self.tally: ForwardSecrecyTally | None = (
            ForwardSecrecyTally() if keys is not None and keys.rsa_keys else None
        )
        self.savings = ResumptionSavings() if savings else None
        self.shown = 0

    def __iter__(self) -> Iterator[Connection]:
        return self.connections()

    def connections(
        self,
        on_progress: Callable[[int], None] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> Iterator[Connection]:
        """The selected connections, judged; ``on_progress`` gets the bytes read so far.
        ``clock`` (seconds, the monotonic clock unless a test gives its own) makes the
        time budget of ``limits`` count, for every command alike (extract had none)."""
        capture = read_capture(
            self.path,
            on_progress=on_progress,
            keys=self.keys,
            plaintext_sink=self.sink,
            records=self.records,
            stream=self.stream,
            limits=self.limits,
            clock=clock or time.monotonic,
        )
        self.summary = capture.summary
        chains, revoker = self.chains, self.judge.revoker
        for conn in capture:
            _count_key_log_match(capture.summary, conn)
            if not self.selection.takes(conn):
                if chains is not None:
                    chains.observe([cert.der for cert in conn.certificates], conn.id)
                if self.tally is not None:
                    self.tally.learn(conn)
                if self.passed_over is not None:
                    self.passed_over(conn)
                continue
            self.shown += 1
            if self.tally is not None:
                self.tally.add(conn)
            if chains is not None:
                check_chain(chains, conn, revoker)
            yield conn
            if self.savings is not None:
                # Once the caller is done with it: the row it wrote keeps its times.
                self.savings.add(conn)

    def notes(self) -> ClosingNotes:
        """What is said once the capture has been read whole."""
        summary, number = self.summary, self.selection.number
        missing = None
        if number is not None and not 1 <= number <= summary.tls_connections:
            missing = (
                f"there is no connection {number}; the capture holds "
                f"{plural(summary.tls_connections, 'TLS connection')}, numbered from 1 "
                "(--connection)"
            )
        unmatched = None
        if self.keys is not None and not self.keys and not summary.capture_secrets:
            unmatched = NO_USABLE_SECRET  # given, and the capture carried none
        elif summary.client_randoms and not summary.key_log_matched:
            unmatched = (
                f"the key log matched 0 of {summary.client_randoms} client randoms: its "
                "secrets are for other connections (another capture, or another run of the "
                "client)"
            )
        late: list[str] = []
        if self.chains is not None and self.chains.late:
            # The chain narration (and the X.509 it imports) only when there is one to tell.
            from tlslens.explain import late_intermediate_lines

            late = [safe_text(line) for line in late_intermediate_lines(self.chains.late)]
        tally, savings = self.tally, self.savings
        return ClosingNotes(
            problems=list(summary.problems),
            late_intermediates=late,
            no_such_connection=missing,
            key_log_unmatched=unmatched,
            forward_secrecy=[safe_text(line) for line in tally.lines()]
            if tally is not None
            else [],
            resumption_savings=[safe_text(line) for line in savings.lines()]
            if savings is not None
            else [],
            shown=self.shown,
        )


def _count_key_log_match(summary: CaptureSummary, conn: Connection) -> None:
    """Whether the key log has a line for this connection's client random, counted over
    every connection, shown or not (nothing when no key log was given or no ClientHello
    was seen)."""
    knows = conn.decryption.key_log_knows() if conn.decryption is not None else None
    if knows is None:
        return
    summary.client_randoms += 1
    summary.key_log_matched += knows


def check_chain(checker: ChainChecker, conn: Connection, revoker: Revoker | None = None) -> None:
    """The verdicts on ``conn``'s chains, set on it (the client's only when it sent one)."""
    certificates, client_certificates = conn.certificates, conn.client_certificates
    if not certificates and not client_certificates:
        # Half of a capture without keys (TLS 1.3 sends its chain encrypted): nothing to
        # judge, and nothing of the connection (its time, its staple) to look up.
        conn.validation = None
        return
    validation, client = verdicts(
        checker,
        [cert.der for cert in certificates],
        [cert.der for cert in client_certificates or []],
        sni=conn.sni,
        at=conn.start_time,
        stapled_ocsp=conn.stapled_ocsp,
        conn_id=conn.id,
        revoker=revoker,
    )
    conn.validation = validation
    if client_certificates:
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
    revoker: Revoker | None = None,
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


SHOWN_KEYLOG_PROBLEMS = 5


def secrets_given(
    keylogs: Sequence[Path],
    rsa_keys: Sequence[str],
    psk: str | None,
    *,
    warn: Warn,
    keylog_option: str = "--keylog",
) -> KeyStore | None:
    """The secrets given (None: none was), read before any capture is.

    A file that cannot be used is an OptionError naming its option (``keylog_option`` for
    the key logs); a capture given as a key log, and bad lines of a key log, are said
    through ``warn`` (the lines: the first few with their numbers, then counted)."""
    if not keylogs and not rsa_keys and not psk:
        return None
    # Key files are read with cryptography's loaders (PKCS#12 brings its X.509): only now.
    from tlslens.keys.files import add_keylog_file, load_rsa_key, parse_key_argument

    store = KeyStore()
    for path in keylogs:
        try:
            add_keylog_file(store, path)
        except NotAKeyLogError as exc:
            warn(safe_text(str(exc)))
        except KeyFileError as exc:
            raise OptionError(keylog_option, safe_text(str(exc))) from exc
    keylog = store.keylog
    for problem in keylog.problems[:SHOWN_KEYLOG_PROBLEMS]:
        warn(safe_text(str(problem)))
    if keylog.problem_count > SHOWN_KEYLOG_PROBLEMS:
        warn(
            "... and "
            f"{plural(keylog.problem_count - SHOWN_KEYLOG_PROBLEMS, 'more key log line')} "
            f"that cannot be used; {plural(len(keylog), 'usable secret')} in all"
        )
    for argument in rsa_keys:
        path_text, password = parse_key_argument(argument)
        try:
            store.rsa_keys.append(load_rsa_key(path_text, password))
        except KeyFileError as exc:
            raise OptionError("--rsa-key", safe_text(str(exc))) from exc
    if psk:
        try:
            store.psk = bytes.fromhex(psk)
        except ValueError as exc:
            raise OptionError("--psk", f"{safe_text(psk)!r} is not a hex string") from exc
    # An empty store is said once a capture has been read (Reading.notes): the capture's
    # own Decryption Secrets Blocks may still decrypt it.
    return store


SYSTEM_STORE = Path("/etc/ssl/certs/ca-certificates.crt")


def checker_given(
    trust_store: str,
    cas: Sequence[Path],
    host: str | None,
    at_text: str | None,
    *,
    warn: Warn,
    client_cas: Sequence[Path] = (),
) -> ChainChecker:
    """The chain checker the trust options make: the roots (``mozilla``, ``system`` or
    ``none``) and the extra ones, the name to check, the time (ISO 8601) and the client
    roots. The store is read at the first chain checked (a capture without a certificate
    in the clear needs none of it); one that cannot be read is said through ``warn`` then,
    and trusts nothing. A bad --ca, --at or --client-ca is an OptionError, at once."""
    extra, sources = [], []
    for path in cas:  # each root with the file it came from, which a path anchored there names
        found = _certificates([path], "--ca")
        extra += found
        sources += [f"--ca {safe_text(str(path))}"] * len(found)

    @functools.cache  # fresh() hands the reader on to every capture's checker: read once
    def roots() -> TrustStore:
        store = TrustStore("none")
        try:
            if trust_store == "mozilla":
                store = TrustStore.from_pem("mozilla", mozilla_roots_file().read_bytes())
            elif trust_store == "system":
                store = TrustStore.from_pem("system", SYSTEM_STORE.read_bytes())
        except (OSError, ValueError) as exc:
            warn(f"trust store {trust_store}: cannot be read ({exc}); no roots are trusted")
        return store.extended(f"{store.name}+ca", extra, sources) if extra else store

    at = None
    if at_text:
        try:
            at = datetime.fromisoformat(at_text.replace("Z", "+00:00"))
        except ValueError as exc:
            raise OptionError("--at", f"{at_text!r} is not an ISO 8601 time") from exc
        if at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
    client_roots = _certificates(client_cas, "--client-ca")
    client_store = TrustStore("client-ca", client_roots) if client_roots else None
    return ChainChecker(roots, host=host, at=at, client_store=client_store)


def _certificates(paths: Sequence[Path], option: str) -> list[x509.Certificate]:
    """Every certificate of the PEM or DER files an option names; a bad one is an
    OptionError."""
    if not paths:
        return []  # cryptography (its X.509 a third of start-up) is not imported without a file
    return _load_certificates(paths, option)


@quiet
def _load_certificates(paths: Sequence[Path], option: str) -> list[x509.Certificate]:
    from cryptography import x509

    found: list[x509.Certificate] = []
    for path in paths:
        data: bytes | None = None
        try:
            data = path.read_bytes()
            if b"-----BEGIN" in data:
                found.extend(x509.load_pem_x509_certificates(data))
            else:
                found.append(x509.load_der_x509_certificate(data))
        except (OSError, ValueError, x509.InvalidVersion) as exc:
            raise OptionError(
                option,
                f"{safe_text(str(path))}: not a usable certificate ({_unusable(exc, data)})",
            ) from exc
    return found


def _unusable(exc: Exception, data: bytes | None) -> str:
    """Why a certificate file could not be used, in words: the parser's own message is a
    debug dump of ASN.1 tags, useless to the reader."""
    from cryptography import x509

    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    if isinstance(exc, x509.InvalidVersion):
        return f"X.509 version {exc.parsed_version} is not one of v1 to v3"
    if data is not None and b"-----BEGIN" in data:
        return "a PEM block in it is not a readable X.509 certificate"
    return "neither a PEM file with a CERTIFICATE block nor a DER certificate"


__all__ = [
    "ClosingNotes",
    "Judge",
    "Reading",
    "Revoker",
    "Selection",
    "check_chain",
    "checker_given",
    "secrets_given",
    "verdicts",
]
