//! The mode machine's cases on small streams: who is the client, the STARTTLS prelude, the
//! bound on plaintext, a plaintext answer, SSL 2.0, gaps and conflicts.

use super::SessionEvent::{self, *};
use super::{Session, MAX_PRELUDE_SCAN};
use crate::flows::tcp::GiveUp;
use crate::records::RecordEvent;

/// A ClientHello record (its body is only a header here: the mode machine reads no more).
const CLIENT_HELLO: &[u8] = b"\x16\x03\x01\x00\x04\x01\x00\x00\x00";
const SERVER_HELLO: &[u8] = b"\x16\x03\x03\x00\x04\x02\x00\x00\x00";

fn session(client_side: Option<u8>) -> Session {
    Session::new(client_side, client_side.is_none(), [50000, 443], true)
}

fn feed(session: &mut Session, side: u8, offset: u64, data: &[u8]) -> Vec<SessionEvent> {
    let mut out = Vec::new();
    session.data(side, offset, data, &mut out);
    out
}

fn record(side: u8, content_type: u8, offset: u64, body: &[u8]) -> SessionEvent {
    Record {
        side,
        event: RecordEvent::Record {
            content_type,
            version: if body.first() == Some(&1) {
                0x0301
            } else {
                0x0303
            },
            offset,
            body: body.to_vec(),
        },
    }
}

#[test]
fn a_server_hello_first_says_the_other_side_is_the_client() {
    let mut s = session(None);
    let out = feed(&mut s, 0, 0, SERVER_HELLO);
    assert_eq!(
        out,
        vec![
            Started {
                side: 0,
                client_side: 1
            },
            record(0, 22, 0, &SERVER_HELLO[5..]),
        ]
    );
    assert!(s.started() && !s.may_give_up(1));
}

#[test]
fn first_bytes_are_held_until_six_decide() {
    let mut s = session(Some(0));
    assert_eq!(feed(&mut s, 0, 0, &CLIENT_HELLO[..3]), vec![]);
    let out = feed(&mut s, 0, 3, &CLIENT_HELLO[3..]);
    assert_eq!(out.len(), 2);
    assert_eq!(out[1], record(0, 22, 0, &CLIENT_HELLO[5..]));
}

#[test]
fn a_starttls_prelude_is_told_with_its_protocol_then_tls_starts_inside_a_segment() {
    let mut s = session(Some(0));
    let out = feed(&mut s, 1, 0, b"220 mail.test ESMTP ready\r\n");
    assert_eq!(
        out,
        vec![Prelude {
            side: 1,
            from_client: false,
            offset: 0,
            data: b"220 mail.test ESMTP ready\r\n".to_vec(),
            protocol: Some("SMTP STARTTLS"),
        }]
    );
    let mut segment = b"STARTTLS\r\n".to_vec();
    segment.extend_from_slice(CLIENT_HELLO);
    let out = feed(&mut s, 0, 0, &segment);
    assert_eq!(
        out,
        vec![
            Prelude {
                side: 0,
                from_client: true,
                offset: 0,
                data: b"STARTTLS\r\n".to_vec(),
                protocol: Some("SMTP STARTTLS"),
            },
            Started {
                side: 0,
                client_side: 0
            },
            record(0, 22, 10, &CLIENT_HELLO[5..]),
        ]
    );
}

#[test]
fn a_megabyte_of_plaintext_each_way_gives_the_flow_up() {
    let mut s = session(Some(0));
    let chunk = vec![b'x'; 1 << 16];
    let mut offset = 0;
    while offset <= MAX_PRELUDE_SCAN {
        feed(&mut s, 0, offset, &chunk);
        offset += chunk.len() as u64;
    }
    assert!(!s.may_give_up(0) && s.may_give_up(1) && !s.ignored());
    let mut offset = 0;
    while !s.ignored() {
        assert!(offset <= MAX_PRELUDE_SCAN + 1);
        feed(&mut s, 1, offset, &chunk);
        offset += chunk.len() as u64;
    }
}

#[test]
fn a_server_answering_in_words_is_told_and_counted() {
    let mut s = session(Some(0));
    feed(&mut s, 0, 0, CLIENT_HELLO);
    let answer = b"HTTP/1.1 400 Bad Request\r\nServer: x\r\n\r\n";
    let out = feed(&mut s, 1, 0, answer);
    assert_eq!(
        out,
        vec![PlaintextAnswer {
            side: 1,
            offset: 0,
            line: b"HTTP/1.1 400 Bad Request".to_vec(),
        }]
    );
    let mut out = Vec::new();
    s.finish(&mut out);
    assert!(out.contains(&End {
        side: 1,
        bytes: answer.len() as u64,
        records: 0,
        conflicts: 0
    }));
}

