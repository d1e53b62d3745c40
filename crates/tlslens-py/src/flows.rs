//! The flow table's boundary: `tlslens._core.FlowCore`.
//!
//! Strategy: the frames never cross into Python. `pull` takes the capture reader's next
//! batch inside Rust (from its reading thread when it reads a file itself), walks it
//! through the flow table with the GIL released, and returns one `FlowBatch` of typed
//! events (one class per kind): one call per batch of frames, not per frame. Where the walk
//! needs no Python, the next frames are walked on a thread of its own while Python reads
//! the events returned (walk.rs): `pull` then returns what that walk made. With
//! `sessions`, each flow's core session reads its stream inside the walk and Python gets
//! record-level events; a session that gives its flow up (not TLS) is answered for at that
//! very frame, without Python. The walk stops early where Python must look at its clock
//! (`check`, with a time budget). A panic in the table is a bug: it is caught here and
//! becomes the capture's last problem, and reading stops.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};
use pyo3::{PyTraverseError, PyVisit};
use tlslens_core::capture::{Batch, Problem};
use tlslens_core::flows::{packet, udp, FlowTable, Limits, MAX_HELD};

use super::decrypt::{suites, RunKeys};
use super::flow_content::ContentSetup;
use super::flow_events::{Collector, Kept};
use super::udp_told::UdpTold;
use super::unstarted;
use super::walk::{Stop, Walk, Walker, FIRST_WALK_EVENTS};
use super::CaptureReader;

mod walking;

use walking::{drain, told, Drained};

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
    /// Bytes the capture reader had taken in when the frames of these events came.
    read: u64,
    /// The reader needs more bytes before anything else can be walked.
    hungry: bool,
}

/// What each TCP flow's content layer is made with when it runs in the walk
/// (`FlowCore(content=...)`): `known_types` the handshake types a record of whole messages
/// may hold; `keep_plaintext` each decrypted record's bytes are told; `keep_records` each
/// record's header goes out (as a `SkippedBody`); `rsa(encrypted, versions)` the premaster
/// the run's RSA keys recover; `keys` the run's `KeyStore` (None: no secret given) and
/// `keys_for(secrets)` that store once `secrets` (> 0) Decryption Secrets Blocks were read
/// (their secrets added to it), which a new flow's decryption reads.
#[pyclass(frozen, module = "tlslens._core")]
pub struct ContentOptions {
    max_message: u64,
    known_types: Vec<u8>,
    keep_plaintext: bool,
    keep_records: bool,
    rsa: Option<PyObject>,
    keys: Option<PyObject>,
    keys_for: PyObject,
}

#[pymethods]
impl ContentOptions {
    #[new]
    #[pyo3(signature = (*, max_message, known_types, keep_plaintext, keep_records, keys, keys_for, rsa=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        max_message: u64,
        known_types: Vec<u8>,
        keep_plaintext: bool,
        keep_records: bool,
        keys: Option<PyObject>,
        keys_for: PyObject,
        rsa: Option<PyObject>,
    ) -> Self {
        ContentOptions {
            max_message,
            known_types,
            keep_plaintext,
            keep_records,
            rsa,
            keys,
            keys_for,
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
            keys: match &self.keys {
                Some(store) => Some(RunKeys::of(store.bind(py))?),
                None => None,
            },
            keys_for: self.keys_for.clone_ref(py),
            interrupt: std::sync::Mutex::new(None),
            stops: Default::default(),
        })
    }
}

