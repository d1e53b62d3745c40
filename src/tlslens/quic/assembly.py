"""One QUIC connection's events from the core in, one TLS ``Connection`` model out.

Strategy: the core's connection table (``tlslens._core.QuicEvents``) already found each
packet's connection (by Connection ID, across migration), opened what it could (Initial
packets from the client's first Destination Connection ID, the others with the key log's
secrets) and reassembled the CRYPTO streams. Here, each packet number space's CRYPTO
bytes go through the core's content layer as TLS records over TCP do
(``_core.Content.crypto``: defragmentation, parsing in context, the decryptor's feed, the
transcript) and the same model side (``RecordContent``: certificates, signatures), the
STREAM frames of opened packets are the application data, a CONNECTION_CLOSE carrying CRYPTO_ERROR is the
TLS alert it holds, and packets left sealed are told as encrypted handshake or
application data, as TLS 1.3 records are without keys.
"""

from __future__ import annotations

import bisect

from tlslens import _core
from tlslens.decrypt.connection import PlaintextSink, note_lost_digests
from tlslens.decrypt.parts import APPLICATION_DATA, EARLY_DATA, HANDSHAKE
from tlslens.events import (
    AlertEvent,
    ApplicationDataEvent,
    DataEvent,
    EncryptedHandshakeEvent,
    TimelineEvent,
)
from tlslens.keys.store import KeyStore
from tlslens.model import Connection, Endpoint
from tlslens.quic import MAX_PACKETS_KEPT, PacketBudget
from tlslens.quic.details import (
    MAX_CLOSES_LISTED,
    MAX_STREAMS_KEPT,
    QuicClose,
    QuicDetails,
    QuicFrameInfo,
    QuicPacketInfo,
)
from tlslens.tls import proof
from tlslens.tls.content import RecordContent, message_content

# RFC 9001 §4.8: a TLS alert is carried as CRYPTO_ERROR, 0x0100 + its description.
CRYPTO_ERROR_BASE = 0x0100
CRYPTO_ERROR_LAST = 0x01FF
_FATAL = 2
# What a packet left sealed is, by its packet number space, as TLS 1.3 tells records.
_SEALED_KIND: dict[str, type[EncryptedHandshakeEvent | ApplicationDataEvent]] = {
    "initial": EncryptedHandshakeEvent,
    "handshake": EncryptedHandshakeEvent,
    "application": ApplicationDataEvent,
}

# What an opened packet of each kind decrypted, in the decryption summary's parts.
_OPENED_PART = {"Handshake": HANDSHAKE, "1-RTT": APPLICATION_DATA, "0-RTT": EARLY_DATA}


def _frame_of(event: TimelineEvent) -> int:
    return event.frame


# Frames whose bytes are kept for --records: short, and told as they are.
_SHOWN_DATA = frozenset(("NEW_CONNECTION_ID", "CONNECTION_CLOSE"))


def _frame_info(f: _core.QuicFrame) -> QuicFrameInfo:
    data = f.data
    return QuicFrameInfo(
        f.name,
        f.offset,
        f.detail,
        f.error,
        stream=f.stream,
        at=f.at,
        fin=f.fin,
        length=None if data is None or f.name in _SHOWN_DATA else len(data),
        code=f.code,
        data=data if f.name in _SHOWN_DATA else None,
    )