#[test]
fn sslv2_hellos_and_records() {
    let mut s = session(Some(0));
    let hello = b"\x80\x07\x01\x00\x02\x00\x00\x00\x00";
    let out = feed(&mut s, 0, 0, hello);
    assert_eq!(
        out,
        vec![
            Started {
                side: 0,
                client_side: 0
            },
            Sslv2ClientHello {
                side: 0,
                offset: 0,
                record: hello.to_vec()
            },
        ]
    );
    // SERVER-HELLO (a 2-byte header), then a 3-byte header record split in two.
    let server = b"\x80\x06\x04\x00\x01\x00\x02\x00\x00\x02\x00xx";
    let out = feed(&mut s, 1, 0, &server[..10]);
    assert_eq!(
        out,
        vec![
            Sslv2ServerHello { side: 1 },
            Sslv2Record {
                side: 1,
                offset: 0,
                size: 8,
                body: server[2..8].to_vec()
            },
        ]
    );
    let out = feed(&mut s, 1, 10, &server[10..]);
    assert_eq!(
        out,
        vec![Sslv2Record {
            side: 1,
            offset: 8,
            size: 5,
            body: b"xx".to_vec()
        }]
    );
}

#[test]
fn gaps_say_whether_records_were_lost_and_conflicts_are_told_once() {
    let mut s = session(Some(0));
    let mut out = Vec::new();
    s.gap(0, (0, 100), None, &mut out);
    assert_eq!(
        out,
        vec![Gap {
            side: 0,
            offset: 0,
            length: 100,
            lost: false,
            given_up: None,
        }]
    );
    // Picked up after the hole: a record header starts TLS (the resync).
    let out = feed(&mut s, 0, 100, &[CLIENT_HELLO, CLIENT_HELLO].concat());
    assert!(matches!(
        out.first(),
        Some(Started {
            side: 0,
            client_side: 0
        })
    ));
    let mut out = Vec::new();
    s.gap(0, (200, 10), Some(GiveUp::Bytes), &mut out);
    s.conflict(0, 5, 3, &mut out);
    s.conflict(0, 9, 3, &mut out);
    assert_eq!(
        out,
        vec![
            Gap {
                side: 0,
                offset: 200,
                length: 10,
                lost: true,
                given_up: Some(GiveUp::Bytes),
            },
            Conflict {
                side: 0,
                offset: 5,
                length: 3
            },
        ]
    );
    let mut out = Vec::new();
    s.finish(&mut out);
    assert!(matches!(
        out.iter().find(|e| matches!(e, End { side: 0, .. })),
        Some(End { conflicts: 2, .. })
    ));
}

#[test]
fn an_undecided_connection_ends_without_events_and_abandon_lets_it_go() {
    let mut s = session(None);
    feed(&mut s, 0, 0, b"GET / HTTP/1.1\r\n");
    let mut out = Vec::new();
    s.finish(&mut out);
    assert_eq!(out, vec![]);
    s.abandon();
    assert!(s.ignored() && !s.may_give_up(0));
}

#[test]
fn given_up_bytes_of_a_skipped_body_are_not_told_when_they_come() {
    // After the ClientHello, an application data record of 1,000 bytes: a hole given up
    // inside its body (skipped) loses nothing read, and its late bytes are not told; a hole
    // given up where records are read is lost, and its late bytes are told.
    let mut s = session(Some(0));
    feed(&mut s, 0, 0, CLIENT_HELLO);
    let at = CLIENT_HELLO.len() as u64;
    feed(&mut s, 0, at, b"\x17\x03\x03\x03\xe8");
    let mut out = Vec::new();
    s.gap(0, (at + 5, 200), Some(GiveUp::Bytes), &mut out);
    assert!(
        matches!(out.as_slice(), [Gap { lost: false, .. }]),
        "{out:?}"
    );
    out.clear();
    s.late(0, (at + 150, 50), GiveUp::Bytes, &mut out);
    assert_eq!(out, vec![]);
    feed(&mut s, 0, at + 205, &[0; 800]); // the body's end
    s.gap(0, (at + 1005, 10), Some(GiveUp::Bytes), &mut out);
    assert!(
        matches!(out.as_slice(), [Gap { lost: true, .. }]),
        "{out:?}"
    );
    out.clear();
    s.late(0, (at + 1005, 10), GiveUp::Bytes, &mut out);
    assert!(
        matches!(out.as_slice(), [Late { length: 10, .. }]),
        "{out:?}"
    );
}
