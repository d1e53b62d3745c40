//! The record layer's cases (each finding, the bounds) and detection, on small streams.

use super::detect::{self, Looks};
use super::fuzzing::read;
use super::RecordEvent::{self, *};
use super::{RecordReader, MAX_RECORD};

const HANDSHAKE: &[u8] = b"\x16\x03\x03\x00\x08\x0e\x00\x00\x00\x0e\x00\x00\x00";
const CCS: &[u8] = b"\x14\x03\x03\x00\x01\x01";
const APPDATA: &[u8] = b"\x17\x03\x03\x00\x06secret";
const ALERT: &[u8] = b"\x15\x03\x03\x00\x02\x01\x00";

fn stream() -> Vec<u8> {
    [HANDSHAKE, CCS, APPDATA, ALERT].concat()
}

fn rec(content_type: u8, offset: u64, body: &[u8]) -> RecordEvent {
    Record {
        content_type,
        version: 0x0303,
        offset,
        body: body.to_vec(),
    }
}

fn skipping() -> Vec<RecordEvent> {
    vec![
        rec(22, 0, &HANDSHAKE[5..]),
        rec(20, 13, b"\x01"),
        Skipped {
            content_type: 23,
            version: 0x0303,
            offset: 19,
            length: 6,
        },
        rec(21, 30, b"\x01\x00"),
    ]
}

#[test]
fn whole_and_byte_by_byte() {
    let data = stream();
    assert_eq!(read(&[&data], true, None).0, skipping());
    let bytes: Vec<&[u8]> = data.chunks(1).collect();
    let (events, taken, records) = read(&bytes, true, None);
    assert_eq!(events, skipping());
    assert_eq!((taken, records), (data.len() as u64, 4));
}

#[test]
fn application_data_bodies_when_asked() {
    let events = read(&[&stream()], false, None).0;
    assert_eq!(events[2], rec(23, 19, b"secret"));
}

/// The events and the record count (see `fuzzing::framed`).
fn framed(reading: &(Vec<RecordEvent>, u64, u64)) -> (Vec<RecordEvent>, u64) {
    super::fuzzing::framed(reading.clone())
}

/// Any split of a stream (with junk and a hostile length in it) gives the same events.
#[test]
fn any_segmentation_gives_the_same_records() {
    let mut data = stream();
    data.extend_from_slice(b"GET / HTTP/1.1\r\n");
    data.extend_from_slice(&stream());
    data.extend_from_slice(b"\x16\x03\x03\xff\xff");
    data.extend_from_slice(&stream());
    let mut seed = 0x2545_f491_u32;
    for skip in [false, true] {
        let whole = read(&[&data], skip, None);
        for _ in 0..500 {
            let mut cuts = Vec::new();
            for _ in 0..(seed % 9) {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                cuts.push(seed as usize % data.len());
            }
            cuts.sort_unstable();
            cuts.dedup();
            let mut chunks = Vec::new();
            let mut start = 0;
            for cut in cuts.into_iter().chain([data.len()]) {
                chunks.push(&data[start..cut]);
                start = cut;
            }
            assert_eq!(
                framed(&read(&chunks, skip, None)),
                framed(&whole),
                "split {chunks:?}"
            );
        }
    }
}

#[test]
fn stream_ending_inside_a_record_is_truncated() {
    let data = stream();
    let events = read(&[&data[..data.len() - 1]], true, None).0;
    assert_eq!(
        events.last(),
        Some(&Truncated {
            offset: 30,
            present: 6,
            needed: 7
        })
    );
    let mut reader = RecordReader::new(true, None);
    let mut out = Vec::new();
    reader.feed(0, &data[..data.len() - 1], &mut out);
    assert_eq!(out.len(), 3, "without the end, an incomplete record waits");
}

