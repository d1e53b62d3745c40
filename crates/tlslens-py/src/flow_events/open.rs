//! One open TCP flow as the walk keeps it when the core drives its session (`Open`), and
//! how Python is told it: lazily, right before the first event of the flow Python reads;
//! for a TLS flow without keys, when it ends.
//!
//! Strategy: Python reads a flow's events in its `FlowSession`, which makes the
//! connection's model (its `Connection`, hellos, handshakes and the timeline as Python
//! objects, ~2 KB a connection before its certificates). Without keys, what Python does
//! with one flow's events depends on no other flow until the flow is handed out (the key
//! store and its session cache, the plaintext sink and the capture's Decryption Secrets
//! Blocks are what would); nor
//! does what its content layer says depend on when it reads them (it asks nothing of the
//! caller without a decryptor). So a TLS flow without keys is told at its end: its
//! session's events (records with their bodies) are held here, each stream event's with
//! its frame, up to `HELD_COST` and `HELD_SAID` (past which it is told as before), and go
//! through its content layer, made then, when it is told. 50,000 TLS connections open at
//! once cost their sessions and the records they sent, not 50,000 content layers and
//! Python models; Python reads each one whole, in the batch where it ends, as it always
//! read it. With keys, a TLS flow is held only while its client alone has spoken (what the
//! run's key store and session cache learn comes with the server's answer, and other
//! flows read it in the capture's order): a scan's or a flood's hellos cost as little.

use std::sync::Arc;

use pyo3::prelude::*;
use tlslens_core::flows::{CloseReason, FlowEvent, Opened};
use tlslens_core::held::allocated;
use tlslens_core::records::{RecordEvent, Session, SessionEvent};

use super::{close_name, Collector, FlowClosed, FlowOpened, Kept};
use crate::decrypt::{decryptor_failed, FlowDecryption, RunKeys};
use crate::flow_content::FlowContent;
use crate::flow_handover::Group;
use crate::ns::Ns;

/// One open TCP flow when the core drives its session. Boxed in the map of open flows: the
/// map's room for flows to come (up to as many again, twice that while it grows) holds a
/// pointer each. A flow that never says anything (a SYN alone, a port scan) costs this
/// alone: no session until a byte comes, Python not told (no `FlowSession`), no content
/// layer.
pub struct Open {
    /// Made at the flow's first stream event (`Open::session`).
    pub(super) session: Option<Box<Session>>,
    /// How the flow opened, and the Decryption Secrets Blocks read then: what its session,
    /// its `FlowOpened` and its content layer are made with.
    pub(crate) opened: Opened,
    pub(crate) secrets: usize,
    /// Python was told the flow (`Collector::tell_opened`), when its content layer (and
    /// decryptor) was made too: right before the first event of it Python reads, or at its
    /// end for a TLS flow without keys (with keys, at its server's first word).
    pub(crate) told: bool,
    /// Until then, its session's events (`Collector::hold`): a short plaintext prelude (a
    /// plaintext flow that says little, a banner, a request and its answer, costs them
    /// alone), and what a TLS flow told at its end says.
    held: Option<Box<Held>>,
    /// The first FIN or RST after its session began TLS: (side, frame, time), told with
    /// its end (`FlowClosed.closing`). Boxed: most open flows never have one.
    closing: Option<Box<(u8, u64, Ns)>>,
    /// What Python keeps of the events it was told of the flow (`said_cost`), until the
    /// flow's connection goes.
    pub(crate) given: usize,
    /// What the flow counts toward `Collector::held_flows`, as last counted (`recount`).
    counted: usize,
}

/// What Python's model of a flow it was told costs before its events (its `FlowSession`,
/// `Connection` and their parts: ~2 KB, the Strategy's figure).
const MODEL_COST: usize = 2048;
/// An open flow's entries in the walk's maps (its sessions', content layers').
const ENTRIES: usize = 64;

