"""Certificates told: the chain as sent, field by field, the trust verdict, stapled OCSP."""

from __future__ import annotations

from typing import Any

from tlslens import registry
from tlslens._text import plural
from tlslens.events import HandshakeEvent
from tlslens.explain.vocabulary import name_list
from tlslens.handshake import compression
from tlslens.handshake import messages as hs
from tlslens.model import C2S, Connection
from tlslens.x509.certificate import CertificateInfo, load_certificate, parse_certificate, quiet
from tlslens.x509.checker import LateIntermediate
from tlslens.x509.decoding import DECODE_ERRORS
from tlslens.x509.ocsp import load_ocsp_response
from tlslens.x509.wording import error_text, general_name_text, oid_text


def certificate_message_lines(
    conn: Connection, event: HandshakeEvent, msg: hs.Certificate
) -> list[str]:

    certs = [parse_certificate(entry.cert_data) for entry in msg.certificate_list]
    who = "client" if event.direction == C2S else "server"
    if not certs:
        return [f"The {who} sends an empty certificate list (it has no certificate to offer)."]
    lines = [
        f"The {who} sends its certificate chain, {plural(len(certs), 'certificate')}, leaf first:"
    ]
    for i, cert in enumerate(certs):
        if cert.subject is None:
            lines.append(
                f"  [{i}] unreadable certificate ({cert.error}); SHA-256 {cert.sha256[:16]}…"
            )
            continue
        validity = ""
        if cert.not_before and cert.not_after:
            validity = f", valid {cert.not_before:%Y-%m-%d} to {cert.not_after:%Y-%m-%d}"
        lines.append(f"  [{i}] {cert.subject}, issued by {cert.issuer}{validity}, key {cert.key}")
    validation = conn.validation if event.direction != C2S else conn.client_validation
    if validation is not None:
        lines.extend(trust_lines(validation))
    return lines


def compressed_certificate_lines(
    conn: Connection, event: HandshakeEvent, msg: hs.CompressedCertificate
) -> list[str]:
    """A CompressedCertificate: how it was packed, then its chain as for a Certificate."""
    who = "client" if event.direction == C2S else "server"
    packed = len(msg.compressed_certificate_message)
    lines = [
        f"The {who}'s Certificate comes compressed with "
        f"{compression.algorithm_name(msg.algorithm)} (RFC 8879): {packed} bytes on the wire "
        f"for {msg.uncompressed_length} declared uncompressed."
    ]
    if msg.certificate is None:
        lines.append("tlslens could not decompress it, so the chain it carries is not known.")
        return lines
    return lines + certificate_message_lines(conn, event, msg.certificate)


def compression_offer_line(algorithms: list[int], who: str) -> str:
    """A compress_certificate extension (ClientHello, CertificateRequest) in words."""
    return (
        f"The {who} can read a certificate compressed with "
        f"{name_list(algorithms, compression.algorithm_name)} (compress_certificate, RFC 8879)."
    )


def certificate_lines(index: int, cert: CertificateInfo) -> list[str]:
    """One certificate as sent, field by field."""
    if cert.subject is None:
        return [f"[{index}] unreadable: {cert.error}", f"    SHA-256 {cert.sha256}"]
    lines = [f"[{index}] {cert.subject}", f"    issuer     {cert.issuer}"]
    if cert.not_before and cert.not_after:
        lines.append(
            f"    valid      {cert.not_before:%Y-%m-%d %H:%M} to {cert.not_after:%Y-%m-%d %H:%M} "
            "UTC"
        )
    lines.append(f"    serial     {cert.serial}")
    lines.append(f"    key        {cert.key}; signed with {cert.signature_algorithm}")
    if cert.san:
        lines.append(
            f"    names      {', '.join(cert.san[:12])}" + (" …" if len(cert.san) > 12 else "")
        )
    for name, value in certificate_extensions(cert.der):
        lines.append(f"    {name:<10} {value}")
    if cert.error:
        lines.append(f"    note       {cert.error}")
    lines.append(f"    SHA-256    {cert.sha256}")
    return lines


