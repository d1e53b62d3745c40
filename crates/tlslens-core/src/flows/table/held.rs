//! What the open flows hold (`Limits.max_held`), and the bound on it: counted as each
//! flow's reassembly changes (`FlowTable::held`), with what the sink holds for them
//! (`FlowSink::held`); past the bound the ended flows held back go out, then the oldest
//! open flows are closed early.

use super::super::events::{Eviction, FlowEvent, FlowSink};
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

    /// Close the oldest open flow early, for `why`: whether there was one.
    pub(super) fn evict(&mut self, why: Eviction, sink: &mut impl FlowSink) -> bool {
        let Some(&oldest) = self.open.first() else {
            return false;
        };
        match why {
            Eviction::Connections => self.evicted += 1,
            Eviction::Held => self.evicted_held += 1,
        }
        sink.event(FlowEvent::Evicted {
            flow: oldest,
            frame: self.frames,
            why,
        });
        self.close(oldest, None, sink);
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
