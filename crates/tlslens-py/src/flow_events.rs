//! The flow table's events as Python sees them: one frozen class per kind, made once per
//! batch from what the walk kept while the GIL was released.

use pyo3::prelude::*;
use pyo3::types::PyBytes;
use tlslens_core::flows::{CloseReason, FlowEvent, FlowSink, Opened};

/// A new TCP flow: `client_side` 0 or 1 when its first frame was a SYN or SYN/ACK.
#[pyclass(frozen, module = "tlslens._core", get_all)]
pub struct FlowOpened {
    flow: u64,
    src: Py<PyBytes>,
    sport: u16,
    dst: Py<PyBytes>,
    dport: u16,
    frame: u64,
    ts_ns: i128,
    client_side: Option<u8>,
    mid_stream: bool,
    /// Decryption Secrets Blocks read so far.
    secrets: usize,
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

/// An event kept until the GIL is taken again: data as a range of the arena.
pub enum Kept {
    Opened(Opened, usize),
    Data {
        flow: u64,
        side: u8,
        offset: u64,
        start: usize,
        end: usize,
        frame: u64,
        ts_ns: i128,
    },
    Gap {
        flow: u64,
        side: u8,
        offset: u64,
        length: u64,
        frame: u64,
        ts_ns: i128,
    },
    Conflict {
        flow: u64,
        side: u8,
        offset: u64,
        length: u64,
        frame: u64,
        ts_ns: i128,
    },
    Closing {
        flow: u64,
        side: u8,
        frame: u64,
        ts_ns: i128,
    },
    Evicted {
        flow: u64,
        frame: u64,
    },
    Closed {
        flow: u64,
        frame: u64,
        ts_ns: i128,
        by: Option<CloseReason>,
        syn: Option<i128>,
        synack: Option<i128>,
    },
    HandOut {
        flow: u64,
        late: bool,
    },
}

#[derive(Default)]
pub struct Collector {
    pub events: Vec<Kept>,
    pub arena: Vec<u8>,
    /// Decryption Secrets Blocks read so far, told with each new flow.
    pub secrets: usize,
}

impl FlowSink for Collector {
    fn event(&mut self, event: FlowEvent<'_>) {
        self.events.push(match event {
            FlowEvent::Opened(opened) => Kept::Opened(opened, self.secrets),
            FlowEvent::Data {
                flow,
                side,
                offset,
                data,
                frame,
                ts_ns,
            } => {
                let start = self.arena.len();
                self.arena.extend_from_slice(data);
                Kept::Data {
                    flow,
                    side,
                    offset,
                    start,
                    end: self.arena.len(),
                    frame,
                    ts_ns,
                }
            }
            FlowEvent::Gap {
                flow,
                side,
                offset,
                length,
                frame,
                ts_ns,
            } => Kept::Gap {
                flow,
                side,
                offset,
                length,
                frame,
                ts_ns,
            },
            FlowEvent::Conflict {
                flow,
                side,
                offset,
                length,
                frame,
                ts_ns,
            } => Kept::Conflict {
                flow,
                side,
                offset,
                length,
                frame,
                ts_ns,
            },
            FlowEvent::Closing {
                flow,
                side,
                frame,
                ts_ns,
            } => Kept::Closing {
                flow,
                side,
                frame,
                ts_ns,
            },
            FlowEvent::Evicted { flow, frame } => Kept::Evicted { flow, frame },
            FlowEvent::Closed {
                flow,
                frame,
                ts_ns,
                by,
                syn_ts_ns,
                synack_ts_ns,
            } => Kept::Closed {
                flow,
                frame,
                ts_ns,
                by,
                syn: syn_ts_ns,
                synack: synack_ts_ns,
            },
            FlowEvent::HandOut { flow, late } => Kept::HandOut { flow, late },
        });
    }
}

pub fn to_python(py: Python<'_>, kept: &Kept, arena: &[u8]) -> PyResult<PyObject> {
    Ok(match *kept {
        Kept::Opened(ref o, secrets) => FlowOpened {
            flow: o.flow,
            src: PyBytes::new(py, o.src.as_bytes()).unbind(),
            sport: o.sport,
            dst: PyBytes::new(py, o.dst.as_bytes()).unbind(),
            dport: o.dport,
            frame: o.frame,
            ts_ns: o.ts_ns,
            client_side: o.client_side,
            mid_stream: o.mid_stream,
            secrets,
        }
        .into_pyobject(py)?
        .into_any()
        .unbind(),
        Kept::Data {
            flow,
            side,
            offset,
            start,
            end,
            frame,
            ts_ns,
        } => FlowData {
            flow,
            side,
            offset,
            data: PyBytes::new(py, arena.get(start..end).unwrap_or_default()).unbind(),
            frame,
            ts_ns,
        }
        .into_pyobject(py)?
        .into_any()
        .unbind(),
        Kept::Gap {
            flow,
            side,
            offset,
            length,
            frame,
            ts_ns,
        } => FlowGap {
            flow,
            side,
            offset,
            length,
            frame,
            ts_ns,
        }
        .into_pyobject(py)?
        .into_any()
        .unbind(),
        Kept::Conflict {
            flow,
            side,
            offset,
            length,
            frame,
            ts_ns,
        } => FlowConflict {
            flow,
            side,
            offset,
            length,
            frame,
            ts_ns,
        }
        .into_pyobject(py)?
        .into_any()
        .unbind(),
        Kept::Closing {
            flow,
            side,
            frame,
            ts_ns,
        } => FlowClosing {
            flow,
            side,
            frame,
            ts_ns,
        }
        .into_pyobject(py)?
        .into_any()
        .unbind(),
        Kept::Evicted { flow, frame } => FlowEvicted { flow, frame }
            .into_pyobject(py)?
            .into_any()
            .unbind(),
        Kept::Closed {
            flow,
            frame,
            ts_ns,
            by,
            syn,
            synack,
        } => FlowClosed {
            flow,
            frame,
            ts_ns,
            by: by.map(|by| match by {
                CloseReason::Fin => "fin",
                CloseReason::Rst => "rst",
            }),
            syn_ts_ns: syn,
            synack_ts_ns: synack,
        }
        .into_pyobject(py)?
        .into_any()
        .unbind(),
        Kept::HandOut { flow, late } => FlowHandOut { flow, late }
            .into_pyobject(py)?
            .into_any()
            .unbind(),
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
