//! Hand-built DTLS: what real stacks do not send (conflicting overlaps, lying lengths,
//! garbage), retransmitted flights, bounds, ACKs.

use std::sync::Arc;

use super::record::{looks_like_dtls, reconstruct, steps_at_most};
use super::{handshake, hello, Association, DtlsEvent, Finding, Keys, Limits, PendingPool};
use crate::flows::packet::Addr;

pub(super) fn client() -> (Addr, u16) {
    (Addr::v4([10, 0, 0, 1]), 5000)
}

pub(super) fn server() -> (Addr, u16) {
    (Addr::v4([10, 0, 0, 2]), 4433)
}

/// A DTLS 1.2 plaintext record (epoch 0) holding `body`.
pub(super) fn record(content_type: u8, seq: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![content_type, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, seq];
    out.extend_from_slice(&u16::try_from(body.len()).unwrap().to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// A handshake fragment: type, length, message_seq, offset, then `bytes`.
pub(super) fn fragment(
    msg_type: u8,
    length: u32,
    message_seq: u16,
    offset: u32,
    bytes: &[u8],
) -> Vec<u8> {
    let mut out = vec![msg_type];
    out.extend_from_slice(&length.to_be_bytes()[1..]);
    out.extend_from_slice(&message_seq.to_be_bytes());
    out.extend_from_slice(&offset.to_be_bytes()[1..]);
    out.extend_from_slice(&u32::try_from(bytes.len()).unwrap().to_be_bytes()[1..]);
    out.extend_from_slice(bytes);
    out
}

pub(super) fn run(datagrams: &[((Addr, u16), Vec<u8>)], keys: Option<Keys>) -> Vec<DtlsEvent> {
    run_association(datagrams, keys).0
}

/// `run`'s events, and the association at its end.
pub(super) fn run_association(
    datagrams: &[((Addr, u16), Vec<u8>)],
    keys: Option<Keys>,
) -> (Vec<DtlsEvent>, Association) {
    let mut association = Association::new(Limits::default(), keys.map(Arc::new));
    let mut events = Vec::new();
    for (frame, (src, payload)) in (1..).zip(datagrams) {
        let dst = if *src == client() { server() } else { client() };
        association.feed(frame, *src, dst, payload);
        events.extend(std::iter::from_fn(|| association.poll()));
    }
    association.finish(u64::try_from(datagrams.len()).unwrap());
    events.extend(std::iter::from_fn(|| association.poll()));
    (events, association)
}

pub(super) fn findings(events: &[DtlsEvent]) -> Vec<Finding> {
    events
        .iter()
        .filter_map(|e| match e {
            DtlsEvent::Finding(f) => Some(f.clone()),
            _ => None,
        })
        .collect()
}

fn certificate(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

#[test]
fn fragments_overlapping_with_different_bytes_are_a_finding() {
    let cert = certificate(300);
    let mut tampered = cert[100..200].to_vec();
    tampered[50] ^= 0xff;
    let first = record(22, 0, &fragment(11, 300, 0, 0, &cert[..200]));
    let second = record(22, 1, &fragment(11, 300, 0, 100, &tampered));
    let events = run(&[(server(), first), (server(), second)], None);
    let found = findings(&events);
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!((found[0].frame, found[0].from_client), (2, false));
    // Where the conflicting fragment starts in the datagram: after the 13-byte record header.
    assert_eq!(found[0].offset, 13);
    assert!(found[0].what.contains("different bytes (at byte 150"));
    // The message never completes and the end says so.
    assert!(found[1].what.contains("never completed: 200 of 300"));
}

#[test]
fn overlapping_fragments_with_the_same_bytes_complete_the_message() {
    let cert = certificate(300);
    let datagrams = [
        (
            server(),
            record(22, 0, &fragment(11, 300, 0, 100, &cert[100..])),
        ),
        (
            server(),
            record(22, 1, &fragment(11, 300, 0, 0, &cert[..150])),
        ),
    ];
    let events = run(&datagrams, None);
    assert_eq!(findings(&events), []);
    let mut tls = vec![11, 0, 1, 44];
    tls.extend_from_slice(&cert);
    assert!(events.contains(&DtlsEvent::Message {
        frame: 2,
        from_client: false,
        epoch: 0,
        message_seq: 0,
        msg_type: 11,
        tls,
        fragments: 2,
    }));
}

#[test]
fn a_fragment_past_its_length_and_a_huge_length_are_findings_and_the_rest_goes_on() {
    let past = record(22, 0, &fragment(11, 100, 0, 90, &[0; 20]));
    // 2^24 - 1 bytes announced: more than Limits::max_message, nothing is allocated.
    let huge = record(22, 1, &fragment(11, 0xff_ffff, 1, 0, &[0; 20]));
    let garbage = b"\x16\xfe\xfd garbage on the port".to_vec();
    let alert = record(21, 2, &[2, 40]);
    let events = run(
        &[
            (server(), past),
            (server(), huge),
            (server(), garbage),
            (server(), alert),
        ],
        None,
    );
    let found = findings(&events);
    assert_eq!(found.len(), 3, "{found:?}");
    assert_eq!((found[0].frame, found[0].offset), (1, 25));
    assert!(found[0]
        .what
        .contains("fragment 90+20 of message 0 runs past its length 100"));
    assert_eq!((found[1].frame, found[1].offset), (2, 13));
    assert_eq!(
        found[1].what,
        "handshake message type 11 (Certificate), message_seq 1, claims 16,777,215 bytes, past \
         --max-message's limit of 262,144 bytes; skipped"
    );
    assert_eq!(found[2].frame, 3);
    assert!(found[2].what.starts_with("not a DTLS record"));
    assert!(events.contains(&DtlsEvent::Alert {
        frame: 4,
        from_client: false,
        level: 2,
        description: 40
    }));
}

#[test]
fn a_retransmitted_flight_is_told_once_per_message_not_read_again() {
    let cert = certificate(300);
    let flight = |seq: u8| {
        let mut datagram = record(22, seq, &fragment(11, 300, 1, 0, &cert[..150]));
        datagram.extend(record(
            22,
            seq + 1,
            &fragment(11, 300, 1, 150, &cert[150..]),
        ));
        datagram.extend(record(22, seq + 2, &fragment(14, 0, 2, 0, &[])));
        datagram
    };
    let events = run(&[(server(), flight(0)), (server(), flight(3))], None);
    assert_eq!(findings(&events), []);
    let whole: Vec<(u64, u8)> = events
        .iter()
        .filter_map(|e| match e {
            DtlsEvent::Message {
                frame, msg_type, ..
            } => Some((*frame, *msg_type)),
            _ => None,
        })
        .collect();
    assert_eq!(whole, [(1, 11), (1, 14)]);
    let again: Vec<(u64, u16)> = events
        .iter()
        .filter_map(|e| match e {
            DtlsEvent::Retransmission {
                frame, message_seq, ..
            } => Some((*frame, *message_seq)),
            _ => None,
        })
        .collect();
    assert_eq!(again, [(2, 1), (2, 2)]);
}

/// A "retransmission" whose bytes are not the first copy's is another message under the
/// same (epoch, message_seq): a finding naming where it differs, and not read (the first
/// copy is the one the transcript keeps); in fragments cut elsewhere than the first copy's,
/// or whole, as OpenSSL resends a flight after a smaller MTU.
#[test]
fn a_retransmission_with_other_bytes_is_a_finding_and_the_first_copy_is_kept() {
    let cert = certificate(300);
    let mut forged = cert.clone();
    forged[210] ^= 0x01;
    let first = record(22, 0, &fragment(11, 300, 1, 0, &cert));
    let mut again = record(22, 1, &fragment(11, 300, 1, 0, &forged[..100]));
    again.extend(record(22, 2, &fragment(11, 300, 1, 100, &forged[100..])));
    let same = record(22, 3, &fragment(11, 300, 1, 0, &cert[..120]));
    let datagrams = [(server(), first), (server(), again), (server(), same)];
    let events = run(&datagrams, None);
    let found = findings(&events);
    assert_eq!(found.len(), 1, "{found:?}");
    // Frame 2's second fragment (after a 13-byte record header, a 12-byte fragment header,
    // 100 bytes and the next record's header), the differing one.
    assert_eq!(
        (found[0].frame, found[0].from_client, found[0].offset),
        (2, false, 138)
    );
    assert_eq!(
        found[0].what,
        "handshake message type 11 (Certificate), epoch 0, message_seq 1, came again with \
         bytes that differ from the first copy's at byte 210 of the message: another message \
         under the same epoch and message_seq, not a retransmission; the first copy is kept"
    );
    let read: Vec<&[u8]> = events
        .iter()
        .filter_map(|e| match e {
            DtlsEvent::Message { tls, .. } => Some(&tls[4..]),
            _ => None,
        })
        .collect();
    assert_eq!(read, [&cert[..]]);
    // The copy that repeats the first is the retransmission it is.
    assert!(events.iter().any(|e| matches!(
        e,
        DtlsEvent::Retransmission {
            frame: 3,
            message_seq: 1,
            ..
        }
    )));
}

/// Another length under a completed (epoch, message_seq) is told too; another type is a
/// new message (a renegotiation's, tests_reneg.rs).
#[test]
fn another_length_under_a_completed_message_seq_is_told() {
    let (limits, pool) = (Limits::default(), PendingPool::default());
    let mut reassembler = handshake::Reassembler::default();
    let bytes = certificate(40);
    let mut add = |msg_type: u8, length: usize| {
        let whole = fragment(msg_type, length as u32, 0, 0, &bytes[..length]);
        let (header, body) =
            handshake::read_fragment(&mut crate::codec::Reader::new(&whole)).unwrap();
        reassembler.add((0, &header), body, &limits, &pool)
    };
    assert!(matches!(add(1, 40), handshake::Outcome::Complete { .. }));
    let differs = |how| handshake::Outcome::Differs {
        msg_type: 1,
        message_seq: 0,
        how,
    };
    let length = handshake::Difference::Length { now: 30, first: 40 };
    assert_eq!(add(1, 30), differs(length.clone()));
    assert_eq!(
        length.text(1, (0, 0)),
        "handshake message type 1 (ClientHello), epoch 0, message_seq 0, came again with \
         length 30, the first copy's 40: another message under the same epoch and \
         message_seq, not a retransmission; the first copy is kept"
    );
    assert!(matches!(add(2, 40), handshake::Outcome::Complete { .. }));
}

/// A stateless server's HelloVerifyRequest answering a ClientHello sent again may carry
/// another cookie (mbed TLS's holds the time): a retransmission still, no finding.
#[test]
fn a_hello_verify_request_with_a_fresh_cookie_is_no_other_message() {
    let (limits, pool) = (Limits::default(), PendingPool::default());
    let mut reassembler = handshake::Reassembler::default();
    let mut add = |body: &[u8]| {
        let whole = fragment(3, body.len() as u32, 0, 0, body);
        let (header, body) =
            handshake::read_fragment(&mut crate::codec::Reader::new(&whole)).unwrap();
        reassembler.add((0, &header), body, &limits, &pool)
    };
    let first = [[0xfe, 0xfd, 20].as_slice(), &[1; 20]].concat();
    assert!(matches!(add(&first), handshake::Outcome::Complete { .. }));
    let fresh = [[0xfe, 0xfd, 20].as_slice(), &[2; 20]].concat();
    assert!(matches!(
        add(&fresh),
        handshake::Outcome::Retransmission { msg_type: 3, .. }
    ));
}

/// Past the bytes kept to compare with, the oldest completed messages keep their digest: a
/// whole copy with other bytes is still told.
#[test]
fn a_message_whose_bytes_were_given_up_is_compared_by_its_digest() {
    let limits = Limits {
        max_message: handshake::MAX_COMPLETED_BYTES,
        max_pending_bytes: handshake::MAX_COMPLETED_BYTES * 2,
        ..Limits::default()
    };
    let pool = PendingPool::default();
    let mut reassembler = handshake::Reassembler::default();
    let small = certificate(100);
    let big = vec![7; handshake::MAX_COMPLETED_BYTES];
    let mut add = |seq: u16, bytes: &[u8]| {
        let whole = fragment(11, bytes.len() as u32, seq, 0, bytes);
        let (header, body) =
            handshake::read_fragment(&mut crate::codec::Reader::new(&whole)).unwrap();
        reassembler.add((0, &header), body, &limits, &pool)
    };
    assert!(matches!(
        add(0, &small),
        handshake::Outcome::Complete { .. }
    ));
    assert!(matches!(add(1, &big), handshake::Outcome::Complete { .. }));
    let mut other = small.clone();
    other[5] ^= 1;
    let digest = handshake::Outcome::Differs {
        msg_type: 11,
        message_seq: 0,
        how: handshake::Difference::Digest,
    };
    assert_eq!(add(0, &other), digest);
    assert!(matches!(
        add(0, &small),
        handshake::Outcome::Retransmission { .. }
    ));
}

/// The completed messages' bytes kept to compare retransmissions with are bounded across
/// the associations sharing the pool: past it a message keeps its digest alone (a whole
/// copy with other bytes is still told), and an association's end gives them back; they
/// take no room from the messages being reassembled. Each association kept its 1 MiB
/// whatever the others held: 200 associations of 16 messages of 64 KiB made a `show` of
/// 481 MB (268 MB without those bytes), counted 12 KB each.
#[test]
fn completed_messages_bytes_are_taken_from_the_shared_pool() {
    let limits = Limits::default();
    let pool = PendingPool::new(100_000);
    let message = certificate(60_000);
    let mut reassemblers: Vec<handshake::Reassembler> =
        (0..3).map(|_| handshake::Reassembler::default()).collect();
    let add = |reassembler: &mut handshake::Reassembler, bytes: &[u8]| {
        let whole = fragment(11, bytes.len() as u32, 0, 0, bytes);
        let (header, body) =
            handshake::read_fragment(&mut crate::codec::Reader::new(&whole)).unwrap();
        reassembler.add((0, &header), body, &limits, &pool)
    };
    for reassembler in &mut reassemblers {
        assert!(matches!(
            add(reassembler, &message),
            handshake::Outcome::Complete { .. }
        ));
        assert!(pool.kept() <= pool.max(), "{}", pool.kept());
    }
    assert_eq!(pool.kept(), message.len()); // the first one's body; the others' digests
    assert_eq!(pool.held(), 0);
    let mut other = message.clone();
    other[10] ^= 1;
    let told = add(&mut reassemblers[2], &other);
    assert!(
        matches!(
            &told,
            handshake::Outcome::Differs {
                how: handshake::Difference::Digest,
                ..
            }
        ),
        "{told:?}"
    );
    for reassembler in &mut reassemblers {
        reassembler.clear(&pool);
    }
    assert_eq!(pool.kept(), 0);
}

/// A message is its epoch and message_seq: the same type and number again in the same
/// epoch is a retransmission, in a later epoch a new handshake's message (a
/// renegotiation numbers its messages from 0 again, RFC 6347 §4.2.2).
#[test]
fn the_same_message_seq_in_a_later_epoch_is_a_new_message() {
    let (limits, pool) = (Limits::default(), PendingPool::default());
    let mut reassembler = handshake::Reassembler::default();
    let bytes = certificate(40);
    let mut add = |epoch: u64| {
        let whole = fragment(1, 40, 0, 0, &bytes);
        let (header, body) =
            handshake::read_fragment(&mut crate::codec::Reader::new(&whole)).unwrap();
        reassembler.add((epoch, &header), body, &limits, &pool)
    };
    assert!(matches!(add(0), handshake::Outcome::Complete { .. }));
    let again = handshake::Outcome::Retransmission {
        msg_type: 1,
        message_seq: 0,
    };
    assert_eq!(add(0), again);
    assert!(matches!(add(1), handshake::Outcome::Complete { .. }));
    assert_eq!(add(1), again);
    assert_eq!(add(0), again);
}

#[test]
fn limits_bound_what_is_held_for_reassembly() {
    let limits = Limits {
        max_pending_messages: 2,
        ..Limits::default()
    };
    let mut association = Association::new(limits, None);
    for seq in 0..3u16 {
        let datagram = record(22, 0, &fragment(11, 1000, seq, 0, &[1; 10]));
        association.feed(1, server(), client(), &datagram);
    }
    let found: Vec<DtlsEvent> = std::iter::from_fn(|| association.poll())
        .filter(|e| matches!(e, DtlsEvent::Finding(_)))
        .collect();
    assert_eq!(found.len(), 1);
}

#[test]
fn the_pool_bounds_what_associations_hold_together_and_gets_it_back() {
    // Each association opens a 400,000-byte message that never completes: a pool of 1 MiB
    // holds two; the third association's is refused, told once however many of its
    // fragments come. Finishing gives the bytes back, and so does dropping.
    let pool = Arc::new(PendingPool::new(1 << 20));
    let limits = Limits {
        max_message: 1 << 20,
        ..Limits::default()
    };
    let mut associations: Vec<Association> = (0..3)
        .map(|_| Association::new(limits.clone(), None).sharing(Arc::clone(&pool)))
        .collect();
    let mut told = Vec::new();
    for association in &mut associations {
        for at in [0, 100] {
            let datagram = record(22, 0, &fragment(11, 400_000, 0, at, &[1; 10]));
            association.feed(1, server(), client(), &datagram);
        }
        told.push(
            std::iter::from_fn(|| association.poll())
                .filter_map(|e| match e {
                    DtlsEvent::Finding(f) => Some(f.what),
                    _ => None,
                })
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(pool.held(), 800_000);
    assert_eq!(told[..2], [Vec::<String>::new(), Vec::new()]);
    assert_eq!(
        told[2],
        [
            "handshake message 0 came in fragments and is not reassembled, nor any other in \
          fragments while the capture's DTLS associations hold 1 MiB of incomplete messages, \
          their bound"
        ]
    );
    // A message that comes whole takes nothing from the pool: read while it is full.
    let whole = record(22, 1, &fragment(11, 10, 1, 0, &[1; 10]));
    associations[2].feed(2, server(), client(), &whole);
    let read: Vec<DtlsEvent> = std::iter::from_fn(|| associations[2].poll()).collect();
    assert!(
        read.iter()
            .any(|e| matches!(e, DtlsEvent::Message { message_seq: 1, .. })),
        "{read:?}"
    );
    assert_eq!(pool.held(), 800_000);
    associations[0].finish(2);
    assert_eq!(pool.held(), 400_000);
    drop(associations);
    assert_eq!(pool.held(), 0);
}

#[test]
fn the_detector_takes_dtls_headers_and_unified_ones_after_a_handshake() {
    let hello = record(22, 0, &fragment(1, 0, 0, 0, &[]));
    assert!(looks_like_dtls(&hello, false));
    let mut tls = hello.clone();
    tls[1..3].copy_from_slice(&[3, 3]);
    assert!(!looks_like_dtls(&tls, false));
    assert!(!looks_like_dtls(&hello[..12], false));
    assert!(!looks_like_dtls(&[0x2c, 1, 2, 3], false));
    assert!(looks_like_dtls(&[0x2c, 1, 2, 3], true));
    assert!(!looks_like_dtls(b"GET / HTTP/1.1", true));
}

#[test]
fn a_datagram_makes_at_most_a_step_a_record_and_one_a_message_header() {
    let alert = record(21, 0, &[1, 90]);
    assert_eq!(steps_at_most(&alert.repeat(90)), 91);
    // Two 12-byte message headers in one handshake record; application data runs fold.
    let two = record(
        22,
        0,
        &[fragment(0, 0, 0, 0, &[]), fragment(0, 1, 0, 0, &[])].concat(),
    );
    let data = record(23, 1, &[7; 100]);
    assert_eq!(steps_at_most(&[two, data.clone(), data].concat()), 3);
    // What does not read ends the count, with a step for it.
    assert_eq!(steps_at_most(&[alert.as_slice(), b"junk"].concat()), 3);
    assert_eq!(steps_at_most(&[]), 1);
}

#[test]
fn sequence_numbers_are_rebuilt_from_their_low_bits() {
    // RFC 9000 §A.3's example, as RFC 9147 §4.2.2 points to it.
    assert_eq!(reconstruct(0xa82f30eb, 0x9b32, 16), 0xa82f9b32);
    assert_eq!(reconstruct(0x1ff, 0x02, 8), 0x202);
    assert_eq!(reconstruct(0x100, 0xff, 8), 0xff);
    assert_eq!(reconstruct(0, 0xff, 8), 0xff);
    assert_eq!(reconstruct(3, 0, 2), 4);
    assert_eq!(reconstruct(u64::MAX, 0, 8), u64::MAX - 0xff);
}

#[test]
fn an_ack_lists_record_numbers() {
    let mut body = vec![0, 32];
    for (epoch, seq) in [(2u64, 0u64), (2, 1)] {
        body.extend_from_slice(&epoch.to_be_bytes());
        body.extend_from_slice(&seq.to_be_bytes());
    }
    let events = run(&[(client(), record(26, 0, &body))], None);
    assert!(events.contains(&DtlsEvent::Ack {
        frame: 1,
        from_client: true,
        records: vec![(2, 0), (2, 1)]
    }));
    assert!(hello::read_ack(&[0, 17, 0], 0).is_err());
}

#[test]
fn a_message_in_too_many_pieces_is_refused_and_empty_fragments_cost_nothing() {
    let mut datagram = Vec::new();
    // Empty fragments first (not kept), then single bytes two apart: separate ranges.
    datagram.extend(record(22, 0, &fragment(11, 2000, 0, 7, &[])));
    for i in 0..=handshake::MAX_RANGES {
        let offset = u32::try_from(2 * i).unwrap();
        datagram.extend(record(22, 1, &fragment(11, 2000, 0, offset, &[1])));
    }
    datagram.extend(record(22, 2, &fragment(14, 0, 1, 0, &[])));
    let events = run(&[(server(), datagram)], None);
    let found = findings(&events);
    assert!(
        found[0].what.contains("more than 512 separate pieces"),
        "{found:?}"
    );
    assert!(events.iter().any(|e| matches!(
        e,
        DtlsEvent::Message {
            msg_type: 14,
            message_seq: 1,
            ..
        }
    )));
}
