//! The content layer on real connections: the project's recorded captures (described in
//! tests/vectors/captures/README.md), read through the capture reader, the flow table and
//! the core session as `show` reads them, with and without their key logs.

use std::collections::BTreeMap;

use super::{Content, ContentEvent, DataKind, Io};
use crate::capture::Reader;
use crate::decrypt::fuzzing::suites;
use crate::decrypt::{Decryptor, Dir, Env, KeyLog, Lack, SessionCache, Status, Suites};
use crate::flows::tcp::StreamEvent;
use crate::flows::{FlowEvent, FlowSink, FlowTable, Limits, Step, Verdict};
use crate::handshake::defrag::MAX_HANDSHAKE_MESSAGE;
use crate::records::{RecordEvent, Session, SessionEvent};

const CAPTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/vectors/captures/");
pub(super) const KNOWN: [u8; 13] = [1, 2, 4, 8, 11, 12, 13, 14, 15, 16, 20, 22, 25];

/// One connection's core session and content layer, and what the content layer told.
struct Conn {
    session: Session,
    content: Content,
    decryptor: Decryptor,
    events: Vec<ContentEvent>,
}

struct Connections<'k> {
    conns: BTreeMap<u64, Conn>,
    keylog: Option<&'k KeyLog>,
    sessions: SessionCache,
    suites: Suites,
    max_message: u32,
}

impl Connections<'_> {
    fn feed(&mut self, flow: u64, side: u8, event: StreamEvent<'_>) {
        let Some(conn) = self.conns.get_mut(&flow) else {
            return;
        };
        let mut out = Vec::new();
        match event {
            StreamEvent::Data { offset, data } => conn.session.data(side, offset, data, &mut out),
            StreamEvent::Gap {
                offset,
                length,
                given_up,
            } => conn.session.gap(side, (offset, length), given_up, &mut out),
            StreamEvent::Conflict { .. } | StreamEvent::Late { .. } => {}
        }
        let keylog = self.keylog;
        let mut env = keylog.map(|keylog| Env {
            keylog,
            sessions: &mut self.sessions,
            suites: &self.suites,
        });
        let mut rsa = |_: &crate::decrypt::RsaRequest| Ok(None);
        let mut io = Io {
            suites: &self.suites,
            decryptor: env.as_mut().map(|env| (&mut conn.decryptor, env)),
            rsa: &mut rsa,
        };
        for event in out {
            match event {
                SessionEvent::Started { client_side, .. } => {
                    conn.content.set_client_side(client_side)
                }
                SessionEvent::Record { side, event } => match event {
                    RecordEvent::Record {
                        content_type,
                        version,
                        offset,
                        body,
                    } => conn
                        .content
                        .record(&mut io, side, content_type, version, &body, offset),
                    RecordEvent::Skipped { offset, length, .. } => {
                        conn.content.skipped(side, offset, length)
                    }
                    _ => {}
                },
                SessionEvent::Gap {
                    side,
                    offset,
                    length,
                    lost: true,
                    given_up,
                } => conn
                    .content
                    .lost(&mut io, (side, 0), (offset, length), given_up),
                _ => {}
            }
        }
        conn.content.flush();
        conn.events.extend(conn.content.drain());
    }
}

impl FlowSink for Connections<'_> {
    fn event(&mut self, event: FlowEvent<'_>) {
        match event {
            FlowEvent::Opened(o) => {
                let conn = Conn {
                    session: Session::new(
                        o.client_side,
                        o.mid_stream,
                        [o.sport, o.dport],
                        self.keylog.is_none(),
                    ),
                    content: Content::new(o.client_side, self.max_message, &KNOWN, false),
                    decryptor: Decryptor::new(None, false, None),
                    events: Vec::new(),
                };
                self.conns.insert(o.flow, conn);
            }
            FlowEvent::Stream {
                flow, side, event, ..
            } => self.feed(flow, side, event),
            _ => {}
        }
    }
}

