"""Would a client trust this chain, as of the capture's time? And if not, why, in plain words.

Strategy: two independent looks at the same certificates.
1. ``cryptography.x509.verification`` (an RFC 5280 / CA-B Forum path validator) gives
   the verdict: trusted or not, against the given store, at the given time, for the
   given host name.
2. Our own walk from the leaf, issuer by issuer (by name, then by signature), finds
   the specific problems a network engineer needs named: a missing or misordered
   intermediate, an expired certificate and by how many days, a name that does not
   match, a root that is not in the store, weak algorithms, bad constraints.
Problem codes are a stable vocabulary (see CODES); messages are for people.
Nothing here reads the clock or files: the time and the store are passed in.
"""

from __future__ import annotations

import ipaddress
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from tlslens import _core
from tlslens._text import plural
from tlslens.x509.cache import per_certificate
from tlslens.x509.certificate import load_certificate, quiet
from tlslens.x509.decoding import DECODE_ERRORS
from tlslens.x509.names import covers, names_of, san_texts, subject_text
from tlslens.x509.ocsp import OCSPCheck, check_stapled_ocsp
from tlslens.x509.profile import FORBIDDING, extension, path_problems
from tlslens.x509.signature import explain_signature
from tlslens.x509.trust import TrustStore
from tlslens.x509.validity import days_text
from tlslens.x509.walk import Walk, walk_path
from tlslens.x509.wording import error_text

CODES = (
    "untrusted_root",
    "missing_intermediate",
    "intermediate_elsewhere_in_capture",
    "wrong_order",
    "extra_certificates",
    "expired",
    "not_yet_valid",
    "name_mismatch",
    "self_signed",
    "weak_signature",
    "weak_key",
    "bad_basic_constraints",
    "bad_key_usage",
    "bad_extension",
    "bad_name_constraints",
    "chain_too_long",
    "malformed_certificate",
    "malformed_extension",
    "missing_key_identifier",
    "bad_key_identifier",
    "bad_serial",
    "cn_not_in_san",
    "unparsable_certificate",
    "ocsp_revoked",
    "ocsp_stale",
    "ocsp_invalid",
    "no_certificate",
    "verification_failed",
    "crl_revoked",
    "crl_invalid",
    "revocation_unavailable",
)


# The validator's refusal, or a certificate field it could not decode on the way.
_VERIFY_ERRORS: tuple[type[Exception], ...] = (VerificationError, *DECODE_ERRORS)

# Problems a chain can have and still be trusted by a client.
ADVISORY = frozenset(
    {"wrong_order", "extra_certificates", "weak_signature", "unparsable_certificate"}
)


class Problem(NamedTuple):
    code: str
    message: str


