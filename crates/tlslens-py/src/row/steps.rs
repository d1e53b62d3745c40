//! What the row reads of a connection's timeline, in one walk: the `handshake` steps, the
//! `compressed_certificates`, the `alerts`, and the handshake's times (`timing`, which the
//! model's `Connection.timing` asks of `handshake_timing` too).
//!
//! Strategy: the walk tells the event and message classes apart by their type (they are
//! final) and checks an event's type once to read its members (`read`); what the times
//! need is kept as `Seen` entries, and the times themselves are pure functions of them
//! (`finished_ns`, `hellos_ns`, `ms`), tested without Python.

use std::cmp::Ordering;
use std::sync::Arc;

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::GILOnceCell;
use pyo3::types::{PyBytes, PyList};
use pyo3::PyTypeInfo;

use super::names::{self, Table};
use crate::handshake::{
    Certificate, ClientHello, CompressedCertificate, Finished, HandshakeMessage, ServerHello,
};
use crate::timeline::{
    AlertEvent, ChangeCipherSpecEvent, EncryptedAlertEvent, EncryptedHandshakeEvent,
    HandshakeEvent, SSLv2EncryptedEvent, SkippedMessageEvent, TimelineEvent,
};
use crate::timeline_data::ApplicationDataEvent;

/// Longer than this (ns) is a clock jump (or a capture spliced from two), not a handshake:
/// no handshake timing is given then.
pub const MAX_HANDSHAKE_NS: i128 = 600 * 1_000_000_000;

/// One handshake step of the row: a message read, or handshake bytes left sealed.
pub struct Step<'py> {
    pub frame: Bound<'py, PyAny>,
    pub direction: Bound<'py, PyAny>,
    pub kind: Arc<str>,
}

/// A CompressedCertificate (RFC 8879) of the timeline.
pub struct Compressed<'py> {
    pub frame: Bound<'py, PyAny>,
    pub direction: Bound<'py, PyAny>,
    pub algorithm: Arc<str>,
    pub algorithm_id: Bound<'py, PyAny>,
    pub compressed_length: usize,
    pub uncompressed_length: Bound<'py, PyAny>,
    pub decompressed: bool,
}

/// The event classes the row's walks tell apart (here and in completion.rs). Each is
/// final: an event of one has the class itself as its type, told by the address of the
/// type object, asked of PyO3 once a process (a downcast or an instance check per class
/// asked for it every time: the walks' costliest part).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Class {
    Handshake,
    EncryptedHandshake,
    Alert,
    EncryptedAlert,
    ChangeCipherSpec,
    ApplicationData,
    Sslv2Encrypted,
    SkippedMessage,
    Other,
}

/// The handshake message classes the walks tell apart, as `Class` tells events (each final
/// too); `Other`: any other message, or an object that is none.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum MessageClass {
    ClientHello,
    ServerHello,
    Finished,
    Certificate,
    CompressedCertificate,
    Other,
}

static CLASSES: GILOnceCell<[(usize, Class); 8]> = GILOnceCell::new();
static MESSAGE_CLASSES: GILOnceCell<[(usize, MessageClass); 5]> = GILOnceCell::new();

/// A class's type object (its address) and what the walks call it.
fn entry<T: PyTypeInfo, K>(py: Python<'_>, class: K) -> (usize, K) {
    (T::type_object_raw(py) as usize, class)
}

/// What `table` calls the type of `object`; `other` for a type it does not list.
fn looked_up<K: Copy>(table: &[(usize, K)], object: &Bound<'_, PyAny>, other: K) -> K {
    let own = object.get_type_ptr() as usize;
    table
        .iter()
        .find(|(class, _)| *class == own)
        .map_or(other, |(_, kind)| *kind)
}

