//! The flow walk's state, and the thread that walks the next frames while Python reads the
//! last batch's events (`FlowCore.pull`).
//!
//! Strategy: the walk (flow table, reassembly, sessions, content layers) touches no Python
//! object unless a flow has a decryptor or a caller's callback is asked, so it can run on
//! a thread of its own. The state moves there whole (`Walk`) and comes back with how the
//! walk went: nothing is shared, so nothing is locked, and the events come out in the
//! order they would have come without it. Only a walk that needs no Python goes ahead
//! (no capture secrets nor RSA keys, no time budget, a capture read from its file: see
//! `holds_gil`); the others run where they always did, in `pull`. A key log is no obstacle:
//! the flows' decryptions are the core's (decrypt.rs, `FlowDecryption`), and the run's key
//! log and session cache are shared behind locks. The walking thread never takes the GIL:
//! what needs it (a SEED-CBC record) is a job done by a thread that holds it while it waits
//! for a walk or for a lock (`ask_python`, `Exchange`). A walk ahead may go on to the
//! reader's next batches by itself (`Ahead`) when Python waited for the last one: the
//! walking thread is then not idle while Python is busy with a slow batch (the first, with
//! its imports and trust store, takes as long as dozens of others), and a walk-bound run
//! (bulk decryption) has its thread walking without a pause; the events it gathers bound
//! how far it goes (`AHEAD_EVENTS`), so what Python is handed at once stays small, and it
//! takes no further batch once Python waits for it (`Ahead::asked`). The first `pull`
//! walks a few connections only (`FIRST_WALK_EVENTS`) before the thread takes over.

use std::cell::Cell;
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use pyo3::Python;
use tlslens_core::capture::{Batch, Problem};
use tlslens_core::flows::{FlowTable, Step};

use super::flow_events::Collector;
use super::FileFeed;

/// Bytes of stream data gathered before a batch is handed to Python, so that memory is
/// bounded by this and not by how much one capture batch holds.
pub const MAX_BATCH_DATA: usize = 4 << 20;

/// What the walk reads and writes.
pub struct Walk {
    pub table: FlowTable,
    /// The capture reader's batch being walked, and the next of its frames.
    pub batch: Batch,
    pub next: usize,
    pub collector: Collector,
    /// Bytes the capture reader had taken in when `batch` came (a progress bar's count for
    /// its events: the reader may be further on by the time they are told).
    pub read: u64,
    /// On the walking thread: the capture's next batches, taken without Python.
    pub ahead: Option<Ahead>,
}

/// Reader batches a walk ahead takes after the one it was given, at most, when the walk
/// is what Python waits for (`FlowCore.go_ahead`).
pub const AHEAD_BATCHES: usize = 32;
/// Events gathered past which a walk ahead takes no further batch (what Python is handed
/// at once stays about a few batches' worth).
pub const AHEAD_EVENTS: usize = 1024;
/// Events the first `pull` hands Python at most. That walk is the main thread's (nothing
/// went ahead yet) and Python waited for it whole: the reader's first batch took 10-20 ms
/// of a 0.5 s run, while Python's own first steps (its first chain checked: cryptography's
/// X.509 imported, the roots read) need only the first connections. Python now starts on
/// those, and the walking thread takes the rest of the batch meanwhile.
pub const FIRST_WALK_EVENTS: usize = 64;

/// A walk ahead that goes on to the capture's next batches by itself, so that the walking
/// thread is not idle while Python is slow on a batch (the first, with its imports and
/// trust store, takes as long as dozens of others): the batches it takes, their problems
/// (told with the events), and one it took but must not walk.
pub struct Ahead {
    pub feed: FileFeed,
    /// Batches it may still take.
    pub batches: usize,
    /// The capture reader's problems in the batches taken, in order.
    pub problems: Vec<Problem>,
    /// A batch that carries Decryption Secrets Blocks: Python learns them before its
    /// frames are walked (flows.rs, `admit`), so it waits for the next `pull`.
    pub held_back: Option<Batch>,
    /// Set when Python waits for the walk (`Walker::give` shares it).
    pub asked: Option<Arc<AtomicBool>>,
}

