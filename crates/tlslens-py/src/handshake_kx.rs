//! The key exchange messages' classes (ServerKeyExchange, ClientKeyExchange,
//! CertificateRequest, CertificateVerify) and the SSL 2.0 messages'.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyTuple};
use tlslens_core::handshake::defrag::MAX_HANDSHAKE_MESSAGE;
use tlslens_core::handshake::key_exchange::{self, Param, Params};
use tlslens_core::handshake::{self as core, sslv2};

use tlslens_core::extensions::Message;

use crate::ext_index::{indexed_extensions, ExtensionIndex};
use crate::handshake::{
    base, bytes, client_hello, guarded, ints, made, malformed, HandshakeMessage,
};

#[pyclass(extends = HandshakeMessage, frozen, module = "tlslens._core", get_all)]
pub struct ServerKeyExchange {
    /// The key exchange this was read as.
    kx: Option<String>,
    params: Py<PyDict>,
    /// TLS 1.2's SignatureAndHashAlgorithm.
    signature_scheme: Option<u16>,
    signature: Option<Py<PyBytes>>,
}

#[pyclass(extends = HandshakeMessage, frozen, module = "tlslens._core", get_all)]
pub struct ClientKeyExchange {
    kx: Option<String>,
    params: Py<PyDict>,
    exchange_keys: Py<PyBytes>,
}

#[pyclass(extends = HandshakeMessage, frozen, module = "tlslens._core")]
pub struct CertificateRequest {
    #[pyo3(get)]
    certificate_request_context: Option<Py<PyBytes>>,
    #[pyo3(get)]
    certificate_types: Py<PyBytes>,
    #[pyo3(get)]
    signature_schemes: Py<PyTuple>,
    #[pyo3(get)]
    certificate_authorities: Py<PyTuple>,
    index: ExtensionIndex,
}

indexed_extensions!(CertificateRequest);

#[pyclass(extends = HandshakeMessage, frozen, module = "tlslens._core", get_all)]
pub struct CertificateVerify {
    signature_scheme: Option<u16>,
    signature: Py<PyBytes>,
}

fn params(py: Python<'_>, params: &Params<'_>) -> PyResult<Py<PyDict>> {
    let dict = PyDict::new(py);
    for (name, value) in params {
        match value {
            Param::Int(v) => dict.set_item(name, v)?,
            Param::Bytes(b) => dict.set_item(name, PyBytes::new(py, b))?,
            Param::Text(t) => dict.set_item(name, t)?,
        }
    }
    Ok(dict.unbind())
}

pub fn server_key_exchange(
    py: Python<'_>,
    m: &key_exchange::ServerKeyExchange<'_>,
) -> PyResult<PyObject> {
    made(
        py,
        base(core::SERVER_KEY_EXCHANGE, None).add_subclass(ServerKeyExchange {
            kx: m.kx.clone(),
            params: params(py, &m.params)?,
            signature_scheme: m.signature_scheme,
            signature: m.signature.map(|s| bytes(py, s)),
        }),
    )
}

pub fn client_key_exchange(
    py: Python<'_>,
    m: &key_exchange::ClientKeyExchange<'_>,
) -> PyResult<PyObject> {
    made(
        py,
        base(core::CLIENT_KEY_EXCHANGE, None).add_subclass(ClientKeyExchange {
            kx: m.kx.clone(),
            params: params(py, &m.params)?,
            exchange_keys: bytes(py, m.exchange_keys),
        }),
    )
}

pub fn certificate_request(
    py: Python<'_>,
    m: &key_exchange::CertificateRequest<'_>,
) -> PyResult<PyObject> {
    let authorities: Vec<Py<PyBytes>> = m
        .certificate_authorities
        .iter()
        .map(|name| bytes(py, name))
        .collect();
    let problem = malformed(py, &m.extensions, "CertificateRequest")?;
    let index = ExtensionIndex::new(&m.extensions.list, Message::CertificateRequest)?;
    made(
        py,
        base(core::CERTIFICATE_REQUEST, problem).add_subclass(CertificateRequest {
            certificate_request_context: m.certificate_request_context.map(|c| bytes(py, c)),
            certificate_types: bytes(py, m.certificate_types),
            signature_schemes: ints(py, &m.signature_schemes)?,
            certificate_authorities: PyTuple::new(py, authorities)?.unbind(),
            index,
        }),
    )
}

