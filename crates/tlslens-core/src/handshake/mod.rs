//! The handshake layer: messages out of record bodies, and each message's fields.
//!
//! Strategy (rustls' `msgs::handshake`): the defragmenter ([`defrag`]) cuts one direction's
//! handshake bytes into whole messages; [`messages::parse`] reads a message body through
//! [`crate::codec::Reader`] by its type, with the negotiated version and key exchange for
//! the few layouts that depend on them ([`Context`]); [`extensions_list`] walks the
//! extensions block of a message, keeping each body raw with its type. A body that breaks
//! its layout is an error naming the byte; an extensions block that breaks its own keeps
//! what could be read, with the reasons. Error texts are the ones the findings have always
//! carried, so reports read the same whichever layer parsed.

use crate::codec::{CodecError, CodecResult, Reader};

pub mod defrag;
pub mod extensions_list;
pub mod fuzzing;
pub mod key_exchange;
pub mod messages;
pub mod sslv2;
#[cfg(test)]
mod tests;

pub const HELLO_REQUEST: u8 = 0;
pub const CLIENT_HELLO: u8 = 1;
pub const SERVER_HELLO: u8 = 2;
/// DTLS only (RFC 6347 §4.2.1).
pub const HELLO_VERIFY_REQUEST: u8 = 3;
pub const NEW_SESSION_TICKET: u8 = 4;
pub const END_OF_EARLY_DATA: u8 = 5;
pub const ENCRYPTED_EXTENSIONS: u8 = 8;
pub const CERTIFICATE: u8 = 11;
pub const SERVER_KEY_EXCHANGE: u8 = 12;
pub const CERTIFICATE_REQUEST: u8 = 13;
pub const SERVER_HELLO_DONE: u8 = 14;
pub const CERTIFICATE_VERIFY: u8 = 15;
pub const CLIENT_KEY_EXCHANGE: u8 = 16;
pub const FINISHED: u8 = 20;
pub const CERTIFICATE_STATUS: u8 = 22;
pub const KEY_UPDATE: u8 = 24;
pub const COMPRESSED_CERTIFICATE: u8 = 25;

/// A message type as a text names it: "type 11 (Certificate)", "type 99" for a type
/// tlslens does not name.
pub fn type_text(msg_type: u8) -> String {
    match type_name(msg_type) {
        Some(name) => format!("type {msg_type} ({name})"),
        None => format!("type {msg_type}"),
    }
}

/// The name a message of `msg_type` goes by in the RFCs and the timeline, for the types
/// tlslens reads (None for the others, which a text names by number alone).
pub fn type_name(msg_type: u8) -> Option<&'static str> {
    Some(match msg_type {
        HELLO_REQUEST => "HelloRequest",
        CLIENT_HELLO => "ClientHello",
        SERVER_HELLO => "ServerHello",
        HELLO_VERIFY_REQUEST => "HelloVerifyRequest",
        NEW_SESSION_TICKET => "NewSessionTicket",
        END_OF_EARLY_DATA => "EndOfEarlyData",
        ENCRYPTED_EXTENSIONS => "EncryptedExtensions",
        CERTIFICATE => "Certificate",
        SERVER_KEY_EXCHANGE => "ServerKeyExchange",
        CERTIFICATE_REQUEST => "CertificateRequest",
        SERVER_HELLO_DONE => "ServerHelloDone",
        CERTIFICATE_VERIFY => "CertificateVerify",
        CLIENT_KEY_EXCHANGE => "ClientKeyExchange",
        FINISHED => "Finished",
        CERTIFICATE_STATUS => "CertificateStatus",
        KEY_UPDATE => "KeyUpdate",
        COMPRESSED_CERTIFICATE => "CompressedCertificate",
        _ => return None,
    })
}

/// RFC 8446 §4.1.3: a ServerHello with this random is a HelloRetryRequest.
pub const HRR_RANDOM: [u8; 32] = [
    0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
    0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C,
];

pub const TLS1_3: u16 = 0x0304;
pub const TLS1_2: u16 = 0x0303;
pub const SSL3: u16 = 0x0300;
/// OpenSSL's pre-standard DTLS (DTLS1_BAD_VER, before 0.9.8f): DTLS 1.0 as it first wrote it.
pub const DTLS1_BAD_VER: u16 = 0x0100;

