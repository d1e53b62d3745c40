//! The flow table's life cycle: SYN to FIN, reuse, eviction, order, sessions giving up.

use super::{ipv4, tcp_header};
use crate::flows::packet::{Skip, LINKTYPE_RAW, TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN};
use crate::flows::tcp::StreamEvent;
use crate::flows::{CloseReason, Eviction, FlowEvent, FlowSink, FlowTable, Limits, Step, Verdict};

#[derive(Debug, PartialEq, Eq, Clone)]
enum Ev {
    Opened(u64, Option<u8>, bool),
    Data(u64, u8, u64, Vec<u8>),
    Gap(u64, u8, u64, u64),
    Conflict(u64, u8),
    Closing(u64, u8),
    Evicted(u64, u64, Eviction, usize),
    Closed(u64, Option<CloseReason>),
    HandOut(u64, bool),
}

#[derive(Default)]
struct Sink(Vec<Ev>);

impl FlowSink for Sink {
    fn event(&mut self, event: FlowEvent<'_>) {
        self.0.push(match event {
            FlowEvent::Opened(o) => Ev::Opened(o.flow, o.client_side, o.mid_stream),
            FlowEvent::Stream {
                flow, side, event, ..
            } => match event {
                StreamEvent::Data { offset, data } => Ev::Data(flow, side, offset, data.to_vec()),
                StreamEvent::Gap { offset, length, .. } => Ev::Gap(flow, side, offset, length),
                StreamEvent::Conflict { .. } => Ev::Conflict(flow, side),
                StreamEvent::Late { .. } => panic!("no hole is given up in these tests"),
            },
            FlowEvent::Closing { flow, side, .. } => Ev::Closing(flow, side),
            FlowEvent::Evicted {
                flow,
                frame,
                why,
                open,
            } => Ev::Evicted(flow, frame, why, open),
            FlowEvent::Closed { flow, by, .. } => Ev::Closed(flow, by),
            FlowEvent::HandOut { flow, late, .. } => Ev::HandOut(flow, late),
            FlowEvent::UdpOpened(_) | FlowEvent::Datagram { .. } | FlowEvent::UdpClosed(_) => {
                panic!("no UDP in these tests")
            }
            FlowEvent::Cut { .. } => panic!("no frame is cut in these tests"),
        });
    }
}

const SYN: u8 = TCP_SYN;
const SYNACK: u8 = TCP_SYN | TCP_ACK;
const PSH: u8 = 0x18;
const FIN: u8 = TCP_FIN | TCP_ACK;
const RST: u8 = TCP_RST;

/// A frame from the client (port `cport`) or the server (443).
fn seg(cport: u16, from_client: bool, seq: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let (src, dst, sport, dport) = if from_client {
        ([10, 0, 0, 1], [10, 0, 0, 2], cport, 443)
    } else {
        ([10, 0, 0, 2], [10, 0, 0, 1], 443, cport)
    };
    ipv4(
        src,
        dst,
        6,
        0,
        &[],
        &tcp_header(sport, dport, seq, flags, payload),
    )
}

fn run(table: &mut FlowTable, frames: &[Vec<u8>]) -> Vec<Ev> {
    let mut sink = Sink::default();
    for (i, frame) in frames.iter().enumerate() {
        let step = table.frame(i as i128 * 1000, LINKTYPE_RAW, frame, &mut sink);
        if let Step::Ask { .. } = step {
            table.answer(
                Verdict::Undecided {
                    watch: [true, false],
                },
                &mut sink,
            );
        }
    }
    table.finish(&mut sink);
    sink.0
}

fn connection(cport: u16) -> Vec<Vec<u8>> {
    vec![
        seg(cport, true, 100, SYN, b""),
        seg(cport, false, 500, SYNACK, b""),
        seg(cport, true, 101, 0x10, b""), // a pure ACK
        seg(cport, true, 101, PSH, b"hello"),
        seg(cport, false, 501, PSH, b"world"),
        seg(cport, true, 106, FIN, b""),
        seg(cport, false, 506, FIN, b""),
    ]
}

