//! What the records of one TLS connection carry, sans-IO: records in (as the core session
//! frames them), typed content events out, one kind per timeline step.
//!
//! Strategy: each record is opened when the connection's decryptor holds keys for it
//! (NULL-cipher records have their MAC stripped instead), then dispatched by content type:
//! handshake bytes go through one defragmenter per direction and each message is read with
//! what was negotiated so far, fed to the decryptor and kept for a TLS <= 1.2 client
//! CertificateVerify; ChangeCipherSpec switches a direction to encrypted (not the TLS 1.3
//! compatibility one); alerts follow the plaintext-or-encrypted rules of each version;
//! application data is classified (application data, 0-RTT early data, the encrypted
//! handshake of TLS 1.3) and runs of same-kind records are folded into one step, as the
//! timeline tells them. What is model and trust (certificates, signatures, the connection's
//! fields) stays with the caller, which gets each message raw with its parse context.

mod flights;
#[doc(hidden)]
pub mod fuzzing;
mod holes;
mod messages;
mod runs;
mod signatures;
mod skipped;
mod steps;
mod streams;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_streams;

use crate::decrypt::{Decryptor, Dir, Env, Hole, Lack, Opened, RsaAnswer, RsaRequest, Suites};
use crate::flows::tcp::GiveUp;
use crate::handshake::defrag::{Defragmented, Defragmenter, TypeSet};
use crate::handshake::Context;
use crate::records::{CT_APPLICATION_DATA, CT_HANDSHAKE};

pub use messages::{crowding, selected_version, MANY_EXTENSIONS};
pub use runs::{DataKind, DataRun, SideCounts};
pub use signatures::Verified;
pub use streams::{Signed, Space};

/// A TLS <= 1.2 handshake longer than this is not kept for its CertificateVerify.
pub const MAX_SIGNED_TRANSCRIPT: usize = 1 << 18;

/// One handshake message, whole, as it went (header included), with the context it was
/// read in (the caller builds its object from `raw` with that context).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageRead {
    pub side: u8,
    pub offset: u64,
    pub msg_type: u8,
    pub raw: Vec<u8>,
    /// Opened by the decryptor (not plaintext on the wire).
    pub decrypted: bool,
    /// What was negotiated before this message.
    pub context: Context,
    /// Why the body does not parse; the message is then opaque.
    pub error: Option<String>,
    /// A CertificateVerify's signed input: TLS 1.3, the transcript hash before it when the
    /// whole transcript was read; before, the handshake messages so far when all were kept.
    pub signed: Option<Vec<u8>>,
    /// A ServerKeyExchange's or CertificateVerify's signature that verified here, with its
    /// side's leaf (`signatures`): the caller's check may take it as its answer.
    pub verified: Option<Box<Verified>>,
}

/// What the content layer tells, in stream order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContentEvent {
    Message(Box<MessageRead>),
    ChangeCipherSpec {
        side: u8,
        offset: u64,
        length: usize,
        /// Sent under the cipher it ends (a renegotiation): its body is not readable.
        encrypted: bool,
    },
    /// One alert; `alert` (level, description) unless it is encrypted.
    Alert {
        side: u8,
        offset: u64,
        length: usize,
        alert: Option<(u8, u8)>,
    },
    /// A heartbeat record; `fields` (type, claimed payload length) when readable.
    Heartbeat {
        side: u8,
        offset: u64,
        length: usize,
        encrypted: bool,
        fields: Option<(u8, u16)>,
    },
    ApplicationData(DataRun),
    /// Handshake bytes that stay encrypted (TLS 1.3's come as application data records,
    /// not counted as application data).
    EncryptedHandshake {
        side: u8,
        offset: u64,
        length: usize,
    },
    /// Bytes of the stream missing from the capture (once TLS started); `given_up`: or not
    /// yet come when tlslens stopped waiting for them (flows/tcp.rs `GiveUp`).
    Gap {
        side: u8,
        offset: u64,
        length: u64,
        given_up: Option<GiveUp>,
    },
    /// A handshake message tlslens did not read: its header claims `claimed` bytes, past
    /// --max-message's `limit` (its finding says so too; this is its timeline step).
    Skipped {
        side: u8,
        offset: u64,
        msg_type: u8,
        claimed: u32,
        limit: u32,
    },
    Finding {
        side: Option<u8>,
        layer: &'static str,
        offset: Option<u64>,
        message: String,
    },
    /// The handshake of `side` (`dir`) lacks a message as tlslens read it: tlslens skipped
    /// it or the capture lost it (`lack`). The caller's model words what that withholds
    /// besides the Finished checks: a signature whose certificate was the message lacking.
    Lacking {
        side: u8,
        dir: Dir,
        lack: Lack,
    },
}