/// DTLS 1.3 (RFC 9147), DTLS 1.2 (RFC 6347) and DTLS 1.0 (RFC 4347).
pub const DTLS1_3: u16 = 0xFEFC;
pub const DTLS1_2: u16 = 0xFEFD;
pub const DTLS1_0: u16 = 0xFEFF;

/// RFC 8446's 0x0304, DTLS 1.3 (its handshake is TLS 1.3's) and every pre-standard TLS 1.3
/// code point: the IETF drafts (0x7Fxx), Google's experiments (0x7E01-0x7E03) and
/// Facebook's drafts (0xFB17, 0xFB1A).
pub fn is_tls13_version(value: u16) -> bool {
    matches!(
        value,
        TLS1_3 | DTLS1_3 | 0x7F00..=0x7FFF | 0x7E01..=0x7E03 | 0xFB17 | 0xFB1A
    )
}

/// The TLS version whose handshake a DTLS version uses (DTLS counts down from 0xFEFF:
/// DTLS 1.0 is TLS 1.1, RFC 4347 §1); any other version is itself.
pub fn tls_equivalent(value: u16) -> u16 {
    match value {
        DTLS1_0 => 0x0302,
        DTLS1_2 => TLS1_2,
        DTLS1_3 => TLS1_3,
        other => other,
    }
}

/// What was negotiated so far, for the messages whose layout depends on it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    /// The negotiated protocol version (after supported_versions).
    pub version: Option<u16>,
    /// The cipher suite's key exchange ("ECDHE", "RSA", "DHE_PSK" ...).
    pub kx: Option<String>,
    /// The cipher suite's authentication ("RSA", "anon", "PSK" ...).
    pub auth: Option<String>,
}

impl Context {
    pub fn tls13(&self) -> bool {
        self.version.is_some_and(is_tls13_version)
    }

    /// TLS 1.2 put a SignatureAndHashAlgorithm in front of signatures and a list of them in
    /// CertificateRequest (RFC 5246 §7.4.1.4.1); an unknown version reads it that way too.
    fn has_signature_schemes(&self) -> bool {
        self.version.map_or(true, |v| tls_equivalent(v) >= TLS1_2)
    }
}

/// `count` bytes in agreement ("1 byte", "2 bytes").
fn bytes_text(count: u64) -> String {
    if count == 1 {
        "1 byte".to_owned()
    } else {
        format!("{count} bytes")
    }
}

/// What went wrong, in the words the findings use: offsets are into the message body.
pub fn describe(error: &CodecError) -> String {
    match error {
        CodecError::Truncated { at, wanted, have } => {
            format!(
                "needs {} at offset {at}, {have} remain",
                bytes_text(*wanted)
            )
        }
        CodecError::Trailing { left, .. } => format!("{left} bytes after the end of the message"),
        CodecError::Invalid { what, .. } => what.clone(),
    }
}

/// A block with a `size`-byte length prefix that must lie inside what is left: unlike a
/// vector's truncation, a block overrunning its message says how much it declared.
fn block<'a>(r: &mut Reader<'a>, size: u8) -> CodecResult<Reader<'a>> {
    let declared = match size {
        2 => usize::from(r.u16()?),
        _ => usize::try_from(r.u24()?).unwrap_or(usize::MAX),
    };
    if declared > r.left() {
        return Err(r.invalid(format!(
            "block at offset {} declares {declared} bytes, {} remain",
            r.offset(),
            r.left()
        )));
    }
    r.sub(declared)
}

/// A list of u16 behind a 2-byte length (cipher suites, signature schemes).
fn u16_list(r: &mut Reader<'_>) -> CodecResult<Vec<u16>> {
    let mut list = r.vec_u16()?;
    if list.left() % 2 != 0 {
        return Err(list.invalid(format!(
            "list of {} bytes is not a multiple of 2",
            list.left()
        )));
    }
    let mut out = Vec::with_capacity(list.left() / 2);
    while !list.is_empty() {
        out.push(list.u16()?);
    }
    Ok(out)
}

/// Text read as UTF-8 with each bad sequence replaced (a PSK identity or hint).
fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