/// A flow's session events held for Python: each stream event's with its frame and time,
/// as they will be read and told.
#[derive(Default)]
struct Held {
    groups: Vec<(u64, i128, Vec<SessionEvent>)>,
    /// Prelude bytes held.
    bytes: usize,
    /// What holding the groups costs (`held_cost`).
    cost: usize,
    /// The flow is told at its end (its groups are not a prelude alone, which is dropped
    /// with a flow never told).
    tls: bool,
}

/// Prelude bytes held for a flow Python was not told, at most: past them Python is told
/// (its `Prelude` keeps 4 KiB, and its `FlowSession` costs about as much as this).
const HELD_PRELUDE: usize = 1024;
/// Stream events held for a flow Python was not told, at most: each costs ~300 bytes
/// beyond its bytes (its group, its list, the event and their allocations), so that a
/// prelude dripped a byte a segment held ~300 KB a flow within `HELD_PRELUDE`. A banner,
/// a request and its answer are a few.
const HELD_GROUPS: usize = 8;
/// What a TLS flow told at its end holds, at most (`held_cost`): past it Python is told
/// the flow as its events come. A ClientHello fits (a browser's is 1.5-2 KB), a server's
/// flight with its certificates mostly does not: a connection that stays open after its
/// handshake costs what it did. Small, because what was held is freed when a flow is told
/// before its end, and the allocator keeps that room for Rust's allocations only (Python
/// takes its small objects elsewhere): 16 KiB doubled what 10,000 flows of small records
/// cost at their peak.
const HELD_COST: usize = 4 * 1024;
/// ... and stream events: a connection that sends a record now and then is told after
/// these.
const HELD_SAID: usize = 16;

/// What holding one stream event's session events costs, as the allocator counts it: the
/// group, its list of events, each event and the bytes it owns (a record's body...), each
/// allocation with its header and rounding. (Short of this, a flow of many small records
/// held twice what was counted.)
fn held_cost(events: &[SessionEvent]) -> usize {
    let group = std::mem::size_of::<(u64, i128, Vec<SessionEvent>)>();
    let list = allocated(std::mem::size_of_val(events));
    group + list + events.iter().map(owned_cost).sum::<usize>()
}

/// The allocation an event owns, if any.
pub(crate) fn owned_cost(event: &SessionEvent) -> usize {
    allocated(match event {
        SessionEvent::Prelude { data: bytes, .. }
        | SessionEvent::Sslv2ClientHello { record: bytes, .. }
        | SessionEvent::Sslv2Record { body: bytes, .. }
        | SessionEvent::PlaintextAnswer { line: bytes, .. }
        | SessionEvent::Record {
            event:
                RecordEvent::Record { body: bytes, .. }
                | RecordEvent::Resynchronised { head: bytes, .. },
            ..
        } => bytes.capacity(),
        SessionEvent::Record {
            event: RecordEvent::BadHeader { message, .. },
            ..
        } => message.capacity(),
        _ => 0,
    })
}

/// The side a session event is of.
fn side_of(event: &SessionEvent) -> u8 {
    match *event {
        SessionEvent::Started { side, .. }
        | SessionEvent::Prelude { side, .. }
        | SessionEvent::Record { side, .. }
        | SessionEvent::Sslv2ClientHello { side, .. }
        | SessionEvent::Sslv2ServerHello { side }
        | SessionEvent::Sslv2Record { side, .. }
        | SessionEvent::Gap { side, .. }
        | SessionEvent::Conflict { side, .. }
        | SessionEvent::Late { side, .. }
        | SessionEvent::PlaintextAnswer { side, .. }
        | SessionEvent::End { side, .. } => side,
    }
}

impl Open {
    pub(crate) fn new(opened: Opened, secrets: usize) -> Open {
        Open {
            session: None,
            opened,
            secrets,
            told: false,
            held: None,
            closing: None,
            given: 0,
            counted: 0,
        }
    }

    /// What the flow holds in the walk, and in Python once told (`Limits.max_held`): itself,
    /// its session, the events held for Python, what Python keeps of it.
    fn held(&self) -> usize {
        use tlslens_core::held::boxed;
        let session = self.session.as_deref().map_or(0, Session::held);
        let held = (self.held.as_deref()).map_or(0, |held| boxed::<Held>() + held.cost);
        let python = if self.told { self.in_python() } else { 0 };
        boxed::<Open>() + ENTRIES + session + held + python
    }

