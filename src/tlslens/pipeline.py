"""From a capture file to TLS connections: frames -> TCP flows -> sessions.

Strategy: the compiled core (``tlslens._core``) reads the capture, decodes every frame
down to TCP, keeps the flow table and reassembles each direction; Python never sees a
frame. Per batch of frames it hands over the events of each flow (opened, closed with who
closed it first, and when a connection is next in first-packet order); each flow's stream goes through the
core's session (the mode machine) and its records through the core's content layer, both
inside the walk: Python gets content events (handshake messages, runs of application data,
findings...), never stream bytes or records. This module hands them to the flows'
``FlowSession`` (the model side) and yields the connections in that order. A flow's
decryptor is made by the walk when it opens the flow, from the run's key store (with the
capture's own secrets read so far added to it here: ``_keys_for``). Memory is
bounded by the connections open at once (``Limits``), not by the capture's size.

A core session may give its flow up (not TLS, after a megabyte of plaintext): the core
lets the flow go at that very frame and says so (``FlowIgnored``).

UDP datagrams that look like QUIC or DTLS open associations in the core (``UdpOpened``,
``UdpClosed``), numbered with the TCP flows. A DTLS association's datagrams go to its
``DtlsSession`` (tls/dtls.py); the core's QUIC connection table reads the QUIC ones
(``QuicEvents``) and ``quic.route`` makes their connections. Both are handed out in their
association's place; the summary counts the other associations by kind.
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from tlslens import GC_THRESHOLD, _core, stops
from tlslens._text import plural
from tlslens.bounds import DEFAULT_LIMITS, Limits
from tlslens.capture import CaptureReader, open_capture
from tlslens.capture.reader import CaptureProblem, DecryptionSecrets
from tlslens.capture.tally import CaptureSummary
from tlslens.errors import CaptureError, OutputError
from tlslens.keys.store import KeyStore
from tlslens.model import C2S, S2C, Connection, Endpoint, Finding
from tlslens.outcome import unstarted_text
from tlslens.quic.route import QuicRouter
from tlslens.tls.associations import DtlsRouter
from tlslens.tls.content import HANDSHAKE_TYPES, rsa_answer
from tlslens.tls.resumption import ResumptionIndex
from tlslens.tls.session import MAX_PRELUDE_SCAN, FlowSession

TLS_KEY_LOG = 0x544C534B  # pcapng DSB secrets type "TLSK"
# Open flows closed a batch at the end, each batch's connections handed out before the next:
# 50,000 TLS flows closed at once made 450,000 events in one batch, at the run's peak.
FINISH_FLOWS = 1_000


class Capture:
    """A capture file, iterable over its TLS connections.

    ``summary`` is complete once iteration has ended. Iteration raises
    CaptureError when the file is not a readable capture at all (OSError when
    it cannot be opened); every other problem is reported in the connections'
    ``problems`` or in ``summary.problems``.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        on_progress: Callable[[int], None] | None = None,
        keys: KeyStore | None = None,
        plaintext_sink: Callable[[int, str, bytes], None] | None = None,
        records: bool = False,
        stream: BinaryIO | None = None,
        limits: Limits = DEFAULT_LIMITS,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.path = Path(path)
        self._stream = stream  # a capture already in memory, named ``path``
        self.limits = limits
        self._clock = clock  # seconds, for the time budget
        self.summary = CaptureSummary(file=str(path))
        self._on_progress = on_progress
        self.keys = keys
        self._sink = plaintext_sink
        self._records = records

    def __iter__(self) -> Iterator[Connection]:
        # Tens of thousands of live sessions make the cyclic collector's young generation
        # fill every few events, and each collection walks them: collect far less often
        # while reading (the sessions hold no reference cycles worth finding early).
        threshold = gc.get_threshold()
        gc.set_threshold(max(threshold[0], GC_THRESHOLD), *threshold[1:])
        try:
            if self._stream is not None:
                reader = CaptureReader(self._stream, name=str(self.path))
                yield from _Pass(self, reader, self._stream.tell).run()
                return
            raw, reader = open_capture(self.path, self.limits.max_expansion)
            try:
                yield from _Pass(self, reader, raw.tell).run()
            finally:
                raw.close()
        finally:
            gc.set_threshold(*threshold)


