//! The QUIC reader on a real capture: Wireshark's `quic-fragmented-handshakes.pcapng.gz`
//! (shared corpus; its key log is in a Decryption Secrets Block, its suite ChaCha20):
//! a Retry, CRYPTO frames fragmented, out of order and retransmitted across Initials,
//! Handshake and 1-RTT packets, read through the core's capture reader. The packet numbers
//! and handshake message counts are tshark 4.0's on the same file (its
//! `test_quic_tls_handshake_reassembly`: 18 ClientHello, 2 ServerHello, 2 Finished).

use std::collections::BTreeMap;
use std::path::Path;

use tlslens_core::capture::Reader;
use tlslens_core::flows::packet::Addr;
use tlslens_core::quic::packet::Form;
use tlslens_core::quic::version::LongType;
use tlslens_core::quic::{Datagram, Endpoint, Limits, QuicConnections, QuicEvent, Space};

/// The DSB type of an NSS key log (pcapng §4.7).
const TLS_KEY_LOG: u32 = 0x544c_534b;

/// A UDP datagram of the capture: frame number, payload, source, destination.
type Udp = (u64, Vec<u8>, Endpoint, Endpoint);

/// The (frame, UDP payload, source, destination) of the capture's UDP datagrams over
/// Ethernet and IPv4/IPv6, and its key log lines. Test-only decoding: the core's flow
/// decoder is TCP's, and handing UDP to this reader is the integration's job.
fn read(path: &Path) -> (Vec<Udp>, String) {
    let bytes = std::fs::read(path).expect("the corpus capture");
    let mut reader = Reader::new(u64::MAX, u64::MAX);
    reader.feed(&bytes);
    reader.finish(None);
    let (mut datagrams, mut keylog) = (Vec::new(), String::new());
    while !reader.done() {
        let batch = reader.poll();
        for frame in &batch.frames {
            assert_eq!(frame.linktype, 1, "Ethernet");
            if let Some(udp) = udp(batch.bytes(frame)) {
                datagrams.push((frame.number, udp.0, udp.1, udp.2));
            }
        }
        for secrets in &batch.secrets {
            if secrets.secrets_type == TLS_KEY_LOG {
                keylog.push_str(&String::from_utf8_lossy(&secrets.data));
            }
        }
    }
    (datagrams, keylog)
}

fn udp(frame: &[u8]) -> Option<(Vec<u8>, Endpoint, Endpoint)> {
    let ethertype = u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]);
    let ip = frame.get(14..)?;
    let (src, dst, payload) = match ethertype {
        0x0800 if ip.get(9) == Some(&17) => {
            let header = usize::from(ip.first()? & 0x0f) * 4;
            let src: [u8; 4] = ip.get(12..16)?.try_into().ok()?;
            let dst: [u8; 4] = ip.get(16..20)?.try_into().ok()?;
            (Addr::v4(src), Addr::v4(dst), ip.get(header..)?)
        }
        0x86dd if ip.get(6) == Some(&17) => {
            // Only the low 4 bytes of IPv6 addresses: enough to tell this file's hosts apart.
            let src: [u8; 4] = ip.get(20..24)?.try_into().ok()?;
            let dst: [u8; 4] = ip.get(36..40)?.try_into().ok()?;
            (Addr::v4(src), Addr::v4(dst), ip.get(40..)?)
        }
        _ => return None,
    };
    let sport = u16::from_be_bytes([*payload.first()?, *payload.get(1)?]);
    let dport = u16::from_be_bytes([*payload.get(2)?, *payload.get(3)?]);
    Some((payload.get(8..)?.to_vec(), (src, sport), (dst, dport)))
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len() / 2)
        .filter_map(|i| u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok())
        .collect()
}