pub(super) fn class_of(event: &Bound<'_, PyAny>) -> Class {
    let py = event.py();
    let classes = CLASSES.get_or_init(py, || {
        [
            entry::<HandshakeEvent, _>(py, Class::Handshake),
            entry::<EncryptedHandshakeEvent, _>(py, Class::EncryptedHandshake),
            entry::<ApplicationDataEvent, _>(py, Class::ApplicationData),
            entry::<AlertEvent, _>(py, Class::Alert),
            entry::<EncryptedAlertEvent, _>(py, Class::EncryptedAlert),
            entry::<ChangeCipherSpecEvent, _>(py, Class::ChangeCipherSpec),
            entry::<SSLv2EncryptedEvent, _>(py, Class::Sslv2Encrypted),
            entry::<SkippedMessageEvent, _>(py, Class::SkippedMessage),
        ]
    });
    looked_up(classes, event, Class::Other)
}

pub(super) fn message_class(message: &Bound<'_, PyAny>) -> MessageClass {
    let py = message.py();
    let classes = MESSAGE_CLASSES.get_or_init(py, || {
        [
            entry::<ClientHello, _>(py, MessageClass::ClientHello),
            entry::<ServerHello, _>(py, MessageClass::ServerHello),
            entry::<Finished, _>(py, MessageClass::Finished),
            entry::<Certificate, _>(py, MessageClass::Certificate),
            entry::<CompressedCertificate, _>(py, MessageClass::CompressedCertificate),
        ]
    });
    looked_up(classes, message, MessageClass::Other)
}

/// Where an event of `class` was seen, and a handshake event's message: one type check
/// (a handshake event's base is read through the event, not checked for again).
pub(super) fn read<'py>(
    event: &Bound<'py, PyAny>,
    class: Class,
) -> PyResult<(PyRef<'py, TimelineEvent>, Option<Bound<'py, PyAny>>)> {
    if class == Class::Handshake {
        let handshake = event.downcast::<HandshakeEvent>()?.borrow();
        let message = handshake.message().bind(event.py()).clone();
        return Ok((handshake.into_super(), Some(message)));
    }
    Ok((event.downcast::<TimelineEvent>()?.borrow(), None))
}

/// A message's type: its base's, or (an object of Python's) its `msg_type`.
pub(super) fn msg_type(message: &Bound<'_, PyAny>) -> PyResult<u32> {
    match message.downcast::<HandshakeMessage>() {
        Ok(base) => Ok(u32::from(base.get().msg_type())),
        Err(_) => message
            .getattr(intern!(message.py(), "msg_type"))?
            .extract(),
    }
}

/// A ServerHello that is a HelloRetryRequest.
pub(super) fn is_retry(message: &Bound<'_, PyAny>, class: MessageClass) -> PyResult<bool> {
    Ok(class == MessageClass::ServerHello
        && message
            .downcast::<ServerHello>()?
            .get()
            .is_hello_retry_request())
}

/// An alert's level and description by name; None for one left sealed.
pub type AlertRead = Option<(Arc<str>, Arc<str>)>;

/// An alert, read or sealed.
pub struct Alert<'py> {
    pub frame: Bound<'py, PyAny>,
    pub direction: Bound<'py, PyAny>,
    pub read: AlertRead,
}

/// What the handshake's times read of an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum What {
    ClientHello,
    ServerHello,
    HelloRetryRequest,
    Finished,
    OtherMessage,
    ChangeCipherSpec,
    EncryptedHandshake,
    ApplicationData,
}

/// An event the times read: its kind, whether the client sent it, and when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seen {
    pub what: What,
    pub client: bool,
    pub ts_ns: Option<i128>,
}

/// The timeline's steps, compressed certificates, alerts and timed events.
#[derive(Default)]
pub struct Walk<'py> {
    pub steps: Vec<Step<'py>>,
    pub compressed: Vec<Compressed<'py>>,
    pub alerts: Vec<Alert<'py>>,
    pub seen: Vec<Seen>,
    /// Only `seen` is kept (`timed`): the steps, certificates and alerts are not named.
    timed_only: bool,
}

/// A time in ns as an int of 128 bits; None for None, or an int beyond 128 bits (no time at
/// all: what needs it says None).
pub fn nanoseconds(value: &Bound<'_, PyAny>) -> Option<i128> {
    // 64 bits first: under the stable ABI a 128-bit extraction takes several Python calls.
    match value.extract::<i64>() {
        Ok(small) => Some(i128::from(small)),
        Err(_) => value.extract::<i128>().ok(),
    }
}

