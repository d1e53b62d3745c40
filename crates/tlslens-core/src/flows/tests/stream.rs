//! Reassembly under any segmentation, reordering, duplication and loss.

use super::Rng;
use crate::flows::tcp::{At, GiveUp, HalfStream, StreamEvent, MAX_PENDING_SEGMENTS};

const DATA_LEN: usize = 2048;

fn data() -> Vec<u8> {
    (0..DATA_LEN).map(|i| i as u8).collect()
}

fn segments(isn: u32, sizes: &[usize]) -> Vec<(u32, Vec<u8>)> {
    let data = data();
    let mut out = Vec::new();
    let mut pos = 0;
    for &size in sizes {
        if pos >= data.len() {
            break;
        }
        let end = (pos + size).min(data.len());
        out.push((isn.wrapping_add(1 + pos as u32), data[pos..end].to_vec()));
        pos = end;
    }
    if pos < data.len() {
        out.push((isn.wrapping_add(1 + pos as u32), data[pos..].to_vec()));
    }
    out
}

#[derive(Default, Debug)]
struct Collected {
    data: Vec<u8>,
    gaps: Vec<(u64, u64)>,
    conflicts: Vec<(u64, u64)>,
    late: Vec<(u64, u64)>,
}

fn collect(stream: &mut HalfStream, segs: &[(u32, Vec<u8>)]) -> Collected {
    let mut got = Collected::default();
    let take = |ev: StreamEvent<'_>, got: &mut Collected| match ev {
        StreamEvent::Data { offset, data } => {
            let expect = got.data.len() as u64 + got.gaps.iter().map(|g| g.1).sum::<u64>();
            assert_eq!(offset, expect);
            got.data.extend_from_slice(data);
        }
        StreamEvent::Gap { offset, length, .. } => got.gaps.push((offset, length)),
        StreamEvent::Conflict { offset, length } => got.conflicts.push((offset, length)),
        StreamEvent::Late { offset, length, .. } => got.late.push((offset, length)),
    };
    for (seq, payload) in segs {
        stream.feed(*seq, payload, At::default(), &mut |ev, _| {
            take(ev, &mut got)
        });
    }
    stream.flush(&mut |ev, _| take(ev, &mut got));
    got
}

#[test]
fn in_order_across_sequence_wrap() {
    let isn = 0xFFFF_FF00;
    let mut stream = HalfStream::new(4 << 20);
    stream.syn(isn);
    let got = collect(&mut stream, &segments(isn, &[100; 30]));
    assert_eq!(got.data, data());
    assert!(got.gaps.is_empty());
}

#[test]
fn retransmission_and_overlap() {
    let mut stream = HalfStream::new(4 << 20);
    stream.syn(1000);
    let segs = segments(1000, &[300; 10]);
    let mut noisy = vec![segs[0].clone(), segs[1].clone(), segs[0].clone()];
    noisy.push((
        segs[1].0 + 100,
        [&segs[1].1[100..], &segs[2].1[..50]].concat(),
    ));
    noisy.extend_from_slice(&segs[2..]);
    let got = collect(&mut stream, &noisy);
    assert_eq!(got.data, data());
    assert!(got.gaps.is_empty() && got.conflicts.is_empty());
    assert!(stream.retransmitted_bytes >= 300);
}

#[test]
fn loss_becomes_a_gap_and_mid_stream_pickup() {
    let mut stream = HalfStream::new(4 << 20);
    stream.syn(0);
    let mut segs = segments(0, &[256; 8]);
    segs.remove(3);
    let got = collect(&mut stream, &segs);
    assert_eq!(got.gaps, vec![(768, 256)]);
    assert_eq!(got.data, [&data()[..768], &data()[1024..]].concat());
    let mut stream = HalfStream::new(4 << 20); // no SYN seen
    let got = collect(&mut stream, &segments(12345, &[500; 5])[1..]);
    assert_eq!(got.data, &data()[500..]);
}

#[test]
fn any_segmentation_order_and_duplication_gives_the_same_bytes() {
    let mut rng = Rng(42);
    for _ in 0..2000 {
        let sizes: Vec<usize> = (0..1 + rng.below(30))
            .map(|_| 1 + rng.below(400) as usize)
            .collect();
        let isn = rng.next() as u32;
        let mut segs = segments(isn, &sizes);
        let dups: Vec<_> = segs.iter().filter(|_| rng.below(5) == 0).cloned().collect();
        segs.extend(dups);
        rng.shuffle(&mut segs);
        let mut stream = HalfStream::new(4 << 20);
        stream.syn(isn);
        let got = collect(&mut stream, &segs);
        assert_eq!(got.data, data());
        assert!(got.gaps.is_empty() && got.conflicts.is_empty());
        assert_eq!(stream.pending_bytes(), 0);
    }
}

