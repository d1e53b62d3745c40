"""What the handshake messages of one connection carry, turned into the ``Connection`` model.

Strategy: for TLS over TCP the compiled core reads the records (``_core.Content``: opening,
dispatch by content type, defragmentation, parsing, the decryptor's steps) and tls/session.py
turns its events into the model; this module holds what is model and trust, shared by every
transport: each handshake message's effect on the ``Connection`` (hellos, certificates,
signatures checked against them, tickets), the timeline's steps and findings. DTLS
(tls/dtls.py) and QUIC (quic/assembly.py) hand messages in themselves, read here with what was
negotiated so far (``_handshake_message``, ``_handshake_bytes`` for QUIC's CRYPTO streams).
"""

from __future__ import annotations

from typing import Any

from tlslens import registry
from tlslens._core import (
    MAX_HANDSHAKE_MESSAGE,
    Decryptor,
    HandshakeDefragmenter,
    OversizedMessage,
)
from tlslens.decrypt.connection import PlaintextSink, answer_rsa
from tlslens.errors import DecodeError
from tlslens.handshake import compression, sslv2
from tlslens.handshake import extensions as ext
from tlslens.handshake import messages as hs
from tlslens.keys.store import KeyStore
from tlslens.model import C2S, S2C, Connection, Finding, Handshake, TimelineEvent
from tlslens.tls import proof
from tlslens.x509.certificate import parse_certificate

MAX_TRANSCRIPT = 1 << 18  # a longer handshake is not kept for its CertificateVerify
MAX_TICKETS_KEPT = 8  # per connection, to find which one a later connection presents
# A record of whole messages of these types ends the skip of an oversized one.
HANDSHAKE_TYPES = sorted(registry.HANDSHAKE_TYPES)


