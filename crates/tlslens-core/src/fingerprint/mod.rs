//! JA3, JA3S and JA4: the client's and the server's hello reduced to comparable strings.
//!
//! JA3 (Salesforce, BSD-3-Clause) is "SSLVersion,Ciphers,Extensions,EllipticCurves,
//! EllipticCurvePointFormats" of the ClientHello, each list in wire order with '-' between
//! decimal values and GREASE (RFC 8701) left out, and its MD5; JA3S is "SSLVersion,Cipher,
//! Extensions" of the ServerHello. The same strings tshark prints as
//! tls.handshake.ja3_full and ja3s_full.
//!
//! JA4 (FoxIO, BSD-3-Clause; the client fingerprint only: JA4S and the rest of JA4+ are
//! under the FoxIO License 1.1 and left out) is "a_b_c": a = transport ("t": TLS over TCP,
//! "q": QUIC, "d": DTLS; the connection's transport, not guessed from the hello), the
//! highest version offered (supported_versions, else the hello's), "d" with an SNI or "i"
//! without, the counts of cipher suites and of extensions (two digits each, at most 99),
//! the first and last characters of the first ALPN protocol ("00" without one; the first
//! and last hex digits of its bytes when either end is not a letter or a digit); b = the
//! first 12 hex digits of the SHA-256 of the suites, as 4-digit hex sorted,
//! comma-separated; c = the same of the extensions sorted (SNI and ALPN left out), "_", the
//! signature algorithms in wire order. GREASE is left out everywhere; an empty list hashes
//! to twelve zeros. An SSLv2-format CLIENT-HELLO (RFC 5246 Appendix E.2) has a JA4 too,
//! from its version ("s2" for SSL 2.0, in FoxIO's table), its cipher specs (those outside
//! the 16-bit space of TLS suites, SSL 2.0's own kinds, in six hex digits) and no
//! extensions; it has no JA3, as tshark gives none.
//!
//! Strategy: pure functions of the parsed hellos. The extension bodies read
//! (supported_groups, ec_point_formats, supported_versions, signature_algorithms) are the
//! first of their type decoded as a ClientHello's by [`crate::extensions::decode`]; a
//! malformed one counts as absent, as it does for the narration. ALPN's first protocol is
//! read by [`crate::extensions::first_alpn`], even where the rest of its body is broken.
//! Hashes are RustCrypto's `md-5` and `sha2`. Every string is bounded by its hello: a
//! hello's lists are bounded by its 2^24-byte body, and each value writes a few characters.

use std::fmt::Write;

use md5::Md5;
use sha2::{Digest, Sha256};

use crate::extensions::{self as ext, Decoded, Message};
use crate::handshake::extensions_list::Extension;
use crate::handshake::messages::{ClientHello, ServerHello};

mod cache;
#[doc(hidden)]
pub mod fuzzing;
#[cfg(test)]
mod tests;

pub use cache::{Cache, MAX_KEY_BYTES, MAX_REMEMBERED};

/// What carried a hello: JA4's first character.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Tcp,
    Quic,
    Dtls,
}

impl Transport {
    /// The name the connection model uses ("tcp", "quic", "dtls"); any other is TCP's, as
    /// JA4 has it for whatever is not QUIC or DTLS.
    pub fn from_name(name: &str) -> Self {
        match name {
            "quic" => Self::Quic,
            "dtls" => Self::Dtls,
            _ => Self::Tcp,
        }
    }

    /// FoxIO's JA4.md: "q" for QUIC, "d" for DTLS, else "t".
    pub fn letter(self) -> char {
        match self {
            Self::Tcp => 't',
            Self::Quic => 'q',
            Self::Dtls => 'd',
        }
    }
}

/// RFC 8701: 0x0A0A, 0x1A1A ... 0xFAFA. Written for the 24-bit values of SSL 2.0 cipher
/// kinds too, none of which it matches.
pub fn is_grease(value: u32) -> bool {
    value & 0x0F0F == 0x0A0A && value >> 8 == value & 0xFF
}

/// `values` without GREASE, in decimal, joined by '-'.
fn join_decimal(values: impl IntoIterator<Item = u32>) -> String {
    let mut out = String::new();
    for value in values.into_iter().filter(|v| !is_grease(*v)) {
        if !out.is_empty() {
            out.push('-');
        }
        let _ = write!(out, "{value}");
    }
    out
}

