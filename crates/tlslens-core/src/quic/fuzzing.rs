//! The body of the `quic_packet` cargo-fuzz target, shared with the corpus replay of
//! `cargo test`: hostile datagrams through detection, header parsing, Initial decryption,
//! frame parsing and CRYPTO reassembly, under small bounds; the packets folded into runs
//! as the Python boundary folds them.

use super::crypto_stream::CryptoStream;
use super::frames::parse_frames;
use super::runs::{PacketRun, MAX_RUN_DATA, MAX_RUN_STREAMS};
use super::{Datagram, Limits, QuicConnections, QuicEvent};
use crate::flows::packet::Addr;

/// The input is datagrams, each a 2-byte length (its top bit: sent by the server; the
/// next: the client is on a new port, as after a migration) then its bytes (the last one
/// takes what is left; every third is fed as a datagram of no UDP association); the frame parser also runs on it whole. Panics if a bound is
/// broken (the fuzzer's crash), never otherwise.
pub fn quic_packet(data: &[u8]) {
    let _ = parse_frames(data);
    let limits = Limits {
        max_connections: 4,
        max_cids: 4,
        max_crypto: 4096,
        max_crypto_waiting: 6000,
        max_crypto_stream_waiting: 3000,
        max_buffered_bytes: 8192,
        max_keylog: 2,
    };
    let mut table = QuicConnections::new(limits);
    // Key log lines for RFC 9001's ClientHello random, so that Handshake and 1-RTT keys
    // are derived once a seed's Initials are opened.
    let random = [
        0xeb, 0xf8, 0xfa, 0x56, 0xf1, 0x29, 0x39, 0xb9, 0x58, 0x4a, 0x38, 0x96, 0x47, 0x2e, 0xc4,
        0x0b, 0xb8, 0x63, 0xcf, 0xd3, 0xe8, 0x68, 0x04, 0xfe, 0x3a, 0x47, 0xf0, 0x6a, 0x2b, 0x69,
        0x48, 0x4c,
    ];
    for (label, byte) in [
        ("CLIENT_HANDSHAKE_TRAFFIC_SECRET", 0x11),
        ("SERVER_TRAFFIC_SECRET_0", 0x22),
        ("CLIENT_TRAFFIC_SECRET_0", 0x33),
    ] {
        table.add_secret(label, &random, &[byte; 32]);
    }
    let (first, migrated) = (
        (Addr::v4([10, 0, 0, 1]), 50_000),
        (Addr::v4([10, 0, 0, 1]), 50_001),
    );
    let server = (Addr::v4([10, 0, 0, 2]), 443);
    let mut rest = data;
    for frame in 1u64.. {
        let Some((&[high, low], tail)) = rest.split_first_chunk::<2>() else {
            break;
        };
        let len = usize::from(u16::from_be_bytes([high & 0x3f, low])).min(tail.len());
        let (payload, tail) = tail.split_at(len);
        rest = tail;
        let client = if high & 0x40 != 0 { migrated } else { first };
        let (src, dst) = if high & 0x80 != 0 {
            (server, client)
        } else {
            (client, server)
        };
        let d = Datagram {
            frame,
            ts_ns: 0,
            src,
            dst,
            payload,
        };
        // Every third datagram as one no UDP association took (`stray`).
        if frame % 3 == 0 {
            table.stray(&d);
        } else {
            table.datagram(&d);
        }
    }
    table.finish();
    let mut runs: Vec<PacketRun> = Vec::new();
    let mut folded = 0u64;
    while let Some(event) = table.poll() {
        match event {
            QuicEvent::Crypto { offset, data, .. } => {
                let end = offset.saturating_add(data.len() as u64);
                assert!(end <= limits.max_crypto, "a CRYPTO run past the bound");
            }
            QuicEvent::Packet(p) => {
                let keep = p.seq < 2;
                if runs.last_mut().is_some_and(|run| run.absorb(&p, keep)) {
                    folded += 1;
                } else if let Some(run) = PacketRun::start(&p, keep) {
                    runs.push(run);
                    folded += 1;
                }
            }
            _ => {}
        }
    }
    assert!(table.connections() <= limits.max_connections);
    assert!(table.crypto_waiting <= limits.max_crypto_waiting);
    assert_eq!(
        table.crypto_waiting,
        (table.conns.values())
            .flat_map(|c| c.crypto.iter().flatten())
            .map(CryptoStream::waiting)
            .sum::<u64>()
    );
    assert!(table.orphans.len() <= limits.max_connections);
    assert!(table.unreadable.len() <= limits.max_connections);
    let mut counted = 0u64;
    for run in &runs {
        assert!(run.data.len() <= MAX_RUN_DATA && run.streams.len() <= MAX_RUN_STREAMS);
        let streamed: u64 = run.streams.iter().map(|(_, bytes)| bytes).sum();
        assert_eq!(
            streamed,
            run.data.len() as u64,
            "a run's streams and bytes disagree"
        );
        counted += run.packets.iter().sum::<u64>();
    }
    assert_eq!(counted, folded, "a packet folded but not counted");
}