    /// What Python keeps of the flow once told: its model and what it was told.
    fn in_python(&self) -> usize {
        MODEL_COST + self.given
    }

    /// Whether a byte of the flow came (it has a session: a test's question).
    #[cfg(test)]
    pub(crate) fn talked(&self) -> bool {
        self.session.is_some()
    }

    /// The flow's session, made now if no byte came before; `keys`: the run was given a
    /// key log (application data bodies are kept for decryption).
    pub(super) fn session(&mut self, keys: bool) -> &mut Session {
        if self.session.is_none() {
            self.closing = None; // a close before any byte is not one of its TLS (note_closing)
        }
        let (o, keyed) = (&self.opened, keys || self.secrets > 0);
        self.session.get_or_insert_with(|| {
            let ports = [o.sport, o.dport];
            Box::new(Session::new(o.client_side, o.mid_stream, ports, !keyed))
        })
    }

    /// Python is told the flow at its end, or at what ends the holding of its events
    /// (its closing, its eviction...).
    fn told_at_end(&self) -> bool {
        !self.told && self.held.as_ref().is_some_and(|held| held.tls)
    }
}

impl Collector {
    /// A new flow. Without sessions Python is told now; with, when the flow first says
    /// something (`tell_opened`), but for the first keyed flow after the capture's key log
    /// grew: its decryptor is made now, which gives the run's key store the new secrets at
    /// the frame they always were (a flow opened earlier decrypts its later records with
    /// them).
    pub(crate) fn opened(&mut self, o: &Opened) -> Option<FlowOpened> {
        let Some(sessions) = self.sessions.as_mut() else {
            return Some(FlowOpened::new(o, self.secrets));
        };
        sessions.insert(o.flow, Box::new(Open::new(*o, self.secrets)));
        if self.keyed(self.secrets) && self.content.is_some() && self.secrets > self.secrets_given {
            self.secrets_given = self.secrets;
            self.tell_opened(o.flow);
        }
        None
    }

    /// Count again what flow `flow` holds (`Open::held`, with its content layer's) into
    /// `held_flows`.
    pub(crate) fn recount(&mut self, flow: u64) {
        let content = self.contents.get(&flow).map_or(0, |content| content.held());
        let Some(open) = self.sessions.as_mut().and_then(|s| s.get_mut(&flow)) else {
            return;
        };
        let now = open.held() + content;
        self.held_flows = (self.held_flows + now).saturating_sub(open.counted);
        open.counted = now;
    }

    /// Flow `flow` leaves the open ones: what it counted goes with it.
    pub(crate) fn forget(&mut self, flow: u64) -> Option<Box<Open>> {
        let open = self.sessions.as_mut()?.remove(&flow)?;
        self.held_flows = self.held_flows.saturating_sub(open.counted);
        Some(open)
    }

    /// Whether a flow opened after `secrets` Decryption Secrets Blocks has keys to try.
    pub(crate) fn keyed(&self, secrets: usize) -> bool {
        self.keys || secrets > 0
    }

    /// Python is told the flow (`FlowOpened`, with its decryptor), and its content layer is
    /// made, if that was not done yet; then what was held of it is read and told, a stream
    /// event's at a time, as it would have been when it came.
    pub(crate) fn tell_opened(&mut self, flow: u64) {
        let open = self.sessions.as_mut().and_then(|s| s.get_mut(&flow));
        let Some(open) = open.filter(|open| !open.told) else {
            return;
        };
        open.told = true;
        let held = open.held.take();
        let mut opened = FlowOpened::new(&open.opened, open.secrets);
        opened.decryption = self.open_content(&opened);
        self.events.push(Kept::Opened(opened));
        let Some(held) = held else {
            return;
        };
        // What was held becomes Python objects in this batch: it counts toward its bound.
        self.fed += held.cost;
        for (frame, ts_ns, events) in held.groups {
            self.tell_read(flow, (frame, ts_ns), events);
        }
    }

