//! The key schedules against published vectors, as tests/test_keys.py checks them through
//! Python: Botan's TLS 1.0-1.2 and SSL 3.0 PRF vectors, every HKDF-Extract, HKDF-Expand-Label
//! and traffic key/IV step of the TLS 1.3 traces (draft-ietf-tls-tls13-vectors-07, the traces
//! of RFC 8448), and RFC 5869's first HKDF case. The vectors are in the shared corpus beside
//! the clone (../shared/corpus/vectors); without it the tests say so and pass, except in CI.

use std::path::PathBuf;

use tlslens_core::keys::{hkdf, prf, HashAlg};

fn vectors(name: &str) -> Option<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpus/vectors")
        .join(name);
    match std::fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(err) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "{}: {err}",
                path.display()
            );
            eprintln!("skipped: {} is not there ({err})", path.display());
            None
        }
    }
}

fn hex(text: &str) -> Vec<u8> {
    let clean: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    (0..clean.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&clean[i..i + 2], 16).expect("hex"))
        .collect()
}

/// Botan's .vec files: `[section]` headers, `key = value` lines, blank lines between cases.
fn botan(text: &str) -> Vec<(String, Vec<(String, String)>)> {
    let mut cases = Vec::new();
    let (mut section, mut current) = (String::new(), Vec::new());
    for line in text.lines().chain(std::iter::once("")) {
        if line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[') {
            section = name.trim_end_matches(']').to_owned();
        } else if line.trim().is_empty() {
            if !current.is_empty() {
                cases.push((section.clone(), std::mem::take(&mut current)));
            }
        } else if let Some((key, value)) = line.split_once(" = ") {
            current.push((key.to_owned(), value.to_owned()));
        }
    }
    cases
}

fn field<'a>(case: &'a [(String, String)], key: &str) -> &'a str {
    case.iter()
        .find(|(k, _)| k == key)
        .map_or("", |(_, v)| v.as_str())
}

#[test]
fn tls_prf_vectors() {
    let Some(text) = vectors("tls_prf.vec") else {
        return;
    };
    let cases = botan(&text);
    assert!(cases.len() > 30);
    for (section, case) in &cases {
        let n: usize = field(case, "OutputLen").trim().parse().expect("length");
        let (secret, salt, label) = (
            hex(field(case, "Secret")),
            hex(field(case, "Salt")),
            hex(field(case, "Label")),
        );
        let out = if section == "TLS-PRF" {
            prf::prf(0x0301, HashAlg::Sha256, &secret, b"", &salt, n)
        } else {
            let bits = section
                .split("SHA-")
                .nth(1)
                .expect("hash")
                .trim_end_matches(')');
            let alg = HashAlg::from_name(&format!("SHA{bits}")).expect("a SHA-2");
            prf::prf(0x0303, alg, &secret, &label, &salt, n)
        };
        assert_eq!(out, hex(field(case, "Output")), "{section} {case:?}");
    }
}

#[test]
fn ssl3_prf_vectors() {
    let Some(text) = vectors("ssl3prf.vec") else {
        return;
    };
    let cases = botan(&text);
    assert!(cases.len() > 30);
    for (_, case) in &cases {
        let n: usize = field(case, "OutputLen").trim().parse().expect("length");
        let out = prf::ssl3_prf(&hex(field(case, "Secret")), &hex(field(case, "Salt")), n);
        assert_eq!(out, hex(field(case, "Output")));
    }
}

/// A block of the traces: its title and its (name, value) fields.
type Block = (String, Vec<(String, Vec<u8>)>);

/// The traces' blocks: a `{client}`/`{server}` title and its `name (N octets): hex` fields.
fn tls13_blocks(text: &str) -> Vec<Block> {
    let mut blocks: Vec<Block> = Vec::new();
    // A field's hex goes on over the next lines, across page breaks, to the next field.
    let mut open = false;
    for line in text.lines() {
        if line.starts_with("Thomson ")
            || line.starts_with("Internet-Draft ")
            || line.contains('\u{c}')
        {
            continue;
        }
        if let Some(title) = line
            .strip_prefix("   {client}  ")
            .or_else(|| line.strip_prefix("   {server}  "))
        {
            blocks.push((title.to_owned(), Vec::new()));
            open = false;
            continue;
        }
        let Some((_, fields)) = blocks.last_mut() else {
            continue;
        };
        if line.starts_with("      salt:") && line.contains("all zero octets") {
            fields.push(("salt".to_owned(), Vec::new()));
            open = false;
        } else if let Some(rest) = line.strip_prefix("      ").filter(|r| !r.starts_with(' ')) {
            open = false;
            if let Some((name, value)) = rest.split_once(" octets):") {
                let Some((name, _)) = name.rsplit_once(" (") else {
                    continue;
                };
                if name.chars().all(|c| c.is_ascii_alphabetic() || c == ' ') {
                    let value = value.trim();
                    fields.push((
                        name.to_owned(),
                        if value == "(empty)" {
                            Vec::new()
                        } else {
                            hex(value)
                        },
                    ));
                    open = true;
                }
            }
        } else if let Some(more) = line.strip_prefix("         ").filter(|_| open) {
            if more.chars().all(|c| c.is_ascii_hexdigit() || c == ' ') {
                if let Some((_, value)) = fields.last_mut() {
                    value.extend(hex(more));
                }
            }
        }
    }
    blocks
}

