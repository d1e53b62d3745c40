"""QUIC's own steps in a connection's narration: the Initial keys anyone can compute, the
packet protection keys with QUIC's labels, Retry, Version Negotiation, new Connection IDs,
migration, key updates and the close; and ``--records``' list of packets and frames.

Pure: a ``Connection`` (with ``conn.quic``) in, plain text out. Text from the capture (a
CONNECTION_CLOSE's reason phrase) is kept as it is: the terminal layer sanitises it.
"""

from __future__ import annotations

from collections.abc import Callable

from tlslens import _core, registry
from tlslens._text import plural, printable, ts_iso
from tlslens.explain.coalesced import (
    RETRY,
    VERSION_NEGOTIATION,
    close_words,
    h3_error,
    key_words,
    normal_close,
    over_h3,
    quic_datagrams,
)
from tlslens.explain.vocabulary import Step
from tlslens.model import C2S, Connection
from tlslens.quic.details import QuicDetails, QuicFrameInfo, QuicPacketInfo

_ARROWS = {C2S: "C → S", "s2c": "C ← S"}
# The Initial packets' hash and key size: always TLS_AES_128_GCM_SHA256 (RFC 9001 §5.2).
_INITIAL_SUITE = 0x1301
_INITIAL_SECRET_LENGTH = 32


def quic_key_lines(
    conn: Connection, values: list[tuple[str, bytes]], hex_of: Callable[[bytes], str]
) -> list[str]:
    """The packet keys of each TLS 1.3 traffic secret, derived with QUIC's labels (the key
    log's secrets protect packets, not TLS records)."""
    quic = conn.quic
    suite = conn.cipher_suite
    if quic is None or suite is None:
        return []
    lines = [
        "QUIC: each TLS 1.3 traffic secret protects packets, not records. It gives a packet "
        "key, an IV and a header protection key through HKDF-Expand-Label(secret, "
        '"quic key" / "quic iv" / "quic hp", "", length) (RFC 9001 §5.1; QUIC v2 uses '
        '"quicv2 key" / "quicv2 iv" / "quicv2 hp", RFC 9369 §3.3.2).'
    ]
    for name, secret in values:
        if not name.endswith("_traffic_secret"):
            continue  # the TLS record keys, which QUIC does not use
        lines.append(f"  {name} ({plural(len(secret), 'byte')}): {hex_of(secret)}")
        material = _core.quic_key_material(quic.version, suite, secret) or []
        for label, value in material:
            lines.append(f'    "{label}" ({plural(len(value), "byte")}): {hex_of(value)}')
    return lines


def _initial_step(conn: Connection, quic: QuicDetails, hex_of: Callable[[bytes], str]) -> Step:
    dcid = quic.initial_dcid
    title = f"{registry_version(quic.version)} Initial keys"
    if dcid is None:
        text = (
            "Initial packets are protected with keys computed from the client's first "
            "Destination Connection ID (RFC 9001 §5.2), which only the client's first Initial "
            "carries: it was not read (see the problems), so no Initial packet is opened."
        )
        return Step(conn.first_frame, ts_iso(conn.start_ts_ns), "", title, (text,), "warning")
    lines = [
        "Initial packets are protected with keys anyone can compute from the client's first "
        f"Destination Connection ID ({dcid.hex() or 'empty'}) and the version's published "
        "salt (RFC 9001 §5.2): they hide the ClientHello and ServerHello from nothing but "
        "ossified middleboxes, and tlslens opened them without any key log."
    ]
    lines.extend(_initial_derivation(quic.version, dcid, hex_of))
    return Step(conn.first_frame, ts_iso(conn.start_ts_ns), "", title, tuple(lines))


def _initial_derivation(version: int, dcid: bytes, hex_of: Callable[[bytes], str]) -> list[str]:
    """The Initial secrets and keys of a Destination Connection ID (RFC 9001 §5.2)."""
    secrets = _core.quic_initial_secrets(version, dcid)
    if secrets is None:
        return [f"{registry_version(version)}: a version tlslens cannot open."]
    salt, client, server = secrets
    lines = [f"initial_secret = HKDF-Extract(salt {salt.hex()}, {dcid.hex()})"]
    for side, secret in (("client", client), ("server", server)):
        lines.append(
            f'{side}_initial_secret = HKDF-Expand-Label(initial_secret, "{side} in", "", '
            f"{_INITIAL_SECRET_LENGTH}): {hex_of(secret)}"
        )
        material = _core.quic_key_material(version, _INITIAL_SUITE, secret) or []
        for label, value in material:
            lines.append(f'  "{label}" ({plural(len(value), "byte")}): {hex_of(value)}')
    return lines


