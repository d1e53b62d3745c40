//! The record layer's boundary: `tlslens._core.RecordReader` and the detection functions.
//!
//! Strategy: sans-IO, one call per segment, never per record: `feed` hands over one
//! direction's next bytes and returns every event they complete, as one frozen class per
//! kind. The capture path and the live clients (`connect`, `scan`) use this same reader. A
//! panic in it is a bug: it is caught here and raised as a `RuntimeError`, which the
//! session reports as an internal error of that connection (not a traceback).

use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyList};
use tlslens_core::records::{self, detect, RecordEvent};

/// Segments at least this long are walked with the GIL released (shorter ones cost less
/// than releasing it).
const RELEASE_GIL_FROM: usize = 1 << 14;

/// A whole record: its header fields and its body (still protected, if it was).
#[pyclass(frozen, module = "tlslens._core", get_all)]
pub struct Record {
    content_type: u8,
    version: u16,
    /// Stream offset of the 5-byte header.
    offset: u64,
    body: Py<PyBytes>,
}

/// An application data record whose body was skipped, as asked.
#[pyclass(frozen, eq, module = "tlslens._core", get_all)]
#[derive(PartialEq, Eq, Debug)]
pub struct SkippedRecord {
    content_type: u8,
    version: u16,
    offset: u64,
    length: usize,
}

/// Bytes where a header should be that cannot be one; the reader resynchronises.
#[pyclass(frozen, eq, module = "tlslens._core", get_all)]
#[derive(PartialEq, Eq, Debug)]
pub struct BadHeader {
    offset: u64,
    message: String,
}

/// A plausible header found after a hole or a bad header; records follow from here.
#[pyclass(frozen, eq, module = "tlslens._core", get_all)]
#[derive(PartialEq, Eq, Debug)]
pub struct Resynchronised {
    offset: u64,
    /// Bytes passed over in this search window to find it.
    skipped: usize,
    /// The first bytes at `offset`, enough to tell which side sent them.
    head: Vec<u8>,
}

/// At the end of the stream: a record that never completed.
#[pyclass(frozen, eq, module = "tlslens._core", get_all)]
#[derive(PartialEq, Eq, Debug)]
pub struct Truncated {
    offset: u64,
    present: usize,
    needed: usize,
}

#[pymethods]
impl Record {
    #[new]
    fn new(content_type: u8, version: u16, offset: u64, body: Py<PyBytes>) -> Self {
        Record {
            content_type,
            version,
            offset,
            body,
        }
    }

    fn __eq__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> bool {
        let Ok(other) = other.downcast::<Record>() else {
            return false;
        };
        let other = other.get();
        (self.content_type, self.version, self.offset)
            == (other.content_type, other.version, other.offset)
            && self.body.as_bytes(py) == other.body.as_bytes(py)
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "Record(content_type={}, version={:#06x}, offset={}, body=<{} bytes>)",
            self.content_type,
            self.version,
            self.offset,
            self.body.as_bytes(py).len()
        )
    }
}

#[pymethods]
impl SkippedRecord {
    #[new]
    fn new(content_type: u8, version: u16, offset: u64, length: usize) -> Self {
        SkippedRecord {
            content_type,
            version,
            offset,
            length,
        }
    }

    fn __repr__(&self) -> String {
        format!("{self:?}")
    }
}

#[pymethods]
impl BadHeader {
    fn __repr__(&self) -> String {
        format!("{self:?}")
    }
}

#[pymethods]
impl Resynchronised {
    #[new]
    fn new(offset: u64, skipped: usize, head: Vec<u8>) -> Self {
        Resynchronised {
            offset,
            skipped,
            head,
        }
    }

    fn __repr__(&self) -> String {
        format!("{self:?}")
    }
}

#[pymethods]
impl Truncated {
    #[new]
    fn new(offset: u64, present: usize, needed: usize) -> Self {
        Truncated {
            offset,
            present,
            needed,
        }
    }

