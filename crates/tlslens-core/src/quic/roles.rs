//! Who is the client of a QUIC connection, decided from what is certain. A connection
//! opens at an Initial of an address pair no connection holds; its sender is the client,
//! unless something says the Initial is the server's answer:
//! - the first datagram of the pair went the other way and could not be read (a damaged
//!   client Initial: a flipped fixed bit, version or Connection ID length byte). It cannot
//!   open anything, but it says who spoke first: the client (RFC 9000 §7, the client
//!   begins), and the server answers from the address and port it was sent to;
//! - no such datagram, and the Initial goes from a QUIC server port (443, 4433) to an
//!   ephemeral port: the client's first Initial is not in the capture.
//!
//! A connection opened at the server's answer has Initial keys only if the damaged
//! Initial's Destination Connection ID still reads and opens the server's Initial (the
//! keys come from that ID, which only the client's first Initial carries); otherwise its
//! Initial packets stay sealed. One finding on the connection says which.

use super::conn::{Conn, Level};
use super::packet::{parse_long, PacketView, MAX_CID_LEN};
use super::table::{QuicConnections, QUIC_PORT};
use super::version::{version_name, Version};
use super::{Datagram, Endpoint};

/// Ports QUIC servers listen on (HTTP/3's, and the one QUIC's test servers use).
const SERVER_PORTS: [u16; 2] = [443, 4433];
/// Ports from here up are ephemeral: clients' (IANA's dynamic range starts at 49152, but
/// Linux hands out from 32768 and BSDs from 1024).
const EPHEMERAL_FROM: u16 = 1024;
/// The first byte's form bit: a long header (RFC 9000 §17.2).
const LONG_FORM: u8 = 0x80;
/// The first byte's fixed bit, set in every v1 and v2 packet (RFC 9000 §17.2).
const FIXED_BIT: u8 = 0x40;
/// Offset of a long header's Destination Connection ID length byte.
const DCID_LEN_AT: usize = 5;

/// The first datagram of an address pair, unreadable as QUIC: where it went wrong.
pub(super) struct Unreadable {
    frame: u64,
    offset: usize,
    why: String,
    /// Its Destination Connection ID as its bytes read, when its length byte is sane.
    dcid: Option<Vec<u8>>,
}

/// How a connection's roles were decided, when not by the sender of its first Initial.
pub(super) struct ServerFirst {
    pub client: Endpoint,
    pub server: Endpoint,
    /// The finding that says so (its frame, offset and text).
    pub frame: u64,
    pub offset: usize,
    pub what: String,
    /// The client's first Destination Connection ID, when the damaged Initial's opened
    /// the server's Initial.
    pub dcid: Option<Vec<u8>>,
}

impl QuicConnections {
    /// A datagram of no UDP association (it did not look like the start of QUIC to the flow
    /// table): a long header on an address pair of no connection opens nothing here (no
    /// association would carry the connection), it is noted as the pair's unreadable first
    /// datagram. Anything else is read as [`QuicConnections::datagram`] reads it.
    pub fn stray(&mut self, d: &Datagram<'_>) -> bool {
        let long = d.payload.first().is_some_and(|b| b & LONG_FORM != 0);
        if !long || self.pair_known(d) {
            return self.datagram(d);
        }
        self.note_unreadable(d, 0);
        if d.src.1 == QUIC_PORT || d.dst.1 == QUIC_PORT {
            let (at, why) = why_unreadable(d.payload);
            self.finding(
                d.frame,
                at,
                None,
                format!(
                    "a UDP datagram of {} bytes on port {QUIC_PORT} that starts like a QUIC long \
                     header but does not read as one: {why}",
                    d.payload.len()
                ),
            );
        }
        false
    }

    fn pair_known(&self, d: &Datagram<'_>) -> bool {
        self.by_tuple.contains_key(&(d.src, d.dst))
    }

    /// The packet at `at` of `d` (the first of its datagram) could not be read, or is of a
    /// version not opened: if no connection holds its address pair and none of the pair's
    /// datagrams came before, it is the first and tells who spoke first.
    pub(super) fn note_unreadable(&mut self, d: &Datagram<'_>, at: usize) {
        if at != 0
            || self.pair_known(d)
            || self.unreadable.contains_key(&(d.src, d.dst))
            || self.unreadable.contains_key(&(d.dst, d.src))
            || self.unreadable.len() >= self.limits.max_connections
        {
            return;
        }
        let (offset, why) = why_unreadable(d.payload);
        let dcid = d.payload.get(DCID_LEN_AT).and_then(|len| {
            let len = usize::from(*len);
            let id = d.payload.get(DCID_LEN_AT + 1..DCID_LEN_AT + 1 + len)?;
            (len <= MAX_CID_LEN).then(|| id.to_vec())
        });
        self.unreadable.insert(
            (d.src, d.dst),
            Unreadable {
                frame: d.frame,
                offset,
                why,
                dcid,
            },
        );
    }

