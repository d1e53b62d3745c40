//! The flow table's boundary: `tlslens._core.FlowCore`.
//!
//! Strategy: the frames never cross into Python. `pull` takes the capture reader's next
//! batch inside Rust, walks it through the flow table with the GIL released, and returns
//! one `FlowBatch` of typed events (one class per kind) for Python's sessions: one call per
//! batch of frames, not per frame. The walk stops early where Python must speak before the
//! next frame (`ask`: may this flow's session have given it up?) or look at its clock
//! (`check`, with a time budget). A panic in the table is a bug: it is caught here and
//! becomes the capture's last problem, and reading stops.

use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};
use tlslens_core::capture::{Batch, Reader};
use tlslens_core::flows::{packet, FlowTable, Limits, Step, Verdict};

use super::flow_events::{to_python, Collector};
use super::CaptureReader;

/// Bytes of stream data gathered before a batch is handed to Python, so that memory is
/// bounded by this and not by how much one capture batch holds.
const MAX_BATCH_DATA: usize = 4 << 20;

/// What one `pull` (or `answer`, `finish`) made of the frames.
#[pyclass(frozen, module = "tlslens._core", get_all)]
pub struct FlowBatch {
    events: Py<PyList>,
    /// (byte offset, message, frame number) of the capture reader, and the core's own.
    problems: Py<PyList>,
    /// (secrets type, data) of the Decryption Secrets Blocks read.
    secrets: Py<PyList>,
    /// The flow whose session must say, before the next frame, whether it gave it up.
    ask: Option<u64>,
    /// A frame at which a time budget is checked was reached.
    check: bool,
    /// A progress point (every 4096 frames) was passed.
    progress: bool,
    /// The reader needs more bytes before anything else can be walked.
    hungry: bool,
}

/// The flow table over a capture reader's frames. See the module's documentation.
#[pyclass(module = "tlslens._core")]
pub struct FlowCore {
    table: FlowTable,
    batch: Batch,
    next: usize,
    collector: Collector,
    /// Stop at each frame where a time budget is checked.
    checks: bool,
    /// A panic was caught: nothing more is walked.
    broken: Option<String>,
}

/// Why a walk stopped.
#[derive(Default)]
struct Stop {
    ask: Option<u64>,
    check: bool,
    progress: bool,
}

impl Stop {
    fn note(&mut self, step: Step) {
        match step {
            Step::Ask { flow } => self.ask = Some(flow),
            Step::Done { progress, check } => {
                self.progress |= progress;
                self.check |= check;
            }
            Step::Passed => {}
        }
    }
}

pub fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".to_owned())
}

#[pymethods]
impl FlowCore {
    #[new]
    #[pyo3(signature = (*, reorder_window, max_connections, max_buffer, watch_after, checks))]
    fn new(
        reorder_window: usize,
        max_connections: usize,
        max_buffer: usize,
        watch_after: u64,
        checks: bool,
    ) -> Self {
        let limits = Limits {
            reorder_window,
            max_connections,
            max_buffer,
            watch_after,
        };
        FlowCore {
            table: FlowTable::new(limits),
            batch: Batch::default(),
            next: 0,
            collector: Collector::default(),
            checks,
            broken: None,
        }
    }

