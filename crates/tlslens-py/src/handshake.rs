//! The handshake layer's boundary: `parse_message` and one frozen class per message, with
//! the field names the narration, the JSON and the decryptor read.
//!
//! Strategy: one call per message; the core reads the body, then each field becomes a
//! Python object once (bytes, tuples of ints; the extensions as `Extension` on first use,
//! see ext_index.rs). A malformed
//! body raises tlslens' `DecodeError` (layer "handshake"), as the callers always caught.

use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::prelude::*;
use pyo3::sync::GILOnceCell;
use pyo3::types::{PyBytes, PyDict, PyString, PyTuple, PyType};
use pyo3::{PyClass, PyClassInitializer};
use tlslens_core::extensions::{self as ext, Decoded};
use tlslens_core::handshake::messages::{self, Message};
use tlslens_core::handshake::{self as core, Context};

use crate::ext_index::{indexed_extensions, ExtensionIndex};
use crate::flows::panic_text;
use crate::handshake_kx;

pub(crate) mod extension;
pub(crate) mod fingerprint;

pub use extension::{handshake_name, malformed, Extension};

static DECODE_ERROR: GILOnceCell<Py<PyType>> = GILOnceCell::new();

/// tlslens' `DecodeError(msg, layer="handshake")`.
pub fn decode_error(py: Python<'_>, msg: String) -> PyErr {
    let made = DECODE_ERROR
        .import(py, "tlslens.errors", "DecodeError")
        .and_then(|cls| {
            let kwargs = PyDict::new(py);
            kwargs.set_item("layer", "handshake")?;
            cls.call((msg,), Some(&kwargs))
        });
    match made {
        Ok(error) => PyErr::from_value(error),
        Err(err) => err,
    }
}

/// Run the core on input: its error becomes a DecodeError, and so does a panic (a bug, which
/// must reach the connection's findings, never Python as a traceback).
pub fn guarded<T>(
    py: Python<'_>,
    what: &str,
    work: impl FnOnce() -> Result<T, String>,
) -> PyResult<T> {
    match catch_unwind(AssertUnwindSafe(work)) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(text)) => Err(decode_error(py, text)),
        Err(panic) => Err(decode_error(
            py,
            format!("internal error in the {what} ({})", panic_text(&*panic)),
        )),
    }
}

pub fn bytes(py: Python<'_>, data: &[u8]) -> Py<PyBytes> {
    PyBytes::new(py, data).unbind()
}

