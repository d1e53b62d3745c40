//! What the walk keeps of the flow table's events until the GIL is taken again (`Kept`),
//! and the `FlowSink` that keeps them (`Collector`): each flow's core session and content
//! layer driven inside the walk, their events kept as plain Rust values.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use tlslens_core::flows::packet;
use tlslens_core::flows::tcp::StreamEvent;
use tlslens_core::flows::{CloseReason, FlowEvent, FlowMap, FlowSet, FlowSink, Verdict};
use tlslens_core::records::{Session, SessionEvent};

use super::{
    FlowClosed, FlowClosing, FlowConflict, FlowEvicted, FlowGap, FlowHandOut, FlowIgnored,
    FlowLate, FlowOpened, Open, SessionFailed,
};
use crate::flow_content::{ContentSetup, FlowContent, Said};
use crate::flow_handover::{Group, SAID_COST};
use crate::flows::panic_text;
use crate::ns::Ns;
use crate::quic_events::{QuicFeed, QuicKept};
use crate::udp_events::{FlowCut, UdpClosed, UdpOpened};
use crate::udp_told::UdpTold;
use crate::unstarted::Unstarted;
use crate::walk::MAX_BATCH_DATA;

/// An event kept until the GIL is taken again: stream data as a range of the arena.
pub enum Kept {
    Session {
        flow: u64,
        /// The side that is the client's, as the content layer knows it after the events.
        client_side: Option<u8>,
        /// In stream order; the first gives the `SessionEvents` its frame.
        groups: Vec<Group>,
    },
    Failed(SessionFailed),
    Ignored(FlowIgnored),
    Opened(FlowOpened),
    Data {
        flow: u64,
        side: u8,
        offset: u64,
        bytes: std::ops::Range<usize>,
        frame: u64,
        ts_ns: i128,
    },
    Gap(FlowGap),
    Conflict(FlowConflict),
    Late(FlowLate),
    Closing(FlowClosing),
    Evicted(FlowEvicted),
    Closed(FlowClosed),
    HandOut(FlowHandOut),
    UdpOpened(UdpOpened),
    Datagram {
        flow: u64,
        side: u8,
        frame: u64,
        ts_ns: i128,
        bytes: std::ops::Range<usize>,
        bad_length: bool,
        /// What it was charged toward `max_held` (udp_told.rs), for Python to settle.
        charged: usize,
    },
    UdpClosed(UdpClosed),
    Cut(FlowCut),
    Quic(QuicKept),
}

