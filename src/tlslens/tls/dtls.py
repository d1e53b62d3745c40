"""One DTLS association of a capture in, one TLS ``Connection`` model out.

Strategy: the compiled core's association (``tlslens._core.DtlsAssociation``, Rust
``dtls::Association``) reads the datagrams: records with their epochs and sequence numbers,
fragments reassembled (retransmissions told), the cookie exchange, and with a key log's
secrets the protected records opened. It hands back whole handshake messages in TLS form,
which go through the core's content layer (``_core.Content.message``: parsed with what
was negotiated, the server's context, renegotiation) and the model side (tls/content.py) as
a TCP connection's records do, so the version, SNI, ALPN, suite, certificates and outcome
are told the same way. What only DTLS has (the cookie, the records' epochs, retransmissions) is kept in
``DtlsFacts`` (tls/association_facts.py). Every malformed thing is a ``Finding`` naming the frame,
the direction and the byte offset in the datagram; reading goes on. A handshake message the
association does not hand out whole (refused, or never completed) is told as lacking: a
Finished of that handshake that does not match is then not checked, not blamed on the
secret (a transcript without the message cannot match).
"""

from __future__ import annotations

from tlslens import _core, registry
from tlslens._core import CT_ALERT, CT_APPLICATION_DATA, CT_HANDSHAKE
from tlslens.decrypt.connection import PlaintextSink
from tlslens.decrypt.suites import cipher_spec
from tlslens.errors import UnsupportedCipherError
from tlslens.events import (
    ACKEvent,
    AlertEvent,
    ApplicationDataEvent,
    ChangeCipherSpecEvent,
    EncryptedAlertEvent,
    HandshakeEvent,
    SkippedMessageEvent,
)
from tlslens.handshake import messages as hs
from tlslens.keys.store import KeyStore
from tlslens.model import C2S, S2C, Connection, Endpoint, RecordInfo
from tlslens.tls.association_facts import DtlsFacts
from tlslens.tls.content import RecordContent, message_content
from tlslens.tls.session import note_deprecated_version

DTLS13 = 0xFEFC
_UNOPENED = "does not open"  # the core's words for a record its keys do not open
TLS12, TLS13 = 0x0303, 0x0304  # the record layouts of DTLS 1.2 and 1.3 suites
# A DTLS handshake message's header: type, length, message_seq, fragment offset and length
# (RFC 6347 §4.2.2).
MESSAGE_HEADER = 12
# The key log labels a DTLS association decrypts with (DTLS 1.0/1.2, then DTLS 1.3; the
# core's DtlsKeys reads them, crates/tlslens-py/src/dtls.rs).
DTLS_LABELS = (
    "CLIENT_RANDOM",
    "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
    "SERVER_HANDSHAKE_TRAFFIC_SECRET",
    "CLIENT_TRAFFIC_SECRET_0",
    "SERVER_TRAFFIC_SECRET_0",
)


# Retransmitted handshake messages kept by frame for the ladder; the rest only counted.
MAX_RETRANSMISSIONS_KEPT = 256
# The record numbers of one ACK kept to tell (the core reads up to 1024 of them).
MAX_ACKED_KEPT = 64


_HASHES = frozenset(("SHA256", "SHA384"))  # the PRF and HKDF hashes DTLS suites use
# Suites are the same for every capture: their record layouts are made once.
_SUITES: list[tuple[int, _core.CipherSpec, str]] = []


def _suites() -> list[tuple[int, _core.CipherSpec, str]]:
    if not _SUITES:
        for code, info in registry.CIPHER_SUITES.items():
            try:
                spec = cipher_spec(info, TLS13 if info.tls13 else TLS12)
            except UnsupportedCipherError:
                continue  # the association says so when a connection negotiates one
            if info.prf_hash in _HASHES:
                _SUITES.append((code, spec, info.prf_hash))
    return _SUITES


def dtls_keys(keys: KeyStore) -> _core.DtlsKeys:
    """The key log's DTLS secrets for the core's associations (read by the core, each with
    where it came from: the source of the keys derived from it)."""
    return _core.DtlsKeys(keys.keylog, _suites())


def _multiplexed(first: int) -> bool:
    """RFC 7983 §7: a first byte of 0-3 (STUN), 16-19 (ZRTP), 64-79 (TURN channel) or
    128-191 (RTP, RTCP) is not DTLS (whose content types are 20-63)."""
    return first <= 3 or 16 <= first <= 19 or 64 <= first <= 79 or 128 <= first <= 191


