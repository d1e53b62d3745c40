//! UDP: datagrams decoded under a lying length, the QUIC/DTLS detector on real first
//! datagrams, and the associations' life (idle timeout, bound, order with TCP flows).

use super::{ethernet, ipv4, ipv6, tcp_header, udp_header};
use crate::capture::Reader;
use crate::flows::packet::{decode, Packet, Skip, ETH_IPV4, LINKTYPE_ETHERNET, LINKTYPE_RAW};
use crate::flows::udp::{
    udp_kind, unified_only, UdpEnd, UdpKind, MAX_UNIFIED_PENDING, UDP_ASSOCIATION_COST,
    UDP_IDLE_TIMEOUT_NS, UNIFIED_IN_A_ROW,
};
use crate::flows::{FlowEvent, FlowSink, FlowTable, Limits, Step};

const QUIC: &[u8] = include_bytes!("../../../../../tests/vectors/captures/udp/quic.pcapng");
const DTLS: &[u8] = include_bytes!("../../../../../tests/vectors/captures/udp/dtls.pcapng");
const DTLS13: &[u8] = include_bytes!("../../../../../tests/vectors/captures/udp/dtls13.pcapng");

#[derive(Debug, PartialEq, Eq, Clone)]
enum Ev {
    TcpOpened(u64),
    Opened(u64, UdpKind, u64),
    Datagram(u64, u8, u64, Vec<u8>, bool),
    Closed(u64, UdpEnd, [u64; 2], [u64; 2]),
    HandOut(u64),
    /// Closed early: (flow, frame, flows open then).
    Evicted(u64, u64, usize),
    Other,
}

#[derive(Default)]
struct Sink(Vec<Ev>);

impl FlowSink for Sink {
    fn event(&mut self, event: FlowEvent<'_>) {
        self.0.push(match event {
            FlowEvent::Opened(o) => Ev::TcpOpened(o.flow),
            FlowEvent::UdpOpened(o) => Ev::Opened(o.flow, o.kind, o.frame),
            FlowEvent::Datagram {
                flow,
                side,
                frame,
                payload,
                bad_length,
                ..
            } => Ev::Datagram(flow, side, frame, payload.to_vec(), bad_length),
            FlowEvent::UdpClosed(c) => Ev::Closed(c.flow, c.end, c.datagrams, c.bytes),
            FlowEvent::HandOut { flow, .. } => Ev::HandOut(flow),
            FlowEvent::Evicted {
                flow, frame, open, ..
            } => Ev::Evicted(flow, frame, open),
            _ => Ev::Other,
        });
    }
}

/// Every frame of a capture: (linktype, ts_ns, bytes).
fn frames_of(capture: &[u8]) -> Vec<(u32, i128, Vec<u8>)> {
    let mut reader = Reader::default();
    reader.feed(capture);
    reader.finish(None);
    let mut out = Vec::new();
    loop {
        let batch = reader.poll();
        if batch.frames.is_empty() {
            return out;
        }
        for f in &batch.frames {
            out.push((f.linktype, f.ts_ns, batch.bytes(f).to_vec()));
        }
    }
}

fn run(table: &mut FlowTable, frames: &[(u32, i128, Vec<u8>)]) -> Vec<Ev> {
    let mut sink = Sink::default();
    for (linktype, ts, frame) in frames {
        let step = table.frame(*ts, *linktype, frame, &mut sink);
        assert!(!matches!(step, Step::Ask { .. }));
    }
    table.finish(&mut sink);
    sink.0
}

fn opened(evs: &[Ev]) -> Vec<(UdpKind, u64)> {
    evs.iter()
        .filter_map(|e| match e {
            Ev::Opened(_, kind, frame) => Some((*kind, *frame)),
            _ => None,
        })
        .collect()
}

fn handed_out(evs: &[Ev]) -> Vec<u64> {
    evs.iter()
        .filter_map(|e| match e {
            Ev::HandOut(f) => Some(*f),
            _ => None,
        })
        .collect()
}