class QuicSession(RecordContent):
    """One QUIC connection: ``take`` each of its core events, ``finish`` for the model.

    The client is side 0 (the sender of the first Initial). Any exception other than those
    the content layer handles is a bug.
    """

    def __init__(
        self,
        udp_stream: int,
        ends: tuple[Endpoint, Endpoint],
        opened: _core.QuicOpened,
        *,
        file: str = "",
        keys: KeyStore | None = None,
        sink: PlaintextSink | None = None,
        keep_records: bool = False,
        max_message: int = _core.MAX_HANDSHAKE_MESSAGE,
        budget: PacketBudget | None = None,
    ) -> None:
        super().__init__(
            client_side=0,
            first_frame=opened.frame,
            start_ts_ns=opened.ts_ns,
            keys=keys,
            sink=sink,
        )
        self.keep_records = keep_records
        self.max_message = max_message
        self.closes_unlisted = False  # past MAX_CLOSES_LISTED (said once)
        # Packets kept across the pass's connections (one of its own when alone).
        self.budget = budget if budget is not None else PacketBudget()
        self.quic = QuicDetails(opened.version, opened.dcid)
        self.conn = Connection(
            id=0,
            tcp_stream=udp_stream,
            client=ends[0],
            server=ends[1],
            first_frame=opened.frame,
            start_ts_ns=opened.ts_ns,
            file=file,
            transport="quic",
            quic=self.quic,
        )
        # The plaintext goes out per stream ("stream4-c2s"), not as one byte stream per
        # direction: QUIC's streams interleave in packets and each is its own byte stream.
        self.stream_sink = sink
        self.latest = (opened.frame, opened.ts_ns)
        self.batch = (opened.frame, opened.ts_ns)  # the datagram the core speaks of now
        self.client_initial = bytearray()  # the client's Initial CRYPTO bytes, in order
        self.replay: bytes | None = None  # after a Retry: what a resend would repeat
        self.held: list[_core.QuicCrypto] = []
        self.stream_next: dict[tuple[str, int], int] = {}  # the next offset of each stream
        self.stream_packet: tuple[int, int] | None = None  # (frame, offset): its STREAM data
        self.sink = None
        if keep_records:
            self.conn.records = []  # --records: the packets are listed (``conn.quic``)
        # The core's content layer reads a CRYPTO stream per (side, packet number space).
        self.content = message_content(max_message, self.decryptor, keys, keep_records=keep_records)

    def take(self, ev: object) -> None:
        """One core event of this connection."""
        frame = getattr(ev, "frame", None)
        if frame:
            self.frame = frame
            # A Retry, a migration or a key update carries its frame only: its time is the
            # datagram's that made the core say it (quic.route sets ``batch``).
            batch_frame, batch_ts = self.batch
            self.ts_ns = getattr(ev, "ts_ns", batch_ts if frame == batch_frame else self.ts_ns)
            # The connection's last frame: packets kept for keys come late, not last.
            self.latest = max(self.latest, (frame, self.ts_ns))
        if type(ev) is _core.QuicPacket:
            self._packet(ev)
        elif type(ev) is _core.QuicRun:
            self._run(ev)
        elif type(ev) is _core.QuicCrypto:
            self._crypto(ev)
        elif type(ev) is _core.QuicFinding:
            self._finding(None, "quic", ev.offset, ev.message)
        elif type(ev) is _core.QuicRetry:
            self.quic.retry = (ev.frame, ev.tag_ok, len(ev.token))
            self.quic.times[ev.frame] = self.ts_ns
        elif type(ev) is _core.QuicVersionNegotiation:
            self.quic.version_negotiation.append((ev.frame, tuple(ev.versions)))
            self.quic.times[ev.frame] = self.ts_ns
        elif type(ev) is _core.QuicKeyUpdate:
            self.quic.key_updates.append((ev.frame, self._direction(ev.side), ev.key_phase))
            self.quic.times[ev.frame] = self.ts_ns
        elif type(ev) is _core.QuicMigrated:
            self.quic.migrations.append((ev.frame, str(Endpoint(ev.address, ev.port))))
            self.quic.times[ev.frame] = self.ts_ns

    def finish(self) -> Connection:
        conn = self.conn
        assert conn is not None
        self._content_events(self.content.crypto_end(at=(self.frame, self.ts_ns)))
        conn.last_frame, conn.end_ts_ns = self.latest
        conn.decryption = self.decryptor
        note_lost_digests(conn, self.decryptor)
        conn.renegotiation = conn.renegotiation or self.content.renegotiation
        proof.note_unseen_signature(conn, self.decryptor, self.content.tls13_encrypted)
        return conn

    # -- packets and frames ---------------------------------------------------------------
    def _packet(self, ev: _core.QuicPacket) -> None:
        conn, quic = self.conn, self.quic
        assert conn is not None
        direction = self._direction(ev.side)
        stats = conn.stats[direction]
        stats.records += 1
        stats.bytes += ev.len
        quic.packet_count[ev.kind] = quic.packet_count.get(ev.kind, 0) + 1
        opened = ev.pn is not None
        if quic.kept < MAX_PACKETS_KEPT and self._room(1):
            frames = [_frame_info(f) for f in ev.frames]
            quic.tell(
                QuicPacketInfo(
                    ev.frame,
                    ev.ts_ns,
                    direction,
                    ev.offset,
                    ev.len,
                    ev.kind,
                    ev.space,
                    ev.pn,
                    ev.key_phase,
                    ev.dcid,
                    ev.scid,
                    frames,
                    ev.version,
                )
            )
        if not opened:
            quic.unopened += 1
            if ev.failed:
                # The key log's secrets gave keys that do not authenticate it: an integrity
                # failure (a wrong key log), not a packet without keys.
                quic.failed += 1
                if self.decryptor is not None:
                    self.decryptor.count_failed(direction)
            kind = _SEALED_KIND.get(ev.space or "")
            if kind is not None:
                self._sealed(ev.side, kind, ev.offset, ev.len)
            return
        part = _OPENED_PART.get(ev.kind)
        if part is not None and self.decryptor is not None:
            # Opened with the key log's secrets (Initials need none): counted as records.
            self.decryptor.count_opened(part, direction)
        for f in ev.frames:
            self._frame(ev, f)

    def _room(self, packets: int) -> bool:
        """Whether ``packets`` more may be kept one by one (the budget across the open
        connections); past it, the packets are counted only, and the connection says so
        once."""
        if self.quic.unlisted_from is None and self.budget.take(packets):
            return True  # (once it stopped, a connection lists no more: "the first N")
        if self.quic.unlisted_from is None:
            self.quic.unlisted_from = self.frame
            self._finding(
                None,
                "quic",
                None,
                f"packets from frame {self.frame} on are counted, not listed: the QUIC "
                f"connections not yet reported kept {self.budget.limit:,} packets listed, "
                "their bound",
            )
        return False

    def _run(self, run: _core.QuicRun) -> None:
        """Routine 1-RTT packets the core folded (when no plaintext is written per stream):
        kept (those among the first MAX_PACKETS_KEPT) and counted as ``_packet`` and
        ``_frame`` do one by one, and their STREAM bytes told as one more step of
        application data."""
        conn, quic, dec = self.conn, self.quic, self.decryptor
        assert conn is not None
        if run.kept is not None and self._room(len(run.kept)):
            quic.tell((run.kept, (self._direction(0), self._direction(1))))
        for side, (packets, size) in enumerate(zip(run.packets, run.bytes, strict=True)):
            if not packets:
                continue
            direction = self._direction(side)
            stats = conn.stats[direction]
            stats.records += packets
            stats.bytes += size
            if dec is not None:
                dec.count_opened(APPLICATION_DATA, direction, packets)
        quic.packet_count["1-RTT"] = quic.packet_count.get("1-RTT", 0) + sum(run.packets)
        sender, first = run.stream_side, run.first_stream
        if sender is None or first is None:
            return
        direction = self._direction(sender)
        streams = quic.streams
        for stream, size in run.streams:
            key = (direction, stream)
            if key in streams or len(streams) < MAX_STREAMS_KEPT:
                streams[key] = streams.get(key, 0) + size
        if dec is None:
            return
        # The first STREAM frame is told as ``_frame`` tells it (a new step, or one more
        # packet of the step before); the others join that step, which counts packets.
        last_frame, last_ts = self.frame, self.ts_ns
        self.frame, self.ts_ns, offset, length = first
        self._plaintext_application_data(sender, offset, run.data[:length])
        self.frame = run.last_stream_frame
        self._more_application_data(direction, run.data[length:], run.stream_packets - 1)
        self.frame, self.ts_ns = last_frame, last_ts

    def _more_application_data(self, direction: str, data: bytes, packets: int) -> None:
        """STREAM bytes that join the step ``_plaintext_application_data`` told last, in
        ``packets`` more packets: a packet with three STREAM frames is one packet."""
        conn, dec = self.conn, self.decryptor
        assert conn is not None and dec is not None
        dec.application_data(direction, data)
        stats = conn.stats[direction]
        stats.application_data_records += packets
        stats.application_data_bytes += len(data)
        step = conn.timeline[-1]
        step.records += packets
        step.length += len(data)
        step.last_frame = self.frame

    def _frame(self, packet: _core.QuicPacket, f: _core.QuicFrame) -> None:
        side = packet.side
        direction = self._direction(side)
        if f.name == "STREAM" and f.stream is not None and f.data is not None:
            key = (direction, f.stream)
            streams = self.quic.streams
            if key in streams or len(streams) < MAX_STREAMS_KEPT:
                streams[key] = streams.get(key, 0) + len(f.data)
            if self.decryptor is not None:
                self._stream_data(packet, f.data)
                self._stream_out(side, f)
        elif f.name == "NEW_CONNECTION_ID" and f.data is not None:
            if len(self.quic.connection_ids) < MAX_STREAMS_KEPT:
                self.quic.connection_ids.append(f.data)
        elif f.name == "CONNECTION_CLOSE" and f.code is not None:
            application = (f.error or "").startswith("application")
            closes = self.quic.closes
            if len(closes) < MAX_CLOSES_LISTED:
                close = QuicClose(
                    packet.frame, direction, application, f.code, f.error or "", f.data or b""
                )
                closes.append(close)
            elif not self.closes_unlisted:
                self.closes_unlisted = True
                self._finding(
                    side,
                    "quic",
                    packet.offset,
                    f"more CONNECTION_CLOSE frames of this connection from here on are not "
                    f"listed: tlslens lists {MAX_CLOSES_LISTED}",
                )
            if not application and CRYPTO_ERROR_BASE <= f.code <= CRYPTO_ERROR_LAST:
                description = f.code - CRYPTO_ERROR_BASE
                self._event(
                    AlertEvent,
                    side,
                    packet.offset,
                    2,
                    level=_FATAL,
                    description=description,
                    quic=True,
                )

    def _stream_data(self, packet: _core.QuicPacket, data: bytes) -> None:
        """A STREAM frame's bytes as application data: the packet's first one is one more
        packet of data; the others of the same packet join its step."""
        conn = self.conn
        assert conn is not None
        here = (packet.frame, packet.offset)
        last = conn.timeline[-1] if conn.timeline else None
        direction = self._direction(packet.side)
        if (
            self.stream_packet == here
            and isinstance(last, DataEvent)
            and last.decrypted
            and last.direction == direction
        ):
            self._more_application_data(direction, data, 0)
            return
        self.stream_packet = here
        self._plaintext_application_data(packet.side, packet.offset, data)

    def _stream_out(self, side: int, f: _core.QuicFrame) -> None:
        """A STREAM frame's bytes to the sink, in stream order: a retransmitted prefix is
        dropped; bytes past a hole (a packet the capture lacks) are a finding."""
        if self.stream_sink is None or f.data is None or f.stream is None or f.at is None:
            return
        direction = self._direction(side)
        key = (direction, f.stream)
        data, at = f.data, f.at
        expected = self.stream_next.get(key, 0)
        if at < expected:
            data = data[expected - at :]
        elif at > expected:
            self._finding(
                side,
                "quic",
                at,
                f"stream {f.stream}: bytes {expected}..{at} are missing from the capture; "
                "the plaintext written goes on after the hole",
            )
        if not data:
            return
        if key in self.stream_next or len(self.stream_next) < MAX_STREAMS_KEPT:
            self.stream_next[key] = max(expected, at + len(f.data))
        self.stream_sink(f"stream{f.stream}-{direction}", data)

    def _sealed(
        self,
        side: int,
        kind: type[EncryptedHandshakeEvent | ApplicationDataEvent],
        offset: int,
        length: int,
    ) -> None:
        """A packet not opened: counted into the last event of its kind and direction."""
        conn = self.conn
        assert conn is not None
        if kind is ApplicationDataEvent:
            stats = conn.stats[self._direction(side)]
            stats.application_data_records += 1
            stats.application_data_bytes += length
        timeline = conn.timeline
        last = timeline[-1] if timeline else None
        if last is not None and last.frame > self.frame:
            # A packet the core kept for keys that never came, told at the end of the
            # capture: it goes where its frame is.
            event = self._event(kind, side, offset, length)
            timeline.pop()
            timeline.insert(bisect.bisect_right(timeline, event.frame, key=_frame_of), event)
            return
        if type(last) is kind and last.direction == self._direction(side):
            last.records += 1
            last.length += length
            last.last_frame = self.frame
            return
        self._event(kind, side, offset, length)

    def _restart(self) -> None:
        """After a Retry the client sent a different ClientHello (aioquic: a new random):
        the handshake, its transcript and keys begin again with it; the first stays in the
        timeline and in ``client_hellos``."""
        conn = self.conn
        assert conn is not None
        self.client_initial = bytearray()  # the held bytes are read again into it
        conn.handshakes.clear()
        if self.decryptor is not None:
            self.decryptor = _core.Decryptor(self.decryptor.store)
        self.content.crypto_restart(0, "initial", self.decryptor)

    def _replayed(self, ev: _core.QuicCrypto) -> bool:
        """After a Retry (RFC 9000 §17.2.5.2), the client's Initial CRYPTO bytes from offset
        0 again: while they repeat the first ClientHello they are a retransmission (held,
        then dropped once all of it came again, as tshark shows it); at the first byte that
        differs the handshake restarts and the held bytes are read. True when ``ev`` is
        held."""
        if (ev.side, ev.space) != (0, "initial"):
            return False
        if self.replay is None and ev.offset == 0 and self.client_initial:
            # The core hands out offset 0 again only when the client followed a Retry (one
            # that verifies, or a forged one it did not discard): its CRYPTO stream restarted.
            self.replay, self.held = bytes(self.client_initial), []
        replay = self.replay
        if replay is None:
            return False
        seen = sum(len(h.data) for h in self.held)
        if ev.offset == seen and replay[ev.offset : ev.offset + len(ev.data)] == ev.data:
            self.held.append(ev)
            if ev.offset + len(ev.data) >= len(replay):
                self.replay, self.held = None, []  # the same ClientHello, sent again
            return True
        held, self.replay, self.held = self.held, None, []
        self._restart()
        for h in held:
            self._crypto(h)
        return False

    # -- the handshake --------------------------------------------------------------------
    def _crypto(self, ev: _core.QuicCrypto) -> None:
        if self._replayed(ev):
            return
        if (ev.side, ev.space) == (0, "initial") and len(self.client_initial) < self.max_message:
            self.client_initial += ev.data  # what a Retry's resend is compared with
        if ev.client_random is not None and self.decryptor is not None:
            # The random the core's QUIC layer opened the packets by: the decryptor looks up
            # the same secrets should the ClientHello be skipped past --max-message.
            self.decryptor.transport_client_random(ev.client_random)
        # Handshake and 1-RTT CRYPTO bytes were opened with the key log's secrets.
        decrypted = ev.space != "initial"
        at = (self.frame, self.ts_ns)
        events = self.content.crypto(ev.side, ev.space, ev.data, ev.offset, decrypted, at=at)
        self._content_events(events)
