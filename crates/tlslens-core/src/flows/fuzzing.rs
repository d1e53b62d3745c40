//! The body of the cargo-fuzz target `flows`, shared with the corpus replay of `cargo test`
//! (tests/flows_corpus.rs): frames from fuzzer bytes through the flow table under small
//! bounds. Panics (the fuzzer's crash) when an invariant breaks, never otherwise.

use std::collections::{HashMap, HashSet};

use super::packet::LINKTYPE_RAW;
use super::tcp::StreamEvent;
use super::{FlowEvent, FlowSink, FlowTable, Limits, Step, Verdict};

/// What each flow has shown so far, to check the events' order.
#[derive(Default)]
struct Checked {
    /// Per flow: the next offset of each side, closed, handed out.
    flows: HashMap<u64, ([u64; 2], bool, bool)>,
    /// The UDP associations among them (their cut datagrams are counted, not handed out).
    udp: HashSet<u64>,
    data_bytes: usize,
}

impl Checked {
    /// A stream event of `flow`'s `side`: in order, after the flow opened, before it closed.
    fn stream(&mut self, flow: u64, side: u8, event: StreamEvent<'_>) {
        let state = self
            .flows
            .get_mut(&flow)
            .expect("a stream of a flow never opened");
        assert!(!state.1, "a stream event after the flow closed");
        let next = &mut state.0[usize::from(side)];
        match event {
            StreamEvent::Data { offset, data } => {
                self.data_bytes += data.len();
                assert!(offset == *next, "data at {offset}, expected {next}");
                *next = offset + data.len() as u64;
            }
            StreamEvent::Gap { offset, length, .. } => {
                assert!(
                    length > 0 && offset >= *next,
                    "a gap at {offset}, expected {next}"
                );
                *next = offset + length;
            }
            StreamEvent::Conflict { length, .. } => assert!(length > 0),
            // Bytes of a hole already given up on (told as a gap before `next`).
            StreamEvent::Late { offset, length, .. } => assert!(
                length > 0 && offset + length <= *next,
                "late bytes at {offset}+{length}, past {next}"
            ),
        }
    }

    /// A UDP association's life: opened once, its datagrams counted, ended once.
    fn udp(&mut self, event: FlowEvent<'_>) {
        match event {
            FlowEvent::UdpOpened(opened) => {
                self.udp.insert(opened.flow);
                let fresh = self.flows.insert(opened.flow, ([0, 0], false, false));
                assert!(fresh.is_none(), "association {} opened twice", opened.flow);
            }
            FlowEvent::Datagram {
                flow,
                side,
                payload,
                ..
            } => {
                let state = self
                    .flows
                    .get_mut(&flow)
                    .expect("a datagram of an association never opened");
                assert!(!state.1, "a datagram after the association ended");
                state.0[usize::from(side)] += 1;
                self.data_bytes += payload.len();
            }
            FlowEvent::UdpClosed(closed) => {
                let state = self
                    .flows
                    .get_mut(&closed.flow)
                    .expect("an association never opened ended");
                assert!(!state.1, "association {} ended twice", closed.flow);
                assert_eq!(
                    state.0, closed.datagrams,
                    "datagrams counted and handed out"
                );
                state.1 = true;
            }
            _ => unreachable!("`udp` is given the UDP events only"),
        }
    }
}

impl FlowSink for Checked {
    fn event(&mut self, event: FlowEvent<'_>) {
        match event {
            FlowEvent::Opened(opened) => {
                let fresh = self.flows.insert(opened.flow, ([0, 0], false, false));
                assert!(fresh.is_none(), "flow {} opened twice", opened.flow);
            }
            FlowEvent::Stream {
                flow, side, event, ..
            } => self.stream(flow, side, event),
            FlowEvent::Cut {
                flow,
                side,
                snapped,
                ..
            } => {
                assert!(
                    snapped.captured < snapped.original,
                    "a cut that lost nothing"
                );
                let state = self.flows.get_mut(&flow);
                let state = state.expect("a cut frame of a flow never opened");
                assert!(!state.1, "a cut frame of flow {flow}, closed");
                if self.udp.contains(&flow) {
                    state.0[usize::from(side)] += 1;
                }
            }
            FlowEvent::Closing { flow, .. } | FlowEvent::Evicted { flow, .. } => {
                assert!(
                    self.flows.get(&flow).is_some_and(|s| !s.1),
                    "flow {flow} not open"
                );
            }
            FlowEvent::Closed { flow, .. } => {
                let state = self
                    .flows
                    .get_mut(&flow)
                    .expect("a flow never opened closed");
                assert!(!state.1, "flow {flow} closed twice");
                state.1 = true;
            }
            event @ (FlowEvent::UdpOpened(_)
            | FlowEvent::Datagram { .. }
            | FlowEvent::UdpClosed(_)) => self.udp(event),
            FlowEvent::HandOut { flow, .. } => {
                let state = self
                    .flows
                    .get_mut(&flow)
                    .expect("a flow never opened handed out");
                assert!(state.1 && !state.2, "flow {flow} handed out open or twice");
                state.2 = true;
            }
        }
    }
}

