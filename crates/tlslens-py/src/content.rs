//! The content layer's boundary: `tlslens._core.Content`, one connection's record content
//! in the core, and its events, one frozen class per kind.
//!
//! Strategy: the Python session hands each batch of the core session's events to `take`;
//! records are read here (opened with the connection's decryptor, dispatched, their
//! handshake messages defragmented and parsed) and replaced by content events, the other
//! session events pass through in order. The RSA premaster of a key exchange the key log
//! does not open is asked of Python once per handshake (`rsa`). A panic inside is a bug: it
//! is raised as a `RuntimeError`, which the Python session reports as an internal error of
//! that connection.

use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};
use tlslens_core::content::{Content as CoreContent, ContentEvent, DataRun, Io, MessageRead};
use tlslens_core::decrypt::RsaRequest;
use tlslens_core::handshake::messages;

use crate::decrypt::{suites, Decryptor};
use crate::flows::panic_text;
use crate::handshake::to_python;
use crate::session::{SideEnd, SkippedBody, Sslv2ClientHello, StreamGap, TlsRecord, TlsStarted};

/// One handshake message, whole (`raw`, header included), read with the context negotiated
/// before it (`version`, `kx`, `auth`): `message` its object, or None and `error` why the
/// body does not parse. `signed`: a CertificateVerify's signed input as far as known (TLS
/// 1.3: the transcript hash; before: the handshake messages so far).
#[pyclass(frozen, module = "tlslens._core", get_all)]
pub struct ContentMessage {
    side: u8,
    offset: u64,
    length: usize,
    msg_type: u8,
    raw: Py<PyBytes>,
    decrypted: bool,
    message: Option<PyObject>,
    error: Option<String>,
    version: Option<u16>,
    kx: Option<String>,
    auth: Option<String>,
    signed: Option<Py<PyBytes>>,
}

/// A ChangeCipherSpec record; `encrypted`: sent under the cipher it ends.
#[pyclass(frozen, module = "tlslens._core", get_all)]
pub struct ContentChangeCipherSpec {
    side: u8,
    offset: u64,
    length: usize,
    encrypted: bool,
}

/// One alert; `level` and `description` unless it is encrypted.
#[pyclass(frozen, module = "tlslens._core", get_all)]
pub struct ContentAlert {
    side: u8,
    offset: u64,
    length: usize,
    level: Option<u8>,
    description: Option<u8>,
}

/// A heartbeat record; its type and claimed payload length when readable.
#[pyclass(frozen, module = "tlslens._core", get_all)]
pub struct ContentHeartbeat {
    side: u8,
    offset: u64,
    length: usize,
    encrypted: bool,
    heartbeat_type: Option<u8>,
    payload_length: Option<u16>,
}

/// A run of application data records of one side and `kind` ("application_data",
/// "early_data"); `plaintext`: each decrypted record's bytes, when asked for.
#[pyclass(frozen, module = "tlslens._core", get_all)]
pub struct ContentApplicationData {
    side: u8,
    kind: &'static str,
    offset: u64,
    records: u64,
    length: u64,
    decrypted: bool,
    plaintext: Py<PyList>,
}

/// Handshake bytes that stay encrypted; `counted`: as application data records (TLS 1.3).
#[pyclass(frozen, module = "tlslens._core", get_all)]
pub struct ContentEncryptedHandshake {
    side: u8,
    offset: u64,
    length: usize,
    counted: bool,
}

/// A protected record the keys do not open, and why.
#[pyclass(frozen, module = "tlslens._core", get_all)]
pub struct ContentUndecryptable {
    side: u8,
    offset: u64,
    length: usize,
    reason: String,
}

/// Something wrong in the content, where it is.
#[pyclass(frozen, module = "tlslens._core", get_all)]
pub struct ContentFinding {
    side: Option<u8>,
    layer: &'static str,
    offset: Option<u64>,
    message: String,
}

fn message_to_python(py: Python<'_>, read: MessageRead) -> PyResult<PyObject> {
    let MessageRead {
        side,
        offset,
        msg_type,
        raw,
        decrypted,
        context,
        error,
        signed,
    } = read;
    let message = match &error {
        Some(_) => None,
        None => {
            let body = raw.get(4..).unwrap_or_default();
            match messages::parse(msg_type, body, &context) {
                Ok(message) => Some(to_python(py, &message)?),
                Err(_) => None,
            }
        }
    };
    let event = ContentMessage {
        side,
        offset,
        length: raw.len(),
        msg_type,
        raw: PyBytes::new(py, &raw).unbind(),
        decrypted,
        message,
        error,
        version: context.version,
        kx: context.kx,
        auth: context.auth,
        signed: signed.map(|s| PyBytes::new(py, &s).unbind()),
    };
    Ok(Py::new(py, event)?.into_any())
}

