//! The records that are neither handshake nor application data: ChangeCipherSpec (the
//! direction's encryption state, the abbreviated handshake), alerts (plaintext or encrypted,
//! by version) and heartbeats (the Heartbleed pattern).

use super::{Content, ContentEvent, Io};
use crate::decrypt::Suite;
use crate::records::{CT_ALERT, CT_CHANGE_CIPHER_SPEC, CT_HEARTBEAT};

const MAC_SIZES: [(&str, usize); 4] = [("MD5", 16), ("SHA", 20), ("SHA256", 32), ("SHA384", 48)];

impl Content {
    /// ChangeCipherSpec, alert and heartbeat records (`plain`: opened by the decryptor).
    pub(super) fn other(
        &mut self,
        io: &mut Io<'_, '_>,
        side: u8,
        ctype: u8,
        body: &[u8],
        offset: u64,
        plain: bool,
    ) {
        match ctype {
            CT_CHANGE_CIPHER_SPEC => self.change_cipher_spec(io, side, body, offset, plain),
            CT_ALERT => self.alert(side, body, offset, plain),
            CT_HEARTBEAT => self.heartbeat(side, body, offset, plain),
            _ => {}
        }
    }

    fn change_cipher_spec(
        &mut self,
        io: &mut Io<'_, '_>,
        side: u8,
        body: &[u8],
        offset: u64,
        plain: bool,
    ) {
        // Under an active cipher (renegotiation) the CCS body is encrypted too.
        let encrypted = self.side(side).encrypted && !plain;
        self.push(ContentEvent::ChangeCipherSpec {
            side,
            offset,
            length: body.len(),
            encrypted,
        });
        if body != [1] && !encrypted {
            let hex: String = body.iter().map(|b| format!("{b:02x}")).collect();
            let message = format!("ChangeCipherSpec body is {hex}, not 01");
            self.finding(Some(side), "record", Some(offset), message);
        }
        // In TLS 1.3 the CCS is a middlebox-compatibility no-op (RFC 8446 §D.4); a client
        // CCS before any ServerHello can only be that; after a ServerHello skipped past
        // --max-message, its TLS 1.3 suite says so (`tls13_encrypted`).
        let compat = self.context.tls13()
            || self.tls13_encrypted
            || (self.is_client(side)
                && !self.server_hello_seen
                && self.client_hello.is_some_and(|(tls13, _)| tls13));
        if compat {
            return;
        }
        let dir = self.dir(side);
        let mac_size = self.null_mac;
        let st = self.side_mut(side);
        st.encrypted = true;
        match io.decryptor.as_mut() {
            Some((dec, env)) => dec.on_change_cipher_spec(env, dir),
            None => st.mac_size = mac_size,
        }
        if !self.is_client(side) {
            let flight = &self.server_flight;
            let full = [
                crate::handshake::CERTIFICATE,
                crate::handshake::SERVER_KEY_EXCHANGE,
                crate::handshake::SERVER_HELLO_DONE,
            ];
            if flight.contains(crate::handshake::SERVER_HELLO)
                && !full.iter().any(|t| flight.contains(*t))
            {
                self.abbreviated = true;
            }
        }
    }

    fn alert(&mut self, side: u8, body: &[u8], offset: u64, plain: bool) {
        // RFC 8446 §5.2: TLS 1.3 protects only outer type 23; a type-21 record is plaintext.
        // A capture that starts after the hellos cannot tell: only a lone 2-byte alert of
        // level warning or fatal is read as plaintext there (an encrypted one is 26+ bytes).
        let unknown = self.client_hello.is_none() && !self.server_hello_seen;
        let lone = matches!(body, [1 | 2, _]);
        // Read as plaintext, each alert begins with its level (1 or 2): a record of other
        // bytes is an encrypted one whose side's ChangeCipherSpec tlslens did not see (lost
        // in a gap), not alerts of made-up levels (26 bytes read as 13 alerts).
        let readable = body.chunks_exact(2).all(|pair| matches!(pair, [1 | 2, _]));
        let sealed = (self.side(side).encrypted && !self.context.tls13()) || (unknown && !lone);
        if !plain && (sealed || !readable) {
            if !sealed {
                let message = format!(
                    "alert record of {} bytes holds no readable alert (each begins with its \
                     level, 1 or 2): taken as an encrypted alert",
                    body.len()
                );
                self.finding(Some(side), "alert", Some(offset), message);
            }
            self.push(ContentEvent::Alert {
                side,
                offset,
                length: body.len(),
                alert: None,
            });
            return;
        }
        if body.len() % 2 != 0 {
            let message = format!("alert record of {} bytes (alerts are 2)", body.len());
            self.finding(Some(side), "alert", Some(offset), message);
        }
        for pair in body.chunks_exact(2) {
            if let [level, description] = pair {
                self.push(ContentEvent::Alert {
                    side,
                    offset,
                    length: 2,
                    alert: Some((*level, *description)),
                });
            }
        }
    }

    fn heartbeat(&mut self, side: u8, body: &[u8], offset: u64, plain: bool) {
        let encrypted = !plain && (self.side(side).encrypted || self.tls13_encrypted);
        let mut fields = None;
        if let (false, [kind, high, low, ..]) = (encrypted, body) {
            let claimed = u16::from_be_bytes([*high, *low]);
            fields = Some((*kind, claimed));
            // RFC 6520 §4: payload + at least 16 bytes of padding must fit the record.
            if usize::from(claimed) + 3 + 16 > body.len() {
                let message = format!(
                    "heartbeat claims {claimed} payload bytes in a {}-byte record: the \
                     Heartbleed pattern (CVE-2014-0160)",
                    body.len()
                );
                self.finding(Some(side), "heartbeat", Some(offset), message);
            }
        }
        self.push(ContentEvent::Heartbeat {
            side,
            offset,
            length: body.len(),
            encrypted,
            fields,
        });
    }
}

/// With a NULL cipher the protected records are the plaintext followed by the MAC.
pub(super) fn null_mac_size(suite: Option<&Suite>) -> Option<usize> {
    let suite = suite.filter(|s| s.cipher == "NULL")?;
    MAC_SIZES
        .iter()
        .find(|(name, _)| *name == suite.mac)
        .map(|(_, size)| *size)
}
