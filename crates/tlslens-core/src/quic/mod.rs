//! QUIC read passively from UDP datagrams (RFC 9000, 9001, 8999; v2 RFC 9369), sans-IO.
//!
//! Strategy, after quinn-proto's shape: a [`QuicConnections`] is fed datagrams (frame
//! number, time, addresses, payload) and polled for [`QuicEvent`]s; no sockets, no
//! clocks. A datagram is QUIC by its content on any port (a long header with a QUIC
//! version and sane Connection ID lengths; a short header only for a known connection's
//! Destination Connection ID). Initial packets are opened with keys derived from the
//! client's first Destination Connection ID; Handshake, 0-RTT and 1-RTT packets with the
//! TLS 1.3 secrets of a key log once the ClientHello's random and the ServerHello's suite
//! are seen. Frames are parsed into typed values and the CRYPTO streams reassembled into
//! the handshake bytes the handshake parser reads. Every table is bounded by [`Limits`];
//! bad input is a [`Finding`] with the frame number and byte offset, never a panic.

mod conn;
pub mod crypto_stream;
pub mod frames;
mod frames_in;
#[doc(hidden)]
pub mod fuzzing;
pub mod hello;
pub mod keys;
mod orphans;
pub mod packet;
mod roles;
pub mod runs;
mod table;
pub mod unprotect;
pub mod version;

pub use table::QuicConnections;
pub use version::version_name;

use crate::flows::packet::Addr;
use frames::FrameAt;
use packet::Form;

/// An address and UDP port.
pub type Endpoint = (Addr, u16);

/// What a hostile capture can make the QUIC reader hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Connections followed at once; past this, new ones are a finding and not followed.
    pub max_connections: usize,
    /// Connection IDs remembered per connection (its own, the peer's, NEW_CONNECTION_ID).
    pub max_cids: usize,
    /// Bytes of one CRYPTO stream (a packet number space, one direction).
    pub max_crypto: u64,
    /// CRYPTO bytes waiting beyond a hole, all connections together; past this, CRYPTO
    /// data that would wait is dropped, with a finding (a retransmission may bring it
    /// again). 2,000 connections whose Initials' CRYPTO never began held 518 MB before.
    pub max_crypto_waiting: u64,
    /// CRYPTO bytes waiting beyond a hole in one stream; past this, as past
    /// `max_crypto_waiting`. A hole filled hands all of them out at once, to be read as
    /// handshake messages in one go: 1 MiB of 8-byte messages made 131,072 steps of one
    /// connection before `--max-held` could close it (RFC 9000 §7.5 asks for 4,096).
    pub max_crypto_stream_waiting: u64,
    /// Bytes of packets held, all connections together, until their keys are known (a
    /// 0-RTT packet before the ServerHello names the suite, a level before its key log
    /// line); only for connections whose client random is in the key log.
    pub max_buffered_bytes: usize,
    /// Key log entries (client randoms) held.
    pub max_keylog: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 10_000,
            max_cids: 32,
            max_crypto: 1 << 20,
            max_crypto_waiting: 16 << 20,
            max_crypto_stream_waiting: 64 << 10,
            max_buffered_bytes: 4 << 20,
            max_keylog: 100_000,
        }
    }
}

/// One UDP datagram of the capture.
#[derive(Clone, Copy, Debug)]
pub struct Datagram<'a> {
    pub frame: u64,
    pub ts_ns: i128,
    pub src: Endpoint,
    pub dst: Endpoint,
    pub payload: &'a [u8],
}

/// The packet number spaces (RFC 9000 §12.3): 0-RTT and 1-RTT share the application one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Space {
    Initial,
    Handshake,
    Application,
}

impl Space {
    pub fn index(self) -> usize {
        match self {
            Self::Initial => 0,
            Self::Handshake => 1,
            Self::Application => 2,
        }
    }
}

/// Something wrong in the input, where it is: the datagram's frame number and the byte
/// offset in its UDP payload (for a frame, where it lies in the protected packet).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub frame: u64,
    pub offset: usize,
    pub conn: Option<u64>,
    pub what: String,
}

/// One packet of a datagram, opened or not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PacketEvent {
    pub conn: u64,
    pub frame: u64,
    pub ts_ns: i128,
    /// 0 from the client, 1 from the server.
    pub side: u8,
    /// The packet's bytes in the datagram's payload.
    pub offset: usize,
    pub len: usize,
    /// The packet's place among its connection's packet events, from 0.
    pub seq: u64,
    pub form: Form,
    pub version: u32,
    pub dcid: Vec<u8>,
    pub scid: Vec<u8>,
    /// Set when the packet was opened.
    pub pn: Option<u64>,
    pub key_phase: Option<bool>,
    /// Not opened although its level's keys were there: they do not authenticate it (a
    /// wrong key log, or a packet altered on the way), which is not "no key".
    pub failed: bool,
    /// The plaintext payload (empty when not opened), which `frames`' spans index.
    pub payload: Vec<u8>,
    pub frames: Vec<FrameAt>,
}

impl PacketEvent {
    /// A packet as its header shows it, before (or without) opening it.
    fn unopened(
        d: &Datagram<'_>,
        view: &packet::PacketView<'_>,
        conn: u64,
        side: u8,
        seq: u64,
    ) -> Self {
        Self {
            conn,
            frame: d.frame,
            ts_ns: d.ts_ns,
            side,
            offset: view.start,
            len: view.end.saturating_sub(view.start),
            seq,
            form: view.form,
            version: view.version,
            dcid: view.dcid.to_vec(),
            scid: view.scid.to_vec(),
            pn: None,
            key_phase: None,
            failed: false,
            payload: Vec::new(),
            frames: Vec::new(),
        }
    }
}

/// What the reader tells, in datagram order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QuicEvent {
    /// A new connection, at its first Initial: the client's, or the server's answer to a
    /// client Initial that could not be read (`roles`).
    Opened {
        conn: u64,
        frame: u64,
        ts_ns: i128,
        client: Endpoint,
        server: Endpoint,
        version: u32,
        /// The client's first Destination Connection ID (the Initial keys' input); None when
        /// the connection opened at the server's Initial, as that ID is then unknown.
        dcid: Option<Vec<u8>>,
    },
    Packet(PacketEvent),
    /// Handshake bytes of a CRYPTO stream that became contiguous, at their stream offset.
    Crypto {
        conn: u64,
        frame: u64,
        side: u8,
        space: Space,
        offset: u64,
        data: Vec<u8>,
        /// The ClientHello's random, read from these bytes (the client's Initial stream from
        /// offset 0) to look the key log up by: the connection's decryptor looks its secrets
        /// up by it too, should the content layer not read the ClientHello (--max-message).
        client_random: Option<[u8; 32]>,
    },
    VersionNegotiation {
        conn: Option<u64>,
        frame: u64,
        versions: Vec<u32>,
    },
    Retry {
        conn: u64,
        frame: u64,
        scid: Vec<u8>,
        token: Vec<u8>,
        tag_ok: bool,
    },
    /// The 1-RTT keys of a side moved to the next phase (RFC 9001 §6).
    KeyUpdate {
        conn: u64,
        frame: u64,
        side: u8,
        key_phase: bool,
    },
    /// The client's address or port changed (RFC 9000 §9).
    Migrated {
        conn: u64,
        frame: u64,
        client: Endpoint,
    },
    Finding(Finding),
}
