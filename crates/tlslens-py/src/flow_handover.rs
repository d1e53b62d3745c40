//! The flow walk's events kept for Python and made Python objects (once per batch, with the
//! GIL): the kept values of flow_events.rs; stream data and datagrams go into the batch's
//! arena during the walk (`Collector::stream`, `Collector::datagram`) and are copied out
//! of it here; a flow's session events are kept in groups, one per stream event, which
//! join the flow's `SessionEvents` before them when they may (`Collector::tell`).

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use super::content_events::{tell, tell_message, tell_run, Seen};
use super::flow_content::Said;
use tlslens_core::flows::tcp::{GiveUp, StreamEvent};
use tlslens_core::records::SessionEvent;

use super::flow_events::{
    owned_cost, Collector, FlowConflict, FlowData, FlowGap, FlowLate, Kept, SessionEvents,
};
use super::ns::Ns;
use super::session::{event_to_python, SkippedBody};
use super::udp_events::UdpDatagram;
use tlslens_core::content::{ContentEvent, MessageRead};
use tlslens_core::dtls;
use tlslens_core::handshake::defrag::MAX_HANDSHAKE_MESSAGE;
use tlslens_core::handshake::messages::{self, Message};
use tlslens_core::held::buffer;

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
                    ts_ns: Ns(ts_ns),
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
                    ts_ns: Ns(ts_ns),
                },
            )?
            .into_any()
        }
        Kept::Gap(event) => Py::new(py, event)?.into_any(),
        Kept::Conflict(event) => Py::new(py, event)?.into_any(),
        Kept::Late(event) => Py::new(py, event)?.into_any(),
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
            charged,
        } => {
            let data = PyBytes::new(py, arena.get(bytes).unwrap_or_default()).unbind();
            let datagram = UdpDatagram {
                flow,
                side,
                frame,
                ts_ns: Ns(ts_ns),
                data,
                bad_length,
                charged,
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
        Said::Hello(read, prints) => tell_message(py, *read, Some(prints), seen, out),
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
    /// own (the timeline events, handshake messages and findings of the content layer), or
    /// needs none (a side's end that words no conflicts: its bytes and records counted).
    /// Such a group may join the flow's `SessionEvents` before it (`Collector::joinable`):
    /// a connection's last group, its sides' ends, joins what it said last in the batch.
    /// (When Python gives up on a flow at a bug in the events before an end, the end still
    /// reaches the flow's session, which counts its bytes: `take_events`.)
    fn self_framed(&self) -> bool {
        (self.events.iter()).all(|said| match said {
            Said::Content(_) | Said::Hello(..) | Said::Run(_) => true,
            Said::Session(SessionEvent::End { conflicts, .. }) => *conflicts <= 1,
            _ => false,
        })
    }
}

/// What Python keeps of an event it is told, beyond the bytes it owns (`Limits.max_held`):
/// its objects, a message's and its timeline step's (~500 bytes each on a flow of 10,900
/// four-byte messages, the peak RSS over their count).
pub const SAID_COST: usize = 512;

/// What Python keeps of a Certificate message: its certificates parsed (`cryptography`'s
/// objects and their details), twice their DER and this much more each (measured on open
/// connections that each sent 100 distinct certificates: ~2.7 times the DER of 1 KB ones,
/// 1.3 KB for 300-byte ones, which three times their DER undercounted).
const CERTIFICATE_ENTRY_COST: usize = 700;

/// What Python keeps of a handshake message's bytes (`raw`, its header included).
fn message_cost(message: &MessageRead) -> usize {
    let bytes = buffer(&message.raw);
    if !matches!(message.msg_type, 11 | 25) {
        return bytes;
    }
    let body = message.raw.get(4..).unwrap_or_default();
    match messages::parse(message.msg_type, body, &message.context) {
        Ok(Message::Certificate(certificate)) => {
            2 * bytes + certificate.certificate_list.len() * CERTIFICATE_ENTRY_COST
        }
        // RFC 8879: Python decompresses it (up to the longest message kept) and keeps its
        // certificates parsed, as many as a Certificate of that length holds at most: 20
        // connections of 6,000 distinct certificates in 24 KB of zlib each made 192 MB.
        Ok(Message::CompressedCertificate(compressed)) => {
            let declared = compressed.uncompressed_length.min(MAX_HANDSHAKE_MESSAGE);
            bytes + COMPRESSED_CERTIFICATE_COST * declared as usize
        }
        _ => 2 * bytes,
    }
}

/// What Python keeps of a CompressedCertificate's declared length: a Certificate of
/// 300-byte certificates costs twice its bytes and 700 a certificate, ~4.3 times its length.
const COMPRESSED_CERTIFICATE_COST: usize = 5;

/// What Python keeps of `said` until its flow's connection goes.
fn said_cost(said: &Said) -> usize {
    SAID_COST
        + match said {
            Said::Session(event) => owned_cost(event),
            Said::Content(ContentEvent::Message(message)) | Said::Hello(message, _) => {
                message_cost(message)
            }
            Said::Content(ContentEvent::Finding { message: text, .. }) => text.capacity(),
            _ => 0,
        }
}

impl Collector {
    /// A flow's group of events goes out: joining the flow's `SessionEvents` before it
    /// when it may (see `joinable`). What Python keeps of them counts toward this batch's
    /// bound and toward what the flow holds: returned.
    pub(crate) fn tell(&mut self, flow: u64, client_side: Option<u8>, group: Group) -> usize {
        let cost = group.events.iter().map(said_cost).sum::<usize>();
        self.fed += cost;
        if let Some(open) = self.sessions.as_mut().and_then(|s| s.get_mut(&flow)) {
            open.given += cost;
        }
        let joining = (self.content.as_ref()).is_some_and(|c| !c.keep_plaintext && !c.keep_records);
        let joins = joining && group.self_framed();
        if let Some(&at) = self.joinable.get(&flow).filter(|_| joins) {
            if let Some(Kept::Session { groups, .. }) = self.events.get_mut(at) {
                groups.push(group);
                return cost;
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
        cost
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
            StreamEvent::Gap {
                offset,
                length,
                given_up,
            } => Kept::Gap(FlowGap {
                flow,
                side,
                offset,
                length,
                given_up: given_up.map(GiveUp::name),
                frame,
                ts_ns: Ns(ts_ns),
            }),
            StreamEvent::Conflict { offset, length } => Kept::Conflict(FlowConflict {
                flow,
                side,
                offset,
                length,
                frame,
                ts_ns: Ns(ts_ns),
            }),
            StreamEvent::Late {
                offset,
                length,
                given_up,
            } => Kept::Late(FlowLate {
                flow,
                side,
                offset,
                length,
                given_up: given_up.name(),
                frame,
                ts_ns: Ns(ts_ns),
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
                if let Some(mut said) = quic.datagram(flow, side, frame, ts_ns, payload) {
                    // The most it can make bounds the batch (the walk ahead), and what its
                    // CRYPTO data can make is charged now, for Python to settle once read
                    // (udp_told.rs): a hole filled releases a whole stream at once.
                    self.fed += payload.len().max(said.steps_at_most() * SAID_COST);
                    said.charged = said.crypto_steps() * SAID_COST;
                    self.udp_told
                        .add(flow, said.charged.try_into().unwrap_or(isize::MAX));
                    quic.push(&mut self.events, said);
                }
                return None;
            }
        }
        // (As a QUIC datagram's: the most it can make bounds the batch, and is charged.)
        let charged = dtls::record::steps_at_most(payload) * SAID_COST;
        self.fed += charged;
        self.udp_told
            .add(flow, charged.try_into().unwrap_or(isize::MAX));
        let start = self.arena.len();
        self.arena.extend_from_slice(payload);
        Some(Kept::Datagram {
            flow,
            side,
            frame,
            ts_ns,
            bytes: start..self.arena.len(),
            bad_length,
            charged,
        })
    }
}
