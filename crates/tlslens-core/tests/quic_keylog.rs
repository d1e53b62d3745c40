//! QUIC with a key log: after the RFC 9001 Initials (whose ClientHello random and
//! ServerHello suite the table reads), Handshake and 1-RTT packets open with the TLS 1.3
//! secrets, a packet that arrives before its secret is kept and opened when it comes,
//! the key phase bit is followed through a key update, and a NEW_CONNECTION_ID and a
//! client's new port keep one connection. Also CONNECTION_CLOSE's TLS alert named.

mod quic_common;

use quic_common::*;
use tlslens_core::codec::put_varint;
use tlslens_core::flows::packet::Addr;
use tlslens_core::quic::frames::{error_name, parse_frames, Frame};
use tlslens_core::quic::keys::{Secret, Suite};
use tlslens_core::quic::packet::Form;
use tlslens_core::quic::version::{LongType, Version};
use tlslens_core::quic::{Datagram, Endpoint, Limits, QuicConnections, QuicEvent, Space};

const SERVER_CID: &str = "f067a5502a4262b5";
const RANDOM: &str = "ebf8fa56f12939b9584a3896472ec40bb863cfd3e86804fe3a47f06a2b69484c";

fn client() -> Endpoint {
    (Addr::v4([10, 0, 0, 1]), 50_000)
}

fn server() -> Endpoint {
    (Addr::v4([10, 0, 0, 2]), 443)
}

fn secret(byte: u8) -> Secret {
    Secret {
        version: Version::V1,
        suite: Suite::from_id(0x1301).expect("suite"),
        bytes: vec![byte; 32],
    }
}

fn feed(table: &mut QuicConnections, frame: u64, src: Endpoint, dst: Endpoint, bytes: &[u8]) {
    assert!(table.datagram(&Datagram {
        frame,
        ts_ns: 0,
        src,
        dst,
        payload: bytes,
    }));
}

/// A short header packet: key phase bit, 2-byte packet number; the key phase's AEAD and
/// the header protection of the first phase.
fn one_rtt(secret: &Secret, dcid: &[u8], phase: bool, pn: u16, payload: &[u8]) -> Vec<u8> {
    one_rtt_updated(secret, secret, dcid, phase, pn, payload)
}

fn one_rtt_updated(
    secret: &Secret,
    first: &Secret,
    dcid: &[u8],
    phase: bool,
    pn: u16,
    payload: &[u8],
) -> Vec<u8> {
    let mut header = vec![0x41 | if phase { 0x04 } else { 0 }];
    header.extend_from_slice(dcid);
    header.extend_from_slice(&pn.to_be_bytes());
    let mut payload = payload.to_vec();
    payload.resize(payload.len().max(24), 0);
    protect_updated(secret, first, &header, u64::from(pn), 2, &payload)
}

/// A v1 Handshake packet, 4-byte packet number.
fn handshake(secret: &Secret, dcid: &[u8], pn: u32, payload: &[u8]) -> Vec<u8> {
    long_packet(0xe3, secret, dcid, pn, payload)
}

/// A v1 long header packet with no SCID and a 4-byte packet number: `first` gives the
/// type (0x10 0-RTT, 0x20 Handshake).
fn long_packet(first: u8, secret: &Secret, dcid: &[u8], pn: u32, payload: &[u8]) -> Vec<u8> {
    let mut header = vec![first, 0, 0, 0, 1, dcid.len() as u8];
    header.extend_from_slice(dcid);
    header.push(0);
    let length = 0x4000 | (4 + payload.len() + 16) as u16;
    header.extend_from_slice(&length.to_be_bytes());
    header.extend_from_slice(&pn.to_be_bytes());
    protect(secret, &header, u64::from(pn), 4, payload)
}

fn new_connection_id(cid: &[u8]) -> Vec<u8> {
    let mut out = vec![0x18, 0x01, 0x00, cid.len() as u8];
    out.extend_from_slice(cid);
    out.extend_from_slice(&[0xee; 16]);
    out
}

