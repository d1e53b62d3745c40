//! The UDP side of the flow table: datagrams that can carry TLS (QUIC, DTLS), grouped per
//! 4-tuple into associations.
//!
//! Only a datagram that looks like the start of QUIC or DTLS ([`udp_kind`]) opens an
//! association; the later datagrams of its 4-tuple, either way, follow it whatever they
//! look like (QUIC short headers, DTLS 1.3 unified headers carry no version to tell them
//! by). A capture that starts after the DTLS 1.3 hellos has only unified headers: those
//! open an association only when [`UNIFIED_IN_A_ROW`] datagrams of a 4-tuple in a row are
//! nothing but whole unified-header records ([`unified_only`]), a count per 4-tuple bounded
//! by [`MAX_UNIFIED_PENDING`]. Any other UDP (DNS, mDNS, NTP...) opens nothing, so no table
//! grows for it. An
//! association holds no payload (each datagram is handed out as it comes): its memory is
//! constant, and the associations open at once are bounded by `Limits::max_udp_flows`, and
//! with the TCP flows by what they hold (`Limits::max_held`, [`UDP_ASSOCIATION_COST`]).
//! One ends after [`UDP_IDLE_TIMEOUT_NS`] of capture time without a datagram, when the
//! bound pushes it out (the one idle longest), or at the end of the capture. The rest of
//! one ended or closed early is skipped until its 4-tuple is idle (`after_stop`).

use std::collections::{BTreeSet, HashMap};

use super::packet::{Addr, Datagram};
use super::FlowMap;
// DTLS record versions: 1.0, 1.2, 1.3 (a 1.3 record says 1.2 but a ClientHello may not),
// and OpenSSL's pre-standard 0x0100 (DTLS1_BAD_VER), the DTLS record layer's own list.
use crate::codec::Reader;
use crate::dtls::handshake::read_fragment;
pub use crate::dtls::record::unified_only;
use crate::dtls::record::{read_record, Header, VERSIONS as DTLS_VERSIONS};

/// Capture time without a datagram after which an association ends. Longer than QUIC's and
/// DTLS's own idle timeouts (QUIC's is what the endpoints negotiate, commonly 30 s), so
/// a live session is not cut, and a later one on the same 4-tuple starts afresh.
pub const UDP_IDLE_TIMEOUT_NS: i128 = 120 * 1_000_000_000;
/// UDP associations open at once by default (`Limits::max_udp_flows`).
pub const MAX_UDP_FLOWS: usize = 50_000;
/// What an open association holds, here, in the QUIC connection table or DTLS association
/// and in Python's model of its connection, as `Limits::max_held` counts it: measured, 12 KB
/// a connection (4,000 QUIC connections of 32 Initials each 140 MB, 2,000 of them 116 MB;
/// 2,000 DTLS associations 72 MB, 1,000 59 MB).
pub const UDP_ASSOCIATION_COST: usize = 12 << 10;

/// QUIC versions that open an association (RFC 9000, RFC 9369, the IETF drafts).
const QUIC_V1: u32 = 0x0000_0001;
const QUIC_V2: u32 = 0x6b33_43cf;
const QUIC_DRAFT_MASK: u32 = 0xffff_ff00;
const QUIC_DRAFT: u32 = 0xff00_0000;
/// Versions of the form 0x?a?a?a?a, reserved to make a server negotiate (RFC 9000 §15).
const QUIC_RESERVED_MASK: u32 = 0x0f0f_0f0f;
const QUIC_RESERVED: u32 = 0x0a0a_0a0a;
/// A connection ID is at most 20 bytes in QUIC v1 and v2 (RFC 9000 §17.2).
const QUIC_MAX_CID: usize = 20;

const DTLS_HEADER: usize = 13;
/// Content types with a plain 13-byte header: change_cipher_spec (20) to heartbeat (24),
/// and ack (26). tls12_cid (25) puts a connection ID of negotiated length before its
/// length field, so it cannot be checked and ends the walk.
const DTLS_TYPES: std::ops::RangeInclusive<u8> = 20..=26;
const DTLS_TLS12_CID: u8 = 25;

