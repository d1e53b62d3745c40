//! Frames built by hand for every link type and hostile header, reassembly under any
//! segmentation, and the flow table's life cycle.

use super::packet::*;
use super::tcp::{HalfStream, StreamEvent, MAX_PENDING_SEGMENTS};
use super::{CloseReason, FlowEvent, FlowSink, FlowTable, Limits, Step, Verdict};

/// A deterministic generator for the property tests (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i as u64 + 1) as usize);
        }
    }
}

fn tcp_header(sport: u16, dport: u16, seq: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut t = Vec::new();
    t.extend_from_slice(&sport.to_be_bytes());
    t.extend_from_slice(&dport.to_be_bytes());
    t.extend_from_slice(&seq.to_be_bytes());
    t.extend_from_slice(&0u32.to_be_bytes());
    t.extend_from_slice(&[5 << 4, flags, 0xFF, 0xFF, 0, 0, 0, 0]);
    t.extend_from_slice(payload);
    t
}

fn ipv4(src: [u8; 4], dst: [u8; 4], proto: u8, frag: u16, options: &[u8], body: &[u8]) -> Vec<u8> {
    let ihl = (20 + options.len()) / 4;
    let total = (20 + options.len() + body.len()) as u16;
    let mut ip = vec![0x40 | ihl as u8, 0];
    ip.extend_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&[0, 1]);
    ip.extend_from_slice(&frag.to_be_bytes());
    ip.extend_from_slice(&[64, proto, 0, 0]);
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&dst);
    ip.extend_from_slice(options);
    ip.extend_from_slice(body);
    ip
}

fn ipv6(next: u8, body: &[u8]) -> Vec<u8> {
    let mut ip = vec![0x60, 0, 0, 0];
    ip.extend_from_slice(&(body.len() as u16).to_be_bytes());
    ip.extend_from_slice(&[next, 64]);
    ip.extend_from_slice(&[0; 15]);
    ip.push(1);
    ip.extend_from_slice(&[0; 15]);
    ip.push(2);
    ip.extend_from_slice(body);
    ip
}

fn ethernet(ethertype: u16, body: &[u8]) -> Vec<u8> {
    let mut f = vec![0xAA; 12];
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(body);
    f
}

fn v4_packet(payload: &[u8]) -> Vec<u8> {
    ipv4(
        [10, 0, 0, 1],
        [10, 0, 0, 2],
        6,
        0,
        &[],
        &tcp_header(1234, 443, 1000, 0x18, payload),
    )
}

fn v6_packet(payload: &[u8]) -> Vec<u8> {
    ipv6(6, &tcp_header(5555, 443, 7, 0x18, payload))
}

/// Every link type we read, around one IP packet.
fn wrapped(ip: &[u8]) -> Vec<(u32, Vec<u8>)> {
    let v6 = ip[0] >> 4 == 6;
    let ethertype = if v6 { ETH_IPV6 } else { ETH_IPV4 };
    let family: u32 = if v6 { 30 } else { 2 };
    let mut vlan = vec![0xAA; 12];
    vlan.extend_from_slice(&[0x81, 0x00, 0, 42]);
    vlan.extend_from_slice(&ethertype.to_be_bytes());
    vlan.extend_from_slice(ip);
    let mut qinq = vec![0xAA; 12];
    qinq.extend_from_slice(&[0x88, 0xA8, 0, 100, 0x81, 0x00, 0, 42]);
    qinq.extend_from_slice(&ethertype.to_be_bytes());
    qinq.extend_from_slice(ip);
    let mut sll = vec![0; 14];
    sll.extend_from_slice(&ethertype.to_be_bytes());
    sll.extend_from_slice(ip);
    let mut sll2 = ethertype.to_be_bytes().to_vec();
    sll2.extend_from_slice(&[0; 18]);
    sll2.extend_from_slice(ip);
    let null = |bytes: [u8; 4]| [&bytes[..], ip].concat();
    vec![
        (LINKTYPE_ETHERNET, ethernet(ethertype, ip)),
        (LINKTYPE_ETHERNET, vlan),
        (LINKTYPE_ETHERNET, qinq),
        (LINKTYPE_RAW, ip.to_vec()),
        (LINKTYPE_RAW_12, ip.to_vec()),
        (LINKTYPE_RAW_14, ip.to_vec()),
        (LINKTYPE_IPV4, ip.to_vec()),
        (LINKTYPE_IPV6, ip.to_vec()),
        (LINKTYPE_LINUX_SLL, sll),
        (LINKTYPE_LINUX_SLL2, sll2),
        (LINKTYPE_NULL, null(family.to_le_bytes())),
        (LINKTYPE_NULL, null(family.to_be_bytes())),
        (LINKTYPE_LOOP, null(family.to_be_bytes())),
    ]
}