/// The RFC Initials, then with a key log: a Handshake packet, a 1-RTT packet before its
/// secret, a key update, a NEW_CONNECTION_ID and the client on a new port. Returns the
/// table's events, the Finished sent and the client's new endpoint.
fn keylog_flow() -> (Vec<QuicEvent>, Vec<u8>, Endpoint) {
    let mut table = QuicConnections::new(Limits::default());
    let random = hex(RANDOM);
    let server_cid = hex(SERVER_CID);
    feed(&mut table, 1, client(), server(), &hex(V1_CLIENT_INITIAL));
    feed(&mut table, 2, server(), client(), &hex(V1_SERVER_INITIAL));
    assert!(table.add_secret("CLIENT_HANDSHAKE_TRAFFIC_SECRET", &random, &[0x11; 32]));
    assert!(table.add_secret("SERVER_TRAFFIC_SECRET_0", &random, &[0x22; 32]));
    assert!(!table.add_secret("EXPORTER_SECRET", &random, &[0x44; 32]));

    let mut finished = vec![0x14, 0x00, 0x00, 0x20];
    finished.extend_from_slice(&[0xf1; 32]);
    let mut frame = vec![0x06, 0x00, 0x24];
    frame.extend_from_slice(&finished);
    feed(
        &mut table,
        3,
        client(),
        server(),
        &handshake(&secret(0x11), &server_cid, 0, &frame),
    );
    // Before CLIENT_TRAFFIC_SECRET_0 is known: kept, opened when it comes.
    let stream = b"\x0a\x00\x05GET /";
    feed(
        &mut table,
        4,
        client(),
        server(),
        &one_rtt(&secret(0x33), &server_cid, false, 0, stream),
    );
    assert!(table.add_secret("CLIENT_TRAFFIC_SECRET_0", &random, &[0x33; 32]));
    // The client's next key phase (RFC 9001 §6): "quic ku" of its secret.
    let next = secret(0x33).next().expect("ku");
    feed(
        &mut table,
        5,
        client(),
        server(),
        &one_rtt_updated(&next, &secret(0x33), &server_cid, true, 1, b"\x01"),
    );
    // The server gives a new Connection ID to a client with a zero-length one.
    let mut frames = new_connection_id(&hex("aabbccdd"));
    frames.push(0x1e);
    feed(
        &mut table,
        6,
        server(),
        client(),
        &one_rtt(&secret(0x22), &[], false, 0, &frames),
    );
    // The client moves to another port and uses it.
    let moved = (Addr::v4([10, 0, 0, 1]), 50_001);
    feed(
        &mut table,
        7,
        moved,
        server(),
        &one_rtt_updated(&next, &secret(0x33), &hex("aabbccdd"), true, 2, b"\x01"),
    );
    table.finish();

    (
        std::iter::from_fn(|| table.poll()).collect(),
        finished,
        moved,
    )
}

#[test]
fn handshake_and_1rtt_packets_open_with_the_key_log_through_a_key_update_and_migration() {
    let (events, finished, moved) = keylog_flow();
    let found: Vec<_> = events
        .iter()
        .filter(|e| matches!(e, QuicEvent::Finding(_)))
        .collect();
    assert!(found.is_empty(), "{found:?}");
    let summary: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            QuicEvent::Packet(p) => Some((p.frame, p.side, p.form, p.pn, p.key_phase)),
            _ => None,
        })
        .collect();
    let hs = Form::Long(LongType::Handshake);
    let initial = Form::Long(LongType::Initial);
    assert_eq!(
        summary,
        [
            (1, 0, initial, Some(2), None),
            (2, 1, initial, Some(1), None),
            (3, 0, hs, Some(0), None),
            (4, 0, Form::Short, Some(0), Some(false)),
            (5, 0, Form::Short, Some(1), Some(true)),
            (6, 1, Form::Short, Some(0), Some(false)),
            (7, 0, Form::Short, Some(2), Some(true)),
        ]
    );
    assert!(events.contains(&QuicEvent::KeyUpdate {
        conn: 0,
        frame: 5,
        side: 0,
        key_phase: true
    }));
    assert!(events.contains(&QuicEvent::Migrated {
        conn: 0,
        frame: 7,
        client: moved
    }));
    assert!(events.contains(&QuicEvent::Crypto {
        conn: 0,
        frame: 3,
        side: 0,
        space: Space::Handshake,
        offset: 0,
        data: finished,
        client_random: None,
    }));
    let Some(QuicEvent::Packet(get)) = events
        .iter()
        .find(|e| matches!(e, QuicEvent::Packet(p) if p.frame == 4))
    else {
        panic!("the kept packet");
    };
    let Frame::Stream {
        stream: 0,
        offset: 0,
        fin: false,
        data,
    } = &get.frames[0].frame
    else {
        panic!("a STREAM frame: {:?}", get.frames);
    };
    assert_eq!(data.of(&get.payload), b"GET /");
}

