//! TLS 1.3's sealed flights without keys: which records after the ServerHello carry a
//! side's encrypted handshake, though their outer type is application_data as the data's
//! is, which of the client's are still its 0-RTT data, and where application data begins.
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
//! - a client that offered early data (and was not asked to say hello again) sends it
//!   until it has the server's Finished (§4.2.10), so its records after the ServerHello
//!   are 0-RTT data until its flight begins: at its EndOfEarlyData (4 + 1 + tag bytes
//!   alone: the server took the data, which it can only with a pre-shared key), at its
//!   Finished, or, in a full handshake (the data refused), after the server's whole flight;
//! - the client's flight (EndOfEarlyData, Certificate, CertificateVerify, Finished) ends at
//!   a record of the Finished's size. When the server asked for no certificate (a PSK
//!   handshake, or a server flight of four records, a message each: a CertificateRequest
//!   would be a fifth) it is the Finished alone, after the EndOfEarlyData if any, so a
//!   Finished padded (§5.4) ends it too and the client's data after it is not its flight.
//!   A server record after the flight began ends it (a server that asked for a certificate
//!   answers the client's flight whole), but for what the client still owes of a flight
//!   begun with its Certificate: a server's 0.5-RTT data (§2.2) can come between, so its
//!   next record, of a CertificateVerify's size (with the Finished or not), and its
//!   Finished are still the flight.
//!
//! A Finished padded in a flight that may hold a certificate, or sent in one record with
//! other messages, is not found by its size: the flight then ends where the other side's
//! word ends it.

use crate::decrypt::Suite;
use crate::keys::HashAlg;
use crate::protection::cipher_spec;

/// What a TLS 1.3 record of the suite measures around a handshake message: its AEAD tag,
/// and the Finished it holds alone, unpadded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Sizes {
    finished: usize,
    tag: usize,
}

impl Sizes {
    /// A record holding `message` bytes of handshake alone, unpadded.
    fn alone(&self, message: usize) -> usize {
        message + 1 + self.tag
    }

    /// EndOfEarlyData: a header, no body.
    fn end_of_early_data(&self) -> usize {
        self.alone(4)
    }

    /// Whether `length` fits a CertificateVerify alone: a header, the scheme, the
    /// signature's length and the signature: ECDSA (P-256 to P-521, DER), Ed25519, Ed448,
    /// RSA of 1,024 to 4,096 bits.
    fn certificate_verify(&self, length: usize) -> bool {
        let Some(signature) = length.checked_sub(self.alone(4 + 2 + 2)) else {
            return false;
        };
        (64..=139).contains(&signature) || matches!(signature, 256 | 384 | 512)
    }

    /// What a record of `length` can be after one holding a Certificate in its flight:
    /// Some(false) a CertificateVerify alone or (`more`) a full record, the Certificate's
    /// continued; Some(true) a CertificateVerify with the Finished, which ends the flight
    /// (a size both fit is taken for the CertificateVerify alone); None neither.
    fn after_certificate(&self, length: usize, more: bool) -> Option<bool> {
        if self.certificate_verify(length) || (more && length >= self.alone(1 << 14)) {
            return Some(false);
        }
        let finished = self.finished - 1 - self.tag;
        let rest = length.checked_sub(finished)?;
        self.certificate_verify(rest).then_some(true)
    }
}

/// The sizes of TLS 1.3 records of `suite`; None when the suite's hash or AEAD is not one
/// tlslens knows.
pub(super) fn record_sizes(suite: &Suite) -> Option<Sizes> {
    let hash = HashAlg::from_name(&suite.prf_hash)?.output_len();
    let spec = cipher_spec(
        &suite.name,
        &suite.cipher,
        &suite.mac,
        true,
        crate::handshake::TLS1_3,
    )
    .ok()?;
    let tag = spec.tag_len;
    Some(Sizes {
        finished: 4 + hash + 1 + tag,
        tag,
    })
}

/// What a protected record after a TLS 1.3 ServerHello is, as its size and place tell it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Told {
    /// Of its side's sealed flight.
    Handshake,
    /// The client's 0-RTT data, still.
    EarlyData,
    ApplicationData,
}