#[test]
fn every_link_type_gives_the_same_segment() {
    for ip in [v4_packet(b"hello"), v6_packet(b"hello")] {
        let expect = decode_tcp(LINKTYPE_RAW, &ip).expect("a segment");
        assert_eq!(expect.payload, b"hello");
        for (linktype, frame) in wrapped(&ip) {
            assert_eq!(
                decode_tcp(linktype, &frame),
                Ok(expect),
                "link type {linktype}"
            );
        }
    }
}

#[test]
fn every_truncation_of_every_link_type_is_skipped_not_a_panic() {
    for ip in [v4_packet(b""), v6_packet(b"")] {
        for (linktype, frame) in wrapped(&ip) {
            for cut in 0..frame.len() {
                let got = decode_tcp(linktype, &frame[..cut]);
                assert!(got.is_err(), "link type {linktype} cut at {cut}: {got:?}");
            }
        }
    }
}

#[test]
fn ipv4_options_and_padding() {
    let mut ip = ipv4(
        [10, 0, 0, 1],
        [10, 0, 0, 2],
        6,
        0,
        &[1, 1, 1, 0],
        &tcp_header(1234, 443, 1, 0x18, b"hello"),
    );
    ip.extend_from_slice(&[0; 6]); // Ethernet-style padding, trimmed by the total length
    let seg = decode_tcp(LINKTYPE_RAW, &ip).expect("a segment");
    assert_eq!(seg.payload, b"hello");
    assert_eq!((seg.sport, seg.dport), (1234, 443));
    assert_eq!(seg.src.as_bytes(), &[10, 0, 0, 1]);
}

#[test]
fn ipv4_total_length_zero_trusts_the_frame_and_hostile_lengths_are_bounded() {
    let mut ip = v4_packet(b"tso");
    ip[2] = 0;
    ip[3] = 0;
    assert_eq!(
        decode_tcp(LINKTYPE_RAW, &ip).map(|s| s.payload),
        Ok(&b"tso"[..])
    );
    let mut long = v4_packet(b"x");
    long[2] = 0xFF; // a total length past the frame: the frame's end is used
    long[3] = 0xFF;
    assert_eq!(
        decode_tcp(LINKTYPE_RAW, &long).map(|s| s.payload),
        Ok(&b"x"[..])
    );
    let mut ihl = v4_packet(b"x");
    ihl[0] = 0x4F; // 60 bytes of header in a 41-byte packet
    assert_eq!(decode_tcp(LINKTYPE_RAW, &ihl), Err(Skip::Truncated));
    let mut doff = v4_packet(b"x");
    doff[32] = 0xF0; // a TCP header of 60 bytes
    assert_eq!(decode_tcp(LINKTYPE_RAW, &doff), Err(Skip::Truncated));
    doff[32] = 0x40; // a TCP header of 16 bytes
    assert_eq!(decode_tcp(LINKTYPE_RAW, &doff), Err(Skip::Truncated));
}

#[test]
fn fragments_udp_and_other_protocols_are_counted_not_parsed() {
    let tcp = tcp_header(1, 2, 3, 0x18, b"x");
    let frag = |f| ipv4([1; 4], [2; 4], 6, f, &[], &tcp);
    assert_eq!(
        decode_tcp(LINKTYPE_RAW, &frag(0x2000)),
        Err(Skip::Ipv4Fragment)
    );
    assert_eq!(
        decode_tcp(LINKTYPE_RAW, &frag(0x0010)),
        Err(Skip::Ipv4Fragment)
    );
    assert!(decode_tcp(LINKTYPE_RAW, &frag(0x4000)).is_ok()); // DF only
    assert_eq!(
        decode_tcp(LINKTYPE_RAW, &ipv4([1; 4], [2; 4], 17, 0, &[], &tcp)),
        Err(Skip::Udp)
    );
    assert_eq!(
        decode_tcp(LINKTYPE_RAW, &ipv4([1; 4], [2; 4], 1, 0, &[], &tcp)),
        Err(Skip::OtherProtocol)
    );
    assert_eq!(
        decode_tcp(LINKTYPE_RAW, &v4_packet(b"")[..30]),
        Err(Skip::Truncated)
    );
    let arp = [vec![0xFF; 12], vec![0x08, 0x06], vec![0; 28]].concat();
    assert_eq!(decode_tcp(LINKTYPE_ETHERNET, &arp), Err(Skip::NotIp));
    assert_eq!(decode_tcp(147, b"whatever"), Err(Skip::UnsupportedLink));
    assert_eq!(decode_tcp(LINKTYPE_RAW, &[0x50; 40]), Err(Skip::NotIp));
    assert_eq!(
        decode_tcp(LINKTYPE_NULL, &[99, 0, 0, 0, 0x45]),
        Err(Skip::NotIp)
    );
    let mut bad_version = ethernet(ETH_IPV4, &v6_packet(b"x"));
    assert_eq!(
        decode_tcp(LINKTYPE_ETHERNET, &bad_version),
        Err(Skip::NotIp)
    );
    bad_version[12] = 0x86;
    bad_version[13] = 0xDD;
    assert!(decode_tcp(LINKTYPE_ETHERNET, &bad_version).is_ok());
}

