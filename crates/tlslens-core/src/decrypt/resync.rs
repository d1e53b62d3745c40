//! Records lost in a gap of the capture, and the sequence numbers they took with them.
//!
//! Strategy: a record's sequence number is in its nonce (TLS 1.3, ChaCha20-Poly1305) or in
//! its additional data or MAC (TLS <= 1.2), never on the wire. A gap that took whole
//! records of a side leaves the next record numbered higher than the decryptor counts: it
//! and every one after it fail to authenticate, whatever the secret. The content layer
//! tells the decryptor of the hole before that side's next record
//! ([`Decryptor::records_lost`]), with the bytes from the end of the last record read to
//! the header of the next: they bound how many records the hole took, at least
//! ceil(bytes / the largest record) and at most bytes / the smallest record the keys make.
//! A record that does not open with the number expected is tried with the numbers those
//! bounds allow, fewest records lost first; the first that opens is where decryption goes
//! on, and the finding and the reason say how many records were lost. Tries are counted,
//! [`MAX_HOLE_TRIES`] a hole and [`MAX_SIDE_TRIES`] a side, so that a capture of many
//! holes costs a bounded number of tries per record. In TLS 1.3 a side whose Finished was
//! in the hole changed keys there: its application keys are tried too, from number 0.
//!
//! When no number opens the records after a hole, the hole hid how many there were: they
//! are no verdict on the secret (not counted as failing their integrity check), and the
//! reason says whether the keys had opened the side's records before it. A stream cipher's
//! keystream (RC4) runs on through the records lost, and a TLS 1.0 CBC record takes its IV
//! from the last block of the record before: the first record after such a hole cannot be
//! opened whatever its number (CBC's chain starts again from it).

use super::{Decryptor, Dir, Env, Part};
use crate::capture::thousands;
use crate::protection::RecordProtection;
use crate::records::MAX_RECORD;

/// Sequence numbers tried on the records after one hole.
pub const MAX_HOLE_TRIES: u64 = 64;
/// Sequence numbers tried on all the holes of one side.
pub const MAX_SIDE_TRIES: u64 = 4096;
/// A record with its header, at most (RFC 5246 §6.2.3: 2^14 + 2048 bytes of body).
const LARGEST_RECORD: u64 = 5 + MAX_RECORD as u64;
/// A TLS 1.3 side may send one ChangeCipherSpec record in the clear among its protected
/// ones (RFC 8446 §D.4): bytes of a hole that held no numbered record.
const PLAIN_CCS: u64 = 6;

/// Bytes of a side missing from the capture where records were being read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hole {
    /// The frame where the capture went on after it.
    pub frame: u64,
    /// Where the missing bytes start in the side's stream, and how many.
    pub offset: u64,
    pub length: u64,
    /// Bytes from the end of the last record read before the hole to the header of the
    /// first read after it: the records the hole took, whole (it may cut one at each end).
    pub span: u64,
}

impl Hole {
    /// "at frame 14 (bytes 2,269 to 7,589 of the server's stream)", `whose` being "the
    /// server's" or "its".
    fn text(&self, whose: &str) -> String {
        let last = self.offset.saturating_add(self.length.saturating_sub(1));
        format!(
            "at frame {} (bytes {} to {} of {whose} stream)",
            self.frame,
            thousands(self.offset),
            thousands(last),
        )
    }
}

/// A hole whose records are not found again yet.
#[derive(Clone, Copy, Debug)]
struct Pending {
    hole: Hole,
    /// The keys' sequence number when the hole was told: keys that moved on (new keys) are
    /// not the hole's.
    base: u64,
    /// Records read after the hole and not opened (each took a number).
    passed: u64,
    tries: u64,
    /// Tries of the record being read (added to `tries` after it).
    tried: u64,
    /// TLS 1.3: the side's application keys were tried on it.
    application_tried: bool,
    /// Its outcome is in the side's count.
    told: bool,
    /// The numbers tried on the last record: the fewest records lost past "none", and the
    /// highest number tried with the keys in force and with the application keys.
    fewest: u64,
    tried_to: Option<u64>,
    application_to: Option<u64>,
}

