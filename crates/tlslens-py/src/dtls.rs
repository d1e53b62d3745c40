//! One DTLS association of a capture, for `tls/dtls.py`: the core's `dtls::Association`
//! fed a datagram at a time, its events handed back as one small class.
//!
//! Strategy: the association only needs to tell the two ends apart, so the sides of the
//! UDP flow (0: the first datagram's sender) stand for the endpoints; the association
//! decides which side is the client. A panic in the core is a bug: it is caught here and
//! becomes a `DecodeError` naming it, which the caller reports as a finding.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};
use tlslens_core::dtls::{Association, DtlsEvent as CoreEvent, Keys, Limits, PendingPool, Suite};
use tlslens_core::flows::packet::Addr;

use super::decrypt::Derivation;
use super::flows::panic_text;
use super::keylog::{read_here, KeyLog};
use super::keys::{hash, CipherSpec};

/// The key log labels a DTLS association decrypts with (DTLS 1.0/1.2's, then DTLS 1.3's),
/// in the order of `Secrets`' slots (tls/dtls.py's DTLS_LABELS).
const DTLS_LABELS: [&str; 5] = [
    "CLIENT_RANDOM",
    "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
    "SERVER_HANDSHAKE_TRAFFIC_SECRET",
    "CLIENT_TRAFFIC_SECRET_0",
    "SERVER_TRAFFIC_SECRET_0",
];

/// The key log's DTLS secrets by client random and the suites they may be used with,
/// shared by the associations of a capture.
#[pyclass(frozen, module = "tlslens._core")]
pub struct DtlsKeys(Arc<Keys>);

