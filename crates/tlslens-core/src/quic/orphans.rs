//! Short headers tied to no connection: without the key log, a client that migrated to a
//! new address with a Connection ID issued in an encrypted NEW_CONNECTION_ID frame cannot
//! be tied to its connection (tshark leaves such datagrams unassigned too). Rather than a
//! finding per datagram, or none off port 443, the first datagram of each new address pair
//! is told once, naming the connection it probably belongs to.

use super::packet::{parse_short, MAX_CID_LEN};
use super::table::QuicConnections;
use super::Datagram;

/// A short header's first byte: form bit clear, fixed bit set (RFC 9000 §17.3.1).
const SHORT_FORM_MASK: u8 = 0xc0;
const SHORT_FORM: u8 = 0x40;
/// After the DCID, header protection samples 16 bytes from 4 past the packet number's
/// start (RFC 9001 §5.4.2): a protected short header is at least this much longer.
const MIN_AFTER_DCID: usize = 20;

impl QuicConnections {
    /// True when `d` looks like a short header of a known server's connection on an address
    /// pair that connection never used (told once per pair, within `max_connections`).
    pub(super) fn orphan(&mut self, d: &Datagram<'_>) -> bool {
        let Some(&first) = d.payload.first() else {
            return false;
        };
        if first & SHORT_FORM_MASK != SHORT_FORM
            || !(self.servers.contains_key(&d.src) || self.servers.contains_key(&d.dst))
        {
            return false;
        }
        let Some((conn, opened)) = self.migrated_from(d) else {
            return false;
        };
        let pair = if d.src <= d.dst {
            (d.src, d.dst)
        } else {
            (d.dst, d.src)
        };
        if self.orphans.contains(&pair) {
            return true;
        }
        if self.orphans.len() < self.limits.max_connections {
            self.orphans.insert(pair);
        }
        self.finding(
            d.frame,
            0,
            Some(conn),
            format!(
                "short-header packets from a new address whose Connection ID was never seen \
                 unencrypted: probably a migrated client of the QUIC connection opened in \
                 frame {opened} (same server, same Destination Connection ID length) — a key \
                 log would tie them (the new ID came in an encrypted NEW_CONNECTION_ID); \
                 later datagrams between these two addresses are not told again"
            ),
        );
        true
    }

    /// The connection (and its first frame) of the same server, on another client address,
    /// with a Connection ID of the length this packet's DCID could have: the one seen last.
    fn migrated_from(&self, d: &Datagram<'_>) -> Option<(u64, u64)> {
        self.conns
            .iter()
            .filter_map(|(id, c)| {
                // From the client (the server's ID as DCID) or to it (the client's).
                let dcid_owner = if c.server == d.dst && c.client != d.src {
                    1
                } else if c.server == d.src && c.client != d.dst {
                    0
                } else {
                    return None;
                };
                let fits = c.cids.iter().any(|(cid, owner)| {
                    *owner == dcid_owner
                        && (1..=MAX_CID_LEN).contains(&cid.len())
                        && d.payload.len() >= 1 + cid.len() + MIN_AFTER_DCID
                        && parse_short(d.payload, 0, cid.len()).is_ok()
                });
                fits.then_some((c.last_frame, *id, c.first_frame))
            })
            .max()
            .map(|(_, id, opened)| (id, opened))
    }
}