    /// Whether a flow holding `events` is told at its end (see the module's Strategy): its
    /// session started TLS, and no plaintext sink or `--records` needs its events in the
    /// capture's order; with keys to try, only while its client alone has spoken (from its
    /// hello its decryptor learns nothing the run's session cache keeps for other flows).
    fn tells_at_end(&self, open: &Open, events: &[SessionEvent]) -> bool {
        let Some(session) = open.session.as_deref().filter(|s| s.started()) else {
            return false;
        };
        let setup = self.content.as_ref();
        let ordered = setup.is_some_and(|c| c.keep_plaintext || c.keep_records);
        if !self.defer_tls || ordered || setup.is_none() {
            return false;
        }
        let client = session.client_side();
        let from_client = |event: &SessionEvent| {
            client.is_some_and(|client| side_of(event) == client)
                && !matches!(event, SessionEvent::End { .. })
        };
        // (Not in a capture carrying its secrets: those reach the key store as flows open.)
        let alone = self.secrets == 0 && events.iter().all(from_client);
        !self.keyed(open.secrets) || alone
    }

    /// A stream event's session events of a flow Python was not told, held (None): a TLS
    /// flow told at its end while what is held stays within `HELD_COST` and `HELD_SAID`,
    /// or a plaintext prelude within `HELD_PRELUDE` and `HELD_GROUPS`. Else given back, to
    /// be told (after what was held).
    pub(super) fn hold(
        &mut self,
        flow: u64,
        mut events: Vec<SessionEvent>,
        (frame, ts_ns): (u64, i128),
    ) -> Option<Vec<SessionEvent>> {
        let open = self.sessions.as_ref().and_then(|s| s.get(&flow));
        let Some(tls) = open
            .filter(|open| !open.told && !events.is_empty())
            .map(|open| self.tells_at_end(open, &events))
        else {
            return Some(events);
        };
        let open = self.sessions.as_mut().and_then(|s| s.get_mut(&flow))?;
        let held = open.held.get_or_insert_with(Box::default);
        events.shrink_to_fit();
        let cost = held.cost + held_cost(&events);
        let prelude = events
            .iter()
            .try_fold(held.bytes, |bytes, event| match event {
                SessionEvent::Prelude { data, .. } => Some(bytes + data.len()),
                _ => None,
            });
        let holds = if tls {
            cost <= HELD_COST && held.groups.len() < HELD_SAID
        } else {
            prelude.is_some_and(|bytes| bytes <= HELD_PRELUDE) && held.groups.len() < HELD_GROUPS
        };
        if !holds {
            return Some(events);
        }
        (held.cost, held.tls) = (cost, held.tls || tls);
        held.bytes = prelude.unwrap_or(held.bytes);
        // Held by the tens of thousands: without the room a growing Vec keeps (the events'
        // list was shrunk above), for the few groups most flows hold (past them, growing by
        // one a group would leave the allocator a trail of freed blocks).
        if held.groups.len() < 4 {
            held.groups.reserve_exact(1);
        }
        held.groups.push((frame, ts_ns, events));
        None
    }

    /// A flow's content layer, made with what the flow opened with (its client side, the
    /// Decryption Secrets Blocks read then); its decryption, when it has one.
    fn open_content(&mut self, opened: &FlowOpened) -> Option<Arc<FlowDecryption>> {
        let keyed = self.keyed(opened.secrets);
        let setup = self.content.as_ref()?;
        let mut failed = None;
        let keys = match opened.secrets {
            _ if !keyed => None,
            0 => setup.keys.clone(),
            // The caller adds the capture's secrets read so far to the run's key store; an
            // Exception there (a bug) leaves the flow without a decryption, and its finding.
            secrets => Python::with_gil(|py| {
                let store = setup.keys_for.call1(py, (secrets,));
                let keys = store.and_then(|store| match store.is_none(py) {
                    true => Ok(None),
                    false => RunKeys::of(store.bind(py)).map(Some),
                });
                keys.unwrap_or_else(|error| {
                    failed = (setup.failed(py, error)).map(|error| decryptor_failed(&error));
                    None
                })
            }),
        };
        let decryption = keys.map(FlowDecryption::new);
        let content = FlowContent::new(opened.client_side, decryption.clone(), failed);
        self.contents.insert(opened.flow, Box::new(content));
        decryption
    }