/// One side's sealed flight: its records so far, and whether it ended.
#[derive(Clone, Copy, Debug, Default)]
struct Flight {
    records: u32,
    done: bool,
    /// The other side sent a record after this flight began.
    answered: bool,
    /// Its first record has an EndOfEarlyData's size.
    end_of_early_data: bool,
}

/// Both sealed flights of a TLS 1.3 connection. See the module's Strategy.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Flights {
    /// What the suite's records measure (None: not known).
    sizes: Option<Sizes>,
    /// The ServerHello chose a pre-shared key.
    psk: bool,
    /// The client may still be sending 0-RTT data.
    early: bool,
    /// A HelloRetryRequest came: the ClientHello the ServerHello answers sent no early data.
    retried: bool,
    server: Flight,
    client: Flight,
}

impl Flights {
    /// The flights a TLS 1.3 ServerHello begins (`psk`: it chose a pre-shared key;
    /// `early_data`: the first ClientHello offered 0-RTT data).
    pub(super) fn tls13(&self, sizes: Option<Sizes>, psk: bool, early_data: bool) -> Self {
        Flights {
            sizes,
            psk,
            // Unknown sizes find no flight's beginning: the client's records are then its
            // flight until the server's word, as without early data.
            early: early_data && !self.retried && sizes.is_some(),
            retried: self.retried,
            ..Flights::default()
        }
    }

    /// A HelloRetryRequest: the client's second ClientHello sends no early data.
    pub(super) fn hello_retried(&mut self) {
        self.retried = true;
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

    /// What a record of `length` bytes that no key opened, the client's (`client`) or the
    /// server's, is.
    pub(super) fn sealed(&mut self, client: bool, length: usize) -> Told {
        let finished = self.sizes.is_some_and(|s| s.finished == length);
        if client {
            if self.early && !self.client_flight_begins(length, finished) {
                return Told::EarlyData;
            }
            self.early = false;
            return self.client_sealed(length, finished);
        }
        if self.client_began() {
            // The server answers the client's flight (or sends 0.5-RTT data within it).
            self.client.answered = true;
            self.server.done = true;
        }
        let flight = &mut self.server;
        if flight.done {
            return Told::ApplicationData;
        }
        if self.psk && flight.records == 1 && !finished {
            flight.done = true;
            return Told::ApplicationData;
        }
        flight.records = flight.records.saturating_add(1);
        flight.done = (flight.records > 1 && finished) || (self.psk && flight.records == 2);
        Told::Handshake
    }

    /// Whether the client's record of `length` begins its flight rather than carrying more
    /// 0-RTT data: its EndOfEarlyData, its Finished, or (a full handshake refuses the data)
    /// any record after the server's flight.
    fn client_flight_begins(&self, length: usize, finished: bool) -> bool {
        let end_of_early_data = self.sizes.map(|s| s.end_of_early_data());
        finished
            || (self.psk && end_of_early_data == Some(length))
            || (!self.psk && self.server.done)
    }

    fn client_sealed(&mut self, length: usize, finished: bool) -> Told {
        let Some(sizes) = self.sizes else {
            // Sizes unknown: the flight goes to the server's word.
            return self.client_flight_goes_on(!self.client.answered, false);
        };
        let flight = &self.client;
        if flight.done {
            return Told::ApplicationData;
        }
        if flight.records == 0 || finished {
            self.client.end_of_early_data = length == sizes.end_of_early_data();
            return self.client_flight_goes_on(true, finished);
        }
        if flight.answered {
            // The server's record came within the flight only if the client owes the
            // CertificateVerify after its Certificate (with the Finished or not).
            let after = sizes.after_certificate(length, false);
            let goes_on = flight.records == 1 && after.is_some();
            return self.client_flight_goes_on(goes_on, after == Some(true));
        }
        // No certificate asked for: the flight is the Finished (padded, if not of its size),
        // after the EndOfEarlyData if any.
        let owed = if flight.end_of_early_data { 2 } else { 1 };
        let goes_on = !(self.no_certificate_request() && flight.records >= owed);
        let ends = flight.records == 1 && sizes.after_certificate(length, true) == Some(true);
        self.client_flight_goes_on(goes_on, ends)
    }

    /// The client's record is of its flight (`goes_on`), the last (`ends`), or not.
    fn client_flight_goes_on(&mut self, goes_on: bool, ends: bool) -> Told {
        let flight = &mut self.client;
        if flight.done || !goes_on {
            flight.done = true;
            return Told::ApplicationData;
        }
        flight.records = flight.records.saturating_add(1);
        flight.done = ends;
        Told::Handshake
    }

    /// Whether the server's flight tells that it asked for no certificate: a PSK handshake
    /// (§4.3.2), or a flight of four records, each message in its own (EncryptedExtensions,
    /// Certificate, CertificateVerify, Finished: a CertificateRequest would be a fifth).
    fn no_certificate_request(&self) -> bool {
        self.psk || (self.server.done && self.server.records == 4)
    }
}

#[cfg(test)]
mod tests {
    use super::{Flights, Sizes, Told};

