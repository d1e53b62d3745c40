"""ClientHello and ServerHello told: what was offered, what was picked, what it means."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tlslens import registry
from tlslens._core import (
    CompressCertificate,
    ECHInner,
    ECHOuter,
    Empty,
    KeyShareList,
    OfferedPSKs,
    ProtocolNameList,
    SelectedGroup,
    ServerNameList,
    SessionTicket,
    SupportedGroups,
    SupportedVersions,
)
from tlslens._text import plural
from tlslens.errors import DecodeError
from tlslens.events import SSLv2EncryptedEvent, SSLv2MessageEvent
from tlslens.explain.chain import compression_offer_line
from tlslens.explain.vocabulary import Step, algorithm_roles, describe_cipher_suite, name_list
from tlslens.handshake import extensions as ext
from tlslens.handshake import messages as hs
from tlslens.handshake import sslv2
from tlslens.model import Connection, key_exchange_of
from tlslens.registry import cipher_suite_label

if TYPE_CHECKING:
    from tlslens._core import DecodedExtension


def client_hello_lines(conn: Connection, msg: hs.ClientHello, sealed: bool = False) -> list[str]:
    """``sealed``: it came encrypted, under the previous handshake's keys (a
    renegotiation's), so its server name did not cross in clear text."""
    lines: list[str] = []
    sv_value = ext.decoded_in(msg, ext.SUPPORTED_VERSIONS, SupportedVersions)
    if sv_value:
        versions = [v for v in sv_value.versions if not registry.is_grease(v)]
        lines.append(
            f"Versions offered: {name_list(versions, registry.version_name)} (supported_versions)."
        )
    else:
        lines.append(f"Highest version offered: {registry.version_name(msg.legacy_version)}.")
    if msg.sslv2:
        lines.append("Sent in the old SSLv2-compatible format, which carries no extensions.")
    real = [s for s in msg.cipher_suites if not registry.is_grease(s)]
    lines.append(
        f"{plural(len(real), 'cipher suite')}, in the client's order of preference: "
        f"{name_list(real, cipher_suite_label, 4)}."
    )
    for extension in msg.extensions:
        try:
            value = ext.decode_extension(extension, ext.CLIENT_HELLO)
        except DecodeError:
            continue
        line = _offer_line(extension.type, value, sealed)
        if line is not None:
            lines.append(line)
    if msg.legacy_session_id and not msg.extension(ext.SUPPORTED_VERSIONS):
        lines.append(
            f"Session ID of {plural(len(msg.legacy_session_id), 'byte')}: the client hopes to "
            "resume that session."
        )
    if msg.extensions:
        lines.append(f"Extensions: {extension_list(msg.extensions)}.")
    return lines


def _offer_line(ext_type: int, value: DecodedExtension | None, sealed: bool) -> str | None:
    """What one decoded ClientHello extension offers, told; None for the untold ones."""
    if isinstance(value, ServerNameList) and value.names:
        how = "sent encrypted (a renegotiation's)" if sealed else "sent in clear text"
        return f"Server name (SNI), {how}: {value.names[0].name}."
    if isinstance(value, ProtocolNameList) and ext_type == ext.ALPN:
        return f"Application protocols (ALPN): {', '.join(value.protocols)}."
    if isinstance(value, KeyShareList):
        groups = [s.group for s in value.shares if not registry.is_grease(s.group)]
        if groups:
            return (
                f"Key shares already computed for {name_list(groups, registry.group_name)}, "
                "so the server can answer in one round trip."
            )
    elif isinstance(value, SupportedGroups):
        groups = [g for g in value.groups if not registry.is_grease(g)]
        return f"Groups for key exchange: {name_list(groups, registry.group_name)}."
    elif isinstance(value, OfferedPSKs):
        return (
            f"Offers to resume with {plural(len(value.identities), 'pre-shared key')} (a "
            "TLS 1.3 ticket)."
        )
    elif isinstance(value, SessionTicket) and value.ticket_length:
        return f"Presents a session ticket of {plural(value.ticket_length, 'byte')} to resume."
    elif isinstance(value, CompressCertificate) and value.algorithms:
        return compression_offer_line(value.algorithms, "client")
    elif isinstance(value, Empty) and ext_type == ext.EARLY_DATA:
        return "Will send 0-RTT early data before the handshake completes."
    elif isinstance(value, ECHInner):
        return "Encrypted ClientHello (inner): this is the hello the outer one carried."
    elif isinstance(value, ECHOuter):
        # Browsers send a random ECH extension to servers that have no ECH key ("GREASE
        # ECH" in the ECH specification), made to look like a real one: the wire alone
        # cannot tell them apart.
        return (
            f"Encrypted ClientHello (outer, {plural(value.payload_length, 'byte')} sealed): "
            "either a real inner hello travels hidden in it, or it is GREASE, which browsers "
            "send to every server; only the server's key tells which."
        )
    return None


def extension_list(extensions: tuple[ext.Extension, ...]) -> str:
    """The extensions by name, in order; past a handful, the unregistered ones (a crafted
    hello's thousands) are counted rather than named one by one."""
    unregistered = [
        e.type
        for e in extensions
        if e.type not in registry.EXTENSION_TYPES
        and e.type != 40
        and not registry.is_grease(e.type)
    ]
    if len(unregistered) <= 4:
        return ", ".join(registry.extension_name(e.type) for e in extensions)
    skip = set(unregistered)
    named = [registry.extension_name(e.type) for e in extensions if e.type not in skip]
    return ", ".join(
        [
            *named,
            f"{len(unregistered)} of unregistered types "
            f"(0x{min(unregistered):04x} to 0x{max(unregistered):04x})",
        ]
    )