#[derive(Default)]
pub struct Collector {
    pub events: Vec<Kept>,
    pub arena: Vec<u8>,
    /// Decryption Secrets Blocks read so far, told with each new flow.
    pub secrets: usize,
    /// Each open flow's session, when the core drives them (`None`: stream bytes go out).
    pub sessions: Option<FlowMap<Box<Open>>>,
    /// The Decryption Secrets Blocks the run's key store was given (through
    /// `keys_for`) when a keyed flow opened: see `opened`.
    pub secrets_given: usize,
    /// A key log was given: application data bodies are kept for decryption.
    pub keys: bool,
    /// A QUIC connection or DTLS association opened: their decryptors, which Python feeds,
    /// share the run's session cache with the walk's (walk.rs: `holds_gil`).
    pub udp_tls: bool,
    /// Stream bytes given to sessions since the last batch went out, and what Python keeps
    /// of the events told (`said_cost`).
    pub fed: usize,
    /// What the open TCP flows hold here and in Python's models (`FlowSink::held`): the sum
    /// of their counts (`Open::counted`), kept as each changes, and of `held_back`'s.
    pub held_flows: usize,
    /// Ended flows Python was told, until their hand-out: what Python keeps of each (its
    /// model and its events'). Held back by an older open flow, they count toward what
    /// that one holds: closing it early hands them out (a flow left open while a thousand
    /// connections of 10,000 four-byte messages each ended after it made a `show` of 1.9 GB).
    pub held_back: FlowMap<usize>,
    /// The QUIC connection table, with sessions: QUIC associations' datagrams go to it.
    pub quic: Option<QuicFeed>,
    /// With sessions, each TCP flow's content layer is run in the walk too.
    pub content: Option<ContentSetup>,
    /// Each open flow's content layer (with `content`) once Python was told the flow
    /// (`Open::told`), boxed: the map's room for flows to come (up to as many again, and
    /// twice that while it grows) holds a pointer each, not a content layer's 688 bytes.
    pub contents: FlowMap<Box<FlowContent>>,
    /// Per flow, the index in `events` of its last `Kept::Session` when nothing else of the
    /// flow came after it: a self-framed group joins it, so that a connection's frames
    /// of one batch cross as one `SessionEvents` (not with a plaintext sink or `--records`,
    /// whose events are told in the capture's order or need their frame). Emptied with
    /// `events`.
    pub joinable: FlowMap<usize>,
    /// A TLS flow without keys is told at its end (`Open`'s Strategy); not when the run has
    /// a time budget, which that work would come after.
    pub defer_tls: bool,
    /// TCP flows closed that Python was never told: their hand-out is not told either.
    /// (Between a flow's end and its hand-out: bounded by the flows open at once and the
    /// reorder window.)
    pub silent: FlowSet,
    /// Of those, the ones that ended before either side sent a byte, by how (unstarted.rs).
    pub unstarted: Unstarted,
    /// The flow being closed early (its `Evicted` comes right before its end): told with
    /// its end, just before it, once Python was told the flow (a flow waiting beyond a
    /// hole is told only by what its end hands on).
    pub evicting: Option<FlowEvicted>,
    /// What Python keeps of the open UDP associations' connections, as it tells it
    /// (`FlowCore.udp_told`): counted with `held_flows`.
    pub udp_told: Arc<UdpTold>,
}

impl Collector {
    /// A callback into Python was interrupted (Ctrl-C): the walk stops at this frame.
    pub fn stopping(&self) -> bool {
        self.content.as_ref().is_some_and(ContentSetup::stopping)
    }

    /// Bytes this batch holds for Python (or made sessions read, or told Python to keep):
    /// what bounds a batch.
    pub fn in_batch(&self) -> usize {
        self.arena.len().max(self.fed)
    }

    /// The verdict on a flow the table asks about: its session's.
    pub fn verdict(&mut self, flow: u64) -> Verdict {
        let Some(sessions) = self.sessions.as_mut() else {
            return Verdict::Tls;
        };
        let Some(open) = sessions.get(&flow) else {
            return Verdict::Ignored;
        };
        match open.session.as_deref() {
            // No byte came yet: what a new session says (`a_new_session_watches_both_sides`).
            None => Verdict::Undecided {
                watch: [true, true],
            },
            Some(session) if session.ignored() => {
                let told = self.forget(flow).is_some_and(|open| open.told);
                self.contents.remove(&flow);
                self.joinable.remove(&flow);
                if told {
                    self.events.push(Kept::Ignored(FlowIgnored { flow }));
                }
                Verdict::Ignored
            }
            Some(session) if session.started() => Verdict::Tls,
            Some(session) => Verdict::Undecided {
                watch: [session.may_give_up(0), session.may_give_up(1)],
            },
        }
    }

    /// A flow's session is abandoned (after a bug in Python): whether it is then ignored.
    pub fn abandon(&mut self, flow: u64) -> bool {
        let keys = self.keys;
        let Some(open) = self.sessions.as_mut().and_then(|s| s.get_mut(&flow)) else {
            return false;
        };
        let session = open.session(keys);
        session.abandon();
        let ignored = session.ignored();
        if ignored {
            self.forget(flow);
        }
        self.joinable.remove(&flow);
        if let Some(content) = self.contents.get_mut(&flow) {
            // Python stopped reading the flow: a run still held would not be told.
            drop(content.abandon());
        }
        ignored
    }