class DtlsSession(RecordContent):
    """One DTLS association's datagrams (``datagram``) in capture order; ``finish`` returns
    the model. Any exception other than those this module handles is a bug."""

    def __init__(
        self,
        flow: int,
        ends: tuple[Endpoint, Endpoint],
        first_frame: int,
        start_ts_ns: int,
        *,
        file: str = "",
        keys: _core.DtlsKeys | None = None,
        store: KeyStore | None = None,
        sink: PlaintextSink | None = None,
        keep_records: bool = False,
        max_message: int = _core.MAX_HANDSHAKE_MESSAGE,
        pool: _core.DtlsPool | None = None,
    ) -> None:
        super().__init__(
            client_side=0,
            first_frame=first_frame,
            start_ts_ns=start_ts_ns,
            keys=None,  # the core's association opens the records
            sink=None,
        )
        # ``pool``: what incomplete messages hold, bounded across the capture's associations.
        self.core = _core.DtlsAssociation(keys, max_message, pool)
        self.keep_records = keep_records
        self.plaintext_sink = sink
        self.ends = ends
        # The core's content layer reads the association's whole messages (no decryptor:
        # the association opens the records) and classifies the records it left sealed.
        self.content = message_content(max_message, keep_records=keep_records)
        other = store is not None and bool(store.rsa_keys or store.psk)
        self.facts = DtlsFacts(
            keys_given=keys is not None or other,
            other_secrets=other,
            keylog=None if store is None else store.keylog,
        )
        # The current handshake lacks a message (what and why: the first told), and the
        # message_seq of each side's Finished read in it: a Finished that does not match
        # is then no verdict on the secret.
        self._lacking: str | None = None
        self._finished_seq: dict[str, int | None] = {C2S: None, S2C: None}
        self._retry = False  # the server's latest hello is a HelloRetryRequest
        # What the CertificateVerify being read signs, as the association's transcript
        # tells it: DTLS 1.3's transcript hash, or before, the handshake messages.
        self._signed: bytes | None = None
        self.store = store
        self.client_flow_side: int | None = None  # which side of the flow is the client
        self.record_offset = [0, 0]  # of the latest record per side, for its messages
        self.broken = False
        self.unlisted = False  # past MAX_RECORDS_LISTED (said once)
        self.conn = Connection(
            id=0,
            tcp_stream=flow,
            client=ends[0],
            server=ends[1],
            first_frame=first_frame,
            start_ts_ns=start_ts_ns,
            file=file,
            transport="dtls",
        )

    def datagram(self, side: int, frame: int, ts_ns: int, data: bytes) -> None:
        """A datagram from ``side`` of the UDP flow (0: its first sender)."""
        self.frame, self.ts_ns = frame, ts_ns
        if self.broken:
            return
        if data and _multiplexed(data[0]):
            self.facts.multiplexed += 1
            return
        try:
            events = self.core.feed(frame, side, data)
        except ValueError as exc:
            self._broken(exc)
            return
        if self.client_flow_side is None:
            directed = next((e for e in events if e.from_client is not None), None)
            if directed is not None:
                self._learn_client(side if directed.from_client else 1 - side)
        for ev in events:
            self._take(ev)

    def finish(self) -> Connection:
        """The model, at the association's end."""
        if not self.broken:
            try:
                for ev in self.core.finish(self.frame):
                    self._take(ev)
            except ValueError as exc:
                self._broken(exc)
        conn = self.conn
        assert conn is not None
        conn.last_frame = self.frame
        conn.end_ts_ns = self.ts_ns
        conn.dtls = self.facts
        self.facts.derivations = self.core.derivations
        self.facts.hellos_missing = bool(
            self.facts.unified_headers and conn.client_hello is None and conn.server_hello is None
        )
        conn.renegotiation = conn.renegotiation or self.content.renegotiation
        self.add_counts(self.content.counts)  # of the records whose body was not read
        note_deprecated_version(conn)
        return conn

    def _broken(self, exc: ValueError) -> None:
        self.abandon(f"internal error in the core DTLS association ({exc})")

    def abandon(self, why: str) -> None:
        """Stop reading this association after a bug: a finding says why; the connection
        is reported as it stood."""
        self.broken = True
        self._finding(None, "internal", None, f"{why}; this connection is not parsed further")

    def _learn_client(self, client_flow_side: int) -> None:
        """The association told which side is the client: the first datagram's sender
        unless the capture began with the server's flight."""
        self.client_flow_side = client_flow_side
        conn = self.conn
        assert conn is not None
        if client_flow_side == 1:
            conn.client, conn.server = self.ends[1], self.ends[0]

    # -- the core's events -------------------------------------------------------------
    def _take(self, ev: _core.DtlsEvent) -> None:
        self.frame = ev.frame
        side = 0 if ev.from_client in (True, None) else 1
        kind = ev.kind
        if kind == "record":
            self._dtls_record(side, ev)
        elif kind == "message":
            # Read first: a CertificateVerify signs the messages before it, not itself.
            if ev.msg_type != hs.CLIENT_HELLO:  # read from its cookie-less TLS form
                self._message(side, ev.msg_type, ev.data, decrypted=ev.epoch > 0)
            self._handshake_turn(side, ev)
            self._fragments(side, ev.fragments)
        elif kind == "client_hello":
            # A renegotiation's comes in the epoch the previous handshake opened.
            self._message(0, hs.CLIENT_HELLO, ev.data, decrypted=ev.epoch > 0)
            self.facts.hello_lacking = None
            self._look_up_secrets()
        elif kind == "negotiated":
            if ev.client_cid is not None and ev.server_cid is not None:
                # A record carries the ID its receiver asked for (RFC 9146 §3).
                self.facts.connection_ids = {C2S: ev.server_cid, S2C: ev.client_cid}
        elif kind == "hello_verify_request":
            self.facts.cookie_frame = ev.frame
            self.facts.cookie_length = len(ev.cookie or b"")
        elif kind == "retransmission":
            self.facts.retransmissions[self._direction(side)] += 1
            if len(self.facts.retransmitted) < MAX_RETRANSMISSIONS_KEPT:
                self.facts.retransmitted.append((ev.frame, self._direction(side), ev.msg_type))
        elif kind == "transcript":
            # Told just before the message it is about: what this CertificateVerify signs,
            # nothing for any other (a check against an earlier message's would pass a
            # replayed signature).
            self._signed = ev.data if ev.msg_type == hs.CERTIFICATE_VERIFY else None
            if ev.msg_type == hs.FINISHED and ev.verified is not None:
                self._finished_verdict(side, ev.verified)
        elif kind == "hello_random":
            assert ev.data is not None  # the core's random, 32 bytes
            self.facts.hello_random = ev.data
            self._look_up_secrets()
        elif kind == "lacking":
            self._lacks(side, ev)
        elif kind == "skipped_message":
            length = MESSAGE_HEADER + ev.length  # as its header claims it
            self._event(
                SkippedMessageEvent, side, ev.offset, length, ev.msg_type, ev.length, ev.limit
            )
        elif kind == "ack":
            self._ack(side, ev.acks)
        elif kind == "change_cipher_spec":
            self._change_cipher_spec(side)
        elif kind == "alert":
            offset = self.record_offset[side]
            self._event(AlertEvent, side, offset, 2, level=ev.level, description=ev.description)
        elif kind == "application_data":
            self._application_plaintext(side, ev.data or b"")
        elif kind == "finding":
            if _UNOPENED in ev.text:
                self.facts.records_failed[self._direction(side)] += 1
            self._finding(side, "dtls", ev.offset, ev.text)

    def _dtls_record(self, side: int, ev: _core.DtlsEvent) -> None:
        direction = self._direction(side)
        facts = self.facts
        self.record_offset[side] = ev.offset
        facts.records[direction] += 1
        if ev.unified:
            facts.unified_headers += 1
        if ev.epoch not in facts.epochs[direction]:
            facts.epochs[direction].append(ev.epoch)
        conn = self.conn
        assert conn is not None
        stats = conn.stats[direction]
        stats.records += 1
        stats.bytes += ev.length
        if ev.decrypted:
            facts.records_decrypted[direction] += 1
        if self.keep_records and self._listing(side, ev.offset):
            if conn.records is None:
                conn.records = []
            conn.records.append(
                RecordInfo(
                    self.frame,
                    direction,
                    ev.offset,
                    ev.content_type if ev.content_type is not None else CT_APPLICATION_DATA,
                    ev.version if ev.version is not None else DTLS13,
                    ev.length,
                    self.ts_ns,
                    epoch=ev.epoch,
                    # A DTLS 1.3 record number stays encrypted until a key opens it (RFC
                    # 9147 §4.2.3): unknown then, not the masked bits.
                    seq=ev.seq if ev.decrypted or not ev.unified else None,
                    cid=ev.cid or None,
                    # Told where the header hides it: a tls12_cid record's, DTLS 1.3's.
                    inner_type=ev.inner_type if ev.inner_type != ev.content_type else None,
                )
            )
        if ev.decrypted or (ev.epoch == 0 and not ev.unified):
            return  # its content comes as its own events
        ctype = ev.content_type
        at = (self.frame, self.ts_ns)
        # DTLS 1.3's epoch 2 is the handshake's (RFC 9147 §6.1): unread, its records are the
        # encrypted handshake, not application data (epoch 3 and on). Told by the core, so
        # that it knows the client's flight went by: the application epoch's first records
        # were the "encrypted handshake" of TLS 1.3 over TCP, which has no epochs.
        if ctype == CT_HANDSHAKE or (ev.unified and ev.epoch == 2):
            self._content_events(self.content.sealed_handshake(side, ev.offset, ev.length, at=at))
        elif ctype == CT_ALERT:
            self._event(EncryptedAlertEvent, side, ev.offset, ev.length)
        else:  # application data, or a DTLS 1.3 record whose type is encrypted too
            self._content_events(self.content.skipped(side, ev.offset, ev.length, at=at))

    def _listing(self, side: int, offset: int) -> bool:
        """Whether this record's header is listed for --records: past the core's bound
        for a connection, they are counted only, said once (as over TCP)."""
        conn = self.conn
        assert conn is not None
        listed = len(conn.records or ())
        if listed < _core.MAX_RECORDS_LISTED:
            return True
        if not self.unlisted:
            self.unlisted = True
            self._finding(
                side,
                "record",
                offset,
                "records from this one on are counted, not listed: --records lists "
                f"{_core.MAX_RECORDS_LISTED:,} a connection",
            )
        return False

    def _ack(self, side: int, numbers: list[tuple[int, int]]) -> None:
        """A DTLS 1.3 ACK (RFC 9147 §7): counted, a step of the story, and the numbers it
        lists kept on its record (the one just read) for ``--records``."""
        self.facts.acks[self._direction(side)] += 1
        kept = tuple(numbers[:MAX_ACKED_KEPT])
        offset = self.record_offset[side]
        # its length: the ACK's body, a 2-byte list length and 16 bytes per record number
        length = 2 + 16 * len(numbers)
        self._event(ACKEvent, side, offset, length, acked=kept, count=len(numbers))
        records = self.conn.records if self.conn is not None else None
        if records and (records[-1].frame, records[-1].offset) == (self.frame, offset):
            records[-1] = records[-1]._replace(acked=kept)

    def _message(self, side: int, msg_type: int, raw: bytes | None, *, decrypted: bool) -> None:
        if raw is None:
            return
        if decrypted:
            self.facts.opened.add(("handshake", self._direction(side)))
        # The association keeps the handshake hash: what a CertificateVerify signs is its
        # DTLS 1.3 transcript hash (RFC 9147 §5.2) or, before, the DTLS-form messages.
        signed13 = signed_messages = None
        # A handshake lacking a message: what a CertificateVerify signs is not known.
        if msg_type == hs.CERTIFICATE_VERIFY and self._lacking is None:
            if self.conn is not None and self.conn.tls13:
                signed13 = self._signed
            else:
                signed_messages = self._signed
        self._signed = None  # (the transcript tells it again before the next)
        events = self.content.message(
            side,
            raw,
            self.record_offset[side],
            decrypted,
            at=(self.frame, self.ts_ns),
            keeps_transcript=True,
            signed13=signed13,
            signed_messages=signed_messages,
        )
        self._content_events(events)

    def _new_handshake(self) -> None:
        """A ClientHello opens a handshake, unless it answers a HelloVerifyRequest (RFC 6347
        §4.2.1: the same handshake, with the cookie)."""
        conn = self.conn
        assert conn is not None
        current = conn.handshakes[-1] if conn.handshakes else None
        if current is not None and current.server_hello is None and self.facts.cookie_frame:
            return
        super()._new_handshake()

    def _handshake_turn(self, side: int, ev: _core.DtlsEvent) -> None:
        """Where the handshake stands for its Finished checks: a ClientHello begins a new
        transcript, unless it answers a HelloRetryRequest (DTLS 1.3 hashes the first one
        too, RFC 8446 §4.4.1). One answering a HelloVerifyRequest begins it anew, as the
        first ClientHello and the HelloVerifyRequest are not hashed (RFC 6347 §4.2.6). A
        Finished's message_seq tells the messages its side sent after it."""
        if ev.msg_type == hs.CLIENT_HELLO and ev.from_client:
            self._client_hello_turn()
        elif ev.msg_type == hs.SERVER_HELLO and not ev.from_client:
            last = self.conn.timeline[-1] if self.conn is not None and self.conn.timeline else None
            self._retry = (
                isinstance(last, HandshakeEvent)
                and isinstance(last.message, hs.ServerHello)
                and last.message.is_hello_retry_request
            )
        elif ev.msg_type == hs.FINISHED:
            direction = self._direction(side)
            self._finished_seq[direction] = ev.message_seq
            facts = self.facts
            opened = ("handshake", direction) in facts.opened
            handshake = self._handshake_number()
            verdict = facts.finished_of(direction, handshake)
            if opened and self._lacking is not None and (verdict is None or verdict[1] is None):
                # Read, and not checked at all (the transcript given up past its bound).
                facts.finished_verdict(direction, handshake, None, self._lacking)

    def _client_hello_turn(self) -> None:
        """A ClientHello, read or lacking: the same handshake after a HelloRetryRequest, a
        new one (nothing lacking yet, no Finished read) otherwise."""
        if self._retry:
            self._retry = False
            return
        self._lacking = None
        self._missing = None  # (RecordContent's: for the signatures)
        self._finished_seq = {C2S: None, S2C: None}

    def _lacks(self, side: int, ev: _core.DtlsEvent) -> None:
        """A message of the handshake tlslens does not have (``ev.text``: what and why).
        Until the next handshake a Finished that does not match is no verdict, and one told
        already is taken back: a message that never completed is told at the end. A message
        a side sends after its own Finished is in none of the handshake's Finished."""
        direction = self._direction(side)
        if ev.from_client and ev.msg_type == hs.CLIENT_HELLO:
            self._client_hello_turn()
            unread = self.conn is not None and self.conn.client_hello is None
            if unread and self.facts.hello_lacking is None:
                self.facts.hello_lacking = ev.text
        else:
            own = self._finished_seq[direction]
            if own is not None and ev.message_seq > own:
                return
        if self._lacking is None:
            self._lacking = ev.text
        self._lacking_message(direction, ev.msg_type, ev.text)
        facts, handshake = self.facts, self._handshake_number()
        for finished, seq in self._finished_seq.items():
            verdict = facts.finished_of(finished, handshake)
            if seq is not None and verdict is not None and verdict[1] is False:
                facts.finished_verdict(finished, handshake, None, self._lacking)

    def _handshake_number(self) -> int:
        """The current handshake's: 0 the first, then each renegotiation (a ClientHello
        answering a HelloVerifyRequest is the same handshake: ``_new_handshake``)."""
        return max(len(self.conn.handshakes) - 1, 0) if self.conn is not None else 0

    def _finished_verdict(self, side: int, matches: bool) -> None:
        """A Finished recomputed: one that does not match a handshake lacking a message is
        no verdict (why is kept); one that matches counts (a match proves the transcript
        whole)."""
        direction = self._direction(side)
        unchecked = None if matches else self._lacking
        verified = matches if unchecked is None else None
        self.facts.finished_verdict(direction, self._handshake_number(), verified, unchecked)

    def _look_up_secrets(self) -> None:
        """Whether the key log holds a secret for the first ClientHello's random, and
        where it came from."""
        conn, store, facts = self.conn, self.store, self.facts
        if store is None or conn is None or facts.known:
            return
        if conn.client_hello is not None:
            random = conn.client_hello.random
            facts.hello_random = None  # read whole: nothing to say of where it came from
        elif facts.hello_random is not None:  # the ClientHello skipped: its first bytes'
            random = facts.hello_random
        else:
            return
        label = next((lb for lb in DTLS_LABELS if store.keylog.get(lb, random)), None)
        if label is not None:
            facts.known = True
            facts.source = store.keylog.origin(label, random)

    def _fragments(self, side: int, fragments: int) -> None:
        """A message reassembled from several fragments: counted, and said on its step."""
        conn = self.conn
        if fragments < 2 or conn is None:
            return
        direction = self._direction(side)
        self.facts.fragmented[direction] += 1
        self.facts.fragments[direction] += fragments
        last = conn.timeline[-1] if conn.timeline else None
        if isinstance(last, HandshakeEvent) and last.direction == direction:
            last.fragments = fragments

    def _change_cipher_spec(self, side: int) -> None:
        self._event(ChangeCipherSpecEvent, side, self.record_offset[side], 1)

    def _application_plaintext(self, side: int, plaintext: bytes) -> None:
        conn = self.conn
        assert conn is not None
        direction = self._direction(side)
        stats = conn.stats[direction]
        stats.application_data_records += 1
        stats.application_data_bytes += len(plaintext)
        facts = self.facts
        facts.opened.add(("application_data", direction))
        facts.plaintext[direction].update(plaintext)
        facts.plaintext_bytes[direction] += len(plaintext)
        if self.plaintext_sink is not None:
            self.plaintext_sink(direction, plaintext)
        self._plaintext_event(side, ApplicationDataEvent, self.record_offset[side], len(plaintext))
