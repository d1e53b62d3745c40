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

/// Alerts about a certificate, and the chain problems that explain each best (first found).
const CERTIFICATE_ALERTS: [(&str, &[&str]); 6] = [
    ("certificate_expired", &["expired", "not_yet_valid"]),
    (
        "unknown_ca",
        &["missing_intermediate", "self_signed", "untrusted_root"],
    ),
    (
        "certificate_revoked",
        &["revoked", "ocsp_revoked", "crl_revoked"],
    ),
    ("bad_certificate", &[]),
    ("certificate_unknown", &[]),
    (
        "unsupported_certificate",
        &["bad_key_usage", "bad_extension"],
    ),
];

const LIKELY_CERTIFICATE_PROBLEMS: [&str; 9] = [
    "name_mismatch",
    "expired",
    "not_yet_valid",
    "revoked",
    "ocsp_revoked",
    "crl_revoked",
    "missing_intermediate",
    "self_signed",
    "untrusted_root",
];

/// A server that finds nothing it accepts in the ClientHello says one of these.
const NOTHING_IN_COMMON: [&str; 2] = ["handshake_failure", "insufficient_security"];

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
    let (completed, fatal) = completion(conn, tls13)?;
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

/// An alert's name (`registry.alert_name`) of a read alert event.
fn alert_name(event: &Bound<'_, PyAny>) -> PyResult<String> {
    let description = event.getattr(intern!(event.py(), "description"))?;
    Ok(names::name_of(event.py(), Table::Alert, &description)?.to_string())
}

fn failed_by_alert(
    conn: &Bound<'_, PyAny>,
    hellos: &Hellos<'_>,
    event: &Bound<'_, PyAny>,
    completed: bool,
) -> PyResult<Outcome> {
    let name = alert_name(event)?;
    let (frame, client) = where_of(event)?;
    let who = side(client);
    let after = if completed {
        ", after the handshake had completed"
    } else {
        ""
    };
    let reason = match certificate_alert(conn, hellos, client, &name)? {
        Some((validation, before, unseen)) => {
            format!(
                "{before}{}{after}",
                chain_evidence(&validation, &name, &unseen)?
            )
        }
        None => {
            let reason = match alert_reason(conn, hellos, client, &name)? {
                Some(reason) => reason,
                None => generic_alert_reason(who, frame, &name),
            };
            reason + after
        }
    };
    Ok(Outcome {
        status: FAILED,
        by: Some(who),
        alert: Some(name),
        reason,
        after_completion: completed,
    })
}

fn generic_alert_reason(who: &str, frame: u64, name: &str) -> String {
    let text = format!("the {who} sent a fatal {name} alert (frame {frame})");
    match ALERT_WORDS.iter().find(|(alert, _)| *alert == name) {
        Some((_, meaning)) => format!("{text}: {meaning}"),
        None => text,
    }
}

/// A side rejecting the other's certificate: the verdict on that chain (None where none was
/// checked), the reason's words before what the check found, and what is said when it was
/// not checked.
fn certificate_alert<'py>(
    conn: &Bound<'py, PyAny>,
    hellos: &Hellos<'_>,
    client: bool,
    name: &str,
) -> PyResult<Option<(Bound<'py, PyAny>, String, String)>> {
    let py = conn.py();
    let tls13 = hellos.tls13();
    if !CERTIFICATE_ALERTS.iter().any(|(alert, _)| *alert == name) {
        return Ok(None);
    }
    if client {
        let unseen = if hellos.resumed().is_some() {
            // An abbreviated handshake carries no certificate: the alert is about the one
            // of the session's first handshake, or about nothing this connection shows.
            "; the session was resumed: the server sent no certificate in this connection"
        } else if tls13 && !conn.getattr(intern!(py, "decryption"))?.is_none() {
            "; the certificate travelled encrypted and the secrets given did not open it"
        } else if tls13 {
            "; the certificate travelled encrypted (a key log opens it)"
        } else {
            "; no certificate was seen"
        };
        let before = format!("the client rejected the server's certificate: {name}");
        let validation = conn.getattr(intern!(py, "validation"))?;
        return Ok(Some((validation, before, unseen.to_owned())));
    }
    if conn
        .getattr(intern!(py, "client_certificates"))?
        .is_truthy()?
    {
        let before = format!("the server rejected the client's certificate: {name}");
        let validation = conn.getattr(intern!(py, "client_validation"))?;
        return Ok(Some((validation, before, String::new())));
    }
    Ok(None)
}

