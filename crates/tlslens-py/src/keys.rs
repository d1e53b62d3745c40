//! The key schedules' and record protection's boundary: thin functions over
//! `tlslens_core::keys`, and `RecordProtection`, one direction's keys.
//!
//! Strategy: the key schedules' functions for the scanner, the DTLS layer, the narration
//! and the tests, and `RecordProtection` for the atheris harness; a connection's records are
//! opened by the core's decryptor (`decrypt.rs`), not through these. Errors become tlslens' own exceptions
//! (`DecryptError`, `UnsupportedCipherError`), so that callers catch what they caught before.
//! SEED-CBC records are decrypted by `cryptography`, through Python (on the walking thread,
//! which never takes the GIL, by the thread waiting for the walk: walk.rs, `ask_python`): an
//! error raised there is kept (`KEPT`) for the boundary the walk returns through
//! (`take_seed_error`), which raises a Ctrl-C; an Exception (a bug) is already the
//! connection's fault in the core's decryptor.

use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::channel;

use pyo3::exceptions::{PyKeyboardInterrupt, PySystemExit, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::GILOnceCell;
use pyo3::types::{PyBytes, PyType};
use tlslens_core::keys::{hkdf, prf, HashAlg};
use tlslens_core::protection::{self, CipherSpec as CoreSpec, ExternalCbc};

use crate::walk::{ask_python, PythonJob};

static DECRYPT_ERROR: GILOnceCell<Py<PyType>> = GILOnceCell::new();
static UNSUPPORTED: GILOnceCell<Py<PyType>> = GILOnceCell::new();

fn tlslens_error(
    py: Python<'_>,
    cell: &'static GILOnceCell<Py<PyType>>,
    name: &str,
    msg: String,
) -> PyErr {
    match cell.import(py, "tlslens.errors", name) {
        Ok(cls) => PyErr::from_type(cls.clone(), msg),
        Err(err) => err,
    }
}

fn decrypt_error(py: Python<'_>, msg: String) -> PyErr {
    tlslens_error(py, &DECRYPT_ERROR, "DecryptError", msg)
}

pub(crate) fn hash(name: &str) -> PyResult<HashAlg> {
    HashAlg::from_name(name).ok_or_else(|| PyValueError::new_err(format!("unknown hash {name}")))
}

fn bytes<'py>(py: Python<'py>, data: &[u8]) -> Bound<'py, PyBytes> {
    PyBytes::new(py, data)
}

/// The PRF of `version` (RFC 2246/5246 §5), `length` bytes.
#[pyfunction]
fn tls_prf<'py>(
    py: Python<'py>,
    version: u16,
    prf_hash: &str,
    secret: &[u8],
    label: &[u8],
    seed: &[u8],
    length: usize,
) -> PyResult<Bound<'py, PyBytes>> {
    Ok(bytes(
        py,
        &prf::prf(version, hash(prf_hash)?, secret, label, seed, length),
    ))
}

/// SSL 3.0's key derivation (RFC 6101 §6.1).
#[pyfunction]
fn ssl3_prf<'py>(
    py: Python<'py>,
    secret: &[u8],
    seed: &[u8],
    length: usize,
) -> Bound<'py, PyBytes> {
    bytes(py, &prf::ssl3_prf(secret, seed, length))
}

type SixBytes<'py> = [Bound<'py, PyBytes>; 6];

fn six<'py>(py: Python<'py>, block: &prf::KeyBlock) -> SixBytes<'py> {
    [
        bytes(py, &block.client_write_mac_key),
        bytes(py, &block.server_write_mac_key),
        bytes(py, &block.client_write_key),
        bytes(py, &block.server_write_key),
        bytes(py, &block.client_write_iv),
        bytes(py, &block.server_write_iv),
    ]
}

