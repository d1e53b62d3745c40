"""One TCP connection's bytes in, one TLS ``Connection`` model out.

Strategy: each direction (side 0 = the TCP initiator as far as we know, side 1 =
the other) goes through a few modes over its reassembled byte stream:

  DETECT     first bytes: a TLS record header, an SSLv2 ClientHello, or plaintext?
             (the core's detection functions, tlslens._core)
  PLAINTEXT  a STARTTLS-style prelude: keep a summary, look for the TLS start
  RECORDS    the core's record layer (_core.RecordReader) frames records, skips application
             data bodies without copying and resynchronises after gaps; what each
             record carries is handled by tls/content.py
  IGNORE     not TLS (or SSLv2 after the hello): bytes are only counted

Every malformed thing becomes a ``Finding`` with frame and byte offset, and
parsing goes on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tlslens._core import (
    BadHeader,
    Record,
    RecordReader,
    Resynchronised,
    SkippedRecord,
    find_tls_start,
    guess_client_side,
    is_sslv2_server_hello,
    looks_like,
    oversized_start,
    plausible_start,
    sslv2_client_hello_length,
    starttls_protocol,
)

if TYPE_CHECKING:
    from tlslens._core import RecordEvent
from tlslens._text import plural
from tlslens.decrypt.connection import PlaintextSink
from tlslens.handshake import messages as hs
from tlslens.handshake import sslv2
from tlslens.keys.store import KeyStore
from tlslens.model import C2S, S2C, Connection, Endpoint, Finding, Prelude, RecordInfo
from tlslens.tls import proof
from tlslens.tls.content import DirectionState, RecordContent
from tlslens.tls.defrag import MAX_HANDSHAKE_MESSAGE
from tlslens.tls.deprecated import DEPRECATED_VERSION, deprecation

MAX_PRELUDE_SCAN = 1 << 20  # plaintext bytes searched for a TLS start before giving up

_DETECT, _PLAINTEXT, _RECORDS, _IGNORE, _SSLV2 = range(5)


def _is_text(data: bytes) -> bool:
    """Do the first bytes read as a line of text (HTTP, SMTP, an error message)?"""
    head = data[:64]
    return all(32 <= b < 127 or b in (9, 10, 13) for b in head) and len(head) >= 4


class _Side(DirectionState):
    __slots__ = (
        "conflicts",
        "detect_buf",
        "detect_offset",
        "mode",
        "prelude_bytes",
        "prelude_carry",
        "reader",
    )

    def __init__(self, skip_application_data: bool, max_message: int) -> None:
        super().__init__(max_message)
        self.mode = _DETECT
        self.reader = RecordReader(skip_application_data=skip_application_data)
        self.detect_buf = bytearray()  # first bytes, until there are enough to decide
        self.detect_offset = 0
        self.prelude_bytes = 0
        self.prelude_carry = b""
        self.conflicts = 0  # later copies of TCP data that differ from the first


class TLSSession(RecordContent):
    """Feed one TCP connection's stream events; ``finish`` returns the model.

    Any exception other than those this module handles is a bug.
    """

    def __init__(
        self,
        tcp_stream: int,
        ends: tuple[Endpoint, Endpoint],
        first_frame: int,
        start_ts_ns: int,
        *,
        client_side: int | None,
        mid_stream: bool,
        file: str = "",
        keys: KeyStore | None = None,
        sink: PlaintextSink | None = None,
        keep_records: bool = False,
        max_message: int = MAX_HANDSHAKE_MESSAGE,
    ) -> None:
        super().__init__(
            client_side=client_side,
            first_frame=first_frame,
            start_ts_ns=start_ts_ns,
            keys=keys,
            sink=sink,
        )
        self.tcp_stream = tcp_stream
        self.ends = ends
        self.first_frame = first_frame
        self.start_ts_ns = start_ts_ns
        self.mid_stream = mid_stream
        self.file = file
        self.is_tls = False
        self.ignored = False
        self._prelude = Prelude()
        self.keep_records = keep_records
        self.sides = (
            _Side(not self.decrypting, max_message),
            _Side(not self.decrypting, max_message),
        )

    def _start_tls(self, side: int, looks_like: str) -> None:
        """The first TLS bytes of the connection decide who the client is."""
        if self.client_side is None:
            if looks_like == "client_hello":
                self.client_side = side
            elif looks_like == "server_hello":
                self.client_side = 1 - side
            else:
                self.client_side = guess_client_side(self.ends[0].port, self.ends[1].port)
        if self.conn is None:
            client, server = self.ends[self.client_side], self.ends[1 - self.client_side]
            self.conn = Connection(
                id=0,
                tcp_stream=self.tcp_stream,
                client=client,
                server=server,
                first_frame=self.first_frame,
                start_ts_ns=self.start_ts_ns,
                file=self.file,
            )
            for finding in self._pending_findings:
                self.conn.problems.append(
                    Finding(
                        finding.frame,
                        self._direction(side) if finding.direction is None else finding.direction,
                        finding.layer,
                        finding.offset,
                        finding.message,
                    )
                )
            self._pending_findings.clear()
            if self._prelude.c2s_bytes or self._prelude.s2c_bytes:
                self.conn.prelude = self._prelude
        self.is_tls = True

    # -- stream events -----------------------------------------------------------
    # -- stream events -----------------------------------------------------------
    def data(self, side: int, offset: int, data: bytes, frame: int, ts_ns: int) -> None:
        self.frame, self.ts_ns = frame, ts_ns
        st = self.sides[side]
        mode = st.mode
        if mode == _RECORDS:
            events = st.reader.feed(offset, data)
            if events:
                self._drain(side, st, events)
        elif mode == _IGNORE:
            if self.conn is not None:
                self.conn.stats[self._direction(side)].bytes += len(data)
        elif mode == _DETECT:
            self._detect(side, st, data, offset)
        elif mode == _SSLV2:
            self._sslv2(side, st, data, offset)
        else:
            self._plaintext(side, st, data, offset)

    def gap(self, side: int, offset: int, length: int, frame: int, ts_ns: int) -> None:
        self.frame, self.ts_ns = frame, ts_ns
        st = self.sides[side]
        if self.conn is not None:
            stats = self.conn.stats[self._direction(side)]
            stats.gaps += 1
            stats.gap_bytes += length
            self._event(side, "gap", offset, length)
        if st.mode == _RECORDS:
            if st.reader.gap(offset, length):
                return  # the hole is inside an application data body skipped anyway
            self._finding(
                side,
                "tcp",
                offset,
                f"{plural(length, 'byte')} missing from the capture; looking for the next record "
                "header",
            )
            if st.defrag.pending:
                self._finding(
                    side,
                    "handshake",
                    st.defrag.pending_offset,
                    "a handshake message lost bytes in the gap; it is dropped",
                )
                st.defrag.clear()
        elif st.mode == _DETECT and self.mid_stream is False:
            st.detect_buf.clear()
            st.reader.gap(offset, length)
            st.mode = _RECORDS

    def conflict(self, side: int, offset: int, length: int, frame: int, ts_ns: int) -> None:
        """A later TCP copy of bytes already taken differs from them (the first is kept)."""
        self.frame, self.ts_ns = frame, ts_ns
        st = self.sides[side]
        st.conflicts += 1
        if st.conflicts == 1:
            self._finding(
                side,
                "tcp",
                offset,
                f"overlapping TCP data conflicts: a later copy of these bytes differs over "
                f"{length} bytes from the first copy (a middlebox rewriting, an evasion "
                "attempt or a broken capture); the bytes seen first are kept",
            )

    def closing(self, side: int, frame: int, ts_ns: int) -> None:
        """A FIN or RST from ``side``: the first one says who ended the connection."""
        self.frame, self.ts_ns = frame, ts_ns
        conn = self.conn
        if conn is not None and conn.closed_first is None:
            conn.closed_first = self._direction(side)

    def may_give_up(self, side: int) -> bool:
        """Whether more data on ``side`` could still make this session give its flow up
        (``ignored``): only while that side is searched for a TLS start in plaintext."""
        return self.conn is None and self.sides[side].mode in (_DETECT, _PLAINTEXT)

    def abandon(self, message: str) -> None:
        """Stop parsing this connection (after a bug); its bytes are only counted from now on."""
        self._finding(None, "internal", None, message)
        for st in self.sides:
            st.mode = _IGNORE
        self.ignored = self.conn is None

    def finish(self) -> Connection | None:
        conn = self.conn
        if conn is None:
            return None
        conn.last_frame = self.frame
        conn.end_ts_ns = self.ts_ns
        for side, st in enumerate(self.sides):
            if st.mode == _RECORDS:
                self._drain(side, st, st.reader.finish())
            incomplete = st.defrag.incomplete()
            if incomplete is not None and not st.encrypted:
                msg_type, declared, present = incomplete
                self._finding(
                    side,
                    "handshake",
                    st.defrag.pending_offset,
                    f"handshake message type {msg_type} claims {plural(declared, 'byte')}, "
                    f"only {present} arrived",
                )
            if st.conflicts > 1:
                self._finding(
                    side,
                    "tcp",
                    None,
                    f"{st.conflicts} TCP segments in all carried bytes that conflict with an "
                    "earlier copy (the first is described above)",
                )
            stats = conn.stats[self._direction(side)]
            stats.bytes += st.reader.bytes
            stats.records += st.reader.records
        conn.decryption = self.decryptor
        self.note_unseen_signatures()
        _note_deprecated_version(conn)
        return conn if self.is_tls else None

    def note_unseen_signatures(self) -> None:
        """A TLS 1.3 server's CertificateVerify that stayed encrypted is listed, unchecked."""
        conn = self.conn
        if conn is None or not conn.tls13 or conn.resumed is not None:
            return
        seen = any(c.direction == S2C for c in conn.handshake_signatures)
        dec = self.decryptor
        if not seen and self.tls13_encrypted and (dec is None or not dec.transcript_complete()):
            reason = (
                "TLS 1.3 encrypts it: give the key log to check it"
                if dec is None
                else "TLS 1.3 encrypts it: the key log has no SERVER_HANDSHAKE_TRAFFIC_SECRET "
                "for this connection"
            )
            conn.handshake_signatures.append(
                proof.SignatureCheck(
                    "certificate_verify", S2C, "unknown (encrypted)", None, reason, conn.first_frame
                )
            )

    # -- detection -------------------------------------------------------------------
    def _detect(self, side: int, st: _Side, data: bytes, offset: int) -> None:
        if st.detect_buf:
            st.detect_buf += data
            data, offset = bytes(st.detect_buf), st.detect_offset
            st.detect_buf.clear()
        if len(data) < 6:
            st.detect_buf += data
            st.detect_offset = offset
            return
        length = sslv2_client_hello_length(data)
        if length is not None:
            if len(data) < length:
                st.detect_buf += data
                st.detect_offset = offset
                return
            self._start_tls(side, "client_hello")
            st.mode = _RECORDS
            self._sslv2_client_hello(side, st, data[:length], offset)
            if len(data) > length:
                self._records(side, st, data[length:], offset + length)
            return
        if self.is_tls and is_sslv2_server_hello(data):
            # SSLv2 SERVER-HELLO: from here both directions speak SSL 2.0's own records.
            assert self.conn is not None
            self.conn.sslv2_server_hello = True
            for other in self.sides:
                other.mode = _SSLV2
            self._sslv2(side, st, data, offset)
            return
        if self.is_tls and 20 <= data[0] <= 24 and data[1] == 3:
            # The other side already speaks TLS: a broken header here is reported, not
            # mistaken for a plaintext prelude.
            self._records(side, st, data, offset)
            return
        if plausible_start(data, mid_stream=self.mid_stream) or (
            not self.mid_stream and oversized_start(data)
        ):
            self._start_tls(side, looks_like(data, 0))
            self._records(side, st, data, offset)
            return
        if self.is_tls and not self.mid_stream and _is_text(data):
            # The other end opened TLS and this one answers in words: a plain-text server
            # (HTTP on the HTTPS port, a proxy's error page) that never spoke TLS.
            assert self.conn is not None
            who = "server" if side != self.client_side else "client"
            line = data.split(b"\n", 1)[0].rstrip(b"\r")[:120].decode("latin-1")
            self._finding(side, "plaintext", offset, f"the {who} answered in plaintext: {line!r}")
            self.conn.stats[self._direction(side)].bytes += len(data)
            st.mode = _IGNORE
            return
        st.mode = _PLAINTEXT
        self._plaintext(side, st, data, offset)

    def _plaintext(self, side: int, st: _Side, data: bytes, offset: int) -> None:
        from_client = side == self.client_side or (self.client_side is None and side == 0)
        carry = st.prelude_carry
        window = carry + data
        found = find_tls_start(window, from_client=from_client)
        # Only the new bytes are prelude; the carry (kept to find a header split across
        # segments) was noted with the previous chunk.
        cut = found[0] if found is not None else len(window)
        self._note_prelude(side, window[len(carry) : max(cut, len(carry))], offset)
        if found is not None:
            begin, looks = found
            self._start_tls(side, looks)
            st.prelude_carry = b""
            self._records(side, st, window[begin:], offset - len(carry) + begin)
            return
        st.prelude_carry = window[-5:]
        if st.prelude_bytes > MAX_PRELUDE_SCAN:
            st.mode = _IGNORE
            if all(s.mode in (_IGNORE, _PLAINTEXT) for s in self.sides) and not self.is_tls:
                self.ignored = all(s.mode == _IGNORE for s in self.sides) or (
                    self.sides[0].prelude_bytes + self.sides[1].prelude_bytes > 2 * MAX_PRELUDE_SCAN
                )

    def _note_prelude(self, side: int, data: bytes, offset: int) -> None:
        if not data:
            return
        self.sides[side].prelude_bytes += len(data)
        prelude = self._prelude
        direction = (
            C2S if side == (self.client_side if self.client_side is not None else 0) else S2C
        )
        prelude.add(direction, data)
        if prelude.protocol is None:
            prelude.protocol = starttls_protocol(b"".join(chunk for _d, chunk in prelude.chunks))

    # -- SSL 2.0 ------------------------------------------------------------------------
    def _sslv2(self, side: int, st: _Side, data: bytes, offset: int) -> None:
        """SSL 2.0 records (2- or 3-byte headers), each handed on whole."""
        buf = st.detect_buf  # the detection buffer, free once detection is over
        if not buf:
            st.detect_offset = offset
        buf += data
        while (header := sslv2.record_header(buf)) is not None:
            size = header[0] + header[1]
            if len(buf) < size:
                return
            body = bytes(buf[header[0] : size])
            start = st.detect_offset
            del buf[:size]
            st.detect_offset += size
            self.sslv2_record(side, body, start, size)
            if st.mode != _SSLV2:
                return

    # -- record layer ---------------------------------------------------------------
    def _records(self, side: int, st: _Side, data: bytes, offset: int) -> None:
        """Hand the rest of this direction to the record layer."""
        st.mode = _RECORDS
        self._drain(side, st, st.reader.feed(offset, data))

    def _keep_record(self, side: int, event: Record | SkippedRecord) -> None:
        conn = self.conn
        assert conn is not None
        if conn.records is None:
            conn.records = []
        length = len(event.body) if isinstance(event, Record) else event.length
        conn.records.append(
            RecordInfo(
                self.frame,
                self._direction(side),
                event.offset,
                event.content_type,
                event.version,
                length,
                self.ts_ns,
            )
        )

    def _drain(self, side: int, st: _Side, events: list[RecordEvent]) -> None:
        for event in events:
            if st.mode != _RECORDS:
                return
            if self.keep_records and isinstance(event, Record | SkippedRecord):
                self._keep_record(side, event)
            if isinstance(event, Record):
                self._record(side, st, event.content_type, event.version, event.body, event.offset)
            elif isinstance(event, SkippedRecord):
                self._application_data(side, st, event.offset, event.length)
            elif isinstance(event, BadHeader):
                self._finding(side, "record", event.offset, event.message)
            elif isinstance(event, Resynchronised):
                if self.conn is None:  # the first TLS bytes came after a hole
                    self._start_tls(side, looks_like(event.head, 0))
                if event.skipped:
                    self._finding(
                        side,
                        "record",
                        event.offset,
                        "resynchronised on a record header after skipping "
                        f"{plural(event.skipped, 'byte')}",
                    )
            else:
                self._finding(
                    side,
                    "record",
                    event.offset,
                    f"the connection ends inside a record: {event.present} of "
                    f"{event.needed} bytes present",
                )


def _note_deprecated_version(conn: Connection) -> None:
    """A retired protocol version negotiated is a problem with a name (``deprecated_version``),
    found where the server chose it."""
    why = deprecation(conn.version)
    if why is None:
        return
    hello = next(
        (
            event
            for event in conn.timeline
            if event.direction == S2C
            and (isinstance(event.message, hs.ServerHello) or event.kind == "sslv2")
        ),
        None,
    )
    conn.problems.append(
        Finding(
            hello.frame if hello else None,
            S2C,
            "handshake",
            hello.offset if hello else None,
            why,
            code=DEPRECATED_VERSION,
        )
    )
