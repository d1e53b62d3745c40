"""An open, explained grade after the SSL Labs SSL Server Rating Guide, version 2009r.

Pure: a ScanReport in, the grade out with every score, every cap and what fixes it.
Scores (guide §2-§4): protocol support (best + worst) / 2, key exchange (the weakest of
the certificate key, the DH parameters and the ECDHE groups), cipher strength
(strongest + weakest) / 2; 30 % + 30 % + 40 %; A >= 80, B >= 65, C >= 50, D >= 35,
E >= 20, F below. The caps are the guide's rules of 2009e-2009r that a remote scan can
check. A+ needs HSTS, which ``scan`` does not fetch, so the best grade given here is A.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tlslens import registry
from tlslens.scan.findings import ScanReport

GUIDE_VERSION = "2009r"
GUIDE = f"SSL Labs SSL Server Rating Guide {GUIDE_VERSION}"
_PROTOCOL_SCORES = {
    "SSL 2.0": 0,
    "SSL 3.0": 80,
    "TLS 1.0": 90,
    "TLS 1.1": 95,
    "TLS 1.2": 100,
    "TLS 1.3": 100,
}
_LETTERS = ("A", "B", "C", "D", "E", "F")
_RANK = {"A": 1, "A-": 2, "B": 3, "C": 4, "D": 5, "E": 6, "F": 7}
# Strength of an elliptic-curve key or group in RSA-equivalent bits (NIST SP 800-57).
_EC_EQUIVALENT = {
    "secp256r1": 3072,
    "x25519": 3072,
    "secp384r1": 7680,
    "x448": 7680,
    "secp521r1": 15360,
}
_CIPHER_BITS = {
    "NULL": 0,
    "DES40": 40,
    "RC4_40": 40,
    "RC2_CBC_40": 40,
    "DES_CBC_40": 40,
    "DES_CBC": 56,
    "3DES_EDE_CBC": 112,
    "IDEA_CBC": 128,
    "RC4_128": 128,
    "SEED_CBC": 128,
    "CHACHA20_POLY1305": 256,
}


@dataclass(frozen=True, slots=True)
class Cap:
    grade: str
    reason: str
    fix: str

    def to_json(self) -> dict[str, str]:
        return {"grade": self.grade, "reason": self.reason, "fix": self.fix}


def _key_score(bits: int) -> int:
    if bits < 512:
        return 20
    if bits < 1024:
        return 40
    if bits < 2048:
        return 80
    if bits < 4096:
        return 90
    return 100


def _cipher_score(bits: int) -> int:
    if bits == 0:
        return 0
    if bits < 128:
        return 20
    if bits < 256:
        return 80
    return 100


def cipher_bits(suite: int) -> int:
    info = registry.CIPHER_SUITES.get(suite)
    cipher = (info.cipher if info is not None else None) or "NULL"
    if cipher in _CIPHER_BITS:
        return _CIPHER_BITS[cipher]
    for part in cipher.split("_"):
        if part.isdigit():
            return int(part)
    return 128


def _certificate_bits(report: ScanReport) -> list[tuple[str, int]]:
    found = []
    for chain in report.certificate_chains:
        certificates = chain.conn.certificates
        key = (certificates[0].key or "") if certificates else ""
        words = key.split()
        if len(words) >= 2 and words[0] in ("RSA", "DSA") and words[1].isdigit():
            found.append((key, int(words[1])))
        elif len(words) >= 2 and words[1] in _EC_EQUIVALENT:
            found.append((key, _EC_EQUIVALENT[words[1]]))
        elif words and words[0] in ("Ed25519", "Ed448"):
            found.append((key, 3072 if words[0] == "Ed25519" else 7680))
    return found


def grade(report: ScanReport) -> dict[str, Any]:
    accepted = report.accepted_versions
    if not accepted:
        return {"grade": None, "score": None, "scores": {}, "caps": [], "guide": GUIDE}
    protocol = (
        max(_PROTOCOL_SCORES[v] for v in accepted) + min(_PROTOCOL_SCORES[v] for v in accepted)
    ) / 2
    suites = report.all_suites()
    infos = [registry.CIPHER_SUITES[s] for s in suites if s in registry.CIPHER_SUITES]
    exchange_parts = [_key_score(bits) for _key, bits in _certificate_bits(report)]
    exchange_parts += [_key_score(bits) for bits in report.dh_bits]
    exchange_parts += [
        _key_score(_EC_EQUIVALENT[registry.group_name(g)])
        for g in report.groups
        if registry.group_name(g) in _EC_EQUIVALENT
    ]
    if any(info.export for info in infos):
        exchange_parts.append(40)
    if any("anon" in info.name for info in infos):
        exchange_parts.append(0)
    exchange = min(exchange_parts) if exchange_parts else 90
    strengths = [cipher_bits(s) for s in suites] or [128]
    cipher = (_cipher_score(max(strengths)) + _cipher_score(min(strengths))) / 2
    score = 0.3 * protocol + 0.3 * exchange + 0.4 * cipher
    if 0 in (protocol, exchange, cipher):
        score = 0
    letter = next(
        (g for g, floor in zip(_LETTERS, (80, 65, 50, 35, 20, -1), strict=True) if score >= floor),
        "F",
    )
    caps = _caps(report, infos)
    final = letter
    for cap in caps:
        if _RANK[cap.grade] > _RANK[final]:
            final = cap.grade
    result: dict[str, Any] = {
        "grade": final,
        "score": round(score),
        "scores": {"protocol": protocol, "key_exchange": exchange, "cipher_strength": cipher},
        "caps": [cap.to_json() for cap in caps],
        "guide": GUIDE,
    }
    trust = _trust(report)
    if trust is not None:
        result["grade_if_trusted"] = final
        result["grade"] = trust
    return result


def _trust(report: ScanReport) -> str | None:
    """The guide's T (not trusted) and M (name mismatch) grades replace the letter."""
    for chain in report.certificate_chains:
        validation = chain.validation
        if validation is None or validation.trusted:
            continue
        codes = {p.code for p in validation.problems}
        return "M" if codes == {"name_mismatch"} else "T"
    return None


