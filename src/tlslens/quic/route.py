"""The QUIC connections of one capture pass: the core's events routed to their
connection's ``QuicSession``, and the finished models handed out in the place of the UDP
association that opened them (first-frame order, with the TCP connections).

A QUIC connection is the core's (its Connection IDs, across 4-tuples): it is opened in
the association of its client's first Initial and ends with that association; events
the core gives no connection (a datagram of garbage on port 443) are the capture's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from tlslens import _core
from tlslens.decrypt.connection import PlaintextSink
from tlslens.errors import OutputError
from tlslens.keys.store import KeyStore
from tlslens.model import Connection, Endpoint, Finding
from tlslens.quic import MAX_PACKETS_KEPT, PacketBudget

if TYPE_CHECKING:
    from tlslens.quic.assembly import QuicSession

_QUIC = "QUIC"
# Findings of datagrams of no connection kept one by one; the rest are counted.
MAX_CAPTURE_FINDINGS = 8


class QuicRouter:
    """Owns the QUIC sessions of a pass. ``problems`` collects the capture's findings."""

    def __init__(
        self,
        *,
        file: str,
        keys: KeyStore | None,
        sink: Callable[[int], PlaintextSink | None],
        keep_records: bool,
        max_message: int,
    ) -> None:
        self.file = file
        self.keys = keys
        self.sink = sink  # the plaintext sink of a connection, by its flow index
        self.keep_records = keep_records
        self.max_message = max_message
        self.flows: dict[int, tuple[Endpoint, Endpoint]] = {}  # open QUIC associations
        self.sessions: dict[int, QuicSession] = {}  # by the core's connection number
        self.by_flow: dict[int, list[int]] = {}  # connections opened in each association
        self.done: dict[int, list[Connection]] = {}  # ended, waiting for their hand-out
        self.broken: set[int] = set()  # connections whose session failed (a bug)
        self.problems: list[Finding] = []
        self.more_problems = 0  # past MAX_CAPTURE_FINDINGS
        self.budget = PacketBudget()  # packets kept until the hand-out, across connections
        # What each association's connections keep, told as it grows (bytes), to count
        # toward --max-held (FlowCore.udp_told, from ``attach``): 4 connections of 1 MiB of
        # 8-byte CRYPTO messages held 236 MB.
        self.told: Callable[[int, int], None] | None = None

    def opened(self, ev: _core.UdpOpened) -> bool:
        """A UDP association: whether it is QUIC (and so is this router's)."""
        if ev.kind != _QUIC:
            return False
        self.flows[ev.flow] = ev.ends
        return True

    def take(self, batch: _core.QuicEvents) -> None:
        """What one datagram made the core say (what it made the connections keep told
        to the core, by their association)."""
        kept: dict[QuicSession, int] = {}
        self._take(batch, kept)
        if self.told is None:
            return
        if batch.charged and batch.flow is not None:  # the walk's charge, settled
            self.told(batch.flow, -batch.charged)
        for session, before in kept.items():
            grown = session.kept() - before
            if grown and session.conn is not None:  # (counted where it opened: its turn)
                self.told(session.conn.tcp_stream, grown * _core.SAID_COST)

    def _take(self, batch: _core.QuicEvents, kept: dict[QuicSession, int]) -> None:
        last: QuicSession | None = None
        for ev in batch.events:
            if type(ev) is _core.QuicOpened:
                last = self._open(batch.flow, ev)
                continue
            conn = getattr(ev, "conn", None)
            session = self.sessions.get(conn) if conn is not None else last
            if session is None and batch.flow is not None:
                opened = self.by_flow.get(batch.flow)
                session = self.sessions.get(opened[-1]) if opened else None
            if session is None:
                self._capture_event(ev)
                continue
            last = session
            if conn in self.broken:
                continue
            if session not in kept:
                kept[session] = session.kept()
            try:
                session.batch = (batch.frame, batch.ts_ns)
                session.take(ev)
            except OutputError:  # the plaintext's files refused it: the run's end
                raise
            except Exception as exc:  # a bug in tlslens: told on the connection, run goes on
                session._finding(
                    None,
                    "internal",
                    None,
                    f"internal error ({type(exc).__name__}: {exc}); this QUIC connection is "
                    "not parsed further",
                )
                if conn is not None:
                    self.broken.add(conn)

    def _open(self, flow: int | None, ev: _core.QuicOpened) -> QuicSession | None:
        ends = self.flows.get(flow) if flow is not None else None
        if flow is None or ends is None:
            return None
        # The association's first datagram is the client's, unless the core found it
        # unreadable and opened the connection at the server's answer (quic/roles.rs).
        if Endpoint(ev.client, ev.client_port) == ends[1]:
            ends = (ends[1], ends[0])
        from tlslens.quic.assembly import QuicSession  # with the capture's first QUIC connection

        session = QuicSession(
            flow,
            ends,
            ev,
            file=self.file,
            keys=self.keys,
            sink=self.sink(flow),
            keep_records=self.keep_records,
            max_message=self.max_message,
            budget=self.budget,
        )
        self.sessions[ev.conn] = session
        self.by_flow.setdefault(flow, []).append(ev.conn)
        return session

    def _capture_event(self, ev: object) -> None:
        if type(ev) is not _core.QuicFinding:
            return
        if len(self.problems) < MAX_CAPTURE_FINDINGS:
            self.problems.append(Finding(ev.frame, None, "quic", ev.offset, ev.message))
        else:
            self.more_problems += 1

    def capture_problems(self) -> list[Finding]:
        """The capture's QUIC findings: the first few, then how many more."""
        more = self.more_problems
        if not more:
            return self.problems
        note = f"{more} more QUIC datagrams of no connection seen (as above), not listed"
        return [*self.problems, Finding(None, None, "quic", None, note)]

    def closed(self, flow: int) -> list[Connection]:
        """The association ended: its connections are finished, to be handed out (them)."""
        if self.flows.pop(flow, None) is None:
            return []
        ended = []
        for conn in self.by_flow.pop(flow, []):
            session = self.sessions.pop(conn)
            self.broken.discard(conn)
            ended.append(session.finish())
        self.done[flow] = ended
        return ended

    def hand_out(self, flow: int) -> list[Connection]:
        """The connections of an ended association, their turn come: what they kept is
        given back to the budget (the caller's now)."""
        done = self.done.pop(flow, [])
        for conn in done:
            if conn.quic is not None:
                self.budget.kept -= conn.quic.kept
        return done

    def attach(self, core: _core.FlowCore, *, writes_plaintext: bool) -> None:
        """The key log's TLS 1.3 secrets, for the core to open QUIC packets with; and,
        unless the plaintext is written per stream (which needs each STREAM frame's
        offset), the core folds a connection's routine 1-RTT packets past those kept one by
        one into runs (``QuicSession.take``)."""
        self.told = core.udp_told
        if not writes_plaintext:
            core.quic_runs(MAX_PACKETS_KEPT)
        if self.keys is None:
            return
        for (label, client_random), secret in self.keys.keylog.secrets.items():
            core.add_quic_secret(label, client_random, secret)
