use std::sync::Mutex;
use tlslens_core::flows::FlowMap;

use pyo3::prelude::*;
use tlslens_core::decrypt::Suites;
use tlslens_core::flows::packet::Addr;
use tlslens_core::flows::tcp::StreamEvent;
use tlslens_core::flows::{CloseReason, FlowEvent, FlowSink, Opened, Verdict};
use tlslens_core::records::{Session, SessionEvent};

use crate::flow_content::{ContentSetup, Said};
use crate::flow_events::{Collector, Kept};

/// A collector as the capture path makes it (sessions and content layers in the walk),
/// without keys: nothing here calls into Python.
fn collector(py: Python<'_>) -> Collector {
    Collector {
        sessions: Some(FlowMap::default()),
        defer_tls: true,
        content: Some(ContentSetup {
            suites: Box::leak(Box::new(Suites::new())),
            max_message: 1 << 16,
            known_types: vec![1, 2, 11, 14, 16, 20],
            keep_plaintext: false,
            keep_records: false,
            rsa: None,
            keys: None,
            keys_for: py.None(),
            interrupt: Mutex::new(None),
            stops: Default::default(),
        }),
        ..Collector::default()
    }
}

fn open(collector: &mut Collector, flow: u64, client_side: Option<u8>) {
    collector.event(FlowEvent::Opened(Opened {
        flow,
        src: Addr::v4([10, 0, 0, 1]),
        sport: 50_000,
        dst: Addr::v4([10, 0, 0, 2]),
        dport: 25,
        frame: 1,
        ts_ns: 1_000,
        client_side,
        mid_stream: false,
    }));
}

fn data(collector: &mut Collector, flow: u64, side: u8, offset: u64, data: &[u8]) {
    let event = StreamEvent::Data { offset, data };
    collector.event(FlowEvent::Stream {
        flow,
        side,
        event,
        frame: 2 + offset,
        ts_ns: 2_000,
    });
}

/// A ClientHello record: TLS 1.2, one suite, no extensions.
fn client_hello() -> Vec<u8> {
    let mut hello = vec![3, 3];
    hello.extend([0; 32]);
    hello.extend([0, 0, 2, 0x13, 1, 1, 0, 0, 0]);
    let mut message = vec![1, 0, 0, u8::try_from(hello.len()).unwrap_or(0)];
    message.extend(hello);
    let mut record = vec![22, 3, 1, 0, u8::try_from(message.len()).unwrap_or(0)];
    record.extend(message);
    record
}

fn opened(collector: &Collector) -> Vec<(u64, Option<u8>)> {
    let told = collector.events.iter().filter_map(|kept| match kept {
        Kept::Opened(o) => Some((o.flow, o.client_side)),
        _ => None,
    });
    told.collect()
}

#[test]
fn a_flow_that_never_says_anything_is_not_told_and_gets_no_session_or_content_layer() {
    pyo3::prepare_freethreaded_python();
    Python::with_gil(|py| {
        let mut collector = collector(py);
        open(&mut collector, 7, Some(0));
        assert!(collector.events.is_empty() && collector.contents.is_empty());
        // A short plaintext prelude is held, not told: a flow that says little costs
        // no Python `FlowSession`.
        let request = b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n";
        data(&mut collector, 7, 0, 0, request);
        assert!(opened(&collector).is_empty() && collector.contents.is_empty());
        // Past `HELD_PRELUDE`, Python is told the flow and what was held, in order (each
        // stream event's as one `SessionEvents`); the core content layer only passes a
        // prelude through: it is not made.
        let answer = [b"HTTP/1.1 200 OK\r\n".as_slice(), &[b'x'; 1_024]].concat();
        data(&mut collector, 7, 1, 0, &answer);
        assert_eq!(opened(&collector), [(7, Some(0))]);
        let groups = collector.events.iter().skip(1).map(|kept| match kept {
            Kept::Session {
                flow: 7, groups, ..
            } => groups.len(),
            _ => 0,
        });
        assert_eq!(groups.collect::<Vec<_>>(), [1, 1]);
        let content = collector.contents.get(&7).map(|c| c.reading());
        assert_eq!(content, Some(false));
        assert_eq!(
            collector.contents.get(&7).and_then(|c| c.client_side()),
            Some(0)
        );
        // A SYN alone until the end: never told, never a session or a content layer,
        // and undecided as a new session would be.
        open(&mut collector, 8, Some(0));
        let watch = [true, true];
        assert_eq!(collector.verdict(8), Verdict::Undecided { watch });
        let session = collector.sessions.as_ref().and_then(|s| s.get(&8));
        assert!(session.is_some_and(|open| !open.talked()));
        collector.event(FlowEvent::Closed {
            flow: 8,
            frame: 9,
            ts_ns: 9_000,
            by: None,
            syn_ts_ns: Some(1_000),
            synack_ts_ns: None,
        });
        assert_eq!(opened(&collector), [(7, Some(0))]);
        assert!(!collector.contents.contains_key(&8));
        // Nor is its end or its hand-out: Python has nothing of it to end.
        let told = collector.events.len();
        collector.event(FlowEvent::HandOut {
            flow: 8,
            late: false,
            held: false,
        });
        assert_eq!(collector.events.len(), told);
        assert!(!(collector.events.iter()).any(|kept| matches!(kept, Kept::Closed(_))));
        assert!(collector.silent.is_empty());
        // A banner held until the end is dropped with the flow, never told.
        open(&mut collector, 9, Some(0));
        data(&mut collector, 9, 1, 0, b"220 mail.a.test ESMTP\r\n");
        collector.event(FlowEvent::Closed {
            flow: 9,
            frame: 10,
            ts_ns: 10_000,
            by: None,
            syn_ts_ns: Some(1_000),
            synack_ts_ns: None,
        });
        assert_eq!(collector.events.len(), told);
    });
}

