//! DTLS 1.0, 1.2 and 1.3 of one association, sans-IO: UDP datagrams in, typed events out.
//!
//! Strategy: `record` reads the headers of a datagram's records (RFC 6347 §4.1, RFC 9146's
//! connection-ID record, RFC 9147 §4's unified header); `handshake` reassembles fragments
//! into whole messages per epoch and `message_seq` (retransmissions told, compared byte for
//! byte with the first copy, a renegotiation's messages read anew, conflicting overlaps
//! refused, every buffer bounded by [`Limits`]) and
//! reads the hellos' few fields the record layer needs (randoms, cookie, suite, connection
//! IDs, the selected version); `keys` turns a key log's secrets into per-epoch record
//! protection (`crate::protection`); `association` drives them. Messages come out in TLS
//! form (4-byte header + body) for the TLS message parser. A bad record or fragment is a
//! [`Finding`] naming the frame and the byte offset; the rest of the datagram's records
//! (when they can still be framed) and of the capture go on.

mod association;
#[doc(hidden)]
pub mod fuzzing;
pub mod handshake;
pub mod hello;
pub mod keys;
mod lack;
pub mod record;
pub mod transcript12;
pub mod transcript13;

pub use association::Association;
pub use handshake::PendingPool;
pub use keys::{Keys, Secrets, Suite};
pub use record::looks_like_dtls;

use crate::flows::packet::Addr;

/// An end of the association: address and UDP port.
pub type Endpoint = (Addr, u16);

/// Bounds on what one association holds; every value an attacker chooses is checked
/// against one of these.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The longest handshake message reassembled (a certificate chain fits easily).
    pub max_message: usize,
    /// Messages held incomplete at once, per direction.
    pub max_pending_messages: usize,
    /// Bytes held for incomplete messages, per direction.
    pub max_pending_bytes: usize,
    /// Messages (epoch, message_seq) remembered as completed, per direction, to tell
    /// retransmissions.
    pub max_completed: usize,
    /// Epochs whose keys are kept (DTLS 1.3 key updates, DTLS 1.2 renegotiations), per
    /// direction; also how far past the newest keys a DTLS 1.3 epoch is derived.
    pub max_epochs: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message: 1 << 18,
            max_pending_messages: 16,
            max_pending_bytes: 1 << 20,
            max_completed: 256,
            max_epochs: 16,
        }
    }
}

/// A record's header as read (and, for a unified header, as reconstructed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordInfo {
    /// The outer content type (25 for a CID record, 23 for DTLS 1.3 ciphertext; None for a
    /// unified header, which has none).
    pub content_type: Option<u8>,
    /// None for a unified header.
    pub version: Option<u16>,
    /// Full epoch; for a unified header not decrypted, its 2 low bits only.
    pub epoch: u64,
    /// Full sequence number; for a unified header not decrypted, the bits as sent.
    pub seq: u64,
    pub cid: Vec<u8>,
    /// The body's length.
    pub length: usize,
    pub unified: bool,
}

/// Something wrong with the input: the frame (datagram), direction and byte offset (into
/// the datagram; inside a decrypted record, the record body's offset) it is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub frame: u64,
    pub from_client: bool,
    pub offset: usize,
    pub what: String,
}

