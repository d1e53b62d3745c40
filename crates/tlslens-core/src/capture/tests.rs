//! The capture walk on every format and every finding, hostile lengths, and the chunking
//! property: however the input is split into `feed` calls, the same frames come out.

use std::io::Write;

use super::*;
use crate::capture::pcapng::MAX_INTERFACES;

use crate::fuzzing::{read_all as read_chunks, Reading as Read};

type Frames = Vec<(i128, u32, Vec<u8>)>;

fn read(data: &[u8]) -> Read {
    read_chunks([data], &mut Reader::default())
}

fn messages(read: &Read) -> Vec<&str> {
    read.problems.iter().map(|p| p.message.as_str()).collect()
}

// -- writers, after pcap-savefile(5) and the pcapng draft -------------------------------

fn pcap(magic: [u8; 4], big: bool, linktype: u32, records: &[(u32, u32, &[u8])]) -> Vec<u8> {
    let w32 = |v: u32| {
        if big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let w16 = |v: u16| {
        if big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let mut out = magic.to_vec();
    out.extend(w16(2));
    out.extend(w16(4));
    out.extend([0; 8]);
    out.extend(w32(65535));
    out.extend(w32(linktype));
    for (sec, frac, data) in records {
        out.extend(w32(*sec));
        out.extend(w32(*frac));
        out.extend(w32(data.len() as u32));
        out.extend(w32(data.len() as u32));
        out.extend(*data);
    }
    out
}

const PCAP_US_LE: [u8; 4] = [0xd4, 0xc3, 0xb2, 0xa1];
const PCAP_US_BE: [u8; 4] = [0xa1, 0xb2, 0xc3, 0xd4];
const PCAP_NS_LE: [u8; 4] = [0x4d, 0x3c, 0xb2, 0xa1];
const PCAP_NS_BE: [u8; 4] = [0xa1, 0xb2, 0x3c, 0x4d];

struct Ng {
    big: bool,
    out: Vec<u8>,
}

impl Ng {
    fn new(big: bool) -> Self {
        let mut ng = Ng {
            big,
            out: Vec::new(),
        };
        ng.section();
        ng
    }
    fn w32(&self, v: u32) -> [u8; 4] {
        if self.big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }
    fn w16(&self, v: u16) -> [u8; 2] {
        if self.big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }
    fn block(&mut self, btype: u32, body: &[u8]) -> &mut Self {
        let mut body = body.to_vec();
        while body.len() % 4 != 0 {
            body.push(0);
        }
        let len = body.len() as u32 + 12;
        let (t, l) = (self.w32(btype), self.w32(len));
        self.out.extend(t);
        self.out.extend(l);
        self.out.extend(body);
        self.out.extend(l);
        self
    }
    fn section(&mut self) -> &mut Self {
        let mut body = self.w32(0x1A2B_3C4D).to_vec();
        body.extend(self.w16(1));
        body.extend(self.w16(0));
        body.extend([0xff; 8]);
        self.block(0x0A0D_0D0A, &body)
    }
    fn interface(&mut self, linktype: u16, snaplen: u32, options: &[(u16, &[u8])]) -> &mut Self {
        let mut body = self.w16(linktype).to_vec();
        body.extend([0, 0]);
        body.extend(self.w32(snaplen));
        for (code, value) in options {
            body.extend(self.w16(*code));
            body.extend(self.w16(value.len() as u16));
            body.extend(*value);
            while body.len() % 4 != 0 {
                body.push(0);
            }
        }
        self.block(1, &body)
    }
    fn epb(&mut self, iface: u32, ts: u64, data: &[u8]) -> &mut Self {
        let mut body = self.w32(iface).to_vec();
        body.extend(self.w32((ts >> 32) as u32));
        body.extend(self.w32(ts as u32));
        body.extend(self.w32(data.len() as u32));
        body.extend(self.w32(data.len() as u32));
        body.extend(data);
        self.block(6, &body)
    }
    fn opb(&mut self, iface: u16, ts: u64, data: &[u8]) -> &mut Self {
        let mut body = self.w16(iface).to_vec();
        body.extend(self.w16(0));
        body.extend(self.w32((ts >> 32) as u32));
        body.extend(self.w32(ts as u32));
        body.extend(self.w32(data.len() as u32));
        body.extend(self.w32(data.len() as u32));
        body.extend(data);
        self.block(2, &body)
    }
    fn spb(&mut self, data: &[u8]) -> &mut Self {
        let mut body = self.w32(data.len() as u32).to_vec();
        body.extend(data);
        self.block(3, &body)
    }
    fn dsb(&mut self, stype: u32, data: &[u8]) -> &mut Self {
        let mut body = self.w32(stype).to_vec();
        body.extend(self.w32(data.len() as u32));
        body.extend(data);
        self.block(0xA, &body)
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

fn sample_pcapng() -> Vec<u8> {
    let mut ng = Ng::new(false);
    ng.interface(1, 0, &[(9, &[9])])
        .epb(0, 1_700_000_000_123_456_789, b"first frame")
        .dsb(0x544c_534b, b"CLIENT_RANDOM 00 11\n")
        .block(0xBAD, b"custom")
        .epb(0, 1_700_000_001_000_000_000, &[7; 300]);
    ng.out
}

// -- formats ------------------------------------------------------------------------------

#[test]
fn pcap_every_magic_reads_the_same_frames() {
    let records: [(u32, u32, &[u8]); 2] = [(1_700_000_000, 250, b"abc"), (1_700_000_001, 7, b"")];
    for (magic, big, tick) in [
        (PCAP_US_LE, false, 1000),
        (PCAP_US_BE, true, 1000),
        (PCAP_NS_LE, false, 1),
        (PCAP_NS_BE, true, 1),
    ] {
        let got = read(&pcap(magic, big, 0x1000_0001, &records));
        assert_eq!(got.format, Format::Pcap);
        assert!(got.problems.is_empty(), "{:?}", got.problems);
        assert_eq!(got.linktypes, vec![1], "FCS bits are masked off");
        let expected: Frames = records
            .iter()
            .map(|(s, f, d)| {
                (
                    i128::from(*s) * 1_000_000_000 + i128::from(*f) * tick,
                    1,
                    d.to_vec(),
                )
            })
            .collect();
        assert_eq!(got.frames, expected);
    }
}

#[test]
fn pcapng_either_byte_order() {
    for big in [false, true] {
        let mut ng = Ng::new(big);
        ng.interface(1, 0, &[])
            .interface(101, 0, &[])
            .epb(1, 5_000_000, b"ip")
            .opb(0, 7, b"eth");
        let got = read(&ng.out);
        assert_eq!(got.format, Format::Pcapng);
        assert!(got.problems.is_empty(), "{:?}", got.problems);
        assert_eq!(got.linktypes, vec![1, 101]);
        // The default resolution is microseconds.
        assert_eq!(
            got.frames,
            vec![
                (5_000_000_000, 101, b"ip".to_vec()),
                (7_000, 1, b"eth".to_vec())
            ]
        );
    }
}

#[test]
fn pcapng_interfaces_and_link_types_are_bounded() {
    // A file of IDBs alone would otherwise grow the table with its own size.
    let mut ng = Ng::new(false);
    for n in 0..MAX_INTERFACES + 10 {
        ng.interface(u16::try_from(n % 1000).unwrap_or(0) + 1000, 0, &[]);
    }
    ng.epb(0, 1, b"first")
        .epb(MAX_INTERFACES as u32, 2, b"past the bound");
    let got = read(&ng.out);
    let told = messages(&got);
    assert_eq!(
        told.iter()
            .filter(|m| m.starts_with("more than 4096 interface"))
            .count(),
        1,
        "{told:?}"
    );
    assert!(told.contains(&"packet block names interface 4096, which was not described"));
    assert_eq!(got.frames.len(), 1);
    assert_eq!(got.linktypes.len(), MAX_LINKTYPES);
}

#[test]
fn pcapng_tsresol_and_tsoffset() {
    let cases: [(u8, u64, i128); 4] = [
        (6, 1_500_000, 1_500_000_000),
        (9, 1_500_000_123, 1_500_000_123),
        (3, 1_500, 1_500_000_000),
        (0x80 | 20, 1 << 20, 1_000_000_000),
    ];
    for (res, ticks, ns) in cases {
        let mut ng = Ng::new(false);
        ng.interface(1, 0, &[(9, &[res]), (14, &10i64.to_le_bytes())])
            .epb(0, ticks, b"x");
        let got = read(&ng.out);
        assert_eq!(got.frames[0].0, ns + 10_000_000_000, "tsresol {res:#x}");
    }
    // A resolution of 10^-127 s: every tick is less than a nanosecond, no overflow.
    let mut ng = Ng::new(true);
    ng.interface(1, 0, &[(9, &[127])]).epb(0, u64::MAX, b"x");
    assert_eq!(read(&ng.out).frames[0].0, 0);
    // Seconds as ticks: past 64 bits of nanoseconds.
    let mut ng = Ng::new(false);
    ng.interface(1, 0, &[(9, &[0])]).epb(0, u64::MAX, b"x");
    assert_eq!(
        read(&ng.out).frames[0].0,
        i128::from(u64::MAX) * 1_000_000_000
    );
}

#[test]
fn pcapng_spb_dsb_unknown_blocks_and_sections() {
    let mut ng = Ng::new(false);
    ng.interface(1, 4, &[])
        .spb(b"abcdefgh")
        .dsb(0x544c_534b, b"keys")
        .block(0xBAD, b"?");
    ng.block(5, &[0; 12])
        .section()
        .interface(101, 0, &[])
        .spb(b"ip");
    let got = read(&ng.out);
    assert!(got.problems.is_empty(), "{:?}", got.problems);
    // SPBs carry no timestamp and are cut to the interface's snap length.
    assert_eq!(
        got.frames,
        vec![(0, 1, b"abcd".to_vec()), (0, 101, b"ip".to_vec())]
    );
    assert_eq!(
        got.secrets,
        vec![Secrets {
            secrets_type: 0x544c_534b,
            data: b"keys".to_vec()
        }]
    );
}

#[test]
fn gzip_is_transparent_member_after_member() {
    let plain = sample_pcapng();
    let (head, tail) = plain.split_at(100);
    let mut two = gzip(head);
    two.extend(gzip(tail));
    for data in [gzip(&plain), two] {
        let mut got = read(&data);
        let mut want = read(&plain);
        assert_eq!(got.frames.len(), 2);
        assert!(got.problems.is_empty(), "{:?}", got.problems);
        got.problems.clear();
        want.problems.clear();
        assert_eq!(got, want);
    }
}

// -- findings ------------------------------------------------------------------------------

#[test]
fn not_a_capture() {
    assert_eq!(read(b"").fatal.as_deref(), Some("the file is empty"));
    assert_eq!(
        read(b"\xd4\xc3").fatal.as_deref(),
        Some("too short to be a capture")
    );
    assert_eq!(
        read(&gzip(b"")).fatal.as_deref(),
        Some("a gzip stream that holds nothing (0 bytes once decompressed)")
    );
    let got = read(b"GET / HTTP/1.1\r\n");
    assert_eq!(
        got.fatal.as_deref(),
        Some("not a pcap or pcapng file (starts with 47455420)")
    );
    assert_eq!(got.format, Format::Unknown);
}

#[test]
fn pcap_findings() {
    let whole = pcap(
        PCAP_US_LE,
        false,
        1,
        &[(1, 2, b"0123456789"), (3, 4, b"abcdef")],
    );
    assert_eq!(
        messages(&read(&whole[..20])),
        vec!["pcap file header is cut short"]
    );
    let got = read(&whole[..24 + 16 + 10 + 5]);
    assert_eq!(
        messages(&got),
        vec!["capture ends inside a packet record header (5 of 16 bytes)"]
    );
    assert_eq!(
        got.problems[0],
        Problem {
            offset: 50,
            message: got.problems[0].message.clone(),
            frame: Some(2)
        }
    );
    let got = read(&whole[..whole.len() - 2]);
    assert_eq!(got.frames.len(), 1);
    assert_eq!(
        messages(&got),
        vec!["capture cut in the middle of a packet: record needs 6 bytes, 4 present"]
    );
    let mut huge = whole.clone();
    huge[32..36].copy_from_slice(&0x7FFF_FFFFu32.to_le_bytes());
    let got = read(&huge);
    assert!(got.frames.is_empty());
    assert_eq!(
        messages(&got),
        vec!["packet record claims 2147483647 bytes (corrupt header); reading stops"]
    );
}

#[test]
fn pcapng_findings() {
    let good = sample_pcapng();
    // The SHB is 28 bytes, the IDB 28: the first EPB starts at 56.
    let got = read(&good[..68]);
    assert_eq!(
        messages(&got),
        vec![
            "capture cut in the middle of an Enhanced Packet Block (block type 0x6): needs 44 \
             bytes, 12 present"
        ]
    );
    assert_eq!(
        messages(&read(&good[..60])),
        vec!["capture ends inside a block header"]
    );
    let mut bom = good.clone();
    bom[8] = 0;
    assert_eq!(
        messages(&read(&bom)),
        vec!["section header block with an unknown byte-order magic"]
    );

    let mut ng = Ng::new(false);
    ng.epb(0, 0, b"x")
        .spb(b"y")
        .interface(1, 0, &[])
        .epb(3, 0, b"z");
    ng.dsb(1, b"");
    let n = ng.out.len();
    ng.out[n - 8..n - 4].copy_from_slice(&99u32.to_le_bytes()); // the DSB's secrets length
    let got = read(&ng.out);
    assert_eq!(
        messages(&got),
        vec![
            "packet block names interface 0, which was not described",
            "simple packet block before any interface description",
            "packet block names interface 3, which was not described",
            "decryption secrets block claims more bytes than it holds",
        ]
    );
    // Told at the end of the block, where reading goes on.
    assert_eq!(got.problems[0].offset, 28 + 36);

    let mut claims = Ng::new(false);
    claims.interface(1, 0, &[]).epb(0, 0, b"data");
    let n = claims.out.len();
    claims.out[n - 4 - 8 - 4..n - 8 - 4].copy_from_slice(&200u32.to_le_bytes()); // caplen
    assert_eq!(
        messages(&read(&claims.out)),
        vec!["packet block claims 200 bytes, its block holds fewer"]
    );
}

#[test]
fn a_corrupt_block_is_skipped_and_reading_resumes() {
    let good = sample_pcapng();
    let mut bad = good.clone();
    bad[60..64].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes()); // the first EPB's length
    let got = read(&bad);
    assert_eq!(
        messages(&got),
        vec![
            "corrupt pcapng block (type 0x6, length 4294967280)",
            "skipped 44 corrupt bytes; reading resumes here",
        ]
    );
    assert_eq!(got.frames.len(), 1);
    assert_eq!(got.secrets.len(), 1);
    let mut trailing = good.clone();
    trailing[56 + 40..56 + 44].copy_from_slice(&48u32.to_le_bytes());
    let got = read(&trailing);
    assert_eq!(
        messages(&got)[0],
        "corrupt pcapng block (type 0x6): trailing length differs"
    );
    assert_eq!(got.frames.len(), 1);
}

#[test]
fn a_cut_decryption_secrets_block_names_itself_and_keeps_the_frames_before() {
    let mut before = Ng::new(false);
    before
        .interface(1, 0, &[(9, &[9])])
        .epb(0, 1_700_000_000_123_456_789, b"first frame");
    let dsb_at = before.out.len();
    let got = read(&sample_pcapng()[..dsb_at + 20]);
    assert_eq!(got.frames.len(), 1);
    assert_eq!(
        got.problems,
        vec![Problem {
            offset: dsb_at as u64,
            message: "capture cut in the middle of a Decryption Secrets Block (block type 0xa): \
                      needs 40 bytes, 20 present"
                .to_owned(),
            // No frame is to blame: the block holds a key log, not a packet.
            frame: None,
        }]
    );
    assert!(got.secrets.is_empty());
}

#[test]
fn memory_does_not_follow_a_length_field() {
    // An EPB declaring 16 MB in a 40-byte file: one problem, nothing allocated for it.
    let mut data = Ng::new(false).out;
    data.extend([6, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]);
    let mut reader = Reader::default();
    let got = read_chunks([data.as_slice()], &mut reader);
    assert!(got.frames.is_empty());
    assert_eq!(
        messages(&got),
        vec![
            "capture cut in the middle of an Enhanced Packet Block (block type 0x6): needs \
             16777216 bytes, 12 present"
        ]
    );
    assert!(reader.buf.capacity() < 4096, "{}", reader.buf.capacity());
}

// -- the chunking property -----------------------------------------------------------------

/// A small deterministic generator (xorshift): the same splits on every run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

fn split<'a>(data: &'a [u8], rng: &mut Rng, max: usize) -> Vec<&'a [u8]> {
    let mut chunks = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let (chunk, tail) = rest.split_at(rng.below(max).max(1).min(rest.len()));
        chunks.push(chunk);
        rest = tail;
    }
    chunks
}

#[test]
fn any_split_of_the_input_gives_the_same_frames() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let good = sample_pcapng();
    let mut corrupt = good.clone();
    corrupt[60..64].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    let mut inputs = vec![
        good.clone(),
        corrupt.clone(),
        good[..good.len() - 3].to_vec(),
        pcap(
            PCAP_NS_BE,
            true,
            1,
            &[(1, 2, b"one"), (3, 4, &[9; 1000]), (5, 6, b"")],
        ),
        gzip(&good),
        gzip(&corrupt),
    ];
    for _ in 0..20 {
        let mut mutated = good.clone();
        let at = rng.below(mutated.len());
        mutated[at] = rng.below(256) as u8;
        inputs.push(mutated);
    }
    for input in &inputs {
        let whole = read(input);
        for max in [1, 2, 3, 7, 64, 1000] {
            let got = read_chunks(split(input, &mut rng, max), &mut Reader::default());
            assert_eq!(got, whole, "split at most {max}");
        }
    }
}

// gzip'd captures, beside these for the size of a file.
#[path = "tests_gzip.rs"]
mod tests_gzip;
