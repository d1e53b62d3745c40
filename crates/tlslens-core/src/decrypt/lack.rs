//! A handshake transcript that lacks a message, and the Finished checks it withholds.
//!
//! Strategy: a Finished is a MAC over every handshake message before it, so a transcript
//! missing one can never reproduce it, whatever the secret. A message goes missing in two
//! ways that are tlslens' or the capture's doing, never the key log's: tlslens skipped it
//! (its header claims more than `--max-message`), or bytes of its side were lost in a gap
//! of the capture. The content layer tells the decryptor of each
//! ([`Decryptor::transcript_lacks`]); from then until the next handshake a Finished that
//! does not match is no verdict (its direction keeps why, for the narration), and a mismatch
//! told before the gap was known is taken back: a hole is declared only when its stream
//! gives up waiting for it (a bound, or the connection's end), often after the other side's
//! Finished was read. A Finished that matches still counts: a match proves the transcript
//! held was the one both ends hashed (the bytes lost were not handshake ones). A transcript
//! dropped for its size (`MAX_TRANSCRIPT`) is told the same way.
//!
//! Bytes a side sends after its own Finished are in no Finished of that handshake (RFC 5246
//! §7.4.9, RFC 8446 §4.4.4): a gap there is ignored, unless it swallowed a ClientHello,
//! which begins the next handshake.
//!
//! A ClientHello missing leaves no client random to look the secrets up by, unless the
//! transport read it: QUIC packet protection reads the random from the first bytes of the
//! client's Initial CRYPTO stream (quic/hello.rs) and opens the packets with the key log's
//! secrets for it, whatever --max-message makes of the whole message. Told that random
//! ([`Decryptor::transport_client_random`]), the decryptor looks up the same secrets, so
//! that its status is what happened to the packets. Over TCP the random is read from the
//! first bytes of the skipped ClientHello itself, when its first record held them
//! ([`Decryptor::skipped_hello_random`]): a bound on messages is no reason to lose the
//! connection's decryption.

use super::report::random_text;
use super::{Decryptor, Derivation, Dir, Status, MAX_DERIVATIONS};
use crate::capture::thousands;
use crate::flows::tcp::GiveUp;
use crate::handshake::{self as hs, type_text};

/// Why the current handshake's transcript lacks a message of one side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lack {
    /// tlslens skipped a message whose header claims `length` bytes, past `--max-message`'s
    /// `limit`.
    Skipped {
        msg_type: u8,
        length: u32,
        limit: u32,
    },
    /// A message being gathered lost bytes in a gap of the capture and was dropped
    /// (`given_up`: tlslens stopped waiting for them at a bound, flows/tcp.rs `GiveUp`).
    Lost {
        msg_type: u8,
        given_up: Option<GiveUp>,
    },
    /// Whole records of the side were missing from the capture (a gap between messages),
    /// or had not come when tlslens stopped waiting for them (`given_up`).
    Gap { given_up: Option<GiveUp> },
}

impl Lack {
    /// The message lacking, when known (a gap's bytes may have held any).
    pub fn msg_type(self) -> Option<u8> {
        match self {
            Lack::Skipped { msg_type, .. } | Lack::Lost { msg_type, .. } => Some(msg_type),
            Lack::Gap { .. } => None,
        }
    }

    /// What is missing and why, as a clause of a reason: "tlslens skipped the server's
    /// handshake message type 11 (Certificate), which claims 1,207 bytes, past …".
    pub fn text(self, dir: Dir) -> String {
        let side = who(dir);
        match self {
            Lack::Skipped {
                msg_type,
                length,
                limit,
            } => format!(
                "tlslens skipped the {side}'s handshake message {}, which claims {} bytes, past \
                 --max-message's limit of {} bytes",
                type_text(msg_type),
                thousands(u64::from(length)),
                thousands(u64::from(limit)),
            ),
            Lack::Lost {
                msg_type,
                given_up: None,
            } => format!(
                "the {side}'s handshake message {} lost bytes in a gap of the capture and was \
                 dropped",
                type_text(msg_type)
            ),
            Lack::Lost {
                msg_type,
                given_up: Some(bound),
            } => format!(
                "the {side}'s handshake message {} lacked bytes tlslens stopped waiting for \
                 ({}), and was dropped",
                type_text(msg_type),
                bound.because()
            ),
            // What the gap held is unknown (a handshake record, a ChangeCipherSpec, early
            // data): only that the side had not sent its Finished yet.
            Lack::Gap { given_up: None } => format!(
                "bytes the {side} sent before its Finished are missing from the capture (a gap)"
            ),
            Lack::Gap {
                given_up: Some(bound),
            } => format!(
                "bytes the {side} sent before its Finished had not come when tlslens stopped \
                 waiting for them ({}; the capture may hold them later)",
                bound.because()
            ),
        }
    }
}

