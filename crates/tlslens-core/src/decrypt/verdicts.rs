//! Each handshake's Finished verdicts, and the worst of each side's as its summary.
//!
//! Strategy: a connection that renegotiates checks the Finished of each handshake. A side's
//! `finished_verified` and `finished_unchecked` ([`DirectionResult`]) are the worst of its
//! handshakes' verdicts (a Finished that does not verify, then one not checked, then one
//! that matches) and `finished_handshake` says which handshake gave it: a first handshake
//! whose Finished fails is not hidden by a renegotiation whose Finished match. Each
//! handshake's verdict is kept (`finished_each`) for the reason and the narration: the first
//! [`MAX_DERIVATIONS`] handshakes' one by one, past them the newest's and the worst of the
//! others' (memory bounded whatever a hostile capture's renegotiations; the summary is the
//! same). The handshakes are numbered from 0, the first, then each renegotiation.

use super::lack::who;
use super::{Decryptor, Dir, DirectionResult, MAX_DERIVATIONS};

/// One handshake's verdict on one side's Finished.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FinishedVerdict {
    pub handshake: usize,
    pub verified: Option<bool>,
    /// Why it was not checked (its transcript lacks a message: lack.rs, order.rs).
    pub unchecked: Option<String>,
}

impl FinishedVerdict {
    /// Lower is worse: does not verify, not checked, matches.
    fn rank(&self) -> u8 {
        match (self.verified, &self.unchecked) {
            (Some(false), _) => 0,
            (None, Some(_)) => 1,
            (Some(true), _) => 2,
            (None, None) => 3,
        }
    }

    fn words(&self) -> &'static str {
        match self.verified {
            Some(true) => "matches",
            Some(false) => "does not verify",
            None => "was not checked",
        }
    }
}

impl DirectionResult {
    /// Handshake `handshake`'s verdict on this side's Finished, replacing the one it had.
    fn set_finished(&mut self, verdict: FinishedVerdict) {
        match self
            .finished_each
            .iter_mut()
            .find(|v| v.handshake == verdict.handshake)
        {
            Some(kept) => *kept = verdict,
            None => {
                self.finished_each.push(verdict);
                self.fold();
            }
        }
        self.summarize();
    }

    /// Past the first `MAX_DERIVATIONS` handshakes' verdicts, the newest and the worst of
    /// the others are kept: the least bad (the latest of equals) goes.
    fn fold(&mut self) {
        while self.finished_each.len() > MAX_DERIVATIONS + 2 {
            let newest = self.finished_each.iter().map(|v| v.handshake).max();
            let least_bad = (self.finished_each.iter().enumerate())
                .skip(MAX_DERIVATIONS)
                .filter(|(_, v)| Some(v.handshake) != newest)
                .max_by_key(|(_, v)| (v.rank(), v.handshake))
                .map(|(i, _)| i);
            match least_bad {
                Some(i) => drop(self.finished_each.remove(i)),
                None => break,
            }
        }
    }

    /// The summary: the worst verdict, the first handshake that gave it.
    fn summarize(&mut self) {
        let worst = self
            .finished_each
            .iter()
            .min_by_key(|v| (v.rank(), v.handshake));
        self.finished_verified = worst.and_then(|v| v.verified);
        self.finished_unchecked = worst.and_then(|v| v.unchecked.clone());
        self.finished_handshake = worst.map(|v| v.handshake);
    }

    /// Handshake `handshake`'s Finished that did not match is no verdict now, for `why`.
    pub(super) fn withdraw(&mut self, handshake: usize, why: &str) {
        let failed = self
            .finished_each
            .iter_mut()
            .find(|v| v.handshake == handshake && v.verified == Some(false));
        if let Some(verdict) = failed {
            verdict.verified = None;
            verdict.unchecked = Some(why.to_owned());
            self.summarize();
        }
    }
}

impl Decryptor {
    /// The current handshake's number (0 the first, then each renegotiation).
    pub(super) fn handshake_number(&self) -> usize {
        self.handshakes.saturating_sub(1)
    }

    /// The current handshake's verdict on `dir`'s Finished.
    pub(super) fn set_finished(&mut self, dir: Dir, verified: Option<bool>, why: Option<String>) {
        let handshake = self.handshake_number();
        if let Some(result) = self.results.get_mut(dir.index()) {
            result.set_finished(FinishedVerdict {
                handshake,
                verified,
                unchecked: why,
            });
        }
    }

    /// "Finished", or "renegotiation 2's Finished": what the reason blames.
    pub(super) fn finished_subject(&self) -> String {
        match self.handshake_number() {
            0 => "Finished".to_owned(),
            n => format!("renegotiation {n}'s Finished"),
        }
    }

    /// The reason's clause for a connection whose handshakes' Finished do not all match:
    /// each handshake's verdicts ("Finished by handshake: the first handshake: the client's
    /// does not verify, the server's matches; renegotiation 1: ..."). None with one
    /// handshake checked, or every Finished matching.
    pub(super) fn by_handshake_text(&self) -> Option<String> {
        let each = || self.results.iter().flat_map(|r| r.finished_each.iter());
        let last = each().map(|v| v.handshake).max()?;
        let several = each().any(|v| v.handshake != last);
        if !several || each().all(|v| v.verified == Some(true)) {
            return None;
        }
        let handshakes: Vec<String> = (0..=last)
            .filter_map(|handshake| {
                let sides: Vec<String> = Dir::BOTH
                    .iter()
                    .filter_map(|dir| {
                        let result = self.results.get(dir.index())?;
                        let verdict = result
                            .finished_each
                            .iter()
                            .find(|v| v.handshake == handshake)?;
                        Some(format!("the {}'s {}", who(*dir), verdict.words()))
                    })
                    .collect();
                let name = match handshake {
                    0 => "the first handshake".to_owned(),
                    n => format!("renegotiation {n}"),
                };
                (!sides.is_empty()).then(|| format!("{name}: {}", sides.join(", ")))
            })
            .collect();
        Some(format!("Finished by handshake: {}", handshakes.join("; ")))
    }
}
