//! What the outcome (`outcome.py`) first reads of a connection: whether its timeline shows
//! the handshake completed, and its first fatal alert that could be read — one walk over
//! the core's event classes, as the row's own walk (`steps`) reads them, without a Python
//! call per event; and `alert_sized`, the one definition of a lone record as long as a
//! protected TLS 1.3 alert, which the narration asks too.

use std::sync::atomic::Ordering;

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyList;

use super::hello::Hellos;
use super::steps::{class_of, message_class, read, Class, MessageClass};
use super::{cipher_suite, suite_info};
use crate::timeline::{AlertEvent, EncryptedHandshakeEvent, TimelineEvent};
use crate::timeline_data::{ApplicationDataEvent, DataEvent};

/// Alerts TLS 1.3 does not make fatal (RFC 8446 §6.1): close_notify, user_canceled.
const NOT_FATAL_TLS13: [u8; 2] = [0, 90];
const FATAL: u8 = 2;

/// A protected TLS 1.3 alert: its 2 bytes, the inner content type and the AEAD tag.
const fn protected_alert(tag: u64) -> u64 {
    2 + 1 + tag
}

/// Per direction (client, server): what the walk saw.
#[derive(Default, Clone, Copy)]
struct Sides {
    client: bool,
    server: bool,
}

impl Sides {
    fn set(&mut self, client: bool) {
        if client {
            self.client = true;
        } else {
            self.server = true;
        }
    }

    fn has(self, client: bool) -> bool {
        if client {
            self.client
        } else {
            self.server
        }
    }

    fn both(self) -> bool {
        self.client && self.server
    }

    fn or(self, other: Sides) -> Sides {
        Sides {
            client: self.client || other.client,
            server: self.server || other.server,
        }
    }
}

/// The connection facts `alert_sized` needs, asked once (and only when a record of an
/// alert's size comes).
pub(super) struct Sizing<'a, 'py> {
    conn: &'a Bound<'py, PyAny>,
    tls13: bool,
    tag: Option<u64>,
}

impl<'a, 'py> Sizing<'a, 'py> {
    pub(super) fn new(conn: &'a Bound<'py, PyAny>, tls13: bool) -> Self {
        Self {
            conn,
            tls13,
            tag: None,
        }
    }

    /// The AEAD tag length of the connection's suite: 8 for CCM_8, else 16.
    fn tag(&mut self) -> PyResult<u64> {
        if let Some(tag) = self.tag {
            return Ok(tag);
        }
        let conn = self.conn;
        let suite = cipher_suite(conn, &Hellos::of(conn)?)?;
        let short = suite_info(conn.py(), suite)?.is_some_and(|info| info.short_tag);
        let tag = if short { 8 } else { 16 };
        self.tag = Some(tag);
        Ok(tag)
    }

    /// A lone, unread TLS 1.3 record as long as a protected alert: what a side that rejects
    /// the other's flight sends, where a completed handshake brings a Finished, session
    /// tickets or an answer.
    pub(super) fn alert_sized(&mut self, event: &Bound<'_, PyAny>) -> PyResult<bool> {
        let base = event.downcast::<TimelineEvent>()?.get();
        let length = base.length.load(Ordering::Relaxed);
        // The length first: most records are not alert-sized.
        let sizes = [protected_alert(8), protected_alert(16)];
        if !sizes.contains(&length) || base.records.load(Ordering::Relaxed) != 1 {
            return Ok(false);
        }
        if let Ok(data) = event.downcast::<DataEvent>() {
            if data.get().decrypted(event.py())
                || !event.is_exact_instance_of::<ApplicationDataEvent>()
            {
                return Ok(false);
            }
        } else if !event.is_instance_of::<EncryptedHandshakeEvent>() {
            return Ok(false);
        }
        Ok(self.tls13 && length == protected_alert(self.tag()?))
    }
}

/// Whether an alert event is fatal: in TLS 1.3 every alert but close_notify and
/// user_canceled, before it a level of 2.
fn is_fatal(alert: &AlertEvent, py: Python<'_>, tls13: bool) -> bool {
    let (level, description) = alert.numbers(py);
    if tls13 {
        return !description.is_some_and(|d| NOT_FATAL_TLS13.contains(&d));
    }
    level == Some(FATAL)
}

/// What one walk of the timeline showed.
#[derive(Default)]
struct Shown<'py> {
    finished: Sides,
    data: Sides,
    ccs: Sides,
    fatal: Option<Bound<'py, PyAny>>,
    /// TLS 1.3, unread: the client's protected flight, not an alert.
    client_flight: bool,
    /// TLS 1.3, unread: the server's answer to it looks like an alert, and it closed.
    refused: bool,
}