    /// Walk the reader's frames until Python must act: a batch of events.
    fn pull(&mut self, py: Python<'_>, reader: &Bound<'_, CaptureReader>) -> PyResult<FlowBatch> {
        let mut reader = reader.borrow_mut();
        let problems = PyList::empty(py);
        let secrets = PyList::empty(py);
        let mut hungry = false;
        if self.next >= self.batch.frames.len() && self.broken.is_none() {
            self.batch = reader.guard(py, Reader::poll);
            self.next = 0;
            if let Some(problem) = reader.panic.take() {
                self.batch.problems.push(problem);
            }
            for problem in &self.batch.problems {
                problems.append((problem.offset, problem.message.as_str(), problem.frame))?;
            }
            for block in &self.batch.secrets {
                secrets.append((block.secrets_type, PyBytes::new(py, &block.data)))?;
            }
            self.collector.secrets += self.batch.secrets.len();
            hungry = self.batch.frames.is_empty() && !(reader.broken || reader.reader.done());
        }
        let checks = self.checks;
        let (table, batch, next, collector) = (
            &mut self.table,
            &self.batch,
            &mut self.next,
            &mut self.collector,
        );
        let walked = py.allow_threads(|| {
            catch_unwind(AssertUnwindSafe(|| {
                let mut stop = Stop::default();
                while let Some(frame) = batch.frames.get(*next) {
                    *next += 1;
                    stop.note(table.frame(
                        frame.ts_ns,
                        frame.linktype,
                        batch.bytes(frame),
                        collector,
                    ));
                    if stop.ask.is_some()
                        || (checks && stop.check)
                        || collector.arena.len() > MAX_BATCH_DATA
                    {
                        break;
                    }
                }
                stop
            }))
        });
        let stop = self.survive(walked, &problems);
        self.hand_over(py, stop, problems, secrets, hungry)
    }

    /// The answer to `ask`: "ignored" (the session gave its flow up), "tls" (it never
    /// will) or "undecided", with `watch`: the sides whose data could still make it give
    /// the flow up (the others are not asked about again); the frame then goes on.
    #[pyo3(signature = (verdict, watch=(true, true)))]
    fn answer(
        &mut self,
        py: Python<'_>,
        verdict: &str,
        watch: (bool, bool),
    ) -> PyResult<FlowBatch> {
        let verdict = match verdict {
            "ignored" => Verdict::Ignored,
            "tls" => Verdict::Tls,
            _ => Verdict::Undecided {
                watch: [watch.0, watch.1],
            },
        };
        let (table, collector) = (&mut self.table, &mut self.collector);
        let walked = catch_unwind(AssertUnwindSafe(|| {
            let mut stop = Stop::default();
            stop.note(table.answer(verdict, collector));
            stop
        }));
        let problems = PyList::empty(py);
        let stop = self.survive(walked, &problems);
        self.hand_over(py, stop, problems, PyList::empty(py), false)
    }

    /// A flow whose session gave it up after an internal error: let go from now on.
    fn ignore(&mut self, py: Python<'_>, flow: u64) -> PyResult<FlowBatch> {
        let (table, collector) = (&mut self.table, &mut self.collector);
        let walked = catch_unwind(AssertUnwindSafe(|| {
            table.ignore(flow, collector);
            Stop::default()
        }));
        let problems = PyList::empty(py);
        let stop = self.survive(walked, &problems);
        self.hand_over(py, stop, problems, PyList::empty(py), false)
    }

    /// The end of reading: every open flow closes, every connection is handed out.
    fn finish(&mut self, py: Python<'_>) -> PyResult<FlowBatch> {
        let (table, collector) = (&mut self.table, &mut self.collector);
        let walked = catch_unwind(AssertUnwindSafe(|| {
            table.finish(collector);
            Stop::default()
        }));
        let problems = PyList::empty(py);
        let stop = self.survive(walked, &problems);
        self.hand_over(py, stop, problems, PyList::empty(py), false)
    }

    /// Frames walked so far.
    #[getter]
    fn frames(&self) -> u64 {
        self.table.frames
    }

    #[getter]
    fn tcp_flows(&self) -> u64 {
        self.table.tcp_flows
    }

    /// Flows closed early, over `max_connections` open at once.
    #[getter]
    fn evicted(&self) -> u64 {
        self.table.evicted
    }

    /// (frames whose timestamp went back, the first of them)
    #[getter]
    fn backwards(&self) -> (u64, u64) {
        (self.table.backwards, self.table.first_backwards)
    }

    /// Frames without a TCP segment for us, by reason, in the order first met.
    #[getter]
    fn skipped(&self) -> Vec<(&'static str, u64)> {
        self.table
            .skipped()
            .iter()
            .map(|(reason, n)| (reason.name(), *n))
            .collect()
    }

