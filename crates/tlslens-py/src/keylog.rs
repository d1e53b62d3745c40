//! The key log and the session cache of a run, held in the core: `KeyLog` (parsed by
//! `tlslens_core::decrypt::keylog`, the one parser of key log lines) and `SessionCache`
//! (master secrets by session ID and ticket, bounded). `keys/store.py`'s `KeyStore` holds
//! one of each; every connection's `Decryptor` reads them.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyTuple};
use tlslens_core::decrypt::keylog;
use tlslens_core::decrypt::store::{self, SessionCache as CoreCache};

/// A key log line that could not be used: where, and why.
#[pyclass(frozen, module = "tlslens._core")]
pub struct KeyLogProblem {
    #[pyo3(get)]
    source: String,
    #[pyo3(get)]
    line: usize,
    #[pyo3(get)]
    message: String,
}

#[pymethods]
impl KeyLogProblem {
    fn __str__(&self) -> String {
        format!("{}, line {}: {}", self.source, self.line, self.message)
    }
}

/// NSS key log lines (SSLKEYLOGFILE) from any source; see `add_text`.
#[pyclass(module = "tlslens._core")]
#[derive(Default)]
pub struct KeyLog(pub(crate) keylog::KeyLog);

#[pymethods]
impl KeyLog {
    #[new]
    fn new() -> Self {
        Self::default()
    }

    /// Bad lines kept with their text (the first of them).
    #[classattr]
    const MAX_PROBLEMS_KEPT: usize = keylog::MAX_PROBLEMS_KEPT;

    /// Add every usable line of `text` (`source` names it in problems; `origin` is where
    /// its secrets are said to come from); returns how many were used.
    #[pyo3(signature = (text, source, origin="keylog"))]
    fn add_text(&mut self, text: &str, source: &str, origin: &str) -> usize {
        self.0.add_text(text, source, origin)
    }

    fn get<'py>(
        &self,
        py: Python<'py>,
        label: &str,
        client_random: &[u8],
    ) -> Option<Bound<'py, PyBytes>> {
        self.0
            .get(label, client_random)
            .map(|secret| PyBytes::new(py, secret))
    }

    /// Whether any line of the key log is for this client random.
    fn knows(&self, client_random: &[u8]) -> bool {
        self.0.knows(client_random)
    }

    /// Where a secret came from: "keylog" (a file), "pcapng" (a Decryption Secrets Block)...
    fn origin(&self, label: &str, client_random: &[u8]) -> String {
        self.0.origin(label, client_random).to_owned()
    }

    fn __len__(&self) -> usize {
        self.0.len()
    }

    /// Secrets held by label and client random (RSA lines not counted).
    #[getter]
    fn secret_count(&self) -> usize {
        self.0.secret_count()
    }

    #[getter]
    fn problems(&self) -> Vec<KeyLogProblem> {
        self.0
            .problems
            .iter()
            .map(|p| KeyLogProblem {
                source: p.source.clone(),
                line: p.line,
                message: p.message.clone(),
            })
            .collect()
    }

    /// Every bad line, kept in `problems` or not.
    #[getter]
    fn problem_count(&self) -> usize {
        self.0.problem_count
    }

    /// {(label, client random): secret}, built on each call (for the QUIC and DTLS tables).
    #[getter]
    fn secrets<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let out = PyDict::new(py);
        for (label, random, secret) in self.0.secrets() {
            let key = PyTuple::new(
                py,
                [
                    label.into_pyobject(py)?.into_any(),
                    PyBytes::new(py, random).into_any(),
                ],
            )?;
            out.set_item(key, PyBytes::new(py, secret))?;
        }
        Ok(out)
    }

    /// {first 8 bytes of the encrypted premaster: premaster}, built on each call.
    #[getter]
    fn rsa_premasters<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let out = PyDict::new(py);
        for (prefix, premaster) in self.0.rsa_premasters() {
            out.set_item(PyBytes::new(py, prefix), PyBytes::new(py, premaster))?;
        }
        Ok(out)
    }
}

/// The master secrets of the full handshakes read so far, by session ID and by ticket, for
/// the abbreviated handshakes that resume them (each table bounded by `MAX_SESSIONS`,
/// oldest forgotten first).
#[pyclass(module = "tlslens._core")]
#[derive(Default)]
pub struct SessionCache(pub(crate) CoreCache);

#[pymethods]
impl SessionCache {
    #[new]
    fn new() -> Self {
        Self::default()
    }

    #[classattr]
    const MAX_SESSIONS: usize = store::MAX_SESSIONS;

    /// (sessions, tickets) held.
    fn __len__(&self) -> usize {
        let (sessions, tickets) = self.0.len();
        sessions + tickets
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<KeyLog>()?;
    m.add_class::<KeyLogProblem>()?;
    m.add_class::<SessionCache>()?;
    Ok(())
}
