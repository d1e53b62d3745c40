//! The body of the cargo-fuzz targets, shared with the corpus replay of `cargo test`
//! (tests/fuzz_corpus.rs), so a crash found by the fuzzer is a failing test from then on.

use crate::capture::{Batch, Format, Problem, Reader, Secrets, MAX_PCAPNG_BLOCK};

/// Everything a reader gave for one input, in order.
#[derive(Debug, PartialEq)]
pub struct Reading {
    pub frames: Vec<(i128, u32, Vec<u8>)>,
    pub problems: Vec<Problem>,
    pub secrets: Vec<Secrets>,
    pub fatal: Option<String>,
    pub format: Format,
    pub linktypes: Vec<u32>,
}

/// The capture reader on `data`: whole, and split into chunks of a size the input's first
/// byte chooses; then under a small gzip budget. Panics if the two readings differ or a
/// frame breaks a bound (the fuzzer's crash), never otherwise.
pub fn capture(data: &[u8]) {
    let (choice, input) = data.split_first().unwrap_or((&0, &[]));
    let chunk = usize::from(*choice).max(1);
    let split: Vec<&[u8]> = input.chunks(chunk).collect();
    // Where a bomb is stopped follows how much was fed when it was seen (as a pipe would
    // have it): the same split under a budget small enough to be met, for the bounds only.
    read_all(split.iter().copied(), &mut Reader::new(4, 1 << 16));
    let unbounded = || Reader::new(u64::MAX, u64::MAX);
    let whole = read_all([input], &mut unbounded());
    let pieces = read_all(split.iter().copied(), &mut unbounded());
    assert_eq!(
        whole, pieces,
        "the same input split in chunks of {chunk} reads differently"
    );
    for (_, _, frame) in &whole.frames {
        assert!(frame.len() <= MAX_PCAPNG_BLOCK as usize);
    }
}

/// Feed `chunks` one after the other, polling after each, then finish and poll to the end.
pub fn read_all<'a>(chunks: impl IntoIterator<Item = &'a [u8]>, reader: &mut Reader) -> Reading {
    let mut frames = Vec::new();
    let mut problems = Vec::new();
    let mut secrets = Vec::new();
    let mut take = |batch: Batch| {
        for frame in &batch.frames {
            frames.push((frame.ts_ns, frame.linktype, batch.bytes(frame).to_vec()));
            assert_eq!(
                frame.number as usize,
                frames.len(),
                "frames are numbered in order"
            );
        }
        problems.extend(batch.problems);
        secrets.extend(batch.secrets);
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
    Reading {
        frames,
        problems,
        secrets,
        fatal: reader.fatal().map(str::to_owned),
        format: reader.format(),
        linktypes: reader.linktypes().iter().copied().collect(),
    }
}
