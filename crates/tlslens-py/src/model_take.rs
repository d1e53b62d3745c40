//! `tlslens._core.take_events`: a connection's core events into its Python model, as its
//! session (tls/session.py `FlowSession`, tls/content.py `RecordContent`) takes them.
//!
//! Strategy: every event of every connection passed through a Python loop that told the
//! classes apart and wrote the model attribute by attribute: hundreds of interpreted steps a
//! connection, the main thread's largest share. The loop, and the model writes that need
//! nothing but the event, are done here: timeline steps appended (a run of application
//! data folded into the one before), a side's end counted, and the handshake messages the
//! model keeps as they are (hellos, handshakes, the request for a client certificate, the
//! stapled status, tickets, encrypted extensions: their `HandshakeEvent`s carry them). What
//! needs Python's own work is asked of the session, by its method, in the same order: a
//! certificate's parsing, a compressed certificate's opening, a signature's check
//! (`_content_message`), a new handshake (DTLS has its own rule), findings, plaintext for
//! the sink, SSL 2.0, the start of TLS. A session without its connection yet asks Python
//! too, whose assertion says so.

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::GILOnceCell;
use pyo3::types::{IntoPyDict, PyList, PyString, PyType};

use crate::content_events::{ContentFinding, ContentLack, ContentMessage, ContentPlaintext};
use crate::direction_stats::DirectionStats;
use crate::handshake::{
    CertificateStatus, ClientHello, EncryptedExtensions, NewSessionTicket, ServerHello,
};
use crate::handshake_kx::CertificateRequest;
use crate::session::{SideEnd, SkippedBody, TlsRecord};
use crate::timeline::{HandshakeEvent, TimelineEvent};
use crate::timeline_data::{fold_run, DataEvent};
use tlslens_core::handshake::is_tls13_version;

/// The NewSessionTicket tickets a connection keeps, at most (`Connection.issued_tickets`:
/// the resumption index reads the first few).
pub const MAX_TICKETS_KEPT: usize = 8;

/// `session.take(events)`, see the module's Strategy: `session` is a tls/content.py
/// `RecordContent` (its `conn`, `frame`, `ts_ns`, `client_side`, `_abandoned` and methods).
#[pyfunction]
pub fn take_events(session: &Bound<'_, PyAny>, events: &Bound<'_, PyAny>) -> PyResult<()> {
    let py = session.py();
    let mut abandoned = session.getattr(intern!(py, "_abandoned"))?.is_truthy()?;
    let mut failed = None;
    for ev in events.try_iter()? {
        let ev = ev?;
        if !abandoned {
            if let Err(error) = take(session, &ev) {
                // A bug: the caller gives the flow up, but the sides' ends that came with
                // these events are counted first, as an abandoned flow's are (a connection
                // whose model was never made has none to count them in).
                failed = Some(error);
                if session.getattr(intern!(py, "conn"))?.is_none() {
                    break;
                }
                abandoned = true;
            }
        } else if let Ok(end) = ev.downcast::<SideEnd>() {
            let counted = side_end(session, end);
            if failed.is_none() {
                counted?; // (after a bug in these events, the first is the one told)
            }
        }
    }
    failed.map_or(Ok(()), Err)
}

