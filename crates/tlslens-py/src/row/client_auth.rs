//! The row's `client_auth` (and the model's `Connection.client_auth`, the same function):
//! whether the server asked for a client certificate and whether one came, what it asked
//! for and the client chain's verdict.
//!
//! Strategy: the two answers are read from the connection's attributes and hellos; what a
//! CertificateRequest asked for (its certificate types by name, the CA names as text) is
//! worded by the model (`model.request_words`, x509 names are Python's) and the client
//! chain's verdict is `Validation.to_json`'s: both only for the connections that have them.

use pyo3::intern;
use pyo3::prelude::*;
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use super::hello::Hellos;
use super::write::With;
use crate::json::Shared;

/// What `client_auth` says of one connection.
pub struct ClientAuth<'py> {
    requested: Option<bool>,
    sent: Option<bool>,
    /// The CertificateRequest's (certificate types, authorities); None without one.
    request: Option<(Bound<'py, PyAny>, Bound<'py, PyAny>)>,
    /// The client chain's verdict (`Validation.to_json`), once checked.
    validation: Option<Bound<'py, PyAny>>,
}

/// Whether a client certificate was asked for, and sent: None where it cannot be told.
fn asked(conn: &Bound<'_, PyAny>, hellos: &Hellos<'_>) -> PyResult<(Option<bool>, Option<bool>)> {
    let py = conn.py();
    let tls13 = hellos.tls13();
    if tls13 && hellos.encrypted_extensions.is_none() {
        return Ok((None, None));
    }
    let request = conn
        .getattr(intern!(py, "certificate_request"))?
        .is_truthy()?;
    let certificates = conn.getattr(intern!(py, "client_certificates"))?;
    let sent = if certificates.is_none() {
        None
    } else {
        Some(certificates.is_truthy()?)
    };
    if tls13 {
        return Ok((Some(request), if request { sent } else { Some(false) }));
    }
    let visible = conn
        .getattr(intern!(py, "handshake_visible"))?
        .is_truthy()?;
    let requested = visible.then_some(request);
    Ok((
        requested,
        sent.or((requested == Some(false)).then_some(false)),
    ))
}

impl<'py> ClientAuth<'py> {
    pub fn read(conn: &Bound<'py, PyAny>, hellos: &Hellos<'py>) -> PyResult<Self> {
        let py = conn.py();
        let (requested, sent) = asked(conn, hellos)?;
        let message = conn.getattr(intern!(py, "certificate_request_message"))?;
        let request = if message.is_none() {
            None
        } else {
            let model = py.import(intern!(py, "tlslens.model"))?;
            let words = model
                .getattr(intern!(py, "request_words"))?
                .call1((message,))?;
            Some(words.extract()?)
        };
        let validation = conn.getattr(intern!(py, "client_validation"))?;
        let validation = if validation.is_none() {
            None
        } else {
            Some(validation.call_method0(intern!(py, "to_json"))?)
        };
        Ok(Self {
            requested,
            sent,
            request,
            validation,
        })
    }
}

/// An empty list.
struct Nothing;

impl Serialize for Nothing {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(std::iter::empty::<()>())
    }
}

impl Serialize for With<'_, ClientAuth<'_>> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let auth = self.0;
        let mut map = s.serialize_map(Some(5))?;
        map.serialize_entry("requested", &auth.requested)?;
        map.serialize_entry("sent", &auth.sent)?;
        match &auth.request {
            Some((types, authorities)) => {
                map.serialize_entry("certificate_types", &self.node(types))?;
                map.serialize_entry("authorities", &self.node(authorities))?;
            }
            None => {
                map.serialize_entry("certificate_types", &Nothing)?;
                map.serialize_entry("authorities", &Nothing)?;
            }
        }
        map.serialize_entry(
            "validation",
            &auth.validation.as_ref().map(|v| self.node(v)),
        )?;
        map.end()
    }
}

/// `model.Connection.client_auth`: the row's `client_auth` as a dict.
#[pyfunction]
fn connection_client_auth<'py>(conn: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let auth = ClientAuth::read(conn, &Hellos::of(conn)?)?;
    let shared = Shared::handing_off();
    super::objects_made(conn.py(), &With(&auth, &shared), &shared)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(connection_client_auth, m)?)
}
