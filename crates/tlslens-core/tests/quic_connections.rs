//! The QUIC connection table on datagrams: the RFC's Initials through it, coalesced
//! packets, CRYPTO reassembly across datagrams and out of order, the bounds (an offset of
//! 2^62, the CRYPTO limit, the connection table), a wrong Retry tag, garbage on port 443,
//! and with a key log: Handshake and 1-RTT packets opened, a key update followed,
//! NEW_CONNECTION_ID and migration.

mod quic_common;

use quic_common::*;
use tlslens_core::codec::put_varint;
use tlslens_core::flows::packet::Addr;
use tlslens_core::quic::frames::Frame;
use tlslens_core::quic::keys::initial_secrets;
use tlslens_core::quic::packet::Form;
use tlslens_core::quic::version::{LongType, Version};
use tlslens_core::quic::{
    Datagram, Endpoint, Finding, Limits, PacketEvent, QuicConnections, QuicEvent, Space,
};

fn client() -> Endpoint {
    (Addr::v4([10, 0, 0, 1]), 50_000)
}

fn server() -> Endpoint {
    (Addr::v4([10, 0, 0, 2]), 443)
}

fn feed(
    table: &mut QuicConnections,
    frame: u64,
    src: Endpoint,
    dst: Endpoint,
    bytes: &[u8],
) -> bool {
    table.datagram(&Datagram {
        frame,
        ts_ns: i128::from(frame) * 1000,
        src,
        dst,
        payload: bytes,
    })
}

fn drain(table: &mut QuicConnections) -> Vec<QuicEvent> {
    std::iter::from_fn(|| table.poll()).collect()
}

fn findings(events: &[QuicEvent]) -> Vec<&Finding> {
    events
        .iter()
        .filter_map(|e| match e {
            QuicEvent::Finding(f) => Some(f),
            _ => None,
        })
        .collect()
}

fn packets(events: &[QuicEvent]) -> Vec<&PacketEvent> {
    events
        .iter()
        .filter_map(|e| match e {
            QuicEvent::Packet(p) => Some(p),
            _ => None,
        })
        .collect()
}

fn crypto(events: &[QuicEvent]) -> Vec<(u8, Space, u64, Vec<u8>)> {
    events
        .iter()
        .filter_map(|e| match e {
            QuicEvent::Crypto {
                side,
                space,
                offset,
                data,
                ..
            } => Some((*side, *space, *offset, data.clone())),
            _ => None,
        })
        .collect()
}

/// A client Initial of v1 to `dcid` (no SCID, no token), packet number `pn` in 4 bytes.
fn client_initial(dcid: &[u8], pn: u32, payload: &[u8]) -> Vec<u8> {
    let mut header = vec![0xc3, 0, 0, 0, 1, dcid.len() as u8];
    header.extend_from_slice(dcid);
    header.extend_from_slice(&[0, 0]);
    let length = 0x4000 | (4 + payload.len() + 16) as u16;
    header.extend_from_slice(&length.to_be_bytes());
    header.extend_from_slice(&pn.to_be_bytes());
    let (client, _) = initial_secrets(Version::V1, dcid).expect("secrets");
    protect(&client, &header, u64::from(pn), 4, payload)
}

fn crypto_frame(offset: u64, data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x06];
    put_varint(&mut out, offset).expect("varint");
    put_varint(&mut out, data.len() as u64).expect("varint");
    out.extend_from_slice(data);
    out
}

fn padded(mut payload: Vec<u8>, len: usize) -> Vec<u8> {
    payload.resize(payload.len().max(len), 0);
    payload
}

/// The ClientHello of RFC 9001 §A.2 (the data of its CRYPTO frame).
fn client_hello() -> Vec<u8> {
    client_initial_payload()[4..245].to_vec()
}

