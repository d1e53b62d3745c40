//! One connection's decryptor (`tlslens_core::decrypt::Decryptor`) for the content layer.
//!
//! Strategy: the content layer calls it per handshake message, per ChangeCipherSpec and per
//! protected record; the key log and the session cache are the run's `KeyStore`'s, locked
//! per call (shared with the walking thread, which feeds the flows' decryptors without the
//! GIL: `FlowDecryption`). The cipher suite registry crosses once per process. What `show --json` and the
//! narration read (status, derivations, per-direction results) are getters. RSA decryption
//! stays with `cryptography`: the content layer (content.rs, flow_content.rs) asks Python
//! for the premaster once per handshake (`ask_rsa`). A panic in the core is caught here and
//! becomes the connection's reason; the decryptor is then left alone. A Ctrl-C in a SEED-CBC
//! record's decryption (a callback into Python, keys.rs) is raised by `with_core`; an
//! Exception there is the core decryptor's fault (its finding, at the record).

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, MutexGuard};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::sync::GILOnceCell;
use pyo3::types::{PyBytes, PyDict, PyList};
use tlslens_core::decrypt::{self as core, Dir, Env, Opened, Part, RsaRequest, Suite, Suites};
use tlslens_core::protection::ExternalCbc;

use crate::flows::panic_text;
use crate::keylog::{lock_here, lock_walking, read_here, read_walking};
use crate::keylog::{KeyLog, SessionCache, SharedKeyLog, SharedSessions};
use crate::keys::{seed_cbc, take_seed_error};

mod json;

use json::decryption_not_attempted;
pub(crate) use json::DecryptionJson;

static SUITES: GILOnceCell<Suites> = GILOnceCell::new();