#[test]
fn a_connection_from_syn_to_fin() {
    let mut table = FlowTable::new(Limits::default());
    let evs = run(&mut table, &connection(40000));
    assert_eq!(
        evs,
        vec![
            Ev::Opened(0, Some(0), false),
            Ev::Data(0, 0, 0, b"hello".to_vec()),
            Ev::Data(0, 1, 0, b"world".to_vec()),
            Ev::Closing(0, 0),
            Ev::Closing(0, 1),
            Ev::Closed(0, Some(CloseReason::Fin)),
            Ev::HandOut(0, false),
        ]
    );
    assert_eq!((table.frames, table.tcp_flows), (7, 1));
}

#[test]
fn reuse_rst_stray_and_late_retransmissions() {
    let mut table = FlowTable::new(Limits::default());
    let mut frames = connection(40000);
    frames.push(seg(40000, false, 501, PSH, b"world")); // late: the flow is closed
    frames.push(seg(40001, true, 7, FIN, b"")); // a stray FIN of a flow never seen
    frames.push(seg(40000, true, 9000, SYN, b"")); // the 4-tuple reused
    frames.push(seg(40000, true, 9001, PSH, b"again"));
    frames.push(seg(40000, false, 77, RST, b""));
    let evs = run(&mut table, &frames);
    assert_eq!(table.tcp_flows, 2);
    assert_eq!(
        &evs[7..],
        &[
            Ev::Opened(1, Some(0), false),
            Ev::Data(1, 0, 0, b"again".to_vec()),
            Ev::Closing(1, 1),
            Ev::Closed(1, Some(CloseReason::Rst)),
            Ev::HandOut(1, false),
        ]
    );
    // A new SYN with another ISN on an open flow closes it.
    let mut table = FlowTable::new(Limits::default());
    let evs = run(
        &mut table,
        &[
            seg(1, true, 10, SYN, b""),
            seg(1, true, 11, PSH, b"a"),
            seg(1, true, 50, SYN, b""),
        ],
    );
    // Handed out at the end of the frame, as every frame's connections are.
    assert_eq!(
        evs[2..5],
        [
            Ev::Closed(0, None),
            Ev::Opened(1, Some(0), false),
            Ev::HandOut(0, false)
        ]
    );
}

#[test]
fn holes_are_given_up_at_the_end_and_tfo_data_rides_on_the_syn() {
    let mut table = FlowTable::new(Limits::default());
    let frames = [
        seg(2, true, 10, SYN, b"tfo"),
        seg(2, true, 20, PSH, b"later"),
    ];
    let evs = run(&mut table, &frames);
    assert_eq!(evs[1], Ev::Data(0, 0, 0, b"tfo".to_vec()));
    assert_eq!(
        evs[2..4],
        [Ev::Gap(0, 0, 3, 6), Ev::Data(0, 0, 9, b"later".to_vec())]
    );
}

#[test]
fn the_oldest_open_flow_is_evicted_past_max_connections() {
    let limits = Limits {
        max_connections: 3,
        ..Limits::default()
    };
    let mut table = FlowTable::new(limits);
    let frames: Vec<Vec<u8>> = (0..10).map(|p| seg(1000 + p, true, 5, PSH, b"x")).collect();
    let evs = run(&mut table, &frames);
    assert_eq!(table.evicted, 7);
    assert!(evs.contains(&Ev::Evicted(0, 4, Eviction::Connections, 4)));
    let handed: Vec<u64> = evs
        .iter()
        .filter_map(|e| match e {
            Ev::HandOut(f, _) => Some(*f),
            _ => None,
        })
        .collect();
    assert_eq!(handed, (0..10).collect::<Vec<_>>());
    assert!(table.open_flows() == 0);
}