/// Lower-case hex of `data` (a fingerprint's digest, a certificate's SHA-256): two digits a
/// byte from a table (`write!` formatting cost ~60 instructions a byte).
pub fn hex(data: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(data.len() * 2);
    for byte in data {
        for nibble in [byte >> 4, byte & 0xf] {
            out.push(char::from(DIGITS[usize::from(nibble)]));
        }
    }
    out
}

/// MD5 of a fingerprint string, in hex: MD5 is what JA3 is defined with, not a choice.
pub fn md5_hex(text: &str) -> String {
    hex(&Md5::digest(text.as_bytes()))
}

/// The first extension of `ext_type` decoded as a ClientHello's; None when absent,
/// malformed or kept raw.
fn decoded(hello: &ClientHello<'_>, ext_type: u16) -> Option<Decoded> {
    let body = hello.extensions.find(ext_type)?;
    ext::decode(ext_type, body, Message::ClientHello).ok()?
}

/// The extension types in wire order, as u32 (the lists JA3 and JA4 join).
fn extension_types<'a>(extensions: &'a [Extension<'_>]) -> impl Iterator<Item = u32> + 'a {
    extensions.iter().map(|e| u32::from(e.ext_type))
}

/// JA3's string (tshark's ja3_full); None for an SSLv2-format hello, which has no JA3.
pub fn ja3_string(hello: &ClientHello<'_>) -> Option<String> {
    if hello.sslv2 {
        return None;
    }
    let groups = match decoded(hello, ext::SUPPORTED_GROUPS) {
        Some(Decoded::SupportedGroups(groups)) => groups,
        _ => Vec::new(),
    };
    let formats = match decoded(hello, ext::EC_POINT_FORMATS) {
        Some(Decoded::EcPointFormats(formats)) => formats,
        _ => Vec::new(),
    };
    // The point formats keep every value: JA3 leaves GREASE out of the 16-bit lists only.
    let formats: Vec<String> = formats.iter().map(u8::to_string).collect();
    Some(format!(
        "{},{},{},{},{}",
        hello.legacy_version,
        join_decimal(hello.cipher_suites.iter().copied()),
        join_decimal(extension_types(&hello.extensions.list)),
        join_decimal(groups.into_iter().map(u32::from)),
        formats.join("-"),
    ))
}

/// JA3: the MD5 of [`ja3_string`].
pub fn ja3(hello: &ClientHello<'_>) -> Option<String> {
    ja3_string(hello).map(|text| md5_hex(&text))
}

/// JA3S's string (tshark's ja3s_full).
pub fn ja3s_string(hello: &ServerHello<'_>) -> String {
    format!(
        "{},{},{}",
        hello.legacy_version,
        hello.cipher_suite,
        join_decimal(extension_types(&hello.extensions.list)),
    )
}

/// JA3S: the MD5 of [`ja3s_string`].
pub fn ja3s(hello: &ServerHello<'_>) -> String {
    md5_hex(&ja3s_string(hello))
}

/// FoxIO's two characters for a version; "00" for any other.
fn ja4_version(version: u16) -> &'static str {
    match version {
        0x0304 => "13",
        0x0303 => "12",
        0x0302 => "11",
        0x0301 => "10",
        0x0300 => "s3",
        0x0002 => "s2",
        0xFEFF => "d1",
        0xFEFD => "d2",
        0xFEFC => "d3",
        _ => "00",
    }
}

/// The first and last characters of the first ALPN protocol; "00" without one.
fn ja4_alpn(protocol: Option<&[u8]>) -> String {
    let (Some(&first), Some(&last)) = (
        protocol.and_then(<[u8]>::first),
        protocol.and_then(<[u8]>::last),
    ) else {
        return "00".to_owned();
    };
    // FoxIO's alphanumerics are ASCII's: 0x30-0x39, 0x41-0x5A, 0x61-0x7A.
    if first.is_ascii_alphanumeric() && last.is_ascii_alphanumeric() {
        return [char::from(first), char::from(last)].iter().collect();
    }
    // A byte that is not a letter or a digit: the first and last hex digits instead.
    [first >> 4, last & 0x0F]
        .iter()
        .filter_map(|nibble| char::from_digit(u32::from(*nibble), 16))
        .collect()
}

/// Two digits of a count, at most 99.
fn count(n: usize) -> String {
    format!("{:02}", n.min(99))
}