#[pymethods]
impl DtlsKeys {
    /// The DTLS secrets of `keylog`, each with where it came from ("keylog", "pcapng"...:
    /// the source of the keys derived from it); `suites`: (code point, its record layout,
    /// its PRF/HKDF hash name).
    #[new]
    fn new(
        py: Python<'_>,
        keylog: PyRef<'_, KeyLog>,
        suites: Vec<(u16, PyRef<'_, CipherSpec>, String)>,
    ) -> PyResult<Self> {
        let mut keys = Keys::default();
        let log = read_here(py, &keylog.0);
        for (label, random, secret) in log.secrets() {
            let Some(index) = DTLS_LABELS.iter().position(|l| *l == label) else {
                continue; // the other labels protect nothing DTLS reads
            };
            let entry = keys.secrets.entry(*random).or_default();
            let slots = [
                &mut entry.master_secret,
                &mut entry.client_handshake,
                &mut entry.server_handshake,
                &mut entry.client_application,
                &mut entry.server_application,
            ];
            if let Some(slot) = slots.into_iter().nth(index) {
                *slot = Some(secret.to_vec());
            }
            // A random's secrets come in LABELS' order: the source of its keys is its first
            // label's (tls/dtls.py's source, as over TCP).
            let origin = || log.origin(label, random).to_owned();
            entry.origin.get_or_insert_with(origin);
        }
        drop(log);
        for (code, spec, hash_name) in suites {
            let suite = Suite {
                spec: spec.0.clone(),
                hash: hash(&hash_name)?,
            };
            keys.suites.insert(code, suite);
        }
        Ok(DtlsKeys(Arc::new(keys)))
    }
}

/// One event of a DTLS association; `kind` names it and which fields it fills:
/// "record" (offset, content_type (None: unified header), version, epoch, seq, cid,
/// length, unified, decrypted, inner_type), "message" (epoch, message_seq, msg_type,
/// data: the message in TLS form, fragments: how many it was reassembled from), "retransmission" (message_seq, msg_type),
/// "client_hello" (epoch, message_seq, data: the message as TLS without the cookie, cookie),
/// "hello_verify_request" (version, cookie), "negotiated" (version, suite, client_cid and
/// server_cid: the connection IDs the hellos asked for, None without the extension),
/// "change_cipher_spec", "alert" (level, description), "application_data" (epoch, seq,
/// data), "transcript" (DTLS 1.3, before a CertificateVerify or Finished: msg_type, data:
/// the transcript hash, verified: a Finished's check), "ack" (acks), "skipped_message" (a
/// message refused past --max-message: offset, msg_type, length: what it claims, limit),
/// "lacking" (a message
/// the handshake as read lacks: message_seq, msg_type, text: what and why, as a clause of a
/// reason), "hello_random" (data: the random of a ClientHello refused for its length, read
/// from its first fragment), "finding" (offset, text). `from_client` is None where the event has no
/// direction of its own (the hellos').
#[pyclass(frozen, module = "tlslens._core", get_all)]
#[derive(Default)]
pub struct DtlsEvent {
    kind: &'static str,
    frame: u64,
    from_client: Option<bool>,
    offset: usize,
    content_type: Option<u8>,
    version: Option<u16>,
    epoch: u64,
    seq: u64,
    cid: Vec<u8>,
    length: usize,
    unified: bool,
    decrypted: bool,
    inner_type: Option<u8>,
    message_seq: u16,
    msg_type: u8,
    data: Option<Py<PyBytes>>,
    cookie: Option<Py<PyBytes>>,
    suite: Option<u16>,
    level: u8,
    description: u8,
    acks: Vec<(u64, u64)>,
    text: String,
    fragments: usize,
    verified: Option<bool>,
    limit: usize,
    client_cid: Option<Vec<u8>>,
    server_cid: Option<Vec<u8>>,
}

fn bytes(py: Python<'_>, data: &[u8]) -> Option<Py<PyBytes>> {
    Some(PyBytes::new(py, data).unbind())
}

fn convert(py: Python<'_>, event: CoreEvent) -> DtlsEvent {
    match event {
        CoreEvent::Record {
            frame,
            from_client,
            offset,
            record,
            decrypted,
            inner_type,
        } => DtlsEvent {
            kind: "record",
            frame,
            from_client: Some(from_client),
            offset,
            content_type: record.content_type,
            version: record.version,
            epoch: record.epoch,
            seq: record.seq,
            cid: record.cid,
            length: record.length,
            unified: record.unified,
            decrypted,
            inner_type,
            ..DtlsEvent::default()
        },
        CoreEvent::Message {
            frame,
            from_client,
            epoch,
            message_seq,
            msg_type,
            tls,
            fragments,
        } => DtlsEvent {
            kind: "message",
            frame,
            from_client: Some(from_client),
            epoch,
            message_seq,
            msg_type,
            data: bytes(py, &tls),
            fragments,
            ..DtlsEvent::default()
        },
        CoreEvent::Retransmission {
            frame,
            from_client,
            message_seq,
            msg_type,
        } => DtlsEvent {
            kind: "retransmission",
            frame,
            from_client: Some(from_client),
            message_seq,
            msg_type,
            ..DtlsEvent::default()
        },
        CoreEvent::ClientHello {
            frame,
            epoch,
            message_seq,
            cookie,
            tls,
            ..
        } => DtlsEvent {
            kind: "client_hello",
            frame,
            epoch,
            message_seq,
            data: bytes(py, &tls),
            cookie: bytes(py, &cookie),
            ..DtlsEvent::default()
        },
        CoreEvent::HelloVerifyRequest {
            frame,
            version,
            cookie,
        } => DtlsEvent {
            kind: "hello_verify_request",
            frame,
            version: Some(version),
            cookie: bytes(py, &cookie),
            ..DtlsEvent::default()
        },
        rest => convert_rest(py, rest),
    }
}

fn convert_rest(py: Python<'_>, event: CoreEvent) -> DtlsEvent {
    match event {
        CoreEvent::Negotiated {
            frame,
            version,
            suite,
            client_cid,
            server_cid,
        } => DtlsEvent {
            kind: "negotiated",
            frame,
            version: Some(version),
            suite: Some(suite),
            client_cid,
            server_cid,
            ..DtlsEvent::default()
        },
        CoreEvent::ChangeCipherSpec { frame, from_client } => DtlsEvent {
            kind: "change_cipher_spec",
            frame,
            from_client: Some(from_client),
            ..DtlsEvent::default()
        },
        CoreEvent::Alert {
            frame,
            from_client,
            level,
            description,
        } => DtlsEvent {
            kind: "alert",
            frame,
            from_client: Some(from_client),
            level,
            description,
            ..DtlsEvent::default()
        },
        CoreEvent::ApplicationData {
            frame,
            from_client,
            epoch,
            seq,
            data,
        } => DtlsEvent {
            kind: "application_data",
            frame,
            from_client: Some(from_client),
            epoch,
            seq,
            data: bytes(py, &data),
            ..DtlsEvent::default()
        },
        CoreEvent::Transcript {
            frame,
            from_client,
            msg_type,
            signed,
            finished,
        } => DtlsEvent {
            kind: "transcript",
            frame,
            from_client: Some(from_client),
            msg_type,
            data: bytes(py, &signed),
            verified: finished,
            ..DtlsEvent::default()
        },
        // `convert`'s and `convert_told`'s variants (named, so that a new variant must be
        // placed).
        first @ (CoreEvent::Record { .. }
        | CoreEvent::Message { .. }
        | CoreEvent::Retransmission { .. }
        | CoreEvent::ClientHello { .. }
        | CoreEvent::HelloVerifyRequest { .. }) => convert(py, first),
        told @ (CoreEvent::Ack { .. }
        | CoreEvent::Lacking { .. }
        | CoreEvent::Skipped { .. }
        | CoreEvent::HelloRandom { .. }
        | CoreEvent::Finding(_)) => convert_told(py, told),
    }
}

/// What the association tells of the handshake besides its messages: ACKs, messages it
/// lacks, a skipped ClientHello's random, findings.
fn convert_told(py: Python<'_>, event: CoreEvent) -> DtlsEvent {
    match event {
        CoreEvent::Ack {
            frame,
            from_client,
            records,
        } => DtlsEvent {
            kind: "ack",
            frame,
            from_client: Some(from_client),
            acks: records,
            ..DtlsEvent::default()
        },
        CoreEvent::Lacking {
            frame,
            from_client,
            message_seq,
            msg_type,
            why,
        } => DtlsEvent {
            kind: "lacking",
            frame,
            from_client: Some(from_client),
            message_seq,
            msg_type,
            text: why,
            ..DtlsEvent::default()
        },
        CoreEvent::Skipped {
            frame,
            from_client,
            offset,
            msg_type,
            claimed,
            limit,
        } => DtlsEvent {
            kind: "skipped_message",
            frame,
            from_client: Some(from_client),
            offset,
            msg_type,
            length: claimed,
            limit,
            ..DtlsEvent::default()
        },
        CoreEvent::HelloRandom { frame, random } => DtlsEvent {
            kind: "hello_random",
            frame,
            from_client: Some(true),
            data: bytes(py, &random),
            ..DtlsEvent::default()
        },
        CoreEvent::Finding(f) => DtlsEvent {
            kind: "finding",
            frame: f.frame,
            from_client: Some(f.from_client),
            offset: f.offset,
            text: f.what,
            ..DtlsEvent::default()
        },
        // The others are `convert`'s to place (`convert_rest` hands over only these five).
        other => convert(py, other),
    }
}

/// The endpoint standing for a side of the flow (the association compares them only).
fn end(side: u8) -> (Addr, u16) {
    (Addr::v4([0, 0, 0, side]), u16::from(side))
}

/// What the incomplete handshake messages of a capture's DTLS associations hold, and its
/// bound (`max` bytes; 16 MiB by default): one per capture pass, given to each association.
#[pyclass(frozen, module = "tlslens._core")]
pub struct DtlsPool(Arc<PendingPool>);

#[pymethods]
impl DtlsPool {
    #[new]
    #[pyo3(signature = (max=PendingPool::DEFAULT_MAX))]
    fn new(max: usize) -> Self {
        DtlsPool(Arc::new(PendingPool::new(max)))
    }