@dataclass(slots=True)
class Validation:
    trusted: bool
    checked_at: datetime
    hostname: str | None
    trust_store: str
    problems: list[Problem] = field(default_factory=list)
    path: list[x509.Certificate] = field(default_factory=list)  # leaf first, root last
    path_in_store: bool = False  # the last certificate of the path is a trust anchor
    # Where that anchor came from ("the mozilla store", "--ca root.pem"), when it is one.
    anchor_origin: str | None = None
    unknown_root: str | None = None  # the issuer named by the top of the path, not found
    missing_issuer: x509.Certificate | None = None  # the path's top, whose issuer was not found
    validity_at: int = 0  # where the expired/not-yet-valid problems start in ``problems``
    links: list[list[str]] = field(default_factory=list)  # signature explanation per link
    ocsp: OCSPCheck | None = None
    revocation: list[Any] | None = None  # net.revocation.RevocationResult, when checked online
    purpose: str = "server"  # or "client": a client certificate, checked for client auth
    # The SHA-256 of each certificate of ``path``, once asked for: worked out on the
    # checker's cached verdict, whose copies (``as_of``) share it with their ``path``.
    path_sha256: tuple[str, ...] | None = None

    def add_revocation(self, results: list[Any]) -> None:
        """Fold the online answers (leaf and intermediates) into the verdict.

        They were judged as of now: a revocation dated after ``checked_at`` (the capture's
        time) leaves the verdict at that time alone and is only reported with its date.
        The problems become a list of this verdict's own: until now it may be the one the
        checker's copies of a cached verdict share (``as_of``)."""
        self.revocation = results
        self.problems = list(self.problems)
        for result in results:
            where = f"{result.subject} ({result.method} at {result.url})"
            revoked_at = getattr(result, "revoked_at", None)
            if result.status == "revoked" and (revoked_at is None or revoked_at <= self.checked_at):
                code = "ocsp_revoked" if result.method == "ocsp" else "crl_revoked"
                self.problems.append(Problem(code, f"{where}: {result.message}"))
                self.trusted = False
            elif result.status == "invalid":
                code = "ocsp_invalid" if result.method == "ocsp" else "crl_invalid"
                self.problems.append(Problem(code, f"{where}: {result.message}"))
            elif result.status == "unavailable":
                self.problems.append(
                    Problem("revocation_unavailable", f"{result.subject}: {result.message}")
                )

    def as_of(self, when: datetime, problems: list[Problem]) -> Validation:
        """The same verdict given at ``when`` (a time it holds at), with ``problems``: a
        list the copy shares with the others worded alike, read-only to the copy's holder
        (``add_revocation`` makes one of its own).

        Once per connection with a chain: every field by name is eight times faster than
        ``dataclasses.replace`` (tests/test_verdict_json.py checks that none is left out)."""
        return Validation(
            trusted=self.trusted,
            checked_at=when,
            hostname=self.hostname,
            trust_store=self.trust_store,
            problems=problems,
            path=self.path,
            path_in_store=self.path_in_store,
            anchor_origin=self.anchor_origin,
            unknown_root=self.unknown_root,
            missing_issuer=self.missing_issuer,
            validity_at=self.validity_at,
            links=self.links,
            ocsp=self.ocsp,
            revocation=self.revocation,
            purpose=self.purpose,
            path_sha256=self.path_digests(),
        )

    def path_digests(self) -> tuple[str, ...]:
        """The SHA-256 of each certificate of the path, leaf first."""
        if self.path_sha256 is None:
            self.path_sha256 = tuple(map(fingerprint, self.path))
        return self.path_sha256

    def to_json(self) -> dict[str, Any]:
        return _core.validation_json(self)  # as the row writes it


# The validator's reasons, by the words (and extension OIDs) its messages use, as our codes:
# first match wins; "verification_failed" only when none fits.
_VALIDATOR_REASONS = (
    ("max depth", "chain_too_long"),
    ("name constraint", "bad_name_constraints"),
    ("2.5.29.30", "bad_name_constraints"),
    ("2.5.29.35", "bad_key_identifier"),
    ("2.5.29.14", "bad_key_identifier"),
    ("KeyIdentifier", "bad_key_identifier"),
    ("2.5.29.19", "bad_basic_constraints"),
    ("basicConstraints", "bad_basic_constraints"),
    ("keyUsage", "bad_key_usage"),
    ("2.5.29.15", "bad_key_usage"),
    ("2.5.29.37", "bad_key_usage"),
    ("serial", "bad_serial"),
    ("public key algorithm", "weak_key"),
    ("criticality", "bad_extension"),
    ("critical extension", "bad_extension"),
    ("prohibited extension", "bad_extension"),
    ("required extension", "bad_extension"),
    ("subjectAltName", "bad_extension"),
    ("Issuer", "malformed_certificate"),
    ("Subject", "malformed_certificate"),
)


def validator_code(message: str) -> str:
    """Our problem code for a reason ``cryptography``'s path validator gave in words."""
    return next(
        (code for words, code in _VALIDATOR_REASONS if words.lower() in message.lower()),
        "verification_failed",
    )


@per_certificate  # of many verdicts, and of the report
def fingerprint(cert: x509.Certificate) -> str:
    # The digest of the DER, by cryptography itself: serialization (its SSH keys, bcrypt,
    # the decrepit ciphers: 3 ms of start-up) is not needed to read a chain.
    return cert.fingerprint(hashes.SHA256()).hex()


def _loadable(certificates: Sequence[bytes]) -> list[x509.Certificate]:
    """The certificates of ``certificates`` that parse (the others are another chain's
    problem, told with that chain)."""
    loaded = []
    for der in certificates:
        try:
            loaded.append(load_certificate(der))
        except ValueError:
            continue
    return loaded


