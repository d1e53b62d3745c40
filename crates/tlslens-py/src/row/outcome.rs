//! How a connection's handshake ended: completed, failed (by whom, with which alert, why)
//! or incomplete; the row's `outcome`, and `outcome.py`'s `outcome_of` for the narration,
//! `--brief`, `certs`, `connect` and the report.
//!
//! Strategy: a pure function of a read connection (`model.Connection`) and, where one was
//! checked, the verdict on its chain. The questions are asked in this order:
//! 1. a fatal alert that could be read (in plaintext or decrypted) fails the connection,
//!    whoever sent it and whenever: a TLS 1.3 server rejects a missing client certificate
//!    after both Finished messages;
//! 2. otherwise both sides' Finished (read, or sent encrypted right after ChangeCipherSpec)
//!    or application data both ways complete it (completion.rs, one walk for both);
//! 3. otherwise, where the hellos were seen, a FIN or RST fails it, by the side that closed
//!    first, or that sent the last alert before the close (an encrypted alert in a
//!    handshake that never finished is most likely the fatal one);
//! 4. otherwise, the capture began after the hellos (whatever closed it), a bound made
//!    tlslens stop reading it (`stopped`), or the capture ended before the end: incomplete.

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use super::completion::{completion, Sizing};
use super::hello::Hellos;
use super::names::{self, Table};
use super::steps::{class_of, is_retry, message_class, msg_type, read, Class};
use crate::timeline::TimelineEvent;

mod alerts;

use alerts::{alert_name, failed_by_alert};

pub const COMPLETED: &str = "completed";
pub const FAILED: &str = "failed";
pub const INCOMPLETE: &str = "incomplete";

/// What an alert means, in plain words (`ALERT_WORDS` in Python: the narration's too).
pub const ALERT_WORDS: [(&str, &str); 14] = [
    ("close_notify", "a normal, orderly close"),
    (
        "unknown_ca",
        "the sender did not trust the certificate's issuer",
    ),
    ("bad_certificate", "the sender rejected the certificate"),
    (
        "certificate_expired",
        "the sender found the certificate expired",
    ),
    (
        "handshake_failure",
        "no acceptable set of parameters could be agreed",
    ),
    (
        "protocol_version",
        "the sender does not support the offered versions",
    ),
    ("decrypt_error", "a signature or Finished check failed"),
    ("bad_record_mac", "a record failed its integrity check"),
    (
        "unexpected_message",
        "a message arrived where it is not allowed",
    ),
    ("no_renegotiation", "renegotiation was refused"),
    (
        "certificate_required",
        "the server wanted a client certificate",
    ),
    (
        "inappropriate_fallback",
        "a version downgrade was detected (RFC 7507)",
    ),
    (
        "unrecognized_name",
        "the server does not know the requested name",
    ),
    ("no_application_protocol", "no ALPN protocol in common"),
];

/// How the handshake ended (`outcome.Outcome`'s fields).
pub struct Outcome {
    pub status: &'static str,
    pub by: Option<&'static str>,
    pub alert: Option<String>,
    pub reason: String,
    /// A fatal alert read after both Finished: the handshake had completed.
    pub after_completion: bool,
}

impl Outcome {
    fn failed(by: &'static str, alert: Option<String>, reason: String) -> Self {
        Self {
            status: FAILED,
            by: Some(by),
            alert,
            reason,
            after_completion: false,
        }
    }

    fn other(status: &'static str, reason: String) -> Self {
        Self {
            status,
            by: None,
            alert: None,
            reason,
            after_completion: false,
        }
    }

    /// The handshake failed before it completed: no application traffic secret was ever
    /// derived by the side that ended it.
    pub fn failed_in_handshake(&self) -> bool {
        self.status == FAILED && !self.after_completion
    }
}

fn side(client: bool) -> &'static str {
    if client {
        "client"
    } else {
        "server"
    }
}