/// Where a client random read without its ClientHello whole came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RandomFrom {
    /// QUIC packet protection, from the client's Initial CRYPTO stream (quic/hello.rs).
    Quic,
    /// The first bytes of a ClientHello skipped past --max-message (handshake/defrag.rs).
    SkippedHello,
}

pub(super) fn who(dir: Dir) -> &'static str {
    match dir {
        Dir::C2S => "client",
        Dir::S2C => "server",
    }
}

/// Why a Finished of a transcript that grew past `MAX_TRANSCRIPT` is not checked.
pub(super) fn dropped_text() -> String {
    longer_than(super::MAX_TRANSCRIPT)
}

/// Why a Finished is not checked when its handshake is longer than the `most` bytes of
/// transcript kept (TLS's, DTLS's).
pub(crate) fn longer_than(most: usize) -> String {
    format!(
        "the handshake is longer than the {} MiB of transcript tlslens keeps",
        most >> 20
    )
}

impl Decryptor {
    /// The handshake transcript lacks a message of `dir`, for the reason `lack` gives: the
    /// current handshake's Finished are not held against the secret (see the module's
    /// Strategy). A ClientHello lacking begins a handshake of its own, without a secret.
    pub fn transcript_lacks(&mut self, dir: Dir, lack: Lack) {
        let hello = dir == Dir::C2S && lack.msg_type() == Some(hs::CLIENT_HELLO);
        if hello && !self.hrr_seen {
            // The previous handshake's random would look up its keys for this one; the one
            // the transport read from this ClientHello is its own.
            let told = self.transport_random.take();
            self.new_handshake();
            self.client_random = told.map_or_else(Vec::new, |(random, _)| Vec::from(random));
            self.random_from = told.map(|(_, from)| from);
        } else if self.finished_seen.get(dir.index()) == Some(&true) {
            return;
        }
        if dir == Dir::S2C && lack.msg_type() == Some(hs::SERVER_HELLO) {
            self.server_hello_lack.get_or_insert(lack);
        }
        if self.transcript.lacking().is_none() {
            // The first message missing is the one to name: the others follow from it.
            self.transcript.lacks(dir, lack);
        }
        // A Finished waiting for this side's messages waits no more: they are lost.
        self.check_deferred();
        self.withdraw_finished();
    }

    /// A new handshake starts (the first, or a renegotiation): a new transcript, and keys and
    /// Finished of its own.
    pub(super) fn new_handshake(&mut self) {
        self.transcript.restart();
        self.finished_seen = [false; 2];
        // A Finished still waiting stays not checked (order.rs): its handshake is over, as
        // is a premaster waiting for its ServerHelloDone (ems.rs), said by the reason.
        self.deferred = None;
        self.ems_wait = None;
        self.run = None;
        self.server_done = false;
        // A status an earlier handshake's mismatch blamed stays: a lack in this one takes
        // back only its own Finished.
        self.blamed = None;
        if !self.client_random.is_empty() {
            self.handshakes = self.handshakes.saturating_add(1);
            if self.derivations.len() < MAX_DERIVATIONS {
                self.derivations.push(Derivation::default());
            }
        }
        // A random told before a ClientHello that is read is that one's: it is not kept for
        // the next.
        self.transport_random = None;
        self.random_from = None;
        self.server_hello_lack = None;
    }

    /// The client random the transport read from the start of the ClientHello about to be
    /// handed in (QUIC's CRYPTO stream, quic/hello.rs): the secrets are looked up by it if
    /// the content layer skips that ClientHello (past --max-message), as the transport
    /// opened its packets by it. Told before the ClientHello's bytes.
    pub fn transport_client_random(&mut self, random: [u8; 32]) {
        self.transport_random = Some((random, RandomFrom::Quic));
    }

    /// The random read from the first bytes of a ClientHello the content layer skips (past
    /// --max-message), told just before its lack: the secrets are looked up by it, as a
    /// whole ClientHello's would be. The transport's reading, where there is one, stays.
    pub fn skipped_hello_random(&mut self, random: [u8; 32]) {
        if self.transport_random.is_none() {
            self.transport_random = Some((random, RandomFrom::SkippedHello));
        }
    }