/// One event, by class; the most frequent first.
fn take(session: &Bound<'_, PyAny>, ev: &Bound<'_, PyAny>) -> PyResult<()> {
    let py = session.py();
    if ev.is_instance_of::<ContentMessage>() {
        // Certificates and signatures: Python's work (`_content_message`).
        return session
            .call_method1(intern!(py, "_content_message"), (ev,))
            .map(drop);
    }
    if let Ok(step) = ev.downcast::<HandshakeEvent>() {
        let message = step.get().message().bind(py);
        if kept_as_is(message) {
            return kept_message(session, step, message);
        }
    }
    if ev.is_instance_of::<TimelineEvent>() {
        let Some(timeline) = timeline(session)? else {
            // No connection yet (a bug: content comes after TLS started): Python's
            // assertion says so.
            return session
                .call_method1(intern!(py, "_content_told"), (ev,))
                .map(drop);
        };
        return match ev.downcast::<DataEvent>() {
            Ok(run) => fold_run(&timeline, run).map(drop),
            Err(_) => timeline.append(ev),
        };
    }
    if let Ok(end) = ev.downcast::<SideEnd>() {
        return side_end(session, end);
    }
    if ev.is_instance_of::<ContentFinding>()
        || ev.is_instance_of::<ContentPlaintext>()
        || ev.is_instance_of::<ContentLack>()
    {
        return session
            .call_method1(intern!(py, "_content_told"), (ev,))
            .map(drop);
    }
    if let Ok(record) = ev.downcast::<TlsRecord>() {
        let r = record.get();
        let length = r.body.bind(py).as_bytes().len();
        return keep_record(
            session,
            (r.side, r.offset, r.content_type, r.version, length),
        );
    }
    if let Ok(skipped) = ev.downcast::<SkippedBody>() {
        let s = skipped.get();
        return keep_record(
            session,
            (s.side, s.offset, s.content_type, s.version, s.length),
        );
    }
    session.call_method1(intern!(py, "_other"), (ev,)).map(drop)
}

/// A record's header kept for `--records` (`_keep_record`).
fn keep_record(session: &Bound<'_, PyAny>, header: (u8, u64, u8, u16, usize)) -> PyResult<()> {
    let py = session.py();
    session
        .call_method1(intern!(py, "_keep_record"), header)
        .map(drop)
}

/// The connection's timeline; None before the connection is made.
fn timeline<'py>(session: &Bound<'py, PyAny>) -> PyResult<Option<Bound<'py, PyList>>> {
    let py = session.py();
    let conn = session.getattr(intern!(py, "conn"))?;
    if conn.is_none() {
        return Ok(None);
    }
    Ok(Some(
        conn.getattr(intern!(py, "timeline"))?.downcast_into()?,
    ))
}

/// A side's end: its records and bytes counted (`_side_end`; Python words the finding of
/// more than one conflicting TCP copy).
fn side_end(session: &Bound<'_, PyAny>, end: &Bound<'_, SideEnd>) -> PyResult<()> {
    let py = session.py();
    let e = end.get();
    let conn = session.getattr(intern!(py, "conn"))?;
    if e.conflicts > 1 || conn.is_none() {
        return session
            .call_method1(intern!(py, "_side_end"), (end,))
            .map(drop);
    }
    let stats = conn
        .getattr(intern!(py, "stats"))?
        .get_item(direction(session, e.side)?)?;
    stats
        .downcast::<DirectionStats>()?
        .borrow_mut()
        .add_end(e.bytes, e.records);
    Ok(())
}

/// "c2s" when `side` is the client's, else "s2c" (`_direction`).
fn direction<'py>(session: &Bound<'py, PyAny>, side: u8) -> PyResult<&'py Bound<'py, PyString>> {
    let py = session.py();
    let client = session
        .getattr(intern!(py, "client_side"))?
        .extract::<Option<u8>>()?;
    Ok(if client == Some(side) {
        intern!(py, "c2s")
    } else {
        intern!(py, "s2c")
    })
}

/// A message the model keeps as it is (`kept_as_is`), from its timeline step.
fn kept_message(
    session: &Bound<'_, PyAny>,
    event: &Bound<'_, HandshakeEvent>,
    message: &Bound<'_, PyAny>,
) -> PyResult<()> {
    let py = session.py();
    let conn = session.getattr(intern!(py, "conn"))?;
    if conn.is_none() {
        // No connection yet (a bug: content comes after TLS started): Python's assertion
        // says so.
        return session
            .call_method1(intern!(py, "_content_told"), (event,))
            .map(drop);
    }
    // Where several frames' events of a flow cross at once, each message says its own.
    let base = event.as_super().get();
    session.setattr(intern!(py, "frame"), base.frame().bind(py))?;
    session.setattr(intern!(py, "ts_ns"), base.ts_ns().bind(py))?;
    conn.getattr(intern!(py, "timeline"))?
        .downcast_into::<PyList>()?
        .append(event)?;
    if message.is_instance_of::<ClientHello>() {
        conn.getattr(intern!(py, "client_hellos"))?
            .downcast_into::<PyList>()?
            .append(message)?;
        return session
            .call_method0(intern!(py, "_new_handshake"))
            .map(drop);
    }
    if let Ok(hello) = message.downcast::<ServerHello>() {
        return server_hello(session, &conn, hello);
    }
    model(&conn, message)
}