impl Pending {
    /// The numbers tried on the last record: "no sequence number from 3 to 26", "neither
    /// sequence number 4 nor any from 61 to 123 (nor any from 0 to 31 with its application
    /// traffic keys)".
    fn numbers_text(&self) -> String {
        let first = self.base.saturating_add(self.passed);
        let mut text = match self.tried_to {
            Some(last) if last > first && self.fewest > 1 => format!(
                "neither sequence number {} nor any from {} to {}",
                thousands(first),
                thousands(first.saturating_add(self.fewest)),
                thousands(last)
            ),
            Some(last) if last > first => format!(
                "no sequence number from {} to {}",
                thousands(first),
                thousands(last)
            ),
            _ => format!("no sequence number tried (only {})", thousands(first)),
        };
        if let Some(last) = self.application_to {
            text.push_str(&format!(
                " (nor any from 0 to {} with its application traffic keys)",
                thousands(last)
            ));
        }
        text
    }
}

/// How the records after a hole fared.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Outcome {
    /// `lost` records were in the hole; decryption went on at `seq` (with the application
    /// keys, `application`), after `passed` records that could not be opened.
    Resumed {
        hole: Hole,
        lost: u64,
        seq: u64,
        passed: u64,
        application: bool,
    },
    /// No number tried opened them: `why`, and whether the keys had opened a record before.
    NotOpened {
        hole: Hole,
        why: String,
        proven: bool,
    },
}

/// One side's holes.
#[derive(Debug, Default)]
pub(super) struct Resync {
    pending: Option<Pending>,
    /// Given up on: the keys' number its next record has, and why none opens.
    lost: Option<(u64, String)>,
    spent: u64,
    /// A resumption to be told as a finding at its record (taken by the content layer).
    news: Option<String>,
    /// The first hole's outcome, and how many holes had one.
    first: Option<Outcome>,
    holes: u64,
}

/// What a record after a hole gave: opened, or why it is not.
pub(super) type Across = Result<(u8, Vec<u8>), String>;

/// A number that opened a record: the records lost it counts, the real type and plaintext.
type Found = (u64, (u8, Vec<u8>));

impl Decryptor {
    /// Records of `dir` were lost in `hole`: told before the side's next record goes to
    /// [`Decryptor::open`]. A side without keys in force loses no number (its keys start at
    /// 0 when they come). A hole told while another is pending replaces it (the content
    /// layer tells one per record, spanning both).
    pub fn records_lost(&mut self, dir: Dir, hole: Hole) {
        let Some(base) = self.keys_ahead(dir).map(|keys| keys.seq) else {
            return;
        };
        let Some(state) = self.resync.get_mut(dir.index()) else {
            return;
        };
        if state.lost.as_ref().is_some_and(|(seq, _)| *seq == base) {
            return; // lost already: nothing to find
        }
        state.pending = Some(Pending {
            hole,
            base,
            passed: 0,
            tries: 0,
            tried: 0,
            application_tried: false,
            told: false,
            fewest: 0,
            tried_to: None,
            application_to: None,
        });
    }

    /// The keys `dir`'s next record is tried with: in force, on trial, or (a TLS 1.3
    /// client) in force from its first protected record.
    fn keys_ahead(&mut self, dir: Dir) -> Option<&mut RecordProtection> {
        let i = dir.index();
        let client13 = self.tls13 && dir == Dir::C2S && self.active[i].is_none();
        if self.active[i].is_some() {
            self.active[i].as_mut()
        } else if self.trial[i].is_some() {
            self.trial[i].as_mut()
        } else if client13 {
            self.pending[i].as_mut()
        } else {
            None
        }
    }

    /// A resumption after a hole of `dir`, once, for a finding at the record it opened.
    pub fn resumed(&mut self, dir: Dir) -> Option<String> {
        self.resync.get_mut(dir.index())?.news.take()
    }

