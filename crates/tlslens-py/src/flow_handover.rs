//! The flow walk's events kept for Python and made Python objects (once per batch, with the
//! GIL): the kept values of flow_events.rs; stream data and datagrams go into the batch's
//! arena during the walk (`Collector::stream`, `Collector::datagram`) and are copied out
//! of it here; a flow's session events are kept in groups, one per stream event, which
//! join the flow's `SessionEvents` before them when they may (`Collector::tell`).

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use super::content_events::{tell, tell_run, Seen};
use super::flow_content::Said;
use tlslens_core::flows::tcp::StreamEvent;
use tlslens_core::records::Session;

use super::decrypt::{decryptor_failed, Decryptor};
use super::flow_content::FlowContent;
use super::flow_events::{
    Collector, FlowConflict, FlowData, FlowGap, FlowOpened, Kept, Open, SessionEvents,
};
use super::session::{event_to_python, SkippedBody};
use super::udp_events::UdpDatagram;

/// `keep_raw`: each handshake message keeps its bytes (`--records`).
pub fn to_python(py: Python<'_>, kept: Kept, arena: &[u8], keep_raw: bool) -> PyResult<PyObject> {
    Ok(match kept {
        Kept::Session {
            flow,
            client_side,
            groups,
        } => {
            let list = PyList::empty(py);
            let (frame, ts_ns) = groups.first().map_or((0, 0), |g| (g.frame, g.ts_ns));
            for group in groups {
                let seen = Seen::new(py, (group.frame, group.ts_ns), client_side, keep_raw)?;
                for said in group.events {
                    said_to_python(py, said, &seen, &list)?;
                }
            }
            Py::new(
                py,
                SessionEvents {
                    flow,
                    frame,
                    ts_ns,
                    events: list.unbind(),
                },
            )?
            .into_any()
        }
        Kept::Failed(event) => Py::new(py, event)?.into_any(),
        Kept::Ignored(event) => Py::new(py, event)?.into_any(),
        Kept::Opened(event) => Py::new(py, event)?.into_any(),
        Kept::Data {
            flow,
            side,
            offset,
            bytes,
            frame,
            ts_ns,
        } => {
            let data = PyBytes::new(py, arena.get(bytes).unwrap_or_default()).unbind();
            Py::new(
                py,
                FlowData {
                    flow,
                    side,
                    offset,
                    data,
                    frame,
                    ts_ns,
                },
            )?
            .into_any()
        }
        Kept::Gap(event) => Py::new(py, event)?.into_any(),
        Kept::Conflict(event) => Py::new(py, event)?.into_any(),
        Kept::Closing(event) => Py::new(py, event)?.into_any(),
        Kept::Evicted(event) => Py::new(py, event)?.into_any(),
        Kept::Closed(event) => Py::new(py, event)?.into_any(),
        Kept::HandOut(event) => Py::new(py, event)?.into_any(),
        Kept::UdpOpened(event) => Py::new(py, event)?.into_any(),
        Kept::Datagram {
            flow,
            side,
            frame,
            ts_ns,
            bytes,
            bad_length,
        } => {
            let data = PyBytes::new(py, arena.get(bytes).unwrap_or_default()).unbind();
            let datagram = UdpDatagram {
                flow,
                side,
                frame,
                ts_ns,
                data,
                bad_length,
            };
            Py::new(py, datagram)?.into_any()
        }
        Kept::UdpClosed(event) => Py::new(py, event)?.into_any(),
        Kept::Cut(event) => Py::new(py, event)?.into_any(),
        Kept::Quic(kept) => kept.into_python(py)?,
    })
}

/// One thing a flow's stream event made the core say, into `out` (`seen`: where).
fn said_to_python(
    py: Python<'_>,
    said: Said,
    seen: &Seen,
    out: &Bound<'_, PyList>,
) -> PyResult<()> {
    match said {
        Said::Session(event) => out.append(event_to_python(py, event)?),
        Said::Content(event) => tell(py, event, seen, out),
        Said::Run(held) => {
            let began = Seen::new(
                py,
                (held.frame, held.ts_ns),
                seen.client_side(),
                seen.keep_raw(),
            )?;
            tell_run(py, held.run, &began, held.last_frame, out)
        }
        Said::Record {
            side,
            offset,
            content_type,
            version,
            length,
        } => {
            let header = SkippedBody {
                side,
                offset,
                content_type,
                version,
                length,
            };
            out.append(Py::new(py, header)?)
        }
    }
}

/// What one stream event of a flow made its session say, at `frame`.
pub struct Group {
    pub frame: u64,
    pub ts_ns: i128,
    pub events: Vec<Said>,
}

