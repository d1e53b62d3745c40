//! `tlslens._core.connection_line`: the line of `show --json` for one connection, written
//! whole by the core (the row's contract: `serialize.py`, schema/connection.schema.json).
//!
//! Strategy: the line reads the connection's `model.Connection` attributes (slots) and the
//! core's objects they hold, the hellos and the timeline's event classes, without a Python
//! call: what they settle (`hello`), what the timeline shows (`steps`), how the handshake
//! ended (`outcome`), the clock (`clock`) and the registry's names (`names`, asked of
//! `tlslens.registry` once per code point); each certificate's `to_json`, made into text
//! once and kept (`certificates`); the verdicts, signature checks and findings Python made,
//! attribute by attribute (`verdicts`). Python gives, as values, only what Python owns
//! (`PARTS`: the schema version, the decryption where Python words it, DTLS and QUIC
//! details); they are written by
//! json.rs's walk of Python values, so every string, int and float of the line is escaped
//! and formatted by one writer with Python's separators and escapes.
//! Everything is read first (`Row::read`, where a Python error surfaces), then written in
//! the row's key order.

mod certificates;
mod client_auth;
mod clock;
mod completion;
mod conclusions;
mod handshakes;
mod hello;
mod names;
mod objects;
mod outcome;
mod records;
mod resumption;
mod stapled;
mod steps;
mod verdicts;
mod write;

pub(crate) use records::hex;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::GILOnceCell;
use pyo3::types::{PyBytes, PyDict, PyList, PyString};
use serde::Serialize;

use crate::decrypt::{DecryptionJson, Decryptor};
use crate::direction_stats::DirectionStats;
use crate::flows::panic_text;
use crate::handshake::fingerprint;
use crate::json::{python_bytes, Shared};
use hello::Hellos;
use names::{NameList, SuiteInfo, Table};
use records::Record;
use steps::Walk;
use write::Writer;

/// The keys of the values Python gives (`parts`), besides the optional "decryption", "dtls"
/// and "quic".
const PARTS: [&str; 1] = ["schema_version"];

/// `names` as interned Python strs, made once: an attribute or key asked for by a `&str`
/// would be a new str each time.
fn interned<const N: usize>(
    py: Python<'_>,
    cell: &'static GILOnceCell<[Py<PyString>; N]>,
    names: [&'static str; N],
) -> &'static [Py<PyString>; N] {
    cell.get_or_init(py, || names.map(|name| PyString::intern(py, name).unbind()))
}

static PART_KEYS: GILOnceCell<[Py<PyString>; PARTS.len()]> = GILOnceCell::new();
static PLAIN_NAMES: GILOnceCell<[Py<PyString>; PLAIN.len()]> = GILOnceCell::new();

/// The values Python gives, in `PARTS` order.
struct Parts<'py> {
    given: Vec<Bound<'py, PyAny>>,
    decryption: Option<Bound<'py, PyAny>>,
    dtls: Option<Bound<'py, PyAny>>,
    quic: Option<Bound<'py, PyAny>>,
}

impl<'py> Parts<'py> {
    fn of(parts: &Bound<'py, PyDict>) -> PyResult<Self> {
        let py = parts.py();
        let given = interned(py, &PART_KEYS, PARTS)
            .iter()
            .zip(PARTS)
            .map(|(interned, key)| {
                parts.get_item(interned)?.ok_or_else(|| {
                    pyo3::exceptions::PyKeyError::new_err(format!("the row's part {key:?}"))
                })
            })
            .collect::<PyResult<Vec<_>>>()?;
        Ok(Self {
            given,
            decryption: parts.get_item(intern!(py, "decryption"))?,
            dtls: parts.get_item(intern!(py, "dtls"))?,
            quic: parts.get_item(intern!(py, "quic"))?,
        })
    }

    fn get(&self, key: &str) -> Option<&Bound<'py, PyAny>> {
        let position = PARTS.iter().position(|k| *k == key)?;
        self.given.get(position)
    }
}

/// A time of the row: the core's text, or `_text.ts_iso`'s for one the core leaves to it.
enum Time<'py> {
    Text(String),
    Python(Bound<'py, PyAny>),
    Null,
}

