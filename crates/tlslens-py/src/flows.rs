//! The flow table's boundary: `tlslens._core.FlowCore`.
//!
//! Strategy: the frames never cross into Python. `pull` takes the capture reader's next
//! batch inside Rust (from its reading thread when it reads a file itself), walks it through the flow table with the GIL released, and returns
//! one `FlowBatch` of typed events (one class per kind): one call per batch of frames, not
//! per frame. With `sessions`, each flow's core session reads its stream inside the walk
//! and Python gets record-level events; a session that gives its flow up (not TLS) is
//! answered for at that very frame, without Python. The walk stops early where Python must
//! look at its clock (`check`, with a time budget). A panic in the table is a bug: it is
//! caught here and becomes the capture's last problem, and reading stops.

use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};
use pyo3::{PyTraverseError, PyVisit};
use tlslens_core::capture::Batch;
use tlslens_core::flows::{packet, udp, FlowTable, Limits, Step};

use super::decrypt::suites;
use super::flow_content::ContentSetup;
use super::flow_events::{Collector, Kept};
use super::flow_handover::to_python;
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
    /// A frame at which a time budget is checked was reached.
    check: bool,
    /// A progress point (every 4096 frames) was passed.
    progress: bool,
    /// The reader needs more bytes before anything else can be walked.
    hungry: bool,
}

/// What each TCP flow's content layer is made with when it runs in the walk
/// (`FlowCore(content=...)`): `known_types` the handshake types a record of whole messages
/// may hold; `keep_plaintext` each decrypted record's bytes are told; `keep_records` each
/// record's header goes out (as a `SkippedBody`); `rsa(encrypted, versions)` the premaster
/// the run's RSA keys recover; `decryptor_for(secrets)` a new flow's `Decryptor` or None.
#[pyclass(frozen, module = "tlslens._core")]
pub struct ContentOptions {
    max_message: u64,
    known_types: Vec<u8>,
    keep_plaintext: bool,
    keep_records: bool,
    rsa: Option<PyObject>,
    decryptor_for: PyObject,
}

#[pymethods]
impl ContentOptions {
    #[new]
    #[pyo3(signature = (*, max_message, known_types, keep_plaintext, keep_records, decryptor_for, rsa=None))]
    fn new(
        max_message: u64,
        known_types: Vec<u8>,
        keep_plaintext: bool,
        keep_records: bool,
        decryptor_for: PyObject,
        rsa: Option<PyObject>,
    ) -> Self {
        ContentOptions {
            max_message,
            known_types,
            keep_plaintext,
            keep_records,
            rsa,
            decryptor_for,
        }
    }
}

impl ContentOptions {
    fn setup(&self, py: Python<'_>) -> PyResult<ContentSetup> {
        Ok(ContentSetup {
            suites: suites(py)?,
            max_message: u32::try_from(self.max_message).unwrap_or(u32::MAX),
            known_types: self.known_types.clone(),
            keep_plaintext: self.keep_plaintext,
            keep_records: self.keep_records,
            rsa: self.rsa.as_ref().map(|rsa| rsa.clone_ref(py)),
            decryptor_for: self.decryptor_for.clone_ref(py),
            interrupt: std::sync::Mutex::new(None),
        })
    }
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
    /// `on_secrets(blocks)`: told each batch's Decryption Secrets Blocks before its frames
    /// are walked (flows opened in it make their decryptors with them).
    on_secrets: Option<PyObject>,
    /// `finish` was called: the QUIC table's kept packets went out (once).
    ending: bool,
    /// `finish` closed every flow and handed out every connection.
    finished: bool,
}

/// Why a walk stopped.
#[derive(Default)]
struct Stop {
    check: bool,
    progress: bool,
}

