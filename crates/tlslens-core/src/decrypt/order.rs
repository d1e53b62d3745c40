//! A Finished read before the other side's messages it follows: held until they are in.
//!
//! Strategy: the content layer hands each side's messages on as its stream has them in
//! order, one side at a time. When a segment of one side comes late in the capture (TCP
//! reordering), the bytes after it wait behind the hole while the other side's messages go
//! on being read: a client's flight can be read before the server's Certificate and
//! ServerHelloDone it answers. The transcript would then hold the messages out of the order
//! both ends hashed, and a Finished checked on it could never match, whatever the secret.
//!
//! A handshake's flights alternate, so a Finished shows what must be in before it: the
//! other side's Finished when that side finishes first (the server in TLS 1.3 and in an
//! abbreviated TLS <= 1.2 handshake, the client in a full one), and in a full TLS <= 1.2
//! handshake the client's Finished follows the server's ServerHelloDone. A Finished read
//! without them waits ([`Deferred`]), with its flight (its side's messages since the other
//! side's last one or its own last flight's end, read too early) taken out of the transcript; when the other side's
//! message it waits for is in, its flight goes back after it and the Finished is checked:
//! the transcript is then in stream order. When the other side's bytes are lost instead
//! (the hole given up: lack.rs), the Finished is checked at once, as not checkable; when
//! they never come, it stays not checked, and says why. A side whose records fail to open
//! is not waited for: what it holds cannot be read.

use super::{Decryptor, Dir, MAX_TRANSCRIPT};
use crate::handshake as hs;

/// The messages that end a side's flight: its messages after one are its next flight's.
const FLIGHT_ENDS: [u8; 3] = [hs::CLIENT_HELLO, hs::SERVER_HELLO_DONE, hs::FINISHED];

/// A Finished waiting for the other side's messages it follows.
pub(super) struct Deferred {
    dir: Dir,
    /// The side's messages taken out of the transcript: its flight up to the Finished
    /// (`finished_at`), the Finished, and any it sent after it while waiting.
    bytes: Vec<u8>,
    finished_at: usize,
    verify_data: Vec<u8>,
    /// TLS 1.3: the handshake traffic secret it is keyed with.
    base: Option<Vec<u8>>,
}

impl Dir {
    fn other(self) -> Dir {
        match self {
            Dir::C2S => Dir::S2C,
            Dir::S2C => Dir::C2S,
        }
    }
}

impl Decryptor {
    /// Whether `dir`'s Finished is read before the other side's messages it follows (see
    /// the module's Strategy).
    pub(super) fn finished_early(&self, dir: Dir) -> bool {
        let other = dir.other();
        if self.finished_seen.get(other.index()) == Some(&true) {
            return false;
        }
        let failed = self
            .results
            .get(other.index())
            .is_some_and(|r| r.records_failed_integrity > 0);
        let follows_other = match (self.tls13, dir) {
            (true, Dir::C2S) => true,
            (true, Dir::S2C) => false,
            // Full handshake: the client's Finished answers the ServerHelloDone, the server's
            // the client's Finished; abbreviated (no ServerHelloDone), the server finishes
            // first.
            (false, Dir::C2S) => !self.server_done,
            (false, Dir::S2C) => self.server_done,
        };
        follows_other && !failed && self.transcript_whole()
    }

    /// `dir`'s Finished waits: its flight (its messages since the other side's last one)
    /// leaves the transcript; until it is checked it is not (why: `waiting_text`).
    pub(super) fn defer_finished(&mut self, dir: Dir, verify_data: &[u8], base: Option<Vec<u8>>) {
        let start = match self.run {
            Some((run_dir, start)) if run_dir == dir => start,
            _ => self.transcript.len(),
        };
        let bytes = self.transcript.split_off(start);
        self.run = None;
        self.deferred = Some(Deferred {
            dir,
            finished_at: bytes.len(),
            bytes,
            verify_data: verify_data.to_vec(),
            base,
        });
        let why = waiting_text(dir, self.tls13);
        self.set_finished(dir, None, Some(why));
    }

    /// A message of `dir` went to the transcript: a Finished of the other side waiting for
    /// it is checked now, its flight back after it.
    pub(super) fn resume_finished(&mut self, dir: Dir) {
        let waits = self
            .deferred
            .as_ref()
            .is_some_and(|d| d.dir != dir && !self.finished_early(d.dir));
        if waits {
            self.check_deferred();
        }
    }

    /// Records of `dir` failed to open: a Finished of the other side waiting for `dir`'s
    /// messages waits no more (what they hold cannot be read, as the module's Strategy says
    /// of a side whose records fail), and is checked as it would have been in order.
    pub(super) fn unreadable(&mut self, dir: Dir) {
        if self.deferred.as_ref().is_some_and(|d| d.dir != dir) {
            self.check_deferred();
        }
    }

    /// The Finished waiting, checked on the transcript as it stands (its flight put back
    /// first).
    pub(super) fn check_deferred(&mut self) {
        let Some(deferred) = self.deferred.take() else {
            return;
        };
        let (flight, rest) = deferred
            .bytes
            .split_at_checked(deferred.finished_at)
            .unwrap_or((&deferred.bytes, &[]));
        self.append_as(deferred.dir, flight);
        let base = deferred.base.as_deref();
        self.finished_verdict(deferred.dir, &deferred.verify_data, base);
        self.append_as(deferred.dir, rest);
        self.run = Some((deferred.dir, self.transcript.len()));
    }

    /// The next handshake message of `self.current`'s side, raw: into the transcript, or
    /// after a Finished of that side waiting.
    pub(super) fn append(&mut self, raw: &[u8]) {
        let dir = self.current;
        if let Some(deferred) = self.deferred.as_mut().filter(|d| d.dir == dir) {
            if deferred.bytes.len().saturating_add(raw.len()) <= MAX_TRANSCRIPT {
                deferred.bytes.extend_from_slice(raw);
            } else {
                // Bounded as the transcript is: its Finished are then not checked.
                deferred.bytes.clear();
                deferred.finished_at = 0;
                self.transcript.overflow();
            }
            return;
        }
        if self.held_for_ems(dir, raw) {
            return;
        }
        let done = dir == Dir::S2C && raw.first() == Some(&hs::SERVER_HELLO_DONE);
        self.server_done = self.server_done || done;
        self.append_as(dir, raw);
        if raw.first().is_some_and(|t| FLIGHT_ENDS.contains(t)) {
            // The side's next message starts its next flight.
            self.run = Some((dir, self.transcript.len()));
        }
        if done {
            self.ems_server_done();
        }
    }

    /// `bytes` of `dir` into the transcript, the start of `dir`'s run kept.
    pub(super) fn append_as(&mut self, dir: Dir, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if self.run.map(|(run_dir, _)| run_dir) != Some(dir) {
            self.run = Some((dir, self.transcript.len()));
        }
        self.transcript.append(bytes);
    }
}

/// Why a Finished waiting is not checked (yet): the other side's messages it follows were
/// not in the capture before it.
fn waiting_text(dir: Dir, tls13: bool) -> String {
    let (other, message) = match (dir, tls13) {
        (Dir::C2S, true) => ("server", "its Finished"),
        (Dir::C2S, false) => ("server", "its ServerHelloDone"),
        (Dir::S2C, _) => ("client", "its Finished"),
    };
    format!(
        "the transcript lacks the {other}'s messages it follows ({message} and what came \
         before it), which the capture did not hold in order before it"
    )
}
