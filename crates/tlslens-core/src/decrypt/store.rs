//! What a run knows beyond the key log: the sessions learnt from the capture (master secrets
//! by session ID and by ticket, for the abbreviated handshakes that resume them) and the
//! cipher suite registry the decryptor reads a ServerHello's suite in.

use std::collections::{BTreeMap, HashMap};

/// Resumable sessions remembered per table, oldest forgotten first.
pub const MAX_SESSIONS: usize = 1 << 16;

/// One table of master secrets, bounded, in order of (re)insertion.
#[derive(Debug, Default)]
struct Bounded {
    by_key: HashMap<Vec<u8>, (u64, Vec<u8>)>,
    order: BTreeMap<u64, Vec<u8>>,
    next: u64,
}

impl Bounded {
    fn remember(&mut self, key: &[u8], master: &[u8]) {
        if let Some((at, _)) = self.by_key.remove(key) {
            self.order.remove(&at);
        }
        let at = self.next;
        self.next = self.next.wrapping_add(1);
        self.by_key.insert(key.to_vec(), (at, master.to_vec()));
        self.order.insert(at, key.to_vec());
        while self.by_key.len() > MAX_SESSIONS {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            self.by_key.remove(&oldest);
        }
    }

    fn look_up(&self, key: &[u8]) -> Option<&[u8]> {
        self.by_key.get(key).map(|(_, master)| master.as_slice())
    }
}

/// The master secrets of full handshakes seen, by session ID and by ticket.
#[derive(Debug, Default)]
pub struct SessionCache {
    sessions: Bounded,
    tickets: Bounded,
}

impl SessionCache {
    pub fn new() -> Self {
        Self::default()
    }

    /// Keep the master secret of a session ID (remembered at its ChangeCipherSpec).
    pub fn remember_session(&mut self, session_id: &[u8], master: &[u8]) {
        self.sessions.remember(session_id, master);
    }

    /// Keep the master secret of a TLS 1.2 ticket (RFC 5077) its NewSessionTicket issued.
    pub fn remember_ticket(&mut self, ticket: &[u8], master: &[u8]) {
        self.tickets.remember(ticket, master);
    }

    pub fn session(&self, session_id: &[u8]) -> Option<&[u8]> {
        self.sessions.look_up(session_id)
    }

    pub fn ticket(&self, ticket: &[u8]) -> Option<&[u8]> {
        self.tickets.look_up(ticket)
    }

    /// Sessions and tickets held.
    pub fn len(&self) -> (usize, usize) {
        (self.sessions.by_key.len(), self.tickets.by_key.len())
    }
}

/// A cipher suite as the registry decomposes it (`registry.CipherSuiteInfo`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Suite {
    pub name: String,
    pub kx: Option<String>,
    pub auth: Option<String>,
    pub cipher: String,
    pub mac: String,
    /// The PRF's or HKDF's hash ("SHA256" when the registry names none).
    pub prf_hash: String,
    pub tls13: bool,
}

/// The registry's suites by code point.
pub type Suites = HashMap<u16, Suite>;
