"""What a scan found about one server, as facts (``ScanReport``) and in plain words.

Pure: the scanner (``net.sweep``) fills the report in; ``findings`` says what each fact
means for real clients, ``to_json`` is the contract of ``scan --json``
(schema/scan.schema.json).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal

from tlslens import registry
from tlslens._text import plural
from tlslens.model import Connection
from tlslens.tls.deprecated import WHY_DEPRECATED

if TYPE_CHECKING:
    from tlslens.scan.udpquestions import QuicSupport

SCAN_SCHEMA_VERSION = 3  # 3: the quic object (scan --quic)
VERSION_ORDER = ("SSL 2.0", "SSL 3.0", "TLS 1.0", "TLS 1.1", "TLS 1.2", "TLS 1.3")
# The versions whose signature algorithms are asked apart: TLS 1.2 signs the
# ServerKeyExchange with any scheme of RFC 5246, TLS 1.3 only with the schemes of RFC 8446.
SIGNATURE_VERSIONS = ("TLS 1.2", "TLS 1.3")
# One answer to a yes/no question, the same in the JSON and, in words, in the text: None
# is a question the scan could not settle, NOT_APPLICABLE one that the server's versions
# leave without an object (TLS 1.3 PSK resumption on a server without TLS 1.3).
NOT_APPLICABLE: Final = "not applicable"
Answer = bool | None | Literal["not applicable"]
_ANSWER_WORDS: dict[Answer, str] = {
    True: "yes",
    False: "no",
    None: "not told",
    NOT_APPLICABLE: NOT_APPLICABLE,
}


def answer_words(value: Answer) -> str:
    """An answer as the text output says it."""
    return _ANSWER_WORDS[value]


@dataclass(slots=True)
class VersionSupport:
    accepted: bool | None = None  # None: could not be told (the probe failed)
    cipher_suites: list[int] = field(default_factory=list)
    server_order: bool | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "cipher_suites": [registry.cipher_suite_name(s) for s in self.cipher_suites],
            "server_order": self.server_order,
        }


@dataclass(slots=True)
class CertificateChain:
    """The chain one probe got; ``conn.validation`` is filled in as ``show`` does it."""

    key_type: str
    conn: Connection
    version: str  # the version of the probe that got it

    @property
    def validation(self) -> Any:
        return self.conn.validation

    def to_json(self) -> dict[str, Any]:
        validation = self.validation
        return {
            "key_type": self.key_type,
            "version": self.version,
            "certificates": [cert.to_json() for cert in self.conn.certificates],
            "validation": validation.to_json() if validation is not None else None,
        }


@dataclass(slots=True)
class ScanReport:
    target: str
    host: str
    port: int
    ip: str | None = None
    sni: str | None = None
    starttls: str | None = None
    versions: dict[str, VersionSupport] = field(
        default_factory=lambda: {name: VersionSupport() for name in VERSION_ORDER}
    )
    groups: list[int] = field(default_factory=list)
    groups_server_order: bool | None = None
    hello_retry_request: Answer = None  # the server asks for another key share
    # Per version of SIGNATURE_VERSIONS that was asked: the schemes the server accepts.
    signature_algorithms: dict[str, list[int]] = field(default_factory=dict)
    resumption: dict[str, Answer] = field(
        default_factory=lambda: {"session_id": None, "ticket": None, "tls13_psk": None}
    )
    tls13_tickets_issued: Answer = None
    # RFC 8879 algorithm -> the server compresses its certificate with it (None: not told)
    certificate_compression: dict[str, Answer] = field(
        default_factory=lambda: {"zlib": None, "brotli": None, "zstd": None}
    )
    ocsp_stapled: bool | None = None
    ocsp_status: str | None = None
    ocsp_problems: list[str] = field(default_factory=list)
    alpn: list[str] = field(default_factory=list)
    fallback_scsv: Answer = None
    secure_renegotiation: Answer = None
    compression: Answer = None
    extended_master_secret: Answer = None
    encrypt_then_mac: Answer = None
    certificate_chains: list[CertificateChain] = field(default_factory=list)
    dh_bits: list[int] = field(default_factory=list)  # DHE parameter sizes seen
    quic: QuicSupport | None = None  # asked with scan --quic
    grade: dict[str, Any] = field(default_factory=dict)
    connections_used: int = 0
    duration_s: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def accepted_versions(self) -> list[str]:
        return [name for name in VERSION_ORDER if self.versions[name].accepted]

    @property
    def scanned(self) -> bool:
        """Did any TLS (or SSL) version answer at all?"""
        return bool(self.accepted_versions)

    @property
    def reached(self) -> bool:
        """Did the server answer at all: a TLS version over TCP, or (scan --quic) a QUIC
        version over UDP? A QUIC-only server was scanned, though nothing of TCP's applies."""
        return self.scanned or (self.quic is not None and self.quic.answered)

    def all_suites(self) -> list[int]:
        seen: dict[int, None] = {}
        for name in VERSION_ORDER:
            for suite in self.versions[name].cipher_suites:
                seen.setdefault(suite, None)
        return list(seen)

    def mark_not_applicable(self) -> None:
        """Once the versions are known: the questions they leave without an object."""
        versions = self.versions
        if versions["TLS 1.3"].accepted is False:
            self.resumption["tls13_psk"] = NOT_APPLICABLE
            self.tls13_tickets_issued = self.hello_retry_request = NOT_APPLICABLE
            # RFC 8879 compresses TLS 1.3 certificates only.
            self.certificate_compression = dict.fromkeys(
                self.certificate_compression, NOT_APPLICABLE
            )
        legacy = [versions[name].accepted for name in VERSION_ORDER[1:-1]]
        if not any(legacy) and None not in legacy:
            # Session IDs, tickets and these extensions exist before TLS 1.3 only.
            self.resumption["session_id"] = self.resumption["ticket"] = NOT_APPLICABLE
            self.secure_renegotiation = self.compression = NOT_APPLICABLE
            self.extended_master_secret = self.encrypt_then_mac = NOT_APPLICABLE
        elif self.encrypt_then_mac is None and self._aead_only():
            self.encrypt_then_mac = NOT_APPLICABLE  # RFC 7366 changes CBC suites only
        if len(self.accepted_versions) == 1 and None not in (v.accepted for v in versions.values()):
            self.fallback_scsv = NOT_APPLICABLE  # no lower version to fall back to

    def _aead_only(self) -> bool:
        suites = [s for name in VERSION_ORDER[1:-1] for s in self.versions[name].cipher_suites]
        infos = [registry.CIPHER_SUITES.get(s) for s in suites]
        return bool(infos) and all(info is not None and info.aead for info in infos)

    def signatures_json(self) -> dict[str, list[str] | str | None]:
        """Per version: the schemes' names; not applicable to a version the server refuses."""
        found: dict[str, list[str] | str | None] = {}
        for name in SIGNATURE_VERSIONS:
            schemes = self.signature_algorithms.get(name)
            if schemes is not None:
                found[name] = [registry.signature_scheme_name(s) for s in schemes]
            else:
                found[name] = NOT_APPLICABLE if self.versions[name].accepted is False else None
        return found

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": SCAN_SCHEMA_VERSION,
            "target": self.target,
            "ip": self.ip,
            "port": self.port,
            "sni": self.sni,
            "starttls": self.starttls,
            "versions": {name: self.versions[name].to_json() for name in VERSION_ORDER},
            "groups": [registry.group_name(g) for g in self.groups],
            "groups_server_order": self.groups_server_order,
            "hello_retry_request": self.hello_retry_request,
            "signature_algorithms": self.signatures_json(),
            "resumption": dict(self.resumption),
            "tls13_tickets_issued": self.tls13_tickets_issued,
            "certificate_compression": dict(self.certificate_compression),
            "ocsp_stapling": {
                "stapled": self.ocsp_stapled,
                "status": self.ocsp_status,
                "problems": list(self.ocsp_problems),
            },
            "alpn": list(self.alpn),
            "fallback_scsv": self.fallback_scsv,
            "secure_renegotiation": self.secure_renegotiation,
            "compression": self.compression,
            "extended_master_secret": self.extended_master_secret,
            "encrypt_then_mac": self.encrypt_then_mac,
            "certificate_chains": [chain.to_json() for chain in self.certificate_chains],
            "quic": self.quic.to_json() if self.quic is not None else None,
            "grade": self.grade,
            "connections_used": self.connections_used,
            "duration_s": round(self.duration_s, 3),
            "errors": list(self.errors),
        }


