//! The connection table: datagrams in, events out. It finds each packet's connection (by
//! Destination Connection ID, whichever side chose it, else by the 4-tuple), opens the
//! connection at a client's Initial, follows Retry, Version Negotiation and migration, and
//! hands each packet to its connection (`conn`) and its frames to `frames_in`.

use std::collections::{HashMap, HashSet, VecDeque};

use super::conn::{Buffered, Conn, Level, LoggedSecrets};
use super::crypto_stream::CryptoStream;
use super::packet::{looks_like_long, parse_long, parse_short, Form, PacketView, MAX_CID_LEN};
use super::roles::Unreadable;
use super::version::{LongType, Version};
use crate::flows::FlowMap;

use super::{keys, Datagram, Endpoint, Finding, Limits, PacketEvent, QuicEvent};

/// The UDP port a datagram on which is expected to be QUIC (HTTP/3).
pub(super) const QUIC_PORT: u16 = 443;

/// QUIC connections of a capture, fed datagram by datagram.
pub struct QuicConnections {
    pub(super) limits: Limits,
    pub(super) conns: FlowMap<Conn>,
    /// Connection ID → (connection, the side that chose it).
    pub(super) by_cid: HashMap<Vec<u8>, (u64, u8)>,
    pub(super) by_tuple: HashMap<(Endpoint, Endpoint), u64>,
    /// The first datagram of an address pair of no connection, when it could not be read
    /// (`roles`), within `max_connections`.
    pub(super) unreadable: HashMap<(Endpoint, Endpoint), Unreadable>,
    /// Address pairs of short headers tied to no connection, already told (`orphans`).
    pub(super) orphans: HashSet<(Endpoint, Endpoint)>,
    /// Server endpoints of the connections followed, with how many: a datagram to or from
    /// none of them is no migrated client's (checked before `orphans` looks further).
    pub(super) servers: HashMap<Endpoint, usize>,
    /// Lengths of the Connection IDs registered, to find a short header's DCID.
    cid_lens: [bool; MAX_CID_LEN + 1],
    pub(super) keylog: HashMap<[u8; 32], LoggedSecrets>,
    next_id: u64,
    buffered_bytes: usize,
    /// CRYPTO bytes waiting beyond holes, all connections' streams together.
    pub(super) crypto_waiting: u64,
    pub(super) events: VecDeque<QuicEvent>,
}

