//! How `FlowCore` walks: the state here or on the walking thread (`join`, `go_ahead`), the
//! batches fetched and admitted, a panic survived as the capture's last problem, and the
//! events handed over to Python (`hand_over`).

use pyo3::exceptions::PyKeyboardInterrupt;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};
use tlslens_core::capture::{Batch, Problem};
use tlslens_core::flows::{FlowTable, Limits};

use super::{panic_text, Fetched, FlowBatch, FlowCore};
use crate::flow_content::ContentSetup;
use crate::flow_events::{Collector, Kept};
use crate::flow_handover::to_python;
use crate::walk::{Ahead, Stop, Walk, Walker, AHEAD_BATCHES};
use crate::CaptureReader;

impl FlowCore {
    /// Events, or a batch's problems, still to come from what was walked or fetched ahead.
    pub(super) fn pending(&self) -> bool {
        let fetched = self.fetched.is_some() || self.unadmitted.is_some();
        self.state.is_none() || self.walked.is_some() || fetched
    }

    /// The walk's state, here: an answer from the walking thread is waited for first (with
    /// the GIL released), its events kept apart for the next `pull`.
    pub(super) fn here(&mut self, py: Python<'_>) -> &mut Walk {
        self.join(py);
        let limits = self.limits;
        self.state.get_or_insert_with(|| Box::new(lost(limits)))
    }

    /// The walk ahead's answer, if one is away: the state back, how the walk went and its
    /// events (`walked`).
    pub(super) fn join(&mut self, py: Python<'_>) {
        if self.state.is_some() {
            return;
        }
        let answer = match self.walker.as_ref() {
            Some(walker) => {
                self.behind = !walker.done();
                walker.answer(py)
            }
            None => None,
        };
        let (mut walk, walked) = match answer {
            Some((walk, walked)) => (walk, walked.map_err(|panic| panic_text(panic.as_ref()))),
            None => {
                // The thread ended without giving the state back (a bug): nothing more is
                // walked, and the capture's last problem says so.
                self.walker = None;
                self.alone = true;
                let lost = Box::new(lost(self.limits));
                (
                    lost,
                    Err("the walking thread ended without an answer".to_owned()),
                )
            }
        };
        let drained = drain(&mut walk);
        let ahead = walk.ahead.take();
        unpark(self.parked.take(), &mut walk);
        self.state = Some(walk);
        self.walked = Some((walked, drained));
        if let Some(ahead) = ahead {
            self.fetched(py).problems.extend(ahead.problems);
            self.unadmitted = ahead.held_back;
        }
    }

    /// What the batches fetched since the last `pull` said, begun if none was fetched.
    fn fetched(&mut self, py: Python<'_>) -> &mut Fetched {
        self.fetched.get_or_insert_with(|| Fetched {
            problems: Vec::new(),
            secrets: PyList::empty(py).unbind(),
            hungry: false,
        })
    }

    /// The reader's next batch, when the last is walked whole (the one held back for its
    /// secrets first): see `admit`.
    pub(super) fn fetch(&mut self, py: Python<'_>, reader: &mut CaptureReader) -> PyResult<()> {
        let walk = self.here(py);
        if walk.next < walk.batch.frames.len() || self.broken.is_some() {
            return Ok(());
        }
        let batch = match self.unadmitted.take() {
            Some(batch) => batch,
            None => reader.next_batch(py),
        };
        self.admit(py, batch, reader)
    }