_Finding = tuple[str, str]


def findings(report: ScanReport) -> list[_Finding]:
    """(severity, sentence) pairs: "bad", "warn", "good" or "info", in reading order."""
    if not report.scanned:
        return []
    return [
        *_version_findings(report),
        *_suite_findings(report),
        *_group_findings(report),
        *_hardening_findings(report),
        *_stapling_findings(report),
        *_resumption_findings(report),
        *_chain_findings(report),
    ]


def _version_findings(report: ScanReport) -> list[_Finding]:
    out: list[_Finding] = []
    for name in ("SSL 2.0", "SSL 3.0", "TLS 1.0", "TLS 1.1"):
        if report.versions[name].accepted:
            out.append(
                (
                    "bad" if name.startswith("SSL") else "warn",
                    f"accepts {name}: {WHY_DEPRECATED[name]}",
                )
            )
    if report.versions["TLS 1.3"].accepted:
        out.append(
            (
                "good",
                "accepts TLS 1.3: every current browser uses it (one round trip, "
                "forward secrecy always)",
            )
        )
    elif report.versions["TLS 1.3"].accepted is False:
        out.append(
            (
                "warn",
                "no TLS 1.3: current clients fall back to TLS 1.2 (an extra round "
                "trip, and the certificate in clear text)",
            )
        )
    if report.versions["TLS 1.2"].accepted is False and not report.versions["TLS 1.3"].accepted:
        out.append(("bad", "no TLS 1.2 or 1.3: current clients cannot connect"))
    return out