def _retry_lines(msg: hs.ServerHello) -> list[str]:
    """What a HelloRetryRequest asks for: another key share, a cookie to echo (a DTLS 1.3
    server's return-routability check, RFC 9147 §5.1, asks only that), or both."""
    asked = ext.key_share_in(msg, SelectedGroup)
    cookie = msg.extension(ext.COOKIE) is not None
    if asked is None and not cookie:
        return ["The server asks the client to send its ClientHello again (HelloRetryRequest)."]
    lines = []
    if asked is not None:
        lines.append(
            "The server wants a different key share before it goes on (HelloRetryRequest): "
            f"it asks the client for a share on {registry.group_name(asked.selected_group)}."
        )
    if cookie:
        lines.append(
            "The server sends a cookie the client must echo in its next ClientHello "
            + ("as well" if asked is not None else "(HelloRetryRequest)")
            + ": it keeps no state until the client proves it receives at its address "
            "(RFC 8446 §4.2.2; DTLS 1.3's return-routability check, RFC 9147 §5.1)."
        )
    return lines


def server_hello_lines(conn: Connection, msg: hs.ServerHello) -> tuple[str, list[str]]:
    version = hs.selected_version(msg)
    if msg.is_hello_retry_request:
        return "HelloRetryRequest", _retry_lines(msg)
    lines = [
        f"The server picked {registry.version_name(version)} and "
        f"{registry.cipher_suite_name(msg.cipher_suite)}: "
        f"{describe_cipher_suite(msg.cipher_suite, version)}."
    ]
    roles = algorithm_roles(msg.cipher_suite, version, key_exchange_of(msg))
    if roles:
        lines.append(roles)
    share = ext.server_key_share(msg)
    if share and share.shares:
        group = share.shares[0].group
        lines.append(
            f"Its key share is on {registry.group_name(group)}: both sides can now compute the "
            "shared secret, which never crosses the wire."
        )
    if msg.extension(ext.PRE_SHARED_KEY):
        lines.append(
            "It accepted the client's pre-shared key: this is a resumed session, an "
            "abbreviated handshake without the server's certificate."
        )
    ch = conn.client_hello
    if ch is not None and msg.legacy_session_id and msg.legacy_session_id == ch.legacy_session_id:
        if version is not None and version < 0x0304:
            lines.append(
                "It echoed the client's session ID: the previous session is resumed, in an "
                "abbreviated handshake (no certificate, no key exchange)."
            )
    alpn_value = ext.decoded_in(msg, ext.ALPN, ProtocolNameList)
    if alpn_value and alpn_value.protocols:
        lines.append(f"Application protocol chosen: {alpn_value.protocols[0]}.")
    if msg.legacy_compression_method:
        lines.append(
            f"Compression method {msg.legacy_compression_method} (DEFLATE is 1): CRIME-prone."
        )
    if msg.extensions:
        lines.append(f"Extensions: {extension_list(msg.extensions)}.")
    return "ServerHello", lines


def sslv2_step(event: SSLv2MessageEvent | SSLv2EncryptedEvent, time: str) -> Step:
    """An SSL 2.0 message after the ClientHello: the server's answer, the client's key."""
    if isinstance(event, SSLv2EncryptedEvent):
        return Step(
            event.frame,
            time,
            event.direction,
            f"SSL 2.0 encrypted records: {plural(event.records, 'record')}, "
            f"{plural(event.length, 'byte')}",
            (
                "Everything after CLIENT-MASTER-KEY is encrypted with keys made from the master "
                "key.",
            ),
            "encrypted",
        )
    lines: list[str] = []
    title = f"SSL 2.0 {event.name}"
    message = event.decoded
    if isinstance(message, sslv2.SSLv2ServerHello):
        lines = [
            "The server answers in SSL 2.0, broken since 1996 and forbidden by RFC 6176: no "
            "protection of the handshake, export-grade and MD5-only cipher kinds.",
            "Cipher kinds it accepts: "
            f"{', '.join(cipher_suite_label(k) for k in message.cipher_specs)}.",
            f"Its certificate ({len(message.certificate)} bytes) and a connection ID of "
            f"{len(message.connection_id)} bytes"
            + ("; it resumes the session the client named." if message.session_id_hit else "."),
        ]
    elif isinstance(message, sslv2.SSLv2ClientMasterKey):
        lines = [
            f"The client picks {cipher_suite_label(message.cipher_kind)} and sends the master key: "
            f"{len(message.clear_key)} bytes in clear, {len(message.encrypted_key)} bytes "
            "encrypted to the server's RSA key"
            + (" (an export kind: most of the key travels in clear)" if message.clear_key else "")
            + f"; key argument (IV) {len(message.key_arg)} bytes.",
        ]
    elif isinstance(message, sslv2.SSLv2Error):
        code = sslv2.SSL2_ERRORS.get(message.error_code, f"error {message.error_code}")
        lines = [f"The peer reports {code} and gives up."]
    return Step(event.frame, time, event.direction, title, tuple(lines), "error")
