//! The flow table: TCP segments to flows, each flow's life (SYN, FIN, RST, reuse of its
//! 4-tuple, eviction) and its reassembled stream events; QUIC and DTLS datagrams to UDP
//! associations (`udp`), numbered and handed out in the same order.

use std::collections::{BTreeSet, HashMap, VecDeque};

use super::events::{CloseReason, Eviction, FlowEvent, FlowSink, Limits, Opened, Step, Verdict};
use super::order::Order;
use super::packet::{decode, Addr, Packet, Segment, Skip, TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN};
use super::tcp::{At, HalfStream, StreamEvent};
use super::udp::{Snapped, UdpEnd, UdpFlows};
mod datagrams;
mod held;

use super::{
    FlowMap, CHECK_EVERY_FRAMES, CLOSED_FLOW_LINGER_NS, MAX_CLOSED_FLOWS, PROGRESS_EVERY_FRAMES,
};

type Key = (Addr, u16, Addr, u16);

/// A segment's 4-tuple as the table keeps it, the same both ways (the lower end first), and
/// whether the segment goes the other way (from the higher end): one entry a flow.
fn canonical(src: Addr, sport: u16, dst: Addr, dport: u16) -> (Key, bool) {
    if (dst, dport) < (src, sport) {
        ((dst, dport, src, sport), true)
    } else {
        ((src, sport, dst, dport), false)
    }
}

#[derive(Debug)]
struct Live {
    halves: [HalfStream; 2],
    fin: [bool; 2],
    rst: bool,
    syn_ts: Option<i128>,
    synack_ts: Option<i128>,
    /// The last frame of this flow that reached the session, and its time.
    last_frame: u64,
    last_ts: i128,
    delivered: [u64; 2],
    decided: bool,
    /// The sides whose data could still make the session give the flow up.
    watch: [bool; 2],
}

impl Live {
    /// A SYN (or SYN-ACK, by `flags`) from side `half` at `seq`.
    fn syn(&mut self, half: usize, flags: u8, seq: u32, ts_ns: i128) {
        let stamp = if flags & TCP_ACK != 0 {
            &mut self.synack_ts
        } else {
            &mut self.syn_ts
        };
        // The first SYN's time, as Python's `or` kept it: a zero time counts as none.
        if stamp.unwrap_or(0) == 0 {
            *stamp = Some(ts_ns);
        }
        self.halves[half].syn(seq);
    }
}

#[derive(Debug)]
struct Flow {
    key: Key,
    isn: Option<u32>,
    closed_ts: i128,
    /// None once closed: a closed flow keeps only what tells a late retransmission
    /// (dropped) from a new connection on the same 4-tuple (its ISN).
    live: Option<Box<Live>>,
}

/// The rest of a frame, after the table asked about its flow.
#[derive(Clone, Copy, Debug)]
struct Waiting {
    flow: u64,
    side: u8,
    flags: u8,
    ts_ns: i128,
}

/// Frames in, flow events out. See the module's documentation.
#[derive(Debug)]
pub struct FlowTable {
    limits: Limits,
    /// Each flow by its canonical 4-tuple: (index, side of a segment from the key's lower
    /// end).
    table: HashMap<Key, (u64, u8)>,
    flows: FlowMap<Flow>,
    open: BTreeSet<u64>,
    closing: VecDeque<u64>,
    order: Order,
    next_index: u64,
    waiting: Option<Waiting>,
    /// Frames read so far.
    pub frames: u64,
    pub tcp_flows: u64,
    /// Flows closed early, over `max_connections` open at once ...
    pub evicted: u64,
    /// ... and over `max_held` held.
    pub evicted_held: u64,
    /// What the open flows hold here (`Live::held`, kept as each changes).
    held: usize,
    /// Frames whose clock went back, and the first of them.
    pub backwards: u64,
    pub first_backwards: u64,
    last_ts: i128,
    skipped: Vec<(Skip, u64)>,
    /// The frame being read, when the capture's snap length cut it.
    snapped: Option<Snapped>,
    /// The UDP associations (QUIC, DTLS).
    pub udp: UdpFlows,
}

