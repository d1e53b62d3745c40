"""One TCP connection's bytes in, one TLS ``Connection`` model out.

The compiled core's session (``tlslens._core.Session``) runs each direction's modes
(detection, a STARTTLS prelude, the record layer, SSL 2.0 framing, ignoring what is not
TLS), decides which side is the client and counts TCP conflicts; it hands back
record-level events, one class per kind; the core's content layer (``_core.Content``) reads
their records into content events (handshake messages, ChangeCipherSpec, alerts, runs of
application data...). This module turns those into the ``Connection`` model, with
tls/content.py's model side. Every malformed thing becomes a
``Finding`` with frame and byte offset, and parsing goes on.
"""

from __future__ import annotations

import functools

from tlslens import _core
from tlslens._text import gap_label, gap_reason, late_text, plural
from tlslens.decrypt.connection import PlaintextSink, note_lost_digests
from tlslens.events import SSLV2_EVENTS, HandshakeEvent, TimelineEvent
from tlslens.handshake import messages as hs
from tlslens.keys.store import KeyStore
from tlslens.model import C2S, S2C, Connection, Endpoint, Finding, RecordInfo
from tlslens.tls import proof
from tlslens.tls.content import (
    HANDSHAKE_TYPES,
    MAX_FINDINGS_LISTED,
    Counts,
    RecordContent,
    rsa_answer,
)
from tlslens.tls.deprecated import DEPRECATED_VERSION, deprecation
from tlslens.tls.prelude import Prelude

MAX_PRELUDE_SCAN = _core.MAX_PRELUDE_SCAN  # plaintext bytes searched for a TLS start


