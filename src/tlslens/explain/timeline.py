"""A connection told step by step, in the order things happened on the wire.

Pure: Connection in, ``Step``s of plain text out; the CLI decides how they look.
Text taken from the capture (names, certificate fields, prelude lines) is kept
as it is here; the terminal layer strips control characters when it prints.
"""

from __future__ import annotations

import heapq

from tlslens import registry
from tlslens._text import GiveUp, gap_label, gap_reason, plural, ts_iso
from tlslens.events import (
    ALERT_EVENTS,
    SSLV2_EVENTS,
    ACKEvent,
    AlertEvent,
    ChangeCipherSpecEvent,
    DataEvent,
    EarlyDataEvent,
    EncryptedAlertEvent,
    EncryptedHandshakeEvent,
    GapEvent,
    HandshakeEvent,
    HeartbeatEvent,
    SkippedMessageEvent,
    TimelineEvent,
)
from tlslens.explain.chain import (
    certificate_message_lines,
    certificate_request_lines,
    compressed_certificate_lines,
    describe_ocsp,
)
from tlslens.explain.derivation import key_steps, secret_hex
from tlslens.explain.hello import client_hello_lines, server_hello_lines, sslv2_step
from tlslens.explain.key_exchange import (
    client_key_exchange_lines,
    server_key_exchange_lines,
    signature_lines,
)
from tlslens.explain.over_udp import (
    HELLO_VERIFY_REQUEST,
    ack_step,
    fragments_line,
    hello_verify_request_lines,
)
from tlslens.explain.packets import quic_steps
from tlslens.explain.vocabulary import Step
from tlslens.handshake import messages as hs
from tlslens.model import C2S, Connection
from tlslens.outcome import ALERT_WORDS, alert_sized, message_title, outcome_of
from tlslens.serialize import alert_json


def _message_step(conn: Connection, event: HandshakeEvent) -> Step:
    msg = event.message
    title = message_title(msg.msg_type)
    lines: list[str] = []
    if isinstance(msg, hs.ClientHello):
        title = "ClientHello"
        lines = client_hello_lines(conn, msg, sealed=event.decrypted)
    elif isinstance(msg, hs.ServerHello):
        title, lines = server_hello_lines(conn, msg)
    elif isinstance(msg, hs.Certificate):
        lines = certificate_message_lines(conn, event, msg)
    elif isinstance(msg, hs.CompressedCertificate):
        lines = compressed_certificate_lines(conn, event, msg)
    elif isinstance(msg, hs.ServerKeyExchange):
        lines = server_key_exchange_lines(conn, msg)
        lines += signature_lines(conn, event, "server_key_exchange")
    elif isinstance(msg, hs.ClientKeyExchange):
        lines = client_key_exchange_lines(conn, msg)
    elif isinstance(msg, hs.CertificateRequest):
        lines = certificate_request_lines(conn, msg)
    elif isinstance(msg, hs.CertificateVerify):
        scheme = (
            registry.signature_scheme_name(msg.signature_scheme)
            if msg.signature_scheme is not None
            else "the key's default algorithm"
        )
        lines = [
            f"A signature over the handshake so far ({scheme}) proves possession of the "
            "certificate's private key.",
            *signature_lines(conn, event, "certificate_verify"),
        ]
    elif isinstance(msg, hs.CertificateStatus):
        lines = [
            f"The server staples an OCSP response ({plural(len(msg.response), 'byte')}): its CA's "
            "signed, recent statement on whether the certificate is revoked.",
            describe_ocsp(msg.response),
        ]
    elif isinstance(msg, hs.NewSessionTicket):
        lines = [
            f"The server issues a session ticket ({plural(len(msg.ticket), 'byte')}, lifetime "
            f"{msg.ticket_lifetime} s) that the client can present to resume without a full "
            "handshake."
        ]
    elif isinstance(msg, hs.Finished):
        lines = [
            f"Finished ({len(msg.verify_data)}-byte verify_data): a MAC over the whole handshake."
        ]
        lines += _finished_lines(conn, event)
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
    elif msg.msg_type == HELLO_VERIFY_REQUEST:
        lines = hello_verify_request_lines(conn)
    if event.fragments:  # DTLS (tls/dtls.py)
        lines.append(fragments_line(event.fragments, dtls13=conn.tls13))
    if event.decrypted:
        title += " (decrypted)"
    tone = "normal"
    if msg.malformed:
        lines.append(f"Malformed: {msg.malformed}")
        tone = "warning"
    return Step(event.frame, ts_iso(event.ts_ns), event.direction, title, tuple(lines), tone)