fn time<'py>(ts_ns: &Bound<'py, PyAny>) -> PyResult<Time<'py>> {
    let py = ts_ns.py();
    if let Some(text) = steps::nanoseconds(ts_ns).and_then(clock::ts_iso) {
        return Ok(Time::Text(text));
    }
    let text = py.import(intern!(py, "tlslens._text"))?;
    Ok(Time::Python(
        text.getattr(intern!(py, "ts_iso"))?.call1((ts_ns,))?,
    ))
}

/// What the hellos settled, as the row writes it.
struct Settled<'py> {
    sni: Option<Bound<'py, PyString>>,
    alpn_offered: Vec<String>,
    alpn: Option<String>,
    client_versions: NameList,
    groups_offered: NameList,
    version: Option<(Arc<str>, u16)>,
    suites_offered: NameList,
    ja3: Option<String>,
    ja3s: Option<String>,
    ja4: Option<String>,
    suite: Option<(Arc<str>, u32)>,
    key_exchange: Option<String>,
    authentication: Option<String>,
    group: Option<Arc<str>>,
    forward_secrecy: Option<bool>,
    resumed: Option<&'static str>,
    session_ticket: (bool, Option<bool>),
    hello_retry_request: bool,
}

/// The suite chosen: the ServerHello's, or SSL 2.0's 3-byte cipher kind.
fn cipher_suite(conn: &Bound<'_, PyAny>, hellos: &Hellos<'_>) -> PyResult<Option<u32>> {
    if let Some(suite) = hellos.server_suite() {
        return Ok(Some(u32::from(suite)));
    }
    let master_key = conn.getattr(intern!(conn.py(), "sslv2_master_key"))?;
    if master_key.is_none() {
        return Ok(None);
    }
    Ok(Some(
        master_key
            .getattr(intern!(conn.py(), "cipher_kind"))?
            .extract()?,
    ))
}

fn suite_info(py: Python<'_>, suite: Option<u32>) -> PyResult<Option<Arc<SuiteInfo>>> {
    match suite.and_then(|s| u16::try_from(s).ok()) {
        Some(suite) => names::suite_info(py, suite),
        None => Ok(None),
    }
}

/// The names of a hello's list of 16-bit code points (`names::name_list`).
fn code_list(py: Python<'_>, table: Table, values: &[u16]) -> PyResult<NameList> {
    let values: Vec<u32> = values.iter().copied().map(u32::from).collect();
    names::name_list(py, table, &values)
}

impl<'py> Settled<'py> {
    fn read(conn: &Bound<'py, PyAny>, hellos: &Hellos<'py>) -> PyResult<Self> {
        let py = conn.py();
        let client = hellos.client.as_ref();
        let version = hellos.version();
        let suite = cipher_suite(conn, hellos)?;
        let info = suite_info(py, suite)?;
        let suites_offered = match client {
            Some(ch) => names::name_list(py, Table::Suite, ch.get().cipher_suites())?,
            None => NameList::from([]),
        };
        let first_server = hellos.retry.as_ref().or(hellos.server.as_ref());
        let transport = conn.getattr(intern!(py, "transport"))?;
        let server_key_exchange = conn.getattr(intern!(py, "server_key_exchange"))?;
        let issued = conn
            .getattr(intern!(py, "new_session_ticket"))?
            .is_truthy()?;
        Ok(Self {
            sni: hellos.sni().map(|name| name.bind(py).clone()),
            alpn_offered: hellos.alpn_offered(),
            alpn: hellos.alpn(),
            client_versions: code_list(py, Table::Version, &hellos.client_versions())?,
            groups_offered: code_list(py, Table::Group, &hellos.groups_offered())?,
            version: match version {
                Some(v) => Some((names::name(py, Table::Version, u32::from(v))?, v)),
                None => None,
            },
            suites_offered,
            ja3: client.map(fingerprint::ja3).transpose()?.flatten(),
            ja3s: first_server.map(fingerprint::ja3s).transpose()?,
            ja4: match client {
                Some(ch) => Some(fingerprint::ja4(
                    ch,
                    transport.downcast::<PyString>()?.to_str()?,
                )?),
                None => None,
            },
            suite: match suite {
                Some(s) => Some((names::name(py, Table::Suite, s)?, s)),
                None => None,
            },
            key_exchange: match &hellos.server {
                Some(sh) => hello::key_exchange(py, sh.get())?,
                None => None,
            },
            authentication: info
                .as_ref()
                .filter(|i| !i.tls13)
                .and_then(|i| i.auth.clone()),
            group: hello::group_name(py, hellos.key_share_group(), &server_key_exchange)?,
            forward_secrecy: hellos.forward_secrecy(info.as_deref()),
            resumed: hellos.resumed(),
            session_ticket: hellos.session_ticket(issued),
            hello_retry_request: hellos.retry.is_some(),
        })
    }
}