/// The key block (RFC 5246 §6.3); export suites' keys and IVs stretched when
/// `export_lens` = (key bytes, IV bytes) is given. (client MAC key, server MAC key,
/// client key, server key, client IV, server IV).
#[pyfunction]
#[pyo3(signature = (version, prf_hash, master, client_random, server_random, mac_len, key_len, iv_len, export_lens=None))]
#[allow(clippy::too_many_arguments)] // the RFC's inputs, each named at the call
fn key_block<'py>(
    py: Python<'py>,
    version: u16,
    prf_hash: &str,
    master: &[u8],
    client_random: &[u8],
    server_random: &[u8],
    mac_len: usize,
    key_len: usize,
    iv_len: usize,
    export_lens: Option<(usize, usize)>,
) -> PyResult<SixBytes<'py>> {
    let alg = hash(prf_hash)?;
    let mut block = prf::key_block(
        version,
        alg,
        master,
        client_random,
        server_random,
        (mac_len, key_len, iv_len),
    );
    if let Some(lens) = export_lens {
        block = prf::export_keys(version, &block, client_random, server_random, lens);
    }
    Ok(six(py, &block))
}

fn hkdf_result<'py>(
    py: Python<'py>,
    out: Result<Vec<u8>, hkdf::HkdfError>,
) -> PyResult<Bound<'py, PyBytes>> {
    out.map(|v| bytes(py, &v))
        .map_err(|e| decrypt_error(py, e.to_string()))
}

/// HKDF-Extract (RFC 5869 §2.2).
#[pyfunction]
fn hkdf_extract<'py>(
    py: Python<'py>,
    name: &str,
    salt: &[u8],
    ikm: &[u8],
) -> PyResult<Bound<'py, PyBytes>> {
    Ok(bytes(py, &hkdf::extract(hash(name)?, salt, ikm)))
}

/// HKDF-Expand-Label (RFC 8446 §7.1).
#[pyfunction]
fn hkdf_expand_label<'py>(
    py: Python<'py>,
    name: &str,
    secret: &[u8],
    label: &[u8],
    context: &[u8],
    length: usize,
) -> PyResult<Bound<'py, PyBytes>> {
    hkdf_result(
        py,
        hkdf::expand_label(hash(name)?, secret, label, context, length),
    )
}

/// Derive-Secret (RFC 8446 §7.1).
#[pyfunction]
fn derive_secret<'py>(
    py: Python<'py>,
    name: &str,
    secret: &[u8],
    label: &[u8],
    messages: &[u8],
) -> PyResult<Bound<'py, PyBytes>> {
    hkdf_result(
        py,
        hkdf::derive_secret(hash(name)?, secret, label, messages),
    )
}

/// (write key, write IV) of a traffic secret (RFC 8446 §7.3).
#[pyfunction]
fn traffic_keys<'py>(
    py: Python<'py>,
    name: &str,
    secret: &[u8],
    key_len: usize,
    iv_len: usize,
) -> PyResult<(Bound<'py, PyBytes>, Bound<'py, PyBytes>)> {
    let (key, iv) = hkdf::traffic_keys(hash(name)?, secret, key_len, iv_len)
        .map_err(|e| decrypt_error(py, e.to_string()))?;
    Ok((bytes(py, &key), bytes(py, &iv)))
}

/// What the records of a cipher suite need.
#[pyclass(frozen, module = "tlslens._core")]
#[derive(Clone)]
pub struct CipherSpec(pub(crate) CoreSpec);

#[pymethods]
impl CipherSpec {
    #[getter]
    fn cipher(&self) -> &str {
        &self.0.cipher
    }
    /// "aead", "block", "stream" or "null".
    #[getter]
    fn kind(&self) -> &'static str {
        self.0.kind.name()
    }
    #[getter]
    fn key_len(&self) -> usize {
        self.0.key_len
    }
    #[getter]
    fn iv_len(&self) -> usize {
        self.0.iv_len
    }
    #[getter]
    fn block_size(&self) -> usize {
        self.0.block_size
    }
    #[getter]
    fn tag_len(&self) -> usize {
        self.0.tag_len
    }
    #[getter]
    fn mac_len(&self) -> usize {
        self.0.mac_len
    }
    #[getter]
    fn export_key_len(&self) -> usize {
        self.0.export_key_len
    }
}