impl Group {
    /// Whether Python reads these events without being told their frame: each carries its
    /// own (the timeline events, handshake messages and findings of the content layer).
    /// Such a group may join the flow's `SessionEvents` before it (`Collector::joinable`).
    /// A side's end never joins: when Python gives up on a flow at a bug in the events
    /// before it, the end must still reach the flow's session, which counts its bytes.
    fn self_framed(&self) -> bool {
        (self.events.iter()).all(|said| matches!(said, Said::Content(_) | Said::Run(_)))
    }
}

impl Collector {
    /// A new flow: its session made. Without sessions Python is told now; with, when the
    /// flow first says something (`tell_opened`), but for the first keyed flow after the
    /// capture's key log grew: its decryptor is made now, which gives the run's key store
    /// the new secrets at the frame they always were (a flow opened earlier decrypts its
    /// later records with them).
    pub(crate) fn opened(&mut self, o: &tlslens_core::flows::Opened) -> Option<FlowOpened> {
        let opened = FlowOpened {
            decryptor: None,
            flow: o.flow,
            src_addr: o.src,
            sport: o.sport,
            dst_addr: o.dst,
            dport: o.dport,
            frame: o.frame,
            ts_ns: o.ts_ns,
            client_side: o.client_side,
            mid_stream: o.mid_stream,
            secrets: self.secrets,
        };
        let keyed = self.keyed(self.secrets);
        let Some(sessions) = self.sessions.as_mut() else {
            return Some(opened);
        };
        let session = Session::new(o.client_side, o.mid_stream, [o.sport, o.dport], !keyed);
        let untold = Some(opened);
        sessions.insert(o.flow, Box::new(Open { session, untold }));
        if keyed && self.content.is_some() && self.secrets > self.secrets_given {
            self.secrets_given = self.secrets;
            self.tell_opened(o.flow);
        }
        None
    }

    /// Whether a flow opened after `secrets` Decryption Secrets Blocks has keys to try.
    pub(crate) fn keyed(&self, secrets: usize) -> bool {
        self.keys || secrets > 0
    }

    /// Python is told the flow (`FlowOpened`, with its decryptor), and its content layer is
    /// made, if that was not done yet.
    pub(crate) fn tell_opened(&mut self, flow: u64) {
        let open = self.sessions.as_mut().and_then(|s| s.get_mut(&flow));
        let Some(mut opened) = open.and_then(|open| open.untold.take()) else {
            return;
        };
        opened.decryptor = self.open_content(&opened);
        self.events.push(Kept::Opened(opened));
    }

    /// A flow's content layer, made with what the flow opened with (its client side, the
    /// Decryption Secrets Blocks read then); its decryptor, when it has one.
    fn open_content(&mut self, opened: &FlowOpened) -> Option<Py<Decryptor>> {
        let keyed = self.keyed(opened.secrets);
        let setup = self.content.as_ref()?;
        // The caller makes the decryptor (from the run's key store, with the capture's
        // secrets read when the flow opened); an Exception there (a bug) leaves the flow
        // without one, and its finding.
        let mut failed = None;
        let decryptor = keyed
            .then(|| {
                Python::with_gil(|py| {
                    let made = setup.decryptor_for.call1(py, (opened.secrets,));
                    let made = made.and_then(|made| made.extract::<Option<Py<Decryptor>>>(py));
                    made.unwrap_or_else(|error| {
                        failed = setup
                            .failed(py, error)
                            .map(|error| decryptor_failed(&error));
                        None
                    })
                })
            })
            .flatten();
        let kept = decryptor
            .as_ref()
            .map(|d| Python::with_gil(|py| d.clone_ref(py)));
        let content = FlowContent::new(opened.client_side, kept, failed);
        self.contents.insert(opened.flow, Box::new(content));
        decryptor
    }

    /// A flow's group of events goes out: joining the flow's `SessionEvents` before it
    /// when it may (see `joinable`).
    pub(crate) fn tell(&mut self, flow: u64, client_side: Option<u8>, group: Group) {
        let joining = (self.content.as_ref()).is_some_and(|c| !c.keep_plaintext && !c.keep_records);
        let joins = joining && group.self_framed();
        if let Some(&at) = self.joinable.get(&flow).filter(|_| joins) {
            if let Some(Kept::Session { groups, .. }) = self.events.get_mut(at) {
                groups.push(group);
                return;
            }
        }
        if joining {
            self.joinable.insert(flow, self.events.len());
        }
        self.events.push(Kept::Session {
            flow,
            client_side,
            groups: vec![group],
        });
    }