pub fn ints<T>(py: Python<'_>, items: &[T]) -> PyResult<Py<PyTuple>>
where
    T: Copy + for<'py> IntoPyObject<'py>,
{
    Ok(PyTuple::new(py, items.iter().copied())?.unbind())
}

/// What every handshake message has: its type, and why parts of it could not be read.
#[pyclass(subclass, frozen, module = "tlslens._core")]
pub struct HandshakeMessage {
    #[pyo3(get)]
    msg_type: u8,
    #[pyo3(get)]
    malformed: Option<String>,
}

impl HandshakeMessage {
    /// Why parts of the message could not be read, if they could not.
    pub fn malformed(&self) -> Option<&str> {
        self.malformed.as_deref()
    }

    pub(crate) fn msg_type(&self) -> u8 {
        self.msg_type
    }
}

pub fn base(msg_type: u8, malformed: Option<String>) -> PyClassInitializer<HandshakeMessage> {
    PyClassInitializer::from(HandshakeMessage {
        msg_type,
        malformed,
    })
}

#[pyclass(extends = HandshakeMessage, frozen, module = "tlslens._core")]
pub struct ClientHello {
    #[pyo3(get)]
    legacy_version: u16,
    /// Inline, as the suites are: a flow that sent its hello and waits (tens of thousands
    /// open at once in a scanner's capture) holds them, not a bytes object and a tuple of
    /// ints; the getters make those on each reading.
    random: [u8; 32],
    #[pyo3(get)]
    legacy_session_id: Py<PyBytes>,
    cipher_suites: Box<[u32]>,
    #[pyo3(get)]
    legacy_compression_methods: Py<PyBytes>,
    /// Sent in the SSLv2-compatible format (RFC 5246 Appendix E.2).
    #[pyo3(get)]
    sslv2: bool,
    /// The host_name of server_name (RFC 6066 §3: the first entry of type 0), or None:
    /// read once, the JSON, the narration and the chain check all ask for it.
    #[pyo3(get)]
    server_name: Option<Py<PyString>>,
    index: ExtensionIndex,
    fingerprints: fingerprint::Made<tlslens_core::fingerprint::ClientFingerprints>,
}

/// The host_name of server_name (RFC 6066 §3: the first entry of type 0), or None.
fn server_name(py: Python<'_>, index: &ExtensionIndex) -> Option<Py<PyString>> {
    match index.value_of(py, ext::SERVER_NAME)? {
        Decoded::ServerNames(names) => names
            .into_iter()
            .find(|entry| entry.name_type == 0)
            .map(|entry| PyString::new(py, &entry.name).unbind()),
        _ => None,
    }
}

pub fn client_hello(
    py: Python<'_>,
    m: &messages::ClientHello<'_>,
    premade: Option<fingerprint::Made<tlslens_core::fingerprint::ClientFingerprints>>,
) -> PyResult<PyObject> {
    let init = base(
        core::CLIENT_HELLO,
        malformed(py, &m.extensions, "ClientHello")?,
    );
    let index = ExtensionIndex::new(&m.extensions.list, ext::Message::ClientHello)?;
    let hello = ClientHello {
        legacy_version: m.legacy_version,
        random: m.random,
        legacy_session_id: bytes(py, m.legacy_session_id),
        cipher_suites: m.cipher_suites.as_slice().into(),
        legacy_compression_methods: bytes(py, m.legacy_compression_methods),
        sslv2: m.sslv2,
        server_name: server_name(py, &index),
        index,
        fingerprints: premade.unwrap_or_else(|| fingerprint::client(m)),
    };
    Ok(Py::new(py, init.add_subclass(hello))?.into_any())
}

#[pyclass(extends = HandshakeMessage, frozen, module = "tlslens._core")]
pub struct ServerHello {
    #[pyo3(get)]
    legacy_version: u16,
    #[pyo3(get)]
    random: Py<PyBytes>,
    #[pyo3(get)]
    legacy_session_id: Py<PyBytes>,
    #[pyo3(get)]
    cipher_suite: u16,
    #[pyo3(get)]
    legacy_compression_method: u8,
    /// RFC 8446 §4.1.3: the HelloRetryRequest random.
    #[pyo3(get)]
    is_hello_retry_request: bool,
    /// The version it selects: supported_versions' (as a ServerHello's), else the legacy one.
    #[pyo3(get)]
    selected_version: u16,
    /// The group of its key_share (RFC 8446 §4.2.8, or the drafts' code 40): a ServerHello's
    /// one share, a HelloRetryRequest's selected group; None without a readable one.
    #[pyo3(get)]
    key_share_group: Option<u16>,
    index: ExtensionIndex,
    ja3s: fingerprint::Made<str>,
}

fn key_share_group(py: Python<'_>, index: &ExtensionIndex) -> Option<u16> {
    let value = index
        .value_of(py, ext::KEY_SHARE)
        .or_else(|| index.value_of(py, ext::DRAFT_KEY_SHARE))?;
    match value {
        Decoded::KeyShares(shares) => shares.first().map(|share| share.group),
        Decoded::SelectedGroup(group) => Some(group),
        _ => None,
    }
}

fn server_hello(
    py: Python<'_>,
    m: &messages::ServerHello<'_>,
    premade: Option<fingerprint::Made<str>>,
) -> PyResult<PyObject> {
    let init = base(core::SERVER_HELLO, malformed(py, &m.extensions, m.name())?);
    let kind = if m.is_hello_retry_request() {
        ext::Message::HelloRetryRequest
    } else {
        ext::Message::ServerHello
    };
    let index = ExtensionIndex::new(&m.extensions.list, kind)?;
    let hello = ServerHello {
        legacy_version: m.legacy_version,
        random: bytes(py, &m.random),
        legacy_session_id: bytes(py, m.legacy_session_id),
        cipher_suite: m.cipher_suite,
        legacy_compression_method: m.legacy_compression_method,
        is_hello_retry_request: m.is_hello_retry_request(),
        selected_version: tlslens_core::content::selected_version(m),
        key_share_group: key_share_group(py, &index),
        index,
        ja3s: premade.unwrap_or_else(|| fingerprint::server(m)),
    };
    Ok(Py::new(py, init.add_subclass(hello))?.into_any())
}

/// What the row writer (`row/`) reads of a ClientHello without a Python call.
impl ClientHello {
    pub(crate) fn legacy_version(&self) -> u16 {
        self.legacy_version
    }

    pub(crate) fn legacy_session_id<'a>(&'a self, py: Python<'a>) -> &'a [u8] {
        self.legacy_session_id.as_bytes(py)
    }

    pub(crate) fn cipher_suites(&self) -> &[u32] {
        &self.cipher_suites
    }

    pub(crate) fn server_name(&self) -> Option<&Py<PyString>> {
        self.server_name.as_ref()
    }

    pub(crate) fn index(&self) -> &ExtensionIndex {
        &self.index
    }
}

/// What the row writer (`row/`) reads of a ServerHello without a Python call.
impl ServerHello {
    pub(crate) fn legacy_session_id<'a>(&'a self, py: Python<'a>) -> &'a [u8] {
        self.legacy_session_id.as_bytes(py)
    }

    pub(crate) fn cipher_suite(&self) -> u16 {
        self.cipher_suite
    }

    pub(crate) fn is_hello_retry_request(&self) -> bool {
        self.is_hello_retry_request
    }

    pub(crate) fn selected_version(&self) -> u16 {
        self.selected_version
    }

    pub(crate) fn key_share_group(&self) -> Option<u16> {
        self.key_share_group
    }

    pub(crate) fn index(&self) -> &ExtensionIndex {
        &self.index
    }
}

#[pyclass(extends = HandshakeMessage, frozen, module = "tlslens._core")]
pub struct NewSessionTicket {
    #[pyo3(get)]
    ticket_lifetime: u32,
    #[pyo3(get)]
    ticket_age_add: Option<u32>,
    #[pyo3(get)]
    ticket_nonce: Option<Py<PyBytes>>,
    #[pyo3(get)]
    ticket: Py<PyBytes>,
    index: ExtensionIndex,
}

fn new_session_ticket(py: Python<'_>, m: &messages::NewSessionTicket<'_>) -> PyResult<PyObject> {
    let init = base(
        core::NEW_SESSION_TICKET,
        malformed(py, &m.extensions, "NewSessionTicket")?,
    );
    let index = ExtensionIndex::new(&m.extensions.list, ext::Message::NewSessionTicket)?;
    let ticket = NewSessionTicket {
        ticket_lifetime: m.ticket_lifetime,
        ticket_age_add: m.ticket_age_add,
        ticket_nonce: m.ticket_nonce.map(|n| bytes(py, n)),
        ticket: bytes(py, m.ticket),
        index,
    };
    Ok(Py::new(py, init.add_subclass(ticket))?.into_any())
}

impl NewSessionTicket {
    pub(crate) fn ticket(&self) -> &Py<PyBytes> {
        &self.ticket
    }
}

#[pyclass(extends = HandshakeMessage, frozen, module = "tlslens._core")]
pub struct EncryptedExtensions {
    index: ExtensionIndex,
}

#[pyclass(frozen, module = "tlslens._core")]
pub struct CertificateEntry {
    #[pyo3(get)]
    cert_data: Py<PyBytes>,
    pub(crate) index: ExtensionIndex,
}

impl EncryptedExtensions {
    pub(crate) fn index(&self) -> &ExtensionIndex {
        &self.index
    }
}

indexed_extensions!(
    ClientHello {
        /// The 32 random bytes.
        #[getter(random)]
        fn random_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
            PyBytes::new(py, &self.random)
        }

        /// The cipher suites offered, in order (an SSLv2-format hello's 3-byte kinds keep
        /// their 24 bits).
        #[getter(cipher_suites)]
        fn cipher_suites_tuple<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
            PyTuple::new(py, self.cipher_suites.iter().copied())
        }
    },
    ServerHello,
    NewSessionTicket,
    EncryptedExtensions,
    CertificateEntry
);

