//! The body of the cargo-fuzz targets, shared with the corpus replay of `cargo test`
//! (tests/fuzz_corpus.rs), so a crash found by the fuzzer is a failing test from then on.

use crate::capture::{Batch, Problem, Reader, Secrets};

type Outcome = (
    Vec<(i128, u32, Vec<u8>)>,
    Vec<Problem>,
    Vec<Secrets>,
    Option<String>,
);

/// The capture reader on `data`: whole, and split into chunks of a size the input's first
/// byte chooses; then under a small gzip budget. Panics if the two readings differ or a
/// frame breaks a bound (the fuzzer's crash), never otherwise.
pub fn capture(data: &[u8]) {
    let (choice, input) = data.split_first().unwrap_or((&0, &[]));
    let chunk = usize::from(*choice).max(1);
    let split: Vec<&[u8]> = input.chunks(chunk).collect();
    // Where a bomb is stopped follows how much was fed when it was seen (as a pipe would
    // have it): the same split under a budget small enough to be met, for the bounds only.
    read(&split, Reader::new(4, 1 << 16));
    let unbounded = || Reader::new(u64::MAX, u64::MAX);
    let whole = read(&[input], unbounded());
    let pieces = read(&split, unbounded());
    assert_eq!(
        whole, pieces,
        "the same input split in chunks of {chunk} reads differently"
    );
    for (_, _, frame) in &whole.0 {
        assert!(frame.len() <= crate::capture::MAX_PCAPNG_BLOCK as usize);
    }
}

fn read(chunks: &[&[u8]], mut reader: Reader) -> Outcome {
    let mut out: Outcome = (Vec::new(), Vec::new(), Vec::new(), None);
    let mut take = |batch: Batch| {
        for frame in &batch.frames {
            out.0
                .push((frame.ts_ns, frame.linktype, batch.bytes(frame).to_vec()));
            assert_eq!(
                frame.number as usize,
                out.0.len(),
                "frames are numbered in order"
            );
        }
        out.1.extend(batch.problems);
        out.2.extend(batch.secrets);
    };
    for chunk in chunks {
        reader.feed(chunk);
        loop {
            let batch = reader.poll();
            if batch.is_empty() {
                break;
            }
            take(batch);
        }
    }
    reader.finish(None);
    while !reader.done() {
        take(reader.poll());
    }
    out.3 = reader.fatal().map(str::to_owned);
    out
}
