//! The thin PyO3 boundary of tlslens-core: `tlslens._core`.
//!
//! Strategy: one call per batch, never per frame; the walk runs with the GIL released and
//! its results become Python objects once. A panic in the core is a bug, but it must not
//! reach Python as a traceback: it is caught here and told as the capture's last problem.

use std::panic::{catch_unwind, AssertUnwindSafe};

mod content;
mod content_events;
mod decrypt;
mod dtls;
mod ext_index;
mod extensions;
mod flow_content;
mod flow_events;
mod flow_handover;
mod flows;
mod handshake;
mod handshake_kx;
mod json;
mod keylog;
mod keys;
mod quic_classes;
mod quic_events;
mod session;
mod udp_events;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};
use tlslens_core::capture::{self, Batch, Problem, Reader};

/// The frames, problems and Decryption Secrets Blocks one `poll` read.
#[pyclass(frozen, module = "tlslens._core")]
struct FrameBatch {
    /// (timestamp in ns, link type, frame bytes)
    #[pyo3(get)]
    frames: Py<PyList>,
    /// (byte offset, message, frame number)
    #[pyo3(get)]
    problems: Py<PyList>,
    /// (secrets type, data)
    #[pyo3(get)]
    secrets: Py<PyList>,
}

/// pcap / pcapng / gzip'd capture reader, sans-IO: `feed` bytes, `poll` batches.
#[pyclass(module = "tlslens._core")]
struct CaptureReader {
    reader: Reader,
    broken: bool, // a panic was caught: nothing more is read
    panic: Option<Problem>,
}

#[pymethods]
impl CaptureReader {
    #[new]
    fn new(max_expansion: u64, gzip_floor: u64) -> Self {
        Self {
            reader: Reader::new(max_expansion, gzip_floor),
            broken: false,
            panic: None,
        }
    }

    fn feed(&mut self, py: Python<'_>, chunk: &[u8]) {
        self.guard(py, |reader| {
            reader.feed(chunk);
            Batch::default()
        });
    }

    /// No more bytes will come; `error`: why (a read that failed).
    #[pyo3(signature = (error=None))]
    fn finish(&mut self, py: Python<'_>, error: Option<String>) {
        self.guard(py, |reader| {
            reader.finish(error);
            Batch::default()
        });
    }

    /// What can be read of the bytes fed so far: an empty batch when more are needed.
    fn poll(&mut self, py: Python<'_>) -> PyResult<FrameBatch> {
        let mut batch = self.guard(py, Reader::poll);
        if let Some(problem) = self.panic.take() {
            batch.problems.push(problem);
        }
        to_python(py, &batch)
    }

    /// "pcap", "pcapng", or "unknown" until the first bytes are walked.
    #[getter]
    fn format(&self) -> &'static str {
        self.reader.format().name()
    }

    /// Why the input is not a capture at all.
    #[getter]
    fn fatal(&self) -> Option<String> {
        self.reader.fatal().map(str::to_owned)
    }

    /// Nothing more will come out, whatever is fed.
    #[getter]
    fn done(&self) -> bool {
        self.broken || self.reader.done()
    }

    #[getter]
    fn frames(&self) -> u64 {
        self.reader.frames()
    }

    /// Every link type the capture declared so far.
    #[getter]
    fn linktypes(&self) -> Vec<u32> {
        self.reader.linktypes().iter().copied().collect()
    }
}

impl CaptureReader {
    /// Run `work` on the reader with the GIL released; a panic stops the reader and leaves
    /// the internal-error problem for the next `poll`.
    fn guard(&mut self, py: Python<'_>, work: impl FnOnce(&mut Reader) -> Batch + Send) -> Batch {
        if self.broken {
            return Batch::default();
        }
        let reader = &mut self.reader;
        match py.allow_threads(|| catch_unwind(AssertUnwindSafe(|| work(reader)))) {
            Ok(batch) => batch,
            Err(panic) => {
                self.broken = true;
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic".to_owned());
                self.panic = Some(Problem {
                    offset: self.reader.offset(),
                    message: format!(
                        "internal error in the capture reader ({what}): reading stops here"
                    ),
                    frame: Some(self.reader.frames().saturating_add(1)),
                });
                Batch::default()
            }
        }
    }
}

fn to_python(py: Python<'_>, batch: &Batch) -> PyResult<FrameBatch> {
    let frames = PyList::empty(py);
    for frame in &batch.frames {
        // Nanoseconds fit 64 bits until 2262; a wider pcapng clock takes the slow path.
        let ts = match i64::try_from(frame.ts_ns) {
            Ok(ts) => ts.into_pyobject(py)?.into_any(),
            Err(_) => frame.ts_ns.into_pyobject(py)?.into_any(),
        };
        let item = (ts, frame.linktype, PyBytes::new(py, batch.bytes(frame)));
        frames.append(PyTuple::new(
            py,
            [
                item.0,
                item.1.into_pyobject(py)?.into_any(),
                item.2.into_any(),
            ],
        )?)?;
    }
    let problems = PyList::empty(py);
    for problem in &batch.problems {
        problems.append((problem.offset, problem.message.as_str(), problem.frame))?;
    }
    let secrets = PyList::empty(py);
    for block in &batch.secrets {
        secrets.append((block.secrets_type, PyBytes::new(py, &block.data)))?;
    }
    Ok(FrameBatch {
        frames: frames.unbind(),
        problems: problems.unbind(),
        secrets: secrets.unbind(),
    })
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("GZIP_MAX_RATIO", capture::GZIP_MAX_RATIO)?;
    m.add("GZIP_FLOOR", capture::GZIP_FLOOR)?;
    m.add_class::<CaptureReader>()?;
    m.add_class::<FrameBatch>()?;
    extensions::register(m)?;
    flows::register(m)?;
    handshake::register(m)?;
    dtls::register(m)?;
    keys::register(m)?;
    keylog::register(m)?;
    decrypt::register(m)?;
    session::register(m)?;
    content::register(m)?;
    json::register(m)?;
    Ok(())
}
