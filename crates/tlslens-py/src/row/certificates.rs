//! The row's certificates (`certificates`, and each handshake's): `CertificateInfo.to_json`
//! written as text once per certificate object and kept.
//!
//! Strategy: a capture sends the same few certificates in connection after connection
//! (`parse_certificate` hands out one object per DER, whose JSON never changes), and a
//! certificate's JSON is most of a row that has one. Its text is made the first time by
//! json.rs's walk of `to_json`'s dict and kept by the object's identity (the map holds the
//! object, so its address is not reused); the line writes the kept text as it is, and the
//! row's objects (`connection_row`) are `to_json`'s dicts, the caller's to keep. The map is
//! bounded by `MAX_KEPT` (it starts over when full), and forgotten whenever
//! `parse_certificate`'s cache lets its certificates go (its bound in bytes): the map holds
//! only certificates that cache held since, so their DER is bounded by it too.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyList;
use serde::{Serialize, Serializer};

use super::objects::HANDOFF;
use crate::json::{python_bytes, Node, Shared};

/// Certificates kept before the map starts over.
const MAX_KEPT: usize = 4096;

/// A certificate object and its JSON text.
type Kept = (Py<PyAny>, Arc<[u8]>);

static TEXTS: LazyLock<Mutex<HashMap<usize, Kept>>> = LazyLock::new(|| Mutex::new(HashMap::new()));

/// A `CertificateInfo` of the row (its JSON text is made, or found, when a line is
/// written: the row's objects, `connection_row`, need none).
pub struct Certificate<'py> {
    info: Bound<'py, PyAny>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `info`'s JSON text: the kept one, or made from its `to_json` and kept.
fn text(info: &Bound<'_, PyAny>) -> PyResult<Arc<[u8]>> {
    let address = info.as_ptr() as usize;
    // The lock is never held across a Python call: the call may let another thread run.
    if let Some((kept, text)) = lock(&TEXTS).get(&address) {
        if kept.bind(info.py()).is(info) {
            return Ok(Arc::clone(text));
        }
    }
    let json = info.call_method0(intern!(info.py(), "to_json"))?;
    let text: Arc<[u8]> = python_bytes(1024, |serializer, shared| {
        Node::new(&json, shared, 2).serialize(serializer)
    })?
    .into();
    let mut texts = lock(&TEXTS);
    // A full map starts over; its certificates go with the lock released.
    let full = (texts.len() >= MAX_KEPT).then(|| std::mem::take(&mut *texts));
    texts.insert(address, (info.clone().unbind(), Arc::clone(&text)));
    drop(texts);
    drop(full);
    Ok(text)
}

/// Forget every kept text, and the certificates they hold.
#[pyfunction]
pub fn forget_certificate_texts() {
    let kept = std::mem::take(&mut *lock(&TEXTS));
    drop(kept); // the certificates go with the lock released
}

/// The certificates of a list of `CertificateInfo`.
pub fn read<'py>(infos: &Bound<'py, PyAny>) -> PyResult<Vec<Certificate<'py>>> {
    Ok(infos
        .downcast::<PyList>()?
        .iter()
        .map(|info| Certificate { info })
        .collect())
}

/// A list of certificates: their kept texts in a line, `to_json`'s dicts as objects.
pub struct Certificates<'a, 'py>(pub &'a [Certificate<'py>], pub &'a Shared);

impl Serialize for Certificates<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|certificate| One(certificate, self.1)))
    }
}

struct One<'a, 'py>(&'a Certificate<'py>, &'a Shared);

impl Serialize for One<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Self(certificate, shared) = *self;
        if !shared.hands_off() {
            let text = text(&certificate.info).map_err(|err| shared.fail::<S::Error>(err))?;
            return s.serialize_bytes(&text); // written as it is (json.rs)
        }
        let py = certificate.info.py();
        let json = certificate
            .info
            .call_method0(intern!(py, "to_json"))
            .map_err(|err| shared.fail::<S::Error>(err))?;
        shared.hand(&json);
        s.serialize_newtype_struct(HANDOFF, &Node::new(&json, shared, 2))
    }
}
