//! Published vectors: salesforce/ja3's README (two JA3 strings and their MD5) and FoxIO's
//! technical_details/JA4.md (the example hello's JA4, JA4_r, the hash without signature
//! algorithms, and the ALPN hex-digit rule's five examples).

use std::sync::Arc;

use super::*;
use crate::handshake::messages::{self, Message};
use crate::handshake::{sslv2, Context, CLIENT_HELLO, SERVER_HELLO};

fn u16s(values: &[u16]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_be_bytes()).collect()
}

fn prefixed(width: usize, data: &[u8]) -> Vec<u8> {
    let len = data.len().to_be_bytes();
    let mut out = len[len.len() - width..].to_vec();
    out.extend_from_slice(data);
    out
}

fn extensions_block(extensions: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut block = Vec::new();
    for (ext_type, data) in extensions {
        block.extend(ext_type.to_be_bytes());
        block.extend(prefixed(2, data));
    }
    prefixed(2, &block)
}

/// A ClientHello body: version, zero random, empty session id, `suites`, null compression.
fn client_body(version: u16, suites: &[u16], extensions: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut body = version.to_be_bytes().to_vec();
    body.extend([0; 32]);
    body.push(0);
    body.extend(prefixed(2, &u16s(suites)));
    body.extend([1, 0]);
    if !extensions.is_empty() {
        body.extend(extensions_block(extensions));
    }
    body
}

fn client(body: &[u8]) -> ClientHello<'_> {
    match messages::parse(CLIENT_HELLO, body, &Context::default()) {
        Ok(Message::ClientHello(hello)) => hello,
        other => panic!("not a ClientHello: {other:?}"),
    }
}

fn alpn(protocols: &[&[u8]]) -> Vec<u8> {
    let list: Vec<u8> = protocols.iter().flat_map(|p| prefixed(1, p)).collect();
    prefixed(2, &list)
}

fn hex_list(text: &str) -> Vec<u16> {
    text.split(',')
        .map(|v| u16::from_str_radix(v, 16).unwrap())
        .collect()
}

const FOXIO_SUITES: &str =
    "1301,1302,1303,c02b,c02f,c02c,c030,cca9,cca8,c013,c014,009c,009d,002f,0035";
const FOXIO_EXTENSIONS: &str =
    "001b,0000,0033,0010,4469,0017,002d,000d,0005,0023,0012,002b,ff01,000b,000a,0015";
const FOXIO_SIGNATURES: &str = "0403,0804,0401,0503,0805,0501,0806,0601";

/// FoxIO's example hello, from its JA4_ro (suites, extensions and signature algorithms in
/// wire order), with GREASE added in front of each list: it must not count.
fn foxio_body(signatures: bool) -> Vec<u8> {
    let mut suites = vec![0x2A2A];
    suites.extend(hex_list(FOXIO_SUITES));
    let mut extensions = vec![(0x5A5A, Vec::new())];
    for ext_type in hex_list(FOXIO_EXTENSIONS) {
        let data = match ext_type {
            0x0000 => prefixed(2, &[&[0u8][..], &prefixed(2, b"example.com")].concat()),
            0x0010 => alpn(&[b"h2", b"http/1.1"]),
            0x002B => prefixed(1, &u16s(&[0x7A7A, 0x0304, 0x0303])),
            0x000D if signatures => prefixed(2, &u16s(&hex_list(FOXIO_SIGNATURES))),
            0x000D => prefixed(2, &[]),
            _ => Vec::new(),
        };
        extensions.push((ext_type, data));
    }
    client_body(0x0303, &suites, &extensions)
}

#[test]
fn foxio_ja4_example() {
    let body = foxio_body(true);
    let hello = client(&body);
    let raw = ja4_raw(&hello, Transport::Tcp);
    assert_eq!(
        raw.joined(),
        "t13d1516h2_002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,\
         cca9_0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01_0403,\
         0804,0401,0503,0805,0501,0806,0601"
    );
    assert_eq!(
        ja4(&hello, Transport::Tcp),
        "t13d1516h2_8daaf6152771_e5627efa2ab1"
    );
    let once = ClientFingerprints::of(&hello);
    assert_eq!(
        once.ja4(Transport::Tcp),
        "t13d1516h2_8daaf6152771_e5627efa2ab1"
    );
    assert_eq!(
        once.ja4(Transport::Quic),
        "q13d1516h2_8daaf6152771_e5627efa2ab1"
    );
    assert_eq!(
        once.ja4(Transport::Dtls),
        "d13d1516h2_8daaf6152771_e5627efa2ab1"
    );
    assert_eq!(once.ja3, ja3(&hello));
}

