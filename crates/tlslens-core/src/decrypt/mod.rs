//! Decrypting one connection: from secrets to keys to plaintext, with every step kept.
//!
//! Strategy: a `Decryptor` follows the handshake as the content layer sees it (each
//! handshake message in order, raw as it went, each ChangeCipherSpec, each protected
//! record) and keeps the handshake transcript. As soon as the secret for this connection
//! is known (a key log line for its client random, a premaster the caller recovered with
//! the server's RSA key, a PSK, or the master secret of the session it resumes), it derives
//! the keys both ends derived and keeps them in `derivations` to be shown. Each Finished is
//! recomputed from the transcript and compared. Application data plaintext is hashed per
//! direction (SHA-256) but never stored. Sans-IO: the key log and the session cache of the
//! run come in with each call ([`Env`]); the one thing the core cannot do, RSA decryption
//! with a private key from a PEM file, is asked of the caller once per connection
//! ([`RsaRequest`]), answered through [`Decryptor::rsa_premaster`].
//!
//! Key logs are often partial: a TLS 1.3 client that aborts its handshake logged its
//! handshake secrets and never the application ones, and some stacks log one side's secret
//! before the other's. Each TLS 1.3 secret is used on its own, for its own direction and
//! phase; a direction whose handshake secret is missing tries its application traffic
//! secret on each record (as Wireshark does) until one opens, since its encrypted handshake
//! cannot be read to see where it ends. `opened` keeps which parts were read and
//! [`Decryptor::missing_secrets`] names the key-log labels that were not there.

mod derivation;
mod digest;
mod ems;
mod external;
mod finished;
pub mod fuzzing;
pub mod keylog;
mod lack;
mod order;
mod record;
mod report;
mod resync;
pub mod store;
mod tls12;
mod tls13;
mod transcript;
mod verdicts;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_lack;
#[cfg(test)]
mod tests_order;
#[cfg(test)]
mod tests_resync;

use crate::extensions::EARLY_DATA;
use crate::handshake::messages::{self, ClientHello, Message, ServerHello};
use crate::handshake::{self as hs, sslv2, Context};
use crate::keys::HashAlg;
use crate::protection::{self, CipherSpec, ExternalCbc, Kind, RecordProtection};

pub use derivation::{Derivation, MAX_DERIVATIONS, MAX_DERIVED_VALUES};
pub use digest::DigestLost;
pub use keylog::KeyLog;
pub(crate) use lack::longer_than;
pub use lack::Lack;
pub use record::{DirectionResult, Opened};
pub use resync::{Hole, MAX_HOLE_TRIES, MAX_SIDE_TRIES};
pub use store::{SessionCache, Suite, Suites};
pub use verdicts::FinishedVerdict;

pub use transcript::MAX_TRANSCRIPT;

/// Client to server (0) and server to client (1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    C2S = 0,
    S2C = 1,
}

impl Dir {
    pub const BOTH: [Dir; 2] = [Dir::C2S, Dir::S2C];

    pub fn name(self) -> &'static str {
        match self {
            Dir::C2S => "c2s",
            Dir::S2C => "s2c",
        }
    }

    /// The key log's word for the sender.
    fn side(self) -> &'static str {
        match self {
            Dir::C2S => "CLIENT",
            Dir::S2C => "SERVER",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// What a part of the connection the records opened belong to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    Handshake,
    ApplicationData,
    EarlyData,
}

impl Part {
    pub fn name(self) -> &'static str {
        match self {
            Part::Handshake => "handshake",
            Part::ApplicationData => "application_data",
            Part::EarlyData => "early_data",
        }
    }

    fn bit(self, dir: Dir) -> u8 {
        1 << (self as usize * 2 + dir.index())
    }
}

/// Where a connection's decryption stands (the `status` of `show --json`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    NoSecret,
    Decrypted,
    WrongSecret,
    UnsupportedCipher,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::NoSecret => "no_secret",
            Status::Decrypted => "decrypted",
            Status::WrongSecret => "wrong_secret",
            Status::UnsupportedCipher => "unsupported_cipher",
        }
    }
}

/// What each call reads beyond the connection: the run's key log, its session cache (which
/// full handshakes fill and abbreviated ones read) and the cipher suite registry.
pub struct Env<'a> {
    pub keylog: &'a KeyLog,
    pub sessions: &'a mut SessionCache,
    pub suites: &'a Suites,
}