/// What records of the suite need; raises UnsupportedCipherError, saying why.
#[pyfunction]
fn cipher_spec(
    py: Python<'_>,
    name: &str,
    cipher: &str,
    mac: &str,
    tls13: bool,
    version: u16,
) -> PyResult<CipherSpec> {
    protection::cipher_spec(name, cipher, mac, tls13, version)
        .map(CipherSpec)
        .map_err(|msg| tlslens_error(py, &UNSUPPORTED, "UnsupportedCipherError", msg))
}

/// Whether an error raised by a callback into Python must stop the run: a KeyboardInterrupt
/// (Ctrl-C) or SystemExit. Anything else is a bug of that callback, told as a finding of its
/// connection, PyO3's PanicException included (a BaseException, but a panic in a library the
/// callback called, not the user asking to stop).
pub(crate) fn stops_the_run(py: Python<'_>, error: &PyErr) -> bool {
    error.is_instance_of::<PyKeyboardInterrupt>(py) || error.is_instance_of::<PySystemExit>(py)
}

/// An error the SEED-CBC callback raised: the error, and whether it stops the run.
type SeedError = (PyErr, bool);

thread_local! {
    /// An error the SEED-CBC callback raised, which can only answer the core with a string:
    /// kept here (on the thread that walks) until the boundary the walk returns through
    /// takes it (`take_seed_error`). The first is kept, unless a later one stops the run (a
    /// Ctrl-C after a bug's Exception must still stop it).
    static KEPT: RefCell<Option<SeedError>> = const { RefCell::new(None) };
}

/// The error a SEED-CBC callback raised since the last call, if any, and whether it stops
/// the run: the caller raises a Ctrl-C (or keeps it to stop its walk).
pub(crate) fn take_seed_error() -> Option<SeedError> {
    KEPT.with(|kept| kept.borrow_mut().take())
}

fn keep_seed_error(error: SeedError) {
    KEPT.with(|kept| {
        let mut kept = kept.borrow_mut();
        let kept_stops = kept.as_ref().is_some_and(|(_, stops)| *stops);
        if kept.is_none() || (!kept_stops && error.1) {
            *kept = Some(error);
        }
    });
}

/// SEED-CBC, which no RustCrypto crate offers: `cryptography`'s (OpenSSL's), through Python.
struct SeedCbc {
    key: Vec<u8>,
}

/// What one SEED-CBC decryption in Python gave: the plaintext, or (the error's text, the
/// error, whether it stops the run).
type SeedAnswer = Result<Vec<u8>, (String, SeedError)>;

impl SeedCbc {
    fn decrypt_in_python(key: &[u8], py: Python<'_>, iv: &[u8], data: &[u8]) -> PyResult<Vec<u8>> {
        let algorithms = py.import("cryptography.hazmat.decrepit.ciphers.algorithms")?;
        let ciphers = py.import("cryptography.hazmat.primitives.ciphers")?;
        let mode = ciphers
            .getattr("modes")?
            .getattr("CBC")?
            .call1((PyBytes::new(py, iv),))?;
        let seed = algorithms
            .getattr("SEED")?
            .call1((PyBytes::new(py, key),))?;
        let decryptor = ciphers
            .getattr("Cipher")?
            .call1((seed, mode))?
            .call_method0("decryptor")?;
        let mut out: Vec<u8> = decryptor
            .call_method1("update", (PyBytes::new(py, data),))?
            .extract()?;
        let tail: Vec<u8> = decryptor.call_method0("finalize")?.extract()?;
        out.extend_from_slice(&tail);
        Ok(out)
    }
}