#[pyclass(extends = HandshakeMessage, frozen, module = "tlslens._core", get_all)]
pub struct Certificate {
    /// TLS 1.3 only.
    certificate_request_context: Option<Py<PyBytes>>,
    pub(crate) certificate_list: Py<PyTuple>,
}

fn certificate(py: Python<'_>, m: &messages::Certificate<'_>) -> PyResult<Py<Certificate>> {
    let entries = m
        .certificate_list
        .iter()
        .map(|entry| {
            let index = ExtensionIndex::new(&entry.extensions, ext::Message::Certificate)?;
            Py::new(
                py,
                CertificateEntry {
                    // One object per certificate seen recently: Python's caches of
                    // certificates find it by identity, not by hashing it again.
                    cert_data: crate::shared_der::der_bytes(py, entry.cert_data),
                    index,
                },
            )
        })
        .collect::<PyResult<Vec<_>>>()?;
    let certificate = Certificate {
        certificate_request_context: m.certificate_request_context.map(|c| bytes(py, c)),
        certificate_list: PyTuple::new(py, entries)?.unbind(),
    };
    Py::new(py, base(core::CERTIFICATE, None).add_subclass(certificate))
}

#[pyclass(extends = HandshakeMessage, frozen, module = "tlslens._core", get_all)]
pub struct Finished {
    verify_data: Py<PyBytes>,
}

