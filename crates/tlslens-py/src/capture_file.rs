//! A capture that is a regular file, read by the core itself on a thread of its own.
//!
//! Strategy: Python used to read the file in chunks and feed each to the reader, a copy
//! into a bytes object and another into the reader, all on the thread that then walks the
//! frames. Here a Rust thread owns the `std::fs::File` and the sans-IO `Reader`: it reads
//! large chunks, feeds them, polls the batches (inflating a gzip'd capture too) and sends
//! each batch with the reader's state over a bounded channel, so that reading and framing
//! run on another core while the walk takes the batch before. The channel holds at most
//! QUEUED batches: memory stays bounded however far the reading gets ahead. A panic on the
//! thread is caught there and sent as the capture's last problem. When the receiving side
//! is dropped (the run ended early, Ctrl-C), the thread's next send fails and it returns.
//! Standard input and pipes keep Python's path (`ArrivingStream`), told as they arrive.

use std::fs::File;
use std::io::{ErrorKind, Read};
#[cfg(unix)]
use std::os::unix::fs::MetadataExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;

use tlslens_core::capture::{Batch, Format, Problem, Reader};

use crate::flows::panic_text;

/// Bytes asked of the file per read.
const READ_SIZE: usize = 1 << 20;
/// Batches read ahead of the walk at most (each about `capture::BATCH_BYTES`).
const QUEUED: usize = 2;

/// What the reader's getters tell, as of the last batch taken.
#[derive(Clone, Debug)]
pub struct State {
    pub format: Format,
    pub fatal: Option<String>,
    /// Nothing more will come out.
    pub done: bool,
    pub frames: u64,
    pub linktypes: Vec<u32>,
    /// Bytes of the file read so far.
    pub read: u64,
}

impl State {
    fn of(reader: &Reader, read: u64, done: bool) -> Self {
        State {
            format: reader.format(),
            fatal: reader.fatal().map(str::to_owned),
            done,
            frames: reader.frames(),
            linktypes: reader.linktypes().iter().copied().collect(),
            read,
        }
    }
}

/// One batch and the reader's state after it.
struct Polled {
    batch: Batch,
    state: State,
}

/// An error unless `file` is the (device, inode) the caller opened.
#[cfg(unix)]
fn same_file(file: &File, identity: Option<(u64, u64)>) -> std::io::Result<()> {
    let Some(identity) = identity else {
        return Ok(());
    };
    let meta = file.metadata()?;
    if (meta.dev(), meta.ino()) == identity {
        return Ok(());
    }
    Err(std::io::Error::other(
        "the file was replaced under its name while it was being opened",
    ))
}

/// Elsewhere a file has no (device, inode) to compare: the name is trusted.
#[cfg(not(unix))]
fn same_file(_file: &File, _identity: Option<(u64, u64)>) -> std::io::Result<()> {
    Ok(())
}

/// The receiving end: the batches of a file read on its own thread. Cloned (`Arc`s) for a
/// walk that goes ahead (flows.rs, walk.rs): it takes the next batches itself while Python
/// reads the events before them; the main thread takes none meanwhile (it waits for that
/// walk first), so the receiver is never contended.
#[derive(Clone)]
pub struct FileFeed {
    rx: Arc<Mutex<Receiver<Polled>>>,
    /// The reader's state as of the last batch taken, by whichever thread took it (held
    /// only to copy it in or out: never while a batch is waited for).
    state: Arc<Mutex<State>>,
}

impl FileFeed {
    /// Open `path` and start reading it; an error opening it is the caller's to raise.
    /// `identity`: the (device, inode) of the file the caller opened by that name, which
    /// this must be (a log rotated between the two opens would otherwise be read anew).
    pub fn open(
        path: &Path,
        identity: Option<(u64, u64)>,
        max_expansion: u64,
        gzip_floor: u64,
    ) -> std::io::Result<Self> {
        let file = File::open(path)?;
        same_file(&file, identity)?;
        let reader = Reader::new(max_expansion, gzip_floor);
        let state = State::of(&reader, 0, false);
        let (tx, rx) = sync_channel(QUEUED);
        thread::Builder::new()
            .name("tlslens-capture".to_owned())
            .spawn(move || read_file(file, reader, &tx))?;
        Ok(FileFeed {
            rx: Arc::new(Mutex::new(rx)),
            state: Arc::new(Mutex::new(state)),
        })
    }