/// Every TCP connection of a recorded capture: its content events (with its key log when
/// `keys`), and its content layer at the end.
fn read(capture: &str, keys: bool) -> Vec<(Vec<ContentEvent>, Content)> {
    read_with(capture, keys, MAX_HANDSHAKE_MESSAGE)
        .into_iter()
        .map(|(events, content, _)| (events, content))
        .collect()
}

/// As [`read`], with handshake messages past `max_message` skipped, and each connection's
/// decryptor at the end.
fn read_with(
    capture: &str,
    keys: bool,
    max_message: u32,
) -> Vec<(Vec<ContentEvent>, Content, Decryptor)> {
    let bytes = std::fs::read(format!("{CAPTURES}{capture}")).unwrap();
    let mut keylog = KeyLog::new();
    if keys {
        let name = capture.rsplit_once('.').unwrap().0;
        let text = std::fs::read_to_string(format!("{CAPTURES}{name}.keys")).unwrap();
        keylog.add_text(&text, "test", "keylog");
    }
    let mut sink = Connections {
        conns: BTreeMap::new(),
        keylog: keys.then_some(&keylog),
        sessions: SessionCache::new(),
        suites: suites(),
        max_message,
    };
    let mut reader = Reader::default();
    reader.feed(&bytes);
    reader.finish(None);
    let mut table = FlowTable::new(Limits::default());
    loop {
        let batch = reader.poll();
        if batch.frames.is_empty() {
            break;
        }
        for frame in &batch.frames {
            let step = table.frame(frame.ts_ns, frame.linktype, batch.bytes(frame), &mut sink);
            if let Step::Ask { .. } = step {
                table.answer(Verdict::Tls, &mut sink);
            }
        }
    }
    table.finish(&mut sink);
    sink.conns
        .into_values()
        .map(|mut conn| {
            conn.content.side_end(0);
            conn.content.side_end(1);
            conn.events.extend(conn.content.drain());
            (conn.events, conn.content, conn.decryptor)
        })
        .collect()
}

/// A connection's steps in short: "c:1" a client message of type 1, "s:ccs", "c:data*3"...
fn steps(events: &[ContentEvent], client: u8) -> Vec<String> {
    let who = |side: u8| if side == client { "c" } else { "s" };
    events
        .iter()
        .map(|event| match event {
            ContentEvent::Message(m) => format!("{}:{}", who(m.side), m.msg_type),
            ContentEvent::ChangeCipherSpec { side, .. } => format!("{}:ccs", who(*side)),
            ContentEvent::Alert { side, alert, .. } => {
                format!("{}:alert{:?}", who(*side), alert)
            }
            ContentEvent::ApplicationData(run) => format!(
                "{}:{}{}*{}",
                who(run.side),
                if run.kind == DataKind::EarlyData {
                    "early"
                } else {
                    "data"
                },
                if run.decrypted { "+" } else { "" },
                run.records
            ),
            ContentEvent::EncryptedHandshake { side, .. } => format!("{}:eh", who(*side)),
            ContentEvent::Heartbeat { side, .. } => format!("{}:heartbeat", who(*side)),
            ContentEvent::Gap { side, length, .. } => format!("{}:gap{length}", who(*side)),
            ContentEvent::Skipped { side, msg_type, .. } => {
                format!("{}:skipped {msg_type}", who(*side))
            }
            ContentEvent::Finding { message, .. } => format!("finding: {message}"),
            ContentEvent::Lacking { side, lack, .. } => format!("{}:lacks {lack:?}", who(*side)),
        })
        .collect()
}

/// The message types of one side, in order.
fn messages(events: &[ContentEvent], side: u8) -> Vec<u8> {
    events
        .iter()
        .filter_map(|event| match event {
            ContentEvent::Message(m) if m.side == side => Some(m.msg_type),
            _ => None,
        })
        .collect()
}