#[test]
fn wireshark_quic_fragmented_handshakes_agrees_with_tshark() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpus/wireshark/quic-fragmented-handshakes.pcapng.gz");
    if !path.exists() {
        assert!(std::env::var("CI").is_err(), "the shared corpus is missing");
        eprintln!("skipped: {} is not here", path.display());
        return;
    }
    let (datagrams, keylog) = read(&path);
    let mut table = QuicConnections::new(Limits::default());
    for line in keylog.lines() {
        let mut fields = line.split_whitespace();
        if let (Some(label), Some(random), Some(secret)) =
            (fields.next(), fields.next(), fields.next())
        {
            table.add_secret(label, &unhex(random), &unhex(secret));
        }
    }
    for (frame, payload, src, dst) in &datagrams {
        let d = Datagram {
            frame: *frame,
            ts_ns: 0,
            src: *src,
            dst: *dst,
            payload,
        };
        assert!(table.datagram(&d), "frame {frame} is QUIC");
    }
    table.finish();
    let events: Vec<_> = std::iter::from_fn(|| table.poll()).collect();
    let findings: Vec<_> = events
        .iter()
        .filter(|e| matches!(e, QuicEvent::Finding(_)))
        .collect();
    assert!(findings.is_empty(), "{findings:?}");
    let opened = events
        .iter()
        .filter(|e| matches!(e, QuicEvent::Opened { .. }))
        .count();
    assert_eq!(opened, 17);
    assert!(events.iter().any(|e| matches!(
        e,
        QuicEvent::Retry {
            frame: 2,
            tag_ok: true,
            ..
        }
    )));
    // tshark -T fields -e frame.number -e quic.packet_number, coalesced packets in order.
    let mut expected: Vec<(u64, Vec<u64>)> = vec![
        (1, vec![0]),
        (3, vec![1]),
        (4, vec![0]),
        (5, vec![2]),
        (6, vec![1, 0]),
        (7, vec![2, 2]),
        (8, vec![3]),
        (9, vec![1, 0]),
        (10, vec![0, 0]),
        (11, vec![1]),
        (12, vec![1]),
        (13, vec![2]),
        (14, vec![3]),
        (15, vec![2]),
        (16, vec![1]),
        (17, vec![0]),
        (18, vec![0]),
    ];
    expected.extend((19..=33).map(|frame| (frame, vec![1])));
    let (numbers, short) = packet_numbers(&events);
    assert_eq!(numbers, expected);
    assert_eq!(short, 7, "one 1-RTT packet in each of frames 9-15");
    // tshark -e tls.handshake.type over the same frames: 18 ClientHello (one after a
    // HelloRetryRequest), 2 ServerHello (the HelloRetryRequest and the real one), 2
    // Finished, 2 NewSessionTicket, one each of EncryptedExtensions, Certificate and
    // CertificateVerify.
    let (types, streams) = message_types(&events);
    let expected_types: BTreeMap<u8, usize> =
        [(1, 18), (2, 2), (4, 2), (8, 1), (11, 1), (15, 1), (20, 2)]
            .into_iter()
            .collect();
    assert_eq!(types, expected_types);
    assert!(streams.contains_key(&(0, 1, Space::Application.index())));
}

/// The packet numbers of each frame's packets, in order, and the count of 1-RTT packets.
fn packet_numbers(events: &[QuicEvent]) -> (Vec<(u64, Vec<u64>)>, usize) {
    let mut numbers: Vec<(u64, Vec<u64>)> = Vec::new();
    let mut short = 0;
    for event in events {
        if let QuicEvent::Packet(p) = event {
            let pn = p.pn.expect("every packet opens");
            short += usize::from(p.form == Form::Short);
            match numbers.last_mut() {
                Some((frame, pns)) if *frame == p.frame => pns.push(pn),
                _ => numbers.push((p.frame, vec![pn])),
            }
        }
    }
    (numbers, short)
}

type Streams = BTreeMap<(u64, u8, usize), Vec<u8>>;

