//! The body of the `handshake` cargo-fuzz target, shared with the corpus replay of
//! `cargo test`: the defragmenter and every message parser on hostile bytes.

use super::defrag::{Defragmented, Defragmenter};
use super::extensions_list::Extensions;
use super::{messages, sslv2, Context};
use crate::codec::Reader;

/// The contexts whose layouts differ: unknown, SSL 3.0 RSA, TLS 1.2 ECDHE/DHE-PSK/SRP/anon,
/// TLS 1.3.
fn contexts() -> [Context; 7] {
    let ctx = |version: Option<u16>, kx: Option<&str>, auth: Option<&str>| Context {
        version,
        kx: kx.map(str::to_owned),
        auth: auth.map(str::to_owned),
    };
    [
        Context::default(),
        ctx(Some(0x0300), Some("RSA"), Some("RSA")),
        ctx(Some(0x0303), Some("ECDHE"), Some("ECDSA")),
        ctx(Some(0x0303), Some("DHE_PSK"), Some("PSK")),
        ctx(Some(0x0303), Some("SRP"), Some("RSA")),
        ctx(Some(0x0302), Some("DH"), Some("anon")),
        ctx(Some(0x0304), None, None),
    ]
}

/// The first byte chooses the record size and the limit; the rest is one direction's
/// handshake stream, defragmented, each message parsed under every context. Panics only
/// when a bound or an offset is broken (the fuzzer's crash).
pub fn handshake(data: &[u8]) {
    let (choice, stream) = data.split_first().unwrap_or((&0, &[]));
    let chunk = usize::from(*choice & 0x3f).max(1);
    let limit = if choice & 0x40 != 0 { 64 } else { 1 << 14 };
    let mut defrag = Defragmenter::new(limit, &[1, 2, 4, 8, 11, 12, 13, 14, 15, 16, 20, 22, 25]);
    let mut offset = 0u64;
    for record in stream.chunks(chunk) {
        defrag.feed(offset, record);
        offset += record.len() as u64;
        while let Some(item) = defrag.next_message() {
            match item {
                Defragmented::Message {
                    msg_type,
                    raw,
                    offset: at,
                } => {
                    assert!(at + raw.len() as u64 <= offset, "a message past the stream");
                    assert!(raw.len() <= limit as usize + 4, "a message past the limit");
                    parse_all(msg_type, raw.get(4..).unwrap_or(&[]));
                }
                Defragmented::Oversized { length, .. } => assert!(length > limit),
            }
        }
        assert!(defrag.pending_offset() <= offset);
    }
    parse_all(*choice, stream);
    let _ = sslv2::client_hello(stream);
    let _ = sslv2::message(stream);
    let found = Extensions::read(&mut Reader::new(stream));
    let _ = found.describe("ClientHello", |t| t.to_string());
}

fn parse_all(msg_type: u8, body: &[u8]) {
    for ctx in contexts() {
        if let Ok(message) = messages::parse(msg_type, body, &ctx) {
            if let Some((extensions, name)) = message.extensions() {
                let _ = extensions.describe(name, |t| t.to_string());
            }
        }
    }
}