impl<'py> Walk<'py> {
    /// One walk of `timeline` (a list of the core's event classes).
    pub fn of(timeline: &Bound<'py, PyList>) -> PyResult<Self> {
        // Most events are timed and many are steps: room for all at once, not grown a few
        // at a time (the timeline is already held, so this is no more than it).
        let mut walk = Walk {
            steps: Vec::with_capacity(timeline.len()),
            seen: Vec::with_capacity(timeline.len()),
            ..Walk::default()
        };
        for event in timeline.iter() {
            walk.event(&event)?;
        }
        Ok(walk)
    }

    /// The timed events of `timeline` only (`seen`): what the model's `Connection.timing`
    /// asks for, without naming a step or an alert.
    pub fn timed(timeline: &Bound<'py, PyList>) -> PyResult<Vec<Seen>> {
        let mut walk = Walk {
            timed_only: true,
            seen: Vec::with_capacity(timeline.len()),
            ..Walk::default()
        };
        for event in timeline.iter() {
            walk.event(&event)?;
        }
        Ok(walk.seen)
    }

    fn event(&mut self, event: &Bound<'py, PyAny>) -> PyResult<()> {
        let py = event.py();
        let class = class_of(event);
        let what = match class {
            Class::Handshake => What::OtherMessage, // until its message says more
            Class::EncryptedHandshake => What::EncryptedHandshake,
            Class::ChangeCipherSpec => What::ChangeCipherSpec,
            Class::ApplicationData => What::ApplicationData,
            Class::Alert | Class::EncryptedAlert => return self.alert(event, class),
            Class::Sslv2Encrypted => return Ok(()),
            Class::SkippedMessage => return self.skipped(event),
            Class::Other => {
                // No class of the core's: an event of Python's is passed over, and any other
                // object is a TypeError, as it always was.
                event.downcast::<TimelineEvent>()?;
                return Ok(());
            }
        };
        let (base, message) = read(event, class)?;
        let what = match &message {
            Some(message) => self.message(&base, message)?,
            None => what,
        };
        if class == Class::EncryptedHandshake && !self.timed_only {
            self.steps.push(Step {
                frame: frame_of(&base, py),
                direction: direction_of(&base, py),
                kind: Arc::from("encrypted"),
            });
        }
        self.seen.push(Seen {
            what,
            client: base.direction.bind(py).to_str()? == "c2s",
            ts_ns: nanoseconds(base.ts_ns().bind(py)),
        });
        Ok(())
    }

    /// A message tlslens skipped (past --max-message): its step, named by its header's type,
    /// and its time (a skipped hello still says when it was sent).
    fn skipped(&mut self, event: &Bound<'py, PyAny>) -> PyResult<()> {
        let py = event.py();
        let skipped = event.downcast::<SkippedMessageEvent>()?;
        let msg_type: u32 = skipped.get().msg_type().extract(py)?;
        let base = skipped.as_super().borrow();
        if !self.timed_only {
            self.steps.push(Step {
                frame: frame_of(&base, py),
                direction: direction_of(&base, py),
                kind: names::name(py, Table::Handshake, msg_type)?,
            });
        }
        let what = match u8::try_from(msg_type) {
            Ok(tlslens_core::handshake::CLIENT_HELLO) => What::ClientHello,
            Ok(tlslens_core::handshake::SERVER_HELLO) => What::ServerHello,
            _ => What::OtherMessage,
        };
        self.seen.push(Seen {
            what,
            client: base.direction.bind(py).to_str()? == "c2s",
            ts_ns: nanoseconds(base.ts_ns().bind(py)),
        });
        Ok(())
    }

    /// An alert event (of `class`): the row's entry (the times read none).
    fn alert(&mut self, event: &Bound<'py, PyAny>, class: Class) -> PyResult<()> {
        if self.timed_only {
            return Ok(());
        }
        let (base, _) = read(event, class)?;
        self.alerts.push(Alert {
            frame: frame_of(&base, event.py()),
            direction: direction_of(&base, event.py()),
            read: alert_read(event, class)?,
        });
        Ok(())
    }