class DirectionState:
    """What DTLS and QUIC keep for one direction (TCP's is the core's)."""

    __slots__ = ("defrag", "encrypted", "finished")

    def __init__(self, max_message: int = MAX_HANDSHAKE_MESSAGE) -> None:
        self.defrag = HandshakeDefragmenter(max_message, HANDSHAKE_TYPES)
        self.encrypted = False  # after this side's ChangeCipherSpec (DTLS <= 1.2)
        self.finished = False


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
    ) -> None:
        self.client_side = client_side
        self.keep_records = False  # and the bytes of each handshake message
        self.conn: Connection | None = None
        self.ctx = hs.HandshakeContext()
        self.tls13_encrypted = False  # after a TLS 1.3 ServerHello
        self.client_sent_encrypted = False
        self._pending_findings: list[Finding] = []
        self._server_flight: set[int] = set()  # server handshake types before its CCS
        self.frame = first_frame
        self.ts_ns = start_ts_ns
        # With secrets, application data bodies are read (not skipped) and opened.
        # The user's secret options, even when none is usable, make each connection say why
        # it was not decrypted.
        self.decryptor = Decryptor(keys) if keys is not None else None
        self.decrypting = self.decryptor is not None
        self.sink = sink  # each application data plaintext, in order
        self._integrity_reported: set[str] = set()
        self._transcript: bytearray | None = None  # TLS <= 1.2 handshake messages so far
        self.sslv2_encrypted = False  # after an SSL 2.0 CLIENT-MASTER-KEY
        self.max_message = MAX_HANDSHAKE_MESSAGE

    def _direction(self, side: int) -> str:
        return C2S if side == self.client_side else S2C

    def _finding(self, side: int | None, layer: str, offset: int | None, message: str) -> None:
        direction = (
            self._direction(side) if side is not None and self.client_side is not None else None
        )
        finding = Finding(self.frame, direction, layer, offset, message)
        if self.conn is not None:
            self.conn.problems.append(finding)
        else:
            self._pending_findings.append(finding)

    def _event(self, side: int, kind: str, offset: int, length: int, **kw: Any) -> TimelineEvent:
        event = TimelineEvent(
            self.frame,
            self.ts_ns,
            self._direction(side),
            kind,
            offset,
            length,
            last_frame=self.frame,
            **kw,
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
        kind = "early_data" if direction == C2S and dec.early_active else "application_data"
        self._plaintext_event(side, kind, offset, len(plaintext))

    def _plaintext_event(self, side: int, kind: str, offset: int, length: int) -> None:
        """A decrypted record's step: one more record of the step before when that is of
        the same kind and direction."""
        conn = self.conn
        assert conn is not None
        last = conn.timeline[-1] if conn.timeline else None
        if (
            last is not None
            and last.kind == kind
            and last.direction == self._direction(side)
            and last.detail.get("decrypted")
        ):
            last.records += 1
            last.length += length
            last.last_frame = self.frame
            return
        self._event(side, kind, offset, length, detail={"decrypted": True})

    def _early_data_offered(self) -> bool:
        ch = self.conn.client_hello if self.conn is not None else None
        return ch is not None and ch.extension(ext.EARLY_DATA) is not None

    def _application_data(self, side: int, st: DirectionState, offset: int, length: int) -> None:
        conn = self.conn
        assert conn is not None
        stats = conn.stats[self._direction(side)]
        stats.application_data_records += 1
        stats.application_data_bytes += length
        is_client = side == self.client_side
        kind = "application_data"
        if self.tls13_encrypted:
            if is_client and not self.client_sent_encrypted:
                self.client_sent_encrypted = True
                kind = "encrypted_handshake"
            elif not is_client and not self.client_sent_encrypted:
                kind = "encrypted_handshake"
        elif is_client and conn.server_hello is None and self._early_data_offered():
            kind = "early_data"  # TLS 1.3 0-RTT, before the ServerHello
        if kind == "encrypted_handshake":
            self._event(side, kind, offset, length)
            return
        last = conn.timeline[-1] if conn.timeline else None
        direction = self._direction(side)
        if last is not None and last.kind == kind and last.direction == direction:
            last.records += 1
            last.length += length
            last.last_frame = self.frame
            return
        self._event(side, kind, offset, length)

    # -- handshake layer ---------------------------------------------------------------
    def _handshake_bytes(
        self, side: int, st: DirectionState, body: bytes, offset: int, decrypted: bool = False
    ) -> None:
        defrag = st.defrag
        defrag.feed(offset, body)
        while (item := defrag.next_message()) is not None:
            if isinstance(item, OversizedMessage):
                self._finding(
                    side,
                    "handshake",
                    item.offset,
                    f"handshake message type {item.msg_type} claims {item.length} bytes "
                    f"(limit {item.limit}); skipped, as far as it claims or to the next record of "
                    "whole messages",
                )
                continue
            self._handshake_message(side, st, item.msg_type, item.raw, item.offset, decrypted)

    def _sslv2_client_hello(self, side: int, record: bytes, offset: int) -> None:
        try:
            message: hs.HandshakeMessage = hs.parse_sslv2_client_hello(record)
        except DecodeError as exc:
            self._finding(side, "handshake", offset, str(exc))
            return
        assert self.conn is not None
        self.conn.stats[self._direction(side)].records += 1
        self._event(
            side,
            "handshake",
            offset,
            len(record),
            message=message,
            detail={"raw": record, "sslv2": True},
        )
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
            if (
                last is not None
                and last.kind == "sslv2"
                and last.direction == direction
                and (last.detail.get("encrypted"))
            ):
                last.records += 1
                last.length += len(body)
                last.last_frame = self.frame
            else:
                self._event(side, "sslv2", offset, len(body), detail={"encrypted": True})
            return
        try:
            message = sslv2.pull_message(body)
        except DecodeError as exc:
            self._finding(side, "handshake", offset, exc.msg)
            return
        name = sslv2.SSL2_MESSAGE_NAMES.get(body[0] if body else -1, "unknown message")
        self._event(side, "sslv2", offset, len(body), detail={"message": name, "decoded": message})
        if isinstance(message, sslv2.SSLv2ServerHello):
            conn.sslv2_hello = message
            if message.certificate_type == 1 and message.certificate:
                conn.certificates = [parse_certificate(message.certificate)]
        elif isinstance(message, sslv2.SSLv2ClientMasterKey):
            conn.sslv2_master_key = message
            self.sslv2_encrypted = True  # RFC 6101 Appendix E: all that follows is encrypted

    def _handshake_message(
        self,
        side: int,
        st: DirectionState,
        msg_type: int,
        raw: bytes,
        offset: int,
        decrypted: bool = False,
    ) -> None:
        """One message of DTLS or QUIC, read with what was negotiated so far (TCP's are read
        by the core)."""
        conn = self.conn
        assert conn is not None
        flight = side != self.client_side and not st.encrypted
        try:
            message = hs.parse_message(msg_type, raw[4:], self.ctx)
        except DecodeError as exc:
            if flight:
                self._server_flight.add(msg_type)  # unreadable, but it was sent
            self._unreadable_message(side, msg_type, raw, offset, exc.msg)
            return
        ctx = self.ctx
        signed: bytes | None = None
        if isinstance(message, hs.CertificateVerify):
            signed = self._tls13_transcript_hash() if ctx.tls13 else self._signed_messages()
        self._keep_transcript(message, raw)
        if self.decryptor is not None:
            request = self.decryptor.on_message(self._direction(side), raw)
            if request is not None:
                answer_rsa(self.decryptor, request)
        if flight:
            self._server_flight.add(msg_type)
        if isinstance(message, hs.ClientHello):
            # A second ClientHello after a TLS <= 1.2 ServerHello renegotiates (RFC 5746).
            if conn.server_hello is not None and not ctx.tls13:
                conn.renegotiation = True
        elif isinstance(message, hs.ServerHello):
            self._server_context(message)
        self._message_model(side, message, raw, offset, decrypted, ctx, signed)

    def _unreadable_message(
        self, side: int, msg_type: int, raw: bytes, offset: int, error: str
    ) -> None:
        """A message whose body does not parse: a finding, and an opaque step."""
        name = registry.handshake_name(msg_type)
        self._finding(side, "handshake", offset, f"{name}: {error}")
        self._event(
            side,
            "handshake",
            offset,
            len(raw),
            message=hs.OpaqueMessage(msg_type=msg_type, body=raw[4:], malformed=error),
        )

    def _message_model(
        self,
        side: int,
        message: hs.HandshakeMessage,
        raw: bytes,
        offset: int,
        decrypted: bool,
        ctx: hs.HandshakeContext,
        signed: bytes | None,
    ) -> None:
        """What a message read (``ctx``: negotiated before it; ``signed``: a
        CertificateVerify's signed input as far as known) tells the model."""
        conn = self.conn
        assert conn is not None
        is_client = side == self.client_side
        message = compression.opened(message, ctx, self.max_message)
        if message.malformed:
            self._finding(side, "handshake", offset, message.malformed)
        if isinstance(message, hs.ClientHello | hs.ServerHello):
            crowded = ext.crowding(message.extensions, type(message).__name__)
            if crowded is not None:
                self._finding(side, "handshake", offset, crowded)
        self._event(
            side,
            "handshake",
            offset,
            len(raw),
            message=message,
            detail={"decrypted": True} if decrypted else {},
            raw=raw if self.keep_records else None,
        )
        if isinstance(message, hs.ServerKeyExchange | hs.CertificateVerify):
            self._check_signature(side, message, raw, ctx, signed)
        if isinstance(message, hs.ClientHello):
            conn.client_hellos.append(message)
            self._new_handshake()
        elif isinstance(message, hs.ServerHello):
            self._server_hello(message)
        elif (certificate := compression.certificate_of(message)) is not None:
            certs = [parse_certificate(entry.cert_data) for entry in certificate.certificate_list]
            for cert in certs:
                if cert.error and cert.subject is None:
                    self._finding(
                        side, "x509", offset, f"certificate {cert.sha256[:16]}…: {cert.error}"
                    )
            if is_client:
                conn.client_certificates = certs
            else:
                if not conn.certificates:
                    conn.certificates = certs
                if conn.handshakes:
                    conn.handshakes[-1].certificates = certs
        elif isinstance(message, hs.ServerKeyExchange):
            conn.server_key_exchange = message
        elif isinstance(message, hs.CertificateRequest):
            conn.certificate_request = True
            conn.certificate_request_message = message
        elif isinstance(message, hs.CertificateStatus):
            conn.certificate_status = message
        elif isinstance(message, hs.NewSessionTicket):
            conn.new_session_ticket = True
            if len(conn.issued_tickets) < MAX_TICKETS_KEPT:
                conn.issued_tickets.append(message.ticket)
        elif isinstance(message, hs.EncryptedExtensions):
            conn.encrypted_extensions = message

    def _keep_transcript(self, message: hs.HandshakeMessage, raw: bytes) -> None:
        """TLS <= 1.2: the handshake messages so far, which a client CertificateVerify signs."""
        if isinstance(message, hs.ClientHello):
            self._transcript = bytearray()
        if self._transcript is None or message.msg_type == hs.HELLO_REQUEST:
            return
        if self.ctx.tls13 or len(self._transcript) + len(raw) > MAX_TRANSCRIPT:
            self._transcript = None  # TLS 1.3 hashes the transcript in the decryptor
            return
        self._transcript += raw

    def _signed_messages(self) -> bytes | None:
        """TLS <= 1.2: the handshake messages a CertificateVerify signs, as they went on the
        wire (DTLS overrides it: its messages are hashed with their 12-byte headers)."""
        return None if self._transcript is None else bytes(self._transcript)

    def _tls13_transcript_hash(self) -> bytes | None:
        """TLS 1.3: the messages' hash before this one, once all read (DTLS: the core's)."""
        d = self.decryptor
        return d.transcript_hash() if d is not None and d.transcript_complete() else None

    def _check_signature(
        self,
        side: int,
        message: hs.ServerKeyExchange | hs.CertificateVerify,
        raw: bytes,
        ctx: hs.HandshakeContext,
        signed: bytes | None,
    ) -> None:
        """Rebuild what the peer signed and check it with its certificate's key (``signed``:
        a CertificateVerify's transcript hash in TLS 1.3, its handshake messages before)."""
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
        version = ctx.version
        if kx:
            body = raw[4:]
            sig_block = (2 if scheme is not None else 0) + 2 + len(signature)
            hello, current = conn.client_hello, conn.handshakes[-1] if conn.handshakes else None
            if hello is not None and current is not None and current.server_hello is not None:
                randoms = conn.client_hellos[-1].random + current.server_hello.random
                data = randoms + body[: len(body) - sig_block]
            else:
                reason = "the hellos with the randoms it signs were not both seen"
        elif ctx.tls13:
            if signed is None:
                reason = "the transcript hash it signs is not known"
            else:
                context = proof.TLS13_CLIENT_CONTEXT if is_client else proof.TLS13_SERVER_CONTEXT
                data = proof.tls13_signed_content(context, signed)
        elif version is not None and registry.tls_base_version(version) <= 0x0300:
            reason = "SSL 3.0's CertificateVerify hashes the master secret: not checked"
        elif signed is None:
            reason = "the handshake messages it signs were not all seen"
        else:
            data = signed
        verified: bool | None = None
        if data is not None and not certs:
            reason = f"no {'client' if is_client else 'server'} certificate was seen"
        elif data is not None and certs:
            verified, reason = proof.verify(certs[0].der, scheme, signature, data)
        described = proof.scheme_name(scheme, certs[0].der if certs else None, version)
        conn.handshake_signatures.append(
            proof.SignatureCheck(name, direction, described, verified, reason, self.frame)
        )

    def _new_handshake(self) -> None:
        """A ClientHello opens a handshake, unless it answers a HelloRetryRequest."""
        conn = self.conn
        assert conn is not None
        current = conn.handshakes[-1] if conn.handshakes else None
        if current is not None and current.server_hello is None and conn.hello_retry_request:
            return  # the second ClientHello of a TLS 1.3 HelloRetryRequest exchange
        conn.handshakes.append(Handshake(first_frame=self.frame, client_hello_frame=self.frame))

    def _server_context(self, message: hs.ServerHello) -> None:
        """DTLS and QUIC: what a ServerHello (or HelloRetryRequest) negotiates."""
        conn = self.conn
        assert conn is not None
        version = hs.selected_version(message)
        if message.is_hello_retry_request:
            # The HRR's supported_versions already fixes TLS 1.3; the second ClientHello
            # that follows stays plaintext.
            self.ctx = hs.HandshakeContext(version=version)
            return
        if conn.server_hello is not None:
            conn.renegotiation = True
        info = registry.CIPHER_SUITES.get(message.cipher_suite)
        self.ctx = hs.HandshakeContext(
            version=version,
            kx=info.kx if info else None,
            auth=info.auth if info else None,
        )
        if self.ctx.tls13:
            self.tls13_encrypted = True

    def _server_hello(self, message: hs.ServerHello) -> None:
        conn = self.conn
        assert conn is not None
        if message.is_hello_retry_request:
            conn.hello_retry_request = message
            return
        if conn.server_hello is None:
            conn.server_hello = message  # the top-level facts are the first handshake's
        current = conn.handshakes[-1] if conn.handshakes else None
        if current is None or current.server_hello is not None:
            current = Handshake(first_frame=self.frame)  # no ClientHello seen for this one
            conn.handshakes.append(current)
        current.server_hello, current.server_hello_frame = message, self.frame
        if not hs.is_tls13_version(hs.selected_version(message)):
            conn.handshake_visible = True