@dataclass(slots=True)
class _Cuts:
    """A flow's frames cut by the snap length: the first, who sent it (a TCP flow's
    endpoint, told from the client once the connection is known; None for a UDP
    association, whose first sender is the client) and how many there were."""

    first: _core.FlowCut
    sender: Endpoint | None
    count: int = 1


class _Pass:
    """One read of a capture: the core's events to sessions, sessions to connections."""

    def __init__(self, capture: Capture, reader: CaptureReader, tell: Callable[[], int]) -> None:
        self.capture = capture
        self.reader = reader
        self.tell = tell
        self.summary = capture.summary
        self.file = str(capture.path)
        # Its own Decryption Secrets Blocks and the sessions learnt from it are this
        # capture's: the run's next capture is read with what the user gave alone.
        self.keys = capture.keys.for_capture() if capture.keys is not None else None
        self.secrets_read = 0
        self.sessions: dict[int, FlowSession] = {}  # open flows' sessions
        self.ended: dict[int, Connection | None] = {}  # closed, waiting for their turn
        # Closed early (a bound): why in words (``Connection.stopped``) and its finding, said
        # at their end, just after.
        self.evicted: dict[int, tuple[str, Finding]] = {}
        self.stopped: str | None = None  # reading stopped (--time-budget): why, in words
        # UDP associations ended early, by why ("evicted": --max-udp-flows, "held") and kind.
        self.udp_ended: dict[str, Counter[str]] = {"evicted": Counter(), "held": Counter()}
        self.cuts: dict[int, _Cuts] = {}  # flows with frames cut by the snap length
        self.later: list[_core.FlowEvent] = []  # events made while others were handled
        self.resumptions = ResumptionIndex()
        self.next_id = 1
        limits = capture.limits
        self.deadline: float | None = None
        if limits.time_budget_s is not None and capture._clock is not None:
            self.deadline = capture._clock() + limits.time_budget_s
        content = _core.ContentOptions(
            max_message=limits.max_message,
            known_types=HANDSHAKE_TYPES,
            keep_plaintext=capture._sink is not None,
            keep_records=capture._records,
            keys=self.keys,
            keys_for=self._keys_for,
            rsa=rsa_answer(self.keys),
        )
        self.core = _core.FlowCore(
            reorder_window=limits.reorder_window,
            max_connections=limits.max_connections,
            max_buffer=limits.max_buffer,
            watch_after=MAX_PRELUDE_SCAN,
            checks=self.deadline is not None,
            sessions=True,
            keys=self.keys is not None,
            max_udp_flows=limits.max_udp_flows,
            max_held=limits.max_held,
            content=content,
            on_secrets=self._secrets,
        )
        self.quic = QuicRouter(
            file=self.file,
            keys=self.keys,
            sink=lambda flow: _bind_sink(capture._sink, flow),
            keep_records=capture._records,
            max_message=limits.max_message,
        )
        self.quic.attach(self.core, writes_plaintext=capture._sink is not None)
        self.dtls = DtlsRouter(
            file=self.file,
            sink=lambda flow: _bind_sink(capture._sink, flow),
            keep_records=capture._records,
            max_message=limits.max_message,
            told=self.core.udp_told,
        )

    def run(self) -> Iterator[Connection]:
        reader, core, summary = self.reader, self.core, self.summary
        capture_core = reader.open_core()
        # The file object is not read when the core reads the file: its count. (A local:
        # the reader, and the thread reading ahead, go with this generator's frame.)
        tell: Callable[[], int] = self.tell
        if capture_core.reads_file:
            tell = lambda: capture_core.bytes_read  # noqa: E731
        while True:
            batch = core.pull(capture_core)
            if summary.format == "unknown":
                if capture_core.fatal is not None:
                    raise CaptureError(capture_core.fatal, layer="capture", offset=0)
                if capture_core.format != "unknown":
                    summary.format = reader.format = capture_core.format
                    summary.readable = True
            self._take(batch)
            yield from self._events(batch.events)
            check, progress = batch.check, batch.progress
            if progress and self.capture._on_progress is not None:
                # (A file the core reads: its count when these frames came, not now.)
                self.capture._on_progress(batch.read if capture_core.reads_file else tell())
            if check and self._out_of_time():
                break
            if batch.hungry:
                if not reader.more(capture_core):
                    break
            elif core.exhausted(capture_core):
                break
        if summary.format == "unknown" and capture_core.fatal is not None:
            raise CaptureError(capture_core.fatal, layer="capture", offset=0)
        while not core.finished:  # the flows still open close FINISH_FLOWS a batch
            yield from self._events(core.finish(FINISH_FLOWS).events)
        reader.linktypes.update(capture_core.linktypes)
        self._summarise()
        if self.capture._on_progress is not None:
            self.capture._on_progress(tell())

    def _take(self, batch: _core.FlowBatch) -> None:
        """The capture reader's problems (its secrets came before the walk: ``_secrets``)."""
        if batch.problems:
            self.reader.problems.extend(CaptureProblem(*problem) for problem in batch.problems)

    def _secrets(self, blocks: list[tuple[int, bytes]]) -> None:
        """A batch's Decryption Secrets Blocks, before its frames are walked."""
        self.reader.secrets.extend(DecryptionSecrets(*block) for block in blocks)

    def _keys_for(self, secrets: int) -> KeyStore | None:
        """A flow opened in the walk after ``secrets`` Decryption Secrets Blocks: the run's
        key store for its decryptor, with the capture's secrets read so far."""
        if secrets > self.secrets_read:
            self._add_capture_secrets(secrets)
        return self.keys

    def _out_of_time(self) -> bool:
        clock = self.capture._clock
        if self.deadline is None or clock is None or clock() <= self.deadline:
            return False
        frame = self.core.frames
        self.stopped, said = stops.out_of_time(self.capture.limits, frame)
        self.summary.problems.append(_capture_finding(frame, said))
        return True

    def _events(self, events: list[_core.FlowEvent]) -> Iterator[Connection]:
        sessions = self.sessions
        for ev in events:
            if type(ev) is _core.SessionEvents:
                session = sessions.get(ev.flow)
                if session is not None:
                    session.frame, session.ts_ns = ev.frame, ev.ts_ns
                    try:
                        session.take(ev.events)
                    except OutputError:  # the plaintext's files refused it: the run's end
                        raise
                    except Exception as exc:  # a bug in tlslens: report it, keep going
                        self._internal_error(ev.flow, session, exc)
            elif type(ev) is _core.FlowHandOut:
                conn = self.ended.pop(ev.flow, None)
                quics = self.quic.hand_out(ev.flow)
                cut = self._cut_finding(ev.flow, conn or (quics[0] if quics else None))
                late = stops.late(self.capture.limits, ev.held) if ev.late else None
                if conn is not None:
                    yield self._hand_out(conn, cut, late)
                for quic in quics:
                    yield self._hand_out(quic, cut, late)
            else:
                self._flow_event(ev)
        while self.later:
            later, self.later = self.later, []
            yield from self._events(later)

    def _flow_event(self, ev: _core.FlowEvent) -> None:
        """Every event but data and hand-outs: a flow's life (a TCP connection's end first,
        one a connection; its closings come with it, ``FlowClosed.closing``)."""
        if type(ev) is _core.FlowClosed:
            session = self.sessions.pop(ev.flow, None)
            evicted = self.evicted.pop(ev.flow, None)
            if session is not None:
                # Closed early, or left open when the time budget ran out: tlslens stopped.
                ours = evicted is not None or (self.stopped is not None and ev.by is None)
                conn = self.ended[ev.flow] = session.closed(ev, stopped=ours)
                if conn is not None and evicted is not None:
                    conn.stopped = evicted[0]
                    conn.problems.append(evicted[1])
                elif conn is not None and conn.closed_by is None:
                    conn.stopped = self.stopped
            return
        if type(ev) is _core.FlowOpened:
            self._open(ev)
            return
        if type(ev) is _core.QuicEvents:
            if len(self.reader.secrets) > self.secrets_read:
                self._add_capture_secrets(len(self.reader.secrets))
                self.quic.keys = self.keys
            self.quic.take(ev)
            return
        if type(ev) is _core.UdpClosed:
            if ev.end in self.udp_ended:
                self.udp_ended[ev.end][ev.kind] += 1
            ended = self.quic.closed(ev.flow)
            if ev.flow in self.dtls:
                conn = self.ended[ev.flow] = self.dtls.take(ev)
                ended = [conn] if conn is not None else []
            self._udp_stopped(ev, ended)
            return
        if type(ev) is _core.UdpOpened:
            udp = self.summary.udp_flows
            udp[ev.kind] = udp.get(ev.kind, 0) + 1
            if not self.quic.opened(ev) and ev.kind == "DTLS":
                if len(self.reader.secrets) > self.secrets_read:
                    self._add_capture_secrets(len(self.reader.secrets))
                self.dtls.open(ev, self.keys)
            return
        if type(ev) is _core.UdpDatagram:
            self.dtls.take(ev)
            return
        if type(ev) is _core.FlowCut:
            self._cut(ev)
            return
        if type(ev) is _core.FlowEvicted:
            # Told with its end (FlowClosed or UdpClosed, next): a flow waiting beyond a
            # hole, or not yet told as TLS, has no connection before what it held is read.
            stopped, said = stops.closed_early(self.capture.limits, ev.why, ev.frame, ev.open)
            self.evicted[ev.flow] = (stopped, _capture_finding(ev.frame, said))
            return
        session = self.sessions.get(ev.flow)
        if session is None:
            return
        if type(ev) is _core.FlowIgnored:
            del self.sessions[ev.flow]  # not TLS: its session goes now
        elif type(ev) is _core.SessionFailed:
            session.frame, session.ts_ns = ev.frame, ev.ts_ns
            session.abandon(
                f"internal error in the core session ({ev.message}); this connection is not "
                "parsed further"
            )
            if session.conn is None:
                del self.sessions[ev.flow]

    def _udp_stopped(self, ev: _core.UdpClosed, ended: list[Connection]) -> None:
        """An association's connections that tlslens stopped reading before their end: the
        oldest open past what the open flows may hold, the one idle longest past the bound
        of associations (each told so), or those open when the time budget ran out."""
        evicted = self.evicted.pop(ev.flow, None)
        if evicted is None and ev.end == "evicted":
            stopped, said = stops.ended_early(self.capture.limits, ev.frame)
            evicted = (stopped, _capture_finding(ev.frame, said))
        if evicted is not None:
            for conn in ended:
                conn.stopped = evicted[0]
                conn.problems.append(evicted[1])
        elif self.stopped is not None:
            for conn in ended:
                conn.stopped = self.stopped

    def _open(self, ev: _core.FlowOpened) -> None:
        if ev.secrets > self.secrets_read:
            self._add_capture_secrets(ev.secrets)
        sink = self.capture._sink
        self.sessions[ev.flow] = FlowSession(
            ev.flow,
            ev.ends,
            ev.frame,
            ev.ts_ns,
            client_side=ev.client_side,
            mid_stream=ev.mid_stream,
            file=self.file,
            sink=_bind_sink(sink, ev.flow),
            keep_records=self.capture._records,
            max_message=self.capture.limits.max_message,
            decryptor=ev.decryptor,  # made by the walk when it has keys
        )

    def _add_capture_secrets(self, upto: int) -> None:
        """Key logs carried by the capture itself (pcapng Decryption Secrets Blocks)."""
        keys = self.keys
        if keys is None:
            keys = self.keys = KeyStore()
        name = f"{self.capture.path.name} (Decryption Secrets Block)"
        for block in self.reader.secrets[self.secrets_read : upto]:
            if block.secrets_type == TLS_KEY_LOG:
                text = block.data.decode("utf-8", "replace")
                self.summary.capture_secrets += keys.keylog.add_text(text, name, "pcapng")
        self.secrets_read = upto

    def _internal_error(self, flow: int, session: FlowSession, exc: Exception) -> None:
        """Report a bug as a finding of this connection and stop parsing it; the run goes
        on (the core session only counts bytes; one that is then nothing is let go)."""
        session.abandon(
            f"internal error ({type(exc).__name__}: {exc}); this connection is not parsed further"
        )
        self.later.extend(self.core.abandon(flow).events)
        if session.conn is None:
            del self.sessions[flow]

    def _cut(self, ev: _core.FlowCut) -> None:
        """A datagram or segment cut by the snap length: counted, its first one kept."""
        held = self.cuts.get(ev.flow)
        if held is not None:
            held.count += 1
            return
        session = self.sessions.get(ev.flow)
        self.cuts[ev.flow] = _Cuts(ev, None if session is None else session.ends[ev.side])

    def _cut_finding(self, flow: int, conn: Connection | None) -> Finding | None:
        """Once per flow: its frames cut by the capture's snap length, told at the first."""
        if conn is None:
            return None  # kept for the capture's findings (_unread_cuts)
        held = self.cuts.pop(flow, None)
        if held is None:
            return None
        first, tcp = held.first, held.sender is not None
        from_client = held.sender == conn.client if tcp else first.side == 0
        what = "segment" if tcp else "datagram"
        more = f"; {plural(held.count - 1, 'later ' + what)} too" if held.count > 1 else ""
        effect = (
            "the bytes captured are read and the rest is a gap in the stream (tshark's "
            '"[Packet size limited during capture]")'
            if tcp
            else "cut datagrams are skipped, not read as lying UDP lengths"
        )
        return Finding(
            first.frame,
            C2S if from_client else S2C,
            "capture",
            None,
            f"{what} in frame {first.frame} cut by the capture's snap length ({first.captured} "
            f"of {first.original} bytes captured){more}: {effect}",
        )

    def _hand_out(self, conn: Connection, cut: Finding | None, late: str | None) -> Connection:
        """``cut``: its frames cut short; ``late``: why it comes after later ones."""
        if cut is not None:
            conn.problems.append(cut)
        if late is not None:
            conn.problems.append(_capture_finding(conn.first_frame, late))
        conn.id = self.next_id
        self.next_id += 1
        self.summary.tls_connections += 1
        conn.resumed_from = self.resumptions.settle(conn)
        return conn

    def _summarise(self) -> None:
        summary, core, reader = self.summary, self.core, self.reader
        summary.frames = core.frames
        summary.tcp_flows = core.tcp_flows
        summary.linktypes = sorted({_core.linktype_name(lt) for lt in reader.linktypes})
        summary.skipped = dict(core.skipped)
        summary.decryption_secrets_blocks = len(reader.secrets)
        backwards, first_backwards = core.backwards
        if backwards:
            summary.problems.append(
                _capture_finding(
                    first_backwards,
                    f"{plural(backwards, 'frame')} {'has' if backwards == 1 else 'have'} a "
                    f"timestamp earlier than the frame before (the first is frame {first_backwards}"
                    "): the clock went back, or frames were merged out of order; times mislead",
                )
            )
        limits = self.capture.limits
        for evicted, why in ((core.evicted, "connections"), (core.evicted_held, "held")):
            if evicted:
                said = stops.closed_early_summary(limits, why, evicted)
                summary.problems.append(_capture_finding(None, said))
        for kind, count, frame, client, port, server, server_port in core.unstarted:
            ends = str(Endpoint(client, port)), str(Endpoint(server, server_port))
            said = unstarted_text(kind, count, *ends, stopped=self.stopped is not None)
            summary.problems.append(Finding(frame, None, "tcp", None, said))
        self._summarise_udp()
        self._unread_cuts()
        summary.problems.extend(self.quic.capture_problems())
        for problem in reader.problems:
            summary.problems.append(
                Finding(problem.frame, None, "capture", problem.offset, problem.message)
            )

    def _summarise_udp(self) -> None:
        """What the UDP associations met: the bound, UDP lengths that lied."""
        summary, core = self.summary, self.core
        limits, ended = self.capture.limits, self.udp_ended
        if ended["evicted"]:
            said = stops.ended_early_summary(limits, ended["evicted"])
            summary.problems.append(_capture_finding(None, said))
        if ended["held"]:
            said = stops.closed_early_summary(limits, "held", kinds=ended["held"])
            summary.problems.append(_capture_finding(None, said))
        skipped, stopped, first_skipped = core.udp_after_stop
        if skipped:
            said = stops.after_stop(skipped, stopped, first_skipped)
            summary.problems.append(_capture_finding(first_skipped, said))
        bad, first_bad = core.udp_bad_length
        if bad:
            summary.problems.append(
                _capture_finding(
                    first_bad,
                    f"{plural(bad, 'QUIC or DTLS datagram')} {'has' if bad == 1 else 'have'} "
                    f"a UDP length that disagrees with the IP packet (the first is frame "
                    f"{first_bad}): each is read as far as the packet goes",
                )
            )

    def _unread_cuts(self) -> None:
        """Flows whose frames the snap length cut and that gave no connection: a cut
        Initial or ClientHello leaves nothing to read, which the capture must say."""
        if not self.cuts:
            return
        firsts = sorted((held.first for held in self.cuts.values()), key=lambda f: f.frame)
        frames = sum(held.count for held in self.cuts.values())
        first = firsts[0]
        self.summary.problems.append(
            _capture_finding(
                first.frame,
                f"{plural(frames, 'frame')} of {plural(len(firsts), 'flow')} that gave no "
                f"connection {'was' if frames == 1 else 'were'} cut by the capture's snap "
                f"length (the first, frame {first.frame}: {first.captured} of {first.original} "
                "bytes captured): their handshakes could not be read; capture again with a "
                "larger snap length (tcpdump -s 0)",
            )
        )
        self.cuts.clear()