/// The caller's part in one call: the registry's suites, the decryptor with the run's key
/// log when there are secrets, and the answer to an RSA key exchange (the premaster one of
/// the caller's RSA keys recovers, or None; Err, told as an internal finding at the message).
pub struct Io<'a, 'e> {
    pub suites: &'a Suites,
    pub decryptor: Option<(&'a mut Decryptor, &'a mut Env<'e>)>,
    pub rsa: &'a mut dyn FnMut(&RsaRequest) -> RsaAnswer,
}

#[derive(Debug)]
struct Direction {
    defrag: Defragmenter,
    /// After this side's ChangeCipherSpec (TLS <= 1.2).
    encrypted: bool,
    /// A NULL cipher's MAC size: its records stay readable.
    mac_size: Option<usize>,
    /// An encrypted handshake message (its Finished) went by.
    finished: bool,
    /// Where the last record read ended, and the hole since, if bytes were lost after it
    /// (told to the decryptor with the next record: holes.rs).
    read_end: u64,
    hole: Option<Hole>,
}

/// One connection's content layer. See the module's Strategy.
#[derive(Debug)]
pub struct Content {
    sides: [Direction; 2],
    client_side: Option<u8>,
    keep_plaintext: bool,
    context: Context,
    /// The MAC size of the NULL cipher the last ServerHello chose (its records stay
    /// readable): all a ChangeCipherSpec needs of the suite, which is not kept (152 bytes
    /// and its names' copies per flow).
    null_mac: Option<usize>,
    /// After a TLS 1.3 ServerHello.
    tls13_encrypted: bool,
    /// TLS 1.3's sealed flights, as the records tell them without keys.
    flights: flights::Flights,
    /// Server handshake types before its ChangeCipherSpec.
    server_flight: TypeSet,
    /// The first ClientHello: seen, offers TLS 1.3, offers early data.
    client_hello: Option<(bool, bool)>,
    server_hello_seen: bool,
    transcript: Option<Vec<u8>>,
    integrity_reported: [bool; 2],
    renegotiation: bool,
    abbreviated: bool,
    /// The core session said TLS started (`set_client_side`).
    started: bool,
    counts: runs::Counts,
    run: Option<DataRun>,
    out: Vec<ContentEvent>,
    /// QUIC's CRYPTO streams, in the order they began.
    streams: Vec<streams::CryptoStream>,
    max_message: u32,
    known_types: TypeSet,
    /// What the message being read signs, told by a caller keeping the transcript (DTLS).
    given_signed: Option<Signed>,
    /// What the handshake's signatures are checked with, from the first ClientHello on.
    signing: Option<Box<signatures::Signing>>,
}

impl Content {
    /// What the content layer holds, boxed (`Limits.max_held`): itself, the messages being
    /// gathered, the transcript kept for a Finished check, a run's plaintext, the leaves
    /// kept for signature checks.
    pub fn held(&self) -> usize {
        use crate::held::{boxed, buffer};
        let gathering = self.sides.iter().map(|d| d.defrag.held());
        let streams = self.streams.iter().map(|s| s.defrag.held());
        let run = self.run.iter().flat_map(|r| &r.plaintext).map(buffer);
        let signing = self.signing.as_deref().map_or(0, signatures::Signing::held);
        boxed::<Content>()
            + gathering.chain(streams).chain(run).sum::<usize>()
            + self.transcript.as_ref().map_or(0, buffer)
            + signing
    }

