//! Where TLS starts in a byte stream, who sent it, and what came before in plaintext.
//!
//! Pure functions over the first bytes of a direction: is this a TLS record header, an
//! SSLv2-compatible ClientHello, or a plaintext prelude (STARTTLS and friends), and which
//! end of the connection is the client. None of them reads past the bytes it is given.

use super::{u16_at, CT_ALERT, CT_HANDSHAKE, MAX_RECORD};

/// Handshake message types of the IANA registry (a first record claiming another is not
/// taken for TLS).
pub const HANDSHAKE_TYPES: [u8; 26] = [
    0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 20, 21, 22, 23, 24, 25, 26, 67, 254,
];

const CLIENT_HELLO: u8 = 1;
const SERVER_HELLO: u8 = 2;
/// Messages only a client sends: ClientHello, ClientKeyExchange.
const CLIENT_ONLY: [u8; 2] = [CLIENT_HELLO, 16];
/// Messages only a server sends: ServerHello, NewSessionTicket, EncryptedExtensions,
/// ServerKeyExchange, CertificateRequest, ServerHelloDone, CertificateStatus.
const SERVER_ONLY: [u8; 7] = [SERVER_HELLO, 4, 8, 12, 13, 14, 22];

/// Ports where the server side of a connection picked up mid-stream is obvious.
const TLS_PORTS: [u16; 17] = [
    443, 465, 563, 636, 853, 989, 990, 992, 993, 994, 995, 5061, 5223, 5671, 8443, 8883, 9443,
];

/// What a plaintext prelude says about the protocol that upgraded to TLS, first match wins.
const STARTTLS_HINTS: [(&[u8], &str); 14] = [
    (b"\x00\x00\x00\x08\x04\xd2\x16\x2f", "PostgreSQL SSLRequest"),
    (b"1.3.6.1.4.1.1466.20037", "LDAP StartTLS"),
    (b"<starttls", "XMPP STARTTLS"),
    (b"ESMTP", "SMTP STARTTLS"),
    (b"EHLO", "SMTP STARTTLS"),
    (b"IMAP4", "IMAP STARTTLS"),
    (b"+OK", "POP3 STLS"),
    (b"NNTP", "NNTP STARTTLS"),
    (b"STARTTLS", "STARTTLS"),
    (b"STLS", "POP3 STLS"),
    (b"AUTH TLS", "FTP AUTH TLS"),
    (b"AUTH SSL", "FTP AUTH SSL"),
    (b"mysql_native_password", "MySQL SSL request"),
    (b"caching_sha2_password", "MySQL SSL request"),
];

/// Which end a record's first message says sent it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Looks {
    ClientHello,
    ServerHello,
    Other,
}

impl Looks {
    pub fn name(self) -> &'static str {
        match self {
            Looks::ClientHello => "client_hello",
            Looks::ServerHello => "server_hello",
            Looks::Other => "other",
        }
    }
}

/// Without a SYN or a hello, the well-known (or lower, privileged) port is the server's:
/// the side (0 or 1) that is the client.
pub fn guess_client_side(port0: u16, port1: u16) -> u8 {
    let (tls0, tls1) = (TLS_PORTS.contains(&port0), TLS_PORTS.contains(&port1));
    if tls1 && !tls0 {
        return 0;
    }
    if tls0 && !tls1 {
        return 1;
    }
    if port0 < 1024 && 1024 <= port1 {
        return 1;
    }
    0
}

/// Which end sends a record that starts at `at`, judging by its first message.
pub fn looks_like(data: &[u8], at: usize) -> Looks {
    match (data.get(at), data.get(at.saturating_add(5))) {
        (Some(&CT_HANDSHAKE), Some(msg)) if CLIENT_ONLY.contains(msg) => Looks::ClientHello,
        (Some(&CT_HANDSHAKE), Some(msg)) if SERVER_ONLY.contains(msg) => Looks::ServerHello,
        _ => Looks::Other,
    }
}

/// The record length of an SSLv2-compatible ClientHello (RFC 5246 Appendix E.2).
pub fn sslv2_client_hello_length(data: &[u8]) -> Option<usize> {
    match data {
        [b0, b1, 1, 0 | 2 | 3, ..] if b0 & 0x80 != 0 => {
            Some(2 + (usize::from(b0 & 0x7F) << 8 | usize::from(*b1)))
        }
        _ => None,
    }
}

/// An SSLv2 SERVER-HELLO record header.
pub fn is_sslv2_server_hello(data: &[u8]) -> bool {
    matches!(data, [b0, _, 4, ..] if b0 & 0x80 != 0)
}

/// Do at least six bytes look like the first record of a TLS stream?
pub fn plausible_start(data: &[u8], mid_stream: bool) -> bool {
    let [ctype, 3, 0..=4, hi, lo, first, ..] = *data else {
        return false;
    };
    let length = usize::from(hi) << 8 | usize::from(lo);
    if length == 0 || length > MAX_RECORD {
        return false;
    }
    match ctype {
        CT_HANDSHAKE => HANDSHAKE_TYPES.contains(&first),
        CT_ALERT => (length == 2 && (first == 1 || first == 2)) || length > 2,
        // Mid-stream pickups start with any record type.
        _ => mid_stream && matches!(ctype, 20 | 23 | 24),
    }
}

/// Do at least six bytes open a TLS handshake or alert record, but with a length past what
/// TLS allows? (The record layer then says so, rather than the flow going unseen.)
pub fn oversized_start(data: &[u8]) -> bool {
    let [ctype, 3, 0..=4, hi, lo, first, ..] = *data else {
        return false;
    };
    if (usize::from(hi) << 8 | usize::from(lo)) <= MAX_RECORD {
        return false;
    }
    match ctype {
        CT_HANDSHAKE => HANDSHAKE_TYPES.contains(&first),
        CT_ALERT => first == 1 || first == 2,
        _ => false,
    }
}

/// Does a record that opens TLS from this side start at `at`? A handshake header followed
/// by a ClientHello (client) or ServerHello (server), or a server's 2-byte alert.
fn opens_tls(window: &[u8], at: usize, from_client: bool) -> bool {
    let rest = window.get(at..).unwrap_or_default();
    match rest {
        [CT_HANDSHAKE, 3, 0..=4, _, _, msg, ..] => {
            *msg == if from_client {
                CLIENT_HELLO
            } else {
                SERVER_HELLO
            }
        }
        [CT_ALERT, 3, 0..=4, 0, 2, ..] => !from_client,
        _ => false,
    }
}

/// In plaintext, the first record that opens TLS from this side: its index and what it
/// looks like.
pub fn find_tls_start(window: &[u8], from_client: bool) -> Option<(usize, Looks)> {
    let begin = (0..window.len()).find(|&at| {
        opens_tls(window, at, from_client)
            && u16_at(window, at + 3).is_some_and(|n| n > 0 && n <= MAX_RECORD)
    })?;
    let looks = match window.get(begin..).unwrap_or_default() {
        [CT_ALERT, ..] => Looks::Other,
        [_, _, _, _, _, CLIENT_HELLO, ..] => Looks::ClientHello,
        _ => Looks::ServerHello,
    };
    Some((begin, looks))
}

/// The protocol a plaintext prelude belongs to, from the words it uses.
pub fn starttls_protocol(head: &[u8]) -> Option<&'static str> {
    STARTTLS_HINTS
        .iter()
        .find(|(needle, _)| head.windows(needle.len()).any(|w| w == *needle))
        .map(|(_, name)| *name)
}