def _stand_in_name(dns: list[str], ips: list[str]) -> str | None:
    """With no name asked (no SNI, no --host) the chain is checked for a name the leaf itself
    covers, so that only the path, times and usages decide; a wildcard stands for one label."""
    for name in dns:
        if not name.startswith("*."):
            return name
    if dns:
        return "wildcard" + dns[0][1:]
    return ips[0] if ips else None


def validity_problems(
    path: list[x509.Certificate], at: datetime, *, at_capture: bool = True
) -> list[Problem]:
    """Expired and not-yet-valid certificates of the path, as of ``at`` (the capture's time,
    or a time the user chose)."""
    moment = "the capture" if at_capture else f"{at:%Y-%m-%d %H:%M} UTC, the time checked"
    problems = []
    for cert in path:
        before, after, since, until = _validity(cert)
        if at > after:
            problems.append(
                Problem(
                    "expired",
                    f"{until}, {days_text((at - after).total_seconds())} before {moment}",
                )
            )
        elif at < before:
            problems.append(
                Problem(
                    "not_yet_valid",
                    f"{since}, {days_text((before - at).total_seconds())} after {moment}",
                )
            )
    return problems


@per_certificate  # asked again for every verdict on the chain
def _validity(cert: x509.Certificate) -> tuple[datetime, datetime, str, str]:
    """A certificate's validity, and the words for each end of it."""
    before, after = cert.not_valid_before_utc, cert.not_valid_after_utc
    subject = subject_text(cert)
    return (
        before,
        after,
        f"{subject} is valid only from {before:%Y-%m-%d %H:%M} UTC",
        f"{subject} expired {after:%Y-%m-%d %H:%M} UTC",
    )


@quiet
def validate(
    certificates: list[bytes],
    *,
    hostname: str | None,
    at: datetime,
    store: TrustStore,
    seen_elsewhere: Mapping[bytes, x509.Certificate] | None = None,
    stapled_ocsp: bytes | None = None,
    at_capture: bool = True,
    client: bool = False,
    max_depth: int | None = None,
    lent: Sequence[bytes] = (),
) -> Validation:
    """Validate the chain a server sent (DER, in the order sent) as of ``at``
    (``at_capture``: the capture's own time, not one the user chose); with ``client``, the
    chain a client sent for client authentication (no name; clientAuth usage). ``max_depth``
    bounds the intermediates a path may have (RFC 5280 leaves it to the relying party).
    ``lent``: intermediates the path may use that this chain did not send (for a client's
    chain, the server's of the same connection: the server holds them)."""
    result = Validation(False, at, hostname, store.name, purpose="client" if client else "server")
    problems = result.problems
    parsed = _parse_sent(certificates, problems)
    if not parsed:
        problems.append(
            Problem("no_certificate", "the server sent no certificate that can be read")
        )
        return result
    leaf = parsed[0]
    lent_certs = _loadable(lent)
    _take_walk(result, walk_path(parsed, lent_certs, store, seen_elsewhere or {}))
    result.validity_at = len(problems)
    problems.extend(validity_problems(result.path, at, at_capture=at_capture))
    problems.extend(
        _certificate_problems(result.path, anchored=result.path_in_store, client=client)
    )
    result.links = [explain_signature(c, i) for c, i in itertools.pairwise(result.path)]
    problems.extend(_name_problems(leaf, hostname))
    if store.store is not None:
        subject = _validator_subject(leaf, hostname, client, problems)
        if subject is not None or client:
            sent_and_lent = parsed[1:] + lent_certs if client else parsed[1:]
            _ask_validator(result, store.store, subject, sent_and_lent, max_depth)
        if not result.trusted and not problems:
            problems.append(_why_rejected(leaf, hostname, client))
    if result.trusted:
        _keep_advisory(result)
    # What the validator does not check, on the path it built (or the one walked).
    for code, message in path_problems(result.path, anchored=result.path_in_store, client=client):
        problems.append(Problem(code, message))
        if code in FORBIDDING:
            result.trusted = False
    if result.path_in_store and result.path:
        result.anchor_origin = store.anchor_origin(result.path[-1])
    if stapled_ocsp is not None:
        _check_staple(result, stapled_ocsp, leaf)
    return result


