//! The content layer's boundary: `tlslens._core.Content`, one connection's record content
//! in the core (the event classes are in content_events.rs).
//!
//! Strategy: the Python session of a TCP connection hands each batch of the core session's
//! events to `take`; records are read here (opened with the connection's decryptor,
//! dispatched, their handshake messages defragmented and parsed) and replaced by content
//! events, the other session events pass through in order. DTLS and QUIC frame their
//! handshake messages themselves and use the message-level entries: `message` (a whole
//! message, DTLS), `crypto` (CRYPTO stream bytes, QUIC), `skipped` (an unread record of
//! application data), each answering with the content events it caused. The RSA premaster
//! of a key exchange the key log does not open is asked of Python once per handshake
//! (`rsa`): a Ctrl-C there is raised once the call's work is done, an Exception (a bug) is
//! told by the content layer as the connection's internal-error finding at the message. A
//! panic inside is a bug: it is raised as a `RuntimeError`, which the Python session reports
//! as an internal error of that connection.

use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyList;
use tlslens_core::content::{Content as CoreContent, Io, Signed, Space};
use tlslens_core::decrypt::{RsaAnswer, RsaRequest};

use crate::content_events::{tell, Seen};
use crate::decrypt::{ask_rsa, suites, Decryptor};
use crate::flow_content::counts_of;
use crate::flows::panic_text;
use crate::keys::stops_the_run;
use crate::session::{SideEnd, SkippedBody, Sslv2ClientHello, StreamGap, TlsRecord, TlsStarted};

/// One connection's record content, sans-IO: see the module's Strategy.
#[pyclass(module = "tlslens._core")]
pub struct Content {
    inner: CoreContent,
    decryptor: Option<Py<Decryptor>>,
    rsa: Option<PyObject>,
    keep_records: bool,
}

/// The session's events while one batch is read: the output, and what is told into it.
struct Batch<'py> {
    py: Python<'py>,
    out: Bound<'py, PyList>,
    keep_records: bool,
    /// The frame and timestamp of the batch.
    at: (u64, i128),
}

impl Batch<'_> {
    /// Every event of the batch, then the run of application data still open.
    fn read(
        &self,
        inner: &mut CoreContent,
        mut io: Io<'_, '_>,
        events: &Bound<'_, PyList>,
    ) -> PyResult<()> {
        for item in events.iter() {
            self.step(inner, &mut io, &item)?;
        }
        inner.flush();
        self.pass(inner, None)
    }

    /// The content events told so far, then `item` (a session event passed through).
    fn pass(&self, inner: &mut CoreContent, item: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        let told: Vec<_> = inner.drain().collect();
        if !told.is_empty() {
            let seen = seen(self.py, inner, self.at, self.keep_records)?;
            for event in told {
                tell(self.py, event, &seen, &self.out)?;
            }
        }
        if let Some(item) = item {
            self.out.append(item)?;
        }
        Ok(())
    }

    /// One session event: records are read, the others pass through (ending a run of
    /// application data, unless they are records kept for `--records`).
    fn step(
        &self,
        inner: &mut CoreContent,
        io: &mut Io<'_, '_>,
        item: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let py = self.py;
        if let Ok(record) = item.downcast::<TlsRecord>() {
            let record = record.get();
            if self.keep_records {
                self.pass(inner, Some(item))?;
            }
            let body = record.body.as_bytes(py);
            inner.record(
                io,
                record.side,
                record.content_type,
                record.version,
                body,
                record.offset,
            );
            return Ok(());
        }
        if let Ok(skipped) = item.downcast::<SkippedBody>() {
            let skipped = skipped.get();
            if self.keep_records {
                self.pass(inner, Some(item))?;
            }
            inner.skipped(skipped.side, skipped.offset, skipped.length);
            return Ok(());
        }
        if let Ok(started) = item.downcast::<TlsStarted>() {
            inner.set_client_side(started.get().client_side);
        } else if let Ok(end) = item.downcast::<SideEnd>() {
            inner.side_end(end.get().side);
        } else if let Ok(gap) = item.downcast::<StreamGap>() {
            let gap = gap.get();
            inner.gap(gap.side, (gap.offset, gap.length), gap.given_up);
        }
        inner.flush();
        self.pass(inner, Some(item))?;
        if let Ok(gap) = item.downcast::<StreamGap>() {
            let gap = gap.get();
            if gap.lost {
                inner.lost(
                    io,
                    (gap.side, self.at.0),
                    (gap.offset, gap.length),
                    gap.given_up,
                );
            }
        } else if let Ok(hello) = item.downcast::<Sslv2ClientHello>() {
            inner.sslv2_client_hello(io, hello.get().record.as_bytes(py));
        }
        Ok(())
    }
}