def _finished_lines(conn: Connection, event: HandshakeEvent) -> list[str]:
    """What tlslens made of a Finished: its handshake's verdict (the first, or a
    renegotiation: each has its own), or why it was not checked."""
    direction = event.direction
    dec = conn.decryption
    result = dec.results[direction] if dec is not None else None
    each = result.finished_each if result is not None else []
    if conn.dtls is not None:  # over DTLS, checked by tls/dtls.py
        each = conn.dtls.finished_each[direction]
    handshake = max(sum(1 for h in conn.handshakes if h.first_frame <= event.frame) - 1, 0)
    verdict = next((v for v in each if v[0] == handshake), None)
    verified, unchecked = (verdict[1], verdict[2]) if verdict is not None else (None, None)
    if unchecked is not None:
        return [
            f"Not checked: {unchecked}, and it MACs the whole handshake: it cannot be "
            "recomputed without what is missing (the secret is not at fault)."
        ]
    if verified is None:
        return []
    if verified:
        return [
            "tlslens recomputed it from the transcript and the keys: it matches, so both sides "
            "saw the same handshake."
        ]
    return ["tlslens recomputed it and it does NOT match: wrong secret, or an altered handshake."]


def _skipped_step(event: SkippedMessageEvent, time: str) -> Step:
    """A message tlslens did not read (past --max-message): it was sent here, and what it
    held is not known."""
    text = (
        f"Sent here, but not read: its header claims {event.claimed:,} bytes, past "
        f"--max-message's limit of {event.limit:,} bytes, so tlslens skipped it; what it "
        "holds is not told and the checks that need it are not made. Raise --max-message to "
        "read it."
    )
    title = f"{message_title(event.msg_type)} (not read)"
    return Step(event.frame, time, event.direction, title, (text,), "warning")


def _alert_sized_step(event: EncryptedHandshakeEvent) -> Step:
    """The client's lone protected record of an alert's size, as its bytes tell it: no
    handshake message fits (its type is hidden, so the title does not name one)."""
    tag = event.length - 3  # an alert's 2 bytes and the content type byte before the tag
    text = (
        f"Its {event.length} bytes are the AEAD tag ({tag}), the hidden content type and 2 bytes "
        f"of content: too few for a handshake message, whose header alone is 4 bytes "
        f"({plural(tag + 5, 'byte')} at least, protected). An alert is 2 bytes, and the client "
        "sends no application data before its Finished (0-RTT aside): most likely the alert "
        "that ended the handshake (a key log shows it)."
    )
    return Step(
        event.frame,
        ts_iso(event.ts_ns),
        event.direction,
        f"Encrypted record, content type hidden ({plural(event.length, 'byte')})",
        (text,),
        "encrypted",
    )


def _encrypted_step(conn: Connection, event: EncryptedHandshakeEvent, seen: dict[str, int]) -> Step:
    count = seen.get(event.direction, 0)
    seen[event.direction] = count + 1
    who = "client" if event.direction == C2S else "server"
    # DTLS 1.3 seen after its hellos: the unified headers alone say the version.
    if conn.tls13 or conn.tls13_sealed or (conn.dtls is not None and conn.dtls.hellos_missing):
        if event.direction == C2S and alert_sized(conn, event):
            return _alert_sized_step(event)
        if event.direction == C2S and count == 0:
            text = (
                "The client's encrypted handshake: its Finished (and its certificate if asked), "
                "protected with the handshake traffic keys."
            )
        elif event.direction == C2S:
            text = "More of the client's encrypted handshake."
        elif count == 0:
            # With secrets given, they did not open it (the decryption line says why).
            opens = (
                "A key log opens them."
                if conn.decryption is None
                else "The secrets given do not open them."
            )
            text = (
                "Everything the server sends after its ServerHello is encrypted: "
                f"EncryptedExtensions, Certificate, CertificateVerify and Finished are in here. "
                f"{opens}"
            )
        else:
            text = "More of the server's encrypted handshake."
        return Step(
            event.frame,
            ts_iso(event.ts_ns),
            event.direction,
            f"Encrypted handshake {_unit(conn)} ({plural(event.length, 'byte')})",
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
        f"Encrypted handshake message ({plural(event.length, 'byte')})",
        (text,),
        "encrypted",
    )