class FlowSession(RecordContent):
    """One TCP connection's events, already read by a core content layer (``take``: content
    events and the session's events but records); ``finish`` returns the model. The capture
    path's ``FlowCore`` runs each flow's core session and content layer in its walk and
    tells the content layer's flags at the end (``content_flags``).

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
        max_message: int = _core.MAX_HANDSHAKE_MESSAGE,
        decryptor: _core.Decryptor | None = None,
    ) -> None:
        super().__init__(
            client_side=client_side,
            first_frame=first_frame,
            start_ts_ns=start_ts_ns,
            keys=keys,
            sink=sink,
            decryptor=decryptor,
        )
        self.tcp_stream = tcp_stream
        self.ends = ends
        self.first_frame = first_frame
        self.start_ts_ns = start_ts_ns
        self.mid_stream = mid_stream
        self.file = file
        self.is_tls = False
        self._prelude: Prelude | None = None  # made by the first plaintext before TLS
        self.keep_records = keep_records
        self.max_message = max_message
        self.keys = keys
        # (renegotiation, abbreviated, TLS 1.3 encrypted) and what it counted per side: the
        # content layer's, at the end.
        self.content_flags = (False, False, False)
        self.content_counts: Counts = ((0, 0, 0, 0), (0, 0, 0, 0))
        # The records its end cut: where their findings are, the bytes read and needed.
        self._cut_records: list[tuple[int, int, int]] = []
        # A hole in a side's stream: what waited beyond it comes late, at its own frames.
        self._gapped = False

    def abandon(self, message: str) -> None:
        """Stop parsing this connection (after a bug); the core session only counts its
        bytes from now on."""
        self._finding(None, "internal", None, message)
        self._abandoned = True

    def closed(self, ev: _core.FlowClosed, *, stopped: bool = False) -> Connection | None:
        """The capture walk's end of the flow (its content layer's flags and counts): the
        model, as ``finish`` gives it; ``stopped``: tlslens closed it early (a bound), so a
        record its end cut was cut by tlslens, not by the connection's end (its finding
        said "the connection ends inside a record" when a bound closed it mid-record)."""
        if stopped and self.conn is not None:
            problems = self.conn.problems
            for at, present, needed in self._cut_records:
                if at < len(problems):
                    problems[at] = problems[at]._replace(
                        message=f"tlslens stopped reading the connection inside a record: "
                        f"{present} of its {needed} bytes read"
                    )
        self.frame, self.ts_ns = ev.frame, ev.ts_ns
        conn = self.conn
        if conn is not None:
            if ev.by is not None:
                conn.closed_by = ev.by
            if ev.closing is not None:  # the first FIN or RST since TLS began: who ended it
                side, frame, ts_ns = ev.closing
                conn.closed_first = self._direction(side)
                conn.closed_at = (frame, ts_ns)
        self.content_flags = (ev.renegotiation, ev.abbreviated, ev.tls13_encrypted)
        self.content_counts = ev.counts
        conn = self.finish()
        if conn is not None:
            conn.tcp_syn_ts_ns, conn.tcp_synack_ts_ns = ev.syn_ts_ns, ev.synack_ts_ns
        return conn

    def finish(self) -> Connection | None:
        """The model, once the core session's last events (``SideEnd``) were taken."""
        conn = self.conn
        if conn is None:
            return None
        conn.last_frame = self.frame
        conn.end_ts_ns = self.ts_ns
        if self._gapped:
            # The records that waited beyond a hole until it was given up come after the
            # other side's later ones, each at the frame it came in: the timeline goes by
            # frame, as the capture does (stable: one frame's events keep their order).
            conn.timeline.sort(key=_frame)
        conn.decryption = self.decryptor
        note_lost_digests(conn, self.decryptor)
        renegotiation, abbreviated, tls13_encrypted = self.content_flags
        conn.renegotiation = conn.renegotiation or renegotiation
        conn.abbreviated = conn.abbreviated or abbreviated
        conn.tls13_sealed = tls13_encrypted
        self.add_counts(self.content_counts)
        proof.note_unseen_signature(conn, self.decryptor, tls13_encrypted)
        note_deprecated_version(conn)
        return conn if self.is_tls else None

    # -- the core's events -------------------------------------------------------------
    def take(self, events: list[_core.SessionEvent | _core.ContentEvent]) -> None:
        """Events of the core's session with its records read by the core's content layer,
        in stream order (records' headers as ``SkippedBody`` for ``--records``): a
        connection's every event comes through here, into the model by
        ``_core.take_events`` (the timeline, the sides' ends, the messages kept as they
        are), which asks the methods below for the rest. After a bug (``abandon``) only the
        sides' ends are counted."""
        _core.take_events(self, events)

    def _other(self, ev: _core.SessionEvent) -> None:
        """Every event but records and the sides' ends: the start, the prelude, findings,
        SSL 2.0."""
        if type(ev) is _core.TlsStarted:
            self._start_tls(ev.side, ev.client_side)
        elif type(ev) is _core.PreludeChunk:
            if self._prelude is None:
                self._prelude = Prelude()
            self._prelude.add(C2S if ev.from_client else S2C, ev.data)
            if self._prelude.protocol is None:
                self._prelude.protocol = ev.protocol
        elif type(ev) is _core.RecordBadHeader:
            self._finding(ev.side, "record", ev.offset, ev.message)
        elif type(ev) is _core.RecordResync:
            if ev.skipped:
                self._finding(
                    ev.side,
                    "record",
                    ev.offset,
                    f"resynchronised on a record header after skipping {plural(ev.skipped, 'byte')}",
                )
        elif type(ev) is _core.RecordTruncated:
            listed = len(self.conn.problems) if self.conn is not None else MAX_FINDINGS_LISTED
            if listed < MAX_FINDINGS_LISTED:  # its finding, reworded if tlslens stopped reading
                self._cut_records.append((listed, ev.present, ev.needed))
            self._finding(
                ev.side,
                "record",
                ev.offset,
                f"the connection ends inside a record: {ev.present} of {ev.needed} bytes present",
            )
        elif type(ev) is _core.StreamGap:
            self._gap(ev)
        elif type(ev) is _core.StreamLate:
            self._finding(ev.side, "tcp", ev.offset, late_text(ev.length, ev.given_up))
        elif type(ev) is _core.StreamConflict:
            self._finding(
                ev.side,
                "tcp",
                ev.offset,
                f"overlapping TCP data conflicts: a later copy of these bytes differs over "
                f"{ev.length} bytes from the first copy (a middlebox rewriting, an evasion "
                "attempt or a broken capture); the bytes seen first are kept",
            )
        else:
            self._sslv2_or_answer(ev)

    def _sslv2_or_answer(self, ev: _core.SessionEvent) -> None:
        if type(ev) is _core.Sslv2ClientHello:
            self._sslv2_client_hello(ev.side, ev.record, ev.offset)
        elif type(ev) is _core.Sslv2ServerHello:
            assert self.conn is not None  # the core tells it only after TLS started
            self.conn.sslv2_server_hello = True
        elif type(ev) is _core.Sslv2Record:
            self.sslv2_record(ev.side, ev.body, ev.offset, ev.size)
        elif type(ev) is _core.PlaintextAnswer:
            who = "server" if ev.side != self.client_side else "client"
            line = ev.line.decode("latin-1")
            self._finding(
                ev.side, "plaintext", ev.offset, f"the {who} answered in plaintext: {line!r}"
            )

    def _start_tls(self, side: int, client_side: int) -> None:
        """The first TLS bytes of the connection: the model is made."""
        self.client_side = client_side
        client, server = self.ends[client_side], self.ends[1 - client_side]
        # By position (id, tcp_stream, client, server, first_frame, start_ts_ns, file): one
        # a connection, and keywords would cost a dict.
        self.conn = Connection(
            0, self.tcp_stream, client, server, self.first_frame, self.start_ts_ns, self.file
        )
        for finding in self._pending_findings or ():
            self.conn.problems.append(
                Finding(
                    finding.frame,
                    self._direction(side) if finding.direction is None else finding.direction,
                    finding.layer,
                    finding.offset,
                    finding.message,
                )
            )
        self._pending_findings = None
        prelude = self._prelude
        if prelude is not None and (prelude.c2s_bytes or prelude.s2c_bytes):
            self.conn.prelude = prelude
        self.is_tls = True

    def _gap(self, ev: _core.StreamGap) -> None:
        """Bytes missing (the core's content layer made the step and counted them)."""
        self._gapped = True
        if ev.lost:  # a message being reassembled is dropped by the core's content layer
            said = gap_label(ev.length, ev.given_up)
            if ev.given_up is not None:
                said = f"{said}: {gap_reason(ev.given_up)}"
            self._finding(ev.side, "tcp", ev.offset, f"{said}; looking for the next record header")

    def _side_end(self, ev: _core.SideEnd) -> None:
        assert self.conn is not None  # the core ends only the sides of a TLS connection
        if ev.conflicts > 1:
            self._finding(
                ev.side,
                "tcp",
                None,
                f"{ev.conflicts} TCP segments in all carried bytes that conflict with an "
                "earlier copy (the first is described above)",
            )
        stats = self.conn.stats[self._direction(ev.side)]
        stats.bytes += ev.bytes
        stats.records += ev.records

    def _keep_record(self, side: int, offset: int, ctype: int, version: int, length: int) -> None:
        conn = self.conn
        assert conn is not None
        if conn.records is None:
            conn.records = []
        conn.records.append(
            RecordInfo(
                self.frame, self._direction(side), offset, ctype, version, length, self.ts_ns
            )
        )