/// What a header claims is not reserved before its bytes come (a flow that sends a header
/// and one byte holds a few bytes, not 16 KiB), and the body gathered is told in a buffer
/// of its size (no spare room to copy away).
#[test]
fn a_gathered_body_holds_what_came_and_is_told_at_its_size() {
    let mut big = b"\x16\x03\x03\x40\x00".to_vec();
    big.resize(5 + 0x4000, 9);
    let mut reader = RecordReader::new(true, None);
    let mut out = Vec::new();
    reader.feed(0, &big[..6], &mut out);
    assert!(out.is_empty());
    assert!(reader.held_room() < 64, "{}", reader.held_room());
    let mut at = 6;
    for size in [1400, 1, 3000, 7000, 1448] {
        reader.feed(at, &big[at as usize..at as usize + size], &mut out);
        at += size as u64;
        assert!(reader.held_room() <= 0x4000);
    }
    reader.feed(at, &big[at as usize..], &mut out);
    match out.as_slice() {
        [Record { body, .. }] => {
            assert_eq!(body[..], big[5..]);
            assert_eq!(body.capacity(), body.len());
        }
        other => panic!("{other:?}"),
    }
}

/// A body gathered across segments (its header kept aside) is told whole, at its header's
/// offset; a hole inside it drops it and resynchronises.
#[test]
fn a_body_across_segments_is_told_whole_or_dropped_at_a_hole() {
    let mut big = b"\x16\x03\x03\x10\x00".to_vec();
    big.resize(5 + 0x1000, 7);
    let data = [&big[..], ALERT].concat();
    let mut reader = RecordReader::new(true, None);
    let mut out = Vec::new();
    for (at, chunk) in [(0, &data[..3]), (3, &data[3..1000]), (1000, &data[1000..])] {
        reader.feed(at, chunk, &mut out);
        assert_eq!(
            reader.pending() as u64,
            if at == 1000 {
                0
            } else {
                at + chunk.len() as u64
            }
        );
    }
    assert_eq!(
        out,
        [
            rec(22, 0, &big[5..]),
            rec(21, big.len() as u64, b"\x01\x00")
        ]
    );
    let mut reader = RecordReader::new(true, None);
    let mut out = Vec::new();
    reader.feed(0, &data[..1000], &mut out);
    assert!(!reader.gap(1000, 10));
    reader.feed(1010, &data[1010..], &mut out);
    reader.finish(&mut out);
    assert!(
        matches!(out.as_slice(), [Resynchronised { offset, .. }, Record { content_type: 21, .. }] if *offset == big.len() as u64),
        "{out:?}"
    );
}

#[test]
fn gap_inside_a_skipped_body_costs_nothing() {
    let mut big = b"\x17\x03\x03\x10\x00".to_vec();
    big.resize(5 + 0x1000, 0);
    let mut reader = RecordReader::new(true, None);
    let mut out = Vec::new();
    reader.feed(0, &big[..100], &mut out);
    assert!(reader.gap(100, 1000));
    reader.feed(1100, &[&big[1100..], ALERT].concat(), &mut out);
    assert_eq!(out[1], rec(21, big.len() as u64, b"\x01\x00"));
    assert!(!reader.resynchronising());
}

#[test]
fn gap_elsewhere_resynchronises_on_the_next_header() {
    let mut reader = RecordReader::new(true, None);
    let mut out = Vec::new();
    reader.feed(0, &HANDSHAKE[..7], &mut out);
    assert!(!reader.gap(7, 5));
    assert!(reader.resynchronising());
    let tail = b"\x00\x0e\x00\x00";
    reader.feed(12, &[tail, CCS, ALERT].concat(), &mut out);
    assert_eq!(
        out,
        vec![
            Resynchronised {
                offset: 16,
                skipped: 4,
                head: [CCS, ALERT].concat()[..6].to_vec()
            },
            rec(20, 16, b"\x01"),
            rec(21, 22, b"\x01\x00"),
        ]
    );
}