/// The `model.Connection` attributes the line writes as they are, in its key order.
const PLAIN: [&str; 9] = [
    "id",
    "transport",
    "tcp_stream",
    "file",
    "first_frame",
    "last_frame",
    "resumed_from",
    "renegotiation",
    "closed_by",
];

/// Everything the line says, read before a byte of it is written.
struct Row<'py> {
    plain: Vec<Bound<'py, PyAny>>,
    tcp: bool,
    client: Bound<'py, PyAny>,
    server: Bound<'py, PyAny>,
    start_time: Time<'py>,
    end_time: Time<'py>,
    starttls: Option<Bound<'py, PyAny>>,
    settled: Settled<'py>,
    ocsp_stapled: Option<bool>,
    client_auth: client_auth::ClientAuth<'py>,
    handshakes: Vec<handshakes::Handshake<'py>>,
    certificates: Vec<certificates::Certificate<'py>>,
    walk: Walk<'py>,
    timing: [Option<u64>; 3],
    stats: Vec<(Bound<'py, PyAny>, [u64; 6])>,
    records: Option<Vec<Record<'py>>>,
    decryption: Decryption<'py>,
    outcome: outcome::Outcome,
    signatures: Vec<verdicts::Signature<'py>>,
    validation: Option<verdicts::Verdict<'py>>,
    problems: Vec<verdicts::Finding<'py>>,
    parts: Parts<'py>,
}

/// The row's `decryption`: the value Python gave, or what the connection's decryptor says.
enum Decryption<'py> {
    Given(Bound<'py, PyAny>),
    Core(Box<DecryptionJson>),
}

impl<'py> Decryption<'py> {
    /// `failed_in_handshake`: the outcome's (a handshake that failed needs fewer secrets,
    /// `missing_secrets`); `reveal_keys`: every secret, key and IV derived is written.
    fn read(
        conn: &Bound<'py, PyAny>,
        parts: &Parts<'py>,
        failed_in_handshake: bool,
        reveal_keys: bool,
    ) -> PyResult<Self> {
        if let Some(given) = &parts.decryption {
            return Ok(Self::Given(given.clone()));
        }
        let decryptor = conn.getattr(intern!(conn.py(), "decryption"))?;
        if decryptor.is_none() {
            return Ok(Self::Core(Box::new(DecryptionJson::not_attempted())));
        }
        let decryptor = decryptor.downcast::<Decryptor>()?.borrow();
        let stopped = conn.getattr(intern!(conn.py(), "stopped"))?;
        let stopped: Option<String> = stopped.extract()?;
        let json = decryptor.json(
            conn.py(),
            failed_in_handshake,
            reveal_keys,
            stopped.as_deref(),
        )?;
        Ok(Self::Core(Box::new(json)))
    }
}

/// The prelude's protocol, or "plaintext prelude" for one that named none; None without.
fn starttls<'py>(conn: &Bound<'py, PyAny>) -> PyResult<Option<Bound<'py, PyAny>>> {
    let py = conn.py();
    let prelude = conn.getattr(intern!(py, "prelude"))?;
    if prelude.is_none() || !prelude.is_truthy()? {
        return Ok(None);
    }
    let protocol = prelude.getattr(intern!(py, "protocol"))?;
    if protocol.is_truthy()? {
        return Ok(Some(protocol));
    }
    Ok(Some(PyString::new(py, "plaintext prelude").into_any()))
}

/// `timing`, kept as the connection's `timing_cache` when it has none yet: the row walks
/// the timeline anyway, and what reads the times after it (the resumption savings of
/// `show`) then need not walk it again.
fn kept_timing(conn: &Bound<'_, PyAny>, timing: [Option<u64>; 3]) -> PyResult<[Option<u64>; 3]> {
    let py = conn.py();
    let cache = intern!(py, "timing_cache");
    if conn.getattr(cache)?.is_none() {
        let kept = PyDict::new(py);
        for (key, value) in write::TIMING.iter().zip(timing) {
            kept.set_item(key, value.map(steps::millis))?;
        }
        conn.setattr(cache, kept)?;
    }
    Ok(timing)
}

