//! `tlslens._core.resumption_keys`: what a connection presented to resume a session, and
//! what its server issued for later connections to resume, as tls/resumption.py's index
//! keys.
//!
//! Strategy: every connection is looked up in the capture's resumption index and learnt
//! into it as it is handed out; the keys were read in Python through the model's properties
//! (the hellos read three times over, each ticket hashed by `hashlib`). Here the hellos are
//! read once. A key is ("ticket" or "session_id", the value), a value longer than 16 bytes
//! standing as the first 16 bytes of its SHA-256 (tickets run to hundreds of bytes).

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};
use sha2::{Digest, Sha256};
use tlslens_core::extensions::{self as ext, Decoded};

use super::hello::Hellos;

/// One index key: its kind and its (short) value.
type Key = (&'static str, Py<PyBytes>);

/// `value` as an index key: itself up to 16 bytes, else the first 16 bytes of its SHA-256.
fn key(py: Python<'_>, kind: &'static str, value: &[u8]) -> Key {
    if value.len() > 16 {
        let digest = Sha256::digest(value);
        (kind, PyBytes::new(py, &digest[..16]).unbind())
    } else {
        (kind, PyBytes::new(py, value).unbind())
    }
}

/// (presented, issued): what the first ClientHello presented to resume a session, tickets
/// first (a session_ticket extension's, then pre_shared_key identities), then its session
/// ID, none unless the connection resumed; the session ID the server gave in a full
/// handshake before TLS 1.3, then the tickets it issued (at most those the model keeps).
#[pyfunction]
fn resumption_keys(conn: &Bound<'_, PyAny>) -> PyResult<(Vec<Key>, Vec<Key>)> {
    let py = conn.py();
    let hellos = Hellos::of(conn)?;
    let resumed = hellos.resumed().is_some();
    let mut presented = Vec::new();
    if let Some(hello) = hellos.client.as_ref().filter(|_| resumed) {
        let index = hello.get().index();
        if let Some(ticket) = index.body(ext::SESSION_TICKET).filter(|t| !t.is_empty()) {
            presented.push(key(py, "ticket", ticket));
        }
        if let Some(Decoded::OfferedPsks { identities, .. }) =
            index.value_of(py, ext::PRE_SHARED_KEY)
        {
            presented.extend(identities.iter().map(|i| key(py, "ticket", &i.identity)));
        }
        let session_id = hello.get().legacy_session_id(py);
        if !session_id.is_empty() {
            presented.push(key(py, "session_id", session_id));
        }
    }
    let mut issued = Vec::new();
    if let Some(server) = hellos
        .server
        .as_ref()
        .filter(|_| !resumed && !hellos.tls13())
    {
        let session_id = server.get().legacy_session_id(py);
        if !session_id.is_empty() {
            issued.push(key(py, "session_id", session_id));
        }
    }
    // The slot, not the member: a connection that issued none is given no empty list.
    let tickets = conn.getattr(intern!(py, "_issued_tickets"))?;
    if !tickets.is_none() {
        for ticket in tickets.downcast::<PyList>()?.iter() {
            issued.push(key(py, "ticket", ticket.downcast::<PyBytes>()?.as_bytes()));
        }
    }
    Ok((presented, issued))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(resumption_keys, m)?)
}