/// An RSA key exchange the key log does not open: the caller decrypts
/// `encrypted` with the RSA private keys it holds and answers with a 48-byte premaster that
/// opens with one of `versions` (the ClientHello's, then the negotiated one), or None.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RsaRequest {
    pub encrypted: Vec<u8>,
    pub versions: (u16, u16),
}

/// The caller's answer to an [`RsaRequest`]: the premaster or None; Err: it failed to answer
/// (a bug of the caller's, said as [`RsaRequest::failed`]).
pub type RsaAnswer = Result<Option<Vec<u8>>, String>;

/// Makes the CBC decryptor of a cipher the core has no crate for (SEED), from its key.
pub type ExternalFactory = fn(&[u8]) -> Box<dyn ExternalCbc>;

/// One connection's decryption state. See the module's Strategy.
pub struct Decryptor {
    psk: Option<Vec<u8>>,
    rsa_keys: bool,
    external: external::External,
    pub status: Status,
    pub source: Option<String>,
    pub reason: Option<String>,
    /// One per handshake (the first, then each renegotiation), in order: the first
    /// [`MAX_DERIVATIONS`].
    pub derivations: Vec<Derivation>,
    /// Handshakes begun: the first, then each renegotiation (its number in words).
    pub handshakes: usize,
    pub results: [DirectionResult; 2],
    transcript: transcript::Transcript,
    pub version: Option<u16>,
    suite: Option<Suite>,
    spec: Option<CipherSpec>,
    pub client_random: Vec<u8>,
    server_random: Vec<u8>,
    pub master_secret: Option<Vec<u8>>,
    extended_master_secret: bool,
    encrypt_then_mac: bool,
    active: [Option<RecordProtection>; 2],
    pending: [Option<RecordProtection>; 2],
    pub tls13: bool,
    hash: HashAlg,
    traffic: [Option<Vec<u8>>; 2],
    hrr_seen: bool,
    client_session_id: Vec<u8>,
    client_version: u16,
    client_ticket: Vec<u8>,
    session_id: Vec<u8>,
    early: Option<RecordProtection>,
    early_suite: Option<Suite>,
    pub early_active: bool,
    inflaters: Option<[flate2::Decompress; 2]>,
    phase: [Part; 2],
    trial: [Option<RecordProtection>; 2],
    trial_failures: [usize; 2],
    /// A 0-RTT record was seen, opened or not.
    pub early_seen: bool,
    /// The ClientHello offered early_data: records before the ServerHello can be 0-RTT
    /// (without the offer, they are the handshake of a ServerHello not captured).
    early_offered: bool,
    opened: u8,
    /// TLS 1.3: the server's flight, in the transcript, is read.
    server_handshake_keys: bool,
    awaiting_rsa: bool,
    /// Each side's Finished of the current handshake went by (checked or not).
    finished_seen: [bool; 2],
    /// The status and reason before a Finished that did not match gave its reason: put
    /// back when that verdict is taken back (lack.rs).
    blamed: Option<(Status, Option<String>)>,
    /// The ClientHello's random as read without the message whole (QUIC's packet
    /// protection, the head of a ClientHello skipped), and where the current handshake's
    /// client random came from when it is that one, its ClientHello not read (lack.rs).
    transport_random: Option<([u8; 32], lack::RandomFrom)>,
    random_from: Option<lack::RandomFrom>,
    /// The current handshake's ServerHello skipped or dropped by the content layer: why no
    /// suite is known (report.rs), rather than a capture that lost it.
    server_hello_lack: Option<Lack>,
    /// Each side's holes in the capture and the records they took (resync.rs).
    resync: [resync::Resync; 2],
    /// The side whose message is being read (the transcript's bytes are told per side).
    current: Dir,
    /// The side of the last message in the transcript and where its run of messages starts
    /// (order.rs: a Finished read too early takes its flight out).
    run: Option<(Dir, usize)>,
    /// The current handshake's ServerHelloDone is in the transcript (a full TLS <= 1.2
    /// handshake: the client finishes first).
    server_done: bool,
    /// A Finished read before the other side's messages it follows (order.rs).
    deferred: Option<order::Deferred>,
    /// An extended master secret's premaster waiting for the ServerHelloDone (ems.rs).
    ems_wait: Option<ems::EmsWait>,
}