    fn __repr__(&self) -> String {
        format!("{self:?}")
    }
}

/// One direction's record layer, sans-IO. Raises nothing on bad input: it becomes an event.
#[pyclass(module = "tlslens._core")]
pub struct RecordReader {
    reader: records::RecordReader,
    out: Vec<RecordEvent>,
}

#[pymethods]
impl RecordReader {
    #[new]
    #[pyo3(signature = (*, skip_application_data=true, resync_at=None))]
    fn new(skip_application_data: bool, resync_at: Option<u64>) -> Self {
        RecordReader {
            reader: records::RecordReader::new(skip_application_data, resync_at),
            out: Vec::new(),
        }
    }

    /// The direction's next bytes (bytes, bytearray or memoryview), which start at stream
    /// `offset`: every event they complete, in order.
    fn feed(
        &mut self,
        py: Python<'_>,
        offset: u64,
        data: &Bound<'_, PyAny>,
    ) -> PyResult<Py<PyList>> {
        let data = if let Ok(bytes) = data.downcast::<PyBytes>() {
            bytes.clone()
        } else if let Ok(array) = data.downcast::<PyByteArray>() {
            PyBytes::new(py, &array.to_vec())
        } else {
            py.get_type::<PyBytes>()
                .call1((data,))?
                .downcast_into::<PyBytes>()?
        };
        let bytes = data.as_bytes();
        let (reader, out) = (&mut self.reader, &mut self.out);
        let mut work = move || catch_unwind(AssertUnwindSafe(|| reader.feed(offset, bytes, out)));
        let walked = if bytes.len() >= RELEASE_GIL_FROM {
            py.allow_threads(work)
        } else {
            work()
        };
        self.hand_over(py, walked)
    }

    /// `length` bytes at `offset` are missing. True when the hole falls inside a skipped
    /// application data body (nothing is lost); otherwise the reader resynchronises.
    fn gap(&mut self, offset: u64, length: u64) -> bool {
        self.reader.gap(offset, length)
    }

    /// The stream ended: the last events (a last try after a hole, or `Truncated`).
    fn finish(&mut self, py: Python<'_>) -> PyResult<Py<PyList>> {
        let (reader, out) = (&mut self.reader, &mut self.out);
        let walked = catch_unwind(AssertUnwindSafe(|| reader.finish(out)));
        self.hand_over(py, walked)
    }

    /// Stream bytes taken as record data (a resync's skipped bytes are not).
    #[getter]
    fn bytes(&self) -> u64 {
        self.reader.bytes
    }

    /// Records framed.
    #[getter]
    fn records(&self) -> u64 {
        self.reader.records
    }

    #[getter]
    fn resynchronising(&self) -> bool {
        self.reader.resynchronising()
    }

    /// Bytes held: an incomplete record or the resync window.
    #[getter]
    fn pending(&self) -> usize {
        self.reader.pending()
    }
}

impl RecordReader {
    fn hand_over(
        &mut self,
        py: Python<'_>,
        walked: std::thread::Result<()>,
    ) -> PyResult<Py<PyList>> {
        if let Err(panic) = walked {
            self.out.clear();
            let what = super::flows::panic_text(panic.as_ref());
            return Err(PyRuntimeError::new_err(format!(
                "internal error in the record layer ({what})"
            )));
        }
        let events = PyList::empty(py);
        for event in self.out.drain(..) {
            events.append(to_python(py, event)?)?;
        }
        Ok(events.unbind())
    }
}

fn to_python(py: Python<'_>, event: RecordEvent) -> PyResult<PyObject> {
    Ok(match event {
        RecordEvent::Record {
            content_type,
            version,
            offset,
            body,
        } => Py::new(
            py,
            Record {
                content_type,
                version,
                offset,
                body: PyBytes::new(py, &body).unbind(),
            },
        )?
        .into_any(),
        RecordEvent::Skipped {
            content_type,
            version,
            offset,
            length,
        } => Py::new(
            py,
            SkippedRecord::new(content_type, version, offset, length),
        )?
        .into_any(),
        RecordEvent::BadHeader { offset, message } => {
            Py::new(py, BadHeader { offset, message })?.into_any()
        }
        RecordEvent::Resynchronised {
            offset,
            skipped,
            head,
        } => Py::new(py, Resynchronised::new(offset, skipped, head))?.into_any(),
        RecordEvent::Truncated {
            offset,
            present,
            needed,
        } => Py::new(py, Truncated::new(offset, present, needed))?.into_any(),
    })
}

