//! The content layer's handshake messages: each read with what was negotiated so far, fed
//! to the decryptor, kept for a TLS <= 1.2 CertificateVerify, and what it changes in the
//! connection's state (context, hellos seen, the server's flight, renegotiation).

use super::{Content, ContentEvent, Io, MessageRead, MAX_SIGNED_TRANSCRIPT};
use crate::extensions::{self as ext, Decoded};
use crate::handshake::extensions_list::Extensions;
use crate::handshake::messages::{self, ClientHello, Message, ServerHello};
use crate::handshake::{self as hs, sslv2, Context};

const EARLY_DATA: u16 = 42;

/// A hello with more extensions than this was crafted: common TLS stacks send fewer than 30.
pub const MANY_EXTENSIONS: usize = 100;

/// Why a hello (`message`: ClientHello or ServerHello) with this many extensions was
/// crafted, if it has too many.
pub fn crowding(message: &Message<'_>) -> Option<String> {
    let (name, count) = match message {
        Message::ClientHello(hello) => ("ClientHello", hello.extensions.list.len()),
        Message::ServerHello(hello) => ("ServerHello", hello.extensions.list.len()),
        _ => return None,
    };
    (count > MANY_EXTENSIONS).then(|| {
        format!(
            "{name} carries {count} extensions; common TLS stacks send fewer than 30, so this \
             hello was crafted (by a fuzzer, a scanner or an attack)"
        )
    })
}

/// The supported_versions extension of a hello's `extensions`, decoded as `kind` sends it;
/// None when absent or unreadable.
fn supported_versions(extensions: &Extensions<'_>, kind: ext::Message) -> Option<Decoded> {
    let found = extensions
        .list
        .iter()
        .find(|e| e.ext_type == ext::SUPPORTED_VERSIONS)?;
    ext::decode(found.ext_type, found.data, kind).ok().flatten()
}

/// RFC 8446 §4.2.1: supported_versions selects the version; without it (or unreadable), the
/// legacy field does. Read as a ServerHello's, a HelloRetryRequest's alike.
pub fn selected_version(hello: &ServerHello<'_>) -> u16 {
    match supported_versions(&hello.extensions, ext::Message::ServerHello) {
        Some(Decoded::SelectedVersion(version)) => version,
        _ => hello.legacy_version,
    }
}

/// Whether a ClientHello offers TLS 1.3: in supported_versions, or (without a readable
/// one) as its legacy version.
fn offers_tls13(hello: &ClientHello<'_>) -> bool {
    match supported_versions(&hello.extensions, ext::Message::ClientHello) {
        Some(Decoded::SupportedVersions(versions)) => versions.contains(&hs::TLS1_3),
        _ => hello.legacy_version == hs::TLS1_3,
    }
}

impl Content {
    /// An SSLv2-format ClientHello (header included): the connection's first hello, if it
    /// reads; the decryptor hashes it.
    pub fn sslv2_client_hello(&mut self, io: &mut Io<'_, '_>, record: &[u8]) {
        let Ok(hello) = sslv2::client_hello(record) else {
            return;
        };
        self.first_client_hello(&hello);
        if let Some((dec, env)) = io.decryptor.as_mut() {
            dec.on_sslv2_client_hello(env, record);
        }
    }

    fn first_client_hello(&mut self, hello: &ClientHello<'_>) {
        if self.client_hello.is_none() {
            let early = hello.extensions.find(EARLY_DATA).is_some();
            self.client_hello = Some((offers_tls13(hello), early));
        }
    }

    pub(super) fn message(
        &mut self,
        io: &mut Io<'_, '_>,
        side: u8,
        msg_type: u8,
        raw: Vec<u8>,
        offset: u64,
        decrypted: bool,
    ) {
        let is_client = self.is_client(side);
        let flight = !is_client && !self.side(side).encrypted;
        let context = self.context.clone();
        let body = raw.get(4..).unwrap_or_default();
        let parsed = messages::parse(msg_type, body, &context);
        let mut read = MessageRead {
            side,
            offset,
            msg_type,
            raw: Vec::new(),
            decrypted,
            context,
            error: None,
            signed: None,
            verified: None,
        };
        let message = match parsed {
            Ok(message) => message,
            Err(error) => {
                if flight {
                    self.server_flight.insert(msg_type); // unreadable, but sent
                }
                read.error = Some(error);
                read.raw = raw;
                self.push(ContentEvent::Message(Box::new(read)));
                return;
            }
        };
        if let Message::CertificateVerify(_) = message {
            read.signed = match self.given_signed.take() {
                Some(given) if self.context.tls13() => given.tls13,
                Some(given) => given.messages,
                None => self.signed(io),
            };
        }
        read.verified = self.signature(side, is_client, &message, body, read.signed.as_deref());
        self.keep_transcript(&message, &raw);
        if let Some((dec, env)) = io.decryptor.as_mut() {
            let dir = self.dir(side);
            if let Some(request) = dec.on_message(env, dir, &raw) {
                let premaster = (io.rsa)(&request).unwrap_or_else(|error| {
                    self.finding(Some(side), "internal", Some(offset), request.failed(&error));
                    None
                });
                dec.rsa_premaster(premaster.as_deref());
            }
        }
        if flight {
            self.server_flight.insert(msg_type);
        }
        match &message {
            Message::ClientHello(hello) => {
                // A second ClientHello after a TLS <= 1.2 ServerHello renegotiates (RFC 5746).
                if self.server_hello_seen && !self.context.tls13() {
                    self.renegotiation = true;
                }
                self.first_client_hello(hello);
            }
            Message::ServerHello(hello) => self.server_hello(io, hello),
            _ => {}
        }
        read.raw = raw;
        self.push(ContentEvent::Message(Box::new(read)));
    }