#[test]
fn any_loss_gives_gaps_that_with_the_data_cover_the_stream() {
    let mut rng = Rng(7);
    for _ in 0..1000 {
        let sizes: Vec<usize> = (0..20).map(|_| 1 + rng.below(200) as usize).collect();
        let isn = rng.next() as u32;
        let mut segs = segments(isn, &sizes);
        let last = segs.pop().expect("segments"); // the end of the stream is known
        segs.retain(|_| rng.below(4) != 0);
        segs.push(last);
        rng.shuffle(&mut segs);
        let mut stream = HalfStream::new(1 + rng.below(2048) as usize);
        stream.syn(isn);
        let got = collect(&mut stream, &segs);
        let lost: u64 = got.gaps.iter().map(|g| g.1).sum();
        assert_eq!(got.data.len() as u64 + lost, DATA_LEN as u64);
    }
}

fn conflicts(segs: &[(u32, &[u8])]) -> Collected {
    let mut stream = HalfStream::new(4 << 20);
    stream.syn(999);
    let owned: Vec<(u32, Vec<u8>)> = segs.iter().map(|(s, p)| (*s, p.to_vec())).collect();
    collect(&mut stream, &owned)
}

#[test]
fn a_retransmission_with_other_bytes_is_a_conflict_and_the_first_copy_is_kept() {
    let got = conflicts(&[(1000, b"hello world"), (1006, b"WORLD!")]);
    assert_eq!(got.data, b"hello world!");
    assert_eq!(got.conflicts, vec![(6, 5)]);
    let got = conflicts(&[(1000, b"hello world"), (1000, b"hello"), (1006, b"world")]);
    assert_eq!(got.data, b"hello world");
    assert!(got.conflicts.is_empty());
}

#[test]
fn conflicting_copies_beyond_a_hole_are_compared() {
    let got = conflicts(&[(1005, b"abcde"), (1005, b"abXde"), (1000, b"01234")]);
    assert_eq!(got.data, b"01234abcde");
    assert_eq!(got.conflicts, vec![(7, 1)]);
    let got = conflicts(&[(1004, b"Zabc"), (1000, b"01234")]);
    assert_eq!(got.data, b"01234abc");
    assert_eq!(got.conflicts, vec![(4, 1)]);
}

#[test]
fn pending_bytes_and_segments_are_bounded() {
    let mut stream = HalfStream::new(1000);
    stream.syn(0);
    let mut gaps = Vec::new();
    for i in 0..100u32 {
        // Every other 100-byte segment is lost: the waiting data passes the bound.
        stream.feed(1 + 200 * i + 100, &[7; 100], At::default(), &mut |ev, _| {
            if let StreamEvent::Gap {
                offset,
                length,
                given_up,
            } = ev
            {
                gaps.push((offset, length, given_up));
            }
        });
        assert!(stream.pending_bytes() <= 1000);
    }
    // Given up at the bound, not lost: the capture may still bring them.
    assert_eq!(gaps.first(), Some(&(0, 100, Some(GiveUp::Bytes))));
    let mut ends = Vec::new();
    stream.flush(&mut |ev, _| {
        if let StreamEvent::Gap { given_up, .. } = ev {
            ends.push(given_up);
        }
    });
    assert!(
        !ends.is_empty() && ends.iter().all(Option::is_none),
        "{ends:?}"
    );
    let mut stream = HalfStream::new(usize::MAX);
    stream.syn(0);
    let mut gap = None;
    for i in 0..=MAX_PENDING_SEGMENTS as u32 + 1 {
        stream.feed(1 + 2 * i + 1, &[1], At::default(), &mut |ev, _| {
            if let StreamEvent::Gap { given_up, .. } = ev {
                gap = gap.or(Some(given_up));
            }
        });
    }
    assert_eq!(
        gap,
        Some(Some(GiveUp::Segments)),
        "more than MAX_PENDING_SEGMENTS waiting gives a hole up"
    );
}

#[test]
fn pending_bytes_stay_within_the_bound_when_small_segments_wait_before_long_ones() {
    // Twenty 1-byte segments wait, each after a hole (20 bytes: under the bound), then
    // 1,000-byte segments come further on: each passed the bound, and one hole was given up
    // for each, freeing one byte while 1,000 came in (20,000 bytes waited for a bound of
    // 1,000). Holes are given up until what waits is within the bound again.
    let mut stream = HalfStream::new(1000);
    stream.syn(0);
    let small: Vec<(u32, Vec<u8>)> = (0..20).map(|i| (1 + 2 * (i + 1), vec![1])).collect();
    let long: Vec<(u32, Vec<u8>)> = (0..20)
        .map(|i| (10_001 + 2000 * i, vec![2; 1000]))
        .collect();
    for (seq, payload) in small.iter().chain(&long) {
        stream.feed(*seq, payload, At::default(), &mut |_, _| {});
        assert!(stream.pending_bytes() <= 1000, "{}", stream.pending_bytes());
    }
}