    /// A batch to walk: its problems and secrets kept for the `FlowBatch` of its events;
    /// its Decryption Secrets Blocks given to the QUIC table, to the flows held, and to
    /// `on_secrets`, before its frames are walked (flows opened in it need them).
    fn admit(&mut self, py: Python<'_>, batch: Batch, reader: &CaptureReader) -> PyResult<()> {
        let fetched = self.fetched(py);
        let secrets = fetched.secrets.clone_ref(py).into_bound(py);
        fetched.hungry = batch.frames.is_empty() && !reader.spent();
        let read = reader.bytes_read();
        fetched.problems.extend_from_slice(&batch.problems);
        let told = PyList::empty(py);
        let walk = self
            .state
            .get_or_insert_with(|| Box::new(lost(self.limits)));
        for block in &batch.secrets {
            let item = (block.secrets_type, PyBytes::new(py, &block.data));
            secrets.append(item.clone())?;
            told.append(item)?;
            // Before this batch's frames are walked: its QUIC packets need them.
            if let Some(quic) = walk.collector.quic.as_mut() {
                quic.add_secrets_block(block.secrets_type, &block.data);
            }
        }
        walk.collector.secrets += batch.secrets.len();
        if !batch.secrets.is_empty() {
            walk.collector.tell_held_keyed();
        }
        walk.batch = batch;
        walk.next = 0;
        walk.read = read;
        if let Some(on_secrets) = self.on_secrets.as_ref().filter(|_| !told.is_empty()) {
            on_secrets.call1(py, (told,))?;
        }
        Ok(())
    }

    /// After a batch's events are taken, the next frames go to the walking thread, to be
    /// walked while Python reads those events: only where the walk needs no Python (no
    /// decryptor, no callback, no clock to look at) and the reader reads its own file (a
    /// stream's reader waits for Python to feed it). A batch carrying Decryption Secrets
    /// Blocks waits: Python learns them only after the events before them.
    pub(super) fn go_ahead(&mut self, py: Python<'_>, reader: &mut CaptureReader) -> PyResult<()> {
        let stays = self.checks || self.ending || self.broken.is_some() || self.alone;
        // A batch a walk ahead held back for its secrets is the next pull's to walk.
        let stays = stays || self.unadmitted.is_some();
        if stays || !reader.reads_file() || self.here(py).holds_gil() {
            return Ok(());
        }
        if self.walker.is_none() {
            self.walker = Walker::start();
            self.alone = self.walker.is_none();
        }
        let walk = self.here(py);
        if walk.next >= walk.batch.frames.len() {
            if reader.spent() {
                return Ok(());
            }
            let batch = reader.next_batch(py);
            if !batch.secrets.is_empty() {
                self.unadmitted = Some(batch);
                return Ok(());
            }
            self.admit(py, batch, reader)?;
        }
        let walk = self.here(py);
        if walk.next >= walk.batch.frames.len() {
            return Ok(()); // nothing to walk (the reader's last, empty batch)
        }
        // (The thread is asked for first: the state is taken only to be given to it.)
        let Some(walker) = self.walker.as_ref() else {
            return Ok(());
        };
        let Some(mut walk) = self.state.take() else {
            return Ok(());
        };
        if let Some(setup) = walk.collector.content.as_mut() {
            let keys_for = std::mem::replace(&mut setup.keys_for, py.None());
            self.parked = Some((keys_for, setup.rsa.take()));
        }
        walk.ahead = reader.file_feed().map(|feed| Ahead {
            feed,
            batches: if self.behind { AHEAD_BATCHES } else { 0 },
            problems: Vec::new(),
            held_back: None,
            asked: None,
        });
        if let Err(mut walk) = walker.give(walk) {
            // The thread is gone: walked here from now on.
            walk.ahead = None;
            unpark(self.parked.take(), &mut walk);
            self.state = Some(walk);
            self.walker = None;
            self.alone = true;
        }
        Ok(())
    }

    /// Ctrl-C in a callback into Python during the walk (a decryptor made, a premaster
    /// asked, a SEED-CBC record decrypted): raised, the run stops.
    pub(super) fn raise_interrupt(&mut self, py: Python<'_>) -> PyResult<()> {
        let content = self.here(py).collector.content.as_ref();
        match content.and_then(ContentSetup::interrupted) {
            Some(interrupt) => Err(interrupt),
            None => Ok(()),
        }
    }

    /// A caught panic stops the walk for good and becomes a problem of the capture.
    pub(super) fn survive(
        &mut self,
        py: Python<'_>,
        walked: std::thread::Result<Stop>,
        problems: &Bound<'_, PyList>,
    ) -> Stop {
        self.survive_text(
            py,
            walked.map_err(|panic| panic_text(panic.as_ref())),
            problems,
        )
    }