/// Whether the model keeps `message` without Python's work on it.
fn kept_as_is(message: &Bound<'_, PyAny>) -> bool {
    message.is_instance_of::<ClientHello>()
        || message.is_instance_of::<ServerHello>()
        || message.is_instance_of::<NewSessionTicket>()
        || message.is_instance_of::<EncryptedExtensions>()
        || message.is_instance_of::<CertificateRequest>()
        || message.is_instance_of::<CertificateStatus>()
}

/// The facts a request, a status, a ticket or encrypted extensions set.
fn model(conn: &Bound<'_, PyAny>, message: &Bound<'_, PyAny>) -> PyResult<()> {
    let py = conn.py();
    if let Ok(ticket) = message.downcast::<NewSessionTicket>() {
        conn.setattr(intern!(py, "new_session_ticket"), true)?;
        let issued = conn
            .getattr(intern!(py, "issued_tickets"))?
            .downcast_into::<PyList>()?;
        if issued.len() < MAX_TICKETS_KEPT {
            issued.append(ticket.get().ticket().bind(py))?;
        }
        return Ok(());
    }
    if message.is_instance_of::<EncryptedExtensions>() {
        return conn.setattr(intern!(py, "encrypted_extensions"), message);
    }
    if message.is_instance_of::<CertificateRequest>() {
        conn.setattr(intern!(py, "certificate_request"), true)?;
        return conn.setattr(intern!(py, "certificate_request_message"), message);
    }
    conn.setattr(intern!(py, "certificate_status"), message)
}

/// A ServerHello: the first handshake's facts, the handshake it answers (one opened for
/// it when no ClientHello was seen), a HelloRetryRequest kept apart (`_server_hello`).
fn server_hello(
    session: &Bound<'_, PyAny>,
    conn: &Bound<'_, PyAny>,
    hello: &Bound<'_, ServerHello>,
) -> PyResult<()> {
    let py = session.py();
    if hello.get().is_hello_retry_request() {
        return conn.setattr(intern!(py, "hello_retry_request"), hello);
    }
    if conn.getattr(intern!(py, "server_hello"))?.is_none() {
        conn.setattr(intern!(py, "server_hello"), hello)?;
    }
    let frame = session.getattr(intern!(py, "frame"))?;
    let handshakes = conn
        .getattr(intern!(py, "handshakes"))?
        .downcast_into::<PyList>()?;
    let last = match handshakes.len().checked_sub(1) {
        Some(at) => Some(handshakes.get_item(at)?),
        None => None,
    };
    let answered = |h: &Bound<'_, PyAny>| -> PyResult<bool> {
        Ok(!h.getattr(intern!(py, "server_hello"))?.is_none())
    };
    let current = match last {
        Some(current) if !answered(&current)? => current,
        _ => {
            let kwargs = [(intern!(py, "first_frame"), &frame)].into_py_dict(py)?;
            let opened = handshake_class(py)?.call((), Some(&kwargs))?;
            handshakes.append(&opened)?;
            opened
        }
    };
    current.setattr(intern!(py, "server_hello"), hello)?;
    current.setattr(intern!(py, "server_hello_frame"), &frame)?;
    if !is_tls13_version(hello.get().selected_version()) {
        conn.setattr(intern!(py, "handshake_visible"), true)?;
    }
    Ok(())
}

static HANDSHAKE: GILOnceCell<Py<PyType>> = GILOnceCell::new();

/// `tlslens.model.Handshake`.
fn handshake_class(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    HANDSHAKE
        .get_or_try_init(py, || {
            py.import("tlslens.model")?
                .getattr("Handshake")?
                .downcast_into::<PyType>()
                .map(Bound::unbind)
                .map_err(PyErr::from)
        })
        .map(|class| class.bind(py))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(take_events, m)?)?;
    m.add("MAX_TICKETS_KEPT", MAX_TICKETS_KEPT)?;
    Ok(())
}