#[test]
fn a_packet_whose_secret_never_comes_is_told_unopened_at_the_end() {
    let mut table = QuicConnections::new(Limits::default());
    let random = hex(RANDOM);
    feed(&mut table, 1, client(), server(), &hex(V1_CLIENT_INITIAL));
    feed(&mut table, 2, server(), client(), &hex(V1_SERVER_INITIAL));
    table.add_secret("CLIENT_HANDSHAKE_TRAFFIC_SECRET", &random, &[0x11; 32]);
    let packet = one_rtt(&secret(0x33), &hex(SERVER_CID), false, 0, b"\x01");
    feed(&mut table, 3, client(), server(), &packet);
    let before: Vec<_> = std::iter::from_fn(|| table.poll()).collect();
    assert!(!before
        .iter()
        .any(|e| matches!(e, QuicEvent::Packet(p) if p.frame == 3)));
    table.finish();
    let after: Vec<_> = std::iter::from_fn(|| table.poll()).collect();
    let [QuicEvent::Packet(p)] = after.as_slice() else {
        panic!("one packet at the end: {after:?}");
    };
    assert_eq!(
        (p.frame, p.form, p.pn, p.len),
        (3, Form::Short, None, packet.len())
    );
}

/// One of every frame type (the four STREAM forms with a length; DATAGRAM last).
fn every_frame() -> Vec<u8> {
    let mut payload = vec![0x00, 0x00, 0x00, 0x01];
    // ACK_ECN: largest 10, delay 2, one more range (gap 1, length 2), then ECN counts.
    payload.extend_from_slice(&[0x03, 10, 2, 1, 3, 1, 2, 5, 6, 7]);
    payload.extend_from_slice(&[0x04, 4, 0x41, 0x00, 9, 0x05, 4, 7]);
    payload.extend_from_slice(&[0x07, 2, 0xab, 0xcd]);
    // The eight STREAM forms: OFF (0x04), LEN (0x02), FIN (0x01); the last runs to the end.
    for kind in [0x0a, 0x0b, 0x0e, 0x0f] {
        payload.extend_from_slice(&[kind, 1]);
        if kind & 0x04 != 0 {
            payload.push(9);
        }
        payload.extend_from_slice(&[2, b'h', b'i']);
    }
    payload.extend_from_slice(&[0x10, 1, 0x11, 1, 2, 0x12, 3, 0x13, 4, 0x14, 5, 0x15, 1, 6]);
    payload.extend_from_slice(&[0x16, 7, 0x17, 8]);
    payload.extend_from_slice(&new_connection_id(&[1, 2, 3, 4]));
    payload.extend_from_slice(&[
        0x19, 1, 0x1a, 1, 2, 3, 4, 5, 6, 7, 8, 0x1b, 8, 7, 6, 5, 4, 3, 2, 1,
    ]);
    payload.extend_from_slice(&[0x1c, 0x41, 0x28, 0x06, 3, b'b', b'a', b'd']);
    payload.extend_from_slice(&[0x1d, 0x05, 0, 0x1e, 0x31, 1, 0x99]);
    payload.extend_from_slice(&[0x30, 0xaa, 0xbb]);
    payload
}

#[test]
fn the_stream_forms_without_a_length_run_to_the_end() {
    for kind in [0x08, 0x09, 0x0c, 0x0d] {
        let (frames, error) = parse_frames(&[kind, 1, 5, b'x', b'y']);
        assert_eq!(error, None);
        let Frame::Stream {
            offset, fin, data, ..
        } = &frames[0].frame
        else {
            panic!("{frames:?}");
        };
        let expected_offset = if kind & 0x04 != 0 { 5 } else { 0 };
        assert_eq!(
            (*offset, *fin, data.len),
            (
                expected_offset,
                kind & 1 == 1,
                3 - usize::from(kind & 0x04 != 0)
            )
        );
    }
}