fn run_to_python(py: Python<'_>, run: DataRun) -> PyResult<PyObject> {
    let plaintext = PyList::empty(py);
    for chunk in &run.plaintext {
        plaintext.append(PyBytes::new(py, chunk))?;
    }
    let event = ContentApplicationData {
        side: run.side,
        kind: run.kind.name(),
        offset: run.offset,
        records: run.records,
        length: run.length,
        decrypted: run.decrypted,
        plaintext: plaintext.unbind(),
    };
    Ok(Py::new(py, event)?.into_any())
}

fn event_to_python(py: Python<'_>, event: ContentEvent) -> PyResult<PyObject> {
    Ok(match event {
        ContentEvent::Message(read) => message_to_python(py, *read)?,
        ContentEvent::ApplicationData(run) => run_to_python(py, run)?,
        ContentEvent::ChangeCipherSpec {
            side,
            offset,
            length,
            encrypted,
        } => Py::new(
            py,
            ContentChangeCipherSpec {
                side,
                offset,
                length,
                encrypted,
            },
        )?
        .into_any(),
        ContentEvent::Alert {
            side,
            offset,
            length,
            alert,
        } => Py::new(
            py,
            ContentAlert {
                side,
                offset,
                length,
                level: alert.map(|(level, _)| level),
                description: alert.map(|(_, description)| description),
            },
        )?
        .into_any(),
        ContentEvent::Heartbeat {
            side,
            offset,
            length,
            encrypted,
            fields,
        } => Py::new(
            py,
            ContentHeartbeat {
                side,
                offset,
                length,
                encrypted,
                heartbeat_type: fields.map(|(kind, _)| kind),
                payload_length: fields.map(|(_, claimed)| claimed),
            },
        )?
        .into_any(),
        ContentEvent::EncryptedHandshake {
            side,
            offset,
            length,
            counted,
        } => Py::new(
            py,
            ContentEncryptedHandshake {
                side,
                offset,
                length,
                counted,
            },
        )?
        .into_any(),
        ContentEvent::Undecryptable {
            side,
            offset,
            length,
            reason,
        } => Py::new(
            py,
            ContentUndecryptable {
                side,
                offset,
                length,
                reason,
            },
        )?
        .into_any(),
        ContentEvent::Finding {
            side,
            layer,
            offset,
            message,
        } => Py::new(
            py,
            ContentFinding {
                side,
                layer,
                offset,
                message,
            },
        )?
        .into_any(),
    })
}

/// One TCP connection's record content, sans-IO: see the module's Strategy.
#[pyclass(module = "tlslens._core")]
pub struct Content {
    inner: CoreContent,
    decryptor: Option<Py<Decryptor>>,
    rsa: Option<PyObject>,
    keep_records: bool,
}

/// The session's events while one batch is read: the output, and what is told into it.
struct Batch<'py> {
    py: Python<'py>,
    out: Bound<'py, PyList>,
    keep_records: bool,
}

impl Batch<'_> {
    /// Every event of the batch, then the run of application data still open.
    fn read(
        &self,
        inner: &mut CoreContent,
        mut io: Io<'_, '_>,
        events: &Bound<'_, PyList>,
    ) -> PyResult<()> {
        for item in events.iter() {
            self.step(inner, &mut io, &item)?;
        }
        inner.flush();
        self.pass(inner, None)
    }

    /// The content events told so far, then `item` (a session event passed through).
    fn pass(&self, inner: &mut CoreContent, item: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        for event in inner.drain() {
            self.out.append(event_to_python(self.py, event)?)?;
        }
        if let Some(item) = item {
            self.out.append(item)?;
        }
        Ok(())
    }

    /// One session event: records are read, the others pass through (ending a run of
    /// application data, unless they are records kept for `--records`).
    fn step(
        &self,
        inner: &mut CoreContent,
        io: &mut Io<'_, '_>,
        item: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let py = self.py;
        if let Ok(record) = item.downcast::<TlsRecord>() {
            let record = record.get();
            if self.keep_records {
                self.pass(inner, Some(item))?;
            }
            let body = record.body.as_bytes(py);
            inner.record(
                io,
                record.side,
                record.content_type,
                record.version,
                body,
                record.offset,
            );
            return Ok(());
        }
        if let Ok(skipped) = item.downcast::<SkippedBody>() {
            let skipped = skipped.get();
            if self.keep_records {
                self.pass(inner, Some(item))?;
            }
            inner.skipped(skipped.side, skipped.offset, skipped.length);
            return Ok(());
        }
        if let Ok(started) = item.downcast::<TlsStarted>() {
            inner.set_client_side(started.get().client_side);
        } else if let Ok(end) = item.downcast::<SideEnd>() {
            inner.side_end(end.get().side);
        }
        inner.flush();
        self.pass(inner, Some(item))?;
        if let Ok(gap) = item.downcast::<StreamGap>() {
            let gap = gap.get();
            if gap.lost {
                inner.lost(gap.side);
            }
        } else if let Ok(hello) = item.downcast::<Sslv2ClientHello>() {
            inner.sslv2_client_hello(io, hello.get().record.as_bytes(py));
        }
        Ok(())
    }
}