    /// A flow ends: its session's last events (and the run of application data its content
    /// layer still held, and a decryptor failure no record came to place) go out before the
    /// end, which carries the content layer's flags.
    /// Whether Python was told the flow: else its end is not told either (`silent`).
    pub(super) fn closed(&mut self, closed: &mut FlowClosed) -> bool {
        let (flow, frame, ts_ns) = (closed.flow, closed.frame, closed.ts_ns.0);
        // A flow no byte reached has nothing to finish (a new session says nothing then).
        let open = self.sessions.as_ref().and_then(|s| s.get(&flow));
        if open.is_some_and(|open| open.session.is_some()) {
            self.with_session(flow, frame, ts_ns, Session::finish);
        }
        self.tell_if_at_end(flow);
        let open = self.forget(flow);
        if let Some(open) = open.as_ref().filter(|open| !open.told) {
            // No byte either way after a SYN, and not closed early: an attempt that failed.
            let evicted = self.evicting.as_ref().is_some_and(|e| e.flow == flow);
            if open.session.is_none() && closed.syn_ts_ns.is_some() && !evicted {
                let client = open.opened.client_side.unwrap_or(0);
                let closer = open.closing.as_ref().map(|closing| closing.0);
                let rst = Some(close_name(CloseReason::Rst));
                let refused = closed.by == rst && closer.is_some_and(|s| s != client);
                (self.unstarted).count(&open.opened, closed.synack_ts_ns.is_some(), refused);
            }
            self.silent.insert(flow);
            return false;
        }
        if let Some(open) = open.as_ref() {
            let kept = open.in_python();
            self.held_flows += kept;
            self.held_back.insert(flow, kept);
        }
        closed.closing = open.and_then(|open| open.closing).map(|closing| *closing);
        let Some(mut content) = self.contents.remove(&flow) else {
            return true;
        };
        let last = content.finish();
        if !last.is_empty() {
            let group = Group {
                frame,
                ts_ns,
                events: last,
            };
            let cost = self.tell(flow, content.client_side(), group);
            // Told after the flow left the open ones: kept with what it holds back.
            if let Some(kept) = self.held_back.get_mut(&flow) {
                *kept += cost;
                self.held_flows += cost;
            }
        }
        (
            closed.renegotiation,
            closed.abbreviated,
            closed.tls13_encrypted,
        ) = content.flags();
        closed.counts = content.counts();
        true
    }

    /// A flow's end (`FlowEvent::Closed`), with what its content layer says; None for a
    /// flow Python was not told.
    pub(super) fn ended(&mut self, event: FlowEvent<'_>) -> Option<FlowClosed> {
        let FlowEvent::Closed {
            flow,
            frame,
            ts_ns,
            by,
            syn_ts_ns,
            synack_ts_ns,
        } = event
        else {
            return None;
        };
        let mut closed = FlowClosed {
            renegotiation: false,
            abbreviated: false,
            tls13_encrypted: false,
            counts: [(0, 0, 0, 0); 2],
            closing: None,
            flow,
            frame,
            ts_ns: Ns(ts_ns),
            by: by.map(close_name),
            syn_ts_ns: syn_ts_ns.map(Ns),
            synack_ts_ns: synack_ts_ns.map(Ns),
        };
        let told = self.closed(&mut closed);
        self.joinable.remove(&flow);
        let evicted = self.evicting.take_if(|evicted| evicted.flow == flow);
        if let Some(evicted) = evicted.filter(|_| told) {
            self.events.push(Kept::Evicted(evicted));
        }
        told.then_some(closed)
    }