/// Datagrams of unified headers alone, in a row on one 4-tuple (either way), that open an
/// association whose hellos were not captured. One datagram of random bytes passes
/// [`unified_only`] about once in 2^21 (first byte 1 in 32, length exact 1 in 2^16): three
/// in a row from one 4-tuple are not chance.
pub const UNIFIED_IN_A_ROW: u8 = 3;
/// 4-tuples counted toward [`UNIFIED_IN_A_ROW`] at once; past it the counts start over, so
/// a flood of lookalikes holds no more memory than this.
pub const MAX_UNIFIED_PENDING: usize = 4096;

/// What the first datagram of an association looks like.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UdpKind {
    Quic,
    Dtls,
}

impl UdpKind {
    pub fn name(self) -> &'static str {
        match self {
            UdpKind::Quic => "QUIC",
            UdpKind::Dtls => "DTLS",
        }
    }
}

/// Whether a datagram can open a QUIC or DTLS association, and which.
pub fn udp_kind(payload: &[u8]) -> Option<UdpKind> {
    classify(payload, false)
}

/// The same for a datagram cut by the capture's snap length: its last record may run
/// past what was captured.
pub fn cut_udp_kind(payload: &[u8]) -> Option<UdpKind> {
    classify(payload, true)
}

fn classify(payload: &[u8], cut: bool) -> Option<UdpKind> {
    if is_quic_long_header(payload) {
        Some(UdpKind::Quic)
    } else if is_dtls(payload, cut) {
        Some(UdpKind::Dtls)
    } else {
        None
    }
}

/// A QUIC long header (RFC 8999 §5.1, RFC 9000 §17.2): the form bit, then the fixed bit
/// unless it is a Version Negotiation packet (version 0), a version QUIC knows, and
/// destination and source connection IDs of at most 20 bytes inside the datagram.
fn is_quic_long_header(payload: &[u8]) -> bool {
    let Some((&first, rest)) = payload.split_first() else {
        return false;
    };
    let Some(version) = rest.get(..4).and_then(|v| <[u8; 4]>::try_from(v).ok()) else {
        return false;
    };
    let version = u32::from_be_bytes(version);
    let known = version == QUIC_V1
        || version == QUIC_V2
        || version & QUIC_DRAFT_MASK == QUIC_DRAFT
        || version & QUIC_RESERVED_MASK == QUIC_RESERVED;
    if first & 0x80 == 0 || !(version == 0 || (known && first & 0x40 != 0)) {
        return false;
    }
    let mut at = 5usize;
    for _ in 0..2 {
        let Some(&len) = payload.get(at) else {
            return false;
        };
        let len = usize::from(len);
        at += 1 + len;
        if len > QUIC_MAX_CID || at > payload.len() {
            return false;
        }
    }
    true
}

/// DTLS records (RFC 6347 §4.1, RFC 9147 §4): the first a plain header with a DTLS version,
/// and every record after it whole up to the end of the datagram, or a record whose
/// length cannot be told (a DTLS 1.3 unified header, tls12_cid) ending the walk; when the
/// datagram was `cut` by the snap length, a record whose header is whole ends it too.
fn is_dtls(payload: &[u8], cut: bool) -> bool {
    let mut rest = payload;
    let mut first = true;
    while let Some(&kind) = rest.first() {
        if !first && (kind & 0xe0 == 0x20 || kind == DTLS_TLS12_CID) {
            return true; // a unified header (0b001.....) or tls12_cid: length unknown here
        }
        let Some(header) = rest.get(..DTLS_HEADER) else {
            return false;
        };
        let version = u16::from_be_bytes([header[1], header[2]]);
        if !DTLS_TYPES.contains(&kind) || !DTLS_VERSIONS.contains(&version) {
            return false;
        }
        if kind == DTLS_TLS12_CID {
            return true;
        }
        let length = usize::from(u16::from_be_bytes([header[11], header[12]]));
        let Some(next) = rest.get(DTLS_HEADER + length..) else {
            return cut;
        };
        rest = next;
        first = false;
    }
    !first
}

