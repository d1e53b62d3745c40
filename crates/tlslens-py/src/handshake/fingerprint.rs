//! JA3, JA3S and JA4 of the hello classes (`tlslens_core::fingerprint`), as module functions.
//!
//! Strategy: a hello's fingerprints are made as its object is, from the core's struct the
//! parser just read, and kept in the object: every command that reads a capture writes
//! them in its rows. The process keeps one bounded [`Cache`] of them by client and server
//! stack (the key is what they read), so a capture of many connections from few stacks
//! hashes each stack once. JA4's transport letter is added per question. The raw strings
//! (JA3's, JA3S's, JA4_r) are for tests and explanations: made on demand, from the core's
//! struct rebuilt over the object's own bytes. This module is a child of the handshake
//! boundary so it reads the hello objects' fields without widening them.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use pyo3::prelude::*;
use pyo3::types::PyBytes;
use tlslens_core::content::MessageRead;
use tlslens_core::fingerprint::{self as core, Cache, ClientFingerprints, Transport};
use tlslens_core::handshake::messages::{self, Message};
use tlslens_core::handshake::{CLIENT_HELLO, SERVER_HELLO};

use super::{decode_error, guarded, ClientHello, ServerHello};
use crate::flows::panic_text;

/// Fingerprints made with the object, or why they could not be (a panic: a bug, which
/// must reach Python as a DecodeError when they are asked for, never as a crash).
pub type Made<T> = Result<Arc<T>, String>;

static CACHE: LazyLock<Mutex<Cache>> = LazyLock::new(|| Mutex::new(Cache::new()));

fn made<T: ?Sized>(work: impl FnOnce(&mut Cache) -> Arc<T>) -> Made<T> {
    let mut cache = CACHE.lock().unwrap_or_else(PoisonError::into_inner);
    catch_unwind(AssertUnwindSafe(|| work(&mut cache))).map_err(|panic| {
        format!(
            "internal error in the fingerprints ({})",
            panic_text(&*panic)
        )
    })
}

/// The JA3 and JA4 of a ClientHello the parser read.
pub fn client(hello: &messages::ClientHello<'_>) -> Made<ClientFingerprints> {
    made(|cache| cache.client(hello))
}

/// The JA3S of a ServerHello (or HelloRetryRequest) the parser read.
pub fn server(hello: &messages::ServerHello<'_>) -> Made<str> {
    made(|cache| cache.server(hello))
}

/// A hello's fingerprints made before its object is (`premade`).
pub enum Prints {
    Client(Made<ClientFingerprints>),
    Server(Made<str>),
}

/// The fingerprints of the hello `read` holds, made where the flow walk reads it (no GIL
/// needed): the cache's key and lookup were most of what making a hello's object cost the
/// main thread, which then only takes them. None for any other message, or one whose body
/// does not parse (its object is then made as before, from the same parse).
pub fn premade(read: &MessageRead) -> Option<Prints> {
    if read.error.is_some() || !matches!(read.msg_type, CLIENT_HELLO | SERVER_HELLO) {
        return None;
    }
    let body = read.raw.get(4..)?;
    match catch_unwind(AssertUnwindSafe(|| {
        messages::parse(read.msg_type, body, &read.context)
    })) {
        Ok(Ok(Message::ClientHello(hello))) => Some(Prints::Client(client(&hello))),
        Ok(Ok(Message::ServerHello(hello))) => Some(Prints::Server(server(&hello))),
        _ => None,
    }
}

fn asked<'a, T: ?Sized>(py: Python<'_>, found: &'a Made<T>) -> PyResult<&'a T> {
    found
        .as_deref()
        .map_err(|text| decode_error(py, text.clone()))
}

/// JA3 (MD5 hex) of a ClientHello; None for an SSLv2-format one.
#[pyfunction]
pub(crate) fn ja3(hello: &Bound<'_, ClientHello>) -> PyResult<Option<String>> {
    Ok(asked(hello.py(), &hello.get().fingerprints)?.ja3.clone())
}

/// JA4 of a ClientHello carried over `transport` ("tcp", "quic", "dtls").
#[pyfunction]
#[pyo3(signature = (hello, transport = "tcp"))]
pub(crate) fn ja4(hello: &Bound<'_, ClientHello>, transport: &str) -> PyResult<String> {
    let found = asked(hello.py(), &hello.get().fingerprints)?;
    Ok(found.ja4(Transport::from_name(transport)))
}

/// JA3S (MD5 hex) of a ServerHello or HelloRetryRequest.
#[pyfunction]
pub(crate) fn ja3s(hello: &Bound<'_, ServerHello>) -> PyResult<String> {
    Ok(asked(hello.py(), &hello.get().ja3s)?.to_owned())
}

fn random(py: Python<'_>, random: &Py<PyBytes>) -> [u8; 32] {
    random.as_bytes(py).try_into().unwrap_or([0; 32])
}

/// `work` on the core's struct of a ClientHello object; a panic (a bug) is a DecodeError.
fn on_client<T>(
    hello: &Bound<'_, ClientHello>,
    work: impl FnOnce(&messages::ClientHello<'_>) -> T,
) -> PyResult<T> {
    let py = hello.py();
    let this = hello.get();
    let core_hello = messages::ClientHello {
        legacy_version: this.legacy_version,
        random: this.random,
        legacy_session_id: this.legacy_session_id.as_bytes(py),
        cipher_suites: this.cipher_suites.to_vec(),
        legacy_compression_methods: this.legacy_compression_methods.as_bytes(py),
        extensions: this.index.core_extensions(),
        sslv2: this.sslv2,
    };
    guarded(py, "fingerprints", || Ok(work(&core_hello)))
}

/// JA3's string before hashing (tshark's ja3_full); None for an SSLv2-format hello.
#[pyfunction]
fn ja3_string(hello: &Bound<'_, ClientHello>) -> PyResult<Option<String>> {
    on_client(hello, core::ja3_string)
}

/// JA4_r: JA4's parts before hashing, "a_suites_extensions[_signature algorithms]".
#[pyfunction]
#[pyo3(signature = (hello, transport = "tcp"))]
fn ja4_r(hello: &Bound<'_, ClientHello>, transport: &str) -> PyResult<String> {
    on_client(hello, |h| {
        core::ja4_raw(h, Transport::from_name(transport)).joined()
    })
}

/// JA3S's string before hashing (tshark's ja3s_full).
#[pyfunction]
fn ja3s_string(hello: &Bound<'_, ServerHello>) -> PyResult<String> {
    let py = hello.py();
    let this = hello.get();
    let core_hello = messages::ServerHello {
        legacy_version: this.legacy_version,
        random: random(py, &this.random),
        legacy_session_id: this.legacy_session_id.as_bytes(py),
        cipher_suite: this.cipher_suite,
        legacy_compression_method: this.legacy_compression_method,
        extensions: this.index.core_extensions(),
    };
    guarded(py, "fingerprints", || Ok(core::ja3s_string(&core_hello)))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(ja3, m)?)?;
    m.add_function(wrap_pyfunction!(ja3_string, m)?)?;
    m.add_function(wrap_pyfunction!(ja4, m)?)?;
    m.add_function(wrap_pyfunction!(ja4_r, m)?)?;
    m.add_function(wrap_pyfunction!(ja3s, m)?)?;
    m.add_function(wrap_pyfunction!(ja3s_string, m)?)
}