@quiet
def certificate_extensions(der: bytes) -> list[tuple[str, str]]:
    """Key usage, EKU, basic constraints, AIA/CRL URLs and embedded SCTs, as (label, text)."""
    from cryptography import x509

    try:
        cert = load_certificate(der)
        extensions = list(cert.extensions)
    except DECODE_ERRORS as exc:
        return [("extensions", f"unreadable ({error_text(exc)})")]
    out: list[tuple[str, str]] = []
    for extension in extensions:
        value = extension.value
        if isinstance(value, x509.BasicConstraints):
            if not value.ca:
                text = "not a CA"
            elif value.path_length is None:
                text = "CA, with no limit on the CAs below it"
            else:
                text = f"CA, at most {plural(value.path_length, 'CA')} below it"
            out.append(("basic", text))
        elif isinstance(value, x509.KeyUsage):
            names = [
                "digital_signature",
                "key_encipherment",
                "key_agreement",
                "key_cert_sign",
                "crl_sign",
            ]
            out.append(("key usage", ", ".join(n for n in names if getattr(value, n))))
        elif isinstance(value, x509.ExtendedKeyUsage):
            out.append(("ext usage", ", ".join(oid_text(o) for o in value)))
        elif isinstance(value, x509.AuthorityInformationAccess):
            for access in value:
                out.append(
                    (
                        "AIA",
                        f"{oid_text(access.access_method)}: "
                        f"{general_name_text(access.access_location)}",
                    )
                )
        elif isinstance(value, x509.CRLDistributionPoints):
            for point in value:
                for name in point.full_name or []:
                    out.append(("CRL", general_name_text(name)))
        elif isinstance(value, x509.PrecertificateSignedCertificateTimestamps):
            for sct in value:
                out.append(
                    ("SCT", f"log {sct.log_id.hex()[:16]}… at {sct.timestamp:%Y-%m-%d %H:%M} UTC")
                )
    return out


def path_tree(validation: Any) -> list[str]:
    """The path the validator built as a tree, root first: who vouches for whom.

    It ends at the store's root (marked as from the store), at a root that is not in the
    store, or, when an issuer was neither sent nor found, at that missing issuer."""
    names: list[tuple[str, str]] = []  # (name, mark), root first
    path = validation.path
    if validation.missing_issuer is not None:
        issuer = validation.missing_issuer.issuer.rfc4514_string() or "(empty name)"
        names.append((issuer, f" [missing: not sent, not in the {validation.trust_store} store]"))
    for depth, cert in enumerate(reversed(path)):
        try:
            name = cert.subject.rfc4514_string() or "(empty subject)"
        except ValueError:
            name = "(unreadable subject)"
        mark = ""
        if depth == 0 and validation.path_in_store:
            origin = validation.anchor_origin or f"the {validation.trust_store} store"
            mark = f" [trust anchor, from {origin}]"
        elif depth == 0 and validation.missing_issuer is None and len(path) > 0:
            mark = f" [root, not in the {validation.trust_store} store]"
        names.append((name, mark))
    return [
        "  " + "   " * depth + ("└─ " if depth else "") + name + mark
        for depth, (name, mark) in enumerate(names)
    ]


def trust_lines(validation: Any) -> list[str]:
    """Would a client trust this chain? The verdict, the path and each problem."""
    when = f"{validation.checked_at:%Y-%m-%d %H:%M} UTC"
    verdict = "trusted" if validation.trusted else "NOT trusted"
    host = f", for {validation.hostname}" if validation.hostname else ""
    if validation.purpose == "client":
        lines = [
            f"Client certificate verdict as of {when}, with the {validation.trust_store} roots: "
            f"{verdict} (for client authentication: clientAuth usage, no name to match)."
        ]
    else:
        lines = [f"Verdict as of {when}{host}, with the {validation.trust_store} roots: {verdict}."]
    if not validation.hostname and validation.purpose != "client":
        lines.append(
            "  No host name was checked: the client sent no SNI and no --host was given, so "
            "only the path, the dates and the key usages decide."
        )
    lines.extend(path_tree(validation))
    if validation.path:
        leaf_end = validation.path[0].not_valid_after_utc
        left = (leaf_end - validation.checked_at).total_seconds() / 86400
        if left >= 0:
            lines.append(f"  The leaf had {left:.0f} days of validity left at that time.")
    for problem in validation.problems:
        lines.append(f"  ✗ {problem.code}: {problem.message}")
    if validation.ocsp is not None:
        lines.append(
            f"  Stapled OCSP: {validation.ocsp.status}"
            + (f", signed by {validation.ocsp.responder}" if validation.ocsp.responder else "")
        )
        lines.extend(f"  Note: {note}." for note in validation.ocsp.notes)
    lines.extend(_revocation_lines(validation))
    return lines


