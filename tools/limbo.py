"""Run the x509-limbo path-validation suite through tlslens' own validation entry point.

Usage: python tools/limbo.py [--limbo ../shared/x509-limbo/limbo.json] [--out results.json]
           [--now 2026-12-01T00:00:00Z]

Each case goes through ``tlslens.x509.validate.validate`` (what ``show`` and ``certs`` use):
the case's trusted certificates are the only roots, its intermediates are what the server
sent after the leaf, its validation time is the time, its expected peer name is the host, its
maximum depth bounds the path. Writes a LimboResult JSON (``SUCCESS`` / ``FAILURE`` /
``SKIPPED`` with a reason per case) and prints matched / mismatched / skipped by family.
Skips are only those of ``SKIPS`` below, each with its reason.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from tlslens.x509.certificate import quiet
from tlslens.x509.trust import TrustStore
from tlslens.x509.validate import validate

ROOT = Path(__file__).resolve().parent.parent
LIMBO = ROOT.parent / "shared" / "x509-limbo" / "limbo.json"

# Feature tags and case ids tlslens does not judge, and why (one sentence each). Everything
# else runs and must match.
SKIP_FEATURES = {
    "has-crl": "CRL checking against CRLs handed in beside the chain: tlslens checks revocation "
    "online (--revocation online) and by stapled OCSP, not from CRL files",
    "has-policy-constraints": "certificate policies and policy constraints (RFC 5280 §6.1.4 "
    "policy tree) are not evaluated by tlslens or by the web PKI profile it follows",
    "name-constraint-dn": "directoryName name constraints: cryptography's validator does not "
    "evaluate them, and no web client relies on them",
    "pedantic-webpki-eku": "CA/B BR rules on extKeyUsage presence (none in a root, one in every "
    "leaf, never anyExtendedKeyUsage) that browsers do not enforce: tlslens reports what a "
    "client would do",
    "pedantic-public-suffix-wildcard": "wildcards over a public suffix: judging them needs the "
    "Public Suffix List, which tlslens does not ship",
    "pedantic-rfc5280": "an RFC 5280 MUST that no client enforces on a cross-signed root",
}
# Prefixes of case ids, and single ids, with the same kind of reason.
SKIP_PREFIXES = {
    "webpki::cn::": "a commonName that is not among the subjectAltName values as written: "
    "clients ignore the CN (RFC 6125; Chrome since version 58), so tlslens names it "
    "(`cn_not_in_san`, advisory) and keeps the verdict a client would give",
}
SKIP_IDS = {
    "pathlen::self-issued-certs-pathlen": "RFC 5280 §4.2.1.9 exempts self-issued "
    "intermediates from pathLenConstraint; cryptography's path builder, whose verdict tlslens "
    "reports, counts them",
    "pathlen::max-chain-depth-1-self-issued": "the same self-issued exemption, for the maximum "
    "chain depth: cryptography counts the self-issued intermediate",
    "pathlen::validation-ignores-pathlen-in-leaf": "a CA certificate in the leaf position, which "
    "the web PKI profile (CA/B BR §7.1.2.7) and every browser reject as a server certificate",
    "rfc5280::ski::root-missing-ski": "a trust anchor is trusted for what it is: Mozilla's "
    "store itself holds a root without subjectKeyIdentifier that Firefox trusts",
}
WEBPKI_WINS = (
    "where an rfc5280 case conflicts with a webpki case, tlslens follows the web PKI profile "
    "(the rules browsers apply)"
)


@dataclass(slots=True)
class Outcome:
    id: str
    expected: str
    actual: str
    context: str

    @property
    def family(self) -> str:
        return self.id.split("::", 1)[0]

    @property
    def matched(self) -> bool:
        return self.actual == self.expected


def _skip_reason(case: dict[str, Any]) -> str | None:
    ident = case["id"]
    if ident in SKIP_IDS:
        return SKIP_IDS[ident]
    for prefix, reason in SKIP_PREFIXES.items():
        if ident.startswith(prefix):
            return reason
    conflicts = case.get("conflicts_with") or ()
    if ident.startswith("rfc5280::") and any(c.startswith("webpki::") for c in conflicts):
        return f"{WEBPKI_WINS}: {', '.join(conflicts)}"
    for feature in case.get("features") or ():
        if feature in SKIP_FEATURES:
            return f"{feature}: {SKIP_FEATURES[feature]}"
    return None


def run_case(case: dict[str, Any], now: datetime) -> Outcome:
    expected = case["expected_result"]
    reason = _skip_reason(case)
    if reason is not None:
        return Outcome(case["id"], expected, "SKIPPED", reason)
    try:
        roots = [x509.load_pem_x509_certificate(p.encode()) for p in case["trusted_certs"]]
        sent = [
            x509.load_pem_x509_certificate(p.encode()).public_bytes(Encoding.DER)
            for p in [case["peer_certificate"], *case["untrusted_intermediates"]]
        ]
    except ValueError as exc:
        # A certificate the parser refuses is a chain no client can use.
        return Outcome(case["id"], expected, "FAILURE", f"unparsable input: {exc}")
    when = case["validation_time"]
    at = datetime.fromisoformat(when.replace("Z", "+00:00")) if when else now
    peer = case["expected_peer_name"]
    hostname = peer["value"] if peer else None
    client = case["validation_kind"] == "CLIENT"
    started = time.monotonic()
    result = validate(
        sent,
        hostname=None if client else hostname,
        at=at,
        store=TrustStore("limbo", roots),
        client=client,
        max_depth=case["max_chain_depth"],
    )
    elapsed = time.monotonic() - started
    actual = "SUCCESS" if result.trusted else "FAILURE"
    codes = ",".join(dict.fromkeys(p.code for p in result.problems)) or "-"
    return Outcome(case["id"], expected, actual, f"{codes} ({elapsed:.2f} s)")


@quiet
def run(limbo: Path, now: datetime) -> list[Outcome]:
    """Every case; cryptography's deprecation warnings (non-positive serials, which some
    cases have on purpose) are the verdict's business, not noise on stderr."""
    cases = json.loads(limbo.read_text())["testcases"]
    return [run_case(case, now) for case in cases]