impl FlowTable {
    pub fn new(limits: Limits) -> FlowTable {
        FlowTable {
            limits,
            table: HashMap::new(),
            flows: FlowMap::default(),
            open: BTreeSet::new(),
            closing: VecDeque::new(),
            order: Order::new(limits.reorder_window),
            next_index: 0,
            waiting: None,
            frames: 0,
            tcp_flows: 0,
            evicted: 0,
            evicted_held: 0,
            held: 0,
            backwards: 0,
            first_backwards: 0,
            last_ts: 0,
            skipped: Vec::new(),
            snapped: None,
            udp: UdpFlows::default(),
        }
    }

    /// Frames that carried no TCP segment, by reason, in the order each was first met.
    pub fn skipped(&self) -> &[(Skip, u64)] {
        &self.skipped
    }

    /// Flows in the table now (open, or closed and remembered).
    pub fn flows_held(&self) -> usize {
        self.flows.len()
    }

    pub fn open_flows(&self) -> usize {
        self.open.len()
    }

    /// One frame of the capture, captured whole.
    pub fn frame(
        &mut self,
        ts_ns: i128,
        linktype: u32,
        data: &[u8],
        sink: &mut impl FlowSink,
    ) -> Step {
        self.captured(ts_ns, linktype, data, data.len(), sink)
    }

    /// One frame of the capture, `orig_len` bytes long on the wire: more than `data` holds
    /// when the capture's snap length cut it.
    pub fn captured(
        &mut self,
        ts_ns: i128,
        linktype: u32,
        data: &[u8],
        orig_len: usize,
        sink: &mut impl FlowSink,
    ) -> Step {
        debug_assert!(self.waiting.is_none(), "a frame before the answer to Ask");
        self.snapped = (orig_len > data.len()).then_some(Snapped {
            captured: data.len() as u64,
            original: orig_len as u64,
        });
        self.frames += 1;
        let frame = self.frames;
        if ts_ns < self.last_ts {
            self.backwards += 1;
            if self.first_backwards == 0 {
                self.first_backwards = frame;
            }
        }
        self.last_ts = ts_ns;
        while let Some(index) = self.udp.stalest(Some(ts_ns)) {
            self.close_udp(index, UdpEnd::Idle, sink);
        }
        match decode(linktype, data) {
            Ok(Packet::Tcp(seg)) => self.segment(&seg, ts_ns, sink),
            Ok(Packet::Udp(datagram)) => self.datagram(&datagram, ts_ns, sink),
            Err(reason) => self.skip(reason),
        }
    }

    fn skip(&mut self, reason: Skip) -> Step {
        match self.skipped.iter_mut().find(|(r, _)| *r == reason) {
            Some((_, count)) => *count += 1,
            None => self.skipped.push((reason, 1)),
        }
        Step::Passed
    }

