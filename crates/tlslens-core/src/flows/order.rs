//! The order connections are handed out: by first packet, each as soon as it and every
//! earlier one have ended; past `reorder_window` ended connections waiting on an open
//! one, the ended ones go first and the open ones are handed out late, when they end; so
//! too, whatever their number, when the ended ones waiting hold too much (`release`).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::FlowMap;

#[derive(Debug, Default)]
pub struct Order {
    window: usize,
    /// Ended flows by index: whether Python has a connection to hand out for it.
    ready: BinaryHeap<Reverse<(u64, bool)>>,
    next: u64,
    /// Flows passed over while open: handed out (late) when they end; true when passed over
    /// for what the ended ones held (`release`), not for the window.
    deferred: FlowMap<bool>,
}

impl Order {
    pub fn new(window: usize) -> Order {
        Order {
            window,
            ..Order::default()
        }
    }

    /// Flow `index` ended; `hand_out` false when its session was let go (not TLS).
    pub fn push(&mut self, index: u64, hand_out: bool) {
        self.ready.push(Reverse((index, hand_out)));
    }

    pub fn is_empty(&self) -> bool {
        self.ready.is_empty()
    }

    /// The flows that may be handed out now, in order: (index, late, passed over for what
    /// the ended ones held).
    pub fn emit(&mut self, out: &mut impl FnMut(u64, bool, bool)) {
        while let Some(&Reverse((index, hand_out))) = self.ready.peek() {
            let late = self.deferred.get(&index).copied();
            if index == self.next || late.is_some() {
                self.ready.pop();
                if late.is_some() {
                    self.deferred.remove(&index);
                } else {
                    self.next += 1;
                }
            } else if self.ready.len() > self.window {
                // Earlier connections are still open and the window is full: hand out the
                // ended ones now and those open ones when they end (memory stays bounded by
                // the window, not by how long one connection lasts).
                self.pass_over(index, false);
                continue;
            } else {
                return;
            }
            if hand_out {
                out(index, late.is_some(), late == Some(true));
            }
        }
    }

    /// Every ended flow waiting goes out now, however few: what they hold is too much
    /// (`Limits.max_held`). The open ones before them are handed out late, when they end.
    /// (Closing those early may free nothing: an older UDP association is not closed for
    /// it, and each open flow before them holds them all back.)
    pub fn release(&mut self, out: &mut impl FnMut(u64, bool, bool)) {
        loop {
            self.emit(out);
            let Some(&Reverse((index, _))) = self.ready.peek() else {
                return;
            };
            self.pass_over(index, true);
        }
    }

    /// The flows from the next one to hand out up to `index` (all open: the ended ones are
    /// in `ready`, none before `index`) will be handed out late.
    fn pass_over(&mut self, index: u64, held: bool) {
        for open in self.next..index {
            self.deferred.entry(open).or_insert(held);
        }
        self.next = index;
    }
}
