//! The content layer's events at the boundary: one frozen class per kind
//! (`tlslens._core.ContentMessage`, `ContentAlert`, ...), built from the core's
//! `ContentEvent`s for TCP, DTLS and QUIC alike.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};
use tlslens_core::content::{ContentEvent, DataRun, MessageRead};
use tlslens_core::handshake::messages;

use crate::handshake::to_python;

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
/// "early_data"); `plaintext`: each decrypted record's bytes, when asked for. A run the
/// flow walk folded over several frames says where it began (`frame`, `ts_ns`) and ended
/// (`last_frame`); None: within the frame its events come with.
#[pyclass(frozen, module = "tlslens._core", get_all)]
pub struct ContentApplicationData {
    side: u8,
    kind: &'static str,
    offset: u64,
    records: u64,
    length: u64,
    decrypted: bool,
    plaintext: Py<PyList>,
    frame: Option<u64>,
    ts_ns: Option<i128>,
    last_frame: Option<u64>,
}

/// Where a run folded over frames began (frame, timestamp) and ended (frame).
pub(crate) type RunFrames = (u64, i128, u64);

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

pub(crate) fn run_to_python(
    py: Python<'_>,
    run: DataRun,
    frames: Option<RunFrames>,
) -> PyResult<PyObject> {
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
        frame: frames.map(|f| f.0),
        ts_ns: frames.map(|f| f.1),
        last_frame: frames.map(|f| f.2),
    };
    Ok(Py::new(py, event)?.into_any())
}

pub(crate) fn event_to_python(py: Python<'_>, event: ContentEvent) -> PyResult<PyObject> {
    Ok(match event {
        ContentEvent::Message(read) => message_to_python(py, *read)?,
        ContentEvent::ApplicationData(run) => run_to_python(py, run, None)?,
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

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
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
