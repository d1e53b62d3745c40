"""Narration: a connection told step by step, as a teacher walks through a capture.

Pure: Connection in, ``Step``s of plain text out. The CLI decides how they look.
Text taken from the capture (names, certificate fields, prelude lines) is kept
as it is here; the terminal layer strips control characters when it prints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tlslens import registry
from tlslens.errors import DecodeError
from tlslens.handshake import extensions as ext
from tlslens.handshake import messages as hs
from tlslens.model import C2S, CertificateInfo, Connection, TimelineEvent, ts_iso
from tlslens.serialize import alert_json, cipher_suite_label

_CIPHER_WORDS = {
    "GCM": "GCM mode",
    "CCM": "CCM mode",
    "CCM_8": "CCM mode with an 8-byte tag",
    "CBC": "CBC mode",
    "POLY1305": "with Poly1305",
}
_HASH_WORDS = {
    "SHA": "SHA-1",
    "SHA256": "SHA-256",
    "SHA384": "SHA-384",
    "SHA512": "SHA-512",
    "MD5": "MD5",
    "SM3": "SM3",
}
_KX_WORDS = {
    "ECDHE": "ECDHE (ephemeral elliptic-curve Diffie-Hellman)",
    "DHE": "DHE (ephemeral finite-field Diffie-Hellman)",
    "RSA": "RSA (the client encrypts the premaster secret to the server's key)",
    "ECDH": "static ECDH (the certificate's key; no forward secrecy)",
    "DH": "static DH (the certificate's key; no forward secrecy)",
    "PSK": "a pre-shared key",
    "DH_anon": "anonymous DH (no authentication at all)",
    "ECDH_anon": "anonymous ECDH (no authentication at all)",
}
_ALERT_WORDS = {
    "close_notify": "a normal, orderly close",
    "unknown_ca": "the sender did not trust the certificate's issuer",
    "bad_certificate": "the sender rejected the certificate",
    "certificate_expired": "the sender found the certificate expired",
    "handshake_failure": "no acceptable set of parameters could be agreed",
    "protocol_version": "the sender does not support the offered versions",
    "decrypt_error": "a signature or Finished check failed",
    "bad_record_mac": "a record failed its integrity check",
    "unexpected_message": "a message arrived where it is not allowed",
    "no_renegotiation": "renegotiation was refused",
    "certificate_required": "the server wanted a client certificate",
    "inappropriate_fallback": "a version downgrade was detected (RFC 7507)",
    "unrecognized_name": "the server does not know the requested name",
    "no_application_protocol": "no ALPN protocol in common",
}


@dataclass(frozen=True, slots=True)
class Step:
    frame: int
    time: str
    direction: str  # "c2s", "s2c" or "" for notes
    title: str
    lines: tuple[str, ...] = ()
    tone: str = "normal"  # normal | encrypted | warning | error
    extra: dict[str, Any] = field(default_factory=dict)


def describe_cipher_suite(suite: int, version: int | None) -> str:
    """'ECDHE for key exchange, RSA to authenticate the server, AES-256 in GCM mode...'"""
    info = registry.CIPHER_SUITES.get(suite)
    if info is None:
        return f"{cipher_suite_label(suite)}, which no registry describes"
    parts: list[str] = []
    if info.tls13:
        parts.append("the key exchange and authentication come from the extensions (TLS 1.3)")
    else:
        if info.kx:
            parts.append(f"{info.kx} for key exchange")
        if info.auth and info.auth not in ("anon", "PSK", info.kx):
            parts.append(f"{info.auth} to authenticate the server")
        elif info.auth == "anon":
            parts.append("no authentication of the server")
    parts.append(_describe_cipher(info.cipher or "NULL") + " for the data")
    if info.mac and info.mac != "AEAD":
        parts.append(f"HMAC-{_HASH_WORDS.get(info.mac, info.mac)} for integrity")
    if version is not None and version < 0x0303 and not info.tls13:
        parts.append("MD5+SHA-1 for the handshake hash (TLS 1.0/1.1 PRF)")
    elif info.prf_hash:
        parts.append(f"{_HASH_WORDS.get(info.prf_hash, info.prf_hash)} for the handshake hash")
    return ", ".join(parts)


def _describe_cipher(cipher: str) -> str:
    if cipher == "NULL":
        return "no encryption at all (NULL cipher)"
    tokens = cipher.split("_")
    if tokens[0] == "CHACHA20":
        return "ChaCha20-Poly1305"
    name = tokens[0]
    bits = tokens[1] if len(tokens) > 1 and tokens[1].isdigit() else None
    mode_tokens = tokens[2:] if bits else tokens[1:]
    mode = "_".join(mode_tokens)
    text = f"{name}-{bits}" if bits else name
    if mode:
        text += f" in {_CIPHER_WORDS.get(mode, mode + ' mode')}"
    return text


def _names(values: list[int] | tuple[int, ...], namer: Any, limit: int = 6) -> str:
    shown = [namer(v) for v in values[:limit]]
    more = len(values) - limit
    text = ", ".join(shown)
    return text + (f" and {more} more" if more > 0 else "")


def _client_hello(conn: Connection, msg: hs.ClientHello) -> list[str]:
    lines: list[str] = []
    sv_value = ext.find_decoded(msg.extensions, ext.SUPPORTED_VERSIONS, ext.CLIENT_HELLO)
    if sv_value:
        versions = [v for v in sv_value["versions"] if not registry.is_grease(v)]
        lines.append(
            f"Versions offered: {_names(versions, registry.version_name)} (supported_versions)."
        )
    else:
        lines.append(f"Highest version offered: {registry.version_name(msg.legacy_version)}.")
    if msg.sslv2:
        lines.append("Sent in the old SSLv2-compatible format, which carries no extensions.")
    real = [s for s in msg.cipher_suites if not registry.is_grease(s)]
    lines.append(
        f"{len(real)} cipher suites, in the client's order of preference: "
        f"{_names(real, cipher_suite_label, 4)}."
    )
    for extension in msg.extensions:
        try:
            value = ext.decode_extension(extension, ext.CLIENT_HELLO)
        except DecodeError:
            continue
        if value is None:
            continue
        if extension.type == ext.SERVER_NAME and value.get("names"):
            lines.append(f"Server name (SNI), sent in clear text: {value['names'][0]['name']}.")
        elif extension.type == ext.ALPN:
            lines.append(f"Application protocols (ALPN): {', '.join(value['protocols'])}.")
        elif extension.type == ext.KEY_SHARE:
            groups = [s["group"] for s in value["shares"] if not registry.is_grease(s["group"])]
            if groups:
                lines.append(
                    f"Key shares already computed for {_names(groups, registry.group_name)}, "
                    "so the server can answer in one round trip."
                )
        elif extension.type == ext.SUPPORTED_GROUPS:
            groups = [g for g in value["groups"] if not registry.is_grease(g)]
            lines.append(f"Groups for key exchange: {_names(groups, registry.group_name)}.")
        elif extension.type == ext.PRE_SHARED_KEY:
            lines.append(
                f"Offers to resume with {len(value['identities'])} pre-shared key(s) (a TLS 1.3 ticket)."
            )
        elif extension.type == ext.SESSION_TICKET and value["ticket_length"]:
            lines.append(f"Presents a session ticket of {value['ticket_length']} bytes to resume.")
        elif extension.type == ext.EARLY_DATA:
            lines.append("Will send 0-RTT early data before the handshake completes.")
        elif extension.type == ext.ENCRYPTED_CLIENT_HELLO:
            lines.append(
                f"Encrypted ClientHello ({value.get('ech_type')}); the real hello is hidden."
            )
    if msg.legacy_session_id and not ext.find(msg.extensions, ext.SUPPORTED_VERSIONS):
        lines.append(
            f"Session ID of {len(msg.legacy_session_id)} bytes: the client hopes to resume that session."
        )
    names = [registry.extension_name(e.type) for e in msg.extensions]
    if names:
        lines.append(f"Extensions: {', '.join(names)}.")
    return lines


def _server_hello(conn: Connection, msg: hs.ServerHello) -> tuple[str, list[str]]:
    version = hs.selected_version(msg)
    if msg.is_hello_retry_request:
        lines = ["The server wants a different key share before it goes on (HelloRetryRequest)."]
        value = ext.find_decoded(msg.extensions, ext.KEY_SHARE, ext.HELLO_RETRY_REQUEST)
        if value:
            lines.append(
                f"It asks the client for a share on {registry.group_name(value['selected_group'])}."
            )
        return "HelloRetryRequest", lines
    lines = [
        f"The server picked {registry.version_name(version)} and "
        f"{registry.cipher_suite_name(msg.cipher_suite)}: "
        f"{describe_cipher_suite(msg.cipher_suite, version)}."
    ]
    value = ext.find_decoded(msg.extensions, ext.KEY_SHARE, ext.SERVER_HELLO)
    if value and value.get("shares"):
        group = value["shares"][0]["group"]
        lines.append(
            f"Its key share is on {registry.group_name(group)}: both sides can now compute the "
            "shared secret, which never crosses the wire."
        )
    if ext.find(msg.extensions, ext.PRE_SHARED_KEY):
        lines.append("It accepted the client's pre-shared key: this is a resumed session.")
    ch = conn.client_hello
    if ch is not None and msg.legacy_session_id and msg.legacy_session_id == ch.legacy_session_id:
        if version is not None and version < 0x0304:
            lines.append("It echoed the client's session ID: the previous session is resumed.")
    alpn_value = ext.find_decoded(msg.extensions, ext.ALPN, ext.SERVER_HELLO)
    if alpn_value and alpn_value["protocols"]:
        lines.append(f"Application protocol chosen: {alpn_value['protocols'][0]}.")
    if msg.legacy_compression_method:
        lines.append(
            f"Compression method {msg.legacy_compression_method} (DEFLATE is 1): CRIME-prone."
        )
    names = [registry.extension_name(e.type) for e in msg.extensions]
    if names:
        lines.append(f"Extensions: {', '.join(names)}.")
    return "ServerHello", lines


def _certificate(conn: Connection, event: TimelineEvent, msg: hs.Certificate) -> list[str]:
    from tlslens.model import parse_certificate

    certs = [parse_certificate(entry.cert_data) for entry in msg.certificate_list]
    who = "client" if event.direction == C2S else "server"
    if not certs:
        return [f"The {who} sends an empty certificate list (it has no certificate to offer)."]
    lines = [f"The {who} sends its certificate chain, {len(certs)} certificate(s), leaf first:"]
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
    if event.direction != C2S and conn.validation is not None:
        lines.extend(trust_lines(conn.validation))
    return lines


def certificate_lines(index: int, cert: CertificateInfo) -> list[str]:
    """One certificate as sent, field by field."""
    if cert.subject is None:
        return [f"[{index}] unreadable: {cert.error}", f"    SHA-256 {cert.sha256}"]
    lines = [f"[{index}] {cert.subject}", f"    issuer     {cert.issuer}"]
    if cert.not_before and cert.not_after:
        lines.append(
            f"    valid      {cert.not_before:%Y-%m-%d %H:%M} to {cert.not_after:%Y-%m-%d %H:%M} UTC"
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


def certificate_extensions(der: bytes) -> list[tuple[str, str]]:
    """Key usage, EKU, basic constraints, AIA/CRL URLs and embedded SCTs, as (label, text)."""
    from cryptography import x509

    try:
        cert = x509.load_der_x509_certificate(der)
        extensions = list(cert.extensions)
    except ValueError as exc:
        return [("extensions", f"unreadable ({exc})")]
    out: list[tuple[str, str]] = []
    for extension in extensions:
        value = extension.value
        if isinstance(value, x509.BasicConstraints):
            text = f"CA, path length {value.path_length}" if value.ca else "not a CA"
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
            out.append(
                ("ext usage", ", ".join(getattr(o, "_name", o.dotted_string) for o in value))
            )
        elif isinstance(value, x509.AuthorityInformationAccess):
            for access in value:
                out.append(("AIA", f"{access.access_method._name}: {access.access_location.value}"))
        elif isinstance(value, x509.CRLDistributionPoints):
            for point in value:
                for name in point.full_name or []:
                    out.append(("CRL", str(name.value)))
        elif isinstance(value, x509.PrecertificateSignedCertificateTimestamps):
            for sct in value:
                out.append(
                    ("SCT", f"log {sct.log_id.hex()[:16]}… at {sct.timestamp:%Y-%m-%d %H:%M} UTC")
                )
    return out


def path_tree(validation: Any) -> list[str]:
    """The path as a tree, root first: who vouches for whom."""
    lines = []
    for depth, cert in enumerate(reversed(validation.path)):
        try:
            name = cert.subject.rfc4514_string() or "(empty subject)"
        except ValueError:
            name = "(unreadable subject)"
        anchor = depth == 0 and validation.path_in_store
        mark = " [trust anchor]" if anchor else " [root not trusted]" if depth == 0 else ""
        lines.append("  " + "   " * depth + ("└─ " if depth else "") + name + mark)
    return lines


def trust_lines(validation: Any) -> list[str]:
    """Would a client trust this chain? The verdict, the path and each problem."""
    when = f"{validation.checked_at:%Y-%m-%d %H:%M} UTC"
    host = validation.hostname or "no host name (no SNI)"
    verdict = "trusted" if validation.trusted else "NOT trusted"
    lines = [
        f"Verdict as of {when}, for {host}, with the {validation.trust_store} roots: {verdict}."
    ]
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
    return lines


def _server_key_exchange(conn: Connection, msg: hs.ServerKeyExchange) -> list[str]:
    params = msg.params
    if "named_curve" in params:
        text = (
            f"The server sends its ephemeral ECDHE public key on "
            f"{registry.group_name(params['named_curve'])} ({len(params['public_key'])} bytes)"
        )
    elif "dh_p" in params:
        bits = len(params["dh_p"].lstrip(b"\0")) * 8
        text = f"The server sends ephemeral DH parameters: a {bits}-bit prime, the generator and its public value"
    elif "rsa_modulus" in params:
        bits = len(params["rsa_modulus"].lstrip(b"\0")) * 8
        text = f"The server sends a temporary {bits}-bit RSA key (export-grade key exchange)"
    else:
        text = "The server sends key exchange parameters"
    if msg.signature is not None:
        scheme = (
            registry.signature_scheme_name(msg.signature_scheme)
            if msg.signature_scheme is not None
            else "the suite's default algorithm"
        )
        text += (
            f", signed with {scheme} ({len(msg.signature)} bytes) using the certificate's key, "
            "so the client knows they come from the certificate's owner."
        )
    else:
        text += "."
    return [text]


def _client_key_exchange(conn: Connection, msg: hs.ClientKeyExchange) -> list[str]:
    kx = msg.kx or ""
    n = len(msg.exchange_keys)
    if kx in ("RSA", "RSA_PSK"):
        return [
            f"The client sends the premaster secret encrypted with the server's RSA public key ({n} bytes).",
            "Whoever holds the server's private key, now or later, can decrypt this session: "
            "no forward secrecy.",
        ]
    if kx.startswith("ECDH") or kx.startswith("DH"):
        return [
            f"The client sends its {kx} public value ({n} bytes). Each side combines the other's "
            "public value with its own private one: both get the same premaster secret, which is "
            "never sent."
        ]
    return [f"The client sends its key exchange message ({n} bytes)."]


def _message_step(conn: Connection, event: TimelineEvent) -> Step:
    msg = event.message
    assert msg is not None
    name = registry.handshake_name(msg.msg_type)
    title = "".join(word.capitalize() for word in name.split("_"))
    lines: list[str] = []
    if isinstance(msg, hs.ClientHello):
        title = "ClientHello"
        lines = _client_hello(conn, msg)
    elif isinstance(msg, hs.ServerHello):
        title, lines = _server_hello(conn, msg)
    elif isinstance(msg, hs.Certificate):
        lines = _certificate(conn, event, msg)
    elif isinstance(msg, hs.ServerKeyExchange):
        lines = _server_key_exchange(conn, msg)
    elif isinstance(msg, hs.ClientKeyExchange):
        lines = _client_key_exchange(conn, msg)
    elif isinstance(msg, hs.CertificateRequest):
        lines = ["The server asks the client for a certificate (client authentication)."]
    elif isinstance(msg, hs.CertificateVerify):
        scheme = (
            registry.signature_scheme_name(msg.signature_scheme)
            if msg.signature_scheme is not None
            else "the key's default algorithm"
        )
        lines = [
            f"A signature over the handshake so far ({scheme}) proves possession of the certificate's private key."
        ]
    elif isinstance(msg, hs.CertificateStatus):
        lines = [
            f"The server staples an OCSP response ({len(msg.response)} bytes): its CA's "
            "signed, recent statement on whether the certificate is revoked.",
            describe_ocsp(msg.response),
        ]
    elif isinstance(msg, hs.NewSessionTicket):
        lines = [
            f"The server issues a session ticket ({len(msg.ticket)} bytes, lifetime "
            f"{msg.ticket_lifetime} s) that the client can present to resume without a full handshake."
        ]
    elif isinstance(msg, hs.Finished):
        lines = [
            f"Finished ({len(msg.verify_data)}-byte verify_data): a MAC over the whole handshake."
        ]
        dec = conn.decryption
        verified = dec.results[event.direction].finished_verified if dec is not None else None
        if verified is not None:
            lines.append(
                "tlslens recomputed it from the transcript and the keys: it matches, so both "
                "sides saw the same handshake."
                if verified
                else "tlslens recomputed it and it does NOT match: wrong secret, or an altered "
                "handshake."
            )
    elif isinstance(msg, hs.EncryptedExtensions):
        names = [registry.extension_name(e.type) for e in msg.extensions]
        lines = [
            "The server's extensions that need no clear text: "
            + (", ".join(names) if names else "none")
            + "."
        ]
    elif msg.msg_type == hs.SERVER_HELLO_DONE:
        lines = ["The server is done with its hello messages; the client's turn."]
    elif msg.msg_type == hs.HELLO_REQUEST:
        lines = ["The server asks the client to start a new handshake (renegotiation)."]
    if event.detail.get("decrypted"):
        title += " (decrypted)"
    tone = "normal"
    if msg.malformed:
        lines.append(f"Malformed: {msg.malformed}")
        tone = "warning"
    return Step(event.frame, ts_iso(event.ts_ns), event.direction, title, tuple(lines), tone)


def describe_ocsp(der: bytes) -> str:
    """What a stapled OCSP response says, read with ``cryptography``."""
    from cryptography.x509 import ocsp

    try:
        response = ocsp.load_der_ocsp_response(der)
    except ValueError as exc:
        return f"The response cannot be parsed: {exc}."
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
        return f"The response holds more than one status or is unusual: {exc}."


def _encrypted_step(conn: Connection, event: TimelineEvent, seen: dict[str, int]) -> Step:
    count = seen.get(event.direction, 0)
    seen[event.direction] = count + 1
    who = "client" if event.direction == C2S else "server"
    if conn.tls13:
        if event.direction == C2S:
            text = (
                "The client's encrypted handshake: its Finished (and its certificate if asked), "
                "protected with the handshake traffic keys."
            )
        elif count == 0:
            text = (
                "Everything the server sends after its ServerHello is encrypted: EncryptedExtensions, "
                "Certificate, CertificateVerify and Finished are in here. A key log opens them."
            )
        else:
            text = "More of the server's encrypted handshake."
        return Step(
            event.frame,
            ts_iso(event.ts_ns),
            event.direction,
            f"Encrypted handshake record ({event.length} bytes)",
            (text,),
            "encrypted",
        )
    if count == 0:
        text = (
            f"The {who}'s Finished, already encrypted with the new keys: it proves the {who} "
            "saw the same handshake and derived the same keys."
        )
    else:
        text = "An encrypted handshake message after Finished: a renegotiation (or its request)."
    return Step(
        event.frame,
        ts_iso(event.ts_ns),
        event.direction,
        f"Encrypted handshake message ({event.length} bytes)",
        (text,),
        "encrypted",
    )


_KEY_WORDS = {
    "pre_master_secret": "pre_master_secret",
    "session_hash": "session_hash (RFC 7627: hash of the handshake up to ClientKeyExchange)",
    "master_secret": "master_secret",
}
_SOURCE_WORDS = {
    "keylog": "the key log",
    "pcapng": "the key log inside the pcapng (Decryption Secrets Block)",
    "rsa_key": "the server's RSA private key, which decrypts the ClientKeyExchange",
    "psk": "the pre-shared key",
    "resumed_session": "the session this one resumes (found earlier in the capture)",
    "resumed_ticket": "the session whose ticket the client presented",
}


def _hex(value: bytes, reveal: bool) -> str:
    if reveal or len(value) <= 8:
        return value.hex()
    return f"{value[:6].hex()}…{value[-2:].hex()}"


def key_steps(conn: Connection, reveal: bool) -> list[str]:
    """How the session keys were computed on each side (never sent), value by value."""
    dec = conn.decryption
    if dec is None or not dec.derivation:
        return []
    source = _SOURCE_WORDS.get(dec.source or "", dec.source or "")
    lines = [
        f"Neither side sends these keys: each computes them. tlslens did the same, from {source}."
    ]
    derived = dict(dec.derivation)
    if conn.tls13:
        lines.append(
            "TLS 1.3: each traffic secret gives a key and an IV through HKDF-Expand-Label"
            '(secret, "key" / "iv", "", length).'
        )
    else:
        if "pre_master_secret" in derived:
            lines.append(
                f"pre_master_secret ({len(derived['pre_master_secret'])} bytes): "
                f"{_hex(derived['pre_master_secret'], reveal)}"
            )
        if "session_hash" in derived:
            lines.append(
                'master_secret = PRF(pre_master_secret, "extended master secret", session_hash) '
                "(RFC 7627)"
            )
        elif "pre_master_secret" in derived:
            lines.append(
                'master_secret = PRF(pre_master_secret, "master secret", '
                "client_random + server_random)"
            )
        lines.append(f"master_secret (48 bytes): {_hex(derived['master_secret'], reveal)}")
        lines.append(
            'key_block = PRF(master_secret, "key expansion", server_random + client_random), '
            "cut in order into:"
        )
    for name, value in dec.derivation:
        if name in _KEY_WORDS:
            continue
        lines.append(f"  {name} ({len(value)} bytes): {_hex(value, reveal)}")
    return lines


def decryption_summary(conn: Connection) -> str | None:
    dec = conn.decryption
    if dec is None:
        return None
    data = dec.to_json()
    status = data["status"]
    if status == "decrypted":
        fin = data["finished_verified"]
        checks = "both Finished verify" if fin == {"c2s": True, "s2c": True} else f"Finished: {fin}"
        records = sum(data["records_decrypted"].values())
        size = sum(data["plaintext_bytes"].values())
        text = f"decrypted ({records} records, {size} bytes of application data; {checks})"
        if any(data["records_failed_integrity"].values()):
            text += f"; records failing integrity: {data['records_failed_integrity']}"
        return text
    return f"{status.replace('_', ' ')}: {data['reason']}" if data["reason"] else status


class ForwardSecrecyTally:
    """Which sessions a server's RSA key opens, and which it cannot, and why."""

    def __init__(self) -> None:
        self.opened: list[int] = []
        self.forward_secret: list[int] = []
        self.other: list[int] = []

    def add(self, conn: Connection) -> None:
        dec = conn.decryption
        if dec is not None and dec.source == "rsa_key" and dec.status == "decrypted":
            self.opened.append(conn.id)
        elif conn.forward_secrecy:
            self.forward_secret.append(conn.id)
        else:
            self.other.append(conn.id)

    def lines(self) -> list[str]:
        total = len(self.opened) + len(self.forward_secret) + len(self.other)
        out = [
            f"Forward secrecy in practice: the RSA key opens {len(self.opened)} of {total} sessions."
        ]
        if self.opened:
            out.append(
                f"  Opened (RSA key exchange: the premaster secret travels encrypted to this key): "
                f"{_ids(self.opened)}"
            )
        if self.forward_secret:
            out.append(
                "  Cannot be opened with it (ephemeral (EC)DHE or TLS 1.3: the key only signed the "
                f"handshake; the session keys came from values that were never stored): "
                f"{_ids(self.forward_secret)}"
            )
        if self.other:
            out.append(f"  Not opened for another reason (see each connection): {_ids(self.other)}")
        return out