/// A datagram from 10.0.0.1:`cport` to 10.0.0.2:443, or back.
fn dgram(cport: u16, from_client: bool, payload: &[u8]) -> Vec<u8> {
    let (src, dst, sport, dport) = if from_client {
        ([10, 0, 0, 1], [10, 0, 0, 2], cport, 443)
    } else {
        ([10, 0, 0, 2], [10, 0, 0, 1], 443, cport)
    };
    ipv4(
        src,
        dst,
        17,
        0,
        &[],
        &udp_header(sport, dport, None, payload),
    )
}

/// A QUIC v1 Initial's first bytes: long header, 8-byte DCID, empty SCID.
fn quic_initial() -> Vec<u8> {
    let mut p = vec![0xc3, 0, 0, 0, 1, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0];
    p.extend_from_slice(&[0; 40]);
    p
}

/// A query for `example.com` A with an EDNS0 OPT record, as `dig` sends it.
const DNS_QUERY: [u8; 40] = [
    0x9c, 0x4e, 0x01, 0x20, 0, 1, 0, 0, 0, 0, 0, 1, 7, b'e', b'x', b'a', b'm', b'p', b'l', b'e', 3,
    b'c', b'o', b'm', 0, 0, 1, 0, 1, 0, 0, 0x29, 0x04, 0xd0, 0, 0, 0, 0, 0, 0,
];

#[test]
fn the_real_captures_open_one_association_per_session() {
    let mut table = FlowTable::new(Limits::default());
    let frames = frames_of(QUIC);
    let evs = run(&mut table, &frames);
    let quic = opened(&evs);
    // Seven QUIC connections; the migrated path of connection 4 (a new client port, short
    // headers only) opens nothing and stays counted as plain UDP.
    assert_eq!(quic.len(), 7, "{quic:?}");
    assert!(quic.iter().all(|(kind, _)| *kind == UdpKind::Quic));
    assert_eq!(quic.first(), Some(&(UdpKind::Quic, 1)));
    assert_eq!(table.skipped(), &[(Skip::Udp, 5)]);
    let datagrams = evs.iter().filter(|e| matches!(e, Ev::Datagram(..))).count();
    assert_eq!(datagrams, frames.len() - 5);

    let mut table = FlowTable::new(Limits::default());
    let frames = frames_of(DTLS);
    let evs = run(&mut table, &frames);
    let dtls = opened(&evs);
    assert_eq!(dtls.len(), 5, "{dtls:?}");
    assert!(dtls.iter().all(|(kind, _)| *kind == UdpKind::Dtls));
    assert!(table.skipped().is_empty());
    // Every association ends at the end of the capture, counted per side, handed out in
    // the order they were opened.
    let closed: Vec<&Ev> = evs.iter().filter(|e| matches!(e, Ev::Closed(..))).collect();
    assert_eq!(closed.len(), 5);
    let counted: u64 = closed
        .iter()
        .map(|e| match e {
            Ev::Closed(_, end, datagrams, _) => {
                assert_eq!(*end, UdpEnd::Finished);
                datagrams[0] + datagrams[1]
            }
            _ => 0,
        })
        .sum();
    assert_eq!(counted, frames.len() as u64);
    let handed = handed_out(&evs);
    assert_eq!(handed, vec![0, 1, 2, 3, 4]);
}