    /// Whether nothing more will be walked (the reader is spent or a panic was caught).
    fn exhausted(&self, reader: &Bound<'_, CaptureReader>) -> bool {
        let reader = reader.borrow();
        self.broken.is_some()
            || ((reader.broken || reader.reader.done()) && self.next >= self.batch.frames.len())
    }
}

impl FlowCore {
    /// A caught panic stops the walk for good and becomes a problem of the capture.
    fn survive(&mut self, walked: std::thread::Result<Stop>, problems: &Bound<'_, PyList>) -> Stop {
        match walked {
            Ok(stop) => stop,
            Err(panic) => {
                let message = format!(
                    "internal error in the flow table ({}): reading stops here",
                    panic_text(panic.as_ref())
                );
                let frame = self.table.frames;
                let _ = problems.append((0u64, message.as_str(), frame));
                self.broken = Some(message);
                self.next = self.batch.frames.len();
                Stop::default()
            }
        }
    }

    fn hand_over(
        &mut self,
        py: Python<'_>,
        stop: Stop,
        problems: Bound<'_, PyList>,
        secrets: Bound<'_, PyList>,
        hungry: bool,
    ) -> PyResult<FlowBatch> {
        let events = PyList::empty(py);
        let mut kept = std::mem::take(&mut self.collector.events);
        for event in kept.drain(..) {
            events.append(to_python(py, event, &self.collector.arena)?)?;
        }
        self.collector.arena.clear();
        self.collector.events = kept; // its allocation serves the next batch
        Ok(FlowBatch {
            events: events.unbind(),
            problems: problems.unbind(),
            secrets: secrets.unbind(),
            ask: stop.ask,
            check: stop.check,
            progress: stop.progress,
            hungry: hungry && self.broken.is_none(),
        })
    }
}

/// One frame's TCP segment, as `decode_tcp` found it.
#[pyclass(frozen, module = "tlslens._core", get_all)]
pub struct TcpSegment {
    src: Py<PyBytes>,
    dst: Py<PyBytes>,
    sport: u16,
    dport: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    payload: Py<PyBytes>,
}

/// One frame down to its TCP segment; None when it carries none for us (the reason is
/// counted in a capture's summary, `skipped`).
#[pyfunction]
fn decode_tcp(py: Python<'_>, linktype: u32, frame: &[u8]) -> Option<TcpSegment> {
    let seg = packet::decode_tcp(linktype, frame).ok()?;
    Some(TcpSegment {
        src: PyBytes::new(py, seg.src.as_bytes()).unbind(),
        dst: PyBytes::new(py, seg.dst.as_bytes()).unbind(),
        sport: seg.sport,
        dport: seg.dport,
        seq: seg.seq,
        ack: seg.ack,
        flags: seg.flags,
        payload: PyBytes::new(py, seg.payload).unbind(),
    })
}

/// The name of a link type as the summary gives it.
#[pyfunction]
fn linktype_name(linktype: u32) -> String {
    packet::linktype_name(linktype)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(linktype_name, m)?)?;
    m.add_function(wrap_pyfunction!(decode_tcp, m)?)?;
    m.add_class::<TcpSegment>()?;
    let limits = Limits::default();
    m.add("REORDER_WINDOW", limits.reorder_window)?;
    m.add("MAX_OPEN_FLOWS", limits.max_connections)?;
    m.add("MAX_PENDING_BYTES", limits.max_buffer)?;
    m.add("TCP_FIN", packet::TCP_FIN)?;
    m.add("TCP_SYN", packet::TCP_SYN)?;
    m.add("TCP_RST", packet::TCP_RST)?;
    m.add("TCP_ACK", packet::TCP_ACK)?;
    m.add_class::<FlowCore>()?;
    m.add_class::<FlowBatch>()?;
    super::flow_events::register(m)?;
    Ok(())
}