    /// `survive`, the panic already in words.
    pub(super) fn survive_text(
        &mut self,
        py: Python<'_>,
        walked: Result<Stop, String>,
        problems: &Bound<'_, PyList>,
    ) -> Stop {
        match walked {
            Ok(stop) => stop,
            Err(panic) => {
                let message =
                    format!("internal error in the flow table ({panic}): reading stops here");
                let walk = self.here(py);
                let frame = walk.table.frames;
                walk.next = walk.batch.frames.len();
                let _ = problems.append((0u64, message.as_str(), frame));
                self.broken = Some(message);
                Stop::default()
            }
        }
    }

    pub(super) fn hand_over(
        &self,
        py: Python<'_>,
        drained: Drained,
        stop: Stop,
        problems: Bound<'_, PyList>,
        secrets: Bound<'_, PyList>,
        hungry: bool,
    ) -> PyResult<FlowBatch> {
        let events = PyList::empty(py);
        for event in drained.kept {
            events.append(to_python(py, event, &drained.arena, drained.keep_raw)?)?;
        }
        Ok(FlowBatch {
            events: events.unbind(),
            problems: problems.unbind(),
            secrets: secrets.unbind(),
            check: stop.check,
            progress: stop.progress,
            read: self.state.as_ref().map_or(0, |walk| walk.read),
            hungry: hungry && self.broken.is_none(),
        })
    }
}

impl Drop for FlowCore {
    /// A walk still ahead (a run stopped early) is waited for: the thread gives the state
    /// back, and nothing outlives the table. (With the GIL released meanwhile, and the jobs
    /// asked for done, as in `join`: the review's `| head` on SEED connections hung here.)
    /// A Ctrl-C that came while one of those jobs ran was kept by its walk, to stop it: the
    /// run is gone, but the user asked to stop, so it is asked again of the main thread.
    fn drop(&mut self) {
        let Some(walker) = self.walker.as_ref().filter(|_| self.state.is_none()) else {
            return;
        };
        Python::with_gil(|py| {
            let Some((walk, _)) = walker.answer(py) else {
                return;
            };
            let content = walk.collector.content.as_ref();
            let kept = content.and_then(ContentSetup::interrupted);
            if kept.is_some_and(|error| error.is_instance_of::<PyKeyboardInterrupt>(py)) {
                let _ = py
                    .import("_thread")
                    .and_then(|thread| thread.call_method0("interrupt_main"));
            }
        });
    }
}

/// The events a walk made, taken from its collector to become Python objects (stream data
/// as ranges of `arena`; `keep_raw`: each record's bytes go out, for `--records`).
pub(super) struct Drained {
    kept: Vec<Kept>,
    arena: Vec<u8>,
    keep_raw: bool,
}

pub(super) fn drain(walk: &mut Walk) -> Drained {
    let collector = &mut walk.collector;
    // Its indexes point into the events taken: none may serve the next batch, even when a
    // conversion of them fails.
    collector.joinable.clear();
    collector.fed = 0;
    Drained {
        kept: std::mem::take(&mut collector.events),
        arena: std::mem::take(&mut collector.arena),
        keep_raw: (collector.content.as_ref()).is_some_and(|c| c.keep_records),
    }
}

/// The state after a walking thread was lost (a bug): an empty table, nothing to walk.
fn lost(limits: Limits) -> Walk {
    Walk {
        table: FlowTable::new(limits),
        batch: Batch::default(),
        next: 0,
        collector: Collector::default(),
        read: 0,
        ahead: None,
    }
}

/// The capture reader's problems as Python has them: (byte offset, message, frame number).
pub(super) fn told<'py>(py: Python<'py>, problems: &[Problem]) -> PyResult<Bound<'py, PyList>> {
    let told = PyList::empty(py);
    for problem in problems {
        told.append((problem.offset, problem.message.as_str(), problem.frame))?;
    }
    Ok(told)
}

/// The callbacks parked while the walk was away, back in its content setup.
fn unpark(parked: Option<(PyObject, Option<PyObject>)>, walk: &mut Walk) {
    if let (Some((keys_for, rsa)), Some(setup)) = (parked, walk.collector.content.as_mut()) {
        setup.keys_for = keys_for;
        setup.rsa = rsa;
    }
}
