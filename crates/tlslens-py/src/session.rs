//! The session's boundary: `tlslens._core.Session`, one connection's mode machine, and its
//! record-level events, one frozen class per kind.
//!
//! Strategy: sans-IO, bytes of one direction in, record-level events out. The capture path,
//! `connect` and `scan`'s probe all read a connection through it. A panic inside is a bug:
//! it is caught here and raised as a `RuntimeError`, which the Python session reports as
//! an internal error of that connection (not a traceback).

use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};
use pyo3::PyClassInitializer;
use tlslens_core::flows::tcp::GiveUp;
use tlslens_core::records::{self, RecordEvent, Session as CoreSession, SessionEvent};

/// The connection's first TLS bytes came from `side`; `client_side` is now decided.
#[pyclass(frozen, module = "tlslens._core", get_all)]
pub struct TlsStarted {
    pub(crate) side: u8,
    pub(crate) client_side: u8,
}

/// Plaintext before TLS (a STARTTLS prelude); `protocol` once the kept prelude names one.
#[pyclass(frozen, module = "tlslens._core", get_all)]
pub struct PreludeChunk {
    side: u8,
    from_client: bool,
    offset: u64,
    data: Py<PyBytes>,
    protocol: Option<&'static str>,
}

/// A whole TLS record: header fields and body (still protected, if it was).
#[pyclass(frozen, module = "tlslens._core", get_all)]
pub struct TlsRecord {
    pub(crate) side: u8,
    pub(crate) offset: u64,
    pub(crate) content_type: u8,
    pub(crate) version: u16,
    pub(crate) body: Py<PyBytes>,
}

/// An application data record whose body was skipped (nothing decrypts it).
#[pyclass(frozen, module = "tlslens._core", get_all)]
pub struct SkippedBody {
    pub(crate) side: u8,
    pub(crate) offset: u64,
    pub(crate) content_type: u8,
    pub(crate) version: u16,
    pub(crate) length: usize,
}

/// Bytes where a record header should be that cannot be one.
#[pyclass(frozen, module = "tlslens._core", get_all)]
pub struct RecordBadHeader {
    side: u8,
    offset: u64,
    message: String,
}

/// A plausible record header found after a hole or a bad header.
#[pyclass(frozen, module = "tlslens._core", get_all)]
pub struct RecordResync {
    side: u8,
    offset: u64,
    skipped: usize,
}

/// At the end of the stream: a record that never completed.
#[pyclass(frozen, module = "tlslens._core", get_all)]
pub struct RecordTruncated {
    side: u8,
    offset: u64,
    present: usize,
    needed: usize,
}

/// An SSLv2-compatible ClientHello record, header included.
#[pyclass(frozen, module = "tlslens._core", get_all)]
pub struct Sslv2ClientHello {
    pub(crate) side: u8,
    pub(crate) offset: u64,
    pub(crate) record: Py<PyBytes>,
}

/// An SSLv2 SERVER-HELLO follows: both directions speak SSL 2.0 from here.
#[pyclass(frozen, module = "tlslens._core", get_all)]
pub struct Sslv2ServerHello {
    side: u8,
}

/// One SSL 2.0 record's body; `size`: the record with its header.
#[pyclass(frozen, module = "tlslens._core", get_all)]
pub struct Sslv2Record {
    side: u8,
    offset: u64,
    size: usize,
    body: Py<PyBytes>,
}

/// Bytes missing from the capture; `lost`: records were being read (the reader
/// resynchronises), not a hole inside a skipped body; `given_up`: or not yet come when
/// tlslens stopped waiting for them (flows/tcp.rs `GiveUp`).
#[pyclass(frozen, module = "tlslens._core")]
pub struct StreamGap {
    #[pyo3(get)]
    pub(crate) side: u8,
    #[pyo3(get)]
    pub(crate) offset: u64,
    #[pyo3(get)]
    pub(crate) length: u64,
    #[pyo3(get)]
    pub(crate) lost: bool,
    pub(crate) given_up: Option<GiveUp>,
}

/// Why tlslens stopped waiting for bytes beyond a hole, as a clause ("the out-of-order data
/// after them filled --max-buffer"), for the bound a gap's `given_up` names: the words the
/// core's own reasons use (decrypt/lack.rs).
#[pyfunction]
pub fn give_up_reason(given_up: &str) -> PyResult<String> {
    GiveUp::named(given_up)
        .map(GiveUp::because)
        .ok_or_else(|| PyValueError::new_err(format!("no bound is named {given_up:?}")))
}

#[pymethods]
impl StreamGap {
    /// The bound that ended tlslens' wait for these bytes: "bytes" (--max-buffer) or
    /// "segments"; None when the capture lacks them.
    #[getter]
    fn given_up(&self) -> Option<&'static str> {
        self.given_up.map(GiveUp::name)
    }
}