def _caps(report: ScanReport, infos: list[registry.CipherSuiteInfo]) -> list[Cap]:
    caps: list[Cap] = []
    versions = report.versions
    add = caps.append
    if versions["SSL 2.0"].accepted:
        add(Cap("F", "SSL 2.0 is accepted (DROWN)", "disable SSL 2.0"))
    if versions["SSL 3.0"].accepted:
        only = report.accepted_versions == ["SSL 3.0"]
        add(Cap("F" if only else "C", "SSL 3.0 is accepted (POODLE)", "disable SSL 3.0"))
    if versions["TLS 1.0"].accepted or versions["TLS 1.1"].accepted:
        add(
            Cap(
                "B",
                f"TLS 1.0 or TLS 1.1 is accepted (guide {GUIDE_VERSION}; a rule since 2009q)",
                "disable TLS 1.0 and 1.1; every current client speaks TLS 1.2",
            )
        )
    if not versions["TLS 1.2"].accepted and not versions["TLS 1.3"].accepted:
        add(Cap("C", "neither TLS 1.2 nor TLS 1.3 is accepted", "enable TLS 1.2 and TLS 1.3"))
    if any(info.export for info in infos):
        add(
            Cap(
                "F",
                "export cipher suites are accepted (FREAK, Logjam)",
                "remove every EXPORT suite",
            )
        )
    if any("anon" in info.name for info in infos):
        add(
            Cap(
                "F",
                "anonymous cipher suites are accepted: no server authentication",
                "remove the anon suites",
            )
        )
    if any("RC4" in (info.cipher or "") for info in infos):
        add(Cap("C", "RC4 is accepted", "remove the RC4 suites"))
    if any((info.cipher or "").startswith(("3DES", "DES", "IDEA")) for info in infos) and (
        versions["TLS 1.1"].accepted or versions["TLS 1.2"].accepted
    ):
        add(
            Cap(
                "C",
                "64-bit-block ciphers (3DES, DES, IDEA) with TLS 1.1 or newer (SWEET32)",
                "remove the 3DES/DES/IDEA suites",
            )
        )
    for key, bits in _certificate_bits(report):
        if bits < 1024:
            add(Cap("F", f"the certificate key is weak ({key})", "use RSA 2048 or ECDSA P-256"))
        elif bits < 2048:
            add(
                Cap(
                    "B",
                    f"the certificate key is below 2048 bits ({key})",
                    "use RSA 2048 or ECDSA P-256",
                )
            )
    for bits in report.dh_bits:
        if bits < 1024:
            add(
                Cap(
                    "F",
                    f"DH parameters of {bits} bits (Logjam)",
                    "use 2048-bit DH parameters or only ECDHE",
                )
            )
        elif bits < 2048:
            add(
                Cap(
                    "B", f"DH parameters of {bits} bits", "use 2048-bit DH parameters or only ECDHE"
                )
            )
    if report.compression is True:
        add(Cap("C", "TLS compression is on (CRIME)", "turn TLS compression off"))
    fs = versions["TLS 1.3"].accepted or any(info.forward_secrecy for info in infos)
    if not fs:
        add(
            Cap(
                "B",
                "no forward secrecy: no ECDHE or DHE suite is accepted",
                "enable ECDHE suites and prefer them",
            )
        )
    aead = versions["TLS 1.3"].accepted or any(info.aead for info in infos)
    if not aead:
        add(
            Cap(
                "B",
                "no AEAD cipher suite (GCM, ChaCha20-Poly1305)",
                "enable ECDHE with AES-GCM or ChaCha20-Poly1305",
            )
        )
    if report.secure_renegotiation is False:
        add(Cap("A-", "no secure renegotiation (RFC 5746)", "upgrade the TLS library"))
    if report.fallback_scsv is False:
        add(Cap("A-", "TLS_FALLBACK_SCSV is not honoured", "upgrade the TLS library (RFC 7507)"))
    if versions["TLS 1.3"].accepted is False:
        add(Cap("A-", f"TLS 1.3 is not accepted (guide {GUIDE_VERSION})", "enable TLS 1.3"))
    return caps


__all__ = ["GUIDE", "Cap", "cipher_bits", "grade"]
