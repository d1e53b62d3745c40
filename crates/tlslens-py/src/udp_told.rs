//! What Python keeps of each UDP association's connections (their timeline steps and
//! findings, `SAID_COST` each), as `Limits::max_held` counts it, until they are handed out.
//!
//! Strategy: a TCP flow's content is read in the walk, which counts what Python will keep
//! of each event as it tells it (flow_handover.rs, `said_cost`). A QUIC connection's
//! CRYPTO and a DTLS association's records are read by Python's sessions, after the walk:
//! only they know how many steps a datagram made (runs of application data fold into one,
//! a CRYPTO stream's bytes may wait for a hole). So the walk charges each datagram the
//! most it can make (`charged` on the event Python reads), and Python, having read it,
//! settles: the real growth less that charge (`FlowCore.udp_told`, from the thread that
//! reads the events), while the walking thread reads the total at every frame
//! (`FlowSink::held`). One association of 500,000 alerts held 208 MB counted as 12 KiB;
//! one datagram that filled a CRYPTO hole made 131,072 steps before Python could tell one.
//! An association's count goes at its hand-out, as a TCP flow's (ended associations that
//! wait for an older open flow still count): what is told of it later is not counted.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

/// The associations' counts until their hand-out, and their sum (read without the lock, at
/// every frame).
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

    /// What Python keeps of `flow`'s connections grew by `delta` bytes, or a charge was
    /// settled (`delta` < 0: never below nothing); nothing once the association was handed
    /// out.
    pub fn add(&self, flow: u64, delta: isize) {
        if let Some(count) = self.open_flows().get_mut(&flow) {
            let was = *count;
            *count = was.saturating_add_signed(delta);
            if *count >= was {
                self.total.fetch_add(*count - was, Ordering::Relaxed);
            } else {
                self.total.fetch_sub(was - *count, Ordering::Relaxed);
            }
        }
    }

    /// An association's connections were handed out: what it counted goes.
    pub fn handed_out(&self, flow: u64) {
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
        told.add(2, -512); // a charge settled
        told.add(1, -4096); // never below nothing
        assert_eq!(told.total(), 512);
        told.handed_out(2);
        assert_eq!(told.total(), 0);
        told.add(2, 512); // told after its hand-out: not counted
        told.handed_out(2);
        told.handed_out(1);
        assert_eq!(told.total(), 0);
    }
}