#[pymethods]
impl Content {
    /// `client_side` when known (else from the session's `TlsStarted`); `known_types`: the
    /// handshake types a record of whole messages may hold; `keep_plaintext`: each
    /// decrypted record's bytes are told; `keep_records`: records pass through too;
    /// `rsa(encrypted, versions)`: the premaster the caller's RSA keys recover, or None.
    #[new]
    #[pyo3(signature = (*, client_side, max_message, known_types, keep_plaintext, keep_records, decryptor=None, rsa=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        client_side: Option<u8>,
        max_message: u64,
        known_types: Vec<u8>,
        keep_plaintext: bool,
        keep_records: bool,
        decryptor: Option<Py<Decryptor>>,
        rsa: Option<PyObject>,
    ) -> Self {
        let limit = u32::try_from(max_message).unwrap_or(u32::MAX);
        Content {
            inner: CoreContent::new(client_side, limit, &known_types, keep_plaintext),
            decryptor,
            rsa,
            keep_records,
        }
    }

    /// The core session's events of one batch, records replaced by content events.
    fn take(&mut self, py: Python<'_>, events: &Bound<'_, PyList>) -> PyResult<Py<PyList>> {
        let batch = Batch {
            py,
            out: PyList::empty(py),
            keep_records: self.keep_records,
        };
        let suites = suites(py)?;
        let Content {
            inner,
            decryptor,
            rsa,
            ..
        } = self;
        let mut answer = |request: &RsaRequest| -> Option<Vec<u8>> {
            let encrypted = PyBytes::new(py, &request.encrypted);
            let answer = rsa
                .as_ref()?
                .call1(py, (encrypted, request.versions))
                .ok()?;
            answer.extract::<Option<Vec<u8>>>(py).ok().flatten()
        };
        let walked = catch_unwind(AssertUnwindSafe(|| -> PyResult<()> {
            match decryptor {
                Some(dec) => dec.bind(py).borrow_mut().with_core(py, |core| {
                    let io = Io {
                        suites,
                        decryptor: core,
                        rsa: &mut answer,
                    };
                    batch.read(inner, io, events)
                })?,
                None => {
                    let io = Io {
                        suites,
                        decryptor: None,
                        rsa: &mut answer,
                    };
                    batch.read(inner, io, events)
                }
            }
        }));
        match walked {
            Ok(result) => result?,
            Err(panic) => {
                return Err(PyRuntimeError::new_err(format!(
                    "the content layer panicked ({})",
                    panic_text(panic.as_ref())
                )))
            }
        }
        Ok(batch.out.unbind())
    }

    /// A handshake after the first was seen (RFC 5746).
    #[getter]
    fn renegotiation(&self) -> bool {
        self.inner.renegotiation()
    }

    /// The server resumed a session (its flight went from ServerHello to ChangeCipherSpec).
    #[getter]
    fn abbreviated(&self) -> bool {
        self.inner.abbreviated()
    }

    /// A TLS 1.3 ServerHello was read.
    #[getter]
    fn tls13_encrypted(&self) -> bool {
        self.inner.tls13_encrypted()
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Content>()?;
    m.add_class::<ContentMessage>()?;
    m.add_class::<ContentChangeCipherSpec>()?;
    m.add_class::<ContentAlert>()?;
    m.add_class::<ContentHeartbeat>()?;
    m.add_class::<ContentApplicationData>()?;
    m.add_class::<ContentEncryptedHandshake>()?;
    m.add_class::<ContentUndecryptable>()?;
    m.add_class::<ContentFinding>()?;
    Ok(())
}
