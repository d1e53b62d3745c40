//! A protected packet through its connection: Initial keys derived when needed, the packet
//! opened or kept for its keys, its frames parsed, CRYPTO data reassembled (the hellos'
//! random and suite taken from it to install the key log's keys) and new Connection IDs
//! registered.

use super::conn::{Buffered, Conn, Level};
use super::crypto_stream::Pushed;
use super::frames::{parse_frames, Frame, FrameAt};
use super::hello::{client_random, server_suite};
use super::keys::Suite;
use super::packet::{parse_long, parse_short, Form, PacketView};
use super::table::QuicConnections;
use super::{Datagram, PacketEvent, QuicEvent, Space};

/// What a packet's frames ask of the table.
enum Work {
    /// CRYPTO data: the frame's offset in the plaintext, its stream offset and bytes.
    Crypto {
        at: usize,
        offset: u64,
        data: Vec<u8>,
    },
    /// A Connection ID the sender gives its peer (NEW_CONNECTION_ID).
    NewCid(Vec<u8>),
}

fn work_of(frames: &[FrameAt], payload: &[u8]) -> Vec<Work> {
    frames
        .iter()
        .filter_map(|at| match &at.frame {
            Frame::Crypto { offset, data } => Some(Work::Crypto {
                at: at.offset,
                offset: *offset,
                data: data.of(payload).to_vec(),
            }),
            Frame::NewConnectionId { cid, .. } => Some(Work::NewCid(cid.of(payload).to_vec())),
            _ => None,
        })
        .collect()
}