    /// `known_types`: the handshake types a record of whole messages may hold (the end of an
    /// oversized message's skip); `keep_plaintext`: each decrypted record's bytes are told.
    pub fn new(
        client_side: Option<u8>,
        max_message: u32,
        known_types: &[u8],
        keep_plaintext: bool,
    ) -> Self {
        let known_types = TypeSet::of(known_types);
        let direction = || Direction {
            defrag: Defragmenter::with_known(max_message, known_types),
            encrypted: false,
            mac_size: None,
            finished: false,
            read_end: 0,
            hole: None,
        };
        Content {
            sides: [direction(), direction()],
            client_side,
            keep_plaintext,
            context: Context::default(),
            null_mac: None,
            tls13_encrypted: false,
            flights: flights::Flights::default(),
            server_flight: TypeSet::default(),
            client_hello: None,
            server_hello_seen: false,
            transcript: None,
            integrity_reported: [false; 2],
            renegotiation: false,
            abbreviated: false,
            started: false,
            counts: runs::Counts::default(),
            run: None,
            out: Vec::new(),
            streams: Vec::new(),
            max_message,
            known_types,
            given_signed: None,
            signing: None,
        }
    }

    /// The core session decided which side is the client: TLS started.
    pub fn set_client_side(&mut self, client_side: u8) {
        self.client_side = Some(client_side & 1);
        self.started = true;
    }

    /// The side that is the client's, once known.
    pub fn client_side(&self) -> Option<u8> {
        self.client_side
    }

    /// A handshake after the first was seen (RFC 5746).
    pub fn renegotiation(&self) -> bool {
        self.renegotiation
    }

    /// The server resumed a session: its flight went from ServerHello to ChangeCipherSpec.
    pub fn abbreviated(&self) -> bool {
        self.abbreviated
    }

    /// A TLS 1.3 ServerHello was read: what follows is encrypted.
    pub fn tls13_encrypted(&self) -> bool {
        self.tls13_encrypted
    }

    /// The events so far (the run being folded is held until something else is told, or
    /// [`Content::flush`]). The list goes with them: a drained `Vec` would keep its room
    /// (a few events' worth, ~200 bytes) for as long as the flow stays open.
    pub fn drain(&mut self) -> std::vec::IntoIter<ContentEvent> {
        std::mem::take(&mut self.out).into_iter()
    }

    /// End the current run of application data: a step of another layer comes next.
    pub fn flush(&mut self) {
        if let Some(run) = self.run.take() {
            self.out.push(ContentEvent::ApplicationData(run));
        }
    }

    fn is_client(&self, side: u8) -> bool {
        self.client_side == Some(side)
    }

    fn dir(&self, side: u8) -> Dir {
        if self.is_client(side) {
            Dir::C2S
        } else {
            Dir::S2C
        }
    }

    fn side_mut(&mut self, side: u8) -> &mut Direction {
        &mut self.sides[usize::from(side & 1)]
    }

    fn side(&self, side: u8) -> &Direction {
        &self.sides[usize::from(side & 1)]
    }

    fn push(&mut self, event: ContentEvent) {
        self.flush();
        self.out.push(event);
    }

    /// Findings are not steps: they leave a run open.
    fn finding(
        &mut self,
        side: Option<u8>,
        layer: &'static str,
        offset: Option<u64>,
        message: String,
    ) {
        self.out.push(ContentEvent::Finding {
            side,
            layer,
            offset,
            message,
        });
    }