#[test]
fn the_detector_on_real_first_datagrams_and_other_udp() {
    for (capture, kind) in [(QUIC, UdpKind::Quic), (DTLS, UdpKind::Dtls)] {
        let frames = frames_of(capture);
        let (linktype, _, first) = frames.first().expect("a frame");
        let Ok(Packet::Udp(d)) = decode(*linktype, first) else {
            panic!("the first frame is UDP")
        };
        assert_eq!(udp_kind(d.payload), Some(kind));
        // Cut short, the first datagram is not taken for what it was.
        assert_eq!(udp_kind(&d.payload[..4]), None);
    }
    assert_eq!(udp_kind(&DNS_QUERY), None);
    // An NTP client request, an mDNS query, an empty datagram.
    let ntp = [&[0x23u8][..], &[0; 47]].concat();
    assert_eq!(udp_kind(&ntp), None);
    let mdns = [
        0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 5, b'_', b'h', b't', b't', b'p',
    ];
    assert_eq!(udp_kind(&mdns), None);
    assert_eq!(udp_kind(b""), None);
    // QUIC: Version Negotiation (version 0, no fixed bit needed), v2, a reserved version;
    // not an unknown version, a short header, a 21-byte connection ID or one past the end.
    let mut p = quic_initial();
    assert_eq!(udp_kind(&p), Some(UdpKind::Quic));
    p[1..5].copy_from_slice(&[0, 0, 0, 0]);
    p[0] = 0x80;
    assert_eq!(udp_kind(&p), Some(UdpKind::Quic));
    p[0] = 0xc0;
    p[1..5].copy_from_slice(&[0x6b, 0x33, 0x43, 0xcf]);
    assert_eq!(udp_kind(&p), Some(UdpKind::Quic));
    p[1..5].copy_from_slice(&[0x1a, 0x2a, 0x3a, 0x4a]);
    assert_eq!(udp_kind(&p), Some(UdpKind::Quic));
    p[1..5].copy_from_slice(&[0x12, 0x34, 0x56, 0x78]);
    assert_eq!(udp_kind(&p), None);
    let mut p = quic_initial();
    p[0] = 0x43;
    assert_eq!(udp_kind(&p), None);
    p[0] = 0xc3;
    p[5] = 21;
    assert_eq!(udp_kind(&p), None);
    assert_eq!(udp_kind(&quic_initial()[..10]), None);
    // DTLS: records must tile the datagram; a DTLS 1.3 unified header may end it.
    let record = |kind: u8, body: &[u8]| {
        let mut r = vec![kind, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 1];
        r.extend_from_slice(&(body.len() as u16).to_be_bytes());
        r.extend_from_slice(body);
        r
    };
    assert_eq!(udp_kind(&record(22, b"hello")), Some(UdpKind::Dtls));
    let two = [record(22, b"hello"), record(20, b"\x01")].concat();
    assert_eq!(udp_kind(&two), Some(UdpKind::Dtls));
    let unified = [record(22, b"hello"), vec![0x2c, 0, 1, 2, 3]].concat();
    assert_eq!(udp_kind(&unified), Some(UdpKind::Dtls));
    assert_eq!(udp_kind(&[record(22, b"hello"), vec![0]].concat()), None);
    assert_eq!(udp_kind(&record(22, b"hello")[..15]), None);
    assert_eq!(udp_kind(&record(19, b"hello")), None);
    let mut tls = record(22, b"hello");
    tls[1..3].copy_from_slice(&[3, 3]);
    assert_eq!(udp_kind(&tls), None);
    // OpenSSL's pre-standard DTLS (0x0100, Wireshark's snakeoil-dtls.pcap) is DTLS.
    let mut bad_ver = record(22, b"hello");
    bad_ver[1..3].copy_from_slice(&[1, 0]);
    assert_eq!(udp_kind(&bad_ver), Some(UdpKind::Dtls));
}

#[test]
fn a_lying_udp_length_cuts_the_datagram_and_is_counted() {
    let payload = quic_initial();
    let claim = |length: u16| {
        ipv4(
            [10, 0, 0, 1],
            [10, 0, 0, 2],
            17,
            0,
            &[],
            &udp_header(5000, 443, Some(length), &payload),
        )
    };
    let read = |frame: &[u8]| match decode(LINKTYPE_RAW, frame) {
        Ok(Packet::Udp(d)) => (d.payload.to_vec(), d.bad_length),
        other => panic!("not a datagram: {other:?}"),
    };
    assert_eq!(
        read(&claim(8 + payload.len() as u16)),
        (payload.clone(), false)
    );
    // Shorter than the IP payload: the rest is padding.
    assert_eq!(read(&claim(8 + 20)), (payload[..20].to_vec(), false));
    for lie in [0u16, 7, 8 + payload.len() as u16 + 1, u16::MAX] {
        assert_eq!(read(&claim(lie)), (payload.clone(), true), "{lie}");
    }
    // Over Ethernet and IPv6 alike; a header cut short stays plain UDP.
    let eth = ethernet(ETH_IPV4, &claim(u16::MAX));
    assert!(matches!(decode(LINKTYPE_ETHERNET, &eth), Ok(Packet::Udp(d)) if d.bad_length));
    let v6 = ipv6(17, &udp_header(5000, 443, None, b""));
    assert!(matches!(decode(LINKTYPE_RAW, &v6), Ok(Packet::Udp(d)) if d.payload.is_empty()));
    assert_eq!(decode(LINKTYPE_RAW, &v6[..45]), Err(Skip::Udp));
    // In the table: handed out cut, and counted once with its first frame.
    let mut table = FlowTable::new(Limits::default());
    let frames = vec![
        (LINKTYPE_RAW, 0, claim(u16::MAX)),
        (LINKTYPE_RAW, 1, claim(3)),
    ];
    let evs = run(&mut table, &frames);
    assert!(evs.contains(&Ev::Datagram(0, 0, 1, payload.clone(), true)));
    assert_eq!((table.udp.bad_length, table.udp.first_bad_length), (2, 1));
}