    /// `record` (type, version, body) of `dir`, read after a hole, opened with `keys`
    /// (trial: the application keys of a side whose handshake secret is missing):
    /// None when no hole stands before it, so that it is opened as any other.
    pub(super) fn across_hole(
        &mut self,
        env: &Env<'_>,
        dir: Dir,
        trial: bool,
        record: (u8, u16, &[u8]),
    ) -> Option<Across> {
        let i = dir.index();
        let seq = self.keys_ahead(dir)?.seq;
        let state = self.resync.get_mut(i)?;
        if let Some((lost, why)) = state.lost.as_mut() {
            if *lost == seq && !trial {
                *lost += 1;
                let why = why.clone();
                self.keys_ahead(dir)?.pass(record.2);
                return Some(Err(why));
            }
            state.lost = None; // other keys since
        }
        let mut pending = state.pending.take()?;
        // Trial keys go back to 0 on each record they do not open.
        if trial {
            pending.base = seq;
        }
        if pending.base.saturating_add(pending.passed) != seq {
            return None; // keys that are not the hole's
        }
        if let Some(opened) = self.try_numbers(dir, &mut pending, record) {
            return Some(Ok(opened));
        }
        if self.tls13 && !trial && self.phase.get(i) == Some(&Part::Handshake) {
            if let Some(opened) = self.try_application_keys(env, dir, &mut pending, record) {
                return Some(Ok(opened));
            }
        }
        if trial {
            // Not this key's record, maybe (a handshake record): the trial goes on.
            self.resync[i].pending = Some(pending);
            return None;
        }
        Some(Err(self.not_opened(dir, pending, record.2)))
    }

    /// The numbers `pending`'s bounds allow, fewest records lost first: the record opened,
    /// or None (the keys as they were).
    fn try_numbers(
        &mut self,
        dir: Dir,
        pending: &mut Pending,
        (ctype, version, body): (u8, u16, &[u8]),
    ) -> Option<(u8, Vec<u8>)> {
        let spent = self.resync.get(dir.index())?.spent;
        // A TLS 1.3 side in its handshake may have changed keys in the hole: its application
        // keys keep half the hole's tries.
        let handshake = self.tls13 && self.phase.get(dir.index()) == Some(&Part::Handshake);
        let share = if handshake && !pending.application_tried {
            MAX_HOLE_TRIES / 2
        } else {
            MAX_HOLE_TRIES
        };
        let keys = self.keys_ahead(dir)?;
        let (fewest, most) = bounds(pending.hole.span, keys.min_body());
        // A record lost breaks a keystream or an IV chain: only "none lost" can open.
        let most = if keys.is_stream() || (keys.chains_iv() && pending.passed == 0) {
            0
        } else {
            most
        };
        let first = pending.base.saturating_add(pending.passed);
        let numbers = std::iter::once(0)
            .chain(fewest.max(1)..=most)
            .map(|lost| (lost, first.saturating_add(lost)))
            .take(usize::try_from(share).unwrap_or(usize::MAX));
        pending.fewest = fewest.max(1);
        let (found, last) = try_each(keys, numbers, pending, spent, (ctype, version, body));
        pending.tried_to = last;
        self.spend(dir, pending, spent);
        let (lost, opened) = found?;
        self.note_resumed(dir, pending, lost, false);
        Some(opened)
    }

    /// TLS 1.3: a side whose Finished was in the hole went on with its application keys;
    /// they are tried from number 0, and put in force when one opens the record. The keys
    /// and the derivation are as they were when none does.
    fn try_application_keys(
        &mut self,
        env: &Env<'_>,
        dir: Dir,
        pending: &mut Pending,
        record: (u8, u16, &[u8]),
    ) -> Option<(u8, Vec<u8>)> {
        let i = dir.index();
        if pending.application_tried {
            return None;
        }
        pending.application_tried = true;
        let (traffic, derived) = (self.traffic.get(i)?.clone(), self.derivation().len());
        let mut keys = self.application_keys(env, dir)?;
        let spent = self.resync.get(i)?.spent;
        let most = bounds(pending.hole.span, keys.min_body()).1;
        let numbers = (0..=most.saturating_add(pending.passed)).map(|seq| (seq, seq));
        let (found, last) = try_each(&mut keys, numbers, pending, spent, record);
        pending.application_to = last;
        self.spend(dir, pending, spent);
        let Some((_, opened)) = found else {
            // Not the keys after all: the handshake secret stays the one the Finished use.
            self.traffic[i] = traffic;
            if let Some(current) = self.current_derivation() {
                current.values.truncate(derived);
            }
            return None;
        };
        self.active[i] = Some(keys);
        self.phase[i] = Part::ApplicationData;
        if dir == Dir::C2S {
            self.pending[0] = None;
        }
        self.note_resumed(dir, pending, 0, true);
        Some(opened)
    }