#[test]
fn resumed_handshakes_are_abbreviated_and_tls13_flights_stay_encrypted_without_keys() {
    let conns = read("openssl-resumption.pcap", false);
    let abbreviated: Vec<bool> = conns.iter().map(|(_, c)| c.abbreviated()).collect();
    // TLS 1.2 full, resumed by session ID, full with a ticket, resumed by it; TLS 1.3 full,
    // resumed by PSK (no ChangeCipherSpec of its own decides anything there).
    assert_eq!(abbreviated, [false, true, false, true, false, false]);
    let (full, _) = &conns[0];
    assert_eq!(
        steps(full, 0),
        [
            "c:1",
            "s:2",
            "s:11",
            "s:12",
            "s:14",
            "c:16",
            "c:ccs",
            "c:eh",
            "s:ccs",
            "s:eh",
            "c:data*1",
            "s:data*1",
            "s:alertNone",
            "c:alertNone"
        ]
    );
    let (tls13, content) = &conns[4];
    assert!(content.tls13_encrypted());
    // The server's encrypted flight and the client's first encrypted record are the
    // handshake, though sent as application data records.
    let sealed = tls13
        .iter()
        .filter(|e| matches!(e, ContentEvent::EncryptedHandshake { .. }))
        .count();
    assert_eq!(sealed, 5);
    assert!(conns.iter().all(|(_, c)| !c.renegotiation()));
    assert!(conns
        .iter()
        .flat_map(|(e, _)| e)
        .all(|e| !matches!(e, ContentEvent::Finding { .. })));
}

#[test]
fn with_the_key_log_every_message_is_read_and_signed_input_kept() {
    let conns = read("demo-tls12-tls13.pcapng", true);
    let (tls13, _) = &conns[0];
    assert_eq!(messages(tls13, 1), [2, 8, 11, 15, 20, 4, 4]);
    assert_eq!(messages(tls13, 0), [1, 20]);
    let verify = tls13.iter().find_map(|e| match e {
        ContentEvent::Message(m) if m.msg_type == 15 => Some(m),
        _ => None,
    });
    let verify = verify.unwrap();
    assert!(verify.decrypted);
    assert_eq!(verify.context.version, Some(0x0304));
    // TLS_AES_256_GCM_SHA384: the transcript hash before the CertificateVerify.
    assert_eq!(verify.signed.as_ref().map(Vec::len), Some(48));
    let alerts: Vec<_> = tls13
        .iter()
        .filter_map(|e| match e {
            ContentEvent::Alert { alert, .. } => Some(*alert),
            _ => None,
        })
        .collect();
    assert_eq!(alerts, [Some((1, 0)), Some((1, 0))]); // close_notify, opened
    let (tls12, _) = &conns[1];
    assert_eq!(
        steps(tls12, 0),
        [
            "c:1",
            "s:2",
            "s:11",
            "s:12",
            "s:14",
            "c:16",
            "c:ccs",
            "c:20",
            "s:ccs",
            "s:20",
            "c:data+*1",
            "s:data+*1",
            "s:alertSome((1, 0))",
            "c:alertSome((1, 0))"
        ]
    );
}

#[test]
fn a_client_certificate_verify_signs_the_tls12_messages_before_it() {
    let conns = read("openssl-hrr-clientauth.pcapng", false);
    let (tls12, _) = &conns[1];
    let mut transcript = Vec::new();
    let mut signed = None;
    for event in tls12 {
        if let ContentEvent::Message(m) = event {
            if m.msg_type == 15 {
                signed = m.signed.clone();
                break;
            }
            transcript.extend_from_slice(&m.raw);
        }
    }
    assert_eq!(signed, Some(transcript));
    // The TLS 1.3 connection: a HelloRetryRequest, then a second ClientHello read in the
    // context it fixed (TLS 1.3), still plaintext.
    let (hrr, _) = &conns[0];
    let hellos: Vec<_> = hrr
        .iter()
        .filter_map(|e| match e {
            ContentEvent::Message(m) if m.msg_type == 1 => Some(m.context.version),
            _ => None,
        })
        .collect();
    assert_eq!(hellos, [None, Some(0x0304)]);
}

pub(super) fn message(msg_type: u8, body: &[u8]) -> Vec<u8> {
    let length = u32::try_from(body.len()).unwrap().to_be_bytes();
    [&[msg_type][..], &length[1..], body].concat()
}