/// The flow table over a capture reader's frames. See the module's documentation.
#[pyclass(module = "tlslens._core")]
pub struct FlowCore {
    /// The walk's state: None exactly while the walking thread has it (a walk ahead, whose
    /// answer is waited for before anything reads the state: `here`).
    state: Option<Box<Walk>>,
    /// The thread that walks ahead, made with the first walk that may.
    walker: Option<Walker>,
    /// No thread walks ahead for this table: the system made none, or it was lost (the
    /// walk stays in `pull`, as where it needs Python).
    alone: bool,
    /// Python had to wait for the last walk ahead (or none went yet: the first batch is
    /// Python's slowest): the next one takes the reader's next batches too (walk.rs,
    /// `Ahead`). Where Python is the slower, one batch at a time keeps what it is handed
    /// at once small.
    behind: bool,
    /// How the walk ahead went, once waited for: the next `pull` returns its events.
    walked: Option<(Result<Stop, String>, Drained)>,
    /// What the reader's batches fetched since the last `pull` said (their events not yet
    /// returned): their problems and secrets go out with those events.
    fetched: Option<Fetched>,
    /// A batch fetched to walk ahead that carries Decryption Secrets Blocks: Python is told
    /// them only when the events before them are all out, and the batch is walked here.
    unadmitted: Option<Batch>,
    /// The content layers' callbacks (`keys_for`, `rsa`), kept here while the walking
    /// thread has the state (a walk ahead asks neither): the cyclic collector sees them
    /// whatever the walk's whereabouts (a run's generator dropped halfway must go).
    parked: Option<(PyObject, Option<PyObject>)>,
    /// The bounds the table was made with (for a new one if a walking thread is lost).
    limits: Limits,
    /// Stop at each frame where a time budget is checked.
    checks: bool,
    /// A panic was caught: nothing more is walked.
    broken: Option<String>,
    /// The first `pull` walked (its walk stops early: `FIRST_WALK_EVENTS`).
    started: bool,
    /// `on_secrets(blocks)`: told each batch's Decryption Secrets Blocks before its frames
    /// are walked (flows opened in it make their decryptors with them).
    on_secrets: Option<PyObject>,
    /// `finish` was called: the QUIC table's kept packets went out (once).
    ending: bool,
    /// `finish` closed every flow and handed out every connection.
    finished: bool,
    /// The walk's count of what Python keeps of the open UDP associations' connections,
    /// which Python tells without waiting for a walk ahead (`udp_told`).
    udp_told: Arc<UdpTold>,
}