#[test]
fn datagrams_follow_their_association_whatever_they_look_like() {
    let mut table = FlowTable::new(Limits::default());
    let frames = vec![
        (LINKTYPE_RAW, 0, dgram(7000, true, &DNS_QUERY)), // opens nothing
        (LINKTYPE_RAW, 1, dgram(7000, true, &quic_initial())),
        (LINKTYPE_RAW, 2, dgram(7000, false, b"\x40short header")),
        (LINKTYPE_RAW, 3, dgram(7000, true, b"")), // zero-length: still its datagram
        (LINKTYPE_RAW, 4, dgram(7001, true, b"\x40short header")), // no association
        (
            LINKTYPE_RAW,
            5,
            ipv4(
                [10, 0, 0, 1],
                [10, 0, 0, 2],
                17,
                0,
                &[],
                &udp_header(7002, 0, None, &quic_initial()),
            ),
        ), // port 0: opens nothing
    ];
    let evs = run(&mut table, &frames);
    let p = quic_initial();
    assert_eq!(
        evs,
        vec![
            Ev::Opened(0, UdpKind::Quic, 2),
            Ev::Datagram(0, 0, 2, p.clone(), false),
            Ev::Datagram(0, 1, 3, b"\x40short header".to_vec(), false),
            Ev::Datagram(0, 0, 4, Vec::new(), false),
            Ev::Closed(0, UdpEnd::Finished, [2, 1], [p.len() as u64, 13]),
            Ev::HandOut(0),
        ]
    );
    assert_eq!(table.skipped(), &[(Skip::Udp, 3)]);
}

#[test]
fn an_idle_association_ends_and_its_4_tuple_starts_afresh() {
    let mut table = FlowTable::new(Limits::default());
    let later = UDP_IDLE_TIMEOUT_NS + 1;
    let frames = vec![
        (LINKTYPE_RAW, 0, dgram(7000, true, &quic_initial())),
        (
            LINKTYPE_RAW,
            UDP_IDLE_TIMEOUT_NS,
            dgram(7000, false, b"\x40"),
        ),
        // 120 s after the last datagram: still the same association.
        (
            LINKTYPE_RAW,
            UDP_IDLE_TIMEOUT_NS + later,
            dgram(7000, true, b"\x40"),
        ),
        (
            LINKTYPE_RAW,
            2 * UDP_IDLE_TIMEOUT_NS + later,
            dgram(7000, true, &quic_initial()),
        ),
    ];
    let evs = run(&mut table, &frames);
    let ends: Vec<&Ev> = evs
        .iter()
        .filter(|e| matches!(e, Ev::Opened(..) | Ev::Closed(..)))
        .collect();
    assert_eq!(
        ends,
        vec![
            &Ev::Opened(0, UdpKind::Quic, 1),
            &Ev::Closed(0, UdpEnd::Idle, [1, 1], [55, 1]),
            &Ev::Opened(1, UdpKind::Quic, 4),
            &Ev::Closed(1, UdpEnd::Finished, [1, 0], [55, 0]),
        ]
    );
    // The short header after 120 s idle: the association had ended, it opened nothing.
    assert_eq!(table.skipped(), &[(Skip::Udp, 1)]);
}

