//! TLS 1.3's sealed flights without keys: which records after the ServerHello carry a
//! side's encrypted handshake, though their outer type is application_data as the data's
//! is, and where its application data begins.
//!
//! Strategy: Finished ends each side's flight (RFC 8446 §4.4.4) and is 4 + Hash.length
//! bytes, so a record that holds it alone is, unpadded, 4 + Hash.length + 1 (the inner
//! type) + the AEAD tag: a size the suite fixes, and that no other message of a flight takes
//! but by chance (a Certificate with a certificate, a CertificateVerify with a signature,
//! an empty Certificate and EndOfEarlyData are longer or shorter). So:
//! - the server's flight (EncryptedExtensions first) ends at a record of that size after
//!   its first; in a PSK handshake it is EncryptedExtensions and Finished only (§4.3.2,
//!   §4.4.2: no certificate is asked for or sent), so its second record is of the flight
//!   only if it is that Finished, else the first held both and what follows is the server's
//!   answer to 0-RTT data (or its session tickets); and it ends when the client's flight
//!   begins, which answers the server's Finished;
//! - the client's flight (EndOfEarlyData, Certificate, CertificateVerify, Finished) ends at
//!   a record of that size, or when the server sends a record after it began: a server
//!   that asked for a certificate answers the client's flight whole.
//!
//! A Finished padded, or sent in one record with other messages, is not found by its size:
//! the flight then ends where the other side's word ends it.

use crate::decrypt::Suite;
use crate::keys::HashAlg;
use crate::protection::cipher_spec;

/// The size of a TLS 1.3 record of `suite` holding a Finished alone, unpadded; None when
/// the suite's hash or AEAD is not one tlslens knows.
pub(super) fn finished_record(suite: &Suite) -> Option<usize> {
    let hash = HashAlg::from_name(&suite.prf_hash)?.output_len();
    let spec = cipher_spec(
        &suite.name,
        &suite.cipher,
        &suite.mac,
        true,
        crate::handshake::TLS1_3,
    )
    .ok()?;
    Some(4 + hash + 1 + spec.tag_len)
}

/// One side's sealed flight: its records so far, and whether it ended.
#[derive(Clone, Copy, Debug, Default)]
struct Flight {
    records: u32,
    done: bool,
}

/// Both sealed flights of a TLS 1.3 connection. See the module's Strategy.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Flights {
    /// What a record holding the Finished alone measures (None: not known).
    finished_record: Option<usize>,
    /// The ServerHello chose a pre-shared key.
    psk: bool,
    server: Flight,
    client: Flight,
}

impl Flights {
    /// The flights a TLS 1.3 ServerHello begins.
    pub(super) fn tls13(finished_record: Option<usize>, psk: bool) -> Self {
        Flights {
            finished_record,
            psk,
            ..Flights::default()
        }
    }

    /// The client's flight began (its first sealed record went by).
    pub(super) fn client_began(&self) -> bool {
        self.client.records > 0
    }

    /// A record of the client's that its header tells to be of the encrypted handshake
    /// (DTLS 1.3's epoch 2): the records after it are the application epoch's.
    pub(super) fn client_told(&mut self) {
        self.client.records = self.client.records.saturating_add(1);
        self.client.done = true;
    }

    /// Whether a record of `length` bytes that no key opened, the client's (`client`) or
    /// the server's, is of its side's sealed flight.
    pub(super) fn sealed(&mut self, client: bool, length: usize) -> bool {
        let finished = self.finished_record == Some(length);
        if client {
            let flight = &mut self.client;
            if flight.done {
                return false;
            }
            flight.records = flight.records.saturating_add(1);
            flight.done = finished;
            return true;
        }
        if self.client_began() {
            // The server answers the client's flight when it has it whole.
            self.client.done = true;
            self.server.done = true;
        }
        let flight = &mut self.server;
        if flight.done {
            return false;
        }
        if self.psk && flight.records == 1 && !finished {
            flight.done = true;
            return false;
        }
        flight.records = flight.records.saturating_add(1);
        flight.done = (flight.records > 1 && finished) || (self.psk && flight.records == 2);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::Flights;

    /// TLS_AES_128_GCM_SHA256: 4 + 32 + 1 + 16.
    const FINISHED: usize = 53;

    fn sealed(flights: &mut Flights, records: &[(bool, usize)]) -> Vec<bool> {
        records
            .iter()
            .map(|(client, length)| flights.sealed(*client, *length))
            .collect()
    }

    #[test]
    fn a_client_certificate_flight_is_sealed_to_its_finished() {
        // openssl-hrr-clientauth.pcapng: the server's EncryptedExtensions, CertificateRequest,
        // Certificate, CertificateVerify, Finished (SHA-384: 69); the client's Certificate,
        // CertificateVerify, Finished, then its data; the server's tickets.
        let mut flights = Flights::tls13(Some(69), false);
        let records = [
            (false, 23),
            (false, 124),
            (false, 1233),
            (false, 281),
            (false, 69),
            (true, 998),
            (true, 96),
            (true, 69),
            (true, 35),
            (false, 746),
        ];
        let told = sealed(&mut flights, &records);
        assert_eq!(
            told,
            [true, true, true, true, true, true, true, true, false, false]
        );
    }

    #[test]
    fn a_psk_servers_flight_is_two_records_at_most() {
        // tls13-rfc8446.pcap #2: EncryptedExtensions and Finished in one record, tickets,
        // the answer to the 0-RTT request; the client's EndOfEarlyData and Finished.
        let mut flights = Flights::tls13(Some(FINISHED), true);
        let records = [
            (false, 63),
            (false, 397),
            (false, 135),
            (true, 21),
            (true, 53),
        ];
        let told = sealed(&mut flights, &records);
        assert_eq!(told, [true, false, false, true, true]);
        assert!(!flights.sealed(true, 41));
        // In two records, the second the Finished.
        let mut flights = Flights::tls13(Some(FINISHED), true);
        assert_eq!(
            sealed(&mut flights, &[(false, 40), (false, 53), (false, 53)]),
            [true, true, false]
        );
    }

    #[test]
    fn a_flight_whose_finished_is_not_found_ends_at_the_other_sides_word() {
        // The server's flight in one record (no Finished of its own size), the client's
        // Finished padded: each ends when the other side sends.
        let mut flights = Flights::tls13(Some(FINISHED), false);
        let records = [
            (false, 1570),
            (false, 300),
            (true, 70),
            (true, 90),
            (false, 125),
        ];
        let told = sealed(&mut flights, &records);
        assert_eq!(told, [true, true, true, true, false]);
        assert!(!flights.sealed(true, 40));
        // A first record of the Finished's size is EncryptedExtensions by chance.
        let mut flights = Flights::tls13(Some(FINISHED), false);
        assert_eq!(
            sealed(
                &mut flights,
                &[(false, 53), (false, 900), (false, 53), (false, 40)]
            ),
            [true, true, true, false]
        );
    }
}