impl Ahead {
    /// Whether Python waits for the walk: it takes no further batch.
    fn asked(&self) -> bool {
        self.asked
            .as_ref()
            .is_some_and(|asked| asked.load(Ordering::Relaxed))
    }
}

/// Why a walk stopped.
#[derive(Default)]
pub struct Stop {
    pub check: bool,
    pub progress: bool,
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

impl Walk {
    /// Whether the walk needs Python as it goes, or must keep in step with what Python does
    /// with the events it made: such a walk holds the GIL throughout rather than take it
    /// back frame after frame, and never goes ahead. With the content layers in the walk,
    /// a capture's own secrets (each flow opened after more of them asks Python to add them
    /// to the run's key store: they must come at that frame), RSA keys (each handshake asks
    /// for a premaster, flow_content.rs), and secrets where QUIC or DTLS was seen (their
    /// decryptors, fed by Python from earlier frames, share the session cache the walk's
    /// decryptors fill: it must not hold sessions from later frames).
    pub fn holds_gil(&self) -> bool {
        let collector = &self.collector;
        let Some(setup) = collector.content.as_ref() else {
            return false;
        };
        let keyed = collector.keys || collector.secrets > 0;
        collector.secrets > 0 || (keyed && (setup.rsa.is_some() || collector.udp_tls))
    }

    /// The frames of the batch from `next` on, until the batch is walked whole, or Python
    /// must act: its clock looked at (`checks`), the events gathered handed over (past
    /// `most_events` of them too), an interrupt raised in a callback.
    pub fn frames(&mut self, checks: bool, most_events: usize) -> Stop {
        let Walk {
            table,
            batch,
            next,
            collector,
            ..
        } = self;
        let mut stop = Stop::default();
        while let Some(frame) = batch.frames.get(*next) {
            *next += 1;
            let (ts_ns, linktype, data) = (frame.ts_ns, frame.linktype, batch.bytes(frame));
            let step = table.captured(ts_ns, linktype, data, frame.orig_len, collector);
            stop.note(step, table, collector);
            if (checks && stop.check)
                || collector.in_batch() > MAX_BATCH_DATA
                || collector.stopping()
                || collector.events.len() >= most_events
            {
                break;
            }
        }
        stop
    }

    /// `frames` with a panic caught (a bug: the caller makes it the capture's last problem).
    pub fn frames_caught(&mut self, checks: bool, most_events: usize) -> std::thread::Result<Stop> {
        catch_unwind(AssertUnwindSafe(|| self.frames(checks, most_events)))
    }

    /// The walking thread's walk: the batch given, then (with `ahead`) the next batches the
    /// feed has, while nothing asks for Python: the batch walked whole, the events gathered
    /// few, no interrupt, nothing that makes the walk hold the GIL.
    fn frames_ahead(&mut self) -> std::thread::Result<Stop> {
        catch_unwind(AssertUnwindSafe(|| {
            let mut stop = self.frames(false, usize::MAX);
            while self.next >= self.batch.frames.len()
                && self.collector.events.len() < AHEAD_EVENTS
                && self.collector.arena.len() <= MAX_BATCH_DATA
                && !self.collector.stopping()
                && !self.holds_gil()
            {
                let Some(batch) = self.take_ahead() else {
                    break;
                };
                self.batch = batch;
                self.next = 0;
                // What the sessions were fed bounds one batch's work, not what is held:
                // each batch taken ahead has its own (the events and their data, held for
                // Python, still count, and stop the walk ahead).
                self.collector.fed = 0;
                let more = self.frames(false, usize::MAX);
                stop.progress |= more.progress;
                stop.check |= more.check;
            }
            stop
        }))
    }

