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

/// Every cipher token the core opens records of, for `protection` to choose from.
const CIPHERS: [(&str, &str); 16] = [
    ("AES_128_GCM", ""),
    ("AES_256_GCM", ""),
    ("AES_128_CCM", ""),
    ("AES_256_CCM_8", ""),
    ("CHACHA20_POLY1305", ""),
    ("AES_128_CBC", "SHA"),
    ("AES_256_CBC", "SHA384"),
    ("CAMELLIA_128_CBC", "SHA"),
    ("3DES_EDE_CBC", "SHA"),
    ("DES_CBC", "SHA"),
    ("DES40_CBC", "SHA"),
    ("IDEA_CBC", "SHA"),
    ("RC2_CBC_40", "MD5"),
    ("RC4_128", "MD5"),
    ("RC4_40", "MD5"),
    ("NULL", "SHA256"),
];

/// Random suites, versions, keys and records through record protection, and random secrets
/// through the key schedules: an error or a plaintext, never a panic.
pub fn protection(data: &[u8]) {
    use crate::keys::{hkdf, prf, HashAlg};
    use crate::protection::{cipher_spec, RecordProtection};
    let [choice, version, flags, rest @ ..] = data else {
        return;
    };
    let (cipher, mac) = CIPHERS[usize::from(*choice) % CIPHERS.len()];
    let version = [0x0300, 0x0301, 0x0302, 0x0303, 0x0304][usize::from(*version) % 5];
    let tls13 = version == 0x0304;
    let Ok(spec) = cipher_spec("fuzz", cipher, mac, tls13, version) else {
        return;
    };
    // The lengths the connection's key derivation hands over (the core's decrypt/ module).
    let key_len = if spec.export_key_len > 0 {
        spec.export_key_len
    } else {
        spec.key_len
    };
    let iv_len = match (tls13, spec.export_key_len > 0) {
        (true, _) => 12,
        (false, true) => spec.block_size,
        (false, false) => spec.iv_len,
    };
    let mut rest = rest;
    let mut take = |n: usize| {
        let (head, tail) = rest.split_at(n.min(rest.len()));
        rest = tail;
        let mut out = head.to_vec();
        out.resize(n, 0);
        out
    };
    let (key, iv, mac_key) = (take(key_len), take(iv_len), take(spec.mac_len));
    let etm = flags & 1 == 1;
    let Ok(mut protection) =
        RecordProtection::new(spec, version, &key, &iv, &mac_key, (etm, tls13), None)
    else {
        return;
    };
    for record in rest.chunks(64 + usize::from(*flags)) {
        let _ = protection.open(23, 0x0303, record);
    }
    let alg = [HashAlg::Sha256, HashAlg::Sha384, HashAlg::Md5][usize::from(*flags >> 6) % 3];
    let _ = prf::finished_verify_data(version, alg, &key, b"client finished", rest);
    let _ = hkdf::traffic_keys(alg, &key, usize::from(*flags), 12);
}
