//! The body of the `quic_packet` cargo-fuzz target, shared with the corpus replay of
//! `cargo test`: hostile datagrams through detection, header parsing, Initial decryption,
//! frame parsing and CRYPTO reassembly, under small bounds.

use super::frames::parse_frames;
use super::{Datagram, Limits, QuicConnections, QuicEvent};
use crate::flows::packet::Addr;

/// The input's first byte chooses how it is cut into datagrams and from which side each
/// comes; the rest is the datagrams. Also the frame parser alone on the raw bytes.
pub fn quic_packet(data: &[u8]) {
    let (choice, input) = data.split_first().unwrap_or((&0, &[]));
    let _ = parse_frames(input);
    let limits = Limits {
        max_connections: 4,
        max_cids: 4,
        max_crypto: 4096,
        max_buffered_bytes: 8192,
        max_keylog: 2,
    };
    let mut table = QuicConnections::new(limits);
    // A key log line for a fixed random, so Handshake and 1-RTT keys can be derived.
    for label in ["CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_TRAFFIC_SECRET_0"] {
        table.add_secret(label, &[0x5a; 32], &[0x11; 32]);
    }
    let client = (Addr::v4([10, 0, 0, 1]), 50_000);
    let server = (Addr::v4([10, 0, 0, 2]), 443);
    let size = usize::from(*choice % 64).max(1) * 24;
    for (frame, chunk) in (1u64..).zip(input.chunks(size)) {
        let from_server = chunk.first().is_some_and(|b| b & 1 == 1) && choice & 0x80 != 0;
        let (src, dst) = if from_server {
            (server, client)
        } else {
            (client, server)
        };
        table.datagram(&Datagram {
            frame,
            ts_ns: 0,
            src,
            dst,
            payload: chunk,
        });
    }
    table.finish();
    while let Some(event) = table.poll() {
        if let QuicEvent::Crypto { offset, data, .. } = event {
            let end = offset.saturating_add(data.len() as u64);
            assert!(end <= limits.max_crypto, "a CRYPTO run past the bound");
        }
    }
    assert!(table.connections() <= limits.max_connections);
}
