//! From frames to TCP flows and UDP associations: decoding (`packet`), reassembly (`tcp`),
//! the QUIC/DTLS datagrams kept (`udp`), the flow table, and the order connections are
//! handed out (`order`, TCP flows and UDP associations numbered together by first frame).
//!
//! One pass over the frames. A map from both directions' 4-tuples to the flow costs one
//! lookup per packet. Each flow's stream events go to a [`FlowSink`] in frame order; the
//! sessions that read them live outside (Python's `TLSSession` for now). A session may say
//! its flow is not TLS after a megabyte of plaintext on one side: the table then asks
//! ([`Step::Ask`]) before it goes on, so that the flow is let go at the very frame it
//! would have been. Every table is bounded by [`Limits`]: open flows by
//! `max_connections` and what they hold by `max_held` (the oldest is closed early),
//! out-of-order bytes by `max_buffer` per direction, closed flows remembered by `MAX_CLOSED_FLOWS` and a linger time, ended
//! flows held back for order by `reorder_window`, UDP associations by `max_udp_flows` (the
//! one idle longest ends early).

mod events;
#[doc(hidden)]
pub mod fuzzing;
pub mod order;
pub mod packet;
mod table;
pub mod tcp;
pub mod udp;

pub use events::{
    CloseReason, Eviction, FlowEvent, FlowSink, Limits, Opened, Step, Verdict, MAX_HELD,
};
pub use table::FlowTable;

/// A map keyed by flow numbers, which the flow table gives in sequence (never a value from
/// the wire, so no hash flooding): FxHash, not SipHash's ~300 instructions a lookup.
pub type FlowMap<V> = std::collections::HashMap<u64, V, rustc_hash::FxBuildHasher>;
/// A set of flow numbers (see `FlowMap`).
pub type FlowSet = std::collections::HashSet<u64, rustc_hash::FxBuildHasher>;

/// Closed flows are remembered (so late retransmissions do not open new ones) this long.
pub const CLOSED_FLOW_LINGER_NS: i128 = 120 * 1_000_000_000;
/// Closed flows remembered, to drop their late retransmissions.
pub const MAX_CLOSED_FLOWS: usize = 10_000;
/// Frames between purges of closed flows (and progress reports).
pub const PROGRESS_EVERY_FRAMES: u64 = 1 << 12;
/// Frames between checks of a time budget.
pub const CHECK_EVERY_FRAMES: u64 = 1 << 8;

#[cfg(test)]
mod tests;
