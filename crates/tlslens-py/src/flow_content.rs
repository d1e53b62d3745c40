//! Each TCP flow's content layer inside the flow walk (`FlowCore(content=...)`).
//!
//! Strategy: the core session's record-level events of one stream event go straight into
//! the flow's `tlslens_core::content::Content`, so that a record never becomes a Python
//! object: Python gets the content events (handshake messages, runs of application data,
//! findings...) and the session's own events it needs (start, prelude, SSL 2.0, gaps, the
//! end), in stream order. The decryption of a flow (`FlowDecryption`: its key log and
//! session cache are the run's) is made when the flow opens, and shared with the
//! connection's `Decryptor` that Python reads once the flow ended; it needs no GIL (a
//! SEED-CBC record is decrypted through Python where the GIL is held: keys.rs). The RSA
//! premaster question (once per handshake, with `--rsa-key`) takes the GIL; such a walk
//! holds it throughout.
//!
//! Runs of application data are folded over frames here as the timeline folds them (one
//! step per run), so that a bulk connection crosses as a few events: a run stays held
//! until something else of the flow is told or it ends, and then goes out with the frames
//! it began and ended at. Not when each record's plaintext is told (a sink listens): the
//! plaintext would be held too, so those runs go out with each frame as they come.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use pyo3::prelude::*;
use tlslens_core::content::{Content as CoreContent, ContentEvent, DataRun, Io, MessageRead};
use tlslens_core::decrypt::{RsaAnswer, RsaRequest, Suites};
use tlslens_core::records::{RecordEvent, SessionEvent};

use crate::decrypt::{ask_rsa, FlowDecryption, RunKeys};
use crate::handshake::fingerprint::{premade, Prints};
use crate::keys::stops_the_run;

/// What every flow's content layer is made with, and what makes its decryptor.
pub struct ContentSetup {
    pub suites: &'static Suites,
    pub max_message: u32,
    pub known_types: Vec<u8>,
    /// Each decrypted record's bytes are told (a plaintext sink is listening).
    pub keep_plaintext: bool,
    /// Each record's header goes out too (`--records`).
    pub keep_records: bool,
    /// `rsa(encrypted, versions)`: the premaster the run's RSA keys recover, or None.
    pub rsa: Option<PyObject>,
    /// The run's key store, for flows opened before any Decryption Secrets Block was read
    /// (None: no secret was given).
    pub keys: Option<Arc<RunKeys>>,
    /// `keys_for(secrets)`: the run's key store once `secrets` (> 0) Decryption Secrets
    /// Blocks were read (the caller adds their secrets to it then), or None.
    pub keys_for: PyObject,
    /// A KeyboardInterrupt (or SystemExit) raised in one of the callbacks above or in a
    /// SEED-CBC record's decryption: the walk stops and `pull` raises it. (An Exception
    /// there is a bug: the flow goes on without a decryptor or premaster, with an
    /// internal-error finding where it happened.) In a mutex only to be shared by the
    /// walk's callers.
    pub interrupt: Mutex<Option<PyErr>>,
    /// Whether `interrupt` holds one (looked at each frame).
    pub stops: AtomicBool,
}

impl ContentSetup {
    /// A callback's error: kept when it must stop the run (see `interrupt`) and None given
    /// back; an Exception is given back, for the flow's finding.
    pub fn failed(&self, py: Python<'_>, error: PyErr) -> Option<PyErr> {
        if !stops_the_run(py, &error) {
            return Some(error);
        }
        self.stop_with(error);
        None
    }

    /// An interrupt (a Ctrl-C raised in a SEED-CBC record's decryption) kept, without the
    /// GIL: the walk stops at the next frame. Its words for the flow's failure.
    pub fn stop_with(&self, error: PyErr) -> String {
        let mut interrupt = self
            .interrupt
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        interrupt.get_or_insert(error);
        self.stops.store(true, Ordering::Relaxed);
        "interrupted".to_owned()
    }

