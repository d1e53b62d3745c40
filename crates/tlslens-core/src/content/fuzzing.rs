//! The body of the `content` cargo-fuzz target, shared with the corpus replay of
//! `cargo test`: one connection's records, in any order and of any type, through the
//! content layer with and without a decryptor. Events or findings, never a panic.

use super::{Content, ContentEvent, Io, SideCounts, Signed, Space};
use crate::decrypt::fuzzing::{keylog_then, suites};
use crate::decrypt::{Decryptor, Env, SessionCache};

/// `data`: a first byte choosing the client side (bit 0), the decryptor (bit 1), whether
/// plaintext is kept (bit 2), a small message limit (bit 3) and whether the session told
/// TLS started (bit 4); then key log text up to a NUL; then steps of [kind, side, length
/// (2), body]: kind % 8 = 0 a record (its first byte the outer type), 1 a skipped
/// application data record, 2 a gap of `length` bytes that lost a message, 3 an SSLv2
/// ClientHello, 4 a whole message (DTLS; side bit 1: with a caller's signed input), 5 CRYPTO
/// bytes (QUIC; side / 2 % 3 the space), 6 a CRYPTO stream restarted, 7 a record; the
/// sides and CRYPTO streams end at the end. What each side counted is what it told.
pub fn content(data: &[u8]) {
    let (choice, rest) = data.split_first().unwrap_or((&0, &[]));
    let (keylog, mut steps) = keylog_then(rest);
    let mut sessions = SessionCache::new();
    let suites = suites();
    let mut env = Env {
        keylog: &keylog,
        sessions: &mut sessions,
        suites: &suites,
    };
    let mut dec = Decryptor::new(None, true, None);
    let limit = if choice & 8 != 0 { 64 } else { 1 << 14 };
    let mut content = Content::new(
        Some(choice & 1),
        limit,
        &[1, 2, 4, 8, 11, 12, 13, 14, 15, 16, 20, 22, 25],
        choice & 4 != 0,
    );
    if choice & 16 != 0 {
        content.set_client_side(choice & 1);
    }
    let mut rsa = |_: &crate::decrypt::RsaRequest| Ok(Some(vec![3; 48]));
    let mut io = Io {
        suites: &suites,
        decryptor: (choice & 2 != 0).then_some((&mut dec, &mut env)),
        rsa: &mut rsa,
    };
    let mut offset = 0u64;
    while let [kind, side, high, low, rest @ ..] = steps {
        let declared = u16::from_be_bytes([*high, *low]);
        let len = usize::from(declared).min(rest.len());
        let (body, tail) = rest.split_at(len);
        steps = tail;
        step(
            &mut content,
            &mut io,
            (*kind, *side, declared),
            body,
            offset,
            limit,
        );
        offset = offset.saturating_add(5 + len as u64);
    }
    content.side_end(0);
    content.side_end(1);
    content.crypto_end();
    content.flush();
    check_told(&mut content, limit);
}

/// One step of the input: `kind` % 8 as `content` says, on `side`; `declared` its length
/// field (a gap's size).
fn step(
    content: &mut Content,
    io: &mut Io<'_, '_>,
    (kind, side, declared): (u8, u8, u16),
    body: &[u8],
    offset: u64,
    limit: u32,
) {
    let space = Space::ALL
        .get(usize::from(side / 2 % 3))
        .copied()
        .unwrap_or(Space::Initial);
    match kind % 8 {
        1 => content.skipped(side, offset, body.len()),
        2 => {
            content.gap(side, (offset, u64::from(declared)), None);
            content.lost(io, (side, 0), (offset, u64::from(declared)), None);
        }
        3 => content.sslv2_client_hello(io, body),
        4 => {
            let signed = (side & 2 != 0).then(|| Signed {
                tls13: Some(body.to_vec()),
                messages: None,
            });
            // As DTLS's association tells them: whole, within the message limit.
            let (msg_type, rest) = body.split_first().unwrap_or((&20, &[]));
            let rest = rest.get(..limit as usize).unwrap_or(rest);
            let length = (rest.len() as u32).to_be_bytes();
            let raw = [&[*msg_type], &length[1..], rest].concat();
            content.whole_message(io, side, raw, offset, true, signed);
        }
        5 => content.crypto(io, side, space, body, offset, side & 8 != 0),
        6 => content.crypto_restart(side, space),
        _ => {
            let (ctype, record) = body.split_first().unwrap_or((&23, &[]));
            content.record(io, side, *ctype, 0x0303, record, offset);
        }
    }
}

/// What the content layer told, drained: each side's counts are what it counted, and each
/// message is whole and reads as the boundary reads it.
fn check_told(content: &mut Content, limit: u32) {
    let mut told = [SideCounts::default(); 2];
    let events: Vec<ContentEvent> = content.drain().collect();
    for event in events {
        let (side, records, bytes, gaps) = match &event {
            ContentEvent::ApplicationData(run) => (run.side, run.records, run.length, 0),
            ContentEvent::Gap { side, length, .. } => (*side, 0, *length, 1),
            _ => (0, 0, 0, 0),
        };
        let counts = &mut told[usize::from(side & 1)];
        counts.application_data_records += records;
        counts.application_data_bytes += if gaps == 0 { bytes } else { 0 };
        counts.gaps += gaps;
        counts.gap_bytes += if gaps == 0 { 0 } else { bytes };
        if let ContentEvent::Message(read) = event {
            // A message is told whole: its header's length is its body's.
            let declared = read
                .raw
                .get(1..4)
                .map(|l| u32::from_be_bytes([0, l[0], l[1], l[2]]));
            assert_eq!(declared, Some(read.raw.len().saturating_sub(4) as u32));
            assert!(read.raw.len() <= limit as usize + 4);
            // Read again as the boundary reads it (content_events.rs): a readable message
            // reads the same, and only a hello may be crowded.
            let body = read.raw.get(4..).unwrap_or_default();
            let parsed = crate::handshake::messages::parse(read.msg_type, body, &read.context);
            assert_eq!(parsed.is_ok(), read.error.is_none());
            if let Ok(message) = parsed {
                let hello = read.msg_type == 1 || read.msg_type == 2;
                assert!(hello || super::crowding(&message).is_none());
            }
        }
    }
    assert_eq!(told, [content.counts(0), content.counts(1)]);
}
