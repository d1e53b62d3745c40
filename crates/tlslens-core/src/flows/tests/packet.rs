//! Frames built by hand for every link type and hostile header.

use super::{ethernet, ipv4, ipv6, tcp_header, Rng};
use crate::flows::packet::*;

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