    /// A stream event kept for Python as it is (without sessions): data into the arena.
    pub(crate) fn stream(
        &mut self,
        flow: u64,
        side: u8,
        event: StreamEvent<'_>,
        frame: u64,
        ts_ns: i128,
    ) -> Kept {
        match event {
            StreamEvent::Data { offset, data } => {
                let start = self.arena.len();
                self.arena.extend_from_slice(data);
                let bytes = start..self.arena.len();
                Kept::Data {
                    flow,
                    side,
                    offset,
                    bytes,
                    frame,
                    ts_ns,
                }
            }
            StreamEvent::Gap { offset, length } => Kept::Gap(FlowGap {
                flow,
                side,
                offset,
                length,
                frame,
                ts_ns,
            }),
            StreamEvent::Conflict { offset, length } => Kept::Conflict(FlowConflict {
                flow,
                side,
                offset,
                length,
                frame,
                ts_ns,
            }),
        }
    }

    /// A UDP association's datagram: a QUIC one goes to the core's QUIC table (quic_events.rs,
    /// None: nothing for Python now), the others (DTLS, read by tls/dtls.py) up to Python.
    pub(crate) fn datagram(
        &mut self,
        flow: u64,
        side: u8,
        (frame, ts_ns): (u64, i128),
        payload: &[u8],
        bad_length: bool,
    ) -> Option<Kept> {
        if self.sessions.is_some() {
            if let Some(quic) = self.quic.as_mut().filter(|quic| quic.owns(flow)) {
                if let Some(said) = quic.datagram(flow, side, frame, ts_ns, payload) {
                    self.fed += payload.len();
                    quic.push(&mut self.events, said);
                }
                return None;
            }
        }
        let start = self.arena.len();
        self.arena.extend_from_slice(payload);
        Some(Kept::Datagram {
            flow,
            side,
            frame,
            ts_ns,
            bytes: start..self.arena.len(),
            bad_length,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use pyo3::prelude::*;
    use tlslens_core::decrypt::Suites;
    use tlslens_core::flows::packet::Addr;
    use tlslens_core::flows::tcp::StreamEvent;
    use tlslens_core::flows::{FlowEvent, FlowSink, Opened};

    use crate::flow_content::ContentSetup;
    use crate::flow_events::{Collector, Kept};

    /// A collector as the capture path makes it (sessions and content layers in the walk),
    /// without keys: nothing here calls into Python.
    fn collector(py: Python<'_>) -> Collector {
        Collector {
            sessions: Some(HashMap::new()),
            content: Some(ContentSetup {
                suites: Box::leak(Box::new(Suites::new())),
                max_message: 1 << 16,
                known_types: vec![1, 2, 11, 14, 16, 20],
                keep_plaintext: false,
                keep_records: false,
                rsa: None,
                decryptor_for: py.None(),
                interrupt: Mutex::new(None),
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
    fn a_flow_that_never_says_anything_is_not_told_and_gets_no_content_layer() {
        pyo3::prepare_freethreaded_python();
        Python::with_gil(|py| {
            let mut collector = collector(py);
            open(&mut collector, 7, Some(0));
            assert!(collector.events.is_empty() && collector.contents.is_empty());
            // A plaintext prelude is told (Python keeps it, for a STARTTLS to come), but the
            // core content layer only passes it through: it is not made.
            data(
                &mut collector,
                7,
                0,
                0,
                b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n",
            );
            assert_eq!(opened(&collector), [(7, Some(0))]);
            let content = collector.contents.get(&7).map(|c| c.reading());
            assert_eq!(content, Some(false));
            assert_eq!(
                collector.contents.get(&7).and_then(|c| c.client_side()),
                Some(0)
            );
            // A SYN alone until the end: never told, never a content layer.
            open(&mut collector, 8, Some(0));
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
        });
    }

    #[test]
    fn a_flow_that_turns_tls_late_gets_a_content_layer_with_the_right_client_side() {
        pyo3::prepare_freethreaded_python();
        Python::with_gil(|py| {
            let mut collector = collector(py);
            // No SYN seen: the client is not known when the flow opens.
            open(&mut collector, 3, None);
            let prelude = b"220 ready\r\n";
            data(&mut collector, 3, 0, 0, prelude);
            let reading = |c: &Collector| c.contents.get(&3).map(|c| c.reading());
            assert_eq!(reading(&collector), Some(false));
            // Side 1 sends a ClientHello: it is the client, and the content layer reads it.
            data(&mut collector, 3, 1, 0, &client_hello());
            assert_eq!(reading(&collector), Some(true));
            assert_eq!(
                collector.contents.get(&3).and_then(|c| c.client_side()),
                Some(1)
            );
            // Told once, before anything else of the flow.
            assert_eq!(opened(&collector), [(3, None)]);
            assert!(matches!(collector.events.first(), Some(Kept::Opened(_))));
            let mut said = collector.events.iter().skip(1);
            assert!(said.clone().count() >= 2);
            assert!(said.all(|kept| matches!(kept, Kept::Session { flow: 3, .. })));
        });
    }
}
