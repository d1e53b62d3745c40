"""What the handshake messages of one connection carry, turned into the ``Connection`` model.

Strategy: the compiled core's content layer (``_core.Content``) reads what each transport
hands it: TLS records over TCP (opening, dispatch by content type, defragmentation, parsing,
the decryptor's steps), DTLS's whole handshake messages (tls/dtls.py, from the core's
association) and QUIC's CRYPTO streams (quic/assembly.py); each message is read with what was
negotiated so far, fed to the decryptor and kept for the transcript there; the core makes
every message's timeline step and tells its findings, and hands over as a
``ContentMessage`` only the messages the model reads. This module holds what is model and
trust, shared by every transport: the content events' steps, each such message's effect on
the ``Connection`` (hellos, certificates, signatures checked against them, tickets), a
CompressedCertificate opened, and the findings of all that.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Concatenate, ParamSpec, TypeVar

from tlslens import _core, registry
from tlslens._core import MAX_HANDSHAKE_MESSAGE, Decryptor
from tlslens.decrypt.connection import PlaintextSink, rsa_premaster
from tlslens.errors import DecodeError
from tlslens.events import (
    ApplicationDataEvent,
    DataEvent,
    EarlyDataEvent,
    HandshakeEvent,
    SSLv2EncryptedEvent,
    SSLv2MessageEvent,
    TimelineEvent,
    fold_run,
)
from tlslens.handshake import compression, sslv2
from tlslens.handshake import messages as hs
from tlslens.keys.store import KeyStore
from tlslens.model import C2S, MAY_HOLD, S2C, Connection, Finding, Handshake
from tlslens.tls import proof
from tlslens.x509.certificate import parse_certificate

# Findings a connection lists; past them, one says the rest are not (a connection of 1 MB of
# 8-byte malformed ClientHellos, each a finding, made a `show` of 172 MB; a QUIC one of
# 125,000 such messages 436 MB).
MAX_FINDINGS_LISTED = 1000


@functools.lru_cache(maxsize=256)
def handshake_context(version: int | None, kx: str | None, auth: str | None) -> hs.HandshakeContext:
    """What was negotiated before a message, one (frozen) object per distinct answer: a
    CompressedCertificate opened here asks, and a capture negotiates few distinct ones."""
    return hs.HandshakeContext(version=version, kx=kx, auth=auth)


def _context(ev: _core.ContentMessage) -> hs.HandshakeContext:
    return handshake_context(ev.version, ev.kx, ev.auth)


# Why a signature of a direction is not checked when no certificate of its side was seen.
_NO_CERTIFICATE = {C2S: "no client certificate was seen", S2C: "no server certificate was seen"}
_CERTIFICATE_TYPES = (hs.CERTIFICATE, hs.COMPRESSED_CERTIFICATE)

# A record of whole messages of these types ends the skip of an oversized one.
HANDSHAKE_TYPES = sorted(registry.HANDSHAKE_TYPES)

E = TypeVar("E", bound=TimelineEvent)
P = ParamSpec("P")

# What the core's content layer counted per side: application data records and bytes, gaps
# and bytes missing.
Counts = Sequence[tuple[int, int, int, int]]


def rsa_answer(keys: KeyStore | None) -> Callable[[bytes, tuple[int, int]], bytes | None] | None:
    """What the core content layer asks of an RSA key exchange the key log does not open:
    the premaster one of the run's RSA keys recovers."""
    return functools.partial(rsa_premaster, keys.rsa_keys) if keys and keys.rsa_keys else None


def message_content(
    max_message: int,
    decryptor: Decryptor | None = None,
    keys: KeyStore | None = None,
    *,
    keep_records: bool = False,
) -> _core.Content:
    """The core content layer of a transport that frames handshake messages itself (DTLS,
    QUIC), whose client is side 0; ``keep_records``: each handshake message keeps its bytes
    (``HandshakeEvent.raw``)."""
    return _core.Content(
        client_side=0,
        max_message=max_message,
        known_types=HANDSHAKE_TYPES,
        keep_plaintext=False,
        keep_records=keep_records,
        decryptor=decryptor,
        rsa=rsa_answer(keys),
    )