    fn segment(&mut self, seg: &Segment<'_>, ts_ns: i128, sink: &mut impl FlowSink) -> Step {
        let flags = seg.flags;
        // Bytes the snap length cut off (a frame captured whole that claims more lies:
        // it is read as far as it goes, as before).
        let snapped = self.snapped.filter(|_| seg.missing > 0);
        let missing = snapped.map_or(0, |_| seg.missing as u64);
        let carries = !seg.payload.is_empty() || missing > 0;
        if !carries && flags & (TCP_SYN | TCP_FIN | TCP_RST) == 0 {
            return Step::Passed; // a pure ACK: reassembly goes by sequence numbers alone
        }
        let (key, flipped) = canonical(seg.src, seg.sport, seg.dst, seg.dport);
        let new_syn = flags & TCP_SYN != 0 && flags & TCP_ACK == 0;
        let mut entry =
            (self.table.get(&key).copied()).map(|(index, side)| (index, side ^ u8::from(flipped)));
        if let Some((index, _)) = entry {
            let (closed, isn) = match self.flows.get(&index) {
                Some(flow) => (flow.live.is_none(), flow.isn),
                None => (true, None),
            };
            if new_syn && (closed || isn.is_some_and(|isn| isn != seg.seq)) {
                // The 4-tuple is reused by a new connection.
                if !closed {
                    self.close(index, None, sink);
                }
                entry = None;
            }
        }
        let (index, side) = match entry {
            Some(found) => found,
            None => {
                if !carries && flags & TCP_SYN == 0 {
                    return Step::Passed; // a stray ACK/FIN/RST of a flow never seen
                }
                (self.open_flow(seg, (key, flipped), new_syn, ts_ns, sink), 0)
            }
        };
        let frame = self.frames;
        let Some(live) = self
            .flows
            .get_mut(&index)
            .and_then(|f| f.live.as_deref_mut())
        else {
            return Step::Passed;
        };
        let mut seq = seg.seq;
        let half = usize::from(side);
        if flags & TCP_SYN != 0 {
            live.syn(half, flags, seq, ts_ns);
            if carries {
                seq = seq.wrapping_add(1); // TCP Fast Open: data rides on the SYN
            }
        }
        live.last_frame = frame;
        live.last_ts = ts_ns;
        if let Some(snapped) = snapped {
            // Its captured bytes are read, the rest is a gap: tshark's "[Packet size
            // limited during capture]".
            sink.event(FlowEvent::Cut {
                flow: index,
                side,
                frame,
                ts_ns,
                snapped,
            });
        }
        if carries {
            let before = live.halves[half].offset();
            let held = live.halves[half].held();
            let mut delivered = 0u64;
            let at = At { frame, ts_ns };
            live.halves[half].feed_cut(seq, seg.payload, missing, at, &mut |ev, read| {
                if let StreamEvent::Data { data, .. } = ev {
                    delivered += data.len() as u64;
                }
                sink.event(FlowEvent::Stream {
                    flow: index,
                    side,
                    event: ev,
                    frame: read.frame,
                    ts_ns: read.ts_ns,
                });
            });
            debug_assert!(live.halves[half].offset() >= before);
            self.held = (self.held + live.halves[half].held()).saturating_sub(held);
            live.delivered[half] += delivered;
            if delivered > 0
                && !live.decided
                && live.watch[half]
                && live.delivered[half] > self.limits.watch_after
            {
                self.waiting = Some(Waiting {
                    flow: index,
                    side,
                    flags,
                    ts_ns,
                });
                return Step::Ask { flow: index };
            }
        }
        self.end_of_frame(index, side, flags, ts_ns, sink)
    }

    fn open_flow(
        &mut self,
        seg: &Segment<'_>,
        (key, flipped): (Key, bool),
        new_syn: bool,
        ts_ns: i128,
        sink: &mut impl FlowSink,
    ) -> u64 {
        let index = self.next_index;
        self.next_index += 1;
        self.tcp_flows += 1;
        let syn = seg.flags & TCP_SYN != 0;
        sink.event(FlowEvent::Opened(Opened {
            flow: index,
            src: seg.src,
            sport: seg.sport,
            dst: seg.dst,
            dport: seg.dport,
            frame: self.frames,
            ts_ns,
            client_side: syn.then_some(u8::from(seg.flags & TCP_ACK != 0)),
            mid_stream: !syn,
        }));
        let max_buffer = self.limits.max_buffer;
        let live = Live {
            halves: [HalfStream::new(max_buffer), HalfStream::new(max_buffer)],
            fin: [false; 2],
            rst: false,
            syn_ts: None,
            synack_ts: None,
            last_frame: self.frames,
            last_ts: ts_ns,
            delivered: [0; 2],
            decided: false,
            watch: [true; 2],
        };
        self.held += live.held();
        self.flows.insert(
            index,
            Flow {
                key,
                isn: new_syn.then_some(seg.seq),
                closed_ts: 0,
                live: Some(Box::new(live)),
            },
        );
        self.open.insert(index);
        if self.open.len() > self.limits.max_connections {
            // Memory is bounded by the connections open at once, not by how many a capture
            // opens and never closes: the oldest open one is closed now.
            self.evict(Eviction::Connections, sink);
        }
        // The opening segment's sender is side 0. A connection from an end to itself (both
        // ways the same 4-tuple) had its second direction's entry, side 1, replace the first:
        // its later segments are side 1, as they were.
        let looped = (seg.src, seg.sport) == (seg.dst, seg.dport);
        self.table.insert(key, (index, u8::from(flipped || looped)));
        index
    }

