//! The body of the `decrypt` cargo-fuzz target: a key log, then a connection's steps
//! (handshake messages, ChangeCipherSpecs, protected records, an SSLv2 hello, an RSA
//! answer) in any order, through one `Decryptor` (its SEED cipher a stand-in that fails
//! for some keys, as the caller's may). A reason or a plaintext, never a panic.

use super::{Decryptor, Dir, Env, KeyLog, Opened, Part, SessionCache, Suite, Suites};
use crate::protection::ExternalCbc;

/// A suite as the registry decomposes it: code, name, key exchange (None: TLS 1.3), cipher,
/// MAC, PRF hash.
type SuiteRow = (
    u16,
    &'static str,
    Option<&'static str>,
    &'static str,
    &'static str,
    &'static str,
);

/// A few suites of each kind of record protection.
const SUITES: [SuiteRow; 10] = [
    (
        0x1301,
        "TLS_AES_128_GCM_SHA256",
        None,
        "AES_128_GCM",
        "AEAD",
        "SHA256",
    ),
    (
        0x1303,
        "TLS_CHACHA20_POLY1305_SHA256",
        None,
        "CHACHA20_POLY1305",
        "AEAD",
        "SHA256",
    ),
    (
        0x1302,
        "TLS_AES_256_GCM_SHA384",
        None,
        "AES_256_GCM",
        "AEAD",
        "SHA384",
    ),
    (
        0xC030,
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        Some("ECDHE"),
        "AES_256_GCM",
        "AEAD",
        "SHA384",
    ),
    (
        0xC02F,
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        Some("ECDHE"),
        "AES_128_GCM",
        "AEAD",
        "SHA256",
    ),
    (
        0x002F,
        "TLS_RSA_WITH_AES_128_CBC_SHA",
        Some("RSA"),
        "AES_128_CBC",
        "SHA",
        "SHA256",
    ),
    (
        0x0005,
        "TLS_RSA_WITH_RC4_128_SHA",
        Some("RSA"),
        "RC4_128",
        "SHA",
        "SHA256",
    ),
    (
        0x008C,
        "TLS_PSK_WITH_AES_128_CBC_SHA",
        Some("PSK"),
        "AES_128_CBC",
        "SHA",
        "SHA256",
    ),
    (
        0x0096,
        "TLS_RSA_WITH_SEED_CBC_SHA",
        Some("RSA"),
        "SEED_CBC",
        "SHA",
        "SHA256",
    ),
    (
        0x0002,
        "TLS_RSA_WITH_NULL_SHA",
        Some("RSA"),
        "NULL",
        "SHA",
        "SHA256",
    ),
];

/// `SUITES`, as the decryptor takes them.
pub fn suites() -> Suites {
    SUITES
        .into_iter()
        .map(|(code, name, kx, cipher, mac, hash)| {
            let suite = Suite {
                name: name.to_owned(),
                kx: kx.map(str::to_owned),
                auth: kx.map(|_| "RSA".to_owned()),
                cipher: cipher.to_owned(),
                mac: mac.to_owned(),
                prf_hash: hash.to_owned(),
                tls13: kx.is_none(),
            };
            (code, suite)
        })
        .collect()
}

/// The key log whose text is `data` up to the first NUL, and the bytes after that NUL.
pub fn keylog_then(data: &[u8]) -> (KeyLog, &[u8]) {
    let (text, rest) = match data.iter().position(|b| *b == 0) {
        Some(at) => (
            data.get(..at).unwrap_or(&[]),
            data.get(at + 1..).unwrap_or(&[]),
        ),
        None => (data, &[][..]),
    };
    let mut keylog = KeyLog::new();
    keylog.add_text(&String::from_utf8_lossy(text), "fuzz", "keylog");
    (keylog, rest)
}

/// The caller's SEED cipher as the fuzz target plays it: the ciphertext as it came (the
/// target reaches the record layer's checks, not SEED's output), and a failure (the
/// caller's bug) when the key's first byte is odd.
struct StandIn {
    fails: bool,
}

impl ExternalCbc for StandIn {
    fn decrypt(&mut self, _: &[u8], data: &[u8]) -> Result<Vec<u8>, String> {
        if self.fails {
            return Err("the stand-in fails".to_owned());
        }
        Ok(data.to_vec())
    }
}

fn stand_in(key: &[u8]) -> Box<dyn ExternalCbc> {
    let fails = key.first().is_some_and(|b| b & 1 == 1);
    Box::new(StandIn { fails })
}

/// `data`: key log text up to the first NUL, then steps of [kind, direction, length (2),
/// body]: kind % 5 = 0 a handshake message, 1 a ChangeCipherSpec, 2 a record (its first
/// byte the outer type), 3 an SSLv2 ClientHello, 4 the answer to an RSA request.
pub fn decrypt(data: &[u8]) {
    let (keylog, mut steps) = keylog_then(data);
    let mut sessions = SessionCache::new();
    let suites = suites();
    let mut env = Env {
        keylog: &keylog,
        sessions: &mut sessions,
        suites: &suites,
    };
    let mut dec = Decryptor::new(Some(b"psk".to_vec()), true, Some(stand_in));
    let mut fault = false;
    while let [kind, dir, high, low, rest @ ..] = steps {
        let len = usize::from(u16::from_be_bytes([*high, *low])).min(rest.len());
        let (body, tail) = rest.split_at(len);
        steps = tail;
        let dir = if dir & 1 == 0 { Dir::C2S } else { Dir::S2C };
        match kind % 5 {
            0 => {
                let _ = dec.on_message(&mut env, dir, body);
            }
            1 => dec.on_change_cipher_spec(&mut env, dir),
            2 => {
                let (ctype, record) = body.split_first().unwrap_or((&23, &[]));
                let opened = dec.open(&env, dir, *ctype, 0x0303, record);
                // A fault of the caller's cipher stops the decryption: nothing opens after.
                assert!(
                    !(fault && matches!(opened, Opened::Plain(..))),
                    "opened after a fault"
                );
                fault |= matches!(opened, Opened::Fault(_));
            }
            3 => dec.on_sslv2_client_hello(&env, body),
            _ => dec.rsa_premaster(Some(body).filter(|b| b.len() == 48)),
        }
    }
    // A part is opened only by a record counted as decrypted in that direction.
    for part in [Part::Handshake, Part::ApplicationData, Part::EarlyData] {
        for dir in Dir::BOTH {
            let decrypted = dec.results[dir as usize].records_decrypted;
            assert!(
                !dec.opened(part, dir) || decrypted > 0,
                "{part:?} opened by no record"
            );
        }
    }
    let missing = dec.missing_secrets(&keylog, false);
    let _ = dec.reason_text(&keylog, &missing, None);
    let _ = dec.transcript_hash();
}