    /// Run `work` on the flow's session, if it has one; what it says goes out as one event
    /// (Python told the flow first, and its content layer made, when it says anything).
    pub(super) fn with_session(
        &mut self,
        flow: u64,
        frame: u64,
        ts_ns: i128,
        work: impl FnOnce(&mut Session, &mut Vec<SessionEvent>),
    ) {
        let keys = self.keys;
        let Some(open) = self.sessions.as_mut().and_then(|s| s.get_mut(&flow)) else {
            return;
        };
        let session = open.session(keys);
        let mut events = Vec::new();
        let worked = catch_unwind(AssertUnwindSafe(|| work(session, &mut events)));
        let at = (frame, ts_ns);
        match worked {
            Ok(()) => {
                let Some(events) = self.hold(flow, events, at) else {
                    return;
                };
                if !events.is_empty() {
                    self.tell_opened(flow);
                }
                self.tell_read(flow, at, events);
            }
            Err(panic) => self.failed(flow, at, panic_text(panic.as_ref())),
        }
    }

    /// A stream event's session events of a flow Python was told, read by its content
    /// layer and told as one group.
    pub(super) fn tell_read(&mut self, flow: u64, at: (u64, i128), events: Vec<SessionEvent>) {
        let mut said = Vec::new();
        match self.read(flow, events, at, &mut said) {
            None => self.tell_said(flow, at, said),
            Some(message) => self.failed(flow, at, message),
        }
    }

    /// A flow's session or content layer failed (a panic, a bug) at `frame`: Python reads
    /// the failure. It is told the flow, whose content layer (made now if need be) is
    /// abandoned, so that what the session says later is read as after one.
    fn failed(&mut self, flow: u64, (frame, ts_ns): (u64, i128), message: String) {
        let keys = self.keys;
        self.tell_opened(flow);
        if let Some(open) = self.sessions.as_mut().and_then(|s| s.get_mut(&flow)) {
            open.session(keys).abandon();
        }
        // The run of application data read before the failed batch is told before it.
        let held = self.contents.get_mut(&flow).and_then(|c| c.abandon());
        self.tell_said(flow, (frame, ts_ns), held.into_iter().collect());
        self.joinable.remove(&flow);
        self.events.push(Kept::Failed(SessionFailed {
            flow,
            frame,
            ts_ns: Ns(ts_ns),
            message,
        }));
    }

    /// A flow's session events through its content layer, when it has one, into `said`;
    /// Some: why that failed (a panic, a bug).
    fn read(
        &mut self,
        flow: u64,
        events: Vec<SessionEvent>,
        at: (u64, i128),
        said: &mut Vec<Said>,
    ) -> Option<String> {
        let (content, setup) = (self.contents.get_mut(&flow), self.content.as_ref());
        let walked = catch_unwind(AssertUnwindSafe(|| match (content, setup) {
            (Some(content), Some(setup)) => content.read(setup, events, at, said),
            _ => {
                said.extend(events.into_iter().map(Said::Session));
                Ok(())
            }
        }));
        match walked {
            Ok(Ok(())) => None,
            Ok(Err(message)) => Some(message),
            Err(panic) => Some(panic_text(panic.as_ref())),
        }
    }

    /// What a flow's session said at `frame`, if anything, goes out as one group.
    fn tell_said(&mut self, flow: u64, (frame, ts_ns): (u64, i128), events: Vec<Said>) {
        if events.is_empty() {
            return;
        }
        let client_side = self.contents.get(&flow).and_then(|c| c.client_side());
        let group = Group {
            frame,
            ts_ns,
            events,
        };
        self.tell(flow, client_side, group);
    }

    /// A stream event through the flow's session.
    fn drive(&mut self, flow: u64, side: u8, event: StreamEvent<'_>, frame: u64, ts_ns: i128) {
        self.with_session(flow, frame, ts_ns, |session, out| match event {
            StreamEvent::Data { offset, data } => session.data(side, offset, data, out),
            StreamEvent::Gap {
                offset,
                length,
                given_up,
            } => session.gap(side, (offset, length), given_up, out),
            StreamEvent::Conflict { offset, length } => {
                session.conflict(side, offset, length, out);
            }
            StreamEvent::Late {
                offset,
                length,
                given_up,
            } => session.late(side, (offset, length), given_up, out),
        });
        if let StreamEvent::Data { data, .. } = event {
            self.fed += data.len();
        }
        self.recount(flow);
    }
}

