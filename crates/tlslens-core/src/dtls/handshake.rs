//! DTLS handshake fragments (RFC 6347 §4.2.2, RFC 9147 §5.2): the 12-byte header, one
//! direction's reassembly into whole messages per epoch and `message_seq`, retransmissions
//! told apart from new messages (the hellos' few fields the record layer needs: hello.rs).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::Limits;
use crate::capture::thousands;
use crate::codec::{CodecResult, Reader};
use crate::keys::HashAlg;

pub use crate::handshake::{CLIENT_HELLO, HELLO_VERIFY_REQUEST, SERVER_HELLO};

/// Separate byte ranges held for one message (each fragment is sorted in: bounded work).
pub const MAX_RANGES: usize = 512;

/// The 12-byte header before each fragment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fragment {
    pub msg_type: u8,
    pub length: u32,
    pub message_seq: u16,
    pub fragment_offset: u32,
    pub fragment_length: u32,
}

/// Read one fragment header and its bytes; the fragment must lie inside the message.
pub fn read_fragment<'a>(r: &mut Reader<'a>) -> CodecResult<(Fragment, &'a [u8])> {
    let msg_type = r.u8()?;
    let length = r.u24()?;
    let message_seq = r.u16()?;
    let fragment_offset = r.u24()?;
    let fragment_length = r.u24()?;
    if u64::from(fragment_offset) + u64::from(fragment_length) > u64::from(length) {
        return Err(r.invalid(format!(
            "fragment {fragment_offset}+{fragment_length} of message {message_seq} runs past \
             its length {length}"
        )));
    }
    let bytes = r.take(fragment_length as usize)?;
    let fragment = Fragment {
        msg_type,
        length,
        message_seq,
        fragment_offset,
        fragment_length,
    };
    Ok((fragment, bytes))
}

/// Bytes held for incomplete messages by every association that shares the pool (one
/// capture's): each association is bounded by [`Limits`], and the pool bounds them all, as
/// QUIC's CRYPTO data waiting is bounded across connections. Past it, a new message is not
/// reassembled ([`Outcome::Pooled`]). The bytes of completed messages kept to compare
/// retransmissions with ([`MAX_COMPLETED_BYTES`] an association's direction) are bounded
/// apart, by as much: past it a completed message keeps only its digest, and never takes
/// the room of a message being reassembled.
#[derive(Debug)]
pub struct PendingPool {
    held: AtomicUsize,
    max: usize,
    /// Completed messages' bytes kept, bounded by `max` too.
    kept: AtomicUsize,
}

impl PendingPool {
    /// The capture's default bound (16 MiB: a thousand associations' handshakes of 16 KiB
    /// being reassembled at once).
    pub const DEFAULT_MAX: usize = 16 << 20;

    pub fn new(max: usize) -> Self {
        PendingPool {
            held: AtomicUsize::new(0),
            max,
            kept: AtomicUsize::new(0),
        }
    }

    /// What the associations hold now.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }

    pub fn max(&self) -> usize {
        self.max
    }

    /// What the associations keep of their completed messages now.
    pub fn kept(&self) -> usize {
        self.kept.load(Ordering::Relaxed)
    }

    /// Take `bytes` from the pool: false, and nothing taken, past its bound.
    fn take(&self, bytes: usize) -> bool {
        take_from(&self.held, self.max, bytes)
    }

    fn give(&self, bytes: usize) {
        give_to(&self.held, bytes);
    }

    /// Take `bytes` to keep a completed message's body: false past the bound.
    fn keep(&self, bytes: usize) -> bool {
        take_from(&self.kept, self.max, bytes)
    }

    fn unkeep(&self, bytes: usize) {
        give_to(&self.kept, bytes);
    }
}

fn take_from(counter: &AtomicUsize, max: usize, bytes: usize) -> bool {
    counter
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |held| {
            held.checked_add(bytes).filter(|&after| after <= max)
        })
        .is_ok()
}

fn give_to(counter: &AtomicUsize, bytes: usize) {
    // (An association gives back only what it took: never below zero.)
    let _ = counter.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |held| {
        Some(held.saturating_sub(bytes))
    });
}

