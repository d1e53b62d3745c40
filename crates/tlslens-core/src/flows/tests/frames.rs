//! The frame each stream event is read at: in-order bytes at their own frame; bytes that
//! waited beyond a hole at the filling frame when it fills (tshark's out-of-order
//! reassembly), at their own when it is given up (tshark's "previous segment not
//! captured"), never before the bytes ahead of them.

use super::{ipv4, tcp_header};
use crate::flows::packet::{LINKTYPE_RAW, TCP_ACK, TCP_FIN, TCP_SYN};
use crate::flows::tcp::{At, HalfStream, StreamEvent};
use crate::flows::{FlowEvent, FlowSink, FlowTable, Limits};

/// A stream event as read: kind ('d' data, 'g' gap, 'c' conflict), offset, length, frame.
type Read = (char, u64, u64, u64);

fn at(frame: u64) -> At {
    At {
        frame,
        ts_ns: i128::from(frame) * 1000,
    }
}

fn read(ev: StreamEvent<'_>, read_at: At) -> Read {
    // The time always goes with its frame.
    assert_eq!(read_at.ts_ns, i128::from(read_at.frame) * 1000);
    match ev {
        StreamEvent::Data { offset, data } => ('d', offset, data.len() as u64, read_at.frame),
        StreamEvent::Gap { offset, length, .. } => ('g', offset, length, read_at.frame),
        StreamEvent::Conflict { offset, length } => ('c', offset, length, read_at.frame),
        StreamEvent::Late { offset, length, .. } => ('l', offset, length, read_at.frame),
    }
}

/// Each segment (seq, bytes, frame) fed to one direction whose SYN was at 0, then the end
/// of the connection.
fn half(max_pending: usize, segs: &[(u32, &[u8], u64)]) -> Vec<Read> {
    let mut stream = HalfStream::new(max_pending);
    stream.syn(0);
    let mut got = Vec::new();
    for &(seq, payload, frame) in segs {
        stream.feed(seq, payload, at(frame), &mut |ev, r| got.push(read(ev, r)));
    }
    stream.flush(&mut |ev, r| got.push(read(ev, r)));
    got
}

#[test]
fn bytes_after_a_lost_segment_are_read_at_their_own_frames() {
    let got = half(1 << 20, &[(1, b"aaaa", 4), (9, b"cccc", 6), (13, b"dd", 7)]);
    assert_eq!(
        got,
        [
            ('d', 0, 4, 4),
            ('g', 4, 4, 6),
            ('d', 8, 4, 6),
            ('d', 12, 2, 7)
        ]
    );
}

#[test]
fn bytes_that_waited_for_a_hole_to_fill_are_read_at_the_filling_frame() {
    let got = half(
        1 << 20,
        &[(1, b"aaaa", 4), (9, b"cccc", 5), (5, b"bbbb", 6)],
    );
    assert_eq!(got, [('d', 0, 4, 4), ('d', 4, 4, 6), ('d', 8, 4, 6)]);
}

#[test]
fn after_a_lost_segment_reordered_bytes_are_read_when_they_join() {
    // Bytes 4..8 are lost; 12..16 (frame 5) waits for 8..12 (frame 6), then 16..18 (7).
    let segs: [(u32, &[u8], u64); 4] = [
        (1, b"aaaa", 4),
        (13, b"dddd", 5),
        (9, b"cccc", 6),
        (17, b"ee", 7),
    ];
    let got = half(1 << 20, &segs);
    assert_eq!(
        got,
        [
            ('d', 0, 4, 4),
            ('g', 4, 4, 6),
            ('d', 8, 4, 6),
            ('d', 12, 4, 6),
            ('d', 16, 2, 7)
        ]
    );
}

#[test]
fn what_is_read_never_goes_back_to_an_earlier_frame() {
    // 12..16 comes at frame 5, beyond two holes; 4..8 fills the first at frame 6, and the
    // second (8..12) is lost: 12..16 follows bytes read at frame 6.
    let got = half(
        1 << 20,
        &[(1, b"aaaa", 4), (13, b"dddd", 5), (5, b"bbbb", 6)],
    );
    assert_eq!(
        got,
        [
            ('d', 0, 4, 4),
            ('d', 4, 4, 6),
            ('g', 8, 4, 6),
            ('d', 12, 4, 6)
        ]
    );
}