    /// The interrupt kept, if any (the walk stops at the next frame).
    pub fn interrupted(&self) -> Option<PyErr> {
        let mut interrupt = self
            .interrupt
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        self.stops.store(false, Ordering::Relaxed);
        interrupt.take()
    }

    /// Whether an interrupt is waiting to be raised.
    pub fn stopping(&self) -> bool {
        self.stops.load(Ordering::Relaxed)
    }
}

/// One thing a flow's stream event made the core say to Python.
pub enum Said {
    /// A session event passed through (not a record).
    Session(SessionEvent),
    Content(ContentEvent),
    /// A hello, with its fingerprints made in the walk (`fingerprint::premade`).
    Hello(Box<MessageRead>, Prints),
    /// A run of application data folded over frames (see the module's Strategy).
    Run(HeldRun),
    /// A record's header, for `--records` (`length`: its body's).
    Record {
        side: u8,
        offset: u64,
        content_type: u8,
        version: u16,
        length: usize,
    },
}

/// A run of application data held while later frames may add to it.
pub struct HeldRun {
    pub run: DataRun,
    /// The frame and timestamp of its first record, and the frame of its last.
    pub frame: u64,
    pub ts_ns: i128,
    pub last_frame: u64,
}

/// One flow's content layer and decryptor. The core content layer (688 bytes) is made at the
/// first event it reads: a plaintext flow's prelude only passes through (see `passes`).
pub struct FlowContent {
    inner: Option<Box<CoreContent>>,
    /// What the core content layer is made with (the side the flow opened with as the
    /// client's), and what it says until then.
    client_side: Option<u8>,
    decryptor: Option<Arc<FlowDecryption>>,
    /// After a bug: only the sides' ends go out (the session still counts bytes).
    abandoned: bool,
    /// The run of application data being folded over frames.
    held: Option<HeldRun>,
    /// The flow's decryptor could not be made (its callback raised an Exception, a bug):
    /// why, told as a finding at the flow's first record (the first it would have read).
    failed: Option<String>,
    /// Record headers told for `--records` (`MAX_RECORDS_LISTED`, then one more: the
    /// finding that the rest are counted only).
    listed: u64,
}

/// Record headers a connection lists for `--records`; past it they are counted only, with
/// a finding (what Python keeps of each counts toward `--max-held`: one real TLS 1.3
/// connection of 300,000 small records filled it and was closed early at record 128,172).
pub const MAX_RECORDS_LISTED: u64 = 50_000;

/// What a flow's decryption holds beyond what is counted of it, boxed: its decryptor (key
/// schedules, record protections, the transcript's hash) and what Python keeps of it
/// (measured: 10,032 connections left open after their handshake, with keys, cost 19.8 KB
/// each in RSS, 5.4 KB more than was counted of them without this).
const DECRYPTION_COST: usize = 5 << 10;

impl FlowContent {
    /// What the flow's content layer holds, boxed (`Limits.max_held`): the core's, the
    /// plaintext of a run being folded, its decryption.
    pub fn held(&self) -> usize {
        use tlslens_core::held::{boxed, buffer};
        let core = self.inner.as_deref().map_or(0, CoreContent::held);
        let run = self.held.iter().flat_map(|held| &held.run.plaintext);
        let decryption = if self.decryptor.is_some() {
            DECRYPTION_COST
        } else {
            0
        };
        boxed::<FlowContent>() + core + run.map(buffer).sum::<usize>() + decryption
    }

    /// `failed`: why the decryptor could not be made.
    pub fn new(
        client_side: Option<u8>,
        decryptor: Option<Arc<FlowDecryption>>,
        failed: Option<String>,
    ) -> Self {
        FlowContent {
            inner: None,
            client_side,
            decryptor,
            abandoned: false,
            held: None,
            failed,
            listed: 0,
        }
    }