impl Decryptor {
    /// `rsa_keys`: whether the caller holds RSA private keys to answer an [`RsaRequest`].
    pub fn new(psk: Option<Vec<u8>>, rsa_keys: bool, external: Option<ExternalFactory>) -> Self {
        Self {
            psk,
            rsa_keys,
            external: external::External::new(external),
            status: Status::NoSecret,
            source: None,
            reason: None,
            derivations: vec![Derivation::default()],
            handshakes: 1,
            results: Default::default(),
            transcript: transcript::Transcript::default(),
            version: None,
            suite: None,
            spec: None,
            client_random: Vec::new(),
            server_random: Vec::new(),
            master_secret: None,
            extended_master_secret: false,
            encrypt_then_mac: false,
            active: [None, None],
            pending: [None, None],
            tls13: false,
            hash: HashAlg::Sha256,
            traffic: [None, None],
            hrr_seen: false,
            client_session_id: Vec::new(),
            client_version: 0,
            client_ticket: Vec::new(),
            session_id: Vec::new(),
            early: None,
            early_suite: None,
            early_active: false,
            inflaters: None,
            phase: [Part::Handshake; 2],
            trial: [None, None],
            trial_failures: [0; 2],
            early_seen: false,
            early_offered: false,
            opened: 0,
            server_handshake_keys: false,
            awaiting_rsa: false,
            finished_seen: [false; 2],
            blamed: None,
            transport_random: None,
            random_from: None,
            server_hello_lack: None,
            resync: Default::default(),
            current: Dir::C2S,
            run: None,
            server_done: false,
            deferred: None,
            ems_wait: None,
        }
    }

    /// Whether a record of `part` was opened in `dir`.
    pub fn opened(&self, part: Part, dir: Dir) -> bool {
        self.opened & part.bit(dir) != 0
    }

    /// A packet opened elsewhere (QUIC's, by the core's QUIC layer) counted as a record;
    /// `keylog` names where the secret that opened it came from.
    pub fn count_opened(&mut self, keylog: &KeyLog, part: Part, dir: Dir, packets: u64) {
        self.opened |= part.bit(dir);
        // The transport opened them with the key log's secrets: there were secrets, though
        // the TLS layer derived nothing of its own (a ServerHello skipped past --max-message
        // leaves it no suite), as a record opened says (`mark_opened`), and they came from
        // somewhere, said as when the TLS layer finds them (tls13.rs `found`).
        if self.status == Status::NoSecret {
            self.status = Status::Decrypted;
        }
        if self.source.is_none() && keylog.knows(&self.client_random) {
            let label = match part {
                Part::Handshake => format!("{}_HANDSHAKE_TRAFFIC_SECRET", dir.side()),
                Part::ApplicationData => format!("{}_TRAFFIC_SECRET_0", dir.side()),
                Part::EarlyData => keylog::EARLY.to_owned(),
            };
            let origin = keylog.origin(&label, &self.client_random).to_owned();
            self.set_source(&origin);
        }
        if let Some(result) = self.results.get_mut(dir.index()) {
            result.records_decrypted = result.records_decrypted.saturating_add(packets);
        }
    }

    /// What was negotiated so far, to read the messages whose layout depends on it.
    pub fn context(&self) -> Context {
        Context {
            version: self.version,
            kx: self.suite.as_ref().and_then(|s| s.kx.clone()),
            auth: self.suite.as_ref().and_then(|s| s.auth.clone()),
        }
    }

    /// The hash of the handshake so far, with the suite's hash (RFC 8446 §4.4.1).
    pub fn transcript_hash(&mut self) -> Vec<u8> {
        self.transcript.hash(self.hash)
    }

    /// TLS 1.3: whether every handshake message so far was read (the server's flight needs
    /// its handshake secret), so that a transcript hash is the one both ends took.
    pub fn transcript_complete(&self) -> bool {
        !self.tls13 || self.server_handshake_keys
    }

    /// Whether the transcript holds every message of the current handshake that went by (none
    /// skipped or lost in a gap, none dropped for its size): what it hashes is what both ends
    /// hashed, as far as the handshake went.
    pub fn transcript_whole(&self) -> bool {
        self.transcript.lacking().is_none() && !self.transcript.dropped()
    }