def describe_ocsp(der: bytes) -> str:
    """What a stapled OCSP response says, read with ``cryptography``."""
    from cryptography.x509 import ocsp

    try:
        response = load_ocsp_response(der)[0]
    except ValueError as exc:
        return f"The response cannot be parsed: {error_text(exc)}."
    if response.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        return f"The responder answered {response.response_status.name.lower()}, not a status."
    try:
        status = response.certificate_status.name.lower()
        text = (
            f"Status: {status}, produced {response.produced_at_utc:%Y-%m-%d %H:%M} UTC, "
            f"this update {response.this_update_utc:%Y-%m-%d %H:%M}"
        )
        if response.next_update_utc is not None:
            text += f", next update {response.next_update_utc:%Y-%m-%d %H:%M}"
        if response.certificate_status == ocsp.OCSPCertStatus.REVOKED:
            reason = response.revocation_reason
            text += f"; revoked {response.revocation_time_utc:%Y-%m-%d}"
            text += f" ({reason.name})" if reason is not None else ""
        return text + "."
    except ValueError as exc:  # e.g. several SINGLERESPs
        return f"The response holds more than one status or is unusual: {error_text(exc)}."


def late_intermediate_lines(late: list[LateIntermediate]) -> list[str]:
    """The closing summary for intermediates that only a later connection sent.

    Verdicts are given as each connection ends, so these could not be named there."""
    lines = []
    for item in late:
        ids = ", ".join(str(i) for i in item.missing_in)
        if item.more:
            ids += f" and {item.more} more"
        one = len(item.missing_in) + item.more == 1
        lines.append(
            f"{'Connection' if one else 'Connections'} {ids} did not send {item.issuer}, the "
            f"intermediate CA {'its' if one else 'their'} chain needs; connection "
            f"{item.sent_in}, later in the capture, did: "
            f"{'that server' if one else 'those servers'} "
            "forgot it, and clients that had cached it would still have connected."
        )
    return lines


def certificate_request_lines(conn: Connection, msg: hs.CertificateRequest) -> list[str]:
    """What the server asks of a client certificate: its type, its issuer, its signature."""
    auth = conn.client_auth
    lines = ["The server asks the client for a certificate (client authentication)."]
    if auth["certificate_types"]:
        lines.append(f"Certificate types it accepts: {', '.join(auth['certificate_types'])}.")
    names = auth["authorities"]
    if names:
        shown = "; ".join(names[:6]) + (f"; and {len(names) - 6} more" if len(names) > 6 else "")
        lines.append(
            f"Issued by this CA: {shown}."
            if len(names) == 1
            else f"Issued by one of these {len(names)} CAs: {shown}."
        )
    else:
        lines.append("It names no CA: any certificate the client has may be offered.")
    offered = compression.offered_algorithms(msg)
    if offered:
        lines.append(compression_offer_line(offered, "server"))
    if msg.signature_schemes:
        schemes = [registry.signature_scheme_name(s) for s in msg.signature_schemes[:6]]
        more = len(msg.signature_schemes) - 6
        lines.append(
            "Signature schemes it accepts: "
            + ", ".join(schemes)
            + (f" and {more} more" if more > 0 else "")
            + "."
        )
    return lines


def _revocation_lines(validation: Any) -> list[str]:
    """The online answers, which describe today, told apart from the capture-time verdict."""
    results = validation.revocation or []
    if not results:
        return []
    asked = results[0].checked_at
    when = f" on {asked:%Y-%m-%d %H:%M} UTC" if asked is not None else ""
    lines = [f"  Online revocation, asked{when} (today's answers, not the capture's):"]
    for result in results:
        text = f"    {result.subject}: {result.status}, {result.message}"
        revoked_at = result.revoked_at
        if (
            result.status == "revoked"
            and revoked_at is not None
            and revoked_at > validation.checked_at
        ):
            text = (
                f"    {result.subject}: revoked since {revoked_at:%Y-%m-%d}, after this capture: "
                "a client today refuses it; at the capture's time it was not revoked"
            )
        lines.append(text)
    return lines