    /// The answer to the last [`Step::Ask`]; the frame then goes on.
    pub fn answer(&mut self, verdict: Verdict, sink: &mut impl FlowSink) -> Step {
        let Some(w) = self.waiting.take() else {
            return Step::Passed;
        };
        match verdict {
            Verdict::Ignored => {
                self.let_go(w.flow, w.ts_ns);
                self.emit(sink);
                return self.checkpoints(w.ts_ns);
            }
            Verdict::Tls => {
                if let Some(live) = self.live(w.flow) {
                    live.decided = true;
                }
            }
            Verdict::Undecided { watch } => {
                if let Some(live) = self.live(w.flow) {
                    live.watch = watch;
                }
            }
        }
        self.end_of_frame(w.flow, w.side, w.flags, w.ts_ns, sink)
    }

    /// A flow whose session gave it up outside a [`Step::Ask`] (after an internal error):
    /// let go from now on.
    pub fn ignore(&mut self, flow: u64, sink: &mut impl FlowSink) {
        if self.live(flow).is_some() {
            self.let_go(flow, self.last_ts);
            self.emit(sink);
        }
    }

    fn live(&mut self, flow: u64) -> Option<&mut Live> {
        self.flows
            .get_mut(&flow)
            .and_then(|f| f.live.as_deref_mut())
    }

    /// Not TLS: its slot in the order is handed on so later connections are not held back.
    fn let_go(&mut self, index: u64, ts_ns: i128) {
        if let Some(flow) = self.flows.get_mut(&index) {
            if let Some(live) = flow.live.take() {
                self.held = self.held.saturating_sub(live.held());
            }
            flow.closed_ts = ts_ns;
        }
        self.order.push(index, false);
        self.open.remove(&index);
        self.closing.push_back(index);
    }

    fn end_of_frame(
        &mut self,
        index: u64,
        side: u8,
        flags: u8,
        ts_ns: i128,
        sink: &mut impl FlowSink,
    ) -> Step {
        let frame = self.frames;
        if flags & (TCP_FIN | TCP_RST) != 0 {
            sink.event(FlowEvent::Closing {
                flow: index,
                side,
                frame,
                ts_ns,
            });
            if let Some(live) = self.live(index) {
                if flags & TCP_RST != 0 {
                    live.rst = true;
                } else {
                    live.fin[usize::from(side)] = true;
                }
                let by = if live.rst {
                    Some(CloseReason::Rst)
                } else if live.fin == [true, true] {
                    Some(CloseReason::Fin)
                } else {
                    None
                };
                if by.is_some() {
                    self.close(index, by, sink);
                }
            }
        }
        self.bound_held(sink);
        self.emit(sink);
        self.checkpoints(ts_ns)
    }

    fn checkpoints(&mut self, ts_ns: i128) -> Step {
        let frame = self.frames;
        let progress = frame & (PROGRESS_EVERY_FRAMES - 1) == 0;
        if progress {
            self.purge(ts_ns, MAX_CLOSED_FLOWS);
        }
        Step::Done {
            progress,
            check: frame & (CHECK_EVERY_FRAMES - 1) == 0,
        }
    }

    fn emit(&mut self, sink: &mut impl FlowSink) {
        if !self.order.is_empty() {
            self.order
                .emit(&mut |flow, late, held| sink.event(FlowEvent::HandOut { flow, late, held }));
        }
    }