impl Default for PendingPool {
    fn default() -> Self {
        PendingPool::new(PendingPool::DEFAULT_MAX)
    }
}

/// What one fragment did to the reassembly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The message is whole: its bytes in TLS form (4-byte header + body), and how many
    /// fragments brought them.
    Complete {
        msg_type: u8,
        message_seq: u16,
        tls: Vec<u8>,
        fragments: usize,
    },
    /// More fragments are needed.
    Partial,
    /// A fragment of a message already completed, the same as the first copy's bytes there.
    Retransmission { msg_type: u8, message_seq: u16 },
    /// A fragment under the (epoch, message_seq) of a message already completed that is not
    /// that message's (`msg_type`: the first copy's): another message, dropped; the first
    /// copy is the one read and hashed.
    Differs {
        msg_type: u8,
        message_seq: u16,
        how: Difference,
    },
    /// Bad or unbounded: the fragment is dropped (its message with it, unless the message
    /// was being held: then only the fragment), for the reason `why` gives.
    Refused {
        msg_type: u8,
        message_seq: u16,
        why: Refusal,
    },
    /// The associations sharing the pool hold its bound: the message is dropped.
    Pooled { msg_type: u8, message_seq: u16 },
}

/// Why the reassembly refused a fragment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The message claims `length` bytes, more than `limit` (`Limits::max_message`, which
    /// `--max-message` sets).
    TooLong { length: usize, limit: usize },
    /// A new message would pass the bounds on messages or bytes held incomplete.
    Held { messages: usize, bytes: usize },
    /// The fragment's type and length are not the ones an earlier fragment gave.
    Disagrees {
        msg_type: u8,
        length: usize,
        earlier: (u8, usize),
    },
    /// The message's bytes came in more than `MAX_RANGES` separate pieces.
    Scattered,
    /// The fragment overlaps an earlier one with different bytes, from byte `at` of the
    /// message.
    Overlaps { at: usize },
}

impl Refusal {
    /// What was refused and why, for a finding about message `seq` of `msg_type`.
    pub fn text(&self, msg_type: u8, seq: u16) -> String {
        match self {
            // Worded as over TCP (content/mod.rs `oversized`): "message 2" read as a type.
            Refusal::TooLong { length, limit } => format!(
                "handshake message {}, message_seq {seq}, claims {} bytes, past \
                 --max-message's limit of {} bytes; skipped",
                crate::handshake::type_text(msg_type),
                thousands(*length as u64),
                thousands(*limit as u64)
            ),
            Refusal::Held { messages, bytes } => format!(
                "message {seq} would exceed the {messages} messages or {bytes} bytes held for \
                 reassembly"
            ),
            Refusal::Disagrees {
                msg_type,
                length,
                earlier,
            } => format!(
                "a fragment of message {seq} says type {msg_type} length {length}, an earlier \
                 one type {} length {}",
                earlier.0, earlier.1
            ),
            Refusal::Scattered => {
                format!("message {seq} arrived in more than {MAX_RANGES} separate pieces")
            }
            Refusal::Overlaps { at } => format!(
                "a fragment of message {seq} overlaps an earlier one with different bytes (at \
                 byte {at} of the message)"
            ),
        }
    }
}

/// How a fragment differs from the message first completed under its (epoch, message_seq).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Difference {
    /// Its header says another length than the first copy's.
    Length { now: usize, first: usize },
    /// Its bytes differ from the first copy's at byte `at` of the message.
    Byte { at: usize },
    /// The whole message came again with other bytes; the first copy's bytes were no longer
    /// held (past [`MAX_COMPLETED_BYTES`]), only their digest, so where is not known.
    Digest,
}

impl Difference {
    /// A finding's text about the message `(epoch, seq)` of `msg_type` (the first copy's).
    pub fn text(&self, msg_type: u8, (epoch, seq): (u64, u16)) -> String {
        let what = match self {
            Difference::Length { now, first } => format!(
                "with length {}, the first copy's {}",
                thousands(*now as u64),
                thousands(*first as u64)
            ),
            Difference::Byte { at } => format!(
                "with bytes that differ from the first copy's at byte {} of the message",
                thousands(*at as u64)
            ),
            Difference::Digest => "whole, with bytes whose SHA-256 differs from the first \
                                   copy's (whose bytes were no longer held)"
                .to_owned(),
        };
        format!(
            "handshake message {}, epoch {epoch}, message_seq {seq}, came again {what}: \
             another message under the same epoch and message_seq, not a retransmission; \
             the first copy is kept",
            crate::handshake::type_text(msg_type)
        )
    }
}

