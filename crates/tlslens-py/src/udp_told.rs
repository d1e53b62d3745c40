//! What Python keeps of each open UDP association's connections (their timeline steps and
//! findings), as `Limits::max_held` counts it.
//!
//! Strategy: a TCP flow's content is read in the walk, which counts what Python will keep
//! of each event as it tells it (flow_handover.rs, `said_cost`). A QUIC connection's
//! CRYPTO and a DTLS association's records are read by Python's sessions, after the walk:
//! only they know how many steps a datagram made (runs of application data fold into
//! one). So Python tells the growth here (`FlowCore.udp_told`), by association, from the
//! thread that reads the events, while the walking thread reads the total (`FlowSink::held`)
//! at every frame: one association of 500,000 alerts held 208 MB, counted as 12 KiB. The
//! walk is at most a batch ahead of what Python told, so the bound is late by that much.
//! An association's count goes when it ends (closed early, idle, or at the capture's end):
//! its connections are handed out then, and what Python tells of it later is not counted.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

/// The open associations' counts, and their sum (read without the lock, at every frame).
#[derive(Default)]
pub struct UdpTold {
    open: Mutex<HashMap<u64, usize>>,
    total: AtomicUsize,
}

impl UdpTold {
    fn open_flows(&self) -> std::sync::MutexGuard<'_, HashMap<u64, usize>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// An association opened: counted from nothing.
    pub fn opened(&self, flow: u64) {
        self.open_flows().insert(flow, 0);
    }

    /// What Python keeps of `flow`'s connections grew by `cost` bytes (nothing when the
    /// association already ended).
    pub fn add(&self, flow: u64, cost: usize) {
        if let Some(count) = self.open_flows().get_mut(&flow) {
            *count += cost;
            self.total.fetch_add(cost, Ordering::Relaxed);
        }
    }

    /// An association ended: what it counted goes.
    pub fn closed(&self, flow: u64) {
        if let Some(count) = self.open_flows().remove(&flow) {
            self.total.fetch_sub(count, Ordering::Relaxed);
        }
    }

    /// What the open associations' connections keep in Python, in all.
    pub fn total(&self) -> usize {
        self.total.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::UdpTold;

    #[test]
    fn an_association_counts_while_it_is_open() {
        let told = UdpTold::default();
        told.opened(1);
        told.opened(2);
        told.add(1, 512);
        told.add(2, 1024);
        told.add(3, 4096); // never opened: not counted
        assert_eq!(told.total(), 1536);
        told.closed(1);
        assert_eq!(told.total(), 1024);
        told.add(1, 512); // told after its end: not counted
        told.closed(2);
        told.closed(2);
        assert_eq!(told.total(), 0);
    }
}
