"""One TCP connection's bytes in, one TLS ``Connection`` model out.

Strategy: each direction (side 0 = the TCP initiator as far as we know, side 1 =
the other) runs a small state machine over its reassembled byte stream:

  DETECT     first bytes: a TLS record header, an SSLv2 ClientHello, or plaintext?
  PLAINTEXT  a STARTTLS-style prelude: keep a summary, look for the TLS start
  RECORDS    walk record headers; handshake/alert/CCS bodies are collected,
             application data bodies are skipped without copying
  RESYNC     after a gap or a malformed header: find the next plausible header
  IGNORE     not TLS (or SSLv2 after the hello): bytes are only counted

Handshake bytes of each direction are defragmented into messages (which may span
records) and parsed with what was negotiated so far. Every malformed thing
becomes a ``Finding`` with frame and byte offset, and parsing goes on.
"""

from __future__ import annotations

import re

from tlslens import registry
from tlslens.decrypt.decryptor import ConnectionDecryptor, PlaintextSink
from tlslens.errors import DecodeError, DecryptError
from tlslens.handshake import extensions as ext
from tlslens.handshake import messages as hs
from tlslens.keys.store import KeyStore
from tlslens.model import (
    C2S,
    S2C,
    Connection,
    DirectionStats,
    Endpoint,
    Finding,
    Prelude,
    TimelineEvent,
)
from tlslens.x509.certificate import parse_certificate

MAX_RECORD = 16384 + 2048  # RFC 5246 §6.2.3: TLSCiphertext.length
MAX_HANDSHAKE_MESSAGE = 1 << 21
MAX_PRELUDE_SCAN = 1 << 20  # plaintext bytes searched for a TLS start before giving up
RESYNC_WINDOW = 1 << 16

_DETECT, _PLAINTEXT, _RECORDS, _RESYNC, _IGNORE = range(5)

CT_CHANGE_CIPHER_SPEC = 20
CT_ALERT = 21
CT_HANDSHAKE = 22
CT_APPLICATION_DATA = 23
CT_HEARTBEAT = 24

_CLIENT_ONLY = {hs.CLIENT_HELLO, hs.CLIENT_KEY_EXCHANGE}
_SERVER_ONLY = {
    hs.SERVER_HELLO,
    hs.NEW_SESSION_TICKET,
    hs.ENCRYPTED_EXTENSIONS,
    hs.SERVER_KEY_EXCHANGE,
    hs.CERTIFICATE_REQUEST,
    hs.SERVER_HELLO_DONE,
    hs.CERTIFICATE_STATUS,
}
TLS13_VERSION = 0x0304
# Ports where the server side of a connection picked up mid-stream is obvious.
_TLS_PORTS = {
    443,
    465,
    563,
    636,
    853,
    989,
    990,
    992,
    993,
    994,
    995,
    5061,
    5223,
    5671,
    8443,
    8883,
    9443,
}

_MAC_SIZES = {"MD5": 16, "SHA": 20, "SHA256": 32, "SHA384": 48}

_HEADER_RE = re.compile(rb"[\x14-\x18]\x03[\x00-\x04]", re.S)
_CLIENT_START_RE = re.compile(rb"\x16\x03[\x00-\x04]..\x01", re.S)
_SERVER_START_RE = re.compile(rb"\x16\x03[\x00-\x04]..\x02|\x15\x03[\x00-\x04]\x00\x02", re.S)

# What a plaintext prelude says about the protocol that upgraded to TLS.
_STARTTLS_HINTS: tuple[tuple[bytes, str], ...] = (
    (b"\x00\x00\x00\x08\x04\xd2\x16\x2f", "PostgreSQL SSLRequest"),
    (b"1.3.6.1.4.1.1466.20037", "LDAP StartTLS"),
    (b"<starttls", "XMPP STARTTLS"),
    (b"ESMTP", "SMTP STARTTLS"),
    (b"EHLO", "SMTP STARTTLS"),
    (b"IMAP4", "IMAP STARTTLS"),
    (b"+OK", "POP3 STLS"),
    (b"NNTP", "NNTP STARTTLS"),
    (b"STARTTLS", "STARTTLS"),
    (b"STLS", "POP3 STLS"),
    (b"AUTH TLS", "FTP AUTH TLS"),
    (b"AUTH SSL", "FTP AUTH SSL"),
    (b"mysql_native_password", "MySQL SSL request"),
    (b"caching_sha2_password", "MySQL SSL request"),
)