def _parse_sent(certificates: list[bytes], problems: list[Problem]) -> list[x509.Certificate]:
    """The certificates that parse, in the order sent; each one that does not is a problem."""
    parsed: list[x509.Certificate] = []
    for index, der in enumerate(certificates):
        try:
            parsed.append(load_certificate(der))
        except ValueError as exc:
            problems.append(
                Problem(
                    "unparsable_certificate",
                    f"certificate {index} cannot be parsed: {error_text(exc)}",
                )
            )
    return parsed


def _take_walk(result: Validation, walk: Walk) -> None:
    result.path = walk.path
    result.path_in_store = walk.in_store
    result.unknown_root = walk.unknown_root
    result.missing_issuer = walk.missing_issuer
    result.problems.extend(Problem(code, message) for code, message in walk.problems)


def _certificate_problems(
    path: list[x509.Certificate], *, anchored: bool, client: bool
) -> list[Problem]:
    """Each certificate on the path, by its place: readable extensions, a signature hash that
    is not broken (a trust anchor's own signature is never checked), a CA's right to issue,
    a leaf's purpose."""
    problems = []
    for depth, cert in enumerate(path):
        problems.extend(_unreadable_extensions(cert))
        if not (anchored and depth == len(path) - 1):
            problems.extend(_weak_signature(cert))
        if depth > 0:
            problems.extend(_issuer_problems(cert, depth))
        else:
            problems.extend(_leaf_problems(cert, len(path), client))
    return problems


def _unreadable_extensions(cert: x509.Certificate) -> list[Problem]:
    try:
        cert.extensions  # noqa: B018 - parsed lazily: a bad one raises here, not later
    except DECODE_ERRORS as exc:
        return [
            Problem(
                "malformed_extension",
                f"{subject_text(cert)} has extensions that cannot be read: {error_text(exc)}",
            )
        ]
    return []


def _weak_signature(cert: x509.Certificate) -> list[Problem]:
    try:
        hash_alg = cert.signature_hash_algorithm
    except UnsupportedAlgorithm:
        return []
    if hash_alg is not None and hash_alg.name in ("md5", "sha1"):
        return [
            Problem(
                "weak_signature", f"{subject_text(cert)} is signed with {hash_alg.name.upper()}"
            )
        ]
    return []


def _issuer_problems(cert: x509.Certificate, depth: int) -> list[Problem]:
    """RFC 5280 §6.1.4 (k), (l) and (n): an issuer must be a CA, within its path length, and
    allowed to sign certificates."""
    problems = []
    constraints = extension(cert, x509.BasicConstraints)
    if constraints is None or not constraints.ca:
        problems.append(
            Problem(
                "bad_basic_constraints",
                f"{subject_text(cert)} issues certificates but is not a CA",
            )
        )
    elif constraints.path_length is not None and constraints.path_length < depth - 1:
        problems.append(
            Problem(
                "bad_basic_constraints",
                f"{subject_text(cert)} allows {plural(constraints.path_length, 'CA')} "
                "below it, "
                f"the path has {depth - 1}",
            )
        )
    usage = extension(cert, x509.KeyUsage)
    if usage is not None and not usage.key_cert_sign:
        problems.append(
            Problem("bad_key_usage", f"{subject_text(cert)} is not allowed to sign certificates")
        )
    return problems


def _leaf_problems(cert: x509.Certificate, path_length: int, client: bool) -> list[Problem]:
    """A leaf under a CA that claims to be one, or whose extended key usage is not for the
    side of TLS it was sent from (RFC 5280 §4.2.1.12)."""
    problems = []
    constraints = extension(cert, x509.BasicConstraints)
    if constraints is not None and constraints.ca and path_length > 1:
        problems.append(
            Problem(
                "bad_basic_constraints",
                f"the leaf, {subject_text(cert)}, claims to be a CA",
            )
        )
    eku = extension(cert, x509.ExtendedKeyUsage)
    purpose = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
    if eku is not None and not (
        purpose in eku or ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in eku
    ):
        role = "clients (no clientAuth)" if client else "servers (no serverAuth)"
        problems.append(
            Problem("bad_key_usage", f"the leaf, {subject_text(cert)}, is not for TLS {role}")
        )
    return problems