/// A frame from the fuzzer's bytes: mostly a well-formed IPv4/TCP segment or UDP datagram
/// between a few endpoints (so that flows live and die), sometimes raw bytes under any
/// link type.
fn next_frame(input: &mut &[u8]) -> Option<(u32, Vec<u8>)> {
    let (&kind, rest) = input.split_first()?;
    *input = rest;
    let take = |input: &mut &[u8], n: usize| -> Vec<u8> {
        let n = n.min(input.len());
        let (head, tail) = input.split_at(n);
        *input = tail;
        head.to_vec()
    };
    if kind & 0x80 != 0 {
        let len = usize::from(kind & 0x3F);
        let linktype = [0, 1, 12, 101, 108, 113, 228, 229, 276][usize::from(kind & 7) % 9];
        return Some((linktype, take(input, len)));
    }
    let port = 1000 + u16::from(kind & 3);
    let from_client = kind & 4 == 0;
    if kind & 0x40 != 0 {
        let (&len, rest) = input.split_first()?;
        *input = rest;
        let payload = take(input, usize::from(len));
        return Some((
            LINKTYPE_RAW,
            udp_frame(from_client, port, kind & 0x20 != 0, &payload),
        ));
    }
    let head = take(input, 5);
    let byte = |i: usize| head.get(i).copied().unwrap_or(0);
    let flags = byte(0) & 0x1F;
    let seq = u32::from_be_bytes([0, byte(1), byte(2), byte(3)]);
    let payload = take(input, usize::from(byte(4) & 0x3F));
    let (src, dst, sport, dport) = if from_client {
        ([10, 0, 0, 1], [10, 0, 0, 2], port, 443u16)
    } else {
        ([10, 0, 0, 2], [10, 0, 0, 1], 443, port)
    };
    let mut tcp = Vec::with_capacity(20 + payload.len());
    tcp.extend_from_slice(&sport.to_be_bytes());
    tcp.extend_from_slice(&dport.to_be_bytes());
    tcp.extend_from_slice(&seq.to_be_bytes());
    tcp.extend_from_slice(&[0, 0, 0, 0, 0x50, flags, 0xFF, 0xFF, 0, 0, 0, 0]);
    tcp.extend_from_slice(&payload);
    let total = (20 + tcp.len()) as u16;
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&[0, 1, 0, 0, 64, 6, 0, 0]);
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&dst);
    ip.extend_from_slice(&tcp);
    Some((LINKTYPE_RAW, ip))
}

/// An IPv4/UDP frame from a client port to 443 or back; `lie`: its UDP length says 16 bytes
/// more than it holds.
fn udp_frame(from_client: bool, port: u16, lie: bool, payload: &[u8]) -> Vec<u8> {
    let (src, dst, sport, dport) = if from_client {
        ([10, 0, 0, 1], [10, 0, 0, 2], port, 443u16)
    } else {
        ([10, 0, 0, 2], [10, 0, 0, 1], 443, port)
    };
    let length = 8 + payload.len() as u16 + if lie { 16 } else { 0 };
    let total = (28 + payload.len()) as u16;
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&[0, 1, 0, 0, 64, 17, 0, 0]);
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&dst);
    ip.extend_from_slice(&sport.to_be_bytes());
    ip.extend_from_slice(&dport.to_be_bytes());
    ip.extend_from_slice(&length.to_be_bytes());
    ip.extend_from_slice(&[0, 0]);
    ip.extend_from_slice(payload);
    ip
}

/// The flow table on the frames of `data`, under bounds small enough to be met.
pub fn flows(data: &[u8]) {
    let limits = Limits {
        reorder_window: 3,
        max_connections: 3,
        max_buffer: 256,
        watch_after: 64,
        max_udp_flows: 2,
        // About three flows' bare state, or one with its bytes waiting.
        max_held: 1500,
    };
    let mut table = FlowTable::new(limits);
    let mut sink = Checked::default();
    let mut input = data;
    let mut fed = 0usize;
    let mut ts = 0i128;
    while let Some((linktype, frame)) = next_frame(&mut input) {
        fed += frame.len();
        ts += i128::from(frame.first().copied().unwrap_or(1)) - 8; // now and then backwards
                                                                   // Now and then the frame was longer on the wire: cut by a snap length.
        let orig_len = frame.len() + usize::from(frame.last().copied().unwrap_or(0) % 4 == 0) * 64;
        if let Step::Ask { .. } = table.captured(ts, linktype, &frame, orig_len, &mut sink) {
            let verdict = [
                Verdict::Ignored,
                Verdict::Tls,
                Verdict::Undecided {
                    watch: [true, false],
                },
            ][fed % 3];
            table.answer(verdict, &mut sink);
        }
        assert!(table.open_flows() <= limits.max_connections);
        assert!(table.held() <= limits.max_held);
        assert!(table.udp.open_count() <= limits.max_udp_flows);
    }
    table.finish(&mut sink);
    assert_eq!(table.held(), 0);
    assert!(sink.data_bytes <= fed, "more stream bytes than frame bytes");
    assert_eq!(table.open_flows(), 0);
    assert_eq!(table.udp.open_count(), 0);
}