def _ids(ids: list[int]) -> str:
    return ", ".join(str(i) for i in ids[:30]) + (
        f" and {len(ids) - 30} more" if len(ids) > 30 else ""
    )


def explain(conn: Connection, reveal_keys: bool = False) -> list[Step]:
    """The connection as narrated steps, in the order things happened."""
    steps: list[Step] = []
    keys_told = False
    if conn.prelude is not None:
        prelude = conn.prelude
        lines = [
            f"{prelude.c2s_bytes} bytes from the client and {prelude.s2c_bytes} from the server "
            "travel in plaintext before TLS starts."
        ]
        for direction, text in prelude.lines[:12]:
            arrow = "C:" if direction == C2S else "S:"
            lines.append(f"  {arrow} {text}")
        steps.append(
            Step(
                conn.first_frame,
                ts_iso(conn.start_ts_ns),
                "",
                f"Plaintext prelude ({prelude.protocol or 'unknown protocol'})",
                tuple(lines),
            )
        )
    encrypted_seen: dict[str, int] = {}
    ccs_seen: set[str] = set()
    for event in conn.timeline:
        time = ts_iso(event.ts_ns)
        if not keys_told and (
            event.kind in ("change_cipher_spec", "encrypted_handshake", "undecryptable")
            or event.detail.get("decrypted")
        ):
            lines = key_steps(conn, reveal_keys)
            if lines:
                keys_told = True
                steps.append(Step(event.frame, time, "", "Key derivation", tuple(lines)))
        if event.kind == "undecryptable":
            steps.append(
                Step(
                    event.frame,
                    time,
                    event.direction,
                    f"Record that does not decrypt ({event.length} bytes)",
                    (event.detail.get("reason", ""),),
                    "error",
                )
            )
        elif event.kind == "handshake":
            steps.append(_message_step(conn, event))
        elif event.kind == "encrypted_handshake":
            steps.append(_encrypted_step(conn, event, encrypted_seen))
        elif event.kind == "change_cipher_spec":
            who = "client" if event.direction == C2S else "server"
            if conn.tls13:
                text = "A dummy ChangeCipherSpec for middlebox compatibility; it changes nothing in TLS 1.3."
            elif event.direction in ccs_seen:
                text = "ChangeCipherSpec of a renegotiation, sent encrypted."
            else:
                text = f"From here on the {who} encrypts everything it sends with the newly derived keys."
            ccs_seen.add(event.direction)
            steps.append(Step(event.frame, time, event.direction, "ChangeCipherSpec", (text,)))
        elif event.kind == "alert":
            alert = alert_json(event)
            if alert["description"] == "encrypted":
                text = (
                    "An encrypted alert (most often close_notify, the normal end of the session)."
                )
                steps.append(
                    Step(
                        event.frame,
                        time,
                        event.direction,
                        "Alert (encrypted)",
                        (text,),
                        "encrypted",
                    )
                )
            else:
                words = _ALERT_WORDS.get(alert["description"], "")
                tone = "error" if alert["level"] == "fatal" else "warning"
                steps.append(
                    Step(
                        event.frame,
                        time,
                        event.direction,
                        f"Alert ({alert['level']}): {alert['description']}",
                        (words.capitalize() + "." if words else "",),
                        tone,
                    )
                )
        elif event.kind in ("application_data", "early_data"):
            frames = (
                f"frame {event.frame}"
                if event.last_frame == event.frame
                else f"frames {event.frame}–{event.last_frame}"
            )
            label = "Early data (0-RTT)" if event.kind == "early_data" else "Application data"
            if event.detail.get("decrypted"):
                steps.append(
                    Step(
                        event.frame,
                        time,
                        event.direction,
                        f"{label} (decrypted): {event.records} record(s), "
                        f"{event.length} bytes of plaintext",
                        (f"Opened and authenticated in {frames}.",),
                    )
                )
                continue
            steps.append(
                Step(
                    event.frame,
                    time,
                    event.direction,
                    f"{label}: {event.records} record(s), {event.length} bytes",
                    (f"Encrypted payload in {frames}.",),
                    "encrypted",
                )
            )
        elif event.kind == "heartbeat":
            steps.append(
                Step(
                    event.frame,
                    time,
                    event.direction,
                    "Heartbeat",
                    (f"A heartbeat record of {event.length} bytes.",),
                )
            )
        elif event.kind == "gap":
            steps.append(
                Step(
                    event.frame,
                    time,
                    event.direction,
                    f"{event.length} bytes missing from the capture",
                    ("Packets were lost before capture; parsing picks up at the next record.",),
                    "warning",
                )
            )
        elif event.kind == "sslv2":
            steps.append(
                Step(
                    event.frame,
                    time,
                    event.direction,
                    "SSLv2 ServerHello",
                    (
                        "The server answered in SSL 2.0, broken since 1996; the rest is not decoded.",
                    ),
                    "error",
                )
            )
    return steps