pub fn certificate_verify(
    py: Python<'_>,
    m: &key_exchange::CertificateVerify<'_>,
) -> PyResult<PyObject> {
    made(
        py,
        base(core::CERTIFICATE_VERIFY, None).add_subclass(CertificateVerify {
            signature_scheme: m.signature_scheme,
            signature: bytes(py, m.signature),
        }),
    )
}

#[pyclass(frozen, module = "tlslens._core", get_all)]
pub struct SSLv2ServerHello {
    session_id_hit: bool,
    /// 1: X.509
    certificate_type: u8,
    server_version: u16,
    certificate: Py<PyBytes>,
    cipher_specs: Py<PyTuple>,
    connection_id: Py<PyBytes>,
}

#[pyclass(frozen, module = "tlslens._core", get_all)]
pub struct SSLv2ClientMasterKey {
    cipher_kind: u32,
    clear_key: Py<PyBytes>,
    encrypted_key: Py<PyBytes>,
    key_arg: Py<PyBytes>,
}

#[pyclass(frozen, module = "tlslens._core", get_all)]
pub struct SSLv2Error {
    error_code: u16,
}

/// An SSLv2-format ClientHello (RFC 5246 Appendix E.2), its record header included.
#[pyfunction]
fn parse_sslv2_client_hello(py: Python<'_>, record: &[u8]) -> PyResult<PyObject> {
    let hello = guarded(py, "SSL 2.0 parser", || sslv2::client_hello(record))?;
    client_hello(py, &hello, None)
}

/// The plaintext SSL 2.0 message in a record body, or None for a type kept undecoded.
/// The DecodeError says what broke, not which message (the caller names it).
#[pyfunction]
fn sslv2_message(py: Python<'_>, body: &[u8]) -> PyResult<Option<PyObject>> {
    let message = guarded(py, "SSL 2.0 parser", || sslv2::message(body))?;
    Ok(match message {
        None => None,
        Some(sslv2::Message::ServerHello(m)) => Some(
            Py::new(
                py,
                SSLv2ServerHello {
                    session_id_hit: m.session_id_hit,
                    certificate_type: m.certificate_type,
                    server_version: m.server_version,
                    certificate: bytes(py, m.certificate),
                    cipher_specs: ints(py, &m.cipher_specs)?,
                    connection_id: bytes(py, m.connection_id),
                },
            )?
            .into_any(),
        ),
        Some(sslv2::Message::ClientMasterKey(m)) => Some(
            Py::new(
                py,
                SSLv2ClientMasterKey {
                    cipher_kind: m.cipher_kind,
                    clear_key: bytes(py, m.clear_key),
                    encrypted_key: bytes(py, m.encrypted_key),
                    key_arg: bytes(py, m.key_arg),
                },
            )?
            .into_any(),
        ),
        Some(sslv2::Message::Error { error_code }) => {
            Some(Py::new(py, SSLv2Error { error_code })?.into_any())
        }
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("MAX_HANDSHAKE_MESSAGE", MAX_HANDSHAKE_MESSAGE)?;
    m.add_class::<ServerKeyExchange>()?;
    m.add_class::<ClientKeyExchange>()?;
    m.add_class::<CertificateRequest>()?;
    m.add_class::<CertificateVerify>()?;
    m.add_class::<SSLv2ServerHello>()?;
    m.add_class::<SSLv2ClientMasterKey>()?;
    m.add_class::<SSLv2Error>()?;
    m.add_function(wrap_pyfunction!(parse_sslv2_client_hello, m)?)?;
    m.add_function(wrap_pyfunction!(sslv2_message, m)?)?;
    Ok(())
}