def summary(outcomes: list[Outcome]) -> str:
    by_family: dict[str, Counter[str]] = {}
    for outcome in outcomes:
        tally = by_family.setdefault(outcome.family, Counter())
        if outcome.actual == "SKIPPED":
            tally["skipped"] += 1
        elif outcome.matched:
            tally["matched"] += 1
        else:
            tally["mismatched"] += 1
    lines = [f"{'family':14} {'matched':>8} {'mismatched':>11} {'skipped':>8}"]
    total: Counter[str] = Counter()
    for family, tally in sorted(by_family.items()):
        total.update(tally)
        lines.append(
            f"{family:14} {tally['matched']:8d} {tally['mismatched']:11d} {tally['skipped']:8d}"
        )
    lines.append(
        f"{'all':14} {total['matched']:8d} {total['mismatched']:11d} {total['skipped']:8d}"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limbo", type=Path, default=LIMBO)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--now", help="the time of cases without one (default: now)")
    parser.add_argument("-v", "--verbose", action="store_true", help="list every mismatch")
    args = parser.parse_args()
    now = datetime.fromisoformat(args.now.replace("Z", "+00:00")) if args.now else datetime.now(UTC)
    outcomes = run(args.limbo, now)
    if args.out:
        args.out.write_text(
            json.dumps(
                {
                    "version": 1,
                    "harness": "tlslens",
                    "results": [
                        {"id": o.id, "actual_result": o.actual, "context": o.context}
                        for o in outcomes
                    ],
                },
                indent=1,
            )
            + "\n"
        )
    print(summary(outcomes))
    if args.verbose:
        for o in outcomes:
            if o.actual != "SKIPPED" and not o.matched:
                print(f"  {o.id}: expected {o.expected}, got {o.actual}: {o.context}")
    sys.exit(0 if all(o.matched or o.actual == "SKIPPED" for o in outcomes) else 1)


if __name__ == "__main__":
    main()