    /// One handshake message, raw with its 4-byte header, in order, plaintext or decrypted.
    /// A message the handshake layer could not read is still part of the transcript.
    pub fn on_message(&mut self, env: &mut Env<'_>, dir: Dir, raw: &[u8]) -> Option<RsaRequest> {
        self.current = dir;
        let request = self.read_message(env, dir, raw);
        self.resume_finished(dir);
        request
    }

    fn read_message(&mut self, env: &mut Env<'_>, dir: Dir, raw: &[u8]) -> Option<RsaRequest> {
        let (msg_type, body) = match raw {
            [msg_type, _, _, _, body @ ..] => (*msg_type, body),
            _ => {
                self.append(raw);
                return None;
            }
        };
        if !READ_TYPES.contains(&msg_type) {
            // The others only go into the transcript: not read again.
            self.append(raw);
            return None;
        }
        match messages::parse(msg_type, body, &self.context()) {
            Ok(message) => self.message(env, dir, raw, &message),
            Err(_) => {
                self.append(raw);
                None
            }
        }
    }

    /// An SSLv2-format ClientHello, `record` with its 2-byte header: RFC 5246 Appendix E.2,
    /// the handshake hash covers the message without that header.
    pub fn on_sslv2_client_hello(&mut self, env: &Env<'_>, record: &[u8]) {
        if let Ok(hello) = sslv2::client_hello(record) {
            self.current = Dir::C2S;
            self.client_hello(env, &hello);
            self.append(record.get(2..).unwrap_or(&[]));
        }
    }

    fn message(
        &mut self,
        env: &mut Env<'_>,
        dir: Dir,
        raw: &[u8],
        message: &Message<'_>,
    ) -> Option<RsaRequest> {
        match message {
            Message::Finished(verify_data) => {
                self.check_finished(dir, verify_data);
                self.append(raw);
                if self.tls13 {
                    self.tls13_after_finished(env, dir);
                }
                return None;
            }
            Message::ClientHello(hello) => {
                self.client_hello(env, hello);
                self.append(raw);
                return None;
            }
            Message::Opaque {
                msg_type: hs::END_OF_EARLY_DATA,
                ..
            } => {
                self.append(raw);
                self.early_active = false;
                return None;
            }
            Message::ServerHello(hello) if hello.is_hello_retry_request() => {
                self.hello_retry_request(env, hello, raw);
                return None;
            }
            // Post-handshake messages are not part of the transcript (RFC 8446 §4.6), even
            // when a server sends its tickets before the client's Finished.
            Message::NewSessionTicket(_) if self.tls13 => return None,
            Message::KeyUpdate(_) if self.tls13 => {
                self.key_update(dir);
                return None;
            }
            _ => {}
        }
        self.append(raw);
        match message {
            Message::ServerHello(hello) => self.server_hello(env, hello),
            Message::ClientKeyExchange(cke) => {
                return self.client_key_exchange(env, cke.kx.as_deref(), cke.exchange_keys);
            }
            Message::NewSessionTicket(ticket) => {
                if let Some(master) = &self.master_secret {
                    env.sessions.remember_ticket(ticket.ticket, master);
                }
            }
            _ => {}
        }
        None
    }

    fn client_hello(&mut self, env: &Env<'_>, hello: &ClientHello<'_>) {
        if self.hrr_seen {
            return;
        }
        self.new_handshake();
        self.client_random = hello.random.to_vec();
        self.client_session_id = hello.legacy_session_id.to_vec();
        self.client_version = hello.legacy_version;
        self.early_offered = hello.extensions.find(EARLY_DATA).is_some();
        self.client_ticket = hello
            .extensions
            .find(SESSION_TICKET)
            .unwrap_or(&[])
            .to_vec();
        // The PSK's suite for 0-RTT is taken to be the first TLS 1.3 suite offered.
        self.early_suite = hello
            .cipher_suites
            .iter()
            .find(|suite| *suite >> 8 == 0x13)
            .and_then(|suite| u16::try_from(*suite).ok())
            .and_then(|code| env.suites.get(&code))
            .cloned();
    }