def _rederived_step(
    quic: QuicDetails, retry_frame: int, hex_of: Callable[[bytes], str]
) -> Step | None:
    """After a Retry, the client's next Initial goes to the Retry's Source Connection ID:
    both sides derive the Initial keys again from it (RFC 9001 §5.2, RFC 9000 §17.2.5.2)."""
    again = next(
        (
            p
            for p in quic.packets
            if p.frame > retry_frame
            and p.direction == C2S
            and p.kind == "Initial"
            and p.dcid != quic.initial_dcid
        ),
        None,
    )
    if again is None:
        return None
    lines = [
        "After the Retry the client sends its Initial to the Retry's Source Connection ID: "
        f"Initial keys derived again from the new Destination Connection ID "
        f"{again.dcid.hex()} (RFC 9001 §5.2); the packets before the Retry keep the first "
        "keys.",
        *_initial_derivation(again.version or quic.version, again.dcid, hex_of),
    ]
    title = f"{registry_version(again.version or quic.version)} Initial keys again"
    return Step(again.frame, ts_iso(again.ts_ns), "", title, tuple(lines))


def registry_version(version: int) -> str:
    """The name of a QUIC version, as the core names it."""
    return _core.quic_version_name(version)


def _packets_step(conn: Connection, quic: QuicDetails) -> Step:
    counts = ", ".join(f"{kind} {n}" for kind, n in quic.packet_count.items())
    total = sum(quic.packet_count.values())
    sealed = [
        f"{n} not opened ({why})"
        for n, why in (
            (quic.unopened - quic.failed, "no key for them"),
            (quic.failed, "the key log's secrets do not authenticate them"),
        )
        if n
    ]
    lines = [
        f"{plural(total, 'packet')} of this connection: {counts}; "
        f"{'; '.join(sealed) or 'every one opened'}.",
        "Each packet number space (Initial, Handshake, application) has its own keys, packet "
        "numbers and CRYPTO stream; show --records lists every packet and its frames.",
    ]
    return Step(conn.first_frame, ts_iso(conn.start_ts_ns), "", "QUIC packets", tuple(lines))


def _frame_steps(packet: QuicPacketInfo) -> list[Step]:
    """The frames worth a step of their own: new Connection IDs (one step per packet)."""
    issued = [f.detail for f in packet.frames if f.name == "NEW_CONNECTION_ID"]
    if not issued:
        return []
    who = "client" if packet.direction == C2S else "server"
    lines = [
        f"The {who} issues {plural(len(issued), 'Connection ID')} in a {packet.kind} packet "
        "(NEW_CONNECTION_ID): its peer may switch to one, so that a new path cannot be linked "
        "to the old one by an observer.",
        *(f"  {detail}" for detail in issued),
    ]
    return [
        Step(
            packet.frame, ts_iso(packet.ts_ns), packet.direction, "New Connection IDs", tuple(lines)
        )
    ]


def _times(conn: Connection, quic: QuicDetails) -> Callable[[int], str]:
    """The capture time of a frame, from the packets kept and the TLS timeline (the steps
    of a Retry, a close or a migration name only their frame)."""
    times = {event.frame: event.ts_ns for event in conn.timeline}
    times.update((packet.frame, packet.ts_ns) for packet in quic.packets)
    times.update(quic.times)
    return lambda frame: ts_iso(times[frame]) if frame in times else ""