/// An event's frame, and whether the client sent it.
fn where_of(event: &Bound<'_, PyAny>) -> PyResult<(u64, bool)> {
    let py = event.py();
    let base = event.downcast::<TimelineEvent>()?.get();
    Ok((
        base.frame().bind(py).extract()?,
        base.direction.bind(py).to_str()? == "c2s",
    ))
}

/// The outcome of `conn`, read to its end (its `validation` is used when set); `hellos`
/// its hellos, borrowed once by the row for all it says.
pub fn outcome(conn: &Bound<'_, PyAny>, hellos: &Hellos<'_>) -> PyResult<Outcome> {
    let py = conn.py();
    let tls13 = hellos.tls13();
    // A ServerHello skipped past --max-message whose suite is TLS 1.3's: its records are
    // read as TLS 1.3's (the compatibility ChangeCipherSpec is no sign of a Finished).
    let sealed = tls13 || conn.getattr(intern!(py, "tls13_sealed"))?.is_truthy()?;
    let (completed, fatal) = completion(conn, sealed)?;
    if let Some(fatal) = fatal {
        return failed_by_alert(conn, hellos, &fatal, completed.is_some());
    }
    if let Some(completed) = completed {
        return Ok(Outcome::other(COMPLETED, completed.to_owned()));
    }
    let none = |name| -> PyResult<bool> { Ok(conn.getattr(name)?.is_none()) };
    let mut quic = if none(intern!(py, "quic"))? {
        None
    } else {
        quic_unfinished(conn)?
    };
    let closed_first = conn.getattr(intern!(py, "closed_first"))?;
    let stopped = conn.getattr(intern!(py, "stopped"))?;
    let quic_failed = quic.as_ref().is_some_and(|quic| quic.status == FAILED);
    if !stopped.is_none() && closed_first.is_none() && !quic_failed {
        // A bound made tlslens stop reading it: the capture may well hold the rest (and,
        // over UDP, its hellos: no SYN tells where a QUIC or DTLS connection began).
        return Ok(Outcome::other(
            INCOMPLETE,
            format!(
                "the handshake had not ended when tlslens stopped reading the connection \
                 {stopped}; {}",
                last_seen(conn, tls13)?
            ),
        ));
    }
    let no_client_hello = !conn.getattr(intern!(py, "client_hellos"))?.is_truthy()?;
    // Over TCP, a SYN seen puts the capture's start before the handshake's (a ClientHello
    // never whole is said below).
    let mid_stream = none(intern!(py, "tcp_syn_ts_ns"))?;
    if no_client_hello && mid_stream && none(intern!(py, "server_hello"))? {
        // A close seen here may end a session that completed long before the capture began.
        return Ok(Outcome::other(
            INCOMPLETE,
            "the capture starts after the handshake began, and what it shows does not tell \
             whether the handshake completed"
                .to_owned(),
        ));
    }
    if !closed_first.is_none() {
        return failed_by_close(conn, closed_first.eq("c2s")?, tls13);
    }
    if let Some(failed) = quic.take_if(|quic| quic.status == FAILED) {
        return Ok(failed); // a CONNECTION_CLOSE read, whatever came after
    }
    if let Some(quic) = quic {
        return Ok(quic);
    }
    Ok(Outcome::other(
        INCOMPLETE,
        format!(
            "the capture ends before the handshake did: {}",
            last_seen(conn, tls13)?
        ),
    ))
}

/// The last handshake step seen, in a clause: "the last step seen is the client's
/// ClientHello (frame 3)", or that no handshake message was read whole.
fn last_seen(conn: &Bound<'_, PyAny>, tls13: bool) -> PyResult<String> {
    Ok(match last_step(conn, tls13)? {
        Some(step) => format!("the last step seen is {step}"),
        None => "no handshake message was read whole".to_owned(),
    })
}