def _guess_client_side(ends: tuple[Endpoint, Endpoint]) -> int:
    """Without a SYN or a hello, the well-known (or lower, privileged) port is the server."""
    p0, p1 = ends[0].port, ends[1].port
    if p1 in _TLS_PORTS and p0 not in _TLS_PORTS:
        return 0
    if p0 in _TLS_PORTS and p1 not in _TLS_PORTS:
        return 1
    if p0 < 1024 <= p1:
        return 1
    return 0


def _looks_like(data: bytes, at: int) -> str:
    """Which end sends a record that starts at ``at``, judging by its first message."""
    if len(data) > at + 5 and data[at] == CT_HANDSHAKE:
        if data[at + 5] in _CLIENT_ONLY:
            return "client_hello"
        if data[at + 5] in _SERVER_ONLY:
            return "server_hello"
    return "other"


class _Side:
    __slots__ = (
        "encrypted",
        "finished",
        "hs_buf",
        "hs_offset",
        "mac_size",
        "mode",
        "need",
        "pend",
        "pend_offset",
        "prelude_bytes",
        "prelude_carry",
        "skip",
        "stats",
    )

    def __init__(self) -> None:
        self.mode = _DETECT
        self.pend = bytearray()  # bytes of an incomplete record (or detection/resync window)
        self.pend_offset = 0  # stream offset of pend[0]
        self.need = 0
        self.skip = 0  # bytes of a skipped application-data body still to come
        self.hs_buf = bytearray()
        self.hs_offset = 0
        self.encrypted = False  # after this side's ChangeCipherSpec (TLS <= 1.2)
        self.mac_size: int | None = None  # set when the cipher is NULL: records stay readable
        self.finished = False
        self.prelude_bytes = 0
        self.prelude_carry = b""
        self.stats: DirectionStats | None = None  # the connection's counters, once known


