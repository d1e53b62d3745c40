//! The flow table's events as Python sees them: one frozen class per kind. The walk runs
//! with the GIL released, so it keeps these classes as plain Rust values (stream data as a
//! range of one arena) and they become Python objects once per batch.
//!
//! With sessions (the capture path), each flow's stream goes through its core session here,
//! inside the walk: Python gets record-level events (`SessionEvents`), never stream bytes.
//! Without (`FlowCore(sessions=False)`), the reassembled bytes themselves (`FlowData`...).

use std::sync::Arc;

use pyo3::prelude::*;

use crate::endpoint::{self, Endpoint};
use pyo3::types::{PyBytes, PyList};
use tlslens_core::flows::packet::Addr;
use tlslens_core::flows::{Eviction, Opened};

use super::decrypt::{Decryptor, FlowDecryption};
use super::ns::Ns;

mod collector;
mod open;
use collector::close_name;
pub use collector::{Collector, Kept};
pub(crate) use open::owned_cost;
pub use open::Open;

/// A new TCP flow: `client_side` 0 or 1 when its first frame was a SYN or SYN/ACK. With
/// sessions, told lazily: right before the flow's first event Python reads (see `Open`).
#[pyclass(frozen, module = "tlslens._core")]
pub struct FlowOpened {
    #[pyo3(get)]
    pub(crate) flow: u64,
    pub(crate) src_addr: Addr,
    #[pyo3(get)]
    pub(crate) sport: u16,
    pub(crate) dst_addr: Addr,
    #[pyo3(get)]
    pub(crate) dport: u16,
    #[pyo3(get)]
    pub(crate) frame: u64,
    #[pyo3(get)]
    pub(crate) ts_ns: Ns,
    #[pyo3(get)]
    pub(crate) client_side: Option<u8>,
    #[pyo3(get)]
    pub(crate) mid_stream: bool,
    /// Decryption Secrets Blocks read when the flow opened.
    #[pyo3(get)]
    pub(crate) secrets: usize,
    /// With the content layer in the walk: the flow's decryption, when it has one.
    pub(crate) decryption: Option<Arc<FlowDecryption>>,
}

impl FlowOpened {
    /// How `o` opened, once `secrets` Decryption Secrets Blocks were read (no decryptor yet).
    pub(crate) fn new(o: &Opened, secrets: usize) -> FlowOpened {
        FlowOpened {
            flow: o.flow,
            src_addr: o.src,
            sport: o.sport,
            dst_addr: o.dst,
            dport: o.dport,
            frame: o.frame,
            ts_ns: Ns(o.ts_ns),
            client_side: o.client_side,
            mid_stream: o.mid_stream,
            secrets,
            decryption: None,
        }
    }
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

    /// The flow's two ends, its first sender's first: shared objects (endpoint.rs).
    #[getter]
    fn ends(&self, py: Python<'_>) -> PyResult<(Py<Endpoint>, Py<Endpoint>)> {
        Ok((
            endpoint::shared(py, self.src_addr.as_bytes(), self.sport)?,
            endpoint::shared(py, self.dst_addr.as_bytes(), self.dport)?,
        ))
    }

    /// The flow's `Decryptor`, when it has one (the walk feeds it).
    #[getter]
    fn decryptor(&self) -> Option<Decryptor> {
        self.decryption.clone().map(Decryptor)
    }
}

/// Reassembled bytes of one side at `offset` within that direction, read at `frame`: the
/// frame that carried them, or, for bytes that waited beyond a hole, the frame that filled
/// it (a hole given up: their own).
#[pyclass(frozen, module = "tlslens._core", get_all)]
pub struct FlowData {
    pub(crate) flow: u64,
    pub(crate) side: u8,
    pub(crate) offset: u64,
    pub(crate) data: Py<PyBytes>,
    pub(crate) frame: u64,
    pub(crate) ts_ns: Ns,
}

/// Bytes the capture lacks: a hole given up on, told at the frame of the bytes after it;
/// `given_up`: the bound that ended tlslens' wait for them ("bytes": --max-buffer, or
/// "segments"), None when the capture lacks them (flows/tcp.rs `GiveUp`).
#[pyclass(frozen, module = "tlslens._core", get_all)]
pub struct FlowGap {
    pub(crate) flow: u64,
    pub(crate) side: u8,
    pub(crate) offset: u64,
    pub(crate) length: u64,
    pub(crate) given_up: Option<&'static str>,
    pub(crate) frame: u64,
    pub(crate) ts_ns: Ns,
}

/// A later copy of bytes already taken differs from them (the first copy is kept).
#[pyclass(frozen, module = "tlslens._core", get_all)]
pub struct FlowConflict {
    pub(crate) flow: u64,
    pub(crate) side: u8,
    pub(crate) offset: u64,
    pub(crate) length: u64,
    pub(crate) frame: u64,
    pub(crate) ts_ns: Ns,
}