#[pyclass(extends = HandshakeMessage, frozen, module = "tlslens._core", get_all)]
pub struct CertificateStatus {
    status_type: u8,
    response: Py<PyBytes>,
}

#[pyclass(extends = HandshakeMessage, frozen, module = "tlslens._core", get_all)]
pub struct KeyUpdate {
    request_update: u8,
}

#[pyclass(extends = HandshakeMessage, frozen, module = "tlslens._core", get_all)]
pub struct CompressedCertificate {
    algorithm: u16,
    uncompressed_length: u32,
    compressed_certificate_message: Py<PyBytes>,
    /// The Certificate inside, once opened (`handshake/compression.py`).
    pub(crate) certificate: Option<Py<Certificate>>,
}

#[pymethods]
impl CompressedCertificate {
    /// The same message with the Certificate it was opened into.
    fn with_certificate(
        slf: &Bound<'_, Self>,
        certificate: Py<Certificate>,
    ) -> PyResult<Py<CompressedCertificate>> {
        Self::copy(slf, Some(certificate), None)
    }

    /// The same message, with why it could not be opened.
    fn with_malformed(
        slf: &Bound<'_, Self>,
        malformed: String,
    ) -> PyResult<Py<CompressedCertificate>> {
        Self::copy(slf, None, Some(malformed))
    }
}

impl CompressedCertificate {
    fn copy(
        slf: &Bound<'_, Self>,
        certificate: Option<Py<Certificate>>,
        malformed: Option<String>,
    ) -> PyResult<Py<CompressedCertificate>> {
        let py = slf.py();
        let this = slf.get();
        let old = slf.as_super().get();
        let init = base(old.msg_type, malformed.or_else(|| old.malformed.clone()));
        let copy = Self {
            algorithm: this.algorithm,
            uncompressed_length: this.uncompressed_length,
            compressed_certificate_message: this.compressed_certificate_message.clone_ref(py),
            certificate: certificate.or_else(|| this.certificate.as_ref().map(|c| c.clone_ref(py))),
        };
        Py::new(py, init.add_subclass(copy))
    }
}

/// Empty messages (HelloRequest, ServerHelloDone, EndOfEarlyData) and ones kept raw.
#[pyclass(extends = HandshakeMessage, frozen, module = "tlslens._core", get_all)]
pub struct OpaqueMessage {
    body: Py<PyBytes>,
}

#[pymethods]
impl OpaqueMessage {
    #[new]
    #[pyo3(signature = (*, msg_type, body, malformed=None))]
    fn new(msg_type: u8, body: Py<PyBytes>, malformed: Option<String>) -> PyClassInitializer<Self> {
        base(msg_type, malformed).add_subclass(Self { body })
    }
}

impl OpaqueMessage {
    /// A message whose body does not parse: kept raw, with why.
    pub fn unreadable(
        py: Python<'_>,
        msg_type: u8,
        body: &[u8],
        why: String,
    ) -> PyResult<PyObject> {
        made(py, Self::new(msg_type, bytes(py, body), Some(why)))
    }
}

/// A message object made from its initializer.
pub fn made<T: PyClass>(py: Python<'_>, init: PyClassInitializer<T>) -> PyResult<PyObject> {
    Ok(Py::new(py, init)?.into_any())
}

/// The Python object of a message read by the core.
pub fn to_python(py: Python<'_>, message: &Message<'_>) -> PyResult<PyObject> {
    to_python_premade(py, message, None)
}