#[test]
fn bytes_given_up_on_that_come_later_are_told_once() {
    // 100 bytes lost at offset 0; 300 after them pass a bound of 250: the hole is given up.
    let mut stream = HalfStream::new(250);
    stream.syn(0);
    let after: Vec<(u32, Vec<u8>)> = (0..3).map(|i| (101 + 100 * i, vec![2; 100])).collect();
    let got = collect(&mut stream, &after);
    assert_eq!((got.gaps, got.late.len()), (vec![(0, 100)], 0));
    // The lost segment comes after all (in two copies, and an old copy of later bytes).
    let late = [(1, vec![1; 100]), (1, vec![1; 100]), (151, vec![2; 10])];
    let got = collect(&mut stream, &late);
    assert_eq!(got.late, vec![(0, 100)], "told once, where the hole was");
    assert_eq!(got.data, b"", "not read: the stream went on past it");
    // A hole at the flow's end is the capture's: nothing to come late.
    let mut stream = HalfStream::new(usize::MAX);
    stream.syn(0);
    let got = collect(&mut stream, &[(101, vec![2; 100])]);
    assert_eq!(got.gaps, vec![(0, 100)]);
    let got = collect(&mut stream, &[(1, vec![1; 100])]);
    assert!(got.late.is_empty());
}

#[test]
fn of_bytes_given_up_on_only_those_that_come_are_told() {
    // 100 bytes given up at offset 0 (as above); then 40 of them come (offsets 30..70),
    // later the last 30 (70..100): each told as it comes, the first 30 never.
    let mut stream = HalfStream::new(250);
    stream.syn(0);
    let after: Vec<(u32, Vec<u8>)> = (0..3).map(|i| (101 + 100 * i, vec![2; 100])).collect();
    assert_eq!(collect(&mut stream, &after).gaps, vec![(0, 100)]);
    let got = collect(&mut stream, &[(31, vec![1; 40])]);
    assert_eq!(
        got.late,
        vec![(30, 40)],
        "the 40 bytes that came, not the 100"
    );
    let got = collect(&mut stream, &[(71, vec![1; 30]), (51, vec![1; 20])]);
    assert_eq!(
        got.late,
        vec![(70, 30)],
        "the rest as it comes; a copy again is not told"
    );
}

#[test]
fn a_copy_reaching_back_before_the_start_is_late_only_for_its_own_bytes() {
    // The first 100 bytes given up on; a copy from 200 bytes before the direction's start,
    // 250 long, holds only its first 50 bytes: those are told, not the hole's 100.
    let mut stream = HalfStream::new(250);
    stream.syn(0);
    let after: Vec<(u32, Vec<u8>)> = (0..3).map(|i| (101 + 100 * i, vec![2; 100])).collect();
    let got = collect(&mut stream, &after);
    assert_eq!(got.gaps, vec![(0, 100)]);
    let got = collect(&mut stream, &[(1u32.wrapping_sub(200), vec![1; 250])]);
    assert_eq!(got.late, vec![(0, 50)]);
}

#[test]
fn a_copy_of_given_up_bytes_cut_whole_by_the_snap_length_is_not_told_as_come() {
    // The first 100 bytes given up on; a later copy of 50 of them whose payload the snap
    // length cut whole (0 bytes captured, 50 missing): the capture holds none of them.
    let mut stream = HalfStream::new(250);
    stream.syn(0);
    let after: Vec<(u32, Vec<u8>)> = (0..3).map(|i| (101 + 100 * i, vec![2; 100])).collect();
    assert_eq!(collect(&mut stream, &after).gaps, vec![(0, 100)]);
    let mut late = Vec::new();
    stream.feed_cut(51, &[], 50, At::default(), &mut |ev, _| {
        if let StreamEvent::Late { offset, length, .. } = ev {
            late.push((offset, length));
        }
    });
    assert_eq!(late, vec![], "nothing of the hole came");
    // The whole of the hole then comes, and is told whole.
    let got = collect(&mut stream, &[(1, vec![1; 100])]);
    assert_eq!(got.late, vec![(0, 100)]);
}

#[test]
fn a_hostile_retransmission_before_the_start_is_trimmed() {
    let mut stream = HalfStream::new(4 << 20);
    stream.syn(100);
    let got = collect(
        &mut stream,
        &[
            (101, b"abc".to_vec()),
            (50, vec![9; 60]),
            (0x8000_0000, b"far".to_vec()),
        ],
    );
    assert_eq!(&got.data[..3], b"abc");
}