/// A DTLS datagram whose first record is an epoch-0 handshake record carrying a
/// ClientHello's first fragment: a handshake starts (RFC 6347 §4.2.2; a DTLS 1.3
/// ClientHello is sent so too, RFC 9147 §4). Its later fragments are the same handshake:
/// each opened an association of its own (the newcomer's trial: 7 of one ClientHello).
/// Read with the DTLS association's own record and fragment readers.
fn starts_dtls_handshake(payload: &[u8]) -> bool {
    const HANDSHAKE: u8 = 22;
    const CLIENT_HELLO: u8 = 1;
    let mut cid_len = 0;
    let Ok(record) = read_record(&mut Reader::new(payload), &mut cid_len) else {
        return false;
    };
    let Header::Classic {
        content_type: HANDSHAKE,
        epoch: 0,
        ..
    } = record.header
    else {
        return false;
    };
    read_fragment(&mut Reader::new(record.body)).is_ok_and(|(fragment, _)| {
        fragment.msg_type == CLIENT_HELLO && fragment.fragment_offset == 0
    })
}

pub(super) type Key = (Addr, u16, Addr, u16);

/// 4-tuples whose association was ended early that are remembered at once (their later
/// datagrams skipped, not read as a new association): past it the memory starts over, and
/// those forgotten open associations again, as all did before.
pub const MAX_STOPPED_PAIRS: usize = 4096;

/// A 4-tuple's lower-ordered way, the same for both directions.
fn either_way(key: Key) -> Key {
    let (src, sport, dst, dport) = key;
    key.min((dst, dport, src, sport))
}

/// Why an association ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UdpEnd {
    /// No datagram for `UDP_IDLE_TIMEOUT_NS` of capture time.
    Idle,
    /// Pushed out, idle the longest, when more than `max_udp_flows` were open.
    Evicted,
    /// Closed early, the oldest open flow, when the open flows held more than `max_held`.
    Held,
    /// Still open at the end of the capture.
    Finished,
}

impl UdpEnd {
    pub fn name(self) -> &'static str {
        match self {
            UdpEnd::Idle => "idle",
            UdpEnd::Evicted => "evicted",
            UdpEnd::Held => "held",
            UdpEnd::Finished => "end_of_capture",
        }
    }
}

/// A new association, as its first datagram shows it: its sender is the client (side 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpOpened {
    pub flow: u64,
    pub kind: UdpKind,
    pub src: Addr,
    pub sport: u16,
    pub dst: Addr,
    pub dport: u16,
    pub frame: u64,
    pub ts_ns: i128,
}

/// An association ended: `frame` and `ts_ns` are its last datagram's; counts per side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpClosed {
    pub flow: u64,
    pub kind: UdpKind,
    pub frame: u64,
    pub ts_ns: i128,
    pub first_ts_ns: i128,
    pub end: UdpEnd,
    pub datagrams: [u64; 2],
    pub bytes: [u64; 2],
}

/// One association: counts and times, never payload.
#[derive(Debug)]
struct Association {
    keys: [Key; 2],
    kind: UdpKind,
    first_ts: i128,
    last_frame: u64,
    last_ts: i128,
    datagrams: [u64; 2],
    bytes: [u64; 2],
}