#[test]
fn past_max_udp_flows_the_one_idle_longest_ends_and_order_is_by_first_frame() {
    let limits = Limits {
        max_udp_flows: 2,
        ..Limits::default()
    };
    let mut table = FlowTable::new(limits);
    let tcp = |cport: u16, flags: u8| {
        ipv4(
            [10, 0, 0, 1],
            [10, 0, 0, 2],
            6,
            0,
            &[],
            &tcp_header(cport, 443, 5, flags, b""),
        )
    };
    let frames = vec![
        (LINKTYPE_RAW, 0, dgram(7000, true, &quic_initial())),
        (LINKTYPE_RAW, 1, tcp(9000, 0x02)), // a TCP flow between them: numbered 1
        (LINKTYPE_RAW, 2, dgram(7001, true, &quic_initial())),
        (LINKTYPE_RAW, 3, dgram(7000, false, b"\x40")), // 7000 is now the most recent
        (LINKTYPE_RAW, 4, dgram(7002, true, &quic_initial())), // 7001 ends early
    ];
    let evs = run(&mut table, &frames);
    assert_eq!(table.udp.evicted, 1);
    assert!(evs.contains(&Ev::Closed(2, UdpEnd::Evicted, [1, 0], [55, 0])));
    assert!(table.udp.open_count() == 0);
    let handed = handed_out(&evs);
    assert_eq!(handed, vec![0, 1, 2, 3]);
    assert!(evs.contains(&Ev::TcpOpened(1)));
}

#[test]
fn the_rest_of_an_association_ended_early_is_skipped_until_its_pair_is_idle() {
    let limits = Limits {
        max_udp_flows: 1,
        ..Limits::default()
    };
    let mut table = FlowTable::new(limits);
    let idle = UDP_IDLE_TIMEOUT_NS;
    let frames = vec![
        (LINKTYPE_RAW, 0, dgram(7000, true, &quic_initial())),
        (LINKTYPE_RAW, 1, dgram(7001, true, &quic_initial())), // 7000 ends early
        // 7000's rest, either way, even a QUIC Initial: skipped, counted.
        (LINKTYPE_RAW, 2, dgram(7000, false, &quic_initial())),
        (LINKTYPE_RAW, idle, dgram(7000, true, &quic_initial())),
        // Past the idle timeout after its last datagram: the pair starts afresh (7001 has
        // ended idle by then).
        (
            LINKTYPE_RAW,
            2 * idle + 1,
            dgram(7000, true, &quic_initial()),
        ),
    ];
    let evs = run(&mut table, &frames);
    assert_eq!(
        opened(&evs),
        vec![(UdpKind::Quic, 1), (UdpKind::Quic, 2), (UdpKind::Quic, 5)]
    );
    assert_eq!((table.udp.after_stop, table.udp.pairs_after_stop), (2, 1));
    assert_eq!(table.udp.first_after_stop, 3);
    assert_eq!(table.udp.evicted, 1);
    assert_eq!(table.skipped(), &[]);
}

/// A DTLS 1.2 record of `content_type` at `epoch` around `body`.
fn dtls_record(content_type: u8, epoch: u8, body: &[u8]) -> Vec<u8> {
    let mut record = vec![content_type, 0xfe, 0xfd, 0, epoch, 0, 0, 0, 0, 0, 1];
    record.extend_from_slice(&u16::try_from(body.len()).unwrap().to_be_bytes());
    record.extend_from_slice(body);
    record
}

