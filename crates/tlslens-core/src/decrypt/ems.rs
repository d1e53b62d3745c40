//! An extended master secret whose ClientKeyExchange was read before the server's
//! ServerHelloDone: the master secret waits for the server's flight.
//!
//! Strategy: RFC 7627 §4's session hash covers the handshake up to the ClientKeyExchange,
//! which in a full TLS <= 1.2 handshake answers the server's ServerHelloDone. When a segment
//! of the server's comes late in the capture (TCP reordering), the bytes after it wait
//! behind the hole while the client's flight is read: hashed then, the transcript would hold
//! the messages out of the order both ends hashed, and the master secret would be another.
//! So the premaster (from --rsa-key, a key log's RSA line, a PSK) waits ([`EmsWait`]), with
//! the client's flight taken out of the transcript; the server's ServerHelloDone puts it back
//! after it, and the master secret is derived then. The client's ChangeCipherSpec and
//! Finished record went by meanwhile without keys: its keys come into force at once, past
//! the records it sent meanwhile (their sequence numbers, and TLS 1.0's chained CBC IV; not
//! for a stream cipher, whose keystream those records used). Its Finished stays unread, so
//! the server's, which hashes it, is not checked. The ServerHelloDone never read (the segment
//! lost), nothing is derived, and the reason says why.

use super::{Decryptor, Dir};

/// The tail of a record kept to pass it: the CBC block TLS 1.0 chains as the next IV, and
/// an encrypt-then-MAC record's MAC after it (64 bytes at most, HMAC-SHA512's).
const TAIL: usize = 16 + 64;

/// A premaster waiting for the server's ServerHelloDone.
pub(super) struct EmsWait {
    premaster: Vec<u8>,
    source: String,
    /// The client's messages taken out of the transcript: its flight to the
    /// ClientKeyExchange (`hashed` bytes, what the session hash covers), then any after it.
    flight: Vec<u8>,
    hashed: usize,
    /// The reason before the wait's: put back when the keys are derived.
    before: Option<String>,
    /// The client's ChangeCipherSpec went by, its protected records since (no key), and
    /// the last one's tail.
    ccs: bool,
    records: u64,
    tail: Vec<u8>,
}

/// Why no key is derived while the premaster waits: said if the ServerHelloDone never
/// comes.
const WAITING: &str = "the extended master secret hashes the handshake up to the \
    ClientKeyExchange, which the capture held before the server's ServerHelloDone, and that \
    never came (a server segment lost): the keys cannot be derived";

impl Decryptor {
    /// The premaster waits for the server's ServerHelloDone, the client's flight out of the
    /// transcript (see the module's Strategy). When the client's flight is not the
    /// transcript's last run (nothing to take out), no key is derived, and the reason says
    /// why.
    pub(super) fn wait_for_server_done(&mut self, premaster: &[u8], source: &str) {
        let Some((Dir::C2S, start)) = self.run else {
            self.reason = Some(WAITING.to_owned());
            return;
        };
        let flight = self.transcript.split_off(start);
        self.run = None;
        self.ems_wait = Some(EmsWait {
            premaster: premaster.to_vec(),
            source: source.to_owned(),
            hashed: flight.len(),
            flight,
            before: self.reason.replace(WAITING.to_owned()),
            ccs: false,
            records: 0,
            tail: Vec::new(),
        });
    }

    /// A client message while the premaster waits goes after its flight; true when taken.
    pub(super) fn held_for_ems(&mut self, dir: Dir, raw: &[u8]) -> bool {
        match self.ems_wait.as_mut() {
            Some(wait) if dir == Dir::C2S => {
                wait.flight.extend_from_slice(raw);
                true
            }
            _ => false,
        }
    }

    /// The client's ChangeCipherSpec while the premaster waits.
    pub(super) fn client_ccs_unkeyed(&mut self) {
        if let Some(wait) = self.ems_wait.as_mut() {
            wait.ccs = true;
        }
    }

    /// One of the client's protected records, not opened (no key) while the premaster
    /// waits: it is passed once the keys are there.
    pub(super) fn client_record_unkeyed(&mut self, body: &[u8]) {
        if let Some(wait) = self.ems_wait.as_mut().filter(|wait| wait.ccs) {
            wait.records = wait.records.saturating_add(1);
            wait.tail = body[body.len().saturating_sub(TAIL)..].to_vec();
        }
    }

    /// The server's ServerHelloDone is in: the client's flight goes back after it, the
    /// master secret is derived, and the client's keys come into force if its
    /// ChangeCipherSpec went by.
    pub(super) fn ems_server_done(&mut self) {
        let Some(wait) = self.ems_wait.take() else {
            return;
        };
        let (hashed, rest) = wait
            .flight
            .split_at_checked(wait.hashed)
            .unwrap_or((&wait.flight, &[]));
        self.append_as(Dir::C2S, hashed);
        self.reason = wait.before;
        self.master_from_premaster(&wait.premaster, &wait.source);
        self.append_as(Dir::C2S, rest);
        if !wait.ccs {
            return;
        }
        let keys = self.pending[0].take().filter(|keys| !keys.is_stream());
        if let Some(mut keys) = keys {
            for _ in 0..wait.records {
                keys.pass(&wait.tail);
            }
            self.active[0] = Some(keys);
        }
    }
}