def _keys_in_use(conn: Connection, event: TimelineEvent) -> bool:
    """Does this event show the new keys at work (a CCS, an encrypted or decrypted record)?"""
    if isinstance(event, ChangeCipherSpecEvent | EncryptedHandshakeEvent):
        return True
    if isinstance(event, HandshakeEvent):
        # A renegotiation's own hello messages travel under the old keys.
        return event.decrypted and conn.tls13
    return isinstance(event, DataEvent) and event.decrypted


def _unit(conn: Connection) -> str:
    """What carries the protected bytes: QUIC packets, TLS/DTLS records."""
    return "packet" if conn.transport == "quic" else "record"


def _alert_step(event: AlertEvent | EncryptedAlertEvent, time: str, completed: bool) -> Step:
    alert = alert_json(event)
    if isinstance(event, EncryptedAlertEvent):
        text = (
            "An encrypted alert (most often close_notify, the normal end of the session)."
            if completed
            else "An encrypted alert in a handshake that never finished: most likely the fatal "
            "alert that ended it (a key log shows which)."
        )
        return Step(event.frame, time, event.direction, "Alert (encrypted)", (text,), "encrypted")
    words = ALERT_WORDS.get(alert["description"], "")
    # QUIC has no alert records: the alert is the code of a CONNECTION_CLOSE (RFC 9001 §4.8).
    carried = ", as CRYPTO_ERROR in CONNECTION_CLOSE" if event.quic else ""
    return Step(
        event.frame,
        time,
        event.direction,
        f"Alert ({alert['level']}): {alert['description']}{carried}",
        (words.capitalize() + "." if words else "",),
        "error" if alert["level"] == "fatal" else "warning",
    )


def _gap_lines(given_up: GiveUp | None) -> tuple[str, ...]:
    """What a gap's step says: packets lost before capture, or (``given_up``) bytes tlslens
    stopped waiting for, which the capture may bring later, unread then."""
    if given_up is None:
        return ("Packets were lost before capture; parsing picks up at the next record.",)
    remedy = " (raise --max-buffer to wait longer)" if given_up == "bytes" else ""
    return (
        f"They were {gap_reason(given_up)}; parsing picks up at the next record.",
        f"If the capture holds them later, tlslens does not read them{remedy}.",
    )


def _data_step(event: DataEvent, time: str, unit: str = "record") -> Step:
    frames = (
        f"frame {event.frame}"
        if event.last_frame == event.frame
        else f"frames {event.frame}–{event.last_frame}"
    )
    label = "Early data (0-RTT)" if isinstance(event, EarlyDataEvent) else "Application data"
    if event.decrypted:
        return Step(
            event.frame,
            time,
            event.direction,
            f"{label} (decrypted): {plural(event.records, unit)}, "
            f"{plural(event.length, 'byte')} of plaintext",
            (f"Opened and authenticated in {frames}.",),
        )
    return Step(
        event.frame,
        time,
        event.direction,
        f"{label}: {plural(event.records, unit)}, {plural(event.length, 'byte')}",
        (f"Encrypted payload in {frames}.",),
        "encrypted",
    )