    /// The side's tries spent: what it had (`spent`) and this call's on `pending`.
    fn spend(&mut self, dir: Dir, pending: &mut Pending, spent: u64) {
        if let Some(state) = self.resync.get_mut(dir.index()) {
            state.spent = spent.saturating_add(pending.tried);
        }
        pending.tries = pending.tries.saturating_add(pending.tried);
        pending.tried = 0;
    }

    fn note_resumed(&mut self, dir: Dir, pending: &mut Pending, lost: u64, application: bool) {
        if !application && lost == 0 && pending.passed == 0 {
            return; // nothing was lost: the hole held no numbered record
        }
        let seq = self
            .keys_ahead(dir)
            .map_or(0, |keys| keys.seq.saturating_sub(1));
        let outcome = Outcome::Resumed {
            hole: pending.hole,
            lost,
            seq,
            passed: pending.passed,
            application,
        };
        let Some(state) = self.resync.get_mut(dir.index()) else {
            return;
        };
        state.news = Some(outcome.text(dir));
        state.told(pending, outcome);
    }

    /// No number opened the record after `pending`'s hole: it goes by, the hole stays for
    /// the next record while tries are left, and the side is lost (until other keys) when
    /// none are. Why it is not opened.
    fn not_opened(&mut self, dir: Dir, mut pending: Pending, body: &[u8]) -> String {
        let i = dir.index();
        let proven = self.proven(dir);
        let spent = self.resync.get(i).map_or(0, |state| state.spent);
        let Some(keys) = self.keys_ahead(dir) else {
            return String::new();
        };
        let (stream, chained) = (keys.is_stream(), keys.chains_iv() && pending.passed == 0);
        keys.pass(body);
        let seq = keys.seq;
        let why = if stream {
            "the stream cipher's keystream runs on through the records lost, and the gap hid \
             where the next one starts in it"
                .to_owned()
        } else if chained {
            "each CBC record of this version takes its IV from the last block of the record \
             before it, which the gap took"
                .to_owned()
        } else {
            let mut why = format!(
                "the gap hid how many records were lost, and {} opens the record after it",
                pending.numbers_text()
            );
            if allowed(pending.tries, spent) == 0 {
                why.push_str(&format!(
                    " (tlslens tries {} numbers a gap, {} a side)",
                    MAX_HOLE_TRIES,
                    thousands(MAX_SIDE_TRIES)
                ));
            }
            why
        };
        let outcome = Outcome::NotOpened {
            hole: pending.hole,
            why,
            proven,
        };
        let text = outcome.text(dir);
        let Some(state) = self.resync.get_mut(i) else {
            return text;
        };
        state.told(&mut pending, outcome);
        pending.passed += 1;
        if stream || allowed(pending.tries, state.spent) == 0 {
            state.lost = Some((seq, text.clone()));
        } else {
            state.pending = Some(pending);
        }
        text
    }

    /// Whether the keys `dir`'s records are opened with opened one before the hole: the
    /// secret is then this connection's (TLS <= 1.2: the master secret behind both sides'
    /// keys). A TLS 1.3 side still in its handshake may have changed keys in the hole.
    fn proven(&mut self, dir: Dir) -> bool {
        if !self.tls13 {
            return self.active.iter().flatten().any(|keys| keys.opened > 0);
        }
        let handshake = self.phase.get(dir.index()) == Some(&Part::Handshake);
        !handshake && self.keys_ahead(dir).is_some_and(|keys| keys.opened > 0)
    }

    /// The reason's clause for the holes: the first one's outcome, and how many more.
    pub(super) fn resync_text(&self) -> Option<String> {
        let mut clauses = Vec::new();
        for dir in Dir::BOTH {
            let Some(state) = self.resync.get(dir.index()) else {
                continue;
            };
            let Some(first) = &state.first else {
                continue;
            };
            let mut text = first.text(dir);
            if state.holes > 1 {
                let more = state.holes - 1;
                let gaps = if more == 1 { "gap" } else { "gaps" };
                text.push_str(&format!(
                    " ({} more {gaps} of the {}'s stream, told in the findings)",
                    thousands(more),
                    side(dir)
                ));
            }
            clauses.push(text);
        }
        (!clauses.is_empty()).then(|| clauses.join("; "))
    }
}