    /// The reason's clause for secrets found by a random read without its ClientHello
    /// whole: where that random came from.
    pub(super) fn transport_random_text(&self) -> Option<String> {
        let from = self
            .random_from
            .filter(|_| self.status != Status::NoSecret)?;
        let random = random_text(&self.client_random);
        Some(match from {
            RandomFrom::Quic => format!(
                "the secrets were looked up by client random {random}, which QUIC packet \
                 protection read from the first bytes of the ClientHello to open the packets"
            ),
            RandomFrom::SkippedHello => format!(
                "the secrets were looked up by client random {random}, read from the first \
                 bytes of the ClientHello tlslens skipped"
            ),
        })
    }

    /// Why a Finished of the current handshake is not checked, if it is not.
    pub(super) fn unchecked(&self) -> Option<String> {
        if self.transcript.dropped() {
            return Some(dropped_text());
        }
        let (dir, lack) = self.transcript.lacking()?;
        Some(lack.text(dir))
    }

    /// This handshake's Finished that did not match are no verdict now; the reason they
    /// gave goes when nothing else blames the transcript.
    fn withdraw_finished(&mut self) {
        let Some(why) = self.unchecked() else {
            return;
        };
        let handshake = self.handshake_number();
        for dir in Dir::BOTH {
            let seen = self.finished_seen.get(dir.index()) == Some(&true);
            if let Some(result) = self.results.get_mut(dir.index()).filter(|_| seen) {
                result.withdraw(handshake, &why);
            }
        }
        let blamed = self
            .results
            .iter()
            .any(|r| r.finished_verified == Some(false));
        if !blamed {
            if let Some((status, reason)) = self.blamed.take() {
                self.status = status;
                self.reason = reason;
            }
        }
    }

    /// The reason's clause for the Finished not checked: "the Finished messages were not
    /// checked: …, and a Finished MACs the whole handshake".
    pub(super) fn unchecked_text(&self) -> Option<String> {
        let [c2s, s2c] = &self.results;
        let (subject, why) = match (&c2s.finished_unchecked, &s2c.finished_unchecked) {
            (Some(client), Some(server)) if client == server => {
                ("the Finished messages were", client.clone())
            }
            (Some(client), Some(server)) => {
                let both = format!("{client}; the server's Finished was not checked: {server}");
                ("the client's Finished was", both)
            }
            (Some(client), None) => ("the client's Finished was", client.clone()),
            (None, Some(server)) => ("the server's Finished was", server.clone()),
            (None, None) => return None,
        };
        Some(format!(
            "{subject} not checked: {why}, and a Finished MACs the whole handshake"
        ))
    }

    /// Why no secret can be looked up without a ClientHello: the one tlslens skipped or a
    /// gap took, when one did.
    pub(super) fn no_client_hello(&self) -> String {
        let lacking = self.transcript.lacking();
        match lacking {
            Some((
                Dir::C2S,
                Lack::Skipped {
                    msg_type: hs::CLIENT_HELLO,
                    length,
                    limit,
                },
            )) => format!(
                "the ClientHello was skipped (it claims {} bytes, past --max-message's limit of \
                 {} bytes), so no secret can be looked up",
                thousands(u64::from(length)),
                thousands(u64::from(limit)),
            ),
            Some((
                Dir::C2S,
                Lack::Lost {
                    msg_type: hs::CLIENT_HELLO,
                    given_up: None,
                },
            )) => "the ClientHello lost bytes in a gap of the capture and was dropped, so no \
                   secret can be looked up"
                .to_owned(),
            Some((
                Dir::C2S,
                Lack::Lost {
                    msg_type: hs::CLIENT_HELLO,
                    given_up: Some(bound),
                },
            )) => format!(
                "the ClientHello lacked bytes tlslens stopped waiting for ({}) and was dropped, \
                 so no secret can be looked up",
                bound.because()
            ),
            Some((Dir::C2S, Lack::Gap { given_up: None })) => {
                "no ClientHello was read (records of the client's handshake are missing from \
                 the capture), so no secret can be looked up"
                    .to_owned()
            }
            Some((
                Dir::C2S,
                Lack::Gap {
                    given_up: Some(bound),
                },
            )) => format!(
                "no ClientHello was read (records of the client's handshake had not come when \
                 tlslens stopped waiting for them: {}), so no secret can be looked up",
                bound.because()
            ),
            _ => "no ClientHello was seen, so no secret can be looked up".to_owned(),
        }
    }
}