#[test]
fn foxio_without_signature_algorithms_ends_without_an_underscore() {
    let body = foxio_body(false);
    let hello = client(&body);
    assert_eq!(
        ja4(&hello, Transport::Tcp),
        "t13d1516h2_8daaf6152771_6d807ffa2a79"
    );
}

#[test]
fn foxio_alpn_hex_digit_examples() {
    let cases: [(&[u8], &str); 7] = [
        (&[0xAB], "ab"),
        (&[0xAB, 0xCD], "ad"),
        (&[0x30, 0xAB], "3b"),
        (&[0x30, 0x31, 0xAB, 0xCD], "3d"),
        (&[0x30, 0xAB, 0xCD, 0x31], "01"),
        (b"http/1.1", "h1"),
        (b"x", "xx"),
    ];
    for (protocol, expected) in cases {
        assert_eq!(ja4_alpn(Some(protocol)), expected, "{protocol:?}");
        let body = client_body(0x0303, &[0x1301], &[(0x0010, alpn(&[protocol]))]);
        let a = ja4_raw(&client(&body), Transport::Tcp).a;
        assert_eq!(a, format!("t12i0101{expected}"));
    }
    assert_eq!(ja4_alpn(None), "00");
    assert_eq!(ja4_alpn(Some(b"")), "00");
}

#[test]
fn salesforce_ja3_examples() {
    let suites = [47, 53, 5, 10, 49161, 49162, 49171, 49172, 50, 56, 19, 4];
    let extensions = [
        (
            0,
            prefixed(2, &[&[0u8][..], &prefixed(2, b"example.com")].concat()),
        ),
        (10, prefixed(2, &u16s(&[23, 24, 25]))),
        (11, prefixed(1, &[0])),
    ];
    let body = client_body(769, &suites, &extensions);
    let hello = client(&body);
    assert_eq!(
        ja3_string(&hello).as_deref(),
        Some("769,47-53-5-10-49161-49162-49171-49172-50-56-19-4,0-10-11,23-24-25,0")
    );
    assert_eq!(
        ja3(&hello).as_deref(),
        Some("ada70206e40642a3e4461f35503241d5")
    );
    let body = client_body(769, &[4, 5, 10, 9, 100, 98, 3, 6, 19, 18, 99], &[]);
    let hello = client(&body);
    assert_eq!(
        ja3_string(&hello).as_deref(),
        Some("769,4-5-10-9-100-98-3-6-19-18-99,,,")
    );
    assert_eq!(
        ja3(&hello).as_deref(),
        Some("de350869b8c85de67a350c8d186f11e6")
    );
}

#[test]
fn grease_is_left_out_of_ja3_but_not_point_formats() {
    let extensions = [
        (0x3A3A, Vec::new()),
        (10, prefixed(2, &u16s(&[0x3A3A, 29, 23]))),
        (11, prefixed(1, &[0, 1])),
        (13, prefixed(2, &u16s(&[0x0804]))),
    ];
    let body = client_body(0x0303, &[0x3A3A, 0x1301, 0xC02F], &extensions);
    assert_eq!(
        ja3_string(&client(&body)).as_deref(),
        Some("771,4865-49199,10-11-13,29-23,0-1")
    );
    assert!(is_grease(0xFAFA) && !is_grease(0x0A1A) && !is_grease(0x0A0A0A));
}