class TLSSession(FlowSession):
    """Feed one TCP connection's stream events (a live client's bytes, a test's); its own
    core session and content layer read them. ``finish`` returns the model."""

    @functools.cached_property
    def content(self) -> _core.Content:
        """The core content layer, reading the core session's records."""
        return _core.Content(
            client_side=self.client_side,
            max_message=self.max_message,
            known_types=HANDSHAKE_TYPES,
            keep_plaintext=self.sink is not None,
            keep_records=self.keep_records,
            decryptor=self.decryptor,
            rsa=rsa_answer(self.keys),
        )

    def _read(self, events: list[_core.SessionEvent]) -> None:
        """The core session's events, their records read by this session's content layer."""
        if self._abandoned:
            self.take([end for end in events if type(end) is _core.SideEnd])
            return
        self.take(self.content.take(events, self.frame, self.ts_ns))

    @functools.cached_property
    def core(self) -> _core.Session:
        """The core session, made on first use from what the connection was opened with
        (``client_side`` changes only when the core says TLS started)."""
        return _core.Session(
            client_side=self.client_side,
            mid_stream=self.mid_stream,
            ports=(self.ends[0].port, self.ends[1].port),
            skip_application_data=not self.decrypting,
        )

    @property
    def ignored(self) -> bool:
        """Not TLS (or abandoned before TLS was seen): the flow can be let go."""
        return self.core.ignored

    def data(self, side: int, offset: int, data: bytes, frame: int, ts_ns: int) -> None:
        self.frame, self.ts_ns = frame, ts_ns
        events = self.core.data(side, offset, data)
        if events:
            self._read(events)

    def gap(self, side: int, offset: int, length: int, frame: int, ts_ns: int) -> None:
        self.frame, self.ts_ns = frame, ts_ns
        self._read(self.core.gap(side, offset, length))

    def conflict(self, side: int, offset: int, length: int, frame: int, ts_ns: int) -> None:
        """A later TCP copy of bytes already taken differs from them (the first is kept)."""
        self.frame, self.ts_ns = frame, ts_ns
        self._read(self.core.conflict(side, offset, length))

    def may_give_up(self, side: int) -> bool:
        """Whether more data on ``side`` could still make this session give its flow up
        (``ignored``): only while that side is searched for a TLS start in plaintext."""
        return self.core.may_give_up(side)

    def abandon(self, message: str) -> None:
        super().abandon(message)
        self.core.abandon()

    def finish(self) -> Connection | None:
        if self.conn is not None:
            self._read(self.core.finish())
        content = self.content
        self.content_flags = (content.renegotiation, content.abbreviated, content.tls13_encrypted)
        self.content_counts = content.counts
        return super().finish()


def _frame(event: TimelineEvent) -> int:
    return event.frame


def note_deprecated_version(conn: Connection) -> None:
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
            and (
                (isinstance(event, HandshakeEvent) and isinstance(event.message, hs.ServerHello))
                or isinstance(event, SSLV2_EVENTS)
            )
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
