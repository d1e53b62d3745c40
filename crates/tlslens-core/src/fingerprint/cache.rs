//! Fingerprints remembered by what they read, for the next hello of the same stack.
//!
//! A capture of many connections holds few client and server stacks, and every hello of
//! one stack gives the same fingerprints: the key is exactly what they read (the version,
//! the suites, the extension types, and the bodies of the extensions whose contents count),
//! so two hellos with one key have one answer; randoms, session ids and key shares, which
//! differ each time, are not in it. Bounded: past [`MAX_REMEMBERED`] keys of a kind, it
//! starts again empty, and a key longer than [`MAX_KEY_BYTES`] (a hello of hundreds of
//! suites or huge extension bodies, which no common stack sends) is answered without being
//! kept, so the cache holds a few megabytes at most whatever the capture.

use std::collections::HashMap;
use std::sync::Arc;

use super::{ja3s, ClientFingerprints};
use crate::extensions as ext;
use crate::handshake::extensions_list::Extension;
use crate::handshake::messages::{ClientHello, ServerHello};

/// Distinct client (and server) stacks remembered; a fleet has few.
pub const MAX_REMEMBERED: usize = 4096;

/// The longest key kept (a browser's hello makes about 250 bytes).
pub const MAX_KEY_BYTES: usize = 2048;

/// The extensions whose bodies the client fingerprints read.
const READ: [u16; 5] = [
    ext::SUPPORTED_GROUPS,
    ext::EC_POINT_FORMATS,
    ext::SUPPORTED_VERSIONS,
    ext::SIGNATURE_ALGORITHMS,
    ext::ALPN,
];

#[derive(Debug, Default)]
pub struct Cache {
    clients: HashMap<Vec<u8>, Arc<ClientFingerprints>>,
    servers: HashMap<Vec<u8>, Arc<str>>,
}

/// Each extension's type, and the body (with its length, so keys cannot run together)
/// where `read` says the fingerprints read it.
fn push_extensions(key: &mut Vec<u8>, extensions: &[Extension<'_>], read: &[u16]) {
    for extension in extensions {
        key.extend(extension.ext_type.to_be_bytes());
        if read.contains(&extension.ext_type) {
            key.extend(extension.data.len().to_be_bytes());
            key.extend_from_slice(extension.data);
        }
    }
}

fn remember<T: ?Sized>(
    map: &mut HashMap<Vec<u8>, Arc<T>>,
    key: Vec<u8>,
    make: impl FnOnce() -> Arc<T>,
) -> Arc<T> {
    if key.len() > MAX_KEY_BYTES {
        return make();
    }
    if let Some(found) = map.get(&key) {
        return Arc::clone(found);
    }
    if map.len() >= MAX_REMEMBERED {
        map.clear();
    }
    let made = make();
    map.insert(key, Arc::clone(&made));
    made
}

impl Cache {
    pub fn new() -> Self {
        Self::default()
    }

    /// The JA3 and JA4 of `hello`, made once per client stack.
    pub fn client(&mut self, hello: &ClientHello<'_>) -> Arc<ClientFingerprints> {
        let mut key = Vec::with_capacity(64 + 4 * hello.cipher_suites.len());
        key.push(u8::from(hello.sslv2));
        key.extend(hello.legacy_version.to_be_bytes());
        key.extend(hello.cipher_suites.len().to_be_bytes());
        for suite in &hello.cipher_suites {
            key.extend(suite.to_be_bytes());
        }
        push_extensions(&mut key, &hello.extensions.list, &READ);
        remember(&mut self.clients, key, || {
            Arc::new(ClientFingerprints::of(hello))
        })
    }

    /// The JA3S of `hello`, made once per server stack's answer.
    pub fn server(&mut self, hello: &ServerHello<'_>) -> Arc<str> {
        let mut key = Vec::with_capacity(4 + 2 * hello.extensions.list.len());
        key.extend(hello.legacy_version.to_be_bytes());
        key.extend(hello.cipher_suite.to_be_bytes());
        push_extensions(&mut key, &hello.extensions.list, &[]);
        remember(&mut self.servers, key, || Arc::from(ja3s(hello)))
    }

    /// How many client and server stacks are remembered.
    pub fn len(&self) -> (usize, usize) {
        (self.clients.len(), self.servers.len())
    }
}
