//! The flow table's events as Python sees them: one frozen class per kind. The walk runs
//! with the GIL released, so it keeps these classes as plain Rust values (stream data as a
//! range of one arena) and they become Python objects once per batch.

use pyo3::prelude::*;
use pyo3::types::PyBytes;
use tlslens_core::flows::packet::Addr;
use tlslens_core::flows::tcp::StreamEvent;
use tlslens_core::flows::{CloseReason, FlowEvent, FlowSink};

/// A new TCP flow: `client_side` 0 or 1 when its first frame was a SYN or SYN/ACK.
#[pyclass(frozen, module = "tlslens._core")]
pub struct FlowOpened {
    #[pyo3(get)]
    flow: u64,
    src_addr: Addr,
    #[pyo3(get)]
    sport: u16,
    dst_addr: Addr,
    #[pyo3(get)]
    dport: u16,
    #[pyo3(get)]
    frame: u64,
    #[pyo3(get)]
    ts_ns: i128,
    #[pyo3(get)]
    client_side: Option<u8>,
    #[pyo3(get)]
    mid_stream: bool,
    /// Decryption Secrets Blocks read so far.
    #[pyo3(get)]
    secrets: usize,
}

#[pymethods]
impl FlowOpened {
    #[getter]
    fn src<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.src_addr.as_bytes())
    }

    #[getter]
    fn dst<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.dst_addr.as_bytes())
    }
}

/// Reassembled bytes of one side at `offset` within that direction.
#[pyclass(frozen, module = "tlslens._core", get_all)]
pub struct FlowData {
    flow: u64,
    side: u8,
    offset: u64,
    data: Py<PyBytes>,
    frame: u64,
    ts_ns: i128,
}

/// Bytes the capture lacks: a hole given up on.
#[pyclass(frozen, module = "tlslens._core", get_all)]
pub struct FlowGap {
    flow: u64,
    side: u8,
    offset: u64,
    length: u64,
    frame: u64,
    ts_ns: i128,
}

/// A later copy of bytes already taken differs from them (the first copy is kept).
#[pyclass(frozen, module = "tlslens._core", get_all)]
pub struct FlowConflict {
    flow: u64,
    side: u8,
    offset: u64,
    length: u64,
    frame: u64,
    ts_ns: i128,
}

/// A FIN or RST from `side`.
#[pyclass(frozen, module = "tlslens._core", get_all)]
pub struct FlowClosing {
    flow: u64,
    side: u8,
    frame: u64,
    ts_ns: i128,
}

/// About to be closed early at `frame`: more than `max_connections` were open.
#[pyclass(frozen, module = "tlslens._core", get_all)]
pub struct FlowEvicted {
    flow: u64,
    frame: u64,
}

/// The flow ended: `frame`, `ts_ns` are its session's last; `by` "fin", "rst" or None.
#[pyclass(frozen, module = "tlslens._core", get_all)]
pub struct FlowClosed {
    flow: u64,
    frame: u64,
    ts_ns: i128,
    by: Option<&'static str>,
    syn_ts_ns: Option<i128>,
    synack_ts_ns: Option<i128>,
}

/// The flow's connection is next in first-packet order (`late`: after later ones).
#[pyclass(frozen, module = "tlslens._core", get_all)]
pub struct FlowHandOut {
    flow: u64,
    late: bool,
}

/// An event kept until the GIL is taken again: stream data as a range of the arena.
pub enum Kept {
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
    Closing(FlowClosing),
    Evicted(FlowEvicted),
    Closed(FlowClosed),
    HandOut(FlowHandOut),
}

#[derive(Default)]
pub struct Collector {
    pub events: Vec<Kept>,
    pub arena: Vec<u8>,
    /// Decryption Secrets Blocks read so far, told with each new flow.
    pub secrets: usize,
}

impl Collector {
    fn stream(
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
}

impl FlowSink for Collector {
    fn event(&mut self, event: FlowEvent<'_>) {
        let kept = match event {
            FlowEvent::Opened(o) => Kept::Opened(FlowOpened {
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
            }),
            FlowEvent::Stream {
                flow,
                side,
                event,
                frame,
                ts_ns,
            } => self.stream(flow, side, event, frame, ts_ns),
            FlowEvent::Closing {
                flow,
                side,
                frame,
                ts_ns,
            } => Kept::Closing(FlowClosing {
                flow,
                side,
                frame,
                ts_ns,
            }),
            FlowEvent::Evicted { flow, frame } => Kept::Evicted(FlowEvicted { flow, frame }),
            FlowEvent::Closed {
                flow,
                frame,
                ts_ns,
                by,
                syn_ts_ns,
                synack_ts_ns,
            } => Kept::Closed(FlowClosed {
                flow,
                frame,
                ts_ns,
                by: by.map(|by| match by {
                    CloseReason::Fin => "fin",
                    CloseReason::Rst => "rst",
                }),
                syn_ts_ns,
                synack_ts_ns,
            }),
            FlowEvent::HandOut { flow, late } => Kept::HandOut(FlowHandOut { flow, late }),
        };
        self.events.push(kept);
    }
}

pub fn to_python(py: Python<'_>, kept: Kept, arena: &[u8]) -> PyResult<PyObject> {
    Ok(match kept {
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
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<FlowOpened>()?;
    m.add_class::<FlowData>()?;
    m.add_class::<FlowGap>()?;
    m.add_class::<FlowConflict>()?;
    m.add_class::<FlowClosing>()?;
    m.add_class::<FlowEvicted>()?;
    m.add_class::<FlowClosed>()?;
    m.add_class::<FlowHandOut>()?;
    Ok(())
}