#[test]
fn ipv6_extension_headers_are_walked() {
    let tcp = tcp_header(5555, 443, 7, 0x18, b"data");
    let hop_by_hop = [&[60u8, 0][..], &[0; 6]].concat(); // next: destination options
    let dest_opts = [&[51u8, 0][..], &[0; 6]].concat(); // next: AH
    let ah = [&[6u8, 1][..], &[0; 10]].concat(); // (1 + 2) * 4 bytes, next: TCP
    let ip = ipv6(0, &[hop_by_hop, dest_opts, ah, tcp.clone()].concat());
    let seg = decode_tcp(LINKTYPE_RAW, &ip).expect("a segment");
    assert_eq!(seg.payload, b"data");
    assert_eq!(seg.dst.as_bytes().len(), 16);
    let frag = [&[6u8, 0, 0, 1][..], &[0; 4]].concat();
    assert_eq!(
        decode_tcp(LINKTYPE_RAW, &ipv6(44, &[frag, tcp.clone()].concat())),
        Err(Skip::Ipv6Fragment)
    );
    // An extension header claiming 2 kB in a short packet.
    let huge = [&[6u8, 255][..], &[0; 6]].concat();
    assert_eq!(
        decode_tcp(LINKTYPE_RAW, &ipv6(60, &[huge, tcp.clone()].concat())),
        Err(Skip::Truncated)
    );
    // A chain of extension headers that ends with the packet.
    let chain: Vec<u8> = (0..50).flat_map(|_| [60u8, 0, 0, 0, 0, 0, 0, 0]).collect();
    assert_eq!(
        decode_tcp(LINKTYPE_RAW, &ipv6(60, &chain)),
        Err(Skip::Truncated)
    );
    assert_eq!(decode_tcp(LINKTYPE_RAW, &ipv6(17, &tcp)), Err(Skip::Udp));
}

#[test]
fn random_bytes_never_panic_the_decoder() {
    let mut rng = Rng(0x5EED);
    let base = ethernet(ETH_IPV4, &v4_packet(b"payload"));
    for _ in 0..20_000 {
        let mut frame = base.clone();
        for _ in 0..1 + rng.below(6) {
            let at = rng.below(frame.len() as u64) as usize;
            frame[at] = rng.next() as u8;
        }
        frame.truncate(rng.below(frame.len() as u64 + 1) as usize);
        for linktype in [0, 1, 12, 101, 108, 113, 228, 276] {
            let _ = decode_tcp(linktype, &frame);
        }
    }
}

// -- reassembly ----------------------------------------------------------------------

const DATA_LEN: usize = 2048;

fn data() -> Vec<u8> {
    (0..DATA_LEN).map(|i| i as u8).collect()
}

fn segments(isn: u32, sizes: &[usize]) -> Vec<(u32, Vec<u8>)> {
    let data = data();
    let mut out = Vec::new();
    let mut pos = 0;
    for &size in sizes {
        if pos >= data.len() {
            break;
        }
        let end = (pos + size).min(data.len());
        out.push((isn.wrapping_add(1 + pos as u32), data[pos..end].to_vec()));
        pos = end;
    }
    if pos < data.len() {
        out.push((isn.wrapping_add(1 + pos as u32), data[pos..].to_vec()));
    }
    out
}

#[derive(Default, Debug)]
struct Collected {
    data: Vec<u8>,
    gaps: Vec<(u64, u64)>,
    conflicts: Vec<(u64, u64)>,
}