/// The associations open now. The flow table numbers them with its TCP flows.
#[derive(Debug, Default)]
pub struct UdpFlows {
    table: HashMap<Key, (u64, u8)>,
    open: FlowMap<Association>,
    /// Open associations by their last datagram's time: the idle ones first.
    idle: BTreeSet<(i128, u64)>,
    /// Open associations in the order they were opened (their flow numbers).
    by_age: BTreeSet<u64>,
    /// Associations ended early, over `max_udp_flows`.
    pub evicted: u64,
    /// Associations closed early, the oldest open flow when the open flows held more than
    /// `max_held`.
    pub evicted_held: u64,
    /// Datagrams of associations whose UDP length disagreed with their IP packet, and the
    /// first of their frames.
    pub bad_length: u64,
    pub first_bad_length: u64,
    /// Unified-header datagrams in a row per 4-tuple (its lower-ordered way) with no
    /// association yet, at most [`MAX_UNIFIED_PENDING`].
    unified: HashMap<Key, u8>,
    /// 4-tuples (their lower-ordered way) whose association tlslens ended early, past
    /// `max_held` or `max_udp_flows`: their last datagram's time, and whether one of their
    /// later datagrams was skipped. At most [`MAX_STOPPED_PAIRS`].
    stopped: HashMap<Key, (i128, bool)>,
    /// Datagrams skipped on those 4-tuples, the first's frame, and the associations ended
    /// early that had some skipped (a 4-tuple reopened and stopped again counts twice).
    pub after_stop: u64,
    pub first_after_stop: u64,
    pub pairs_after_stop: u64,
}

/// A datagram (or segment) cut by the capture's snap length: the frame's bytes captured
/// and on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Snapped {
    pub captured: u64,
    pub original: u64,
}

impl UdpFlows {
    pub fn open_count(&self) -> usize {
        self.open.len()
    }

    /// The association a datagram belongs to, and its side, counted in.
    pub fn take(&mut self, d: &Datagram<'_>, frame: u64, ts_ns: i128) -> Option<(u64, u8)> {
        let (index, side) = *self.table.get(&(d.src, d.sport, d.dst, d.dport))?;
        let assoc = self.open.get_mut(&index)?;
        self.idle.remove(&(assoc.last_ts, index));
        let half = usize::from(side);
        assoc.datagrams[half] += 1;
        assoc.bytes[half] += d.payload.len() as u64;
        assoc.last_frame = frame;
        assoc.last_ts = ts_ns;
        self.idle.insert((ts_ns, index));
        self.note_length(d, frame);
        Some((index, side))
    }

    /// A datagram of no association: whether it is the [`UNIFIED_IN_A_ROW`]th of unified
    /// headers alone on its 4-tuple, which then opens a DTLS association; any other
    /// datagram of the 4-tuple starts the count over.
    pub fn unified_run(&mut self, d: &Datagram<'_>) -> bool {
        let key = either_way((d.src, d.sport, d.dst, d.dport));
        if !unified_only(d.payload) {
            self.unified.remove(&key);
            return false;
        }
        if self.unified.len() >= MAX_UNIFIED_PENDING && !self.unified.contains_key(&key) {
            self.unified.clear();
        }
        let count = self.unified.entry(key).or_insert(0);
        *count = count.saturating_add(1);
        if *count < UNIFIED_IN_A_ROW {
            return false;
        }
        self.unified.remove(&key);
        true
    }

    /// A new association from its first datagram (already known to be QUIC or DTLS).
    pub fn open(&mut self, opened: &UdpOpened, d: &Datagram<'_>) {
        let key = (d.src, d.sport, d.dst, d.dport);
        let reverse = (d.dst, d.dport, d.src, d.sport);
        let index = opened.flow;
        self.open.insert(
            index,
            Association {
                keys: [key, reverse],
                kind: opened.kind,
                first_ts: opened.ts_ns,
                last_frame: opened.frame,
                last_ts: opened.ts_ns,
                datagrams: [1, 0],
                bytes: [d.payload.len() as u64, 0],
            },
        );
        self.idle.insert((opened.ts_ns, index));
        self.by_age.insert(index);
        self.table.insert(key, (index, 0));
        self.table.insert(reverse, (index, 1));
        self.note_length(d, opened.frame);
    }