class RecordContent:
    """The model side of one connection's content: ``FlowSession`` (tls/session.py) feeds it
    the core's content events, ``DtlsSession`` and ``QuicSession`` their messages.

    ``conn`` is None until the session has seen the first TLS bytes.
    """

    def __init__(
        self,
        *,
        client_side: int | None,
        first_frame: int,
        start_ts_ns: int,
        keys: KeyStore | None,
        sink: PlaintextSink | None,
        decryptor: Decryptor | None = None,
    ) -> None:
        self.client_side = client_side
        self.keep_records = False  # --records (the core content layer keeps each message's bytes)
        self.conn: Connection | None = None
        # Findings before the model exists (before TLS started): few flows have any.
        self._pending_findings: list[Finding] | None = None
        self.frame = first_frame
        self.ts_ns = start_ts_ns
        # With secrets, application data bodies are read (not skipped) and opened.
        # The user's secret options, even when none is usable, make each connection say why
        # it was not decrypted. The capture path's flow walk makes the decryptor itself.
        if decryptor is None and keys is not None:
            decryptor = Decryptor(keys)
        self.decryptor = decryptor
        self.decrypting = self.decryptor is not None
        self.sink = sink  # each application data plaintext, in order
        self.sslv2_encrypted = False  # after an SSL 2.0 CLIENT-MASTER-KEY
        self.max_message = MAX_HANDSHAKE_MESSAGE
        # After a bug: only the sides' ends are counted (_core.take_events reads it).
        self._abandoned = False
        # The first message the current handshake lacks, by direction (skipped past
        # --max-message, lost in a gap): a signature without its certificate says why.
        self._missing: dict[str, tuple[int | None, str]] | None = None

    def _direction(self, side: int) -> str:
        return C2S if side == self.client_side else S2C

    def kept(self) -> int:
        """What the model keeps that grows with what the peers send (``Connection.kept``;
        nothing before it exists)."""
        return 0 if self.conn is None else self.conn.kept()

    def _finding(self, side: int | None, layer: str, offset: int | None, message: str) -> None:
        direction = (
            self._direction(side) if side is not None and self.client_side is not None else None
        )
        finding = Finding(self.frame, direction, layer, offset, message)
        if self.conn is not None:
            problems = self.conn.problems
            if len(problems) >= MAX_FINDINGS_LISTED:
                if len(problems) == MAX_FINDINGS_LISTED:
                    note = (
                        "more findings of this connection from here on are not listed: "
                        f"tlslens lists {MAX_FINDINGS_LISTED:,} a connection"
                    )
                    problems.append(Finding(self.frame, direction, layer, offset, note))
                return
            problems.append(finding)
        else:
            if self._pending_findings is None:
                self._pending_findings = []
            self._pending_findings.append(finding)

    def _event(
        self,
        step: Callable[Concatenate[int, int, str, int, int, int, int, P], E],
        side: int,
        offset: int,
        length: int,
        /,
        *args: P.args,
        **kw: P.kwargs,
    ) -> E:
        """A new event of the timeline (``step``: its class, ``args``: its own fields), one
        record seen in the current frame. The frequent ones pass their fields by position:
        a class called with keywords costs a dict."""
        frame = self.frame
        event = step(
            frame, self.ts_ns, self._direction(side), offset, length, frame, 1, *args, **kw
        )
        assert self.conn is not None
        self.conn.timeline.append(event)
        return event

    # -- record content ---------------------------------------------------------------
    def _plaintext_application_data(
        self, side: int, offset: int, plaintext: bytes, *, hashed: bool = False
    ) -> None:
        """Decrypted application data (``hashed``: counted and hashed by the core already)."""
        conn = self.conn
        dec = self.decryptor
        assert conn is not None and dec is not None
        direction = self._direction(side)
        stats = conn.stats[direction]
        stats.application_data_records += 1
        stats.application_data_bytes += len(plaintext)
        if not hashed:
            dec.application_data(direction, plaintext)
        if self.sink is not None and plaintext:
            self.sink(direction, plaintext)
        kind = EarlyDataEvent if direction == C2S and dec.early_active else ApplicationDataEvent
        self._plaintext_event(side, kind, offset, len(plaintext))

    def _plaintext_event(self, side: int, kind: type[DataEvent], offset: int, length: int) -> None:
        """A decrypted record's step: one more record of the step before when that is of
        the same kind and direction."""
        conn = self.conn
        assert conn is not None
        frame = self.frame
        run = kind(frame, self.ts_ns, self._direction(side), offset, length, frame, 1, True)
        fold_run(conn.timeline, run)

    def add_counts(self, counts: Counts) -> None:
        """What the core's content layer counted per side (0, 1), into the statistics."""
        assert self.conn is not None
        _core.add_counts(self.conn.stats, self.client_side, counts)

    # -- the core content layer's events ------------------------------------------------
    def _content_events(self, events: list[_core.ContentEvent]) -> None:
        """What the message-level entries of ``_core.Content`` answered (DTLS, QUIC), into
        the model as a TCP session's events go (``_core.take_events``: the timeline, the
        messages the model keeps as they are; the rest through the methods below)."""
        _core.take_events(self, events)

    def _content_told(self, ev: _core.ContentEvent) -> None:
        """A finding of the core's content layer, or plaintext for the sink."""
        assert self.conn is not None
        if isinstance(ev, _core.ContentFinding):
            self.frame = ev.frame  # where several frames' events cross at once
            self._finding(ev.side, ev.layer, ev.offset, ev.message)
        elif isinstance(ev, _core.ContentLack):
            self._lack_told(ev)
        elif isinstance(ev, _core.ContentPlaintext) and self.sink is not None:
            direction = self._direction(ev.side)
            for plaintext in ev.chunks:
                if plaintext:
                    self.sink(direction, plaintext)

    def _content_message(self, ev: _core.ContentMessage) -> None:
        """A handshake message whose model takes Python's work (certificates, signatures;
        the others are ``_core.take_events``'): the core told its findings and made its
        timeline step, which a CompressedCertificate's replaces once opened here."""
        conn = self.conn
        assert conn is not None
        event = ev.event
        # Where several frames' events of a flow cross at once, each message says its own.
        self.frame, self.ts_ns = event.frame, event.ts_ns
        message = event.message
        if type(message) is hs.CompressedCertificate:
            message = compression.decompress_certificate(message, _context(ev), self.max_message)
            if message.malformed:
                self._finding(ev.side, "handshake", ev.offset, message.malformed)
            event = event.with_message(message)
        conn.timeline.append(event)
        self._message_model(ev, message)

    def _sslv2_client_hello(self, side: int, record: bytes, offset: int) -> None:
        try:
            message: hs.HandshakeMessage = hs.parse_sslv2_client_hello(record)
        except DecodeError as exc:
            self._finding(side, "handshake", offset, str(exc))
            return
        assert self.conn is not None
        self.conn.stats[self._direction(side)].records += 1
        self._event(HandshakeEvent, side, offset, len(record), message=message, sslv2=True)
        self.conn.client_hellos.append(message)  # type: ignore[arg-type]
        self._new_handshake()  # the core's content layer fed the decryptor

    def sslv2_record(self, side: int, body: bytes, offset: int, size: int) -> None:
        """One SSL 2.0 record: plaintext messages decoded until CLIENT-MASTER-KEY, then only
        counted (everything after it is encrypted)."""
        conn = self.conn
        assert conn is not None
        direction = self._direction(side)
        stats = conn.stats[direction]
        stats.records += 1
        stats.bytes += size
        if self.sslv2_encrypted:
            last = conn.timeline[-1] if conn.timeline else None
            if isinstance(last, SSLv2EncryptedEvent) and last.direction == direction:
                last.records += 1
                last.length += len(body)
                last.last_frame = self.frame
            else:
                self._event(SSLv2EncryptedEvent, side, offset, len(body))
            return
        try:
            message = sslv2.pull_message(body)
        except DecodeError as exc:
            self._finding(side, "handshake", offset, exc.msg)
            return
        name = sslv2.SSL2_MESSAGE_NAMES.get(body[0] if body else -1, "unknown message")
        self._event(SSLv2MessageEvent, side, offset, len(body), name=name, decoded=message)
        if isinstance(message, sslv2.SSLv2ServerHello):
            conn.sslv2_hello = message
            if message.certificate_type == 1 and message.certificate:
                conn.certificates = [parse_certificate(message.certificate)]
        elif isinstance(message, sslv2.SSLv2ClientMasterKey):
            conn.sslv2_master_key = message
            self.sslv2_encrypted = True  # RFC 6101 Appendix E: all that follows is encrypted

    def _message_model(self, ev: _core.ContentMessage, message: hs.HandshakeMessage) -> None:
        """What a certificate or a signed message tells the model (``ev``: where, and what
        was negotiated before it)."""
        conn = self.conn
        assert conn is not None
        side = ev.side
        # By class (the core's message classes are final).
        if type(message) is hs.Certificate or type(message) is hs.CompressedCertificate:
            certificate = compression.certificate_of(message)
            if certificate is None:
                return  # a CompressedCertificate that did not open
            certs = [parse_certificate(entry.cert_data) for entry in certificate.certificate_list]
            for cert in certs:
                if cert.error and cert.subject is None:
                    self._finding(
                        side, "x509", ev.offset, f"certificate {cert.sha256[:16]}…: {cert.error}"
                    )
            if side == self.client_side:
                conn.client_certificates = certs
            else:
                if not conn.certificates:
                    conn.certificates = certs
                if conn.handshakes:
                    conn.handshakes[-1].certificates = certs
        elif type(message) is hs.ServerKeyExchange:
            self._check_signature(side, message, ev)
            conn.server_key_exchange = message
        elif type(message) is hs.CertificateVerify:
            self._check_signature(side, message, ev)

    def _check_signature(
        self,
        side: int,
        message: hs.ServerKeyExchange | hs.CertificateVerify,
        ev: _core.ContentMessage,
    ) -> None:
        """Rebuild what the peer signed and check it with its certificate's key (``ev``: its
        bytes, the version negotiated before it, a CertificateVerify's transcript hash in
        TLS 1.3 or its handshake messages before, and the core's check when it verified)."""
        raw, version, signed = ev.raw, ev.version, ev.signed
        conn = self.conn
        assert conn is not None
        direction = self._direction(side)
        is_client = direction == C2S
        certs = conn.client_certificates if is_client else conn.current_server_certificates
        kx = isinstance(message, hs.ServerKeyExchange)
        name = "server_key_exchange" if kx else "certificate_verify"
        signature = message.signature
        if signature is None:
            return  # anonymous or PSK key exchange: nothing is signed
        scheme = message.signature_scheme
        data: bytes | None = None
        reason: str | None = None
        if kx:
            body = raw[4:]
            sig_block = (2 if scheme is not None else 0) + 2 + len(signature)
            hello, current = conn.client_hello, conn.handshakes[-1] if conn.handshakes else None
            if hello is not None and current is not None and current.server_hello is not None:
                randoms = conn.client_hellos[-1].random + current.server_hello.random
                data = randoms + body[: len(body) - sig_block]
            else:
                reason = "the hellos with the randoms it signs were not both seen"
        elif version is not None and hs.is_tls13_version(version):
            if signed is None:
                reason = self._unsigned("the transcript hash it signs is not known")
            else:
                context = proof.TLS13_CLIENT_CONTEXT if is_client else proof.TLS13_SERVER_CONTEXT
                data = proof.tls13_signed_content(context, signed)
        elif version is not None and registry.tls_base_version(version) <= 0x0300:
            reason = "SSL 3.0's CertificateVerify hashes the master secret: not checked"
        elif signed is None:
            reason = self._unsigned("the handshake messages it signs were not all seen")
        else:
            data = signed
        verified: bool | None = None
        if data is not None and not certs:
            reason = self._no_certificate(direction)
        elif data is not None and certs:
            verified, reason = proof.verify(certs[0], scheme, signature, data, ev.verified)
        described = proof.scheme_name(scheme, certs[0].der if certs else None, version)
        conn.handshake_signatures.append(
            proof.SignatureCheck(name, direction, described, verified, reason, self.frame)
        )

    def _unsigned(self, unknown: str) -> str:
        """Why what a CertificateVerify signs is ``unknown``: the first message the
        handshake lacks (skipped, lost in a gap), when one was told."""
        told = next(iter((self._missing or {}).values()), None)
        return unknown if told is None else f"{unknown}: {told[1]}"

    def _lack_told(self, ev: _core.ContentLack) -> None:
        """The current handshake lacks a message of ``ev.side`` (``_lacking_message``)."""
        self._lacking_message(self._direction(ev.side), ev.msg_type, ev.text)

    def _lacking_message(self, direction: str, msg_type: int | None, text: str) -> None:
        """The current handshake lacks a message of ``direction`` (``text``: what and why):
        kept for the signatures checked after it, the first that held a certificate, else the
        first; and said in those checked before it (over DTLS a message that never completed
        is told at the association's end, after the signature that needed its key)."""
        missing = self._missing = self._missing or {}
        kept = missing.get(direction)
        if kept is None or (kept[0] not in _CERTIFICATE_TYPES and msg_type in _CERTIFICATE_TYPES):
            missing[direction] = (msg_type, text)
        conn = self.conn
        if conn is None:
            return
        if msg_type in (hs.CLIENT_HELLO, hs.SERVER_HELLO):
            conn.hello_unread = True
        if direction == S2C and not conn.certificates and msg_type in (None, *_CERTIFICATE_TYPES):
            # The first told, but a message named goes before a gap that may have held one.
            gap = conn.chain_lack is not None and conn.chain_lack.endswith(MAY_HOLD)
            if conn.chain_lack is None or (gap and msg_type is not None):
                conn.chain_lack = text if msg_type is not None else f"{text}{MAY_HOLD}"
        signatures = conn.handshake_signatures
        unseen = _NO_CERTIFICATE[direction]
        for i, check in enumerate(signatures):
            if check.direction == direction and check.reason == unseen:
                signatures[i] = check._replace(reason=self._no_certificate(direction))

    def _no_certificate(self, direction: str) -> str:
        """Why a signature of ``direction`` has no certificate to be checked with: none was
        seen, or the message that held it was skipped or lost (a gap may have held it)."""
        msg_type, text = (self._missing or {}).get(direction, (-1, ""))
        unseen = _NO_CERTIFICATE[direction]
        if msg_type not in (None, *_CERTIFICATE_TYPES):
            return unseen
        if msg_type is None:  # a gap: what it held is not known
            return f"{unseen}, and {text}{MAY_HOLD}"
        return f"{text}; the key to check the signature with is in it"

    def _new_handshake(self) -> None:
        """A ClientHello opens a handshake, unless it answers a HelloRetryRequest."""
        conn = self.conn
        assert conn is not None
        current = conn.handshakes[-1] if conn.handshakes else None
        if current is not None and current.server_hello is None and conn.hello_retry_request:
            return  # the second ClientHello of a TLS 1.3 HelloRetryRequest exchange
        self._missing = None  # what the last handshake lacked is not this one's
        frame = self.frame  # its first frame, its ClientHello's (by position: no dict)
        conn.handshakes.append(Handshake(frame, frame))