    /// A bug stopped the flow's reading: what the batch being read counted is dropped with
    /// its events. The run of application data held (read before it) is given back, to be
    /// told before the failure.
    pub fn abandon(&mut self) -> Option<Said> {
        self.abandoned = true;
        if let Some(inner) = self.inner.as_mut() {
            inner.drop_untold();
        }
        self.close()
    }

    /// The run still held, if any, goes out.
    pub fn close(&mut self) -> Option<Said> {
        self.held.take().map(Said::Run)
    }

    /// The flow ended: a decryptor's failure not told yet (no record came to place it at),
    /// then the run still held.
    pub fn finish(&mut self) -> Vec<Said> {
        let failed = self.failed.take();
        let failed = failed.map(|why| Said::Content(internal(None, why)));
        failed.into_iter().chain(self.close()).collect()
    }

    /// (a renegotiation was seen, the server resumed a session, TLS 1.3 encrypted).
    pub fn flags(&self) -> (bool, bool, bool) {
        self.inner.as_ref().map_or((false, false, false), |inner| {
            (
                inner.renegotiation(),
                inner.abbreviated(),
                inner.tls13_encrypted(),
            )
        })
    }

    /// The side that is the client's, once known.
    pub fn client_side(&self) -> Option<u8> {
        self.inner
            .as_ref()
            .map_or(self.client_side, |inner| inner.client_side())
    }

    /// Per side (0, 1): (application data records, their bytes, gaps, bytes missing).
    pub fn counts(&self) -> [(u64, u64, u64, u64); 2] {
        let inner = self.inner.as_ref();
        [0, 1].map(|side| inner.map_or((0, 0, 0, 0), |inner| counts_of(inner, side)))
    }

    /// Whether the core content layer was made (a test's question).
    #[cfg(test)]
    pub fn reading(&self) -> bool {
        self.inner.is_some()
    }

    /// One stream event's session events, read: records replaced by content events, the
    /// run of application data still open told at the end. Err: the decryptor could not be
    /// borrowed (a bug), said as the flow's failure.
    pub fn read(
        &mut self,
        setup: &ContentSetup,
        events: Vec<SessionEvent>,
        (frame, ts_ns): (u64, i128),
        out: &mut Vec<Said>,
    ) -> Result<(), String> {
        if self.abandoned {
            let ends = events
                .into_iter()
                .filter(|e| matches!(e, SessionEvent::End { .. }));
            // A decryptor's failure not yet told is told before the ends.
            out.extend(
                self.failed
                    .take()
                    .map(|why| Said::Content(internal(None, why))),
            );
            out.extend(ends.map(Said::Session));
            return Ok(());
        }
        if self.inner.is_none() && events.iter().all(passes) {
            // What the core content layer would do with them, not yet made.
            out.extend(events.into_iter().map(Said::Session));
            return Ok(());
        }
        let mut listing = setup.keep_records.then_some(self.listed);
        let first = self.failed.as_ref().and_then(|_| first_record(&events));
        let mut said = Vec::new();
        self.with_io(setup, |inner, io| {
            for event in events {
                step(inner, io, &mut listing, (event, frame), &mut said);
            }
            inner.flush();
            said.extend(inner.drain().map(said_of));
            inner.told();
        })?;
        self.listed = listing.unwrap_or(self.listed);
        if let Some(at) = first {
            said.extend(
                self.failed
                    .take()
                    .map(|why| Said::Content(internal(Some(at), why))),
            );
        }
        if setup.keep_plaintext {
            out.append(&mut said);
            return Ok(());
        }
        for item in said {
            match item {
                Said::Content(ContentEvent::ApplicationData(run)) => {
                    self.fold(run, frame, ts_ns, out);
                }
                other => {
                    out.extend(self.close());
                    out.push(other);
                }
            }
        }
        Ok(())
    }