/// Records of (side, outer type, body) through a content layer without keys (client side
/// 0), then both sides' ends; an outer type of 0 stands for bytes of that side lost.
fn built(records: &[(u8, u8, Vec<u8>)], limit: u32) -> (Vec<ContentEvent>, Content) {
    let mut content = Content::new(Some(0), limit, &KNOWN, false);
    let suites = suites();
    let mut rsa = |_: &crate::decrypt::RsaRequest| Ok(None);
    let mut io = Io {
        suites: &suites,
        decryptor: None,
        rsa: &mut rsa,
    };
    let mut offsets = [0u64; 2];
    for (side, ctype, body) in records {
        let at = &mut offsets[usize::from(*side)];
        if *ctype == 0 {
            content.lost(&mut io, (*side, 0), (*at, 0), None);
            continue;
        }
        content.record(&mut io, *side, *ctype, 0x0303, body, *at);
        *at += 5 + body.len() as u64;
    }
    content.side_end(0);
    content.side_end(1);
    content.flush();
    let events = content.drain().collect();
    (events, content)
}

pub(super) fn findings(events: &[ContentEvent]) -> Vec<(&'static str, Option<u64>, String)> {
    events
        .iter()
        .filter_map(|e| match e {
            ContentEvent::Finding {
                layer,
                offset,
                message,
                ..
            } => Some((*layer, *offset, message.clone())),
            _ => None,
        })
        .collect()
}

/// A TLS 1.2 ServerHello choosing `suite`.
fn server_hello(suite: u16) -> Vec<u8> {
    let body = [&[3, 3][..], &[0x55; 32], &[0], &suite.to_be_bytes(), &[0]].concat();
    message(2, &body)
}

#[test]
fn heartbleed_odd_alerts_and_a_bad_change_cipher_spec_are_findings_where_they_are() {
    // After a ClientHello (before any hello, a 3-byte alert could be an encrypted one).
    let hello = [&[3, 3][..], &[0x11; 32], &[0, 0, 2, 0, 0x2F, 1, 0]].concat();
    let records = [
        (0, 22, message(1, &hello)),
        (1, 24, vec![1, 0x40, 0, 7, 7, 7]),
        (1, 21, vec![2, 40, 1]),
        (1, 20, vec![2]),
    ];
    let (events, _) = built(&records, 1 << 14);
    assert_eq!(
        findings(&events),
        [
            (
                "heartbeat",
                Some(0),
                "heartbeat claims 16384 payload bytes in a 6-byte record: the Heartbleed \
                 pattern (CVE-2014-0160)"
                    .to_owned()
            ),
            (
                "alert",
                Some(11),
                "alert record of 3 bytes (alerts are 2)".to_owned()
            ),
            (
                "record",
                Some(19),
                "ChangeCipherSpec body is 02, not 01".to_owned()
            ),
        ]
    );
    assert!(events.contains(&ContentEvent::Heartbeat {
        side: 1,
        offset: 0,
        length: 6,
        encrypted: false,
        fields: Some((1, 0x4000)),
    }));
}

#[test]
fn a_null_cipher_keeps_records_readable_without_their_mac() {
    // TLS_RSA_WITH_NULL_SHA: after the server's CCS its records are plaintext + 20-byte MAC.
    let finished = message(20, &[9; 12]);
    let records = [
        (1, 22, server_hello(0x0002)),
        (1, 20, vec![1]),
        (1, 22, [finished.clone(), vec![0xAA; 20]].concat()),
    ];
    let (events, _) = built(&records, 1 << 14);
    let last = events.iter().rev().find_map(|e| match e {
        ContentEvent::Message(m) => Some(m.raw.clone()),
        _ => None,
    });
    assert_eq!(last, Some(finished));
}