#[test]
fn the_oldest_open_flows_are_evicted_past_what_the_open_ones_may_hold() {
    // Ten flows each wait on 3,000 bytes beyond a hole (their SYN at 100, data at 1000);
    // the open ones may hold about three such flows.
    let waiting = vec![b'w'; 3000];
    let flow = |cport: u16| {
        [
            seg(cport, true, 100, SYN, b""),
            seg(cport, true, 1000, PSH, &waiting),
        ]
    };
    let mut one = FlowTable::new(Limits::default());
    let opened = FlowTable::new(Limits::default());
    let mut sink = Sink::default();
    for (i, frame) in flow(1).iter().enumerate() {
        one.frame(i as i128, LINKTYPE_RAW, frame, &mut sink);
    }
    let each = one.held();
    assert!(each > 3000 && each < 4000, "one flow holds {each}");
    assert_eq!(opened.held(), 0);
    let limits = Limits {
        max_held: 3 * each + each / 2,
        ..Limits::default()
    };
    let mut table = FlowTable::new(limits);
    let mut sink = Sink::default();
    for (i, frame) in (1..=10).flat_map(flow).enumerate() {
        table.frame(i as i128, LINKTYPE_RAW, &frame, &mut sink);
        assert!(table.held() <= limits.max_held);
    }
    assert_eq!(
        (table.evicted_held, table.evicted, table.open_flows()),
        (7, 0, 3)
    );
    // The oldest first, each at the frame that went past the bound (a fourth flow's data),
    // its hole given up then and what waited handed on.
    let evicted: Vec<(u64, u64)> = (sink.0.iter())
        .filter_map(|e| match e {
            Ev::Evicted(f, frame, Eviction::Held, 4) => Some((*f, *frame)),
            _ => None,
        })
        .collect();
    assert_eq!(
        evicted,
        [(0, 8), (1, 10), (2, 12), (3, 14), (4, 16), (5, 18), (6, 20)]
    );
    let at = sink
        .0
        .iter()
        .position(|e| *e == Ev::Evicted(0, 8, Eviction::Held, 4));
    let after: Vec<Ev> = sink.0[at.unwrap_or(0)..].iter().take(4).cloned().collect();
    assert_eq!(
        after,
        [
            Ev::Evicted(0, 8, Eviction::Held, 4),
            Ev::Gap(0, 0, 0, 899),
            Ev::Data(0, 0, 899, waiting.clone()),
            Ev::Closed(0, None),
        ]
    );
    table.finish(&mut sink);
    assert_eq!(table.held(), 0);
}

/// A sink that keeps what each ended flow said until its hand-out (as Python's model of a
/// connection held back for first-packet order), and counts it as held.
#[derive(Default)]
struct Keeping {
    evs: Sink,
    kept: std::collections::HashMap<u64, usize>,
}

impl FlowSink for Keeping {
    fn event(&mut self, event: FlowEvent<'_>) {
        match event {
            FlowEvent::Closed { flow, .. } => {
                self.kept.insert(flow, 10_000);
            }
            FlowEvent::HandOut { flow, .. } => {
                self.kept.remove(&flow);
            }
            _ => {}
        }
        self.evs.event(event);
    }

    fn held(&self) -> usize {
        self.kept.values().sum()
    }
}

#[test]
fn ended_flows_held_back_that_hold_too_much_go_out_and_the_open_ones_late() {
    // Flow 0 stays open; flows 1..=4 open and end after it, held back for order and kept
    // (10,000 each); flow 5 opens and stays open; flow 6 ends: past 50,000 held, the ended
    // ones go out now and the open ones later, late, when they end. None is closed early:
    // closing flow 0 would free nothing while flow 5 holds flow 6 back.
    let mut frames = vec![seg(1, true, 5, PSH, b"x")];
    for p in 2..=5 {
        frames.push(seg(p, true, 5, PSH, b"x"));
        frames.push(seg(p, true, 6, RST, b""));
    }
    frames.push(seg(6, true, 5, PSH, b"x"));
    frames.push(seg(7, true, 5, PSH, b"x"));
    frames.push(seg(7, true, 6, RST, b""));
    let limits = Limits {
        max_held: 50_000,
        ..Limits::default()
    };
    let mut table = FlowTable::new(limits);
    let mut sink = Keeping::default();
    for (i, frame) in frames.iter().enumerate() {
        table.frame(i as i128, LINKTYPE_RAW, frame, &mut sink);
    }
    assert_eq!((table.evicted_held, table.open_flows()), (0, 2));
    assert!(sink.kept.is_empty());
    table.finish(&mut sink);
    let handed: Vec<&Ev> = (sink.evs.0.iter())
        .filter(|e| matches!(e, Ev::HandOut(..)))
        .collect();
    let late = [Ev::HandOut(0, true), Ev::HandOut(5, true)];
    let on_time = [1, 2, 3, 4, 6].map(|f| Ev::HandOut(f, false));
    assert_eq!(handed, on_time.iter().chain(&late).collect::<Vec<_>>());
}

