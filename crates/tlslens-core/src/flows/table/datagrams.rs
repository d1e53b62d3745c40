//! The flow table's UDP side: datagrams to their QUIC or DTLS association, which the first
//! datagram that looks like either opens (see `udp`).

use super::super::events::{FlowEvent, FlowSink, Step};
use super::super::packet::{Datagram, Skip};
use super::super::udp::{cut_udp_kind, udp_kind, UdpEnd, UdpKind, UdpOpened, UDP_ASSOCIATION_COST};
use super::FlowTable;

impl FlowTable {
    /// A UDP datagram: to its association, or opening one if it looks like the start of
    /// QUIC or DTLS; any other is offered to the sink (`unassociated`), else only counted.
    /// One on a 4-tuple whose association tlslens ended early is skipped (`after_stop`).
    /// Ports 0 open nothing: a destination port 0 is reserved and a source port 0 says no
    /// answer is expected (RFC 768), neither a QUIC nor a DTLS endpoint.
    pub(super) fn datagram(
        &mut self,
        d: &Datagram<'_>,
        ts_ns: i128,
        sink: &mut impl FlowSink,
    ) -> Step {
        let frame = self.frames;
        // A datagram longer than the frame that was longer on the wire was cut by the snap
        // length: its UDP length told the truth, and its payload is not read.
        let snapped = self.snapped.filter(|_| d.short);
        let d = &Datagram {
            bad_length: d.bad_length && snapped.is_none(),
            ..*d
        };
        let (flow, side) = match self.udp.take(d, frame, ts_ns) {
            Some(found) => found,
            None if self.udp.after_stop(d, frame, ts_ns) => return self.checkpoints(ts_ns),
            None => {
                let kind = match snapped {
                    Some(_) => cut_udp_kind(d.payload),
                    // DTLS 1.3 after its hellos: a run of unified headers alone.
                    None => udp_kind(d.payload)
                        .or_else(|| self.udp.unified_run(d).then_some(UdpKind::Dtls)),
                };
                let kind = match kind {
                    Some(kind) if d.sport != 0 && d.dport != 0 => kind,
                    _ if snapped.is_none() && sink.unassociated(d, frame, ts_ns) => {
                        return self.checkpoints(ts_ns)
                    }
                    _ => return self.skip(Skip::Udp),
                };
                (self.open_udp(d, kind, ts_ns, sink), 0)
            }
        };
        sink.event(match snapped {
            Some(snapped) => FlowEvent::Cut {
                flow,
                side,
                frame,
                ts_ns,
                snapped,
            },
            None => FlowEvent::Datagram {
                flow,
                side,
                frame,
                ts_ns,
                payload: d.payload,
                bad_length: d.bad_length,
            },
        });
        self.bound_held(sink);
        self.emit(sink);
        self.checkpoints(ts_ns)
    }

    fn open_udp(
        &mut self,
        d: &Datagram<'_>,
        kind: UdpKind,
        ts_ns: i128,
        sink: &mut impl FlowSink,
    ) -> u64 {
        if self.udp.open_count() >= self.limits.max_udp_flows {
            // Memory is bounded by the associations open at once: the one idle longest
            // ends now (UDP has no close to wait for).
            if let Some(stalest) = self.udp.stalest(None) {
                self.close_udp(stalest, UdpEnd::Evicted, sink);
            }
        }
        let index = self.next_index;
        self.next_index += 1;
        let opened = UdpOpened {
            flow: index,
            kind,
            src: d.src,
            sport: d.sport,
            dst: d.dst,
            dport: d.dport,
            frame: self.frames,
            ts_ns,
        };
        sink.event(FlowEvent::UdpOpened(opened));
        self.udp.open(&opened, d);
        self.held += UDP_ASSOCIATION_COST;
        index
    }

    /// End UDP association `index`: its connection is handed on in order.
    pub(super) fn close_udp(&mut self, index: u64, end: UdpEnd, sink: &mut impl FlowSink) {
        if let Some(closed) = self.udp.close(index, end) {
            self.held = self.held.saturating_sub(UDP_ASSOCIATION_COST);
            sink.event(FlowEvent::UdpClosed(closed));
            self.order.push(index, true);
        }
    }
}