    fn message(&mut self, base: &TimelineEvent, message: &Bound<'py, PyAny>) -> PyResult<What> {
        let class = message_class(message);
        let retry = is_retry(message, class)?;
        if !self.timed_only {
            self.step(base, message, class, retry)?;
        }
        Ok(match class {
            MessageClass::ClientHello => What::ClientHello,
            MessageClass::ServerHello if retry => What::HelloRetryRequest,
            MessageClass::ServerHello => What::ServerHello,
            MessageClass::Finished => What::Finished,
            _ => What::OtherMessage,
        })
    }

    /// A message's step of the row (and its compressed certificate's entry).
    fn step(
        &mut self,
        base: &TimelineEvent,
        message: &Bound<'py, PyAny>,
        class: MessageClass,
        retry: bool,
    ) -> PyResult<()> {
        let py = message.py();
        let kind = if retry {
            Arc::from("hello_retry_request")
        } else {
            names::name(py, Table::Handshake, msg_type(message)?)?
        };
        let (frame, direction) = (frame_of(base, py), direction_of(base, py));
        if class == MessageClass::CompressedCertificate {
            self.compressed
                .push(compressed(&frame, &direction, message)?);
        }
        self.steps.push(Step {
            frame,
            direction,
            kind,
        });
        Ok(())
    }
}

fn frame_of<'py>(base: &TimelineEvent, py: Python<'py>) -> Bound<'py, PyAny> {
    base.frame().bind(py).clone().into_any()
}

fn direction_of<'py>(base: &TimelineEvent, py: Python<'py>) -> Bound<'py, PyAny> {
    base.direction.bind(py).clone().into_any()
}

fn compressed<'py>(
    frame: &Bound<'py, PyAny>,
    direction: &Bound<'py, PyAny>,
    message: &Bound<'py, PyAny>,
) -> PyResult<Compressed<'py>> {
    let py = message.py();
    let algorithm_id = message.getattr(intern!(py, "algorithm"))?;
    let packed = message.getattr(intern!(py, "compressed_certificate_message"))?;
    Ok(Compressed {
        frame: frame.clone(),
        direction: direction.clone(),
        algorithm: names::name_of(py, Table::CertificateCompression, &algorithm_id)?,
        algorithm_id,
        compressed_length: packed.downcast::<PyBytes>()?.as_bytes().len(),
        uncompressed_length: message.getattr(intern!(py, "uncompressed_length"))?,
        decompressed: !message.getattr(intern!(py, "certificate"))?.is_none(),
    })
}

/// An alert event's level and description by name (None for one left sealed); None for an
/// event that is no alert.
pub fn alert_names(event: &Bound<'_, PyAny>) -> PyResult<Option<AlertRead>> {
    match class_of(event) {
        class @ (Class::Alert | Class::EncryptedAlert) => Ok(Some(alert_read(event, class)?)),
        _ => Ok(None),
    }
}

/// What an event of `class`, an alert's, says: its names, None for one left sealed.
fn alert_read(event: &Bound<'_, PyAny>, class: Class) -> PyResult<AlertRead> {
    if class != Class::Alert {
        return Ok(None);
    }
    let py = event.py();
    let level = event.getattr(intern!(py, "level"))?;
    let description = event.getattr(intern!(py, "description"))?;
    Ok(Some((
        level_name(&level)?,
        names::name_of(py, Table::Alert, &description)?,
    )))
}

/// An alert's level as the row names it ("warning", "fatal", else "unknown (N)").
fn level_name(level: &Bound<'_, PyAny>) -> PyResult<Arc<str>> {
    Ok(match level.extract::<u8>() {
        Ok(1) => Arc::from("warning"),
        Ok(2) => Arc::from("fatal"),
        _ => format!("unknown ({})", level.str()?).into(),
    })
}

/// When the first ClientHello and the first ServerHello (a HelloRetryRequest is not the
/// answer) were seen.
pub fn hellos_ns(seen: &[Seen]) -> (Option<i128>, Option<i128>) {
    let hello = seen.iter().find(|s| s.what == What::ClientHello);
    let answer = seen.iter().find(|s| s.what == What::ServerHello);
    (hello.and_then(|s| s.ts_ns), answer.and_then(|s| s.ts_ns))
}