/// Without a SYN or a hello, the well-known (or lower, privileged) port is the server's:
/// the side that is the client.
#[pyfunction]
fn guess_client_side(port0: u16, port1: u16) -> u8 {
    detect::guess_client_side(port0, port1)
}

/// Which end sends a record that starts at `at`: "client_hello", "server_hello", "other".
#[pyfunction]
fn looks_like(data: &[u8], at: usize) -> &'static str {
    detect::looks_like(data, at).name()
}

/// The record length of an SSLv2-compatible ClientHello (RFC 5246 Appendix E.2).
#[pyfunction]
fn sslv2_client_hello_length(data: &[u8]) -> Option<usize> {
    detect::sslv2_client_hello_length(data)
}

#[pyfunction]
fn is_sslv2_server_hello(data: &[u8]) -> bool {
    detect::is_sslv2_server_hello(data)
}

/// Do at least six bytes look like the first record of a TLS stream?
#[pyfunction]
#[pyo3(signature = (data, *, mid_stream))]
fn plausible_start(data: &[u8], mid_stream: bool) -> bool {
    detect::plausible_start(data, mid_stream)
}

/// Do at least six bytes open a handshake or alert record with a length past what TLS
/// allows?
#[pyfunction]
fn oversized_start(data: &[u8]) -> bool {
    detect::oversized_start(data)
}

/// In plaintext, the first record that opens TLS from this side: (index, looks_like).
#[pyfunction]
#[pyo3(signature = (window, *, from_client))]
fn find_tls_start(window: &[u8], from_client: bool) -> Option<(usize, &'static str)> {
    detect::find_tls_start(window, from_client).map(|(at, looks)| (at, looks.name()))
}

/// The protocol a plaintext prelude belongs to, from the words it uses.
#[pyfunction]
fn starttls_protocol(head: &[u8]) -> Option<&'static str> {
    detect::starttls_protocol(head)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("MAX_RECORD", records::MAX_RECORD)?;
    m.add("RESYNC_WINDOW", records::RESYNC_WINDOW)?;
    m.add("CT_CHANGE_CIPHER_SPEC", records::CT_CHANGE_CIPHER_SPEC)?;
    m.add("CT_ALERT", records::CT_ALERT)?;
    m.add("CT_HANDSHAKE", records::CT_HANDSHAKE)?;
    m.add("CT_APPLICATION_DATA", records::CT_APPLICATION_DATA)?;
    m.add("CT_HEARTBEAT", records::CT_HEARTBEAT)?;
    m.add_class::<RecordReader>()?;
    m.add_class::<Record>()?;
    m.add_class::<SkippedRecord>()?;
    m.add_class::<BadHeader>()?;
    m.add_class::<Resynchronised>()?;
    m.add_class::<Truncated>()?;
    m.add_function(wrap_pyfunction!(guess_client_side, m)?)?;
    m.add_function(wrap_pyfunction!(looks_like, m)?)?;
    m.add_function(wrap_pyfunction!(sslv2_client_hello_length, m)?)?;
    m.add_function(wrap_pyfunction!(is_sslv2_server_hello, m)?)?;
    m.add_function(wrap_pyfunction!(plausible_start, m)?)?;
    m.add_function(wrap_pyfunction!(oversized_start, m)?)?;
    m.add_function(wrap_pyfunction!(find_tls_start, m)?)?;
    m.add_function(wrap_pyfunction!(starttls_protocol, m)?)?;
    Ok(())
}