def _suite_findings(report: ScanReport) -> list[_Finding]:
    out: list[_Finding] = []
    suites = report.all_suites()
    infos = [registry.CIPHER_SUITES.get(s) for s in suites]
    weak = [
        registry.cipher_suite_name(s)
        for s, info in zip(suites, infos, strict=True)
        if info is not None and _weak_cipher(info)
    ]
    if weak:
        out.append(
            (
                "bad",
                f"weak cipher suites accepted ({', '.join(weak[:4])}"
                f"{' …' if len(weak) > 4 else ''}): broken or 64-bit-block ciphers; remove them",
            )
        )
    no_fs = [
        registry.cipher_suite_name(s)
        for s, info in zip(suites, infos, strict=True)
        if info is not None and not info.tls13 and info.forward_secrecy is False
    ]
    if no_fs:
        out.append(
            (
                "warn",
                f"{plural(len(no_fs), 'suite')} without forward secrecy (RSA key exchange): "
                "a stolen server key decrypts recorded traffic",
            )
        )
    for name in ("TLS 1.2", "TLS 1.1", "TLS 1.0"):
        support = report.versions[name]
        if support.accepted and support.server_order is False and len(support.cipher_suites) > 1:
            out.append(("info", f"{name}: the server follows the client's suite order"))
    return out


def _group_findings(report: ScanReport) -> list[_Finding]:
    pq = [
        g
        for g in report.groups
        if registry.group_name(g).upper().endswith(("MLKEM768", "MLKEM1024"))
    ]
    if pq:
        return [
            (
                "good",
                "post-quantum key exchange offered "
                f"({', '.join(registry.group_name(g) for g in pq)}): "
                "recorded traffic stays safe from a future quantum computer",
            )
        ]
    if report.versions["TLS 1.3"].accepted:
        return [
            (
                "info",
                "no post-quantum hybrid group (X25519MLKEM768): Chrome and Firefox would use one",
            )
        ]
    return []


def _hardening_findings(report: ScanReport) -> list[_Finding]:
    """The protocol's own defences (and one weakness): compression, secure renegotiation,
    the downgrade signal, the extended master secret."""
    out: list[_Finding] = []
    if report.compression is True:
        out.append(("bad", "TLS compression is on: CRIME (2012) recovers cookies; turn it off"))
    if report.secure_renegotiation is False:
        out.append(
            ("bad", "no secure renegotiation (RFC 5746): the renegotiation attack of 2009 applies")
        )
    if report.fallback_scsv is False:
        out.append(
            (
                "warn",
                "no TLS_FALLBACK_SCSV: a network attacker can force a downgrade on old clients",
            )
        )
    if report.extended_master_secret is False and report.versions["TLS 1.2"].accepted:
        out.append(
            ("warn", "no extended master secret (RFC 7627) in TLS 1.2: triple-handshake attacks")
        )
    return out


def _stapling_findings(report: ScanReport) -> list[_Finding]:
    if report.ocsp_stapled:
        status = report.ocsp_status or "unreadable"
        return [
            (
                "good" if status == "good" else "warn",
                f"OCSP stapling on (the stapled answer is {status})",
            )
        ]
    if report.ocsp_stapled is False:
        return [("info", "no OCSP stapling: clients that check revocation ask the CA themselves")]
    return []


def _resumption_findings(report: ScanReport) -> list[_Finding]:
    kinds = [k.replace("_", " ") for k, v in report.resumption.items() if v is True]
    if not kinds:
        return []
    return [
        (
            "good",
            f"session resumption works ({', '.join(kinds)}): returning clients skip a round trip",
        )
    ]


def _chain_findings(report: ScanReport) -> list[_Finding]:
    out: list[_Finding] = []
    for chain in report.certificate_chains:
        validation = chain.validation
        if validation is not None and not validation.trusted:
            codes = ", ".join(dict.fromkeys(p.code for p in validation.problems))
            out.append(("bad", f"{chain.key_type} certificate chain NOT trusted ({codes})"))
    return out


def _weak_cipher(info: registry.CipherSuiteInfo) -> bool:
    cipher = (info.cipher or "").upper()
    return (
        info.export
        or any(word in cipher for word in ("RC4", "DES", "NULL", "RC2", "IDEA"))
        or (info.kx is not None and "anon" in info.name)
    )


__all__ = [
    "NOT_APPLICABLE",
    "SCAN_SCHEMA_VERSION",
    "SIGNATURE_VERSIONS",
    "Answer",
    "CertificateChain",
    "ScanReport",
    "VersionSupport",
    "answer_words",
    "findings",
]