/// JA4's three parts before hashing, as FoxIO's JA4_r prints them: a, the sorted suites,
/// and the sorted extensions with the signature algorithms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ja4Raw {
    pub a: String,
    pub b: String,
    pub c: String,
}

impl Ja4Raw {
    /// JA4 itself: a, then b and c each hashed to 12 hex digits.
    pub fn hashed(&self) -> String {
        format!("{}_{}_{}", self.a, sha12(&self.b), sha12(&self.c))
    }

    /// JA4_r: "a_b_c", nothing hashed.
    pub fn joined(&self) -> String {
        format!("{}_{}_{}", self.a, self.b, self.c)
    }
}

/// The first 12 hex digits of the SHA-256 of `text`; twelve zeros for an empty list.
fn sha12(text: &str) -> String {
    if text.is_empty() {
        return "000000000000".to_owned();
    }
    let mut digits = hex(&Sha256::digest(text.as_bytes()));
    digits.truncate(12);
    digits
}

/// `values` in hex, four digits (six for SSL 2.0's 24-bit kinds), joined by ','.
fn join_hex(values: impl IntoIterator<Item = u32>) -> String {
    let mut out = String::new();
    for value in values {
        if !out.is_empty() {
            out.push(',');
        }
        let _ = if value <= 0xFFFF {
            write!(out, "{value:04x}")
        } else {
            write!(out, "{value:06x}")
        };
    }
    out
}

/// JA4's parts of a hello carried over `transport`.
pub fn ja4_raw(hello: &ClientHello<'_>, transport: Transport) -> Ja4Raw {
    let offered = match decoded(hello, ext::SUPPORTED_VERSIONS) {
        Some(Decoded::SupportedVersions(versions)) => versions
            .into_iter()
            .filter(|v| !is_grease(u32::from(*v)))
            .max(),
        _ => None,
    };
    let version = offered.unwrap_or(hello.legacy_version);
    let mut suites: Vec<u32> = hello
        .cipher_suites
        .iter()
        .copied()
        .filter(|s| !is_grease(*s))
        .collect();
    let types: Vec<u16> = hello
        .extensions
        .list
        .iter()
        .map(|e| e.ext_type)
        .filter(|t| !is_grease(u32::from(*t)))
        .collect();
    let sni = if types.contains(&ext::SERVER_NAME) {
        'd'
    } else {
        'i'
    };
    let alpn = hello.extensions.find(ext::ALPN).and_then(ext::first_alpn);
    let a = format!(
        "{}{}{sni}{}{}{}",
        transport.letter(),
        ja4_version(version),
        count(suites.len()),
        count(types.len()),
        ja4_alpn(alpn),
    );
    suites.sort_unstable();
    let mut hashed: Vec<u32> = types
        .iter()
        .filter(|t| **t != ext::SERVER_NAME && **t != ext::ALPN)
        .map(|t| u32::from(*t))
        .collect();
    hashed.sort_unstable();
    let mut c = join_hex(hashed);
    if let Some(Decoded::SignatureSchemes(schemes)) = decoded(hello, ext::SIGNATURE_ALGORITHMS) {
        let algorithms: Vec<u32> = schemes
            .into_iter()
            .map(u32::from)
            .filter(|s| !is_grease(*s))
            .collect();
        if !algorithms.is_empty() {
            c.push('_');
            c.push_str(&join_hex(algorithms));
        }
    }
    Ja4Raw {
        a,
        b: join_hex(suites),
        c,
    }
}

/// JA4 of a hello carried over `transport`.
pub fn ja4(hello: &ClientHello<'_>, transport: Transport) -> String {
    ja4_raw(hello, transport).hashed()
}

/// A ClientHello's JA3 and JA4, made once: JA4 is kept without its transport letter, the
/// only part that depends on what carried the hello.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFingerprints {
    /// MD5 hex; None for an SSLv2-format hello.
    pub ja3: Option<String>,
    ja4_tail: String,
}

impl ClientFingerprints {
    pub fn of(hello: &ClientHello<'_>) -> Self {
        let full = ja4(hello, Transport::Tcp);
        Self {
            ja3: ja3(hello),
            ja4_tail: full.get(1..).unwrap_or_default().to_owned(),
        }
    }

    /// JA4 of the hello carried over `transport`.
    pub fn ja4(&self, transport: Transport) -> String {
        let mut out = String::with_capacity(self.ja4_tail.len() + 1);
        out.push(transport.letter());
        out.push_str(&self.ja4_tail);
        out
    }
}