#[test]
fn oversized_lost_and_incomplete_messages_are_told() {
    let records = [
        (1, 22, message(11, &[0; 100])),
        (1, 22, message(14, &[0; 10])[..8].to_vec()),
        (1, 0, vec![]),
        (0, 22, message(16, &[0; 10])[..6].to_vec()),
    ];
    let (events, _) = built(&records, 64);
    assert_eq!(
        findings(&events),
        [
            (
                "handshake",
                Some(5),
                "handshake message type 11 (Certificate) claims 100 bytes, past --max-message's \
                 limit of 64 bytes; skipped, as far as it claims or to the next record of \
                 whole messages"
                    .to_owned()
            ),
            (
                "handshake",
                Some(114),
                "a handshake message lost bytes in the gap; it is dropped".to_owned()
            ),
            (
                "handshake",
                Some(5),
                "handshake message type 16 claims 10 bytes, only 2 arrived".to_owned()
            ),
        ]
    );
    // The Certificate skipped is a step at its place; bytes of an unknown type claiming
    // more than the limit are no message to name (their finding alone says so).
    let skipped: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            ContentEvent::Skipped {
                side,
                offset,
                msg_type,
                claimed,
                limit,
            } => Some((*side, *offset, *msg_type, *claimed, *limit)),
            _ => None,
        })
        .collect();
    assert_eq!(skipped, [(1, 5, 11, 100, 64)]);
    let (unknown, _) = built(&[(1, 22, message(0x38, &[0; 100]))], 64);
    assert!(!unknown
        .iter()
        .any(|e| matches!(e, ContentEvent::Skipped { .. })));
    assert_eq!(findings(&unknown).len(), 1);
}

#[test]
fn data_runs_fold_early_data_and_a_second_client_hello_renegotiates() {
    // A ClientHello offering TLS 1.3 and early data; its CCS before any ServerHello is the
    // compatibility one, and the data after it is 0-RTT.
    let exts = [&[0, 11][..], &[0, 43, 0, 3, 2, 3, 4], &[0, 42, 0, 0]].concat();
    let hello = [&[3, 3][..], &[0x11; 32], &[0, 0, 2, 0x13, 1, 1, 0], &exts].concat();
    let records = [
        (0, 22, message(1, &hello)),
        (0, 20, vec![1]),
        (0, 23, vec![0; 30]),
        (0, 23, vec![0; 20]),
        (0, 21, vec![1, 0]),
    ];
    let (events, _) = built(&records, 1 << 14);
    // The side is not encrypted after that CCS: its alert is read.
    assert_eq!(
        steps(&events, 0),
        ["c:1", "c:ccs", "c:early*2", "c:alertSome((1, 0))"]
    );
    assert!(events.contains(&ContentEvent::ChangeCipherSpec {
        side: 0,
        offset: 63,
        length: 1,
        encrypted: false
    }));
    let plain = [&[3, 3][..], &[0x11; 32], &[0, 0, 2, 0, 0x2F, 1, 0]].concat();
    let records = [
        (0, 22, message(1, &plain)),
        (1, 22, server_hello(0x002F)),
        (0, 22, message(1, &plain)),
    ];
    let (_, content) = built(&records, 1 << 14);
    assert!(content.renegotiation());
}

#[test]
fn each_side_counts_its_runs_not_the_encrypted_handshake_sent_as_application_data() {
    for keys in [false, true] {
        for (events, content) in read("openssl-resumption.pcap", keys) {
            for side in 0..2u8 {
                let (mut records, mut bytes) = (0u64, 0u64);
                for event in &events {
                    if let ContentEvent::ApplicationData(run) = event {
                        if run.side == side {
                            records += run.records;
                            bytes += run.length;
                        }
                    }
                }
                let counts = content.counts(side);
                assert!(records > 0, "side {side} sent application data");
                assert_eq!(
                    (
                        counts.application_data_records,
                        counts.application_data_bytes
                    ),
                    (records, bytes)
                );
                assert_eq!((counts.gaps, counts.gap_bytes), (0, 0));
            }
        }
    }
}