    /// Bytes held now.
    #[getter]
    fn held(&self) -> usize {
        self.0.held()
    }
}

/// One DTLS association: `feed` its datagrams in capture order, `finish` at its end; each
/// returns the events they made.
#[pyclass(module = "tlslens._core")]
pub struct DtlsAssociation {
    core: Association,
    broken: bool, // a panic was caught: nothing more is read
}

#[pymethods]
impl DtlsAssociation {
    /// `pool`: shared with the capture's other associations (alone: one of its own).
    #[new]
    #[pyo3(signature = (keys=None, max_message=None, pool=None))]
    fn new(
        keys: Option<PyRef<'_, DtlsKeys>>,
        max_message: Option<usize>,
        pool: Option<PyRef<'_, DtlsPool>>,
    ) -> Self {
        let mut limits = Limits::default();
        if let Some(max) = max_message {
            limits.max_message = max;
        }
        let mut core = Association::new(limits, keys.map(|k| Arc::clone(&k.0)));
        if let Some(pool) = pool {
            core = core.sharing(Arc::clone(&pool.0));
        }
        DtlsAssociation {
            core,
            broken: false,
        }
    }

    /// A datagram from `side` (0: the flow's first sender). Raises ValueError after a bug
    /// in the core (a panic), naming it; the association reads nothing more then.
    fn feed<'py>(
        &mut self,
        py: Python<'py>,
        frame: u64,
        side: u8,
        payload: &[u8],
    ) -> PyResult<Bound<'py, PyList>> {
        let (src, dst) = (end(side), end(1 - side.min(1)));
        self.run(py, |core| core.feed(frame, src, dst, payload))
    }

    /// The end of the association: messages left incomplete become findings.
    fn finish<'py>(&mut self, py: Python<'py>, frame: u64) -> PyResult<Bound<'py, PyList>> {
        self.run(py, |core| core.finish(frame))
    }

    /// With a key log, one per handshake (the first, then each renegotiation; at most
    /// `MAX_DERIVATIONS`): the secrets, keys and IVs derived, as a TCP `Decryptor`'s.
    #[getter]
    fn derivations(&self, py: Python<'_>) -> PyResult<Vec<Derivation>> {
        (self.core.derivations().iter())
            .map(|d| Derivation::of(py, d))
            .collect()
    }
}

impl DtlsAssociation {
    fn run<'py>(
        &mut self,
        py: Python<'py>,
        work: impl FnOnce(&mut Association),
    ) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        if self.broken {
            return Ok(list);
        }
        let core = &mut self.core;
        let walked = catch_unwind(AssertUnwindSafe(|| {
            work(core);
            std::iter::from_fn(|| core.poll()).collect::<Vec<_>>()
        }));
        match walked {
            Ok(events) => {
                for event in events {
                    list.append(convert(py, event))?;
                }
                Ok(list)
            }
            Err(panic) => {
                self.broken = true;
                Err(PyValueError::new_err(panic_text(panic.as_ref())))
            }
        }
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<DtlsKeys>()?;
    m.add_class::<DtlsEvent>()?;
    m.add_class::<DtlsAssociation>()?;
    m.add_class::<DtlsPool>()?;
    Ok(())
}