#[test]
fn past_the_reorder_window_ended_flows_go_first_and_the_open_one_late() {
    let limits = Limits {
        reorder_window: 2,
        ..Limits::default()
    };
    let mut table = FlowTable::new(limits);
    let mut frames = vec![seg(1, true, 5, PSH, b"long")];
    for p in 2..6 {
        frames.push(seg(p, true, 5, PSH, b"x"));
        frames.push(seg(p, true, 6, RST, b""));
    }
    frames.push(seg(1, true, 9, RST, b""));
    let evs = run(&mut table, &frames);
    let handed: Vec<(u64, bool)> = evs
        .iter()
        .filter_map(|e| match e {
            Ev::HandOut(f, l) => Some((*f, *l)),
            _ => None,
        })
        .collect();
    assert_eq!(
        handed,
        vec![(1, false), (2, false), (3, false), (4, false), (0, true)]
    );
}

#[test]
fn a_session_that_gives_up_is_let_go_at_that_frame() {
    let limits = Limits {
        watch_after: 10,
        ..Limits::default()
    };
    let mut table = FlowTable::new(limits);
    let mut sink = Sink::default();
    let frames = [
        seg(1, true, 5, PSH, b"0123456789"),
        seg(1, true, 15, PSH, b"more"),
        seg(1, true, 19, PSH, b"after"),
    ];
    assert!(matches!(
        table.frame(0, LINKTYPE_RAW, &frames[0], &mut sink),
        Step::Done { .. }
    ));
    assert_eq!(
        table.frame(1, LINKTYPE_RAW, &frames[1], &mut sink),
        Step::Ask { flow: 0 }
    );
    table.answer(Verdict::Ignored, &mut sink);
    assert_eq!(
        table.frame(2, LINKTYPE_RAW, &frames[2], &mut sink),
        Step::Passed
    );
    table.finish(&mut sink);
    assert_eq!(sink.0.last(), Some(&Ev::Data(0, 0, 10, b"more".to_vec())));
    // Undecided, with this side's data unable to change that: not asked about it again.
    let mut table = FlowTable::new(limits);
    let mut sink = Sink::default();
    table.frame(0, LINKTYPE_RAW, &frames[0], &mut sink);
    assert_eq!(
        table.frame(1, LINKTYPE_RAW, &frames[1], &mut sink),
        Step::Ask { flow: 0 }
    );
    table.answer(
        Verdict::Undecided {
            watch: [false, true],
        },
        &mut sink,
    );
    assert!(matches!(
        table.frame(2, LINKTYPE_RAW, &frames[2], &mut sink),
        Step::Done { .. }
    ));
    // Decided TLS: never asked again.
    let mut table = FlowTable::new(limits);
    let mut sink = Sink::default();
    table.frame(0, LINKTYPE_RAW, &frames[0], &mut sink);
    table.frame(1, LINKTYPE_RAW, &frames[1], &mut sink);
    table.answer(Verdict::Tls, &mut sink);
    assert!(matches!(
        table.frame(2, LINKTYPE_RAW, &frames[2], &mut sink),
        Step::Done { .. }
    ));
}

#[test]
fn closed_flows_remembered_are_bounded() {
    let mut table = FlowTable::new(Limits::default());
    let mut sink = Sink::default();
    for p in 0..12_000u32 {
        let port = p as u16 + 1;
        table.frame(
            i128::from(p),
            LINKTYPE_RAW,
            &seg(port, true, 5, PSH, b"x"),
            &mut sink,
        );
        table.frame(
            i128::from(p),
            LINKTYPE_RAW,
            &seg(port, true, 6, RST, b""),
            &mut sink,
        );
    }
    assert!(
        table.flows_held()
            <= crate::flows::MAX_CLOSED_FLOWS + crate::flows::PROGRESS_EVERY_FRAMES as usize
    );
}

#[test]
fn skipped_frames_are_counted_by_reason_in_first_seen_order() {
    let mut table = FlowTable::new(Limits::default());
    let mut sink = Sink::default();
    let udp = ipv4([1; 4], [2; 4], 17, 0, &[], &[0; 8]);
    table.frame(0, 147, b"x", &mut sink);
    table.frame(0, LINKTYPE_RAW, &udp, &mut sink);
    table.frame(0, LINKTYPE_RAW, &udp, &mut sink);
    assert_eq!(
        table.skipped(),
        &[(Skip::UnsupportedLink, 1), (Skip::Udp, 2)]
    );
    table.frame(-5, LINKTYPE_RAW, &udp, &mut sink);
    assert_eq!((table.backwards, table.first_backwards), (1, 4));
}