/// `to_python`, a hello taking the fingerprints `premade` for it (`fingerprint::premade`).
pub fn to_python_premade(
    py: Python<'_>,
    message: &Message<'_>,
    premade: Option<fingerprint::Prints>,
) -> PyResult<PyObject> {
    match message {
        Message::Finished(data) => made(
            py,
            base(core::FINISHED, None).add_subclass(Finished {
                verify_data: bytes(py, data),
            }),
        ),
        Message::KeyUpdate(request_update) => made(
            py,
            base(core::KEY_UPDATE, None).add_subclass(KeyUpdate {
                request_update: *request_update,
            }),
        ),
        Message::CertificateStatus(m) => made(
            py,
            base(core::CERTIFICATE_STATUS, None).add_subclass(CertificateStatus {
                status_type: m.status_type,
                response: bytes(py, m.response),
            }),
        ),
        Message::CompressedCertificate(m) => made(
            py,
            base(core::COMPRESSED_CERTIFICATE, None).add_subclass(CompressedCertificate {
                algorithm: m.algorithm,
                uncompressed_length: m.uncompressed_length,
                compressed_certificate_message: bytes(py, m.compressed_certificate_message),
                certificate: None,
            }),
        ),
        Message::EncryptedExtensions(e) => {
            let index = ExtensionIndex::new(&e.list, ext::Message::EncryptedExtensions)?;
            made(
                py,
                base(
                    core::ENCRYPTED_EXTENSIONS,
                    malformed(py, e, "EncryptedExtensions")?,
                )
                .add_subclass(EncryptedExtensions { index }),
            )
        }
        Message::Opaque { msg_type, body } => made(
            py,
            base(*msg_type, None).add_subclass(OpaqueMessage {
                body: bytes(py, body),
            }),
        ),
        Message::ServerKeyExchange(m) => handshake_kx::server_key_exchange(py, m),
        Message::ClientKeyExchange(m) => handshake_kx::client_key_exchange(py, m),
        Message::CertificateRequest(m) => handshake_kx::certificate_request(py, m),
        Message::CertificateVerify(m) => handshake_kx::certificate_verify(py, m),
        Message::ClientHello(m) => match premade {
            Some(fingerprint::Prints::Client(prints)) => client_hello(py, m, Some(prints)),
            _ => client_hello(py, m, None),
        },
        Message::ServerHello(m) => match premade {
            Some(fingerprint::Prints::Server(ja3s)) => server_hello(py, m, Some(ja3s)),
            _ => server_hello(py, m, None),
        },
        Message::NewSessionTicket(m) => new_session_ticket(py, m),
        Message::Certificate(m) => Ok(certificate(py, m)?.into_any()),
    }
}

/// Decode one handshake message body (without its 4-byte header) with what was negotiated
/// so far. Raises DecodeError on a malformed body.
#[pyfunction]
#[pyo3(signature = (msg_type, body, version=None, kx=None, auth=None))]
fn parse_message(
    py: Python<'_>,
    msg_type: u8,
    body: &[u8],
    version: Option<u16>,
    kx: Option<String>,
    auth: Option<String>,
) -> PyResult<PyObject> {
    let ctx = Context { version, kx, auth };
    let message = guarded(py, "handshake parser", || {
        messages::parse(msg_type, body, &ctx)
    })?;
    to_python(py, &message)
}

/// RFC 8446's 0x0304 and every pre-standard TLS 1.3 code point.
#[pyfunction]
fn is_tls13_version(value: u16) -> bool {
    core::is_tls13_version(value)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Extension>()?;
    m.add_class::<HandshakeMessage>()?;
    m.add_class::<ClientHello>()?;
    m.add_class::<ServerHello>()?;
    m.add_class::<NewSessionTicket>()?;
    m.add_class::<EncryptedExtensions>()?;
    m.add_class::<CertificateEntry>()?;
    m.add_class::<Certificate>()?;
    m.add_class::<Finished>()?;
    m.add_class::<CertificateStatus>()?;
    m.add_class::<KeyUpdate>()?;
    m.add_class::<CompressedCertificate>()?;
    m.add_class::<OpaqueMessage>()?;
    m.add_function(wrap_pyfunction!(parse_message, m)?)?;
    m.add_function(wrap_pyfunction!(is_tls13_version, m)?)?;
    fingerprint::register(m)?;
    handshake_kx::register(m)
}