def summary_lines(conn: Connection) -> list[tuple[str, str]]:
    """Key facts of a connection, as (label, value) pairs."""
    out: list[tuple[str, str]] = [("Client", str(conn.client)), ("Server", str(conn.server))]
    if conn.sni:
        out.append(("Server name", conn.sni))
    version = conn.version
    if version is not None:
        out.append(("Version", registry.version_name(version)))
    if conn.cipher_suite is not None:
        out.append(("Cipher suite", registry.cipher_suite_name(conn.cipher_suite)))
    if conn.key_exchange:
        kx = _KX_WORDS.get(conn.key_exchange, conn.key_exchange)
        if conn.group_name:
            kx += f", {conn.group_name}"
        out.append(("Key exchange", kx))
    fs = conn.forward_secrecy
    if fs is not None:
        out.append(
            ("Forward secrecy", "yes" if fs else "no: a leaked server key opens recorded sessions")
        )
    if conn.alpn:
        out.append(("ALPN", conn.alpn))
    if conn.resumed:
        out.append(("Resumed", f"yes, by {conn.resumed.replace('_', ' ')}"))
    if conn.hello_retry_request is not None:
        out.append(("HelloRetryRequest", "yes"))
    if conn.renegotiation:
        out.append(("Renegotiation", "yes"))
    if conn.ocsp_stapled:
        out.append(("OCSP stapled", "yes"))
    auth = conn.client_auth
    if auth["requested"]:
        out.append(("Client certificate", "requested, " + ("sent" if auth["sent"] else "not sent")))
    if conn.certificates:
        leaf = conn.certificates[0]
        out.append(("Certificate", leaf.subject or f"unreadable ({leaf.error})"))
    if conn.validation is not None:
        validation = conn.validation
        codes = ", ".join(dict.fromkeys(p.code for p in validation.problems))
        verdict = "trusted" if validation.trusted else "NOT trusted"
        out.append(
            ("Trust", f"{verdict} ({validation.trust_store})" + (f": {codes}" if codes else ""))
        )
    decryption = decryption_summary(conn)
    if decryption is not None:
        out.append(("Decryption", decryption))
    if conn.problems:
        out.append(("Problems", str(len(conn.problems))))
    return out