class TLSSession:
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
    ) -> None:
        self.tcp_stream = tcp_stream
        self.ends = ends
        self.first_frame = first_frame
        self.start_ts_ns = start_ts_ns
        self.client_side = client_side
        self.mid_stream = mid_stream
        self.file = file
        self.sides = (_Side(), _Side())
        self.conn: Connection | None = None
        self.is_tls = False
        self.ignored = False
        self.ctx = hs.HandshakeContext()
        self.tls13_encrypted = False  # after a TLS 1.3 ServerHello
        self.client_sent_encrypted = False
        self._prelude = Prelude()
        self._pending_findings: list[Finding] = []
        self._server_flight: set[int] = set()  # server handshake types before its CCS
        self.frame = first_frame
        self.ts_ns = start_ts_ns
        # With secrets, application data bodies are read (not skipped) and opened.
        self.decryptor = ConnectionDecryptor(keys, sink) if keys else None
        self.decrypting = self.decryptor is not None
        self._integrity_reported: set[str] = set()

    # -- helpers ---------------------------------------------------------------
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

    def _event(self, side: int, kind: str, offset: int, length: int, **kw: object) -> TimelineEvent:
        event = TimelineEvent(
            self.frame,
            self.ts_ns,
            self._direction(side),
            kind,
            offset,
            length,
            last_frame=self.frame,
        )
        for key, value in kw.items():
            setattr(event, key, value)
        assert self.conn is not None
        self.conn.timeline.append(event)
        return event

    def _start_tls(self, side: int, looks_like: str) -> None:
        """The first TLS bytes of the connection decide who the client is."""
        if self.client_side is None:
            if looks_like == "client_hello":
                self.client_side = side
            elif looks_like == "server_hello":
                self.client_side = 1 - side
            else:
                self.client_side = _guess_client_side(self.ends)
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
    def data(self, side: int, offset: int, data: bytes, frame: int, ts_ns: int) -> None:
        self.frame, self.ts_ns = frame, ts_ns
        st = self.sides[side]
        mode = st.mode
        if mode == _RECORDS:
            # Most segments only continue a record: skip its body, or add to it.
            stats = st.stats
            n = len(data)
            if stats is not None:
                if st.skip >= n:
                    st.skip -= n
                    stats.bytes += n
                    return
                pend = st.pend
                if pend and len(pend) + n < st.need:
                    pend += data
                    stats.bytes += n
                    return
            self._records(side, st, data, offset)
        elif mode == _IGNORE:
            if self.conn is not None:
                self.conn.stats[self._direction(side)].bytes += len(data)
        elif mode == _DETECT:
            self._detect(side, st, data, offset)
        elif mode == _PLAINTEXT:
            self._plaintext(side, st, data, offset)
        else:
            self._resync(side, st, data, offset)

    def gap(self, side: int, offset: int, length: int, frame: int, ts_ns: int) -> None:
        self.frame, self.ts_ns = frame, ts_ns
        st = self.sides[side]
        if self.conn is not None:
            stats = self.conn.stats[self._direction(side)]
            stats.gaps += 1
            stats.gap_bytes += length
            self._event(side, "gap", offset, length)
        if st.mode == _RECORDS and st.skip >= length and not st.pend:
            # The hole is inside an application data body we skip anyway.
            st.skip -= length
            return
        if st.mode in (_RECORDS, _RESYNC):
            self._finding(
                side,
                "tcp",
                offset,
                f"{length} bytes missing from the capture; looking for the next record header",
            )
            if st.hs_buf:
                self._finding(
                    side,
                    "handshake",
                    st.hs_offset,
                    "a handshake message lost bytes in the gap; it is dropped",
                )
                st.hs_buf.clear()
            st.mode = _RESYNC
            st.pend.clear()
            st.skip = 0
            st.pend_offset = offset + length
        elif st.mode == _DETECT and self.mid_stream is False:
            st.mode = _RESYNC
            st.pend.clear()
            st.pend_offset = offset + length

    def abandon(self, message: str) -> None:
        """Stop parsing this connection (after a bug); its bytes are only counted from now on."""
        self._finding(None, "internal", None, message)
        for st in self.sides:
            st.mode = _IGNORE
        self.ignored = self.conn is None

    def finish(self) -> Connection | None:
        if self.conn is not None:
            self.conn.last_frame = self.frame
            self.conn.end_ts_ns = self.ts_ns
        for side, st in enumerate(self.sides):
            if self.conn is None:
                break
            if st.mode == _RESYNC and st.pend:
                self._resync(side, st, b"", st.pend_offset + len(st.pend), final=True)
            if st.mode == _RECORDS and st.pend:
                self._finding(
                    side,
                    "record",
                    st.pend_offset,
                    f"the connection ends inside a record: {len(st.pend)} of {st.need} bytes present",
                )
            if st.hs_buf and not st.encrypted:
                declared = int.from_bytes(st.hs_buf[1:4], "big") if len(st.hs_buf) >= 4 else 0
                self._finding(
                    side,
                    "handshake",
                    st.hs_offset,
                    f"handshake message type {st.hs_buf[0]} claims {declared} bytes, "
                    f"only {len(st.hs_buf) - 4} arrived",
                )
        if self.conn is not None:
            self.conn.decryption = self.decryptor
        return self.conn if self.is_tls else None

    # -- detection -------------------------------------------------------------------
    def _detect(self, side: int, st: _Side, data: bytes, offset: int) -> None:
        if st.pend:
            st.pend += data
            data, offset = bytes(st.pend), st.pend_offset
            st.pend.clear()
        if len(data) < 6:
            st.pend += data
            st.pend_offset = offset
            return
        b0 = data[0]
        if b0 & 0x80 and data[2] == 1 and data[3] in (0, 2, 3):
            # SSLv2-compatible ClientHello (RFC 5246 Appendix E.2)
            length = ((b0 & 0x7F) << 8) | data[1]
            if len(data) < 2 + length:
                st.pend += data
                st.pend_offset = offset
                return
            self._start_tls(side, "client_hello")
            st.mode = _RECORDS
            self._sslv2_client_hello(side, st, data[: 2 + length], offset)
            if len(data) > 2 + length:
                self._records(side, st, data[2 + length :], offset + 2 + length)
            return
        if b0 & 0x80 and data[2] == 4 and self.is_tls:
            # SSLv2 SERVER-HELLO: the rest of this connection is SSLv2, which we do not decode.
            assert self.conn is not None
            self.conn.sslv2_server_hello = True
            self._event(side, "sslv2", offset, len(data), detail={"message": "server_hello"})
            for other in self.sides:
                other.mode = _IGNORE
            return
        if self.is_tls and 20 <= b0 <= 24 and data[1] == 3:
            # The other side already speaks TLS: a broken header here is reported, not
            # mistaken for a plaintext prelude.
            st.mode = _RECORDS
            self._records(side, st, data, offset)
            return
        if self._plausible_start(data, side):
            self._start_tls(side, _looks_like(data, 0))
            st.mode = _RECORDS
            self._records(side, st, data, offset)
            return
        st.mode = _PLAINTEXT
        self._plaintext(side, st, data, offset)

    def _plausible_start(self, data: bytes, side: int) -> bool:
        ctype = data[0]
        if data[1] != 3 or data[2] > 4:
            return False
        length = (data[3] << 8) | data[4]
        if length == 0 or length > MAX_RECORD:
            return False
        if ctype == CT_HANDSHAKE:
            return data[5] in registry.HANDSHAKE_TYPES
        if ctype == CT_ALERT:
            return (length == 2 and data[5] in (1, 2)) or length > 2
        # Mid-stream pickups start with any record type.
        return self.mid_stream and ctype in (
            CT_CHANGE_CIPHER_SPEC,
            CT_APPLICATION_DATA,
            CT_HEARTBEAT,
        )

    def _plaintext(self, side: int, st: _Side, data: bytes, offset: int) -> None:
        pattern = (
            _CLIENT_START_RE
            if side == self.client_side or (self.client_side is None and side == 0)
            else _SERVER_START_RE
        )
        carry = st.prelude_carry
        window = carry + data
        match = pattern.search(window)
        while match is not None:
            start = match.start()
            length = (window[start + 3] << 8) | window[start + 4]
            if 0 < length <= MAX_RECORD:
                break
            match = pattern.search(window, start + 1)
        # Only the new bytes are prelude; the carry (kept to find a header split across
        # segments) was noted with the previous chunk.
        cut = match.start() if match else len(window)
        self._note_prelude(side, window[len(carry) : max(cut, len(carry))], offset)
        if match is not None:
            begin = match.start()
            tls_offset = offset - len(carry) + begin
            looks = "client_hello" if window[begin + 5] == hs.CLIENT_HELLO else "server_hello"
            if window[begin] == CT_ALERT:
                looks = "other"
            self._start_tls(side, looks)
            st.mode = _RECORDS
            st.prelude_carry = b""
            self._records(side, st, window[begin:], tls_offset)
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
            head = b"".join(chunk for _d, chunk in prelude.chunks)
            for needle, name in _STARTTLS_HINTS:
                if needle in head:
                    prelude.protocol = name
                    break

    # -- record layer ---------------------------------------------------------------
    def _records(self, side: int, st: _Side, data: bytes, offset: int) -> None:
        stats = st.stats
        if stats is None:
            assert self.conn is not None
            stats = st.stats = self.conn.stats[self._direction(side)]
        stats.bytes += len(data)
        if st.skip:
            n = len(data)
            if st.skip >= n:
                st.skip -= n
                return
            data = data[st.skip :]
            offset += st.skip
            st.skip = 0
        if st.pend:
            st.pend += data
            if len(st.pend) < st.need:
                return
            data, offset = bytes(st.pend), st.pend_offset
            st.pend.clear()
        pos = 0
        n = len(data)
        while pos < n:
            avail = n - pos
            if avail < 5:
                st.pend += data[pos:]
                st.pend_offset = offset + pos
                st.need = 5
                return
            ctype = data[pos]
            length = (data[pos + 3] << 8) | data[pos + 4]
            if ctype < 20 or ctype > 24 or data[pos + 1] != 3 or length > MAX_RECORD:
                if (ctype & 0x80 and data[pos + 1] == 3) or (ctype & 0x80 and data[pos + 2] == 2):
                    what = "an SSLv2 record, which is not decoded"
                elif length > MAX_RECORD and 20 <= ctype <= 24:
                    what = (
                        f"a record header claiming {length} bytes, more than TLS allows "
                        f"({MAX_RECORD})"
                    )
                else:
                    what = f"bytes that are not a TLS record header ({data[pos : pos + 5].hex()})"
                self._finding(side, "record", offset + pos, f"found {what}; resynchronising")
                st.mode = _RESYNC
                st.pend_offset = offset + pos + 1
                self._resync(side, st, data[pos + 1 :], offset + pos + 1)
                return
            if ctype == CT_APPLICATION_DATA and not self.decrypting:
                stats.records += 1
                self._application_data(side, st, offset + pos, length)
                pos += 5
                if n - pos >= length:
                    pos += length
                else:
                    st.skip = length - (n - pos)
                    return
                continue
            if avail < 5 + length:
                st.pend += data[pos:]
                st.pend_offset = offset + pos
                st.need = 5 + length
                return
            stats.records += 1
            body = data[pos + 5 : pos + 5 + length]
            self._record(side, st, ctype, data[pos + 1] << 8 | data[pos + 2], body, offset + pos)
            pos += 5 + length
            if st.mode != _RECORDS:  # e.g. the connection turned out to be SSLv2
                return

    def _resync(self, side: int, st: _Side, data: bytes, offset: int, final: bool = False) -> None:
        if not st.pend:
            st.pend_offset = offset
        st.pend += data
        window = bytes(st.pend)
        pos = 0
        while True:
            match = _HEADER_RE.search(window, pos)
            if match is None:
                keep = window[-4:]
                st.pend = bytearray(keep)
                st.pend_offset += len(window) - len(keep)
                return
            i = match.start()
            length = (window[i + 3] << 8) | window[i + 4] if i + 5 <= len(window) else -1
            if length < 0:
                st.pend = bytearray(window[i:])
                st.pend_offset += i
                return
            if 0 < length <= MAX_RECORD:
                nxt = i + 5 + length
                if nxt + 3 <= len(window):
                    if _HEADER_RE.match(window, nxt):
                        break
                elif nxt == len(window) or (final and nxt <= len(window)):
                    break  # the record ends exactly where the data does
                elif not final:
                    if len(window) >= RESYNC_WINDOW:
                        break  # enough bytes seen: take it
                    st.pend = bytearray(window[i:])  # wait for the bytes after this record
                    st.pend_offset += i
                    return
                # at the end of the stream, a record that does not fit is no record
            pos = i + 1
        start_offset = st.pend_offset + i
        if self.conn is None:  # the first TLS bytes came after a hole
            self._start_tls(side, _looks_like(window, i))
        if i:
            self._finding(
                side,
                "record",
                start_offset,
                f"resynchronised on a record header after skipping {i} bytes",
            )
        st.pend.clear()
        st.mode = _RECORDS
        self._records(side, st, window[i:], start_offset)

    def _plaintext_application_data(self, side: int, offset: int, plaintext: bytes) -> None:
        conn = self.conn
        dec = self.decryptor
        assert conn is not None and dec is not None
        direction = self._direction(side)
        stats = conn.stats[direction]
        stats.application_data_records += 1
        stats.application_data_bytes += len(plaintext)
        dec.application_data(direction, plaintext)
        kind = "early_data" if direction == C2S and dec.early_active else "application_data"
        last = conn.timeline[-1] if conn.timeline else None
        if (
            last is not None
            and last.kind == kind
            and last.direction == direction
            and last.detail.get("decrypted")
        ):
            last.records += 1
            last.length += len(plaintext)
            last.last_frame = self.frame
            return
        self._event(side, kind, offset, len(plaintext), detail={"decrypted": True})

    def _early_data_offered(self) -> bool:
        ch = self.conn.client_hello if self.conn is not None else None
        return ch is not None and ext.find(ch.extensions, ext.EARLY_DATA) is not None

    def _application_data(self, side: int, st: _Side, offset: int, length: int) -> None:
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

    def _null_cipher_mac_size(self) -> int | None:
        """With a NULL cipher the protected records are the plaintext followed by the MAC."""
        conn = self.conn
        info = conn.suite_info if conn is not None else None
        if info is None or info.cipher != "NULL" or conn is None or conn.version is None:
            return None
        return _MAC_SIZES.get(info.mac or "")

    def _open(
        self, side: int, st: _Side, ctype: int, version: int, body: bytes, offset: int
    ) -> tuple[int, bytes] | bool | None:
        """Decrypt a protected record: (type, plaintext), None (no key for it) or False (failed)."""
        dec = self.decryptor
        conn = self.conn
        assert dec is not None and conn is not None
        direction = self._direction(side)
        if dec.tls13 or conn.server_hello is None:
            # TLS 1.3 protects only application_data-typed records (the CCS stays plain).
            if ctype != CT_APPLICATION_DATA:
                return None
            if direction == C2S and conn.server_hello is None:
                return dec.open_early(version, body)
            if direction == C2S:
                dec.client_handshake_protection()
        try:
            return dec.open_record(direction, ctype, version, body)
        except DecryptError as exc:
            if direction not in self._integrity_reported:
                self._integrity_reported.add(direction)
                self._finding(side, "decrypt", offset, f"{exc} (later failures are only counted)")
            self._event(side, "undecryptable", offset, len(body), detail={"reason": str(exc)})
            return False

    def _record(
        self, side: int, st: _Side, ctype: int, version: int, body: bytes, offset: int
    ) -> None:
        plain = False
        if self.decryptor is not None and (st.encrypted or ctype == CT_APPLICATION_DATA):
            opened = self._open(side, st, ctype, version, body, offset)
            if opened is False:
                return
            if opened is not None and opened is not True:
                ctype, body = opened
                plain = True
        if ctype == CT_APPLICATION_DATA:
            if plain:
                self._plaintext_application_data(side, offset, body)
            else:
                self._application_data(side, st, offset, len(body))
            return
        if not plain and st.encrypted and st.mac_size is not None and len(body) >= st.mac_size:
            body = body[: len(body) - st.mac_size]
            if ctype == CT_HANDSHAKE:
                self._handshake_bytes(side, st, body, offset + 5)
                return
        if ctype == CT_HANDSHAKE:
            if not plain and (st.encrypted or (self.tls13_encrypted and side != self.client_side)):
                if st.finished:
                    assert self.conn is not None
                    self.conn.renegotiation = True
                st.finished = True
                self._event(side, "encrypted_handshake", offset, len(body))
                return
            if plain and st.finished and st.encrypted:
                assert self.conn is not None
                self.conn.renegotiation = True
            self._handshake_bytes(side, st, body, offset + 5, decrypted=plain)
        elif ctype == CT_CHANGE_CIPHER_SPEC:
            self._event(
                side,
                "change_cipher_spec",
                offset,
                len(body),
                detail={"encrypted": st.encrypted and not plain},
            )
            # Under an active cipher (renegotiation) the CCS body is encrypted too.
            if body != b"\x01" and not (st.encrypted and not plain):
                self._finding(
                    side, "record", offset, f"ChangeCipherSpec body is {body.hex()}, not 01"
                )
            # In TLS 1.3 the CCS is a middlebox-compatibility no-op (RFC 8446 §D.4); a client
            # CCS before any ServerHello can only be that.
            compat = self.ctx.tls13 or (
                side == self.client_side
                and self.conn is not None
                and self.conn.server_hello is None
                and TLS13_VERSION in self.conn.client_versions
            )
            if not compat:
                st.encrypted = True
                if self.decryptor is not None:
                    self.decryptor.on_change_cipher_spec(self._direction(side))
                else:
                    st.mac_size = self._null_cipher_mac_size()
                if side != self.client_side and self.conn is not None:
                    flight = self._server_flight
                    if hs.SERVER_HELLO in flight and not flight & {
                        hs.CERTIFICATE,
                        hs.SERVER_KEY_EXCHANGE,
                        hs.SERVER_HELLO_DONE,
                    }:
                        self.conn.abbreviated = True
        elif ctype == CT_ALERT:
            if not plain and (st.encrypted or self.tls13_encrypted):
                self._event(side, "alert", offset, len(body), detail={"encrypted": True})
                return
            if len(body) % 2:
                self._finding(
                    side, "alert", offset, f"alert record of {len(body)} bytes (alerts are 2)"
                )
            for i in range(0, len(body) - 1, 2):
                level, description = body[i], body[i + 1]
                self._event(
                    side,
                    "alert",
                    offset,
                    2,
                    detail={"encrypted": False, "level": level, "description": description},
                )
        elif ctype == CT_HEARTBEAT:
            detail: dict[str, object] = {
                "encrypted": not plain and (st.encrypted or self.tls13_encrypted)
            }
            if not detail["encrypted"] and len(body) >= 3:
                claimed = (body[1] << 8) | body[2]
                detail.update(type=body[0], payload_length=claimed)
                # RFC 6520 §4: payload + at least 16 bytes of padding must fit the record.
                if claimed + 3 + 16 > len(body):
                    self._finding(
                        side,
                        "heartbeat",
                        offset,
                        f"heartbeat claims {claimed} payload bytes in a {len(body)}-byte record: "
                        "the Heartbleed pattern (CVE-2014-0160)",
                    )
            self._event(side, "heartbeat", offset, len(body), detail=detail)

    # -- handshake layer ---------------------------------------------------------------
    def _handshake_bytes(
        self, side: int, st: _Side, body: bytes, offset: int, decrypted: bool = False
    ) -> None:
        if not st.hs_buf:
            st.hs_offset = offset
        st.hs_buf += body
        buf = st.hs_buf
        while len(buf) >= 4:
            msg_type = buf[0]
            length = (buf[1] << 16) | (buf[2] << 8) | buf[3]
            if length > MAX_HANDSHAKE_MESSAGE:
                self._finding(
                    side,
                    "handshake",
                    st.hs_offset,
                    f"handshake message type {msg_type} claims {length} bytes "
                    f"(limit {MAX_HANDSHAKE_MESSAGE}); dropped",
                )
                buf.clear()
                return
            if len(buf) < 4 + length:
                return
            raw = bytes(buf[: 4 + length])
            del buf[: 4 + length]
            msg_offset = st.hs_offset
            st.hs_offset += 4 + length
            self._handshake_message(side, st, msg_type, raw, msg_offset, decrypted)

    def _sslv2_client_hello(self, side: int, st: _Side, record: bytes, offset: int) -> None:
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
        if self.decryptor is not None:
            # RFC 5246 Appendix E.2: the handshake hash covers the message without its header.
            self.decryptor.on_message(self._direction(side), record[2:], message)

    def _handshake_message(
        self, side: int, st: _Side, msg_type: int, raw: bytes, offset: int, decrypted: bool = False
    ) -> None:
        conn = self.conn
        assert conn is not None
        is_client = side == self.client_side
        try:
            message = hs.parse_message(msg_type, raw[4:], self.ctx)
        except DecodeError as exc:
            name = registry.handshake_name(msg_type)
            self._finding(side, "handshake", offset, f"{name}: {exc.msg}")
            self._event(
                side,
                "handshake",
                offset,
                len(raw),
                message=hs.OpaqueMessage(msg_type=msg_type, body=raw[4:], malformed=exc.msg),
            )
            return
        if message.malformed:
            self._finding(side, "handshake", offset, message.malformed)
        self._event(
            side,
            "handshake",
            offset,
            len(raw),
            message=message,
            detail={"decrypted": True} if decrypted else {},
        )
        if self.decryptor is not None:
            self.decryptor.on_message(self._direction(side), raw, message)
        if not is_client and not st.encrypted:
            self._server_flight.add(msg_type)
        if isinstance(message, hs.ClientHello):
            # A second ClientHello after a TLS <= 1.2 ServerHello renegotiates (RFC 5746).
            if conn.server_hello is not None and not self.ctx.tls13:
                conn.renegotiation = True
            conn.client_hellos.append(message)
        elif isinstance(message, hs.ServerHello):
            self._server_hello(message)
        elif isinstance(message, hs.Certificate):
            certs = [parse_certificate(entry.cert_data) for entry in message.certificate_list]
            for cert in certs:
                if cert.error and cert.subject is None:
                    self._finding(
                        side, "x509", offset, f"certificate {cert.sha256[:16]}…: {cert.error}"
                    )
            if is_client:
                conn.client_certificates = certs
            elif not conn.certificates:
                conn.certificates = certs
        elif isinstance(message, hs.ServerKeyExchange):
            conn.server_key_exchange = message
        elif isinstance(message, hs.CertificateRequest):
            conn.certificate_request = True
        elif isinstance(message, hs.CertificateStatus):
            conn.certificate_status = message
        elif isinstance(message, hs.NewSessionTicket):
            conn.new_session_ticket = True
        elif isinstance(message, hs.EncryptedExtensions):
            conn.encrypted_extensions = message

    def _server_hello(self, message: hs.ServerHello) -> None:
        conn = self.conn
        assert conn is not None
        if message.is_hello_retry_request:
            conn.hello_retry_request = message
            # The HRR's supported_versions already fixes TLS 1.3; the second ClientHello
            # that follows (and a middlebox-compatibility CCS before it) stays plaintext.
            self.ctx = hs.HandshakeContext(version=hs.selected_version(message))
            return
        if conn.server_hello is not None:
            conn.renegotiation = True
        conn.server_hello = message
        version = conn.version
        info = conn.suite_info
        self.ctx = hs.HandshakeContext(
            version=version,
            kx=info.kx if info else None,
            auth=info.auth if info else None,
        )
        if self.ctx.tls13:
            self.tls13_encrypted = True
        else:
            conn.handshake_visible = True
