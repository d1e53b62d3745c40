//! The body of the `records` cargo-fuzz target, shared with the corpus replay of
//! `cargo test`: the record layer and the detection functions on hostile bytes.

use super::detect;
use super::{RecordEvent, RecordReader, MAX_RECORD, RESYNC_WINDOW};

/// Every event of one direction fed in `chunks` (with a hole of `hole` bytes before the
/// chunk at index `hole_at`, when given), then finished.
pub fn read(
    chunks: &[&[u8]],
    skip: bool,
    hole: Option<(usize, u64)>,
) -> (Vec<RecordEvent>, u64, u64) {
    let mut reader = RecordReader::new(skip, None);
    let mut out = Vec::new();
    let mut offset = 0u64;
    for (index, chunk) in chunks.iter().enumerate() {
        if let Some((at, length)) = hole {
            if at == index {
                reader.gap(offset, length);
                offset += length;
            }
        }
        reader.feed(offset, chunk, &mut out);
        assert!(
            reader.pending() <= RESYNC_WINDOW + MAX_RECORD + chunk.len(),
            "the record layer holds {} bytes",
            reader.pending()
        );
        offset += chunk.len() as u64;
    }
    reader.finish(&mut out);
    (out, reader.bytes, reader.records)
}

/// Events in stream order, every record inside the stream.
fn in_order(events: &[RecordEvent], len: usize) {
    let mut last = 0u64;
    for event in events {
        let (offset, end) = match event {
            RecordEvent::Record { offset, body, .. } => (*offset, *offset + 5 + body.len() as u64),
            RecordEvent::Skipped { offset, .. } => (*offset, *offset + 5),
            RecordEvent::BadHeader { offset, .. }
            | RecordEvent::Resynchronised { offset, .. }
            | RecordEvent::Truncated { offset, .. } => (*offset, *offset),
        };
        assert!(
            offset >= last && end <= len as u64,
            "{event:?} out of order"
        );
        last = offset;
    }
}

/// The events and the record count, a resynchronisation's `skipped` left out: it counts
/// the bytes passed over in the last search window, so it follows where the stream was
/// split (so does `bytes`, which counts again what a bad header's chunk left to the window).
pub fn framed(reading: (Vec<RecordEvent>, u64, u64)) -> (Vec<RecordEvent>, u64) {
    let events = reading.0.into_iter().map(|event| match event {
        RecordEvent::Resynchronised { offset, head, .. } => RecordEvent::Resynchronised {
            offset,
            skipped: 0,
            head,
        },
        other => other,
    });
    (events.collect(), reading.2)
}

/// The input's first byte chooses a chunk size and whether application data is skipped;
/// the rest is one direction's stream. Panics if a split reads differently from the whole
/// (the fuzzer's crash), never otherwise.
pub fn records(data: &[u8]) {
    let (choice, input) = data.split_first().unwrap_or((&0, &[]));
    let skip = choice & 1 == 1;
    let chunk = usize::from(choice >> 1).max(1);
    let split: Vec<&[u8]> = input.chunks(chunk).collect();
    let whole = read(&[input], skip, None);
    let pieces = read(&split, skip, None);
    // Where a resynchronisation lands may follow the split: a header whose record ends
    // exactly where the bytes so far end is taken (as the Python reader had it). Without
    // one, any split reads the same.
    let resynced = |events: &[RecordEvent]| {
        events
            .iter()
            .any(|e| matches!(e, RecordEvent::Resynchronised { .. }))
    };
    if !resynced(&whole.0) && !resynced(&pieces.0) {
        assert_eq!(
            framed(whole),
            framed(pieces),
            "split in chunks of {chunk} reads differently"
        );
    } else {
        for reading in [whole, pieces] {
            in_order(&reading.0, input.len());
        }
    }
    if split.len() > 1 {
        read(&split, skip, Some((1, u64::from(*choice))));
    }
    for at in 0..input.len().min(64) {
        let rest = input.get(at..).unwrap_or_default();
        detect::looks_like(input, at);
        detect::plausible_start(rest, at & 1 == 1);
        detect::oversized_start(rest);
        detect::sslv2_client_hello_length(rest);
        detect::is_sslv2_server_hello(rest);
    }
    for from_client in [false, true] {
        if let Some((at, _)) = detect::find_tls_start(input, from_client) {
            assert!(at < input.len());
        }
    }
    detect::starttls_protocol(input);
}

/// The `session` target: the input's first byte chooses a chunk size, whether the client is
/// known and whether the capture began mid-stream; the rest is cut in chunks that go to side
/// 0 and side 1 in turn (a chunk whose first byte is 0xff is a hole instead, one whose first
/// byte is 0xfe a conflict). Panics if an event lies outside what its side was given or a
/// side ends with more records than bytes, never otherwise.
pub fn session(data: &[u8]) {
    use super::{Session, SessionEvent};
    let (choice, input) = data.split_first().unwrap_or((&0, &[]));
    let chunk = usize::from(choice >> 3).max(1);
    let client_side = (choice & 1 == 1).then_some((choice >> 1) & 1);
    let mut session = Session::new(client_side, choice & 4 == 4, [443, 50000], choice & 2 == 2);
    let mut offsets = [0u64; 2];
    let mut out = Vec::new();
    for (index, piece) in input.chunks(chunk).enumerate() {
        let side = u8::from(index % 2 == 1);
        let at = offsets[usize::from(side)];
        match piece.first() {
            Some(0xff) => session.gap(side, (at, piece.len() as u64), None, &mut out),
            Some(0xfe) => session.conflict(side, at, piece.len() as u64, &mut out),
            _ => session.data(side, at, piece, &mut out),
        }
        offsets[usize::from(side)] += piece.len() as u64;
        if index % 7 == 6 {
            session.may_give_up(side);
        }
    }
    session.finish(&mut out);
    for event in &out {
        let (side, offset) = match event {
            SessionEvent::Prelude { side, offset, .. }
            | SessionEvent::Sslv2ClientHello { side, offset, .. }
            | SessionEvent::Sslv2Record { side, offset, .. }
            | SessionEvent::PlaintextAnswer { side, offset, .. } => (*side, *offset),
            SessionEvent::End { bytes, records, .. } => {
                assert!(records <= bytes, "{event:?}: more records than bytes");
                continue;
            }
            _ => continue,
        };
        assert!(
            offset <= offsets[usize::from(side)],
            "{event:?} past the {} bytes of side {side}",
            offsets[usize::from(side)]
        );
    }
}
