//! The key log and the session cache of a run, held in the core: `KeyLog` (parsed by
//! `tlslens_core::decrypt::keylog`, the one parser of key log lines) and `SessionCache`
//! (master secrets by session ID and ticket, bounded). `keys/store.py`'s `KeyStore` holds
//! one of each; every connection's `Decryptor` reads them.
//!
//! Both are shared (`Arc`, behind a lock) with the flows' decryptors, which the walk feeds
//! on its own thread without the GIL (walk.rs): see `lock_here` for how Python's side
//! takes the locks.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard};
use std::sync::{RwLockWriteGuard, TryLockError, TryLockResult};

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyTuple};

use crate::walk::{wait_doing_jobs, walking};
use tlslens_core::decrypt::keylog;
use tlslens_core::decrypt::store::{self, SessionCache as CoreCache};

/// A run's key log, as every flow's decryptor reads it.
pub(crate) type SharedKeyLog = Arc<RwLock<keylog::KeyLog>>;

/// A run's session cache, as every flow's decryptor reads and fills it.
pub(crate) type SharedSessions = Arc<Mutex<CoreCache>>;

/// A lock of what the walking threads share with Python (the key log, the session cache, a
/// flow's decryption), taken where the GIL is held: at once when free, else with the GIL
/// released while it waits, doing the walking threads' jobs meanwhile (walk.rs): a walk
/// may hold the lock while it waits for a job (a SEED-CBC record decrypted through Python).
/// (A poisoned lock is taken as it stands: the core's panics are caught inside the locks.)
pub(crate) fn lock_here<'a, T: Send>(py: Python<'_>, lock: &'a Mutex<T>) -> MutexGuard<'a, T> {
    wait_doing_jobs(py, || taken(lock.try_lock()))
}

/// A lock's guard if it was free (a poisoned lock taken as it stands), None if it is held.
fn taken<G>(tried: TryLockResult<G>) -> Option<G> {
    match tried {
        Ok(guard) => Some(guard),
        Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
        Err(TryLockError::WouldBlock) => None,
    }
}

/// `lock_here` for reading a key log.
pub(crate) fn read_here<'a, T: Send + Sync>(
    py: Python<'_>,
    lock: &'a RwLock<T>,
) -> RwLockReadGuard<'a, T> {
    wait_doing_jobs(py, || taken(lock.try_read()))
}

/// `lock_here` for adding to a key log.
fn write_here<'a, T: Send + Sync>(py: Python<'_>, lock: &'a RwLock<T>) -> RwLockWriteGuard<'a, T> {
    wait_doing_jobs(py, || taken(lock.try_write()))
}

/// A lock taken where the GIL is not held: a walking thread waits (its jobs, and those of
/// a walk holding the lock, are done by the threads that hold the GIL); another thread
/// (a walk in step, the GIL released) takes the GIL to wait as `lock_here` does.
pub(crate) fn lock_walking<T: Send>(lock: &Mutex<T>) -> MutexGuard<'_, T> {
    match taken(lock.try_lock()) {
        Some(guard) => guard,
        None if walking() => lock.lock().unwrap_or_else(PoisonError::into_inner),
        None => Python::with_gil(|py| lock_here(py, lock)),
    }
}

/// `lock_walking` for reading a key log.
pub(crate) fn read_walking<T: Send + Sync>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    match taken(lock.try_read()) {
        Some(guard) => guard,
        None if walking() => lock.read().unwrap_or_else(PoisonError::into_inner),
        None => Python::with_gil(|py| read_here(py, lock)),
    }
}

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
#[pyclass(frozen, module = "tlslens._core")]
#[derive(Default)]
pub struct KeyLog(pub(crate) SharedKeyLog);

impl KeyLog {
    fn read<'a>(&'a self, py: Python<'_>) -> RwLockReadGuard<'a, keylog::KeyLog> {
        read_here(py, &self.0)
    }
}

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
    fn add_text(&self, py: Python<'_>, text: &str, source: &str, origin: &str) -> usize {
        write_here(py, &self.0).add_text(text, source, origin)
    }

    /// A key log of its own holding these secrets: what is added to one is not in the
    /// other (the secrets are copied when either adds some, not before).
    fn copy(&self, py: Python<'_>) -> Self {
        Self(Arc::new(RwLock::new(self.read(py).clone())))
    }

    fn get<'py>(
        &self,
        py: Python<'py>,
        label: &str,
        client_random: &[u8],
    ) -> Option<Bound<'py, PyBytes>> {
        self.read(py)
            .get(label, client_random)
            .map(|secret| PyBytes::new(py, secret))
    }

    /// Whether any line of the key log is for this client random.
    fn knows(&self, py: Python<'_>, client_random: &[u8]) -> bool {
        self.read(py).knows(client_random)
    }

    /// Where a secret came from: "keylog" (a file), "pcapng" (a Decryption Secrets Block)...
    fn origin(&self, py: Python<'_>, label: &str, client_random: &[u8]) -> String {
        self.read(py).origin(label, client_random).to_owned()
    }

    /// Why nothing was found for `what`, naming what was searched (the key log given, the
    /// capture's Decryption Secrets Blocks, both, or nothing usable).
    fn holds_nothing_for(&self, py: Python<'_>, what: &str) -> String {
        self.read(py).holds_nothing_for(what)
    }

    fn __len__(&self, py: Python<'_>) -> usize {
        self.read(py).len()
    }

    /// Secrets held by label and client random (RSA lines not counted).
    #[getter]
    fn secret_count(&self, py: Python<'_>) -> usize {
        self.read(py).secret_count()
    }

    #[getter]
    fn problems(&self, py: Python<'_>) -> Vec<KeyLogProblem> {
        self.read(py)
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
    fn problem_count(&self, py: Python<'_>) -> usize {
        self.read(py).problem_count
    }

    /// {(label, client random): secret}, built on each call (for the QUIC and DTLS tables).
    #[getter]
    fn secrets<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let out = PyDict::new(py);
        for (label, random, secret) in self.read(py).secrets() {
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
        for (prefix, premaster) in self.read(py).rsa_premasters() {
            out.set_item(PyBytes::new(py, prefix), PyBytes::new(py, premaster))?;
        }
        Ok(out)
    }
}

/// The master secrets of the full handshakes read so far, by session ID and by ticket, for
/// the abbreviated handshakes that resume them (each table bounded by `MAX_SESSIONS`,
/// oldest forgotten first).
#[pyclass(frozen, module = "tlslens._core")]
#[derive(Default)]
pub struct SessionCache(pub(crate) SharedSessions);

#[pymethods]
impl SessionCache {
    #[new]
    fn new() -> Self {
        Self::default()
    }

    #[classattr]
    const MAX_SESSIONS: usize = store::MAX_SESSIONS;

    /// (sessions, tickets) held.
    fn __len__(&self, py: Python<'_>) -> usize {
        let (sessions, tickets) = lock_here(py, &self.0).len();
        sessions + tickets
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<KeyLog>()?;
    m.add_class::<KeyLogProblem>()?;
    m.add_class::<SessionCache>()?;
    Ok(())
}