    /// TLS_AES_128_GCM_SHA256: 4 + 32 + 1 + 16.
    const FINISHED: usize = 53;

    /// The records of a suite with a 16-byte tag whose Finished alone is `finished` bytes.
    fn sizes(finished: usize) -> Option<Sizes> {
        Some(Sizes { finished, tag: 16 })
    }

    fn begun(finished: usize, psk: bool, early_data: bool) -> Flights {
        Flights::default().tls13(sizes(finished), psk, early_data)
    }

    /// Whether each record is of a sealed flight.
    fn sealed(flights: &mut Flights, records: &[(bool, usize)]) -> Vec<bool> {
        told(flights, records)
            .into_iter()
            .map(|told| told == Told::Handshake)
            .collect()
    }

    /// openssl-hrr-clientauth.pcapng #1's server flight (SHA-384: 69): EncryptedExtensions,
    /// CertificateRequest, Certificate, CertificateVerify, Finished.
    fn after_certificate_request() -> Flights {
        let mut flights = begun(69, false, false);
        let server = [
            (false, 23),
            (false, 124),
            (false, 1233),
            (false, 281),
            (false, 69),
        ];
        assert_eq!(sealed(&mut flights, &server), [true; 5]);
        flights
    }

    fn told(flights: &mut Flights, records: &[(bool, usize)]) -> Vec<Told> {
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
        let mut flights = begun(69, false, false);
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
        let mut flights = begun(FINISHED, true, false);
        let records = [
            (false, 63),
            (false, 397),
            (false, 135),
            (true, 21),
            (true, 53),
        ];
        let told = sealed(&mut flights, &records);
        assert_eq!(told, [true, false, false, true, true]);
        assert_eq!(flights.sealed(true, 41), Told::ApplicationData);
        // In two records, the second the Finished.
        let mut flights = begun(FINISHED, true, false);
        assert_eq!(
            sealed(&mut flights, &[(false, 40), (false, 53), (false, 53)]),
            [true, true, false]
        );
    }

    #[test]
    fn a_flight_whose_finished_is_not_found_ends_at_the_other_sides_word() {
        // The server's flight in one record (no Finished of its own size), the client's
        // Finished padded: each ends when the other side sends.
        let mut flights = begun(FINISHED, false, false);
        let records = [
            (false, 1570),
            (false, 300),
            (true, 70),
            (true, 90),
            (false, 125),
        ];
        let told = sealed(&mut flights, &records);
        assert_eq!(told, [true, true, true, true, false]);
        assert_eq!(flights.sealed(true, 40), Told::ApplicationData);
        // A first record of the Finished's size is EncryptedExtensions by chance.
        let mut flights = begun(FINISHED, false, false);
        assert_eq!(
            sealed(
                &mut flights,
                &[(false, 53), (false, 900), (false, 53), (false, 40)]
            ),
            [true, true, true, false]
        );
    }

