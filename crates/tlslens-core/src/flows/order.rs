//! The order connections are handed out: by first packet, each as soon as it and every
//! earlier one have ended; past `reorder_window` ended connections waiting on an open
//! one, the ended ones go first and the open ones are handed out late, when they end.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::FlowSet;

#[derive(Debug, Default)]
pub struct Order {
    window: usize,
    /// Ended flows by index: whether Python has a connection to hand out for it.
    ready: BinaryHeap<Reverse<(u64, bool)>>,
    next: u64,
    /// Flows passed over while open: handed out (late) when they end.
    deferred: FlowSet,
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

    /// The flows that may be handed out now, in order: (index, late).
    pub fn emit(&mut self, out: &mut impl FnMut(u64, bool)) {
        while let Some(&Reverse((index, hand_out))) = self.ready.peek() {
            let late = self.deferred.contains(&index);
            if index == self.next || late {
                self.ready.pop();
                if late {
                    self.deferred.remove(&index);
                } else {
                    self.next += 1;
                }
            } else if self.ready.len() > self.window {
                // Earlier connections are still open and the window is full: hand out the
                // ended ones now and those open ones when they end (memory stays bounded by
                // the window, not by how long one connection lasts).
                self.deferred.extend(self.next..index);
                self.next = index;
                continue;
            } else {
                return;
            }
            if hand_out {
                out(index, late);
            }
        }
    }
}