    /// A run of this frame joins the run held, or the held one goes out and it is held.
    fn fold(&mut self, run: DataRun, frame: u64, ts_ns: i128, out: &mut Vec<Said>) {
        let run = match self.held.as_mut() {
            Some(held) => match held.run.absorb(run) {
                Ok(()) => {
                    held.last_frame = frame;
                    return;
                }
                Err(run) => run,
            },
            None => run,
        };
        out.extend(self.close());
        self.held = Some(HeldRun {
            run,
            frame,
            ts_ns,
            last_frame: frame,
        });
    }

    /// `work` with the content layer and its `Io`; the GIL only where an RSA premaster may
    /// be asked for.
    fn with_io<T>(
        &mut self,
        setup: &ContentSetup,
        work: impl FnOnce(&mut CoreContent, &mut Io<'_, '_>) -> T,
    ) -> Result<T, String> {
        let FlowContent {
            inner,
            client_side,
            decryptor,
            ..
        } = self;
        let inner = inner.get_or_insert_with(|| {
            let (max_message, known_types) = (setup.max_message, &setup.known_types);
            let made =
                CoreContent::new(*client_side, max_message, known_types, setup.keep_plaintext);
            Box::new(made)
        });
        let mut none = |_: &RsaRequest| -> RsaAnswer { Ok(None) };
        let Some(decryptor) = decryptor.as_ref() else {
            let mut io = Io {
                suites: setup.suites,
                decryptor: None,
                rsa: &mut none,
            };
            return Ok(work(inner, &mut io));
        };
        // `with_core`'s Err is only a SEED-CBC record's Ctrl-C: kept (the walk stops), with
        // no GIL needed (this may be the walking thread).
        let Some(rsa) = setup.rsa.as_ref() else {
            let walked = decryptor.with_core(None, setup.suites, |core| {
                let mut io = Io {
                    suites: setup.suites,
                    decryptor: core,
                    rsa: &mut none,
                };
                work(inner, &mut io)
            });
            return walked.map_err(|error| setup.stop_with(error));
        };
        Python::with_gil(|py| {
            // An Exception is the content layer's finding at the message; a Ctrl-C is kept
            // (the walk stops).
            let mut answer = |request: &RsaRequest| -> RsaAnswer {
                ask_rsa(py, Some(rsa), request).or_else(|error| {
                    setup
                        .failed(py, error)
                        .map_or(Ok(None), |error| Err(error.to_string()))
                })
            };
            let walked = decryptor.with_core(Some(py), setup.suites, |core| {
                let mut io = Io {
                    suites: setup.suites,
                    decryptor: core,
                    rsa: &mut answer,
                };
                work(inner, &mut io)
            });
            walked.map_err(|error| setup.stop_with(error))
        })
    }
}

/// `side`'s counts as the boundary tells them.
pub fn counts_of(inner: &CoreContent, side: u8) -> (u64, u64, u64, u64) {
    let c = inner.counts(side);
    (
        c.application_data_records,
        c.application_data_bytes,
        c.gaps,
        c.gap_bytes,
    )
}

/// Whether the core content layer only passes `event` through (a plaintext prelude, a
/// TCP conflict, bytes come late), changing nothing of its own: it is not made for such
/// events alone.
fn passes(event: &SessionEvent) -> bool {
    matches!(
        event,
        SessionEvent::Prelude { .. } | SessionEvent::Conflict { .. } | SessionEvent::Late { .. }
    )
}

/// (side, stream offset) of the first record among `events`.
fn first_record(events: &[SessionEvent]) -> Option<(u8, u64)> {
    events.iter().find_map(|event| match event {
        SessionEvent::Record {
            side,
            event: RecordEvent::Record { offset, .. } | RecordEvent::Skipped { offset, .. },
        }
        | SessionEvent::Sslv2ClientHello { side, offset, .. } => Some((*side, *offset)),
        _ => None,
    })
}