    #[test]
    fn early_data_after_the_server_hello_is_early_data_to_the_end_of_early_data() {
        // early-data.pcapng #3 (SHA-384: 69): 0-RTT records of 8,209 bytes after the
        // server's EncryptedExtensions and Finished, then EndOfEarlyData (21), Finished.
        let mut flights = begun(69, true, true);
        let records = [
            (false, 27),
            (false, 69),
            (true, 8209),
            (true, 3436),
            (true, 21),
            (true, 69),
            (true, 23),
        ];
        use Told::{ApplicationData as Data, EarlyData as Early, Handshake as Sealed};
        let kinds = told(&mut flights, &records);
        assert_eq!(kinds, [Sealed, Sealed, Early, Early, Sealed, Sealed, Data]);
        // Refused in a full handshake: the client's records after the server's whole flight
        // are its own flight, to its Finished.
        let mut flights = begun(69, false, true);
        let records = [
            (true, 500),
            (false, 23),
            (false, 900),
            (false, 69),
            (true, 998),
        ];
        assert_eq!(
            told(&mut flights, &records),
            [Early, Sealed, Sealed, Sealed, Sealed]
        );
        // After a HelloRetryRequest the client sends none.
        let mut retried = Flights::default();
        retried.hello_retried();
        let mut flights = retried.tls13(sizes(69), true, true);
        assert_eq!(flights.sealed(true, 500), Sealed);
    }

    #[test]
    fn a_server_record_within_a_certificate_flight_leaves_it_its_verify_and_finished() {
        // openssl-hrr-clientauth.pcapng #1's client flight with the server's ticket (746)
        // captured after the Certificate: the CertificateVerify (ECDSA, 96) and Finished
        // are still the flight, the request (35) is not.
        let mut flights = after_certificate_request();
        let records = [
            (true, 998),
            (false, 746),
            (true, 96),
            (true, 69),
            (true, 35),
        ];
        let told = sealed(&mut flights, &records);
        assert_eq!(told, [true, false, true, true, false]);
        // Answered after a record of the flight that no CertificateVerify follows: the
        // client's next record is data unless it is the Finished.
        let mut flights = begun(69, false, false);
        let records = [(false, 1570), (true, 998), (false, 746), (true, 40)];
        assert_eq!(sealed(&mut flights, &records), [true, true, false, false]);
    }

    #[test]
    fn a_padded_finished_is_the_clients_flight_and_its_data_after_it_is_not() {
        // openssl-padding.pcapng #1: the client pads to 512 bytes; its Finished (528) and
        // its request (528) before the server's tickets.
        let mut flights = begun(69, false, false);
        let server = [(false, 23), (false, 1233), (false, 281), (false, 69)];
        assert_eq!(sealed(&mut flights, &server), [true; 4]);
        let records = [(true, 528), (true, 528), (false, 250), (true, 528)];
        assert_eq!(sealed(&mut flights, &records), [true, false, false, false]);
        // A fifth record in the server's flight, its CertificateRequest (124): the client's
        // Certificate, CertificateVerify and Finished padded alike, its flight to the
        // server's word (its request with it).
        let mut flights = after_certificate_request();
        let records = [
            (true, 528),
            (true, 528),
            (true, 528),
            (false, 746),
            (true, 528),
        ];
        assert_eq!(
            sealed(&mut flights, &records),
            [true, true, true, false, false]
        );
        // After a Certificate: a CertificateVerify with the Finished (RSA-2048: 281 + 52),
        // or more of a Certificate in full records.
        let mut flights = begun(69, false, false);
        let records = [
            (false, 1570),
            (true, 16401),
            (true, 16401),
            (true, 900),
            (true, 96),
        ];
        assert_eq!(sealed(&mut flights, &records), [true; 5]);
        assert_eq!(flights.sealed(true, 69), Told::Handshake);
        let mut flights = begun(69, false, false);
        let records = [(false, 1570), (true, 998), (true, 281 + 52), (true, 40)];
        assert_eq!(sealed(&mut flights, &records), [true, true, true, false]);
    }
}
