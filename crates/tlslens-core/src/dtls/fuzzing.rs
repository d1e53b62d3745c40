//! The body of the `dtls` cargo-fuzz target, shared with the corpus replay of `cargo test`.

use std::sync::Arc;

use super::{Association, DtlsEvent, Keys, Limits, PendingPool, Secrets, Suite};
use crate::flows::packet::Addr;
use crate::keys::HashAlg;
use crate::protection::cipher_spec;

/// Datagrams cut from `data` (a 2-byte big-endian length before each, the top bit choosing
/// the direction) through one association with small limits, with and without keys that
/// match any ClientHello random of zeros, sharing a small pool: findings and events, never a
/// panic, and every bound kept (the pool's bytes all given back at the end).
pub fn dtls(data: &[u8]) {
    let client = (Addr::v4([10, 0, 0, 1]), 5000);
    let server = (Addr::v4([10, 0, 0, 2]), 4433);
    let limits = Limits {
        max_message: 4096,
        max_pending_messages: 4,
        max_pending_bytes: 8192,
        max_completed: 8,
        max_epochs: 4,
    };
    let pool = Arc::new(PendingPool::new(6000));
    for keys in [None, Some(Arc::new(fuzz_keys()))] {
        let mut association = Association::new(limits.clone(), keys).sharing(Arc::clone(&pool));
        let mut rest = data;
        let mut frame = 0;
        while let [hi, lo, tail @ ..] = rest {
            let len = usize::from(u16::from_be_bytes([*hi & 0x7f, *lo])).min(tail.len());
            let (datagram, tail) = tail.split_at(len);
            rest = tail;
            frame += 1;
            let (src, dst) = if hi & 0x80 == 0 {
                (client, server)
            } else {
                (server, client)
            };
            association.feed(frame, src, dst, datagram);
            while let Some(event) = association.poll() {
                check(&event, &limits);
            }
            assert!(pool.held() <= pool.max());
        }
        association.finish(frame);
        while let Some(event) = association.poll() {
            check(&event, &limits);
        }
        assert_eq!(pool.held(), 0);
    }
}

fn check(event: &DtlsEvent, limits: &Limits) {
    if let DtlsEvent::Message { tls, .. } = event {
        assert!(tls.len() <= limits.max_message + 4);
    }
}

/// Every key kind the association opens records with, for a ClientHello random of zeros.
fn fuzz_keys() -> Keys {
    let secret = vec![7u8; 48];
    let mut keys = Keys::default();
    keys.secrets.insert(
        [0; 32],
        Secrets {
            master_secret: Some(secret.clone()),
            client_handshake: Some(secret[..32].to_vec()),
            server_handshake: Some(secret[..32].to_vec()),
            client_application: Some(secret[..32].to_vec()),
            server_application: Some(secret[..32].to_vec()),
            origin: None,
        },
    );
    let suites: [(u16, &str, &str, bool); 5] = [
        (0xc02f, "AES_128_GCM", "", false),
        (0xcca8, "CHACHA20_POLY1305", "", false),
        (0xc013, "AES_128_CBC", "SHA", false),
        (0x1301, "AES_128_GCM", "", true),
        (0x1303, "CHACHA20_POLY1305", "", true),
    ];
    for (id, cipher, mac, tls13) in suites {
        if let Ok(spec) = cipher_spec("fuzz", cipher, mac, tls13, 0x0303) {
            let hash = HashAlg::Sha256;
            keys.suites.insert(id, Suite { spec, hash });
        }
    }
    keys
}
