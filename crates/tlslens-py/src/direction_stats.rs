//! `tlslens._core.DirectionStats`: what one direction of a connection carried (records,
//! bytes, application data, gaps), as the model's `Connection.stats` holds it per direction.
//!
//! Strategy: every connection has two, counted at each side's end and read by the row: a
//! class of the core's is made without a Python call (`direction_stats`, the model's
//! factory), counted into (`take_events`) and read by the row as integers, where the
//! dataclass it replaces was a Python lambda, two `__init__` calls and a dozen attribute
//! reads and writes through the interpreter. The counts are 64-bit: a capture holds fewer
//! bytes than that.

use pyo3::prelude::*;
use pyo3::types::PyDict;

/// One direction's counts; every field starts at 0.
#[pyclass(module = "tlslens._core", get_all, set_all)]
#[derive(Default)]
pub struct DirectionStats {
    pub records: u64,
    pub application_data_records: u64,
    pub application_data_bytes: u64,
    pub bytes: u64,
    pub gaps: u64,
    pub gap_bytes: u64,
}

impl DirectionStats {
    /// The counts in the order the row writes them: bytes ("total"), records, application
    /// data records and bytes, gaps, bytes missing.
    pub fn row_values(&self) -> [u64; 6] {
        [
            self.bytes,
            self.records,
            self.application_data_records,
            self.application_data_bytes,
            self.gaps,
            self.gap_bytes,
        ]
    }

    /// A side's end: the bytes and records its record layer read (saturating: a count
    /// never wraps).
    pub fn add_end(&mut self, bytes: u64, records: u64) {
        self.bytes = self.bytes.saturating_add(bytes);
        self.records = self.records.saturating_add(records);
    }
}

#[pymethods]
impl DirectionStats {
    #[new]
    #[pyo3(signature = (records=0, application_data_records=0, application_data_bytes=0, bytes=0, gaps=0, gap_bytes=0))]
    fn new(
        records: u64,
        application_data_records: u64,
        application_data_bytes: u64,
        bytes: u64,
        gaps: u64,
        gap_bytes: u64,
    ) -> Self {
        DirectionStats {
            records,
            application_data_records,
            application_data_bytes,
            bytes,
            gaps,
            gap_bytes,
        }
    }

    fn __repr__(&self) -> String {
        format!(
            "DirectionStats(records={}, application_data_records={}, \
             application_data_bytes={}, bytes={}, gaps={}, gap_bytes={})",
            self.records,
            self.application_data_records,
            self.application_data_bytes,
            self.bytes,
            self.gaps,
            self.gap_bytes
        )
    }
}

/// `{"c2s": DirectionStats(), "s2c": DirectionStats()}`: a connection's `stats`, made on
/// first use.
#[pyfunction]
pub fn direction_stats(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let stats = PyDict::new(py);
    stats.set_item(
        pyo3::intern!(py, "c2s"),
        Py::new(py, DirectionStats::default())?,
    )?;
    stats.set_item(
        pyo3::intern!(py, "s2c"),
        Py::new(py, DirectionStats::default())?,
    )?;
    Ok(stats)
}

/// Per side (0, 1), what a content layer counted (application data records and bytes,
/// gaps and bytes missing) into `stats` ("c2s" for the client's side, else "s2c").
#[pyfunction]
#[pyo3(signature = (stats, client_side, counts))]
pub fn add_counts(
    stats: &Bound<'_, PyDict>,
    client_side: Option<u8>,
    counts: [(u64, u64, u64, u64); 2],
) -> PyResult<()> {
    let py = stats.py();
    for (side, (records, size, gaps, gap_bytes)) in (0u8..).zip(counts) {
        let key = if client_side == Some(side) {
            pyo3::intern!(py, "c2s")
        } else {
            pyo3::intern!(py, "s2c")
        };
        let Some(direction) = stats.get_item(key)? else {
            return Err(pyo3::exceptions::PyKeyError::new_err(key.clone().unbind()));
        };
        let mut direction = direction.downcast::<DirectionStats>()?.borrow_mut();
        let d = &mut *direction;
        d.application_data_records = d.application_data_records.saturating_add(records);
        d.application_data_bytes = d.application_data_bytes.saturating_add(size);
        d.gaps = d.gaps.saturating_add(gaps);
        d.gap_bytes = d.gap_bytes.saturating_add(gap_bytes);
    }
    Ok(())
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<DirectionStats>()?;
    m.add_function(wrap_pyfunction!(direction_stats, m)?)?;
    m.add_function(wrap_pyfunction!(add_counts, m)?)?;
    Ok(())
}