impl QuicConnections {
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            conns: FlowMap::default(),
            by_cid: HashMap::new(),
            by_tuple: HashMap::new(),
            unreadable: HashMap::new(),
            orphans: HashSet::new(),
            servers: HashMap::new(),
            cid_lens: [false; MAX_CID_LEN + 1],
            keylog: HashMap::new(),
            next_id: 0,
            buffered_bytes: 0,
            crypto_waiting: 0,
            events: VecDeque::new(),
        }
    }

    /// The next event, in datagram order.
    pub fn poll(&mut self) -> Option<QuicEvent> {
        self.events.pop_front()
    }

    pub fn connections(&self) -> usize {
        self.conns.len()
    }

    /// CRYPTO bytes waiting beyond holes, all connections together.
    pub fn crypto_waiting(&self) -> u64 {
        self.crypto_waiting
    }

    /// A key log line's secret (label as NSS writes it). Returns false for a label QUIC
    /// does not use, a client random that is not 32 bytes, or a full key log table.
    pub fn add_secret(&mut self, label: &str, client_random: &[u8], secret: &[u8]) -> bool {
        let Ok(random) = <[u8; 32]>::try_from(client_random) else {
            return false;
        };
        if !self.keylog.contains_key(&random) && self.keylog.len() >= self.limits.max_keylog {
            return false;
        }
        let entry = self.keylog.entry(random).or_default();
        let slot = match label {
            "CLIENT_HANDSHAKE_TRAFFIC_SECRET" => &mut entry.client_handshake,
            "SERVER_HANDSHAKE_TRAFFIC_SECRET" => &mut entry.server_handshake,
            "CLIENT_TRAFFIC_SECRET_0" => &mut entry.client_traffic,
            "SERVER_TRAFFIC_SECRET_0" => &mut entry.server_traffic,
            "CLIENT_EARLY_TRAFFIC_SECRET" => &mut entry.client_early,
            _ => return false,
        };
        *slot = Some(secret.to_vec());
        let ids: Vec<u64> = self
            .conns
            .iter()
            .filter(|(_, c)| c.client_random == Some(random))
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            self.install_keys(id, 0);
        }
        true
    }

    pub(super) fn finding(&mut self, frame: u64, offset: usize, conn: Option<u64>, what: String) {
        self.events.push_back(QuicEvent::Finding(Finding {
            frame,
            offset,
            conn,
            what,
        }));
    }

    /// Feed one UDP datagram; false when it is not QUIC (a datagram to or from port 443
    /// that is not is also a finding).
    pub fn datagram(&mut self, d: &Datagram<'_>) -> bool {
        let Some(&first) = d.payload.first() else {
            return false;
        };
        let quic = if first & 0x80 != 0 && looks_like_long(d.payload) {
            self.long_packets(d);
            true
        } else if let Some((conn, side, len)) = self.short_owner(d, d.payload) {
            self.short_packet(d, 0, conn, side, len);
            true
        } else {
            false
        };
        if !quic && self.orphan(d) {
            return false;
        }
        if !quic {
            self.not_quic_on_port(d);
        }
        quic
    }

    /// A datagram that is not QUIC: a finding when it is on port 443.
    fn not_quic_on_port(&mut self, d: &Datagram<'_>) {
        if d.src.1 == QUIC_PORT || d.dst.1 == QUIC_PORT {
            self.finding(
                d.frame,
                0,
                None,
                format!(
                    "a UDP datagram of {} bytes on port {QUIC_PORT} that is neither a QUIC long \
                     header nor a short header of a QUIC connection seen (if QUIC, its \
                     handshake is not in the capture, or its Connection ID was issued in a \
                     packet not opened: without the key log)",
                    d.payload.len()
                ),
            );
        }
    }

    /// The coalesced packets of a datagram that starts with a long header.
    fn long_packets(&mut self, d: &Datagram<'_>) {
        let mut at = 0;
        while at < d.payload.len() {
            let rest = d.payload.get(at..).unwrap_or(&[]);
            if rest.first().is_some_and(|b| b & 0x80 == 0) {
                // Zeros after the last packet are padding some stacks add; anything else
                // must be a short header of a known connection (it runs to the end).
                if rest.iter().all(|b| *b == 0) {
                    return;
                }
                match self.short_owner(d, rest) {
                    Some((conn, side, len)) => self.short_packet(d, at, conn, side, len),
                    None => self.finding(
                        d.frame,
                        at,
                        None,
                        "bytes after a coalesced packet that are neither a packet nor padding"
                            .to_owned(),
                    ),
                }
                return;
            }
            match parse_long(d.payload, at) {
                Ok(view) => {
                    let end = view.end;
                    self.long_packet(d, &view);
                    if end <= at {
                        return;
                    }
                    at = end;
                }
                Err(err) => {
                    self.note_unreadable(d, at);
                    self.finding(
                        d.frame,
                        err.offset(),
                        None,
                        format!("a QUIC long header packet that does not parse: {err}"),
                    );
                    return;
                }
            }
        }
    }

    /// The connection and sending side of a short header at the start of `rest`.
    fn short_owner(&self, d: &Datagram<'_>, rest: &[u8]) -> Option<(u64, u8, usize)> {
        for len in (1..=MAX_CID_LEN).filter(|l| self.cid_lens[*l]) {
            let Some(dcid) = rest.get(1..1 + len) else {
                continue;
            };
            if let Some(&(conn, owner)) = self.by_cid.get(dcid) {
                return Some((conn, 1 - owner, len));
            }
        }
        // An unknown (or zero-length) Connection ID on a connection's own address pair:
        // one the receiver issued in a packet not opened (NEW_CONNECTION_ID travels in
        // 1-RTT), of the length its other Connection IDs have, as a peer uses one length.
        let conn = *self.by_tuple.get(&(d.src, d.dst))?;
        let c = self.conns.get(&conn)?;
        let side = u8::from(d.src == c.server);
        let len = c
            .cids
            .iter()
            .find(|(_, owner)| *owner != side)
            .map(|(id, _)| id.len())?;
        Some((conn, side, len))
    }

    fn long_packet(&mut self, d: &Datagram<'_>, view: &PacketView<'_>) {
        match view.form {
            Form::VersionNegotiation => {
                let conn = self.by_cid.get(view.dcid).map(|(c, _)| *c);
                self.events.push_back(QuicEvent::VersionNegotiation {
                    conn,
                    frame: d.frame,
                    versions: view.versions.clone(),
                });
            }
            Form::OtherVersion => {
                self.note_unreadable(d, view.start);
                self.finding(
                    d.frame,
                    view.start,
                    None,
                    format!(
                        "a {} packet: not a version the core opens",
                        super::version_name(view.version)
                    ),
                );
            }
            Form::Long(kind) => {
                let Some((conn, side)) = self.long_owner(d, view, kind) else {
                    return;
                };
                if kind == LongType::Retry {
                    self.retry(d, view, conn);
                } else if let Some(level) = Level::of(Some(kind)) {
                    self.protected(d, view, conn, side, level);
                }
            }
            Form::Short => {}
        }
    }

    /// The connection of a long header packet (opened at a client's first Initial).
    fn long_owner(
        &mut self,
        d: &Datagram<'_>,
        view: &PacketView<'_>,
        kind: LongType,
    ) -> Option<(u64, u8)> {
        if let Some(&(conn, owner)) = self.by_cid.get(view.dcid) {
            let side = 1 - owner;
            self.register_cid(conn, view.scid, side);
            self.follow_address(d, conn, side);
            return Some((conn, side));
        }
        if let Some(&conn) = self.by_tuple.get(&(d.src, d.dst)) {
            let side = u8::from(self.conns.get(&conn).is_some_and(|c| c.server == d.src));
            // A client's Initial to a Connection ID never seen is a new connection, even
            // from the same address and port.
            if kind != LongType::Initial || side == 1 {
                self.register_cid(conn, view.scid, side);
                return Some((conn, side));
            }
        }
        if kind != LongType::Initial {
            self.finding(
                d.frame,
                view.start,
                None,
                format!(
                    "a {} packet of no connection seen (its Initial is not in the capture)",
                    kind.name()
                ),
            );
            return None;
        }
        self.open_conn(d, view)
    }

    fn open_conn(&mut self, d: &Datagram<'_>, view: &PacketView<'_>) -> Option<(u64, u8)> {
        if self.conns.len() >= self.limits.max_connections {
            self.evict(d.frame);
        }
        let id = self.next_id;
        self.next_id += 1;
        let answer = self.server_first(d, view);
        let (client, server, side) = match &answer {
            Some(first) => (first.client, first.server, 1),
            None => (d.src, d.dst, 0),
        };
        // The Initial keys' ID: the client's first DCID; opened at the server's Initial, the
        // damaged client Initial's if it opened that Initial (`roles`), else unknown.
        let initial_dcid = match &answer {
            None => Some(view.dcid.to_vec()),
            Some(first) => first.dcid.clone(),
        };
        let mut conn = Conn::new(
            d.frame,
            view.version,
            client,
            server,
            initial_dcid.as_deref().unwrap_or(view.dcid),
        )
        .with_crypto_limit(self.limits.max_crypto);
        conn.initial_unknown = initial_dcid.is_none();
        self.conns.insert(id, conn);
        self.by_tuple.insert((d.src, d.dst), id);
        self.by_tuple.insert((d.dst, d.src), id);
        *self.servers.entry(server).or_default() += 1;
        // The client's first DCID stands for the server until the server chooses its own;
        // a server's Initial carries the client's ID as its DCID and its own as its SCID.
        self.register_cid(id, view.dcid, 1 - side);
        self.register_cid(id, view.scid, side);
        if let (1, Some(original)) = (side, &initial_dcid) {
            self.register_cid(id, original, 1);
        }
        self.events.push_back(QuicEvent::Opened {
            conn: id,
            frame: d.frame,
            ts_ns: d.ts_ns,
            client,
            server,
            version: view.version,
            dcid: initial_dcid,
        });
        if let Some(first) = answer {
            self.finding(first.frame, first.offset, Some(id), first.what);
        }
        Some((id, side))
    }

    /// The table is full: the connection seen least recently is no longer followed (its
    /// kept packets are told unopened), as the TCP flow table closes its oldest flow.
    fn evict(&mut self, frame: u64) {
        let Some(oldest) = self
            .conns
            .iter()
            .min_by_key(|(id, c)| (c.last_frame, **id))
            .map(|(id, _)| *id)
        else {
            return;
        };
        for kept in self.take_buffered(oldest) {
            self.kept_sealed(oldest, &kept);
        }
        let Some(c) = self.conns.remove(&oldest) else {
            return;
        };
        let waiting = c
            .crypto
            .iter()
            .flatten()
            .map(CryptoStream::waiting)
            .sum::<u64>();
        self.crypto_waiting = self.crypto_waiting.saturating_sub(waiting);
        for (cid, _) in &c.cids {
            if self
                .by_cid
                .get(cid)
                .is_some_and(|(owner, _)| *owner == oldest)
            {
                self.by_cid.remove(cid);
            }
        }
        for tuple in [(c.client, c.server), (c.server, c.client)] {
            if self.by_tuple.get(&tuple) == Some(&oldest) {
                self.by_tuple.remove(&tuple);
            }
        }
        if let Some(count) = self.servers.get_mut(&c.server) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.servers.remove(&c.server);
            }
        }
        self.finding(
            frame,
            0,
            Some(oldest),
            format!(
                "more than {} QUIC connections at once: connection {oldest}, the one seen \
                 least recently, is no longer followed",
                self.limits.max_connections
            ),
        );
    }

    /// Remember a Connection ID of `conn` chosen by `side`, within `max_cids`.
    pub(super) fn register_cid(&mut self, conn: u64, cid: &[u8], side: u8) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if c.cids.iter().any(|(id, _)| id == cid) || c.cids.len() >= self.limits.max_cids {
            return;
        }
        c.cids.push((cid.to_vec(), side));
        if cid.is_empty() {
            return;
        }
        if let Some(slot) = self.cid_lens.get_mut(cid.len()) {
            *slot = true;
        }
        self.by_cid.entry(cid.to_vec()).or_insert((conn, side));
    }

    /// A packet from a new address of a known connection's client: a migration.
    fn follow_address(&mut self, d: &Datagram<'_>, conn: u64, side: u8) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let (from, to) = if side == 0 {
            (c.client, c.server)
        } else {
            (c.server, c.client)
        };
        if (from, to) == (d.src, d.dst) {
            return;
        }
        if side == 0 && to == d.dst {
            // The old path's entries go: the table holds two per connection, whatever
            // the number of migrations (later packets on the old path are found by CID).
            for tuple in [(c.client, c.server), (c.server, c.client)] {
                if self.by_tuple.get(&tuple) == Some(&conn) {
                    self.by_tuple.remove(&tuple);
                }
            }
            c.client = d.src;
            self.by_tuple.insert((d.src, d.dst), conn);
            self.by_tuple.insert((d.dst, d.src), conn);
            self.events.push_back(QuicEvent::Migrated {
                conn,
                frame: d.frame,
                client: d.src,
            });
        }
    }

    fn retry(&mut self, d: &Datagram<'_>, view: &PacketView<'_>, conn: u64) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let Some(version) = Version::from_wire(view.version) else {
            return;
        };
        let bytes = d.payload.get(view.start..view.end).unwrap_or(&[]);
        let tag_ok = keys::retry_tag_ok(version, &c.original_dcid, bytes);
        if tag_ok {
            c.retry_scid = Some(view.scid.to_vec());
            let dropped = c.restart_client_initial(self.limits.max_crypto);
            self.crypto_waiting = self.crypto_waiting.saturating_sub(dropped);
        } else {
            // RFC 9000 §17.2.5.2: a client discards it, so the Initial keys stay those of
            // the original DCID; `protected` tries this ID's only for an Initial they do
            // not open (a client that used the Retry anyway).
            c.forged_retry = Some((view.scid.to_vec(), d.frame));
        }
        self.register_cid(conn, view.scid, 1);
        self.events.push_back(QuicEvent::Retry {
            conn,
            frame: d.frame,
            scid: view.scid.to_vec(),
            token: view.token.to_vec(),
            tag_ok,
        });
        if !tag_ok {
            self.finding(
                d.frame,
                view.end.saturating_sub(keys::TAG_LEN),
                Some(conn),
                "a Retry whose integrity tag does not verify (RFC 9001 §5.8): a client must \
                 discard it (RFC 9000 §17.2.5.2); the Initials go on with the keys of the \
                 original Destination Connection ID"
                    .to_owned(),
            );
        }
    }

    fn short_packet(&mut self, d: &Datagram<'_>, at: usize, conn: u64, side: u8, len: usize) {
        match parse_short(d.payload, at, len) {
            Ok(view) => {
                self.follow_address(d, conn, side);
                self.protected(d, &view, conn, side, Level::OneRtt);
            }
            Err(err) => self.finding(
                d.frame,
                err.offset(),
                Some(conn),
                format!("a short header packet that does not parse: {err}"),
            ),
        }
    }

    /// Keep a packet for when its keys arrive: only where the key log knows the connection,
    /// within `max_buffered_bytes`. False when it is not kept.
    pub(super) fn buffer(
        &mut self,
        d: &Datagram<'_>,
        view: &PacketView<'_>,
        conn: u64,
        side: u8,
    ) -> bool {
        let Some(c) = self.conns.get_mut(&conn) else {
            return false;
        };
        let expected = c
            .client_random
            .is_some_and(|r| self.keylog.contains_key(&r));
        // The datagram up to the packet's end, so that offsets stay the datagram's.
        let bytes = d.payload.get(..view.end).unwrap_or(&[]);
        let total = self.buffered_bytes.saturating_add(bytes.len());
        if !expected || total > self.limits.max_buffered_bytes {
            return false;
        }
        self.buffered_bytes = total;
        c.buffered.push(Buffered {
            frame: d.frame,
            ts_ns: d.ts_ns,
            side,
            offset: view.start,
            dcid_len: view.dcid.len(),
            bytes: bytes.to_vec(),
        });
        true
    }

    /// Take a connection's kept packets (to try them again).
    pub(super) fn take_buffered(&mut self, conn: u64) -> Vec<Buffered> {
        let kept = self
            .conns
            .get_mut(&conn)
            .map(|c| std::mem::take(&mut c.buffered))
            .unwrap_or_default();
        let bytes: usize = kept.iter().map(|k| k.bytes.len()).sum();
        self.buffered_bytes = self.buffered_bytes.saturating_sub(bytes);
        kept
    }

    /// The end of the capture: packets still kept for keys that never came are told as
    /// not opened.
    pub fn finish(&mut self) {
        let mut ids: Vec<u64> = self.conns.keys().copied().collect();
        ids.sort_unstable();
        for conn in ids {
            for kept in self.take_buffered(conn) {
                self.kept_sealed(conn, &kept);
            }
        }
    }

    /// An event for a packet that was not opened (`failed`: its keys did not open it).
    pub(super) fn sealed(
        &mut self,
        d: &Datagram<'_>,
        view: &PacketView<'_>,
        conn: u64,
        side: u8,
        failed: bool,
    ) {
        let seq = self.conns.get_mut(&conn).map_or(0, Conn::next_seq);
        let event = PacketEvent {
            failed,
            ..PacketEvent::unopened(d, view, conn, side, seq)
        };
        self.events.push_back(QuicEvent::Packet(event));
    }
}