/// How a flow was closed, as `FlowClosed.by` says it.
pub(super) fn close_name(by: CloseReason) -> &'static str {
    match by {
        CloseReason::Fin => "fin",
        CloseReason::Rst => "rst",
    }
}

impl Collector {
    /// A UDP association ended; closed early past `max_held`, that is told right before its
    /// end, as a TCP flow's.
    fn udp_closed(&mut self, closed: &tlslens_core::flows::udp::UdpClosed) -> Kept {
        if let Some(quic) = self.quic.as_mut() {
            quic.closed(closed.flow);
        }
        if let Some(evicted) = self.evicting.take_if(|evicted| evicted.flow == closed.flow) {
            self.events.push(Kept::Evicted(evicted));
        }
        Kept::UdpClosed(UdpClosed::new(closed))
    }
}

impl FlowSink for Collector {
    fn held(&self) -> usize {
        self.held_flows + self.udp_told.total()
    }

    /// The batch holds enough for Python (`MAX_BATCH_DATA`).
    fn full(&self) -> bool {
        self.in_batch() > MAX_BATCH_DATA
    }

    fn unassociated(&mut self, d: &packet::Datagram<'_>, frame: u64, ts_ns: i128) -> bool {
        let Some(quic) = self.quic.as_mut() else {
            return false;
        };
        let (taken, said) = quic.unassociated(d, frame, ts_ns);
        if let Some(said) = said {
            // As an association's datagram: the most it can make bounds the batch. (It is
            // charged to no association: a migrated client's, its connection's is unknown
            // here; Python tells what it made.)
            self.fed += d.payload.len().max(said.steps_at_most() * SAID_COST);
            quic.push(&mut self.events, said);
        }
        taken
    }

    fn event(&mut self, event: FlowEvent<'_>) {
        if self.passed_over(&event) {
            return;
        }
        let kept = match event {
            FlowEvent::Opened(o) => match self.opened(&o) {
                Some(opened) => Kept::Opened(opened),
                None => return,
            },
            FlowEvent::Stream {
                flow,
                side,
                event,
                frame,
                ts_ns,
            } => {
                if self.sessions.is_some() {
                    self.drive(flow, side, event, frame, ts_ns);
                    return;
                }
                self.stream(flow, side, event, frame, ts_ns)
            }
            FlowEvent::Closing {
                flow,
                side,
                frame,
                ts_ns,
            } if self.sessions.is_some() => {
                self.note_closing(flow, side, frame, ts_ns);
                return;
            }
            FlowEvent::Closing {
                flow,
                side,
                frame,
                ts_ns,
            } => Kept::Closing(FlowClosing {
                flow,
                side,
                frame,
                ts_ns: Ns(ts_ns),
            }),
            FlowEvent::Evicted {
                flow,
                frame,
                why,
                open,
            } => {
                self.evicting = Some(FlowEvicted::new(flow, frame, why, open));
                return;
            }
            FlowEvent::Closed { .. } => match self.ended(event) {
                Some(closed) => Kept::Closed(closed),
                None => return,
            },
            FlowEvent::HandOut { flow, late, held } => {
                Kept::HandOut(FlowHandOut { flow, late, held })
            }
            FlowEvent::UdpOpened(o) => {
                self.udp_tls = true;
                self.udp_told.opened(o.flow);
                if let Some(quic) = self.quic.as_mut() {
                    quic.opened(&o);
                }
                Kept::UdpOpened(UdpOpened::new(&o))
            }
            FlowEvent::Datagram {
                flow,
                side,
                frame,
                ts_ns,
                payload,
                bad_length,
            } => match self.datagram(flow, side, (frame, ts_ns), payload, bad_length) {
                Some(kept) => kept,
                None => return,
            },
            FlowEvent::Cut {
                flow,
                side,
                frame,
                ts_ns,
                snapped,
            } => {
                // (Python was told the flow first: `passed_over`.)
                Kept::Cut(FlowCut {
                    flow,
                    side,
                    frame,
                    ts_ns: Ns(ts_ns),
                    captured: snapped.captured,
                    original: snapped.original,
                })
            }
            FlowEvent::UdpClosed(c) => self.udp_closed(&c),
        };
        self.events.push(kept);
    }
}
