//! What the flow table takes (its bounds, the answers of the sessions) and what it tells.

use super::packet::Addr;
use super::tcp::{StreamEvent, MAX_PENDING_BYTES};
use super::udp::{Snapped, UdpClosed, UdpOpened, MAX_UDP_FLOWS};

/// What a hostile or endless capture can make the table hold (the flow part of
/// Python's `bounds.Limits`, same defaults).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Ended connections held back while an earlier one is still open.
    pub reorder_window: usize,
    /// TCP connections open at once; past this the oldest is closed early.
    pub max_connections: usize,
    /// Out-of-order bytes per direction.
    pub max_buffer: usize,
    /// Bytes of one side after which an undecided session may give its flow up
    /// (the session's `MAX_PRELUDE_SCAN`).
    pub watch_after: u64,
    /// UDP associations (QUIC, DTLS) open at once; past this the one idle longest ends.
    pub max_udp_flows: usize,
    /// Bytes the open TCP flows hold at once, here and in their sessions (`FlowSink::held`);
    /// past this the oldest is closed early.
    pub max_held: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            reorder_window: 1000,
            max_connections: 50_000,
            max_buffer: MAX_PENDING_BYTES,
            watch_after: 1 << 20,
            max_udp_flows: MAX_UDP_FLOWS,
            max_held: MAX_HELD,
        }
    }
}

/// What the open TCP flows may hold at once (`Limits.max_held`): with the ~40 MB of the
/// interpreter and its modules, a `show` stays within ~150 MB whatever the capture. The
/// connections bound alone let 50,000 flows each hold what a hostile length field or a
/// hole makes them wait for (a 2 MiB message, 8 MiB out of order): 5,000 flows that each
/// sent 60 KB beyond a lost segment made a `show` of 6 GB.
pub const MAX_HELD: usize = 64 << 20;

/// Why an open flow was closed early.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Eviction {
    /// More than `max_connections` were open.
    Connections,
    /// The open flows held more than `max_held` bytes.
    Held,
}

/// A new flow, as its first frame shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Opened {
    pub flow: u64,
    pub src: Addr,
    pub sport: u16,
    pub dst: Addr,
    pub dport: u16,
    pub frame: u64,
    pub ts_ns: i128,
    /// 0 when the first frame is the client's SYN, 1 for a SYN/ACK, unknown otherwise.
    pub client_side: Option<u8>,
    pub mid_stream: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    Fin,
    Rst,
}

/// What the table tells its sink, in frame order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowEvent<'a> {
    Opened(Opened),
    /// What reassembly made available of one side (data, a gap or a conflict), at `frame`.
    Stream {
        flow: u64,
        side: u8,
        event: StreamEvent<'a>,
        frame: u64,
        ts_ns: i128,
    },
    /// A FIN or RST from `side`.
    Closing {
        flow: u64,
        side: u8,
        frame: u64,
        ts_ns: i128,
    },
    /// About to be closed early at `frame`, the oldest of the `open` flows (itself
    /// included), for `why`.
    Evicted {
        flow: u64,
        frame: u64,
        why: Eviction,
        open: usize,
    },
    /// The flow ended; `frame` and `ts_ns` are the session's last.
    Closed {
        flow: u64,
        frame: u64,
        ts_ns: i128,
        by: Option<CloseReason>,
        syn_ts_ns: Option<i128>,
        synack_ts_ns: Option<i128>,
    },
    /// A UDP association (QUIC or DTLS) opened: numbered with the TCP flows.
    UdpOpened(UdpOpened),
    /// One datagram of a UDP association from `side` (0: the first sender's), whole as
    /// the frame carried it; `bad_length`: its UDP length disagreed with the IP packet and
    /// it was read as far as the packet goes.
    Datagram {
        flow: u64,
        side: u8,
        frame: u64,
        ts_ns: i128,
        payload: &'a [u8],
        bad_length: bool,
    },
    /// A datagram of UDP association `flow`, or a segment of TCP flow `flow`, from `side`,
    /// cut by the capture's snap length: a datagram is not handed out; a segment's bytes
    /// captured are, the rest is a gap.
    Cut {
        flow: u64,
        side: u8,
        frame: u64,
        ts_ns: i128,
        snapped: Snapped,
    },
    /// A UDP association ended (idle, pushed out, or at the end of the capture).
    UdpClosed(UdpClosed),
    /// The flow's connection is next in order (`late`: after later ones, past the window,
    /// or, `held`, because those held more than `max_held`).
    HandOut {
        flow: u64,
        late: bool,
        held: bool,
    },
}

pub trait FlowSink {
    fn event(&mut self, event: FlowEvent<'_>);

    /// What the sink holds for the open TCP flows (their sessions, what it told of them and
    /// is kept until they end), as the allocator counts it: with the table's own, bounded
    /// by `Limits.max_held`.
    fn held(&self) -> usize {
        0
    }

    /// Whether the sink holds enough for now: the end of the capture closes no further
    /// flow in this chunk (`FlowTable::finish_some`).
    fn full(&self) -> bool {
        false
    }

    /// A UDP datagram of no association that does not look like the start of QUIC or DTLS
    /// (at `frame`): whether the sink takes it as its own (a migrated QUIC client's short
    /// headers, known by their Connection ID). One not taken is counted as skipped UDP.
    fn unassociated(
        &mut self,
        _datagram: &super::packet::Datagram<'_>,
        _frame: u64,
        _ts_ns: i128,
    ) -> bool {
        false
    }
}

/// The answer to [`Step::Ask`]: what the flow's session said after its data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Not TLS: the flow is let go now.
    Ignored,
    /// TLS: never asked about again.
    Tls,
    /// Not decided yet: asked again after the next data of a side in `watch` (the others'
    /// data can no longer make the session give the flow up).
    Undecided { watch: [bool; 2] },
}

/// How a frame went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Left before the end of the frame loop (not TCP, a pure ACK, a closed flow...).
    Passed,
    /// Went through; `progress` every `PROGRESS_EVERY_FRAMES` frames (the closed flows were
    /// purged), `check` every `CHECK_EVERY_FRAMES` (a time budget may be checked).
    Done { progress: bool, check: bool },
    /// The flow's session may have given it up: answer with [`FlowTable::answer`] before
    /// the next frame.
    Ask { flow: u64 },
}