fn walk<'py>(conn: &Bound<'py, PyAny>, tls13: bool) -> PyResult<Shown<'py>> {
    let py = conn.py();
    // QUIC's Handshake packets carry ACKs and closes as well as the Finished: only the
    // client's 1-RTT packets (sent after its Finished) show, unread, that it completed.
    let quic = conn
        .getattr(intern!(py, "transport"))?
        .eq(intern!(py, "quic"))?;
    let closed_first = conn.getattr(intern!(py, "closed_first"))?;
    let server_closed = closed_first.eq(intern!(py, "s2c"))?;
    let timeline = conn.getattr(intern!(py, "timeline"))?;
    let mut sizing = Sizing::new(conn, tls13);
    let mut shown = Shown::default();
    for event in timeline.downcast::<PyList>()?.iter() {
        let class = class_of(&event);
        if matches!(
            class,
            Class::Other | Class::EncryptedAlert | Class::SkippedMessage
        ) {
            continue;
        }
        let (base, message) = read(&event, class)?;
        let client = base.direction.bind(py).to_str()? == "c2s";
        match class {
            Class::Handshake
                if message.is_some_and(|m| message_class(&m) == MessageClass::Finished) =>
            {
                shown.finished.set(client);
            }
            Class::ChangeCipherSpec if !tls13 => shown.ccs.set(client),
            Class::EncryptedHandshake if !tls13 && shown.ccs.has(client) => {
                // The first record after ChangeCipherSpec is the Finished.
                shown.finished.set(client);
            }
            Class::EncryptedHandshake if client && !quic => {
                shown.client_flight = shown.client_flight || !sizing.alert_sized(&event)?;
            }
            Class::Sslv2Encrypted => shown.data.set(client),
            Class::Alert
                if shown.fatal.is_none()
                    && event
                        .downcast::<AlertEvent>()
                        .is_ok_and(|alert| is_fatal(alert.get(), py, tls13)) =>
            {
                shown.fatal = Some(event.clone());
            }
            Class::ApplicationData if !client && sizing.alert_sized(&event)? => {
                shown.refused = server_closed;
            }
            // TLS 1.3's encrypted flights aside, application data flows only after Finished.
            Class::ApplicationData => shown.data.set(client),
            _ => {}
        }
    }
    Ok(shown)
}

/// Why the handshake counts as completed, from what the walk showed.
fn completed_by(
    conn: &Bound<'_, PyAny>,
    shown: &Shown<'_>,
    tls13: bool,
) -> PyResult<Option<&'static str>> {
    let py = conn.py();
    if shown.finished.both() {
        return Ok(Some("both sides sent their Finished message"));
    }
    let server_hello = !conn.getattr(intern!(py, "server_hello"))?.is_none();
    if tls13 && shown.client_flight && !shown.refused && server_hello {
        // The server's Finished is in its flight, the client's in its own; a server that
        // did not take it answers with one alert-sized record and closes.
        return Ok(Some("both sides sent their Finished message (encrypted)"));
    }
    if !shown.finished.or(shown.data).both() {
        return Ok(None);
    }
    if !server_hello && conn.getattr(intern!(py, "client_hello"))?.is_none() {
        // Hellos the capture holds but tlslens did not read (past --max-message, or never
        // reassembled) are no sign of a capture that starts late.
        if conn.getattr(intern!(py, "hello_unread"))?.is_truthy()? {
            return Ok(Some(
                "tlslens did not read the hellos (see the problems); application data went \
                 both ways",
            ));
        }
        return Ok(Some(
            "the capture starts after the handshake; application data went both ways",
        ));
    }
    Ok(Some(
        "application data went both ways, so the encrypted handshake completed",
    ))
}

/// Why the handshake of `conn` counts as completed (None if nothing shows that it did),
/// and the first fatal alert that could be read (`tls13`: the version it negotiated).
pub(super) fn completion<'py>(
    conn: &Bound<'py, PyAny>,
    tls13: bool,
) -> PyResult<(Option<&'static str>, Option<Bound<'py, PyAny>>)> {
    let shown = walk(conn, tls13)?;
    Ok((completed_by(conn, &shown, tls13)?, shown.fatal))
}

/// A lone, unread TLS 1.3 record of `conn` as long as a protected alert.
#[pyfunction]
fn alert_sized(conn: &Bound<'_, PyAny>, event: &Bound<'_, PyAny>) -> PyResult<bool> {
    let tls13 = conn.getattr(intern!(conn.py(), "tls13"))?.is_truthy()?;
    Sizing::new(conn, tls13).alert_sized(event)
}

/// Whether an alert event (read) is fatal, in TLS 1.3 (`tls13`) or before.
#[pyfunction]
fn alert_is_fatal(event: &Bound<'_, AlertEvent>, tls13: bool) -> bool {
    is_fatal(event.get(), event.py(), tls13)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(alert_sized, m)?)?;
    m.add_function(wrap_pyfunction!(alert_is_fatal, m)?)
}