/// The registry's suites (`tlslens.registry.CIPHER_SUITES`), read once.
pub(crate) fn suites(py: Python<'_>) -> PyResult<&'static Suites> {
    SUITES.get_or_try_init(py, || {
        let table = py.import("tlslens.registry")?.getattr("CIPHER_SUITES")?;
        let mut suites = Suites::new();
        for item in table.call_method0("items")?.try_iter()? {
            let (code, info): (u16, Bound<'_, PyAny>) = item?.extract()?;
            let text = |name: &str| -> PyResult<Option<String>> { info.getattr(name)?.extract() };
            suites.insert(
                code,
                Suite {
                    name: info.getattr("name")?.extract()?,
                    kx: text("kx")?,
                    auth: text("auth")?,
                    cipher: text("cipher")?.unwrap_or_default(),
                    mac: text("mac")?.unwrap_or_default(),
                    prf_hash: text("prf_hash")?.unwrap_or_else(|| "SHA256".to_owned()),
                    tls13: info.getattr("tls13")?.extract()?,
                },
            );
        }
        Ok(suites)
    })
}

fn direction(name: &str) -> PyResult<Dir> {
    match name {
        "c2s" => Ok(Dir::C2S),
        "s2c" => Ok(Dir::S2C),
        _ => Err(PyValueError::new_err(format!("no direction {name:?}"))),
    }
}

fn external_seed(key: &[u8]) -> Box<dyn ExternalCbc> {
    seed_cbc(key)
}

/// The premaster `rsa(encrypted, versions)` recovers for an RSA key exchange, None when there
/// is no callback or it recovers none. Err: the callback raised, or answered with no bytes.
pub(crate) fn ask_rsa(
    py: Python<'_>,
    rsa: Option<&PyObject>,
    request: &RsaRequest,
) -> PyResult<Option<Vec<u8>>> {
    let Some(rsa) = rsa else {
        return Ok(None);
    };
    let encrypted = PyBytes::new(py, &request.encrypted);
    rsa.call1(py, (encrypted, request.versions))?.extract(py)
}

/// Why a connection has no decryptor when its callback raised an Exception (a bug): it is
/// read, not decrypted.
pub(crate) fn decryptor_failed(error: &PyErr) -> String {
    format!(
        "internal error making this connection's decryptor ({error}); its records are not \
         decrypted"
    )
}

/// The keys one handshake derived, in the order derived, and the secret they came from.
#[pyclass(frozen, module = "tlslens._core")]
pub struct Derivation {
    #[pyo3(get)]
    values: Py<PyList>,
    #[pyo3(get)]
    source: Option<String>,
}

impl Derivation {
    /// The core's, for Python (a DTLS association's as a TCP decryptor's).
    pub(crate) fn of(py: Python<'_>, derivation: &core::Derivation) -> PyResult<Self> {
        Ok(Derivation {
            values: values(py, &derivation.values)?.unbind(),
            source: derivation.source.clone(),
        })
    }
}

/// What one direction's records gave.
#[pyclass(frozen, module = "tlslens._core")]
#[derive(Default)]
pub struct DecryptionResult {
    #[pyo3(get)]
    records_decrypted: u64,
    #[pyo3(get)]
    records_failed_integrity: u64,
    #[pyo3(get)]
    plaintext_bytes: u64,
    /// The SHA-256 of the application data plaintext, in hex (None: no plaintext, or lost:
    /// see `lost_digests`).
    #[pyo3(get)]
    plaintext_sha256: Option<String>,
    #[pyo3(get)]
    finished_verified: Option<bool>,
    /// Why this direction's Finished was not checked, when a message of the handshake was
    /// missing (the narration's words; not in `show --json`, whose `reason` says it).
    #[pyo3(get)]
    finished_unchecked: Option<String>,
    /// Which handshake the verdict above is from (0 the first, then each renegotiation):
    /// the worst of `finished_each`.
    #[pyo3(get)]
    finished_handshake: Option<usize>,
    /// Each handshake's verdict on this direction's Finished: (handshake, verified, why
    /// not checked), in order.
    #[pyo3(get)]
    finished_each: Vec<(usize, Option<bool>, Option<String>)>,
}

impl DecryptionResult {
    /// What one direction's records gave (`results`, and the row's `decryption`).
    fn of(r: &core::DirectionResult) -> Self {
        DecryptionResult {
            records_decrypted: r.records_decrypted,
            records_failed_integrity: r.records_failed_integrity,
            plaintext_bytes: r.plaintext_bytes,
            plaintext_sha256: r.sha256_hex().ok().flatten(),
            finished_verified: r.finished_verified,
            finished_unchecked: r.finished_unchecked.clone(),
            finished_handshake: r.finished_handshake,
            finished_each: r
                .finished_each
                .iter()
                .map(|v| (v.handshake, v.verified, v.unchecked.clone()))
                .collect(),
        }
    }
}

/// The run's key store as the core reads it (`keys/store.py`'s `KeyStore`): its key log and
/// session cache (shared, keylog.rs), its PSK, and whether it holds RSA keys.
pub(crate) struct RunKeys {
    keylog: SharedKeyLog,
    sessions: SharedSessions,
    psk: Option<Vec<u8>>,
    rsa_keys: bool,
    /// The `KeyStore` itself (the `store` getter).
    store: PyObject,
}

impl RunKeys {
    /// What the core reads of `store`, read now (its key log and session cache shared).
    pub(crate) fn of(store: &Bound<'_, PyAny>) -> PyResult<Arc<Self>> {
        let keylog = store.getattr("keylog")?;
        let sessions = store.getattr("sessions")?;
        Ok(Arc::new(RunKeys {
            keylog: Arc::clone(&keylog.downcast::<KeyLog>()?.get().0),
            sessions: Arc::clone(&sessions.downcast::<SessionCache>()?.get().0),
            psk: store.getattr("psk")?.extract()?,
            rsa_keys: store.getattr("rsa_keys")?.is_truthy()?,
            store: store.clone().unbind(),
        }))
    }
}

/// One connection's decryption, shared by the flow's content layer in the walk, which feeds
/// it (on the walking thread, without the GIL: walk.rs), and the connection's `Decryptor`,
/// which Python reads once the flow's events reached it (the walk made them: what they
/// tell of the decryption was done).
pub(crate) struct FlowDecryption {
    keys: Arc<RunKeys>,
    state: Mutex<DecryptionState>,
}

/// The core decryptor, and why it is left alone once a panic broke it.
struct DecryptionState {
    inner: core::Decryptor,
    broken: Option<String>,
}

impl FlowDecryption {
    pub(crate) fn new(keys: Arc<RunKeys>) -> Arc<Self> {
        let inner = core::Decryptor::new(keys.psk.clone(), keys.rsa_keys, Some(external_seed));
        let state = Mutex::new(DecryptionState {
            inner,
            broken: None,
        });
        Arc::new(FlowDecryption { keys, state })
    }

    /// The state, locked by a thread that holds the GIL.
    fn here(&self, py: Python<'_>) -> MutexGuard<'_, DecryptionState> {
        lock_here(py, &self.state)
    }

    /// The core decryptor with the run's key log and session cache, for a content layer
    /// (content.rs, flow_content.rs) to drive; None once a panic broke it (its records then
    /// stay closed). `py`: the caller holds the GIL; None on the walking thread.
    pub(crate) fn with_core<T>(
        &self,
        py: Option<Python<'_>>,
        suites: &Suites,
        work: impl FnOnce(Option<(&mut core::Decryptor, &mut Env<'_>)>) -> T,
    ) -> PyResult<T> {
        let mut state = match py {
            Some(py) => lock_here(py, &self.state),
            None => lock_walking(&self.state),
        };
        if state.broken.is_some() {
            return Ok(work(None));
        }
        let keys = &self.keys;
        let keylog = match py {
            Some(py) => read_here(py, &keys.keylog),
            None => read_walking(&keys.keylog),
        };
        let mut sessions = match py {
            Some(py) => lock_here(py, &keys.sessions),
            None => lock_walking(&keys.sessions),
        };
        let mut env = Env {
            keylog: &keylog,
            sessions: &mut sessions,
            suites,
        };
        let done = catch_unwind(AssertUnwindSafe(|| {
            work(Some((&mut state.inner, &mut env)))
        }));
        // (The locks go before a panic goes on.)
        drop((sessions, keylog, state));
        // Ctrl-C while a SEED-CBC record was decrypted in Python: raised, whatever was done,
        // also when the work then panicked (the interrupt must not outlive this call and
        // stop a later, unrelated one). An Exception there was told by the core already.
        if let Some((error, true)) = take_seed_error() {
            return Err(error);
        }
        Ok(done.unwrap_or_else(|panic| resume_unwind(panic)))
    }
}

/// One connection's decryption (`FlowDecryption`): see the module's Strategy.
#[pyclass(frozen, module = "tlslens._core")]
pub struct Decryptor(pub(crate) Arc<FlowDecryption>);

impl Decryptor {
    /// Run `work` with the run's key log and session cache; a panic is kept as the reason.
    fn with_env<T: Default>(
        &self,
        py: Python<'_>,
        work: impl FnOnce(&mut core::Decryptor, &mut Env<'_>) -> T,
    ) -> PyResult<T> {
        let walked = self.0.with_core(Some(py), suites(py)?, |core| match core {
            Some((dec, env)) => catch_unwind(AssertUnwindSafe(|| work(dec, env))),
            None => Ok(T::default()),
        })?;
        Ok(walked.unwrap_or_else(|panic| {
            self.0.here(py).broken = Some(format!(
                "internal error in the decryptor ({})",
                panic_text(panic.as_ref())
            ));
            T::default()
        }))
    }
}

#[pymethods]
impl Decryptor {
    /// `store`: the run's `KeyStore` (its key log, session cache, PSK, and whether it holds
    /// RSA keys are read from it).
    #[new]
    fn new(store: &Bound<'_, PyAny>) -> PyResult<Self> {
        Ok(Self(FlowDecryption::new(RunKeys::of(store)?)))
    }

    /// An SSLv2-format ClientHello, its 2-byte record header included.
    fn on_sslv2_client_hello(&self, py: Python<'_>, record: &[u8]) -> PyResult<()> {
        self.with_env(py, |dec, env| dec.on_sslv2_client_hello(env, record))
    }

    fn on_change_cipher_spec(&self, py: Python<'_>, direction_name: &str) -> PyResult<()> {
        let dir = direction(direction_name)?;
        self.with_env(py, |dec, env| dec.on_change_cipher_spec(env, dir))
    }

    /// One protected record: (real content type, plaintext), None (no key for it), or why it
    /// does not open (a str naming the record). Application data is hashed here.
    fn open<'py>(
        &self,
        py: Python<'py>,
        direction_name: &str,
        ctype: u8,
        version: u16,
        body: &[u8],
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let dir = direction(direction_name)?;
        let opened = self.with_env(py, |dec, env| {
            Some(dec.open(env, dir, ctype, version, body))
        })?;
        Ok(match opened {
            Some(Opened::Plain(real, plain)) => Some(
                (real, PyBytes::new(py, &plain))
                    .into_pyobject(py)?
                    .into_any(),
            ),
            Some(Opened::Failed(reason) | Opened::Fault(reason)) => {
                Some(reason.into_pyobject(py)?.into_any())
            }
            Some(Opened::NoKey) | None => None,
        })
    }

    /// Application data opened elsewhere (QUIC's STREAM frames): counted and hashed.
    fn application_data(
        &self,
        py: Python<'_>,
        direction_name: &str,
        plaintext: &[u8],
    ) -> PyResult<()> {
        (self.0.here(py).inner).application_data(direction(direction_name)?, plaintext);
        Ok(())
    }

    /// A packet opened elsewhere (QUIC) counted as a record of `part`.
    #[pyo3(signature = (part, direction_name, packets=1))]
    fn count_opened(
        &self,
        py: Python<'_>,
        part: &str,
        direction_name: &str,
        packets: u64,
    ) -> PyResult<()> {
        let part = match part {
            "handshake" => Part::Handshake,
            "application_data" => Part::ApplicationData,
            "early_data" => Part::EarlyData,
            _ => return Err(PyValueError::new_err(format!("no part {part:?}"))),
        };
        let keylog = read_here(py, &self.0.keys.keylog);
        (self.0.here(py).inner).count_opened(&keylog, part, direction(direction_name)?, packets);
        Ok(())
    }

    /// The ClientHello's random as QUIC's connection table read it (`QuicCrypto`), told
    /// before that ClientHello's bytes: the secrets are looked up by it should the content
    /// layer skip the ClientHello (past --max-message).
    fn transport_client_random(&self, py: Python<'_>, random: &[u8]) -> PyResult<()> {
        let random = <[u8; 32]>::try_from(random).map_err(|_| {
            PyValueError::new_err(format!("a client random of {} bytes, not 32", random.len()))
        })?;
        (self.0.here(py).inner).transport_client_random(random);
        Ok(())
    }

    /// Packets opened elsewhere (QUIC) with the key log's secrets that did not authenticate.
    #[pyo3(signature = (direction_name, packets=1))]
    fn count_failed(&self, py: Python<'_>, direction_name: &str, packets: u64) -> PyResult<()> {
        (self.0.here(py).inner).count_failed(direction(direction_name)?, packets);
        Ok(())
    }

    /// The hash of the handshake so far, with the suite's hash (RFC 8446 §4.4.1).
    fn transcript_hash<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.0.here(py).inner.transcript_hash())
    }

    /// TLS 1.3: whether every handshake message so far was read.
    fn transcript_complete(&self, py: Python<'_>) -> bool {
        self.0.here(py).inner.transcript_complete()
    }

    #[pyo3(signature = (failed_in_handshake=false))]
    fn missing_secrets(
        &self,
        py: Python<'_>,
        failed_in_handshake: bool,
    ) -> PyResult<Vec<&'static str>> {
        let state = self.0.here(py);
        let keylog = read_here(py, &self.0.keys.keylog);
        Ok(state.inner.missing_secrets(&keylog, failed_in_handshake))
    }

    /// The `decryption` object of `show --json` (connection.schema.json), made by the row's
    /// writer (`DecryptionJson`) as Python objects; `stopped`: the connection's.
    #[pyo3(signature = (failed_in_handshake=false, reveal_keys=false, stopped=None))]
    fn to_json<'py>(
        &self,
        py: Python<'py>,
        failed_in_handshake: bool,
        reveal_keys: bool,
        stopped: Option<&str>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let json = self.json(py, failed_in_handshake, reveal_keys, stopped)?;
        Ok(crate::row::objects_of(py, &json)?.downcast_into::<PyDict>()?)
    }

    /// (direction, why) of each direction whose application data digest was lost (the core's
    /// hashing thread ended early, a bug): a finding for the connection. Waits for the
    /// direction's records still queued to be hashed.
    fn lost_digests(&self, py: Python<'_>) -> Vec<(&'static str, String)> {
        let state = self.0.here(py);
        Dir::BOTH
            .into_iter()
            .filter_map(|dir| {
                let lost = state.inner.results[dir as usize].sha256.check().err()?;
                Some((dir.name(), lost.to_string()))
            })
            .collect()
    }

    /// Whether the key log holds a line for this connection's client random: None before a
    /// ClientHello was seen, or when the key log holds no secret at all (one call a
    /// connection: the capture's tally of client randoms matched).
    fn key_log_knows(&self, py: Python<'_>) -> Option<bool> {
        let client_random = self.0.here(py).inner.client_random.clone();
        let keylog = read_here(py, &self.0.keys.keylog);
        (!client_random.is_empty() && keylog.secret_count() > 0)
            .then(|| keylog.knows(&client_random))
    }

    /// The run's `KeyStore` this decryptor reads.
    #[getter]
    fn store(&self, py: Python<'_>) -> PyObject {
        self.0.keys.store.clone_ref(py)
    }

    /// "no_secret", "decrypted", "wrong_secret" or "unsupported_cipher".
    #[getter]
    fn status(&self, py: Python<'_>) -> &'static str {
        self.0.here(py).inner.status.name()
    }

    #[getter]
    fn source(&self, py: Python<'_>) -> Option<String> {
        self.0.here(py).inner.source.clone()
    }

    #[getter]
    fn reason(&self, py: Python<'_>) -> Option<String> {
        let state = self.0.here(py);
        state.broken.clone().or_else(|| state.inner.reason.clone())
    }

    /// One per handshake (the first, then each renegotiation), in order.
    #[getter]
    fn derivations(&self, py: Python<'_>) -> PyResult<Vec<Derivation>> {
        (self.0.here(py).inner)
            .derivations
            .iter()
            .map(|d| Derivation::of(py, d))
            .collect()
    }

    /// The current handshake's (name, value) pairs.
    #[getter]
    fn derivation<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        values(py, self.0.here(py).inner.derivation())
    }

    /// {"c2s": ..., "s2c": ...}: what each direction's records gave.
    #[getter]
    fn results<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let out = PyDict::new(py);
        let state = self.0.here(py);
        for dir in Dir::BOTH {
            let result = DecryptionResult::of(&state.inner.results[dir as usize]);
            out.set_item(dir.name(), result)?;
        }
        Ok(out)
    }

    #[getter]
    fn master_secret<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        (self.0.here(py).inner)
            .master_secret
            .as_ref()
            .map(|m| PyBytes::new(py, m))
    }

    /// The ClientHello's random (b"" before one is seen).
    #[getter]
    fn client_random<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.0.here(py).inner.client_random)
    }

    #[getter]
    fn version(&self, py: Python<'_>) -> Option<u16> {
        self.0.here(py).inner.version
    }

    #[getter]
    fn tls13(&self, py: Python<'_>) -> bool {
        self.0.here(py).inner.tls13
    }

    /// A 0-RTT record was seen, opened or not.
    #[getter]
    fn early_seen(&self, py: Python<'_>) -> bool {
        self.0.here(py).inner.early_seen
    }

    /// The client's records are 0-RTT until its EndOfEarlyData.
    #[getter]
    fn early_active(&self, py: Python<'_>) -> bool {
        self.0.here(py).inner.early_active
    }
}

fn values<'py>(py: Python<'py>, values: &[(String, Vec<u8>)]) -> PyResult<Bound<'py, PyList>> {
    PyList::new(
        py,
        values
            .iter()
            .map(|(name, value)| (name.as_str(), PyBytes::new(py, value))),
    )
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // Handshakes whose derivations and Finished verdicts are kept one by one (DTLS's facts
    // keep theirs by the same bound).
    m.add("MAX_DERIVATIONS", tlslens_core::decrypt::MAX_DERIVATIONS)?;
    m.add_class::<Decryptor>()?;
    m.add_class::<Derivation>()?;
    m.add_class::<DecryptionResult>()?;
    m.add_function(wrap_pyfunction!(decryption_not_attempted, m)?)
}
