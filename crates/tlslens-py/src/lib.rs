//! The thin PyO3 boundary of tlslens-core: `tlslens._core`.
//!
//! Strategy: one call per batch, never per frame; the walk runs with the GIL released and
//! its results become Python objects once. A panic in the core is a bug, but it must not
//! reach Python as a traceback: it is caught here and told as the capture's last problem.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

mod capture_file;
mod content;
mod content_events;
mod decrypt;
mod direction_stats;
mod dtls;
mod endpoint;
mod ext_index;
mod extensions;
mod flow_content;
mod flow_events;
mod flow_handover;
mod flows;
mod handshake;
mod handshake_kx;
mod json;
mod json_text;
mod keylog;
mod keys;
mod made_on_use;
mod model_take;
mod ns;
mod quic_classes;
mod quic_events;
mod quic_runs;
mod row;
mod session;
mod shared_der;
mod timeline;
mod timeline_data;
mod udp_events;
mod udp_told;
mod unstarted;
mod walk;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};
use tlslens_core::capture::{self, Batch, Problem, Reader};

pub(crate) use capture_file::FileFeed;

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

/// pcap / pcapng / gzip'd capture reader, sans-IO: `feed` bytes, `poll` batches; or, made
/// with a `path`, reading that file itself on a thread of its own (capture_file.rs).
#[pyclass(module = "tlslens._core")]
struct CaptureReader {
    reader: Reader,
    /// The file this reader reads itself (its `Reader` is then the thread's).
    file: Option<FileFeed>,
    /// Bytes fed from Python.
    fed: u64,
    broken: bool, // a panic was caught: nothing more is read
    panic: Option<Problem>,
}

#[pymethods]
impl CaptureReader {
    #[new]
    #[pyo3(signature = (max_expansion, gzip_floor, path=None, identity=None))]
    fn new(
        max_expansion: u64,
        gzip_floor: u64,
        path: Option<PathBuf>,
        identity: Option<(u64, u64)>,
    ) -> PyResult<Self> {
        // A path, not a str: a file name that is not UTF-8 (surrogate escapes) still opens.
        let file = match path {
            Some(path) => Some(FileFeed::open(&path, identity, max_expansion, gzip_floor)?),
            None => None,
        };
        Ok(Self {
            reader: Reader::new(max_expansion, gzip_floor),
            file,
            fed: 0,
            broken: false,
            panic: None,
        })
    }

    fn feed(&mut self, py: Python<'_>, chunk: &[u8]) -> PyResult<()> {
        self.fed_from_python()?;
        self.fed = self
            .fed
            .saturating_add(u64::try_from(chunk.len()).unwrap_or(u64::MAX));
        self.guard(py, |reader| {
            reader.feed(chunk);
            Batch::default()
        });
        Ok(())
    }

    /// No more bytes will come; `error`: why (a read that failed).
    #[pyo3(signature = (error=None))]
    fn finish(&mut self, py: Python<'_>, error: Option<String>) -> PyResult<()> {
        self.fed_from_python()?;
        self.guard(py, |reader| {
            reader.finish(error);
            Batch::default()
        });
        Ok(())
    }

    /// What can be read of the bytes fed so far: an empty batch when more are needed.
    /// Reading its own file: the next batch, waiting for it (never empty before `done`).
    fn poll(&mut self, py: Python<'_>) -> PyResult<FrameBatch> {
        let batch = self.next_batch(py);
        to_python(py, &batch)
    }

    /// "pcap", "pcapng", or "unknown" until the first bytes are walked.
    #[getter]
    fn format(&self) -> &'static str {
        match &self.file {
            Some(file) => file.state().format.name(),
            None => self.reader.format().name(),
        }
    }

    /// Why the input is not a capture at all.
    #[getter]
    fn fatal(&self) -> Option<String> {
        match &self.file {
            Some(file) => file.state().fatal.clone(),
            None => self.reader.fatal().map(str::to_owned),
        }
    }

    /// Nothing more will come out, whatever is fed.
    #[getter]
    fn done(&self) -> bool {
        self.spent()
    }

    #[getter]
    fn frames(&self) -> u64 {
        match &self.file {
            Some(file) => file.state().frames,
            None => self.reader.frames(),
        }
    }

    /// Every link type the capture declared so far.
    #[getter]
    fn linktypes(&self) -> Vec<u32> {
        match &self.file {
            Some(file) => file.state().linktypes.clone(),
            None => self.reader.linktypes().iter().copied().collect(),
        }
    }

    /// Whether this reader reads its file itself (made with a `path`).
    #[getter]
    fn reads_file(&self) -> bool {
        self.file.is_some()
    }

    /// Bytes of the capture taken in so far: read from its file, or fed.
    #[getter]
    fn bytes_read(&self) -> u64 {
        self.file
            .as_ref()
            .map_or(self.fed, |file| file.state().read)
    }
}

impl CaptureReader {
    /// The next batch: from the file's thread (waiting with the GIL released), or what the
    /// bytes fed so far give; a caught panic's problem is its last.
    pub(crate) fn next_batch(&mut self, py: Python<'_>) -> Batch {
        let mut batch = match self.file.as_ref() {
            Some(file) => py.allow_threads(|| file.next()),
            None => self.guard(py, Reader::poll),
        };
        if let Some(problem) = self.panic.take() {
            batch.problems.push(problem);
        }
        batch
    }

    /// The file's batches, for a walk that takes them itself (None: a reader fed by Python).
    pub(crate) fn file_feed(&self) -> Option<FileFeed> {
        self.file.clone()
    }

    /// Nothing more will come out (the reader is done, or a panic stopped it).
    pub(crate) fn spent(&self) -> bool {
        match &self.file {
            Some(file) => file.state().done,
            None => self.broken || self.reader.done(),
        }
    }

    fn fed_from_python(&self) -> PyResult<()> {
        if self.file.is_some() {
            return Err(pyo3::exceptions::PyValueError::new_err(
                "this reader reads its own file: nothing is fed to it",
            ));
        }
        Ok(())
    }

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
    m.add("FIRST_WALK_EVENTS", walk::FIRST_WALK_EVENTS)?;
    m.add("SAID_COST", flow_handover::SAID_COST)?;
    m.add("GZIP_FLOOR", capture::GZIP_FLOOR)?;
    m.add_class::<CaptureReader>()?;
    m.add_class::<FrameBatch>()?;
    direction_stats::register(m)?;
    endpoint::register(m)?;
    extensions::register(m)?;
    flows::register(m)?;
    handshake::register(m)?;
    dtls::register(m)?;
    keys::register(m)?;
    keylog::register(m)?;
    made_on_use::register(m)?;
    model_take::register(m)?;
    decrypt::register(m)?;
    session::register(m)?;
    content::register(m)?;
    timeline::register(m)?;
    json::register(m)?;
    row::register(m)?;
    Ok(())
}