/// Bytes of completed messages kept per direction to compare retransmissions with, byte
/// for byte (past it, the oldest give their bytes up and keep a digest).
pub const MAX_COMPLETED_BYTES: usize = 1 << 20;

/// What is kept of a completed message to tell a retransmission from another message of its
/// type sent under the same (epoch, message_seq).
struct Done {
    msg_type: u8,
    length: usize,
    kept: Kept,
}

/// A completed message's bytes, or once they are given up their SHA-256: what is left to
/// compare a whole copy with (hashed only then: most messages keep their bytes).
enum Kept {
    Body(Vec<u8>),
    Digest(Vec<u8>),
}

impl Done {
    fn new(msg_type: u8, body: Vec<u8>, fits: bool) -> Self {
        let length = body.len();
        let kept = if fits {
            Kept::Body(body)
        } else {
            Kept::Digest(HashAlg::Sha256.digest(&[&body]))
        };
        Done {
            msg_type,
            length,
            kept,
        }
    }

    /// Its bytes given up for their digest; returns how many were held.
    fn give_up(&mut self) -> usize {
        match &self.kept {
            Kept::Body(body) => {
                let held = body.len();
                self.kept = Kept::Digest(HashAlg::Sha256.digest(&[body]));
                held
            }
            Kept::Digest(_) => 0,
        }
    }

    /// Bytes held.
    fn held(&self) -> usize {
        match &self.kept {
            Kept::Body(body) => body.len(),
            Kept::Digest(_) => 0,
        }
    }

    /// How the fragment (`bytes` at `fragment.fragment_offset`) of a message of the same type
    /// differs from this message, None when it repeats it (or when the bytes it would be
    /// compared with are not held).
    fn differs(&self, fragment: &Fragment, bytes: &[u8]) -> Option<Difference> {
        let length = fragment.length as usize;
        if length != self.length {
            let first = self.length;
            return Some(Difference::Length { now: length, first });
        }
        let at = fragment.fragment_offset as usize;
        match &self.kept {
            Kept::Body(body) => {
                let first = body.get(at..).unwrap_or_default();
                let i = first.iter().zip(bytes).position(|(a, b)| a != b)?;
                Some(Difference::Byte { at: at + i })
            }
            Kept::Digest(digest) if at == 0 && bytes.len() == length => {
                (HashAlg::Sha256.digest(&[bytes]) != *digest).then_some(Difference::Digest)
            }
            Kept::Digest(_) => None,
        }
    }
}

struct Pending {
    msg_type: u8,
    body: Vec<u8>,
    /// Received byte ranges, sorted and merged.
    have: Vec<(usize, usize)>,
    /// Fragments that brought bytes (at most `MAX_RANGES` more than the ranges kept).
    fragments: usize,
    /// What it took from the shared pool (nothing for a message that came whole).
    pooled: usize,
}

impl Pending {
    fn complete(&self) -> bool {
        self.body.is_empty()
            || matches!(self.have.as_slice(), [(0, end)] if *end == self.body.len())
    }

    /// Store `bytes` at `at`; Err when an overlap holds different bytes.
    fn insert(&mut self, at: usize, bytes: &[u8]) -> Result<(), usize> {
        if bytes.is_empty() {
            return Ok(());
        }
        let end = at.saturating_add(bytes.len());
        for &(start, stop) in &self.have {
            let (lo, hi) = (start.max(at), stop.min(end));
            if lo < hi && self.body.get(lo..hi) != bytes.get(lo - at..hi - at) {
                let first = (lo..hi)
                    .find(|&i| self.body.get(i) != bytes.get(i - at))
                    .unwrap_or(lo);
                return Err(first);
            }
        }
        if let Some(slot) = self.body.get_mut(at..end) {
            slot.copy_from_slice(bytes);
        }
        self.have.push((at, end));
        self.fragments = self.fragments.saturating_add(1);
        self.have.sort_unstable();
        let mut merged: Vec<(usize, usize)> = Vec::with_capacity(self.have.len());
        for &(start, stop) in &self.have {
            match merged.last_mut() {
                Some(last) if start <= last.1 => last.1 = last.1.max(stop),
                _ => merged.push((start, stop)),
            }
        }
        self.have = merged;
        Ok(())
    }
}