/// A QUIC handshake not seen to complete: a CONNECTION_CLOSE read (from an Initial, or any
/// packet a key log opened) names who ended it; unread, the client's Handshake packets hold
/// its Finished and ACKs, or the close that ended the handshake (QUIC has no TCP FIN: only
/// the packets tell). None: nothing QUIC-specific to say.
fn quic_unfinished(conn: &Bound<'_, PyAny>) -> PyResult<Option<Outcome>> {
    let py = conn.py();
    let closes = conn
        .getattr(intern!(py, "quic"))?
        .getattr(intern!(py, "closes"))?;
    if let Ok(close) = closes.get_item(0) {
        let client = close.getattr(intern!(py, "direction"))?.eq("c2s")?;
        let who = side(client);
        let frame = close.getattr(intern!(py, "frame"))?;
        let error = close.getattr(intern!(py, "error"))?;
        return Ok(Some(Outcome::failed(
            who,
            None,
            format!(
                "the {who} closed the connection before the handshake completed \
                 (CONNECTION_CLOSE in frame {frame}: {error})"
            ),
        )));
    }
    let timeline = conn.getattr(intern!(py, "timeline"))?;
    let mut flight = None;
    for event in timeline.downcast::<PyList>()?.iter().rev() {
        if class_of(&event) == Class::EncryptedHandshake && where_of(&event)?.1 {
            flight = Some(event);
            break;
        }
    }
    let Some(flight) = flight else {
        return Ok(None);
    };
    let base = flight.downcast::<TimelineEvent>()?.get();
    let frame: u64 = base.frame().bind(py).extract()?;
    let last = base.last_frame.load(std::sync::atomic::Ordering::Relaxed);
    let frames = if last == frame {
        format!("frame {frame}")
    } else {
        format!("frames {frame}–{last}")
    };
    Ok(Some(Outcome::other(
        INCOMPLETE,
        format!(
            "the handshake is not seen to complete: the client sent no 1-RTT packet (those \
             follow its Finished), and its last packets ({frames}) are Handshake packets only \
             a key log opens: its Finished and ACKs, or a CONNECTION_CLOSE that ended the \
             handshake"
        ),
    )))
}

fn failed_by_close(conn: &Bound<'_, PyAny>, client_closed: bool, tls13: bool) -> PyResult<Outcome> {
    let py = conn.py();
    let how = if conn.getattr(intern!(py, "closed_by"))?.eq("rst")? {
        "reset"
    } else {
        "closed"
    };
    // A server that closed first after one alert-sized record most likely sent its alert
    // in it; after the client's close, such a record is more likely its close_notify. A
    // client's first protected record of that size is never its Finished.
    let server_closed = !client_closed;
    let mut sizing = Sizing::new(conn, tls13);
    let mut last = None;
    let timeline = conn.getattr(intern!(py, "timeline"))?;
    for event in timeline.downcast::<PyList>()?.iter() {
        let class = class_of(&event);
        let alert = matches!(class, Class::Alert | Class::EncryptedAlert);
        if alert
            || ((server_closed || class == Class::EncryptedHandshake)
                && sizing.alert_sized(&event)?)
        {
            last = Some((event, class));
        }
    }
    if let Some((event, class)) = last {
        let (frame, client) = where_of(&event)?;
        let who = side(client);
        if class != Class::Alert {
            let what = if class == Class::EncryptedAlert {
                "an encrypted alert"
            } else {
                "one encrypted record the size of an alert"
            };
            return Ok(Outcome::failed(
                who,
                None,
                format!(
                    "the {who} sent {what} (frame {frame}) and the connection was {how} \
                     before the handshake ended: most likely the fatal alert that ended it \
                     (a key log for this connection shows which)"
                ),
            ));
        }
        let name = alert_name(&event)?;
        let reason = format!(
            "the {who} sent {name} (frame {frame}) and the connection was {how} before the \
             handshake ended"
        );
        return Ok(Outcome::failed(who, Some(name), reason));
    }
    let who = side(client_closed);
    let answered = !conn.getattr(intern!(py, "server_hello"))?.is_none()
        || !conn.getattr(intern!(py, "hello_retry_request"))?.is_none();
    if !answered && conn.getattr(intern!(py, "client_hellos"))?.is_truthy()? {
        let reason = if server_closed {
            format!("the server {how} the connection after the ClientHello, before answering")
        } else {
            format!("the client {how} the connection before the server answered its ClientHello")
        };
        return Ok(Outcome::failed(who, None, reason));
    }
    let reason = match last_step(conn, tls13)? {
        Some(step) => {
            format!("the {who} {how} the connection after {step}, before the handshake ended")
        }
        None => {
            format!("the {who} {how} the connection before any handshake message was read whole")
        }
    };
    Ok(Outcome::failed(who, None, reason))
}

