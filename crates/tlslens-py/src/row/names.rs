//! The registry's names for the row: `tlslens.registry`'s own functions, asked once per
//! code point and kept; and the connection's ends, their addresses worded the same way.
//!
//! Strategy: the names have one source, `src/tlslens/registry` (generated from the IANA
//! CSVs, plus its rules for GREASE, unknown values and pre-standard versions). Rather than
//! a second copy of the tables and rules in Rust, the writer asks the Python function the
//! first time a code point is met and keeps its answer in a map; a capture uses few
//! distinct code points, so the maps stay small. Each map is bounded by `MAX_KEPT` (it
//! starts over when full) and the code points are at most 24 bits wide, so even a hostile
//! capture cannot grow one past it. A value outside the table's width (an int no parser
//! makes) is named by the Python function each time, never kept.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use pyo3::prelude::*;
use pyo3::sync::GILOnceCell;
use pyo3::types::PyString;

use crate::endpoint::Endpoint;

/// Distinct code points kept per table before it starts over.
pub const MAX_KEPT: usize = 4096;

/// A registry table, as the name of the function in `tlslens.registry` that names it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Table {
    Version,
    /// A cipher suite, or SSL 2.0's 3-byte cipher kind (`cipher_suite_label`).
    Suite,
    Group,
    Handshake,
    Alert,
    ContentType,
    CertificateCompression,
}

impl Table {
    const ALL: [Table; 7] = [
        Table::Version,
        Table::Suite,
        Table::Group,
        Table::Handshake,
        Table::Alert,
        Table::ContentType,
        Table::CertificateCompression,
    ];

    /// The module and the function that names the table's code points.
    fn function(self) -> (&'static str, &'static str) {
        let registry = "tlslens.registry";
        match self {
            Table::Version => (registry, "version_name"),
            Table::Suite => (registry, "cipher_suite_label"),
            Table::Group => (registry, "group_name"),
            Table::Handshake => (registry, "handshake_name"),
            Table::Alert => (registry, "alert_name"),
            Table::ContentType => (registry, "content_type_name"),
            Table::CertificateCompression => ("tlslens.handshake.compression", "algorithm_name"),
        }
    }

    /// The function's answer for `value`.
    fn ask<'py>(self, py: Python<'py>, value: &Bound<'py, PyAny>) -> PyResult<Arc<str>> {
        let (module, function) = self.function();
        let named = py.import(module)?.getattr(function)?.call1((value,))?;
        Ok(named.extract::<String>()?.into())
    }

    fn position(self) -> usize {
        Table::ALL.iter().position(|t| *t == self).unwrap_or(0)
    }

    /// The widest code point the table's parsers make (a cipher kind is 3 bytes).
    fn max(self) -> u32 {
        match self {
            Table::Handshake | Table::Alert | Table::ContentType => 0xff,
            Table::Suite => 0xff_ffff,
            Table::Version | Table::Group | Table::CertificateCompression => 0xffff,
        }
    }
}

/// What a cipher suite says of the key exchange (`CipherSuiteInfo`), for the row's
/// `key_exchange`, `authentication` and `forward_secrecy`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SuiteInfo {
    pub kx: Option<String>,
    pub auth: Option<String>,
    pub forward_secrecy: Option<bool>,
    pub tls13: bool,
    /// An AEAD with an 8-byte tag (CCM_8): a protected TLS 1.3 alert is 11 bytes, not 19.
    pub short_tag: bool,
}

type NameMap = HashMap<u32, Arc<str>>;

static NAMES: LazyLock<Mutex<Vec<NameMap>>> =
    LazyLock::new(|| Mutex::new(Table::ALL.iter().map(|_| NameMap::new()).collect()));
static SUITES: LazyLock<Mutex<HashMap<u16, Option<Arc<SuiteInfo>>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));
static REGISTRY: GILOnceCell<Py<PyModule>> = GILOnceCell::new();

fn registry(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    let module = REGISTRY.get_or_try_init(py, || {
        Ok::<_, PyErr>(py.import("tlslens.registry")?.unbind())
    })?;
    Ok(module.bind(py))
}