#[test]
fn sides_hold_whichever_end_sorts_first_and_for_a_connection_to_itself() {
    // The table keeps one entry a flow, its 4-tuple lower end first: here the flow opens
    // with the SYN/ACK of the end that sorts second, and the client is side 1.
    let mut table = FlowTable::new(Limits::default());
    let frames = [
        seg(40000, false, 500, SYNACK, b""),
        seg(40000, true, 101, PSH, b"hello"),
        seg(40000, false, 501, PSH, b"world"),
    ];
    let evs = run(&mut table, &frames);
    assert_eq!(
        &evs[..3],
        &[
            Ev::Opened(0, Some(1), false),
            Ev::Data(0, 1, 0, b"hello".to_vec()),
            Ev::Data(0, 0, 0, b"world".to_vec()),
        ]
    );
    // An end connected to itself: both ways are one 4-tuple, and every segment after the
    // first is side 1 (as when each way had its entry and the second replaced the first).
    let mut table = FlowTable::new(Limits::default());
    let to_itself = |seq, flags, payload: &[u8]| {
        let tcp = tcp_header(5000, 5000, seq, flags, payload);
        ipv4([10, 0, 0, 9], [10, 0, 0, 9], 6, 0, &[], &tcp)
    };
    let frames = [to_itself(100, SYN, b""), to_itself(101, PSH, b"ping")];
    let evs = run(&mut table, &frames);
    assert_eq!(
        &evs[..2],
        &[
            Ev::Opened(0, Some(0), false),
            Ev::Data(0, 1, 0, b"ping".to_vec())
        ]
    );
}

#[test]
fn the_end_closes_open_flows_a_chunk_at_a_time_in_the_same_order() {
    // Five open flows, the second already ended: closed two at a time, the oldest first,
    // each chunk's connections handed out before the next; the same events as all at once.
    let mut frames: Vec<Vec<u8>> = (0..5).map(|p| seg(2000 + p, true, 5, PSH, b"x")).collect();
    frames.push(seg(2001, true, 6, RST, b""));
    let mut sink = Sink::default();
    let mut table = FlowTable::new(Limits::default());
    for (i, frame) in frames.iter().enumerate() {
        table.frame(i as i128 * 1000, LINKTYPE_RAW, frame, &mut sink);
    }
    let walked = sink.0.len();
    let mut chunks = Vec::new();
    loop {
        let done = table.finish_some(2, &mut sink);
        chunks.push(sink.0.split_off(walked));
        if done {
            break;
        }
    }
    assert_eq!(
        chunks,
        [
            vec![
                Ev::Closed(0, None),
                Ev::Closed(2, None),
                Ev::HandOut(0, false),
                Ev::HandOut(1, false),
                Ev::HandOut(2, false),
            ],
            vec![
                Ev::Closed(3, None),
                Ev::Closed(4, None),
                Ev::HandOut(3, false),
                Ev::HandOut(4, false),
            ],
        ]
    );
    let mut all = FlowTable::new(Limits::default());
    let mut once = Sink::default();
    for (i, frame) in frames.iter().enumerate() {
        all.frame(i as i128 * 1000, LINKTYPE_RAW, frame, &mut once);
    }
    all.finish(&mut once);
    let (mut closed, mut handed) = (Vec::new(), Vec::new());
    for ev in chunks.concat() {
        match ev {
            Ev::HandOut(..) => handed.push(ev),
            other => closed.push(other),
        }
    }
    assert_eq!(once.0.split_off(walked), [closed, handed].concat());
}

#[test]
fn the_end_a_chunk_of_none_at_a_time_still_closes_a_flow_a_call() {
    // `FlowCore.finish(0)` from Python: each call must make progress, or a caller's loop
    // until `finished` never ends.
    let frames: Vec<Vec<u8>> = (0..3).map(|p| seg(2000 + p, true, 5, PSH, b"x")).collect();
    let mut sink = Sink::default();
    let mut table = FlowTable::new(Limits::default());
    for (i, frame) in frames.iter().enumerate() {
        table.frame(i as i128 * 1000, LINKTYPE_RAW, frame, &mut sink);
    }
    let calls = (1..=10).find(|_| table.finish_some(0, &mut sink));
    assert_eq!(calls, Some(3));
    let closed = sink.0.iter().filter(|ev| matches!(ev, Ev::Closed(..)));
    assert_eq!(closed.count(), 3);
}