/// A handshake message's name as the RFC writes it: ServerHello, CertificateVerify (each
/// word of the registry's name capitalised as Python's `str.capitalize` does).
pub fn message_title(py: Python<'_>, msg_type: u32) -> PyResult<String> {
    let name = names::name(py, Table::Handshake, msg_type)?;
    Ok(name
        .split('_')
        .map(|word| {
            let mut chars = word.chars();
            match chars.next() {
                Some(first) => first
                    .to_uppercase()
                    .chain(chars.flat_map(char::to_lowercase))
                    .collect(),
                None => String::new(),
            }
        })
        .collect())
}

/// The last handshake step of the timeline, in words (None: no handshake message).
fn last_step(conn: &Bound<'_, PyAny>, tls13: bool) -> PyResult<Option<String>> {
    let py = conn.py();
    let timeline = conn.getattr(intern!(py, "timeline"))?;
    for event in timeline.downcast::<PyList>()?.iter().rev() {
        let class = class_of(&event);
        if !matches!(class, Class::Handshake | Class::EncryptedHandshake) {
            continue;
        }
        let (frame, client) = where_of(&event)?;
        let who = side(client);
        if class == Class::EncryptedHandshake {
            if client && tls13 {
                // Unread, a TLS 1.3 client's first protected record may be its Finished or
                // an alert.
                return Ok(Some(format!(
                    "the client's first encrypted record (frame {frame}: its Finished, or an \
                     alert that ended the handshake)"
                )));
            }
            return Ok(Some(format!(
                "the {who}'s encrypted handshake (frame {frame})"
            )));
        }
        let Some(message) = read(&event, class)?.1 else {
            continue; // a handshake event always has its message
        };
        if is_retry(&message, message_class(&message))? {
            return Ok(Some(format!(
                "the server's HelloRetryRequest (frame {frame})"
            )));
        }
        let title = message_title(py, msg_type(&message)?)?;
        return Ok(Some(format!("the {who}'s {title} (frame {frame})")));
    }
    Ok(None)
}

/// `outcome.Outcome`'s fields: status, by, alert, reason, after_completion.
type Fields = (
    &'static str,
    Option<&'static str>,
    Option<String>,
    String,
    bool,
);

/// (status, by, alert, reason, after_completion) of `conn`'s handshake: `outcome.Outcome`.
#[pyfunction]
fn connection_outcome(conn: &Bound<'_, PyAny>) -> PyResult<Fields> {
    let outcome = outcome(conn, &Hellos::of(conn)?)?;
    Ok((
        outcome.status,
        outcome.by,
        outcome.alert,
        outcome.reason,
        outcome.after_completion,
    ))
}

/// A handshake message's title (`ServerHello`) by its type.
#[pyfunction]
#[pyo3(name = "message_title")]
fn message_title_of(py: Python<'_>, msg_type: u32) -> PyResult<String> {
    message_title(py, msg_type)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let words = PyDict::new(m.py());
    for (alert, meaning) in ALERT_WORDS {
        words.set_item(alert, meaning)?;
    }
    m.add("ALERT_WORDS", words)?;
    m.add_function(wrap_pyfunction!(connection_outcome, m)?)?;
    m.add_function(wrap_pyfunction!(message_title_of, m)?)
}