    /// The feed's next batch to walk ahead, its problems kept; None when there is none to
    /// walk (no feed, none left to take, the capture's end, or one held back).
    fn take_ahead(&mut self) -> Option<Batch> {
        let ahead = self
            .ahead
            .as_mut()
            .filter(|a| a.batches > 0 && !a.asked())?;
        if ahead.feed.state().done {
            return None;
        }
        ahead.batches -= 1;
        let mut batch = ahead.feed.next();
        if !batch.secrets.is_empty() {
            ahead.held_back = Some(batch);
            return None;
        }
        ahead.problems.append(&mut batch.problems);
        self.read = ahead.feed.state().read;
        (!batch.frames.is_empty()).then_some(batch)
    }
}

/// A walk done on the walking thread: the state back, and how it went.
pub type Walked = (Box<Walk>, std::thread::Result<Stop>);

/// Work that needs the GIL (a SEED-CBC record decrypted by `cryptography`, keys.rs): the
/// walking threads never take it, and ask the threads that hold it (`ask_python`).
pub type PythonJob = Box<dyn FnOnce(Python<'_>) + Send>;

/// Between the walking threads and the threads that wait for them: the walks done (by
/// walker) and the jobs that need the GIL. Any thread that waits, for its walk or for a
/// lock a walking thread may hold (keylog.rs, `lock_here`), does the jobs meanwhile,
/// whichever walk asked: a walk may wait on its job holding a lock of the run's key store,
/// which another run, or Python itself, may be waiting for (the review: two runs zipped
/// over one key store hung while only a walk's own table did its jobs).
struct Exchange {
    jobs: VecDeque<PythonJob>,
    walked: Vec<(u64, Walked)>,
    /// Walking threads that ended without giving their walk back (a panic outside the
    /// walk's own catch: a bug).
    lost: Vec<u64>,
}

static EXCHANGE: Mutex<Exchange> = Mutex::new(Exchange {
    jobs: VecDeque::new(),
    walked: Vec::new(),
    lost: Vec::new(),
});

/// Told on every change of `EXCHANGE`.
static CHANGED: Condvar = Condvar::new();

static WALKERS: AtomicU64 = AtomicU64::new(0);

/// How long a thread waiting for a lock sleeps between its tries when no job comes (a lock
/// let go tells nobody).
const LOCK_RETRY: Duration = Duration::from_micros(200);

fn exchange() -> MutexGuard<'static, Exchange> {
    EXCHANGE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A change of the exchange, told.
fn post(change: impl FnOnce(&mut Exchange)) {
    change(&mut exchange());
    CHANGED.notify_all();
}

thread_local! {
    /// Whether this is a walking thread.
    static WALKING: Cell<bool> = const { Cell::new(false) };
}

/// Whether this is a walking thread (which never takes the GIL).
pub fn walking() -> bool {
    WALKING.with(Cell::get)
}

/// `job` left for a thread that holds the GIL when called on a walking thread (the job
/// tells its caller when it is done); given back to be done here elsewhere. Taking the GIL
/// on a walking thread could deadlock with a thread that holds it and waits for the walk,
/// and end the thread (and the process) while the interpreter shuts down.
pub fn ask_python(job: PythonJob) -> Result<(), PythonJob> {
    if !walking() {
        return Err(job);
    }
    post(|ex| ex.jobs.push_back(job));
    Ok(())
}

/// Every job waiting, done (`py`: this thread holds the GIL).
fn do_jobs(py: Python<'_>) {
    loop {
        // (Its own statement: the exchange is not held while the job runs.)
        let job = exchange().jobs.pop_front();
        let Some(job) = job else {
            return;
        };
        job(py);
    }
}

/// `free()` once it gives something, the jobs of the walking threads done while it does
/// not (with the GIL released between tries): how a thread holding the GIL waits for a
/// lock a walking thread may hold.
pub fn wait_doing_jobs<T>(py: Python<'_>, mut free: impl FnMut() -> Option<T>) -> T {
    loop {
        if let Some(got) = free() {
            return got;
        }
        do_jobs(py);
        py.allow_threads(|| {
            let ex = exchange();
            if ex.jobs.is_empty() {
                let _ = CHANGED.wait_timeout(ex, LOCK_RETRY);
            }
        });
    }
}

/// What a thread waiting for a walk is given.
enum Given {
    Walked(Walked),
    Job(PythonJob),
    Lost,
}

/// Marks its walking thread's end when it ends by a panic (a bug): its waiter stops waiting.
struct Ending(u64);

impl Drop for Ending {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let id = self.0;
            post(|ex| ex.lost.push(id));
        }
    }
}

/// The thread that walks ahead: given the state, it walks the frames and gives it back.
/// It ends when the `FlowCore` that made it goes (its sender dropped).
pub struct Walker {
    id: u64,
    give: Sender<Box<Walk>>,
    /// Set while its waiter waits for the walk: a walk ahead then takes no further batch
    /// (what it has is handed over at once, not after the batches it could still take).
    asked: Arc<AtomicBool>,
}