impl Content {
    /// `work` with the core content layer and its `Io` (the decryptor's keys, the RSA
    /// answer); a panic inside is raised as RuntimeError, and what the call read is then
    /// not counted. The RSA callback's error: a Ctrl-C is raised, an Exception is the
    /// content layer's finding.
    fn with_io<T>(
        &mut self,
        py: Python<'_>,
        work: impl FnOnce(&mut CoreContent, Io<'_, '_>) -> PyResult<T>,
    ) -> PyResult<T> {
        let suites = suites(py)?;
        let Content {
            inner,
            decryptor,
            rsa,
            ..
        } = self;
        let mut interrupt: Option<PyErr> = None;
        let mut answer = |request: &RsaRequest| -> RsaAnswer {
            ask_rsa(py, rsa.as_ref(), request).or_else(|error| {
                if !stops_the_run(py, &error) {
                    return Err(error.to_string());
                }
                interrupt.get_or_insert(error);
                Ok(None)
            })
        };
        let walked = catch_unwind(AssertUnwindSafe(|| -> PyResult<T> {
            match decryptor {
                Some(dec) => dec.get().0.with_core(Some(py), suites, |core| {
                    let io = Io {
                        suites,
                        decryptor: core,
                        rsa: &mut answer,
                    };
                    work(inner, io)
                })?,
                None => {
                    let io = Io {
                        suites,
                        decryptor: None,
                        rsa: &mut answer,
                    };
                    work(inner, io)
                }
            }
        }));
        let walked = walked.unwrap_or_else(|panic| {
            Err(PyRuntimeError::new_err(format!(
                "the content layer panicked ({})",
                panic_text(panic.as_ref())
            )))
        });
        if let Some(interrupt) = interrupt {
            return Err(interrupt);
        }
        // The events of a call that failed are not told: what it read is not counted.
        match walked {
            Ok(_) => inner.told(),
            Err(_) => inner.drop_untold(),
        }
        walked
    }

    /// The content events `work` caused (a run of application data ends with them), seen
    /// `at` (frame, timestamp).
    fn events(
        &mut self,
        py: Python<'_>,
        at: (u64, i128),
        work: impl FnOnce(&mut CoreContent, &mut Io<'_, '_>),
    ) -> PyResult<Py<PyList>> {
        let out = PyList::empty(py);
        let keep_raw = self.keep_records;
        self.with_io(py, |inner, mut io| {
            work(inner, &mut io);
            inner.flush();
            let seen = seen(py, inner, at, keep_raw)?;
            for event in inner.drain() {
                tell(py, event, &seen, &out)?;
            }
            Ok(())
        })?;
        Ok(out.unbind())
    }
}

/// Where the events told now were seen (`keep_raw`: each handshake message keeps its bytes).
fn seen(py: Python<'_>, inner: &CoreContent, at: (u64, i128), keep_raw: bool) -> PyResult<Seen> {
    Seen::new(py, at, inner.client_side(), keep_raw)
}

fn space(name: &str) -> PyResult<Space> {
    Space::from_name(name).ok_or_else(|| {
        PyValueError::new_err(format!(
            "unknown packet number space {name:?} (initial, handshake, application)"
        ))
    })
}