/// The name `tlslens.registry` gives `value` in `table`.
pub fn name(py: Python<'_>, table: Table, value: u32) -> PyResult<Arc<str>> {
    // The lock is never held across a Python call: the call may let another thread run.
    let kept = lock(&NAMES)
        .get(table.position())
        .and_then(|map| map.get(&value).cloned());
    if let Some(found) = kept {
        return Ok(found);
    }
    let named = table.ask(py, value.into_pyobject(py)?.as_any())?;
    if value <= table.max() {
        let mut maps = lock(&NAMES);
        if let Some(map) = maps.get_mut(table.position()) {
            if map.len() >= MAX_KEPT {
                map.clear();
            }
            map.insert(value, Arc::clone(&named));
        }
    }
    Ok(named)
}

/// The name of a Python int: through the kept names when it fits 32 bits, else asked of
/// `tlslens.registry` (which names any int).
pub fn name_of(py: Python<'_>, table: Table, value: &Bound<'_, PyAny>) -> PyResult<Arc<str>> {
    match value.extract::<u32>() {
        Ok(code) => name(py, table, code),
        Err(_) => table.ask(py, value),
    }
}

/// The names of `values`, in their order (the kept ones under one lock).
pub fn names(
    py: Python<'_>,
    table: Table,
    values: impl IntoIterator<Item = u32>,
) -> PyResult<Vec<Arc<str>>> {
    let values: Vec<u32> = values.into_iter().collect();
    let kept: Vec<Option<Arc<str>>> = {
        let maps = lock(&NAMES);
        let map = maps.get(table.position());
        values
            .iter()
            .map(|v| map.and_then(|m| m.get(v).cloned()))
            .collect()
    };
    values
        .iter()
        .zip(kept)
        .map(|(v, found)| match found {
            Some(found) => Ok(found),
            None => name(py, table, *v),
        })
        .collect()
}

/// The registry's facts of cipher suite `value`, None for a suite it does not list.
pub fn suite_info(py: Python<'_>, value: u16) -> PyResult<Option<Arc<SuiteInfo>>> {
    if let Some(found) = lock(&SUITES).get(&value) {
        return Ok(found.clone());
    }
    let row = registry(py)?.getattr("CIPHER_SUITES")?.get_item(value);
    let info = match row {
        Ok(row) => Some(Arc::new(SuiteInfo {
            kx: row.getattr("kx")?.extract()?,
            auth: row.getattr("auth")?.extract()?,
            forward_secrecy: row.getattr("forward_secrecy")?.extract()?,
            tls13: row.getattr("tls13")?.extract()?,
            short_tag: row
                .getattr("name")?
                .extract::<String>()?
                .ends_with("CCM_8_SHA256"),
        })),
        Err(err) if err.is_instance_of::<pyo3::exceptions::PyKeyError>(py) => None,
        Err(err) => return Err(err),
    };
    let mut suites = lock(&SUITES);
    if suites.len() >= MAX_KEPT {
        suites.clear();
    }
    suites.insert(value, info.clone());
    Ok(info)
}

/// A connection's end as `model.Endpoint` writes itself (`str`): the core's `Endpoint` words
/// itself without a Python call once its address is known (endpoint.rs); any other object
/// is asked for its `str`.
pub fn endpoint<'py>(end: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyString>> {
    match end.downcast::<Endpoint>() {
        Ok(end) => end.get().text(end.py()),
        Err(_) => end.str(),
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// RFC 8701's GREASE code points (the core's rule, as `registry.is_grease`).
pub fn is_grease(value: u16) -> bool {
    tlslens_core::fingerprint::is_grease(u32::from(value))
}

#[cfg(test)]
mod tests {
    use super::{is_grease, Table};

    #[test]
    fn tables_have_distinct_positions_and_widths() {
        let positions: Vec<usize> = Table::ALL.iter().map(|t| t.position()).collect();
        assert_eq!(positions, (0..Table::ALL.len()).collect::<Vec<_>>());
        assert_eq!(Table::Alert.max(), 0xff);
        assert_eq!(Table::Suite.max(), 0xff_ffff);
    }

    #[test]
    fn grease_is_the_cores_rule() {
        assert!(is_grease(0x0a0a));
        assert!(is_grease(0xfafa));
        assert!(!is_grease(0x0a1a));
        assert!(!is_grease(0x1301));
    }
}