def quic_steps(conn: Connection, hex_of: Callable[[bytes], str]) -> list[Step]:
    """QUIC's own steps, in frame order, to be merged with the TLS timeline."""
    quic = conn.quic
    if quic is None:
        return []
    steps = [_initial_step(conn, quic, hex_of), _packets_step(conn, quic)]
    when = _times(conn, quic)
    for packet in quic.packets:
        steps.extend(_frame_steps(packet))
    for frame, versions in quic.version_negotiation:
        names = ", ".join(registry_version(v) for v in versions) or "no version"
        text = f"The server does not speak the client's version; it offers: {names}."
        steps.append(Step(frame, when(frame), "s2c", "Version Negotiation", (text,), "warning"))
    if quic.retry is not None:
        frame, tag_ok, token = quic.retry
        check = (
            "its integrity tag verifies (RFC 9001 §5.8)"
            if tag_ok
            else "its integrity tag does NOT verify (RFC 9001 §5.8): a client must discard it"
        )
        text = (
            f"The server asks the client to prove its address: a token of "
            f"{plural(token, 'byte')} to send back in a new Initial; {check}."
        )
        steps.append(
            Step(frame, when(frame), "s2c", "Retry", (text,), "normal" if tag_ok else "error")
        )
        rederived = _rederived_step(quic, frame, hex_of)
        if rederived is not None:
            steps.append(rederived)
    for frame, address in quic.migrations:
        text = (
            f"The client now sends from {address}: the same QUIC connection (known by its "
            "Connection IDs), a new path (RFC 9000 §9)."
        )
        steps.append(Step(frame, when(frame), C2S, "Connection migration", (text,)))
    for frame, direction, phase in quic.key_updates:
        who = "client" if direction == C2S else "server"
        text = f"The {who}'s 1-RTT keys move to key phase {int(phase)} (RFC 9001 §6)."
        steps.append(Step(frame, when(frame), direction, "Key update", (text,)))
    h3 = over_h3(conn.alpn)
    for close in quic.closes:
        named = h3_error(close.code, close.application, h3)
        lines = [
            f"Error: {close.error} ({named[0]}, RFC 9114 §8.1: {named[1]})."
            if named
            else f"Error: {close.error}."
        ]
        if close.reason:
            lines.append(f"Reason phrase: {printable(close.reason)!r}")
        if close.error.startswith("CRYPTO_ERROR"):
            alert = registry.alert_name(close.code - 0x100)
            lines.append(
                f"A TLS alert ({alert}) travels in QUIC's CONNECTION_CLOSE, as CRYPTO_ERROR "
                "0x100 + its code (RFC 9001 §4.8): QUIC has no TLS alert records."
            )
        tone = "normal" if normal_close(close.error, close.code, h3) else "warning"
        steps.append(
            Step(
                close.frame,
                when(close.frame),
                close.direction,
                "CONNECTION_CLOSE",
                tuple(lines),
                tone,
            )
        )
    steps.sort(key=lambda step: step.frame)
    return steps


def quic_packet_lines(conn: Connection) -> list[str]:
    """``--records`` for QUIC: each datagram, each packet coalesced in it (type, version,
    Connection IDs, packet number, length, which key opened it) and each frame of it."""
    quic = conn.quic
    if quic is None:
        return []
    total = sum(quic.packet_count.values())
    datagrams = quic_datagrams(quic)
    h3 = over_h3(conn.alpn)
    lines = [f"QUIC packets: {total}, as carried in UDP datagrams:"]
    for datagram in datagrams:
        kinds = " + ".join(p.kind for p in datagram.packets)
        lines.append(f"  #{datagram.frame:<6} {_ARROWS.get(datagram.direction, '')}  {kinds}")
        for p in datagram.packets:
            lines.extend(_packet_lines(quic, p, h3))
    if total > len(quic.packets):
        lines.append(f"  … the first {len(quic.packets)} packets are listed")
    return lines


def _packet_lines(quic: QuicDetails, p: QuicPacketInfo, h3: bool) -> list[str]:
    if p.kind == RETRY and quic.retry is not None:
        tag = "verified" if quic.retry[1] else "NOT verified"
        return [f"      Retry: integrity tag {tag}, a token of {plural(quic.retry[2], 'byte')}"]
    if p.kind == VERSION_NEGOTIATION:
        offered = [versions for frame, versions in quic.version_negotiation if frame == p.frame]
        names = ", ".join(registry_version(v) for v in (offered or [()])[0]) or "none"
        return [f"      Version Negotiation: versions offered {names}"]
    version = f", {registry_version(p.version)}" if p.version else ""
    number = f"pn {p.pn}, " if p.pn is not None else ""
    space = f" ({p.space} space)" if p.space else ""
    ids = f"DCID {p.dcid.hex() or '(empty)'}"
    if p.kind != "1-RTT":
        ids += f", SCID {p.scid.hex() or '(empty)'}"
    lines = [
        f"      {p.kind}{version}{space}, {number}{plural(p.length, 'byte')} at byte {p.offset};"
        f" {ids}; {key_words(p)}"
    ]
    for f in p.frames:
        lines.append(f"        {_frame_words(f, h3)} (at byte {f.offset} of the plaintext)")
    return lines


def _frame_words(f: QuicFrameInfo, h3: bool) -> str:
    """One frame in words: its name and main fields."""
    if f.name != "CONNECTION_CLOSE":
        return f"{f.name}: {f.detail}" if f.detail else f.name
    words = f"CONNECTION_CLOSE: {close_words(f, h3)}"
    if f.detail:
        words += f", {f.detail}"
    if f.data:
        words += f", reason {printable(f.data)!r}"
    return words