def _capture_finding(frame: int | None, message: str) -> Finding:
    """A finding of the capture as a whole (at ``frame``, if one frame is to blame)."""
    return Finding(frame, None, "capture", None, message)


def _bind_sink(
    sink: Callable[[int, str, bytes], None] | None, index: int
) -> Callable[[str, bytes], None] | None:
    if sink is None:
        return None
    return lambda direction, data: sink(index, direction, data)


def read_capture(
    path: str | Path,
    *,
    on_progress: Callable[[int], None] | None = None,
    keys: KeyStore | None = None,
    plaintext_sink: Callable[[int, str, bytes], None] | None = None,
    records: bool = False,
    stream: BinaryIO | None = None,
    limits: Limits = DEFAULT_LIMITS,
    clock: Callable[[], float] | None = None,
) -> Capture:
    """Open a pcap/pcapng capture (optionally gzip-compressed) for dissection.

    Iterating the result yields one ``Connection`` per TCP connection that
    carried TLS, in order of first packet; ``.summary`` then describes the pass.

    Raises (during iteration) CaptureError when the file is not a capture, and
    OSError when it cannot be read.

    With ``keys`` (and with any key log the pcapng carries), connections are
    decrypted; ``plaintext_sink(tcp_stream, direction, data)`` then receives the
    application data as it is opened. With ``records``, each connection keeps the header
    of every record (``Connection.records``) and each handshake message its bytes
    (``TimelineEvent.raw``), which costs memory per record. With
    ``stream``, the capture is read from that binary file object, named ``path``.
    ``limits`` bound what the read may hold; its time budget needs ``clock`` (seconds).
    """
    return Capture(
        path,
        on_progress=on_progress,
        keys=keys,
        plaintext_sink=plaintext_sink,
        records=records,
        stream=stream,
        limits=limits,
        clock=clock,
    )


__all__ = ["Capture", "CaptureError", "CaptureSummary", "Limits", "read_capture"]