/// Bytes of `side` tlslens gave up on at a bound (a `StreamGap` told them; `given_up`:
/// "bytes" or "segments") came after all: the capture holds them, unread.
#[pyclass(frozen, module = "tlslens._core", get_all)]
pub struct StreamLate {
    side: u8,
    offset: u64,
    length: u64,
    given_up: &'static str,
}

/// The first later TCP copy of `side`'s bytes that differs from the first.
#[pyclass(frozen, module = "tlslens._core", get_all)]
pub struct StreamConflict {
    side: u8,
    offset: u64,
    length: u64,
}

/// The other end opened TLS and this side answered in text: its first line.
#[pyclass(frozen, module = "tlslens._core", get_all)]
pub struct PlaintextAnswer {
    side: u8,
    offset: u64,
    line: Py<PyBytes>,
}

/// At the end of a TLS connection, per side: the record layer's totals and the count of
/// conflicting TCP copies.
#[pyclass(frozen, module = "tlslens._core", get_all)]
pub struct SideEnd {
    pub(crate) side: u8,
    pub(crate) bytes: u64,
    pub(crate) records: u64,
    pub(crate) conflicts: u64,
}

/// `value` as a new Python object of its class.
fn object<T: pyo3::PyClass>(py: Python<'_>, value: T) -> PyResult<PyObject>
where
    PyClassInitializer<T>: From<T>,
{
    Ok(Py::new(py, value)?.into_any())
}

pub fn event_to_python(py: Python<'_>, event: SessionEvent) -> PyResult<PyObject> {
    let bytes = |data: &[u8]| PyBytes::new(py, data).unbind();
    match event {
        SessionEvent::Started { side, client_side } => object(py, TlsStarted { side, client_side }),
        SessionEvent::Prelude {
            side,
            from_client,
            offset,
            data,
            protocol,
        } => {
            let data = bytes(&data);
            object(
                py,
                PreludeChunk {
                    side,
                    from_client,
                    offset,
                    data,
                    protocol,
                },
            )
        }
        SessionEvent::Record { side, event } => record_to_python(py, side, event),
        event @ (SessionEvent::Sslv2ClientHello { .. }
        | SessionEvent::Sslv2ServerHello { .. }
        | SessionEvent::Sslv2Record { .. }) => sslv2_to_python(py, event),
        SessionEvent::Gap {
            side,
            offset,
            length,
            lost,
            given_up,
        } => object(
            py,
            StreamGap {
                side,
                offset,
                length,
                lost,
                given_up,
            },
        ),
        SessionEvent::Conflict {
            side,
            offset,
            length,
        } => object(
            py,
            StreamConflict {
                side,
                offset,
                length,
            },
        ),
        SessionEvent::Late {
            side,
            offset,
            length,
            given_up,
        } => object(
            py,
            StreamLate {
                side,
                offset,
                length,
                given_up: given_up.name(),
            },
        ),
        SessionEvent::PlaintextAnswer { side, offset, line } => {
            let line = bytes(&line);
            object(py, PlaintextAnswer { side, offset, line })
        }
        SessionEvent::End {
            side,
            bytes,
            records,
            conflicts,
        } => object(
            py,
            SideEnd {
                side,
                bytes,
                records,
                conflicts,
            },
        ),
    }
}

/// An SSL 2.0 event of the session (`event_to_python` hands over only those).
fn sslv2_to_python(py: Python<'_>, event: SessionEvent) -> PyResult<PyObject> {
    let bytes = |data: &[u8]| PyBytes::new(py, data).unbind();
    match event {
        SessionEvent::Sslv2ClientHello {
            side,
            offset,
            record,
        } => {
            let record = bytes(&record);
            object(
                py,
                Sslv2ClientHello {
                    side,
                    offset,
                    record,
                },
            )
        }
        SessionEvent::Sslv2ServerHello { side } => object(py, Sslv2ServerHello { side }),
        SessionEvent::Sslv2Record {
            side,
            offset,
            size,
            body,
        } => {
            let body = bytes(&body);
            object(
                py,
                Sslv2Record {
                    side,
                    offset,
                    size,
                    body,
                },
            )
        }
        other => Err(PyRuntimeError::new_err(format!(
            "internal error: not an SSL 2.0 session event: {other:?}"
        ))),
    }
}

fn record_to_python(py: Python<'_>, side: u8, event: RecordEvent) -> PyResult<PyObject> {
    Ok(match event {
        RecordEvent::Record {
            content_type,
            version,
            offset,
            body,
        } => Py::new(
            py,
            TlsRecord {
                side,
                offset,
                content_type,
                version,
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
            SkippedBody {
                side,
                offset,
                content_type,
                version,
                length,
            },
        )?
        .into_any(),
        RecordEvent::BadHeader { offset, message } => Py::new(
            py,
            RecordBadHeader {
                side,
                offset,
                message,
            },
        )?
        .into_any(),
        RecordEvent::Resynchronised {
            offset, skipped, ..
        } => Py::new(
            py,
            RecordResync {
                side,
                offset,
                skipped,
            },
        )?
        .into_any(),
        RecordEvent::Truncated {
            offset,
            present,
            needed,
        } => Py::new(
            py,
            RecordTruncated {
                side,
                offset,
                present,
                needed,
            },
        )?
        .into_any(),
    })
}

/// One connection's mode machine, sans-IO: stream events in, record-level events out.
#[pyclass(module = "tlslens._core")]
pub struct Session {
    session: CoreSession,
    out: Vec<SessionEvent>,
}

#[pymethods]
impl Session {
    /// `client_side`: 0 or 1 when a SYN said so; `ports`: side 0's and side 1's;
    /// `skip_application_data`: nothing will decrypt it (its bodies are not copied).
    #[new]
    #[pyo3(signature = (*, client_side, mid_stream, ports, skip_application_data))]
    fn new(
        client_side: Option<u8>,
        mid_stream: bool,
        ports: (u16, u16),
        skip_application_data: bool,
    ) -> Self {
        Session {
            session: CoreSession::new(
                client_side,
                mid_stream,
                [ports.0, ports.1],
                skip_application_data,
            ),
            out: Vec::new(),
        }
    }

    /// The next bytes of `side` at stream `offset`: the events they complete.
    fn data(&mut self, py: Python<'_>, side: u8, offset: u64, data: &[u8]) -> PyResult<Py<PyList>> {
        self.run(py, |session, out| session.data(side, offset, data, out))
    }

    /// `length` bytes of `side` at `offset` are missing.
    fn gap(&mut self, py: Python<'_>, side: u8, offset: u64, length: u64) -> PyResult<Py<PyList>> {
        self.run(py, |session, out| {
            session.gap(side, (offset, length), None, out)
        })
    }

    /// A later TCP copy of `side`'s bytes differs from the first.
    fn conflict(
        &mut self,
        py: Python<'_>,
        side: u8,
        offset: u64,
        length: u64,
    ) -> PyResult<Py<PyList>> {
        self.run(py, |session, out| {
            session.conflict(side, offset, length, out)
        })
    }

    /// The connection ended.
    fn finish(&mut self, py: Python<'_>) -> PyResult<Py<PyList>> {
        self.run(py, CoreSession::finish)
    }

    /// Stop reading (after a bug): bytes are only counted from now on.
    fn abandon(&mut self) {
        self.session.abandon();
    }

    /// Whether more data on `side` could still make the session give its flow up.
    fn may_give_up(&self, side: u8) -> bool {
        self.session.may_give_up(side)
    }

    /// Not TLS: the flow can be let go.
    #[getter]
    fn ignored(&self) -> bool {
        self.session.ignored()
    }
}

impl Session {
    fn run(
        &mut self,
        py: Python<'_>,
        work: impl FnOnce(&mut CoreSession, &mut Vec<SessionEvent>),
    ) -> PyResult<Py<PyList>> {
        let (session, out) = (&mut self.session, &mut self.out);
        let walked = catch_unwind(AssertUnwindSafe(|| work(session, out)));
        let events = PyList::empty(py);
        let kept = std::mem::take(&mut self.out);
        if let Err(panic) = walked {
            return Err(PyRuntimeError::new_err(format!(
                "the session panicked ({})",
                super::flows::panic_text(panic.as_ref())
            )));
        }
        for event in kept {
            events.append(event_to_python(py, event)?)?;
        }
        Ok(events.unbind())
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // The record layer's constants, which content decoding and the scanner's probe share.
    m.add("MAX_RECORD", records::MAX_RECORD)?;
    m.add("CT_CHANGE_CIPHER_SPEC", records::CT_CHANGE_CIPHER_SPEC)?;
    m.add("CT_ALERT", records::CT_ALERT)?;
    m.add("CT_HANDSHAKE", records::CT_HANDSHAKE)?;
    m.add("CT_APPLICATION_DATA", records::CT_APPLICATION_DATA)?;
    m.add("CT_HEARTBEAT", records::CT_HEARTBEAT)?;
    m.add_class::<Session>()?;
    m.add_class::<TlsStarted>()?;
    m.add_class::<PreludeChunk>()?;
    m.add_class::<TlsRecord>()?;
    m.add_class::<SkippedBody>()?;
    m.add_class::<RecordBadHeader>()?;
    m.add_class::<RecordResync>()?;
    m.add_class::<RecordTruncated>()?;
    m.add_class::<Sslv2ClientHello>()?;
    m.add_class::<Sslv2ServerHello>()?;
    m.add_class::<Sslv2Record>()?;
    m.add_class::<StreamGap>()?;
    m.add_function(wrap_pyfunction!(give_up_reason, m)?)?;
    m.add_class::<StreamConflict>()?;
    m.add_class::<StreamLate>()?;
    m.add_class::<PlaintextAnswer>()?;
    m.add_class::<SideEnd>()?;
    m.add("MAX_PRELUDE_SCAN", records::session::MAX_PRELUDE_SCAN)?;
    Ok(())
}