#[test]
fn counts_stop_at_99_and_empty_lists_hash_to_zeros() {
    let suites: Vec<u16> = (1..120).collect();
    let body = client_body(0x0303, &suites, &[(0x000D, prefixed(2, &u16s(&[0x0403])))]);
    assert!(ja4(&client(&body), Transport::Tcp).starts_with("t12i9901"));
    let body = client_body(0x0300, &[0x000A], &[]);
    let hello = client(&body);
    let ja4 = ja4(&hello, Transport::Tcp);
    assert!(ja4.starts_with("ts3i010000_") && ja4.ends_with("_000000000000"));
    let body = client_body(0x7F1C, &[], &[]);
    assert_eq!(
        super::ja4(&client(&body), Transport::Tcp),
        "t00i000000_000000000000_000000000000"
    );
}

#[test]
fn a_malformed_supported_versions_falls_back_to_the_hello_version() {
    let body = client_body(0x0301, &[0x002F], &[(0x002B, vec![3, 3, 4])]);
    assert!(ja4(&client(&body), Transport::Tcp).starts_with("t10i0101"));
}

#[test]
fn an_sslv2_hello_has_a_ja4_and_no_ja3() {
    // SSL 2.0 CLIENT-HELLO: IDEA-128-CBC-MD5 (0x050080), RC2-128-CBC-MD5 (0x030080),
    // DES-192-EDE3-CBC-MD5 (0x0700c0), TLS_RSA_WITH_RC4_128_MD5 (0x000004).
    let mut record = vec![0x80, 0x2e, 1, 0x00, 0x02, 0, 12, 0, 0, 0, 16];
    record.extend([5, 0, 0x80, 3, 0, 0x80, 7, 0, 0xc0, 0, 0, 4]);
    record.extend([7; 16]);
    let hello = sslv2::client_hello(&record).unwrap();
    assert_eq!(ja3_string(&hello), None);
    assert_eq!(ja3(&hello), None);
    let raw = ja4_raw(&hello, Transport::Tcp);
    assert_eq!(raw.joined(), "ts2i040000_0004,030080,050080,0700c0_");
    assert_eq!(ClientFingerprints::of(&hello).ja3, None);
}

#[test]
fn ja3s_of_a_server_hello() {
    let mut body = 0x0303u16.to_be_bytes().to_vec();
    body.extend([0; 32]);
    body.push(0);
    body.extend(0x1301u16.to_be_bytes());
    body.push(0);
    body.extend(extensions_block(&[
        (0x2B, vec![3, 4]),
        (0xDADA, Vec::new()),
        (0x33, vec![0, 29, 0, 0]),
    ]));
    let Ok(Message::ServerHello(hello)) = messages::parse(SERVER_HELLO, &body, &Context::default())
    else {
        panic!("a ServerHello");
    };
    assert_eq!(ja3s_string(&hello), "771,4865,43-51");
    assert_eq!(ja3s(&hello), md5_hex("771,4865,43-51"));
    assert_eq!(md5_hex(""), "d41d8cd98f00b204e9800998ecf8427e"); // RFC 1321 A.5
}

#[test]
fn the_cache_answers_a_stack_once_and_tells_stacks_apart() {
    let mut cache = Cache::new();
    let body = foxio_body(true);
    let first = cache.client(&client(&body));
    // Another connection of the same stack: another random, the same answer, not remade.
    let mut again = body.clone();
    again[2] = 0xFF;
    assert!(Arc::ptr_eq(&first, &cache.client(&client(&again))));
    // Signature algorithms count: without them, another stack.
    let other = cache.client(&client(&foxio_body(false)));
    assert_eq!(
        other.ja4(Transport::Tcp),
        "t13d1516h2_8daaf6152771_6d807ffa2a79"
    );
    assert_eq!(cache.len(), (2, 0));
    for n in 0..MAX_REMEMBERED as u16 {
        let body = client_body(0x0303, &[n], &[]);
        cache.client(&client(&body));
    }
    assert!(cache.len().0 <= MAX_REMEMBERED);
    // A hello whose key would pass MAX_KEY_BYTES is answered, not kept.
    let mut cache = Cache::new();
    let many: Vec<u16> = (1..=MAX_KEY_BYTES as u16 / 4 + 1).collect();
    let body = client_body(0x0303, &many, &[]);
    let answer = cache.client(&client(&body));
    assert!(answer.ja4(Transport::Tcp).starts_with("t12i9900"));
    assert_eq!(cache.len(), (0, 0));
}