#[test]
fn gaps_are_steps_and_counted_once_tls_started() {
    let mut content = Content::new(Some(0), MAX_HANDSHAKE_MESSAGE, &KNOWN, false);
    content.gap(1, (0, 40), None); // before TLS: no connection to tell it of
    assert_eq!(content.drain().count(), 0);
    content.set_client_side(0);
    content.skipped(0, 0, 10);
    content.gap(1, (100, 7), None);
    content.gap(1, (300, 5), None);
    content.flush();
    assert_eq!(
        steps(&content.drain().collect::<Vec<_>>(), 0),
        ["c:data*1", "s:gap7", "s:gap5"]
    );
    let counts = content.counts(1);
    assert_eq!((counts.gaps, counts.gap_bytes), (2, 12));
    assert_eq!(content.counts(0).application_data_bytes, 10);
}

#[test]
fn a_decrypted_run_joins_only_a_decrypted_one() {
    use super::DataRun;
    let run = |decrypted, length| DataRun {
        side: 1,
        kind: DataKind::ApplicationData,
        offset: 0,
        records: 1,
        length,
        decrypted,
        plaintext: Vec::new(),
    };
    let mut sealed = run(false, 10);
    assert!(sealed.absorb(run(true, 3)).is_err());
    assert!(sealed.absorb(run(false, 4)).is_ok());
    let mut opened = run(true, 10);
    assert!(opened.absorb(run(false, 5)).is_ok());
    assert_eq!((opened.records, opened.length), (2, 15));
    let mut early = DataRun {
        kind: DataKind::EarlyData,
        ..run(false, 1)
    };
    assert!(early.absorb(run(false, 1)).is_err());
}

/// A message tlslens skips past its size limit is missing from the decryptor's transcript:
/// the Finished are then not checked (not blamed on the secret), and a ClientHello skipped
/// still finds the secrets by the random its first record holds.
#[test]
fn a_message_skipped_past_the_limit_is_told_to_the_decryptor() {
    let text = std::fs::read_to_string(format!("{CAPTURES}demo-tls12-tls13.keys")).unwrap();
    let mut keylog = KeyLog::new();
    keylog.add_text(&text, "test", "keylog");
    let conns = read_with("demo-tls12-tls13.pcapng", true, 500);
    let [(_, _, tls13), (events, _, tls12)] = conns.as_slice() else {
        panic!("two connections");
    };
    assert!(findings(events)
        .iter()
        .any(|(_, _, message)| message.starts_with(
            "handshake message type 11 (Certificate) claims 1,207 bytes, past --max-message's \
             limit of 500 bytes; skipped"
        )));
    // Told to the caller too, in stream order (its model says it where a signature needed
    // the certificate's key).
    let lacking: Vec<_> = (events.iter())
        .filter_map(|event| match event {
            ContentEvent::Lacking { dir, lack, .. } => Some((*dir, *lack)),
            _ => None,
        })
        .collect();
    let skipped = Lack::Skipped {
        msg_type: 11,
        length: 1207,
        limit: 500,
    };
    assert_eq!(lacking, [(Dir::S2C, skipped)]);
    assert_eq!(tls12.status, Status::Decrypted);
    assert_eq!(
        tls12.results.each_ref().map(|r| r.finished_verified),
        [None, None]
    );
    assert_eq!(
        tls12.reason_text(&keylog, &[], None).as_deref(),
        Some(
            "the Finished messages were not checked: tlslens skipped the server's handshake \
             message type 11 (Certificate), which claims 1,207 bytes, past --max-message's \
             limit of 500 bytes, and a Finished MACs the whole handshake"
        )
    );
    // The TLS 1.3 ClientHello skipped: the random its first record holds finds the secrets.
    assert_eq!(tls13.status, Status::Decrypted);
    assert_eq!(
        tls13.reason_text(&keylog, &[], None).as_deref(),
        Some(
            "the secrets were looked up by client random e6d4f0e69bf8…, read from the first \
             bytes of the ClientHello tlslens skipped; the Finished messages were not \
             checked: tlslens skipped the client's handshake message type 1 (ClientHello), \
             which claims 508 bytes, past --max-message's limit of 500 bytes, and a Finished \
             MACs the whole handshake"
        )
    );
}