    fn hello_retry_request(&mut self, env: &Env<'_>, hello: &ServerHello<'_>, raw: &[u8]) {
        // RFC 8446 §4.4.1: the first ClientHello is replaced by its hash.
        self.hrr_seen = true;
        let hash = env
            .suites
            .get(&hello.cipher_suite)
            .and_then(|suite| HashAlg::from_name(&suite.prf_hash))
            .unwrap_or(HashAlg::Sha256);
        let first = self.transcript.hash(hash);
        let length = u8::try_from(first.len()).unwrap_or(u8::MAX);
        self.transcript
            .replace([&[MESSAGE_HASH, 0, 0, length][..], &first].concat());
        self.append(raw);
    }

    fn server_hello(&mut self, env: &Env<'_>, hello: &ServerHello<'_>) {
        let version = selected_version(hello);
        self.version = Some(version);
        self.server_random = hello.random.to_vec();
        self.master_secret = None; // a renegotiation derives everything anew
        self.pending = [None, None];
        if hello.legacy_compression_method == 1 {
            // DEFLATE (RFC 3749): one zlib stream per direction.
            self.inflaters = Some([flate2::Decompress::new(true), flate2::Decompress::new(true)]);
        }
        self.suite = env.suites.get(&hello.cipher_suite).cloned();
        let Some(suite) = self.suite.clone() else {
            self.status = Status::UnsupportedCipher;
            self.reason = Some(format!("unknown cipher suite {:#06x}", hello.cipher_suite));
            return;
        };
        let spec = match protection::cipher_spec(
            &suite.name,
            &suite.cipher,
            &suite.mac,
            suite.tls13,
            version,
        ) {
            Ok(spec) => spec,
            Err(reason) => {
                self.status = Status::UnsupportedCipher;
                self.reason = Some(reason);
                return;
            }
        };
        self.tls13 = hs::is_tls13_version(version);
        self.hash = HashAlg::from_name(&suite.prf_hash).unwrap_or(HashAlg::Sha256);
        self.extended_master_secret = hello.extensions.find(EXTENDED_MASTER_SECRET).is_some();
        self.encrypt_then_mac =
            hello.extensions.find(ENCRYPT_THEN_MAC).is_some() && spec.kind == Kind::Block;
        self.spec = Some(spec);
        if self.tls13 {
            self.tls13_handshake_keys(env);
            return;
        }
        let random = self.client_random.clone();
        let mut found = env
            .keylog
            .get(keylog::CLIENT_RANDOM, &random)
            .map(|master| {
                (
                    master.to_vec(),
                    env.keylog.origin(keylog::CLIENT_RANDOM, &random),
                )
            });
        if found.is_none()
            && !hello.legacy_session_id.is_empty()
            && hello.legacy_session_id == self.client_session_id.as_slice()
        {
            found = env
                .sessions
                .session(hello.legacy_session_id)
                .map(|master| (master.to_vec(), "resumed_session"));
        }
        if found.is_none() && !self.client_ticket.is_empty() {
            found = env
                .sessions
                .ticket(&self.client_ticket)
                .map(|master| (master.to_vec(), "resumed_ticket"));
        }
        if let Some((master, source)) = found {
            let source = source.to_owned();
            self.set_master(&master, &source);
        }
        self.session_id = hello.legacy_session_id.to_vec(); // remembered at the CCS
    }
}

/// The handshake messages the decryptor reads (the others it only hashes).
const READ_TYPES: [u8; 7] = [
    hs::CLIENT_HELLO,
    hs::SERVER_HELLO,
    hs::NEW_SESSION_TICKET,
    hs::END_OF_EARLY_DATA,
    hs::CLIENT_KEY_EXCHANGE,
    hs::FINISHED,
    hs::KEY_UPDATE,
];
const SESSION_TICKET: u16 = 35;
const EXTENDED_MASTER_SECRET: u16 = 23;
const ENCRYPT_THEN_MAC: u16 = 22;
const SUPPORTED_VERSIONS: u16 = 43;
const MESSAGE_HASH: u8 = 254;

/// The version a ServerHello (or HelloRetryRequest) selects: supported_versions wins
/// when it holds one version.
pub fn selected_version(hello: &ServerHello<'_>) -> u16 {
    match hello.extensions.find(SUPPORTED_VERSIONS) {
        Some([high, low]) => u16::from_be_bytes([*high, *low]),
        _ => hello.legacy_version,
    }
}