/// What the association tells, in datagram order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DtlsEvent {
    /// A record; `decrypted`: its protection was removed with a key log's keys, and
    /// `inner_type` is then the real content type.
    Record {
        frame: u64,
        from_client: bool,
        offset: usize,
        record: RecordInfo,
        decrypted: bool,
        inner_type: Option<u8>,
    },
    /// A whole handshake message in TLS form (type, 24-bit length, body); `fragments`: how
    /// many handshake fragments it was reassembled from (1: it came whole).
    Message {
        frame: u64,
        from_client: bool,
        epoch: u64,
        message_seq: u16,
        msg_type: u8,
        tls: Vec<u8>,
        fragments: usize,
    },
    /// Fragments of a message already completed that repeat its bytes (told once per
    /// datagram and message; a copy with other bytes is a [`Finding`] instead).
    Retransmission {
        frame: u64,
        from_client: bool,
        message_seq: u16,
        msg_type: u8,
    },
    /// A ClientHello's DTLS field: the cookie (empty before a HelloVerifyRequest); `tls`:
    /// the message without it, as a TLS ClientHello (the [`DtlsEvent::Message`] that
    /// follows keeps the DTLS form); `epoch`: its records' (a renegotiation's is sent
    /// encrypted, in the epoch the previous handshake opened).
    ClientHello {
        frame: u64,
        epoch: u64,
        message_seq: u16,
        random: [u8; 32],
        cookie: Vec<u8>,
        tls: Vec<u8>,
    },
    HelloVerifyRequest {
        frame: u64,
        version: u16,
        cookie: Vec<u8>,
    },
    /// The ServerHello's choice; `version` is supported_versions' when present.
    Negotiated {
        frame: u64,
        version: u16,
        suite: u16,
        client_cid: Option<Vec<u8>>,
        server_cid: Option<Vec<u8>>,
    },
    ChangeCipherSpec {
        frame: u64,
        from_client: bool,
    },
    Alert {
        frame: u64,
        from_client: bool,
        level: u8,
        description: u8,
    },
    ApplicationData {
        frame: u64,
        from_client: bool,
        epoch: u64,
        seq: u64,
        data: Vec<u8>,
    },
    /// Before a CertificateVerify or a Finished (`msg_type`), told just before that
    /// message: what the CertificateVerify signs (`signed`: DTLS 1.3's transcript hash, RFC
    /// 9147 §5.2; before, the handshake messages themselves, RFC 6347 §4.2.6; empty before
    /// a DTLS 1.0/1.2 Finished); for a Finished, whether its verify_data is the one the key
    /// log's secret gives (the handshake traffic secret, or the master secret before DTLS
    /// 1.3; None: the key log has none for it).
    Transcript {
        frame: u64,
        from_client: bool,
        msg_type: u8,
        signed: Vec<u8>,
        finished: Option<bool>,
    },
    /// A handshake message of this direction that the handshake as read lacks: the
    /// reassembly refused it or a fragment of it, the shared pool had no room for it, or it
    /// never completed. A Finished is a MAC over every message before it, so one recomputed
    /// without this message cannot match whatever the secret. `why`: what is missing and
    /// why, as a clause of a reason ("tlslens skipped the server's handshake message type
    /// 11 (Certificate), which claims 1,207 bytes, past --max-message's limit of 300
    /// bytes"). Told once a message and handshake, after the [`Finding`] that says it.
    Lacking {
        frame: u64,
        from_client: bool,
        message_seq: u16,
        msg_type: u8,
        why: String,
    },
    /// A handshake message refused for its length (past --max-message): its step of the
    /// timeline, at the datagram `offset` of its first fragment seen; told once, with the
    /// [`Finding`] that says it.
    Skipped {
        frame: u64,
        from_client: bool,
        offset: usize,
        msg_type: u8,
        claimed: usize,
        limit: usize,
    },
    /// The random of a ClientHello refused for its length (past --max-message), read from
    /// its first fragment: the secrets are looked up by it, as over TCP.
    HelloRandom {
        frame: u64,
        random: [u8; 32],
    },
    /// RFC 9147 §7: the (epoch, sequence number) pairs acknowledged.
    Ack {
        frame: u64,
        from_client: bool,
        records: Vec<(u64, u64)>,
    },
    Finding(Finding),
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_captures;
#[cfg(test)]
mod tests_cid;
#[cfg(test)]
mod tests_derivation;
#[cfg(test)]
mod tests_dtls13;
#[cfg(test)]
mod tests_lack;
#[cfg(test)]
mod tests_reneg;
#[cfg(test)]
mod tests_wolfssl;