    /// A message of `side` is missing from the handshake as tlslens read it: the decryptor is
    /// told (its Finished checks are then not held against the secret) and the messages kept
    /// for a client CertificateVerify are let go (they are no longer what it signs).
    fn transcript_lacks(&mut self, io: &mut Io<'_, '_>, side: u8, lack: Lack) {
        self.transcript = None;
        let dir = self.dir(side);
        if let Some((dec, _)) = io.decryptor.as_mut() {
            dec.transcript_lacks(dir, lack);
        }
        self.out.push(ContentEvent::Lacking { side, dir, lack });
    }

    /// The side ended: a message still incomplete is told (unless encrypted).
    pub fn side_end(&mut self, side: u8) {
        let st = self.side(side);
        let Some((msg_type, declared, present)) = st.defrag.incomplete() else {
            return;
        };
        if st.encrypted {
            return;
        }
        let offset = st.defrag.pending_offset();
        let claims = if declared == 1 {
            "1 byte".to_owned()
        } else {
            format!("{declared} bytes")
        };
        self.finding(
            Some(side),
            "handshake",
            Some(offset),
            format!("handshake message type {msg_type} claims {claims}, only {present} arrived"),
        );
    }

    /// One whole record of `side`: outer type, version and body as it came.
    pub fn record(
        &mut self,
        io: &mut Io<'_, '_>,
        side: u8,
        ctype: u8,
        version: u16,
        body: &[u8],
        offset: u64,
    ) {
        let side = side & 1;
        let encrypted = self.side(side).encrypted;
        let hole = self.hole_before(side, offset, body.len());
        let mut opened: Option<(u8, Vec<u8>)> = None;
        if encrypted || ctype == CT_APPLICATION_DATA {
            let dir = self.dir(side);
            if let Some((dec, env)) = io.decryptor.as_mut() {
                if let Some(hole) = hole {
                    dec.records_lost(dir, hole);
                }
                match dec.open(env, dir, ctype, version, body) {
                    Opened::Plain(real, plaintext) => {
                        if let Some(resumed) = dec.resumed(dir) {
                            self.finding(Some(side), "decrypt", Some(offset), resumed);
                        }
                        opened = Some((real, plaintext));
                    }
                    Opened::NoKey => {}
                    // Not the record's doing: told where it happened, the record unread.
                    Opened::Fault(message) => {
                        self.finding(Some(side), "internal", Some(offset), message);
                    }
                    Opened::Failed(reason) => self.undecryptable(side, offset, reason),
                }
            }
        }
        match opened {
            Some((real, plaintext)) => self.plain(io, side, real, plaintext, offset),
            None => self.protected(io, side, ctype, body, offset),
        }
    }

    /// A protected record the keys do not open: said once a side (the decryptor counts
    /// them all), then read as it is without keys (its encrypted handshake message, alert or
    /// application data), so that the handshake's story is the wire's whatever the key log:
    /// a wrong key log made both Finished "records that do not decrypt", and the handshake
    /// read as failed.
    fn undecryptable(&mut self, side: u8, offset: u64, reason: String) {
        let index = self.dir(side) as usize;
        if let Some(reported) = self.integrity_reported.get_mut(index) {
            if !*reported {
                *reported = true;
                let message = format!("{reason} (later failures are only counted)");
                self.finding(Some(side), "decrypt", Some(offset), message);
            }
        }
    }

    /// A record the decryptor opened: its real type and plaintext (owned: application data
    /// keeps it without a copy, and drops it unread when nothing keeps plaintext).
    fn plain(&mut self, io: &mut Io<'_, '_>, side: u8, ctype: u8, body: Vec<u8>, offset: u64) {
        match ctype {
            CT_APPLICATION_DATA => {
                let early = self.dir(side) == Dir::C2S
                    && io
                        .decryptor
                        .as_ref()
                        .is_some_and(|(dec, _)| dec.early_active);
                let kind = if early {
                    DataKind::EarlyData
                } else {
                    DataKind::ApplicationData
                };
                let length = body.len();
                self.data(side, kind, offset, length, Some(body));
            }
            CT_HANDSHAKE => {
                let st = self.side(side);
                if st.finished && st.encrypted {
                    self.renegotiation = true;
                }
                self.handshake_bytes(io, side, &body, offset.saturating_add(5), true);
            }
            _ => self.other(io, side, ctype, &body, offset, true),
        }
    }