/// How many handshake messages of each type the reassembled CRYPTO streams hold.
fn message_types(events: &[QuicEvent]) -> (BTreeMap<u8, usize>, Streams) {
    let mut streams: Streams = Default::default();
    for event in events {
        if let QuicEvent::Crypto {
            conn,
            side,
            space,
            offset,
            data,
            ..
        } = event
        {
            let stream = streams.entry((*conn, *side, space.index())).or_default();
            // After a Retry the client's Initial CRYPTO stream starts over (quic/table.rs):
            // the same bytes again are a retransmission (RFC 9000 §17.2.5.2, and what tshark
            // counts), other bytes at offset 0 a new ClientHello that replaces the first.
            let at = usize::try_from(*offset).expect("small offsets");
            if stream.get(at..at + data.len()) == Some(data.as_slice()) {
                continue;
            }
            if at == 0 {
                stream.clear();
            }
            assert_eq!(*offset, stream.len() as u64, "runs come in order");
            stream.extend_from_slice(data);
        }
    }
    let mut types: BTreeMap<u8, usize> = Default::default();
    for stream in streams.values() {
        let mut at = 0;
        while let Some(header) = stream.get(at..at + 4) {
            *types.entry(header[0]).or_default() += 1;
            at += 4
                + (usize::from(header[1]) << 16
                    | usize::from(header[2]) << 8
                    | usize::from(header[3]));
        }
        assert_eq!(at, stream.len(), "each stream ends on a message boundary");
    }
    (types, streams)
}

/// The project's own aioquic capture (tests/vectors/captures/udp/quic.pcapng), without
/// its key log, each datagram through `edit` first; the events of the whole capture.
fn project_capture(edit: impl Fn(u64, &mut Vec<u8>)) -> Vec<QuicEvent> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/vectors/captures/udp/quic.pcapng");
    let (datagrams, _keylog) = read(&path);
    let mut table = QuicConnections::new(Limits::default());
    for (frame, mut payload, src, dst) in datagrams {
        edit(frame, &mut payload);
        table.datagram(&Datagram {
            frame,
            ts_ns: 0,
            src,
            dst,
            payload: &payload,
        });
    }
    table.finish();
    std::iter::from_fn(|| table.poll()).collect()
}

fn findings(events: &[QuicEvent]) -> Vec<(u64, Option<u64>, &str)> {
    events
        .iter()
        .filter_map(|e| match e {
            QuicEvent::Finding(f) => Some((f.frame, f.conn, f.what.as_str())),
            _ => None,
        })
        .collect()
}

/// Connection 3's Retry (frame 22) with a wrong tag: aioquic followed it, so its next
/// Initial (frame 23) opens only with keys from the Retry's Source Connection ID; the
/// second ClientHello is read from offset 0 and every Initial opens.
#[test]
fn a_forged_retry_the_client_followed() {
    let events = project_capture(|frame, payload| {
        if frame == 22 {
            if let Some(last) = payload.last_mut() {
                *last ^= 0xff;
            }
        }
    });
    let said: Vec<_> = findings(&events)
        .into_iter()
        .filter(|f| f.1 == Some(2))
        .collect();
    assert_eq!(said.len(), 2, "{said:?}");
    assert_eq!((said[0].0, said[0].1), (22, Some(2)));
    assert!(said[0].2.contains("a client must discard it"));
    assert_eq!((said[1].0, said[1].1), (23, Some(2)));
    assert!(said[1].2.contains("did not discard that Retry"));
    let initials: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            QuicEvent::Packet(p) if p.conn == 2 && p.form == Form::Long(LongType::Initial) => {
                Some((p.frame, p.pn.is_some()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(initials, [(21, true), (23, true), (24, true), (26, true)]);
    let hellos: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            QuicEvent::Crypto {
                conn: 2,
                side: 0,
                space: Space::Initial,
                offset: 0,
                frame,
                ..
            } => Some(*frame),
            _ => None,
        })
        .collect();
    assert_eq!(
        hellos,
        [21, 23],
        "the ClientHello, then the one after the Retry"
    );
}

/// Without the key log, connection 5's client migrates to a new port with a Connection ID
/// issued in an encrypted NEW_CONNECTION_ID: its five datagrams there (frames 61, 63-66)
/// are one finding of the connection opened in frame 46, on the first of them.
#[test]
fn a_migrated_client_without_keys_is_one_finding() {
    let events = project_capture(|_, _| {});
    let said = findings(&events);
    assert_eq!(said.len(), 1, "{said:?}");
    assert_eq!((said[0].0, said[0].1), (61, Some(4)));
    assert!(said[0]
        .2
        .contains("probably a migrated client of the QUIC connection opened in frame 46"));
}