/// A message of one direction: the epoch of its records, and its message_seq. A
/// retransmission is sent in the epoch of the original (RFC 9147 asks for its "same epoch and
/// keying material"; OpenSSL's DTLS 1.2 keeps the old epoch's state to retransmit with),
/// while each handshake numbers its messages from 0 again (RFC 6347 §4.2.2), so a
/// renegotiation's come again under numbers the first handshake used, in a later epoch.
type MessageId = (u64, u16);

/// One direction's reassembly.
#[derive(Default)]
pub struct Reassembler {
    pending: BTreeMap<MessageId, Pending>,
    pending_bytes: usize,
    /// Of `pending_bytes`, what was taken from the shared pool.
    pooled: usize,
    /// The messages completed, the oldest epoch's forgotten first past the limit.
    completed: BTreeMap<MessageId, Done>,
    /// Of the completed messages, the bytes held (at most [`MAX_COMPLETED_BYTES`]).
    completed_bytes: usize,
}

impl Reassembler {
    /// Add one fragment (its header already checked against its own length) of a record of
    /// `epoch`; a new message's bytes are taken from `pool`, given back when it completes or
    /// is dropped.
    pub fn add(
        &mut self,
        (epoch, fragment): (u64, &Fragment),
        bytes: &[u8],
        limits: &Limits,
        pool: &PendingPool,
    ) -> Outcome {
        let seq = fragment.message_seq;
        let id = (epoch, seq);
        // Another type under the number is a new message: a renegotiation numbers its
        // messages from 0 again in the epoch its predecessor's Finished was sent in, and its
        // messages there are never a Finished (dtls-reneg.pcapng's ServerHelloDone and
        // CertificateVerify come under the numbers of the first handshake's Finished).
        let same_type = self
            .completed
            .get(&id)
            .filter(|d| d.msg_type == fragment.msg_type);
        if let Some(done) = same_type {
            // A retransmission repeats the first copy (RFC 9147 §5.8.1, RFC 6347 §4.2.4):
            // one that does not is another message, which the transcript must not take.
            let msg_type = done.msg_type;
            // A stateless server answers each copy of the ClientHello with a HelloVerifyRequest
            // made afresh (RFC 6347 §4.2.1), whose cookie may differ (mbed TLS's carries the
            // time): it is no other message, and no transcript holds it (§4.2.6).
            let fresh_cookie = msg_type == HELLO_VERIFY_REQUEST;
            return match done.differs(fragment, bytes).filter(|_| !fresh_cookie) {
                None => Outcome::Retransmission {
                    msg_type,
                    message_seq: seq,
                },
                Some(how) => Outcome::Differs {
                    msg_type,
                    message_seq: seq,
                    how,
                },
            };
        }
        let length = fragment.length as usize;
        let refused = |msg_type, why| Outcome::Refused {
            msg_type,
            message_seq: seq,
            why,
        };
        if length > limits.max_message {
            let limit = limits.max_message;
            return refused(fragment.msg_type, Refusal::TooLong { length, limit });
        }
        if !self.pending.contains_key(&id) {
            if self.pending.len() >= limits.max_pending_messages
                || self.pending_bytes.saturating_add(length) > limits.max_pending_bytes
            {
                let held = Refusal::Held {
                    messages: limits.max_pending_messages,
                    bytes: limits.max_pending_bytes,
                };
                return refused(fragment.msg_type, held);
            }
            // A message that comes whole waits for nothing: only fragments take room.
            let whole =
                fragment.fragment_offset == 0 && fragment.fragment_length == fragment.length;
            let pooled = if whole { 0 } else { length };
            if !pool.take(pooled) {
                return Outcome::Pooled {
                    msg_type: fragment.msg_type,
                    message_seq: seq,
                };
            }
            self.pending_bytes += length;
            self.pooled += pooled;
            let pending = Pending {
                msg_type: fragment.msg_type,
                body: vec![0; length],
                have: Vec::new(),
                fragments: 0,
                pooled,
            };
            self.pending.insert(id, pending);
        }
        let Some(pending) = self.pending.get_mut(&id) else {
            return Outcome::Partial;
        };
        // The message held is the one a refusal names (its type, not the fragment's).
        if pending.msg_type != fragment.msg_type || pending.body.len() != length {
            let why = Refusal::Disagrees {
                msg_type: fragment.msg_type,
                length,
                earlier: (pending.msg_type, pending.body.len()),
            };
            return refused(pending.msg_type, why);
        }
        if pending.have.len() >= MAX_RANGES {
            return refused(pending.msg_type, Refusal::Scattered);
        }
        if let Err(at) = pending.insert(fragment.fragment_offset as usize, bytes) {
            return refused(pending.msg_type, Refusal::Overlaps { at });
        }
        if !pending.complete() {
            return Outcome::Partial;
        }
        let Some(done) = self.pending.remove(&id) else {
            return Outcome::Partial;
        };
        self.pending_bytes = self.pending_bytes.saturating_sub(done.body.len());
        self.pooled = self.pooled.saturating_sub(done.pooled);
        pool.give(done.pooled);
        let mut tls = Vec::with_capacity(done.body.len().saturating_add(4));
        tls.push(done.msg_type);
        tls.extend_from_slice(&fragment.length.to_be_bytes()[1..]);
        tls.extend_from_slice(&done.body);
        self.remember(id, (done.msg_type, done.body), limits, pool);
        Outcome::Complete {
            msg_type: done.msg_type,
            message_seq: seq,
            tls,
            fragments: done.fragments.max(1),
        }
    }

