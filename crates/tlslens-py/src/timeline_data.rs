//! The timeline's runs of application data (`tlslens._core.ApplicationDataEvent`,
//! `EarlyDataEvent`, under `DataEvent`), and `fold_run`, which joins a run to the step
//! before it when the timeline tells them as one.

use std::sync::atomic::Ordering;

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyList};
use pyo3::PyClassInitializer;

use crate::timeline::{kind_methods, py_bool, At, TimelineEvent};

/// Application data records in a row, in one direction (QUIC: packets); `decrypted`: their
/// plaintext was read (`length` is then the plaintext's).
#[pyclass(extends = TimelineEvent, subclass, frozen, module = "tlslens._core")]
pub struct DataEvent {
    #[pyo3(get)]
    decrypted: Py<PyBool>,
}

impl DataEvent {
    /// Whether the run's plaintext was read (the outcome's walk, `row/completion.rs`).
    pub(crate) fn decrypted(&self, py: Python<'_>) -> bool {
        self.decrypted.bind(py).is_true()
    }
}

/// Declares a kind of data run.
macro_rules! data_kind {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[pyclass(extends = DataEvent, frozen, module = "tlslens._core")]
        pub struct $name {}

        kind_methods!(
            $name, $kind, own ["decrypted"],
            new(py, at, decrypted: bool) signature (decrypted=false)
                => $name::init(at, py_bool(py, decrypted)),
            counters [],
        );

        impl $name {
            fn init(at: At, decrypted: Py<PyBool>) -> PyClassInitializer<Self> {
                at.base().add_subclass(DataEvent { decrypted }).add_subclass($name {})
            }

            pub fn build(py: Python<'_>, at: At, decrypted: bool) -> PyResult<PyObject> {
                Ok(Py::new(py, $name::init(at, py_bool(py, decrypted)))?.into_any())
            }
        }
    };
}

data_kind!(
    /// Application data records in a row, in one direction.
    ApplicationDataEvent,
    "application_data"
);
data_kind!(
    /// 0-RTT data (TLS 1.3 early data, QUIC's 0-RTT packets).
    EarlyDataEvent,
    "early_data"
);

/// `run` joins the last step of `timeline` when the timeline tells them as one (the same
/// kind and direction; a decrypted run joins only a decrypted one): that step counts its
/// records and bytes and ends at its last frame. Otherwise `run` is appended. True: joined.
#[pyfunction]
pub fn fold_run(timeline: &Bound<'_, PyList>, run: &Bound<'_, DataEvent>) -> PyResult<bool> {
    let joined = match timeline.len().checked_sub(1) {
        Some(last) => join(&timeline.get_item(last)?, run)?,
        None => false,
    };
    if !joined {
        timeline.append(run)?;
    }
    Ok(joined)
}

fn join(last: &Bound<'_, PyAny>, run: &Bound<'_, DataEvent>) -> PyResult<bool> {
    if !last.get_type().is(&run.get_type()) {
        return Ok(false);
    }
    let last = last.downcast::<DataEvent>()?;
    let py = run.py();
    if run.get().decrypted.bind(py).is_true() && !last.get().decrypted.bind(py).is_true() {
        return Ok(false);
    }
    let (next, step) = (run.as_super().get(), last.as_super().get());
    if !step
        .direction
        .bind(py)
        .as_any()
        .eq(next.direction.bind(py))?
    {
        return Ok(false);
    }
    // Holding the GIL, nothing else touches either event in between.
    for (sum, more) in [(&step.records, &next.records), (&step.length, &next.length)] {
        let total = sum
            .load(Ordering::Relaxed)
            .saturating_add(more.load(Ordering::Relaxed));
        sum.store(total, Ordering::Relaxed);
    }
    let last_frame = next.last_frame.load(Ordering::Relaxed);
    step.last_frame.store(last_frame, Ordering::Relaxed);
    Ok(true)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<DataEvent>()?;
    m.add_class::<ApplicationDataEvent>()?;
    m.add_class::<EarlyDataEvent>()?;
    m.add_function(wrap_pyfunction!(fold_run, m)?)
}