    /// A record as it came: plaintext, or protected with no key for it.
    fn protected(&mut self, io: &mut Io<'_, '_>, side: u8, ctype: u8, body: &[u8], offset: u64) {
        if ctype == CT_APPLICATION_DATA {
            self.skipped(side, offset, body.len());
            return;
        }
        let st = self.side(side);
        let mut body = body;
        if let Some(mac) = st.mac_size.filter(|mac| st.encrypted && body.len() >= *mac) {
            body = body.get(..body.len() - mac).unwrap_or_default();
            if ctype == CT_HANDSHAKE {
                self.handshake_bytes(io, side, body, offset.saturating_add(5), false);
                return;
            }
        }
        if ctype != CT_HANDSHAKE {
            self.other(io, side, ctype, body, offset, false);
            return;
        }
        let st = self.side(side);
        if st.encrypted || (self.tls13_encrypted && !self.is_client(side)) {
            let st = self.side_mut(side);
            let again = st.finished;
            st.finished = true;
            self.renegotiation |= again;
            self.push(ContentEvent::EncryptedHandshake {
                side,
                offset,
                length: body.len(),
            });
            return;
        }
        self.handshake_bytes(io, side, body, offset.saturating_add(5), false);
    }

    /// Handshake bytes of one record at stream `offset`: each message they complete.
    fn handshake_bytes(
        &mut self,
        io: &mut Io<'_, '_>,
        side: u8,
        body: &[u8],
        offset: u64,
        decrypted: bool,
    ) {
        self.defragmented(io, side, None, body, offset, decrypted);
    }

    /// The defragmenter of `side`'s records, or CRYPTO stream `stream`.
    fn defrag_mut(&mut self, side: u8, stream: Option<usize>) -> Option<&mut Defragmenter> {
        match stream {
            None => Some(&mut self.side_mut(side).defrag),
            Some(index) => self.streams.get_mut(index).map(|s| &mut s.defrag),
        }
    }

    /// Bytes at stream `offset` into one defragmenter: each message they complete is read.
    fn defragmented(
        &mut self,
        io: &mut Io<'_, '_>,
        side: u8,
        stream: Option<usize>,
        body: &[u8],
        offset: u64,
        decrypted: bool,
    ) {
        let Some(defrag) = self.defrag_mut(side, stream) else {
            return;
        };
        defrag.feed(offset, body);
        loop {
            let Some(defrag) = self.defrag_mut(side, stream) else {
                return;
            };
            let item = match defrag.next_message() {
                None => break,
                Some(Defragmented::Message {
                    msg_type,
                    raw,
                    offset,
                }) => Ok((msg_type, raw.to_vec(), offset)),
                Some(Defragmented::Oversized {
                    msg_type,
                    length,
                    offset,
                    limit,
                    client_random,
                    server_suite,
                }) => Err((
                    (msg_type, length, limit),
                    offset,
                    client_random,
                    server_suite,
                )),
            };
            match item {
                Ok((msg_type, raw, at)) => self.message(io, side, msg_type, raw, at, decrypted),
                Err((claims, at, random, suite)) => {
                    if let (Some(random), Some((dec, _))) = (random, io.decryptor.as_mut()) {
                        if self.dir(side) == Dir::C2S {
                            dec.skipped_hello_random(random);
                        }
                    }
                    if let Some(suite) = suite.filter(|_| !self.is_client(side)) {
                        self.skipped_server_hello(io, suite);
                    }
                    self.oversized(io, side, claims, at, stream.is_some());
                }
            }
        }
        if let Some(defrag) = self.defrag_mut(side, stream) {
            defrag.release();
        }
    }
}