/// The first handshake's times in thousandths of a ms (`steps::thousandths`): TCP's SYN to
/// SYN/ACK, ClientHello to ServerHello, ClientHello to the later Finished
/// (`model.Connection.timing`).
fn timing(
    conn: &Bound<'_, PyAny>,
    seen: &[steps::Seen],
    tls13: bool,
) -> PyResult<[Option<u64>; 3]> {
    let py = conn.py();
    let ns = |name: &Bound<'_, PyString>| -> PyResult<Option<i128>> {
        Ok(steps::nanoseconds(&conn.getattr(name)?))
    };
    let syn = ns(intern!(py, "tcp_syn_ts_ns"))?;
    let synack = ns(intern!(py, "tcp_synack_ts_ns"))?;
    let quic = conn
        .getattr(intern!(py, "transport"))?
        .downcast::<PyString>()?
        .to_str()?
        == "quic";
    let (hello, answer) = steps::hellos_ns(seen);
    let finished = steps::finished_ns(seen, tls13, quic);
    Ok([
        steps::thousandths(syn, synack),
        steps::thousandths(hello, answer),
        steps::thousandths(hello, finished),
    ])
}

impl<'py> Row<'py> {
    /// A `PLAIN` attribute.
    fn plain(&self, name: &str) -> Option<&Bound<'py, PyAny>> {
        let position = PLAIN.iter().position(|n| *n == name)?;
        self.plain.get(position)
    }

    fn read(
        conn: &Bound<'py, PyAny>,
        parts: &Bound<'py, PyDict>,
        reveal_keys: bool,
    ) -> PyResult<Self> {
        let py = conn.py();
        let parts = Parts::of(parts)?;
        // One borrowing of the hellos for all the row says: each costs a dozen attribute
        // reads and downcasts.
        let hellos = Hellos::of(conn)?;
        let outcome = outcome::outcome(conn, &hellos)?;
        let transport = conn.getattr(intern!(py, "transport"))?;
        let end_ns = conn.getattr(intern!(py, "end_ts_ns"))?;
        let timeline = conn.getattr(intern!(py, "timeline"))?;
        let walk = Walk::of(timeline.downcast::<PyList>()?)?;
        let stats = conn.getattr(intern!(py, "stats"))?;
        let stats = stats
            .downcast::<PyDict>()?
            .iter()
            .map(|(direction, values)| {
                let values = values.downcast::<DirectionStats>()?.borrow().row_values();
                Ok((direction, values))
            })
            .collect::<PyResult<_>>()?;
        let records = conn.getattr(intern!(py, "records"))?;
        let validation = conn.getattr(intern!(py, "validation"))?;
        Ok(Self {
            tcp: transport.downcast::<PyString>()?.to_str()? == "tcp",
            client: names::endpoint(&conn.getattr(intern!(py, "client"))?)?.into_any(),
            server: names::endpoint(&conn.getattr(intern!(py, "server"))?)?.into_any(),
            start_time: time(&conn.getattr(intern!(py, "start_ts_ns"))?)?,
            end_time: if end_ns.is_truthy()? {
                time(&end_ns)?
            } else {
                Time::Null
            },
            starttls: starttls(conn)?,
            settled: Settled::read(conn, &hellos)?,
            ocsp_stapled: stapled::ocsp_stapled(conn, &hellos)?,
            client_auth: client_auth::ClientAuth::read(conn, &hellos)?,
            handshakes: handshakes::read(conn)?,
            certificates: certificates::read(&conn.getattr(intern!(py, "certificates"))?)?,
            timing: kept_timing(conn, timing(conn, &walk.seen, hellos.tls13())?)?,
            walk,
            stats,
            records: if records.is_none() {
                None
            } else {
                Some(records::read(records.downcast::<PyList>()?)?)
            },
            decryption: Decryption::read(conn, &parts, outcome.failed_in_handshake(), reveal_keys)?,
            outcome,
            // The members made on first use, read where they are kept (None: none made).
            signatures: verdicts::each(
                &conn.getattr(intern!(py, "_handshake_signatures"))?,
                verdicts::Signature::read,
            )?,
            validation: if validation.is_none() {
                None
            } else {
                Some(verdicts::Verdict::read(&validation)?)
            },
            problems: verdicts::each(
                &conn.getattr(intern!(py, "_problems"))?,
                verdicts::Finding::read,
            )?,
            parts,
            plain: interned(py, &PLAIN_NAMES, PLAIN)
                .iter()
                .map(|name| conn.getattr(name))
                .collect::<PyResult<_>>()?,
        })
    }
}