/// Bytes of a hole given up at a bound (a `FlowGap` with `given_up` told them) came after
/// all, in `frame`: the capture holds them, tlslens did not wait for them.
#[pyclass(frozen, module = "tlslens._core", get_all)]
pub struct FlowLate {
    pub(crate) flow: u64,
    pub(crate) side: u8,
    pub(crate) offset: u64,
    pub(crate) length: u64,
    pub(crate) given_up: &'static str,
    pub(crate) frame: u64,
    pub(crate) ts_ns: Ns,
}

/// A FIN or RST from `side`, told so by a table without sessions only: with them, the
/// first after the flow's session began TLS comes with its end (`FlowClosed::closing`).
#[pyclass(frozen, module = "tlslens._core", get_all)]
pub struct FlowClosing {
    flow: u64,
    side: u8,
    frame: u64,
    ts_ns: Ns,
}

/// Closed early at `frame`, the oldest of the `open` flows (itself included): more than
/// `max_connections` were open (`why` "connections"), or the open flows held more than
/// `max_held` ("held"). Told right before the flow's end (`FlowClosed`), after what its
/// closing handed on.
#[pyclass(frozen, module = "tlslens._core", get_all)]
pub struct FlowEvicted {
    flow: u64,
    frame: u64,
    why: &'static str,
    open: usize,
}

impl FlowEvicted {
    fn new(flow: u64, frame: u64, why: Eviction, open: usize) -> Self {
        let why = match why {
            Eviction::Connections => "connections",
            Eviction::Held => "held",
        };
        FlowEvicted {
            flow,
            frame,
            why,
            open,
        }
    }
}

/// The flow ended: `frame`, `ts_ns` are its session's last; `by` "fin", "rst" or None.
#[pyclass(frozen, module = "tlslens._core", get_all)]
pub struct FlowClosed {
    flow: u64,
    frame: u64,
    ts_ns: Ns,
    by: Option<&'static str>,
    syn_ts_ns: Option<Ns>,
    synack_ts_ns: Option<Ns>,
    /// With the content layer in the walk: a handshake after the first was seen.
    renegotiation: bool,
    /// ... the server resumed a session (ServerHello to ChangeCipherSpec).
    abbreviated: bool,
    /// ... a TLS 1.3 ServerHello was read.
    tls13_encrypted: bool,
    /// ... per side: (application data records, their bytes, gaps, bytes missing).
    counts: [(u64, u64, u64, u64); 2],
    /// With sessions: the first FIN or RST after the flow's session began TLS, as (side,
    /// frame, time); such a flow's closings are told here, not as `FlowClosing`s.
    closing: Option<(u8, u64, Ns)>,
}

/// The flow's connection is next in first-packet order (`late`: after later ones, which
/// were more than the reorder window or, `held`, held more than `max_held`).
#[pyclass(frozen, module = "tlslens._core", get_all)]
pub struct FlowHandOut {
    flow: u64,
    late: bool,
    held: bool,
}

/// What one stream event of a flow made its session say (record-level events, in order),
/// at `frame`; the connection's last ones come before its `FlowClosed`. With the content
/// layer in the walk, its records are read: content events instead, the rest as before.
#[pyclass(frozen, module = "tlslens._core", get_all)]
pub struct SessionEvents {
    pub(crate) flow: u64,
    pub(crate) frame: u64,
    pub(crate) ts_ns: Ns,
    pub(crate) events: Py<PyList>,
}

/// The flow's session gave it up (not TLS, after a megabyte of plaintext): let go.
#[pyclass(frozen, module = "tlslens._core", get_all)]
pub struct FlowIgnored {
    flow: u64,
}

/// A flow's session panicked (a bug): it only counts bytes from here.
#[pyclass(frozen, module = "tlslens._core", get_all)]
pub struct SessionFailed {
    flow: u64,
    frame: u64,
    ts_ns: Ns,
    message: String,
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<FlowOpened>()?;
    m.add_class::<FlowData>()?;
    m.add_class::<FlowGap>()?;
    m.add_class::<FlowConflict>()?;
    m.add_class::<FlowLate>()?;
    m.add_class::<FlowClosing>()?;
    m.add_class::<FlowEvicted>()?;
    m.add_class::<FlowClosed>()?;
    m.add_class::<FlowHandOut>()?;
    m.add_class::<SessionEvents>()?;
    m.add_class::<SessionFailed>()?;
    m.add_class::<FlowIgnored>()?;
    super::udp_events::register(m)?;
    super::quic_events::register(m)?;
    Ok(())
}
