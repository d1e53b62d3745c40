//! The UDP associations' events as Python sees them (QUIC or DTLS, told by their first
//! datagram): opened, one datagram, ended; and a datagram or TCP segment cut by the
//! capture's snap length.

use pyo3::prelude::*;

use crate::endpoint::{self, Endpoint};

use crate::ns::Ns;
use pyo3::types::PyBytes;
use tlslens_core::flows::packet::Addr;
use tlslens_core::flows::udp;

/// A new UDP association; its first datagram's sender is the client (side 0).
#[pyclass(frozen, module = "tlslens._core")]
pub struct UdpOpened {
    #[pyo3(get)]
    flow: u64,
    /// "QUIC" or "DTLS".
    #[pyo3(get)]
    kind: &'static str,
    src_addr: Addr,
    #[pyo3(get)]
    sport: u16,
    dst_addr: Addr,
    #[pyo3(get)]
    dport: u16,
    #[pyo3(get)]
    frame: u64,
    #[pyo3(get)]
    ts_ns: Ns,
}

impl UdpOpened {
    pub fn new(o: &udp::UdpOpened) -> UdpOpened {
        UdpOpened {
            flow: o.flow,
            kind: o.kind.name(),
            src_addr: o.src,
            sport: o.sport,
            dst_addr: o.dst,
            dport: o.dport,
            frame: o.frame,
            ts_ns: Ns(o.ts_ns),
        }
    }
}

#[pymethods]
impl UdpOpened {
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
}

/// One datagram of a UDP association from `side`; `bad_length`: its UDP length disagreed
/// with the IP packet and it was read as far as the packet goes.
#[pyclass(frozen, module = "tlslens._core", get_all)]
pub struct UdpDatagram {
    pub flow: u64,
    pub side: u8,
    pub frame: u64,
    pub ts_ns: Ns,
    pub data: Py<PyBytes>,
    pub bad_length: bool,
    /// What the walk charged it toward `max_held`, for Python to settle (udp_told.rs).
    pub charged: usize,
}

/// A datagram of UDP association `flow`, or a segment of TCP flow `flow`, from `side`,
/// cut by the capture's snap length: the frame held `captured` of its `original` bytes.
/// A datagram is not handed out; a segment's bytes captured are, the rest is a gap.
#[pyclass(frozen, module = "tlslens._core", get_all)]
pub struct FlowCut {
    pub flow: u64,
    pub side: u8,
    pub frame: u64,
    pub ts_ns: Ns,
    pub captured: u64,
    pub original: u64,
}

/// A UDP association ended: `frame`, `ts_ns` are its last datagram's; `end` "idle",
/// "evicted" or "end_of_capture"; datagrams and bytes per side.
#[pyclass(frozen, module = "tlslens._core", get_all)]
pub struct UdpClosed {
    flow: u64,
    kind: &'static str,
    frame: u64,
    ts_ns: Ns,
    first_ts_ns: Ns,
    end: &'static str,
    datagrams: (u64, u64),
    bytes: (u64, u64),
}

impl UdpClosed {
    pub fn new(c: &udp::UdpClosed) -> UdpClosed {
        UdpClosed {
            flow: c.flow,
            kind: c.kind.name(),
            frame: c.frame,
            ts_ns: Ns(c.ts_ns),
            first_ts_ns: Ns(c.first_ts_ns),
            end: c.end.name(),
            datagrams: (c.datagrams[0], c.datagrams[1]),
            bytes: (c.bytes[0], c.bytes[1]),
        }
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<UdpOpened>()?;
    m.add_class::<UdpDatagram>()?;
    m.add_class::<UdpClosed>()?;
    m.add_class::<FlowCut>()?;
    m.add("MAX_UDP_FLOWS", udp::MAX_UDP_FLOWS)?;
    m.add("UNIFIED_IN_A_ROW", udp::UNIFIED_IN_A_ROW)?;
    m.add("UDP_IDLE_TIMEOUT_NS", udp::UDP_IDLE_TIMEOUT_NS)?;
    Ok(())
}