impl QuicConnections {
    pub(super) fn protected(
        &mut self,
        d: &Datagram<'_>,
        view: &PacketView<'_>,
        conn: u64,
        side: u8,
        level: Level,
    ) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.last_frame = c.last_frame.max(d.frame);
        if view.form != Form::Short {
            c.version = view.version;
        }
        if level == Level::Initial && !c.initial_unknown {
            if let Err(err) = c.ensure_initial() {
                self.finding(d.frame, view.start, Some(conn), err);
                return;
            }
        }
        if !c.has_keys(level, side) {
            if !self.buffer(d, view, conn, side) {
                self.sealed(d, view, conn, side, false);
            }
            return;
        }
        let opened = match c.open(d.payload, view, level, side) {
            Ok(opened) => opened,
            Err(err) => {
                let forged = (level == Level::Initial)
                    .then(|| c.open_with_forged_retry(d.payload, view, side))
                    .flatten();
                let Some((opened, retry_frame)) = forged else {
                    self.finding(
                        d.frame,
                        view.start,
                        Some(conn),
                        format!("a packet ({}) that does not open: {err}", view.name()),
                    );
                    // Initial keys come from the header, not the key log: only a damaged
                    // Initial fails them.
                    self.sealed(d, view, conn, side, level != Level::Initial);
                    return;
                };
                self.followed_forged_retry(d.frame, view.start, conn, retry_frame);
                opened
            }
        };
        if opened.header.reserved_bits_set(view.form == Form::Short) {
            self.finding(
                d.frame,
                view.start,
                Some(conn),
                "reserved header bits set after header protection was removed: a protocol \
                 violation (RFC 9000 §17.2)"
                    .to_owned(),
            );
        }
        if let Some(key_phase) = opened.key_update {
            self.events.push_back(QuicEvent::KeyUpdate {
                conn,
                frame: d.frame,
                side,
                key_phase,
            });
        }
        let (frames, error) = parse_frames(&opened.payload);
        let base = opened.payload_offset;
        if let Some(err) = error {
            self.finding(
                d.frame,
                base + err.offset(),
                Some(conn),
                format!("a frame that does not parse ({err}): the rest of the packet is skipped"),
            );
        }
        let key_phase = (view.form == Form::Short).then(|| opened.header.key_phase());
        let seq = self.conns.get_mut(&conn).map_or(0, Conn::next_seq);
        let event = PacketEvent {
            pn: Some(opened.pn),
            key_phase,
            payload: opened.payload,
            frames,
            ..PacketEvent::unopened(d, view, conn, side, seq)
        };
        // What the frames ask of the table, taken before the plaintext moves into the event.
        let work = work_of(&event.frames, &event.payload);
        self.events.push_back(QuicEvent::Packet(event));
        for item in work {
            match item {
                Work::Crypto { at, offset, data } => {
                    self.crypto(d, conn, side, level.space(), base + at, offset, &data);
                }
                Work::NewCid(cid) => self.register_cid(conn, &cid, side),
            }
        }
    }

    /// An Initial opened with the keys of a Retry whose tag failed: the client followed
    /// it, so its Initial CRYPTO stream starts over as after a Retry that verifies.
    fn followed_forged_retry(&mut self, frame: u64, at: usize, conn: u64, retry_frame: u64) {
        if let Some(c) = self.conns.get_mut(&conn) {
            let dropped = c.restart_client_initial(self.limits.max_crypto);
            self.crypto_waiting = self.crypto_waiting.saturating_sub(dropped);
        }
        self.finding(
            frame,
            at,
            Some(conn),
            format!(
                "an Initial that opens only with keys from the Source Connection ID of the \
                 Retry in frame {retry_frame}, whose integrity tag does not verify: the client \
                 did not discard that Retry (RFC 9000 §17.2.5.2), and its Initials are read \
                 with those keys from here"
            ),
        );
    }

    /// CRYPTO data that would wait beyond a hole past `max_crypto_waiting` (all
    /// connections) or `max_crypto_stream_waiting` (its stream: `stream`) is dropped:
    /// memory is bounded by the work, not by how many connections each leave CRYPTO data
    /// waiting on a hole, nor one hole by what its filling hands out at once (a
    /// retransmission may bring it again, then in order). Told once a connection.
    fn crypto_dropped(
        &mut self,
        d: &Datagram<'_>,
        conn: u64,
        at: usize,
        offset: u64,
        len: usize,
        stream: bool,
    ) {
        let Some(c) = self.conns.get_mut(&conn).filter(|c| !c.crypto_dropped) else {
            return;
        };
        c.crypto_dropped = true;
        let reached = if stream {
            let max = self.limits.max_crypto_stream_waiting >> 10;
            format!("this CRYPTO stream's data waiting beyond its hole reached {max} KiB")
        } else {
            let max = self.limits.max_crypto_waiting >> 20;
            format!("the QUIC connections' CRYPTO data waiting beyond holes reached {max} MiB")
        };
        let what = format!(
            "CRYPTO data of {len} bytes at offset {offset} waits beyond a hole and is dropped, \
             as is more of this connection's: {reached}"
        );
        self.finding(d.frame, at, Some(conn), what);
    }

    #[allow(clippy::too_many_arguments)]
    fn crypto(
        &mut self,
        d: &Datagram<'_>,
        conn: u64,
        side: u8,
        space: Space,
        at: usize,
        offset: u64,
        data: &[u8],
    ) {
        let Some(stream) = self
            .conns
            .get_mut(&conn)
            .and_then(|c| c.crypto.get_mut(usize::from(side.min(1))))
            .and_then(|s| s.get_mut(space.index()))
        else {
            return;
        };
        let waited = stream.waiting();
        let len = data.len() as u64;
        if offset > stream.delivered() {
            let over_all = self.crypto_waiting.saturating_add(len) > self.limits.max_crypto_waiting;
            let over_stream = waited.saturating_add(len) > self.limits.max_crypto_stream_waiting;
            if over_all || over_stream {
                self.crypto_dropped(d, conn, at, offset, data.len(), !over_all);
                return;
            }
        }
        let pushed = stream.push(offset, data);
        let now = stream.waiting();
        self.crypto_waiting = (self.crypto_waiting + now).saturating_sub(waited);
        let Pushed { run, conflict } = match pushed {
            Ok(pushed) => pushed,
            Err(err) => {
                self.finding(d.frame, at, Some(conn), err.to_string());
                return;
            }
        };
        if let Some(conflict) = conflict {
            self.finding(d.frame, at, Some(conn), conflict.to_string());
        }
        let Some((start, bytes)) = run else {
            return;
        };
        let client_random = (space == Space::Initial && start == 0)
            .then(|| self.hello(d, conn, side, at, &bytes))
            .flatten();
        // A run that continues the one just told (CRYPTO frames of one datagram in order)
        // joins it: the handshake parser gets one event per stretch of bytes.
        if let Some(QuicEvent::Crypto {
            conn: c,
            frame,
            side: s,
            space: sp,
            offset,
            data,
            ..
        }) = self.events.back_mut()
        {
            let end = offset.saturating_add(data.len() as u64);
            if (*c, *frame, *s, *sp, end) == (conn, d.frame, side, space, start) {
                data.extend_from_slice(&bytes);
                return;
            }
        }
        self.events.push_back(QuicEvent::Crypto {
            conn,
            frame: d.frame,
            side,
            space,
            offset: start,
            data: bytes,
            client_random,
        });
    }

    /// The ClientHello's random or the ServerHello's suite, then the key log's keys. The
    /// client random read, for the event that hands these bytes out.
    fn hello(
        &mut self,
        d: &Datagram<'_>,
        conn: u64,
        side: u8,
        at: usize,
        stream: &[u8],
    ) -> Option<[u8; 32]> {
        let c = self.conns.get_mut(&conn)?;
        // A hello that does not parse is the handshake parser's to tell; no keys follow.
        let mut read = None;
        if side == 0 {
            let random = client_random(stream).ok()?;
            c.client_random = Some(random);
            read = Some(random);
        } else {
            let id = server_suite(stream).ok()?;
            match Suite::from_id(id) {
                Some(suite) => c.suite = Some(suite),
                None => {
                    let what = format!("a ServerHello with suite 0x{id:04x}, not one QUIC uses");
                    self.finding(d.frame, at, Some(conn), what);
                    return None;
                }
            }
        }
        self.install_keys(conn, d.frame);
        read
    }

    /// Install the key log's secrets of `conn` and open the packets kept for them.
    pub(super) fn install_keys(&mut self, conn: u64, frame: u64) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let Some(logged) = c.client_random.and_then(|r| self.keylog.get(&r)) else {
            return;
        };
        match c.install(logged) {
            Ok(true) => self.replay(conn),
            Ok(false) => {}
            Err(err) => self.finding(
                frame,
                0,
                Some(conn),
                format!("the key log's secrets do not make keys: {err}"),
            ),
        }
    }

    /// Packets kept for keys, through again (those still without keys are kept again).
    fn replay(&mut self, conn: u64) {
        for kept in self.take_buffered(conn) {
            let Some((d, view, level)) = self.kept_packet(conn, &kept) else {
                continue;
            };
            self.protected(&d, &view, conn, kept.side, level);
        }
    }

    /// A kept packet parsed again, with the datagram it came in.
    fn kept_packet<'a>(
        &self,
        conn: u64,
        kept: &'a Buffered,
    ) -> Option<(Datagram<'a>, PacketView<'a>, Level)> {
        let c = self.conns.get(&conn)?;
        let (src, dst) = if kept.side == 0 {
            (c.client, c.server)
        } else {
            (c.server, c.client)
        };
        let d = Datagram {
            frame: kept.frame,
            ts_ns: kept.ts_ns,
            src,
            dst,
            payload: &kept.bytes,
        };
        let short = kept.bytes.get(kept.offset).is_some_and(|b| b & 0x80 == 0);
        let view = if short {
            parse_short(&kept.bytes, kept.offset, kept.dcid_len)
        } else {
            parse_long(&kept.bytes, kept.offset)
        }
        .ok()?;
        let level = match view.form {
            Form::Short => Level::OneRtt,
            Form::Long(kind) => Level::of(Some(kind))?,
            _ => return None,
        };
        Some((d, view, level))
    }

    /// A kept packet told as not opened.
    pub(super) fn kept_sealed(&mut self, conn: u64, kept: &Buffered) {
        if let Some((d, view, _)) = self.kept_packet(conn, kept) {
            self.sealed(&d, &view, conn, kept.side, false);
        }
    }
}