#[test]
fn tls13_key_schedule_vectors() {
    let Some(text) = vectors("draft-ietf-tls-tls13-vectors-07.txt") else {
        return;
    };
    let (mut extract, mut expand, mut keys) = (0, 0, 0);
    let sha = HashAlg::Sha256;
    for (title, fields) in tls13_blocks(&text) {
        let get = |name: &str| {
            fields
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_slice())
        };
        if let (true, Some(secret), Some(ikm)) = (
            title.starts_with("extract secret"),
            get("secret"),
            get("IKM"),
        ) {
            assert_eq!(
                hkdf::extract(sha, get("salt").unwrap_or_default(), ikm),
                secret,
                "{title}"
            );
            extract += 1;
        }
        let label = title
            .split("\"tls13 ")
            .nth(1)
            .and_then(|rest| rest.split('"').next());
        if let (Some(label), Some(prk), Some(out), Some(hash)) =
            (label, get("PRK"), get("expanded"), get("hash"))
        {
            let got =
                hkdf::expand_label(sha, prk, label.as_bytes(), hash, out.len()).expect("expand");
            assert_eq!(got, out, "{title}");
            expand += 1;
        }
        if let (true, Some(prk), Some(key), Some(iv)) = (
            title.contains("traffic keys"),
            get("PRK"),
            get("key expanded"),
            get("iv expanded"),
        ) {
            assert_eq!(
                hkdf::traffic_keys(sha, prk, key.len(), iv.len()).expect("keys"),
                (key.to_vec(), iv.to_vec()),
                "{title}"
            );
            keys += 1;
        }
    }
    assert!(
        extract >= 15 && expand >= 55 && keys >= 20,
        "{extract} {expand} {keys}"
    );
}

#[test]
fn rfc5869_case_1_and_short_secrets() {
    let salt: Vec<u8> = (0..=12).collect();
    let prk = hkdf::extract(HashAlg::Sha256, &salt, &[0x0b; 22]);
    assert_eq!(
        prk,
        hex("077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5")
    );
    // A key-log secret shorter than the hash is no PRK: an error, never a panic.
    assert_eq!(
        hkdf::traffic_keys(HashAlg::Sha384, &[1; 32], 32, 12),
        Err(hkdf::HkdfError::ShortSecret { got: 32, need: 48 })
    );
}

/// The traces' first protected record (the server's encrypted handshake flight, sequence
/// number 0) opens with its handshake traffic key and IV to the payload shown, and a
/// flipped bit anywhere makes it fail its tag.
#[test]
fn tls13_record_of_the_traces_opens() {
    use tlslens_core::protection::{cipher_spec, RecordProtection};
    let Some(text) = vectors("draft-ietf-tls-tls13-vectors-07.txt") else {
        return;
    };
    let blocks = tls13_blocks(&text);
    let get = |title: &str, name: &str| -> Vec<u8> {
        let (_, fields) = blocks
            .iter()
            .find(|(t, _)| t.starts_with(title))
            .expect(title);
        fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .expect(name)
    };
    let key = get(
        "derive write traffic keys for handshake data",
        "key expanded",
    );
    let iv = get(
        "derive write traffic keys for handshake data",
        "iv expanded",
    );
    let (_, fields) = blocks
        .iter()
        .find(|(_, f)| {
            f.iter()
                .any(|(n, v)| n == "complete record" && v.first() == Some(&0x17))
        })
        .expect("a protected record");
    let field = |name: &str| {
        fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .expect(name)
    };
    let (record, payload) = (field("complete record"), field("payload"));
    let spec =
        cipher_spec("TLS_AES_128_GCM_SHA256", "AES_128_GCM", "", true, 0x0304).expect("spec");
    let open = |body: &[u8]| {
        let mut protection =
            RecordProtection::new(spec.clone(), 0x0304, &key, &iv, b"", (false, true), None)
                .expect("keys");
        protection.open(record[0], 0x0303, body)
    };
    let (ctype, plain) = open(&record[5..]).expect("opens");
    assert_eq!((ctype, plain), (22, payload));
    for at in [5, record.len() / 2, record.len() - 1] {
        let mut tampered = record.clone();
        tampered[at] ^= 1;
        let err = open(&tampered[5..]).expect_err("a flipped bit");
        assert_eq!(err.0, "record 0: the AEAD tag does not verify");
    }
}

/// A Finished matches only its own verify_data, whole: a flipped bit or a cut one fails.
#[test]
fn finished_compared_whole() {
    let (master, transcript) = ([3u8; 48], b"ClientHello..ClientKeyExchange");
    for version in [0x0300, 0x0301, 0x0303] {
        let good = prf::finished_verify_data(
            version,
            HashAlg::Sha256,
            &master,
            b"client finished",
            transcript,
        );
        let matches = |vd: &[u8]| {
            prf::finished_matches(
                version,
                HashAlg::Sha256,
                &master,
                b"client finished",
                transcript,
                vd,
            )
        };
        let mut flipped = good.clone();
        flipped[0] ^= 1;
        assert!(matches(&good) && !matches(&flipped) && !matches(&good[..good.len() - 1]));
    }
    let hash = HashAlg::Sha384.digest(&[transcript]);
    let good = hkdf::finished_verify_data(HashAlg::Sha384, &[4; 48], &hash).expect("finished");
    let matches = |vd: &[u8]| hkdf::finished_matches(HashAlg::Sha384, &[4; 48], &hash, vd);
    assert_eq!((matches(&good), matches(&good[1..])), (Ok(true), Ok(false)));
}