    /// Whether the Initial `view` that opens a connection is the server's answer, and so
    /// who the client is; the pair's unreadable datagram is forgotten either way.
    pub(super) fn server_first(
        &mut self,
        d: &Datagram<'_>,
        view: &PacketView<'_>,
    ) -> Option<ServerFirst> {
        self.unreadable.remove(&(d.src, d.dst));
        let answered = self.unreadable.remove(&(d.dst, d.src));
        let version = version_name(view.version);
        let mut dcid = None;
        let what = match answered {
            Some(first) => {
                dcid = first
                    .dcid
                    .filter(|id| opens_server_initial(view.version, id, d, view));
                let keys = match &dcid {
                    Some(id) => format!(
                        "the Destination Connection ID of that Initial ({} bytes at byte 6) \
                         still reads and opens the server's Initial, so the Initial keys are \
                         known: only the ClientHello is lost with that datagram",
                        id.len()
                    ),
                    None => "the Initial keys come from the Destination Connection ID of \
                             that unreadable Initial, so no Initial packet is opened (the \
                             ClientHello and ServerHello are not read)"
                        .to_owned(),
                };
                format!(
                    "the client's first Initial (frame {}, to port {}) is unreadable: {} \
                     (byte {} of its UDP payload); frame {} answers it from the address and \
                     port it was sent to, so its sender is the server, and the client is the \
                     sender of frame {} (QUIC's client speaks first). The server's {version} \
                     Initial opens the connection here; {keys}",
                    first.frame, d.src.1, first.why, first.offset, d.frame, first.frame,
                )
            }
            None if from_server_port(d) => format!(
                "the first Initial of this connection (frame {}) goes from port {} to the \
                 ephemeral port {}: the server's answer; the client's first Initial is not \
                 in the capture, so its Initial keys (from that Initial's Destination \
                 Connection ID) are unknown and no Initial packet is opened",
                d.frame, d.src.1, d.dst.1
            ),
            None => return None,
        };
        Some(ServerFirst {
            client: d.dst,
            server: d.src,
            frame: d.frame,
            offset: view.start,
            what,
            dcid,
        })
    }
}

/// Whether the Initial keys of `dcid` open the server's Initial `view` (tried on a
/// connection of its own, so that nothing of it stays when they do not).
fn opens_server_initial(
    version: u32,
    dcid: &[u8],
    d: &Datagram<'_>,
    view: &PacketView<'_>,
) -> bool {
    let mut probe = Conn::new(d.frame, version, d.dst, d.src, dcid);
    probe.ensure_initial().is_ok() && probe.open(d.payload, view, Level::Initial, 1).is_ok()
}

/// From a QUIC server port to an ephemeral one that is not one too.
fn from_server_port(d: &Datagram<'_>) -> bool {
    SERVER_PORTS.contains(&d.src.1) && d.dst.1 >= EPHEMERAL_FROM && !SERVER_PORTS.contains(&d.dst.1)
}

/// The field that makes a long header unreadable as a v1 or v2 packet, with its offset in
/// the datagram: checked in header order, as a reader meets them.
pub(super) fn why_unreadable(payload: &[u8]) -> (usize, String) {
    let first = payload.first().copied().unwrap_or(0);
    let Some(version) = payload
        .get(1..5)
        .and_then(|v| <[u8; 4]>::try_from(v).ok())
        .map(u32::from_be_bytes)
    else {
        return (
            0,
            format!("it ends before its version field ({} bytes)", payload.len()),
        );
    };
    if version != 0 && first & FIXED_BIT == 0 {
        return (
            0,
            format!(
                "its fixed bit (0x40 of the first byte, 0x{first:02x}) is 0, where every \
                 QUIC v1 and v2 long header sets it (RFC 9000 §17.2)"
            ),
        );
    }
    if Version::from_wire(version).is_none() {
        return (
            1,
            format!(
                "its version field reads 0x{version:08x} ({}), not a version the core opens",
                version_name(version)
            ),
        );
    }
    let dcid_len = payload.get(DCID_LEN_AT).copied().map(usize::from);
    let scid_at = dcid_len.map(|len| DCID_LEN_AT + 1 + len);
    let scid_len = scid_at
        .and_then(|at| payload.get(at))
        .copied()
        .map(usize::from);
    for (name, at, len) in [
        ("Destination", Some(DCID_LEN_AT), dcid_len),
        ("Source", scid_at, scid_len),
    ] {
        if let (Some(at), Some(len)) = (at, len) {
            if len > MAX_CID_LEN {
                return (
                    at,
                    format!(
                        "its {name} Connection ID length byte reads {len}, over the 20 bytes \
                         QUIC v1 and v2 allow (RFC 9000 §17.2)"
                    ),
                );
            }
        }
    }
    match parse_long(payload, 0) {
        Err(err) => (
            err.offset(),
            format!("its long header does not parse: {err}"),
        ),
        Ok(_) => (
            0,
            "it was not taken for the start of a QUIC connection".to_owned(),
        ),
    }
}