def _name_problems(leaf: x509.Certificate, hostname: str | None) -> list[Problem]:
    if not hostname or covers(leaf, hostname):
        return []
    covered = ", ".join(san_texts(leaf)[:8]) or "no subjectAltName at all (the CN is ignored)"
    return [
        Problem(
            "name_mismatch",
            f"the client asked for {hostname}; the certificate covers {covered}",
        )
    ]


def _validator_subject(
    leaf: x509.Certificate, hostname: str | None, client: bool, problems: list[Problem]
) -> x509.verification.Subject | None:
    """The name the validator checks the leaf for: none for a client's chain, the name asked,
    else one the leaf covers; a name that is neither an address nor a DNS name is a problem."""
    dns, ips = names_of(leaf)
    name = None if client else hostname or _stand_in_name(dns, ips)
    if not name:
        return None
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        pass
    try:
        return x509.DNSName(name)
    except ValueError:
        problems.append(Problem("name_mismatch", f"{name!r} is not a valid host name to check"))
        return None


def _ask_validator(
    result: Validation,
    verifier_store: Store,
    subject: x509.verification.Subject | None,
    intermediates: list[x509.Certificate],
    max_depth: int | None,
) -> None:
    """The verdict of an RFC 5280 validator; a server's chain when ``subject`` is given, else
    a client's."""
    leaf = result.path[0]
    try:
        builder = PolicyBuilder().store(verifier_store).time(result.checked_at)
        if max_depth is not None:
            builder = builder.max_chain_depth(max_depth)
        if subject is None:
            # RFC 5280 lets a client certificate name its owner in the subject alone;
            # the web PKI profile's demand for a subjectAltName is for servers.
            ee = ExtensionPolicy.webpki_defaults_ee().may_be_present(
                x509.SubjectAlternativeName, Criticality.AGNOSTIC, None
            )
            builder = builder.extension_policies(
                ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=ee
            )
            built = builder.build_client_verifier().verify(leaf, intermediates).chain
        else:
            built = builder.build_server_verifier(subject).verify(leaf, intermediates)
        result.trusted = True
        if built != result.path:
            # The validator found another path than our walk (a cross-signed
            # intermediate, a root sent but also in the store): show the one it built.
            result.path = list(built)
            result.path_in_store = True
            result.missing_issuer = None
            result.unknown_root = None
            result.links = [explain_signature(c, i) for c, i in itertools.pairwise(result.path)]
    except _VERIFY_ERRORS as exc:
        # Our named checks may not see every reason (an unknown critical extension,
        # a policy rule): then the validator's own words are the reason.
        if all(p.code in ADVISORY for p in result.problems):
            text = error_text(exc)
            result.problems.append(
                Problem(validator_code(text), f"the path validator says: {text}")
            )


def _why_rejected(leaf: x509.Certificate, hostname: str | None, client: bool) -> Problem:
    """The reason when the validator refused and none of our checks found one."""
    dns, ips = names_of(leaf)
    if client or hostname or dns or ips:
        return Problem("verification_failed", "the path validator rejected the chain")
    others = san_texts(leaf)
    names = (
        f"no host (its subjectAltName holds only {', '.join(others[:4])})"
        if others
        else "none (no subjectAltName; clients ignore the CN)"
    )
    return Problem(
        "name_mismatch",
        f"no host name was asked (no SNI) and the certificate names {names}: "
        "no client can match it",
    )


def _keep_advisory(result: Validation) -> None:
    """The validator may build another path than the one sent; what it accepted stands,
    and only the problems a trusted chain can still have remain."""
    problems = result.problems
    kept_before = sum(1 for p in problems[: result.validity_at] if p.code in ADVISORY)
    problems[:] = [p for p in problems if p.code in ADVISORY]
    result.validity_at = kept_before


def _check_staple(result: Validation, stapled_ocsp: bytes, leaf: x509.Certificate) -> None:
    leaf_issuer = result.path[1] if len(result.path) > 1 else None
    result.ocsp = check_stapled_ocsp(stapled_ocsp, leaf, leaf_issuer, result.checked_at)
    if result.ocsp.status == "revoked":
        result.trusted = False  # a client that reads the staple refuses the connection
    result.problems.extend(Problem(code, message) for code, message in result.ocsp.problems)
