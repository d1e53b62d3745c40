//! What the open flows hold (`Limits.max_held`), and the bound on it: counted as each
//! flow's reassembly changes (`FlowTable::held`), with what the sink holds for them
//! (`FlowSink::held`) and what each open UDP association holds (`UDP_ASSOCIATION_COST`);
//! past the bound the ended flows held back go out, then the oldest open flows, TCP or
//! UDP, are closed early.

use super::super::events::{Eviction, FlowEvent, FlowSink};
use super::super::udp::UdpEnd;
use super::{FlowTable, Live};

impl Live {
    /// What the flow holds here (`Limits.max_held`): itself, its entries in the table's
    /// maps and sets, and its directions' copies.
    pub(super) fn held(&self) -> usize {
        const ENTRIES: usize = 128;
        crate::held::boxed::<Live>() + ENTRIES + self.halves[0].held() + self.halves[1].held()
    }
}

impl FlowTable {
    /// What the open flows hold in the table (reassembly), as `Limits.max_held` counts it.
    pub fn held(&self) -> usize {
        self.held
    }

    /// Close the oldest open flow early, for `why`: whether there was one. Past
    /// `max_connections` it is a TCP flow; past `max_held`, a TCP flow or a UDP association
    /// (whichever opened first).
    pub(super) fn evict(&mut self, why: Eviction, sink: &mut impl FlowSink) -> bool {
        let tcp = self.open.first().copied();
        let (oldest, open) = match why {
            Eviction::Connections => (tcp, self.open.len()),
            Eviction::Held => {
                let udp = self.udp.oldest();
                let oldest = tcp.into_iter().chain(udp).min();
                (oldest, self.open.len() + self.udp.open_count())
            }
        };
        let Some(oldest) = oldest else {
            return false;
        };
        match why {
            Eviction::Connections => self.evicted += 1,
            Eviction::Held if tcp == Some(oldest) => self.evicted_held += 1,
            Eviction::Held => self.udp.evicted_held += 1,
        }
        sink.event(FlowEvent::Evicted {
            flow: oldest,
            frame: self.frames,
            why,
            open,
        });
        if tcp == Some(oldest) {
            self.close(oldest, None, sink);
        } else {
            self.close_udp(oldest, UdpEnd::Held, sink);
        }
        true
    }

    /// Memory is bounded by what the open flows hold (here and in their sessions), not by
    /// what one capture's length fields and holes make each wait for: past `max_held`, the
    /// oldest open flows are closed now.
    pub(super) fn bound_held(&mut self, sink: &mut impl FlowSink) {
        if self.held + sink.held() <= self.limits.max_held {
            return;
        }
        // What the sink keeps of ended connections waiting on older open ones goes first,
        // handed out now (late): closing open flows may not free it (`Order::release`).
        self.order
            .release(&mut |flow, late, held| sink.event(FlowEvent::HandOut { flow, late, held }));
        while self.held + sink.held() > self.limits.max_held && self.evict(Eviction::Held, sink) {
            // Handed out now, the ended connections it held back are no longer counted
            // (`FlowSink::held`): without this, one eviction counted them all and closed
            // every open flow.
            self.emit(sink);
        }
    }
}