    /// Before `event` is kept: Python is told the flow first where it reads the event (a
    /// TLS flow told at its end, at its closing or eviction; any flow at a cut segment);
    /// then anything else of a flow told to Python ends what its later groups may join (a
    /// closing, kept for the flow's end, does not). Whether it is of a
    /// flow Python was not told (its closing, eviction, hand-out), and so not told either.
    pub(super) fn passed_over(&mut self, event: &FlowEvent<'_>) -> bool {
        match *event {
            FlowEvent::Closing { flow, .. } | FlowEvent::Evicted { flow, .. } => {
                self.tell_if_at_end(flow);
            }
            // Python names the sender of a TCP flow's cut segment from the flow's ends.
            FlowEvent::Cut { flow, .. } => self.tell_opened(flow),
            _ => {}
        }
        if let FlowEvent::Closing { flow, .. } | FlowEvent::Cut { flow, .. } = *event {
            self.recount(flow); // what was held may have gone to Python
        }
        // (A closing is no event of its own with sessions: `note_closing`.)
        if let FlowEvent::Evicted { flow, .. }
        | FlowEvent::HandOut { flow, .. }
        | FlowEvent::Cut { flow, .. } = *event
        {
            self.joinable.remove(&flow);
        }
        match *event {
            FlowEvent::Closing {
                flow,
                side,
                frame,
                ts_ns,
            } => {
                // Not told, but who closed a flow without a byte says how it went.
                let untold = self.untold(flow);
                if untold {
                    self.note_closing(flow, side, frame, ts_ns);
                }
                untold
            }
            FlowEvent::HandOut { flow, .. } => {
                if let Some(kept) = self.held_back.remove(&flow) {
                    self.held_flows = self.held_flows.saturating_sub(kept);
                }
                self.udp_told.handed_out(flow);
                self.silent.remove(&flow)
            }
            _ => false,
        }
    }

    /// The capture carries secrets from here (Decryption Secrets Blocks read before a
    /// batch is walked): flows held with keys are told now, before the run's key store may
    /// learn them. Their held records read it when told (a 0-RTT record its keys), and must
    /// read what it held when they came.
    pub(crate) fn tell_held_keyed(&mut self) {
        let Some(sessions) = self.sessions.as_ref().filter(|_| self.keys) else {
            return;
        };
        let mut held: Vec<u64> = (sessions.iter())
            .filter(|(_, open)| open.told_at_end())
            .map(|(flow, _)| *flow)
            .collect();
        held.sort_unstable();
        for flow in held {
            self.tell_opened(flow);
        }
    }

    /// A TLS flow told at its end is told now (what was held of it first).
    fn tell_if_at_end(&mut self, flow: u64) {
        let open = self.sessions.as_ref().and_then(|s| s.get(&flow));
        if open.is_some_and(|open| open.told_at_end()) {
            self.tell_opened(flow);
        }
    }

    /// A FIN or RST from `side` of a flow Python was told: the first after its session
    /// began TLS is kept for its end (Python's connection exists from that start, and
    /// reads who closed first only once the connection is whole).
    pub(super) fn note_closing(&mut self, flow: u64, side: u8, frame: u64, ts_ns: i128) {
        let open = self.sessions.as_mut().and_then(|s| s.get_mut(&flow));
        let Some(open) = open.filter(|open| open.closing.is_none()) else {
            return;
        };
        // Before any byte too: which side ended a connection that never carried one (a RST
        // from the server refuses it, unstarted.rs); its first byte forgets it (`session`).
        if open.session.as_deref().map_or(true, Session::started) {
            open.closing = Some(Box::new((side, frame, Ns(ts_ns))));
        }
    }

    /// A TCP flow Python was not told (it has no `FlowSession`): what would be told of its
    /// life (closing, eviction, being given up) would change nothing there, and is not.
    pub(crate) fn untold(&self, flow: u64) -> bool {
        let open = self.sessions.as_ref().and_then(|s| s.get(&flow));
        open.is_some_and(|open| !open.told)
    }
}

#[cfg(test)]
mod tests;