    /// The reader's state as of the last batch taken.
    pub fn state(&self) -> MutexGuard<'_, State> {
        // Poisoned: no panic can happen while it is held.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The next batch, waiting for the thread (call it with the GIL released); an empty
    /// batch once `state.done`.
    pub fn next(&self) -> Batch {
        let read = {
            let state = self.state();
            if state.done {
                return Batch::default();
            }
            state.read
        };
        let polled = match self.rx.lock() {
            Ok(rx) => rx.recv().ok(),
            Err(_) => None, // poisoned: no panic can happen while it is held
        };
        match polled {
            Some(polled) => {
                *self.state() = polled.state;
                polled.batch
            }
            // The thread sends `done` before it ends, caught panics included: a bug.
            None => {
                let mut state = self.state();
                state.done = true;
                let mut batch = Batch::default();
                batch.problems.push(Problem {
                    offset: read,
                    message: "internal error: the capture reader's thread ended early; \
                              reading stops here"
                        .to_owned(),
                    frame: Some(state.frames.saturating_add(1)),
                });
                batch
            }
        }
    }
}

/// What the thread does next once the reader has walked all it was fed.
enum Input {
    Fed,
    Ended,
}

/// The thread: read, feed, poll, send, until the reader is done or nobody listens.
fn read_file(mut file: File, mut reader: Reader, tx: &SyncSender<Polled>) {
    let mut chunk = vec![0u8; READ_SIZE];
    let mut read = 0u64;
    let mut ended = false;
    loop {
        let walked = catch_unwind(AssertUnwindSafe(|| reader.poll()));
        let batch = match walked {
            Ok(batch) => batch,
            Err(panic) => return broken(&reader, read, tx, panic_text(panic.as_ref())),
        };
        let done = reader.done();
        // Finished and nothing more came out: all that was read has been walked.
        let spent = done || (ended && batch.frames.is_empty());
        if !batch.is_empty() || spent {
            let state = State::of(&reader, read, spent);
            if tx.send(Polled { batch, state }).is_err() || spent {
                return;
            }
            continue;
        }
        let input = catch_unwind(AssertUnwindSafe(|| {
            next_chunk(&mut file, &mut chunk, &mut reader, &mut read)
        }));
        match input {
            Ok(Input::Fed) => {}
            Ok(Input::Ended) => ended = true,
            Err(panic) => return broken(&reader, read, tx, panic_text(panic.as_ref())),
        }
    }
}

/// Read the next chunk into the reader, or tell it the file ended (or failed to read).
fn next_chunk(file: &mut File, chunk: &mut [u8], reader: &mut Reader, read: &mut u64) -> Input {
    loop {
        match file.read(chunk) {
            Ok(0) => {
                reader.finish(None);
                return Input::Ended;
            }
            Ok(n) => {
                *read = read.saturating_add(u64::try_from(n).unwrap_or(u64::MAX));
                reader.feed(chunk.get(..n).unwrap_or_default());
                return Input::Fed;
            }
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(error) => {
                reader.finish(Some(format!(
                    "the capture could not be read further ({error})"
                )));
                return Input::Ended;
            }
        }
    }
}

/// A panic on the thread: the capture's last problem, and reading stops.
fn broken(reader: &Reader, read: u64, tx: &SyncSender<Polled>, what: String) {
    let mut batch = Batch::default();
    batch.problems.push(Problem {
        offset: reader.offset(),
        message: format!("internal error in the capture reader ({what}): reading stops here"),
        frame: Some(reader.frames().saturating_add(1)),
    });
    let state = State::of(reader, read, true);
    let _ = tx.send(Polled { batch, state });
}
