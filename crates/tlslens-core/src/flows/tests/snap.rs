//! Frames cut by the capture's snap length: a cut DTLS datagram still opens its association
//! and is told as cut (not handed out, not a lying UDP length); a cut TCP segment hands on
//! the bytes captured and the rest as a gap at once; a datagram whose UDP length lies in a
//! whole frame is still a lie.

use super::{ipv4, tcp_header, udp_header};
use crate::flows::packet::{LINKTYPE_RAW, TCP_ACK, TCP_SYN};
use crate::flows::tcp::StreamEvent;
use crate::flows::udp::{Snapped, UdpKind};
use crate::flows::{FlowEvent, FlowSink, FlowTable, Limits};

#[derive(Debug, PartialEq, Eq)]
enum Ev {
    Opened(UdpKind),
    Datagram(u64, usize, bool),
    Cut(u64, u8, Snapped),
    Data(u64, usize),
    Gap(u64, u64),
}

#[derive(Default)]
struct Sink(Vec<Ev>);

impl FlowSink for Sink {
    fn event(&mut self, event: FlowEvent<'_>) {
        let ev = match event {
            FlowEvent::UdpOpened(o) => Ev::Opened(o.kind),
            FlowEvent::Datagram {
                frame,
                payload,
                bad_length,
                ..
            } => Ev::Datagram(frame, payload.len(), bad_length),
            FlowEvent::Cut {
                frame,
                side,
                snapped,
                ..
            } => Ev::Cut(frame, side, snapped),
            FlowEvent::Stream { frame, event, .. } => match event {
                StreamEvent::Data { data, .. } => Ev::Data(frame, data.len()),
                StreamEvent::Gap { length, .. } => Ev::Gap(frame, length),
                StreamEvent::Conflict { .. } | StreamEvent::Late { .. } => return,
            },
            _ => return,
        };
        self.0.push(ev);
    }
}

/// A DTLS 1.2 handshake record of `body_len` bytes.
fn dtls_record(body_len: usize) -> Vec<u8> {
    let mut record = vec![22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0];
    record.extend_from_slice(&(body_len as u16).to_be_bytes());
    record.resize(13 + body_len, 0x42);
    record
}

/// A datagram from the client (10.0.0.1:5000) or, `back`, from the server.
fn udp(back: bool, payload: &[u8]) -> Vec<u8> {
    let (client, server) = ([10, 0, 0, 1], [10, 0, 0, 2]);
    if back {
        ipv4(
            server,
            client,
            17,
            0,
            &[],
            &udp_header(4433, 5000, None, payload),
        )
    } else {
        ipv4(
            client,
            server,
            17,
            0,
            &[],
            &udp_header(5000, 4433, None, payload),
        )
    }
}

#[test]
fn a_cut_datagram_opens_its_association_and_is_told_cut() {
    let mut table = FlowTable::new(Limits::default());
    let mut sink = Sink::default();
    let hello = udp(false, &dtls_record(200));
    let whole = hello.len();
    // The first datagram cut at 100 bytes: its record runs past what was captured.
    table.captured(0, LINKTYPE_RAW, &hello[..100], whole, &mut sink);
    table.captured(1, LINKTYPE_RAW, &hello, whole, &mut sink);
    // A frame whose UDP length lies (it was captured whole): still a lie.
    let mut lying = udp(true, &dtls_record(20));
    lying[24..26].copy_from_slice(&900u16.to_be_bytes());
    table.captured(2, LINKTYPE_RAW, &lying, lying.len(), &mut sink);
    table.finish(&mut sink);
    let snapped = Snapped {
        captured: 100,
        original: whole as u64,
    };
    assert_eq!(
        sink.0,
        [
            Ev::Opened(UdpKind::Dtls),
            Ev::Cut(1, 0, snapped),
            Ev::Datagram(2, 213, false),
            Ev::Datagram(3, 33, true),
        ]
    );
    assert_eq!((table.udp.bad_length, table.udp.first_bad_length), (1, 3));
    // The same cut datagram with no original length to tell it by opens nothing.
    let mut table = FlowTable::new(Limits::default());
    table.frame(0, LINKTYPE_RAW, &hello[..100], &mut Sink::default());
    assert_eq!(table.udp.open_count(), 0);
}

#[test]
fn a_cut_segment_is_read_as_far_as_captured_then_a_gap() {
    let mut table = FlowTable::new(Limits::default());
    let mut sink = Sink::default();
    let segment = |seq: u32, flags: u8, payload: &[u8]| {
        let body = tcp_header(40000, 443, seq, flags, payload);
        ipv4([10, 0, 0, 1], [10, 0, 0, 2], 6, 0, &[], &body)
    };
    let frames = [
        segment(99, TCP_SYN, b""),
        segment(100, TCP_ACK, &[1; 300]),
        segment(400, TCP_ACK, &[2; 50]),
    ];
    for (i, frame) in frames.iter().enumerate() {
        let cut = frame.len().min(100);
        table.captured(
            i as i128,
            LINKTYPE_RAW,
            &frame[..cut],
            frame.len(),
            &mut sink,
        );
    }
    table.finish(&mut sink);
    let snapped = Snapped {
        captured: 100,
        original: 340,
    };
    // Frame 2 held 60 of its 300 bytes: they are read, the other 240 are a gap at once;
    // frame 3 was not cut.
    assert_eq!(
        sink.0,
        [
            Ev::Cut(2, 0, snapped),
            Ev::Data(2, 60),
            Ev::Gap(2, 240),
            Ev::Data(3, 50)
        ]
    );
}