#[pymethods]
impl Content {
    /// `client_side` when known (else from the session's `TlsStarted`); `known_types`: the
    /// handshake types a record of whole messages may hold; `keep_plaintext`: each
    /// decrypted record's bytes are told; `keep_records` (`--records`): records pass
    /// through too, and each handshake message keeps its bytes;
    /// `rsa(encrypted, versions)`: the premaster the caller's RSA keys recover, or None.
    #[new]
    #[pyo3(signature = (*, client_side, max_message, known_types, keep_plaintext, keep_records, decryptor=None, rsa=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        client_side: Option<u8>,
        max_message: u64,
        known_types: Vec<u8>,
        keep_plaintext: bool,
        keep_records: bool,
        decryptor: Option<Py<Decryptor>>,
        rsa: Option<PyObject>,
    ) -> Self {
        let limit = u32::try_from(max_message).unwrap_or(u32::MAX);
        Content {
            inner: CoreContent::new(client_side, limit, &known_types, keep_plaintext),
            decryptor,
            rsa,
            keep_records,
        }
    }

    /// The core session's events of one batch, seen at `frame` and `ts_ns`, records
    /// replaced by content events.
    fn take(
        &mut self,
        py: Python<'_>,
        events: &Bound<'_, PyList>,
        frame: u64,
        ts_ns: i128,
    ) -> PyResult<Py<PyList>> {
        let batch = Batch {
            py,
            out: PyList::empty(py),
            keep_records: self.keep_records,
            at: (frame, ts_ns),
        };
        self.with_io(py, |inner, io| batch.read(inner, io, events))?;
        Ok(batch.out.unbind())
    }

    /// One whole handshake message of `side` (`raw`: its 4-byte TLS header included) at
    /// `offset`; `decrypted`: opened by the caller's keys. A caller that keeps the handshake
    /// hash itself (DTLS) gives what a CertificateVerify signs: `signed13` (the transcript
    /// hash before it) and `signed_messages` (the messages before it as its hash takes
    /// them); `keeps_transcript` says it does.
    #[pyo3(signature = (side, raw, offset, decrypted, *, at, keeps_transcript=false, signed13=None, signed_messages=None))]
    #[allow(clippy::too_many_arguments)]
    fn message(
        &mut self,
        py: Python<'_>,
        side: u8,
        raw: &[u8],
        offset: u64,
        decrypted: bool,
        at: (u64, i128),
        keeps_transcript: bool,
        signed13: Option<&[u8]>,
        signed_messages: Option<&[u8]>,
    ) -> PyResult<Py<PyList>> {
        let signed = keeps_transcript.then(|| Signed {
            tls13: signed13.map(<[u8]>::to_vec),
            messages: signed_messages.map(<[u8]>::to_vec),
        });
        self.events(py, at, |inner, io| {
            inner.whole_message(io, side, raw.to_vec(), offset, decrypted, signed);
        })
    }

    /// CRYPTO bytes of `side` in packet number space `space` ("initial", "handshake",
    /// "application") at stream `offset`: the messages they complete, read.
    #[pyo3(signature = (side, space_name, data, offset, decrypted, *, at))]
    #[allow(clippy::too_many_arguments)]
    fn crypto(
        &mut self,
        py: Python<'_>,
        side: u8,
        space_name: &str,
        data: &[u8],
        offset: u64,
        decrypted: bool,
        at: (u64, i128),
    ) -> PyResult<Py<PyList>> {
        let space = space(space_name)?;
        self.events(py, at, |inner, io| {
            inner.crypto(io, side, space, data, offset, decrypted);
        })
    }

    /// A client's CRYPTO stream begins again after a Retry, read with `decryptor` (a new
    /// one: its transcript and keys begin again too).
    #[pyo3(signature = (side, space_name, decryptor=None))]
    fn crypto_restart(
        &mut self,
        side: u8,
        space_name: &str,
        decryptor: Option<Py<Decryptor>>,
    ) -> PyResult<()> {
        self.inner.crypto_restart(side, space(space_name)?);
        self.decryptor = decryptor;
        Ok(())
    }

    /// The connection's end: each CRYPTO stream's message still incomplete, told.
    #[pyo3(signature = (*, at))]
    fn crypto_end(&mut self, py: Python<'_>, at: (u64, i128)) -> PyResult<Py<PyList>> {
        self.events(py, at, |inner, _| inner.crypto_end())
    }

    /// An application data record of `side` whose body is not read: its step (application
    /// data, 0-RTT early data or TLS 1.3's encrypted handshake).
    #[pyo3(signature = (side, offset, length, *, at))]
    fn skipped(
        &mut self,
        py: Python<'_>,
        side: u8,
        offset: u64,
        length: usize,
        at: (u64, i128),
    ) -> PyResult<Py<PyList>> {
        self.events(py, at, |inner, _| inner.skipped(side, offset, length))
    }

    /// A record of `side` known by its header to be the encrypted handshake (DTLS 1.3's
    /// epoch 2), unread: its step.
    #[pyo3(signature = (side, offset, length, *, at))]
    fn sealed_handshake(
        &mut self,
        py: Python<'_>,
        side: u8,
        offset: u64,
        length: usize,
        at: (u64, i128),
    ) -> PyResult<Py<PyList>> {
        self.events(py, at, |inner, _| {
            inner.sealed_handshake(side, offset, length)
        })
    }

    /// Per side (0, 1): (application data records, their bytes, gaps, bytes missing), as
    /// the connection's statistics count them.
    #[getter]
    fn counts(&self) -> [(u64, u64, u64, u64); 2] {
        [0, 1].map(|side| counts_of(&self.inner, side))
    }

    /// A handshake after the first was seen (RFC 5746).
    #[getter]
    fn renegotiation(&self) -> bool {
        self.inner.renegotiation()
    }

    /// The server resumed a session (its flight went from ServerHello to ChangeCipherSpec).
    #[getter]
    fn abbreviated(&self) -> bool {
        self.inner.abbreviated()
    }

    /// A TLS 1.3 ServerHello was read.
    #[getter]
    fn tls13_encrypted(&self) -> bool {
        self.inner.tls13_encrypted()
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Content>()?;
    crate::content_events::register(m)
}