#[test]
fn the_rfc_initials_and_a_coalesced_handshake_packet() {
    let mut table = QuicConnections::new(Limits::default());
    assert!(feed(
        &mut table,
        1,
        client(),
        server(),
        &hex(V1_CLIENT_INITIAL)
    ));
    // The server's Initial, then a Handshake packet (no keys: not opened), then padding.
    let mut datagram = hex(V1_SERVER_INITIAL);
    let handshake_at = datagram.len();
    datagram.extend_from_slice(&hex("e00000000100" /* DCID 0 */));
    datagram.extend_from_slice(&hex("08f067a5502a4262b5 4020"));
    datagram.extend_from_slice(&[0x5a; 32]);
    datagram.extend_from_slice(&[0; 40]);
    assert!(feed(&mut table, 2, server(), client(), &datagram));
    let events = drain(&mut table);
    assert_eq!(findings(&events), Vec::<&Finding>::new());
    let QuicEvent::Opened {
        conn: 0,
        frame: 1,
        client: from,
        server: to,
        version: 1,
        dcid,
        ..
    } = &events[0]
    else {
        panic!("a connection opened first: {:?}", events[0]);
    };
    assert_eq!(
        (*from, *to, dcid.clone()),
        (client(), server(), Some(hex(DCID)))
    );
    let packets = packets(&events);
    let summary: Vec<_> = packets
        .iter()
        .map(|p| (p.frame, p.side, p.offset, p.form, p.pn))
        .collect();
    assert_eq!(
        summary,
        [
            (1, 0, 0, Form::Long(LongType::Initial), Some(2)),
            (2, 1, 0, Form::Long(LongType::Initial), Some(1)),
            (2, 1, handshake_at, Form::Long(LongType::Handshake), None),
        ]
    );
    let streams = crypto(&events);
    assert_eq!(streams.len(), 2);
    assert_eq!(streams[0], (0, Space::Initial, 0, client_hello()));
    assert_eq!((streams[1].0, streams[1].2, streams[1].3.len()), (1, 0, 90));
    assert_eq!(streams[1].3[..4], [0x02, 0x00, 0x00, 0x56]);
}

#[test]
fn quic_v2_initials_through_the_table() {
    let mut table = QuicConnections::new(Limits::default());
    assert!(feed(
        &mut table,
        1,
        client(),
        server(),
        &hex(V2_CLIENT_INITIAL)
    ));
    assert!(feed(
        &mut table,
        2,
        server(),
        client(),
        &hex(V2_SERVER_INITIAL)
    ));
    let events = drain(&mut table);
    assert_eq!(findings(&events), Vec::<&Finding>::new());
    assert!(matches!(
        events[0],
        QuicEvent::Opened {
            version: 0x6b33_43cf,
            ..
        }
    ));
    let streams = crypto(&events);
    assert_eq!(streams[0].3, client_hello());
    assert_eq!(streams[1].3.len(), 90);
}

#[test]
fn crypto_is_reassembled_across_datagrams_out_of_order_with_overlap() {
    let dcid = hex("0011223344556677");
    let hello = client_hello();
    let mut table = QuicConnections::new(Limits::default());
    // The second half first (packet 1), then the first half with a retransmitted overlap.
    let late = client_initial(&dcid, 1, &padded(crypto_frame(100, &hello[100..]), 1100));
    let mut early = crypto_frame(0, &hello[..100]);
    early.extend_from_slice(&crypto_frame(50, &hello[50..150]));
    let early = client_initial(&dcid, 0, &padded(early, 1100));
    assert!(feed(&mut table, 1, client(), server(), &late));
    let first = drain(&mut table);
    assert!(
        crypto(&first).is_empty(),
        "nothing contiguous yet: {first:?}"
    );
    assert!(feed(&mut table, 2, client(), server(), &early));
    let second = drain(&mut table);
    assert_eq!(findings(&second), Vec::<&Finding>::new());
    assert_eq!(crypto(&second), [(0, Space::Initial, 0, hello)]);
}

#[test]
fn crypto_frames_in_order_in_one_datagram_are_one_run() {
    let dcid = hex("0011223344556677");
    let hello = client_hello();
    let mut table = QuicConnections::new(Limits::default());
    let mut frames = crypto_frame(0, &hello[..60]);
    frames.extend_from_slice(&crypto_frame(60, &hello[60..200]));
    frames.push(0x01);
    frames.extend_from_slice(&crypto_frame(200, &hello[200..]));
    feed(
        &mut table,
        1,
        client(),
        server(),
        &client_initial(&dcid, 0, &padded(frames, 1100)),
    );
    let events = drain(&mut table);
    assert_eq!(crypto(&events), [(0, Space::Initial, 0, hello)]);
}

#[test]
fn a_crypto_offset_at_2_62_or_past_the_limit_is_a_finding() {
    let dcid = hex("0011223344556677");
    let mut table = QuicConnections::new(Limits::default());
    // Offset 2^62 - 1 (the largest varint) with one byte: it ends at 2^62.
    let payload = padded(crypto_frame((1 << 62) - 1, b"x"), 1100);
    assert!(feed(
        &mut table,
        7,
        client(),
        server(),
        &client_initial(&dcid, 0, &payload)
    ));
    let payload = padded(crypto_frame(2_000_000, b"y"), 1100);
    assert!(feed(
        &mut table,
        8,
        client(),
        server(),
        &client_initial(&dcid, 1, &payload)
    ));
    let events = drain(&mut table);
    let found = findings(&events);
    assert_eq!(found.len(), 2, "{found:?}");
    // The CRYPTO frame starts right after the header: 1+4+1+8+1+1+2 bytes and the 4-byte PN.
    assert_eq!((found[0].frame, found[0].offset), (7, 22));
    assert!(found[0].what.contains("past 2^62 - 1"), "{}", found[0].what);
    assert_eq!((found[1].frame, found[1].offset), (8, 22));
    assert!(
        found[1].what.contains("1048576-byte CRYPTO stream limit"),
        "{}",
        found[1].what
    );
    assert!(crypto(&events).is_empty());
}

