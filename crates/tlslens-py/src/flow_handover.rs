//! The flow walk's events kept for Python and made Python objects (once per batch, with the
//! GIL): the kept values of flow_events.rs; stream data and datagrams go into the batch's
//! arena during the walk (`Collector::stream`, `Collector::datagram`) and are copied out
//! of it here.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use super::flow_content::Said;
use tlslens_core::flows::tcp::StreamEvent;

use super::flow_events::{Collector, FlowConflict, FlowData, FlowGap, Kept, SessionEvents};
use super::session::{event_to_python, SkippedBody};
use super::udp_events::UdpDatagram;

pub fn to_python(py: Python<'_>, kept: Kept, arena: &[u8]) -> PyResult<PyObject> {
    Ok(match kept {
        Kept::Session {
            flow,
            frame,
            ts_ns,
            events,
        } => {
            let list = PyList::empty(py);
            for said in events {
                list.append(said_to_python(py, said)?)?;
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

fn said_to_python(py: Python<'_>, said: Said) -> PyResult<PyObject> {
    Ok(match said {
        Said::Session(event) => event_to_python(py, event)?,
        Said::Content(event) => crate::content_events::event_to_python(py, event)?,
        Said::Run(held) => {
            let frames = (held.frame, held.ts_ns, held.last_frame);
            crate::content_events::run_to_python(py, held.run, Some(frames))?
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
            Py::new(py, header)?.into_any()
        }
    })
}

impl Collector {
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