#[test]
fn bad_header_is_named_then_records_resume() {
    let junk = b"GET / HTTP/1.1\r\n";
    let data = [CCS, junk, ALERT, CCS].concat();
    let events = read(&[&data], true, None).0;
    let BadHeader { offset, message } = &events[1] else {
        panic!("{events:?}")
    };
    assert_eq!(*offset, 6);
    assert_eq!(
        message,
        "found bytes that are not a TLS record header (474554202f); resynchronising"
    );
    assert!(matches!(events[2], Resynchronised { offset: 22, .. }));
    assert_eq!(
        events[3..],
        [rec(21, 22, b"\x01\x00"), rec(20, 29, b"\x01")]
    );
}

#[test]
fn hostile_length_is_refused_not_buffered() {
    let data = [b"\x16\x03\x03\xff\xff".as_slice(), &[0; 100]].concat();
    let events = read(&[&data], false, None).0;
    let BadHeader { message, .. } = &events[0] else {
        panic!("{events:?}")
    };
    assert!(message.contains(&format!(
        "claiming 65535 bytes, more than TLS allows ({MAX_RECORD})"
    )));
}

#[test]
fn an_sslv2_record_is_named() {
    let events = read(&[b"\x80\x2e\x02\x00\x02\x00"], false, None).0;
    let BadHeader { message, .. } = &events[0] else {
        panic!("{events:?}")
    };
    assert_eq!(
        message,
        "found an SSLv2 record, which is not decoded; resynchronising"
    );
}

#[test]
fn resync_window_is_bounded() {
    let mut reader = RecordReader::new(true, Some(0));
    let mut out = Vec::new();
    for i in 0..64 {
        reader.feed(i * 4096, &[0; 4096], &mut out);
    }
    assert!(out.is_empty());
    assert!(reader.pending() <= 4);
}

#[test]
fn detection() {
    let hello = b"\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00";
    assert!(detect::plausible_start(hello, false));
    assert!(!detect::plausible_start(b"\x17\x03\x03\x00\x05\x00", false));
    assert!(detect::plausible_start(b"\x17\x03\x03\x00\x05\x00", true));
    assert!(!detect::plausible_start(b"\x16\x03\x03\x00\x05\x07", false));
    assert!(detect::oversized_start(b"\x16\x03\x03\xff\xff\x01"));
    assert!(!detect::oversized_start(b"\x16\x03\x03\x00\x05\x01"));
    assert_eq!(detect::looks_like(hello, 0), Looks::ClientHello);
    assert_eq!(
        detect::looks_like(b"\x16\x03\x03\x00\x01\x0e", 0),
        Looks::ServerHello
    );
    assert_eq!(detect::looks_like(b"\x16\x03", 0), Looks::Other);
    assert_eq!(
        detect::sslv2_client_hello_length(b"\x80\x2e\x01\x03\x01"),
        Some(0x30)
    );
    assert!(detect::is_sslv2_server_hello(b"\x83\x00\x04"));
    assert_eq!(detect::guess_client_side(51000, 443), 0);
    assert_eq!(detect::guess_client_side(993, 51000), 1);
    assert_eq!(detect::guess_client_side(25, 51000), 1);
    assert_eq!(detect::guess_client_side(51000, 51001), 0);
}

#[test]
fn tls_start_in_plaintext() {
    let prelude = [
        b"220 ready ESMTP\r\n".as_slice(),
        &b"\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00"[..],
    ]
    .concat();
    assert_eq!(
        detect::find_tls_start(&prelude, true),
        Some((17, Looks::ClientHello))
    );
    assert_eq!(detect::find_tls_start(&prelude, false), None);
    assert_eq!(detect::starttls_protocol(&prelude), Some("SMTP STARTTLS"));
    assert_eq!(detect::starttls_protocol(b"hello"), None);
    // A server's alert at the very end of the window: found, and nothing read past it.
    assert_eq!(
        detect::find_tls_start(b"ok\x15\x03\x03\x00\x02", false),
        Some((2, Looks::Other))
    );
}