impl Stop {
    /// Note how a frame went; the table's questions (may this flow's session have given it
    /// up?) are answered from the session before the next frame.
    fn note(&mut self, mut step: Step, table: &mut FlowTable, collector: &mut Collector) {
        while let Step::Ask { flow } = step {
            step = table.answer(collector.verdict(flow), collector);
        }
        if let Step::Done { progress, check } = step {
            self.progress |= progress;
            self.check |= check;
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
    /// `sessions`: read each flow through its core session (record-level events out);
    /// otherwise the reassembled bytes go out. `keys`: a key log was given (application
    /// data bodies are kept for decryption). `content` (with sessions): each flow's records
    /// are read by its content layer in the walk too (content events out), its decryptor
    /// made by `content.decryptor_for(secrets)`; see `ContentOptions`. `on_secrets`: told
    /// each batch's Decryption Secrets Blocks before the batch is walked.
    #[pyo3(signature = (
        *, reorder_window, max_connections, max_buffer, watch_after, checks, sessions=false,
        keys=false, max_udp_flows=udp::MAX_UDP_FLOWS, content=None, on_secrets=None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        reorder_window: usize,
        max_connections: usize,
        max_buffer: usize,
        watch_after: u64,
        checks: bool,
        sessions: bool,
        keys: bool,
        max_udp_flows: usize,
        content: Option<&Bound<'_, ContentOptions>>,
        on_secrets: Option<PyObject>,
    ) -> PyResult<Self> {
        let limits = Limits {
            reorder_window,
            max_connections,
            max_buffer,
            watch_after,
            max_udp_flows,
        };
        let content = match content.filter(|_| sessions) {
            Some(options) => Some(options.get().setup(py)?),
            None => None,
        };
        Ok(FlowCore {
            table: FlowTable::new(limits),
            batch: Batch::default(),
            next: 0,
            collector: Collector {
                sessions: sessions.then(Default::default),
                quic: sessions.then(Default::default),
                keys,
                content,
                defer_tls: !checks,
                ..Collector::default()
            },
            checks,
            broken: None,
            on_secrets,
            ending: false,
            finished: false,
        })
    }

    /// Walk the reader's frames until Python must act: a batch of events.
    fn pull(&mut self, py: Python<'_>, reader: &Bound<'_, CaptureReader>) -> PyResult<FlowBatch> {
        let mut reader = reader.borrow_mut();
        let problems = PyList::empty(py);
        let secrets = PyList::empty(py);
        let mut hungry = false;
        if self.next >= self.batch.frames.len() && self.broken.is_none() {
            self.batch = reader.next_batch(py);
            self.next = 0;
            for problem in &self.batch.problems {
                problems.append((problem.offset, problem.message.as_str(), problem.frame))?;
            }
            for block in &self.batch.secrets {
                secrets.append((block.secrets_type, PyBytes::new(py, &block.data)))?;
                // Before this batch's frames are walked: its QUIC packets need them.
                if let Some(quic) = self.collector.quic.as_mut() {
                    quic.add_secrets_block(block.secrets_type, &block.data);
                }
            }
            self.collector.secrets += self.batch.secrets.len();
            if !self.batch.secrets.is_empty() {
                self.collector.tell_held_keyed();
            }
            if let Some(on_secrets) = self.on_secrets.as_ref().filter(|_| !secrets.is_empty()) {
                on_secrets.call1(py, (secrets.clone(),))?;
            }
            hungry = self.batch.frames.is_empty() && !reader.spent();
        }
        let checks = self.checks;
        let (table, batch, next, collector) = (
            &mut self.table,
            &self.batch,
            &mut self.next,
            &mut self.collector,
        );
        // Flows with a decryptor take the GIL for each of their stream events (flow_content.rs):
        // a keyed walk holds it throughout rather than take it back frame after frame.
        let hold = collector.content.is_some() && (collector.keys || collector.secrets > 0);
        let mut walk = move || {
            catch_unwind(AssertUnwindSafe(|| {
                let mut stop = Stop::default();
                while let Some(frame) = batch.frames.get(*next) {
                    *next += 1;
                    let (ts_ns, linktype, data) = (frame.ts_ns, frame.linktype, batch.bytes(frame));
                    let step = table.captured(ts_ns, linktype, data, frame.orig_len, collector);
                    stop.note(step, table, collector);
                    if (checks && stop.check)
                        || collector.held() > MAX_BATCH_DATA
                        || (hold && collector.stopping())
                    {
                        break;
                    }
                }
                stop
            }))
        };
        let walked = if hold { walk() } else { py.allow_threads(walk) };
        self.raise_interrupt()?;
        let stop = self.survive(walked, &problems);
        self.hand_over(py, stop, problems, secrets, hungry)
    }

    /// A flow whose content failed in Python (a bug): its session only counts bytes from
    /// now on, and a flow not yet TLS is let go.
    fn abandon(&mut self, py: Python<'_>, flow: u64) -> PyResult<FlowBatch> {
        let (table, collector) = (&mut self.table, &mut self.collector);
        let walked = catch_unwind(AssertUnwindSafe(|| {
            if collector.sessions.is_none() || collector.abandon(flow) {
                table.ignore(flow, collector);
            }
            Stop::default()
        }));
        let problems = PyList::empty(py);
        let stop = self.survive(walked, &problems);
        self.hand_over(py, stop, problems, PyList::empty(py), false)
    }

    /// The end of reading: every open flow closes, every connection is handed out. With
    /// `most`, that many open flows (TCP and UDP) at a time, the oldest first (what a batch
    /// holds is bounded by it, not by the flows open): call again until `finished`.
    #[pyo3(signature = (most=None))]
    fn finish(&mut self, py: Python<'_>, most: Option<usize>) -> PyResult<FlowBatch> {
        let (table, collector) = (&mut self.table, &mut self.collector);
        let (frames, ending) = (table.frames, self.ending);
        let walked = catch_unwind(AssertUnwindSafe(|| {
            // Packets the QUIC table kept for keys go out before the associations close.
            let quic = collector.quic.as_mut().filter(|_| !ending);
            if let Some(said) = quic.and_then(|quic| quic.finish(frames)) {
                collector.events.push(Kept::Quic(said));
            }
            let done = table.finish_some(most.unwrap_or(usize::MAX), collector);
            (Stop::default(), done)
        }));
        self.ending = true;
        self.raise_interrupt()?;
        let problems = PyList::empty(py);
        let (walked, done) = match walked {
            Ok((stop, done)) => (Ok(stop), done),
            Err(panic) => (Err(panic), true),
        };
        self.finished = done;
        let stop = self.survive(walked, &problems);
        self.hand_over(py, stop, problems, PyList::empty(py), false)
    }

    /// A key log secret (NSS label, client random, secret) for the QUIC packets of the
    /// connection with this client random; false when QUIC has no use for it.
    fn add_quic_secret(&mut self, label: &str, client_random: &[u8], secret: &[u8]) -> bool {
        self.collector
            .quic
            .as_mut()
            .is_some_and(|quic| quic.add_secret(label, client_random, secret))
    }

    /// Fold QUIC connections' routine 1-RTT packets into `QuicRun`s, those among a
    /// connection's first `keep` with their details (for a caller that lists only the
    /// first packets and writes no plaintext per stream).
    fn quic_runs(&mut self, keep: u64) {
        if let Some(quic) = self.collector.quic.as_mut() {
            quic.runs_keep = Some(keep);
        }
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

    /// `finish` closed every flow and handed out every connection.
    #[getter]
    fn finished(&self) -> bool {
        self.finished
    }

    /// Flows closed early, over `max_connections` open at once.
    #[getter]
    fn evicted(&self) -> u64 {
        self.table.evicted
    }

    /// UDP associations ended early, over `max_udp_flows` open at once.
    #[getter]
    fn udp_evicted(&self) -> u64 {
        self.table.udp.evicted
    }

    /// (datagrams of UDP associations whose UDP length disagreed with their IP packet,
    /// the first of their frames)
    #[getter]
    fn udp_bad_length(&self) -> (u64, u64) {
        (self.table.udp.bad_length, self.table.udp.first_bad_length)
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

    /// The cyclic collector's view: the callbacks into Python this table holds (the
    /// caller's bound methods, which hold the caller, which holds this table). Without it
    /// every run's table, with its caller and all it held, outlived the run.
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        if let Some(on_secrets) = &self.on_secrets {
            visit.call(on_secrets)?;
        }
        if let Some(setup) = &self.collector.content {
            visit.call(&setup.decryptor_for)?;
            if let Some(rsa) = &setup.rsa {
                visit.call(rsa)?;
            }
        }
        Ok(())
    }

    /// The collector breaks a cycle: the callbacks go (the table is not walked again).
    fn __clear__(&mut self) {
        self.on_secrets = None;
        self.collector.content = None;
        self.broken = Some("cleared by the cyclic collector".to_owned());
    }

    /// Whether nothing more will be walked (the reader is spent or a panic was caught).
    fn exhausted(&self, reader: &Bound<'_, CaptureReader>) -> bool {
        let reader = reader.borrow();
        self.broken.is_some() || (reader.spent() && self.next >= self.batch.frames.len())
    }
}

impl FlowCore {
    /// Ctrl-C in a callback into Python during the walk (a decryptor made, a premaster
    /// asked, a SEED-CBC record decrypted): raised, the run stops.
    fn raise_interrupt(&self) -> PyResult<()> {
        let content = self.collector.content.as_ref();
        match content.and_then(ContentSetup::interrupted) {
            Some(interrupt) => Err(interrupt),
            None => Ok(()),
        }
    }

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
        // Its indexes point into the events taken: none may serve the next batch, even
        // when a conversion below fails.
        self.collector.joinable.clear();
        let keep_raw = (self.collector.content.as_ref()).is_some_and(|c| c.keep_records);
        for event in kept.drain(..) {
            events.append(to_python(py, event, &self.collector.arena, keep_raw)?)?;
        }
        self.collector.arena.clear();
        self.collector.fed = 0;
        self.collector.events = kept; // its allocation serves the next batch
        Ok(FlowBatch {
            events: events.unbind(),
            problems: problems.unbind(),
            secrets: secrets.unbind(),
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
    m.add_class::<ContentOptions>()?;
    m.add_class::<FlowBatch>()?;
    super::flow_events::register(m)?;
    Ok(())
}