/// An internal-error finding of the flow, where it happened when known.
fn internal(at: Option<(u8, u64)>, message: String) -> ContentEvent {
    ContentEvent::Finding {
        side: at.map(|(side, _)| side),
        layer: "internal",
        offset: at.map(|(_, offset)| offset),
        message,
    }
}

/// The content events told so far go out.
fn pass(inner: &mut CoreContent, out: &mut Vec<Said>) {
    out.extend(inner.drain().map(said_of));
}

/// A content event as the flow tells it: a hello with its fingerprints made here.
fn said_of(event: ContentEvent) -> Said {
    match event {
        ContentEvent::Message(read) => match premade(&read) {
            Some(prints) => Said::Hello(read, prints),
            None => Said::Content(ContentEvent::Message(read)),
        },
        other => Said::Content(other),
    }
}

/// A record's header for `--records` (`listing`: the headers told so far), or past
/// `MAX_RECORDS_LISTED` the finding that the rest are counted only (once).
fn list_record(
    listing: &mut Option<u64>,
    (side, content_type, version, offset, length): (u8, u8, u16, u64, usize),
    inner: &mut CoreContent,
    out: &mut Vec<Said>,
) {
    let Some(listed) = listing.as_mut() else {
        return;
    };
    if *listed > MAX_RECORDS_LISTED {
        return;
    }
    pass(inner, out);
    *listed += 1;
    if *listed > MAX_RECORDS_LISTED {
        out.push(Said::Content(ContentEvent::Finding {
            side: Some(side),
            layer: "record",
            offset: Some(offset),
            message: format!(
                "records from this one on are counted, not listed: --records lists {} a \
                 connection",
                tlslens_core::capture::thousands(MAX_RECORDS_LISTED)
            ),
        }));
        return;
    }
    out.push(Said::Record {
        side,
        offset,
        content_type,
        version,
        length,
    });
}

/// One session event, seen at `frame`: records are read (their headers kept for
/// `--records`), the others pass through, ending a run of application data.
fn step(
    inner: &mut CoreContent,
    io: &mut Io<'_, '_>,
    listing: &mut Option<u64>,
    (event, frame): (SessionEvent, u64),
    out: &mut Vec<Said>,
) {
    match event {
        SessionEvent::Record {
            side,
            event:
                RecordEvent::Record {
                    content_type,
                    version,
                    offset,
                    body,
                },
        } => {
            let header = (side, content_type, version, offset, body.len());
            list_record(listing, header, inner, out);
            inner.record(io, side, content_type, version, &body, offset);
        }
        SessionEvent::Record {
            side,
            event:
                RecordEvent::Skipped {
                    content_type,
                    version,
                    offset,
                    length,
                },
        } => {
            let header = (side, content_type, version, offset, length);
            list_record(listing, header, inner, out);
            inner.skipped(side, offset, length);
        }
        other => {
            match &other {
                SessionEvent::Started { client_side, .. } => inner.set_client_side(*client_side),
                SessionEvent::End { side, .. } => {
                    inner.side_end(*side);
                    if let Some((dec, _)) = io.decryptor.as_mut() {
                        dec.flush_digests();
                    }
                }
                SessionEvent::Gap {
                    side,
                    offset,
                    length,
                    given_up,
                    ..
                } => inner.gap(*side, (*offset, *length), *given_up),
                _ => {}
            }
            inner.flush();
            pass(inner, out);
            let lost = match &other {
                SessionEvent::Gap {
                    side,
                    offset,
                    length,
                    lost: true,
                    given_up,
                } => Some((*side, (*offset, *length), *given_up)),
                _ => None,
            };
            let hello = match &other {
                SessionEvent::Sslv2ClientHello { record, .. } => Some(record.clone()),
                _ => None,
            };
            out.push(Said::Session(other));
            if let Some((side, hole, given_up)) = lost {
                inner.lost(io, (side, frame), hole, given_up);
            }
            if let Some(record) = hello {
                inner.sslv2_client_hello(io, &record);
            }
        }
    }
}