#[test]
fn a_retry_with_a_wrong_tag_is_a_finding() {
    for (version_initial, retry) in [(V1_CLIENT_INITIAL, V1_RETRY), (V2_CLIENT_INITIAL, V2_RETRY)] {
        let mut table = QuicConnections::new(Limits::default());
        feed(&mut table, 1, client(), server(), &hex(version_initial));
        feed(&mut table, 2, server(), client(), &hex(retry));
        let mut wrong = hex(retry);
        *wrong.last_mut().expect("bytes") ^= 0x80;
        feed(&mut table, 3, server(), client(), &wrong);
        let events = drain(&mut table);
        let retries: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                QuicEvent::Retry {
                    frame,
                    token,
                    tag_ok,
                    ..
                } => Some((*frame, token.clone(), *tag_ok)),
                _ => None,
            })
            .collect();
        assert_eq!(
            retries,
            [(2, b"token".to_vec(), true), (3, b"token".to_vec(), false)]
        );
        let found = findings(&events);
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].frame, found[0].offset), (3, wrong.len() - 16));
        assert!(found[0].what.contains("integrity tag"));
    }
}

#[test]
fn garbage_on_udp_443_is_a_finding_and_the_capture_goes_on() {
    let mut table = QuicConnections::new(Limits::default());
    assert!(!feed(
        &mut table,
        4,
        client(),
        server(),
        b"\x17 not quic at all, just bytes"
    ));
    // Not on 443 and not QUIC: nothing to say.
    assert!(!feed(
        &mut table,
        5,
        (Addr::v4([1, 2, 3, 4]), 53),
        client(),
        b"\x12\x34dns"
    ));
    // A long header claiming a 200-byte Connection ID is not QUIC either.
    assert!(!feed(
        &mut table,
        6,
        client(),
        server(),
        &hex("c000000001c8")
    ));
    assert!(feed(
        &mut table,
        9,
        client(),
        server(),
        &hex(V1_CLIENT_INITIAL)
    ));
    let events = drain(&mut table);
    let found: Vec<_> = findings(&events)
        .iter()
        .map(|f| (f.frame, f.offset))
        .collect();
    assert_eq!(found, [(4, 0), (6, 0)]);
    assert!(events
        .iter()
        .any(|e| matches!(e, QuicEvent::Opened { frame: 9, .. })));
}

#[test]
fn an_unknown_frame_type_is_a_finding_and_the_rest_of_the_packet_is_skipped() {
    let dcid = hex("0011223344556677");
    let mut table = QuicConnections::new(Limits::default());
    let mut payload = vec![0x01, 0x21];
    payload.extend_from_slice(&crypto_frame(0, b"never read"));
    feed(
        &mut table,
        3,
        client(),
        server(),
        &client_initial(&dcid, 0, &padded(payload, 1100)),
    );
    let events = drain(&mut table);
    let found = findings(&events);
    assert_eq!((found.len(), found[0].frame, found[0].offset), (1, 3, 23));
    assert!(
        found[0].what.contains("unknown frame type 0x21"),
        "{}",
        found[0].what
    );
    let frames: Vec<_> = packets(&events)[0]
        .frames
        .iter()
        .map(|f| f.frame.clone())
        .collect();
    assert_eq!(frames, [Frame::Ping]);
    assert!(crypto(&events).is_empty());
}

#[test]
fn crypto_data_waiting_beyond_holes_is_bounded_across_connections() {
    // Five connections whose Initials carry CRYPTO data from offset 1,100 on (offset 0
    // never comes): 1,000 bytes each wait, and the table lets 2,500 wait in all.
    let limits = Limits {
        max_crypto_waiting: 2_500,
        ..Limits::default()
    };
    let mut table = QuicConnections::new(limits);
    let payload = padded(crypto_frame(1_100, &[1; 1_000]), 1_100);
    let later = padded(crypto_frame(2_100, &[1; 100]), 1_100);
    for host in 0..5u8 {
        let client = (Addr::v4([10, 0, 1, host]), 40_000);
        let dcid = [host; 8];
        let frame = u64::from(host) * 2;
        feed(
            &mut table,
            frame + 1,
            client,
            server(),
            &client_initial(&dcid, 0, &payload),
        );
        feed(
            &mut table,
            frame + 2,
            client,
            server(),
            &client_initial(&dcid, 1, &later),
        );
    }
    // Two connections' 1,100 bytes, then the three others' 100 that still fit.
    assert_eq!(table.crypto_waiting(), 2_500);
    let events = drain(&mut table);
    let dropped: Vec<u64> = (findings(&events).into_iter())
        .filter(|f| f.what.contains("waits beyond a hole and is dropped"))
        .map(|f| f.frame)
        .collect();
    assert_eq!(dropped, [5, 7, 9]); // once a connection, at its first dropped frame
}