#[test]
fn a_dtls_client_hello_on_a_pair_ended_early_starts_a_new_association() {
    let limits = Limits {
        max_udp_flows: 1,
        ..Limits::default()
    };
    let mut table = FlowTable::new(limits);
    // An empty ClientHello's 12-byte DTLS handshake header; an encrypted alert.
    let hello = dtls_record(22, 0, &[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    let alert = dtls_record(21, 1, &[0; 26]);
    // A later fragment of a ClientHello (fragment_offset 200): the same handshake.
    let fragment = dtls_record(22, 0, &[1, 0, 1, 0x2c, 0, 0, 0, 0, 200, 0, 0, 0]);
    let frames = vec![
        (LINKTYPE_RAW, 0, dgram(7000, true, &hello)),
        (LINKTYPE_RAW, 1, dgram(7001, true, &hello)), // 7000 ends early
        (LINKTYPE_RAW, 2, dgram(7000, true, &alert)), // the rest of its conversation
        (LINKTYPE_RAW, 2, dgram(7000, true, &fragment)),
        // A device on fixed ports handshakes again: read, not skipped.
        (LINKTYPE_RAW, 3, dgram(7000, true, &hello)),
        (LINKTYPE_RAW, 4, dgram(7000, false, &alert)),
    ];
    let evs = run(&mut table, &frames);
    assert_eq!(
        opened(&evs),
        vec![(UdpKind::Dtls, 1), (UdpKind::Dtls, 2), (UdpKind::Dtls, 5)]
    );
    assert_eq!((table.udp.after_stop, table.udp.first_after_stop), (2, 3));
}

/// Takes the unassociated datagrams whose payload starts with `0x40` (a stand-in for a
/// short header of a known QUIC connection), as the capture path's QUIC table does.
#[derive(Default)]
struct Taker {
    taken: Vec<(u64, Vec<u8>)>,
}

impl FlowSink for Taker {
    fn event(&mut self, _event: FlowEvent<'_>) {}

    fn unassociated(
        &mut self,
        d: &crate::flows::packet::Datagram<'_>,
        frame: u64,
        _: i128,
    ) -> bool {
        let mine = d.payload.first() == Some(&0x40);
        if mine {
            self.taken.push((frame, d.payload.to_vec()));
        }
        mine
    }
}

#[test]
fn a_datagram_of_no_association_is_offered_to_the_sink_before_it_is_skipped() {
    let mut table = FlowTable::new(Limits::default());
    let mut sink = Taker::default();
    let short = [0x40, 9, 9, 9, 9];
    for (ts, payload) in [(1, &short[..]), (2, &DNS_QUERY[..])] {
        let frame = ethernet(ETH_IPV4, &dgram(50_000, true, payload));
        table.frame(ts, LINKTYPE_ETHERNET, &frame, &mut sink);
    }
    table.finish(&mut sink);
    assert_eq!(sink.taken, vec![(1, short.to_vec())]);
    assert_eq!(table.skipped(), &[(Skip::Udp, 1)]); // only the DNS query
}

/// A DTLS 1.3 unified header record: 0b001CSLEE with S and L (16-bit number, a length),
/// epoch bits 2, and `length` bytes of "ciphertext".
fn unified(length: u16) -> Vec<u8> {
    let mut r = vec![0x2e, 0x52, 0x85];
    r.extend_from_slice(&length.to_be_bytes());
    r.resize(5 + usize::from(length), 0xa5);
    r
}

#[test]
fn a_datagram_of_unified_headers_alone_is_told_strictly() {
    assert!(unified_only(&unified(31)));
    assert!(unified_only(&[unified(16), unified(40)].concat()));
    let mut short_number = unified(31);
    short_number[0] = 0x26; // S clear: an 8-bit number, the length one byte earlier
    short_number.remove(1);
    assert!(unified_only(&short_number));
    // A byte past the last record, one missing, a record too short to be protected
    assert!(!unified_only(&[unified(31), vec![0]].concat()));
    assert!(!unified_only(&unified(31)[..35]));
    assert!(!unified_only(&unified(15)));
    for first in [0x3e, 0x2a, 0x0e, 0x4e, 0x17] {
        // a connection ID (its length unknown), no length field, not 0b001, DTLS 1.2
        let mut r = unified(31);
        r[0] = first;
        assert!(!unified_only(&r), "{first:#x}");
    }
    assert!(!unified_only(b""));
    assert!(!unified_only(&DNS_QUERY));
    assert_eq!(udp_kind(&unified(31)), None); // alone, it opens nothing
}

#[test]
fn unified_headers_in_a_row_open_an_association_and_anything_else_starts_over() {
    let a = unified(31);
    let sent = |t: &[(u16, bool, &[u8])]| -> Vec<(u32, i128, Vec<u8>)> {
        t.iter()
            .zip(1..)
            .map(|((port, c, p), ts)| (LINKTYPE_RAW, ts, dgram(*port, *c, p)))
            .collect()
    };
    let mut table = FlowTable::new(Limits::default());
    // Two, then a DNS query on the same 4-tuple: the count starts over; then three.
    let frames = sent(&[
        (5000, false, &a),
        (5000, true, &a),
        (5000, true, &DNS_QUERY),
        (5000, true, &a),
        (5000, false, &a),
        (5000, false, &a),
        (5000, true, &a),
    ]);
    let evs = run(&mut table, &frames);
    assert_eq!(opened(&evs), vec![(UdpKind::Dtls, 6)]);
    let sides: Vec<(u64, u8)> = evs
        .iter()
        .filter_map(|e| match e {
            Ev::Datagram(_, side, frame, _, _) => Some((*frame, *side)),
            _ => None,
        })
        .collect();
    assert_eq!(sides, vec![(6, 0), (7, 1)]); // its sender side 0, then followed both ways
    assert_eq!(usize::from(UNIFIED_IN_A_ROW), 3);
    // A flood of lookalikes from other 4-tuples: past MAX_UNIFIED_PENDING the counts start
    // over (so the first 4-tuple's two are forgotten), and nothing opens.
    let mut table = FlowTable::new(Limits::default());
    let mut flood = vec![(5000u16, true, &a[..]), (5000, true, &a[..])];
    let ports: Vec<u16> = (0..MAX_UNIFIED_PENDING)
        .map(|n| 10_000 + n as u16)
        .collect();
    flood.extend(ports.iter().map(|&p| (p, true, &a[..])));
    flood.push((5000, true, &a[..]));
    let evs = run(&mut table, &sent(&flood));
    assert!(opened(&evs).is_empty());
}

#[test]
fn dtls13_without_its_hellos_opens_at_its_third_datagram() {
    // Each connection's first four datagrams (the hellos, a HelloRetryRequest's round)
    // left out: the rest opens one association per connection, at a third datagram.
    let frames = frames_of(DTLS13);
    let late: Vec<_> = frames
        .iter()
        .enumerate()
        .filter(|(i, _)| !matches!(i + 1, 1..=4 | 15..=20 | 31..=46))
        .map(|(_, f)| f.clone())
        .collect();
    let mut table = FlowTable::new(Limits::default());
    let evs = run(&mut table, &late);
    let kinds: Vec<UdpKind> = opened(&evs).into_iter().map(|(k, _)| k).collect();
    assert_eq!(kinds, vec![UdpKind::Dtls; 3]);
}

/// What the end of a capture says of flows: (closed or handed out, flow, late).
#[derive(Default)]
struct Ends(Vec<(&'static str, u64, bool)>);

impl FlowSink for Ends {
    fn event(&mut self, event: FlowEvent<'_>) {
        match event {
            FlowEvent::Closed { flow, .. } => self.0.push(("closed", flow, false)),
            FlowEvent::UdpClosed(c) => self.0.push(("closed", c.flow, false)),
            FlowEvent::HandOut { flow, late, .. } => self.0.push(("handed", flow, late)),
            _ => {}
        }
    }
}

#[test]
fn the_end_closes_tcp_flows_and_udp_associations_a_chunk_at_a_time_by_first_packet() {
    // TCP flows and QUIC associations open at once, the third a TCP flow that ended: two
    // at a time, the oldest first across both (an association open no longer makes all
    // close at once), none handed out late past a window of 1, the order `finish`'s.
    let tcp = |cport: u16| {
        let segment = tcp_header(cport, 443, 1, 0x18, b"x");
        ipv4([10, 0, 0, 1], [10, 0, 0, 2], 6, 0, &[], &segment)
    };
    let rst = ipv4(
        [10, 0, 0, 1],
        [10, 0, 0, 2],
        6,
        0,
        &[],
        &tcp_header(1002, 443, 2, 0x04, b""),
    );
    let frames = [
        tcp(1000),
        dgram(2001, true, &quic_initial()),
        tcp(1002),
        dgram(2003, true, &quic_initial()),
        tcp(1004),
        tcp(1005),
        dgram(2006, true, &quic_initial()),
        rst,
    ];
    let limits = Limits {
        reorder_window: 1,
        ..Limits::default()
    };
    let walk = |table: &mut FlowTable, sink: &mut Ends| {
        for (i, frame) in frames.iter().enumerate() {
            table.frame(i as i128 * 1000, LINKTYPE_RAW, frame, sink);
        }
        sink.0.clear();
    };
    let (mut table, mut sink) = (FlowTable::new(limits), Ends::default());
    walk(&mut table, &mut sink);
    let mut chunks = Vec::new();
    while !table.finish_some(2, &mut sink) {
        chunks.push(std::mem::take(&mut sink.0));
    }
    chunks.push(std::mem::take(&mut sink.0));
    for chunk in &chunks {
        assert!(chunk.iter().filter(|(what, ..)| *what == "closed").count() <= 2);
    }
    let all: Vec<_> = chunks.concat();
    let handed: Vec<(u64, bool)> = (all.iter())
        .filter(|(what, ..)| *what == "handed")
        .map(|&(_, flow, late)| (flow, late))
        .collect();
    assert_eq!(handed, (0..7).map(|flow| (flow, false)).collect::<Vec<_>>());
    let (mut once, mut at_once) = (FlowTable::new(limits), Ends::default());
    walk(&mut once, &mut at_once);
    once.finish(&mut at_once);
    let handed_at_once = at_once.0.iter().filter(|(what, ..)| *what == "handed");
    assert!(handed_at_once.eq(all.iter().filter(|(what, ..)| *what == "handed")));
}

#[test]
fn past_max_held_the_oldest_open_flow_tcp_or_udp_is_closed_early() {
    // Each association counts UDP_ASSOCIATION_COST: the bound holds two and a TCP flow. At
    // the third association the TCP flow, opened first, is closed early, then the oldest
    // association; what they held is counted no more.
    let limits = Limits {
        max_held: 2 * UDP_ASSOCIATION_COST + 2048,
        ..Limits::default()
    };
    let mut table = FlowTable::new(limits);
    let syn = ipv4(
        [10, 0, 0, 1],
        [10, 0, 0, 2],
        6,
        0,
        &[],
        &tcp_header(9000, 443, 5, 0x02, b""),
    );
    let frames = [
        (LINKTYPE_RAW, 0, syn),
        (LINKTYPE_RAW, 1, dgram(7000, true, &quic_initial())),
        (LINKTYPE_RAW, 2, dgram(7001, true, &quic_initial())),
        (LINKTYPE_RAW, 3, dgram(7002, true, &quic_initial())),
    ];
    let mut sink = Sink::default();
    for (i, (linktype, ts, frame)) in frames.iter().enumerate() {
        table.frame(*ts, *linktype, frame, &mut sink);
        let evicted = (table.evicted_held, table.udp.evicted_held);
        assert_eq!(evicted, if i < 3 { (0, 0) } else { (1, 1) });
        assert!(table.held() <= limits.max_held);
    }
    let evs = &sink.0;
    let at = evs.iter().position(|e| *e == Ev::Evicted(0, 4, 4));
    let after: Vec<Ev> = evs[at.unwrap_or(evs.len())..]
        .iter()
        .filter(|e| !matches!(e, Ev::Other | Ev::HandOut(_)))
        .take(3)
        .cloned()
        .collect();
    assert_eq!(
        after,
        [
            Ev::Evicted(0, 4, 4),
            Ev::Evicted(1, 4, 3),
            Ev::Closed(1, UdpEnd::Held, [1, 0], [55, 0]),
        ]
    );
    assert_eq!(table.udp.evicted, 0); // not the bound of associations
    table.finish(&mut sink);
    assert_eq!(table.held(), 0);
    assert_eq!(handed_out(&sink.0), vec![0, 1, 2, 3]);
}
