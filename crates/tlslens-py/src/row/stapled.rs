//! The server's stapled OCSP response (`ocsp_stapled` of the row; the model's
//! `ocsp_stapled`, `tls13_stapled_ocsp` and `stapled_ocsp` ask the same functions).
//!
//! Strategy: TLS 1.2 and earlier staple in a CertificateStatus message (the model keeps it
//! as `certificate_status`); TLS 1.3 in the leaf's CertificateEntry (status_request,
//! RFC 8446 §4.4.2.1) of the server's Certificate, or of a CompressedCertificate once
//! opened: the timeline's messages are read in place, without a Python call.

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};
use tlslens_core::extensions::{Decoded, STATUS_REQUEST};

use super::hello::Hellos;
use super::steps::{class_of, message_class, read, Class, MessageClass};
use crate::handshake::{Certificate, CertificateEntry, CompressedCertificate};

/// The certificate list a server's handshake event carries (a Certificate, or an opened
/// CompressedCertificate), if any.
fn certificate_of<'py>(event: &Bound<'py, PyAny>) -> PyResult<Option<Bound<'py, Certificate>>> {
    let py = event.py();
    let class = class_of(event);
    if class != Class::Handshake {
        return Ok(None);
    }
    let (base, message) = read(event, class)?;
    let Some(message) = message else {
        return Ok(None);
    };
    if base.direction.bind(py).to_str()? != "s2c" {
        return Ok(None);
    }
    Ok(match message_class(&message) {
        MessageClass::Certificate => Some(message.downcast_into::<Certificate>()?),
        MessageClass::CompressedCertificate => message
            .downcast::<CompressedCertificate>()?
            .get()
            .certificate
            .as_ref()
            .map(|c| c.bind(py).clone()),
        _ => None,
    })
}

/// TLS 1.3: the OCSP response stapled to the leaf of the server's Certificate, the first
/// one found; None without a leaf (a resumed session) or a staple.
pub fn tls13_stapled_ocsp(conn: &Bound<'_, PyAny>) -> PyResult<Option<Vec<u8>>> {
    let py = conn.py();
    // The server's first Certificate with a certificate in it sets `certificates`:
    // without one there is no leaf to look in.
    if !conn.getattr(intern!(py, "certificates"))?.is_truthy()? {
        return Ok(None);
    }
    let timeline = conn.getattr(intern!(py, "timeline"))?;
    for event in timeline.downcast::<PyList>()?.iter() {
        let Some(certificate) = certificate_of(&event)? else {
            continue;
        };
        let list = certificate.get().certificate_list.bind(py);
        let Ok(leaf) = list.get_item(0) else {
            continue; // an empty list
        };
        let leaf = leaf.downcast::<CertificateEntry>()?.get();
        if let Some(Decoded::CertificateStatus { ocsp_response, .. }) =
            leaf.index.value_of(py, STATUS_REQUEST)
        {
            return Ok(Some(ocsp_response));
        }
    }
    Ok(None)
}

/// Whether the server stapled an OCSP response: None where it cannot be told (TLS 1.3
/// without its EncryptedExtensions read, or a server flight not seen).
pub fn ocsp_stapled(conn: &Bound<'_, PyAny>, hellos: &Hellos<'_>) -> PyResult<Option<bool>> {
    let py = conn.py();
    if !conn.getattr(intern!(py, "certificate_status"))?.is_none() {
        return Ok(Some(true));
    }
    let tls13 = hellos.tls13();
    if tls13 && hellos.encrypted_extensions.is_some() {
        return Ok(Some(tls13_stapled_ocsp(conn)?.is_some()));
    }
    if tls13
        || !conn
            .getattr(intern!(py, "handshake_visible"))?
            .is_truthy()?
    {
        return Ok(None);
    }
    Ok(Some(false))
}

/// `model.Connection.tls13_stapled_ocsp`.
#[pyfunction]
fn connection_tls13_stapled_ocsp<'py>(
    conn: &Bound<'py, PyAny>,
) -> PyResult<Option<Bound<'py, PyBytes>>> {
    Ok(tls13_stapled_ocsp(conn)?.map(|der| PyBytes::new(conn.py(), &der)))
}

/// `model.Connection.ocsp_stapled`.
#[pyfunction]
fn connection_ocsp_stapled(conn: &Bound<'_, PyAny>) -> PyResult<Option<bool>> {
    ocsp_stapled(conn, &Hellos::of(conn)?)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(connection_tls13_stapled_ocsp, m)?)?;
    m.add_function(wrap_pyfunction!(connection_ocsp_stapled, m)?)
}