/// The line of `show --json` for `conn` (a `model.Connection`), with `parts`, the values
/// Python owns (`PARTS`, and "dtls" and "quic" when the connection has them; "decryption"
/// when the row is not to read the connection's `Decryptor` itself); `reveal_keys`: the
/// decryptor's every secret, key and IV derived are written.
#[pyfunction]
#[pyo3(signature = (conn, parts, *, reveal_keys=false))]
fn connection_line<'py>(
    conn: &Bound<'py, PyAny>,
    parts: &Bound<'py, PyDict>,
    reveal_keys: bool,
) -> PyResult<Bound<'py, PyString>> {
    let line = line(conn, parts, reveal_keys)?;
    let text = std::str::from_utf8(&line).map_err(|err| PyValueError::new_err(err.to_string()))?;
    Ok(PyString::new(conn.py(), text))
}

/// The row's line, written by the core (ASCII).
fn line(
    conn: &Bound<'_, PyAny>,
    parts: &Bound<'_, PyDict>,
    reveal_keys: bool,
) -> PyResult<Vec<u8>> {
    unpanicked(|| {
        let row = Row::read(conn, parts, reveal_keys)?;
        python_bytes(8192, |serializer, shared| {
            Writer { row: &row, shared }.serialize(serializer)
        })
    })
}

/// `connection_line`'s line and its newline, as the ASCII bytes a binary stream takes: no
/// str is made of it, nor encoded again by a text stream.
#[pyfunction]
#[pyo3(signature = (conn, parts, *, reveal_keys=false))]
fn connection_line_bytes<'py>(
    conn: &Bound<'py, PyAny>,
    parts: &Bound<'py, PyDict>,
    reveal_keys: bool,
) -> PyResult<Bound<'py, PyBytes>> {
    let mut line = line(conn, parts, reveal_keys)?;
    line.push(b'\n');
    Ok(PyBytes::new(conn.py(), &line))
}

/// `work`, with a panic (a bug) raised as RuntimeError naming it rather than as PyO3's
/// PanicException, which no `except Exception` catches.
fn unpanicked<T>(work: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    catch_unwind(AssertUnwindSafe(work)).unwrap_or_else(|panic| {
        Err(PyRuntimeError::new_err(format!(
            "internal error in the row writer ({})",
            panic_text(&*panic)
        )))
    })
}

/// The row of `conn` as Python objects (`connection_to_json`'s dict): the line's values in
/// its key order, made by the same writer; Python's parts are the objects given.
#[pyfunction]
#[pyo3(signature = (conn, parts, *, reveal_keys=false))]
fn connection_row<'py>(
    conn: &Bound<'py, PyAny>,
    parts: &Bound<'py, PyDict>,
    reveal_keys: bool,
) -> PyResult<PyObject> {
    unpanicked(|| {
        let row = Row::read(conn, parts, reveal_keys)?;
        let shared = Shared::handing_off();
        Ok(objects_made(
            conn.py(),
            &Writer {
                row: &row,
                shared: &shared,
            },
            &shared,
        )?
        .unbind())
    })
}

/// `value` as Python objects (dicts in its key order, lists, str, int, float, bool, None).
pub(crate) fn objects_of<'py>(
    py: Python<'py>,
    value: &impl Serialize,
) -> PyResult<Bound<'py, PyAny>> {
    objects_made(py, value, &Shared::handing_off())
}

pub(super) fn objects_made<'py>(
    py: Python<'py>,
    value: &impl Serialize,
    shared: &Shared,
) -> PyResult<Bound<'py, PyAny>> {
    let to = objects::Objects { py, shared };
    let made = value
        .serialize(to)
        .map_err(|err| pyo3::exceptions::PyValueError::new_err(err.0))?;
    Ok(made.into_bound(py))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(connection_line, m)?)?;
    m.add_function(wrap_pyfunction!(connection_line_bytes, m)?)?;
    m.add_function(wrap_pyfunction!(connection_row, m)?)?;
    m.add_function(wrap_pyfunction!(certificates::forget_certificate_texts, m)?)?;
    conclusions::register(m)?;
    completion::register(m)?;
    outcome::register(m)?;
    stapled::register(m)?;
    verdicts::register(m)?;
    resumption::register(m)?;
    client_auth::register(m)
}