impl Resync {
    /// `pending`'s hole has `outcome`: counted once, and kept when it is the first hole's.
    fn told(&mut self, pending: &mut Pending, outcome: Outcome) {
        if !pending.told {
            pending.told = true;
            self.holes += 1;
        }
        let first_is_this = self
            .first
            .as_ref()
            .is_some_and(|first| first.hole() == pending.hole);
        if self.first.is_none() || first_is_this {
            self.first = Some(outcome);
        }
    }
}

impl Outcome {
    fn hole(&self) -> Hole {
        match self {
            Outcome::Resumed { hole, .. } | Outcome::NotOpened { hole, .. } => *hole,
        }
    }

    fn text(&self, dir: Dir) -> String {
        match self {
            Outcome::Resumed {
                hole,
                lost,
                seq,
                passed,
                application: false,
            } => {
                let after = if *passed == 0 {
                    String::new()
                } else {
                    format!(", after {} that could not be opened", records(*passed))
                };
                format!(
                    "{} lost in the gap {}; decryption resumed at sequence number {}{after}",
                    records(*lost),
                    hole.text(&format!("the {}'s", side(dir))),
                    thousands(*seq)
                )
            }
            Outcome::Resumed { hole, seq, .. } => format!(
                "the {}'s Finished was lost in the gap {}; decryption resumed with its \
                 application traffic keys at sequence number {}",
                side(dir),
                hole.text("its"),
                thousands(*seq)
            ),
            Outcome::NotOpened { hole, why, proven } => {
                let verdict = if *proven {
                    "the secret is good: its keys opened records of this connection before the \
                     gap"
                    .to_owned()
                } else {
                    "no verdict on the secret".to_owned()
                };
                format!(
                    "the {}'s records after the gap {} could not be opened: {why}; {verdict}",
                    side(dir),
                    hole.text("its")
                )
            }
        }
    }
}

/// How many records `span` bytes held at least and at most, records of the keys' bodies
/// being at least `min_body` bytes.
fn bounds(span: u64, min_body: usize) -> (u64, u64) {
    let smallest = 5 + u64::try_from(min_body).unwrap_or(u64::MAX);
    let fewest = span.saturating_sub(PLAIN_CCS).div_ceil(LARGEST_RECORD);
    (fewest, span / smallest.max(1))
}

/// `numbers` (records lost, sequence number) tried in turn on `record` with `keys`, while
/// the hole and the side (`spent` so far) have tries left, each counted in
/// `pending.tried`: the first that opens it, and the last number tried.
fn try_each(
    keys: &mut RecordProtection,
    numbers: impl Iterator<Item = (u64, u64)>,
    pending: &mut Pending,
    spent: u64,
    (ctype, version, body): (u8, u16, &[u8]),
) -> (Option<Found>, Option<u64>) {
    let mut last = None;
    for (lost, seq) in numbers {
        let tries = pending.tries.saturating_add(pending.tried);
        if allowed(tries, spent.saturating_add(pending.tried)) == 0 {
            break;
        }
        pending.tried += 1;
        last = Some(seq);
        if let Ok(opened) = keys.open_at(seq, ctype, version, body) {
            return (Some((lost, opened)), last);
        }
    }
    (None, last)
}

/// Tries left on a hole that had `tries`, its side having spent `spent`.
fn allowed(tries: u64, spent: u64) -> u64 {
    MAX_HOLE_TRIES
        .saturating_sub(tries)
        .min(MAX_SIDE_TRIES.saturating_sub(spent))
}

fn records(n: u64) -> String {
    if n == 1 {
        "1 record".to_owned()
    } else {
        format!("{} records", thousands(n))
    }
}

fn side(dir: Dir) -> &'static str {
    match dir {
        Dir::C2S => "client",
        Dir::S2C => "server",
    }
}