/// The alert tied to what the capture shows, where the capture shows something.
fn alert_reason(
    conn: &Bound<'_, PyAny>,
    hellos: &Hellos<'_>,
    client: bool,
    name: &str,
) -> PyResult<Option<String>> {
    let py = conn.py();
    if client {
        return Ok(None);
    }
    let required = name == "certificate_required"
        || (["handshake_failure", "bad_certificate"].contains(&name)
            && conn
                .getattr(intern!(py, "certificate_request"))?
                .is_truthy()?
            && !conn
                .getattr(intern!(py, "client_certificates"))?
                .is_truthy()?);
    if required {
        return Ok(Some(format!(
            "the server required a client certificate and the client sent none: {name}"
        )));
    }
    let answered = !conn.getattr(intern!(py, "server_hello"))?.is_none();
    if NOTHING_IN_COMMON.contains(&name) && !answered {
        return Ok(Some(format!(
            "the server found no cipher suite in common with the client's offer: {name}"
        )));
    }
    if name == "protocol_version" && !answered {
        let versions = hellos.client_versions();
        let offered = names::names(py, Table::Version, versions.into_iter().map(u32::from))?;
        return Ok(Some(format!(
            "the server accepts none of the versions the client offered ({}): {name}",
            offered.join(", ")
        )));
    }
    if name == "unrecognized_name" {
        if let Some(sni) = hellos.sni().map(|sni| sni.bind(py).to_string()) {
            if !sni.is_empty() {
                return Ok(Some(format!(
                    "the server does not serve the name {sni} the client asked for: {name}"
                )));
            }
        }
    }
    if name == "no_application_protocol" {
        let offered = hellos.alpn_offered().join(", ");
        return Ok(Some(format!(
            "the server serves none of the ALPN protocols the client offered ({offered}): {name}"
        )));
    }
    Ok(None)
}

/// What tlslens' own check of a chain found that explains `alert`; `unseen` when the chain
/// was not checked (`validation` None).
fn chain_evidence(validation: &Bound<'_, PyAny>, alert: &str, unseen: &str) -> PyResult<String> {
    let py = validation.py();
    if validation.is_none() {
        return Ok(unseen.to_owned());
    }
    let problems = validation.getattr(intern!(py, "problems"))?;
    let problems: Vec<(String, String)> = problems
        .try_iter()?
        .map(|problem| {
            let problem = problem?;
            Ok((
                problem.getattr(intern!(py, "code"))?.extract()?,
                problem.getattr(intern!(py, "message"))?.extract()?,
            ))
        })
        .collect::<PyResult<_>>()?;
    let Some(first) = problems.first() else {
        let store: String = validation.getattr(intern!(py, "trust_store"))?.extract()?;
        return Ok(format!(
            "; tlslens finds the chain trusted ({store}): the client trusts other roots, or \
             checks what tlslens does not"
        ));
    };
    let best = CERTIFICATE_ALERTS
        .iter()
        .find(|(name, _)| *name == alert)
        .map_or(&[][..], |(_, codes)| *codes);
    let found = best
        .iter()
        .chain(LIKELY_CERTIFICATE_PROBLEMS.iter())
        .find_map(|code| problems.iter().find(|(own, _)| own == code));
    let (_, message) = found.unwrap_or(first);
    Ok(format!("; {}", message.trim_end_matches('.')))
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