    fn note_length(&mut self, d: &Datagram<'_>, frame: u64) {
        if d.bad_length {
            self.bad_length += 1;
            if self.first_bad_length == 0 {
                self.first_bad_length = frame;
            }
        }
    }

    /// The association idle the longest, if it has been idle past the timeout at `now_ns`
    /// (any, with `now_ns` None).
    pub fn stalest(&self, now_ns: Option<i128>) -> Option<u64> {
        let &(last_ts, index) = self.idle.first()?;
        match now_ns {
            Some(now) if now.saturating_sub(last_ts) <= UDP_IDLE_TIMEOUT_NS => None,
            _ => Some(index),
        }
    }

    /// Every open association, in the order they were opened.
    pub fn open_flows(&self) -> Vec<u64> {
        self.by_age.iter().copied().collect()
    }

    /// The association opened first of those open.
    pub fn oldest(&self) -> Option<u64> {
        self.by_age.first().copied()
    }

    /// Remember that tlslens ended `key`'s association early (`last_ts`: its last datagram).
    fn stop(&mut self, key: Key, last_ts: i128) {
        if self.stopped.len() >= MAX_STOPPED_PAIRS && !self.stopped.contains_key(&key) {
            self.stopped.clear();
        }
        self.stopped.insert(key, (last_ts, false));
    }

    /// Whether a datagram of no association comes on a 4-tuple whose association tlslens
    /// ended early, within [`UDP_IDLE_TIMEOUT_NS`] of its last datagram: then it is the rest
    /// of that conversation, skipped and counted. Read as a new association, an alert flood
    /// cut by `max_held` came back as another association that "starts after its handshake",
    /// again and again (the review: 4 associations for one 4-tuple). Past the timeout the
    /// 4-tuple is forgotten, and a datagram on it may start afresh, as after an idle end; so
    /// may a DTLS ClientHello at once (a device on fixed ports handshakes again: the review).
    /// A QUIC Initial does not: the stopped connection's own Initials look the same here (its
    /// client's change their connection ID once the server answers), and a QUIC client takes
    /// a new port for a new connection.
    pub fn after_stop(&mut self, d: &Datagram<'_>, frame: u64, ts_ns: i128) -> bool {
        let key = either_way((d.src, d.sport, d.dst, d.dport));
        let Some((last_ts, seen)) = self.stopped.get_mut(&key) else {
            return false;
        };
        if ts_ns.saturating_sub(*last_ts) > UDP_IDLE_TIMEOUT_NS || starts_dtls_handshake(d.payload)
        {
            self.stopped.remove(&key);
            return false;
        }
        *last_ts = (*last_ts).max(ts_ns);
        if !*seen {
            *seen = true;
            self.pairs_after_stop += 1;
        }
        self.after_stop += 1;
        if self.first_after_stop == 0 {
            self.first_after_stop = frame;
        }
        true
    }

    /// End association `index`: what its end event says, or None if it is not open.
    pub fn close(&mut self, index: u64, end: UdpEnd) -> Option<UdpClosed> {
        let assoc = self.open.remove(&index)?;
        self.idle.remove(&(assoc.last_ts, index));
        self.by_age.remove(&index);
        for key in &assoc.keys {
            if self.table.get(key).is_some_and(|&(i, _)| i == index) {
                self.table.remove(key);
            }
        }
        if end == UdpEnd::Evicted {
            self.evicted += 1;
        }
        if matches!(end, UdpEnd::Evicted | UdpEnd::Held) {
            self.stop(either_way(assoc.keys[0]), assoc.last_ts);
        }
        Some(UdpClosed {
            flow: index,
            kind: assoc.kind,
            frame: assoc.last_frame,
            ts_ns: assoc.last_ts,
            first_ts_ns: assoc.first_ts,
            end,
            datagrams: assoc.datagrams,
            bytes: assoc.bytes,
        })
    }
}