def explain(conn: Connection, reveal_keys: bool = False) -> list[Step]:
    """The connection as narrated steps, in the order things happened."""
    steps: list[Step] = []
    keys_told: set[int] = set()  # handshakes whose key derivation was told
    handshake = -1  # index of the handshake whose ServerHello came last
    if conn.prelude is not None:
        prelude = conn.prelude
        lines = [
            f"{plural(prelude.c2s_bytes, 'byte')} from the client and {prelude.s2c_bytes} from "
            "the server "
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
    completed = outcome_of(conn).status == "completed"
    for event in conn.timeline:
        time = ts_iso(event.ts_ns)
        if handshake >= 0 and handshake not in keys_told and _keys_in_use(conn, event):
            # Each handshake's keys are told once, when they first protect something.
            lines = key_steps(conn, reveal_keys, handshake)
            if lines:
                keys_told.add(handshake)
                title = "Key derivation" + (f" (renegotiation {handshake})" if handshake else "")
                steps.append(Step(event.frame, time, "", title, tuple(lines)))
        if (
            isinstance(event, HandshakeEvent)
            and isinstance(event.message, hs.ServerHello)
            and not event.message.is_hello_retry_request
        ):
            handshake += 1
        if isinstance(event, HandshakeEvent):
            steps.append(_message_step(conn, event))
        elif isinstance(event, EncryptedHandshakeEvent):
            steps.append(_encrypted_step(conn, event, encrypted_seen))
        elif isinstance(event, ChangeCipherSpecEvent):
            who = "client" if event.direction == C2S else "server"
            if conn.tls13:
                text = "A dummy ChangeCipherSpec for middlebox compatibility; it changes nothing in TLS 1.3."
            elif conn.tls13_sealed:
                text = (
                    "A dummy ChangeCipherSpec for middlebox compatibility: the ServerHello "
                    "tlslens skipped chose a TLS 1.3 cipher suite (its first bytes say so), and "
                    "in TLS 1.3 this record changes nothing."
                )
            elif event.direction in ccs_seen and _flight_resent(conn, event.direction):
                text = "ChangeCipherSpec again: its flight is sent again (a DTLS retransmission)."
            elif event.direction in ccs_seen:
                text = "ChangeCipherSpec of a renegotiation, sent encrypted."
            else:
                text = f"From here on the {who} encrypts everything it sends with the newly derived keys."
            ccs_seen.add(event.direction)
            steps.append(Step(event.frame, time, event.direction, "ChangeCipherSpec", (text,)))
        elif isinstance(event, ALERT_EVENTS):
            steps.append(_alert_step(event, time, completed))
        elif isinstance(event, DataEvent):
            steps.append(_data_step(event, time, _unit(conn)))
        elif isinstance(event, HeartbeatEvent):
            steps.append(
                Step(
                    event.frame,
                    time,
                    event.direction,
                    "Heartbeat",
                    (f"A heartbeat record of {plural(event.length, 'byte')}.",),
                )
            )
        elif isinstance(event, GapEvent):
            steps.append(
                Step(
                    event.frame,
                    time,
                    event.direction,
                    gap_label(event.length, event.given_up),
                    _gap_lines(event.given_up),
                    "warning",
                )
            )
        elif isinstance(event, SkippedMessageEvent):
            steps.append(_skipped_step(event, time))
        elif isinstance(event, SSLV2_EVENTS):
            steps.append(sslv2_step(event, time))
        elif isinstance(event, ACKEvent):
            steps.append(ack_step(event, time))
    return _with_transport_steps(conn, steps, reveal_keys)


def _with_transport_steps(conn: Connection, steps: list[Step], reveal_keys: bool) -> list[Step]:
    """The TLS steps merged, in frame order, with what the transport showed: QUIC's own
    steps (before the TLS ones of the same frame), and the TCP close or reset."""
    if conn.quic is not None:
        told = quic_steps(conn, lambda value: secret_hex(value, reveal_keys))
        steps = list(heapq.merge(told, steps, key=lambda step: step.frame))
    if conn.closed_first is not None and conn.closed_at is not None:
        frame, ts_ns = conn.closed_at
        who = "client" if conn.closed_first == C2S else "server"
        reset = conn.closed_by == "rst"  # how the connection ended, not who sent what
        title = "TCP reset (RST)" if reset else "TCP close (FIN)"
        text = (
            f"The {who} was first to end the TCP connection, which ended with a reset: "
            "no orderly close."
            if reset
            else f"The {who} closed the TCP connection first: it sends nothing more."
        )
        tone = "warning" if reset else "normal"
        close = Step(frame, ts_iso(ts_ns), conn.closed_first, title, (text,), tone)
        steps = list(heapq.merge(steps, [close], key=lambda step: step.frame))
    return steps


def _flight_resent(conn: Connection, direction: str) -> bool:
    """Over DTLS a side resends its whole flight, ChangeCipherSpec included, when the
    answer does not come (RFC 6347 §4.2.4): a second one is then no renegotiation."""
    facts = conn.dtls
    return facts is not None and facts.retransmissions.get(direction, 0) > 0
