//! The conclusions `model.Connection`'s properties draw, as the row draws them: one
//! function per property, over the same `Hellos` and timeline walk as the line, so that the
//! narration, the report and the line cannot disagree.

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyList;

use super::hello::{self, Hellos};
use super::steps::{self, Walk};
use super::{cipher_suite, suite_info, timing};
use crate::handshake::ServerHello;

/// The versions the client offered (supported_versions without GREASE, else its
/// legacy_version); empty without a ClientHello.
#[pyfunction]
fn connection_client_versions(conn: &Bound<'_, PyAny>) -> PyResult<Vec<u16>> {
    Ok(Hellos::of(conn)?.client_versions())
}

/// The protocols the client's ALPN offered.
#[pyfunction]
fn connection_alpn_offered(conn: &Bound<'_, PyAny>) -> PyResult<Vec<String>> {
    Ok(Hellos::of(conn)?.alpn_offered())
}

/// The protocol the server chose (its EncryptedExtensions', else its ServerHello's).
#[pyfunction]
fn connection_alpn(conn: &Bound<'_, PyAny>) -> PyResult<Option<String>> {
    Ok(Hellos::of(conn)?.alpn())
}

/// The version the server chose; SSL 2.0's 0x0002 for a server that answered in SSL 2.0.
#[pyfunction]
fn connection_version(conn: &Bound<'_, PyAny>) -> PyResult<Option<u16>> {
    version_of(conn)
}

/// `connection_version`'s answer (the model's `version`, its `tls13`, the outcome's).
pub(super) fn version_of(conn: &Bound<'_, PyAny>) -> PyResult<Option<u16>> {
    // Asked many times a connection (every `tls13`): two attributes, not all the hellos.
    let py = conn.py();
    let server_hello = conn.getattr(intern!(py, "server_hello"))?;
    if let Ok(hello) = server_hello.downcast::<ServerHello>() {
        return Ok(Some(hello.get().selected_version()));
    }
    let sslv2 = conn
        .getattr(intern!(py, "sslv2_server_hello"))?
        .is_truthy()?;
    Ok(hello::version(None, sslv2))
}

/// The suite chosen; for SSL 2.0 the 3-byte cipher kind of CLIENT-MASTER-KEY.
#[pyfunction]
fn connection_cipher_suite(conn: &Bound<'_, PyAny>) -> PyResult<Option<u32>> {
    cipher_suite(conn, &Hellos::of(conn)?)
}

/// Whether the key exchange gives forward secrecy (None: no ServerHello, or a suite the
/// registry does not describe).
#[pyfunction]
fn connection_forward_secrecy(conn: &Bound<'_, PyAny>) -> PyResult<Option<bool>> {
    let hellos = Hellos::of(conn)?;
    let info = suite_info(conn.py(), cipher_suite(conn, &hellos)?)?;
    Ok(hellos.forward_secrecy(info.as_deref()))
}

/// The key exchange's group by name (a finite-field one by the size of its prime).
#[pyfunction]
fn connection_group_name(conn: &Bound<'_, PyAny>) -> PyResult<Option<String>> {
    let hellos = Hellos::of(conn)?;
    let ske = conn.getattr(intern!(conn.py(), "server_key_exchange"))?;
    let name = hello::group_name(conn.py(), hellos.key_share_group(), &ske)?;
    Ok(name.map(|name| name.to_string()))
}

/// How the session was resumed: "session_id", "ticket", "psk", or None.
#[pyfunction]
fn connection_resumed(conn: &Bound<'_, PyAny>) -> PyResult<Option<&'static str>> {
    Ok(Hellos::for_resumed(conn)?.and_then(|hellos| hellos.resumed()))
}

/// (offered, issued) of session tickets; issued None where TLS 1.3's went unread.
#[pyfunction]
fn connection_session_ticket(conn: &Bound<'_, PyAny>) -> PyResult<(bool, Option<bool>)> {
    let issued = conn
        .getattr(intern!(conn.py(), "new_session_ticket"))?
        .is_truthy()?;
    Ok(Hellos::of(conn)?.session_ticket(issued))
}

/// The handshake's times of `conn` in ms, as the row writes them (`Connection.timing`).
#[pyfunction]
fn connection_timing(conn: &Bound<'_, PyAny>) -> PyResult<(Option<f64>, Option<f64>, Option<f64>)> {
    let timeline = conn.getattr(intern!(conn.py(), "timeline"))?;
    let seen = Walk::timed(timeline.downcast::<PyList>()?)?;
    let [tcp, answer, handshake] =
        timing(conn, &seen, Hellos::of(conn)?.tls13())?.map(|t| t.map(steps::millis));
    Ok((tcp, answer, handshake))
}

/// An alert's (level, description) by name, as the row writes them: (None, "encrypted")
/// for one no key opened. Raises TypeError for an event that is no alert.
#[pyfunction]
fn alert_names(event: &Bound<'_, PyAny>) -> PyResult<(Option<String>, String)> {
    match steps::alert_names(event)? {
        Some(Some((level, description))) => Ok((Some(level.to_string()), description.to_string())),
        Some(None) => Ok((None, "encrypted".to_owned())),
        None => Err(pyo3::exceptions::PyTypeError::new_err("not an alert event")),
    }
}

/// The key exchange a ServerHello chose: ECDHE, DHE, RSA, PSK+ECDHE, ECDHE+KEM...
#[pyfunction]
fn key_exchange(hello: &Bound<'_, ServerHello>) -> PyResult<Option<String>> {
    hello::key_exchange(hello.py(), hello.get())
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(connection_client_versions, m)?)?;
    m.add_function(wrap_pyfunction!(connection_alpn_offered, m)?)?;
    m.add_function(wrap_pyfunction!(connection_alpn, m)?)?;
    m.add_function(wrap_pyfunction!(connection_version, m)?)?;
    m.add_function(wrap_pyfunction!(connection_cipher_suite, m)?)?;
    m.add_function(wrap_pyfunction!(connection_forward_secrecy, m)?)?;
    m.add_function(wrap_pyfunction!(connection_group_name, m)?)?;
    m.add_function(wrap_pyfunction!(connection_resumed, m)?)?;
    m.add_function(wrap_pyfunction!(connection_session_ticket, m)?)?;
    m.add_function(wrap_pyfunction!(connection_timing, m)?)?;
    m.add_function(wrap_pyfunction!(alert_names, m)?)?;
    m.add_function(wrap_pyfunction!(key_exchange, m)?)
}