    /// End flow `index`: its remaining holes are given up, its connection handed on.
    fn close(&mut self, index: u64, by: Option<CloseReason>, sink: &mut impl FlowSink) {
        let Some(flow) = self.flows.get_mut(&index) else {
            return;
        };
        let Some(mut live) = flow.live.take() else {
            return;
        };
        self.held = self.held.saturating_sub(live.held());
        let ts_ns = live.last_ts;
        for side in 0..2u8 {
            // What waited beyond a hole is read at the frames it came in (all of this flow's,
            // so none past its last).
            live.halves[usize::from(side)].flush(&mut |event, read| {
                sink.event(FlowEvent::Stream {
                    flow: index,
                    side,
                    event,
                    frame: read.frame,
                    ts_ns: read.ts_ns,
                })
            });
        }
        sink.event(FlowEvent::Closed {
            flow: index,
            frame: live.last_frame,
            ts_ns,
            by,
            syn_ts_ns: live.syn_ts,
            synack_ts_ns: live.synack_ts,
        });
        flow.closed_ts = ts_ns;
        self.order.push(index, true);
        self.open.remove(&index);
        self.closing.push_back(index);
    }

    /// Drop the flows closed longer than the linger time, or past the `keep` most recent,
    /// oldest first.
    fn purge(&mut self, now_ns: i128, keep: usize) {
        while let Some(&index) = self.closing.front() {
            let closed_ts = self.flows.get(&index).map_or(i128::MIN, |f| f.closed_ts);
            if now_ns.saturating_sub(closed_ts) <= CLOSED_FLOW_LINGER_NS
                && self.closing.len() <= keep
            {
                return;
            }
            self.closing.pop_front();
            if let Some(flow) = self.flows.remove(&index) {
                // Not a new flow on the same 4-tuple.
                if self.table.get(&flow.key).is_some_and(|&(i, _)| i == index) {
                    self.table.remove(&flow.key);
                }
            }
        }
    }

    /// The end of the capture (or of reading it): every open flow closes, in first-packet
    /// order, and every connection is handed out.
    pub fn finish(&mut self, sink: &mut impl FlowSink) {
        while !self.finish_some(usize::MAX, sink) {}
    }

    /// The end of the capture, `most` open flows at a time, TCP flows and UDP associations
    /// alike, the oldest first, or fewer once the sink is `full` (each chunk's connections
    /// handed out after it: what the sink holds at the end is bounded by `most` and by
    /// what it says is enough, not by the flows open): whether every flow is
    /// closed and handed out. By first packet across both, a chunk leaves no open flow older
    /// than one it closed, so no hand-out waits on one (the order is `finish`'s).
    pub fn finish_some(&mut self, most: usize, sink: &mut impl FlowSink) -> bool {
        if let Some(w) = self.waiting.take() {
            // Asked and never answered: the frame ends as if the session kept the flow.
            self.end_of_frame(w.flow, w.side, w.flags, w.ts_ns, sink);
        }
        // At least one a call: a caller looping until done must get there (`finish(0)`).
        let most = most.max(1);
        let (mut tcp, mut udp) = (
            self.open.iter().take(most).copied().peekable(),
            self.udp.open_flows().into_iter().peekable(),
        );
        let mut chunk = Vec::with_capacity(most.min(self.open.len().saturating_add(udp.len())));
        while chunk.len() < most {
            let next = match (tcp.peek(), udp.peek()) {
                (Some(t), Some(u)) if u < t => udp.next().map(|u| (u, true)),
                (Some(_), _) => tcp.next().map(|t| (t, false)),
                (None, _) => udp.next().map(|u| (u, true)),
            };
            let Some(next) = next else { break };
            chunk.push(next);
        }
        for (index, is_udp) in chunk {
            if is_udp {
                self.close_udp(index, UdpEnd::Finished, sink);
            } else {
                self.close(index, None, sink);
                // Gone from the open ones whatever `close` found: each call makes progress.
                self.open.remove(&index);
            }
            // What the flows closed said bounds the chunk too: a hole given up at the end
            // may free megabytes of records, each message a few hundred bytes once told.
            if sink.full() {
                break;
            }
        }
        self.emit(sink);
        self.open.is_empty() && self.udp.open_count() == 0
    }
}