    /// The signature `message` carries, when it verifies here (`signatures`); the state it
    /// is checked with is made at the first ClientHello.
    fn signature(
        &mut self,
        side: u8,
        is_client: bool,
        message: &Message<'_>,
        body: &[u8],
        signed: Option<&[u8]>,
    ) -> Option<Box<super::Verified>> {
        if self.signing.is_none() && !matches!(message, Message::ClientHello(_)) {
            return None;
        }
        let signing = self.signing.get_or_insert_with(Box::default);
        signing.step(side, is_client, message, body, (&self.context, signed))
    }

    /// What a CertificateVerify signs, as far as it is known now.
    fn signed(&self, io: &mut Io<'_, '_>) -> Option<Vec<u8>> {
        if self.context.tls13() {
            let (dec, _) = io.decryptor.as_mut()?;
            let whole = dec.transcript_complete() && dec.transcript_whole();
            return whole.then(|| dec.transcript_hash());
        }
        self.transcript.clone()
    }

    /// TLS <= 1.2: the handshake messages so far, which a client CertificateVerify signs.
    fn keep_transcript(&mut self, message: &Message<'_>, raw: &[u8]) {
        if let Message::ClientHello(_) = message {
            self.transcript = Some(Vec::new());
        }
        if raw.first() == Some(&hs::HELLO_REQUEST) {
            return;
        }
        let tls13 = self.context.tls13();
        let Some(transcript) = &mut self.transcript else {
            return;
        };
        if tls13 || transcript.len() + raw.len() > MAX_SIGNED_TRANSCRIPT {
            self.transcript = None; // TLS 1.3 hashes the transcript in the decryptor
            return;
        }
        transcript.extend_from_slice(raw);
    }

    /// A ServerHello skipped past --max-message whose first bytes chose `suite`: one of
    /// TLS 1.3's (RFC 8446 §B.4, used by no other version) says what its supported_versions
    /// would have, so its ChangeCipherSpec is the compatibility one and its records are the
    /// sealed flights (whether it took a pre-shared key is past the limit: taken as not).
    /// The version stays unread (a draft's uses the same suites).
    pub(super) fn skipped_server_hello(&mut self, io: &Io<'_, '_>, suite: u16) {
        let Some(suite) = io.suites.get(&suite).filter(|s| s.tls13) else {
            return;
        };
        if self.server_hello_seen {
            return; // TLS 1.3 has no second handshake to begin
        }
        self.server_hello_seen = true;
        self.tls13_encrypted = true;
        let sizes = super::flights::record_sizes(suite);
        self.flights = self.flights.tls13(sizes, false, self.offered_early_data());
    }

    /// The first ClientHello offered 0-RTT data.
    pub(super) fn offered_early_data(&self) -> bool {
        self.client_hello.is_some_and(|(_, early)| early)
    }

    fn server_hello(&mut self, io: &Io<'_, '_>, hello: &ServerHello<'_>) {
        let version = selected_version(hello);
        if hello.is_hello_retry_request() {
            // The HRR's supported_versions already fixes TLS 1.3; the second ClientHello
            // that follows (and a middlebox-compatibility CCS before it) stays plaintext,
            // and sends no early data.
            self.flights.hello_retried();
            self.context = Context {
                version: Some(version),
                kx: None,
                auth: None,
            };
            return;
        }
        self.renegotiation |= self.server_hello_seen;
        self.server_hello_seen = true;
        let suite = io.suites.get(&hello.cipher_suite);
        self.null_mac = super::steps::null_mac_size(suite);
        self.context = Context {
            version: Some(version),
            kx: suite.and_then(|s| s.kx.clone()),
            auth: suite.and_then(|s| s.auth.clone()),
        };
        if self.context.tls13() {
            self.tls13_encrypted = true;
            let sizes = suite.and_then(super::flights::record_sizes);
            let psk = hello.extensions.find(ext::PRE_SHARED_KEY).is_some();
            self.flights = self.flights.tls13(sizes, psk, self.offered_early_data());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{crowding, MANY_EXTENSIONS};
    use crate::handshake::messages::parse;
    use crate::handshake::{Context, CLIENT_HELLO};

    /// A TLS 1.2 ClientHello body with `count` empty extensions of distinct unknown types.
    fn client_hello(count: u16) -> Vec<u8> {
        let mut extensions = Vec::new();
        for ext_type in 1000..1000 + count {
            extensions.extend_from_slice(&ext_type.to_be_bytes());
            extensions.extend_from_slice(&[0, 0]); // empty body
        }
        let mut body = vec![3, 3]; // legacy_version
        body.extend_from_slice(&[7; 32]); // random
        body.push(0); // legacy_session_id
        body.extend_from_slice(&[0, 2, 0x13, 0x01]); // cipher_suites
        body.extend_from_slice(&[1, 0]); // legacy_compression_methods
        body.extend_from_slice(&u16::try_from(extensions.len()).unwrap_or(0).to_be_bytes());
        body.extend_from_slice(&extensions);
        body
    }

    #[test]
    fn a_hello_past_a_hundred_extensions_is_crowded() {
        let limit = u16::try_from(MANY_EXTENSIONS).unwrap_or(0);
        let ctx = Context::default();
        let fine = client_hello(limit);
        assert_eq!(
            parse(CLIENT_HELLO, &fine, &ctx).map(|m| crowding(&m)),
            Ok(None)
        );
        let crowded = client_hello(limit + 1);
        let said = parse(CLIENT_HELLO, &crowded, &ctx).map(|m| crowding(&m));
        assert_eq!(
            said,
            Ok(Some(
                "ClientHello carries 101 extensions; common TLS stacks send fewer than 30, so \
                 this hello was crafted (by a fuzzer, a scanner or an attack)"
                    .to_owned()
            ))
        );
    }
}