#[test]
fn a_prelude_dripped_a_byte_a_segment_is_told_after_a_few_segments() {
    pyo3::prepare_freethreaded_python();
    Python::with_gil(|py| {
        let mut collector = collector(py);
        open(&mut collector, 5, Some(0));
        // Each segment's one byte held as a group of its own cost ~300 bytes: 1,000
        // such segments of a banner (under `HELD_PRELUDE`) held ~300 KB for one flow.
        // (The session tells a byte once it knows it is no record header's.)
        let mut sent = 0;
        while opened(&collector).is_empty() && sent < 1_000 {
            data(&mut collector, 5, 1, sent, b"2");
            sent += 1;
        }
        assert_eq!(opened(&collector), [(5, Some(0))]);
        assert!(sent <= 2 * super::HELD_GROUPS as u64, "told after {sent}");
        // Every segment's byte told, in order, once.
        let offsets = collector.events.iter().flat_map(|kept| match kept {
            Kept::Session { groups, .. } => groups
                .iter()
                .flat_map(|g| g.events.iter())
                .filter_map(|said| match said {
                    Said::Session(SessionEvent::Prelude { offset, .. }) => Some(*offset),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        });
        let offsets: Vec<u64> = offsets.collect();
        assert_eq!(offsets.first(), Some(&0));
        assert!(offsets.windows(2).all(|w| w[0] < w[1]));
    });
}

#[test]
fn a_new_session_watches_both_sides() {
    for client_side in [None, Some(0), Some(1)] {
        let session = Session::new(client_side, false, [50_000, 443], true);
        assert!(session.may_give_up(0) && session.may_give_up(1));
        assert!(!session.started() && !session.ignored());
    }
}

#[test]
fn a_flow_that_turns_tls_late_is_told_with_the_right_client_side() {
    pyo3::prepare_freethreaded_python();
    Python::with_gil(|py| {
        let mut collector = collector(py);
        // No SYN seen: the client is not known when the flow opens.
        open(&mut collector, 3, None);
        let prelude = b"220 ready\r\n";
        data(&mut collector, 3, 0, 0, prelude);
        let reading = |c: &Collector| c.contents.get(&3).map(|c| c.reading());
        assert_eq!(reading(&collector), None); // held, not told yet
                                               // Side 1 sends a ClientHello: it is the client, as the content layer reads it.
        data(&mut collector, 3, 1, 0, &client_hello());
        // A TLS flow without keys is told at its end: nothing yet, no content layer.
        assert!(collector.events.is_empty());
        assert_eq!(reading(&collector), None);
        close(&mut collector, 3);
        // Told once, before anything else of the flow (the prelude held, then the rest),
        // its end last.
        assert_eq!(opened(&collector), [(3, None)]);
        assert!(matches!(collector.events.first(), Some(Kept::Opened(_))));
        assert!(matches!(collector.events.last(), Some(Kept::Closed(_))));
        let said = &collector.events[1..collector.events.len() - 1];
        assert!(said.len() >= 2);
        assert!(said
            .iter()
            .all(|kept| matches!(kept, Kept::Session { flow: 3, .. })));
        // The prelude first, with the side the flow opened with; then the ClientHello,
        // with the client side the content layer learnt from it.
        let sides: Vec<Option<u8>> = said
            .iter()
            .filter_map(|kept| match kept {
                Kept::Session { client_side, .. } => Some(*client_side),
                _ => None,
            })
            .collect();
        assert_eq!(sides.first(), Some(&None));
        assert!(sides[1..].iter().all(|side| *side == Some(1)));
    });
}

fn close(collector: &mut Collector, flow: u64) {
    collector.event(FlowEvent::Closed {
        flow,
        frame: 99,
        ts_ns: 99_000,
        by: None,
        syn_ts_ns: None,
        synack_ts_ns: None,
    });
}

/// The messages of flow `flow` told, in the order told.
fn offsets_told(collector: &Collector, flow: u64) -> Vec<u64> {
    let told = collector.events.iter().flat_map(|kept| match kept {
        Kept::Session {
            flow: f, groups, ..
        } if *f == flow => groups
            .iter()
            .flat_map(|g| g.events.iter())
            .filter_map(|said| match said {
                Said::Content(tlslens_core::content::ContentEvent::Message(m))
                | Said::Hello(m, _) => Some(m.offset),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    });
    told.collect()
}

#[test]
fn a_tls_flow_without_keys_is_told_at_its_end_or_past_what_it_may_hold() {
    pyo3::prepare_freethreaded_python();
    Python::with_gil(|py| {
        let mut flows = collector(py);
        let hello = client_hello();
        let size = hello.len() as u64;
        // Flow 1 says a ClientHello and is evicted: told right before its eviction,
        // which is told with its end, right before it.
        open(&mut flows, 1, Some(0));
        data(&mut flows, 1, 0, 0, &hello);
        assert!(flows.events.is_empty());
        let why = tlslens_core::flows::Eviction::Connections;
        flows.event(FlowEvent::Evicted {
            flow: 1,
            frame: 5,
            why,
            open: 1,
        });
        assert_eq!(opened(&flows), [(1, Some(0))]);
        assert_eq!(offsets_told(&flows, 1), [5]);
        flows.event(FlowEvent::Closed {
            flow: 1,
            frame: 5,
            ts_ns: 5,
            by: None,
            syn_ts_ns: None,
            synack_ts_ns: None,
        });
        let last = flows.events.len().saturating_sub(2);
        assert!(matches!(
            flows.events.get(last..),
            Some([Kept::Evicted(_), Kept::Closed(_)])
        ));
        // Flow 2 says ClientHello after ClientHello: past `HELD_SAID` groups (or
        // `HELD_COST`) it is told, what was held first and in order, and from then on
        // as its events come.
        open(&mut flows, 2, Some(0));
        let mut sent = 0;
        while !opened(&flows).contains(&(2, Some(0))) && sent < 1_000 {
            data(&mut flows, 2, 0, sent * size, &hello);
            sent += 1;
        }
        assert!(sent <= super::HELD_SAID as u64 + 1, "told after {sent}");
        data(&mut flows, 2, 0, sent * size, &hello);
        let told = offsets_told(&flows, 2);
        let expected: Vec<u64> = (0..=sent).map(|i| i * size + 5).collect();
        assert_eq!(told, expected);
        // With keys (a key log given), a TLS flow is held while its client alone
        // speaks, and told at the server's first word, what was held first.
        let mut keyed = collector(py);
        keyed.keys = true;
        open(&mut keyed, 4, Some(0));
        data(&mut keyed, 4, 0, 0, &hello);
        assert!(keyed.events.is_empty());
        data(&mut keyed, 4, 1, 0, &hello);
        assert_eq!(opened(&keyed), [(4, Some(0))]);
        assert_eq!(offsets_told(&keyed, 4), [5, 5]);
        // A keyed flow held when the capture's own secrets begin is told then, before
        // the key store may learn them.
        open(&mut keyed, 7, Some(0));
        data(&mut keyed, 7, 0, 0, &hello);
        assert!(!opened(&keyed).contains(&(7, Some(0))));
        keyed.tell_held_keyed();
        assert!(opened(&keyed).contains(&(7, Some(0))));
        assert_eq!(offsets_told(&keyed, 7), [5]);
        // With a time budget, a TLS flow is told as its events come.
        let mut timed = collector(py);
        timed.defer_tls = false;
        open(&mut timed, 4, Some(0));
        data(&mut timed, 4, 0, 0, &hello);
        assert_eq!(opened(&timed), [(4, Some(0))]);
    });
}

#[test]
fn a_flows_first_closing_after_tls_began_comes_with_its_end_and_its_events_join() {
    pyo3::prepare_freethreaded_python();
    Python::with_gil(|py| {
        let mut flows = collector(py);
        let hello = client_hello();
        let closing = |flows: &mut Collector, side: u8, frame: u64| {
            let ts_ns = i128::from(frame) * 1_000;
            flows.event(FlowEvent::Closing {
                flow: 6,
                side,
                frame,
                ts_ns,
            });
        };
        open(&mut flows, 6, Some(0));
        data(&mut flows, 6, 0, 0, &hello);
        // The client's FIN: the flow held is told then, what was held first; the FIN is
        // kept for the flow's end, not told as an event of its own.
        closing(&mut flows, 0, 3);
        // The server's hello after it (a self-framed group) joins the events told
        // before the FIN, and so do the sides' ends; then the server's RST, a closing
        // after the first.
        data(&mut flows, 6, 1, 0, &hello);
        closing(&mut flows, 1, 5);
        flows.event(FlowEvent::Closed {
            flow: 6,
            frame: 5,
            ts_ns: 5_000,
            by: Some(CloseReason::Rst),
            syn_ts_ns: None,
            synack_ts_ns: None,
        });
        let kinds: Vec<&str> = flows
            .events
            .iter()
            .map(|kept| match kept {
                Kept::Opened(_) => "opened",
                Kept::Session { .. } => "session",
                Kept::Closing(_) => "closing",
                Kept::Closed(_) => "closed",
                _ => "other",
            })
            .collect();
        assert_eq!(kinds, ["opened", "session", "closed"]);
        let Some(Kept::Closed(closed)) = flows.events.last() else {
            panic!("the flow's end last: {kinds:?}");
        };
        assert_eq!(
            closed.closing.as_ref().map(|c| (c.0, c.1, c.2 .0)),
            Some((0, 3, 3_000))
        );
    });
}