#[test]
fn a_longer_copy_of_waiting_bytes_is_read_no_earlier_than_it_came() {
    let segs: [(u32, &[u8], u64); 4] = [
        (1, b"aaaa", 4),
        (9, b"cc", 5),
        (9, b"cXcc", 6),
        (13, b"dd", 7),
    ];
    let got = half(1 << 20, &segs);
    assert_eq!(
        got,
        [
            ('d', 0, 4, 4),
            ('c', 9, 1, 6),
            ('g', 4, 4, 6),
            ('d', 8, 4, 6),
            ('d', 12, 2, 7)
        ]
    );
}

#[test]
fn a_hole_given_up_past_the_bound_is_told_at_the_frame_after_it() {
    // Past 6 bytes waiting (at frame 7) the hole is lost: what waited keeps its frames.
    let segs: [(u32, &[u8], u64); 4] = [
        (1, b"aaaa", 4),
        (9, b"ccc", 5),
        (12, b"ddd", 6),
        (15, b"e", 7),
    ];
    let mut stream = HalfStream::new(6);
    stream.syn(0);
    let mut got = Vec::new();
    for &(seq, payload, frame) in &segs {
        stream.feed(seq, payload, at(frame), &mut |ev, r| got.push(read(ev, r)));
    }
    assert!(!stream.has_pending());
    assert_eq!(
        got,
        [
            ('d', 0, 4, 4),
            ('g', 4, 4, 5),
            ('d', 8, 3, 5),
            ('d', 11, 3, 6),
            ('d', 14, 1, 7)
        ]
    );
}

/// What the table tells of its TCP flows' streams: (side, kind, offset, frame, time), and
/// the frame each flow closed at.
#[derive(Default)]
struct Sink {
    reads: Vec<(u8, char, u64, u64, i128)>,
    closed: Vec<u64>,
}

impl FlowSink for Sink {
    fn event(&mut self, event: FlowEvent<'_>) {
        match event {
            FlowEvent::Stream {
                side,
                event,
                frame,
                ts_ns,
                ..
            } => {
                let (kind, offset) = match event {
                    StreamEvent::Data { offset, .. } => ('d', offset),
                    StreamEvent::Gap { offset, .. } => ('g', offset),
                    StreamEvent::Conflict { offset, .. } => ('c', offset),
                    StreamEvent::Late { offset, .. } => ('l', offset),
                };
                self.reads.push((side, kind, offset, frame, ts_ns));
            }
            FlowEvent::Closed { frame, .. } => self.closed.push(frame),
            _ => {}
        }
    }
}

fn seg(port: u16, from_client: bool, seq: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let tcp = |sport, dport| tcp_header(sport, dport, seq, flags, payload);
    if from_client {
        ipv4([10, 0, 0, 1], [10, 0, 0, 2], 6, 0, &[], &tcp(port, 443))
    } else {
        ipv4([10, 0, 0, 2], [10, 0, 0, 1], 6, 0, &[], &tcp(443, port))
    }
}

#[test]
fn a_flow_ended_with_a_hole_tells_what_waited_at_the_frames_it_came_in() {
    const PSH: u8 = 0x18;
    let frames = [
        seg(40000, true, 100, TCP_SYN, b""),
        seg(40000, false, 500, TCP_SYN | TCP_ACK, b""),
        seg(40000, true, 101, PSH, b"hello"),
        seg(40000, false, 501, PSH, b"aaaa"),
        // 505..509 is lost.
        seg(40000, false, 509, PSH, b"cccc"),
        seg(40000, false, 513, PSH, b"dd"),
        seg(40000, true, 106, TCP_FIN | TCP_ACK, b""),
        // Another connection's frames: the first one is still open when the capture ends.
        seg(40001, true, 100, TCP_SYN, b""),
        seg(40001, true, 101, PSH, b"x"),
    ];
    let mut table = FlowTable::new(Limits::default());
    let mut sink = Sink::default();
    for (i, frame) in frames.iter().enumerate() {
        let ts_ns = (i as i128 + 1) * 1000;
        table.frame(ts_ns, LINKTYPE_RAW, frame, &mut sink);
    }
    table.finish(&mut sink);
    assert_eq!(
        sink.reads,
        [
            (0, 'd', 0, 3, 3000),
            (1, 'd', 0, 4, 4000),
            (0, 'd', 0, 9, 9000),
            (1, 'g', 4, 5, 5000),
            (1, 'd', 8, 5, 5000),
            (1, 'd', 12, 6, 6000),
        ]
    );
    // The first connection's last frame is its own, not the capture's.
    assert_eq!(sink.closed, [7, 9]);
}
