//! The row's `handshakes`: what each handshake of the connection settled (the first, then
//! each renegotiation), from its `model.Handshake`.

use std::sync::Arc;

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyList;
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use super::certificates::{self, Certificate, Certificates};
use super::hello::key_exchange;
use super::names::{self, Table};
use super::write::With;
use crate::handshake::ServerHello;

/// One handshake, read.
pub struct Handshake<'py> {
    version: Option<Arc<str>>,
    cipher_suite: Option<Arc<str>>,
    key_exchange: Option<String>,
    certificates: Vec<Certificate<'py>>,
    first_frame: Bound<'py, PyAny>,
}

fn handshake<'py>(handshake: &Bound<'py, PyAny>) -> PyResult<Handshake<'py>> {
    let py = handshake.py();
    let hello = handshake.getattr(intern!(py, "server_hello"))?;
    let hello = if hello.is_none() {
        None
    } else {
        Some(hello.downcast_into::<ServerHello>()?)
    };
    let (version, cipher_suite, kx) = match &hello {
        Some(sh) => {
            let sh = sh.get();
            (
                Some(names::name(
                    py,
                    Table::Version,
                    u32::from(sh.selected_version()),
                )?),
                Some(names::name(py, Table::Suite, u32::from(sh.cipher_suite()))?),
                key_exchange(py, sh)?,
            )
        }
        None => (None, None, None),
    };
    let certificates = certificates::read(&handshake.getattr(intern!(py, "certificates"))?)?;
    Ok(Handshake {
        version,
        cipher_suite,
        key_exchange: kx,
        certificates,
        first_frame: handshake.getattr(intern!(py, "first_frame"))?,
    })
}

/// The connection's `handshakes`, read.
pub fn read<'py>(conn: &Bound<'py, PyAny>) -> PyResult<Vec<Handshake<'py>>> {
    let handshakes = conn.getattr(intern!(conn.py(), "handshakes"))?;
    handshakes
        .downcast::<PyList>()?
        .iter()
        .map(|h| handshake(&h))
        .collect()
}

impl Serialize for With<'_, Handshake<'_>> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let h = self.0;
        let mut map = s.serialize_map(Some(5))?;
        map.serialize_entry("version", &h.version.as_deref())?;
        map.serialize_entry("cipher_suite", &h.cipher_suite.as_deref())?;
        map.serialize_entry("key_exchange", &h.key_exchange)?;
        map.serialize_entry("certificates", &Certificates(&h.certificates, self.1))?;
        map.serialize_entry("first_frame", &self.node(&h.first_frame))?;
        map.end()
    }
}