#[test]
fn crypto_data_waiting_beyond_one_streams_hole_is_bounded() {
    // One connection's Initials carry CRYPTO data from offset 1,000 on, 1,000 bytes each:
    // its stream lets 2,500 wait, so the third is dropped (what the hole's filling would
    // hand out at once stays bounded), as is the fourth, with one finding.
    let limits = Limits {
        max_crypto_stream_waiting: 2_500,
        ..Limits::default()
    };
    let mut table = QuicConnections::new(limits);
    let client = (Addr::v4([10, 0, 1, 1]), 40_000);
    let dcid = [7; 8];
    for (n, offset) in [1_000u64, 2_000, 3_000, 4_000].into_iter().enumerate() {
        let payload = padded(crypto_frame(offset, &[1; 1_000]), 1_100);
        let number = u32::try_from(n).unwrap();
        feed(
            &mut table,
            u64::from(number) + 1,
            client,
            server(),
            &client_initial(&dcid, number, &payload),
        );
    }
    assert_eq!(table.crypto_waiting(), 2_000);
    let events = drain(&mut table);
    let dropped: Vec<(u64, String)> = (findings(&events).into_iter())
        .filter(|f| f.what.contains("waits beyond a hole and is dropped"))
        .map(|f| (f.frame, f.what.clone()))
        .collect();
    assert_eq!(dropped.len(), 1, "{dropped:?}");
    assert_eq!(dropped[0].0, 3);
    assert!(dropped[0]
        .1
        .ends_with("this CRYPTO stream's data waiting beyond its hole reached 2 KiB"));
}

#[test]
fn the_connection_table_is_bounded_by_letting_the_least_recent_go() {
    let limits = Limits {
        max_connections: 2,
        ..Limits::default()
    };
    let mut table = QuicConnections::new(limits);
    let payload = padded(crypto_frame(0, b"\x01"), 1100);
    let hosts: Vec<Endpoint> = (3..6).map(|h| (Addr::v4([10, 0, 0, h]), 40_000)).collect();
    feed(
        &mut table,
        1,
        hosts[0],
        server(),
        &client_initial(&hex("01"), 0, &payload),
    );
    feed(
        &mut table,
        2,
        hosts[1],
        server(),
        &client_initial(&hex("02"), 0, &payload),
    );
    // The first connection is seen again: the second is now the least recent.
    feed(
        &mut table,
        3,
        hosts[0],
        server(),
        &client_initial(&hex("01"), 1, &payload),
    );
    feed(
        &mut table,
        4,
        hosts[2],
        server(),
        &client_initial(&hex("03"), 0, &payload),
    );
    assert_eq!(table.connections(), 2);
    // The let-go connection's next packet starts no confusion: a new connection.
    feed(
        &mut table,
        5,
        hosts[1],
        server(),
        &client_initial(&hex("02"), 1, &payload),
    );
    let events = drain(&mut table);
    let found: Vec<_> = findings(&events)
        .iter()
        .map(|f| (f.frame, f.conn))
        .collect();
    assert_eq!(found, [(4, Some(1)), (5, Some(0))]);
    assert!(findings(&events)[0]
        .what
        .contains("more than 2 QUIC connections"));
    let opened: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            QuicEvent::Opened { conn, frame, .. } => Some((*conn, *frame)),
            _ => None,
        })
        .collect();
    assert_eq!(opened, [(0, 1), (1, 2), (2, 4), (3, 5)]);
}

#[test]
fn a_new_initial_on_a_known_address_pair_is_a_new_connection() {
    let mut table = QuicConnections::new(Limits::default());
    let payload = padded(crypto_frame(0, b"\x01"), 1100);
    feed(
        &mut table,
        1,
        client(),
        server(),
        &client_initial(&hex("0a0b"), 0, &payload),
    );
    feed(
        &mut table,
        2,
        client(),
        server(),
        &client_initial(&hex("0c0d"), 0, &payload),
    );
    let events = drain(&mut table);
    let opened = events
        .iter()
        .filter(|e| matches!(e, QuicEvent::Opened { .. }))
        .count();
    assert_eq!(opened, 2);
    assert_eq!(table.connections(), 2);
}