    /// A message completed: its bytes kept to compare retransmissions with, the oldest
    /// completed messages' given up (their digests kept) to hold at most
    /// [`MAX_COMPLETED_BYTES`], kept within `pool`'s bound for them (past it, the digest
    /// alone: the associations open at once count a few KB each toward --max-held).
    fn remember(
        &mut self,
        id: MessageId,
        (msg_type, body): (u8, Vec<u8>),
        limits: &Limits,
        pool: &PendingPool,
    ) {
        let length = body.len();
        for old in self.completed.values_mut() {
            if self.completed_bytes.saturating_add(length) <= MAX_COMPLETED_BYTES {
                break;
            }
            let gone = old.give_up();
            self.completed_bytes = self.completed_bytes.saturating_sub(gone);
            pool.unkeep(gone);
        }
        let fits =
            self.completed_bytes.saturating_add(length) <= MAX_COMPLETED_BYTES && pool.keep(length);
        if fits {
            self.completed_bytes += length;
        }
        // Another type completed under the number replaces the first: its bytes go back.
        if let Some(old) = self.completed.insert(id, Done::new(msg_type, body, fits)) {
            self.completed_bytes = self.completed_bytes.saturating_sub(old.held());
            pool.unkeep(old.held());
        }
        while self.completed.len() > limits.max_completed {
            if let Some((_, gone)) = self.completed.pop_first() {
                self.completed_bytes = self.completed_bytes.saturating_sub(gone.held());
                pool.unkeep(gone.held());
            }
        }
    }

    /// Messages still incomplete: (message_seq, type, bytes received, length).
    pub fn incomplete(&self) -> Vec<(u16, u8, usize, usize)> {
        self.pending
            .iter()
            .map(|((_, seq), p)| {
                let have = p.have.iter().map(|(a, b)| b - a).sum();
                (*seq, p.msg_type, have, p.body.len())
            })
            .collect()
    }

    /// Drop the messages still incomplete, and the bytes of the completed ones (their
    /// digests stay), giving them back to `pool`.
    pub fn clear(&mut self, pool: &PendingPool) {
        self.pending.clear();
        self.pending_bytes = 0;
        pool.give(std::mem::take(&mut self.pooled));
        for done in self.completed.values_mut() {
            done.give_up();
        }
        pool.unkeep(std::mem::take(&mut self.completed_bytes));
    }
}