fn collect(stream: &mut HalfStream, segs: &[(u32, Vec<u8>)]) -> Collected {
    let mut got = Collected::default();
    let take = |ev: StreamEvent<'_>, got: &mut Collected| match ev {
        StreamEvent::Data { offset, data } => {
            let expect = got.data.len() as u64 + got.gaps.iter().map(|g| g.1).sum::<u64>();
            assert_eq!(offset, expect);
            got.data.extend_from_slice(data);
        }
        StreamEvent::Gap { offset, length } => got.gaps.push((offset, length)),
        StreamEvent::Conflict { offset, length } => got.conflicts.push((offset, length)),
    };
    for (seq, payload) in segs {
        stream.feed(*seq, payload, &mut |ev| take(ev, &mut got));
    }
    stream.flush(&mut |ev| take(ev, &mut got));
    got
}

#[test]
fn in_order_across_sequence_wrap() {
    let isn = 0xFFFF_FF00;
    let mut stream = HalfStream::new(4 << 20);
    stream.syn(isn);
    let got = collect(&mut stream, &segments(isn, &[100; 30]));
    assert_eq!(got.data, data());
    assert!(got.gaps.is_empty());
}

#[test]
fn retransmission_and_overlap() {
    let mut stream = HalfStream::new(4 << 20);
    stream.syn(1000);
    let segs = segments(1000, &[300; 10]);
    let mut noisy = vec![segs[0].clone(), segs[1].clone(), segs[0].clone()];
    noisy.push((
        segs[1].0 + 100,
        [&segs[1].1[100..], &segs[2].1[..50]].concat(),
    ));
    noisy.extend_from_slice(&segs[2..]);
    let got = collect(&mut stream, &noisy);
    assert_eq!(got.data, data());
    assert!(got.gaps.is_empty() && got.conflicts.is_empty());
    assert!(stream.retransmitted_bytes >= 300);
}

#[test]
fn loss_becomes_a_gap_and_mid_stream_pickup() {
    let mut stream = HalfStream::new(4 << 20);
    stream.syn(0);
    let mut segs = segments(0, &[256; 8]);
    segs.remove(3);
    let got = collect(&mut stream, &segs);
    assert_eq!(got.gaps, vec![(768, 256)]);
    assert_eq!(got.data, [&data()[..768], &data()[1024..]].concat());
    let mut stream = HalfStream::new(4 << 20); // no SYN seen
    let got = collect(&mut stream, &segments(12345, &[500; 5])[1..]);
    assert_eq!(got.data, &data()[500..]);
}

#[test]
fn any_segmentation_order_and_duplication_gives_the_same_bytes() {
    let mut rng = Rng(42);
    for _ in 0..2000 {
        let sizes: Vec<usize> = (0..1 + rng.below(30))
            .map(|_| 1 + rng.below(400) as usize)
            .collect();
        let isn = rng.next() as u32;
        let mut segs = segments(isn, &sizes);
        let dups: Vec<_> = segs.iter().filter(|_| rng.below(5) == 0).cloned().collect();
        segs.extend(dups);
        rng.shuffle(&mut segs);
        let mut stream = HalfStream::new(4 << 20);
        stream.syn(isn);
        let got = collect(&mut stream, &segs);
        assert_eq!(got.data, data());
        assert!(got.gaps.is_empty() && got.conflicts.is_empty());
        assert_eq!(stream.pending_bytes(), 0);
    }
}

#[test]
fn any_loss_gives_gaps_that_with_the_data_cover_the_stream() {
    let mut rng = Rng(7);
    for _ in 0..1000 {
        let sizes: Vec<usize> = (0..20).map(|_| 1 + rng.below(200) as usize).collect();
        let isn = rng.next() as u32;
        let mut segs = segments(isn, &sizes);
        let last = segs.pop().expect("segments"); // the end of the stream is known
        segs.retain(|_| rng.below(4) != 0);
        segs.push(last);
        rng.shuffle(&mut segs);
        let mut stream = HalfStream::new(1 + rng.below(2048) as usize);
        stream.syn(isn);
        let got = collect(&mut stream, &segs);
        let lost: u64 = got.gaps.iter().map(|g| g.1).sum();
        assert_eq!(got.data.len() as u64 + lost, DATA_LEN as u64);
    }
}