/// When the later Finished of the first handshake was sent, read or not. `tls13`: the
/// version; `quic`: over QUIC, whose Handshake packets carry ACKs and closes as well as the
/// Finished: unread, the client's are its Finished only when its 1-RTT packets follow.
pub fn finished_ns(seen: &[Seen], tls13: bool, quic: bool) -> Option<i128> {
    let unread_client_finished = !quic
        || seen
            .iter()
            .any(|s| s.what == What::ApplicationData && s.client);
    // Per direction (client, server): its Finished; the server's last sealed flight.
    let (mut client, mut server, mut server_last) = (None, None, None);
    let (mut ccs_client, mut ccs_server) = (false, false);
    let mut server_hello_seen = false;
    for s in seen {
        let done = if s.client {
            client.is_some()
        } else {
            server.is_some()
        };
        if done {
            continue;
        }
        // A step that settles nothing new (a side already done, a TLS 1.3 server's encrypted
        // flight still going on) does not end the walk: only a step that settles one does.
        let finished = match s.what {
            What::Finished => true,
            What::ServerHello | What::HelloRetryRequest => {
                server_hello_seen = true;
                false
            }
            What::ChangeCipherSpec if !tls13 => {
                if s.client {
                    ccs_client = true;
                } else {
                    ccs_server = true;
                }
                false
            }
            What::EncryptedHandshake if server_hello_seen => {
                if tls13 && s.client {
                    if !unread_client_finished {
                        continue;
                    }
                    true
                } else if tls13 {
                    server_last = Some(s.ts_ns);
                    continue;
                } else if s.client {
                    ccs_client
                } else {
                    ccs_server
                }
            }
            _ => false,
        };
        if finished {
            if s.client {
                client = Some(s.ts_ns);
            } else {
                server = Some(s.ts_ns);
            }
        }
        if client.is_some() && (server.is_some() || server_last.is_some()) {
            break;
        }
    }
    let client = client??;
    let server = server.or(server_last)??;
    Some(client.max(server))
}

/// From `start` to `end` (ns) in thousandths of a millisecond, rounded as Python's
/// `round(x / 1e6, 3)` rounds; None when either is unknown or the span is no handshake's.
pub fn thousandths(start: Option<i128>, end: Option<i128>) -> Option<u64> {
    let span = end?.checked_sub(start?)?;
    if !(0..=MAX_HANDSHAKE_NS).contains(&span) {
        return None;
    }
    let span = u64::try_from(span).ok()?;
    let (whole, rest) = (span / 1000, span % 1000);
    // Away from a tie the float's error (under 1e-10 ms) cannot change the rounding: the
    // integers decide (Rust's fixed-precision float text took its slow path on most spans).
    let up = match rest.cmp(&500) {
        Ordering::Less => false,
        Ordering::Greater => true,
        Ordering::Equal => {
            // Halfway in decimal: Python rounds the float x / 1e6, which the division left
            // above, below or (binary-exact) on the tie, then to even. The span fits 40
            // bits, so it is exact as f64, and a fused multiply-add's sign is exact.
            let span = span as f64;
            let error = (span / 1e6).mul_add(1e6, -span);
            if error == 0.0 {
                whole % 2 == 1
            } else {
                error > 0.0
            }
        }
    };
    Some(whole + u64::from(up))
}

/// A time in thousandths of a millisecond as the float Python's round gives (the nearest
/// to the decimal: one correctly rounded division).
pub fn millis(thousandths: u64) -> f64 {
    thousandths as f64 / 1000.0
}

/// That float's `repr`: its decimal with the zeros after the third place dropped (the
/// shortest text that reads back as it, these values being far apart from their
/// neighbours; under 1e16 and from 1e-3 up, so without an exponent).
pub fn millis_text(thousandths: u64) -> String {
    let (whole, fraction) = (thousandths / 1000, thousandths % 1000);
    let mut text = format!("{whole}.{fraction:03}");
    while text.ends_with('0') && !text.ends_with(".0") {
        text.pop();
    }
    text
}

#[cfg(test)]
mod tests;
