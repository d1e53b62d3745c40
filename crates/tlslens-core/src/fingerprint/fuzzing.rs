//! The body of the `fingerprint` cargo-fuzz target, shared with the corpus replay of
//! `cargo test`: hello bytes in, every fingerprint out, never a panic.

use super::{ja3s, ja4_raw, Cache, ClientFingerprints, Transport};
use crate::handshake::messages::{self, Message};
use crate::handshake::{sslv2, Context, CLIENT_HELLO, SERVER_HELLO};

/// `data` read as a ClientHello body, a ServerHello body and an SSLv2 CLIENT-HELLO record;
/// each that parses is fingerprinted. Panics only when a fingerprint breaks its shape.
pub fn fingerprint(data: &[u8]) {
    let ctx = Context::default();
    if let Ok(Message::ClientHello(hello)) = messages::parse(CLIENT_HELLO, data, &ctx) {
        client(&hello);
    }
    if let Ok(hello) = sslv2::client_hello(data) {
        client(&hello);
    }
    if let Ok(Message::ServerHello(hello)) = messages::parse(SERVER_HELLO, data, &ctx) {
        let ja3s = ja3s(&hello);
        assert_eq!(*Cache::new().server(&hello), *ja3s);
        assert!(ja3s.len() == 32 && ja3s.bytes().all(|b| b.is_ascii_hexdigit()));
    }
}

fn client(hello: &messages::ClientHello<'_>) {
    let once = ClientFingerprints::of(hello);
    assert_eq!(*Cache::new().client(hello), once);
    assert_eq!(once.ja3.is_none(), hello.sslv2);
    for transport in [Transport::Tcp, Transport::Quic, Transport::Dtls] {
        let raw = ja4_raw(hello, transport);
        let ja4 = once.ja4(transport);
        assert_eq!(ja4, raw.hashed());
        // a is ten ASCII characters; b and c twelve hex digits each.
        assert_eq!(ja4.len(), 36, "{ja4}");
        assert!(ja4.is_ascii() && raw.a.len() == 10, "{ja4}");
    }
}
