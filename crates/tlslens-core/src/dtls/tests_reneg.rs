//! DTLS 1.2 renegotiations from OpenSSL on loopback (tests/vectors/captures/udp/
//! dtls-reneg.pcapng with its key log, described in that folder's README.md): the client's
//! (s_client's `R`: a new ClientHello sent in epoch 1, message_seq 0 again) and the
//! server's (s_server's `R`: a HelloRequest, then the client's ClientHello). Each new
//! handshake numbers its messages from 0 again (RFC 6347 §4.2.2): they are new messages of
//! epoch 1, not retransmissions of the first handshake's (epoch 0), and the renegotiation's
//! ClientHello random finds its own master secret for epoch 2.

use super::tests_captures::{application_data, findings, finished_checks, keys, read};
use super::DtlsEvent;

const CAPTURE: &str = "dtls-reneg.pcapng";
const CLIENT_LINE: &[u8] = b"hello from the DTLS client\n";
const SERVER_LINE: &[u8] = b"hello from the DTLS server\n";

fn events(index: usize) -> Vec<DtlsEvent> {
    read(CAPTURE, index, Some(keys("dtls-reneg.keys", 0x0303)))
}

/// (frame, epoch, message_seq, random) of each ClientHello.
fn client_hellos(events: &[DtlsEvent]) -> Vec<(u64, u64, u16, [u8; 32])> {
    (events.iter())
        .filter_map(|e| match e {
            DtlsEvent::ClientHello {
                frame,
                epoch,
                message_seq,
                random,
                ..
            } => Some((*frame, *epoch, *message_seq, *random)),
            _ => None,
        })
        .collect()
}

/// What both renegotiating connections share: nothing told retransmitted, every record
/// past epoch 0 opened (epoch 2's with the renegotiation's keys), both lines and both
/// close_notify alerts read, no finding.
fn read_whole(events: &[DtlsEvent], alerts: [u64; 2]) {
    assert_eq!(findings(events), Vec::<&DtlsEvent>::new());
    let again: Vec<&DtlsEvent> = (events.iter())
        .filter(|e| matches!(e, DtlsEvent::Retransmission { .. }))
        .collect();
    assert_eq!(again, Vec::<&DtlsEvent>::new());
    let mut epochs = Vec::new();
    for event in events {
        if let DtlsEvent::Record {
            record, decrypted, ..
        } = event
        {
            assert_eq!(*decrypted, record.epoch > 0, "{record:?}");
            epochs.push(record.epoch);
        }
    }
    assert!(epochs.contains(&2));
    assert_eq!(
        application_data(events),
        [(true, CLIENT_LINE), (false, SERVER_LINE)]
    );
    for (frame, from_client) in alerts.into_iter().zip([true, false]) {
        assert!(events.contains(&DtlsEvent::Alert {
            frame,
            from_client,
            level: 1,
            description: 0
        }));
    }
}

/// Connection 0: after the first handshake (cookie, client certificate), the client's
/// ClientHello in frame 13, epoch 1, message_seq 0, as the first ClientHello was (frame
/// 1): a new handshake, whose random is the key log's second line.
#[test]
fn a_client_renegotiation_is_a_new_handshake_with_its_own_keys() {
    let events = events(0);
    read_whole(&events, [21, 22]);
    let hellos = client_hellos(&events);
    let seen: Vec<(u64, u64, u16)> = hellos.iter().map(|h| (h.0, h.1, h.2)).collect();
    assert_eq!(seen, [(1, 0, 0), (3, 0, 1), (13, 1, 0)]);
    assert_ne!(hellos[1].3, hellos[2].3);
    let log = keys("dtls-reneg.keys", 0x0303);
    assert!(log.secrets[&hellos[2].3].master_secret.is_some());
    // Both handshakes' Finished verify, each with its own master secret.
    assert_eq!(
        finished_checks(&events),
        [
            (10, true, Some(true)),
            (11, false, Some(true)),
            (18, true, Some(true)),
            (19, false, Some(true))
        ]
    );
    let negotiated: Vec<u64> = (events.iter())
        .filter_map(|e| match e {
            DtlsEvent::Negotiated { frame, .. } => Some(*frame),
            _ => None,
        })
        .collect();
    assert_eq!(negotiated, [4, 14]);
}

/// Connection 1: the server's HelloRequest (frame 33, epoch 1, message_seq 0) asks for
/// the renegotiation, which asks for the client's certificate: the client's
/// CertificateVerify signs the new handshake's messages from its ClientHello (frame 34),
/// the HelloRequest in none (RFC 5246 §7.4.1.1).
#[test]
fn a_hello_request_starts_a_renegotiation_outside_its_transcript() {
    let events = events(1);
    read_whole(&events, [44, 45]);
    assert!(events.iter().any(|e| matches!(
        e,
        DtlsEvent::Message {
            frame: 33,
            from_client: false,
            epoch: 1,
            message_seq: 0,
            msg_type: 0,
            ..
        }
    )));
    let seen: Vec<(u64, u64, u16)> = (client_hellos(&events).iter())
        .map(|h| (h.0, h.1, h.2))
        .collect();
    assert_eq!(seen, [(23, 0, 0), (25, 0, 1), (34, 1, 0)]);
    let signed = (events.iter()).find_map(|e| match e {
        DtlsEvent::Transcript {
            frame: 41,
            msg_type: 15,
            signed,
            ..
        } => Some(signed),
        _ => None,
    });
    // The ClientHello in its DTLS form: type 1, its length, message_seq 0.
    assert_eq!(signed.map(|s| (s[0], &s[4..6])), Some((1, &[0, 0][..])));
    assert_eq!(
        finished_checks(&events),
        [
            (30, true, Some(true)),
            (31, false, Some(true)),
            (41, true, Some(true)),
            (42, false, Some(true))
        ]
    );
}