impl Walker {
    /// A walking thread, or None when the system makes none (the walk stays in `pull`).
    pub fn start() -> Option<Self> {
        let (give, given) = channel::<Box<Walk>>();
        let id = WALKERS.fetch_add(1, Ordering::Relaxed);
        let spawned = std::thread::Builder::new()
            .name("tlslens-walk".to_owned())
            // The walk's depth is the main thread's, where it ran before.
            .stack_size(8 << 20)
            .spawn(move || {
                WALKING.with(|walking| walking.set(true));
                let _ending = Ending(id);
                while let Ok(mut walk) = given.recv() {
                    let walked = walk.frames_ahead();
                    post(|ex| ex.walked.push((id, (walk, walked))));
                }
            });
        spawned.ok().map(|_| Walker {
            id,
            give,
            asked: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Walk ahead: the state is the thread's until `answer`. Given back (Err) when the
    /// thread is gone.
    pub fn give(&self, mut walk: Box<Walk>) -> Result<(), Box<Walk>> {
        self.asked.store(false, Ordering::Relaxed);
        if let Some(ahead) = walk.ahead.as_mut() {
            ahead.asked = Some(Arc::clone(&self.asked));
        }
        self.give.send(walk).map_err(|failed| failed.0)
    }

    /// What this walker's waiter is given next (`jobs`: jobs too), waited for.
    fn next(&self, jobs: bool) -> Given {
        let id = self.id;
        let mut ex = exchange();
        loop {
            if let Some(job) = ex.jobs.pop_front().filter(|_| jobs) {
                return Given::Job(job);
            }
            if let Some(at) = ex.walked.iter().position(|(walker, _)| *walker == id) {
                return Given::Walked(ex.walked.swap_remove(at).1);
            }
            if let Some(at) = ex.lost.iter().position(|walker| *walker == id) {
                ex.lost.swap_remove(at);
                return Given::Lost;
            }
            ex = CHANGED.wait(ex).unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// The walk given, once done, waited for with the GIL released; the jobs of every
    /// walking thread are done with it meanwhile. None when the thread ended without
    /// answering.
    pub fn answer(&self, py: Python<'_>) -> Option<Walked> {
        self.asked.store(true, Ordering::Relaxed);
        loop {
            match py.allow_threads(|| self.next(true)) {
                Given::Walked(walked) => return Some(walked),
                Given::Job(job) => job(py),
                Given::Lost => return None,
            }
        }
    }

    /// Whether the walk given is done (its answer waits to be taken).
    pub fn done(&self) -> bool {
        let id = self.id;
        exchange().walked.iter().any(|(walker, _)| *walker == id)
    }

    /// The walk given, once done, where there is no Python (jobs are left to others).
    #[cfg(test)]
    fn walked(&self) -> Option<Walked> {
        match self.next(false) {
            Given::Walked(walked) => Some(walked),
            Given::Job(_) | Given::Lost => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    use tlslens_core::capture::{Batch, Frame};
    use tlslens_core::flows::{FlowTable, Limits};

    use super::{Ahead, Walk, Walker, AHEAD_BATCHES};
    use crate::flow_events::Collector;
    use crate::FileFeed;

    /// A pcap file of `frames` Ethernet frames of 1,000 bytes that no flow takes (an
    /// unknown EtherType): about a MB of them make one of the reader's batches.
    fn pcap_of(frames: u32, name: &str) -> PathBuf {
        let mut bytes = Vec::new();
        for word in [0xa1b2_c3d4_u32, 0x0004_0002, 0, 0, 65_535, 1] {
            bytes.extend_from_slice(&word.to_le_bytes());
        }
        let mut frame = vec![0u8; 1_000];
        frame[12..14].copy_from_slice(&[0x88, 0xb5]); // local experimental EtherType
        for number in 0..frames {
            for word in [number, 0, 1_000, 1_000] {
                bytes.extend_from_slice(&word.to_le_bytes());
            }
            bytes.extend_from_slice(&frame);
        }
        let path = std::env::temp_dir().join(format!("{name}-{}.pcap", std::process::id()));
        std::fs::write(&path, bytes).expect("written");
        path
    }

    /// A walk of the file's first batch, going ahead by at most `batches` more.
    fn walk_ahead(feed: &FileFeed, batches: usize) -> Box<Walk> {
        let mut walk = walk_of(0);
        walk.batch = feed.next();
        walk.ahead = Some(Ahead {
            feed: feed.clone(),
            batches,
            problems: Vec::new(),
            held_back: None,
            asked: None,
        });
        walk
    }

    #[test]
    fn a_walk_ahead_takes_the_files_next_batches_itself() {
        let path = pcap_of(3_000, "tlslens-walk-ahead");
        let walker = Walker::start().expect("a thread");
        // One more batch at most: the second batch's frames, not the third's.
        let feed = FileFeed::open(&path, None, u64::MAX, 0).expect("opened");
        assert!(walker.give(walk_ahead(&feed, 1)).is_ok());
        let (away, walked) = walker.walked().expect("an answer");
        assert!(walked.is_ok());
        let two = away.table.frames;
        assert!(two > 1_000 && two < 3_000, "{two} frames in two batches");
        assert!(!feed.state().done);
        // As far as the file goes: every frame, the reader done, the last batch's count.
        let feed = FileFeed::open(&path, None, u64::MAX, 0).expect("opened");
        assert!(walker.give(walk_ahead(&feed, AHEAD_BATCHES)).is_ok());
        let (away, walked) = walker.walked().expect("an answer");
        let _ = std::fs::remove_file(&path);
        assert!(walked.is_ok());
        assert_eq!(
            (away.table.frames, away.next),
            (3_000, away.batch.frames.len())
        );
        assert!(feed.state().done);
        assert_eq!(away.read, feed.state().read);
        let ahead = away.ahead.expect("kept");
        assert!(ahead.problems.is_empty() && ahead.held_back.is_none());
    }

    #[test]
    fn a_walk_ahead_that_python_waits_for_takes_no_further_batch() {
        let path = pcap_of(3_000, "tlslens-walk-asked");
        let feed = FileFeed::open(&path, None, u64::MAX, 0).expect("opened");
        let mut walk = walk_ahead(&feed, AHEAD_BATCHES);
        let first = walk.batch.frames.len();
        if let Some(ahead) = walk.ahead.as_mut() {
            ahead.asked = Some(Arc::new(AtomicBool::new(true)));
        }
        let walked = walk.frames_ahead();
        let _ = std::fs::remove_file(&path);
        assert!(walked.is_ok());
        assert_eq!(walk.table.frames, u64::try_from(first).unwrap_or(0));
        assert!(!feed.state().done);
    }

    /// Frames no flow takes (too short for a link header): walked, counted, skipped.
    fn walk_of(frames: usize) -> Box<Walk> {
        let mut batch = Batch::default();
        for number in 0..frames {
            let start = batch.data.len();
            batch.data.extend_from_slice(&[0x45, 0, 0]);
            batch.frames.push(Frame {
                ts_ns: 1_000 * i128::try_from(number).unwrap_or(0),
                linktype: 1,
                number: u64::try_from(number + 1).unwrap_or(0),
                start,
                len: 3,
                orig_len: 3,
            });
        }
        Box::new(Walk {
            table: FlowTable::new(Limits::default()),
            batch,
            next: 0,
            collector: Collector::default(),
            read: 0,
            ahead: None,
        })
    }

    #[test]
    fn the_walking_thread_walks_as_the_caller_would_and_gives_the_state_back() {
        let mut here = walk_of(100);
        let stop_here = here
            .frames_caught(false, usize::MAX)
            .map(|s| (s.check, s.progress));
        let walker = Walker::start().expect("a thread");
        assert!(walker.give(walk_of(100)).is_ok());
        let (away, walked) = walker.walked().expect("an answer");
        assert_eq!(stop_here.ok(), walked.ok().map(|s| (s.check, s.progress)));
        assert_eq!(
            (away.next, away.table.frames),
            (here.next, here.table.frames)
        );
        assert_eq!((away.next, away.table.frames), (100, 100));
        assert_eq!(away.table.skipped(), here.table.skipped());
        // Once answered, the thread takes the next walk.
        assert!(walker.give(away).is_ok());
        assert!(walker.walked().is_some());
    }
}