fn conflicts(segs: &[(u32, &[u8])]) -> Collected {
    let mut stream = HalfStream::new(4 << 20);
    stream.syn(999);
    let owned: Vec<(u32, Vec<u8>)> = segs.iter().map(|(s, p)| (*s, p.to_vec())).collect();
    collect(&mut stream, &owned)
}

#[test]
fn a_retransmission_with_other_bytes_is_a_conflict_and_the_first_copy_is_kept() {
    let got = conflicts(&[(1000, b"hello world"), (1006, b"WORLD!")]);
    assert_eq!(got.data, b"hello world!");
    assert_eq!(got.conflicts, vec![(6, 5)]);
    let got = conflicts(&[(1000, b"hello world"), (1000, b"hello"), (1006, b"world")]);
    assert_eq!(got.data, b"hello world");
    assert!(got.conflicts.is_empty());
}

#[test]
fn conflicting_copies_beyond_a_hole_are_compared() {
    let got = conflicts(&[(1005, b"abcde"), (1005, b"abXde"), (1000, b"01234")]);
    assert_eq!(got.data, b"01234abcde");
    assert_eq!(got.conflicts, vec![(7, 1)]);
    let got = conflicts(&[(1004, b"Zabc"), (1000, b"01234")]);
    assert_eq!(got.data, b"01234abc");
    assert_eq!(got.conflicts, vec![(4, 1)]);
}

#[test]
fn pending_bytes_and_segments_are_bounded() {
    let mut stream = HalfStream::new(1000);
    stream.syn(0);
    let mut gaps = Vec::new();
    for i in 0..100u32 {
        // Every other 100-byte segment is lost: the waiting data passes the bound.
        stream.feed(1 + 200 * i + 100, &[7; 100], &mut |ev| {
            if let StreamEvent::Gap { offset, length } = ev {
                gaps.push((offset, length));
            }
        });
        assert!(stream.pending_bytes() <= 1000);
    }
    assert_eq!(gaps.first(), Some(&(0, 100)));
    let mut stream = HalfStream::new(usize::MAX);
    stream.syn(0);
    let mut gap = false;
    for i in 0..=MAX_PENDING_SEGMENTS as u32 + 1 {
        stream.feed(1 + 2 * i + 1, &[1], &mut |ev| {
            gap |= matches!(ev, StreamEvent::Gap { .. })
        });
    }
    assert!(
        gap,
        "more than MAX_PENDING_SEGMENTS waiting gives a hole up"
    );
}

#[test]
fn a_hostile_retransmission_before_the_start_is_trimmed() {
    let mut stream = HalfStream::new(4 << 20);
    stream.syn(100);
    let got = collect(
        &mut stream,
        &[
            (101, b"abc".to_vec()),
            (50, vec![9; 60]),
            (0x8000_0000, b"far".to_vec()),
        ],
    );
    assert_eq!(&got.data[..3], b"abc");
}

// -- the flow table --------------------------------------------------------------------

#[derive(Debug, PartialEq, Eq, Clone)]
enum Ev {
    Opened(u64, Option<u8>, bool),
    Data(u64, u8, u64, Vec<u8>),
    Gap(u64, u8, u64, u64),
    Conflict(u64, u8),
    Closing(u64, u8),
    Evicted(u64, u64),
    Closed(u64, Option<CloseReason>),
    HandOut(u64, bool),
}

#[derive(Default)]
struct Sink(Vec<Ev>);

impl FlowSink for Sink {
    fn event(&mut self, event: FlowEvent<'_>) {
        self.0.push(match event {
            FlowEvent::Opened(o) => Ev::Opened(o.flow, o.client_side, o.mid_stream),
            FlowEvent::Data {
                flow,
                side,
                offset,
                data,
                ..
            } => Ev::Data(flow, side, offset, data.to_vec()),
            FlowEvent::Gap {
                flow,
                side,
                offset,
                length,
                ..
            } => Ev::Gap(flow, side, offset, length),
            FlowEvent::Conflict { flow, side, .. } => Ev::Conflict(flow, side),
            FlowEvent::Closing { flow, side, .. } => Ev::Closing(flow, side),
            FlowEvent::Evicted { flow, frame } => Ev::Evicted(flow, frame),
            FlowEvent::Closed { flow, by, .. } => Ev::Closed(flow, by),
            FlowEvent::HandOut { flow, late } => Ev::HandOut(flow, late),
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
    assert!(evs.contains(&Ev::Evicted(0, 4)));
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
    assert!(table.flows_held() <= super::MAX_CLOSED_FLOWS + super::PROGRESS_EVERY_FRAMES as usize);
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