impl ExternalCbc for SeedCbc {
    /// Done where the GIL is held: by this thread, or, on the walking thread, by the
    /// thread waiting for the walk (this one waits for the answer).
    fn decrypt(&mut self, iv: &[u8], data: &[u8]) -> Result<Vec<u8>, String> {
        let (answer, answered) = channel::<SeedAnswer>();
        let (key, iv, data) = (self.key.clone(), iv.to_vec(), data.to_vec());
        let job: PythonJob = Box::new(move |py| {
            let done = SeedCbc::decrypt_in_python(&key, py, &iv, &data).map_err(|error| {
                let stops = stops_the_run(py, &error);
                (error.to_string(), (error, stops))
            });
            let _ = answer.send(done);
        });
        if let Err(job) = ask_python(job) {
            Python::with_gil(job);
        }
        match answered.recv() {
            Ok(Ok(plain)) => Ok(plain),
            Ok(Err((text, error))) => {
                keep_seed_error(error);
                Err(text)
            }
            Err(_) => Err("SEED-CBC decryption was not answered: the run ended".to_owned()),
        }
    }
}

/// SEED-CBC decryption for the core's record protection, through `cryptography`.
pub(crate) fn seed_cbc(key: &[u8]) -> Box<dyn ExternalCbc> {
    Box::new(SeedCbc { key: key.to_vec() })
}

/// One direction's record protection: keys, IV chaining, sequence number.
#[pyclass(module = "tlslens._core")]
pub struct RecordProtection(protection::RecordProtection);

#[pymethods]
impl RecordProtection {
    #[new]
    #[pyo3(signature = (spec, *, version, key, iv, mac_key=b"".as_slice(), encrypt_then_mac=false, tls13=false))]
    fn new(
        spec: &CipherSpec,
        version: u16,
        key: &[u8],
        iv: &[u8],
        mac_key: &[u8],
        encrypt_then_mac: bool,
        tls13: bool,
    ) -> PyResult<Self> {
        let external: Option<Box<dyn ExternalCbc>> =
            (spec.0.cipher == "SEED_CBC").then(|| Box::new(SeedCbc { key: key.to_vec() }) as _);
        protection::RecordProtection::new(
            spec.0.clone(),
            version,
            key,
            iv,
            mac_key,
            (encrypt_then_mac, tls13),
            external,
        )
        .map(Self)
        .map_err(PyValueError::new_err)
    }

    /// Decrypt and check one record: (real content type, plaintext). Raises DecryptError
    /// when it does not authenticate. A panic in the core (a bug) is caught here and told
    /// as that record's DecryptError, so that it becomes a finding where the record is; an
    /// error of the SEED-CBC callback is raised as it came (a bug, or a Ctrl-C).
    fn open_record<'py>(
        &mut self,
        py: Python<'py>,
        ctype: u8,
        version: u16,
        body: &[u8],
    ) -> PyResult<(u8, Bound<'py, PyBytes>)> {
        let protection = &mut self.0;
        let opened = catch_unwind(AssertUnwindSafe(|| protection.open(ctype, version, body)));
        if let Some((error, _)) = take_seed_error() {
            return Err(error);
        }
        match opened {
            Ok(Ok((real, plain))) => Ok((real, bytes(py, &plain))),
            Ok(Err(err)) => Err(decrypt_error(py, err.0)),
            Err(panic) => Err(decrypt_error(
                py,
                format!(
                    "internal error in record protection ({})",
                    super::flows::panic_text(panic.as_ref())
                ),
            )),
        }
    }

    #[getter]
    fn spec(&self) -> CipherSpec {
        CipherSpec(self.0.spec().clone())
    }

    /// The sequence number of the next record.
    #[getter]
    fn get_seq(&self) -> u64 {
        self.0.seq
    }

    #[setter]
    fn set_seq(&mut self, seq: u64) {
        self.0.seq = seq;
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(tls_prf, m)?)?;
    m.add_function(wrap_pyfunction!(ssl3_prf, m)?)?;
    m.add_function(wrap_pyfunction!(key_block, m)?)?;
    m.add_function(wrap_pyfunction!(hkdf_extract, m)?)?;
    m.add_function(wrap_pyfunction!(hkdf_expand_label, m)?)?;
    m.add_function(wrap_pyfunction!(derive_secret, m)?)?;
    m.add_function(wrap_pyfunction!(traffic_keys, m)?)?;
    m.add_function(wrap_pyfunction!(cipher_spec, m)?)?;
    m.add_class::<CipherSpec>()?;
    m.add_class::<RecordProtection>()?;
    Ok(())
}