#[test]
fn every_frame_type_parses_and_a_tls_alert_is_named() {
    let with_datagram = every_frame();
    let (frames, error) = parse_frames(&with_datagram);
    assert_eq!(error, None);
    let names: Vec<_> = frames.iter().map(|f| f.frame.name()).collect();
    assert_eq!(
        names,
        [
            "PADDING",
            "PING",
            "ACK_ECN",
            "RESET_STREAM",
            "STOP_SENDING",
            "NEW_TOKEN",
            "STREAM",
            "STREAM",
            "STREAM",
            "STREAM",
            "MAX_DATA",
            "MAX_STREAM_DATA",
            "MAX_STREAMS",
            "MAX_STREAMS",
            "DATA_BLOCKED",
            "STREAM_DATA_BLOCKED",
            "STREAMS_BLOCKED",
            "STREAMS_BLOCKED",
            "NEW_CONNECTION_ID",
            "RETIRE_CONNECTION_ID",
            "PATH_CHALLENGE",
            "PATH_RESPONSE",
            "CONNECTION_CLOSE",
            "CONNECTION_CLOSE",
            "HANDSHAKE_DONE",
            "DATAGRAM",
            "DATAGRAM",
        ]
    );
    assert_eq!(frames[0].frame, Frame::Padding { len: 3 });
    assert_eq!(
        frames[2].frame,
        Frame::Ack {
            largest: 10,
            delay: 2,
            first_range: 3,
            ranges: vec![(1, 2)],
            ecn: Some([5, 6, 7])
        }
    );
    let Frame::ConnectionClose {
        application: false,
        code,
        frame_type: Some(6),
        reason,
    } = &frames[22].frame
    else {
        panic!("{:?}", frames[22]);
    };
    assert_eq!(reason.of(&with_datagram), b"bad");
    assert_eq!(error_name(*code, false), "CRYPTO_ERROR: TLS alert 40");
    assert_eq!(error_name(0x0a, false), "PROTOCOL_VIOLATION");
    assert_eq!(error_name(0x0a, true), "application error 0xa");
    // An ACK that claims more ranges than are read is an error, not an allocation.
    let mut huge = vec![0x02, 0, 0];
    put_varint(&mut huge, 1 << 40).expect("varint");
    let (_, error) = parse_frames(&huge);
    assert_eq!(error.map(|e| e.offset()), Some(3));
}

/// A v1 0-RTT packet (long header type 1), 4-byte packet number.
fn zero_rtt(secret: &Secret, dcid: &[u8], pn: u32, payload: &[u8]) -> Vec<u8> {
    long_packet(0xd3, secret, dcid, pn, payload)
}

#[test]
fn a_0rtt_packet_before_the_server_hello_opens_once_the_suite_is_known() {
    let mut table = QuicConnections::new(Limits::default());
    assert!(table.add_secret("CLIENT_EARLY_TRAFFIC_SECRET", &hex(RANDOM), &[0x44; 32]));
    feed(&mut table, 1, client(), server(), &hex(V1_CLIENT_INITIAL));
    // Early data to the client's first DCID, before the ServerHello names the suite.
    let early = zero_rtt(&secret(0x44), &hex(DCID), 0, b"\x0b\x00\x05GET /");
    feed(&mut table, 2, client(), server(), &early);
    let before: Vec<_> = std::iter::from_fn(|| table.poll()).collect();
    assert!(!before
        .iter()
        .any(|e| matches!(e, QuicEvent::Packet(p) if p.frame == 2)));
    feed(&mut table, 3, server(), client(), &hex(V1_SERVER_INITIAL));
    let after: Vec<_> = std::iter::from_fn(|| table.poll()).collect();
    assert!(
        !after.iter().any(|e| matches!(e, QuicEvent::Finding(_))),
        "{after:?}"
    );
    let Some(QuicEvent::Packet(p)) = after
        .iter()
        .find(|e| matches!(e, QuicEvent::Packet(p) if p.frame == 2))
    else {
        panic!("the 0-RTT packet, opened: {after:?}");
    };
    assert_eq!(
        (p.form, p.pn, p.side),
        (Form::Long(LongType::ZeroRtt), Some(0), 0)
    );
    let Frame::Stream {
        stream: 0,
        fin: true,
        data,
        ..
    } = &p.frames[0].frame
    else {
        panic!("{:?}", p.frames);
    };
    assert_eq!(data.of(&p.payload), b"GET /");
}

/// The client random the table reads to look the key log up by goes out with the CRYPTO
/// bytes it was read from (the client's Initial stream at offset 0), for the connection's
/// decryptor; the server's Initial and later streams carry none.
#[test]
fn the_client_random_read_goes_out_with_the_client_hellos_crypto_bytes() {
    let (events, _, _) = keylog_flow();
    let crypto: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            QuicEvent::Crypto {
                side,
                space,
                offset,
                client_random,
                ..
            } => Some((*side, *space, *offset, *client_random)),
            _ => None,
        })
        .collect();
    let random: [u8; 32] = hex(RANDOM).try_into().expect("32 bytes");
    assert_eq!(
        crypto,
        [
            (0, Space::Initial, 0, Some(random)),
            (1, Space::Initial, 0, None),
            (0, Space::Handshake, 0, None),
        ]
    );
}
