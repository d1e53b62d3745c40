//! gzip'd captures: damaged, cut short, a bomb, and the same reading however the
//! compressed bytes arrive.

use super::*;

#[test]
fn gzip_damaged_cut_short_and_bomb() {
    let plain = sample_pcapng();
    let packed = gzip(&plain);
    let got = read(&packed[..packed.len() - 12]);
    assert!(messages(&got)
        .iter()
        .any(|m| m.starts_with("compressed data is damaged or cut short")));
    let mut damaged = packed.clone();
    damaged[20] ^= 0xff;
    let got = read(&damaged);
    // Damaged before any byte came out: the one line that says the file cannot be read.
    let fatal = got.fatal.clone().unwrap_or_default();
    assert!(
        fatal.starts_with("a gzip stream that cannot be read past compressed byte ")
            && fatal.contains(": compressed data is damaged"),
        "{got:?}"
    );

    // 100 MB of records of zeros: stopped at the floor, not read to the end.
    let mut bomb = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    bomb.write_all(&pcap(PCAP_US_LE, false, 1, &[])).unwrap();
    for _ in 0..100 {
        bomb.write_all(&[0; 1 << 20]).unwrap();
    }
    let bomb = bomb.finish().unwrap();
    let mut reader = Reader::new(50, 1 << 20);
    let got = read_chunks(bomb.chunks(4096), &mut reader);
    assert!(
        got.frames.len() <= (1 << 20) / 16 + 1,
        "{}",
        got.frames.len()
    );
    let found = messages(&got)
        .into_iter()
        .find(|m| m.contains("decompression bomb"));
    let last = found.unwrap_or_default();
    assert!(
        last.starts_with("the gzip stream expands more than 50 times ("),
        "{last}"
    );
    assert!(last.ends_with("reading stopped there, as a decompression bomb would need"));
}

#[test]
fn thousands_are_grouped_as_python_does() {
    assert_eq!(gzip::thousands(0), "0");
    assert_eq!(gzip::thousands(999), "999");
    assert_eq!(gzip::thousands(1000), "1,000");
    assert_eq!(gzip::thousands(33_554_432), "33,554,432");
}

/// `data` as a non-final stored deflate block (its bytes as they are), then a block of the
/// reserved type 3: the decoder has all of `data` in hand when it meets the damage.
fn stored_then_damaged(data: &[u8]) -> Vec<u8> {
    let len = u16::try_from(data.len()).unwrap();
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    out.push(0); // BFINAL 0, BTYPE 00 (stored), padded to the byte
    out.extend(len.to_le_bytes());
    out.extend((!len).to_le_bytes());
    out.extend(data);
    out.push(0b111); // BFINAL 1, BTYPE 11: reserved, no decoder reads past it
    out.extend([0; 8]);
    out
}

#[test]
fn a_damaged_stream_keeps_all_it_decoded_however_it_arrives() {
    // Fed whole, one step decodes the block and meets the damage: the bytes it decoded
    // must reach the walk as when they come 64 at a time (once only the first 4 did).
    let plain = sample_pcapng();
    let packed = stored_then_damaged(&plain);
    let clean = read(&plain);
    assert!(clean.problems.is_empty(), "{:?}", clean.problems);
    let whole = read(&packed);
    assert_eq!(whole.frames, clean.frames);
    assert_eq!(whole.secrets, clean.secrets);
    assert_eq!(
        whole.problems,
        vec![Problem {
            offset: plain.len() as u64,
            message: "compressed data is damaged or cut short (deflate decompression error)"
                .to_owned(),
            frame: Some(3),
        }]
    );
    for chunk in [1, 7, 64, 4096] {
        let split = read_chunks(packed.chunks(chunk), &mut Reader::default());
        assert_eq!(split, whole, "in chunks of {chunk}");
    }
}

#[test]
fn a_gzip_stream_that_gives_no_capture_is_said_to_be_one() {
    // Cut inside its first deflate block: nothing came out (it was "the file is empty").
    let packed = gzip(&sample_pcapng());
    let got = read(&packed[..30]);
    assert_eq!(
        got.fatal.as_deref(),
        Some(
            "a gzip stream that cannot be read past compressed byte 30, before any decompressed byte: \
             compressed data is damaged or cut short (Compressed file ended before the \
             end-of-stream marker was reached)"
        )
    );
    assert!(got.problems.is_empty(), "{:?}", got.problems);
    // Cut inside its header (a file name that does not end): at the file's end too.
    let mut named = vec![0x1f, 0x8b, 8, 0x08, 0, 0, 0, 0, 0, 0xff];
    named.extend(b"capture.pcapng");
    let fatal = read(&named).fatal.unwrap_or_default();
    assert!(
        fatal.starts_with("a gzip stream that cannot be read past compressed byte 24, before any"),
        "{fatal}"
    );
    // A reserved block type at once: damaged where the decoder met it.
    let got = read(&stored_then_damaged(b""));
    let fatal = got.fatal.unwrap_or_default();
    assert!(
        fatal.starts_with("a gzip stream that cannot be read past compressed byte 1"),
        "{fatal}"
    );
    assert!(
        fatal.ends_with(
            "before any decompressed byte: compressed data is damaged or cut short (deflate \
             decompression error)"
        ),
        "{fatal}"
    );
    // What a sound stream holds is not a capture: its decompressed bytes are named so.
    let got = read(&gzip(b"hello, this is no capture"));
    assert_eq!(
        got.fatal.as_deref(),
        Some(
            "a gzip stream whose decompressed content is not a pcap or pcapng capture (it \
             starts with 68656c6c)"
        )
    );
    assert_eq!(
        read(&gzip(b"ab")).fatal.as_deref(),
        Some("a gzip stream whose decompressed content (2 bytes) is too short to be a capture")
    );
}
