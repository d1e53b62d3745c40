//! A handshake message the association does not hand out whole is told as lacking
//! ([`DtlsEvent::Lacking`]), once a message: the Finished recomputed without it are then not
//! blamed on the secret (tls/dtls.py).

use std::sync::Arc;

use super::tests::{client, fragment, record, server};
use super::{Association, DtlsEvent, Limits, PendingPool};

/// `datagrams` (server's, or the client's when flagged) through an association with
/// `limits` and `pool`, finished: its events.
fn read(limits: Limits, pool: PendingPool, datagrams: &[(bool, Vec<u8>)]) -> Vec<DtlsEvent> {
    let mut association = Association::new(limits, None).sharing(Arc::new(pool));
    let mut events = Vec::new();
    for (frame, (from_client, payload)) in (1..).zip(datagrams) {
        let (src, dst) = if *from_client {
            (client(), server())
        } else {
            (server(), client())
        };
        association.feed(frame, src, dst, payload);
        events.extend(std::iter::from_fn(|| association.poll()));
    }
    association.finish(u64::try_from(datagrams.len()).unwrap());
    events.extend(std::iter::from_fn(|| association.poll()));
    events
}

/// The lacking events: (frame, from_client, message_seq, msg_type, why).
fn lacking(events: &[DtlsEvent]) -> Vec<(u64, bool, u16, u8, &str)> {
    events
        .iter()
        .filter_map(|e| match e {
            DtlsEvent::Lacking {
                frame,
                from_client,
                message_seq,
                msg_type,
                why,
            } => Some((*frame, *from_client, *message_seq, *msg_type, why.as_str())),
            _ => None,
        })
        .collect()
}

fn findings(events: &[DtlsEvent]) -> Vec<&str> {
    events
        .iter()
        .filter_map(|e| match e {
            DtlsEvent::Finding(f) => Some(f.what.as_str()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_message_past_max_message_is_lacking_told_once_after_its_finding() {
    // A 1,207-byte Certificate (message 2) in three fragments, past a 300-byte limit, then
    // a ServerHelloDone that is read.
    let limits = Limits {
        max_message: 300,
        ..Limits::default()
    };
    let datagrams: Vec<(bool, Vec<u8>)> = [0u32, 500, 1000]
        .into_iter()
        .zip(0u8..)
        .map(|(at, seq)| {
            let bytes = vec![7; if at == 1000 { 207 } else { 500 }];
            (false, record(22, seq, &fragment(11, 1207, 2, at, &bytes)))
        })
        .chain([(false, record(22, 3, &fragment(14, 0, 3, 0, &[])))])
        .collect();
    let events = read(limits, PendingPool::default(), &datagrams);
    let refused = "handshake message type 11 (Certificate), message_seq 2, claims 1,207 bytes, \
                   past --max-message's limit of 300 bytes; skipped";
    // Once, not once a fragment: each is refused for the same reason.
    assert_eq!(findings(&events), [refused]);
    let why = "tlslens skipped the server's handshake message type 11 (Certificate), which \
               claims 1,207 bytes, past --max-message's limit of 300 bytes";
    assert_eq!(lacking(&events), [(1, false, 2, 11, why)]);
    let told = |e: &DtlsEvent| matches!(e, DtlsEvent::Lacking { .. });
    let first_finding = events
        .iter()
        .position(|e| matches!(e, DtlsEvent::Finding(_)));
    assert!(first_finding < events.iter().position(told), "{events:?}");
    assert!(events
        .iter()
        .any(|e| matches!(e, DtlsEvent::Message { msg_type: 14, .. })));
}

#[test]
fn every_refusal_the_full_pool_and_a_message_never_completed_are_lacking() {
    let bytes = [1u8; 100];
    // Fragments that overlap with different bytes (told once, not again at the end).
    let overlap = [
        (false, record(22, 0, &fragment(11, 300, 0, 0, &bytes))),
        (false, record(22, 1, &fragment(11, 300, 0, 50, &[2; 100]))),
    ];
    let events = read(Limits::default(), PendingPool::default(), &overlap);
    let why = "the server's handshake message type 11 (Certificate) came in fragments that \
               overlap with different bytes";
    assert_eq!(lacking(&events), [(2, false, 0, 11, why)]);
    // Fragments that disagree on the length.
    let disagree = [
        (true, record(22, 0, &fragment(15, 300, 4, 0, &bytes))),
        (true, record(22, 1, &fragment(15, 200, 4, 100, &bytes))),
    ];
    let events = read(Limits::default(), PendingPool::default(), &disagree);
    let why = "the client's handshake message type 15 (CertificateVerify) came in fragments \
               that disagree on its type or length";
    assert_eq!(lacking(&events)[0], (2, true, 4, 15, why));
    // More messages held than the limit.
    let limits = Limits {
        max_pending_messages: 1,
        ..Limits::default()
    };
    let held = [
        (false, record(22, 0, &fragment(11, 300, 1, 0, &bytes))),
        (false, record(22, 1, &fragment(12, 300, 2, 0, &bytes))),
    ];
    let events = read(limits, PendingPool::default(), &held);
    let why = "tlslens did not reassemble the server's handshake message type 12 \
               (ServerKeyExchange): it would exceed the 1 messages or 1,048,576 bytes a \
               direction holds for reassembly";
    assert_eq!(lacking(&events)[0], (2, false, 2, 12, why));
    // The pool shared by the capture's associations is full.
    let limits = Limits {
        max_message: 4 << 20,
        max_pending_bytes: 4 << 20,
        ..Limits::default()
    };
    let pooled = [(false, record(22, 0, &fragment(11, 2 << 20, 2, 0, &bytes)))];
    let events = read(limits, PendingPool::new(1 << 20), &pooled);
    let why = "tlslens did not reassemble the server's handshake message type 11 \
               (Certificate): the capture's DTLS associations held 1 MiB of incomplete \
               messages, their bound";
    assert_eq!(lacking(&events), [(1, false, 2, 11, why)]);
    // Fragments missing from the capture: told at the end.
    let partial = [(false, record(22, 0, &fragment(11, 300, 2, 0, &bytes)))];
    let events = read(Limits::default(), PendingPool::default(), &partial);
    let why = "the server's handshake message type 11 (Certificate) never completed: 100 of \
               its 300 bytes are in the capture";
    assert_eq!(lacking(&events), [(1, false, 2, 11, why)]);
}

#[test]
fn a_message_refused_again_in_the_next_handshake_is_told_again() {
    let limits = Limits {
        max_message: 300,
        ..Limits::default()
    };
    let certificate = || (false, record(22, 0, &fragment(11, 400, 2, 0, &[0; 100])));
    // A ClientHello (unreadable: a finding) begins the next handshake's transcript.
    let hello = (true, record(22, 0, &fragment(1, 0, 0, 0, &[])));
    let datagrams = [certificate(), certificate(), hello, certificate()];
    let events = read(limits, PendingPool::default(), &datagrams);
    let told: Vec<u64> = lacking(&events).iter().map(|l| l.0).collect();
    assert_eq!(told, [1, 4]);
}