/// What the batches fetched for the next events said: the capture reader's problems,
/// (secrets type, data) of its Decryption Secrets Blocks, and whether it needs more bytes.
struct Fetched {
    problems: Vec<Problem>,
    secrets: Py<PyList>,
    hungry: bool,
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
    /// made with `content.keys`; see `ContentOptions`. `on_secrets`: told
    /// each batch's Decryption Secrets Blocks before the batch is walked.
    #[pyo3(signature = (
        *, reorder_window, max_connections, max_buffer, watch_after, checks, sessions=false,
        keys=false, max_udp_flows=udp::MAX_UDP_FLOWS, max_held=MAX_HELD, content=None,
        on_secrets=None
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
        max_held: usize,
        content: Option<&Bound<'_, ContentOptions>>,
        on_secrets: Option<PyObject>,
    ) -> PyResult<Self> {
        let limits = Limits {
            reorder_window,
            max_connections,
            max_buffer,
            watch_after,
            max_udp_flows,
            max_held,
        };
        let content = match content.filter(|_| sessions) {
            Some(options) => Some(options.get().setup(py)?),
            None => None,
        };
        let udp_told = Arc::new(UdpTold::default());
        let walk = Walk {
            table: FlowTable::new(limits),
            batch: Batch::default(),
            next: 0,
            read: 0,
            collector: Collector {
                sessions: sessions.then(Default::default),
                quic: sessions.then(Default::default),
                keys,
                content,
                defer_tls: !checks,
                udp_told: Arc::clone(&udp_told),
                ..Collector::default()
            },
            ahead: None,
        };
        Ok(FlowCore {
            state: Some(Box::new(walk)),
            walker: None,
            alone: false,
            behind: true,
            walked: None,
            fetched: None,
            unadmitted: None,
            parked: None,
            limits,
            checks,
            broken: None,
            started: false,
            on_secrets,
            ending: false,
            finished: false,
            udp_told,
        })
    }

    /// Walk the reader's frames until Python must act: a batch of events (those of the
    /// frames walked ahead, when a walk went ahead).
    fn pull(&mut self, py: Python<'_>, reader: &Bound<'_, CaptureReader>) -> PyResult<FlowBatch> {
        let mut reader = reader.borrow_mut();
        self.join(py);
        let (walked, drained) = match self.walked.take() {
            Some((walked, drained)) => (walked, Some(drained)),
            None => {
                self.fetch(py, &mut reader)?;
                let checks = self.checks;
                let first = !self.started;
                let most = if first { FIRST_WALK_EVENTS } else { usize::MAX };
                self.started = true;
                let walk = self.here(py);
                let hold = walk.holds_gil();
                let mut walked = if hold {
                    walk.frames_caught(checks, most)
                } else {
                    py.allow_threads(|| walk.frames_caught(checks, most))
                };
                if let Ok(stop) = walked.as_mut() {
                    // The first connections out: a progress bar shows the first bytes read
                    // (the walk ahead may take the rest of a small file at once).
                    stop.progress |= first;
                }
                (walked.map_err(|panic| panic_text(panic.as_ref())), None)
            }
        };
        let (problems, secrets, hungry) = match self.fetched.take() {
            Some(f) => (told(py, &f.problems)?, f.secrets.into_bound(py), f.hungry),
            None => (PyList::empty(py), PyList::empty(py), false),
        };
        self.raise_interrupt(py)?;
        let stop = self.survive_text(py, walked, &problems);
        let drained = match drained {
            Some(drained) => drained,
            None => drain(self.here(py)),
        };
        let mut batch = self.hand_over(py, drained, stop, problems, secrets, hungry)?;
        self.go_ahead(py, &mut reader)?;
        // A file's reader may be done by now (its next batch taken, to walk ahead): what
        // is pending is told by the next pulls, which Python must not skip.
        batch.hungry &= !self.pending();
        Ok(batch)
    }

    /// A flow whose content failed in Python (a bug): its session only counts bytes from
    /// now on, and a flow not yet TLS is let go.
    /// (Frames walked ahead meanwhile were read as before the bug: their events, told by
    /// the next `pull`, are the flow's as they came, and its decryption counted their
    /// records.)
    fn abandon(&mut self, py: Python<'_>, flow: u64) -> PyResult<FlowBatch> {
        let walk = self.here(py);
        let (table, collector) = (&mut walk.table, &mut walk.collector);
        let walked = catch_unwind(AssertUnwindSafe(|| {
            if collector.sessions.is_none() || collector.abandon(flow) {
                table.ignore(flow, collector);
            }
            Stop::default()
        }));
        let problems = PyList::empty(py);
        let stop = self.survive(py, walked, &problems);
        let drained = drain(self.here(py));
        self.hand_over(py, drained, stop, problems, PyList::empty(py), false)
    }

    /// The end of reading: every open flow closes, every connection is handed out. With
    /// `most`, that many open flows (TCP and UDP) at a time, the oldest first (what a batch
    /// holds is bounded by it, not by the flows open): call again until `finished`.
    #[pyo3(signature = (most=None))]
    fn finish(&mut self, py: Python<'_>, most: Option<usize>) -> PyResult<FlowBatch> {
        let ending = self.ending;
        let walk = self.here(py);
        let (table, collector) = (&mut walk.table, &mut walk.collector);
        let frames = table.frames;
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
        self.raise_interrupt(py)?;
        let problems = PyList::empty(py);
        let (walked, done) = match walked {
            Ok((stop, done)) => (Ok(stop), done),
            Err(panic) => (Err(panic), true),
        };
        self.finished = done;
        if done {
            self.walker = None; // its thread ends: nothing more is walked
        }
        let stop = self.survive(py, walked, &problems);
        let drained = drain(self.here(py));
        self.hand_over(py, drained, stop, problems, PyList::empty(py), false)
    }

    /// A key log secret (NSS label, client random, secret) for the QUIC packets of the
    /// connection with this client random; false when QUIC has no use for it.
    fn add_quic_secret(
        &mut self,
        py: Python<'_>,
        label: &str,
        client_random: &[u8],
        secret: &[u8],
    ) -> bool {
        self.here(py)
            .collector
            .quic
            .as_mut()
            .is_some_and(|quic| quic.add_secret(label, client_random, secret))
    }

    /// Fold QUIC connections' routine 1-RTT packets into `QuicRun`s, those among a
    /// connection's first `keep` with their details (for a caller that lists only the
    /// first packets and writes no plaintext per stream).
    fn quic_runs(&mut self, py: Python<'_>, keep: u64) {
        if let Some(quic) = self.here(py).collector.quic.as_mut() {
            quic.runs_keep = Some(keep);
        }
    }

    /// What Python keeps of the connections of UDP association `flow` grew by `cost` bytes
    /// (their steps and findings, `SAID_COST` each), less what the walk charged the events
    /// read (`charged`): it counts toward `max_held` until their hand-out (udp_told.rs).
    /// Told while a walk is ahead.
    fn udp_told(&self, flow: u64, cost: isize) {
        self.udp_told.add(flow, cost);
    }

    /// TCP connections that ended before either side sent a byte, by how (a RST answered
    /// the SYN, no SYN/ACK came, nothing was sent after the TCP handshake): (kind, count,
    /// the first one's frame, client address and port, server address and port).
    #[getter]
    fn unstarted(&mut self, py: Python<'_>) -> Vec<unstarted::Told> {
        self.here(py).collector.unstarted.told()
    }

    /// Frames walked so far.
    #[getter]
    fn frames(&mut self, py: Python<'_>) -> u64 {
        self.here(py).table.frames
    }

    #[getter]
    fn tcp_flows(&mut self, py: Python<'_>) -> u64 {
        self.here(py).table.tcp_flows
    }

    /// `finish` closed every flow and handed out every connection.
    #[getter]
    fn finished(&self) -> bool {
        self.finished
    }

    /// Flows closed early, over `max_connections` open at once.
    #[getter]
    fn evicted(&mut self, py: Python<'_>) -> u64 {
        self.here(py).table.evicted
    }

    /// What the open flows hold now, as `max_held` counts it (in the table, in their
    /// sessions, in what Python keeps of them and of the ended ones not handed out yet):
    /// nothing once every flow ended and was handed out.
    #[getter]
    fn held(&mut self, py: Python<'_>) -> usize {
        let walk = self.here(py);
        walk.table.held() + walk.collector.held_flows + walk.collector.udp_told.total()
    }

    /// Flows closed early, the open ones holding over `max_held`.
    #[getter]
    fn evicted_held(&mut self, py: Python<'_>) -> u64 {
        self.here(py).table.evicted_held
    }

    /// (datagrams of UDP associations whose UDP length disagreed with their IP packet,
    /// the first of their frames)
    #[getter]
    fn udp_bad_length(&mut self, py: Python<'_>) -> (u64, u64) {
        let udp = &self.here(py).table.udp;
        (udp.bad_length, udp.first_bad_length)
    }

    /// (datagrams skipped on 4-tuples whose QUIC or DTLS association tlslens ended early,
    /// the associations so ended they came after, the first of their frames)
    #[getter]
    fn udp_after_stop(&mut self, py: Python<'_>) -> (u64, u64, u64) {
        let udp = &self.here(py).table.udp;
        (udp.after_stop, udp.pairs_after_stop, udp.first_after_stop)
    }

    /// (frames whose timestamp went back, the first of them)
    #[getter]
    fn backwards(&mut self, py: Python<'_>) -> (u64, u64) {
        let table = &self.here(py).table;
        (table.backwards, table.first_backwards)
    }

    /// Frames without a TCP segment for us, by reason, in the order first met.
    #[getter]
    fn skipped(&mut self, py: Python<'_>) -> Vec<(&'static str, u64)> {
        self.here(py)
            .table
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
        if let Some((keys_for, rsa)) = &self.parked {
            visit.call(keys_for)?;
            if let Some(rsa) = rsa {
                visit.call(rsa)?;
            }
        }
        let content = self
            .state
            .as_ref()
            .and_then(|walk| walk.collector.content.as_ref());
        if let Some(setup) = content {
            visit.call(&setup.keys_for)?;
            if let Some(rsa) = &setup.rsa {
                visit.call(rsa)?;
            }
        }
        Ok(())
    }

    /// The collector breaks a cycle: the callbacks go (the table is not walked again).
    fn __clear__(&mut self) {
        self.on_secrets = None;
        self.parked = None;
        if let Some(walk) = self.state.as_mut() {
            walk.collector.content = None;
        }
        self.broken = Some("cleared by the cyclic collector".to_owned());
    }

    /// Whether nothing more will be walked (the reader is spent or a panic was caught).
    fn exhausted(&self, reader: &Bound<'_, CaptureReader>) -> bool {
        if self.broken.is_some() {
            return true;
        }
        if self.pending() {
            return false;
        }
        let reader = reader.borrow();
        let walked =
            (self.state.as_ref()).map_or(true, |walk| walk.next >= walk.batch.frames.len());
        reader.spent() && walked
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
    m.add("MAX_HELD", limits.max_held)?;
    m.add(
        "MAX_RECORDS_LISTED",
        super::flow_content::MAX_RECORDS_LISTED,
    )?;
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
